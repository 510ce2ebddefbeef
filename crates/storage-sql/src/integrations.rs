//! Integrations: packages, installations, the durable run queue and run records,
//! per-installation key-value data and secrets, and usage events.
//!
//! The run queue is claimed with a lease (`lease_until`): a worker that dies mid-run leaves the
//! run to be claimed again once the lease ends. A claim bumps `attempts`, and a run is finished
//! only by the attempt that holds it (`WHERE status = 'running' AND attempts = $n`), so a run
//! whose lease was taken over, or that was canceled, can't also apply its writes. Triggers that
//! may be delivered twice carry a `run_key`, unique per installation, so they enqueue once.

use document::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Dialect, Error, Result, Tx, parse_id};

/// A registered integration version: its manifest (as JSON) and its component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    pub id: Id,
    pub name: String,
    pub version: String,
    /// The manifest, normalised to JSON by the integrations service.
    pub manifest: String,
    /// SHA-256 of the component, hex.
    pub digest: String,
    pub created_by: Option<Id>,
    pub created_time: i64,
}

/// A package installed into the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationRecord {
    pub id: Id,
    pub package_id: Id,
    /// The integration (bot user, capabilities, page grants) the installation acts as.
    pub integration_id: Id,
    /// The user whose access schedule, change and webhook runs use.
    pub installed_by: Id,
    /// What the admin granted (scopes, egress, limits), as JSON owned by the service.
    pub config: String,
    pub active: bool,
    pub created_time: i64,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Queued,
    Running,
    /// Ended; the status code is in the record (`ok`, `error`, `timeout`, ...).
    Finished,
    Canceled,
}

/// A run's status as stored (`integration_runs.status`): waiting, held by an attempt, canceled,
/// or how it ended. The ended statuses name the guest's outcome as the runtime reports it, and
/// the platform's own ends (`lost`, `skipped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Waiting in the queue to be claimed.
    Queued,
    /// Claimed under a lease by the attempt `attempts` names.
    Running,
    Canceled,
    Ok,
    Error,
    Trap,
    FuelExhausted,
    MemoryLimit,
    Timeout,
    HostCallLimit,
    OutputLimit,
    /// Its worker kept dying; given up after the attempts allowed.
    Lost,
    /// A change run whose actor can't read the changed object.
    Skipped,
}

impl RunStatus {
    /// Every status, each stored as its [`RunStatus::as_str`].
    pub const ALL: [RunStatus; 13] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Canceled,
        RunStatus::Ok,
        RunStatus::Error,
        RunStatus::Trap,
        RunStatus::FuelExhausted,
        RunStatus::MemoryLimit,
        RunStatus::Timeout,
        RunStatus::HostCallLimit,
        RunStatus::OutputLimit,
        RunStatus::Lost,
        RunStatus::Skipped,
    ];

    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Canceled => "canceled",
            RunStatus::Ok => "ok",
            RunStatus::Error => "error",
            RunStatus::Trap => "trap",
            RunStatus::FuelExhausted => "fuel_exhausted",
            RunStatus::MemoryLimit => "memory_limit",
            RunStatus::Timeout => "timeout",
            RunStatus::HostCallLimit => "host_call_limit",
            RunStatus::OutputLimit => "output_limit",
            RunStatus::Lost => "lost",
            RunStatus::Skipped => "skipped",
        }
    }

    /// The status stored as `text`; anything else is a corrupt record.
    pub fn parse(text: &str) -> Result<RunStatus> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| Error::Corrupt(format!("run status `{text}`")))
    }

    /// Whether the run has ended (neither waiting nor held): nothing will change it again.
    pub fn is_ended(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What made a run (`integration_runs.trigger_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    Invoke,
    Schedule,
    Change,
    Webhook,
}

impl Trigger {
    /// Every trigger, each stored as its [`Trigger::as_str`].
    pub const ALL: [Trigger; 4] = [
        Trigger::Invoke,
        Trigger::Schedule,
        Trigger::Change,
        Trigger::Webhook,
    ];

    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::Invoke => "invoke",
            Trigger::Schedule => "schedule",
            Trigger::Change => "change",
            Trigger::Webhook => "webhook",
        }
    }

    /// The trigger stored as `text`; anything else is a corrupt record.
    pub fn parse(text: &str) -> Result<Trigger> {
        Trigger::ALL
            .into_iter()
            .find(|trigger| trigger.as_str() == text)
            .ok_or_else(|| Error::Corrupt(format!("run trigger `{text}`")))
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one attempt of a run ended, for [`Tx::finish_runs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    pub id: Id,
    /// The attempt that holds the run; any other attempt's end is refused.
    pub attempt: i64,
    pub status: RunStatus,
    pub record: String,
    pub output: Option<String>,
    /// When the guest started, in ms; `None` keeps the claim's time (a run ended unstarted).
    pub started_time: Option<i64>,
    pub finished_time: i64,
}

/// One run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub id: Id,
    pub installation_id: Id,
    pub run_key: Option<String>,
    pub trigger: Trigger,
    /// The event as JSON owned by the service.
    pub event: String,
    /// The user the run acts for.
    pub user_id: Id,
    pub status: RunStatus,
    pub attempts: i64,
    pub lease_until: i64,
    pub created_time: i64,
    pub started_time: Option<i64>,
    pub finished_time: Option<i64>,
    /// The run record as JSON, once finished.
    pub record: Option<String>,
    /// The output as JSON, once finished `ok`.
    pub output: Option<String>,
}

impl RunRow {
    pub fn state(&self) -> RunState {
        match self.status {
            RunStatus::Queued => RunState::Queued,
            RunStatus::Running => RunState::Running,
            RunStatus::Canceled => RunState::Canceled,
            _ => RunState::Finished,
        }
    }
}

/// What one run used, for billing to price: one row per run that ran (`run_usage`). Fuel is a
/// limit, not a price (it differs about 430x between a Rust and a JavaScript guest for the same
/// work); billing prices CPU time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUsage {
    pub run_id: Id,
    pub installation_id: Id,
    pub time: i64,
    pub cpu_us: i64,
    pub fuel: i64,
    pub memory_byte_seconds: i64,
    pub host_calls: i64,
    pub outbound_requests: i64,
}

impl RunUsage {
    /// The run's usage as one event per meter, in a fixed order (the API's shape).
    pub fn events(&self) -> Vec<UsageEvent> {
        [
            ("cpu", self.cpu_us, "us"),
            ("fuel", self.fuel, "instructions"),
            ("memory", self.memory_byte_seconds, "byte_seconds"),
            ("host_calls", self.host_calls, "calls"),
            ("outbound_requests", self.outbound_requests, "requests"),
        ]
        .into_iter()
        .map(|(kind, quantity, unit)| UsageEvent {
            run_id: self.run_id,
            installation_id: self.installation_id,
            kind: kind.to_string(),
            quantity,
            unit: unit.to_string(),
            time: self.time,
        })
        .collect()
    }
}

/// One meter of a run's usage ([`RunUsage::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub run_id: Id,
    pub installation_id: Id,
    /// `cpu`, `fuel`, `memory`, `host_calls`, `outbound_requests`.
    pub kind: String,
    pub quantity: i64,
    /// `us`, `instructions`, `byte_seconds`, `calls`, `requests`.
    pub unit: String,
    pub time: i64,
}

const PACKAGE_COLUMNS: &str = "id, name, version, manifest, digest, created_by, created_time";
const INSTALLATION_COLUMNS: &str =
    "id, package_id, integration_id, installed_by, config, active, created_time";
/// Columns in [`RUN_COLUMNS`].
const RUN_COLUMN_COUNT: usize = 14;
/// Runs one INSERT statement carries (14 parameters each; SQLite allows 32,766).
pub const RUNS_PER_STATEMENT_MAX: usize = 64;
/// Ids one `IN (...)` list carries.
const IDS_PER_STATEMENT_MAX: usize = 500;
/// Installations one run-start upsert carries ([`RUN_START_COUNT_COLUMN_COUNT`] parameters each).
const RUN_START_COUNTS_PER_STATEMENT_MAX: usize = 256;
/// Columns of one run-start count: installation, hour, starts.
const RUN_START_COUNT_COLUMN_COUNT: usize = 3;
/// Run ends one UPDATE statement carries ([`RUN_END_COLUMN_COUNT`] parameters each).
const RUN_ENDS_PER_STATEMENT_MAX: usize = 64;
/// Columns of one run end's VALUES row: id, attempt, held status, status, record, output,
/// started and finished time.
const RUN_END_COLUMN_COUNT: usize = 8;
/// Usage rows one INSERT statement carries ([`USAGE_COLUMN_COUNT`] parameters each).
const USAGE_ROWS_PER_STATEMENT_MAX: usize = 128;
/// Columns of one `run_usage` row.
const USAGE_COLUMN_COUNT: usize = 8;
/// The savepoint around a batch written without `RETURNING`, undone when some row of it was
/// not written.
const WITHOUT_RETURNING: &str = "without_returning";
const RUN_COLUMNS: &str = "id, installation_id, run_key, trigger_kind, event, user_id, status, attempts, lease_until, \
     created_time, started_time, finished_time, record, output";

/// The `n`th bind parameter (from 1) of a long statement whose parameters appear in order:
/// `$n` on PostgreSQL, a bare `?` on SQLite. SQLite finds a numbered parameter's name by a
/// linear scan and the driver asks for every one, so `$n` costs time quadratic in the count
/// (measured: `sqlite3_bind_parameter_name` took 6% of the worker's CPU with 900-parameter
/// INSERTs); a bare `?` has no name to find.
fn param(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => "?".to_string(),
        Dialect::Postgres => format!("${n}"),
    }
}

/// `status` as an SQL literal. A query on queued or running runs names the status as a literal,
/// not a parameter, so that the planner can prove the partial index of those runs usable
/// (migration 7).
fn literal(status: RunStatus) -> String {
    format!("'{}'", status.as_str())
}

/// A query over sqlx's `Any` driver, as [`ReportedWrite::bind`] extends it.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A row of a batch written by [`Tx::write_reported`], which learns which rows were written
/// without `RETURNING` when all were.
trait ReportedWrite: Sync {
    /// What identifies a written row to the caller.
    type Key: Send;
    /// Rows one statement carries.
    const PER_STATEMENT: usize;
    /// The statement for `rows` rows; with `returning`, it returns the key of each it wrote.
    fn sql(dialect: Dialect, rows: usize, returning: bool) -> String;
    fn bind<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q>;
    fn key(&self) -> Self::Key;
    fn decode(row: &AnyRow) -> Result<Self::Key>;
}

/// A new run, unless its run key is taken.
impl ReportedWrite for RunRow {
    type Key = Id;
    const PER_STATEMENT: usize = RUNS_PER_STATEMENT_MAX;

    fn sql(dialect: Dialect, rows: usize, returning: bool) -> String {
        let values = values_placeholders(dialect, rows, RUN_COLUMN_COUNT);
        format!(
            "INSERT INTO integration_runs ({RUN_COLUMNS}) VALUES {values} \
             ON CONFLICT (run_key, installation_id) DO NOTHING{}",
            if returning { " RETURNING id" } else { "" }
        )
    }

    fn bind<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.id.to_string())
            .bind(self.installation_id.to_string())
            .bind(self.run_key.clone())
            .bind(self.trigger.as_str())
            .bind(self.event.clone())
            .bind(self.user_id.to_string())
            .bind(self.status.as_str())
            .bind(self.attempts)
            .bind(self.lease_until)
            .bind(self.created_time)
            .bind(self.started_time)
            .bind(self.finished_time)
            .bind(self.record.clone())
            .bind(self.output.clone())
    }

    fn key(&self) -> Id {
        self.id
    }

    fn decode(row: &AnyRow) -> Result<Id> {
        parse_id(&row.try_get::<String, _>(0)?)
    }
}

/// A run's end, written only while the attempt it names holds the run.
impl ReportedWrite for &RunEnd {
    type Key = (Id, i64);
    const PER_STATEMENT: usize = RUN_ENDS_PER_STATEMENT_MAX;

    fn sql(dialect: Dialect, rows: usize, returning: bool) -> String {
        // One UPDATE joined to a VALUES list: SQLite (3.33+) and PostgreSQL both take
        // `WITH ... UPDATE ... FROM`. The status a held run has ('running') comes in the list
        // (`held`), not as a literal: with the literal, PostgreSQL proved the partial index of
        // running runs usable and scanned it whole for each batch, over the entries every ended
        // run leaves there until a vacuum (8 ms a batch of 64 at 10,000 runs a second, the
        // worker's largest cost). Planned with the table's size (see `write_batch`), each run
        // is found by its primary key.
        let values = values_placeholders(dialect, rows, RUN_END_COLUMN_COUNT);
        format!(
            "WITH ends (id, attempt, held, status, record, output, started_time, finished_time) AS (VALUES {values}) \
             UPDATE integration_runs SET status = ends.status, record = ends.record, output = ends.output, \
             started_time = COALESCE(ends.started_time, integration_runs.started_time), finished_time = ends.finished_time \
             FROM ends WHERE integration_runs.id = ends.id AND integration_runs.status = ends.held \
             AND integration_runs.attempts = ends.attempt{}",
            if returning {
                " RETURNING integration_runs.id, integration_runs.attempts"
            } else {
                ""
            }
        )
    }

    fn bind<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.id.to_string())
            .bind(self.attempt)
            .bind(RunStatus::Running.as_str())
            .bind(self.status.as_str())
            .bind(self.record.clone())
            .bind(self.output.clone())
            .bind(self.started_time)
            .bind(self.finished_time)
    }

    fn key(&self) -> (Id, i64) {
        (self.id, self.attempt)
    }

    fn decode(row: &AnyRow) -> Result<(Id, i64)> {
        Ok((parse_id(&row.try_get::<String, _>(0)?)?, row.try_get(1)?))
    }
}

/// `($1, $2), ($3, $4)` (PostgreSQL) or `(?, ?), (?, ?)` (SQLite) for 2 rows of 2 columns: the
/// VALUES of a multi-row statement, its only parameters.
fn values_placeholders(dialect: Dialect, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let params = (1..=columns)
                .map(|column| param(dialect, row * columns + column))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({params})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn id_column(row: &AnyRow, column: &str) -> Result<Id> {
    parse_id(&row.try_get::<String, _>(column)?)
}

fn decode_package(row: &AnyRow) -> Result<PackageRecord> {
    let created_by: Option<String> = row.try_get("created_by")?;
    Ok(PackageRecord {
        id: id_column(row, "id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        manifest: row.try_get("manifest")?,
        digest: row.try_get("digest")?,
        created_by: created_by.as_deref().map(parse_id).transpose()?,
        created_time: row.try_get("created_time")?,
    })
}

fn decode_installation(row: &AnyRow) -> Result<InstallationRecord> {
    Ok(InstallationRecord {
        id: id_column(row, "id")?,
        package_id: id_column(row, "package_id")?,
        integration_id: id_column(row, "integration_id")?,
        installed_by: id_column(row, "installed_by")?,
        config: row.try_get("config")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_time: row.try_get("created_time")?,
    })
}

fn decode_run(row: &AnyRow) -> Result<RunRow> {
    Ok(RunRow {
        id: id_column(row, "id")?,
        installation_id: id_column(row, "installation_id")?,
        run_key: row.try_get("run_key")?,
        trigger: Trigger::parse(&row.try_get::<String, _>("trigger_kind")?)?,
        event: row.try_get("event")?,
        user_id: id_column(row, "user_id")?,
        status: RunStatus::parse(&row.try_get::<String, _>("status")?)?,
        attempts: row.try_get("attempts")?,
        lease_until: row.try_get("lease_until")?,
        created_time: row.try_get("created_time")?,
        started_time: row.try_get("started_time")?,
        finished_time: row.try_get("finished_time")?,
        record: row.try_get("record")?,
        output: row.try_get("output")?,
    })
}

impl crate::Store {
    /// Whether a claim pass would find anything to claim: a queued run, or a running one whose
    /// lease ended by `now`. One statement on a reader, outside any transaction, reading only
    /// the first entry of each partial queue index: the claim pass asks it before taking the
    /// writer, and most passes at a high run rate find nothing (the change dispatcher starts
    /// its runs itself), so it replaces a transaction of two row reads (four statements).
    pub async fn runs_due(&self, now: i64) -> Result<bool> {
        let (queued, running) = (literal(RunStatus::Queued), literal(RunStatus::Running));
        let row = sqlx::query(&format!(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM integration_runs WHERE status = {queued} LIMIT 1) queued) \
             + (SELECT COUNT(*) FROM (SELECT 1 FROM integration_runs WHERE status = {running} AND lease_until <= $1 LIMIT 1) expired)",
        ))
        .bind(now)
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }
}

impl Tx {
    pub async fn insert_package(
        &mut self,
        package: &PackageRecord,
        component: &[u8],
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO integration_packages ({PACKAGE_COLUMNS}, component) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(package.id.to_string())
        .bind(package.name.clone())
        .bind(package.version.clone())
        .bind(package.manifest.clone())
        .bind(package.digest.clone())
        .bind(package.created_by.map(|id| id.to_string()))
        .bind(package.created_time)
        .bind(component.to_vec())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_package(&mut self, id: Id) -> Result<Option<PackageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM integration_packages WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_package).transpose()
    }

    pub async fn find_package(
        &mut self,
        name: &str,
        version: &str,
    ) -> Result<Option<PackageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM integration_packages WHERE name = $1 AND version = $2"
        ))
        .bind(name.to_string())
        .bind(version.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_package).transpose()
    }

    /// Every registered package, by name then registration time.
    pub async fn list_packages(&mut self) -> Result<Vec<PackageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM integration_packages ORDER BY name, created_time"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(decode_package).collect()
    }

    pub async fn package_component(&mut self, id: Id) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT component FROM integration_packages WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("package {id} has no component")))?;
        Ok(row.try_get(0)?)
    }

    pub async fn insert_installation(&mut self, installation: &InstallationRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO installations ({INSTALLATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(installation.id.to_string())
        .bind(installation.package_id.to_string())
        .bind(installation.integration_id.to_string())
        .bind(installation.installed_by.to_string())
        .bind(installation.config.clone())
        .bind(installation.active as i64)
        .bind(installation.created_time)
        .execute(&mut *self.tx)
        .await?;
        self.bump_installations_revision().await
    }

    /// Changes whenever an installation is added or changed (in the same transaction), so a
    /// cache of [`Tx::list_installations`] can tell when to read them again.
    pub async fn installations_revision(&mut self) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM revisions WHERE name = 'installations'")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn bump_installations_revision(&mut self) -> Result<()> {
        sqlx::query("UPDATE revisions SET value = value + 1 WHERE name = 'installations'")
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn get_installation(&mut self, id: Id) -> Result<Option<InstallationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_installation).transpose()
    }

    /// Installations, oldest first; only active ones unless `all`.
    pub async fn list_installations(&mut self, all: bool) -> Result<Vec<InstallationRecord>> {
        let filter = if all { "" } else { " WHERE active = 1" };
        let rows = sqlx::query(&format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations{filter} ORDER BY created_time, id"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(decode_installation).collect()
    }

    pub async fn update_installation(
        &mut self,
        id: Id,
        package_id: Id,
        config: &str,
        active: bool,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE installations SET package_id = $1, config = $2, active = $3 WHERE id = $4",
        )
        .bind(package_id.to_string())
        .bind(config.to_string())
        .bind(active as i64)
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        self.bump_installations_revision().await?;
        Ok(result.rows_affected() > 0)
    }

    /// Enqueues a run. With a `run_key` the installation already used, nothing is enqueued and
    /// `false` is returned: a trigger delivered twice runs once.
    pub async fn enqueue_run(&mut self, run: &RunRow) -> Result<bool> {
        Ok(!self
            .insert_runs(std::slice::from_ref(run))
            .await?
            .is_empty())
    }

    /// Inserts runs as they are given (queued, or already claimed by the caller, which then
    /// holds their first attempt), [`RUNS_PER_STATEMENT_MAX`] to a statement. A run whose
    /// `run_key` its installation already used is skipped. Returns the ids of the runs it
    /// inserted, so a caller starts only runs that no one else (another node, or a process
    /// before a restart) inserted first.
    pub async fn insert_runs(&mut self, runs: &[RunRow]) -> Result<Vec<Id>> {
        self.write_reported(runs).await
    }

    /// Writes `items` in statements of [`ReportedWrite::PER_STATEMENT`] and returns the key of
    /// each row written. The usual case, every row written, goes without `RETURNING`: sqlx
    /// hands each returned row across threads one by one (on SQLite, a wakeup of the async side
    /// per row; measured in docs/benchmarks.md). When some row was not written, the batch is
    /// undone and written again, returning the keys.
    async fn write_reported<T: ReportedWrite>(&mut self, items: &[T]) -> Result<Vec<T::Key>> {
        if items.len() > 1 {
            self.savepoint(WITHOUT_RETURNING).await?;
            let mut written = 0;
            for batch in items.chunks(T::PER_STATEMENT) {
                written += self.write_batch(batch, false).await?.0;
            }
            if written == items.len() as u64 {
                self.release(WITHOUT_RETURNING).await?;
                return Ok(items.iter().map(ReportedWrite::key).collect());
            }
            self.roll_back_to(WITHOUT_RETURNING).await?;
        }
        let mut keys = Vec::with_capacity(items.len());
        for batch in items.chunks(T::PER_STATEMENT) {
            keys.extend(self.write_batch(batch, true).await?.1);
        }
        Ok(keys)
    }

    /// One statement: how many rows it wrote, and with `returning` their keys.
    async fn write_batch<T: ReportedWrite>(
        &mut self,
        batch: &[T],
        returning: bool,
    ) -> Result<(u64, Vec<T::Key>)> {
        let sql = T::sql(self.dialect, batch.len(), returning);
        // On PostgreSQL a batch is planned each time, with its values and the table's size now,
        // not from a prepared statement's cached generic plan: that plan was made while the
        // table was small (every store starts empty), and it kept scanning the whole table
        // for each batch long after it had grown (a hash join over a sequential scan, 15-40 ms
        // a batch of 64 ends at 200,000 runs, against about 2 ms by primary key). SQLite plans
        // without statistics, so its cached statement stays right.
        let mut query = sqlx::query(&sql).persistent(self.dialect == Dialect::Sqlite);
        for item in batch {
            query = item.bind(query);
        }
        if !returning {
            return Ok((
                query.execute(&mut *self.tx).await?.rows_affected(),
                Vec::new(),
            ));
        }
        let keys = query
            .fetch_all(&mut *self.tx)
            .await?
            .iter()
            .map(T::decode)
            .collect::<Result<Vec<_>>>()?;
        Ok((keys.len() as u64, keys))
    }

    async fn savepoint(&mut self, name: &str) -> Result<()> {
        sqlx::query(&format!("SAVEPOINT {name}"))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn release(&mut self, name: &str) -> Result<()> {
        sqlx::query(&format!("RELEASE SAVEPOINT {name}"))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Undoes what was written since the savepoint, and ends it.
    async fn roll_back_to(&mut self, name: &str) -> Result<()> {
        sqlx::query(&format!("ROLLBACK TO SAVEPOINT {name}"))
            .execute(&mut *self.tx)
            .await?;
        self.release(name).await
    }

    /// Running runs whose lease ended by `now` (their worker died), oldest lease first.
    pub async fn expired_runs(&mut self, now: i64, limit: i64) -> Result<Vec<RunRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM integration_runs \
             WHERE status = {} AND lease_until <= $1 \
             ORDER BY lease_until, id LIMIT $2{}",
            literal(RunStatus::Running),
            self.skip_locked()
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(decode_run).collect()
    }

    /// The oldest queued runs' ids and installations, read from the `integration_runs_queued`
    /// index; [`Tx::claim_queued_runs`] returns those it claims whole.
    pub async fn queued_run_heads(&mut self, limit: i64) -> Result<Vec<(Id, Id)>> {
        let rows = sqlx::query(&format!(
            "SELECT id, installation_id FROM integration_runs WHERE status = {} \
             ORDER BY created_time, id LIMIT $1{}",
            literal(RunStatus::Queued),
            self.skip_locked()
        ))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| Ok((id_column(row, "id")?, id_column(row, "installation_id")?)))
            .collect()
    }

    /// How many runs there are, and how many of them are queued or running (counted from the
    /// partial queue indexes, without reading ended runs).
    pub async fn run_totals(&mut self) -> Result<(i64, i64)> {
        let (queued, running) = (literal(RunStatus::Queued), literal(RunStatus::Running));
        let row = sqlx::query(&format!(
            "SELECT (SELECT COUNT(*) FROM integration_runs), \
             (SELECT COUNT(*) FROM integration_runs WHERE status = {queued}) \
             + (SELECT COUNT(*) FROM integration_runs WHERE status = {running})",
        ))
        .fetch_one(&mut *self.tx)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    fn skip_locked(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Claims a run seen by [`Tx::expired_runs`] (or read queued) for one more attempt, leased until
    /// `lease_until`. `false` when someone else changed it first.
    pub async fn claim_run(&mut self, run: &RunRow, now: i64, lease_until: i64) -> Result<bool> {
        let result = sqlx::query(&format!(
            "UPDATE integration_runs SET status = {}, attempts = attempts + 1, lease_until = $1, started_time = $2 \
             WHERE id = $3 AND status = $4 AND attempts = $5",
            literal(RunStatus::Running)
        ))
        .bind(lease_until)
        .bind(now)
        .bind(run.id.to_string())
        .bind(run.status.as_str())
        .bind(run.attempts)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Claims queued runs for their first attempt in one statement, leased until
    /// `lease_until`; returns the runs it claimed, as claimed (a run someone else claimed or
    /// canceled first is left out).
    pub async fn claim_queued_runs(
        &mut self,
        ids: &[Id],
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<RunRow>> {
        let mut claimed = Vec::with_capacity(ids.len());
        for batch in ids.chunks(IDS_PER_STATEMENT_MAX) {
            let list = (0..batch.len())
                .map(|index| param(self.dialect, index + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let (lease, start) = (param(self.dialect, 1), param(self.dialect, 2));
            // On SQLite `+status` keeps the planner on the primary key: with the status index
            // it would walk every queued run (measured: 5.6 ms a claim with 40,000 queued).
            let status = match self.dialect {
                Dialect::Sqlite => "+status",
                Dialect::Postgres => "status",
            };
            let (queued, running) = (literal(RunStatus::Queued), literal(RunStatus::Running));
            let sql = format!(
                "UPDATE integration_runs SET status = {running}, attempts = attempts + 1, lease_until = {lease}, started_time = {start} \
                 WHERE id IN ({list}) AND {status} = {queued} RETURNING {RUN_COLUMNS}"
            );
            let mut query = sqlx::query(&sql).bind(lease_until).bind(now);
            for id in batch {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                claimed.push(decode_run(&row)?);
            }
        }
        Ok(claimed)
    }

    /// Adds run starts to each installation's count for the clock hour that begins at
    /// `hour_start` (for the hourly limit).
    pub async fn count_run_starts(&mut self, hour_start: i64, starts: &[(Id, i64)]) -> Result<()> {
        for batch in starts.chunks(RUN_START_COUNTS_PER_STATEMENT_MAX) {
            let values =
                values_placeholders(self.dialect, batch.len(), RUN_START_COUNT_COLUMN_COUNT);
            let sql = format!(
                "INSERT INTO installation_run_hours (installation_id, hour_start, started) VALUES {values} \
                 ON CONFLICT (installation_id, hour_start) DO UPDATE SET started = installation_run_hours.started + excluded.started"
            );
            let mut query = sqlx::query(&sql);
            for (installation_id, count) in batch {
                query = query
                    .bind(installation_id.to_string())
                    .bind(hour_start)
                    .bind(*count);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Run starts per installation and clock hour, for the hours that begin at or after
    /// `since`; only `installation_id`'s when given.
    pub async fn run_start_counts(
        &mut self,
        since: i64,
        installation_id: Option<Id>,
    ) -> Result<Vec<(Id, i64, i64)>> {
        let rows = match installation_id {
            Some(id) => sqlx::query(
                "SELECT installation_id, hour_start, started FROM installation_run_hours \
                 WHERE installation_id = $1 AND hour_start >= $2",
            )
            .bind(id.to_string())
            .bind(since),
            None => sqlx::query(
                "SELECT installation_id, hour_start, started FROM installation_run_hours WHERE hour_start >= $1",
            )
            .bind(since),
        }
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    id_column(row, "installation_id")?,
                    row.try_get("hour_start")?,
                    row.try_get("started")?,
                ))
            })
            .collect()
    }

    /// Forgets run-start counts of hours that begin before `before`.
    pub async fn prune_run_start_counts(&mut self, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM installation_run_hours WHERE hour_start < $1")
            .bind(before)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Runs of each installation holding a live lease.
    pub async fn running_counts(&mut self, now: i64) -> Result<Vec<(Id, i64)>> {
        // On SQLite `+installation_id` keeps the planner on the partial `integration_runs_leased`
        // index: grouping by the column, it would walk every run ever made in
        // `integration_runs_by_installation` (measured: 27 ms a pass with 90,000 runs).
        let group = match self.dialect {
            Dialect::Sqlite => "+installation_id",
            Dialect::Postgres => "installation_id",
        };
        let running = literal(RunStatus::Running);
        let rows = sqlx::query(&format!(
            "SELECT installation_id, COUNT(*) FROM integration_runs WHERE status = {running} AND lease_until > $1 \
             GROUP BY {group}"
        ))
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| Ok((id_column(row, "installation_id")?, row.try_get(1)?)))
            .collect()
    }

    /// Extends the lease of the attempt that holds the run.
    pub async fn extend_lease(&mut self, id: Id, attempt: i64, lease_until: i64) -> Result<bool> {
        let result = sqlx::query(&format!(
            "UPDATE integration_runs SET lease_until = $1 WHERE id = $2 AND status = {} AND attempts = $3",
            literal(RunStatus::Running)
        ))
        .bind(lease_until)
        .bind(id.to_string())
        .bind(attempt)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Ends the attempt that holds the run. `false` (and nothing written) when the run is no
    /// longer held by this attempt: it was canceled or its lease was taken over.
    pub async fn finish_run(&mut self, end: &RunEnd) -> Result<bool> {
        Ok(!self.finish_runs(&[end]).await?.is_empty())
    }

    /// Ends many runs, [`RUN_ENDS_PER_STATEMENT_MAX`] to a statement; returns the id and attempt
    /// of each it ended. A run no longer held by the attempt named in its end (canceled, or its lease
    /// taken over) is left as it is and left out.
    pub async fn finish_runs(&mut self, ends: &[&RunEnd]) -> Result<Vec<(Id, i64)>> {
        self.write_reported(ends).await
    }

    /// Cancels a queued or running run; `false` when it had already ended.
    pub async fn cancel_run(&mut self, id: Id, record: &str, now: i64) -> Result<bool> {
        let (queued, running) = (literal(RunStatus::Queued), literal(RunStatus::Running));
        let result = sqlx::query(&format!(
            "UPDATE integration_runs SET status = {}, record = $1, finished_time = $2 \
             WHERE id = $3 AND status IN ({queued}, {running})",
            literal(RunStatus::Canceled)
        ))
        .bind(record.to_string())
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn get_run(&mut self, id: Id) -> Result<Option<RunRow>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM integration_runs WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(decode_run).transpose()
    }

    /// An installation's runs, newest first, created before `before` when given.
    pub async fn list_runs(
        &mut self,
        installation_id: Id,
        before: Option<(i64, Id)>,
        limit: i64,
    ) -> Result<Vec<RunRow>> {
        let after = if before.is_some() {
            " AND (created_time < $2 OR (created_time = $2 AND id < $3))"
        } else {
            ""
        };
        let sql = match self.dialect {
            // The runs filed in the directory (migration 10), and those made since the last
            // flush, read from the table past the directory's mark (about a second of runs).
            Dialect::Sqlite => format!(
                "SELECT {RUN_COLUMNS} FROM integration_runs WHERE id IN ( \
                 SELECT id FROM (SELECT id FROM run_directory WHERE installation_id = $1{after} \
                 ORDER BY created_time DESC, id DESC LIMIT {limit}) \
                 UNION ALL SELECT id FROM integration_runs \
                 WHERE rowid > (SELECT through_rowid FROM run_directory_state) \
                 AND installation_id = $1{after}) \
                 ORDER BY created_time DESC, id DESC LIMIT {limit}"
            ),
            Dialect::Postgres => format!(
                "SELECT {RUN_COLUMNS} FROM integration_runs WHERE installation_id = $1{after} \
                 ORDER BY created_time DESC, id DESC LIMIT {limit}"
            ),
        };
        let mut query = sqlx::query(&sql).bind(installation_id.to_string());
        if let Some((time, id)) = before {
            query = query.bind(time).bind(id.to_string());
        }
        let rows = query.fetch_all(&mut *self.tx).await?;
        rows.iter().map(decode_run).collect()
    }

    pub async fn kv_get(&mut self, installation_id: Id, key: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT value FROM integration_kv WHERE installation_id = $1 AND kv_key = $2",
        )
        .bind(installation_id.to_string())
        .bind(key.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(Error::from)
    }

    /// Keys starting with `prefix`, in byte order, at most `limit`.
    pub async fn kv_keys(
        &mut self,
        installation_id: Id,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<String>> {
        // A range scan rather than LIKE, so that '%' and '_' in the prefix mean themselves.
        let rows = sqlx::query(
            "SELECT kv_key FROM integration_kv WHERE installation_id = $1 AND kv_key >= $2 \
             ORDER BY kv_key LIMIT $3",
        )
        .bind(installation_id.to_string())
        .bind(prefix.to_string())
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut keys = Vec::new();
        for row in rows {
            let key: String = row.try_get(0)?;
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// Bytes of keys and values the installation holds.
    pub async fn kv_bytes(&mut self, installation_id: Id) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(LENGTH(kv_key) + LENGTH(value)), 0) FROM integration_kv WHERE installation_id = $1",
        )
        .bind(installation_id.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn kv_put(&mut self, installation_id: Id, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO integration_kv (installation_id, kv_key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (installation_id, kv_key) DO UPDATE SET value = excluded.value",
        )
        .bind(installation_id.to_string())
        .bind(key.to_string())
        .bind(value.to_vec())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn kv_delete(&mut self, installation_id: Id, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM integration_kv WHERE installation_id = $1 AND kv_key = $2")
            .bind(installation_id.to_string())
            .bind(key.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn secret_get(&mut self, installation_id: Id, name: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT value FROM integration_secrets WHERE installation_id = $1 AND name = $2",
        )
        .bind(installation_id.to_string())
        .bind(name.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(Error::from)
    }

    pub async fn secret_set(&mut self, installation_id: Id, name: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO integration_secrets (installation_id, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (installation_id, name) DO UPDATE SET value = excluded.value",
        )
        .bind(installation_id.to_string())
        .bind(name.to_string())
        .bind(value.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replaces the installation's webhook token (its SHA-256, hex): the old URL stops working.
    pub async fn set_webhook_token(
        &mut self,
        installation_id: Id,
        token_hash: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM installation_webhooks WHERE installation_id = $1")
            .bind(installation_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO installation_webhooks (token_hash, installation_id, created_time) VALUES ($1, $2, $3)",
        )
        .bind(token_hash.to_string())
        .bind(installation_id.to_string())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The installation a webhook token (its SHA-256, hex) belongs to.
    pub async fn installation_by_webhook_token(&mut self, token_hash: &str) -> Result<Option<Id>> {
        let row =
            sqlx::query("SELECT installation_id FROM installation_webhooks WHERE token_hash = $1")
                .bind(token_hash.to_string())
                .fetch_optional(&mut *self.tx)
                .await?;
        row.as_ref()
            .map(|row| id_column(row, "installation_id"))
            .transpose()
    }

    pub async fn insert_usage(&mut self, usage: &[RunUsage]) -> Result<()> {
        for batch in usage.chunks(USAGE_ROWS_PER_STATEMENT_MAX) {
            let values = values_placeholders(self.dialect, batch.len(), USAGE_COLUMN_COUNT);
            let sql = format!(
                "INSERT INTO run_usage (run_id, installation_id, time, cpu_us, fuel, \
                 memory_byte_seconds, host_calls, outbound_requests) VALUES {values}"
            );
            let mut query = sqlx::query(&sql);
            for row in batch {
                query = query
                    .bind(row.run_id.to_string())
                    .bind(row.installation_id.to_string())
                    .bind(row.time)
                    .bind(row.cpu_us)
                    .bind(row.fuel)
                    .bind(row.memory_byte_seconds)
                    .bind(row.host_calls)
                    .bind(row.outbound_requests);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// A run's usage, if it ran.
    pub async fn usage_of_run(&mut self, run_id: Id) -> Result<Option<RunUsage>> {
        let row = sqlx::query(
            "SELECT run_id, installation_id, time, cpu_us, fuel, memory_byte_seconds, host_calls, \
             outbound_requests FROM run_usage WHERE run_id = $1",
        )
        .bind(run_id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| {
            Ok(RunUsage {
                run_id: id_column(&row, "run_id")?,
                installation_id: id_column(&row, "installation_id")?,
                time: row.try_get("time")?,
                cpu_us: row.try_get("cpu_us")?,
                fuel: row.try_get("fuel")?,
                memory_byte_seconds: row.try_get("memory_byte_seconds")?,
                host_calls: row.try_get("host_calls")?,
                outbound_requests: row.try_get("outbound_requests")?,
            })
        })
        .transpose()
    }
}
