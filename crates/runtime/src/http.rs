//! The outbound HTTP capability: which origins a run may reach (pure), which addresses are
//! public (pure), and the sender that enforces both after DNS resolution.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

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

/// What kind of address an IP is, for deciding whether a run may connect to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// RFC 1918, IPv6 unique-local, and carrier-grade NAT ranges.
    Private,
    /// 169.254.0.0/16 and fe80::/10; cloud metadata services live here.
    LinkLocal,
    /// Unspecified, broadcast, multicast, documentation and "this network" ranges.
    NotRoutable,
}

impl AddressClass {
    pub fn of(address: IpAddr) -> AddressClass {
        match address {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::of_v4(v4),
                None => Self::of_v6(v6),
            },
        }
    }

    fn of_v4(address: Ipv4Addr) -> AddressClass {
        let [first, second, ..] = address.octets();
        if address.is_loopback() {
            AddressClass::Loopback
        } else if address.is_link_local() {
            AddressClass::LinkLocal
        } else if address.is_private() || (first == 100 && (64..128).contains(&second)) {
            AddressClass::Private
        } else if address.is_unspecified()
            || address.is_broadcast()
            || address.is_multicast()
            || address.is_documentation()
            || first == 0
            || first >= 240
        {
            AddressClass::NotRoutable
        } else {
            AddressClass::Public
        }
    }

    fn of_v6(address: Ipv6Addr) -> AddressClass {
        let first_segment = address.segments()[0];
        if address.is_loopback() {
            AddressClass::Loopback
        } else if first_segment & 0xffc0 == 0xfe80 {
            AddressClass::LinkLocal
        } else if first_segment & 0xfe00 == 0xfc00 {
            AddressClass::Private
        } else if address.is_unspecified()
            || address.is_multicast()
            || first_segment == 0x2001 && address.segments()[1] == 0x0db8
        {
            AddressClass::NotRoutable
        } else {
            AddressClass::Public
        }
    }

    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address (where cloud metadata lives)",
            AddressClass::NotRoutable => "not a routable address",
        }
    }
}

/// Why a request did not go out, or failed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The guest's request is malformed. Nothing was sent.
    Invalid(String),
    /// The policy or the address guard refused it. Nothing was sent.
    NotAllowed(String),
    /// A size or count cap, before sending.
    Limit(String),
    /// The response was over its cap: the request went out, the body was dropped.
    ResponseLimit(String),
    /// It was allowed and attempted, and the network or the server failed.
    Failed(String),
}

/// Decides which addresses may be connected to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressGuard {
    pub allow_private_networks: bool,
}

impl AddressGuard {
    fn check(self, address: IpAddr) -> Result<(), String> {
        let class = AddressClass::of(address);
        if class == AddressClass::Public || self.allow_private_networks {
            Ok(())
        } else {
            Err(format!("{address} is {}", class.describe()))
        }
    }
}

/// The DNS resolver of the HTTP client: the client connects only to the addresses it returns,
/// so the check holds even if the name resolves differently on a second lookup.
struct GuardedResolver {
    guard: AddressGuard,
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
                match guard.check(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(reason) => refusals.push(reason),
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

/// A request the guest asked for, as the sender takes it.
pub(crate) struct OutboundRequestSpec {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub(crate) struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Caps for one request.
pub(crate) struct RequestCaps {
    pub request_bytes_max: u64,
    pub response_bytes_max: u64,
    pub timeout: Duration,
}

/// Sends outbound requests for runs. One per runtime; the connection pool is shared.
pub(crate) struct HttpSender {
    client: reqwest::Client,
    guard: AddressGuard,
}

impl HttpSender {
    pub(crate) fn new(allow_private_networks: bool) -> Result<HttpSender, String> {
        // Pick ring as the TLS provider once per process; a second install is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = AddressGuard {
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

    /// Checks the URL against the policy and sends. Refusals come back before anything is sent.
    pub(crate) async fn send(
        &self,
        policy: &EgressPolicy,
        request: OutboundRequestSpec,
        caps: &RequestCaps,
    ) -> Result<OutboundResponse, Refusal> {
        let url = Url::parse(&request.url)
            .map_err(|error| Refusal::Invalid(format!("url is not a URL: {error}")))?;
        if Scheme::parse(url.scheme()).is_none() {
            return Err(Refusal::Invalid("url must be http or https".into()));
        }
        if !policy.allows(&url) {
            return Err(Refusal::NotAllowed(format!(
                "{} is not an approved origin",
                url.origin().ascii_serialization()
            )));
        }
        // IP literals skip DNS, so the resolver never sees them: check them here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(address) = literal {
            self.guard.check(address).map_err(Refusal::NotAllowed)?;
        }
        if request.body.len() as u64 > caps.request_bytes_max {
            return Err(Refusal::Limit(format!(
                "the request body is {} bytes; the limit is {}",
                request.body.len(),
                caps.request_bytes_max
            )));
        }
        let mut builder = self
            .client
            .request(request.method, url)
            .timeout(caps.timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let sent = builder
            .build()
            .map_err(|error| Refusal::Invalid(describe(&error)))?;
        let mut response =
            self.client
                .execute(sent)
                .await
                .map_err(|error| match find_refusal(&error) {
                    Some(reason) => Refusal::NotAllowed(reason),
                    None => Refusal::Failed(describe(&error)),
                })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| Refusal::Failed(describe(&error)))?
        {
            if (body.len() + chunk.len()) as u64 > caps.response_bytes_max {
                return Err(Refusal::ResponseLimit(format!(
                    "the response body is over the limit of {} bytes",
                    caps.response_bytes_max
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body,
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
