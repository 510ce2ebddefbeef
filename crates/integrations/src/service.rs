//! The platform service: register, install, enqueue, execute, trigger.
//!
//! Runs live in the store's durable queue. A worker pass ([`Platform::work`]) turns new
//! change-log events and due schedule ticks into runs (in the same transaction as the trigger
//! cursor, each with a run key, so a trigger runs once), claims runs that are due within the
//! workspace's and each installation's concurrency and hourly limits, and executes them as
//! tasks. A change run that its installation's limits admit and this process has room for is
//! inserted already claimed and started without a claim pass. A run's lease outlasts its wall-clock limit, so a live run never loses its lease; a
//! run whose worker died is claimed again when the lease ends, up to `run_attempts_max`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use access::{Actor, IntegrationActor, Role, UserActor};
use document::Id;
use runtime::{
    Event, InvokeSource, LoadedComponent, Output, RunContext, RunOutcome, RunRequest, Runtime,
    Services, WebhookRequest,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use storage_sql::{
    InstallationRecord, PackageRecord, RunEnd, RunRow, RunStatus, RunUsage, Trigger, UsageEvent,
};
use tokio::sync::{Notify, Semaphore};
use workspace::Workspace;

use crate::host::{StoreKv, StoreSecrets, WorkspaceBridge, uuid};
use crate::manifest::{Manifest, WorkspaceScope};
use crate::record::{
    InstallConfig, RunView, bare_record, ended_status, event_from_json, event_json, new_run,
    record_json, run_row,
};
use crate::{Error, Result, budget, writes};

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
/// Runs listed per page at most.
pub const RUNS_PAGE_MAX: i64 = 100;
/// Random bytes in a webhook URL token.
const WEBHOOK_TOKEN_BYTES: usize = 32;
/// Size of a secret's value.
const SECRET_VALUE_BYTES_MAX: usize = 16 << 10;
/// The most runs per hour an owner may grant an installation.
const GRANTED_RUNS_PER_HOUR_MAX: i64 = 1_000_000;
/// How often [`Platform::wait_run`] looks whether the run has ended, in milliseconds.
const WAIT_RUN_POLL_INTERVAL_MS: u64 = 5;
/// Queued runs a claim pass reads per run it may claim: some may wait behind their
/// installation's limits.
const QUEUED_READ_PER_CLAIM: usize = 2;
/// The lease a claim pass takes on a run it gives up as `lost`, only so that it alone ends it.
const LOST_RUN_LEASE_MS: i64 = 1;
/// Runs this process may hold claimed (waiting for a slot or executing), per execution slot.
/// Claiming ahead of the slots lets one claim pass feed many short runs.
const CLAIMED_PER_SLOT_MAX: usize = 8;
/// Marks a finish that found its run no longer held by this attempt (canceled, taken over).
/// Runs the change dispatcher lets this process hold (started or waiting for a slot), per slot.
const DISPATCHED_PER_SLOT_MAX: usize = 32;

const SUPERSEDED: &str = "the run is no longer held by this attempt";

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
            concurrent_runs_max: 32,
            installation_concurrent_runs_max: 8,
            installation_runs_per_hour_max: 600,
            lease_margin_ms: 30_000,
            run_attempts_max: 3,
            component_bytes_max: 64 << 20,
            manifest_bytes_max: 64 << 10,
        }
    }
}

/// A registered package as the API shows it.
#[derive(Debug, Clone)]
pub struct PackageView {
    pub record: PackageRecord,
    pub manifest: Manifest,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
}

/// What an owner asks for when installing. `None` grants everything the manifest declares.
#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    pub package_id: Id,
    pub workspace: Option<Vec<WorkspaceScope>>,
    pub egress: Option<Vec<String>>,
    pub runs_per_hour_max: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct InstallationView {
    pub record: InstallationRecord,
    pub package: PackageRecord,
    pub manifest: Manifest,
    pub config: InstallConfig,
}

/// The service. Clone it freely; clones share the queue worker's state.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    workspace: Workspace,
    runtime: Runtime,
    limits: PlatformLimits,
    components: Mutex<HashMap<Id, LoadedComponent>>,
    /// Manifests by package id, and bot users by integration id: both never change once
    /// stored, and the worker reads them for every installation on every trigger pass.
    manifests: Mutex<HashMap<Id, Arc<Manifest>>>,
    bot_users: Mutex<HashMap<Id, Id>>,
    slots: Arc<Semaphore>,
    /// Runs executing in this process, to abort on cancel.
    running: Mutex<HashMap<Id, tokio::task::AbortHandle>>,
    /// Wakes the worker's claim loop when a run is enqueued here.
    wake: Notify,
    /// Wakes the worker's trigger loop when room for runs frees up here.
    room: Notify,
    /// Schedule ticks up to this time were enqueued.
    schedules_checked_ms: Mutex<i64>,
    /// Runs claimed by this process that have not ended (waiting for a slot or executing).
    claimed_here: std::sync::atomic::AtomicUsize,
    /// Claimed runs waiting for a slot, by run id.
    waiting: Mutex<HashMap<Id, Waiting>>,
    /// Ends of runs waiting for a group commit, and the lock its committer holds.
    endings: Mutex<Vec<(Ending, tokio::sync::oneshot::Sender<EndResult>)>>,
    committer: tokio::sync::Mutex<()>,
    /// What the last admission read of the installations table found.
    installations: Mutex<Option<Arc<Installations>>>,
    /// The change dispatcher's cursor as this process last read or saved it, so that its look
    /// for pending changes is one statement. Another node may have moved the stored cursor
    /// further: then the look only finds changes already dispatched, and the pass, which reads
    /// the stored cursor, dispatches nothing.
    trigger_cursor: Mutex<Option<storage_sql::ChangeCursor>>,
}

/// A run a claim pass may claim: one whose lease ended (read whole), or a queued one (its id
/// and installation; the claim returns it whole).
enum Candidate {
    Expired(Box<RunRow>),
    Queued((Id, Id)),
}

/// Whether runs may start now, read once per pass in the transaction that claims them: each
/// installation's record and config, its runs holding a lease, and its starts in the last hour.
/// Each admitted run counts against its installation at once, so one pass can't overshoot.
struct Admission {
    installations: Arc<Installations>,
    running: HashMap<Id, i64>,
    started: HashMap<Id, i64>,
}

/// What [`Admission::admit`] decided for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// It may start; counted against its installation.
    Start,
    /// Its installation is at its concurrency or hourly limit: it waits in the queue.
    Wait,
    /// Its installation is gone.
    Unknown,
}

/// Every installation and its parsed config as of one revision of the installations table
/// (`Tx::installations_revision`): passes share it, and read the table again only when the
/// revision moved.
struct Installations {
    revision: i64,
    records: HashMap<Id, Arc<InstallationRecord>>,
    /// Every config that parses; one that doesn't is reported by [`Admission::config`].
    configs: HashMap<Id, Arc<InstallConfig>>,
}

impl Admission {
    async fn read(
        tx: &mut storage_sql::Tx,
        now: i64,
        cache: &Mutex<Option<Arc<Installations>>>,
    ) -> Result<Admission> {
        let revision = tx.installations_revision().await?;
        let cached = cache
            .lock()
            .expect("installations cache lock")
            .clone()
            .filter(|cached| cached.revision == revision);
        let installations = match cached {
            Some(cached) => cached,
            None => {
                let records: HashMap<Id, Arc<InstallationRecord>> = tx
                    .list_installations(true)
                    .await?
                    .into_iter()
                    .map(|record| (record.id, Arc::new(record)))
                    .collect();
                let configs = records
                    .values()
                    .filter_map(|record| {
                        InstallConfig::from_json(&record.config)
                            .ok()
                            .map(|config| (record.id, Arc::new(config)))
                    })
                    .collect();
                let read = Arc::new(Installations {
                    revision,
                    records,
                    configs,
                });
                *cache.lock().expect("installations cache lock") = Some(read.clone());
                read
            }
        };
        let running = tx.running_counts(now).await?.into_iter().collect();
        let counts = tx
            .run_start_counts(budget::hour_start(now) - budget::HOUR_MS, None)
            .await?;
        Ok(Admission {
            installations,
            running,
            started: budget::estimates(&counts, now),
        })
    }

    /// The installation's config; `None` for an installation that is gone, an error for one
    /// whose config doesn't parse.
    fn config(&self, installation_id: Id) -> Result<Option<Arc<InstallConfig>>> {
        if let Some(config) = self.installations.configs.get(&installation_id) {
            return Ok(Some(config.clone()));
        }
        match self.installations.records.get(&installation_id) {
            // Left out of `configs` because it doesn't parse: parsing it again says why.
            Some(installation) => Ok(Some(Arc::new(InstallConfig::from_json(
                &installation.config,
            )?))),
            None => Ok(None),
        }
    }

    fn admit(&mut self, installation_id: Id) -> Result<Admit> {
        let Some(config) = self.config(installation_id)? else {
            return Ok(Admit::Unknown);
        };
        let active = self.running.entry(installation_id).or_default();
        let hour = self.started.entry(installation_id).or_default();
        if *active >= config.concurrent_runs_max || *hour >= config.runs_per_hour_max {
            return Ok(Admit::Wait);
        }
        *active += 1;
        *hour += 1;
        Ok(Admit::Start)
    }
}

/// A claimed run and what its execution needs, read once per claim pass.
struct Claimed {
    run: RunRow,
    /// The claim's lease, in ms since the epoch.
    lease_until: i64,
    installation: Arc<InstallationRecord>,
    manifest: Arc<Manifest>,
    config: Arc<InstallConfig>,
    bot_user_id: Id,
    /// The run's event when the claimer has it parsed already (the change dispatcher builds
    /// one per change); otherwise it is read from `run.event`.
    event: Option<Event>,
}

/// What a trigger pass did.
#[derive(Debug, Default)]
struct TriggerPass {
    /// Runs it made.
    enqueued: usize,
    /// It dispatched nothing because this process holds as many runs as it may.
    no_room: bool,
}

/// How a run ended, for a group commit ([`Platform::end`]).
struct Ending {
    end: RunEnd,
    /// None for a run the guest never ran in.
    usage: Option<RunUsage>,
    denials: Vec<storage_sql::AuditEntry>,
}

/// A claimed run waiting here for a slot: its lease is renewed while it waits.
struct Waiting {
    attempt: i64,
    lease_until: i64,
    /// The run's wall-clock limit, in ms.
    wall_ms: i64,
}

/// Counts a claimed run as held by this process until dropped (ended, or its task aborted by
/// a cancel); the drop that leaves half the claim capacity free wakes the worker to claim more,
/// and any drop below the capacity wakes the change dispatcher.
struct ClaimHold {
    inner: Arc<Inner>,
    run_id: Id,
}

impl ClaimHold {
    fn new(inner: &Arc<Inner>, run_id: Id) -> ClaimHold {
        inner
            .claimed_here
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ClaimHold {
            inner: inner.clone(),
            run_id,
        }
    }
}

impl Drop for ClaimHold {
    fn drop(&mut self) {
        self.inner
            .waiting
            .lock()
            .expect("waiting lock")
            .remove(&self.run_id);
        let held = self
            .inner
            .claimed_here
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            - 1;
        let capacity = self.inner.limits.concurrent_runs_max * CLAIMED_PER_SLOT_MAX;
        if held * 2 <= capacity {
            self.inner.wake.notify_one();
        }
        // The change dispatcher tops up as soon as there is room.
        if held < self.inner.limits.concurrent_runs_max * DISPATCHED_PER_SLOT_MAX {
            self.inner.room.notify_one();
        }
    }
}

type EndResult = std::result::Result<(), String>;

fn now() -> i64 {
    document::time::now_ms()
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

impl Platform {
    pub fn new(workspace: Workspace, runtime: Runtime, limits: PlatformLimits) -> Platform {
        let slots = Arc::new(Semaphore::new(limits.concurrent_runs_max));
        Platform {
            inner: Arc::new(Inner {
                workspace,
                runtime,
                limits,
                components: Mutex::new(HashMap::new()),
                manifests: Mutex::new(HashMap::new()),
                bot_users: Mutex::new(HashMap::new()),
                slots,
                running: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                room: Notify::new(),
                schedules_checked_ms: Mutex::new(now() - SCHEDULE_CATCH_UP_MS),
                claimed_here: std::sync::atomic::AtomicUsize::new(0),
                waiting: Mutex::new(HashMap::new()),
                endings: Mutex::new(Vec::new()),
                committer: tokio::sync::Mutex::new(()),
                installations: Mutex::new(None),
                trigger_cursor: Mutex::new(None),
            }),
        }
    }

    pub fn workspace(&self) -> &Workspace {
        &self.inner.workspace
    }

    // ----- packages -------------------------------------------------------------------------

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
        if manifest_text.len() > self.inner.limits.manifest_bytes_max {
            return Err(Error::Invalid(format!(
                "manifest: larger than {} bytes",
                self.inner.limits.manifest_bytes_max
            )));
        }
        if component.len() > self.inner.limits.component_bytes_max {
            return Err(Error::Invalid(format!(
                "component: larger than {} bytes",
                self.inner.limits.component_bytes_max
            )));
        }
        let manifest = Manifest::parse(manifest_text)?;
        let loaded = self.load_bytes(component).await?;
        // Review: a component may import only what its manifest declares.
        let declared = declared_config(&manifest);
        loaded
            .check_grants(&declared.grants(&manifest)?)
            .map_err(|error| Error::ReviewRefused(error.to_string()))?;
        let digest = hex::encode(Sha256::digest(component));
        let mut tx = self.inner.workspace.store().write().await?;
        let existing = tx
            .find_package(&manifest.integration.name, &manifest.integration.version)
            .await?;
        let record = match existing {
            Some(existing)
                if existing.digest == digest && existing.manifest == manifest.to_json() =>
            {
                existing
            }
            Some(_) => {
                return Err(Error::Conflict(format!(
                    "{} {} is already registered with another component or manifest; bump the version",
                    manifest.integration.name, manifest.integration.version
                )));
            }
            None => {
                let record = PackageRecord {
                    id: Id::new(),
                    name: manifest.integration.name.clone(),
                    version: manifest.integration.version.clone(),
                    manifest: manifest.to_json(),
                    digest,
                    created_by: Some(user.id),
                    created_time: now(),
                };
                tx.insert_package(&record, component).await?;
                record
            }
        };
        tx.commit().await?;
        self.inner
            .components
            .lock()
            .expect("components lock")
            .insert(record.id, loaded.clone());
        Ok(PackageView {
            record,
            manifest,
            imports: imports(&loaded),
        })
    }

    pub async fn packages(&self, actor: &Actor) -> Result<Vec<PackageView>> {
        person(actor)?;
        let mut tx = self.inner.workspace.store().read().await?;
        let records = tx.list_packages().await?;
        tx.commit().await?;
        let mut views = Vec::new();
        for record in records {
            let manifest = Manifest::from_json(&record.manifest)?;
            let loaded = self.component(record.id).await?;
            views.push(PackageView {
                record,
                manifest,
                imports: imports(&loaded),
            });
        }
        Ok(views)
    }

    async fn load_bytes(&self, component: &[u8]) -> Result<LoadedComponent> {
        let runtime = self.inner.runtime.clone();
        let bytes = component.to_vec();
        // Compiling a JS component takes seconds: keep it off the async workers.
        tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .map_err(|error| Error::Internal(error.to_string()))?
            .map_err(|error| Error::ReviewRefused(error.to_string()))
    }

    /// The compiled component of a package, compiled once per process (and cached on disk by
    /// the runtime).
    async fn component(&self, package_id: Id) -> Result<LoadedComponent> {
        if let Some(loaded) = self
            .inner
            .components
            .lock()
            .expect("components lock")
            .get(&package_id)
        {
            return Ok(loaded.clone());
        }
        let mut tx = self.inner.workspace.store().read().await?;
        let bytes = tx.package_component(package_id).await?;
        tx.commit().await?;
        let loaded = self.load_bytes(&bytes).await?;
        self.inner
            .components
            .lock()
            .expect("components lock")
            .insert(package_id, loaded.clone());
        Ok(loaded)
    }

    // ----- installations --------------------------------------------------------------------

    /// Installs a package, or moves an existing installation of the same integration name to
    /// this package with the new grants. Grants must be a subset of the manifest's declarations.
    pub async fn install(
        &self,
        actor: &Actor,
        request: InstallRequest,
    ) -> Result<InstallationView> {
        let user = owner(actor)?;
        let mut tx = self.inner.workspace.store().read().await?;
        let package = tx
            .get_package(request.package_id)
            .await?
            .ok_or_else(|| Error::not_found("package", request.package_id))?;
        tx.commit().await?;
        let manifest = Manifest::from_json(&package.manifest)?;
        let mut config = declared_config(&manifest);
        if let Some(scopes) = request.workspace {
            if let Some(extra) = scopes
                .iter()
                .find(|scope| !config.workspace.contains(scope))
            {
                return Err(Error::Invalid(format!(
                    "workspace scope `{}` is not declared by the manifest",
                    extra.name()
                )));
            }
            config.workspace = scopes;
        }
        if let Some(egress) = request.egress {
            if let Some(extra) = egress.iter().find(|origin| !config.egress.contains(origin)) {
                return Err(Error::Invalid(format!(
                    "egress origin `{extra}` is not declared by the manifest"
                )));
            }
            config.egress = egress;
        }
        if let Some(rate) = request.runs_per_hour_max {
            if !(1..=GRANTED_RUNS_PER_HOUR_MAX).contains(&rate) {
                return Err(Error::Invalid(format!(
                    "runs_per_hour_max should be between 1 and {GRANTED_RUNS_PER_HOUR_MAX}"
                )));
            }
            config.runs_per_hour_max = rate;
        } else {
            config.runs_per_hour_max = self.inner.limits.installation_runs_per_hour_max;
        }
        config.concurrent_runs_max = self.inner.limits.installation_concurrent_runs_max;
        let integration = self
            .inner
            .workspace
            .ensure_integration(
                &manifest.integration.name,
                config.capabilities(),
                Some(user.id),
            )
            .await?;
        self.inner
            .workspace
            .set_integration_capabilities(integration.id, config.capabilities())
            .await?;
        let mut tx = self.inner.workspace.store().write().await?;
        let existing = tx
            .list_installations(true)
            .await?
            .into_iter()
            .find(|installation| installation.integration_id == integration.id);
        let record = match existing {
            Some(mut record) => {
                tx.update_installation(record.id, package.id, &config.to_json(), true)
                    .await?;
                record.package_id = package.id;
                record.config = config.to_json();
                record.active = true;
                record
            }
            None => {
                let record = InstallationRecord {
                    id: Id::new(),
                    package_id: package.id,
                    integration_id: integration.id,
                    installed_by: user.id,
                    config: config.to_json(),
                    active: true,
                    created_time: now(),
                };
                tx.insert_installation(&record).await?;
                record
            }
        };
        tx.commit().await?;
        Ok(InstallationView {
            record,
            package,
            manifest,
            config,
        })
    }

    pub async fn installations(&self, actor: &Actor) -> Result<Vec<InstallationView>> {
        person(actor)?;
        let mut tx = self.inner.workspace.store().read().await?;
        let records = tx.list_installations(false).await?;
        // One read of the packages for the whole list, not one per installation.
        let packages: HashMap<Id, PackageRecord> = tx
            .list_packages()
            .await?
            .into_iter()
            .map(|package| (package.id, package))
            .collect();
        tx.commit().await?;
        let mut views = Vec::with_capacity(records.len());
        for record in records {
            let package = packages
                .get(&record.package_id)
                .cloned()
                .ok_or_else(|| Error::not_found("package", record.package_id))?;
            views.push(InstallationView {
                manifest: Manifest::from_json(&package.manifest)?,
                config: InstallConfig::from_json(&record.config)?,
                record,
                package,
            });
        }
        Ok(views)
    }

    pub async fn installation(&self, actor: &Actor, id: Id) -> Result<InstallationView> {
        person(actor)?;
        let mut tx = self.inner.workspace.store().read().await?;
        let record = tx
            .get_installation(id)
            .await?
            .ok_or_else(|| Error::not_found("installation", id))?;
        let view = installation_view(&mut tx, record).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Sets a secret the manifest declares. Only owners; the value is never shown again.
    pub async fn set_secret(&self, actor: &Actor, id: Id, name: &str, value: &str) -> Result<()> {
        owner(actor)?;
        let view = self.installation(actor, id).await?;
        if !view
            .manifest
            .scopes
            .secrets
            .iter()
            .any(|declared| declared == name)
        {
            return Err(Error::Invalid(format!(
                "secret `{name}` is not declared in the manifest's scopes.secrets"
            )));
        }
        if value.len() > SECRET_VALUE_BYTES_MAX {
            return Err(Error::Invalid(format!(
                "a secret's value is at most {} KiB",
                SECRET_VALUE_BYTES_MAX >> 10
            )));
        }
        let mut tx = self.inner.workspace.store().write().await?;
        tx.secret_set(id, name, value).await?;
        tx.commit().await?;
        Ok(())
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
        let view = self.installation(actor, installation_id).await?;
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

    /// Makes a new webhook URL token for an installation whose manifest declares
    /// `triggers.webhook`, and returns it; the previous token stops working. Only owners. The
    /// store keeps only the token's SHA-256, so it is shown once.
    pub async fn rotate_webhook_token(&self, actor: &Actor, installation_id: Id) -> Result<String> {
        use base64::Engine as _;
        use rand::RngCore as _;
        owner(actor)?;
        let view = self.installation(actor, installation_id).await?;
        if !view.manifest.triggers.webhook {
            return Err(Error::Invalid(format!(
                "{} does not accept webhook events (triggers.webhook = false)",
                view.manifest.integration.name
            )));
        }
        let mut bytes = [0u8; WEBHOOK_TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut tx = self.inner.workspace.store().write().await?;
        tx.set_webhook_token(installation_id, &workspace::hash_token(&token), now())
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Queues a `webhook` run for the installation a webhook URL token names, acting for the
    /// user who installed it. An unknown token, an inactive installation and one that does not
    /// accept webhooks are all `not found`: the URL reveals nothing about installations.
    pub async fn webhook(&self, token: &str, request: WebhookRequest) -> Result<RunView> {
        let not_found = || Error::not_found("webhook", "this URL");
        let mut tx = self.inner.workspace.store().read().await?;
        let installation_id = tx
            .installation_by_webhook_token(&workspace::hash_token(token))
            .await?;
        let record = match installation_id {
            Some(id) => tx.get_installation(id).await?,
            None => None,
        };
        let view = match record {
            Some(record) if record.active => Some(installation_view(&mut tx, record).await?),
            _ => None,
        };
        tx.commit().await?;
        let view = view
            .filter(|view| view.manifest.triggers.webhook)
            .ok_or_else(not_found)?;
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

    /// Waits until a run has ended or `timeout` passed, without an actor (webhook callers have
    /// none; they only learn the run they started).
    pub async fn wait_run(&self, id: Id, timeout: Duration) -> Result<RunView> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut tx = self.inner.workspace.store().read().await?;
            let row = tx.get_run(id).await?;
            tx.commit().await?;
            let row = row.ok_or_else(|| Error::not_found("run", id))?;
            if row.status.is_ended() || tokio::time::Instant::now() >= deadline {
                return Ok(RunView { row });
            }
            tokio::time::sleep(Duration::from_millis(WAIT_RUN_POLL_INTERVAL_MS)).await;
        }
    }

    /// Enqueues a run unless the installation spent its hourly budget, and wakes the worker.
    async fn enqueue_within_budget(&self, view: &InstallationView, run: &RunRow) -> Result<()> {
        let mut tx = self.inner.workspace.store().write().await?;
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
        self.inner.wake.notify_one();
        Ok(())
    }

    /// A run the caller may see: its own runs, or any run for an owner.
    pub async fn run(&self, actor: &Actor, id: Id) -> Result<RunView> {
        let user = person(actor)?;
        let mut tx = self.inner.workspace.store().read().await?;
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
        let mut tx = self.inner.workspace.store().read().await?;
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
        let mut tx = self.inner.workspace.store().write().await?;
        // The record's message names what happened: the run was canceled.
        let record = bare_record(RunStatus::Canceled.as_str()).to_string();
        let canceled = tx.cancel_run(id, &record, now()).await?;
        tx.commit().await?;
        // A run waiting here for a slot never starts; a running one is stopped.
        self.inner.waiting.lock().expect("waiting lock").remove(&id);
        if canceled
            && let Some(handle) = self.inner.running.lock().expect("running lock").remove(&id)
        {
            handle.abort();
        }
        if !canceled {
            return Err(Error::Conflict(format!(
                "run {id} already ended with status {}",
                view.row.status
            )));
        }
        self.run(actor, id).await
    }

    // ----- the worker -----------------------------------------------------------------------

    /// One pass of the worker: triggers, schedules, then claims and starts due runs. Returns
    /// how many runs it started.
    pub async fn work(&self) -> Result<usize> {
        self.trigger_pass().await?;
        self.start_due_runs().await
    }

    /// One trigger pass: turns changes and due schedule ticks into runs, and starts the change
    /// runs it may without a claim pass (see `dispatch_changes`); returns how many runs it made.
    pub async fn trigger_pass(&self) -> Result<usize> {
        Ok(self.trigger_and_tick().await?.enqueued)
    }

    async fn trigger_and_tick(&self) -> Result<TriggerPass> {
        let mut pass = self.dispatch_changes().await?;
        let now = now();
        let checked = *self
            .inner
            .schedules_checked_ms
            .lock()
            .expect("schedules lock");
        if now - checked >= SCHEDULE_PASS_INTERVAL_MS {
            pass.enqueued += self.enqueue_schedule_ticks(now).await?;
        }
        Ok(pass)
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
        let stopping = std::sync::atomic::AtomicBool::new(false);
        let stop = Notify::new();
        let stopped = || stopping.load(std::sync::atomic::Ordering::SeqCst);
        let pause = || async {
            tokio::select! {
                _ = stop.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        };
        let watch = async {
            shutdown.await;
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_waiters();
        };
        let enqueue = async {
            let mut changes = self.inner.workspace.store().watch_changes();
            while !stopped() {
                // A change committed from here on wakes the wait after this pass.
                changes.mark_seen();
                match self.trigger_and_tick().await {
                    // No room here: wait for room (or the next poll).
                    Ok(pass) if pass.no_room => {
                        tokio::select! {
                            _ = self.inner.room.notified() => {}
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
                match self.start_due_runs().await {
                    Ok(started) if started > 0 => continue,
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "integration claim pass failed"),
                }
                tokio::select! {
                    _ = self.inner.wake.notified() => {}
                    _ = pause() => {}
                }
            }
        };
        tokio::join!(watch, enqueue, claim);
    }

    /// A package's manifest, parsed once per process.
    async fn manifest_of(&self, tx: &mut storage_sql::Tx, package_id: Id) -> Result<Arc<Manifest>> {
        if let Some(manifest) = self
            .inner
            .manifests
            .lock()
            .expect("manifests lock")
            .get(&package_id)
        {
            return Ok(manifest.clone());
        }
        let package = tx
            .get_package(package_id)
            .await?
            .ok_or_else(|| Error::not_found("package", package_id))?;
        let manifest = Arc::new(Manifest::from_json(&package.manifest)?);
        self.inner
            .manifests
            .lock()
            .expect("manifests lock")
            .insert(package_id, manifest.clone());
        Ok(manifest)
    }

    /// The bot user an integration acts as, read once per process.
    async fn bot_user_of(
        &self,
        tx: &mut storage_sql::Tx,
        integration_id: Id,
    ) -> Result<Option<Id>> {
        if let Some(bot) = self
            .inner
            .bot_users
            .lock()
            .expect("bot users lock")
            .get(&integration_id)
        {
            return Ok(Some(*bot));
        }
        let Some(integration) = tx.get_integration(integration_id).await? else {
            return Ok(None);
        };
        self.inner
            .bot_users
            .lock()
            .expect("bot users lock")
            .insert(integration_id, integration.bot_user_id);
        Ok(Some(integration.bot_user_id))
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
        let capacity = self.inner.limits.concurrent_runs_max * DISPATCHED_PER_SLOT_MAX;
        let held = self
            .inner
            .claimed_here
            .load(std::sync::atomic::Ordering::SeqCst);
        if held >= capacity {
            return Ok(TriggerPass {
                enqueued: 0,
                no_room: true,
            });
        }
        // Look before taking the writer: an idle worker must not queue behind writers.
        let known = *self
            .inner
            .trigger_cursor
            .lock()
            .expect("trigger cursor lock");
        // Until a pass has read the stored cursor, there may be changes to dispatch.
        let pending = match known {
            Some(cursor) => {
                self.inner
                    .workspace
                    .store()
                    .has_changes_after(cursor)
                    .await?
            }
            None => true,
        };
        if !pending {
            return Ok(TriggerPass::default());
        }
        let mut tx = self.inner.workspace.store().write().await?;
        let cursor = tx.load_cursor(TRIGGER_CONSUMER).await?;
        let changes = tx.read_changes(cursor, TRIGGER_BATCH_EVENTS).await?;
        if changes.is_empty() {
            tx.commit().await?;
            self.remember_trigger_cursor(cursor);
            return Ok(TriggerPass::default());
        }
        let now = now();
        let mut admission = Admission::read(&mut tx, now, &self.inner.installations).await?;
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
            let manifest = self.manifest_of(&mut tx, record.package_id).await?;
            if manifest.triggers.changes.is_empty() {
                continue;
            }
            let bot_user_id = self.bot_user_of(&mut tx, record.integration_id).await?;
            subscribers.push((record, manifest, bot_user_id));
        }
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
                            run.lease_until = now
                                + config.run_limits().wall_ms_max as i64
                                + self.inner.limits.lease_margin_ms;
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
        let inserted: std::collections::HashSet<Id> =
            tx.insert_runs(&runs).await?.into_iter().collect();
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
            self.inner.wake.notify_one();
        }
        self.start_claimed(claimed).await?;
        Ok(TriggerPass {
            enqueued: inserted.len(),
            no_room: false,
        })
    }

    /// Remembers the dispatcher's cursor as stored by a committed transaction.
    fn remember_trigger_cursor(&self, cursor: storage_sql::ChangeCursor) {
        *self
            .inner
            .trigger_cursor
            .lock()
            .expect("trigger cursor lock") = Some(cursor);
    }

    /// Enqueues the schedule ticks due by `now` since the last call (after downtime, those of
    /// the last hour, at most ten per schedule), and returns how many it enqueued. Each tick's
    /// run key is its schedule and time, so a tick enqueued twice (by two nodes, or after a
    /// restart) runs once. The worker calls it with the current time.
    pub async fn enqueue_schedule_ticks(&self, now: i64) -> Result<usize> {
        let since = *self
            .inner
            .schedules_checked_ms
            .lock()
            .expect("schedules lock");
        let mut tx = self.inner.workspace.store().write().await?;
        let mut enqueued = 0;
        for record in tx.list_installations(false).await? {
            let manifest = self.manifest_of(&mut tx, record.package_id).await?;
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
            self.inner.wake.notify_one();
        }
        *self
            .inner
            .schedules_checked_ms
            .lock()
            .expect("schedules lock") = now;
        Ok(enqueued)
    }

    /// Claims due runs within the concurrency and rate limits, decides in one transaction
    /// which change runs may start (their actor must read the changed object), and starts
    /// each as a task. Everything a run needs from the store is read here, once per pass.
    async fn start_due_runs(&self) -> Result<usize> {
        self.renew_waiting_leases().await?;
        // Claim ahead of the slots, but only once half of what this process holds has ended,
        // so that each pass claims many runs rather than one per run that ends.
        let capacity = self.inner.limits.concurrent_runs_max * CLAIMED_PER_SLOT_MAX;
        let held = self
            .inner
            .claimed_here
            .load(std::sync::atomic::Ordering::SeqCst);
        if held * 2 > capacity {
            return Ok(0);
        }
        let free = capacity - held;
        let now = now();
        if !self.inner.workspace.store().runs_due(now).await? {
            return Ok(0);
        }
        let mut tx = self.inner.workspace.store().write().await?;
        let expired = tx.expired_runs(now, free as i64).await?;
        let queued = tx
            .queued_run_heads((free * QUEUED_READ_PER_CLAIM) as i64)
            .await?;
        if expired.is_empty() && queued.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let mut admission = Admission::read(&mut tx, now, &self.inner.installations).await?;
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
                Candidate::Expired(run) if run.attempts >= self.inner.limits.run_attempts_max => {
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
        let lease_of = |installation_id: Id| {
            now + configs[&installation_id].run_limits().wall_ms_max as i64
                + self.inner.limits.lease_margin_ms
        };
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
            let manifest = self.manifest_of(&mut tx, installation.package_id).await?;
            let bot_user_id = self
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
        let margin = self.inner.limits.lease_margin_ms;
        let due: Vec<(Id, i64, i64)> = self
            .inner
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
        let mut tx = self.inner.workspace.store().write().await?;
        let mut renewed = Vec::with_capacity(due.len());
        for (id, attempt, lease_until) in due {
            renewed.push((
                id,
                lease_until,
                tx.extend_lease(id, attempt, lease_until).await?,
            ));
        }
        tx.commit().await?;
        let mut waiting = self.inner.waiting.lock().expect("waiting lock");
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
    async fn start_claimed(&self, claimed: Vec<Claimed>) -> Result<()> {
        let workspace = &self.inner.workspace;
        let mut users: HashMap<Id, UserActor> = HashMap::new();
        let mut runs = Vec::with_capacity(claimed.len());
        // Held from here: a run this pass ends at once is released as it ends.
        let claimed: Vec<(Claimed, ClaimHold)> = claimed
            .into_iter()
            .map(|claimed| {
                let hold = ClaimHold::new(&self.inner, claimed.run.id);
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
                        self.end_bare(
                            &claimed.run,
                            RunStatus::Error,
                            "the run's user is not a person",
                        )
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
        let unreadable: std::collections::HashSet<usize> = checks
            .iter()
            .zip(readable)
            .filter(|(_, readable)| !readable)
            .map(|((index, _, _), _)| *index)
            .collect();
        let mut ready = Vec::with_capacity(runs.len());
        for (index, (claimed, hold, actor, event)) in runs.into_iter().enumerate() {
            if !claimed.installation.active {
                self.end_bare(
                    &claimed.run,
                    RunStatus::Error,
                    "the installation is not active",
                )
                .await?;
                continue;
            }
            if unreadable.contains(&index) {
                self.end_bare(
                    &claimed.run,
                    RunStatus::Skipped,
                    "the run's actor can't read the changed object",
                )
                .await?;
                continue;
            }
            self.inner.waiting.lock().expect("waiting lock").insert(
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
        let platform = self.clone();
        tokio::spawn(async move {
            for (mut claimed, hold, actor, event) in ready {
                let Ok(permit) = platform.inner.slots.clone().acquire_owned().await else {
                    return;
                };
                let run_id = claimed.run.id;
                // Gone when the run was canceled, or a renewal found it taken over, meanwhile.
                let Some(waited) = platform
                    .inner
                    .waiting
                    .lock()
                    .expect("waiting lock")
                    .remove(&run_id)
                else {
                    continue;
                };
                claimed.lease_until = waited.lease_until;
                let runner = platform.clone();
                // The task's handle goes in before the task can remove it: the task's last step
                // waits for this lock.
                let mut running = platform.inner.running.lock().expect("running lock");
                let task = tokio::spawn(async move {
                    let _hold = hold;
                    if let Err(error) = runner.execute(claimed, actor, event, permit).await {
                        tracing::error!(%error, run = %run_id, "run failed outside the guest");
                    }
                    runner
                        .inner
                        .running
                        .lock()
                        .expect("running lock")
                        .remove(&run_id);
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
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<()> {
        let Claimed {
            run,
            lease_until,
            installation,
            manifest,
            config,
            ..
        } = claimed;
        let workspace = &self.inner.workspace;
        let started = now();
        let wall_ms = config.run_limits().wall_ms_max as i64;
        if started + wall_ms > lease_until {
            // It waited for a slot long enough that its lease could end mid-run: extend it,
            // or leave the run to whoever took it over.
            let mut tx = workspace.store().write().await?;
            let held = tx
                .extend_lease(
                    run.id,
                    run.attempts,
                    started + wall_ms + self.inner.limits.lease_margin_ms,
                )
                .await?;
            tx.commit().await?;
            if !held {
                return Ok(());
            }
        }
        let component = match self.component(installation.package_id).await {
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
        let outcome = self.inner.runtime.run(&component, request).await;
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

    /// Ends a run the guest never ran in.
    async fn end_bare(&self, run: &RunRow, status: RunStatus, message: &str) -> Result<()> {
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
        let (sender, mut receiver) = tokio::sync::oneshot::channel();
        self.inner
            .endings
            .lock()
            .expect("endings lock")
            .push((ending, sender));
        let _committer = self.inner.committer.lock().await;
        if let Ok(result) = receiver.try_recv() {
            return result.map_err(Error::Internal);
        }
        let batch = std::mem::take(&mut *self.inner.endings.lock().expect("endings lock"));
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
        let mut tx = self.inner.workspace.store().write().await?;
        let ends: Vec<&RunEnd> = endings.iter().map(|ending| &ending.end).collect();
        // Only the attempt that holds the run ends it; a canceled or taken-over run keeps
        // what its holder wrote, and its usage and denials are not counted twice.
        // Matched by attempt too: two attempts of one run may end in one batch (a lease taken
        // over while its holder was still running), and only the holder's usage counts.
        let ended: std::collections::HashSet<(Id, i64)> =
            tx.finish_runs(&ends).await?.into_iter().collect();
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
    async fn finish(
        &self,
        run: &RunRow,
        started: i64,
        actor: &Actor,
        integration_id: Id,
        outcome: RunOutcome,
    ) -> Result<()> {
        let time = now();
        let usage = run_usage(&outcome, run, time);
        let denials: Vec<storage_sql::AuditEntry> = outcome
            .record
            .denials
            .iter()
            .map(|denial| storage_sql::AuditEntry {
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
            let workspace = &self.inner.workspace;
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

    /// Usage events of a run, for billing and the CLI.
    pub async fn usage(&self, actor: &Actor, run_id: Id) -> Result<Vec<UsageEvent>> {
        self.run(actor, run_id).await?;
        let mut tx = self.inner.workspace.store().read().await?;
        let usage = tx.usage_of_run(run_id).await?;
        tx.commit().await?;
        Ok(usage.map(|usage| usage.events()).unwrap_or_default())
    }
}

/// Everything the manifest declares, granted: the ceiling of an installation's config.
fn declared_config(manifest: &Manifest) -> InstallConfig {
    InstallConfig {
        workspace: manifest.scopes.workspace.clone(),
        kv: manifest.scopes.kv,
        secrets: manifest.scopes.secrets.clone(),
        models: manifest.scopes.models,
        vector_search: manifest.scopes.vector_search,
        egress: manifest.egress.allow.clone(),
        limits: manifest.limits.clone(),
        runs_per_hour_max: PlatformLimits::default().installation_runs_per_hour_max,
        concurrent_runs_max: PlatformLimits::default().installation_concurrent_runs_max,
    }
}

fn imports(loaded: &LoadedComponent) -> Vec<String> {
    loaded
        .capabilities()
        .iter()
        .map(|capability| capability.interface().to_string())
        .collect()
}

async fn installation_view(
    tx: &mut storage_sql::Tx,
    record: InstallationRecord,
) -> Result<InstallationView> {
    let package = tx
        .get_package(record.package_id)
        .await?
        .ok_or_else(|| Error::not_found("package", record.package_id))?;
    let manifest = Manifest::from_json(&package.manifest)?;
    let config = InstallConfig::from_json(&record.config)?;
    Ok(InstallationView {
        record,
        package,
        manifest,
        config,
    })
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
