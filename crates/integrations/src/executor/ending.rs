//! Ending runs: an `ok` run's writes, key-value writes, usage and record commit in one
//! transaction guarded by its lease; every other end joins a group commit of whatever ends are
//! waiting.

use std::collections::HashSet;
use std::sync::Mutex;

use access::Actor;
use document::Id;
use runtime::{Output, RunOutcome};
use serde_json::json;
use storage_sql::{AuditEntry, RunEnd, RunRow, RunStatus, RunUsage};
use tokio::sync::oneshot;
use workspace::clock::now_ms as now;

use super::Executor;
use crate::record::{bare_record, ended_status, record_json};
use crate::{Error, Result, writes};

/// Marks a finish that found its run no longer held by this attempt (canceled, taken over).
const SUPERSEDED: &str = "the run is no longer held by this attempt";

/// How a run ended, for a group commit ([`Executor::end`]).
struct Ending {
    end: RunEnd,
    /// None for a run the guest never ran in.
    usage: Option<RunUsage>,
    denials: Vec<AuditEntry>,
}

type EndResult = std::result::Result<(), String>;

/// Ends of runs waiting for a group commit, and the lock its committer holds.
#[derive(Default)]
pub(super) struct Endings {
    waiting: Mutex<Vec<(Ending, oneshot::Sender<EndResult>)>>,
    committer: tokio::sync::Mutex<()>,
}

impl Executor {
    /// Ends a run the guest never ran in.
    pub(super) async fn end_bare(
        &self,
        run: &RunRow,
        status: RunStatus,
        message: &str,
    ) -> Result<()> {
        self.end(Ending {
            end: RunEnd {
                id: run.id,
                attempt: run.attempts,
                status,
                record: bare_record(message).to_string(),
                output: None,
                started_time: None,
                finished_time: now(),
            },
            usage: None,
            denials: Vec::new(),
        })
        .await
    }

    /// Ends a run that wrote nothing to keep: commits its end together with the ends of
    /// whatever other runs are waiting (a group commit). The first run to find the committer
    /// free writes every waiting end in one transaction; the others find theirs done.
    async fn end(&self, ending: Ending) -> Result<()> {
        let (sender, mut receiver) = oneshot::channel();
        self.endings
            .waiting
            .lock()
            .expect("endings lock")
            .push((ending, sender));
        let _committer = self.endings.committer.lock().await;
        if let Ok(result) = receiver.try_recv() {
            return result.map_err(Error::Internal);
        }
        let batch = std::mem::take(&mut *self.endings.waiting.lock().expect("endings lock"));
        let endings: Vec<&Ending> = batch.iter().map(|(ending, _)| ending).collect();
        let result = self.commit_endings(&endings).await;
        let shared = result
            .as_ref()
            .map(|_| ())
            .map_err(|error| error.to_string());
        for (_, sender) in batch {
            // Each waiter, this one included, learns the batch's result.
            let _ = sender.send(shared.clone());
        }
        match receiver.try_recv() {
            Ok(result) => result.map_err(Error::Internal),
            Err(_) => Err(Error::Internal(
                "a run's end was lost from its batch".into(),
            )),
        }
    }

    async fn commit_endings(&self, endings: &[&Ending]) -> Result<()> {
        let mut tx = self.workspace.store().write().await?;
        let ends: Vec<&RunEnd> = endings.iter().map(|ending| &ending.end).collect();
        // Only the attempt that holds the run ends it; a canceled or taken-over run keeps
        // what its holder wrote, and its usage and denials are not counted twice.
        // Matched by attempt too: two attempts of one run may end in one batch (a lease taken
        // over while its holder was still running), and only the holder's usage counts.
        let ended: HashSet<(Id, i64)> = tx.finish_runs(&ends).await?.into_iter().collect();
        let mut usage = Vec::new();
        let mut denials = Vec::new();
        for ending in endings
            .iter()
            .filter(|ending| ended.contains(&(ending.end.id, ending.end.attempt)))
        {
            usage.extend(ending.usage.clone());
            denials.extend(ending.denials.iter().cloned());
        }
        tx.insert_usage(&usage).await?;
        tx.append_audit(&denials).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a run: an `ok` run's writes, key-value writes, usage and record commit together; a
    /// run that did not end `ok`, or whose writes the workspace refused, keeps only its record,
    /// its usage and the audit of what it was denied. Runs with nothing to write end in a group
    /// commit.
    pub(super) async fn finish(
        &self,
        run: &RunRow,
        started: i64,
        actor: &Actor,
        integration_id: Id,
        outcome: RunOutcome,
    ) -> Result<()> {
        let time = now();
        let usage = run_usage(&outcome, run, time);
        let denials: Vec<AuditEntry> = outcome
            .record
            .denials
            .iter()
            .map(|denial| AuditEntry {
                time,
                integration_id: Some(integration_id),
                user_id: Some(run.user_id),
                operation: denial.operation.clone(),
                object_id: denial
                    .object_id
                    .as_deref()
                    .and_then(Id::parse)
                    .unwrap_or(Id::from_u128(0)),
                allowed: false,
                reason: denial.reason.clone(),
            })
            .collect();
        let ok = outcome.record.status.is_ok();
        let ok_end = |writes: u64| RunEnd {
            id: run.id,
            attempt: run.attempts,
            status: RunStatus::Ok,
            record: record_json(&outcome.record, None, writes).to_string(),
            output: output_json(&outcome.output),
            started_time: Some(started),
            finished_time: time,
        };
        if ok && outcome.writes.is_empty() && outcome.kv_writes.is_empty() {
            return self
                .end(Ending {
                    end: ok_end(0),
                    usage: Some(usage),
                    denials,
                })
                .await;
        }
        let mut refusal = None;
        if ok {
            let workspace = &self.workspace;
            let mut session = workspace.session(actor).await?;
            let result = async {
                writes::apply(&mut session, &outcome.writes).await?;
                let tx = session.tx();
                for write in &outcome.kv_writes {
                    match write {
                        runtime::KvWrite::Set { key, value } => {
                            tx.kv_put(run.installation_id, key, value).await?
                        }
                        runtime::KvWrite::Delete { key } => {
                            tx.kv_delete(run.installation_id, key).await?
                        }
                    }
                }
                tx.insert_usage(std::slice::from_ref(&usage)).await?;
                tx.append_audit(&denials).await?;
                let held = tx.finish_run(&ok_end(outcome.writes.len() as u64)).await?;
                if held {
                    Ok(())
                } else {
                    Err(workspace::Error::Conflict(SUPERSEDED.into()))
                }
            }
            .await;
            match session.finish(result).await {
                Ok(()) => return Ok(()),
                Err(workspace::Error::Conflict(message)) if message == SUPERSEDED => return Ok(()),
                Err(error) => {
                    refusal = Some(format!("the workspace refused a staged write: {error}"))
                }
            }
        }
        let status = if refusal.is_some() {
            RunStatus::Error
        } else {
            ended_status(&outcome.record.status)
        };
        let record = record_json(&outcome.record, refusal.as_deref(), 0);
        self.end(Ending {
            end: RunEnd {
                id: run.id,
                attempt: run.attempts,
                status,
                record: record.to_string(),
                output: None,
                started_time: Some(started),
                finished_time: time,
            },
            usage: Some(usage),
            denials,
        })
        .await
    }
}

fn output_json(output: &Option<Output>) -> Option<String> {
    use base64::Engine as _;
    output.as_ref().map(|output| match output {
        Output::None => "null".to_string(),
        Output::Json(text) => text.clone(),
        Output::Http(response) => json!({
            "status": response.status,
            "headers": response.headers,
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&response.body),
        })
        .to_string(),
    })
}

fn run_usage(outcome: &RunOutcome, run: &RunRow, time: i64) -> RunUsage {
    let usage = outcome.record.usage;
    let sent = outcome
        .record
        .outbound_requests
        .iter()
        .filter(|request| request.allowed)
        .count() as u64;
    let quantity = |value: u64| value.min(i64::MAX as u64) as i64;
    RunUsage {
        run_id: run.id,
        installation_id: run.installation_id,
        time,
        cpu_us: quantity(usage.cpu_us),
        fuel: quantity(usage.fuel),
        memory_byte_seconds: quantity(usage.memory_byte_seconds),
        host_calls: quantity(usage.host_calls),
        outbound_requests: quantity(sent),
    }
}
