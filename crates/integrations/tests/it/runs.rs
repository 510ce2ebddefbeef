//! Runs: transactional writes, denials in the audit log, limits, key-value data, secrets,
//! cancel, the hourly budget, and leases.

use integrations::{Error, InstallRequest, PlatformLimits};
use serde_json::json;
use storage_sql::RunStatus;

use crate::{Fixture, message, output, probe, probe_manifest, stores};

#[tokio::test]
async fn an_ok_run_applies_its_writes_together_as_the_integration() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        let run = fixture
            .invoke(
                &fixture.ada,
                installation.record.id,
                json!({"op": "create-and-append", "parent_id": fixture.shared.to_string()}),
            )
            .await;
        assert_eq!(run.status(), RunStatus::Ok, "{name}: {}", message(&run));
        let page_id = output(&run)["page_id"].as_str().unwrap().to_string();
        let page_id = document::Id::parse(&page_id).unwrap();
        let page = fixture
            .workspace
            .page_markdown(&fixture.ada, page_id)
            .await
            .unwrap();
        assert_eq!(page.page.page.title(), "Report", "{name}");
        assert!(
            page.markdown.contains("# Overdue"),
            "{name}: {}",
            page.markdown
        );
        // The page is authored by the integration's bot, not by Ada.
        let bot = installation.record.integration_id;
        let integration = fixture
            .workspace
            .store()
            .read()
            .await
            .unwrap()
            .get_integration(bot)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page.page.page.created_by, integration.bot_user_id, "{name}");
        let record = run.to_json()["record"].clone();
        assert_eq!(record["writes_staged"], 3, "{name}");
        assert_eq!(record["writes_applied"], 3, "{name}");
        // Usage events for billing were written with the run.
        let usage = fixture
            .platform
            .usage(&fixture.ada, run.row.id)
            .await
            .unwrap();
        let kinds: Vec<&str> = usage.iter().map(|event| event.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["cpu", "fuel", "memory", "host_calls", "outbound_requests"],
            "{name}"
        );
        assert!(usage[1].quantity > 0, "{name}: fuel is counted");
    }
}

#[tokio::test]
async fn a_run_that_traps_or_fails_after_staging_writes_leaves_nothing() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        for (then, status) in [("trap", RunStatus::Trap), ("fail", RunStatus::Error)] {
            let run = fixture
                .invoke(
                    &fixture.ada,
                    installation.record.id,
                    json!({"op": "create-and-append", "parent_id": fixture.shared.to_string(), "then": then}),
                )
                .await;
            assert_eq!(run.status(), status, "{name}: {}", message(&run));
            assert_eq!(run.to_json()["record"]["writes_staged"], 3, "{name}");
            assert_eq!(run.to_json()["record"]["writes_applied"], 0, "{name}");
        }
        assert!(
            fixture.children(fixture.shared).await.is_empty(),
            "{name}: no page was written"
        );
    }
}

#[tokio::test]
async fn a_write_the_workspace_refuses_fails_the_whole_run() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        // Creating under a page the integration was not given: the first write passes staging
        // (the runtime can't know), the workspace refuses it at apply time.
        let run = fixture
            .invoke(
                &fixture.ada,
                installation.record.id,
                json!({"op": "create-and-append", "parent_id": fixture.unshared.to_string()}),
            )
            .await;
        assert_eq!(run.status(), RunStatus::Error, "{name}");
        assert!(
            message(&run).contains("refused a staged write"),
            "{name}: {}",
            message(&run)
        );
        assert!(
            fixture.children(fixture.unshared).await.is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn reads_outside_the_intersection_are_not_found_and_audited() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        let id = installation.record.id;
        let get = |page: document::Id| json!({"op": "get-page", "page_id": page.to_string()});
        // Ada can read all three; the integration was given `shared` and `private`.
        let run = fixture.invoke(&fixture.ada, id, get(fixture.shared)).await;
        assert_eq!(run.status(), RunStatus::Ok, "{name}: {}", message(&run));
        let run = fixture.invoke(&fixture.ada, id, get(fixture.private)).await;
        assert_eq!(run.status(), RunStatus::Ok, "{name}: {}", message(&run));
        let run = fixture
            .invoke(&fixture.ada, id, get(fixture.unshared))
            .await;
        assert_eq!(run.status(), RunStatus::Error, "{name}");
        assert!(
            message(&run).contains("not-found"),
            "{name}: {}",
            message(&run)
        );
        // Ben can't read `private`: acting for Ben, the integration can't either.
        let run = fixture.invoke(&fixture.ben, id, get(fixture.private)).await;
        assert_eq!(run.status(), RunStatus::Error, "{name}");
        assert!(
            message(&run).contains("not-found"),
            "{name}: {}",
            message(&run)
        );
        let run = fixture.invoke(&fixture.ben, id, get(fixture.shared)).await;
        assert_eq!(run.status(), RunStatus::Ok, "{name}: {}", message(&run));
        // Both denials are in the audit log with the integration, the user and the object.
        let audit = fixture
            .workspace
            .audit_log(Some(installation.record.integration_id), 100)
            .await
            .unwrap();
        let denied: Vec<_> = audit.iter().filter(|entry| !entry.allowed).collect();
        let ada = fixture.ada.user().unwrap().id;
        let ben = fixture.ben.user().unwrap().id;
        assert!(
            denied
                .iter()
                .any(|entry| entry.object_id == fixture.unshared && entry.user_id == Some(ada)),
            "{name}: {denied:?}"
        );
        assert!(
            denied
                .iter()
                .any(|entry| entry.object_id == fixture.private && entry.user_id == Some(ben)),
            "{name}: {denied:?}"
        );
    }
}

#[tokio::test]
async fn limits_end_runs_with_their_status_and_no_writes() {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let fixture = Fixture::new(store).await;
    let limits = "[limits]\nwall_ms_max = 1000\nmemory_bytes_max = 33554432\nhost_calls_max = 50\noutput_bytes_max = 65536\n";
    let installation = fixture
        .install(&probe_manifest("1.0.0", limits), probe())
        .await;
    let id = installation.record.id;
    for (input, statuses) in [
        (
            json!({"op": "spin"}),
            &[RunStatus::Timeout, RunStatus::FuelExhausted][..],
        ),
        (json!({"op": "allocate"}), &[RunStatus::MemoryLimit][..]),
        (json!({"op": "recurse"}), &[RunStatus::Trap][..]),
        (
            json!({"op": "big-output", "bytes": 1_000_000}),
            &[RunStatus::OutputLimit][..],
        ),
        (
            json!({"op": "log-spam", "count": 10_000}),
            &[RunStatus::HostCallLimit][..],
        ),
    ] {
        let run = fixture.invoke(&fixture.ada, id, input.clone()).await;
        assert!(
            statuses.contains(&run.status()),
            "{input}: {} ({})",
            run.status(),
            message(&run)
        );
        assert_eq!(run.to_json()["record"]["writes_applied"], 0);
    }
    // The platform is still serving runs after all that.
    let run = fixture
        .invoke(&fixture.ada, id, json!({"op": "echo", "n": 1}))
        .await;
    assert_eq!(run.status(), RunStatus::Ok);
    assert_eq!(output(&run)["n"], 1);
}

#[tokio::test]
async fn key_value_data_persists_only_from_ok_runs_and_secrets_stay_out_of_logs() {
    let store = storage_sql::Store::open("sqlite::memory:").await.unwrap();
    let fixture = Fixture::new(store).await;
    let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
    let id = installation.record.id;
    let first = fixture
        .invoke(
            &fixture.ada,
            id,
            json!({"op": "kv", "key": "k", "value": "one"}),
        )
        .await;
    assert_eq!(first.status(), RunStatus::Ok, "{}", message(&first));
    assert_eq!(output(&first)["before"], json!(null));
    let second = fixture
        .invoke(
            &fixture.ada,
            id,
            json!({"op": "kv", "key": "k", "value": "two"}),
        )
        .await;
    assert_eq!(output(&second)["before"], "one");
    assert_eq!(output(&second)["keys"], json!(["k"]));

    let secret = "s3cr3t-value-never-logged";
    // Only owners set secrets, and only declared ones.
    assert!(matches!(
        fixture
            .platform
            .set_secret(&fixture.ben, id, "API_TOKEN", secret)
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixture
            .platform
            .set_secret(&fixture.ada, id, "OTHER", secret)
            .await,
        Err(Error::Invalid(_))
    ));
    fixture
        .platform
        .set_secret(&fixture.ada, id, "API_TOKEN", secret)
        .await
        .unwrap();
    let run = fixture
        .invoke(
            &fixture.ada,
            id,
            json!({"op": "secret", "name": "API_TOKEN"}),
        )
        .await;
    assert_eq!(run.status(), RunStatus::Ok, "{}", message(&run));
    assert_eq!(output(&run)["found"], true);
    let stored = run.to_json().to_string();
    assert!(
        !stored.contains(secret),
        "the secret leaked into the run: {stored}"
    );
    assert!(
        !run.to_json()["record"]["logs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn cancel_stops_a_queued_run_and_the_hourly_budget_holds() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        let id = installation.record.id;
        let run = fixture
            .platform
            .invoke(
                &fixture.ada,
                id,
                &json!({"op": "echo"}),
                runtime::InvokeSource::Api,
            )
            .await
            .unwrap();
        let canceled = fixture
            .platform
            .cancel(&fixture.ada, run.row.id)
            .await
            .unwrap();
        assert_eq!(canceled.status(), RunStatus::Canceled, "{name}");
        fixture.platform.work().await.unwrap();
        let after = fixture
            .platform
            .run(&fixture.ada, run.row.id)
            .await
            .unwrap();
        assert_eq!(
            after.status(),
            RunStatus::Canceled,
            "{name}: a canceled run never starts"
        );
        assert!(matches!(
            fixture.platform.cancel(&fixture.ada, run.row.id).await,
            Err(Error::Conflict(_))
        ));
        // Ben may not see Ada's run.
        assert!(matches!(
            fixture.platform.run(&fixture.ben, run.row.id).await,
            Err(Error::NotFound { .. })
        ));

        // An installation allowed two runs an hour starts two.
        let package = installation.package.id;
        let view = fixture
            .platform
            .install(
                &fixture.ada,
                InstallRequest {
                    package_id: package,
                    runs_per_hour_max: Some(2),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            view.record.id, id,
            "{name}: reinstalling updates the installation"
        );
        for _ in 0..2 {
            let run = fixture
                .invoke(&fixture.ada, id, json!({"op": "echo"}))
                .await;
            assert_eq!(run.status(), RunStatus::Ok, "{name}");
        }
        assert!(matches!(
            fixture
                .platform
                .invoke(
                    &fixture.ada,
                    id,
                    &json!({"op": "echo"}),
                    runtime::InvokeSource::Api
                )
                .await,
            Err(Error::RateLimited(_))
        ));
    }
}

#[tokio::test]
async fn a_run_whose_worker_died_is_claimed_again_and_given_up_after_its_attempts() {
    for (name, store) in stores().await {
        let limits = PlatformLimits {
            run_attempts_max: 2,
            ..Default::default()
        };
        let fixture = Fixture::with_limits(store.clone(), limits).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        let run = fixture
            .platform
            .invoke(
                &fixture.ada,
                installation.record.id,
                &json!({"op": "echo", "n": 7}),
                runtime::InvokeSource::Api,
            )
            .await
            .unwrap();
        // A worker claims the run, which is due (queued, or its lease ended), and dies: its
        // lease ends in the past.
        let claim = |store: storage_sql::Store, id: document::Id| async move {
            assert!(store.runs_due(workspace::clock::now_ms()).await.unwrap());
            let mut tx = store.write().await.unwrap();
            let due = tx.get_run(id).await.unwrap().unwrap();
            assert!(tx.claim_run(&due, 0, 1).await.unwrap());
            tx.commit().await.unwrap();
        };
        claim(store.clone(), run.row.id).await;
        // Another worker takes it over and runs it to the end.
        let view = fixture.finish(&fixture.ada, run.row.id).await;
        assert_eq!(view.status(), RunStatus::Ok, "{name}: {}", message(&view));
        assert_eq!(view.row.attempts, 2, "{name}");
        assert_eq!(output(&view)["n"], 7, "{name}");

        // A run whose workers keep dying is given up as `lost`.
        let run = fixture
            .platform
            .invoke(
                &fixture.ada,
                installation.record.id,
                &json!({"op": "echo"}),
                runtime::InvokeSource::Api,
            )
            .await
            .unwrap();
        claim(store.clone(), run.row.id).await;
        claim(store.clone(), run.row.id).await;
        let view = fixture.finish(&fixture.ada, run.row.id).await;
        assert_eq!(view.status(), RunStatus::Lost, "{name}");
    }
}

#[tokio::test]
async fn runs_ending_together_each_keep_their_own_record_output_and_usage() {
    for (name, store) in stores().await {
        let fixture = Fixture::new(store.clone()).await;
        let installation = fixture.install(&probe_manifest("1.0.0", ""), probe()).await;
        let id = installation.record.id;
        // More runs than run at once, so that several passes start runs and their ends are
        // committed in groups; one in three fails, so groups mix statuses.
        let mut runs = Vec::new();
        for n in 0..48 {
            let input = if n % 3 == 0 {
                json!({"op": "fail", "message": format!("failure {n}")})
            } else {
                json!({"op": "echo", "n": n})
            };
            let run = fixture
                .platform
                .invoke(&fixture.ada, id, &input, runtime::InvokeSource::Api)
                .await
                .unwrap();
            runs.push((n, run.row.id));
        }
        for (n, run) in runs {
            let view = fixture.finish(&fixture.ada, run).await;
            if n % 3 == 0 {
                assert_eq!(view.status(), RunStatus::Error, "{name}: run {n}");
                assert!(
                    message(&view).contains(&format!("failure {n}")),
                    "{name}: {}",
                    message(&view)
                );
            } else {
                assert_eq!(
                    view.status(),
                    RunStatus::Ok,
                    "{name}: run {n}: {}",
                    message(&view)
                );
                assert_eq!(
                    output(&view)["n"],
                    n,
                    "{name}: run {n} got another run's output"
                );
            }
            let usage = fixture.platform.usage(&fixture.ada, run).await.unwrap();
            let kinds: Vec<&str> = usage.iter().map(|event| event.kind.as_str()).collect();
            assert_eq!(
                kinds,
                ["cpu", "fuel", "memory", "host_calls", "outbound_requests"],
                "{name}: run {n} has exactly its own usage events"
            );
            assert!(usage.iter().all(|event| event.run_id == run), "{name}");
        }
    }
}

/// Runs are claimed ahead of the execution slots and wait for one in the order they were
/// claimed. A waiting run's lease is renewed, so a run that waits longer than its lease lasts
/// is not claimed a second time (by this worker or another): each runs once, one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_claimed_ahead_of_the_slots_start_in_order_and_run_once() {
    for (name, store) in stores().await {
        let limits = PlatformLimits {
            concurrent_runs_max: 1,
            lease_margin_ms: 1_000,
            ..Default::default()
        };
        let fixture = Fixture::with_limits(store.clone(), limits).await;
        // Each run spins until its fuel or its 300 ms wall-clock limit ends it (200-300 ms),
        // one at a time: the eighth waits about 1.5-2 s, longer than a lease (300 ms plus a
        // 1 s margin) lasts. The margin leaves a run that executes time to end on a busy
        // machine.
        let installation = fixture
            .install(
                &probe_manifest("1.0.0", "[limits]\nwall_ms_max = 300\n"),
                probe(),
            )
            .await;
        let mut runs = Vec::new();
        for _ in 0..8 {
            let run = fixture
                .platform
                .invoke(
                    &fixture.ada,
                    installation.record.id,
                    &json!({"op": "spin"}),
                    runtime::InvokeSource::Api,
                )
                .await
                .unwrap();
            runs.push(run.row.id);
        }
        let mut previous_end = 0;
        for (n, run) in runs.into_iter().enumerate() {
            let view = fixture.finish(&fixture.ada, run).await;
            assert!(
                [RunStatus::Timeout, RunStatus::FuelExhausted].contains(&view.status()),
                "{name}: run {n}: {} ({})",
                view.status(),
                message(&view)
            );
            assert_eq!(
                view.row.attempts, 1,
                "{name}: run {n} was claimed again while it waited"
            );
            let started = view.row.started_time.expect("started");
            assert!(
                started >= previous_end,
                "{name}: run {n} started at {started}, before the run ahead of it ended at {previous_end}"
            );
            previous_end = view.row.finished_time.expect("finished");
            eprintln!(
                "DBG {n} {} {} {} {}",
                view.status(),
                started,
                previous_end,
                view.row.lease_until
            );
        }
    }
}
