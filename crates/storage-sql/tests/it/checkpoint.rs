//! A file store's WAL is copied back by the background checkpointer, not left to SQLite's
//! automatic checkpoint in some writer's commit (whose threshold is set far above what these
//! writes make).

use std::time::{Duration, Instant};

use document::Id;
use storage_sql::{Change, SQLITE_CHECKPOINT_INTERVAL_MS, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_checkpointer_copies_the_wal_back() {
    let dir = std::env::temp_dir().join(format!("trellis-checkpoint-{}", Id::new()));
    let store = Store::open_data_dir(&dir).await.unwrap();
    let before = store
        .checkpoint_status()
        .expect("a file store has a checkpointer");
    for batch in 0..50u128 {
        let mut tx = store.write().await.unwrap();
        for n in 0..20u128 {
            let change = Change {
                kind: "page.created".into(),
                object_kind: "page".into(),
                object_id: Id::from_u128(batch * 100 + n + 1),
                parent_id: None,
                actor_id: Id::from_u128(1),
                fields: vec!["x".repeat(200)],
            };
            tx.append_change(&change, 0).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    // Within a few intervals a pass finds frames in the WAL and copies every one of them.
    let deadline = Instant::now() + Duration::from_millis(10 * SQLITE_CHECKPOINT_INTERVAL_MS);
    loop {
        let status = store.checkpoint_status().unwrap();
        if status.passes > before.passes
            && status.wal_frames > 0
            && status.checkpointed_frames == status.wal_frames
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the checkpointer did not copy the WAL back: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
    // PostgreSQL and in-memory SQLite have none.
    let memory = Store::open("sqlite::memory:").await.unwrap();
    assert_eq!(memory.checkpoint_status(), None);
    std::fs::remove_dir_all(&dir).ok();
}
