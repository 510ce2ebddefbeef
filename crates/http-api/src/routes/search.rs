//! Search: by title (Notion's), or by content in keyword, semantic or hybrid mode.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use super::AppState;
use super::databases::data_source_json;
use super::pages::page_json;
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, NotionVersion};
use crate::request::{ApiResult, cursor, list, page_size};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/search", post(search))
}

async fn search(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    version: NotionVersion,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let query = match body.get("query") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => {
            return Err(ApiError::invalid(
                "query",
                format!("should be a string, instead was `{other}`"),
            ));
        }
    };
    let filter = match body.get("filter") {
        None | Some(Value::Null) => None,
        Some(filter) => match (
            filter.get("property").and_then(Value::as_str),
            filter.get("value").and_then(Value::as_str),
        ) {
            (Some("object"), Some("page")) => Some(workspace::SearchFilter::Page),
            (Some("object"), Some("data_source")) => Some(workspace::SearchFilter::DataSource),
            // Before 2025-09-03 the object was called a database.
            (Some("object"), Some("database")) if version == NotionVersion::V2022_06_28 => {
                Some(workspace::SearchFilter::DataSource)
            }
            _ => {
                return Err(ApiError::invalid(
                    "filter",
                    "should be {\"property\": \"object\", \"value\": \"page\" | \"data_source\"}",
                ));
            }
        },
    };
    let ascending = match body.get("sort") {
        None | Some(Value::Null) => false,
        Some(sort) => {
            if sort.get("timestamp").and_then(Value::as_str) != Some("last_edited_time") {
                return Err(ApiError::invalid(
                    "sort.timestamp",
                    "should be `last_edited_time`",
                ));
            }
            match sort.get("direction").and_then(Value::as_str) {
                Some("ascending") => true,
                Some("descending") | None => false,
                Some(other) => {
                    return Err(ApiError::invalid(
                        "sort.direction",
                        format!("should be `ascending` or `descending`, instead was `{other}`"),
                    ));
                }
            }
        }
    };
    let mode = search_mode(&body, workspace::SearchMode::Title, true)?;
    if mode != workspace::SearchMode::Title {
        if body.get("sort").is_some_and(|s| !s.is_null()) {
            return Err(ApiError::invalid(
                "sort",
                format!(
                    "is not supported with mode `{}`: results are ranked best first",
                    mode.name()
                ),
            ));
        }
        let request = workspace::ContentQuery {
            query,
            mode,
            filter,
            start_cursor: cursor(body.get("start_cursor"), "start_cursor")?,
            page_size: page_size(body.get("page_size"), "page_size")?,
        };
        let page = state.workspace.search_content(&actor, request).await?;
        let results = page
            .results
            .iter()
            .map(|hit| {
                let mut json = search_result_json(&state, &hit.result);
                if let Value::Object(map) = &mut json {
                    map.insert("highlight".into(), highlight_json(&hit.highlight));
                    map.insert("score".into(), json!(hit.score));
                }
                json
            })
            .collect();
        return list(results, page.next_cursor, "page_or_data_source");
    }
    let request = workspace::SearchRequest {
        query,
        filter,
        ascending,
        start_cursor: cursor(body.get("start_cursor"), "start_cursor")?,
        page_size: page_size(body.get("page_size"), "page_size")?,
    };
    let page = state.workspace.search(&actor, request).await?;
    let results = page
        .results
        .iter()
        .map(|result| search_result_json(&state, result))
        .collect();
    list(results, page.next_cursor, "page_or_data_source")
}

fn search_result_json(state: &AppState, result: &workspace::SearchResult) -> Value {
    match result {
        workspace::SearchResult::Page(view) => page_json(state, view),
        workspace::SearchResult::DataSource(view) => data_source_json(view),
    }
}

/// The `mode` of a search body: `default` when absent; `title` only where `allow_title`.
pub(crate) fn search_mode(
    body: &Value,
    default: workspace::SearchMode,
    allow_title: bool,
) -> Result<workspace::SearchMode, ApiError> {
    let expected = if allow_title {
        "`title`, `keyword`, `semantic` or `hybrid`"
    } else {
        "`keyword`, `semantic` or `hybrid`"
    };
    match body.get("mode") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(text)) => workspace::SearchMode::parse(text)
            .filter(|mode| allow_title || *mode != workspace::SearchMode::Title)
            .ok_or_else(|| {
                ApiError::invalid(
                    "mode",
                    format!("should be {expected}, instead was `{text}`"),
                )
            }),
        Some(other) => Err(ApiError::invalid(
            "mode",
            format!("should be a string, instead was `{other}`"),
        )),
    }
}

/// A highlighted passage: `text`, the headings above it, and the matched terms as
/// `[start, end)` offsets in Unicode code points (Python's `str` indices; in JavaScript,
/// index `Array.from(text)`).
pub(crate) fn highlight_json(highlight: &workspace::HighlightView) -> Value {
    let to_chars = |byte: usize| {
        highlight.text[..byte.min(highlight.text.len())]
            .chars()
            .count()
    };
    json!({
        "text": highlight.text,
        "heading_path": highlight.heading_path,
        "matches": highlight
            .ranges
            .iter()
            .filter(|(start, end)| {
                highlight.text.is_char_boundary(*start) && highlight.text.is_char_boundary(*end)
            })
            .map(|(start, end)| json!({"start": to_chars(*start), "end": to_chars(*end)}))
            .collect::<Vec<_>>(),
    })
}
