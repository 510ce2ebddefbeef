//! The stable codes of public errors, defined once for every crate. A code is what a client
//! branches on, so its text never changes; the HTTP edge maps each to a status, and only the
//! message may say more.

/// A public error's code. [`ErrorCode::as_str`] is the text clients see (Notion's where
/// Notion has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// What the caller sent breaks a rule; the message names the field.
    ValidationError,
    /// The body is not JSON.
    InvalidJson,
    /// No such route, or a URL too long to read.
    InvalidRequestUrl,
    /// A request HTTP itself refuses: wrong method, content type, oversized headers.
    InvalidRequest,
    /// A `/v1` request without a `Notion-Version` header.
    MissingVersion,
    /// No valid token.
    Unauthorized,
    /// The caller can read the object but may not do this.
    RestrictedResource,
    /// Missing, or not readable by the caller: the two are never told apart.
    ObjectNotFound,
    /// The write lost a race with another one.
    ConflictError,
    /// Too many requests, sign-ins or runs.
    RateLimited,
    /// A fault of ours; the message never says which.
    InternalServerError,
    /// A service the request needs is not running (the embedding model, the integrations).
    ServiceUnavailable,
    /// The request took longer than it may.
    GatewayTimeout,
    /// An integration's `trellis.toml` does not parse or breaks a rule.
    InvalidManifest,
    /// An integration's component does not match its manifest.
    ReviewRefused,
    /// An integration's run failed or answered something malformed.
    IntegrationError,
}

impl ErrorCode {
    /// Every code, for tables and tests that must cover them all.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::ValidationError,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRequestUrl,
        ErrorCode::InvalidRequest,
        ErrorCode::MissingVersion,
        ErrorCode::Unauthorized,
        ErrorCode::RestrictedResource,
        ErrorCode::ObjectNotFound,
        ErrorCode::ConflictError,
        ErrorCode::RateLimited,
        ErrorCode::InternalServerError,
        ErrorCode::ServiceUnavailable,
        ErrorCode::GatewayTimeout,
        ErrorCode::InvalidManifest,
        ErrorCode::ReviewRefused,
        ErrorCode::IntegrationError,
    ];

    /// The stable public text of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "validation_error",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequestUrl => "invalid_request_url",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::MissingVersion => "missing_version",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RestrictedResource => "restricted_resource",
            ErrorCode::ObjectNotFound => "object_not_found",
            ErrorCode::ConflictError => "conflict_error",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InternalServerError => "internal_server_error",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::GatewayTimeout => "gateway_timeout",
            ErrorCode::InvalidManifest => "invalid_manifest",
            ErrorCode::ReviewRefused => "review_refused",
            ErrorCode::IntegrationError => "integration_error",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_has_its_own_text() {
        let mut texts: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "{texts:?}");
    }
}
