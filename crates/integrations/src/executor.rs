//! The executor: claims due runs under a lease, keeps the leases of claimed runs waiting here
//! for a slot live, starts each run as a task in one of the process's slots, cancels, and ends
//! runs ([`ending`]: group commits of ends, and an `ok` run's writes).
//!
//! A run's lease outlasts its wall-clock limit, so a live run never loses its lease; a run
//! whose worker died is claimed again when the lease ends, up to `run_attempts_max`.

mod ending;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use access::{Actor, IntegrationActor, UserActor};
use document::Id;
use runtime::{Event, RunContext, RunRequest, Runtime, Services};
use storage_sql::{InstallationRecord, RunEnd, RunRow, RunStatus};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use workspace::Workspace;
use workspace::clock::now_ms as now;

use crate::admission::{Admission, Admit};
use crate::host::{StoreKv, StoreSecrets, WorkspaceBridge, uuid};
use crate::manifest::Manifest;
use crate::platform::PlatformLimits;
use crate::record::{InstallConfig, bare_record, event_from_json};
use crate::registry::Registry;
use crate::{Error, Result, budget};

use ending::Endings;

/// Runs this process may hold claimed (waiting for a slot or executing), per execution slot.
/// Claiming ahead of the slots lets one claim pass feed many short runs.
const CLAIMED_PER_SLOT_MAX: usize = 8;
/// Runs the change dispatcher lets this process hold (started or waiting for a slot), per slot.
const DISPATCHED_PER_SLOT_MAX: usize = 32;
/// Queued runs a claim pass reads per run it may claim: some may wait behind their
/// installation's limits.
const QUEUED_READ_PER_CLAIM: usize = 2;
/// The lease a claim pass takes on a run it gives up as `lost`, only so that it alone ends it.
const LOST_RUN_LEASE_MS: i64 = 1;

/// A claimed run and what its execution needs, read once per claim pass.
pub(crate) struct Claimed {
    pub(crate) run: RunRow,
    /// The claim's lease, in ms since the epoch.
    pub(crate) lease_until: i64,
    pub(crate) installation: Arc<InstallationRecord>,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) config: Arc<InstallConfig>,
    pub(crate) bot_user_id: Id,
    /// The run's event when the claimer has it parsed already (the change dispatcher builds
    /// one per change); otherwise it is read from `run.event`.
    pub(crate) event: Option<Event>,
}

/// A run a claim pass may claim: one whose lease ended (read whole), or a queued one (its id
/// and installation; the claim returns it whole).
enum Candidate {
    Expired(Box<RunRow>),
    Queued((Id, Id)),
}

/// A claimed run waiting here for a slot: its lease is renewed while it waits.
struct Waiting {
    attempt: i64,
    lease_until: i64,
    /// The run's wall-clock limit, in ms.
    wall_ms: i64,
}

/// Claims, slots, and the runs held by this process.
pub(crate) struct Executor {
    workspace: Workspace,
    runtime: Runtime,
    registry: Arc<Registry>,
    limits: PlatformLimits,
    slots: Arc<Semaphore>,
    /// Runs executing in this process, to abort on cancel.
    running: Mutex<HashMap<Id, tokio::task::AbortHandle>>,
    /// Wakes the worker's claim loop when a run is enqueued here.
    wake: Notify,
    /// Wakes the worker's trigger loop when room for runs frees up here.
    room: Notify,
    /// Runs claimed by this process that have not ended (waiting for a slot or executing).
    claimed_here: AtomicUsize,
    /// Claimed runs waiting for a slot, by run id.
    waiting: Mutex<HashMap<Id, Waiting>>,
    endings: Endings,
}

/// Counts a claimed run as held by this process until dropped (ended, or its task aborted by
/// a cancel); the drop that leaves half the claim capacity free wakes the worker to claim more,
/// and any drop below the dispatch capacity wakes the change dispatcher.
struct ClaimHold {
    executor: Arc<Executor>,
    run_id: Id,
}

impl ClaimHold {
    fn new(executor: &Arc<Executor>, run_id: Id) -> ClaimHold {
        executor.claimed_here.fetch_add(1, Ordering::SeqCst);
        ClaimHold {
            executor: executor.clone(),
            run_id,
        }
    }
}

impl Drop for ClaimHold {
    fn drop(&mut self) {
        let executor = &self.executor;
        executor
            .waiting
            .lock()
            .expect("waiting lock")
            .remove(&self.run_id);
        let held = executor.claimed_here.fetch_sub(1, Ordering::SeqCst) - 1;
        if executor.claims_wanted(held) {
            executor.wake.notify_one();
        }
        // The change dispatcher tops up as soon as there is room.
        if held < executor.dispatch_capacity() {
            executor.room.notify_one();
        }
    }
}

impl Executor {
    pub(crate) fn new(
        workspace: Workspace,
        runtime: Runtime,
        registry: Arc<Registry>,
        limits: PlatformLimits,
    ) -> Executor {
        Executor {
            workspace,
            runtime,
            registry,
            slots: Arc::new(Semaphore::new(limits.concurrent_runs_max)),
            limits,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            room: Notify::new(),
            claimed_here: AtomicUsize::new(0),
            waiting: Mutex::new(HashMap::new()),
            endings: Endings::default(),
        }
    }

    /// Wakes the claim loop: a run was queued.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when a run was queued here, or enough claimed runs ended to claim more.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Resolves when a run held here ended below the dispatch capacity.
    pub(crate) async fn room_freed(&self) {
        self.room.notified().await;
    }

    /// Runs claimed by this process that have not ended.
    pub(crate) fn held(&self) -> usize {
        self.claimed_here.load(Ordering::SeqCst)
    }

    /// Runs the change dispatcher lets this process hold.
    pub(crate) fn dispatch_capacity(&self) -> usize {
        self.limits.concurrent_runs_max * DISPATCHED_PER_SLOT_MAX
    }

    fn claim_capacity(&self) -> usize {
        self.limits.concurrent_runs_max * CLAIMED_PER_SLOT_MAX
    }

    /// Whether a claim pass should claim with `held` runs held: only once half of what this
    /// process may hold has ended, so that each pass claims many runs rather than one per run
    /// that ends.
    fn claims_wanted(&self, held: usize) -> bool {
        held * 2 <= self.claim_capacity()
    }

    /// The lease of a run of an installation with `config` claimed at `now`: its wall-clock
    /// limit and the margin.
    pub(crate) fn lease_until(&self, now: i64, config: &InstallConfig) -> i64 {
        now + config.run_limits().wall_ms_max as i64 + self.limits.lease_margin_ms
    }

    /// Claims due runs within the concurrency and rate limits, decides in one transaction
    /// which change runs may start (their actor must read the changed object), and starts
    /// each as a task. Everything a run needs from the store is read here, once per pass.
    pub(crate) async fn start_due_runs(self: &Arc<Self>) -> Result<usize> {
        self.renew_waiting_leases().await?;
        let held = self.held();
        if !self.claims_wanted(held) {
            return Ok(0);
        }
        let free = self.claim_capacity() - held;
        let now = now();
        if !self.workspace.store().runs_due(now).await? {
            return Ok(0);
        }
        let mut tx = self.workspace.store().write().await?;
        let expired = tx.expired_runs(now, free as i64).await?;
        let queued = tx
            .queued_run_heads((free * QUEUED_READ_PER_CLAIM) as i64)
            .await?;
        if expired.is_empty() && queued.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let mut admission = Admission::read(&mut tx, now, &self.registry).await?;
        let mut chosen_expired: Vec<RunRow> = Vec::new();
        let mut chosen_queued: Vec<(Id, Id)> = Vec::new();
        let mut lost = Vec::new();
        let candidates = expired
            .into_iter()
            .map(|run| Candidate::Expired(Box::new(run)))
            .chain(queued.into_iter().map(Candidate::Queued));
        for candidate in candidates {
            if chosen_expired.len() + chosen_queued.len() == free {
                break;
            }
            let installation_id = match &candidate {
                Candidate::Expired(run) if run.attempts >= self.limits.run_attempts_max => {
                    lost.push(run.as_ref().clone());
                    continue;
                }
                Candidate::Expired(run) => run.installation_id,
                Candidate::Queued((_, installation_id)) => *installation_id,
            };
            // A run over its installation's hourly budget or concurrency waits in the queue.
            if admission.admit(installation_id)? != Admit::Start {
                continue;
            }
            match candidate {
                Candidate::Expired(run) => chosen_expired.push(*run),
                Candidate::Queued(head) => chosen_queued.push(head),
            }
        }
        let configs = &admission.installations.configs;
        let installations = &admission.installations.records;
        // Queued runs are claimed in one statement per lease length, which returns them whole;
        // a run whose lease ended is claimed on its own, by the attempt that left it.
        let lease_of = |installation_id: Id| self.lease_until(now, &configs[&installation_id]);
        let mut runs = Vec::with_capacity(chosen_expired.len() + chosen_queued.len());
        for mut run in chosen_expired {
            if tx
                .claim_run(&run, now, lease_of(run.installation_id))
                .await?
            {
                run.attempts += 1;
                run.status = RunStatus::Running;
                run.started_time = Some(now);
                runs.push(run);
            }
        }
        let mut by_lease: HashMap<i64, Vec<Id>> = HashMap::new();
        for (run_id, installation_id) in chosen_queued {
            by_lease
                .entry(lease_of(installation_id))
                .or_default()
                .push(run_id);
        }
        let mut claimed_queued = Vec::new();
        for (lease_until, ids) in by_lease {
            claimed_queued.extend(tx.claim_queued_runs(&ids, now, lease_until).await?);
        }
        // Oldest first: runs wait for a slot in this order.
        claimed_queued.sort_by_key(|run| (run.created_time, run.id));
        runs.extend(claimed_queued);
        let mut claimed = Vec::with_capacity(runs.len());
        let mut starts: HashMap<Id, i64> = HashMap::new();
        for run in runs {
            *starts.entry(run.installation_id).or_default() += 1;
            let installation = installations[&run.installation_id].clone();
            let manifest = self
                .registry
                .manifest_of(&mut tx, installation.package_id)
                .await?;
            let bot_user_id = self
                .registry
                .bot_user_of(&mut tx, installation.integration_id)
                .await?
                .ok_or_else(|| Error::not_found("integration", installation.integration_id))?;
            claimed.push(Claimed {
                lease_until: lease_of(run.installation_id),
                config: configs[&run.installation_id].clone(),
                run,
                installation,
                manifest,
                bot_user_id,
                event: None,
            });
        }
        let starts: Vec<(Id, i64)> = starts.into_iter().collect();
        tx.count_run_starts(budget::hour_start(now), &starts)
            .await?;
        for run in &lost {
            // Claim it once more so that only this worker ends it.
            if tx.claim_run(run, now, now + LOST_RUN_LEASE_MS).await? {
                let record = bare_record(&format!(
                    "the run's worker stopped {} times before it ended; given up",
                    run.attempts
                ))
                .to_string();
                tx.finish_run(&RunEnd {
                    id: run.id,
                    attempt: run.attempts + 1,
                    status: RunStatus::Lost,
                    record,
                    output: None,
                    started_time: None,
                    finished_time: now,
                })
                .await?;
            }
        }
        tx.commit().await?;
        let count = claimed.len();
        self.start_claimed(claimed).await?;
        Ok(count)
    }

    /// Renews the lease of each claimed run waiting here for a slot once less than half of its
    /// lease is left, so that a run waits as long as it must without anyone taking it over; a
    /// run found taken over or canceled is dropped from the wait (its task then ends unrun).
    async fn renew_waiting_leases(&self) -> Result<()> {
        let now = now();
        let margin = self.limits.lease_margin_ms;
        let due: Vec<(Id, i64, i64)> = self
            .waiting
            .lock()
            .expect("waiting lock")
            .iter()
            .filter(|(_, waiting)| (waiting.lease_until - now) * 2 < waiting.wall_ms + margin)
            .map(|(id, waiting)| (*id, waiting.attempt, now + waiting.wall_ms + margin))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut tx = self.workspace.store().write().await?;
        let mut renewed = Vec::with_capacity(due.len());
        for (id, attempt, lease_until) in due {
            renewed.push((
                id,
                lease_until,
                tx.extend_lease(id, attempt, lease_until).await?,
            ));
        }
        tx.commit().await?;
        let mut waiting = self.waiting.lock().expect("waiting lock");
        for (id, lease_until, held) in renewed {
            if held {
                if let Some(entry) = waiting.get_mut(&id) {
                    entry.lease_until = lease_until;
                }
            } else {
                waiting.remove(&id);
            }
        }
        Ok(())
    }

    /// Decides who each claimed run acts as and whether it may start, then starts it as a task
    /// (or ends it at once: an inactive installation, or a change its actor can't read).
    pub(crate) async fn start_claimed(self: &Arc<Self>, claimed: Vec<Claimed>) -> Result<()> {
        let workspace = &self.workspace;
        let mut users: HashMap<Id, UserActor> = HashMap::new();
        let mut runs = Vec::with_capacity(claimed.len());
        // Held from here: a run this pass ends at once is released as it ends.
        let claimed: Vec<(Claimed, ClaimHold)> = claimed
            .into_iter()
            .map(|claimed| {
                let hold = ClaimHold::new(self, claimed.run.id);
                (claimed, hold)
            })
            .collect();
        for (mut claimed, hold) in claimed {
            let user = match users.get(&claimed.run.user_id) {
                Some(user) => user.clone(),
                None => match workspace.actor_for_user(claimed.run.user_id).await {
                    Ok(Actor::User(user)) => {
                        users.insert(user.id, user.clone());
                        user
                    }
                    Ok(_) => {
                        let message = "the run's user is not a person";
                        self.end_bare(&claimed.run, RunStatus::Error, message)
                            .await?;
                        continue;
                    }
                    Err(error) => {
                        let message = format!("the run's user could not be loaded: {error}");
                        self.end_bare(&claimed.run, RunStatus::Error, &message)
                            .await?;
                        continue;
                    }
                },
            };
            let actor = Actor::Delegated {
                user,
                integration: IntegrationActor {
                    id: claimed.installation.integration_id,
                    bot_user_id: claimed.bot_user_id,
                    capabilities: claimed.config.capabilities(),
                },
            };
            let event = match claimed.event.take() {
                Some(event) => event,
                None => event_from_json(&claimed.run.event)?,
            };
            runs.push((claimed, hold, actor, event));
        }
        // A change run starts only when its actor can read the object that changed, so the
        // event itself tells the integration nothing it may not see.
        let checks: Vec<(usize, &Actor, Id)> = runs
            .iter()
            .enumerate()
            .filter_map(|(index, (_, _, actor, event))| match event {
                Event::Change { object_id, .. } => Some((
                    index,
                    actor,
                    Id::parse(object_id).unwrap_or(Id::from_u128(0)),
                )),
                _ => None,
            })
            .collect();
        let pairs: Vec<(&Actor, Id)> = checks.iter().map(|(_, actor, id)| (*actor, *id)).collect();
        let readable = workspace.readable_by(&pairs).await?;
        let unreadable: HashSet<usize> = checks
            .iter()
            .zip(readable)
            .filter(|(_, readable)| !readable)
            .map(|((index, _, _), _)| *index)
            .collect();
        let mut ready = Vec::with_capacity(runs.len());
        for (index, (claimed, hold, actor, event)) in runs.into_iter().enumerate() {
            if !claimed.installation.active {
                let message = "the installation is not active";
                self.end_bare(&claimed.run, RunStatus::Error, message)
                    .await?;
                continue;
            }
            if unreadable.contains(&index) {
                let message = "the run's actor can't read the changed object";
                self.end_bare(&claimed.run, RunStatus::Skipped, message)
                    .await?;
                continue;
            }
            self.waiting.lock().expect("waiting lock").insert(
                claimed.run.id,
                Waiting {
                    attempt: claimed.run.attempts,
                    lease_until: claimed.lease_until,
                    wall_ms: claimed.config.run_limits().wall_ms_max as i64,
                },
            );
            ready.push((claimed, hold, actor, event));
        }
        // One feeder per pass takes a slot for each run in claim order (the semaphore is fair,
        // so runs start oldest first) and starts it as a task of its own.
        let executor = self.clone();
        tokio::spawn(async move {
            for (mut claimed, hold, actor, event) in ready {
                let Ok(permit) = executor.slots.clone().acquire_owned().await else {
                    return;
                };
                let run_id = claimed.run.id;
                // Gone when the run was canceled, or a renewal found it taken over, meanwhile.
                let Some(waited) = executor
                    .waiting
                    .lock()
                    .expect("waiting lock")
                    .remove(&run_id)
                else {
                    continue;
                };
                claimed.lease_until = waited.lease_until;
                let runner = executor.clone();
                // The task's handle goes in before the task can remove it: the task's last step
                // waits for this lock.
                let mut running = executor.running.lock().expect("running lock");
                let task = tokio::spawn(async move {
                    let _hold = hold;
                    if let Err(error) = runner.execute(claimed, actor, event, permit).await {
                        tracing::error!(%error, run = %run_id, "run failed outside the guest");
                    }
                    runner.running.lock().expect("running lock").remove(&run_id);
                });
                running.insert(run_id, task.abort_handle());
            }
        });
        Ok(())
    }

    /// Executes one claimed run in the slot `slot` and ends it. The slot is given back once
    /// the guest has returned: a run waiting for its end to commit holds no slot, so commits
    /// don't cap how many guests execute at once (measured: with the slot held through the
    /// group commit, 32 slots allowed about 3,000 runs/s).
    async fn execute(
        &self,
        claimed: Claimed,
        actor: Actor,
        event: Event,
        slot: OwnedSemaphorePermit,
    ) -> Result<()> {
        let Claimed {
            run,
            lease_until,
            installation,
            manifest,
            config,
            ..
        } = claimed;
        let workspace = &self.workspace;
        let started = now();
        if started + config.run_limits().wall_ms_max as i64 > lease_until {
            // It waited for a slot long enough that its lease could end mid-run: extend it,
            // or leave the run to whoever took it over.
            let mut tx = workspace.store().write().await?;
            let held = tx
                .extend_lease(run.id, run.attempts, self.lease_until(started, &config))
                .await?;
            tx.commit().await?;
            if !held {
                return Ok(());
            }
        }
        let component = match self.registry.component(installation.package_id).await {
            Ok(component) => component,
            Err(error) => {
                return self
                    .end_bare(&run, RunStatus::Error, &error.to_string())
                    .await;
            }
        };
        let grants = config.grants(&manifest)?;
        let request = RunRequest {
            context: RunContext {
                run_id: uuid(run.id),
                installation_id: installation.id.to_string(),
                actor: Arc::new(actor.clone()),
            },
            event,
            grants,
            limits: config.run_limits(),
            services: Services {
                workspace: Arc::new(WorkspaceBridge::new(workspace.clone())),
                kv: Arc::new(StoreKv::new(workspace.clone())),
                secrets: Arc::new(StoreSecrets::new(workspace.clone(), config.secrets.clone())),
            },
        };
        let outcome = self.runtime.run(&component, request).await;
        drop(slot);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                return self
                    .end_bare(&run, RunStatus::Error, &error.to_string())
                    .await;
            }
        };
        self.finish(&run, started, &actor, installation.integration_id, outcome)
            .await
    }

    /// Cancels a queued or running run; `false` when it had already ended. A run waiting here
    /// for a slot never starts; a running one is stopped where it is, and nothing it staged is
    /// applied.
    pub(crate) async fn cancel(&self, id: Id) -> Result<bool> {
        let mut tx = self.workspace.store().write().await?;
        // The record's message names what happened: the run was canceled.
        let record = bare_record(RunStatus::Canceled.as_str()).to_string();
        let canceled = tx.cancel_run(id, &record, now()).await?;
        tx.commit().await?;
        self.waiting.lock().expect("waiting lock").remove(&id);
        if canceled && let Some(handle) = self.running.lock().expect("running lock").remove(&id) {
            handle.abort();
        }
        Ok(canceled)
    }
}
