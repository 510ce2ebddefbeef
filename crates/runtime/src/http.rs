//! The outbound HTTP capability: which origins a run may reach (pure), and the `wasi:http` send
//! hook that enforces them and the `egress` address policy (which addresses are public, also
//! pure, shared with webhook delivery) after DNS resolution, caps
//! request and response bodies, counts a run's requests and records every attempt.
//!
//! Guests send through `wasi:http/outgoing-handler` (wasmtime-wasi-http); its `handle` builds an
//! `http::Request` and calls [`EgressHooks::send_request`]. The hook runs in a task of its own,
//! outside the store, so what it records goes into an [`EgressLog`] shared with the run.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use url::Url;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::run::{Denial, OutboundRequest};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn parse(text: &str) -> Option<Scheme> {
        match text {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

/// A host an origin matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host name or IP literal (lower-case).
    Exact(String),
    /// Any host strictly below this domain (`*.example.com` matches `api.example.com`, not
    /// `example.com`). Only when the manifest declares it so.
    SubdomainsOf(String),
}

/// One origin a manifest declares and an admin approved: scheme, host and port all must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub host: HostPattern,
    pub port: u16,
}

impl Origin {
    /// Parses `https://api.example.com`, `http://127.0.0.1:8080` or `https://*.example.com`.
    /// A path, query, user name or fragment is refused: an origin is only scheme, host and port.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let (scheme_text, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("origin {text:?} has no scheme"))?;
        let scheme = Scheme::parse(scheme_text)
            .ok_or_else(|| format!("origin {text:?}: the scheme must be http or https"))?;
        let wildcard = rest.starts_with("*.");
        // Parse a concrete stand-in so that the URL parser checks the host and port.
        let concrete = if wildcard {
            format!("{scheme_text}://wildcard{}", &rest[1..])
        } else {
            text.to_string()
        };
        let url = Url::parse(&concrete).map_err(|error| format!("origin {text:?}: {error}"))?;
        if !(url.path() == "/" || url.path().is_empty())
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || rest.trim_end_matches('/').contains('/')
        {
            return Err(format!(
                "origin {text:?} must be only a scheme, a host and an optional port"
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("origin {text:?} has no host"))?
            .to_ascii_lowercase();
        let host = if wildcard {
            let domain = host
                .strip_prefix("wildcard.")
                .ok_or_else(|| format!("origin {text:?}: bad wildcard"))?;
            if !domain.contains('.') {
                return Err(format!(
                    "origin {text:?}: a wildcard needs a domain of at least two labels"
                ));
            }
            HostPattern::SubdomainsOf(domain.to_string())
        } else {
            HostPattern::Exact(host)
        };
        Ok(Origin {
            scheme,
            host,
            port: url.port().unwrap_or(scheme.default_port()),
        })
    }

    /// Whether `url` is at this origin.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(scheme) = Scheme::parse(url.scheme()) else {
            return false;
        };
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let port = url.port().unwrap_or(scheme.default_port());
        let host_matches = match &self.host {
            HostPattern::Exact(exact) => host == *exact,
            HostPattern::SubdomainsOf(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
        };
        scheme == self.scheme && port == self.port && host_matches
    }
}

/// The origins an installation may reach: declared in the manifest and approved by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressPolicy {
    pub origins: Vec<Origin>,
}

impl EgressPolicy {
    /// Parses a list of origins (see [`Origin::parse`]).
    pub fn parse<S: AsRef<str>>(origins: &[S]) -> Result<EgressPolicy, String> {
        let origins = origins
            .iter()
            .map(|origin| Origin::parse(origin.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EgressPolicy { origins })
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.origins.iter().any(|origin| origin.matches(url))
    }
}

/// What kind of address an IP is: the `egress` policy's classification, which webhook delivery
/// shares, re-exported for the runtime's callers.
pub use egress::AddressClass;

/// The DNS resolver of the HTTP client: the client connects only to the addresses it returns,
/// so the check holds even if the name resolves differently on a second lookup.
struct GuardedResolver {
    guard: egress::AddressPolicy,
}

/// The error the resolver fails with, found again in reqwest's error chain.
#[derive(Debug)]
struct AddressRefused(String);

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for AddressRefused {}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let mut refusals = Vec::new();
            let mut allowed: Vec<SocketAddr> = Vec::new();
            for address in tokio::net::lookup_host((host.as_str(), 0)).await? {
                match guard.check_address(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(refused) => refusals.push(refused.to_string()),
                }
            }
            if allowed.is_empty() {
                let reason = format!(
                    "{host} resolves to no public address ({})",
                    refusals.join(", ")
                );
                return Err(
                    Box::new(AddressRefused(reason)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a request did not go out, or failed on the way. Each becomes a `wasi:http` error code
/// for the guest and a reason in the run record.
#[derive(Debug)]
enum Refusal {
    /// Outbound HTTP was not granted, or the origin was not approved. Nothing was sent.
    Denied(String),
    /// The host's address is not public. Nothing was sent.
    AddressProhibited(String),
    /// The request is malformed. Nothing was sent.
    Invalid(String),
    /// Past the run's request count. Nothing was sent.
    TooMany(String),
    /// The request body is over its cap. Nothing was sent.
    RequestTooLarge(String),
    /// The guest's request body failed before it was complete. Nothing was sent.
    BodyFailed(String, HttpError),
    /// The response body went over its cap: the request went out, the body was cut off.
    ResponseTooLarge(String),
    /// It was allowed and attempted, and the network or the server failed.
    Failed(String, HttpError),
}

impl Refusal {
    fn reason(&self) -> &str {
        match self {
            Refusal::Denied(reason)
            | Refusal::AddressProhibited(reason)
            | Refusal::Invalid(reason)
            | Refusal::TooMany(reason)
            | Refusal::RequestTooLarge(reason)
            | Refusal::BodyFailed(reason, _)
            | Refusal::ResponseTooLarge(reason)
            | Refusal::Failed(reason, _) => reason,
        }
    }

    /// Whether the request reached the network.
    fn went_out(&self) -> bool {
        matches!(self, Refusal::ResponseTooLarge(_) | Refusal::Failed(..))
    }

    /// Whether the policy refused it: kept in the run's denials for the audit log.
    fn is_denial(&self) -> bool {
        matches!(self, Refusal::Denied(_) | Refusal::AddressProhibited(_))
    }

    fn into_error(self, caps: &EgressCaps) -> HttpError {
        match self {
            Refusal::Denied(_) => HttpError::HttpRequestDenied,
            Refusal::AddressProhibited(_) => HttpError::DestinationIpProhibited,
            Refusal::Invalid(_) => HttpError::HttpRequestUriInvalid,
            Refusal::TooMany(_) => HttpError::ConnectionLimitReached,
            Refusal::RequestTooLarge(_) => {
                HttpError::HttpRequestBodySize(Some(caps.request_bytes_max))
            }
            Refusal::ResponseTooLarge(_) => {
                HttpError::HttpResponseBodySize(Some(caps.response_bytes_max))
            }
            Refusal::BodyFailed(_, error) | Refusal::Failed(_, error) => error,
        }
    }
}

/// The caps of a run's outbound requests (see [`crate::RunLimits`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EgressCaps {
    pub requests_max: u32,
    pub request_bytes_max: u64,
    pub response_bytes_max: u64,
    pub request_ms_max: u64,
}

/// A run's outbound attempts and the refusals among them, in order.
#[derive(Debug, Default)]
pub(crate) struct EgressLog {
    pub requests: Vec<OutboundRequest>,
    pub denials: Vec<Denial>,
}

/// The [`EgressLog`] of a run, shared by the run's store and the tasks that send its requests
/// and stream their responses.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedEgressLog(Arc<Mutex<EgressLog>>);

impl SharedEgressLog {
    fn with<R>(&self, update: impl FnOnce(&mut EgressLog) -> R) -> R {
        // The log stays consistent even if a holder panicked: take it anyway.
        let mut log = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        update(&mut log)
    }

    /// Takes what was recorded so far. A response still streaming updates nothing afterwards.
    pub(crate) fn take(&self) -> EgressLog {
        self.with(std::mem::take)
    }
}

/// One attempt's entry in the log, updated as the request goes and its response streams.
#[derive(Clone)]
struct Attempt {
    log: SharedEgressLog,
    index: usize,
    started: Instant,
    run_id: uuid::Uuid,
    caps: EgressCaps,
}

impl Attempt {
    fn update(&self, change: impl FnOnce(&mut OutboundRequest)) {
        let duration_us = self.started.elapsed().as_micros() as u64;
        self.log.with(|log| {
            if let Some(record) = log.requests.get_mut(self.index) {
                record.duration_us = duration_us;
                change(record);
            }
        });
    }

    /// Records the refusal (and, for a policy refusal, the denial), logs it, and returns the
    /// guest's error code.
    fn refuse(&self, refusal: Refusal) -> HttpError {
        let reason = refusal.reason().to_string();
        let went_out = refusal.went_out();
        let mut url = String::new();
        self.update(|record| {
            record.allowed = went_out;
            record.refusal = Some(reason.clone());
            url = record.url.clone();
        });
        if refusal.is_denial() {
            tracing::warn!(run_id = %self.run_id, %url, %reason, "outbound request refused");
            self.log.with(|log| {
                log.denials.push(Denial {
                    operation: "http.send".into(),
                    object_id: Some(url),
                    reason,
                })
            });
        } else if went_out {
            tracing::info!(run_id = %self.run_id, %url, %reason, "outbound request failed");
        } else {
            tracing::warn!(run_id = %self.run_id, %url, %reason, "outbound request refused");
        }
        refusal.into_error(&self.caps)
    }
}

/// The `wasi:http` hooks of one run: the installation's approved origins, the caps, and the
/// sender. Every `outgoing-handler.handle` of the run comes through [`Self::send_request`].
pub(crate) struct EgressHooks {
    /// `None` when outbound HTTP was not granted (such a component does not start; this is the
    /// second line).
    pub policy: Option<EgressPolicy>,
    pub sender: Arc<HttpSender>,
    pub caps: EgressCaps,
    pub deadline: Instant,
    pub run_id: uuid::Uuid,
    pub log: SharedEgressLog,
}

impl EgressHooks {
    /// The checks made before anything is read or sent, in the order of the old `http.send`:
    /// the grant, the count, the URL, the origin, an IP literal's address.
    fn check(&self, earlier_attempts: usize, uri: &str) -> Result<Url, Refusal> {
        let Some(policy) = &self.policy else {
            return Err(Refusal::Denied("outbound HTTP was not granted".into()));
        };
        if earlier_attempts >= self.caps.requests_max as usize {
            return Err(Refusal::TooMany(format!(
                "more than {} outbound requests in one run",
                self.caps.requests_max
            )));
        }
        let url = Url::parse(uri)
            .map_err(|error| Refusal::Invalid(format!("{uri} is not a URL: {error}")))?;
        if Scheme::parse(url.scheme()).is_none() {
            return Err(Refusal::Invalid("the scheme must be http or https".into()));
        }
        if !policy.allows(&url) {
            return Err(Refusal::Denied(format!(
                "{} is not an approved origin",
                url.origin().ascii_serialization()
            )));
        }
        // IP literals skip DNS, so the resolver never sees them: check them here, and
        // `localhost` names, which mean this host whatever a resolver says.
        if let Some(host) = url.host() {
            self.sender
                .guard
                .check_host(&host)
                .map_err(|refused| Refusal::AddressProhibited(refused.to_string()))?;
        }
        Ok(url)
    }
}

/// What [`WasiHttpHooks::send_request`] returns.
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;
type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for EgressHooks {
    /// reqwest sets `host` from the URL it connects to; a guest's own is forbidden anyway.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_error: IoFuture,
    ) -> SendFuture {
        let (parts, body) = request.into_parts();
        let uri = parts.uri.to_string();
        let started = Instant::now();
        let index = self.log.with(|log| {
            log.requests.push(OutboundRequest {
                method: parts.method.to_string(),
                url: recorded_url(&uri),
                allowed: false,
                refusal: None,
                status: None,
                duration_us: 0,
                request_bytes: 0,
                response_bytes: 0,
            });
            log.requests.len() - 1
        });
        let attempt = Attempt {
            log: self.log.clone(),
            index,
            started,
            run_id: self.run_id,
            caps: self.caps,
        };
        let checked = self.check(index, &uri);
        let sender = self.sender.clone();
        let caps = self.caps;
        let timeout = self
            .deadline
            .saturating_duration_since(started)
            .min(Duration::from_millis(caps.request_ms_max));
        Box::new(async move {
            let url = checked.map_err(|refusal| attempt.refuse(refusal))?;
            let body = collect_request_body(body, &parts.headers, caps.request_bytes_max)
                .await
                .map_err(|refusal| attempt.refuse(refusal))?;
            attempt.update(|record| record.request_bytes = body.len() as u64);
            let response = sender
                .send(parts.method, url, parts.headers, body, timeout)
                .await
                .map_err(|refusal| attempt.refuse(refusal))?;
            let status = response.status().as_u16();
            attempt.update(|record| {
                record.allowed = true;
                record.status = Some(status);
            });
            if response
                .content_length()
                .is_some_and(|length| length > caps.response_bytes_max)
            {
                return Err(attempt.refuse(response_too_large(&caps)));
            }
            let response: http::Response<reqwest::Body> = response.into();
            let response = response.map(|body| {
                CappedBody {
                    inner: body,
                    seen_bytes: 0,
                    done: false,
                    attempt,
                }
                .boxed_unsync()
            });
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

fn response_too_large(caps: &EgressCaps) -> Refusal {
    Refusal::ResponseTooLarge(format!(
        "the response body is over the limit of {} bytes",
        caps.response_bytes_max
    ))
}

/// Reads the guest's request body, refusing it past `bytes_max` (declared or streamed) before
/// anything is sent. At most `bytes_max` bytes are held.
async fn collect_request_body(
    mut body: WasiBody,
    headers: &http::HeaderMap,
    bytes_max: u64,
) -> Result<Bytes, Refusal> {
    let too_large = || {
        Refusal::RequestTooLarge(format!(
            "the request body is over the limit of {bytes_max} bytes"
        ))
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > bytes_max) {
        return Err(too_large());
    }
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            Refusal::BodyFailed(format!("the request body failed: {error}"), error)
        })?;
        // Trailers are not sent: only data counts.
        if let Ok(data) = frame.into_data() {
            if (collected.len() + data.len()) as u64 > bytes_max {
                return Err(too_large());
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// A response body on its way to the guest, counted against the cap frame by frame: past it
/// the stream fails with `HTTP-response-body-size` and the rest is never read.
struct CappedBody {
    inner: reqwest::Body,
    seen_bytes: u64,
    done: bool,
    attempt: Attempt,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = match Pin::new(&mut self.inner).poll_frame(context) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(polled) => polled,
        };
        match polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let seen_bytes = self.seen_bytes + data.len() as u64;
                    if seen_bytes > self.attempt.caps.response_bytes_max {
                        self.done = true;
                        let refusal = response_too_large(&self.attempt.caps);
                        return Poll::Ready(Some(Err(self.attempt.refuse(refusal))));
                    }
                    self.seen_bytes = seen_bytes;
                    self.attempt
                        .update(|record| record.response_bytes = seen_bytes);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => {
                self.done = true;
                let code = if error.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::HttpResponseIncomplete
                };
                let refusal = Refusal::Failed(
                    format!("the response body failed: {}", describe(&error)),
                    code,
                );
                Poll::Ready(Some(Err(self.attempt.refuse(refusal))))
            }
            None => {
                self.done = true;
                // The whole body is in: its duration ends here.
                self.attempt.update(|_| {});
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The URL without its query and fragment, for the run record: a query often carries keys.
pub(crate) fn recorded_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.chars().take(200).collect(),
    }
}

/// Sends outbound requests for runs. One per runtime; the connection pool is shared.
pub(crate) struct HttpSender {
    client: reqwest::Client,
    guard: egress::AddressPolicy,
}

impl HttpSender {
    pub(crate) fn new(allow_private_networks: bool) -> Result<HttpSender, String> {
        // Pick ring as the TLS provider once per process; a second install is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = egress::AddressPolicy {
            allow_private_networks,
        };
        let client = reqwest::Client::builder()
            // A redirect could lead to an origin that was not approved: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { guard }))
            .user_agent("Trellis-Integration/0.1")
            .build()
            .map_err(|error| error.to_string())?;
        Ok(HttpSender { client, guard })
    }

    /// Sends a request the hook checked; the response's body is not read yet.
    async fn send(
        &self,
        method: http::Method,
        url: Url,
        headers: http::HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<reqwest::Response, Refusal> {
        let request = self
            .client
            .request(method, url)
            .headers(headers)
            .timeout(timeout)
            .body(body)
            .build()
            .map_err(|error| Refusal::Invalid(describe(&error)))?;
        self.client.execute(request).await.map_err(|error| {
            if let Some(reason) = find_refusal(&error) {
                return Refusal::AddressProhibited(reason);
            }
            let reason = describe(&error);
            let code = if error.is_timeout() {
                HttpError::ConnectionTimeout
            } else if reason.contains("dns error") {
                HttpError::DnsError {
                    rcode: Some("the name did not resolve".into()),
                    info_code: None,
                }
            } else if error.is_connect() {
                HttpError::ConnectionRefused
            } else {
                HttpError::InternalError(Some(reason.clone()))
            };
            Refusal::Failed(reason, code)
        })
    }
}

fn find_refusal(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(refused) = inner.downcast_ref::<AddressRefused>() {
            return Some(refused.0.clone());
        }
        source = inner.source();
    }
    None
}

/// The error and its causes, outermost first: reqwest's own message rarely says what failed.
fn describe(error: &reqwest::Error) -> String {
    let causes: Vec<String> =
        std::iter::successors(Some(error as &dyn std::error::Error), |cause| {
            cause.source()
        })
        .map(ToString::to_string)
        .collect();
    causes.join(": ")
}
