//! Versioned schema migrations, applied in order at start inside one transaction each.
//! A migration is never edited once released: add a new one.

use crate::Dialect;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Tables shared by both dialects, with `{AUTO_ID}`, `{REAL}` and `{XID}` filled per dialect.
const V1: &str = r#"
CREATE TABLE workspace (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    members_level TEXT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT UNIQUE,
    avatar_url TEXT,
    password_hash TEXT,
    integration_id TEXT,
    created_time BIGINT NOT NULL
);
CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES user_groups(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    bot_user_id TEXT NOT NULL REFERENCES users(id),
    capabilities TEXT NOT NULL,
    created_by TEXT,
    created_time BIGINT NOT NULL
);
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT REFERENCES users(id),
    integration_id TEXT REFERENCES integrations(id),
    name TEXT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent_kind TEXT NOT NULL,
    parent_id TEXT,
    position BIGINT NOT NULL,
    inherits BIGINT NOT NULL DEFAULT 1,
    in_trash BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    title_folded TEXT NOT NULL DEFAULT '',
    created_time BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_edited_time BIGINT NOT NULL,
    last_edited_by TEXT NOT NULL
);
CREATE INDEX nodes_parent ON nodes (parent_id, position);
CREATE INDEX nodes_search ON nodes (kind, last_edited_time, id);
CREATE TABLE grants (
    node_id TEXT NOT NULL REFERENCES nodes(id),
    grantee_kind TEXT NOT NULL,
    grantee_id TEXT NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (node_id, grantee_kind, grantee_id)
);
CREATE TABLE row_values (
    row_id TEXT NOT NULL,
    data_source_id TEXT NOT NULL,
    property_id TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    text_value TEXT,
    folded TEXT,
    number_value {REAL},
    PRIMARY KEY (row_id, property_id, ordinal)
);
CREATE INDEX row_values_number ON row_values (data_source_id, property_id, number_value);
CREATE INDEX row_values_text ON row_values (data_source_id, property_id, text_value);
CREATE INDEX row_values_folded ON row_values (data_source_id, property_id, folded);
CREATE TABLE comments (
    id TEXT PRIMARY KEY,
    page_id TEXT NOT NULL,
    block_id TEXT,
    discussion_id TEXT NOT NULL,
    rich_text TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX comments_block ON comments (block_id, created_time);
CREATE INDEX comments_page ON comments (page_id, created_time);
CREATE TABLE change_log (
    seq {AUTO_ID},
    {XID}
    time BIGINT NOT NULL,
    kind TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    parent_id TEXT,
    actor_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE consumer_cursors (
    consumer TEXT PRIMARY KEY,
    position TEXT NOT NULL,
    updated_time BIGINT NOT NULL
);
CREATE TABLE audit_log (
    id {AUTO_ID},
    time BIGINT NOT NULL,
    integration_id TEXT,
    user_id TEXT,
    operation TEXT NOT NULL,
    object_id TEXT NOT NULL,
    allowed BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX audit_log_integration ON audit_log (integration_id, id);
"#;

/// Webhook subscriptions and their deliveries. A delivery is unique per (subscription,
/// event), so enqueueing an event twice is a no-op.
const V2: &str = r#"
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    verification_token TEXT NOT NULL,
    event_types TEXT NOT NULL,
    data_source_id TEXT,
    owner_user_id TEXT,
    owner_integration_id TEXT,
    active BIGINT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id),
    event_seq BIGINT NOT NULL,
    event_time BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    parent_id TEXT,
    actor_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_time BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error TEXT,
    created_time BIGINT NOT NULL,
    delivered_time BIGINT,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_time);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_time)
"#;

/// `nodes_parent_kind` answers `has_children` by kind; without it that scans every child
/// (100,000 rows under a data source).
/// Covering indexes for row queries, so that they never read a row's record until the page
/// of results is known: `nodes_rows` scans a data source's rows in creation order,
/// `nodes_row_lookup` checks a filtered row's data source and trash flag, and
/// `row_values_sort` reads sort keys.
const V3: &str = r#"
CREATE INDEX nodes_parent_kind ON nodes (parent_id, kind, in_trash);
CREATE INDEX nodes_rows ON nodes (parent_id, in_trash, created_time, id);
CREATE INDEX nodes_row_lookup ON nodes (id, parent_id, in_trash, created_time);
CREATE INDEX row_values_sort ON row_values (row_id, property_id, ordinal, number_value, folded)
"#;

/// PostgreSQL sorts text in byte order (`COLLATE "C"`, as SQLite and Rust do); walking a
/// text sort key in that order needs an index in that collation.
const V3_POSTGRES: &str = r#"
CREATE INDEX nodes_parent_kind ON nodes (parent_id, kind, in_trash);
CREATE INDEX nodes_rows ON nodes (parent_id, in_trash, created_time, id);
CREATE INDEX nodes_row_lookup ON nodes (id, parent_id, in_trash, created_time);
CREATE INDEX row_values_sort ON row_values (row_id, property_id, ordinal, number_value, folded);
CREATE INDEX row_values_folded_c ON row_values (data_source_id, property_id, folded COLLATE "C")
"#;

/// The search indexer's chunks: text, the hash of what was embedded, and the vector, so that a
/// damaged index file is rebuilt from here without re-embedding anything.
const V4: &str = r#"
CREATE TABLE search_chunks (
    chunk_id BIGINT NOT NULL UNIQUE,
    object_id TEXT NOT NULL,
    chunk_key TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    model_id TEXT NOT NULL,
    vector {BLOB} NOT NULL,
    PRIMARY KEY (object_id, chunk_key)
)
"#;

/// Integrations: packages (manifest and component), installations, the durable run queue with
/// its records, per-installation key-value data and secrets, webhook URL tokens (SHA-256 hashes),
/// and usage events for billing.
const V5: &str = r#"
CREATE TABLE integration_packages (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    digest TEXT NOT NULL,
    component {BLOB} NOT NULL,
    created_by TEXT,
    created_time BIGINT NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE installations (
    id TEXT PRIMARY KEY,
    package_id TEXT NOT NULL REFERENCES integration_packages (id),
    integration_id TEXT NOT NULL UNIQUE,
    installed_by TEXT NOT NULL,
    config TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE integration_runs (
    id TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL REFERENCES installations (id),
    run_key TEXT,
    trigger_kind TEXT NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    created_time BIGINT NOT NULL,
    started_time BIGINT,
    finished_time BIGINT,
    record TEXT,
    output TEXT,
    UNIQUE (installation_id, run_key)
);
CREATE INDEX integration_runs_queue ON integration_runs (status, lease_until);
CREATE INDEX integration_runs_by_installation ON integration_runs (installation_id, created_time);
CREATE TABLE integration_kv (
    installation_id TEXT NOT NULL,
    kv_key TEXT NOT NULL,
    value {BLOB} NOT NULL,
    PRIMARY KEY (installation_id, kv_key)
);
CREATE TABLE integration_secrets (
    installation_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (installation_id, name)
);
CREATE TABLE installation_webhooks (
    token_hash TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL UNIQUE REFERENCES installations (id),
    created_time BIGINT NOT NULL
);
CREATE TABLE usage_events (
    id {AUTO_ID},
    run_id TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit TEXT NOT NULL,
    time BIGINT NOT NULL
);
CREATE INDEX usage_events_by_run ON usage_events (run_id)
"#;

/// The run queue at rate: queued runs are claimed oldest first from an index (no sort of the
/// whole queue per pass), and each installation's runs started per clock hour are counted in
/// one row per hour, so the hourly limit is checked without counting runs.
const V6: &str = r#"
CREATE INDEX integration_runs_queued ON integration_runs (status, created_time, id);
CREATE TABLE installation_run_hours (
    installation_id TEXT NOT NULL,
    hour_start BIGINT NOT NULL,
    started BIGINT NOT NULL,
    PRIMARY KEY (installation_id, hour_start)
)
"#;

/// Partial queue indexes: only queued runs are in `integration_runs_queued`, and only running
/// ones in `integration_runs_leased`, so a run that ends leaves both, and a run inserted already
/// ended or started by its dispatcher touches one at most. The full-status indexes they replace
/// held every run ever made, and every insert and status change paid for two of them.
const V7: &str = r#"
DROP INDEX integration_runs_queue;
DROP INDEX integration_runs_queued;
CREATE INDEX integration_runs_queued ON integration_runs (created_time, id) WHERE status = 'queued';
CREATE INDEX integration_runs_leased ON integration_runs (lease_until, id, installation_id) WHERE status = 'running'
"#;

/// Writer time per run, measured on SQLite at 10,000 change runs a second (docs/benchmarks.md):
/// - The run-key constraint leads with the key: a change's runs (one per subscribed
///   installation, key `change:SEQ`) sit side by side in it, where `(installation_id, run_key)`
///   put each in its installation's part of the index, so every insert of a change's runs
///   dirtied a page per installation and SQLite wrote each page whole to its WAL.
/// - A run's usage is one row of meters (`run_usage`) instead of five `usage_events` rows.
///
/// SQLite cannot drop a table's UNIQUE constraint, so there the table is rebuilt.
const V8_SQLITE: &str = r#"
CREATE TABLE integration_runs_v8 (
    id TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL REFERENCES installations (id),
    run_key TEXT,
    trigger_kind TEXT NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    created_time BIGINT NOT NULL,
    started_time BIGINT,
    finished_time BIGINT,
    record TEXT,
    output TEXT,
    UNIQUE (run_key, installation_id)
);
INSERT INTO integration_runs_v8 (id, installation_id, run_key, trigger_kind, event, user_id, status,
    attempts, lease_until, created_time, started_time, finished_time, record, output)
    SELECT id, installation_id, run_key, trigger_kind, event, user_id, status, attempts, lease_until,
    created_time, started_time, finished_time, record, output FROM integration_runs;
DROP TABLE integration_runs;
ALTER TABLE integration_runs_v8 RENAME TO integration_runs;
CREATE INDEX integration_runs_by_installation ON integration_runs (installation_id, created_time);
CREATE INDEX integration_runs_queued ON integration_runs (created_time, id) WHERE status = 'queued';
CREATE INDEX integration_runs_leased ON integration_runs (lease_until, id, installation_id) WHERE status = 'running';
{RUN_USAGE}
"#;

const V8_POSTGRES: &str = r#"
ALTER TABLE integration_runs DROP CONSTRAINT integration_runs_installation_id_run_key_key;
ALTER TABLE integration_runs ADD CONSTRAINT integration_runs_run_key_installation_id_key UNIQUE (run_key, installation_id);
{RUN_USAGE}
"#;

/// Both dialects: `run_usage`, filled from the `usage_events` it replaces.
const V8_RUN_USAGE: &str = r#"
CREATE TABLE run_usage (
    run_id TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL,
    time BIGINT NOT NULL,
    cpu_us BIGINT NOT NULL,
    fuel BIGINT NOT NULL,
    memory_byte_seconds BIGINT NOT NULL,
    host_calls BIGINT NOT NULL,
    outbound_requests BIGINT NOT NULL
);
INSERT INTO run_usage (run_id, installation_id, time, cpu_us, fuel, memory_byte_seconds, host_calls, outbound_requests)
    SELECT run_id, MIN(installation_id), MIN(time),
    SUM(CASE WHEN kind = 'cpu' THEN quantity ELSE 0 END),
    SUM(CASE WHEN kind = 'fuel' THEN quantity ELSE 0 END),
    SUM(CASE WHEN kind = 'memory' THEN quantity ELSE 0 END),
    SUM(CASE WHEN kind = 'host_calls' THEN quantity ELSE 0 END),
    SUM(CASE WHEN kind = 'outbound_requests' THEN quantity ELSE 0 END)
    FROM usage_events GROUP BY run_id;
DROP TABLE usage_events
"#;

/// A counter per table whose readers cache it: a writer of the table bumps it in the same
/// transaction, so a reader re-reads the table only when it changed.
const V9: &str = r#"
CREATE TABLE revisions (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO revisions (name, value) VALUES ('installations', 0)
"#;

/// SQLite only: an installation's runs are listed from `run_directory`, filled in batches
/// (`Store::flush_run_directory`), instead of an index on `integration_runs (installation_id,
/// created_time)`. Each dispatcher pass inserts runs for every subscribed installation, so that
/// index had a dirty page per installation per pass, and SQLite writes each dirty page whole to
/// its WAL: 59% of the bytes written at 10,000 change runs a second (docs/benchmarks.md). Filed
/// about once a second, each installation's page is written once a second instead. Runs past
/// `run_directory_state.through_rowid` are not filed yet; the listing reads them from the table.
/// PostgreSQL logs an index insert as a small record, not a page, and keeps its index.
const V10_SQLITE: &str = r#"
CREATE TABLE run_directory (
    installation_id TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (installation_id, created_time, id)
) WITHOUT ROWID;
CREATE TABLE run_directory_state (
    through_rowid BIGINT NOT NULL
);
INSERT INTO run_directory (installation_id, created_time, id)
    SELECT installation_id, created_time, id FROM integration_runs;
INSERT INTO run_directory_state (through_rowid) SELECT COALESCE(MAX(rowid), 0) FROM integration_runs;
DROP INDEX integration_runs_by_installation
"#;

/// Tokens get an id (to list and revoke them by, without showing their hash), an optional
/// expiry and a revocation time. Existing tokens get random ids, hyphenated like every id:
/// random hex in place first, then cut into the UUID's groups (one random value per row).
/// No `last_used_time`: recording each use would make every authenticated request a write,
/// and SQLite has one writer.
const V11_SQLITE: &str = r#"
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN expires_time BIGINT;
ALTER TABLE tokens ADD COLUMN revoked_time BIGINT;
UPDATE tokens SET id = lower(hex(randomblob(16)));
UPDATE tokens SET id = substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-' || substr(id, 21, 12);
CREATE UNIQUE INDEX tokens_by_id ON tokens (id);
CREATE INDEX tokens_by_user ON tokens (user_id, id)
"#;

const V11_POSTGRES: &str = r#"
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN expires_time BIGINT;
ALTER TABLE tokens ADD COLUMN revoked_time BIGINT;
UPDATE tokens SET id = md5(random()::text || hash);
UPDATE tokens SET id = substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-' || substr(id, 21, 12);
CREATE UNIQUE INDEX tokens_by_id ON tokens (id);
CREATE INDEX tokens_by_user ON tokens (user_id, id)
"#;

pub fn all() -> Vec<Migration> {
    vec![
        Migration {
            version: 1,
            name: "initial schema",
            sqlite: V1,
            postgres: V1,
        },
        Migration {
            version: 2,
            name: "webhooks",
            sqlite: V2,
            postgres: V2,
        },
        Migration {
            version: 3,
            name: "children by kind",
            sqlite: V3,
            postgres: V3_POSTGRES,
        },
        Migration {
            version: 4,
            name: "search chunks",
            sqlite: V4,
            postgres: V4,
        },
        Migration {
            version: 5,
            name: "integrations",
            sqlite: V5,
            postgres: V5,
        },
        Migration {
            version: 6,
            name: "run queue at rate",
            sqlite: V6,
            postgres: V6,
        },
        Migration {
            version: 7,
            name: "partial run queue indexes",
            sqlite: V7,
            postgres: V7,
        },
        Migration {
            version: 8,
            name: "run keys first, one usage row per run",
            sqlite: V8_SQLITE,
            postgres: V8_POSTGRES,
        },
        Migration {
            version: 9,
            name: "revisions",
            sqlite: V9,
            postgres: V9,
        },
        Migration {
            version: 10,
            name: "run directory",
            sqlite: V10_SQLITE,
            postgres: "",
        },
        Migration {
            version: 11,
            name: "token ids, expiry and revocation",
            sqlite: V11_SQLITE,
            postgres: V11_POSTGRES,
        },
    ]
}

pub fn render(migration: &Migration, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => migration
            .sqlite
            .replace("{AUTO_ID}", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("{REAL}", "REAL")
            .replace("{XID}", "")
            .replace("{BLOB}", "BLOB")
            .replace("{RUN_USAGE}", V8_RUN_USAGE),
        // `xid` lets change-log readers skip rows of transactions still in flight, since
        // sequence values commit out of order on PostgreSQL.
        Dialect::Postgres => migration
            .postgres
            .replace("{AUTO_ID}", "BIGSERIAL PRIMARY KEY")
            .replace("{REAL}", "DOUBLE PRECISION")
            .replace("{XID}", "xid xid8 NOT NULL DEFAULT pg_current_xact_id(),")
            .replace("{BLOB}", "BYTEA")
            .replace("{RUN_USAGE}", V8_RUN_USAGE),
    }
}

#[cfg(test)]
mod tests {
    use document::Id;

    use crate::{PackageRecord, RunRow, RunStatus, Store, Trigger};

    fn run(id: u128, installation: Id, key: &str) -> RunRow {
        RunRow {
            id: Id::from_u128(id),
            installation_id: installation,
            run_key: Some(key.to_string()),
            trigger: Trigger::Change,
            event: "{}".into(),
            user_id: Id::from_u128(9),
            status: RunStatus::Ok,
            attempts: 1,
            lease_until: 0,
            created_time: id as i64,
            started_time: Some(id as i64),
            finished_time: Some(id as i64 + 1),
            record: Some("{}".into()),
            output: None,
        }
    }

    /// Runs and usage written under migration 7 read back the same under 8: runs whole, with
    /// their keys still unique per installation, and five `usage_events` rows per run as one
    /// `run_usage` row.
    async fn migration_8_keeps_runs_and_folds_usage(store: Store) {
        store.migrate_through(7).await.unwrap();
        let (package, installation) = (Id::from_u128(1), Id::from_u128(2));
        let mut tx = store.write().await.unwrap();
        tx.insert_package(
            &PackageRecord {
                id: package,
                name: "p".into(),
                version: "1.0.0".into(),
                manifest: "{}".into(),
                digest: "d".into(),
                created_by: None,
                created_time: 0,
            },
            b"component",
        )
        .await
        .unwrap();
        // In the version 7 schema's own terms: `insert_installation` also bumps the revision
        // counter that migration 9 adds.
        sqlx::query(
            "INSERT INTO installations (id, package_id, integration_id, installed_by, config, \
             active, created_time) VALUES ($1, $2, $3, $4, '{}', 1, 0)",
        )
        .bind(installation.to_string())
        .bind(package.to_string())
        .bind(Id::from_u128(3).to_string())
        .bind(Id::from_u128(9).to_string())
        .execute(&mut *tx.tx)
        .await
        .unwrap();
        let runs = [
            run(10, installation, "change:1"),
            run(11, installation, "change:2"),
        ];
        // Under migration 7 the same conflict target names `UNIQUE (installation_id, run_key)`:
        // both dialects match a target to a unique index by its set of columns.
        assert_eq!(tx.insert_runs(&runs).await.unwrap().len(), 2);
        // Run 10 used every meter; run 11 has no usage rows.
        for (kind, quantity) in [
            ("cpu", 31),
            ("fuel", 2_600),
            ("memory", 4_096),
            ("host_calls", 2),
            ("outbound_requests", 1),
        ] {
            sqlx::query(
                "INSERT INTO usage_events (run_id, installation_id, kind, quantity, unit, time) \
                 VALUES ($1, $2, $3, $4, 'unit', 77)",
            )
            .bind(runs[0].id.to_string())
            .bind(installation.to_string())
            .bind(kind)
            .bind(quantity as i64)
            .execute(&mut *tx.tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();

        store.migrate_through(i64::MAX).await.unwrap();
        let mut tx = store.write().await.unwrap();
        for run in &runs {
            assert_eq!(tx.get_run(run.id).await.unwrap().as_ref(), Some(run));
        }
        let usage = tx.usage_of_run(runs[0].id).await.unwrap().unwrap();
        assert_eq!(
            (usage.installation_id, usage.time, usage.cpu_us, usage.fuel),
            (installation, 77, 31, 2_600)
        );
        assert_eq!(
            (
                usage.memory_byte_seconds,
                usage.host_calls,
                usage.outbound_requests
            ),
            (4_096, 2, 1)
        );
        assert_eq!(tx.usage_of_run(runs[1].id).await.unwrap(), None);
        // The run key is still unique per installation: a repeat inserts nothing, a new key does.
        let again = run(12, installation, "change:1");
        assert!(tx.insert_runs(&[again]).await.unwrap().is_empty());
        let fresh = run(13, installation, "change:3");
        assert_eq!(
            tx.insert_runs(&[fresh]).await.unwrap(),
            vec![Id::from_u128(13)]
        );
        tx.commit().await.unwrap();
        store.close().await;
    }

    #[tokio::test]
    async fn migration_8_on_sqlite() {
        let dir = std::env::temp_dir().join(format!("trellis-migrate-8-{}", Id::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("trellis.db").display());
        migration_8_keeps_runs_and_folds_usage(Store::connect(&url).await.unwrap()).await;
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn migration_8_on_postgres() {
        let Some(base) = std::env::var("TRELLIS_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return;
        };
        let url = crate::create_postgres_database(&base).await.unwrap();
        migration_8_keeps_runs_and_folds_usage(Store::connect(&url).await.unwrap()).await;
    }

    /// Tokens made under migration 10 get distinct, well-formed ids under 11, no expiry and no
    /// revocation, and are found, listed and revoked by them.
    async fn migration_11_gives_tokens_ids(store: Store) {
        store.migrate_through(10).await.unwrap();
        let user = crate::UserRecord {
            id: Id::from_u128(1),
            kind: crate::UserKind::Person,
            role: access::Role::Member,
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            avatar_url: None,
            password_hash: None,
            integration_id: None,
            created_time: 0,
        };
        let mut tx = store.write().await.unwrap();
        tx.insert_user(&user).await.unwrap();
        for i in 0..3 {
            // In the version 10 schema's own terms.
            sqlx::query(
                "INSERT INTO tokens (hash, kind, user_id, integration_id, name, created_time) \
                 VALUES ($1, 'personal', $2, NULL, 'old', $3)",
            )
            .bind(format!("hash-{i}"))
            .bind(user.id.to_string())
            .bind(i as i64)
            .execute(&mut *tx.tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();

        store.migrate_through(i64::MAX).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            let token = tx.find_token(&format!("hash-{i}")).await.unwrap().unwrap();
            assert_eq!(
                (
                    token.subject,
                    token.created_time,
                    token.expires_time,
                    token.revoked_time
                ),
                (crate::TokenSubject::User(user.id), i as i64, None, None)
            );
            assert_eq!(tx.get_token(token.id).await.unwrap().as_ref(), Some(&token));
            ids.push(token.id);
        }
        ids.sort_by_key(|id| id.to_string());
        ids.dedup();
        assert_eq!(ids.len(), 3, "ids should be distinct: {ids:?}");
        let listed: Vec<Id> = tx
            .list_tokens(Some(user.id), None, 10)
            .await
            .unwrap()
            .iter()
            .map(|token| token.id)
            .collect();
        assert_eq!(listed, ids);
        let after_first = tx.list_tokens(None, Some(ids[0]), 1).await.unwrap();
        assert_eq!(after_first.len(), 1);
        assert_eq!(after_first[0].id, ids[1]);
        tx.revoke_token(ids[1], 77).await.unwrap();
        tx.revoke_token(ids[1], 78).await.unwrap();
        assert_eq!(
            tx.get_token(ids[1]).await.unwrap().unwrap().revoked_time,
            Some(77)
        );
        tx.commit().await.unwrap();
        store.close().await;
    }

    #[tokio::test]
    async fn migration_11_on_sqlite() {
        let dir = std::env::temp_dir().join(format!("trellis-migrate-11-{}", Id::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("trellis.db").display());
        migration_11_gives_tokens_ids(Store::connect(&url).await.unwrap()).await;
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn migration_11_on_postgres() {
        let Some(base) = std::env::var("TRELLIS_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return;
        };
        let url = crate::create_postgres_database(&base).await.unwrap();
        migration_11_gives_tokens_ids(Store::connect(&url).await.unwrap()).await;
    }
}
