//! Request plumbing every route shares: reading a JSON body and its fields, list parameters,
//! and answering with JSON.

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;

pub(crate) type ApiResult = Result<Response, ApiError>;

/// Parses a JSON object body; an empty body is an empty object.
pub(crate) fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.len() > document::limits::REQUEST_BODY_BYTES_MAX {
        return Err(crate::edge::body_too_large(
            bytes.len(),
            document::limits::REQUEST_BODY_BYTES_MAX,
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(ApiError::invalid_json)?;
    if !value.is_object() {
        return Err(ApiError::new(
            document::ErrorCode::ValidationError,
            "body failed validation: body should be an object.",
        ));
    }
    Ok(value)
}

/// The string at `value`, which names `field` in the error when it is missing or not a string.
pub(crate) fn required_string<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<&'a str, ApiError> {
    value
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(field, "should be a string"))
}

/// `page_size` as a body number or a query string: absent, or 1 to `PAGE_SIZE_MAX`.
pub(crate) fn page_size(value: Option<&Value>, field: &str) -> Result<Option<usize>, ApiError> {
    let max = document::limits::PAGE_SIZE_MAX;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(size) if (1..=max as u64).contains(&size) => Ok(Some(size as usize)),
            _ => Err(ApiError::invalid(
                field,
                format!("should be a number between 1 and {max}, instead was `{n}`"),
            )),
        },
        Some(Value::String(text)) => match text.parse::<usize>() {
            Ok(size) if (1..=max).contains(&size) => Ok(Some(size)),
            _ => Err(ApiError::invalid(
                field,
                format!("should be a number between 1 and {max}, instead was `{text}`"),
            )),
        },
        Some(other) => Err(ApiError::invalid(
            field,
            format!("should be a number, instead was `{other}`"),
        )),
    }
}

/// `?page_size=` of a list request.
pub(crate) fn query_page_size(text: Option<String>) -> Result<Option<usize>, ApiError> {
    page_size(text.map(Value::String).as_ref(), "page_size")
}

pub(crate) fn cursor(value: Option<&Value>, field: &str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("should be a string, instead was `{other}`"),
        )),
    }
}

pub(crate) fn optional_bool(body: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid(
            key,
            format!("should be a boolean, instead was `{other}`"),
        )),
    }
}

/// `in_trash`, or the legacy `archived`.
pub(crate) fn trash_flag(body: &Value) -> Result<Option<bool>, ApiError> {
    Ok(optional_bool(body, "in_trash")?.or(optional_bool(body, "archived")?))
}

/// A page's or database's `icon`: `None` when absent, `Some(None)` when `null` (removed).
pub(crate) fn icon_field(body: &Value) -> Result<Option<Option<document::Icon>>, ApiError> {
    Ok(body
        .get("icon")
        .map(|value| notion_json::parse::icon(value, "icon"))
        .transpose()?)
}

/// A page's or database's `cover` URL, as [`icon_field`].
pub(crate) fn cover_field(body: &Value) -> Result<Option<Option<String>>, ApiError> {
    Ok(body
        .get("cover")
        .map(|value| notion_json::parse::cover(value, "cover"))
        .transpose()?)
}

/// The query string of a list: `?start_cursor=&page_size=` (and `block_id` for comments).
#[derive(serde::Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) start_cursor: Option<String>,
    pub(crate) page_size: Option<String>,
    pub(crate) block_id: Option<String>,
}

/// `200` with `value`.
pub(crate) fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

/// `201` with `value`.
pub(crate) fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// A page of `kind` objects in Notion's list shape.
pub(crate) fn list(results: Vec<Value>, next_cursor: Option<String>, kind: &str) -> ApiResult {
    ok(notion_json::render::list(results, next_cursor, kind))
}
