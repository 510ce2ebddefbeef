//! The domain's error: always a fault in what the caller sent, never an internal one.

use crate::ErrorCode;

/// A validation failure. `field` is a path into the request (`properties.Status.select`,
/// `children[3].paragraph.rich_text[0].text.content`) so that the message names the
/// offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Error {
    pub field: String,
    pub message: String,
}

impl Error {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Always [`ErrorCode::ValidationError`]: the domain only ever refuses what it was sent.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::ValidationError
    }

    /// Prefixes the field path, for errors raised by a nested validator.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

pub type Result<T> = std::result::Result<T, Error>;
