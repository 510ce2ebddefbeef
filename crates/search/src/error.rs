//! The search crate's one error type, with stable public codes.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("search index file I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("vector index: {0}")]
    Vector(#[from] vector_index::Error),
    #[error("keyword index: {0}")]
    Keyword(String),
    #[error("the query is {bytes} bytes long; at most {max} are accepted")]
    QueryTooLong { bytes: usize, max: usize },
    #[error("a vector has {got} dimensions; this index holds {expected}")]
    DimensionMismatch { expected: usize, got: usize },
    #[error("the search index at {path} is in use by another process (a running `trellis serve`?)")]
    Locked { path: String },
    #[error("the search index metadata is unreadable: {0}")]
    Metadata(String),
    #[error("a lock inside the search index was poisoned by a panic")]
    Poisoned,
}

impl Error {
    /// Stable public code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io(_) => "search_io",
            Error::Vector(e) => e.code(),
            Error::Keyword(_) => "keyword_index",
            Error::QueryTooLong { .. } => "query_too_long",
            Error::DimensionMismatch { .. } => "dimension_mismatch",
            Error::Locked { .. } => "index_locked",
            Error::Metadata(_) => "index_metadata",
            Error::Poisoned => "poisoned",
        }
    }

    /// Whether the caller's input caused it (a 400, not a 500).
    pub fn is_caller_fault(&self) -> bool {
        matches!(self, Error::QueryTooLong { .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;
