//! The `/v1` routes: Notion's public API, one handler per endpoint.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use document::Id;
use serde_json::{Value, json};
use tower_http::timeout::TimeoutLayer;
use workspace::{Actor, Workspace};

use crate::edge::BoundedLimiter;
use crate::error::ApiError;
use notion_json::parse::{self, ParentRef};
use notion_json::render::{self, RenderContext};

/// Edge settings, with units in their names.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sustained requests per second allowed per token.
    pub rate_limit_per_second: u32,
    /// Requests a token may burst above the sustained rate.
    pub rate_limit_burst: u32,
    /// Base of page URLs in responses.
    pub base_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            base_url: "http://127.0.0.1:7777".into(),
        }
    }
}

pub const NOTION_VERSIONS: &[&str] = &["2025-09-03", "2022-06-28"];

/// Who a request's rate limit counts against once it is authenticated: the user, and the
/// integration acting for them or alone.
type Principal = (Option<Id>, Option<Id>);

fn principal(actor: &Actor) -> Principal {
    (
        actor.user().map(|user| user.id),
        actor.integration().map(|integration| integration.id),
    )
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) workspace: Workspace,
    /// The integration platform, when this server runs integrations.
    pub(crate) platform: Option<integrations::Platform>,
    /// Keyed on the authenticated principal, never on what a client sent: unknown tokens
    /// must not grow it.
    limiter: Arc<BoundedLimiter<Principal>>,
    /// Keyed on the client address, before authentication.
    pub(crate) address_limiter: Arc<BoundedLimiter<IpAddr>>,
    pub(crate) base_url: Arc<str>,
}

type ApiResult = Result<Response, ApiError>;

pub fn router(
    workspace: Workspace,
    platform: Option<integrations::Platform>,
    config: Config,
) -> Router {
    let state = AppState {
        workspace,
        platform,
        limiter: Arc::new(BoundedLimiter::new(
            config.rate_limit_per_second,
            config.rate_limit_burst,
        )),
        address_limiter: Arc::new(BoundedLimiter::new(
            crate::edge::ADDRESS_REQUESTS_PER_SECOND_MAX,
            crate::edge::ADDRESS_REQUESTS_BURST_MAX,
        )),
        base_url: config.base_url.into(),
    };
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/v1/pages", post(create_page))
        .route("/v1/pages/{id}", get(retrieve_page).patch(update_page))
        .route("/v1/pages/{id}/move", post(move_page))
        .route(
            "/v1/pages/{id}/properties/{property_id}",
            get(retrieve_property),
        )
        .route(
            "/v1/pages/{id}/markdown",
            get(page_markdown).patch(update_page_markdown),
        )
        .route(
            "/v1/blocks/{id}",
            get(retrieve_block).patch(update_block).delete(delete_block),
        )
        .route(
            "/v1/blocks/{id}/children",
            get(list_children).patch(append_children),
        )
        .route("/v1/databases", post(create_database))
        .route(
            "/v1/databases/{id}",
            get(retrieve_database).patch(update_database),
        )
        .route("/v1/data_sources", post(create_data_source))
        .route(
            "/v1/data_sources/{id}",
            get(retrieve_data_source).patch(update_data_source),
        )
        .route("/v1/data_sources/{id}/query", post(query_data_source))
        .route("/v1/databases/{id}/query", post(query_database))
        .route("/v1/search", post(search))
        .route("/v1/users", get(list_users))
        .route("/v1/users/me", get(me))
        .route("/v1/users/{id}", get(retrieve_user))
        .route("/v1/comments", post(create_comment).get(list_comments))
        .merge(crate::platform::routes())
        .merge(crate::integration_routes::routes())
        // Notion answers an unknown route with 400 `invalid_request_url`; the SDKs expect it.
        .fallback(|| async { ApiError::invalid_url("Invalid request URL.") })
        // Bodies past the limit are refused by the edge when declared, and here while read
        // (chunked); the edge turns this layer's bare 413 into Notion's error object.
        .layer(DefaultBodyLimit::max(
            document::limits::REQUEST_BODY_BYTES_MAX,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_millis(REQUEST_TIMEOUT_MS),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::edge::edge,
        ))
        .with_state(state)
}

/// Time one request may take, reading its body included, before it answers `504`. Longer
/// than an integration run's wall-clock limit, since inbound webhooks wait for their run.
pub const REQUEST_TIMEOUT_MS: u64 = 120_000;

// ----- request plumbing -------------------------------------------------------------------

impl AppState {
    /// The actor a request's bearer token names, without the rate limit.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        self.workspace
            .authenticate(token)
            .await
            .map_err(|_| ApiError::unauthorized())
    }

    /// Authenticates the bearer token, then checks the principal's rate limit.
    pub(crate) async fn actor(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let actor = self.authenticate(headers).await?;
        if let Err(wait) = self.limiter.check(&principal(&actor)) {
            let mut error = ApiError::rate_limited();
            error.retry_after_seconds = Some(wait);
            return Err(error);
        }
        Ok(actor)
    }

    fn ctx(&self) -> RenderContext<'_> {
        RenderContext {
            base_url: &self.base_url,
            people: None,
        }
    }
}

/// Parses a JSON object body; an empty body is an empty object.
pub(crate) fn body(bytes: &Bytes) -> Result<Value, ApiError> {
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
            StatusCode::BAD_REQUEST,
            "validation_error",
            "body failed validation: body should be an object.",
        ));
    }
    Ok(value)
}

fn api_version(headers: &HeaderMap) -> &str {
    headers
        .get("notion-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(NOTION_VERSIONS[0])
}

pub(crate) fn path_id(name: &str, value: &str) -> Result<Id, ApiError> {
    Id::parse(value).ok_or_else(|| ApiError::path_id(name, value))
}

fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

pub(crate) fn page_size(value: Option<&Value>, field: &str) -> Result<Option<usize>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(size) if (1..=document::limits::PAGE_SIZE_MAX as u64).contains(&size) => {
                Ok(Some(size as usize))
            }
            _ => Err(ApiError::validation(document::Error::new(
                field,
                format!("should be a number between 1 and 100, instead was `{n}`"),
            ))),
        },
        Some(Value::String(text)) => match text.parse::<usize>() {
            Ok(size) if (1..=document::limits::PAGE_SIZE_MAX).contains(&size) => Ok(Some(size)),
            _ => Err(ApiError::validation(document::Error::new(
                field,
                format!("should be a number between 1 and 100, instead was `{text}`"),
            ))),
        },
        Some(other) => Err(ApiError::validation(document::Error::new(
            field,
            format!("should be a number, instead was `{other}`"),
        ))),
    }
}

fn cursor(value: Option<&Value>, field: &str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ApiError::validation(document::Error::new(
            field,
            format!("should be a string, instead was `{other}`"),
        ))),
    }
}

fn optional_bool(body: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::validation(document::Error::new(
            key,
            format!("should be a boolean, instead was `{other}`"),
        ))),
    }
}

/// `in_trash`, or the legacy `archived`.
fn trash_flag(body: &Value) -> Result<Option<bool>, ApiError> {
    Ok(optional_bool(body, "in_trash")?.or(optional_bool(body, "archived")?))
}

fn parent_input(parent: ParentRef) -> workspace::ParentInput {
    match parent {
        ParentRef::Workspace => workspace::ParentInput::Workspace,
        ParentRef::Page(id) => workspace::ParentInput::Page(id),
        ParentRef::Block(id) => workspace::ParentInput::Block(id),
        ParentRef::Database(id) => workspace::ParentInput::Database(id),
        ParentRef::DataSource(id) => workspace::ParentInput::DataSource(id),
    }
}

fn list(results: Vec<Value>, next_cursor: Option<String>, kind: &str) -> ApiResult {
    ok(render::list(results, next_cursor, kind))
}

fn page_json(state: &AppState, view: &workspace::PageView) -> Value {
    let people = people_json(view);
    render::page(
        &view.page,
        view.data_source.as_ref(),
        &RenderContext {
            people: Some(&people),
            ..state.ctx()
        },
    )
}

/// The full user objects of the people a page names, by id.
fn people_json(view: &workspace::PageView) -> std::collections::HashMap<Id, Value> {
    view.people
        .iter()
        .map(|person| (person.user.id, user_json(person)))
        .collect()
}

fn user_json(view: &workspace::UserView) -> Value {
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

// ----- pages ------------------------------------------------------------------------------

/// The body's `properties` object, if it has one.
fn properties_object(body: &Value) -> Result<Option<&serde_json::Map<String, Value>>, ApiError> {
    match body.get("properties") {
        None => Ok(None),
        Some(Value::Object(properties)) => Ok(Some(properties)),
        Some(_) => Err(ApiError::validation(document::Error::new(
            "properties",
            "should be an object",
        ))),
    }
}

/// Property inputs need the schema of the parent data source, so they are parsed after
/// the parent is known.
async fn property_inputs(
    state: &AppState,
    actor: &Actor,
    body: &Value,
    schema_of: Option<Id>,
) -> Result<Vec<(String, document::PropertyInput)>, ApiError> {
    let Some(properties) = properties_object(body)? else {
        return Ok(Vec::new());
    };
    let data_source = match schema_of {
        Some(id) => Some(
            state
                .workspace
                .retrieve_data_source(actor, id)
                .await?
                .data_source,
        ),
        None => None,
    };
    Ok(parse::property_inputs(
        properties,
        data_source.as_ref(),
        "properties",
    )?)
}

async fn data_source_for_parent(
    state: &AppState,
    actor: &Actor,
    parent: &ParentRef,
) -> Result<Option<Id>, ApiError> {
    Ok(match parent {
        ParentRef::DataSource(id) => Some(*id),
        ParentRef::Database(id) => state
            .workspace
            .retrieve_database(actor, *id)
            .await?
            .data_sources
            .first()
            .map(|(id, _)| *id),
        _ => None,
    })
}

async fn create_page(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let body = body(&bytes)?;
    let parent = parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")?;
    let data_source = data_source_for_parent(&state, &actor, &parent).await?;
    let properties = property_inputs(&state, &actor, &body, data_source).await?;
    let children = match body.get("children") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => parse::blocks(value, "children")?,
    };
    let icon = match body.get("icon") {
        None => None,
        Some(value) => parse::icon(value, "icon")?,
    };
    let cover = match body.get("cover") {
        None => None,
        Some(value) => parse::cover(value, "cover")?,
    };
    let new_page = workspace::NewPage {
        id: None,
        parent: Some(parent_input(parent)),
        properties,
        children,
        icon,
        cover,
    };
    let view = state.workspace.create_page(&actor, new_page).await?;
    ok(page_json(&state, &view))
}

async fn retrieve_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("page_id", &id)?;
    let view = state.workspace.retrieve_page(&actor, id).await?;
    ok(page_json(&state, &view))
}

async fn update_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("page_id", &id)?;
    let body = body(&bytes)?;
    let properties = properties_object(&body)?;
    let in_trash = trash_flag(&body)?;
    let icon = body
        .get("icon")
        .map(|v| parse::icon(v, "icon"))
        .transpose()?;
    let cover = body
        .get("cover")
        .map(|v| parse::cover(v, "cover"))
        .transpose()?;
    let is_locked = optional_bool(&body, "is_locked")?;
    // The properties are parsed inside the write, against the schema it reads.
    let view = state
        .workspace
        .edit_page(&actor, id, |schema| {
            Ok(workspace::PageUpdate {
                properties: match properties {
                    Some(properties) => parse::property_inputs(properties, schema, "properties")?,
                    None => Vec::new(),
                },
                in_trash,
                icon,
                cover,
                is_locked,
            })
        })
        .await?;
    ok(page_json(&state, &view))
}

async fn move_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("page_id", &id)?;
    let body = body(&bytes)?;
    let parent = parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")?;
    let view = state
        .workspace
        .move_page(&actor, id, parent_input(parent))
        .await?;
    ok(page_json(&state, &view))
}

async fn retrieve_property(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, property_id)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("page_id", &id)?;
    let size = page_size(query.page_size.map(Value::String).as_ref(), "page_size")?
        .unwrap_or(document::limits::PAGE_SIZE_DEFAULT);
    let view = state.workspace.retrieve_page(&actor, id).await?;
    let Some(mut value) = render::property_item(
        &view.page,
        view.data_source.as_ref(),
        &property_id,
        Some(&people_json(&view)),
    ) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "object_not_found",
            format!("Could not find property with ID: {property_id}."),
        ));
    };
    // List-valued items (title, rich_text, people, relation) paginate; the cursor is the
    // index of the next item.
    if let Some(results) = value.get_mut("results").and_then(Value::as_array_mut) {
        let start = match &query.start_cursor {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|start| *start <= results.len())
                .ok_or_else(|| {
                    ApiError::validation(document::Error::new(
                        "start_cursor",
                        "is not a valid cursor for this property",
                    ))
                })?,
        };
        let total = results.len();
        let page: Vec<Value> = results.drain(..).skip(start).take(size).collect();
        *results = page;
        let next = start + size;
        value["has_more"] = json!(next < total);
        value["next_cursor"] = if next < total {
            json!(next.to_string())
        } else {
            Value::Null
        };
    }
    ok(value)
}

fn markdown_json(result: &workspace::PageMarkdown) -> Value {
    json!({
        "object": "page_markdown",
        "id": result.page.page.id.to_string(),
        "markdown": result.markdown,
        "truncated": result.truncated,
        // Every block type we store has a Markdown form, so none is unknown.
        "unknown_block_ids": [],
    })
}

async fn page_markdown(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("page_id", &id)?;
    ok(markdown_json(
        &state.workspace.page_markdown(&actor, id).await?,
    ))
}

fn string_at<'a>(body: &'a Value, pointer: &str, field: &str) -> Result<&'a str, ApiError> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation(document::Error::new(field, "should be a string")))
}

/// `{"type": "insert_content", "insert_content": {"content": MD}}` appends;
/// `{"type": "replace_content", "replace_content": {"new_str": MD, "allow_deleting_content": bool}}` replaces.
async fn update_page_markdown(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("page_id", &id)?;
    let body = body(&bytes)?;
    let result = match body.get("type").and_then(Value::as_str) {
        Some("insert_content") => {
            let markdown = string_at(&body, "/insert_content/content", "insert_content.content")?;
            state
                .workspace
                .insert_page_markdown(&actor, id, markdown)
                .await?
        }
        Some("replace_content") => {
            let markdown = string_at(&body, "/replace_content/new_str", "replace_content.new_str")?;
            let allow = body
                .pointer("/replace_content/allow_deleting_content")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            state
                .workspace
                .replace_page_markdown(&actor, id, markdown, allow)
                .await?
        }
        _ => {
            return Err(ApiError::validation(document::Error::new(
                "type",
                "should be `insert_content` or `replace_content`",
            )));
        }
    };
    ok(markdown_json(&result))
}

// ----- blocks -----------------------------------------------------------------------------

fn block_json(view: &workspace::BlockView) -> Value {
    render::block(&view.block, view.linked_title.as_deref())
}

async fn retrieve_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("block_id", &id)?;
    ok(block_json(
        &state.workspace.retrieve_block(&actor, id).await?,
    ))
}

async fn update_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("block_id", &id)?;
    let body = body(&bytes)?;
    let in_trash = trash_flag(&body)?;
    let edit_body = body.clone();
    let edit = move |existing: &document::BlockKind| -> Result<Option<document::BlockKind>, document::Error> {
        let has_content = edit_body.as_object().is_some_and(|o| o.keys().any(|k| !matches!(k.as_str(), "in_trash" | "archived" | "type")));
        if has_content { parse::block_update(&edit_body, existing, "").map(Some) } else { Ok(None) }
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
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("block_id", &id)?;
    ok(block_json(&state.workspace.delete_block(&actor, id).await?))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    start_cursor: Option<String>,
    page_size: Option<String>,
    block_id: Option<String>,
}

async fn list_children(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("block_id", &id)?;
    let size = page_size(query.page_size.map(Value::String).as_ref(), "page_size")?;
    let start = match query.start_cursor {
        None => None,
        Some(cursor) => Some(Id::parse(&cursor).ok_or_else(|| {
            ApiError::validation(document::Error::new(
                "start_cursor",
                "should be a valid cursor",
            ))
        })?),
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
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("block_id", &id)?;
    let body = body(&bytes)?;
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
                return Err(ApiError::validation(document::Error::new(
                    "position.type",
                    "should be `start`, `end` or `after_block`",
                )));
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

// ----- databases and data sources ----------------------------------------------------------

fn database_json(state: &AppState, view: &workspace::DatabaseView) -> Value {
    render::database(&view.database, &view.data_sources, &state.ctx())
}

fn data_source_json(view: &workspace::DataSourceView) -> Value {
    render::data_source(&view.data_source, &view.database)
}

fn rich_text_field(body: &Value, key: &str) -> Result<Option<Vec<document::RichText>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Ok(Some(parse::rich_text(value, key)?)),
    }
}

fn property_configs(
    value: Option<&Value>,
    field: &str,
) -> Result<Vec<(String, document::PropertyConfig)>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::validation(document::Error::new(field, "should be an object")))?;
    object
        .iter()
        .map(|(name, config)| {
            Ok((
                name.clone(),
                parse::property_config(config, &format!("{field}.{name}"))?,
            ))
        })
        .collect()
}

async fn create_database(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let body = body(&bytes)?;
    let parent = parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")?;
    // 2025-09-03 puts the schema under `initial_data_source.properties`; 2022-06-28 at `properties`.
    let properties = match body.pointer("/initial_data_source/properties") {
        Some(value) => property_configs(Some(value), "initial_data_source.properties")?,
        None => property_configs(body.get("properties"), "properties")?,
    };
    let spec = workspace::NewDatabase {
        parent: Some(parent_input(parent)),
        title: rich_text_field(&body, "title")?.unwrap_or_default(),
        description: rich_text_field(&body, "description")?.unwrap_or_default(),
        icon: body
            .get("icon")
            .map(|v| parse::icon(v, "icon"))
            .transpose()?
            .flatten(),
        cover: body
            .get("cover")
            .map(|v| parse::cover(v, "cover"))
            .transpose()?
            .flatten(),
        is_inline: optional_bool(&body, "is_inline")?.unwrap_or(false),
        properties,
    };
    let view = state.workspace.create_database(&actor, spec).await?;
    ok(database_json(&state, &view))
}

async fn retrieve_database(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("database_id", &id)?;
    let view = state.workspace.retrieve_database(&actor, id).await?;
    ok(database_json(&state, &view))
}

async fn update_database(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("database_id", &id)?;
    let body = body(&bytes)?;
    let update = workspace::DatabaseUpdate {
        title: rich_text_field(&body, "title")?,
        description: rich_text_field(&body, "description")?,
        icon: body
            .get("icon")
            .map(|v| parse::icon(v, "icon"))
            .transpose()?,
        cover: body
            .get("cover")
            .map(|v| parse::cover(v, "cover"))
            .transpose()?,
        is_inline: optional_bool(&body, "is_inline")?,
        in_trash: trash_flag(&body)?,
        is_locked: optional_bool(&body, "is_locked")?,
    };
    let view = state.workspace.update_database(&actor, id, update).await?;
    ok(database_json(&state, &view))
}

async fn create_data_source(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let body = body(&bytes)?;
    let database_id = match parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")? {
        ParentRef::Database(id) => id,
        _ => {
            return Err(ApiError::validation(document::Error::new(
                "parent",
                "a data source's parent should be a database_id",
            )));
        }
    };
    let spec = workspace::NewDataSource {
        database_id: Some(database_id),
        title: rich_text_field(&body, "title")?.unwrap_or_default(),
        properties: property_configs(body.get("properties"), "properties")?,
    };
    ok(data_source_json(
        &state.workspace.create_data_source(&actor, spec).await?,
    ))
}

async fn retrieve_data_source(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("data_source_id", &id)?;
    ok(data_source_json(
        &state.workspace.retrieve_data_source(&actor, id).await?,
    ))
}

async fn update_data_source(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("data_source_id", &id)?;
    let body = body(&bytes)?;
    let properties = match body.get("properties") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => parse::schema_edits(value, "properties")?
            .into_iter()
            .map(|(key, edit)| {
                let edit = match edit {
                    parse::SchemaEdit::Remove => workspace::SchemaEdit::Remove,
                    parse::SchemaEdit::Update { name, config } => {
                        workspace::SchemaEdit::Update { name, config }
                    }
                };
                (key, edit)
            })
            .collect(),
    };
    let update = workspace::DataSourceUpdate {
        title: rich_text_field(&body, "title")?,
        description: rich_text_field(&body, "description")?,
        icon: body
            .get("icon")
            .map(|v| parse::icon(v, "icon"))
            .transpose()?,
        in_trash: trash_flag(&body)?,
        properties,
    };
    ok(data_source_json(
        &state
            .workspace
            .update_data_source(&actor, id, update)
            .await?,
    ))
}

async fn query_data_source(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("data_source_id", &id)?;
    run_query(&state, &actor, id, &bytes).await
}

/// The 2022-06-28 endpoint: a database's query runs on its first data source.
async fn query_database(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("database_id", &id)?;
    let database = state.workspace.retrieve_database(&actor, id).await?;
    let Some((data_source_id, _)) = database.data_sources.first() else {
        return Err(ApiError::validation(document::Error::new(
            "database_id",
            "the database has no data source",
        )));
    };
    run_query(&state, &actor, *data_source_id, &bytes).await
}

async fn run_query(state: &AppState, actor: &Actor, id: Id, bytes: &Bytes) -> ApiResult {
    let body = body(bytes)?;
    let query = workspace::QueryRequest {
        filter: match body.get("filter") {
            None | Some(Value::Null) => None,
            Some(value) => Some(parse::filter_with_me(
                value,
                "filter",
                actor.user().map(|user| user.id),
            )?),
        },
        sorts: match body.get("sorts") {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => parse::sorts(value, "sorts")?,
        },
        start_cursor: cursor(body.get("start_cursor"), "start_cursor")?,
        page_size: page_size(body.get("page_size"), "page_size")?,
    };
    let page = state.workspace.query_data_source(actor, id, query).await?;
    list(
        page.results
            .iter()
            .map(|view| page_json(state, view))
            .collect(),
        page.next_cursor,
        "page_or_data_source",
    )
}

// ----- search, users, comments --------------------------------------------------------------

async fn search(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let body = body(&bytes)?;
    let query = match body.get("query") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => {
            return Err(ApiError::validation(document::Error::new(
                "query",
                format!("should be a string, instead was `{other}`"),
            )));
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
            (Some("object"), Some("database")) if api_version(&headers) == "2022-06-28" => {
                Some(workspace::SearchFilter::DataSource)
            }
            _ => {
                return Err(ApiError::validation(document::Error::new(
                    "filter",
                    "should be {\"property\": \"object\", \"value\": \"page\" | \"data_source\"}",
                )));
            }
        },
    };
    let ascending = match body.get("sort") {
        None | Some(Value::Null) => false,
        Some(sort) => {
            if sort.get("timestamp").and_then(Value::as_str) != Some("last_edited_time") {
                return Err(ApiError::validation(document::Error::new(
                    "sort.timestamp",
                    "should be `last_edited_time`",
                )));
            }
            match sort.get("direction").and_then(Value::as_str) {
                Some("ascending") => true,
                Some("descending") | None => false,
                Some(other) => {
                    return Err(ApiError::validation(document::Error::new(
                        "sort.direction",
                        format!("should be `ascending` or `descending`, instead was `{other}`"),
                    )));
                }
            }
        }
    };
    let mode = search_mode(&body, workspace::SearchMode::Title, true)?;
    if mode != workspace::SearchMode::Title {
        if body.get("sort").is_some_and(|s| !s.is_null()) {
            return Err(ApiError::validation(document::Error::new(
                "sort",
                format!(
                    "is not supported with mode `{}`: results are ranked best first",
                    mode.name()
                ),
            )));
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
                ApiError::validation(document::Error::new(
                    "mode",
                    format!("should be {expected}, instead was `{text}`"),
                ))
            }),
        Some(other) => Err(ApiError::validation(document::Error::new(
            "mode",
            format!("should be a string, instead was `{other}`"),
        ))),
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

async fn me(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let actor = state.actor(&headers).await?;
    ok(user_json(&state.workspace.me(&actor).await?))
}

async fn retrieve_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let id = path_id("user_id", &id)?;
    ok(user_json(&state.workspace.retrieve_user(&actor, id).await?))
}

async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let size = page_size(query.page_size.map(Value::String).as_ref(), "page_size")?;
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

async fn create_comment(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let body = body(&bytes)?;
    let target = match (body.get("parent"), body.get("discussion_id")) {
        (Some(parent), _) => match parse::parent(parent, "parent")? {
            ParentRef::Page(id) => workspace::CommentTarget::Page(id),
            ParentRef::Block(id) => workspace::CommentTarget::Block(id),
            _ => {
                return Err(ApiError::validation(document::Error::new(
                    "parent",
                    "should be a page_id or block_id",
                )));
            }
        },
        (None, Some(discussion)) => {
            workspace::CommentTarget::Discussion(parse::id(discussion, "discussion_id")?)
        }
        (None, None) => {
            return Err(ApiError::validation(document::Error::new(
                "parent",
                "either parent or discussion_id should be defined",
            )));
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
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let actor = state.actor(&headers).await?;
    let block_id = query.block_id.ok_or_else(|| {
        ApiError::validation(document::Error::new("block_id", "should be defined"))
    })?;
    let block_id = Id::parse(&block_id).ok_or_else(|| {
        ApiError::validation(document::Error::new("block_id", "should be a valid uuid"))
    })?;
    let size = page_size(query.page_size.map(Value::String).as_ref(), "page_size")?;
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
