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
use document::ErrorCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::extract::{NotionVersion, VersionHeader};
use crate::routes::AppState;

/// Bytes of the request target (path and query). Longer ones answer `414`.
pub const REQUEST_URI_BYTES_MAX: usize = 8 * 1024;
/// Bytes of all request header names and values together. More answer `431`.
pub const REQUEST_HEADERS_BYTES_MAX: usize = 32 * 1024;
/// Bytes of an oversized body read and thrown away before answering, so that the client,
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

/// For the log line's latency, in milliseconds with a fraction.
const MILLISECONDS_PER_SECOND: f64 = 1_000.0;

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

/// Why the edge answered a request before any handler ran.
enum Refusal {
    /// The declared body is over the route's limit. The rest of it is read and dropped first
    /// (see [`drain`]), so a client still sending reads the answer.
    BodyTooLarge {
        length_bytes: usize,
        max_bytes: usize,
    },
    /// Any other refusal, answered at once.
    Refused(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal::Refused(error)
    }
}

/// The checks made before a handler runs; a refusal answers the request.
async fn admit(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    client: Option<SocketAddr>,
    body_hint_bytes: u64,
) -> Result<(), Refusal> {
    let uri_bytes = uri.path_and_query().map_or(0, |value| value.as_str().len());
    if uri_bytes > REQUEST_URI_BYTES_MAX {
        return Err(ApiError::with_http_status(
            ErrorCode::InvalidRequestUrl,
            StatusCode::URI_TOO_LONG,
            format!(
                "The request URL has {uri_bytes} bytes; the limit is {REQUEST_URI_BYTES_MAX} bytes."
            ),
        )
        .into());
    }
    let header_bytes = headers_bytes(headers);
    if header_bytes > REQUEST_HEADERS_BYTES_MAX {
        return Err(ApiError::with_http_status(
            ErrorCode::InvalidRequest,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "The request headers have {header_bytes} bytes; the limit is {REQUEST_HEADERS_BYTES_MAX} bytes."
            ),
        )
        .into());
    }
    if let Some(address) = client {
        state
            .address_limiter
            .check(&address_key(address.ip()))
            .map_err(ApiError::rate_limited)?;
    }
    let path = uri.path();
    if is_passthrough(path) {
        return Ok(());
    }
    if path.starts_with("/v1/") {
        match NotionVersion::of(headers) {
            Ok(_) => {}
            Err(VersionHeader::Missing) => {
                return Err(ApiError::new(
                    ErrorCode::MissingVersion,
                    "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
                )
                .into());
            }
            Err(VersionHeader::Unknown(version)) => {
                return Err(ApiError::new(
                    ErrorCode::ValidationError,
                    format!(
                        "Notion-Version header should be one of {}, instead was `{version}`.",
                        NotionVersion::ALL.map(NotionVersion::as_str).join(", ")
                    ),
                )
                .into());
            }
        }
    }
    let declared = declared_length(headers);
    let has_body = declared.is_some_and(|length| length > 0)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || body_hint_bytes > 0;
    if has_body && !is_json(headers) {
        return Err(ApiError::with_http_status(
            ErrorCode::InvalidRequest,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UNSUPPORTED_MEDIA_TYPE_MESSAGE,
        )
        .into());
    }
    if let Some(length) = declared {
        let max = body_bytes_max(path);
        if length > max {
            return Err(Refusal::BodyTooLarge {
                length_bytes: length,
                max_bytes: max,
            });
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
pub(crate) fn body_too_large(length_bytes: usize, max_bytes: usize) -> ApiError {
    ApiError::new(
        ErrorCode::ValidationError,
        format!("Request body too large: {length_bytes} bytes; the limit is {max_bytes} bytes."),
    )
}

const UNSUPPORTED_MEDIA_TYPE_MESSAGE: &str = "Content-Type should be `application/json`.";

/// The error object for an error response made outside our handlers (axum's method router,
/// a body limit, the timeout), by its status. Statuses HTTP has its own word for keep it;
/// a body cut off while read answers as one refused on its length, Notion's `400`.
fn error_for(status: StatusCode) -> ApiError {
    let http_level = |code, message| ApiError::with_http_status(code, status, message);
    match status {
        StatusCode::NOT_FOUND => http_level(ErrorCode::InvalidRequestUrl, "Invalid request URL."),
        StatusCode::METHOD_NOT_ALLOWED => http_level(
            ErrorCode::InvalidRequest,
            "This method is not supported for this URL.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::ValidationError, "Request body too large.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            http_level(ErrorCode::InvalidRequest, UNSUPPORTED_MEDIA_TYPE_MESSAGE)
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => http_level(
            ErrorCode::GatewayTimeout,
            "Trellis timed out while completing this request.",
        ),
        StatusCode::TOO_MANY_REQUESTS => {
            http_level(ErrorCode::RateLimited, crate::error::RATE_LIMITED_MESSAGE)
        }
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(),
        status if status.is_server_error() => http_level(
            ErrorCode::InternalServerError,
            crate::error::INTERNAL_MESSAGE,
        ),
        _ => http_level(ErrorCode::InvalidRequest, "This request is not valid."),
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
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = REQUEST_ID
        .scope(request_id.clone(), async {
            let client = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| *address);
            let body_hint_bytes = request.body().size_hint().lower();
            let admitted = admit(
                &state,
                request.uri(),
                request.headers(),
                client,
                body_hint_bytes,
            )
            .await;
            match admitted {
                Ok(()) => next.run(request).await,
                Err(Refusal::Refused(error)) => error.into_response(),
                Err(Refusal::BodyTooLarge {
                    length_bytes,
                    max_bytes,
                }) => {
                    let response = body_too_large(length_bytes, max_bytes).into_response();
                    drain(request.into_body()).await;
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
        let error = error_for(response.status());
        let (parts, _) = response.into_parts();
        let mut error = REQUEST_ID
            .scope(request_id.clone(), async { error.into_response() })
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
        route = route.as_ref().map_or("(no route)", MatchedPath::as_str),
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * MILLISECONDS_PER_SECOND,
        request_id = %request_id,
        "request"
    );
    response
}
