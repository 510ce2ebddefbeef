//! Trellis's own endpoints, outside Notion's `/v1`: webhook subscriptions (Notion only
//! offers a dashboard for them), signing in with a password, API tokens, and sharing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use document::ErrorCode;
use serde_json::{Value, json};
use workspace::{
    Delivery, Grantee, Level, LoginLimiter, LoginLimits, Subscription, TokenRecord, TokenSubject,
};

use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, PageId, TokenId, WebhookId};
use crate::request::{ApiResult, list, ok, query_page_size, required_string};
use crate::routes::AppState;
use notion_json::parse;

/// Chunks a chunk search returns when the body names no `page_size`.
const CHUNK_RESULTS_DEFAULT: usize = 10;
/// Deliveries listed when the query names no `page_size`.
const DELIVERIES_PAGE_DEFAULT: i64 = 100;
const MILLISECONDS_PER_SECOND: u128 = 1_000;

pub fn routes() -> Router<AppState> {
    // One limiter per router: each server (and each in-process test) counts its own failures.
    let login_limiter = Arc::new(LoginLimiter::new(LoginLimits::default()));
    Router::new()
        .route(
            "/platform/v1/login",
            post(login).layer(Extension(login_limiter)),
        )
        .route("/platform/v1/tokens", get(list_tokens).post(create_token))
        .route("/platform/v1/tokens/{id}", delete(revoke_token))
        .route(
            "/platform/v1/webhooks",
            post(create_webhook).get(list_webhooks),
        )
        .route(
            "/platform/v1/webhooks/{id}",
            get(get_webhook).delete(delete_webhook),
        )
        .route(
            "/platform/v1/webhooks/{id}/deliveries",
            get(list_deliveries),
        )
        .route(
            "/platform/v1/pages/{id}/sharing",
            post(share).get(list_sharing),
        )
        .route("/platform/v1/search/chunks", post(search_chunks))
        .route("/platform/v1/search/status", get(search_status))
}

/// Content search's state: model, index sizes, events not yet indexed, how the index opened.
/// Owners only: the counts are workspace-wide, so they tell a guest or a member about pages
/// they cannot read.
async fn search_status(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult {
    workspace::require_owner(&actor, "read the search status")?;
    let status = state.workspace.content_status().await?;
    ok(json!({
        "object": "search_status",
        "model": status.model_id,
        "dimensions": status.dimensions,
        "chunks": status.stats.chunks,
        "objects": status.stats.objects,
        "keyword_documents": status.stats.keyword_documents,
        "vector_memory_bytes": status.stats.vector_memory_bytes,
        "disk_bytes": status.stats.disk_bytes,
        "pending_events": status.pending_events,
        "objects_awaiting_vectors": status.objects_awaiting_vectors,
        "provisional_vectors": status.stats.provisional_vectors,
        "provisional_vectors_dropped": status.stats.provisional_dropped,
        "provisional_passages_added": status.provisional_passages_added,
        "superseded_vectors_kept": status.superseded_vectors_kept,
        "superseded_vectors_discarded": status.superseded_vectors_discarded,
        "freshness": freshness_json(&status.freshness),
        "opened": status.opened,
    }))
}

/// Edit → searchable latencies as the indexer measured them (`null` percentiles before any edit).
fn freshness_json(freshness: &workspace::FreshnessSummary) -> Value {
    let lag = |stats: Option<workspace::LagStats>| match stats {
        None => Value::Null,
        Some(s) => json!({
            "samples": s.samples,
            "p50_ms": s.p50_ms,
            "p90_ms": s.p90_ms,
            "p99_ms": s.p99_ms,
            "max_ms": s.max_ms,
        }),
    };
    json!({
        "keyword": lag(freshness.keyword),
        "meaning": lag(freshness.meaning),
        "edits_recorded": freshness.edits_recorded,
        "edits_awaiting_meaning": freshness.edits_awaiting_meaning,
        "edits_untracked": freshness.edits_untracked,
    })
}

/// Chunk search for agents and integrations: `{"query", "mode"?, "page_size"?}` →
/// the best chunks the caller may read, with scores, heading paths and highlighted passages.
async fn search_chunks(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let query = required_string(body.get("query"), "query")?;
    let mode = crate::routes::search_mode(&body, workspace::SearchMode::Hybrid, false)?;
    let limit = match body.get("page_size") {
        None | Some(Value::Null) => CHUNK_RESULTS_DEFAULT,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=workspace::CHUNK_RESULTS_MAX as u64).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "page_size",
                    format!(
                        "should be a number between 1 and {}, instead was `{value}`",
                        workspace::CHUNK_RESULTS_MAX
                    ),
                )
            })? as usize,
    };
    let hits = state
        .workspace
        .search_chunks(&actor, query, mode, limit)
        .await?;
    let results: Vec<Value> = hits
        .iter()
        .map(|hit| {
            let parent = match hit.object_kind {
                "data_source" => {
                    json!({"type": "data_source_id", "data_source_id": hit.object_id.to_string()})
                }
                _ => json!({"type": "page_id", "page_id": hit.object_id.to_string()}),
            };
            json!({
                "object": "chunk",
                "id": hit.chunk_id.to_string(),
                "parent": parent,
                "score": hit.score,
                "heading_path": hit.heading_path,
                "text": hit.text,
                "highlight": crate::routes::highlight_json(&hit.highlight),
                "provisional_passage": hit.provisional_passage,
                "provisional_passages": hit
                    .provisional_passages
                    .iter()
                    .map(|p| json!({"text": p.text, "score": p.score}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    ok(json!({
        "object": "list",
        "type": "chunk",
        "mode": mode.name(),
        "results": results,
    }))
}

fn subscription_json(subscription: &Subscription, with_token: bool) -> Value {
    let mut value = json!({
        "object": "webhook_subscription",
        "id": subscription.id.to_string(),
        "url": subscription.url,
        "event_types": subscription.event_types,
        "data_source_id": subscription.data_source_id.map(|id| id.to_string()),
        "status": if subscription.active { "active" } else { "deleted" },
        "created_time": document::time::format_ms(subscription.created_time),
    });
    // The verification token signs deliveries: it is shown once, when the subscription is made.
    if with_token {
        value["verification_token"] = json!(subscription.verification_token);
    }
    value
}

fn delivery_json(delivery: &Delivery) -> Value {
    json!({
        "object": "webhook_delivery",
        "id": delivery.id.to_string(),
        "event_type": delivery.event_type,
        "entity": {"id": delivery.entity_id.to_string(), "type": delivery.entity_kind},
        "status": delivery.status.name(),
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_time": document::time::format_ms(delivery.created_time),
        "next_attempt_time": document::time::format_ms(delivery.next_attempt_time),
        "delivered_time": delivery.delivered_time.map(document::time::format_ms),
    })
}

/// Exchanges an email and password for a personal token. Failed attempts are limited per
/// account and per client address (see [`LoginLimiter`]); past a limit the answer is `429
/// rate_limited` with `Retry-After`, before any password is checked.
async fn login(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<LoginLimiter>>,
    connect_info: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let email = required_string(body.get("email"), "email")?;
    let password = required_string(body.get("password"), "password")?;
    let address = client_address(connect_info.ok().map(|ConnectInfo(address)| address.ip()));
    limiter
        .begin(email, &address, Instant::now())
        .map_err(rate_limited)?;
    let user = state.workspace.check_password(email, password).await?;
    limiter.succeeded(email, &address, Instant::now());
    let (token, secret) = state
        .workspace
        .issue_token(TokenSubject::User(user.id), "login", None)
        .await?;
    let mut value = token_json(&token);
    value["token"] = json!(secret);
    value["user_id"] = json!(user.id.to_string());
    ok(value)
}

/// The key a client's failed sign-ins are counted under. IPv6 clients are counted by their
/// /64, which one subscriber usually holds whole. Without a connection address (a router
/// served without connect info, as in-process tests are) every client shares one key. Behind
/// a reverse proxy the address is the proxy's: forwarded headers are not trusted, since any
/// client can write them.
fn client_address(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_string(),
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => {
            let segments = ip.segments();
            format!(
                "{:x}:{:x}:{:x}:{:x}::/64",
                segments[0], segments[1], segments[2], segments[3]
            )
        }
    }
}

fn rate_limited(wait: Duration) -> ApiError {
    // Whole seconds, rounded up: `Retry-After` has no finer unit.
    let seconds = wait.as_millis().div_ceil(MILLISECONDS_PER_SECOND).max(1) as u64;
    ApiError {
        retry_after_seconds: Some(seconds),
        ..ApiError::new(
            ErrorCode::RateLimited,
            format!("Too many failed sign-ins. Please try again in {seconds} seconds."),
        )
    }
}

/// A token as listed: never its secret, nor the hash it is stored as.
fn token_json(token: &TokenRecord) -> Value {
    let subject = match token.subject {
        TokenSubject::User(id) => json!({"type": "user", "user_id": id.to_string()}),
        TokenSubject::Integration(id) => {
            json!({"type": "integration", "integration_id": id.to_string()})
        }
    };
    json!({
        "object": "token",
        "id": token.id.to_string(),
        "name": token.name,
        "subject": subject,
        "status": workspace::token_status(token, workspace::clock::now_ms()).name(),
        "created_time": document::time::format_ms(token.created_time),
        "expires_time": token.expires_time.map(document::time::format_ms),
        "revoked_time": token.revoked_time.map(document::time::format_ms),
    })
}

#[derive(serde::Deserialize)]
struct TokenListQuery {
    user_id: Option<String>,
    start_cursor: Option<String>,
    page_size: Option<String>,
}

/// The caller's personal tokens; owners may pass `?user_id=` for someone else's.
async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Query(query): Query<TokenListQuery>,
) -> ApiResult {
    let user_id = match &query.user_id {
        None => None,
        Some(id) => Some(document::Id::parse(id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationError,
                format!("query failed validation: query.user_id should be a valid uuid, instead was `\"{id}\"`."),
            )
        })?),
    };
    let size = query_page_size(query.page_size)?;
    let page = state
        .workspace
        .list_tokens(&actor, user_id, query.start_cursor, size)
        .await?;
    let results = page.results.iter().map(token_json).collect();
    list(results, page.next_cursor, "token")
}

/// `{"name", "expires_in_days"?}` → a personal token for the caller. The secret is in this
/// answer only.
async fn create_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let name = required_string(body.get("name"), "name")?;
    let expires_in_days = match body.get("expires_in_days") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_i64().ok_or_else(|| {
            ApiError::invalid(
                "expires_in_days",
                format!(
                    "should be a whole number of days between 1 and {}, instead was `{value}`",
                    workspace::TOKEN_EXPIRES_IN_DAYS_MAX
                ),
            )
        })?),
    };
    let (token, secret) = state
        .workspace
        .create_personal_token(&actor, name, expires_in_days)
        .await?;
    let mut value = token_json(&token);
    value["token"] = json!(secret);
    ok(value)
}

/// Revokes a token: the caller's own, or any for owners. It stops working at once.
async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    TokenId(id): TokenId,
) -> ApiResult {
    let token = state.workspace.revoke_token(&actor, id).await?;
    ok(token_json(&token))
}

async fn create_webhook(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let event_types = match body.get("event_types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(String::from).ok_or_else(|| {
                    ApiError::invalid(format!("event_types[{i}]"), "should be a string")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "event_types",
                "should be an array of event type names",
            ));
        }
    };
    let data_source_id = match body.get("data_source_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse::id(value, "data_source_id")?),
    };
    let new = workspace::NewSubscription {
        url: required_string(body.get("url"), "url")?.to_string(),
        event_types,
        data_source_id,
    };
    let subscription = state.workspace.create_subscription(&actor, new).await?;
    ok(subscription_json(&subscription, true))
}

async fn list_webhooks(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult {
    let subscriptions = state.workspace.list_subscriptions(&actor).await?;
    let results: Vec<Value> = subscriptions
        .iter()
        .map(|s| subscription_json(s, false))
        .collect();
    list(results, None, "webhook_subscription")
}

async fn get_webhook(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    WebhookId(id): WebhookId,
) -> ApiResult {
    ok(subscription_json(
        &state.workspace.get_subscription(&actor, id).await?,
        false,
    ))
}

async fn delete_webhook(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    WebhookId(id): WebhookId,
) -> ApiResult {
    ok(subscription_json(
        &state.workspace.delete_subscription(&actor, id).await?,
        false,
    ))
}

#[derive(serde::Deserialize)]
struct LimitQuery {
    page_size: Option<i64>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    WebhookId(id): WebhookId,
    Query(query): Query<LimitQuery>,
) -> ApiResult {
    let deliveries = state
        .workspace
        .subscription_deliveries(
            &actor,
            id,
            query.page_size.unwrap_or(DELIVERIES_PAGE_DEFAULT),
        )
        .await?;
    let results: Vec<Value> = deliveries.iter().map(delivery_json).collect();
    list(results, None, "webhook_delivery")
}

/// `{"user_id" | "integration_id" | "workspace": true, "level": "can_view" | ... | null}`;
/// a null level removes the grant. `{"inherit": false}` stops inheriting from the parent.
async fn share(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    if let Some(inherit) = body.get("inherit") {
        let inherit = inherit
            .as_bool()
            .ok_or_else(|| ApiError::invalid("inherit", "should be a boolean"))?;
        state.workspace.set_inherits(&actor, id, inherit).await?;
        return list_sharing_for(&state, &actor, id).await;
    }
    let grantee = if let Some(user) = body.get("user_id") {
        Grantee::User(parse::id(user, "user_id")?)
    } else if let Some(integration) = body.get("integration_id") {
        Grantee::Integration(parse::id(integration, "integration_id")?)
    } else if body.get("workspace").and_then(Value::as_bool) == Some(true) {
        Grantee::WorkspaceMembers
    } else {
        return Err(ApiError::invalid(
            "user_id",
            "one of user_id, integration_id or workspace: true should be defined",
        ));
    };
    let level = match body.get("level") {
        None => {
            return Err(ApiError::invalid(
                "level",
                "should be defined (null removes the grant)",
            ));
        }
        Some(Value::Null) => None,
        Some(Value::String(name)) => Some(
            Level::from_name(name)
                .filter(|l| *l != Level::None)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "level",
                        "should be one of full_access, can_edit, can_comment, can_view",
                    )
                })?,
        ),
        Some(_) => {
            return Err(ApiError::invalid("level", "should be a string or null"));
        }
    };
    state.workspace.share(&actor, id, grantee, level).await?;
    list_sharing_for(&state, &actor, id).await
}

async fn list_sharing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
) -> ApiResult {
    list_sharing_for(&state, &actor, id).await
}

async fn list_sharing_for(
    state: &AppState,
    actor: &workspace::Actor,
    id: document::Id,
) -> ApiResult {
    let (inherits, grants) = state.workspace.sharing(actor, id).await?;
    let grants: Vec<Value> = grants
        .iter()
        .map(|grant| {
            let mut value = match grant.grantee {
                Grantee::User(id) => json!({"type": "user", "user_id": id.to_string()}),
                Grantee::Group(id) => json!({"type": "group", "group_id": id.to_string()}),
                Grantee::Integration(id) => {
                    json!({"type": "integration", "integration_id": id.to_string()})
                }
                Grantee::WorkspaceMembers => json!({"type": "workspace"}),
            };
            value["level"] = json!(grant.level.name());
            value
        })
        .collect();
    ok(json!({"object": "sharing", "id": id.to_string(), "inherit": inherits, "grants": grants}))
}
