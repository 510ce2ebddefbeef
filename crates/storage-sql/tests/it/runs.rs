//! The run queue's batch writes: a batch that writes every row skips `RETURNING`, and one that
//! can't is undone and written again row by row reporting, so both tell the caller exactly
//! which rows they wrote. And the installations revision that caches of them watch.

use document::Id;
use storage_sql::{InstallationRecord, PackageRecord, RunEnd, RunRow, Store, Tx};

use crate::{runtime, stores};

fn run(id: u128, installation: Id, key: &str) -> RunRow {
    RunRow {
        id: Id::from_u128(id),
        installation_id: installation,
        run_key: Some(key.to_string()),
        trigger: "change".into(),
        event: "{}".into(),
        user_id: Id::from_u128(9),
        status: "running".into(),
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
        status: "ok".into(),
        record: format!("{{\"attempt\":{attempt}}}"),
        output: None,
        started_time: Some(1),
        finished_time: 2,
    }
}

fn installation(id: u128, package: Id) -> InstallationRecord {
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

async fn with_package(tx: &mut Tx) -> Id {
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
