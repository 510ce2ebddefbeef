//! The store: one SQL layer over SQLite (the embedded default) and PostgreSQL.
//!
//! This crate alone knows SQL. It stores domain objects from `document` as JSON records and
//! returns them typed; callers never see a row or a statement. Every request runs in one
//! [`Tx`]: a request that fails is rolled back whole, and change-log events are appended in
//! the same transaction as the change they describe.
//!
//! SQLite runs in WAL mode with one writer connection (so writers queue in-process instead
//! of failing with `SQLITE_BUSY`) and a pool of reader connections. The WAL is copied back into
//! the database by a background checkpointer, not by whichever writer's commit crosses SQLite's
//! threshold: see [`SQLITE_CHECKPOINT_INTERVAL_MS`].

mod binds;
mod integrations;
mod log;
mod migrations;
mod nodes;
mod people;
mod records;
mod rows;
mod search;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Row};

pub use integrations::{
    InstallationRecord, PackageRecord, RunEnd, RunRow, RunState, RunStatus, RunUsage, Trigger,
    UsageEvent,
};
pub use log::{AuditEntry, Change, ChangeCursor, ChangeRecord};
pub use nodes::{Chain, Comment, Node, NodeKind, Position, StoredNode, TREE_DEPTH_MAX};
pub use people::{
    IntegrationRecord, TokenRecord, TokenSubject, UserKind, UserRecord, WorkspaceRecord,
    decode_capabilities, encode_capabilities,
};
pub use rows::{RowCursor, RowPage, RowPlan, RowQuery, SET_DRIVEN_ROWS_MAX};
pub use search::{SkeletonNode, StoredChunk};
pub use webhooks::{Delivery, DeliveryStatus, Subscription};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored record could not be read: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
}

impl Error {
    /// Stable public code. Only `conflict` is the caller's fault; the rest are internal.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Database(_) => "database_error",
            Error::Corrupt(_) => "corrupt_record",
            Error::Conflict(_) => "conflict",
            Error::InvalidUrl(_) => "invalid_database_url",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The embedded store's file inside a data directory.
pub const SQLITE_FILE_NAME: &str = "trellis.db";

/// Connection limits, named with units.
pub const SQLITE_READERS_MAX: u32 = 8;
pub const POSTGRES_CONNECTIONS_MAX: u32 = 16;
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;
/// Page cache per SQLite connection. The embedded store's page caches together stay under
/// `(SQLITE_READERS_MAX + 1) * SQLITE_CACHE_KIB` (288 MiB), and under the database's size.
pub const SQLITE_CACHE_KIB: u64 = 32 * 1024;
/// A file store's pooled connection closes after this long unused (its page cache with it).
pub const SQLITE_CONNECTION_IDLE_MS: u64 = 600_000;
/// A file store's pooled connection is replaced after this long, however busy.
pub const SQLITE_CONNECTION_LIFETIME_MS: u64 = 3_600_000;
/// How often the background checkpointer copies a file store's WAL into the database
/// (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the writer or readers). SQLite's own
/// automatic checkpoint runs inside the commit of the writer that crosses its threshold (1,000
/// pages by default), so at 10,000 change runs a second every few commits paid for copying
/// pages and syncing files while holding the one writer (measured in docs/benchmarks.md).
pub const SQLITE_CHECKPOINT_INTERVAL_MS: u64 = 1_000;
/// Once the WAL holds this many frames (16 MiB with 4 KiB pages), a checkpointer pass ends on
/// the writer connection, so that the WAL starts over instead of growing. SQLite starts the WAL
/// from the beginning only at a write transaction that finds every frame copied; a passive
/// checkpoint on a reader copies the frames that were there when it began, and while writes
/// keep coming, more were appended by its end, so the WAL only grew (measured: 1.4 GB after
/// 20 s at 10,000 runs/s, with the automatic checkpoint off). The pass on the writer
/// connection waits its turn like a write transaction, so nothing is appended while it copies
/// the last frames; it holds the writer only for the frames of the moments before and the two
/// syncs (10-35 ms measured at 10,000 runs/s, against 40-90 ms for SQLite's automatic
/// checkpoint, which copied up to a second's frames inside a commit).
pub const SQLITE_WAL_RESET_FRAMES: i64 = 4_096;
/// SQLite's automatic checkpoint stays on as a backstop, at this many WAL pages (256 MiB with
/// 4 KiB pages): it runs only if the background checkpointer falls behind or is not running.
/// Far above what a second of writes makes at the benchmark's load (about 20,000 frames), so
/// that it never runs in a writer's commit while the checkpointer keeps up.
pub const SQLITE_AUTOCHECKPOINT_PAGES: u64 = 65_536;
/// A WAL file grown larger than this (when copying it back fell behind a burst of writes) is
/// truncated by the checkpointer once a whole interval passes without a write, never in a
/// writer's commit. SQLite's own `journal_size_limit` truncates it in the first commit after the
/// WAL starts over, while that commit holds the one writer: measured at 73–80 ms per truncation
/// at 10,000 runs a second (`perf trace -e ftruncate` on the lag benchmark), which made a slow
/// second slower. So connections set no limit, and the file is cut to nothing while no one
/// writes (`PRAGMA wal_checkpoint(TRUNCATE)`).
pub const SQLITE_WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Runs one transaction of [`Store::flush_run_directory`] files, at most: a second of runs at
/// 10,000 a second. Each transaction dirties a directory page per installation, so fewer, larger
/// ones write less (at 10,000 runs a second, 4.3 KiB per run against 5.0 KiB with 2,500 a
/// transaction, with no worse lag; docs/benchmarks.md).
pub const RUN_DIRECTORY_BATCH_RUNS_MAX: i64 = 10_000;
/// Transactions one flush makes, at most; runs left over wait for the next flush (listings read
/// them from the table meanwhile).
pub const RUN_DIRECTORY_BATCHES_MAX: usize = 8;

#[derive(Clone)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    dialect: Dialect,
    /// A file-backed SQLite store's checkpointer, which stops once every clone of the store is
    /// dropped or closed.
    checkpointer: Option<Arc<Checkpointer>>,
    /// Counts this process's commits that appended to the change log (see
    /// [`Store::watch_changes`]).
    appended: Arc<tokio::sync::watch::Sender<u64>>,
    /// Transactions begun through this store (and its clones), read and write: tests count a
    /// request's transactions with it.
    transactions: Arc<std::sync::atomic::AtomicU64>,
}

/// What the background checkpointer last did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStatus {
    /// Passes that ran (`PRAGMA wal_checkpoint(PASSIVE)` on a reader), failed ones excluded.
    pub passes: u64,
    /// Passes that ended on the writer connection (see [`SQLITE_WAL_RESET_FRAMES`]), failed
    /// ones excluded.
    pub writer_passes: u64,
    /// Frames in the WAL at the last pass. It falls only when a write transaction starts the
    /// WAL over, which it does once a pass found every frame copied.
    pub wal_frames: i64,
    /// Frames copied into the database by the end of the last pass.
    pub checkpointed_frames: i64,
    /// Runs the checkpointer filed in the run directory ([`Store::flush_run_directory`]).
    pub runs_filed: u64,
    /// Time spent filing runs, in all, in microseconds, waits for the writer included. Filing is
    /// a write transaction: once it has the writer, it holds it to the end.
    pub filing_us: u64,
    /// Time the passes on a reader took, in all, in microseconds (they block no one).
    pub pass_us: u64,
    /// Time the passes that ended on the writer connection held it, in all, in microseconds.
    pub writer_pass_us: u64,
    /// The longest a single pass held the writer connection, in microseconds.
    pub writer_pass_us_max: u64,
    /// Times an idle checkpointer cut a WAL grown past [`SQLITE_WAL_SIZE_LIMIT_BYTES`] to
    /// nothing.
    pub wal_truncations: u64,
}

#[derive(Default)]
struct Checkpointer {
    status: Mutex<CheckpointStatus>,
}

/// See [`Store::watch_changes`].
pub struct ChangeWatch(tokio::sync::watch::Receiver<u64>);

impl ChangeWatch {
    /// Counts every commit so far as seen: [`ChangeWatch::changed`] waits for a later one. Call
    /// it before reading the log, so that a commit made while reading is not missed.
    pub fn mark_seen(&mut self) {
        self.0.mark_unchanged();
    }

    /// Whether a commit that appended changes came since the last [`ChangeWatch::mark_seen`].
    pub fn has_unseen(&self) -> bool {
        self.0.has_changed().unwrap_or(false)
    }

    /// Waits for a commit not yet seen, and counts it as seen. Once the store is gone it waits
    /// forever: callers wait for it beside their poll.
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One transaction. Dropping it without [`Tx::commit`] rolls it back.
pub struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    dialect: Dialect,
    appended: Arc<tokio::sync::watch::Sender<u64>>,
    /// Whether this transaction appended to the change log: its commit is announced.
    appends_changes: bool,
}

impl Store {
    /// Opens (creating if needed) the SQLite store in `data_dir`.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::InvalidUrl(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(SQLITE_FILE_NAME);
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens a store by URL: `sqlite://PATH?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    /// Runs pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let mut store = Store::connect(url).await?;
        store.migrate_through(i64::MAX).await?;
        // Started once the tables it writes (the run directory) exist.
        if store.dialect == Dialect::Sqlite && !url.contains(":memory:") {
            store.checkpointer = Some(spawn_checkpointer(
                store.reader.clone(),
                store.writer.clone(),
            ));
        }
        Ok(store)
    }

    async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:");
            let options =
                AnyConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
            let options = options.disable_statement_logging();
            let pragmas = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA temp_store = MEMORY; \
                 PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}; PRAGMA journal_size_limit = -1;"
            );
            let pool = |max: u32| {
                let pragmas = pragmas.clone();
                AnyPoolOptions::new()
                    .max_connections(max)
                    .min_connections(if memory { 1 } else { 0 })
                    .acquire_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
                    // An in-memory database lives as long as its one connection.
                    .idle_timeout(if memory {
                        None
                    } else {
                        Some(Duration::from_millis(SQLITE_CONNECTION_IDLE_MS))
                    })
                    .max_lifetime(if memory {
                        None
                    } else {
                        Some(Duration::from_millis(SQLITE_CONNECTION_LIFETIME_MS))
                    })
                    .after_connect(move |conn, _| {
                        let pragmas = pragmas.clone();
                        Box::pin(async move {
                            conn.execute(pragmas.as_str()).await?;
                            Ok(())
                        })
                    })
            };
            let writer = pool(1).connect_with(options.clone()).await?;
            // An in-memory database exists only on its one connection: read through it too.
            let reader = if memory {
                writer.clone()
            } else {
                pool(SQLITE_READERS_MAX).connect_with(options).await?
            };
            Store {
                writer,
                reader,
                dialect: Dialect::Sqlite,
                checkpointer: None,
                appended: Arc::new(tokio::sync::watch::Sender::new(0)),
                transactions: Arc::default(),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options =
                AnyConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
            let options = options.disable_statement_logging();
            let pool = AnyPoolOptions::new()
                .max_connections(POSTGRES_CONNECTIONS_MAX)
                .acquire_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
                .connect_with(options)
                .await?;
            Store {
                writer: pool.clone(),
                reader: pool,
                dialect: Dialect::Postgres,
                checkpointer: None,
                appended: Arc::new(tokio::sync::watch::Sender::new(0)),
                transactions: Arc::default(),
            }
        } else {
            return Err(Error::InvalidUrl(format!(
                "`{url}` is neither a sqlite: nor a postgres:// URL"
            )));
        };
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// What the background checkpointer last did; `None` for a store without one (PostgreSQL,
    /// or an in-memory SQLite database).
    pub fn checkpoint_status(&self) -> Option<CheckpointStatus> {
        self.checkpointer
            .as_ref()
            .map(|checkpointer| *checkpointer.status.lock().expect("checkpoint status lock"))
    }

    /// Applies the pending migrations up to `last_version`.
    async fn migrate_through(&self, last_version: i64) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_time BIGINT NOT NULL)")
            .await?;
        drop(conn);
        for migration in migrations::all()
            .into_iter()
            .filter(|migration| migration.version <= last_version)
        {
            let mut tx = self.write().await?.tx;
            let applied: i64 =
                sqlx::query("SELECT COUNT(*) FROM schema_migrations WHERE version = $1")
                    .bind(migration.version)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            if applied > 0 {
                continue;
            }
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applying migration"
            );
            let sql = migrations::render(&migration, self.dialect);
            for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                tx.execute(statement).await?;
            }
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_time) VALUES ($1, $2, $3)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(applied_time_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Files the runs made since the last flush in SQLite's run directory (`run_directory`,
    /// migration 10: runs by installation, from which an installation's runs are listed), in
    /// transactions of at most [`RUN_DIRECTORY_BATCH_RUNS_MAX`] runs, [`RUN_DIRECTORY_BATCHES_MAX`]
    /// of them. Returns how many runs it filed. A file store's checkpointer calls it once a
    /// second; listings are exact whenever it runs, since they read runs not filed yet from the
    /// table. On PostgreSQL, which indexes runs by installation, there is nothing to do.
    pub async fn flush_run_directory(&self) -> Result<u64> {
        match self.dialect {
            Dialect::Sqlite => flush_run_directory(&self.writer).await,
            Dialect::Postgres => Ok(0),
        }
    }

    /// Begins a transaction that may write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait
    /// for another process's writer (SQLite answers `SQLITE_BUSY` at once instead of calling the
    /// busy handler), so `trellis token create` beside a running server would fail; taking the
    /// lock up front waits up to the busy timeout instead. In this process writers already queue
    /// on the one writer connection.
    pub async fn write(&self) -> Result<Tx> {
        self.count_transaction();
        let tx = match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.writer.begin().await?,
        };
        Ok(Tx {
            tx,
            dialect: self.dialect,
            appended: self.appended.clone(),
            appends_changes: false,
        })
    }

    /// Begins a read-only transaction (a consistent snapshot on both dialects).
    pub async fn read(&self) -> Result<Tx> {
        self.count_transaction();
        Ok(Tx {
            tx: self.reader.begin().await?,
            dialect: self.dialect,
            appended: self.appended.clone(),
            appends_changes: false,
        })
    }

    fn count_transaction(&self) {
        self.transactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Transactions begun so far through this store and its clones.
    pub fn transactions_begun(&self) -> u64 {
        self.transactions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tells when a commit in this process appended to the change log, so that its consumers
    /// (the search indexer, the webhook fan-out, the integrations' change dispatcher) can wake
    /// when there is something to read instead of on their next poll. Commits of other
    /// processes (another node, the CLI beside a server) are not seen: consumers still poll,
    /// and this only lets them wake early.
    pub fn watch_changes(&self) -> ChangeWatch {
        ChangeWatch(self.appended.subscribe())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        if self.appends_changes {
            self.appended
                .send_modify(|commits| *commits = commits.wrapping_add(1));
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// Starts the checkpointer of a file-backed SQLite store. Each interval it files new runs in the
/// run directory ([`Store::flush_run_directory`]), then copies the WAL back through `reader`,
/// finishing on `writer` once the WAL is long (see [`SQLITE_WAL_RESET_FRAMES`]), and cuts a WAL
/// file grown too large once writes stop (see [`SQLITE_WAL_SIZE_LIMIT_BYTES`]). It holds only
/// a weak reference to the store's [`Checkpointer`], so it ends within one interval of the last
/// clone of the store being dropped, or when the pools are closed.
fn spawn_checkpointer(reader: AnyPool, writer: AnyPool) -> Arc<Checkpointer> {
    let checkpointer = Arc::new(Checkpointer::default());
    let weak = Arc::downgrade(&checkpointer);
    tokio::spawn(async move {
        let mut interval =
            tokio::time::interval(Duration::from_millis(SQLITE_CHECKPOINT_INTERVAL_MS));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        // The WAL's length when a pass on the writer last found every frame copied: until a
        // write starts the WAL over, the writer has nothing to finish.
        let mut finished_at = None;
        // The last pass's frame count: unchanged from one pass to the next, nothing was
        // written between them. And the WAL file's path, once read.
        let mut last_frames = None;
        let mut wal_path = None;
        loop {
            interval.tick().await;
            let Some(checkpointer) = weak.upgrade() else {
                break;
            };
            if reader.is_closed() || writer.is_closed() {
                break;
            }
            // Filed before the checkpoint, which then copies the directory's pages too.
            let filing = Instant::now();
            match flush_run_directory(&writer).await {
                Ok(filed) => {
                    let mut status = checkpointer.status.lock().expect("checkpoint status lock");
                    status.runs_filed += filed;
                    status.filing_us += micros(filing.elapsed());
                }
                Err(error) if writer.is_closed() => {
                    tracing::debug!(%error, "checkpointer stopped: the store was closed");
                    break;
                }
                Err(error) => tracing::warn!(%error, "filing runs in the run directory failed"),
            }
            let passing = Instant::now();
            let pass = match wal_checkpoint(&reader).await {
                Ok(pass) => pass,
                Err(error) if reader.is_closed() => {
                    tracing::debug!(%error, "checkpointer stopped: the store was closed");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "WAL checkpoint failed");
                    continue;
                }
            };
            checkpointer.record(
                pass,
                PassOn::Reader {
                    took: passing.elapsed(),
                },
            );
            let idle = last_frames.replace(pass.wal_frames) == Some(pass.wal_frames)
                && !pass.busy
                && pass.checkpointed_frames == pass.wal_frames;
            if idle {
                let path = match &wal_path {
                    Some(path) => path,
                    None => match wal_file(&reader).await {
                        Ok(path) => wal_path.insert(path),
                        Err(error) => {
                            tracing::warn!(%error, "finding the WAL file failed");
                            continue;
                        }
                    },
                };
                let bytes = std::fs::metadata(path).map_or(0, |meta| meta.len());
                if bytes > SQLITE_WAL_SIZE_LIMIT_BYTES {
                    match truncate_wal(&writer, pass.wal_frames).await {
                        Ok(true) => {
                            last_frames = None;
                            finished_at = None;
                            checkpointer
                                .status
                                .lock()
                                .expect("checkpoint status lock")
                                .wal_truncations += 1;
                        }
                        // Writes came meanwhile, or a reader (or another process's writer) was
                        // busy: the next idle interval tries again.
                        Ok(false) => {}
                        Err(error) if writer.is_closed() => {
                            tracing::debug!(%error, "checkpointer stopped: the store was closed");
                            break;
                        }
                        Err(error) => tracing::warn!(%error, "truncating the WAL failed"),
                    }
                    continue;
                }
            }
            if pass.wal_frames < SQLITE_WAL_RESET_FRAMES || finished_at == Some(pass.wal_frames) {
                continue;
            }
            let finished: sqlx::Result<_> = async {
                // First the frames appended while that pass copied, still blocking no one, so
                // that the writer waits only for the last moments' frames.
                let passing = Instant::now();
                let pass = wal_checkpoint(&reader).await?;
                checkpointer.record(
                    pass,
                    PassOn::Reader {
                        took: passing.elapsed(),
                    },
                );
                let mut connection = writer.acquire().await?;
                let holding = Instant::now();
                let pass = wal_checkpoint(&mut *connection).await?;
                Ok((pass, holding.elapsed()))
            }
            .await;
            match finished {
                Ok((pass, held)) => {
                    checkpointer.record(pass, PassOn::Writer { held });
                    if !pass.busy && pass.checkpointed_frames == pass.wal_frames {
                        finished_at = Some(pass.wal_frames);
                    }
                }
                Err(error) if reader.is_closed() || writer.is_closed() => {
                    tracing::debug!(%error, "checkpointer stopped: the store was closed");
                    break;
                }
                Err(error) => tracing::warn!(%error, "WAL checkpoint on the writer failed"),
            }
        }
    });
    checkpointer
}

/// See [`Store::flush_run_directory`]. The directory's mark is a rowid of `integration_runs`:
/// SQLite gives a new row the largest rowid so far plus one, and runs are never deleted nor the
/// database vacuumed, so every run past the mark was made after it.
async fn flush_run_directory(writer: &AnyPool) -> Result<u64> {
    let mut filed = 0;
    for _ in 0..RUN_DIRECTORY_BATCHES_MAX {
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let through: i64 = sqlx::query("SELECT through_rowid FROM run_directory_state")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let last: i64 = sqlx::query("SELECT COALESCE(MAX(rowid), 0) FROM integration_runs")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if last <= through {
            tx.rollback().await?;
            break;
        }
        let upto = last.min(through + RUN_DIRECTORY_BATCH_RUNS_MAX);
        filed += sqlx::query(
            "INSERT INTO run_directory (installation_id, created_time, id) \
             SELECT installation_id, created_time, id FROM integration_runs \
             WHERE rowid > $1 AND rowid <= $2",
        )
        .bind(through)
        .bind(upto)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE run_directory_state SET through_rowid = $1")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if upto == last {
            break;
        }
    }
    Ok(filed)
}

/// The main database's WAL file.
async fn wal_file(reader: &AnyPool) -> sqlx::Result<std::path::PathBuf> {
    let file: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_one(reader)
        .await?
        .try_get(0)?;
    Ok(std::path::PathBuf::from(format!("{file}-wal")))
}

/// Copies the whole WAL back and cuts its file to nothing (`PRAGMA wal_checkpoint(TRUNCATE)`)
/// on the writer connection, if the WAL still holds `frames` frames, all copied (no write came
/// since the pass that saw it idle; a write that did is copied by this pass instead). It does
/// not wait: with the busy timeout at zero for the call, a reader still using the WAL (or
/// another process's writer) makes it give up at once, `false`, instead of holding the writer
/// up to the busy timeout.
async fn truncate_wal(writer: &AnyPool, frames: i64) -> sqlx::Result<bool> {
    let mut connection = writer.acquire().await?;
    connection.execute("PRAGMA busy_timeout = 0").await?;
    let truncated = async {
        let pass = wal_checkpoint(&mut *connection).await?;
        if pass.busy || pass.wal_frames != frames || pass.checkpointed_frames != frames {
            return Ok(false);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *connection)
            .await?;
        Ok(row.try_get::<i64, _>(0)? == 0)
    }
    .await;
    let restore = format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}");
    if let Err(error) = connection.execute(restore.as_str()).await {
        // A writer connection left without its busy timeout is closed, not used again.
        drop(connection.detach());
        return Err(error);
    }
    truncated
}

/// What one `PRAGMA wal_checkpoint(PASSIVE)` reported.
#[derive(Debug, Clone, Copy)]
struct WalPass {
    /// It could not copy everything: a reader still needs frames it would overwrite.
    busy: bool,
    wal_frames: i64,
    checkpointed_frames: i64,
}

async fn wal_checkpoint<'c, E>(executor: E) -> sqlx::Result<WalPass>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(executor)
        .await?;
    // Columns: busy (0 or 1), frames in the WAL, frames checkpointed.
    Ok(WalPass {
        busy: row.try_get::<i64, _>(0)? != 0,
        wal_frames: row.try_get(1)?,
        checkpointed_frames: row.try_get(2)?,
    })
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Where a checkpoint pass ran, and for how long.
enum PassOn {
    /// On a reader connection, blocking no one.
    Reader { took: Duration },
    /// On the writer connection, which it held this long.
    Writer { held: Duration },
}

impl Checkpointer {
    fn record(&self, pass: WalPass, on: PassOn) {
        let mut status = self.status.lock().expect("checkpoint status lock");
        match on {
            PassOn::Reader { took } => {
                status.passes += 1;
                status.pass_us += micros(took);
            }
            PassOn::Writer { held } => {
                status.writer_passes += 1;
                status.writer_pass_us += micros(held);
                status.writer_pass_us_max = status.writer_pass_us_max.max(micros(held));
            }
        }
        status.wal_frames = pass.wal_frames;
        status.checkpointed_frames = pass.checkpointed_frames;
    }
}

/// Creates a fresh, empty PostgreSQL database on the server of `base_url` and returns its URL.
/// For test suites, which each want a database of their own.
pub async fn create_postgres_database(base_url: &str) -> Result<String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("t_{}", uuid_like());
    let mut conn = sqlx::AnyConnection::connect(base_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    let (prefix, _) = base_url
        .rsplit_once('/')
        .ok_or_else(|| Error::InvalidUrl(format!("`{base_url}` names no database")))?;
    Ok(format!("{prefix}/{name}"))
}

/// 32 lowercase hex digits from a fresh id: a valid unquoted PostgreSQL identifier part.
fn uuid_like() -> String {
    format!("{:032x}", document::Id::new().as_u128())
}

pub(crate) fn parse_id(text: &str) -> Result<document::Id> {
    document::Id::parse(text).ok_or_else(|| Error::Corrupt(format!("`{text}` is not an id")))
}

/// When a migration is applied, in milliseconds since the epoch. The store reads the clock
/// itself: `document` never does, and the service's clock (`workspace::clock`) is above it.
fn applied_time_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
