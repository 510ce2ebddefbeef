//! The dispatcher: turns new change-log events and due schedule ticks into runs, in the same
//! transaction as the trigger's cursor moves, each with a run key, so a trigger runs once. A
//! change run that its installation's limits admit and this process has room for is inserted
//! already claimed and handed to the executor without a claim pass.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use document::Id;
use runtime::Event;
use serde_json::json;
use storage_sql::{ChangeCursor, InstallationRecord, RunRow, RunStatus, Trigger};
use workspace::Workspace;
use workspace::clock::now_ms as now;

use crate::admission::{Admission, Admit};
use crate::executor::{Claimed, Executor};
use crate::record::{event_json, new_run, run_row};
use crate::registry::Registry;
use crate::{Error, Result, budget};

/// The change-log consumer that turns changes into runs.
pub const TRIGGER_CONSUMER: &str = "integrations.triggers";
/// Changes read per trigger pass.
const TRIGGER_BATCH_EVENTS: i64 = 500;
/// Runs one trigger pass enqueues at most (it stops after the event that reaches this).
const TRIGGER_RUNS_PER_PASS_MAX: usize = 4_096;
/// How far back a schedule tick is still run after downtime, in milliseconds.
const SCHEDULE_CATCH_UP_MS: i64 = budget::HOUR_MS;
/// How often the worker looks for due schedule ticks, in milliseconds.
const SCHEDULE_PASS_INTERVAL_MS: i64 = 1_000;
/// Ticks of one schedule enqueued per pass at most (the latest ones).
const SCHEDULE_TICKS_PER_PASS_MAX: usize = 10;
/// Cron's finest field is the second.
const SECOND_MS: i64 = 1_000;

/// What a trigger pass did.
#[derive(Debug, Default)]
pub(crate) struct TriggerPass {
    /// Runs it made.
    pub(crate) enqueued: usize,
    /// It dispatched nothing because this process holds as many runs as it may.
    pub(crate) no_room: bool,
}

/// An active installation subscribed to changes: its manifest and the bot user it acts as
/// (`None` when its integration is gone).
type Subscriber = (Arc<InstallationRecord>, Arc<crate::Manifest>, Option<Id>);

pub(crate) struct Dispatcher {
    workspace: Workspace,
    registry: Arc<Registry>,
    executor: Arc<Executor>,
    /// Schedule ticks up to this time were enqueued.
    schedules_checked_ms: Mutex<i64>,
    /// The change dispatcher's cursor as this process last read or saved it, so that its look
    /// for pending changes is one statement. Another node may have moved the stored cursor
    /// further: then the look only finds changes already dispatched, and the pass, which reads
    /// the stored cursor, dispatches nothing.
    trigger_cursor: Mutex<Option<ChangeCursor>>,
}

impl Dispatcher {
    pub(crate) fn new(
        workspace: Workspace,
        registry: Arc<Registry>,
        executor: Arc<Executor>,
    ) -> Dispatcher {
        Dispatcher {
            workspace,
            registry,
            executor,
            schedules_checked_ms: Mutex::new(now() - SCHEDULE_CATCH_UP_MS),
            trigger_cursor: Mutex::new(None),
        }
    }

    /// One trigger pass: dispatches changes, and enqueues schedule ticks when a schedule pass
    /// is due.
    pub(crate) async fn pass(&self) -> Result<TriggerPass> {
        let mut pass = self.dispatch_changes().await?;
        let now = now();
        let checked = *self.schedules_checked_ms.lock().expect("schedules lock");
        if now - checked >= SCHEDULE_PASS_INTERVAL_MS {
            pass.enqueued += self.enqueue_schedule_ticks(now).await?;
        }
        Ok(pass)
    }

    /// Turns change-log events into runs of the installations subscribed to them, and starts
    /// at once those this process has room for. The cursor moves in the same transaction as the
    /// runs are inserted, and each run's key is the event's sequence number, so every event runs
    /// each subscriber exactly once.
    ///
    /// A run its installation's limits admit is inserted already claimed by this process (its
    /// first attempt, leased, as a claim pass would leave it) and handed straight to the slots,
    /// so it costs one insert instead of an insert and a claim, and never waits for a claim
    /// pass. A run its installation's limits hold back is queued for the claim passes. While
    /// this process holds as many runs as it may, changes wait in the log: nothing is lost, and
    /// the claim capacity bounds the runs in memory.
    async fn dispatch_changes(&self) -> Result<TriggerPass> {
        let capacity = self.executor.dispatch_capacity();
        let held = self.executor.held();
        if held >= capacity {
            return Ok(TriggerPass {
                enqueued: 0,
                no_room: true,
            });
        }
        // Look before taking the writer: an idle worker must not queue behind writers.
        let known = *self.trigger_cursor.lock().expect("trigger cursor lock");
        // Until a pass has read the stored cursor, there may be changes to dispatch.
        let pending = match known {
            Some(cursor) => self.workspace.store().has_changes_after(cursor).await?,
            None => true,
        };
        if !pending {
            return Ok(TriggerPass::default());
        }
        let mut tx = self.workspace.store().write().await?;
        let cursor = tx.load_cursor(TRIGGER_CONSUMER).await?;
        let changes = tx.read_changes(cursor, TRIGGER_BATCH_EVENTS).await?;
        if changes.is_empty() {
            tx.commit().await?;
            self.remember_trigger_cursor(cursor);
            return Ok(TriggerPass::default());
        }
        let now = now();
        let mut admission = Admission::read(&mut tx, now, &self.registry).await?;
        let subscribers = self.subscribers(&mut tx, &admission).await?;
        let mut runs = Vec::new();
        // Indexes into `runs` of those claimed here.
        let mut here = Vec::new();
        let mut through = None;
        for change in &changes {
            if held + here.len() >= capacity || runs.len() >= TRIGGER_RUNS_PER_PASS_MAX {
                // The rest of the events wait: for room here, or for the next pass (which keeps
                // the writer's transaction short).
                break;
            }
            // The event, its stored form and its run key are made once per change, not once
            // per subscriber.
            let mut event = None;
            for (installation, manifest, bot_user_id) in &subscribers {
                // Changes made by this integration itself don't trigger it again.
                if !manifest.triggers.changes.contains(&change.change.kind)
                    || change.time < installation.created_time
                    || Some(change.change.actor_id) == *bot_user_id
                {
                    continue;
                }
                let (event, stored, key) = event.get_or_insert_with(|| {
                    let event = Event::Change {
                        event_id: change.seq.to_string(),
                        event_type: change.change.kind.clone(),
                        object_id: change.change.object_id.to_string(),
                        at_ms: change.time.max(0) as u64,
                        data: json!({
                            "object_kind": change.change.object_kind,
                            "parent_id": change.change.parent_id.map(|id| id.to_string()),
                            "fields": change.change.fields,
                        })
                        .to_string(),
                    };
                    let stored = event_json(&event).to_string();
                    (event, stored, format!("change:{}", change.seq))
                });
                let mut run = run_row(
                    installation.id,
                    Some(key.clone()),
                    Trigger::Change,
                    stored.clone(),
                    installation.installed_by,
                );
                // An installation whose integration is gone is left to a claim pass, which
                // reports it.
                if bot_user_id.is_some() {
                    match admission.admit(installation.id)? {
                        Admit::Start => {
                            let config = admission
                                .config(installation.id)?
                                .ok_or_else(|| Error::not_found("installation", installation.id))?;
                            run.status = RunStatus::Running;
                            run.attempts = 1;
                            run.lease_until = self.executor.lease_until(now, &config);
                            run.started_time = Some(now);
                            here.push((runs.len(), event.clone()));
                        }
                        Admit::Wait | Admit::Unknown => {}
                    }
                }
                runs.push(run);
            }
            through = Some(change.cursor);
        }
        let Some(through) = through else {
            tx.commit().await?;
            return Ok(TriggerPass::default());
        };
        // Only runs this insert made are started: another node, or this one before a restart,
        // may have made the rest.
        let inserted: HashSet<Id> = tx.insert_runs(&runs).await?.into_iter().collect();
        let by_installation: HashMap<Id, usize> = subscribers
            .iter()
            .enumerate()
            .map(|(index, (record, _, _))| (record.id, index))
            .collect();
        let mut claimed = Vec::with_capacity(here.len());
        let mut starts: HashMap<Id, i64> = HashMap::new();
        let mut runs: Vec<Option<RunRow>> = runs.into_iter().map(Some).collect();
        for (index, event) in here {
            let Some(run) = runs[index].take() else {
                continue;
            };
            if !inserted.contains(&run.id) {
                continue;
            }
            let (installation, manifest, bot_user_id) =
                &subscribers[by_installation[&run.installation_id]];
            *starts.entry(run.installation_id).or_default() += 1;
            let config = admission.installations.configs[&run.installation_id].clone();
            claimed.push(Claimed {
                lease_until: run.lease_until,
                config,
                run,
                installation: installation.clone(),
                manifest: manifest.clone(),
                bot_user_id: bot_user_id
                    .ok_or_else(|| Error::not_found("integration", installation.integration_id))?,
                event: Some(event),
            });
        }
        let queued = inserted.len() - claimed.len();
        let starts: Vec<(Id, i64)> = starts.into_iter().collect();
        tx.count_run_starts(budget::hour_start(now), &starts)
            .await?;
        tx.save_cursor(TRIGGER_CONSUMER, through, now).await?;
        tx.commit().await?;
        self.remember_trigger_cursor(through);
        if queued > 0 {
            self.executor.wake();
        }
        self.executor.start_claimed(claimed).await?;
        Ok(TriggerPass {
            enqueued: inserted.len(),
            no_room: false,
        })
    }

    /// The active installations subscribed to changes, oldest first.
    async fn subscribers(
        &self,
        tx: &mut storage_sql::Tx,
        admission: &Admission,
    ) -> Result<Vec<Subscriber>> {
        let mut active: Vec<Arc<InstallationRecord>> = admission
            .installations
            .records
            .values()
            .filter(|record| record.active)
            .cloned()
            .collect();
        active.sort_by_key(|record| (record.created_time, record.id));
        let mut subscribers = Vec::new();
        for record in active {
            let manifest = self.registry.manifest_of(tx, record.package_id).await?;
            if manifest.triggers.changes.is_empty() {
                continue;
            }
            let bot_user_id = self.registry.bot_user_of(tx, record.integration_id).await?;
            subscribers.push((record, manifest, bot_user_id));
        }
        Ok(subscribers)
    }

    /// Remembers the dispatcher's cursor as stored by a committed transaction.
    fn remember_trigger_cursor(&self, cursor: ChangeCursor) {
        *self.trigger_cursor.lock().expect("trigger cursor lock") = Some(cursor);
    }

    /// Enqueues the schedule ticks due by `now` since the last call (after downtime, those of
    /// the last hour, at most [`SCHEDULE_TICKS_PER_PASS_MAX`] per schedule), and returns how
    /// many it enqueued. Each tick's run key is its schedule and time, so a tick enqueued twice
    /// (by two nodes, or after a restart) runs once.
    pub(crate) async fn enqueue_schedule_ticks(&self, now: i64) -> Result<usize> {
        let since = *self.schedules_checked_ms.lock().expect("schedules lock");
        let mut tx = self.workspace.store().write().await?;
        let mut enqueued = 0;
        for record in tx.list_installations(false).await? {
            let manifest = self
                .registry
                .manifest_of(&mut tx, record.package_id)
                .await?;
            for schedule in &manifest.triggers.schedule {
                let cron = crate::manifest::parse_cron(&schedule.cron).map_err(Error::Internal)?;
                let start = since.max(record.created_time);
                for fire_at in ticks(&cron, start, now) {
                    let event = Event::Schedule {
                        name: schedule.name.clone(),
                        fire_at_ms: fire_at.max(0) as u64,
                    };
                    let key = format!("schedule:{}:{fire_at}", schedule.name);
                    let run = new_run(record.id, Some(key), &event, record.installed_by);
                    if tx.enqueue_run(&run).await? {
                        enqueued += 1;
                    }
                }
            }
        }
        tx.prune_run_start_counts(budget::hour_start(now) - budget::HOUR_MS)
            .await?;
        tx.commit().await?;
        if enqueued > 0 {
            self.executor.wake();
        }
        *self.schedules_checked_ms.lock().expect("schedules lock") = now;
        Ok(enqueued)
    }
}

/// The ticks of `cron` in `(after, until]`, the latest [`SCHEDULE_TICKS_PER_PASS_MAX`].
fn ticks(cron: &croner::Cron, after: i64, until: i64) -> Vec<i64> {
    use chrono::{DateTime, Utc};
    // Cron fields stop at seconds: start from the whole second so that every tick is on one
    // (a fractional cursor would carry its milliseconds into each occurrence, and with them
    // into the run key that makes a tick run once).
    let Some(mut cursor) =
        DateTime::<Utc>::from_timestamp_millis(after - after.rem_euclid(SECOND_MS))
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    while let Ok(next) = cron.find_next_occurrence(&cursor, false) {
        let ms = next.timestamp_millis();
        if ms > until {
            break;
        }
        found.push(ms);
        if found.len() > SCHEDULE_TICKS_PER_PASS_MAX {
            found.remove(0);
        }
        cursor = next;
    }
    found
}
