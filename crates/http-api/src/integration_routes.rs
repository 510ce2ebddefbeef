//! The integration platform's endpoints under `/platform/v1`: register a package (manifest and
//! component), install it with chosen scopes, set its secrets, run it, list and read runs with
//! their logs, and cancel a run. Present only when the server runs the platform.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use base64::Engine as _;
use document::ErrorCode;
use integrations::{
    InstallRequest, InstallationView, PackageView, Platform, RunStatus, RunView, WorkspaceScope,
};
use runtime::{InvokeSource, WebhookRequest};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{Authenticated, InstallationId, RunId, path_id};
use crate::request::{ApiResult, created, json_body, ok, query_page_size, required_string};
use crate::routes::AppState;

/// A registration request carries the component base64-encoded: up to 64 MiB of component.
pub(crate) const REGISTER_BODY_BYTES_MAX: usize = 96 << 20;
/// The longest a `wait: true` run request waits, in milliseconds.
const RUN_WAIT_MS_MAX: u64 = 60_000;
/// Runs listed when the query names no `page_size`.
const RUNS_PAGE_DEFAULT: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/platform/v1/integrations",
            post(register)
                .layer(DefaultBodyLimit::max(REGISTER_BODY_BYTES_MAX))
                .get(list_packages),
        )
        .route(
            "/platform/v1/installations",
            post(install).get(list_installations),
        )
        .route("/platform/v1/installations/{id}", get(get_installation))
        .route(
            "/platform/v1/installations/{id}/secrets/{name}",
            put(set_secret),
        )
        .route(
            "/platform/v1/installations/{id}/runs",
            post(start_run).get(list_runs),
        )
        .route("/platform/v1/runs/{id}", get(get_run))
        .route("/platform/v1/runs/{id}/usage", get(run_usage))
        .route("/platform/v1/runs/{id}/cancel", post(cancel_run))
        .route(
            "/platform/v1/installations/{id}/webhook_url",
            post(rotate_webhook_url),
        )
        // Inbound webhooks: no bearer token; the unguessable token in the URL names the
        // installation, and the run acts for the user who installed it.
        .route("/hooks/{token}", any(inbound_webhook))
        .route("/hooks/{token}/{*path}", any(inbound_webhook))
}

fn platform(state: &AppState) -> Result<&Platform, ApiError> {
    state.platform.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "This server does not run integrations.",
        )
    })
}

fn package_json(view: &PackageView) -> Value {
    json!({
        "object": "integration_package",
        "id": view.record.id.to_string(),
        "name": view.record.name,
        "version": view.record.version,
        "digest": view.record.digest,
        "imports": view.imports,
        "manifest": view.manifest,
        "created_time": document::time::format_ms(view.record.created_time),
    })
}

fn installation_json(view: &InstallationView) -> Value {
    json!({
        "object": "installation",
        "id": view.record.id.to_string(),
        "name": view.manifest.integration.name,
        "version": view.manifest.integration.version,
        "package_id": view.package.id.to_string(),
        "integration_id": view.record.integration_id.to_string(),
        "installed_by": view.record.installed_by.to_string(),
        "active": view.record.active,
        "granted": view.config,
        "data_use": view.manifest.data_use,
        "triggers": view.manifest.triggers,
        "created_time": document::time::format_ms(view.record.created_time),
    })
}

fn list(results: Vec<Value>) -> ApiResult {
    ok(json!({"object": "list", "results": results, "has_more": false, "next_cursor": null}))
}

async fn register(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    bytes: Bytes,
) -> ApiResult {
    let platform = platform(&state)?;
    let body: Value = serde_json::from_slice(&bytes).map_err(ApiError::invalid_json)?;
    let manifest = body
        .get("manifest")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("manifest", "should be the text of trellis.toml"))?;
    let component = body
        .get("component")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("component", "should be the component, base64-encoded"))?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(component)
        .map_err(|_| ApiError::invalid("component", "is not valid base64"))?;
    let view = platform.register(&actor, manifest, &component).await?;
    created(package_json(&view))
}

async fn list_packages(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult {
    let views = platform(&state)?.packages(&actor).await?;
    list(views.iter().map(package_json).collect())
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| ApiError::invalid(field, "should be an array of strings"))
}

async fn install(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    bytes: Bytes,
) -> ApiResult {
    let platform = platform(&state)?;
    let body = json_body(&bytes)?;
    let package_id =
        notion_json::parse::id(body.get("package_id").unwrap_or(&Value::Null), "package_id")?;
    let workspace = match body.get("workspace_scopes") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            strings(value, "workspace_scopes")?
                .iter()
                .map(|name| {
                    serde_json::from_value::<WorkspaceScope>(Value::String(name.clone())).map_err(
                        |_| {
                            ApiError::invalid(
                                "workspace_scopes",
                                "should hold read_content, update_content, insert_content or insert_comments",
                            )
                        },
                    )
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let egress = match body.get("egress") {
        None | Some(Value::Null) => None,
        Some(value) => Some(strings(value, "egress")?),
    };
    let runs_per_hour_max = match body.get("runs_per_hour_max") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .ok_or_else(|| ApiError::invalid("runs_per_hour_max", "should be an integer"))?,
        ),
    };
    let view = platform
        .install(
            &actor,
            InstallRequest {
                package_id,
                workspace,
                egress,
                runs_per_hour_max,
            },
        )
        .await?;
    created(installation_json(&view))
}

async fn list_installations(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult {
    let views = platform(&state)?.installations(&actor).await?;
    list(views.iter().map(installation_json).collect())
}

async fn get_installation(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InstallationId(id): InstallationId,
) -> ApiResult {
    let view = platform(&state)?.installation(&actor, id).await?;
    ok(installation_json(&view))
}

async fn set_secret(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InstallationId(id): InstallationId,
    Path((_, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let body = json_body(&bytes)?;
    let value = required_string(body.get("value"), "value")?;
    platform(&state)?
        .set_secret(&actor, id, &name, value)
        .await?;
    ok(json!({"object": "secret", "name": name}))
}

async fn start_run(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InstallationId(id): InstallationId,
    bytes: Bytes,
) -> ApiResult {
    let platform = platform(&state)?;
    let body = json_body(&bytes)?;
    let input = body.get("input").cloned().unwrap_or(Value::Null);
    let source = match body.get("source").and_then(Value::as_str) {
        None | Some("api") => InvokeSource::Api,
        Some("button") => InvokeSource::Button,
        Some("agent_tool") => InvokeSource::AgentTool,
        Some(_) => {
            return Err(ApiError::invalid(
                "source",
                "should be api, button or agent_tool",
            ));
        }
    };
    let wait = match body.get("wait") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(ApiError::invalid("wait", "should be a boolean")),
    };
    let view = platform.invoke(&actor, id, &input, source).await?;
    if !wait {
        return Ok((StatusCode::ACCEPTED, Json(view.to_json())).into_response());
    }
    let view = platform
        .wait(&actor, view.row.id, Duration::from_millis(RUN_WAIT_MS_MAX))
        .await?;
    Ok(run_response(&view))
}

fn run_response(view: &RunView) -> Response {
    let status = match view.status() {
        RunStatus::Queued | RunStatus::Running => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    (status, Json(view.to_json())).into_response()
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    start_cursor: Option<String>,
    page_size: Option<String>,
}

async fn list_runs(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InstallationId(id): InstallationId,
    Query(query): Query<RunsQuery>,
) -> ApiResult {
    let before = query
        .start_cursor
        .map(|cursor| path_id("start_cursor", &cursor))
        .transpose()?;
    // Parsed like every list's page_size, so a bad one is a validation error naming it.
    let page_size = query_page_size(query.page_size)?.map_or(RUNS_PAGE_DEFAULT, |size| size as i64);
    let runs = platform(&state)?
        .runs(&actor, id, before, page_size)
        .await?;
    let next_cursor = (runs.len() as i64 == page_size.clamp(1, integrations::RUNS_PAGE_MAX))
        .then(|| runs.last().map(|run| run.row.id.to_string()))
        .flatten();
    ok(json!({
        "object": "list",
        "results": runs.iter().map(RunView::to_json).collect::<Vec<_>>(),
        "has_more": next_cursor.is_some(),
        "next_cursor": next_cursor,
    }))
}

async fn get_run(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RunId(id): RunId,
) -> ApiResult {
    let view = platform(&state)?.run(&actor, id).await?;
    Ok(run_response(&view))
}

async fn run_usage(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RunId(id): RunId,
) -> ApiResult {
    let events = platform(&state)?.usage(&actor, id).await?;
    list(
        events
            .iter()
            .map(|event| {
                json!({"object": "usage_event", "kind": event.kind, "quantity": event.quantity,
                       "unit": event.unit, "time": document::time::format_ms(event.time)})
            })
            .collect(),
    )
}

async fn cancel_run(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RunId(id): RunId,
) -> ApiResult {
    let view = platform(&state)?.cancel(&actor, id).await?;
    Ok(run_response(&view))
}

async fn rotate_webhook_url(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InstallationId(id): InstallationId,
) -> ApiResult {
    let token = platform(&state)?.rotate_webhook_token(&actor, id).await?;
    let url = format!("{}/hooks/{token}", state.base_url.trim_end_matches('/'));
    created(json!({"object": "webhook_url", "installation_id": id.to_string(), "url": url}))
}

/// Headers that belong to one connection, never passed to or from a run.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// An HTTP request to an installation's webhook URL becomes a `webhook` run; the response is
/// the run's `http` output. A run that fails answers `502`, one still going after the wait
/// answers `202` with the run's id.
async fn inbound_webhook(
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let platform = platform(&state)?;
    let value = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let token = value("token").unwrap_or_default();
    let request = WebhookRequest {
        method: method.as_str().to_ascii_uppercase(),
        path: format!("/{}", value("path").unwrap_or_default()),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.to_vec(),
    };
    let run = platform.webhook(&token, request).await?;
    let run = platform
        .wait_run(run.row.id, Duration::from_millis(RUN_WAIT_MS_MAX))
        .await?;
    let id = run.row.id.to_string();
    match run.status() {
        RunStatus::Queued | RunStatus::Running => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"object": "integration_run", "id": id, "status": run.status().as_str()})),
        )
            .into_response()),
        RunStatus::Ok => Ok(webhook_response(run.row.output.as_deref())),
        status => Err(ApiError::new(
            ErrorCode::IntegrationError,
            format!("The integration's run {id} ended {status}."),
        )),
    }
}

/// The HTTP response a webhook run returned (`output` as stored: `null`, JSON, or
/// `{status, headers, body_base64}`).
fn webhook_response(output: Option<&str>) -> Response {
    let value: Value = output
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let http = value.as_object().filter(|object| {
        object.len() == 3
            && object.contains_key("status")
            && object.contains_key("headers")
            && object.contains_key("body_base64")
    });
    let Some(http) = http else {
        return match value {
            Value::Null => StatusCode::NO_CONTENT.into_response(),
            value => Json(value).into_response(),
        };
    };
    let status = http["status"]
        .as_u64()
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok());
    let body = http["body_base64"]
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok());
    let (Some(status), Some(body)) = (status, body) else {
        return ApiError::new(
            ErrorCode::IntegrationError,
            "The integration returned a malformed HTTP response.",
        )
        .into_response();
    };
    let mut response = (status, body).into_response();
    for pair in http["headers"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
            continue;
        };
        if HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
