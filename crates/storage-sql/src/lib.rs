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
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Row};

pub use integrations::{
    InstallationRecord, PackageRecord, RunEnd, RunRow, RunState, RunUsage, UsageEvent,
};
pub use log::{AuditEntry, Change, ChangeCursor, ChangeRecord};
pub use nodes::{Chain, Comment, Node, NodeKind, Position, StoredNode};
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

/// Connection limits, named with units.
pub const SQLITE_READERS_MAX: u32 = 8;
pub const POSTGRES_CONNECTIONS_MAX: u32 = 16;
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;
/// Page cache per SQLite connection.
pub const SQLITE_CACHE_KIB: u64 = 32 * 1024;
/// How often the background checkpointer copies a file store's WAL into the database
/// (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the writer or readers). SQLite's own
/// automatic checkpoint runs inside the commit of the writer that crosses its threshold (1,000
/// pages by default), so at 10,000 change runs a second every few commits paid for copying
/// pages and syncing files while holding the one writer (measured in docs/benchmarks.md).
pub const SQLITE_CHECKPOINT_INTERVAL_MS: u64 = 1_000;
/// SQLite's automatic checkpoint stays on as a backstop, at this many WAL pages (64 MiB with
/// 4 KiB pages): it runs only if the background checkpointer falls behind or is not running.
pub const SQLITE_AUTOCHECKPOINT_PAGES: u64 = 16_384;
/// A WAL file left larger than this after a checkpoint reset it is truncated to it.
pub const SQLITE_WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    dialect: Dialect,
    /// A file-backed SQLite store's checkpointer, which stops once every clone of the store is
    /// dropped or closed.
    checkpointer: Option<Arc<Checkpointer>>,
}

/// What the background checkpointer last did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStatus {
    /// Passes that ran (`PRAGMA wal_checkpoint(PASSIVE)`), failed ones excluded.
    pub passes: u64,
    /// Frames in the WAL at the last pass.
    pub wal_frames: i64,
    /// Frames copied into the database by the end of the last pass.
    pub checkpointed_frames: i64,
}

#[derive(Default)]
struct Checkpointer {
    status: Mutex<CheckpointStatus>,
}

/// One transaction. Dropping it without [`Tx::commit`] rolls it back.
pub struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    dialect: Dialect,
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
        let path = data_dir.join("trellis.db");
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens a store by URL: `sqlite://PATH?mode=rwc`, `sqlite::memory:` or `postgres://...`.
    /// Runs pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate_through(i64::MAX).await?;
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
                 PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}; PRAGMA journal_size_limit = {SQLITE_WAL_SIZE_LIMIT_BYTES};"
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
                        Some(Duration::from_secs(600))
                    })
                    .max_lifetime(if memory {
                        None
                    } else {
                        Some(Duration::from_secs(3600))
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
            let checkpointer = (!memory).then(|| spawn_checkpointer(reader.clone()));
            Store {
                writer,
                reader,
                dialect: Dialect::Sqlite,
                checkpointer,
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
            .bind(document::time::now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Begins a transaction that may write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait
    /// for another process's writer (SQLite answers `SQLITE_BUSY` at once instead of calling the
    /// busy handler), so `trellis token create` beside a running server would fail; taking the
    /// lock up front waits up to the busy timeout instead. In this process writers already queue
    /// on the one writer connection.
    pub async fn write(&self) -> Result<Tx> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.writer.begin().await?,
        };
        Ok(Tx {
            tx,
            dialect: self.dialect,
        })
    }

    /// Begins a read-only transaction (a consistent snapshot on both dialects).
    pub async fn read(&self) -> Result<Tx> {
        Ok(Tx {
            tx: self.reader.begin().await?,
            dialect: self.dialect,
        })
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
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

/// Starts the checkpointer of a file-backed SQLite store, reading through `reader`. It holds only
/// a weak reference to the store's [`Checkpointer`], so it ends within one interval of the last
/// clone of the store being dropped, or when the pool is closed.
fn spawn_checkpointer(reader: AnyPool) -> Arc<Checkpointer> {
    let checkpointer = Arc::new(Checkpointer::default());
    let weak = Arc::downgrade(&checkpointer);
    tokio::spawn(async move {
        let mut interval =
            tokio::time::interval(Duration::from_millis(SQLITE_CHECKPOINT_INTERVAL_MS));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            let Some(checkpointer) = weak.upgrade() else {
                break;
            };
            if reader.is_closed() {
                break;
            }
            // Columns: busy (0 or 1), frames in the WAL, frames checkpointed.
            match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&reader)
                .await
                .and_then(|row| Ok((row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?)))
            {
                Ok((wal_frames, checkpointed_frames)) => {
                    let mut status = checkpointer.status.lock().expect("checkpoint status lock");
                    status.passes += 1;
                    status.wal_frames = wal_frames;
                    status.checkpointed_frames = checkpointed_frames;
                }
                Err(error) if reader.is_closed() => {
                    tracing::debug!(%error, "checkpointer stopped: the store was closed");
                    break;
                }
                Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
            }
        }
    });
    checkpointer
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
