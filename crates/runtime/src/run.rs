//! What a run is given and what it leaves: the request, the record, the outcome.

use std::any::Any;
use std::sync::Arc;

use uuid::Uuid;

use crate::http::EgressPolicy;
use crate::kv::{KvStore, KvWrite, MemoryKv};
use crate::limits::RunLimits;
use crate::secrets::{MemorySecrets, SecretStore};
use crate::workspace::{EmptyWorkspace, WorkspaceHost, WorkspaceScopes, WriteOp};

/// Who a run acts for, handed to every host trait call. The runtime never looks inside `actor`.
#[derive(Clone)]
pub struct RunContext {
    pub run_id: Uuid,
    pub installation_id: String,
    /// The workspace service's actor (the invoking user delegated to the integration), opaque
    /// here. Get it back with [`RunContext::actor`].
    pub actor: Arc<dyn Any + Send + Sync>,
}

impl RunContext {
    pub fn new(installation_id: &str, actor: Arc<dyn Any + Send + Sync>) -> RunContext {
        RunContext {
            run_id: Uuid::now_v7(),
            installation_id: installation_id.to_string(),
            actor,
        }
    }

    /// The actor as the type the service put in.
    pub fn actor<T: Any>(&self) -> Option<&T> {
        self.actor.downcast_ref::<T>()
    }
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RunContext")
            .field("run_id", &self.run_id)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

/// Where an `invoke` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeSource {
    Api,
    Button,
    AgentTool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What starts a run. JSON fields are text and are checked to parse before the run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Invoke {
        source: InvokeSource,
        input: String,
    },
    Schedule {
        name: String,
        fire_at_ms: u64,
    },
    Change {
        event_id: String,
        event_type: String,
        object_id: String,
        at_ms: u64,
        data: String,
    },
    Webhook(WebhookRequest),
}

/// The kind of event, for run lists and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Invoke,
    Schedule,
    Change,
    Webhook,
}

impl Event {
    pub fn trigger(&self) -> Trigger {
        match self {
            Event::Invoke { .. } => Trigger::Invoke,
            Event::Schedule { .. } => Trigger::Schedule,
            Event::Change { .. } => Trigger::Change,
            Event::Webhook(_) => Trigger::Webhook,
        }
    }

    /// Bytes of the event's payload, counted against `input_bytes_max`.
    pub fn payload_bytes(&self) -> u64 {
        let bytes = match self {
            Event::Invoke { input, .. } => input.len(),
            Event::Schedule { name, .. } => name.len(),
            Event::Change {
                event_id,
                event_type,
                object_id,
                data,
                ..
            } => event_id.len() + event_type.len() + object_id.len() + data.len(),
            Event::Webhook(request) => {
                request.method.len()
                    + request.path.len()
                    + request.query.len()
                    + request
                        .headers
                        .iter()
                        .map(|(name, value)| name.len() + value.len())
                        .sum::<usize>()
                    + request.body.len()
            }
        };
        bytes as u64
    }
}

/// The HTTP response a webhook run returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a run returned when it ended `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    None,
    /// JSON text, checked to parse.
    Json(String),
    Http(WebhookResponse),
}

impl Output {
    pub(crate) fn bytes(&self) -> u64 {
        match self {
            Output::None => 0,
            Output::Json(text) => text.len() as u64,
            Output::Http(response) => {
                (response.body.len()
                    + response
                        .headers
                        .iter()
                        .map(|(name, value)| name.len() + value.len())
                        .sum::<usize>()) as u64
            }
        }
    }
}

/// The capabilities an installation was granted. An interface that is not granted is not linked:
/// a component importing it does not start ([`crate::Error::CapabilityNotGranted`]).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The `workspace` interface, with the scopes its calls are checked against.
    pub workspace: Option<WorkspaceScopes>,
    /// `wasi:http/outgoing-handler`, with the approved origins.
    pub http: Option<EgressPolicy>,
    pub kv: bool,
    pub secrets: bool,
    pub models: bool,
    pub vector_search: bool,
}

impl Grants {
    /// Everything, with no approved origins: for tests.
    pub fn all() -> Grants {
        Grants {
            workspace: Some(WorkspaceScopes::ALL),
            http: Some(EgressPolicy::default()),
            kv: true,
            secrets: true,
            models: true,
            vector_search: true,
        }
    }
}

/// The host implementations a run reads through.
#[derive(Clone)]
pub struct Services {
    pub workspace: Arc<dyn WorkspaceHost>,
    pub kv: Arc<dyn KvStore>,
    pub secrets: Arc<dyn SecretStore>,
}

impl Default for Services {
    /// An empty workspace, an empty key-value store and no secrets.
    fn default() -> Services {
        Services {
            workspace: Arc::new(EmptyWorkspace),
            kv: Arc::new(MemoryKv::new()),
            secrets: Arc::new(MemorySecrets::new()),
        }
    }
}

/// Everything one run needs.
#[derive(Clone)]
pub struct RunRequest {
    pub context: RunContext,
    pub event: Event,
    pub grants: Grants,
    pub limits: RunLimits,
    pub services: Services,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Ok,
    /// The guest returned an error; the message is the guest's.
    Error(String),
    /// The guest trapped (including a stack overflow or a host call it made fatal).
    Trap(String),
    FuelExhausted,
    MemoryLimit,
    Timeout,
    HostCallLimit,
    OutputLimit,
}

impl RunStatus {
    /// A stable code for the status.
    pub fn code(&self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Error(_) => "error",
            RunStatus::Trap(_) => "trap",
            RunStatus::FuelExhausted => "fuel_exhausted",
            RunStatus::MemoryLimit => "memory_limit",
            RunStatus::Timeout => "timeout",
            RunStatus::HostCallLimit => "host_call_limit",
            RunStatus::OutputLimit => "output_limit",
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, RunStatus::Ok)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// One structured log entry the guest wrote (or a line of its stderr, at `Warn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// One outbound HTTP attempt, allowed or refused. The query string is left out: it often carries
/// keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: String,
    /// Scheme, host, port and path.
    pub url: String,
    pub allowed: bool,
    /// Why it was refused or failed.
    pub refusal: Option<String>,
    pub status: Option<u16>,
    pub duration_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// A call the installation's scopes refused, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub operation: String,
    pub object_id: Option<String>,
    pub reason: String,
}

/// What the run used, for the billing issue to price. CPU time is the price basis; fuel differs
/// ~430x between languages for the same work, so it is only a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Time the run's future spent being polled: guest code and synchronous host work, not
    /// waiting on I/O.
    pub cpu_us: u64,
    pub fuel: u64,
    /// Linear memory held, integrated over the run's wall time, in byte-seconds (rounded down).
    pub memory_byte_seconds: u64,
    pub host_calls: u64,
}

/// Everything kept about a run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: Uuid,
    pub installation_id: String,
    pub trigger: Trigger,
    pub event: Event,
    pub status: RunStatus,
    /// Wall-clock time from instantiation to the end of the call.
    pub duration_us: u64,
    pub fuel_used: u64,
    pub memory_peak_bytes: u64,
    pub host_calls: u64,
    pub outbound_requests: Vec<OutboundRequest>,
    pub logs: Vec<LogEntry>,
    pub denials: Vec<Denial>,
    /// Writes the run staged, applied or not (their count; the ops are in [`RunOutcome`]).
    pub writes_staged: u64,
    pub usage: Usage,
}

/// What [`crate::Runtime::run`] returns. `writes` and `kv_writes` are empty unless the status is
/// `ok`; the caller applies both in one store transaction.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub record: RunRecord,
    pub output: Option<Output>,
    pub writes: Vec<WriteOp>,
    pub kv_writes: Vec<KvWrite>,
}
