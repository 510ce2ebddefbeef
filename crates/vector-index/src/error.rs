//! The crate's one error type.
//!
//! Every variant carries a stable `code()` string so that the HTTP edge can map it to a status
//! without matching on messages, which are free to change.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The caller sent a vector whose length differs from the index's dimensions.
    #[error("vector has {actual} dimensions, the index expects {expected}")]
    DimensionMismatch { expected: usize, actual: usize },

    /// The caller sent a vector containing NaN or an infinity, which would poison every distance.
    #[error("vector component {position} is not a finite number")]
    NonFiniteVector { position: usize },

    /// Cosine needs a direction, and the zero vector has none.
    #[error("the zero vector cannot be normalized for cosine distance")]
    ZeroVector,

    /// `insert` refuses to silently replace a vector; `update` or `upsert` say so explicitly.
    #[error("id {id} is already in the index")]
    DuplicateId { id: u64 },

    /// `update` was asked to replace a vector that is not there.
    #[error("id {id} is not in the index")]
    NotFound { id: u64 },

    /// A configuration value is outside its allowed range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig { reason: &'static str },

    /// A request parameter exceeds one of the crate's named limits.
    #[error("{what} is {value}, the limit is {limit}")]
    LimitExceeded {
        what: &'static str,
        value: usize,
        limit: usize,
    },

    /// The index holds as many slots as its dense `u32` numbering allows; `compact()` may free some.
    #[error("the index is full ({limit} slots); compact it or shard the data")]
    CapacityExceeded { limit: usize },

    /// The snapshot bytes are damaged: wrong magic, truncated, checksum mismatch or inconsistent.
    #[error("corrupt snapshot: {reason}")]
    CorruptSnapshot { reason: &'static str },

    /// The snapshot is intact but was written by a format version this build cannot read.
    #[error(
        "snapshot format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    /// An operation-log record is too large to encode within the record limit.
    #[error("operation-log record would be {bytes} bytes, the limit is {limit}")]
    RecordTooLarge { bytes: usize, limit: usize },
}

impl Error {
    /// A stable, machine-readable code for this error; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Error::DimensionMismatch { .. } => "dimension_mismatch",
            Error::NonFiniteVector { .. } => "non_finite_vector",
            Error::ZeroVector => "zero_vector",
            Error::DuplicateId { .. } => "duplicate_id",
            Error::NotFound { .. } => "not_found",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::CapacityExceeded { .. } => "capacity_exceeded",
            Error::CorruptSnapshot { .. } => "corrupt_snapshot",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::RecordTooLarge { .. } => "record_too_large",
        }
    }

    /// True when the fault lies in what the caller sent (a 4xx at the HTTP edge), false when it
    /// lies in stored data or in the index's own capacity (a 5xx, with details kept server-side).
    pub fn is_caller_fault(&self) -> bool {
        match self {
            Error::DimensionMismatch { .. }
            | Error::NonFiniteVector { .. }
            | Error::ZeroVector
            | Error::DuplicateId { .. }
            | Error::NotFound { .. }
            | Error::InvalidConfig { .. }
            | Error::LimitExceeded { .. }
            | Error::RecordTooLarge { .. } => true,
            Error::CapacityExceeded { .. }
            | Error::CorruptSnapshot { .. }
            | Error::UnsupportedVersion { .. } => false,
        }
    }
}

/// The crate's result alias.
pub type Result<T> = std::result::Result<T, Error>;
