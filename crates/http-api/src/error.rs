//! Errors at the edge, in Notion's shape: `{"object":"error","status":..,"code":..,"message":..}`.
//! Each stable code maps to one status ([`status`]); internal details never reach the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use document::ErrorCode;

/// The status of each public error code: the one table, used by every route and the edge.
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ValidationError
        | ErrorCode::InvalidJson
        | ErrorCode::InvalidRequestUrl
        | ErrorCode::InvalidRequest
        | ErrorCode::MissingVersion
        | ErrorCode::InvalidManifest
        | ErrorCode::ReviewRefused => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::RestrictedResource => StatusCode::FORBIDDEN,
        ErrorCode::ObjectNotFound => StatusCode::NOT_FOUND,
        ErrorCode::ConflictError => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::IntegrationError => StatusCode::BAD_GATEWAY,
        ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// What a client is told about an internal fault.
pub(crate) const INTERNAL_MESSAGE: &str = "Unexpected error occurred.";
pub(crate) const RATE_LIMITED_MESSAGE: &str =
    "You have been rate limited. Please try again in a few seconds.";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    /// An error with its code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: status(code),
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// A refusal HTTP itself has a status for (`405`, `408`, `414`, `415`, `431`): the status
    /// is HTTP's, the code the nearest public one. Every other error takes its code's status.
    pub fn with_http_status(
        code: ErrorCode,
        status: StatusCode,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            ..ApiError::new(code, message)
        }
    }

    pub fn validation(error: document::Error) -> Self {
        let code = error.code();
        let message = if error.field.is_empty() {
            error.message
        } else {
            format!(
                "body failed validation: body.{} {}",
                error.field, error.message
            )
        };
        ApiError::new(code, message)
    }

    /// A validation error naming `field` of the body.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::validation(document::Error::new(field, message))
    }

    pub fn unauthorized() -> Self {
        ApiError::new(ErrorCode::Unauthorized, "API token is invalid.")
    }

    /// `429`, with how long to wait in `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        ApiError {
            retry_after_seconds: Some(retry_after_seconds),
            ..ApiError::new(ErrorCode::RateLimited, RATE_LIMITED_MESSAGE)
        }
    }

    pub fn internal() -> Self {
        ApiError::new(ErrorCode::InternalServerError, INTERNAL_MESSAGE)
    }

    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("Error parsing JSON body: {detail}"),
        )
    }

    pub fn invalid_url(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequestUrl, message)
    }

    pub fn path_id(name: &str, value: &str) -> Self {
        ApiError::new(
            ErrorCode::ValidationError,
            format!(
                "path failed validation: path.{name} should be a valid uuid, instead was `\"{value}\"`."
            ),
        )
    }
}

impl From<workspace::Error> for ApiError {
    fn from(error: workspace::Error) -> Self {
        match error {
            workspace::Error::Validation(inner) => ApiError::validation(inner),
            workspace::Error::Internal(_) => ApiError::internal(),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

impl From<document::Error> for ApiError {
    fn from(error: document::Error) -> Self {
        ApiError::validation(error)
    }
}

impl From<integrations::Error> for ApiError {
    fn from(error: integrations::Error) -> Self {
        match error {
            integrations::Error::Workspace(inner) => inner.into(),
            integrations::Error::Internal(_) => {
                tracing::error!(%error, "integrations error");
                ApiError::new(error.code(), "Internal error.")
            }
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body =
            notion_json::render::error(self.status.as_u16(), self.code.as_str(), &self.message);
        if let (Some(request_id), Some(object)) = (crate::edge::request_id(), body.as_object_mut())
        {
            object.insert("request_id".into(), request_id.as_ref().into());
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_an_error_status() {
        for code in ErrorCode::ALL {
            let status = status(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}: {status}"
            );
        }
    }
}
