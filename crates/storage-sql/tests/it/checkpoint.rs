//! A file store's WAL is copied back by the background checkpointer, not left to SQLite's
//! automatic checkpoint in some writer's commit (whose threshold is set far above what these
//! writes make), a long WAL starts over instead of growing, and a WAL file grown too large is
//! cut once writes stop, never in a commit.

use std::time::{Duration, Instant};

use document::Id;
use storage_sql::{
    Change, SQLITE_AUTOCHECKPOINT_PAGES, SQLITE_CHECKPOINT_INTERVAL_MS, SQLITE_WAL_RESET_FRAMES,
    SQLITE_WAL_SIZE_LIMIT_BYTES, Store,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_checkpointer_copies_the_wal_back() {
    let dir = std::env::temp_dir().join(format!("trellis-checkpoint-{}", Id::new()));
    let store = Store::open_data_dir(&dir).await.unwrap();
    let before = store
        .checkpoint_status()
        .expect("a file store has a checkpointer");
    append_changes(&store, 50, 20, 200).await;
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

/// Appends `batches` transactions of `per_batch` changes, each carrying `field_bytes` bytes.
async fn append_changes(store: &Store, batches: u128, per_batch: u128, field_bytes: usize) {
    for batch in 0..batches {
        let mut tx = store.write().await.unwrap();
        for n in 0..per_batch {
            let change = Change {
                kind: "page.created".into(),
                object_kind: "page".into(),
                object_id: Id::from_u128(batch * per_batch + n + 1),
                parent_id: None,
                actor_id: Id::from_u128(1),
                fields: vec!["x".repeat(field_bytes)],
            };
            tx.append_change(&change, 0).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

/// Commits `per_batch` changes of `field_bytes` bytes at a time, pausing `pause` between
/// commits, until the flag it returns is set; the task returns how many commits it made.
fn keep_writing(
    store: &Store,
    per_batch: u128,
    field_bytes: usize,
    pause: Duration,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<u128>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move {
            let mut batches = 0u128;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                append_changes(&store, 1, per_batch, field_bytes).await;
                batches += 1;
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            batches
        }
    });
    (stop, writes)
}

/// Waits up to thirty checkpoint intervals for the WAL to grow past the threshold, a pass to
/// finish on the writer, and the WAL to start over: its frame count falls only when it starts
/// from the beginning.
async fn wait_for_wal_restart(store: &Store) -> storage_sql::CheckpointStatus {
    let mut longest = 0;
    let deadline = Instant::now() + Duration::from_millis(30 * SQLITE_CHECKPOINT_INTERVAL_MS);
    loop {
        let status = store.checkpoint_status().unwrap();
        if longest >= SQLITE_WAL_RESET_FRAMES
            && status.writer_passes > 0
            && status.wal_frames < longest
        {
            return status;
        }
        longest = longest.max(status.wal_frames);
        assert!(
            Instant::now() < deadline,
            "the WAL did not start over (longest {longest} frames): {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to ten checkpoint intervals for a status that satisfies `done`.
async fn wait_for_status(
    store: &Store,
    what: &str,
    done: impl Fn(&storage_sql::CheckpointStatus) -> bool,
) -> storage_sql::CheckpointStatus {
    let deadline = Instant::now() + Duration::from_millis(10 * SQLITE_CHECKPOINT_INTERVAL_MS);
    loop {
        let status = store.checkpoint_status().unwrap();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wal_starts_over_while_writes_keep_coming() {
    assert!(
        SQLITE_WAL_RESET_FRAMES * 4 < SQLITE_AUTOCHECKPOINT_PAGES as i64,
        "the writer's own checkpoint must not be what resets the WAL here"
    );
    let dir = std::env::temp_dir().join(format!("trellis-checkpoint-{}", Id::new()));
    let store = Store::open_data_dir(&dir).await.unwrap();
    // Commits one after another, about 80 KB each, until told to stop. A passive checkpoint
    // on a reader never finds every frame copied while they come, so the WAL would only grow.
    let (stop, writes) = keep_writing(&store, 20, 4_000, Duration::ZERO);
    // Yet it starts over while the writes go on.
    let restarted = wait_for_wal_restart(&store).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let batches = writes.await.unwrap();
    assert!(
        batches > 0 && restarted.passes > 0,
        "{batches} commits: {restarted:?}"
    );
    // The passes' times are counted, the writer's apart, and its longest is one of them.
    assert!(
        restarted.pass_us > 0
            && restarted.writer_pass_us_max > 0
            && restarted.writer_pass_us_max <= restarted.writer_pass_us,
        "{restarted:?}"
    );
    // Once every frame is copied and the WAL is short, the writer is left alone.
    let quiet = wait_for_status(&store, "the WAL was not copied back", |status| {
        status.checkpointed_frames == status.wal_frames
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3 * SQLITE_CHECKPOINT_INTERVAL_MS)).await;
    let later = store.checkpoint_status().unwrap();
    assert!(later.passes > quiet.passes, "the checkpointer kept running");
    assert!(
        later.writer_passes <= quiet.writer_passes + 1,
        "at most the pass that copied the last frames ran on the writer: {quiet:?} then {later:?}"
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_files_new_runs_in_the_run_directory() {
    use crate::runs::{installation, run, with_package};
    let dir = std::env::temp_dir().join(format!("trellis-checkpoint-{}", Id::new()));
    let store = Store::open_data_dir(&dir).await.unwrap();
    let mut tx = store.write().await.unwrap();
    let package = with_package(&mut tx).await;
    let owner = installation(2, package);
    tx.insert_installation(&owner).await.unwrap();
    let runs: Vec<_> = (0..5u128)
        .map(|n| run(10 + n, owner.id, &format!("change:{n}")))
        .collect();
    tx.insert_runs(&runs).await.unwrap();
    tx.commit().await.unwrap();
    let filed = wait_for_status(&store, "the checkpointer files the runs", |status| {
        status.runs_filed == 5
    })
    .await;
    // The filing's time is counted: a transaction that wrote five rows took some.
    assert!(filed.filing_us > 0, "{filed:?}");
    // Filed once: nothing is left for another flush.
    assert_eq!(store.flush_run_directory().await.unwrap(), 0);
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.list_runs(owner.id, None, 10).await.unwrap().len(), 5);
    tx.commit().await.unwrap();
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wal_grown_past_its_limit_is_cut_once_writes_stop_not_in_a_commit() {
    let dir = std::env::temp_dir().join(format!("trellis-checkpoint-{}", Id::new()));
    let store = Store::open_data_dir(&dir).await.unwrap();
    let wal = dir.join("trellis.db-wal");
    let wal_bytes = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // One transaction larger than the limit: the WAL holds all of it (a page a change).
    let changes = (SQLITE_WAL_SIZE_LIMIT_BYTES / 3_000) as u128;
    append_changes(&store, 1, changes, 3_000).await;
    let grown = wal_bytes();
    assert!(grown > SQLITE_WAL_SIZE_LIMIT_BYTES, "WAL of {grown} bytes");
    // Small commits keep coming while the checkpointer copies the WAL back and it starts over.
    let (stop, writes) = keep_writing(&store, 5, 100, Duration::from_millis(5));
    wait_for_wal_restart(&store).await;
    // It started over and commits went on writing into it, but none cut the file (SQLite's
    // `journal_size_limit` would have, in the first commit after the start).
    tokio::time::sleep(Duration::from_millis(SQLITE_CHECKPOINT_INTERVAL_MS)).await;
    let during = store.checkpoint_status().unwrap();
    let kept = wal_bytes();
    assert!(kept >= grown, "{grown} bytes, then {kept}: {during:?}");
    assert_eq!(during.wal_truncations, 0, "{during:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let batches = writes.await.unwrap();
    // Once an interval passes without a write, the checkpointer cuts it to nothing.
    let cut = wait_for_status(&store, "the WAL was not cut", |status| {
        status.wal_truncations > 0
    })
    .await;
    assert_eq!(wal_bytes(), 0, "{cut:?}");
    // Every commit is still there, and later ones are kept as ever.
    append_changes(&store, 1, 3, 100).await;
    let mut tx = store.read().await.unwrap();
    let read = tx
        .read_changes(storage_sql::ChangeCursor::start(), i64::MAX)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read.len() as u128, changes + batches * 5 + 3);
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}
