//! The run queue's batch writes: a batch that writes every row skips `RETURNING`, and one that
//! can't is undone and written again row by row reporting, so both tell the caller exactly
//! which rows they wrote. And the installations revision that caches of them watch.

use document::Id;
use storage_sql::{
    Error, InstallationRecord, PackageRecord, RunEnd, RunRow, RunStatus, Store, Trigger, Tx,
};

use crate::{runtime, stores};

pub(crate) fn run(id: u128, installation: Id, key: &str) -> RunRow {
    RunRow {
        id: Id::from_u128(id),
        installation_id: installation,
        run_key: Some(key.to_string()),
        trigger: Trigger::Change,
        event: "{}".into(),
        user_id: Id::from_u128(9),
        status: RunStatus::Running,
        attempts: 1,
        lease_until: i64::MAX / 2,
        created_time: id as i64,
        started_time: Some(id as i64),
        finished_time: None,
        record: None,
        output: None,
    }
}

fn end(run: &RunRow, attempt: i64) -> RunEnd {
    RunEnd {
        id: run.id,
        attempt,
        status: RunStatus::Ok,
        record: format!("{{\"attempt\":{attempt}}}"),
        output: None,
        started_time: Some(1),
        finished_time: 2,
    }
}

pub(crate) fn installation(id: u128, package: Id) -> InstallationRecord {
    InstallationRecord {
        id: Id::from_u128(id),
        package_id: package,
        integration_id: Id::from_u128(id + 1),
        installed_by: Id::from_u128(9),
        config: "{}".into(),
        active: true,
        created_time: 0,
    }
}

pub(crate) async fn with_package(tx: &mut Tx) -> Id {
    let package = Id::from_u128(1);
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
    package
}

async fn batches_report_exactly_what_they_wrote(name: &str, store: Store) {
    let mut tx = store.write().await.unwrap();
    let package = with_package(&mut tx).await;
    let installation = installation(2, package);
    tx.insert_installation(&installation).await.unwrap();
    let id = installation.id;
    let first = [run(10, id, "change:1"), run(11, id, "change:2")];
    assert_eq!(
        tx.insert_runs(&first).await.unwrap(),
        vec![first[0].id, first[1].id],
        "{name}: a batch of new keys"
    );
    // A batch where one key was used: only the others are written, and only they come back.
    let second = [
        run(12, id, "change:3"),
        run(13, id, "change:1"),
        run(14, id, "change:4"),
    ];
    let mut inserted = tx.insert_runs(&second).await.unwrap();
    inserted.sort();
    assert_eq!(inserted, vec![second[0].id, second[2].id], "{name}");
    assert_eq!(tx.get_run(second[1].id).await.unwrap(), None, "{name}");
    assert_eq!(
        tx.get_run(first[0].id).await.unwrap().as_ref(),
        Some(&first[0]),
        "{name}: the run that had the key is untouched"
    );
    assert_eq!(
        tx.get_run(second[2].id).await.unwrap().as_ref(),
        Some(&second[2]),
        "{name}"
    );

    // Ends: every end held, then one that names an attempt that doesn't hold its run.
    let mut ended = tx
        .finish_runs(&[&end(&first[0], 1), &end(&first[1], 1)])
        .await
        .unwrap();
    ended.sort();
    assert_eq!(ended, vec![(first[0].id, 1), (first[1].id, 1)], "{name}");
    let ended = tx
        .finish_runs(&[&end(&second[0], 1), &end(&second[2], 2), &end(&first[0], 1)])
        .await
        .unwrap();
    assert_eq!(
        ended,
        vec![(second[0].id, 1)],
        "{name}: a later attempt and an ended run are left out"
    );
    let left = tx.get_run(second[2].id).await.unwrap().unwrap();
    assert_eq!(
        (left.status.as_str(), left.finished_time),
        ("running", None),
        "{name}: the run another attempt holds is untouched"
    );
    let done = tx.get_run(second[0].id).await.unwrap().unwrap();
    assert_eq!(
        (done.status.as_str(), done.record.as_deref()),
        ("ok", Some("{\"attempt\":1}")),
        "{name}"
    );
    tx.commit().await.unwrap();
}

#[test]
fn run_batches_report_exactly_the_rows_they_wrote() {
    runtime().block_on(async {
        for (name, store) in stores().await {
            batches_report_exactly_what_they_wrote(name, store).await;
        }
    });
}

#[test]
fn the_installations_revision_moves_with_every_installation_write() {
    runtime().block_on(async {
        for (name, store) in stores().await {
            let mut tx = store.write().await.unwrap();
            let package = with_package(&mut tx).await;
            let start = tx.installations_revision().await.unwrap();
            let record = installation(2, package);
            tx.insert_installation(&record).await.unwrap();
            let inserted = tx.installations_revision().await.unwrap();
            assert!(inserted > start, "{name}");
            tx.commit().await.unwrap();
            // Read in another transaction: the bump committed with the write.
            let mut tx = store.write().await.unwrap();
            assert_eq!(tx.installations_revision().await.unwrap(), inserted);
            tx.update_installation(record.id, package, "{}", false)
                .await
                .unwrap();
            assert!(
                tx.installations_revision().await.unwrap() > inserted,
                "{name}"
            );
            // A write rolled back takes its bump with it.
            drop(tx);
            let mut tx = store.read().await.unwrap();
            assert_eq!(
                tx.installations_revision().await.unwrap(),
                inserted,
                "{name}"
            );
            tx.commit().await.unwrap();
        }
    });
}

#[test]
fn runs_are_due_when_queued_or_their_lease_ended() {
    runtime().block_on(async {
        for (name, store) in stores().await {
            let now = 1_000;
            assert!(!store.runs_due(now).await.unwrap(), "{name}: no runs");
            let mut tx = store.write().await.unwrap();
            let package = with_package(&mut tx).await;
            let owner = installation(2, package);
            tx.insert_installation(&owner).await.unwrap();
            // Running under a live lease: nothing to claim.
            let mut held = run(10, owner.id, "held");
            held.lease_until = now + 1;
            tx.insert_runs(std::slice::from_ref(&held)).await.unwrap();
            tx.commit().await.unwrap();
            assert!(!store.runs_due(now).await.unwrap(), "{name}: lease live");
            // The same lease seen once it ended: its run is due for another attempt.
            assert!(
                store.runs_due(now + 1).await.unwrap(),
                "{name}: lease ended"
            );
            // Ended: no longer due, however late.
            let mut tx = store.write().await.unwrap();
            assert!(tx.finish_run(&end(&held, 1)).await.unwrap(), "{name}");
            tx.commit().await.unwrap();
            assert!(!store.runs_due(i64::MAX).await.unwrap(), "{name}: ended");
            // Queued: due at once.
            let mut queued = run(11, owner.id, "queued");
            queued.status = RunStatus::Queued;
            queued.attempts = 0;
            queued.started_time = None;
            let mut tx = store.write().await.unwrap();
            tx.insert_runs(std::slice::from_ref(&queued)).await.unwrap();
            tx.commit().await.unwrap();
            assert!(store.runs_due(now).await.unwrap(), "{name}: queued");
        }
    });
}

/// Every page of an installation's runs, newest first, `limit` at a time.
async fn all_pages(store: &Store, installation: Id, limit: i64) -> Vec<Id> {
    let mut tx = store.read().await.unwrap();
    let mut listed = Vec::new();
    let mut before = None;
    loop {
        let page = tx.list_runs(installation, before, limit).await.unwrap();
        assert!(page.len() as i64 <= limit);
        listed.extend(page.iter().map(|run| run.id));
        match page.last() {
            Some(last) if page.len() as i64 == limit => before = Some((last.created_time, last.id)),
            _ => break,
        }
    }
    tx.commit().await.unwrap();
    listed
}

/// Lists each installation's runs at each page size and compares with `runs`, newest first.
async fn assert_listed(store: &Store, runs: &[RunRow], installations: &[Id], when: &str) {
    for &owner in installations {
        let mut mine: Vec<&RunRow> = runs.iter().filter(|r| r.installation_id == owner).collect();
        mine.sort_by_key(|r| std::cmp::Reverse((r.created_time, r.id)));
        let expected: Vec<Id> = mine.into_iter().map(|r| r.id).collect();
        for limit in [1, 2, 3, 100] {
            assert_eq!(
                all_pages(store, owner, limit).await,
                expected,
                "{when}, {limit} a page"
            );
        }
    }
}

#[test]
fn an_installations_runs_are_listed_whole_whether_filed_in_the_directory_or_not() {
    runtime().block_on(async {
        for (name, store) in stores().await {
            let sqlite = name == "sqlite";
            let mut tx = store.write().await.unwrap();
            let package = with_package(&mut tx).await;
            let (a, b) = (installation(2, package), installation(4, package));
            tx.insert_installation(&a).await.unwrap();
            tx.insert_installation(&b).await.unwrap();
            // Interleaved runs of two installations; two of A's share a created time, so the
            // id breaks the tie.
            let mut runs = Vec::new();
            for n in 0..10u128 {
                let owner = if n % 3 == 2 { b.id } else { a.id };
                let mut row = run(100 + n, owner, &format!("change:{n}"));
                if n == 4 {
                    row.created_time = 103;
                }
                runs.push(row);
            }
            tx.insert_runs(&runs).await.unwrap();
            tx.commit().await.unwrap();
            let both = [a.id, b.id];
            assert_listed(&store, &runs, &both, &format!("{name}: before filing")).await;
            // (PostgreSQL indexes runs by installation: it has nothing to file.)
            let filed = store.flush_run_directory().await.unwrap();
            assert_eq!(filed, if sqlite { 10 } else { 0 }, "{name}");
            // More runs after the filing, one of them older than runs already filed (another
            // process's clock): the listing merges the filed and the unfiled in order.
            let mut tx = store.write().await.unwrap();
            let mut old = run(202, a.id, "change:22");
            old.created_time = 102;
            let later = [
                run(200, a.id, "change:20"),
                run(201, b.id, "change:21"),
                old,
            ];
            tx.insert_runs(&later).await.unwrap();
            tx.commit().await.unwrap();
            runs.extend(later);
            assert_listed(&store, &runs, &both, &format!("{name}: half filed")).await;
            let filed = store.flush_run_directory().await.unwrap();
            assert_eq!(filed, if sqlite { 3 } else { 0 }, "{name}");
            let again = store.flush_run_directory().await.unwrap();
            assert_eq!(again, 0, "{name}: nothing is filed twice");
            assert_listed(&store, &runs, &both, &format!("{name}: all filed")).await;
        }
    });
}

#[test]
fn every_status_and_trigger_reads_back_as_stored() {
    for status in RunStatus::ALL {
        assert_eq!(RunStatus::parse(status.as_str()).unwrap(), status);
    }
    for trigger in Trigger::ALL {
        assert_eq!(Trigger::parse(trigger.as_str()).unwrap(), trigger);
    }
}

/// A status or trigger the code doesn't know (written by a newer version, or by hand) reads as
/// a corrupt record: an error the caller reports, never a panic.
#[test]
fn an_unknown_stored_status_or_trigger_is_a_corrupt_record() {
    runtime().block_on(async {
        let path = std::env::temp_dir().join(format!("trellis-runs-{}.sqlite", Id::new()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Store::open(&url).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let package = with_package(&mut tx).await;
        let owner = installation(2, package);
        tx.insert_installation(&owner).await.unwrap();
        let stored = run(10, owner.id, "change:1");
        tx.insert_runs(std::slice::from_ref(&stored)).await.unwrap();
        tx.commit().await.unwrap();
        for (status, trigger, unknown) in [
            ("paused", "change", "paused"),
            ("running", "telepathy", "telepathy"),
        ] {
            use sqlx::Connection as _;
            let mut raw = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::query(&format!(
                "UPDATE integration_runs SET status = '{status}', trigger_kind = '{trigger}' \
                 WHERE id = '{}'",
                stored.id
            ))
            .execute(&mut raw)
            .await
            .unwrap();
            raw.close().await.unwrap();
            let mut tx = store.read().await.unwrap();
            let read = tx.get_run(stored.id).await;
            tx.commit().await.unwrap();
            assert!(
                matches!(&read, Err(Error::Corrupt(message)) if message.contains(unknown)),
                "{unknown}: {read:?}"
            );
        }
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    });
}
