//! Errors at the edge, in Notion's shape: `{"object":"error","status":..,"code":..,"message":..}`.
//! Each stable code maps to one status; internal details never reach the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn validation(error: document::Error) -> Self {
        let message = if error.field.is_empty() {
            error.message
        } else {
            format!(
                "body failed validation: body.{} {}",
                error.field, error.message
            )
        };
        ApiError::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        )
    }

    pub fn rate_limited() -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "You have been rate limited. Please try again in a few seconds.",
        )
    }

    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("Error parsing JSON body: {detail}"),
        )
    }

    pub fn invalid_url(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_url", message)
    }

    pub fn path_id(name: &str, value: &str) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "validation_error",
            format!(
                "path failed validation: path.{name} should be a valid uuid, instead was `\"{value}\"`."
            ),
        )
    }
}

impl From<workspace::Error> for ApiError {
    fn from(error: workspace::Error) -> Self {
        let status = match &error {
            workspace::Error::NotFound { .. } => StatusCode::NOT_FOUND,
            workspace::Error::Validation(_) => StatusCode::BAD_REQUEST,
            workspace::Error::Restricted(_) => StatusCode::FORBIDDEN,
            workspace::Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            workspace::Error::Conflict(_) => StatusCode::CONFLICT,
            workspace::Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            workspace::Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match error {
            workspace::Error::Validation(inner) => ApiError::validation(inner),
            workspace::Error::Internal(_) => ApiError::new(
                status,
                "internal_server_error",
                "Unexpected error occurred.",
            ),
            other => ApiError::new(status, other.code().as_str(), other.to_string()),
        }
    }
}

impl From<document::Error> for ApiError {
    fn from(error: document::Error) -> Self {
        ApiError::validation(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = notion_json::render::error(self.status.as_u16(), self.code, &self.message);
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
