//! Integration tests of the store, on in-memory SQLite and — when
//! `TRELLIS_TEST_POSTGRES_URL` is set (as `.ci/run` does) — on a fresh PostgreSQL database.

mod change_log;
mod filters;
mod tree;

use storage_sql::Store;

/// Opens the stores under test: in-memory SQLite always, PostgreSQL when configured.
pub async fn stores() -> Vec<(&'static str, Store)> {
    let mut stores = vec![(
        "sqlite",
        Store::open("sqlite::memory:").await.expect("open sqlite"),
    )];
    if let Some(url) = postgres_database().await {
        stores.push(("postgres", Store::open(&url).await.expect("open postgres")));
    }
    stores
}

/// Creates a fresh PostgreSQL database for one test and returns its URL.
pub async fn postgres_database() -> Option<String> {
    use sqlx::Connection;
    let base = std::env::var("TRELLIS_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    sqlx::any::install_default_drivers();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(&base)
        .await
        .expect("connect to TRELLIS_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let (prefix, _) = base.rsplit_once('/').expect("URL with a database name");
    Some(format!("{prefix}/{name}"))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
