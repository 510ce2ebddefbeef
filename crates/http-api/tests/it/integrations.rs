//! The integration platform's endpoints and their error paths.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};

use super::Harness;

const MANIFEST: &str = r#"
[integration]
name = "probe"
version = "1.0.0"
language = "rust"

[scopes]
workspace = ["read_content", "update_content", "insert_content", "insert_comments"]
kv = true
secrets = ["API_TOKEN"]
models = true
vector_search = true

[egress]
allow = ["https://api.example.com"]
"#;

fn component() -> String {
    let bytes = super::guests::build_guest("crates/runtime/guests/probe", "probe");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn without_the_platform_the_endpoints_say_so() {
    let h = Harness::new().await;
    let (status, body) = h
        .call(&h.ada, Method::GET, "/platform/v1/installations", None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "service_unavailable");
}

#[tokio::test]
async fn register_install_run_and_read_runs_with_their_error_paths() {
    let h = Harness::with_platform().await;
    let component = component();
    let register =
        |manifest: &str, component: &str| json!({"manifest": manifest, "component": component});

    // Who may register, and what is refused.
    for token in [&h.ben, &h.bot] {
        let (status, body) = h
            .call(
                token,
                Method::POST,
                "/platform/v1/integrations",
                Some(register(MANIFEST, &component)),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "restricted_resource");
    }
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/integrations",
            Some(register(MANIFEST, "not base64!")),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("validation_error")),
        "{body}"
    );
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/integrations",
            Some(json!({"component": component})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("manifest"),
        "{body}"
    );
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/integrations",
            Some(register("[integration]\nname = 1\n", &component)),
        )
        .await;
    assert_eq!(body["code"], "invalid_manifest", "{status} {body}");
    let narrow = "[integration]\nname = \"probe\"\nversion = \"1.0.0\"\nlanguage = \"rust\"\n";
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/integrations",
            Some(register(narrow, &component)),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("review_refused")),
        "{body}"
    );

    let (status, package) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/integrations",
            Some(register(MANIFEST, &component)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{package}");
    assert!(
        package["imports"]
            .as_array()
            .unwrap()
            .contains(&json!("workspace")),
        "{package}"
    );
    let package_id = package["id"].as_str().unwrap();
    let (_, list) = h
        .call(&h.ada, Method::GET, "/platform/v1/integrations", None)
        .await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1);

    // Install: unknown package, undeclared egress, then for real.
    let (status, _) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/installations",
            Some(json!({"package_id": "00000000-0000-0000-0000-000000000001"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/installations",
            Some(json!({"package_id": package_id, "egress": ["https://other.example"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/installations",
            Some(json!({"package_id": package_id, "workspace_scopes": ["write_everything"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, installation) = h
        .call(
            &h.ada,
            Method::POST,
            "/platform/v1/installations",
            Some(json!({"package_id": package_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installation}");
    let id = installation["id"].as_str().unwrap().to_string();
    assert_eq!(
        installation["granted"]["egress"],
        json!(["https://api.example.com"])
    );
    let (status, _) = h
        .call(
            &h.ada,
            Method::GET,
            &format!("/platform/v1/installations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .call(
            &h.ada,
            Method::GET,
            "/platform/v1/installations/not-a-uuid",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Secrets: only declared names.
    let (status, _) = h
        .call(
            &h.ada,
            Method::PUT,
            &format!("/platform/v1/installations/{id}/secrets/OTHER"),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .call(
            &h.ada,
            Method::PUT,
            &format!("/platform/v1/installations/{id}/secrets/API_TOKEN"),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Runs.
    let runs = format!("/platform/v1/installations/{id}/runs");
    let (status, body) = h
        .call(
            &h.ben,
            Method::POST,
            &runs,
            Some(json!({"input": {"op": "echo"}, "source": "fax"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, run) = h
        .call(
            &h.ben,
            Method::POST,
            &runs,
            Some(json!({"input": {"op": "echo", "n": 3}, "wait": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["output"]["n"], 3);
    let run_id = run["id"].as_str().unwrap().to_string();
    let (status, queued) = h
        .call(
            &h.ada,
            Method::POST,
            &runs,
            Some(json!({"input": {"op": "echo"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");

    // Ben sees his run; Ada, an owner, sees both; Cy sees none of them.
    let (_, list) = h.call(&h.ada, Method::GET, &runs, None).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 2, "{list}");
    let (_, list) = h.call(&h.ben, Method::GET, &runs, None).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1, "{list}");
    let (status, _) = h
        .call(
            &h.cy,
            Method::GET,
            &format!("/platform/v1/runs/{run_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, usage) = h
        .call(
            &h.ben,
            Method::GET,
            &format!("/platform/v1/runs/{run_id}/usage"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&Value> = usage["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| &event["kind"])
        .collect();
    assert_eq!(kinds.len(), 5, "{usage}");
    let (status, body) = h
        .call(
            &h.ben,
            Method::POST,
            &format!("/platform/v1/runs/{run_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = h
        .call(
            &h.ben,
            Method::GET,
            "/platform/v1/runs/00000000-0000-0000-0000-000000000002",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_inbound_webhook_runs_the_installation_for_its_installer() {
    let h = Harness::with_platform().await;
    let component = component();
    let install = |manifest: String| {
        let component = component.clone();
        let h = &h;
        async move {
            let (status, package) = h
                .call(
                    &h.ada,
                    Method::POST,
                    "/platform/v1/integrations",
                    Some(json!({"manifest": manifest, "component": component})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{package}");
            let (status, installation) = h
                .call(
                    &h.ada,
                    Method::POST,
                    "/platform/v1/installations",
                    Some(json!({"package_id": package["id"]})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{installation}");
            installation["id"].as_str().unwrap().to_string()
        }
    };
    // Without `triggers.webhook` there is no URL to have.
    let id = install(MANIFEST.to_string()).await;
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            &format!("/platform/v1/installations/{id}/webhook_url"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("triggers.webhook")
    );

    let id = install(format!(
        "{}\n[triggers]\nwebhook = true\n",
        MANIFEST.replace("1.0.0", "1.1.0")
    ))
    .await;
    let url_path = format!("/platform/v1/installations/{id}/webhook_url");
    let (status, body) = h.call(&h.ben, Method::POST, &url_path, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "members do not make webhook URLs: {body}"
    );
    let (status, created) = h.call(&h.ada, Method::POST, &url_path, None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let url = created["url"].as_str().unwrap();
    let hook = &url[url.find("/hooks/").unwrap()..];

    // No bearer token: the URL is the credential. The probe answers 202 with the body echoed.
    let (status, body) = h
        .raw(
            "",
            Method::POST,
            &format!("{hook}/github/push?delivery=7"),
            Some("\"hello\"".into()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!("hello"));

    // The run acted for Ada, who installed it, and kept what the request carried.
    let (_, runs) = h
        .call(
            &h.ada,
            Method::GET,
            &format!("/platform/v1/installations/{id}/runs"),
            None,
        )
        .await;
    let run = &runs["results"][0];
    assert_eq!(run["trigger"], "webhook", "{run}");
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["user_id"], h.ids["ada"].as_str(), "{run}");
    assert_eq!(run["event"]["path"], "/github/push", "{run}");
    assert_eq!(run["event"]["query"], "delivery=7", "{run}");
    assert_eq!(run["event"]["method"], "POST", "{run}");

    // A wrong token, and the old token after a rotation, find nothing.
    let (status, body) = h
        .raw("", Method::POST, "/hooks/not-a-token", Some("{}".into()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "object_not_found");
    let (status, rotated) = h.call(&h.ada, Method::POST, &url_path, None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = h.raw("", Method::POST, hook, Some("{}".into())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old URL stopped working");
    let new_url = rotated["url"].as_str().unwrap();
    let new_hook = &new_url[new_url.find("/hooks/").unwrap()..];
    assert_ne!(new_hook, hook);
    let (status, _) = h.raw("", Method::GET, new_hook, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}
