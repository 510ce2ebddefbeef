//! Change and schedule triggers: each event or tick runs each subscriber once, with the
//! installer's access intersected with the integration's.

use integrations::{InstallRequest, Platform};
use serde_json::json;
use storage_sql::{RunStatus, Trigger};
use workspace::ParentRef;

use crate::{Fixture, output, page, probe, probe_manifest, runtime, stores};

async fn runs_of(fixture: &Fixture, installation: document::Id) -> Vec<integrations::RunView> {
    fixture
        .platform
        .runs(&fixture.ada, installation, None, 100)
        .await
        .unwrap()
}

/// Works until the installation has at least `runs` runs and none is queued or running. The
/// count matters on PostgreSQL, where a committed change becomes readable only once every older
/// transaction in the cluster has ended (other tests' too): until then a pass finds nothing.
async fn drain(fixture: &Fixture, installation: document::Id, runs: usize) {
    for _ in 0..2_000 {
        fixture.platform.work().await.unwrap();
        let made = runs_of(fixture, installation).await;
        if made.len() >= runs && made.iter().all(|run| run.status().is_ended()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("runs did not end");
}

/// Waits until the change dispatcher can read `count` changes it has not dispatched (see
/// [`drain`] on PostgreSQL's visibility).
async fn wait_for_pending_changes(fixture: &Fixture, count: usize) {
    for _ in 0..2_000 {
        let mut tx = fixture.workspace.store().read().await.unwrap();
        let cursor = tx
            .load_cursor(integrations::TRIGGER_CONSUMER)
            .await
            .unwrap();
        let pending = tx.read_changes(cursor, 100).await.unwrap().len();
        tx.commit().await.unwrap();
        if pending >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("fewer than {count} changes became readable");
}

/// A fixture on `store` with the probe installed, subscribed to `page.created`.
async fn subscribed(store: storage_sql::Store) -> (Fixture, integrations::InstallationView) {
    let fixture = Fixture::new(store).await;
    let manifest = probe_manifest("1.0.0", "[triggers]\nchanges = [\"page.created\"]\n");
    let installation = fixture.install(&manifest, probe()).await;
    (fixture, installation)
}

/// Installs the package again with `runs` an hour as its budget.
async fn set_hourly_budget(fixture: &Fixture, package_id: document::Id, runs: i64) {
    fixture
        .platform
        .install(
            &fixture.ada,
            InstallRequest {
                package_id,
                runs_per_hour_max: Some(runs),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn each_change_runs_each_subscriber_once_and_only_where_it_can_read() {
    for (name, store) in stores().await {
        let (fixture, installation) = subscribed(store).await;
        let id = installation.record.id;
        // Changes from before the installation existed don't run it.
        drain(&fixture, id, 0).await;
        assert!(runs_of(&fixture, id).await.is_empty(), "{name}");

        let visible = page(
            &fixture.workspace,
            &fixture.ada,
            ParentRef::Page(fixture.shared),
            "Visible",
        )
        .await;
        let hidden = page(
            &fixture.workspace,
            &fixture.ada,
            ParentRef::Page(fixture.unshared),
            "Hidden",
        )
        .await;
        drain(&fixture, id, 2).await;
        // A second node reading the same log enqueues nothing new.
        let other = Platform::new(fixture.workspace.clone(), runtime(), Default::default());
        other.work().await.unwrap();
        drain(&fixture, id, 2).await;

        let runs = runs_of(&fixture, id).await;
        assert_eq!(
            runs.len(),
            2,
            "{name}: {:?}",
            runs.iter().map(|r| r.to_json()).collect::<Vec<_>>()
        );
        let by_object = |object: document::Id| {
            runs.iter()
                .find(|run| run.to_json()["event"]["object_id"] == object.to_string())
                .unwrap_or_else(|| panic!("{name}: no run for {object}"))
        };
        let run = by_object(visible);
        assert_eq!(run.status(), RunStatus::Ok, "{name}");
        assert_eq!(run.row.trigger, Trigger::Change);
        assert_eq!(output(run)["changed"], visible.to_string(), "{name}");
        // The integration can't read the page created under `unshared`: its run is skipped
        // without starting the guest.
        let run = by_object(hidden);
        assert_eq!(run.status(), RunStatus::Skipped, "{name}");
        assert_eq!(run.to_json()["output"], json!(null));
    }
}

#[tokio::test]
async fn a_change_run_starts_from_the_trigger_pass_and_one_over_its_budget_waits_queued() {
    for (name, store) in stores().await {
        let (fixture, installation) = subscribed(store).await;
        let id = installation.record.id;
        set_hourly_budget(&fixture, installation.package.id, 2).await;
        drain(&fixture, id, 0).await;
        let mut pages = Vec::new();
        for title in ["One", "Two", "Three"] {
            pages.push(
                page(
                    &fixture.workspace,
                    &fixture.ada,
                    ParentRef::Page(fixture.shared),
                    title,
                )
                .await,
            );
        }
        // One trigger pass and no claim pass: the two runs the budget admits start from it.
        wait_for_pending_changes(&fixture, 3).await;
        assert_eq!(fixture.platform.trigger_pass().await.unwrap(), 3, "{name}");
        let mut statuses = Vec::new();
        for _ in 0..1_000 {
            let runs = runs_of(&fixture, id).await;
            statuses = runs
                .iter()
                .map(|run| {
                    let object = run.to_json()["event"]["object_id"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    (object, run.status().to_string())
                })
                .collect();
            if statuses.iter().filter(|(_, status)| status == "ok").count() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        statuses.sort();
        let mut expected = vec![
            (pages[0].to_string(), "ok".to_string()),
            (pages[1].to_string(), "ok".to_string()),
            (pages[2].to_string(), "queued".to_string()),
        ];
        expected.sort();
        assert_eq!(statuses, expected, "{name}: the third waits for budget");
        // A claim pass leaves it waiting too: the hour's budget is spent.
        fixture.platform.work().await.unwrap();
        let queued = runs_of(&fixture, id)
            .await
            .into_iter()
            .filter(|run| run.status() == RunStatus::Queued)
            .count();
        assert_eq!(queued, 1, "{name}");
    }
}

/// The trigger pass keeps installations and their configs between passes; a change to one
/// (here its hourly budget, lowered after passes had cached the old one) applies from the next
/// pass all the same.
#[tokio::test]
async fn an_installation_changed_between_passes_is_dispatched_by_its_new_config() {
    for (name, store) in stores().await {
        let (fixture, installation) = subscribed(store).await;
        let id = installation.record.id;
        page(
            &fixture.workspace,
            &fixture.ada,
            ParentRef::Page(fixture.shared),
            "Before",
        )
        .await;
        drain(&fixture, id, 1).await;
        assert_eq!(runs_of(&fixture, id).await.len(), 1, "{name}");
        // One start this hour already; a budget of 2 leaves room for one more.
        set_hourly_budget(&fixture, installation.package.id, 2).await;
        for title in ["One", "Two"] {
            page(
                &fixture.workspace,
                &fixture.ada,
                ParentRef::Page(fixture.shared),
                title,
            )
            .await;
        }
        wait_for_pending_changes(&fixture, 2).await;
        assert_eq!(fixture.platform.trigger_pass().await.unwrap(), 2, "{name}");
        let mut statuses = Vec::new();
        for _ in 0..1_000 {
            statuses = runs_of(&fixture, id)
                .await
                .iter()
                .map(|run| run.status().to_string())
                .collect::<Vec<_>>();
            if statuses.iter().filter(|status| *status == "ok").count() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        statuses.sort();
        assert_eq!(
            statuses,
            ["ok", "ok", "queued"],
            "{name}: the new budget holds one back"
        );
    }
}

/// An idle worker waits for a change committed in its process, not for its next poll. SQLite
/// only: on PostgreSQL a committed change becomes readable once every older transaction in the
/// cluster has ended, so a dispatcher woken at the commit may find it a poll later.
#[tokio::test]
async fn an_idle_worker_runs_a_change_committed_here_without_waiting_for_its_poll() {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let (fixture, installation) = subscribed(store).await;
    let id = installation.record.id;
    drain(&fixture, id, 0).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn({
        let platform = fixture.platform.clone();
        async move {
            platform
                .run_worker(std::time::Duration::from_secs(3_600), async {
                    stopped.await.ok();
                })
                .await
        }
    });
    // Let the worker make its first passes and settle into its wait.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let created = page(
        &fixture.workspace,
        &fixture.ada,
        ParentRef::Page(fixture.shared),
        "Wakes the worker",
    )
    .await;
    let run = loop {
        let runs = runs_of(&fixture, id).await;
        if let Some(run) = runs.iter().find(|run| run.status() == RunStatus::Ok) {
            break run.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the change did not run within 20 s of an hour's poll: {:?}",
            runs.iter().map(|run| run.to_json()).collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(output(&run)["changed"], created.to_string());
    stop.send(()).unwrap();
    worker.await.unwrap();
}

#[tokio::test]
async fn writes_of_the_integration_itself_do_not_trigger_it_again() {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let (fixture, installation) = subscribed(store).await;
    let id = installation.record.id;
    drain(&fixture, id, 0).await;
    let run = fixture
        .invoke(
            &fixture.ada,
            id,
            json!({"op": "create-and-append", "parent_id": fixture.shared.to_string()}),
        )
        .await;
    assert_eq!(run.status(), RunStatus::Ok);
    drain(&fixture, id, 1).await;
    let runs = runs_of(&fixture, id).await;
    assert_eq!(
        runs.len(),
        1,
        "only the invoke ran: {:?}",
        runs.iter().map(|r| r.row.trigger).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn each_schedule_tick_runs_once_even_when_two_nodes_see_it() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store).await;
        let manifest = probe_manifest(
            "1.0.0",
            "[[triggers.schedule]]\nname = \"every-minute\"\ncron = \"* * * * *\"\n",
        );
        let installation = fixture.install(&manifest, probe()).await;
        let id = installation.record.id;
        let other = Platform::new(fixture.workspace.clone(), runtime(), Default::default());
        let later = workspace::clock::now_ms() + 3 * 60_000;
        // Two passes of one node, the first at an odd millisecond, then a node that starts
        // afresh (a restart): every tick keeps one run key, so nothing runs twice.
        let first = fixture
            .platform
            .enqueue_schedule_ticks(later - 90_037)
            .await
            .unwrap()
            + fixture
                .platform
                .enqueue_schedule_ticks(later)
                .await
                .unwrap();
        let second = other.enqueue_schedule_ticks(later).await.unwrap();
        assert_eq!(
            first, 3,
            "{name}: three minute ticks in the next three minutes"
        );
        assert_eq!(
            second, 0,
            "{name}: the other node's ticks were already enqueued"
        );
        drain(&fixture, id, 3).await;
        let runs = runs_of(&fixture, id).await;
        assert_eq!(runs.len(), 3, "{name}");
        for run in &runs {
            assert_eq!(run.status(), RunStatus::Ok, "{name}");
            assert_eq!(run.row.trigger, Trigger::Schedule);
            assert_eq!(output(run)["schedule"], "every-minute");
            let event: serde_json::Value = serde_json::from_str(&run.row.event).unwrap();
            let fire_at = event["fire_at_ms"].as_i64().unwrap();
            assert_eq!(
                fire_at % 60_000,
                0,
                "{name}: a tick is on its minute: {event}"
            );
        }
    }
}
