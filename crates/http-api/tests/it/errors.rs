//! Every error path answers with Notion's shape, the right code and status, and a message
//! that names the offending field. None of them is a 500.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{Harness, assert_error, text};

#[tokio::test]
async fn authentication_errors() {
    let h = Harness::new().await;
    let (status, body) = h.call("", Method::GET, "/v1/users/me", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = h
        .call(
            "trellis_not-a-real-token",
            Method::GET,
            "/v1/users/me",
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = h
        .call("secret_abc", Method::POST, "/v1/search", Some(json!({})))
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn malformed_requests() {
    let h = Harness::new().await;
    let (status, body) = h
        .raw(&h.ada, Method::POST, "/v1/search", Some("{not json".into()))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, body) = h.call(&h.ada, Method::GET, "/v1/nothing/here", None).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request_url",
    );
    let (status, body) = h
        .call(&h.ada, Method::GET, "/v1/pages/not-a-uuid", None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(
        body["message"].as_str().unwrap().contains("page_id"),
        "{body}"
    );
    let (status, body) = h
        .raw(&h.ada, Method::POST, "/v1/search", Some("[1, 2]".into()))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let huge = json!({"query": "x".repeat(600_000)}).to_string();
    let (status, body) = h.raw(&h.ada, Method::POST, "/v1/search", Some(huge)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(
        body["message"].as_str().unwrap().contains("too large"),
        "{body}"
    );
    let request = axum::http::Request::builder()
        .uri("/v1/users/me")
        .header("Authorization", format!("Bearer {}", h.ada))
        .header("Notion-Version", "1999-01-01")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "an unknown API version is refused"
    );
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let h = Harness::new().await;
    let page = h.page("Root").await;
    let long = "x".repeat(2_001);
    let cases = vec![
        (
            Method::POST,
            "/v1/pages".to_string(),
            json!({"properties": {"title": {"title": text("no parent")}}}),
            "parent",
        ),
        (
            Method::POST,
            "/v1/pages".to_string(),
            json!({"parent": {"page_id": page}, "properties": {"title": {"title": [{"type": "text", "text": {"content": long}}]}}}),
            "text.content",
        ),
        (
            Method::PATCH,
            format!("/v1/blocks/{page}/children"),
            json!({"children": vec![json!({"type": "paragraph", "paragraph": {"rich_text": text("a")}}); 101]}),
            "children",
        ),
        (
            Method::PATCH,
            format!("/v1/blocks/{page}/children"),
            json!({"children": [{"type": "no_such_block", "no_such_block": {}}]}),
            "children[0]",
        ),
        (
            Method::PATCH,
            format!("/v1/blocks/{page}/children"),
            json!({"children": [{"type": "divider", "divider": {}, "children": []}]}),
            "children[0]",
        ),
        (
            Method::POST,
            "/v1/search".to_string(),
            json!({"page_size": 101}),
            "page_size",
        ),
        (
            Method::POST,
            "/v1/search".to_string(),
            json!({"filter": {"property": "object", "value": "person"}}),
            "filter",
        ),
        (
            Method::POST,
            "/v1/search".to_string(),
            json!({"start_cursor": "garbage"}),
            "start_cursor",
        ),
        (
            Method::POST,
            "/v1/databases".to_string(),
            json!({"parent": {"page_id": page}, "title": text("T"), "initial_data_source": {"properties": {"A": {"number": {}}}}}),
            "title",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, response) = h.call(&h.ada, method.clone(), &path, Some(body)).await;
        assert_error(
            status,
            &response,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
        assert!(
            response["message"].as_str().unwrap().contains(field),
            "{method} {path}: message should name `{field}`: {response}"
        );
    }
}

#[tokio::test]
async fn query_and_schema_errors() {
    let h = Harness::new().await;
    let page = h.page("Root").await;
    let database = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/databases",
            Some(json!({"parent": {"page_id": page}, "title": text("T"), "initial_data_source": {"properties": {"Name": {"title": {}}, "N": {"number": {}}, "S": {"status": {}}}}})),
        )
        .await;
    let data_source = database["data_sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let query = format!("/v1/data_sources/{data_source}/query");
    for (filter, field) in [
        (
            json!({"property": "Missing", "number": {"equals": 1}}),
            "Missing",
        ),
        (
            json!({"property": "N", "select": {"equals": "x"}}),
            "number",
        ),
        (
            json!({"property": "N", "number": {"bigger_than": 1}}),
            "bigger_than",
        ),
        (
            json!({"and": [{"or": [{"and": [{"property": "N", "number": {"equals": 1}}]}]}]}),
            "nested",
        ),
    ] {
        let (status, body) = h
            .call(
                &h.ada,
                Method::POST,
                &query,
                Some(json!({"filter": filter})),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert!(
            body["message"].as_str().unwrap().contains(field),
            "message should mention `{field}`: {body}"
        );
    }
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            &query,
            Some(json!({"sorts": [{"property": "Nope", "direction": "ascending"}]})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    // A value that can't be converted fails the whole schema change and changes nothing.
    h.ok(&h.ada, Method::POST, "/v1/pages", Some(json!({"parent": {"data_source_id": data_source}, "properties": {"Name": {"title": text("row")}, "N": {"number": 3}}}))).await;
    h.ok(
        &h.ada,
        Method::PATCH,
        &format!("/v1/data_sources/{data_source}"),
        Some(json!({"properties": {"T": {"rich_text": {}}}})),
    )
    .await;
    let rows = h.ok(&h.ada, Method::POST, &query, Some(json!({}))).await;
    let row = rows["results"][0]["id"].as_str().unwrap().to_string();
    h.ok(
        &h.ada,
        Method::PATCH,
        &format!("/v1/pages/{row}"),
        Some(json!({"properties": {"T": {"rich_text": text("not a number")}}})),
    )
    .await;
    let (status, body) = h
        .call(
            &h.ada,
            Method::PATCH,
            &format!("/v1/data_sources/{data_source}"),
            Some(json!({"properties": {"T": {"number": {}}}})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(
        body["message"].as_str().unwrap().contains("not a number"),
        "{body}"
    );
    let schema = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/data_sources/{data_source}"),
            None,
        )
        .await;
    assert_eq!(
        schema["properties"]["T"]["type"], "rich_text",
        "a failed request changes nothing"
    );
    // Unknown status names are refused rather than invented.
    let (status, body) = h
        .call(
            &h.ada,
            Method::PATCH,
            &format!("/v1/pages/{row}"),
            Some(json!({"properties": {"S": {"status": {"name": "Nonexistent"}}}})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
}

#[tokio::test]
async fn hidden_and_missing_objects_look_the_same() {
    let h = Harness::new().await;
    let secret = h.page("Secret").await;
    let ada = h.workspace.authenticate(&h.ada).await.unwrap();
    h.workspace
        .set_inherits(&ada, secret.parse().unwrap(), false)
        .await
        .unwrap();
    let missing = "00000000-0000-4000-8000-000000000000";
    for token in [&h.ben, &h.cy, &h.bot] {
        for (method, path) in [
            (Method::GET, format!("/v1/pages/{secret}")),
            (Method::GET, format!("/v1/blocks/{secret}/children")),
            (Method::PATCH, format!("/v1/pages/{secret}")),
            (Method::GET, format!("/v1/pages/{secret}/markdown")),
        ] {
            let (status, body) = h.call(token, method.clone(), &path, Some(json!({}))).await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "object_not_found");
            let (missing_status, missing_body) = h
                .call(
                    token,
                    method,
                    &path.replace(&secret, missing),
                    Some(json!({})),
                )
                .await;
            assert_eq!(missing_status, status);
            assert_eq!(
                body["message"].as_str().unwrap().replace(&secret, "ID"),
                missing_body["message"]
                    .as_str()
                    .unwrap()
                    .replace(missing, "ID"),
                "the message must not tell hidden from missing"
            );
        }
    }
    // Guests may not create top-level pages or list users: a capability, not an object.
    let (status, body) = h.call(&h.cy, Method::POST, "/v1/pages", Some(json!({"parent": {"workspace": true}, "properties": {"title": {"title": text("x")}}}))).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "restricted_resource");
}

#[tokio::test]
async fn integration_capabilities_are_enforced_and_audited() {
    let h = Harness::new().await;
    let page = h.page("Shared with the bot").await;
    let ada = h.workspace.authenticate(&h.ada).await.unwrap();
    let reader = h
        .workspace
        .ensure_integration("Reader", workspace::Capabilities::READ_ONLY, None)
        .await
        .unwrap();
    let token = h
        .workspace
        .create_token(workspace::TokenSubject::Integration(reader.id), "t")
        .await
        .unwrap();
    h.workspace
        .share(
            &ada,
            page.parse().unwrap(),
            workspace::Grantee::Integration(reader.id),
            Some(workspace::Level::CanEdit),
        )
        .await
        .unwrap();
    h.ok(&token, Method::GET, &format!("/v1/pages/{page}"), None)
        .await;
    let (status, body) = h
        .call(
            &token,
            Method::PATCH,
            &format!("/v1/blocks/{page}/children"),
            Some(json!({"children": [{"type": "divider", "divider": {}}]})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "restricted_resource");
    assert!(
        body["message"].as_str().unwrap().contains("insert_content"),
        "{body}"
    );
    let (status, body) = h.call(&token, Method::GET, "/v1/users", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "restricted_resource");
    let audit = h.workspace.audit_log(Some(reader.id), 10).await.unwrap();
    assert!(
        audit.iter().any(|e| e.allowed && e.operation == "read"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| !e.allowed && e.operation == "insert" && e.reason == "insert_content"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let h = Harness::with_config(http_api::Config {
        rate_limit_per_second: 1,
        rate_limit_burst: 2,
        base_url: "http://test".into(),
    })
    .await;
    let mut statuses = Vec::new();
    let mut last = serde_json::Value::Null;
    for _ in 0..4 {
        let request = axum::http::Request::builder()
            .uri("/v1/users/me")
            .header("Notion-Version", "2025-09-03")
            .header("Authorization", format!("Bearer {}", h.ben))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(h.router.clone(), request)
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().get("retry-after").is_some());
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            last = serde_json::from_slice(&bytes).unwrap();
        }
    }
    assert_eq!(&statuses[..2], &[StatusCode::OK, StatusCode::OK]);
    assert!(
        statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(last["code"], "rate_limited");
    // Another token has its own bucket.
    h.ok(&h.ada, Method::GET, "/v1/users/me", None).await;
}
