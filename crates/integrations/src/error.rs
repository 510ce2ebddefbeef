//! The integrations service's error, with stable public codes.

use document::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest that does not parse or breaks a rule; the message names the key.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// The component does not match its manifest (it imports an interface the manifest does not
    /// declare), or it is not a component of the `trellis:integration` world.
    #[error("review refused the component: {0}")]
    ReviewRefused(String),
    /// A request argument is wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// Missing, or not visible to the caller.
    #[error("Could not find {kind} with ID: {id}.")]
    NotFound { kind: &'static str, id: String },
    /// The caller may see this but not do it (only owners install).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// The installation's hourly run budget is spent.
    #[error("{0}")]
    RateLimited(String),
    #[error(transparent)]
    Workspace(#[from] workspace::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidManifest(_) => ErrorCode::InvalidManifest,
            Error::ReviewRefused(_) => ErrorCode::ReviewRefused,
            Error::Invalid(_) => ErrorCode::ValidationError,
            Error::NotFound { .. } => ErrorCode::ObjectNotFound,
            Error::Forbidden(_) => ErrorCode::RestrictedResource,
            Error::Conflict(_) => ErrorCode::ConflictError,
            Error::RateLimited(_) => ErrorCode::RateLimited,
            Error::Workspace(error) => error.code(),
            Error::Internal(_) => ErrorCode::InternalServerError,
        }
    }

    pub fn not_found(kind: &'static str, id: impl ToString) -> Error {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

impl From<storage_sql::Error> for Error {
    fn from(error: storage_sql::Error) -> Self {
        Error::Workspace(error.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
