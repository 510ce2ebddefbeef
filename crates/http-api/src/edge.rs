//! The edge middleware every request passes first: a request id, the limits on what a request
//! may carry before any handler runs (URL, headers, declared body size, content type, the
//! `/v1` version header), a rate limit per client address, and one rule for errors: whatever
//! produced an error response (a handler, axum's method router, a body limit, a timeout), the
//! client gets Notion's error object with the request id.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::routes::{AppState, NOTION_VERSIONS};

/// Bytes of the request target (path and query). Longer ones answer `414`.
pub const REQUEST_URI_BYTES_MAX: usize = 8 * 1024;
/// Bytes of all request header names and values together. More answer `431`.
pub const REQUEST_HEADERS_BYTES_MAX: usize = 32 * 1024;
/// Bytes of an oversized body read and thrown away before answering `413`, so that the client,
/// still sending, reads the answer instead of a reset connection. Past this the connection is
/// simply closed.
pub const REJECTED_BODY_DRAIN_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bodies declared larger than this are authenticated before they are read.
pub const UNAUTHENTICATED_BODY_BYTES_MAX: usize = 64 * 1024;
/// Requests per second per client address, before authentication (the per-token limit comes
/// after it), and the burst above that rate.
pub const ADDRESS_REQUESTS_PER_SECOND_MAX: u32 = 1_000;
pub const ADDRESS_REQUESTS_BURST_MAX: u32 = 2_000;
/// Keys a rate limiter keeps before it forgets those whose bucket is full again.
pub const RATE_LIMIT_KEYS_MAX: usize = 10_000;

tokio::task_local! {
    /// The id of the request being served, for error bodies built deep in a handler.
    static REQUEST_ID: Arc<str>;
}

/// The id of the request this task serves, if it runs inside [`edge`].
pub fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// A keyed rate limiter whose key set is bounded: once it holds [`RATE_LIMIT_KEYS_MAX`] keys,
/// the keys whose bucket has refilled are dropped (they are indistinguishable from new ones),
/// and if that frees nothing the whole map starts over, which only ever lets requests through.
pub struct BoundedLimiter<K: std::hash::Hash + Eq + Clone> {
    quota: Quota,
    limiter: std::sync::RwLock<DefaultKeyedRateLimiter<K>>,
}

impl<K: std::hash::Hash + Eq + Clone> BoundedLimiter<K> {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        BoundedLimiter {
            quota,
            limiter: std::sync::RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    /// `Ok` when `key` may go on; otherwise the seconds to wait.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        if self.len() >= RATE_LIMIT_KEYS_MAX {
            let mut limiter = self
                .limiter
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            limiter.retain_recent();
            if limiter.len() >= RATE_LIMIT_KEYS_MAX {
                *limiter = RateLimiter::keyed(self.quota);
            }
        }
        let limiter = self
            .limiter
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs().max(1)
        })
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.limiter
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An IPv6 client is limited by its /64, which one host usually holds whole.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
    }
}

/// Routes whose bodies and errors are not Notion's: inbound webhooks answer with what the
/// integration returned.
fn is_passthrough(path: &str) -> bool {
    path.starts_with("/hooks/")
}

fn headers_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

fn is_json(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        // A missing type is read as JSON, as curl without `-H` would otherwise be refused.
        None => true,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|value| value.split(';').next())
            .is_some_and(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            }),
    }
}

/// The checks made before a handler runs; an error answers the request.
async fn admit(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    client: Option<SocketAddr>,
    body_hint_bytes: u64,
) -> Result<(), ApiError> {
    let uri_bytes = uri.path_and_query().map_or(0, |value| value.as_str().len());
    if uri_bytes > REQUEST_URI_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "invalid_request_url",
            format!(
                "The request URL has {uri_bytes} bytes; the limit is {REQUEST_URI_BYTES_MAX} bytes."
            ),
        ));
    }
    let header_bytes = headers_bytes(headers);
    if header_bytes > REQUEST_HEADERS_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            format!(
                "The request headers have {header_bytes} bytes; the limit is {REQUEST_HEADERS_BYTES_MAX} bytes."
            ),
        ));
    }
    if let Some(address) = client
        && let Err(wait) = state.address_limiter.check(&address_key(address.ip()))
    {
        let mut error = ApiError::rate_limited();
        error.retry_after_seconds = Some(wait);
        return Err(error);
    }
    let path = uri.path();
    if is_passthrough(path) {
        return Ok(());
    }
    if path.starts_with("/v1/") {
        match headers.get("notion-version") {
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "missing_version",
                    "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
                ));
            }
            Some(version) => {
                let version = version.to_str().unwrap_or_default();
                if !NOTION_VERSIONS.contains(&version) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "validation_error",
                        format!(
                            "Notion-Version header should be one of {}, instead was `{version}`.",
                            NOTION_VERSIONS.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    let declared = declared_length(headers);
    let has_body = declared.is_some_and(|length| length > 0)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || body_hint_bytes > 0;
    if has_body && !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "Content-Type should be `application/json`.",
        ));
    }
    if let Some(length) = declared {
        let max = body_bytes_max(path);
        if length > max {
            return Err(body_too_large(length, max));
        }
        // A large body is worth reading only for a caller who may send it.
        if length > UNAUTHENTICATED_BODY_BYTES_MAX && path != "/platform/v1/login" {
            state.authenticate(headers).await?;
        }
    }
    Ok(())
}

/// The body limit of a route: a package upload carries its component, every other request
/// Notion's limit.
fn body_bytes_max(path: &str) -> usize {
    if path == "/platform/v1/integrations" {
        crate::integration_routes::REGISTER_BODY_BYTES_MAX
    } else {
        document::limits::REQUEST_BODY_BYTES_MAX
    }
}

/// Notion answers an oversized body with `400 validation_error`, and the official SDK suites
/// expect that status.
pub(crate) fn body_too_large(length: usize, max: usize) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "validation_error",
        format!("Request body too large: {length} bytes; the limit is {max} bytes."),
    )
}

/// The code an error response made outside our handlers gets, by its status.
fn code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("invalid_request_url", "Invalid request URL."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "invalid_request",
            "This method is not supported for this URL.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("validation_error", "Request body too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "invalid_request",
            "Content-Type should be `application/json`.",
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => (
            "gateway_timeout",
            "Trellis timed out while completing this request.",
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            "rate_limited",
            "You have been rate limited. Please try again in a few seconds.",
        ),
        StatusCode::UNAUTHORIZED => ("unauthorized", "API token is invalid."),
        status if status.is_server_error() => {
            ("internal_server_error", "Unexpected error occurred.")
        }
        _ => ("invalid_request", "This request is not valid."),
    }
}

fn is_json_response(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// Reads and drops what is left of a refused body (up to a bound), so the answer reaches a
/// client that is still sending.
async fn drain(body: Body) {
    let mut body = body;
    let mut read = 0usize;
    while read <= REJECTED_BODY_DRAIN_BYTES_MAX {
        match body.frame().await {
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, |data| data.len());
            }
            _ => break,
        }
    }
}

/// The edge middleware (see the module docs).
pub(crate) async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
    let started = std::time::Instant::now();
    let passthrough = is_passthrough(request.uri().path());
    let head_only = request.method() == Method::HEAD;
    let method = request.method().clone();
    // The route's pattern, never the path itself: ids and tokens stay out of the log.
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || "(no route)".to_string(),
        |path| path.as_str().to_string(),
    );
    let response = REQUEST_ID
        .scope(request_id.clone(), async {
            let client = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| *address);
            let (uri, headers) = (request.uri().clone(), request.headers().clone());
            let body_hint_bytes = request.body().size_hint().lower();
            match admit(&state, &uri, &headers, client, body_hint_bytes).await {
                Ok(()) => next.run(request).await,
                Err(error) => {
                    let drain_first = error.message.starts_with("Request body too large");
                    let response = error.into_response();
                    if drain_first {
                        drain(request.into_body()).await;
                    }
                    response
                }
            }
        })
        .await;
    let mut response = if !passthrough
        && (response.status().is_client_error() || response.status().is_server_error())
        && !is_json_response(&response)
    {
        // An error made outside our handlers (unknown route, wrong method, a body limit, a
        // timeout): the same Notion error object, keeping headers such as `Allow`.
        let status = response.status();
        let (code, message) = code_for(status);
        // A body cut off while read answers as one refused on its length: Notion's 400.
        let status = if status == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        let (parts, _) = response.into_parts();
        let mut error = REQUEST_ID
            .scope(request_id.clone(), async {
                ApiError::new(status, code, message).into_response()
            })
            .await;
        for name in [header::ALLOW, header::RETRY_AFTER] {
            if let Some(value) = parts.headers.get(&name) {
                error.headers_mut().insert(name, value.clone());
            }
        }
        error
    } else {
        response
    };
    if head_only {
        *response.body_mut() = Body::empty();
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        target: "trellis::http",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id = %request_id,
        "request"
    );
    response
}
