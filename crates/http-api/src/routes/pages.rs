//! Pages: create, retrieve, update, move, one property's value, and the page as Markdown.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use document::ParentRef;
use document::{ErrorCode, Id};
use notion_json::parse;
use notion_json::render::{self, RenderContext};
use serde_json::{Value, json};
use workspace::Actor;

use super::AppState;
use super::users::user_json;
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, PageId};
use crate::request::{
    ApiResult, ListQuery, cover_field, icon_field, ok, optional_bool, query_page_size,
    required_string, trash_flag,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
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
}

pub(super) fn page_json(state: &AppState, view: &workspace::PageView) -> Value {
    let people = people_json(view);
    render::page(
        &view.page,
        view.data_source.as_ref(),
        &RenderContext {
            people: Some(&people),
            ..state.render_context()
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

/// The body's `properties` object, if it has one.
fn properties_object(body: &Value) -> Result<Option<&serde_json::Map<String, Value>>, ApiError> {
    match body.get("properties") {
        None => Ok(None),
        Some(Value::Object(properties)) => Ok(Some(properties)),
        Some(_) => Err(ApiError::invalid("properties", "should be an object")),
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

async fn create_page(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let parent = parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")?;
    let data_source = data_source_for_parent(&state, &actor, &parent).await?;
    let properties = property_inputs(&state, &actor, &body, data_source).await?;
    let children = match body.get("children") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => parse::blocks(value, "children")?,
    };
    let icon = icon_field(&body)?.flatten();
    let cover = cover_field(&body)?.flatten();
    let new_page = workspace::NewPage {
        id: None,
        parent: Some(parent),
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
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
) -> ApiResult {
    let view = state.workspace.retrieve_page(&actor, id).await?;
    ok(page_json(&state, &view))
}

async fn update_page(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let properties = properties_object(&body)?;
    let in_trash = trash_flag(&body)?;
    let icon = icon_field(&body)?;
    let cover = cover_field(&body)?;
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
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let parent = parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")?;
    let view = state.workspace.move_page(&actor, id, parent).await?;
    ok(page_json(&state, &view))
}

async fn retrieve_property(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
    Path((_, property_id)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let size = query_page_size(query.page_size)?.unwrap_or(document::limits::PAGE_SIZE_DEFAULT);
    let view = state.workspace.retrieve_page(&actor, id).await?;
    let Some(mut value) = render::property_item(
        &view.page,
        view.data_source.as_ref(),
        &property_id,
        Some(&people_json(&view)),
    ) else {
        return Err(ApiError::new(
            ErrorCode::ObjectNotFound,
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
                    ApiError::invalid("start_cursor", "is not a valid cursor for this property")
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
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
) -> ApiResult {
    ok(markdown_json(
        &state.workspace.page_markdown(&actor, id).await?,
    ))
}

/// `{"type": "insert_content", "insert_content": {"content": MD}}` appends;
/// `{"type": "replace_content", "replace_content": {"new_str": MD, "allow_deleting_content": bool}}` replaces.
async fn update_page_markdown(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    PageId(id): PageId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let result = match body.get("type").and_then(Value::as_str) {
        Some("insert_content") => {
            let markdown = required_string(
                body.pointer("/insert_content/content"),
                "insert_content.content",
            )?;
            state
                .workspace
                .insert_page_markdown(&actor, id, markdown)
                .await?
        }
        Some("replace_content") => {
            let markdown = required_string(
                body.pointer("/replace_content/new_str"),
                "replace_content.new_str",
            )?;
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
            return Err(ApiError::invalid(
                "type",
                "should be `insert_content` or `replace_content`",
            ));
        }
    };
    ok(markdown_json(&result))
}
