//! Databases, their data sources, and queries over a data source's rows (and, for
//! 2022-06-28, over a database's first data source).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use document::Id;
use document::ParentRef;
use notion_json::parse;
use notion_json::render;
use serde_json::Value;
use workspace::Actor;

use super::AppState;
use super::pages::page_json;
use crate::error::ApiError;
use crate::extract::{Authenticated, DataSourceId, DatabaseId, JsonBody};
use crate::request::{
    ApiResult, cover_field, cursor, icon_field, json_body, list, ok, optional_bool, page_size,
    trash_flag,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/databases", post(create_database))
        .route(
            "/v1/databases/{id}",
            get(retrieve_database).patch(update_database),
        )
        .route("/v1/databases/{id}/query", post(query_database))
        .route("/v1/data_sources", post(create_data_source))
        .route(
            "/v1/data_sources/{id}",
            get(retrieve_data_source).patch(update_data_source),
        )
        .route("/v1/data_sources/{id}/query", post(query_data_source))
}

fn database_json(state: &AppState, view: &workspace::DatabaseView) -> Value {
    render::database(&view.database, &view.data_sources, &state.render_context())
}

pub(super) fn data_source_json(view: &workspace::DataSourceView) -> Value {
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
        .ok_or_else(|| ApiError::invalid(field, "should be an object"))?;
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
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let parent = parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")?;
    // 2025-09-03 puts the schema under `initial_data_source.properties`; 2022-06-28 at `properties`.
    let properties = match body.pointer("/initial_data_source/properties") {
        Some(value) => property_configs(Some(value), "initial_data_source.properties")?,
        None => property_configs(body.get("properties"), "properties")?,
    };
    let spec = workspace::NewDatabase {
        parent: Some(parent),
        title: rich_text_field(&body, "title")?.unwrap_or_default(),
        description: rich_text_field(&body, "description")?.unwrap_or_default(),
        icon: icon_field(&body)?.flatten(),
        cover: cover_field(&body)?.flatten(),
        is_inline: optional_bool(&body, "is_inline")?.unwrap_or(false),
        properties,
    };
    let view = state.workspace.create_database(&actor, spec).await?;
    ok(database_json(&state, &view))
}

async fn retrieve_database(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    DatabaseId(id): DatabaseId,
) -> ApiResult {
    let view = state.workspace.retrieve_database(&actor, id).await?;
    ok(database_json(&state, &view))
}

async fn update_database(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    DatabaseId(id): DatabaseId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let update = workspace::DatabaseUpdate {
        title: rich_text_field(&body, "title")?,
        description: rich_text_field(&body, "description")?,
        icon: icon_field(&body)?,
        cover: cover_field(&body)?,
        is_inline: optional_bool(&body, "is_inline")?,
        in_trash: trash_flag(&body)?,
        is_locked: optional_bool(&body, "is_locked")?,
    };
    let view = state.workspace.update_database(&actor, id, update).await?;
    ok(database_json(&state, &view))
}

async fn create_data_source(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let database_id = match parse::parent(body.get("parent").unwrap_or(&Value::Null), "parent")? {
        ParentRef::Database(id) => id,
        _ => {
            return Err(ApiError::invalid(
                "parent",
                "a data source's parent should be a database_id",
            ));
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
    Authenticated(actor): Authenticated,
    DataSourceId(id): DataSourceId,
) -> ApiResult {
    ok(data_source_json(
        &state.workspace.retrieve_data_source(&actor, id).await?,
    ))
}

async fn update_data_source(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    DataSourceId(id): DataSourceId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let properties = match body.get("properties") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => parse::schema_edits(value, "properties")?,
    };
    let update = workspace::DataSourceUpdate {
        title: rich_text_field(&body, "title")?,
        description: rich_text_field(&body, "description")?,
        icon: icon_field(&body)?,
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
    Authenticated(actor): Authenticated,
    DataSourceId(id): DataSourceId,
    JsonBody(body): JsonBody,
) -> ApiResult {
    run_query(&state, &actor, id, &body).await
}

/// The 2022-06-28 endpoint: a database's query runs on its first data source. The database
/// is looked up before the body is parsed, so a missing one answers `404` whatever was sent.
async fn query_database(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    DatabaseId(id): DatabaseId,
    bytes: Bytes,
) -> ApiResult {
    let database = state.workspace.retrieve_database(&actor, id).await?;
    let Some((data_source_id, _)) = database.data_sources.first() else {
        return Err(ApiError::invalid(
            "database_id",
            "the database has no data source",
        ));
    };
    run_query(&state, &actor, *data_source_id, &json_body(&bytes)?).await
}

async fn run_query(state: &AppState, actor: &Actor, id: Id, body: &Value) -> ApiResult {
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
