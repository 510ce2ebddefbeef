//! What is stored about installations and runs, and the JSON the platform API shows: an
//! installation's granted configuration, a run's event, its record, and the run as a whole.

use access::{Capabilities, UserInformation};
use base64::Engine as _;
use document::Id;
use runtime::{
    EgressPolicy, Event, Grants, InvokeSource, LogLevel, RunLimits, RunRecord, WebhookRequest,
    WorkspaceScopes,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use storage_sql::{RunRow, RunStatus, Trigger};

use crate::manifest::{LimitOverrides, Manifest, WorkspaceScope};
use crate::{Error, Result};

/// What an owner granted at install: a subset of what the manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallConfig {
    pub workspace: Vec<WorkspaceScope>,
    pub kv: bool,
    pub secrets: Vec<String>,
    pub models: bool,
    pub vector_search: bool,
    /// Approved egress origins.
    pub egress: Vec<String>,
    pub limits: LimitOverrides,
    /// Runs the installation may start per hour.
    pub runs_per_hour_max: i64,
    /// Runs of the installation at once.
    pub concurrent_runs_max: i64,
}

impl InstallConfig {
    pub fn from_json(text: &str) -> Result<InstallConfig> {
        serde_json::from_str(text)
            .map_err(|error| Error::Internal(format!("stored installation config: {error}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn has(&self, scope: WorkspaceScope) -> bool {
        self.workspace.contains(&scope)
    }

    /// The capabilities of the installation's integration actor.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_content: self.has(WorkspaceScope::ReadContent),
            update_content: self.has(WorkspaceScope::UpdateContent),
            insert_content: self.has(WorkspaceScope::InsertContent),
            read_comments: false,
            insert_comments: self.has(WorkspaceScope::InsertComments),
            user_information: UserInformation::None,
        }
    }

    /// The interfaces a run may link. `http` is linked when the manifest declares egress, with
    /// only the approved origins: a request anywhere else is refused and recorded.
    pub fn grants(&self, manifest: &Manifest) -> Result<Grants> {
        let workspace = (!self.workspace.is_empty()).then(|| WorkspaceScopes {
            read_content: self.has(WorkspaceScope::ReadContent),
            update_content: self.has(WorkspaceScope::UpdateContent),
            insert_content: self.has(WorkspaceScope::InsertContent),
            insert_comments: self.has(WorkspaceScope::InsertComments),
        });
        let http = if manifest.egress.allow.is_empty() {
            None
        } else {
            Some(EgressPolicy::parse(&self.egress).map_err(Error::Invalid)?)
        };
        Ok(Grants {
            workspace,
            http,
            kv: self.kv,
            secrets: !self.secrets.is_empty(),
            models: self.models,
            vector_search: self.vector_search,
        })
    }

    /// The run limits: the defaults, with the installation's overrides.
    pub fn run_limits(&self) -> RunLimits {
        let mut limits = RunLimits::default();
        let overrides = &self.limits;
        if let Some(value) = overrides.fuel_max {
            limits.fuel_max = value;
        }
        if let Some(value) = overrides.memory_bytes_max {
            limits.memory_bytes_max = value;
        }
        if let Some(value) = overrides.wall_ms_max {
            limits.wall_ms_max = value;
        }
        if let Some(value) = overrides.host_calls_max {
            limits.host_calls_max = value;
        }
        if let Some(value) = overrides.output_bytes_max {
            limits.output_bytes_max = value;
        }
        if let Some(value) = overrides.outbound_requests_max {
            limits.outbound_requests_max = value;
        }
        if let Some(value) = overrides.kv_bytes_max {
            limits.kv_bytes_max = value;
        }
        limits
    }
}

fn source_name(source: InvokeSource) -> &'static str {
    match source {
        InvokeSource::Api => "api",
        InvokeSource::Button => "button",
        InvokeSource::AgentTool => "agent_tool",
    }
}

/// JSON text given to a run, as a JSON value (it was checked to parse before it was stored).
fn embedded(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// An event as stored with its run.
/// Its `type` is the run's trigger as stored.
pub(crate) fn event_json(event: &Event) -> Value {
    let kind = stored_trigger(event.trigger()).as_str();
    match event {
        Event::Invoke { source, input } => {
            json!({"type": kind, "source": source_name(*source), "input": embedded(input)})
        }
        Event::Schedule { name, fire_at_ms } => {
            json!({"type": kind, "name": name, "fire_at_ms": fire_at_ms})
        }
        Event::Change {
            event_id,
            event_type,
            object_id,
            at_ms,
            data,
        } => json!({
            "type": kind, "event_id": event_id, "event_type": event_type,
            "object_id": object_id, "at_ms": at_ms, "data": embedded(data),
        }),
        Event::Webhook(request) => json!({
            "type": kind, "method": request.method, "path": request.path,
            "query": request.query, "headers": request.headers,
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&request.body),
        }),
    }
}

/// Reads an event stored by [`event_json`].
pub(crate) fn event_from_json(text: &str) -> Result<Event> {
    let corrupt = || Error::Internal(format!("stored run event: {text}"));
    let value: Value = serde_json::from_str(text).map_err(|_| corrupt())?;
    let string = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let number = |key: &str| value.get(key).and_then(Value::as_u64);
    let json_text = |key: &str| value.get(key).cloned().unwrap_or(Value::Null).to_string();
    let trigger = value
        .get("type")
        .and_then(Value::as_str)
        .and_then(|kind| Trigger::parse(kind).ok())
        .ok_or_else(corrupt)?;
    Ok(match trigger {
        Trigger::Invoke => Event::Invoke {
            source: match value.get("source").and_then(Value::as_str) {
                Some("button") => InvokeSource::Button,
                Some("agent_tool") => InvokeSource::AgentTool,
                _ => InvokeSource::Api,
            },
            input: json_text("input"),
        },
        Trigger::Schedule => Event::Schedule {
            name: string("name").ok_or_else(corrupt)?,
            fire_at_ms: number("fire_at_ms").ok_or_else(corrupt)?,
        },
        Trigger::Change => Event::Change {
            event_id: string("event_id").ok_or_else(corrupt)?,
            event_type: string("event_type").ok_or_else(corrupt)?,
            object_id: string("object_id").ok_or_else(corrupt)?,
            at_ms: number("at_ms").ok_or_else(corrupt)?,
            data: json_text("data"),
        },
        Trigger::Webhook => Event::Webhook(WebhookRequest {
            method: string("method").ok_or_else(corrupt)?,
            path: string("path").ok_or_else(corrupt)?,
            query: string("query").unwrap_or_default(),
            headers: serde_json::from_value(value.get("headers").cloned().unwrap_or(json!([])))
                .map_err(|_| corrupt())?,
            body: base64::engine::general_purpose::STANDARD
                .decode(string("body_base64").unwrap_or_default())
                .map_err(|_| corrupt())?,
        }),
    })
}

/// The stored form of a runtime trigger.
pub(crate) fn stored_trigger(trigger: runtime::Trigger) -> Trigger {
    match trigger {
        runtime::Trigger::Invoke => Trigger::Invoke,
        runtime::Trigger::Schedule => Trigger::Schedule,
        runtime::Trigger::Change => Trigger::Change,
        runtime::Trigger::Webhook => Trigger::Webhook,
    }
}

/// The stored status of a run that ended with the guest's outcome `status`.
pub(crate) fn ended_status(status: &runtime::RunStatus) -> RunStatus {
    match status {
        runtime::RunStatus::Ok => RunStatus::Ok,
        runtime::RunStatus::Error(_) => RunStatus::Error,
        runtime::RunStatus::Trap(_) => RunStatus::Trap,
        runtime::RunStatus::FuelExhausted => RunStatus::FuelExhausted,
        runtime::RunStatus::MemoryLimit => RunStatus::MemoryLimit,
        runtime::RunStatus::Timeout => RunStatus::Timeout,
        runtime::RunStatus::HostCallLimit => RunStatus::HostCallLimit,
        runtime::RunStatus::OutputLimit => RunStatus::OutputLimit,
    }
}

/// A new queued run of `event`.
pub(crate) fn new_run(
    installation_id: Id,
    run_key: Option<String>,
    event: &Event,
    user_id: Id,
) -> RunRow {
    run_row(
        installation_id,
        run_key,
        stored_trigger(event.trigger()),
        event_json(event).to_string(),
        user_id,
    )
}

/// A new queued run of an event already in its stored form ([`event_json`]).
pub(crate) fn run_row(
    installation_id: Id,
    run_key: Option<String>,
    trigger: Trigger,
    event: String,
    user_id: Id,
) -> RunRow {
    RunRow {
        id: Id::new(),
        installation_id,
        run_key,
        trigger,
        event,
        user_id,
        status: RunStatus::Queued,
        attempts: 0,
        lease_until: 0,
        created_time: workspace::clock::now_ms(),
        started_time: None,
        finished_time: None,
        record: None,
        output: None,
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// A run's record as stored. `message` is the guest's error or the reason the run failed
/// outside the guest (a refused write, a component that would not start).
pub(crate) fn record_json(record: &RunRecord, message: Option<&str>, writes_applied: u64) -> Value {
    let status_message = match &record.status {
        runtime::RunStatus::Error(message) | runtime::RunStatus::Trap(message) => {
            Some(message.as_str())
        }
        _ => None,
    };
    json!({
        "message": message.or(status_message),
        "duration_us": record.duration_us,
        "fuel_used": record.fuel_used,
        "memory_peak_bytes": record.memory_peak_bytes,
        "host_calls": record.host_calls,
        "writes_staged": record.writes_staged,
        "writes_applied": writes_applied,
        "outbound_requests": record.outbound_requests.iter().map(|request| json!({
            "method": request.method, "url": request.url, "allowed": request.allowed,
            "refusal": request.refusal, "status": request.status,
            "duration_us": request.duration_us, "request_bytes": request.request_bytes,
            "response_bytes": request.response_bytes,
        })).collect::<Vec<_>>(),
        "denials": record.denials.iter().map(|denial| json!({
            "operation": denial.operation, "object_id": denial.object_id, "reason": denial.reason,
        })).collect::<Vec<_>>(),
        "logs": record.logs.iter().map(|entry| json!({
            "at_ms": entry.at_ms, "level": level_name(entry.level), "message": entry.message,
            "fields": entry.fields.iter().map(|(key, value)| (key.clone(), Value::String(value.clone()))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "usage": {
            "cpu_us": record.usage.cpu_us,
            "fuel": record.usage.fuel,
            "memory_byte_seconds": record.usage.memory_byte_seconds,
            "host_calls": record.usage.host_calls,
        },
    })
}

/// A record for a run that ended without the guest running (canceled, refused to start,
/// skipped because its actor can't read the changed object).
pub(crate) fn bare_record(message: &str) -> Value {
    json!({"message": message, "logs": [], "outbound_requests": [], "denials": []})
}

/// A run as the platform API shows it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub row: RunRow,
}

fn time(ms: Option<i64>) -> Value {
    ms.map(|ms| Value::String(document::time::format_ms(ms)))
        .unwrap_or(Value::Null)
}

impl RunView {
    pub fn status(&self) -> RunStatus {
        self.row.status
    }

    pub fn to_json(&self) -> Value {
        let row = &self.row;
        json!({
            "object": "run",
            "id": row.id.to_string(),
            "installation_id": row.installation_id.to_string(),
            "trigger": row.trigger.as_str(),
            "status": row.status.as_str(),
            "attempts": row.attempts,
            "user_id": row.user_id.to_string(),
            "created_time": time(Some(row.created_time)),
            "started_time": time(row.started_time),
            "finished_time": time(row.finished_time),
            "event": embedded(&row.event),
            "output": row.output.as_deref().map(embedded),
            "record": row.record.as_deref().map(embedded),
        })
    }
}
