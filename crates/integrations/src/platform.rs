//! The platform service: register, install, enqueue, execute, trigger.
//!
//! [`Platform`] is the facade: it decides who may call what (people only; owners to register
//! and install) and hands the work to its three parts, each owning its own state:
//! - [`Registry`]: packages, installations, secrets, and the caches of them;
//! - [`Dispatcher`]: the trigger pass (change-log events and schedule ticks into runs);
//! - [`Executor`]: claims, slots, leases, cancels and ends.
//!
//! Runs live in the store's durable queue. A worker pass ([`Platform::work`]) turns new
//! change-log events and due schedule ticks into runs, then claims runs that are due within the
//! workspace's and each installation's concurrency and hourly limits, and executes them as
//! tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use access::{Actor, Role, UserActor};
use document::Id;
use runtime::{Event, InvokeSource, Runtime, WebhookRequest};
use serde_json::Value;
use storage_sql::{RunRow, UsageEvent};
use tokio::sync::Notify;
use workspace::Workspace;
use workspace::clock::now_ms as now;

use crate::dispatcher::Dispatcher;
use crate::executor::Executor;
use crate::record::{RunView, new_run};
use crate::registry::{InstallRequest, InstallationView, PackageView, Registry};
use crate::{Error, Result, budget};

/// Runs listed per page at most.
pub const RUNS_PAGE_MAX: i64 = 100;
/// How often [`Platform::wait_run`] looks whether the run has ended, in milliseconds.
const WAIT_RUN_POLL_INTERVAL_MS: u64 = 5;

/// The defaults of [`PlatformLimits`], each described at its field.
pub const CONCURRENT_RUNS_MAX: usize = 32;
pub const INSTALLATION_CONCURRENT_RUNS_MAX: i64 = 8;
pub const INSTALLATION_RUNS_PER_HOUR_MAX: i64 = 600;
pub const LEASE_MARGIN_MS: i64 = 30_000;
pub const RUN_ATTEMPTS_MAX: i64 = 3;
pub const COMPONENT_BYTES_MAX: usize = 64 << 20;
pub const MANIFEST_BYTES_MAX: usize = 64 << 10;

/// Platform-wide limits, named with units.
#[derive(Debug, Clone)]
pub struct PlatformLimits {
    /// Runs executing at once in this process.
    pub concurrent_runs_max: usize,
    /// Default for an installation: runs at once.
    pub installation_concurrent_runs_max: i64,
    /// Default for an installation: runs started per hour (the incumbent's Workers allow 600).
    pub installation_runs_per_hour_max: i64,
    /// A lease lasts the run's wall-clock limit plus this, in milliseconds.
    pub lease_margin_ms: i64,
    /// Attempts before a run whose worker keeps dying is given up as `lost`.
    pub run_attempts_max: i64,
    /// Size of a component, in bytes.
    pub component_bytes_max: usize,
    /// Size of a manifest, in bytes.
    pub manifest_bytes_max: usize,
}

impl Default for PlatformLimits {
    fn default() -> Self {
        PlatformLimits {
            concurrent_runs_max: CONCURRENT_RUNS_MAX,
            installation_concurrent_runs_max: INSTALLATION_CONCURRENT_RUNS_MAX,
            installation_runs_per_hour_max: INSTALLATION_RUNS_PER_HOUR_MAX,
            lease_margin_ms: LEASE_MARGIN_MS,
            run_attempts_max: RUN_ATTEMPTS_MAX,
            component_bytes_max: COMPONENT_BYTES_MAX,
            manifest_bytes_max: MANIFEST_BYTES_MAX,
        }
    }
}

/// The service. Clone it freely; clones share the registry's caches and the worker's state.
#[derive(Clone)]
pub struct Platform {
    workspace: Workspace,
    registry: Arc<Registry>,
    dispatcher: Arc<Dispatcher>,
    executor: Arc<Executor>,
}

fn person(actor: &Actor) -> Result<&UserActor> {
    match actor {
        Actor::User(user) => Ok(user),
        _ => Err(Error::Forbidden(
            "only people manage and invoke integrations; use a personal token".into(),
        )),
    }
}

fn owner(actor: &Actor) -> Result<&UserActor> {
    let user = person(actor)?;
    if user.role != Role::Owner {
        return Err(Error::Forbidden(
            "only workspace owners register and install integrations".into(),
        ));
    }
    Ok(user)
}

impl Platform {
    pub fn new(workspace: Workspace, runtime: Runtime, limits: PlatformLimits) -> Platform {
        let registry = Arc::new(Registry::new(
            workspace.clone(),
            runtime.clone(),
            limits.clone(),
        ));
        let executor = Arc::new(Executor::new(
            workspace.clone(),
            runtime,
            registry.clone(),
            limits,
        ));
        let dispatcher = Arc::new(Dispatcher::new(
            workspace.clone(),
            registry.clone(),
            executor.clone(),
        ));
        Platform {
            workspace,
            registry,
            dispatcher,
            executor,
        }
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    // ----- packages and installations -------------------------------------------------------

    /// Registers a package: parses the manifest, compiles the component and reviews it against
    /// the manifest. Registering the same name, version and component again returns the
    /// existing package; the same name and version with another component is a conflict.
    pub async fn register(
        &self,
        actor: &Actor,
        manifest_text: &str,
        component: &[u8],
    ) -> Result<PackageView> {
        let user = owner(actor)?;
        self.registry.register(user, manifest_text, component).await
    }

    pub async fn packages(&self, actor: &Actor) -> Result<Vec<PackageView>> {
        person(actor)?;
        self.registry.packages().await
    }

    /// Installs a package, or moves an existing installation of the same integration name to
    /// this package with the new grants. Grants must be a subset of the manifest's declarations.
    pub async fn install(
        &self,
        actor: &Actor,
        request: InstallRequest,
    ) -> Result<InstallationView> {
        let user = owner(actor)?;
        self.registry.install(user, request).await
    }

    pub async fn installations(&self, actor: &Actor) -> Result<Vec<InstallationView>> {
        person(actor)?;
        self.registry.installations().await
    }

    pub async fn installation(&self, actor: &Actor, id: Id) -> Result<InstallationView> {
        person(actor)?;
        self.registry.installation(id).await
    }

    /// Sets a secret the manifest declares. Only owners; the value is never shown again.
    pub async fn set_secret(&self, actor: &Actor, id: Id, name: &str, value: &str) -> Result<()> {
        owner(actor)?;
        self.registry.set_secret(id, name, value).await
    }

    /// Makes a new webhook URL token for an installation whose manifest declares
    /// `triggers.webhook`, and returns it; the previous token stops working. Only owners. The
    /// store keeps only the token's SHA-256, so it is shown once.
    pub async fn rotate_webhook_token(&self, actor: &Actor, installation_id: Id) -> Result<String> {
        owner(actor)?;
        self.registry.rotate_webhook_token(installation_id).await
    }

    // ----- runs -----------------------------------------------------------------------------

    /// Queues an `invoke` of an installation by the calling user, with JSON input.
    pub async fn invoke(
        &self,
        actor: &Actor,
        installation_id: Id,
        input: &Value,
        source: InvokeSource,
    ) -> Result<RunView> {
        let user = person(actor)?;
        let view = self.registry.installation(installation_id).await?;
        if !view.manifest.triggers.invoke {
            return Err(Error::Invalid(format!(
                "{} does not accept invoke events (triggers.invoke = false)",
                view.manifest.integration.name
            )));
        }
        let input = input.to_string();
        if input.len() as u64 > view.config.run_limits().input_bytes_max {
            return Err(Error::Invalid(
                "input: larger than the run's input limit".into(),
            ));
        }
        let event = Event::Invoke { source, input };
        let run = new_run(installation_id, None, &event, user.id);
        self.enqueue_within_budget(&view, &run).await?;
        Ok(RunView { row: run })
    }

    /// Queues a `webhook` run for the installation a webhook URL token names, acting for the
    /// user who installed it. An unknown token, an inactive installation and one that does not
    /// accept webhooks are all `not found`: the URL reveals nothing about installations.
    pub async fn webhook(&self, token: &str, request: WebhookRequest) -> Result<RunView> {
        let view = self
            .registry
            .installation_by_webhook_token(token)
            .await?
            .filter(|view| view.manifest.triggers.webhook)
            .ok_or_else(|| Error::not_found("webhook", "this URL"))?;
        let event = Event::Webhook(request);
        if event.payload_bytes() > view.config.run_limits().input_bytes_max {
            return Err(Error::Invalid(
                "the request is larger than the run's input limit".into(),
            ));
        }
        let run = new_run(view.record.id, None, &event, view.record.installed_by);
        self.enqueue_within_budget(&view, &run).await?;
        Ok(RunView { row: run })
    }

    /// Enqueues a run unless the installation spent its hourly budget, and wakes the worker.
    async fn enqueue_within_budget(&self, view: &InstallationView, run: &RunRow) -> Result<()> {
        let mut tx = self.workspace.store().write().await?;
        let now = now();
        let counts = tx
            .run_start_counts(
                budget::hour_start(now) - budget::HOUR_MS,
                Some(view.record.id),
            )
            .await?;
        let started = budget::estimates(&counts, now)
            .get(&view.record.id)
            .copied()
            .unwrap_or(0);
        if started >= view.config.runs_per_hour_max {
            return Err(Error::RateLimited(format!(
                "{} started {started} runs in the last hour, its limit",
                view.manifest.integration.name
            )));
        }
        tx.enqueue_run(run).await?;
        tx.commit().await?;
        self.executor.wake();
        Ok(())
    }

    /// Waits until a run has ended or `timeout` passed, without an actor (webhook callers have
    /// none; they only learn the run they started).
    pub async fn wait_run(&self, id: Id, timeout: Duration) -> Result<RunView> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut tx = self.workspace.store().read().await?;
            let row = tx.get_run(id).await?;
            tx.commit().await?;
            let row = row.ok_or_else(|| Error::not_found("run", id))?;
            if row.status.is_ended() || tokio::time::Instant::now() >= deadline {
                return Ok(RunView { row });
            }
            tokio::time::sleep(Duration::from_millis(WAIT_RUN_POLL_INTERVAL_MS)).await;
        }
    }

    /// A run the caller may see: its own runs, or any run for an owner.
    pub async fn run(&self, actor: &Actor, id: Id) -> Result<RunView> {
        let user = person(actor)?;
        let mut tx = self.workspace.store().read().await?;
        let row = tx.get_run(id).await?;
        tx.commit().await?;
        match row {
            Some(row) if row.user_id == user.id || user.role == Role::Owner => Ok(RunView { row }),
            _ => Err(Error::not_found("run", id)),
        }
    }

    /// Waits until the run has ended or `timeout` passed, and returns it as it is then.
    pub async fn wait(&self, actor: &Actor, id: Id, timeout: Duration) -> Result<RunView> {
        self.run(actor, id).await?;
        self.wait_run(id, timeout).await
    }

    /// An installation's runs the caller may see, newest first.
    pub async fn runs(
        &self,
        actor: &Actor,
        installation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> Result<Vec<RunView>> {
        let user = person(actor)?;
        let limit = limit.clamp(1, RUNS_PAGE_MAX);
        let mut tx = self.workspace.store().read().await?;
        let before = match before {
            Some(id) => {
                let run = tx.get_run(id).await?.ok_or_else(|| {
                    Error::Invalid("start_cursor is not a run of this installation".into())
                })?;
                Some((run.created_time, run.id))
            }
            None => None,
        };
        let rows = tx.list_runs(installation_id, before, limit).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.user_id == user.id || user.role == Role::Owner)
            .map(|row| RunView { row })
            .collect())
    }

    /// Cancels a queued or running run. A running run is stopped where it is; nothing it
    /// staged is applied. Returns the run as it is afterwards.
    pub async fn cancel(&self, actor: &Actor, id: Id) -> Result<RunView> {
        let view = self.run(actor, id).await?;
        if !self.executor.cancel(id).await? {
            return Err(Error::Conflict(format!(
                "run {id} already ended with status {}",
                view.row.status
            )));
        }
        self.run(actor, id).await
    }

    /// Usage events of a run, for billing and the CLI.
    pub async fn usage(&self, actor: &Actor, run_id: Id) -> Result<Vec<UsageEvent>> {
        self.run(actor, run_id).await?;
        let mut tx = self.workspace.store().read().await?;
        let usage = tx.usage_of_run(run_id).await?;
        tx.commit().await?;
        Ok(usage.map(|usage| usage.events()).unwrap_or_default())
    }

    // ----- the worker -----------------------------------------------------------------------

    /// One pass of the worker: triggers, schedules, then claims and starts due runs. Returns
    /// how many runs it started.
    pub async fn work(&self) -> Result<usize> {
        self.trigger_pass().await?;
        self.executor.start_due_runs().await
    }

    /// One trigger pass: turns changes and due schedule ticks into runs, and starts the change
    /// runs it may without a claim pass; returns how many runs it made.
    pub async fn trigger_pass(&self) -> Result<usize> {
        Ok(self.dispatcher.pass().await?.enqueued)
    }

    /// Enqueues the schedule ticks due by `now` since the last call (after downtime, those of
    /// the last hour, at most ten per schedule), and returns how many it enqueued. Each tick's
    /// run key is its schedule and time, so a tick enqueued twice (by two nodes, or after a
    /// restart) runs once. The worker calls it with the current time.
    pub async fn enqueue_schedule_ticks(&self, now: i64) -> Result<usize> {
        self.dispatcher.enqueue_schedule_ticks(now).await
    }

    /// Runs the worker until `shutdown` resolves: one loop turns changes and schedule ticks
    /// into queued runs, another claims and starts them. Each waits `idle` when it had nothing
    /// to do; the claim loop is woken early when a run is enqueued or a claimed run ends.
    pub async fn run_worker(
        &self,
        idle: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        // Shutdown is seen between passes, never inside one (a pass may be committing other
        // runs' ends).
        let stopping = AtomicBool::new(false);
        let stop = Notify::new();
        let stopped = || stopping.load(Ordering::SeqCst);
        let pause = || async {
            tokio::select! {
                _ = stop.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        };
        let watch = async {
            shutdown.await;
            stopping.store(true, Ordering::SeqCst);
            stop.notify_waiters();
        };
        let enqueue = async {
            let mut changes = self.workspace.store().watch_changes();
            while !stopped() {
                // A change committed from here on wakes the wait after this pass.
                changes.mark_seen();
                match self.dispatcher.pass().await {
                    // No room here: wait for room (or the next poll).
                    Ok(pass) if pass.no_room => {
                        tokio::select! {
                            _ = self.executor.room_freed() => {}
                            _ = pause() => {}
                        }
                    }
                    // Nothing to do: wait for a change committed by this process, or poll for
                    // other processes' changes and for schedule ticks every `idle`.
                    Ok(pass) if pass.enqueued == 0 => {
                        tokio::select! {
                            _ = changes.changed() => {}
                            _ = pause() => {}
                        }
                    }
                    // The passes wake the claim loop themselves when they queue runs.
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(%error, "integration trigger pass failed");
                        pause().await;
                    }
                }
            }
        };
        let claim = async {
            while !stopped() {
                match self.executor.start_due_runs().await {
                    Ok(started) if started > 0 => continue,
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "integration claim pass failed"),
                }
                tokio::select! {
                    _ = self.executor.woken() => {}
                    _ = pause() => {}
                }
            }
        };
        tokio::join!(watch, enqueue, claim);
    }
}
