//! Users: the caller, one user, and the workspace's users.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use notion_json::render;
use serde_json::Value;

use super::AppState;
use crate::extract::{Authenticated, UserId};
use crate::request::{ApiResult, ListQuery, list, ok, query_page_size};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list_users))
        .route("/v1/users/me", get(me))
        .route("/v1/users/{id}", get(retrieve_user))
}

pub(super) fn user_json(view: &workspace::UserView) -> Value {
    let user = &view.user;
    render::user(
        user.id,
        user.kind == workspace::UserKind::Bot,
        &user.name,
        user.avatar_url.as_deref(),
        if view.show_email {
            user.email.as_deref()
        } else {
            None
        },
        &view.workspace_name,
    )
}

async fn me(State(state): State<AppState>, Authenticated(actor): Authenticated) -> ApiResult {
    ok(user_json(&state.workspace.me(&actor).await?))
}

async fn retrieve_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    UserId(id): UserId,
) -> ApiResult {
    ok(user_json(&state.workspace.retrieve_user(&actor, id).await?))
}

async fn list_users(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let size = query_page_size(query.page_size)?;
    let page = state
        .workspace
        .list_users(&actor, query.start_cursor, size)
        .await?;
    list(
        page.results.iter().map(user_json).collect(),
        page.next_cursor,
        "user",
    )
}
