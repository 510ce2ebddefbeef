//! The store: one SQL layer over SQLite (the embedded default) and PostgreSQL.
//!
//! This crate alone knows SQL. It stores domain objects from `document` as JSON records and
//! returns them typed; callers never see a row or a statement. Every request runs in one
//! [`Tx`]: a request that fails is rolled back whole, and change-log events are appended in
//! the same transaction as the change they describe.
//!
//! SQLite runs in WAL mode with one writer connection (so writers queue in-process instead
//! of failing with `SQLITE_BUSY`) and a pool of reader connections.

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
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Row};

pub use integrations::{InstallationRecord, PackageRecord, RunEnd, RunRow, RunState, UsageEvent};
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

#[derive(Clone)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    dialect: Dialect,
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
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:");
            let options =
                AnyConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
            let options = options.disable_statement_logging();
            let pragmas = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA temp_store = MEMORY;"
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
            Store {
                writer,
                reader,
                dialect: Dialect::Sqlite,
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
            }
        } else {
            return Err(Error::InvalidUrl(format!(
                "`{url}` is neither a sqlite: nor a postgres:// URL"
            )));
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_time BIGINT NOT NULL)")
            .await?;
        drop(conn);
        for migration in migrations::all() {
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
