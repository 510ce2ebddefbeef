//! The service's error, with stable public codes that the HTTP edge maps to statuses.

use document::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist *or the caller may not read it*: the two are never told apart.
    #[error(
        "Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
    )]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Validation(#[from] document::Error),
    /// The caller can read the object but may not do this.
    #[error("{0}")]
    Restricted(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Conflict(String),
    /// A service this request needs is not running or failed (the embedding model).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound { .. } => ErrorCode::ObjectNotFound,
            Error::Validation(error) => error.code(),
            Error::Restricted(_) => ErrorCode::RestrictedResource,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Conflict(_) => ErrorCode::ConflictError,
            Error::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Error::Internal(_) => ErrorCode::InternalServerError,
        }
    }

    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(document::Error::new(field, message))
    }
}

impl From<storage_sql::Error> for Error {
    fn from(error: storage_sql::Error) -> Self {
        match error {
            storage_sql::Error::Conflict(message) => Error::Conflict(message),
            other => {
                tracing::error!(error = %other, "store error");
                Error::Internal(other.code().to_string())
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
