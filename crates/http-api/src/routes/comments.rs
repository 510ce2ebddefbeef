//! Comments: create one on a page, a block or a discussion; list a block's.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::post;
use document::Id;
use document::ParentRef;
use notion_json::parse;
use notion_json::render;
use serde_json::Value;

use super::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody};
use crate::request::{ApiResult, ListQuery, list, ok, query_page_size};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/comments", post(create_comment).get(list_comments))
}

fn comment_json(comment: &workspace::Comment) -> Value {
    render::comment(
        comment.id,
        if comment.block_id.is_none() {
            Some(comment.page_id)
        } else {
            None
        },
        comment.block_id,
        comment.discussion_id,
        &comment.rich_text,
        comment.created_time,
        comment.created_by,
    )
}

async fn create_comment(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let target = match (body.get("parent"), body.get("discussion_id")) {
        (Some(parent), _) => match parse::parent(parent, "parent")? {
            ParentRef::Page(id) => workspace::CommentTarget::Page(id),
            ParentRef::Block(id) => workspace::CommentTarget::Block(id),
            _ => {
                return Err(ApiError::invalid(
                    "parent",
                    "should be a page_id or block_id",
                ));
            }
        },
        (None, Some(discussion)) => {
            workspace::CommentTarget::Discussion(parse::id(discussion, "discussion_id")?)
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "parent",
                "either parent or discussion_id should be defined",
            ));
        }
    };
    let rich_text = parse::rich_text(body.get("rich_text").unwrap_or(&Value::Null), "rich_text")?;
    ok(comment_json(
        &state
            .workspace
            .create_comment(&actor, target, rich_text)
            .await?,
    ))
}

async fn list_comments(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let block_id = query
        .block_id
        .ok_or_else(|| ApiError::invalid("block_id", "should be defined"))?;
    let block_id = Id::parse(&block_id)
        .ok_or_else(|| ApiError::invalid("block_id", "should be a valid uuid"))?;
    let size = query_page_size(query.page_size)?;
    let page = state
        .workspace
        .list_comments(&actor, block_id, query.start_cursor, size)
        .await?;
    list(
        page.results.iter().map(comment_json).collect(),
        page.next_cursor,
        "comment",
    )
}
