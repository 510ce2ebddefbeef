//! Well-behaved runs: events in, output and staged writes out, every capability's host side.

use std::sync::Arc;

use runtime::{
    Content, Error, Event, Grants, InvokeSource, KvStore, KvWrite, LogLevel, MemoryKv,
    MemorySecrets, Output, Parent, RunStatus, Services, Trigger, WebhookRequest, WriteOp,
};
use serde_json::{Value, json};

use crate::support::{
    FakeWorkspace, INSTALLATION, context, echo, guest_error, invoke, probe, services_with,
    shared_runtime, test_limits,
};

fn json_output(output: &Option<Output>) -> Value {
    match output {
        Some(Output::Json(text)) => serde_json::from_str(text).expect("output is JSON"),
        other => panic!("expected JSON output, got {other:?}"),
    }
}

#[tokio::test]
async fn echo_returns_its_input_and_a_full_record() {
    let input = json!({"hello": "world", "n": [1, 2, 3]});
    let outcome = shared_runtime()
        .run(&echo(), invoke(input.clone(), Services::default()))
        .await
        .unwrap();
    let record = &outcome.record;
    assert_eq!(record.status, RunStatus::Ok);
    assert_eq!(json_output(&outcome.output), input);
    assert_eq!(record.trigger, Trigger::Invoke);
    assert_eq!(record.installation_id, INSTALLATION);
    assert!(record.fuel_used > 0 && record.fuel_used < test_limits().fuel_max);
    assert_eq!(record.usage.fuel, record.fuel_used);
    assert!(record.memory_peak_bytes > 0);
    assert_eq!(record.host_calls, 0);
    assert!(record.duration_us > 0);
    assert!(outcome.writes.is_empty() && outcome.kv_writes.is_empty());
}

#[tokio::test]
async fn schedule_change_and_webhook_events_reach_the_guest() {
    let component = probe();
    let mut request = invoke(json!({}), Services::default());

    request.event = Event::Schedule {
        name: "nightly".into(),
        fire_at_ms: 1_700_000_000_000,
    };
    let outcome = shared_runtime()
        .run(&component, request.clone())
        .await
        .unwrap();
    assert_eq!(outcome.record.trigger, Trigger::Schedule);
    assert_eq!(json_output(&outcome.output), json!({"schedule": "nightly"}));

    request.event = Event::Change {
        event_id: "event-1".into(),
        event_type: "page.created".into(),
        object_id: "page-9".into(),
        at_ms: 5,
        data: "{}".into(),
    };
    let outcome = shared_runtime()
        .run(&component, request.clone())
        .await
        .unwrap();
    assert_eq!(json_output(&outcome.output), json!({"changed": "page-9"}));

    request.event = Event::Webhook(WebhookRequest {
        method: "POST".into(),
        path: "/hook".into(),
        query: String::new(),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"ping".to_vec(),
    });
    let outcome = shared_runtime().run(&component, request).await.unwrap();
    match outcome.output {
        Some(Output::Http(response)) => {
            assert_eq!(response.status, 202);
            assert_eq!(response.body, b"ping");
        }
        other => panic!("expected an HTTP response, got {other:?}"),
    }
}

#[tokio::test]
async fn reads_go_through_the_workspace_host_with_the_actor() {
    let (workspace, page_id) = FakeWorkspace::default().with_page("Roadmap", false);
    let workspace = Arc::new(workspace);
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(
                json!({"op": "get-page", "page_id": page_id.to_string()}),
                services_with(workspace.clone()),
            ),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    let output = json_output(&outcome.output);
    assert_eq!(output["id"], page_id.to_string());
    assert_eq!(output["markdown"], "# Roadmap\nbody");
    assert_eq!(outcome.record.host_calls, 1);
    assert_eq!(
        *workspace.actors_seen.lock().unwrap(),
        vec!["ada".to_string()]
    );
}

#[tokio::test]
async fn search_results_skip_what_the_host_hides() {
    let (workspace, _) = FakeWorkspace::default().with_page("Plan A", false);
    let (workspace, _) = workspace.with_page("Plan B", true);
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(
                json!({"op": "search", "text": "Plan"}),
                services_with(Arc::new(workspace)),
            ),
        )
        .await
        .unwrap();
    let titles = json_output(&outcome.output)["titles"].clone();
    assert_eq!(titles, json!(["# Plan A\nbody"]));
}

#[tokio::test]
async fn writes_are_staged_in_order_with_a_host_assigned_page_id() {
    let parent = uuid::Uuid::now_v7();
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(
                json!({"op": "create-and-append", "parent_id": parent.to_string()}),
                Services::default(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    let page_id: uuid::Uuid = json_output(&outcome.output)["page_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(page_id.get_version_num(), 7);
    assert_eq!(outcome.writes.len(), 3);
    match &outcome.writes[0] {
        WriteOp::CreatePage {
            page_id: created,
            parent: staged_parent,
            properties,
            children,
        } => {
            assert_eq!(*created, page_id);
            assert_eq!(*staged_parent, Parent::Page(parent));
            assert!(properties.contains("Report"));
            assert!(children.is_none());
        }
        other => panic!("expected CreatePage first, got {other:?}"),
    }
    assert_eq!(
        outcome.writes[1],
        WriteOp::AppendBlocks {
            block_id: page_id,
            children: Content::Markdown("# Overdue\n- one".into()),
        }
    );
    assert_eq!(
        outcome.writes[2],
        WriteOp::AddComment {
            page_id,
            text: "Generated".into(),
        }
    );
    assert_eq!(outcome.record.writes_staged, 3);
}

#[tokio::test]
async fn malformed_write_arguments_are_refused_with_a_message() {
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(
                json!({"op": "update", "page_id": "not-a-uuid", "properties": "{}"}),
                Services::default(),
            ),
        )
        .await
        .unwrap();
    let message = guest_error(&outcome);
    assert!(
        message.contains("invalid-input") && message.contains("page-id"),
        "{message}"
    );

    let page = uuid::Uuid::now_v7().to_string();
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(
                json!({"op": "update", "page_id": page, "properties": "[1]"}),
                Services::default(),
            ),
        )
        .await
        .unwrap();
    let message = guest_error(&outcome);
    assert!(
        message.contains("properties must be a JSON object"),
        "{message}"
    );
    assert!(outcome.writes.is_empty());
}

#[tokio::test]
async fn kv_writes_are_staged_visible_in_the_run_and_returned() {
    let kv = Arc::new(MemoryKv::new());
    kv.apply(
        INSTALLATION,
        &[KvWrite::Set {
            key: "cursor".into(),
            value: b"1".to_vec(),
        }],
    );
    let services = Services {
        kv: kv.clone(),
        ..Services::default()
    };
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(json!({"op": "kv", "key": "cursor", "value": "2"}), services),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    assert_eq!(
        json_output(&outcome.output),
        json!({"before": "1", "after": "2", "keys": ["cursor"]})
    );
    // Nothing is stored until the caller applies the writes.
    assert_eq!(
        kv.get(&context(), "cursor").await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        outcome.kv_writes,
        vec![KvWrite::Set {
            key: "cursor".into(),
            value: b"2".to_vec(),
        }]
    );
    kv.apply(INSTALLATION, &outcome.kv_writes);
    assert_eq!(
        kv.get(&context(), "cursor").await.unwrap(),
        Some(b"2".to_vec())
    );
}

#[tokio::test]
async fn kv_quota_is_enforced() {
    let mut request = invoke(
        json!({"op": "kv", "key": "big", "value": "x".repeat(200)}),
        Services::default(),
    );
    request.limits.kv_bytes_max = 100;
    let outcome = shared_runtime().run(&probe(), request).await.unwrap();
    let message = guest_error(&outcome);
    assert!(message.starts_with("limit-exceeded"), "{message}");
    assert!(outcome.kv_writes.is_empty());
}

#[tokio::test]
async fn secrets_are_given_to_the_guest_but_redacted_from_logs() {
    let services = Services {
        secrets: Arc::new(MemorySecrets::new().with(INSTALLATION, "api-token", "s3cr3t-value")),
        ..Services::default()
    };
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(json!({"op": "secret", "name": "api-token"}), services),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
    assert_eq!(json_output(&outcome.output), json!({"found": true}));
    let entry = &outcome.record.logs[0];
    assert_eq!(entry.level, LogLevel::Info);
    assert!(!entry.message.contains("s3cr3t-value"), "{}", entry.message);
    assert!(entry.message.contains("[redacted]"));
    assert_eq!(entry.fields, vec![("token".into(), "[redacted]".into())]);
}

#[tokio::test]
async fn models_and_vector_search_say_not_available() {
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(json!({"op": "models"}), Services::default()),
        )
        .await
        .unwrap();
    assert_eq!(
        json_output(&outcome.output),
        json!({"models": "not-available", "vector_search": "not-available"})
    );
}

#[tokio::test]
async fn stderr_is_kept_in_the_logs() {
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(json!({"op": "stderr"}), Services::default()),
        )
        .await
        .unwrap();
    let entry = outcome
        .record
        .logs
        .iter()
        .find(|entry| entry.fields == vec![("stream".to_string(), "stderr".to_string())])
        .expect("a stderr entry");
    assert_eq!(entry.message, "written to stderr\n");
}

#[tokio::test]
async fn a_guest_error_is_status_error_with_its_message() {
    let outcome = shared_runtime()
        .run(
            &probe(),
            invoke(
                json!({"op": "fail", "message": "no tasks"}),
                Services::default(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(outcome.record.status, RunStatus::Error("no tasks".into()));
    assert_eq!(outcome.record.status.code(), "error");
    assert!(outcome.output.is_none());
}

#[tokio::test]
async fn bad_requests_are_refused_before_running() {
    let mut request = invoke(json!({}), Services::default());
    request.event = Event::Invoke {
        source: InvokeSource::Button,
        input: "{not json".into(),
    };
    let error = shared_runtime().run(&echo(), request).await.unwrap_err();
    assert_eq!(error.code(), "invalid_request");
    assert!(error.to_string().contains("event.input"), "{error}");

    let mut request = invoke(json!("x".repeat(100)), Services::default());
    request.limits.input_bytes_max = 10;
    let error = shared_runtime().run(&echo(), request).await.unwrap_err();
    assert_eq!(error.code(), "invalid_request");

    let mut request = invoke(json!({}), Services::default());
    request.limits.memory_bytes_max = 1 << 40;
    let error = shared_runtime().run(&echo(), request).await.unwrap_err();
    assert!(error.to_string().contains("memory_bytes_max"), "{error}");
}

#[tokio::test]
async fn a_component_needs_every_interface_it_imports_granted() {
    let component = probe();
    let imported: Vec<&str> = component
        .capabilities()
        .iter()
        .map(|capability| capability.interface())
        .collect();
    for interface in [
        "workspace",
        "http",
        "kv",
        "secrets",
        "models",
        "vector-search",
    ] {
        assert!(imported.contains(&interface), "probe imports {interface}");
    }
    let mut request = invoke(json!({"op": "echo"}), Services::default());
    request.grants = Grants {
        http: None,
        ..Grants::all()
    };
    let error = shared_runtime().run(&component, request).await.unwrap_err();
    assert!(
        matches!(&error, Error::CapabilityNotGranted { interface } if interface == "wasi:http/outgoing-handler"),
        "{error}"
    );
    // The echo integration imports none of them, so it runs with no grants at all.
    assert!(echo().capabilities().is_empty());
    let mut request = invoke(json!(1), Services::default());
    request.grants = Grants::default();
    let outcome = shared_runtime().run(&echo(), request).await.unwrap();
    assert_eq!(outcome.record.status, RunStatus::Ok);
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let error = shared_runtime().load(b"definitely not wasm").unwrap_err();
    assert_eq!(error.code(), "invalid_component");

    let core_module = wat::parse_str("(module)").unwrap();
    let error = shared_runtime().load(&core_module).unwrap_err();
    assert!(error.to_string().contains("core wasm module"), "{error}");

    let no_entry_point = wat::parse_str("(component)").unwrap();
    let error = shared_runtime().load(&no_entry_point).unwrap_err();
    assert_eq!(error.code(), "invalid_component");

    let foreign_import =
        wat::parse_str(r#"(component (import "acme:spy/exfiltrate" (instance)))"#).unwrap();
    let error = shared_runtime().load(&foreign_import).unwrap_err();
    assert_eq!(error.code(), "unsupported_import");
    assert!(error.to_string().contains("acme:spy/exfiltrate"), "{error}");
}
