//! The edge: every error is a Notion error object with a request id, whoever made it; limits
//! on what a request may carry; bad input that once crashed the server or answered 500; the
//! permission walk at any depth; and a page edit in one transaction.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{Harness, assert_error, text};

async fn send(h: &Harness, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = h.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, value)
}

fn request(h: &Harness, method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("Notion-Version", "2025-09-03")
        .header("Authorization", format!("Bearer {}", h.ada))
}

/// Notion's error shape, with the request id in the body and in `x-request-id`.
fn assert_notion_error(
    (status, headers, body): &(StatusCode, HeaderMap, Value),
    expected_status: StatusCode,
    code: &str,
) {
    assert_error(*status, body, expected_status, code);
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header");
    assert_eq!(body["request_id"], id, "{body}");
    assert_eq!(body["status"], expected_status.as_u16(), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_notion_errors() {
    let h = Harness::new().await;
    let answer = send(
        &h,
        request(&h, Method::GET, "/v1/nothing/here")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::BAD_REQUEST, "invalid_request_url");
    let answer = send(
        &h,
        request(&h, Method::GET, "/nowhere")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::BAD_REQUEST, "invalid_request_url");

    let answer = send(
        &h,
        request(&h, Method::PUT, "/v1/search")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    let allow = answer
        .1
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(allow.contains("POST"), "Allow: {allow}");
}

#[tokio::test]
async fn a_missing_version_is_refused_on_v1_only() {
    let h = Harness::new().await;
    let no_version = || {
        Request::builder()
            .method(Method::GET)
            .header("Authorization", format!("Bearer {}", h.ada))
    };
    let answer = send(
        &h,
        no_version()
            .uri("/v1/users/me")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::BAD_REQUEST, "missing_version");
    // Trellis's own routes have no version header to send.
    let (status, _, body) = send(
        &h,
        no_version()
            .uri("/platform/v1/webhooks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bodies_too_large_or_not_json_are_refused_before_reading() {
    let h = Harness::new().await;
    let max = document::limits::REQUEST_BODY_BYTES_MAX;
    let big = format!("{{\"query\": \"{}\"}}", "a".repeat(max));
    let answer = send(
        &h,
        request(&h, Method::POST, "/v1/search")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, big.len())
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::BAD_REQUEST, "validation_error");
    // A large body from someone without a valid token is refused on its headers alone.
    let large = "x".repeat(100 * 1024);
    let answer = send(
        &h,
        Request::builder()
            .method(Method::POST)
            .uri("/v1/search")
            .header("Notion-Version", "2025-09-03")
            .header("Authorization", "Bearer not-a-token")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, large.len())
            .body(Body::from(large))
            .unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");

    let answer = send(
        &h,
        request(&h, Method::POST, "/v1/search")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_notion_error(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
    );
    // A JSON type with parameters is JSON.
    let (status, _, body) = send(
        &h,
        request(&h, Method::POST, "/v1/search")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn long_urls_and_headers_answer_notion_errors() {
    let h = Harness::new().await;
    let long = format!("/v1/users/{}", "a".repeat(http_api::REQUEST_URI_BYTES_MAX));
    let answer = send(
        &h,
        request(&h, Method::GET, &long).body(Body::empty()).unwrap(),
    )
    .await;
    assert_notion_error(&answer, StatusCode::URI_TOO_LONG, "invalid_request_url");
    let answer = send(
        &h,
        request(&h, Method::GET, "/v1/users/me")
            .header("x-padding", "b".repeat(http_api::REQUEST_HEADERS_BYTES_MAX))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_notion_error(
        &answer,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "invalid_request",
    );
}

#[test]
fn a_rate_limiter_holds_a_bounded_number_of_keys() {
    let limiter = http_api::BoundedLimiter::<u64>::new(1, 1);
    for key in 0..(http_api::RATE_LIMIT_KEYS_MAX as u64 * 3) {
        // A first request of a key always passes.
        assert!(limiter.check(&key).is_ok());
        assert!(limiter.len() <= http_api::RATE_LIMIT_KEYS_MAX);
    }
    // A key that spent its burst is still limited.
    let key = u64::MAX;
    assert!(limiter.check(&key).is_ok());
    assert!(limiter.check(&key).is_err());
}

#[tokio::test]
async fn unknown_tokens_are_never_rate_limited_in_place_of_their_owner() {
    // The per-token limit counts authenticated principals: a flood of made-up tokens neither
    // grows it nor spends Ada's budget.
    let h = Harness::with_config(http_api::Config {
        rate_limit_per_second: 1,
        rate_limit_burst: 2,
        ..Default::default()
    })
    .await;
    for index in 0..50 {
        let (status, _) = h
            .call(
                &format!("made-up-{index}"),
                Method::GET,
                "/v1/users/me",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = h.call(&h.ada, Method::GET, "/v1/users/me", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn tasks_database(h: &Harness) -> String {
    let page = h.page("Home").await;
    let database = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/databases",
            Some(json!({"parent": {"page_id": page}, "title": text("Tasks"), "initial_data_source": {"properties": {"Name": {"title": {}}, "N": {"number": {}}, "Done": {"checkbox": {}}}}})),
        )
        .await;
    database["data_sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn many_sorts_are_refused_and_repeated_ones_dropped() {
    let h = Harness::new().await;
    let data_source = tasks_database(&h).await;
    let path = format!("/v1/data_sources/{data_source}/query");
    for count in [11, 32, 100] {
        let sorts: Vec<Value> = (0..count)
            .map(|i| json!({"property": if i % 2 == 0 { "N" } else { "Name" }, "direction": "ascending"}))
            .collect();
        let (status, body) = h
            .call(&h.ada, Method::POST, &path, Some(json!({"sorts": sorts})))
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert!(
            body["message"].as_str().unwrap().contains("sorts"),
            "{body}"
        );
    }
    // Ten sorts over two keys are two sorts.
    let sorts: Vec<Value> = (0..10)
        .map(|i| json!({"property": if i % 2 == 0 { "N" } else { "Name" }, "direction": "descending"}))
        .collect();
    let (status, body) = h
        .call(&h.ada, Method::POST, &path, Some(json!({"sorts": sorts})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Too many filter conditions in all, though each list is within its own limit.
    let inner: Vec<Value> = (0..60)
        .map(|i| json!({"property": "N", "number": {"equals": i}}))
        .collect();
    let filter = json!({"or": [{"and": inner.clone()}, {"and": inner}]});
    let (status, body) = h
        .call(&h.ada, Method::POST, &path, Some(json!({"filter": filter})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
}

#[tokio::test]
async fn search_text_is_words_never_query_syntax() {
    let h = Harness::new().await;
    h.page("title body notes").await;
    while h.workspace.index_changes().await.unwrap().events > 0 {}
    for query in [
        "title:* OR body:*",
        "*",
        "body:[a TO z]",
        "\"unclosed",
        "a AND OR NOT",
        "(((",
        "title:^2",
    ] {
        let (status, body) = h
            .call(
                &h.ada,
                Method::POST,
                "/v1/search",
                Some(json!({"query": query, "mode": "keyword"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }
    let (_, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/v1/search",
            Some(json!({"query": "title:* OR body:*", "mode": "keyword"})),
        )
        .await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn only_web_schemes_reach_covers_icons_links_and_bookmarks() {
    let h = Harness::new().await;
    let page = h.page("Schemes").await;
    let path = format!("/v1/pages/{page}");
    for url in [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,x",
        "vbscript:x",
    ] {
        let (status, body) = h
            .call(
                &h.ada,
                Method::PATCH,
                &path,
                Some(json!({"cover": {"type": "external", "external": {"url": url}}})),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        let (status, body) = h
            .call(
                &h.ada,
                Method::PATCH,
                &path,
                Some(json!({"icon": {"type": "external", "external": {"url": url}}})),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        let link = json!({"children": [{"paragraph": {"rich_text": [{"text": {"content": "x", "link": {"url": url}}}]}}]});
        let (status, body) = h
            .call(
                &h.ada,
                Method::PATCH,
                &format!("/v1/blocks/{page}/children"),
                Some(link),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        let bookmark = json!({"children": [{"bookmark": {"url": url}}]});
        let (status, body) = h
            .call(
                &h.ada,
                Method::PATCH,
                &format!("/v1/blocks/{page}/children"),
                Some(bookmark),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    }
    let (status, body) = h
        .call(&h.ada, Method::PATCH, &path, Some(json!({"cover": {"type": "external", "external": {"url": "https://example.com/c.png"}}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let link = json!({"children": [{"paragraph": {"rich_text": [{"text": {"content": "x", "link": {"url": "/abc"}}}, {"text": {"content": "y", "link": {"url": "mailto:a@example.com"}}}]}}]});
    let (status, body) = h
        .call(
            &h.ada,
            Method::PATCH,
            &format!("/v1/blocks/{page}/children"),
            Some(link),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_page_edit_is_one_transaction() {
    let h = Harness::new().await;
    let data_source = tasks_database(&h).await;
    let row = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/pages",
            Some(json!({"parent": {"data_source_id": data_source}, "properties": {"Name": {"title": text("Row")}}})),
        )
        .await;
    let path = format!("/v1/pages/{}", row["id"].as_str().unwrap());
    let before = h.workspace.store().transactions_begun();
    let updated = h
        .ok(
            &h.ada,
            Method::PATCH,
            &path,
            Some(json!({"properties": {"N": {"number": 7}, "Done": {"checkbox": true}}})),
        )
        .await;
    let after = h.workspace.store().transactions_begun();
    assert_eq!(updated["properties"]["N"]["number"], 7);
    // Authentication reads the token in a transaction of its own; the edit is one more.
    let authentication = {
        let start = h.workspace.store().transactions_begun();
        h.workspace.authenticate(&h.ada).await.unwrap();
        h.workspace.store().transactions_begun() - start
    };
    assert_eq!(after - before - authentication, 1);
    // A property that does not exist is refused inside that transaction, naming the field.
    let (status, body) = h
        .call(
            &h.ada,
            Method::PATCH,
            &path,
            Some(json!({"properties": {"Nope": {"number": 1}}})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("properties.Nope"),
        "{body}"
    );
}

#[tokio::test]
async fn pages_nest_at_most_to_the_depth_limit() {
    // Hundreds of requests in a burst: the rate limit is not what this test is about.
    let h = Harness::with_config(http_api::Config {
        rate_limit_per_second: 100_000,
        rate_limit_burst: 100_000,
        ..Default::default()
    })
    .await;
    let max = document::limits::TREE_DEPTH_LEVELS_MAX;
    // Ada keeps a private top-level page; Ben, a member, may read what members may.
    let top = h.page("Private").await;
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            &format!("/platform/v1/pages/{top}/sharing"),
            Some(json!({"inherit": false})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let mut chain = vec![top.clone()];
    for level in 2..=max {
        let parent = chain.last().unwrap().clone();
        chain.push(h.subpage(&h.ada, &parent, &format!("Level {level}")).await);
    }
    let deepest = chain.last().unwrap().clone();
    // Level 256 exists; level 257 is refused, as is a block below the deepest page.
    let (status, body) = h
        .call(&h.ada, Method::POST, "/v1/pages", Some(json!({"parent": {"page_id": deepest}, "properties": {"title": {"title": text("Too deep")}}})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let (status, body) = h
        .call(
            &h.ada,
            Method::PATCH,
            &format!("/v1/blocks/{deepest}/children"),
            Some(json!({"children": [{"paragraph": {"rich_text": text("x")}}]})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    // A subtree moved under a deep page must fit whole: Level 2 (255 levels tall) under Level 3
    // would be a cycle, and a fresh two-level tree under level 255 would be 257 deep.
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            &format!("/v1/pages/{}/move", chain[1]),
            Some(json!({"parent": {"page_id": deepest}})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let other = h.page("Other").await;
    h.subpage(&h.ada, &other, "Child").await;
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            &format!("/v1/pages/{other}/move"),
            Some(json!({"parent": {"page_id": chain[max - 2]}})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    // Ben sees nothing of the private tree at any depth, by id or by search.
    for id in [&chain[1], &chain[max / 2], &deepest] {
        let (status, body) = h
            .call(&h.ben, Method::GET, &format!("/v1/pages/{id}"), None)
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "object_not_found");
    }
    while h.workspace.index_changes().await.unwrap().events > 0 {}
    let (_, body) = h
        .call(
            &h.ben,
            Method::POST,
            "/v1/search",
            Some(json!({"query": "Level", "mode": "keyword"})),
        )
        .await;
    assert_eq!(body["results"], json!([]), "{body}");
    let (_, body) = h
        .call(
            &h.ada,
            Method::POST,
            "/v1/search",
            Some(json!({"query": "Level 256", "mode": "keyword"})),
        )
        .await;
    assert!(!body["results"].as_array().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn people_values_carry_user_objects_as_the_reader_may_see_them() {
    let h = Harness::new().await;
    let page = h.page("Team").await;
    let database = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/databases",
            Some(json!({"parent": {"page_id": page}, "title": text("Team"), "initial_data_source": {"properties": {"Name": {"title": {}}, "Owner": {"people": {}}}}})),
        )
        .await;
    let data_source = database["data_sources"][0]["id"].as_str().unwrap();
    let ben = &h.ids["ben"];
    let row = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/pages",
            Some(json!({"parent": {"data_source_id": data_source}, "properties": {"Name": {"title": text("Row")}, "Owner": {"people": [{"id": ben}]}}})),
        )
        .await;
    let owner = &row["properties"]["Owner"]["people"][0];
    assert_eq!(owner["object"], "user", "{owner}");
    assert_eq!(owner["id"], ben.as_str());
    assert_eq!(owner["name"], "ben");
    assert_eq!(owner["type"], "person");
    assert_eq!(owner["person"]["email"], "ben@example.com");
    // A guest sees the person without the email.
    let (status, body) = h
        .call(
            &h.ada,
            Method::POST,
            &format!("/platform/v1/pages/{page}/sharing"),
            Some(json!({"user_id": h.ids["cy"], "level": "can_view"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let row_id = row["id"].as_str().unwrap();
    let seen = h
        .ok(&h.cy, Method::GET, &format!("/v1/pages/{row_id}"), None)
        .await;
    let owner = &seen["properties"]["Owner"]["people"][0];
    assert_eq!(owner["name"], "ben", "{owner}");
    assert!(owner["person"].get("email").is_none(), "{owner}");
    let item = h
        .ok(
            &h.ada,
            Method::GET,
            &format!(
                "/v1/pages/{row_id}/properties/{}",
                seen["properties"]["Owner"]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(item["results"][0]["people"]["name"], "ben", "{item}");
}
