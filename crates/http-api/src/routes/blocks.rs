//! Blocks: retrieve, update, delete, and a block's children (listed and appended).

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use document::Id;
use notion_json::{parse, render};
use serde_json::Value;

use super::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, BlockId, JsonBody};
use crate::request::{ApiResult, ListQuery, list, ok, query_page_size, trash_flag};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/blocks/{id}",
            get(retrieve_block).patch(update_block).delete(delete_block),
        )
        .route(
            "/v1/blocks/{id}/children",
            get(list_children).patch(append_children),
        )
}

fn block_json(view: &workspace::BlockView) -> Value {
    render::block(&view.block, view.linked_title.as_deref())
}

async fn retrieve_block(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    BlockId(id): BlockId,
) -> ApiResult {
    ok(block_json(
        &state.workspace.retrieve_block(&actor, id).await?,
    ))
}

async fn update_block(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    BlockId(id): BlockId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let in_trash = trash_flag(&body)?;
    let edit = move |existing: &document::BlockKind| -> Result<Option<document::BlockKind>, document::Error> {
        let has_content = body.as_object().is_some_and(|o| o.keys().any(|k| !matches!(k.as_str(), "in_trash" | "archived" | "type")));
        if has_content { parse::block_update(&body, existing, "").map(Some) } else { Ok(None) }
    };
    ok(block_json(
        &state
            .workspace
            .update_block(&actor, id, edit, in_trash)
            .await?,
    ))
}

async fn delete_block(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    BlockId(id): BlockId,
) -> ApiResult {
    ok(block_json(&state.workspace.delete_block(&actor, id).await?))
}

async fn list_children(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    BlockId(id): BlockId,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let size = query_page_size(query.page_size)?;
    let start = match query.start_cursor {
        None => None,
        Some(cursor) => Some(
            Id::parse(&cursor)
                .ok_or_else(|| ApiError::invalid("start_cursor", "should be a valid cursor"))?,
        ),
    };
    let page = state
        .workspace
        .list_children(&actor, id, start, size)
        .await?;
    list(
        page.results.iter().map(block_json).collect(),
        page.next_cursor,
        "block",
    )
}

async fn append_children(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    BlockId(id): BlockId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let children = parse::blocks(body.get("children").unwrap_or(&Value::Null), "children")?;
    // 2025-09-03: `position: {type: "after_block", after_block: {id}} | {type: "start"} | {type: "end"}`;
    // 2022-06-28: `after: id`.
    let position = match (body.get("position"), body.get("after")) {
        (Some(position), _) => match position.get("type").and_then(Value::as_str) {
            Some("start") => workspace::AppendPosition::Start,
            Some("end") => workspace::AppendPosition::End,
            Some("after_block") => workspace::AppendPosition::After(parse::id(
                position.pointer("/after_block/id").unwrap_or(&Value::Null),
                "position.after_block.id",
            )?),
            _ => {
                return Err(ApiError::invalid(
                    "position.type",
                    "should be `start`, `end` or `after_block`",
                ));
            }
        },
        (None, Some(after)) => workspace::AppendPosition::After(parse::id(after, "after")?),
        (None, None) => workspace::AppendPosition::End,
    };
    let views = state
        .workspace
        .append_children(&actor, id, children, position)
        .await?;
    list(views.iter().map(block_json).collect(), None, "block")
}
