//! The `/v1` routes: Notion's public API, one module per resource, one handler per endpoint.
//! [`router`] assembles them with Trellis's own routes and the edge.

mod blocks;
mod comments;
mod databases;
mod pages;
mod search;
mod users;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use notion_json::render::RenderContext;
use serde_json::json;
use tower_http::timeout::TimeoutLayer;
use workspace::Workspace;

use crate::edge::BoundedLimiter;
use crate::error::ApiError;
use crate::extract::Principal;

pub(crate) use search::{highlight_json, search_mode};

/// Sustained requests per second allowed per token, unless configured.
const TOKEN_REQUESTS_PER_SECOND_DEFAULT: u32 = 100;
/// Requests a token may burst above the sustained rate, unless configured.
const TOKEN_REQUESTS_BURST_DEFAULT: u32 = 200;
/// Base of page URLs in responses, unless configured: where `trellis serve` listens.
const BASE_URL_DEFAULT: &str = "http://127.0.0.1:7777";

/// Time one request may take, reading its body included, before it answers `504`. Longer
/// than an integration run's wall-clock limit, since inbound webhooks wait for their run.
pub const REQUEST_TIMEOUT_MS: u64 = 120_000;

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
            rate_limit_per_second: TOKEN_REQUESTS_PER_SECOND_DEFAULT,
            rate_limit_burst: TOKEN_REQUESTS_BURST_DEFAULT,
            base_url: BASE_URL_DEFAULT.into(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) workspace: Workspace,
    /// The integration platform, when this server runs integrations.
    pub(crate) platform: Option<integrations::Platform>,
    /// Keyed on the authenticated principal, never on what a client sent: unknown tokens
    /// must not grow it.
    pub(crate) limiter: Arc<BoundedLimiter<Principal>>,
    /// Keyed on the client address, before authentication.
    pub(crate) address_limiter: Arc<BoundedLimiter<IpAddr>>,
    pub(crate) base_url: Arc<str>,
}

impl AppState {
    fn render_context(&self) -> RenderContext<'_> {
        RenderContext {
            base_url: &self.base_url,
            people: None,
        }
    }
}

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
        .merge(pages::routes())
        .merge(blocks::routes())
        .merge(databases::routes())
        .merge(search::routes())
        .merge(users::routes())
        .merge(comments::routes())
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
