//! The change log: ordered, gap-free, duplicate-free, resumable across restarts, and — on
//! PostgreSQL — safe under concurrent writers whose sequence values commit out of order.

use document::Id;
use storage_sql::{Change, ChangeCursor, Store};

fn change(n: u128) -> Change {
    Change {
        kind: "page.created".into(),
        object_kind: "page".into(),
        object_id: Id::from_u128(n),
        parent_id: None,
        actor_id: Id::from_u128(1),
        fields: vec![format!("f{n}")],
    }
}

async fn append(store: &Store, from: u128, count: u128) {
    let mut tx = store.write().await.unwrap();
    for n in from..from + count {
        tx.append_change(&change(n), 0).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Reads everything after the consumer's saved cursor, saving the cursor as it goes.
async fn drain(store: &Store, consumer: &str) -> Vec<u128> {
    let mut seen = Vec::new();
    loop {
        let mut tx = store.write().await.unwrap();
        let cursor = tx.load_cursor(consumer).await.unwrap();
        let batch = tx.read_changes(cursor, 7).await.unwrap();
        if batch.is_empty() {
            tx.commit().await.unwrap();
            return seen;
        }
        for record in &batch {
            seen.push(record.change.object_id.as_u128());
        }
        let last = batch.last().unwrap().cursor;
        tx.save_cursor(consumer, last, 0).await.unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_consumer_resumes_after_a_restart_without_gaps_or_duplicates() {
    let dir = std::env::temp_dir().join(format!("trellis-log-{}", uuid::Uuid::new_v4()));
    let store = Store::open_data_dir(&dir).await.unwrap();
    append(&store, 0, 20).await;
    let first = drain(&store, "indexer").await;
    store.close().await;
    drop(store);

    // A restart: a new process opens the same file.
    let store = Store::open_data_dir(&dir).await.unwrap();
    append(&store, 20, 15).await;
    let second = drain(&store, "indexer").await;
    let all: Vec<u128> = first.into_iter().chain(second).collect();
    assert_eq!(all, (0..35).collect::<Vec<_>>());
    // Another consumer has its own cursor and sees everything.
    assert_eq!(drain(&store, "webhooks").await.len(), 35);
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_event() {
    for (_, store) in super::stores().await {
        let mut tx = store.write().await.unwrap();
        tx.append_change(&change(99), 0).await.unwrap();
        tx.rollback().await.unwrap();
        append(&store, 1, 1).await;
        // On PostgreSQL an event becomes readable once every older transaction in the
        // cluster has ended (other tests run concurrently), so wait for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let events = loop {
            let mut tx = store.read().await.unwrap();
            let events = tx.read_changes(ChangeCursor::start(), 100).await.unwrap();
            tx.commit().await.unwrap();
            if !events.is_empty() || std::time::Instant::now() > deadline {
                break events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(
            events
                .iter()
                .map(|e| e.change.object_id.as_u128())
                .collect::<Vec<_>>(),
            vec![1]
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_make_a_reader_skip_an_event() {
    let Some(url) = super::postgres_database().await else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let writers = 8u128;
    let per_writer = 40u128;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_writer {
                let mut tx = store.write().await.unwrap();
                tx.append_change(&change(writer * 1_000 + n), 0)
                    .await
                    .unwrap();
                // Hold some transactions open so later sequence values commit first.
                if n % 3 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                tx.commit().await.unwrap();
            }
        }));
    }
    // Read concurrently while the writers run.
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while seen.len() < (writers * per_writer) as usize
                && std::time::Instant::now() < deadline
            {
                seen.extend(drain(&store, "reader").await);
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            seen
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    let mut seen = reader.await.unwrap();
    seen.extend(drain(&store, "reader").await);
    let count = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), count, "an event was delivered twice");
    assert_eq!(count as u128, writers * per_writer, "an event was skipped");
    store.close().await;
}

mod across_restarts {
    use proptest::prelude::*;
    use storage_sql::Store;

    use super::{append, drain};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Random bursts of appends, with a consumer that reads some of the way and a store
        /// that is closed and reopened between bursts: the consumer sees every event exactly
        /// once, in order.
        #[test]
        fn no_gaps_or_duplicates_across_restarts(bursts in prop::collection::vec((1u128..15, any::<bool>()), 1..6)) {
            let runtime = crate::runtime();
            runtime.block_on(async {
                let dir = std::env::temp_dir().join(format!("trellis-log-prop-{}", uuid::Uuid::new_v4()));
                let mut store = Store::open_data_dir(&dir).await.unwrap();
                let mut next = 0u128;
                let mut seen = Vec::new();
                for (count, restart) in bursts {
                    append(&store, next, count).await;
                    next += count;
                    seen.extend(drain(&store, "prop").await);
                    if restart {
                        store.close().await;
                        store = Store::open_data_dir(&dir).await.unwrap();
                    }
                }
                seen.extend(drain(&store, "prop").await);
                store.close().await;
                std::fs::remove_dir_all(&dir).ok();
                prop_assert_eq!(seen, (0..next).collect::<Vec<_>>());
                Ok(())
            })?;
        }
    }
}

#[tokio::test]
async fn a_commit_that_appended_changes_is_announced_and_no_other() {
    for (name, store) in super::stores().await {
        let mut watch = store.watch_changes();
        assert!(!watch.has_unseen(), "{name}");
        // Rolled back: nothing to read, nothing announced.
        let mut tx = store.write().await.unwrap();
        tx.append_change(&change(1), 0).await.unwrap();
        tx.rollback().await.unwrap();
        // A write that appends nothing is not announced either.
        let mut tx = store.write().await.unwrap();
        tx.save_cursor("indexer", ChangeCursor::start(), 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(!watch.has_unseen(), "{name}");
        // A commit that appended is, once, however many changes it holds; and a watcher made
        // afterwards starts from it.
        append(&store, 2, 3).await;
        assert!(watch.has_unseen(), "{name}");
        watch.mark_seen();
        assert!(!watch.has_unseen(), "{name}");
        assert!(!store.watch_changes().has_unseen(), "{name}");
        // A waiter is woken by the next one, and counts it as seen.
        let waiter = tokio::spawn(async move {
            watch.changed().await;
            watch
        });
        tokio::task::yield_now().await;
        append(&store, 5, 1).await;
        let watch = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter was woken")
            .unwrap();
        assert!(!watch.has_unseen(), "{name}");
        store.close().await;
    }
}

/// Waits up to 30 s for `read_changes` after `cursor` to find `count` events (on PostgreSQL an
/// event becomes readable once every older transaction in the cluster has ended), and returns
/// the cursor of the last.
async fn wait_readable(store: &Store, cursor: ChangeCursor, count: usize) -> ChangeCursor {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut tx = store.read().await.unwrap();
        let events = tx.read_changes(cursor, 100).await.unwrap();
        tx.commit().await.unwrap();
        if events.len() == count {
            return events.last().unwrap().cursor;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {count} events readable",
            events.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_look_for_changes_agrees_with_reading_them() {
    for (name, store) in super::stores().await {
        let start = ChangeCursor::start();
        assert!(!store.has_changes_after(start).await.unwrap(), "{name}");
        append(&store, 1, 3).await;
        let last = wait_readable(&store, start, 3).await;
        assert!(store.has_changes_after(start).await.unwrap(), "{name}");
        assert!(!store.has_changes_after(last).await.unwrap(), "{name}");
        append(&store, 4, 1).await;
        let newest = wait_readable(&store, last, 1).await;
        assert!(store.has_changes_after(last).await.unwrap(), "{name}");
        assert!(!store.has_changes_after(newest).await.unwrap(), "{name}");
        if name == "postgres" {
            // A later transaction committed while an older one is still open is not read yet,
            // so that the older one's event can't be skipped: the look says the same.
            let mut older = store.write().await.unwrap();
            older.append_change(&change(5), 0).await.unwrap();
            append(&store, 6, 1).await;
            let mut tx = store.read().await.unwrap();
            assert!(tx.read_changes(newest, 100).await.unwrap().is_empty());
            tx.commit().await.unwrap();
            assert!(!store.has_changes_after(newest).await.unwrap());
            older.commit().await.unwrap();
            wait_readable(&store, newest, 2).await;
            assert!(store.has_changes_after(newest).await.unwrap());
        }
        store.close().await;
    }
}
