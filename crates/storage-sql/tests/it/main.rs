//! Integration tests of the store, on in-memory SQLite and — when
//! `TRELLIS_TEST_POSTGRES_URL` is set (as `.ci/run` does) — on a fresh PostgreSQL database.

mod change_log;
mod checkpoint;
mod filters;
mod runs;
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
    let base = std::env::var("TRELLIS_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    Some(
        storage_sql::create_postgres_database(&base)
            .await
            .expect("create a database on TRELLIS_TEST_POSTGRES_URL"),
    )
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
