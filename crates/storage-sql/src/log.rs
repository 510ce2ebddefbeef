//! The change log (every change, in the transaction that made it), consumer cursors, and
//! the audit log of access decisions made for integrations.
//!
//! Reading the change log in order is dialect-specific. SQLite has one writer, so rows
//! commit in `seq` order and `seq > cursor` is exact. PostgreSQL hands out sequence values
//! before commit, so a later `seq` can become visible before an earlier one: readers order
//! by `(xid, seq)` and read only transactions older than every transaction still running
//! (`xid < pg_snapshot_xmin(pg_current_snapshot())`), so nothing is skipped.

use document::Id;
use sqlx::Row;

use crate::{Dialect, Error, Result, Tx, parse_id};

/// A change to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `page.created`, `page.updated`, `page.moved`, `page.trashed`, `block.created`, ...
    pub kind: String,
    pub object_kind: String,
    pub object_id: Id,
    /// The parent (page, block, data source) after the change, for subscription filters.
    pub parent_id: Option<Id>,
    pub actor_id: Id,
    /// Names of the fields or properties that changed, where that is known.
    pub fields: Vec<String>,
}

/// A change as read back, with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub seq: i64,
    pub cursor: ChangeCursor,
    pub time: i64,
    pub change: Change,
}

/// A consumer's position in the log. Opaque outside this crate; stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ChangeCursor {
    xid: u64,
    seq: i64,
}

impl ChangeCursor {
    pub fn start() -> Self {
        ChangeCursor::default()
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.xid, self.seq)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (xid, seq) = text.split_once(':')?;
        Some(ChangeCursor {
            xid: xid.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    pub fn seq(&self) -> i64 {
        self.seq
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub time: i64,
    pub integration_id: Option<Id>,
    pub user_id: Option<Id>,
    pub operation: String,
    pub object_id: Id,
    pub allowed: bool,
    pub reason: String,
}

/// Which changes a reader at a cursor may read next, per dialect (see the module's note):
/// on SQLite those past its `seq` (`$1`); on PostgreSQL those past its `(xid, seq)` (`$1` the
/// xid as text, `$2` the seq) whose transaction is older than every one still running.
const SQLITE_READABLE_AFTER: &str = "seq > $1";
const POSTGRES_READABLE_AFTER: &str =
    "(xid, seq) > ($1::text::xid8, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot())";

impl crate::Store {
    /// Whether the log holds a change after `cursor` (as [`Tx::read_changes`] would read it).
    /// One statement on a reader, outside any transaction: for a consumer that knows its cursor
    /// and asks before taking the writer.
    pub async fn has_changes_after(&self, cursor: ChangeCursor) -> Result<bool> {
        let row = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query(&format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM change_log WHERE {SQLITE_READABLE_AFTER} LIMIT 1) later"
                ))
                .bind(cursor.seq)
                .fetch_one(&self.reader)
                .await?
            }
            Dialect::Postgres => {
                sqlx::query(&format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM change_log WHERE {POSTGRES_READABLE_AFTER} LIMIT 1) later"
                ))
                .bind(cursor.xid.to_string())
                .bind(cursor.seq)
                .fetch_one(&self.reader)
                .await?
            }
        };
        Ok(row.try_get::<i64, _>(0)? > 0)
    }
}

impl Tx {
    pub async fn append_change(&mut self, change: &Change, time: i64) -> Result<()> {
        let fields =
            serde_json::to_string(&change.fields).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO change_log (time, kind, object_kind, object_id, parent_id, actor_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(time)
        .bind(change.kind.clone())
        .bind(change.object_kind.clone())
        .bind(change.object_id.to_string())
        .bind(change.parent_id.map(|id| id.to_string()))
        .bind(change.actor_id.to_string())
        .bind(fields)
        .execute(&mut *self.tx)
        .await?;
        self.appends_changes = true;
        Ok(())
    }

    /// Changes after `cursor`, oldest first, at most `limit`.
    pub async fn read_changes(
        &mut self,
        cursor: ChangeCursor,
        limit: i64,
    ) -> Result<Vec<ChangeRecord>> {
        let columns = "seq, time, kind, object_kind, object_id, parent_id, actor_id, data";
        let rows = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query(&format!("SELECT {columns}, 0 AS xid FROM change_log WHERE {SQLITE_READABLE_AFTER} ORDER BY seq LIMIT $2"))
                    .bind(cursor.seq)
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            Dialect::Postgres => {
                sqlx::query(&format!(
                    "SELECT {columns}, xid::text::bigint AS xid FROM change_log \
                     WHERE {POSTGRES_READABLE_AFTER} ORDER BY xid, seq LIMIT $3"
                ))
                .bind(cursor.xid.to_string())
                .bind(cursor.seq)
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await?
            }
        };
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                let xid: i64 = row.try_get("xid")?;
                let parent: Option<String> = row.try_get("parent_id")?;
                let fields: String = row.try_get("data")?;
                Ok(ChangeRecord {
                    seq,
                    cursor: ChangeCursor {
                        xid: xid as u64,
                        seq,
                    },
                    time: row.try_get("time")?,
                    change: Change {
                        kind: row.try_get("kind")?,
                        object_kind: row.try_get("object_kind")?,
                        object_id: parse_id(&row.try_get::<String, _>("object_id")?)?,
                        parent_id: parent.as_deref().map(parse_id).transpose()?,
                        actor_id: parse_id(&row.try_get::<String, _>("actor_id")?)?,
                        fields: serde_json::from_str(&fields)
                            .map_err(|e| Error::Corrupt(e.to_string()))?,
                    },
                })
            })
            .collect()
    }

    pub async fn load_cursor(&mut self, consumer: &str) -> Result<ChangeCursor> {
        let row = sqlx::query("SELECT position FROM consumer_cursors WHERE consumer = $1")
            .bind(consumer.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        match row {
            None => Ok(ChangeCursor::start()),
            Some(row) => {
                let text: String = row.try_get(0)?;
                ChangeCursor::decode(&text)
                    .ok_or_else(|| Error::Corrupt(format!("cursor of {consumer}: `{text}`")))
            }
        }
    }

    /// Saves a consumer's cursor. Commit it in the same transaction as the consumer's own
    /// effects so that an event is applied exactly once.
    pub async fn save_cursor(
        &mut self,
        consumer: &str,
        cursor: ChangeCursor,
        time: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM consumer_cursors WHERE consumer = $1")
            .bind(consumer.to_string())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO consumer_cursors (consumer, position, updated_time) VALUES ($1, $2, $3)",
        )
        .bind(consumer.to_string())
        .bind(cursor.encode())
        .bind(time)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        for entry in entries {
            sqlx::query(
                "INSERT INTO audit_log (time, integration_id, user_id, operation, object_id, allowed, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(entry.time)
            .bind(entry.integration_id.map(|id| id.to_string()))
            .bind(entry.user_id.map(|id| id.to_string()))
            .bind(entry.operation.clone())
            .bind(entry.object_id.to_string())
            .bind(entry.allowed as i64)
            .bind(entry.reason.clone())
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// The newest audit entries, newest first; all integrations when `integration_id` is None.
    pub async fn audit_entries(
        &mut self,
        integration_id: Option<Id>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let columns = "time, integration_id, user_id, operation, object_id, allowed, reason";
        let rows = match integration_id {
            Some(id) => {
                sqlx::query(&format!("SELECT {columns} FROM audit_log WHERE integration_id = $1 ORDER BY id DESC LIMIT $2"))
                    .bind(id.to_string())
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {columns} FROM audit_log ORDER BY id DESC LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                let integration: Option<String> = row.try_get(1)?;
                let user: Option<String> = row.try_get(2)?;
                Ok(AuditEntry {
                    time: row.try_get(0)?,
                    integration_id: integration.as_deref().map(parse_id).transpose()?,
                    user_id: user.as_deref().map(parse_id).transpose()?,
                    operation: row.try_get(3)?,
                    object_id: parse_id(&row.try_get::<String, _>(4)?)?,
                    allowed: row.try_get::<i64, _>(5)? != 0,
                    reason: row.try_get(6)?,
                })
            })
            .collect()
    }
}
