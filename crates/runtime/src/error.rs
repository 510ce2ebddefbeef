//! The crate's one error type. A run that starts always ends in a [`crate::RunRecord`]; these
//! errors are for what stops a run from starting, and for faults of the host itself.

/// Why the runtime refused a request or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid component, or it does not export the `trellis:integration`
    /// entry point.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// The component imports an interface the installation was not granted.
    #[error("the component imports {interface}, which this installation was not granted")]
    CapabilityNotGranted { interface: String },
    /// The component imports something this host does not provide.
    #[error("the component imports {import}, which Trellis does not provide")]
    UnsupportedImport { import: String },
    /// A field of the run request is malformed or over its limit; the message names it.
    #[error("invalid run request: {0}")]
    InvalidRequest(String),
    /// The runtime's configuration is unusable; the message names the setting.
    #[error("invalid runtime configuration: {0}")]
    InvalidConfig(String),
    /// All pooled instance slots are in use; retry later.
    #[error("no free instance slot: {0}")]
    Busy(String),
    /// The host failed (cache I/O, engine fault). Never caused by what a caller sent.
    #[error("internal runtime error: {0}")]
    Internal(String),
}

impl Error {
    /// A stable code for the error, for the API edge to map to a status.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidComponent(_) => "invalid_component",
            Error::CapabilityNotGranted { .. } => "capability_not_granted",
            Error::UnsupportedImport { .. } => "unsupported_import",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Busy(_) => "busy",
            Error::Internal(_) => "internal",
        }
    }

    /// Whether the fault is in what the caller sent (as opposed to the host).
    pub fn is_caller_fault(&self) -> bool {
        !matches!(self, Error::Busy(_) | Error::Internal(_))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
