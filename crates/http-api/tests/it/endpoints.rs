//! Every endpoint's success path, through the router.

use axum::http::Method;
use serde_json::{Value, json};

use super::{Harness, text};

fn titles(list: &Value) -> Vec<String> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| match item["object"].as_str() {
            Some("page") => item["properties"]
                .as_object()
                .unwrap()
                .values()
                .find(|p| p["type"] == "title")
                .map(|p| {
                    p["title"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["plain_text"].as_str().unwrap())
                        .collect::<String>()
                })
                .unwrap_or_default(),
            Some("data_source") => item["title"][0]["plain_text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            _ => item["type"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

#[tokio::test]
async fn health_answers() {
    let h = Harness::new().await;
    let (status, body) = h.call("", Method::GET, "/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn pages_create_retrieve_update_move_and_trash() {
    let h = Harness::new().await;
    let root = h.page("Root").await;
    let other = h.page("Other").await;
    let child = h.subpage(&h.ada, &root, "Child").await;
    let page = h
        .ok(&h.ada, Method::GET, &format!("/v1/pages/{child}"), None)
        .await;
    assert_eq!(page["object"], "page");
    assert_eq!(page["parent"]["page_id"], root);
    assert_eq!(
        page["properties"]["title"]["title"][0]["plain_text"],
        "Child"
    );
    assert_eq!(page["created_by"]["id"], h.ids["ada"]);

    let updated = h
        .ok(&h.ada, Method::PATCH, &format!("/v1/pages/{child}"), Some(json!({"properties": {"title": {"title": text("Renamed")}}, "icon": {"type": "emoji", "emoji": "🌱"}})))
        .await;
    assert_eq!(
        updated["properties"]["title"]["title"][0]["plain_text"],
        "Renamed"
    );
    assert_eq!(updated["icon"]["emoji"], "🌱");

    let moved = h
        .ok(
            &h.ada,
            Method::POST,
            &format!("/v1/pages/{child}/move"),
            Some(json!({"parent": {"page_id": other}})),
        )
        .await;
    assert_eq!(moved["parent"]["page_id"], other);
    let children = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/blocks/{other}/children"),
            None,
        )
        .await;
    assert_eq!(titles(&children), vec!["child_page"]);
    assert_eq!(children["results"][0]["child_page"]["title"], "Renamed");

    let trashed = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/pages/{child}"),
            Some(json!({"in_trash": true})),
        )
        .await;
    assert_eq!(trashed["in_trash"], true);
    assert_eq!(trashed["archived"], true);
    let restored = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/pages/{child}"),
            Some(json!({"archived": false})),
        )
        .await;
    assert_eq!(restored["in_trash"], false);
}

#[tokio::test]
async fn blocks_append_list_retrieve_update_delete() {
    let h = Harness::new().await;
    let page = h.page("Doc").await;
    let appended = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/blocks/{page}/children"),
            Some(json!({"children": [
                {"type": "heading_1", "heading_1": {"rich_text": text("Title")}},
                {"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": text("one"), "children": [
                    {"type": "to_do", "to_do": {"rich_text": text("nested"), "checked": true}}
                ]}},
                {"type": "code", "code": {"rich_text": text("fn main() {}"), "language": "rust"}}
            ]})),
        )
        .await;
    let ids: Vec<String> = appended["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    // Insert after the heading (2025-09-03 position) and at the start.
    h.ok(
        &h.ada,
        Method::PATCH,
        &format!("/v1/blocks/{page}/children"),
        Some(json!({"children": [{"type": "divider", "divider": {}}], "position": {"type": "after_block", "after_block": {"id": ids[0]}}})),
    )
    .await;
    h.ok(&h.ada, Method::PATCH, &format!("/v1/blocks/{page}/children"), Some(json!({"children": [{"type": "quote", "quote": {"rich_text": text("q")}}], "position": {"type": "start"}}))).await;
    let children = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/blocks/{page}/children?page_size=2"),
            None,
        )
        .await;
    assert_eq!(titles(&children), vec!["quote", "heading_1"]);
    assert_eq!(children["has_more"], true);
    let cursor = children["next_cursor"].as_str().unwrap();
    let rest = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/blocks/{page}/children?start_cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(titles(&rest), vec!["divider", "bulleted_list_item", "code"]);
    assert_eq!(rest["results"][1]["has_children"], true);
    let nested = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/blocks/{}/children", ids[1]),
            None,
        )
        .await;
    assert_eq!(nested["results"][0]["to_do"]["checked"], true);

    let block = h
        .ok(&h.ada, Method::GET, &format!("/v1/blocks/{}", ids[0]), None)
        .await;
    assert_eq!(block["heading_1"]["rich_text"][0]["plain_text"], "Title");
    let updated = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/blocks/{}", ids[0]),
            Some(json!({"heading_1": {"rich_text": text("New title")}})),
        )
        .await;
    assert_eq!(
        updated["heading_1"]["rich_text"][0]["plain_text"],
        "New title"
    );
    let deleted = h
        .ok(
            &h.ada,
            Method::DELETE,
            &format!("/v1/blocks/{}", ids[2]),
            None,
        )
        .await;
    assert_eq!(deleted["in_trash"], true);
    let after = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/blocks/{page}/children"),
            None,
        )
        .await;
    assert_eq!(
        titles(&after),
        vec!["quote", "heading_1", "divider", "bulleted_list_item"]
    );
}

#[tokio::test]
async fn databases_data_sources_rows_and_queries() {
    let h = Harness::new().await;
    let page = h.page("Projects home").await;
    let database = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/databases",
            Some(json!({
                "parent": {"type": "page_id", "page_id": page},
                "title": text("Tasks"),
                "initial_data_source": {"properties": {
                    "Name": {"title": {}},
                    "Points": {"number": {"format": "number"}},
                    "Stage": {"select": {"options": [{"name": "Todo"}, {"name": "Done"}]}},
                    "Due": {"date": {}}
                }}
            })),
        )
        .await;
    assert_eq!(database["object"], "database");
    let data_source = database["data_sources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let retrieved = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/data_sources/{data_source}"),
            None,
        )
        .await;
    assert_eq!(retrieved["properties"]["Points"]["type"], "number");
    assert_eq!(retrieved["parent"]["database_id"], database["id"]);
    for (name, points, stage) in [
        ("a", 3, "Todo"),
        ("b", 1, "Done"),
        ("c", 2, "Todo"),
        ("d", 5, "Brand new"),
    ] {
        h.ok(
            &h.ada,
            Method::POST,
            "/v1/pages",
            Some(json!({"parent": {"data_source_id": data_source}, "properties": {
                "Name": {"title": text(name)}, "Points": {"number": points}, "Stage": {"select": {"name": stage}},
                "Due": {"date": {"start": "2026-01-0".to_string() + &points.to_string()}}
            }})),
        )
        .await;
    }
    // A new select name became an option.
    let schema = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/data_sources/{data_source}"),
            None,
        )
        .await;
    let options: Vec<&str> = schema["properties"]["Stage"]["select"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(options, vec!["Todo", "Done", "Brand new"]);

    let query = |filter: Value, sorts: Value| {
        let h = &h;
        let data_source = data_source.clone();
        async move {
            h.ok(
                &h.ada,
                Method::POST,
                &format!("/v1/data_sources/{data_source}/query"),
                Some(json!({"filter": filter, "sorts": sorts})),
            )
            .await
        }
    };
    let todo = query(
        json!({"property": "Stage", "select": {"equals": "Todo"}}),
        json!([{"property": "Points", "direction": "descending"}]),
    )
    .await;
    assert_eq!(titles(&todo), vec!["a", "c"]);
    let compound = query(
        json!({"or": [{"property": "Points", "number": {"greater_than": 4}}, {"and": [{"property": "Stage", "select": {"equals": "Done"}}, {"property": "Due", "date": {"before": "2026-01-02"}}]}]}),
        json!([{"property": "Name", "direction": "ascending"}]),
    )
    .await;
    assert_eq!(titles(&compound), vec!["b", "d"]);
    let paged = h.ok(&h.ada, Method::POST, &format!("/v1/data_sources/{data_source}/query"), Some(json!({"page_size": 3, "sorts": [{"timestamp": "created_time", "direction": "ascending"}]}))).await;
    assert_eq!(titles(&paged), vec!["a", "b", "c"]);
    let next = paged["next_cursor"].as_str().unwrap();
    let last = h.ok(&h.ada, Method::POST, &format!("/v1/data_sources/{data_source}/query"), Some(json!({"page_size": 3, "start_cursor": next, "sorts": [{"timestamp": "created_time", "direction": "ascending"}]}))).await;
    assert_eq!(titles(&last), vec!["d"]);
    assert_eq!(last["has_more"], false);

    // Schema changes: rename, retype number → rich_text keeps values, remove.
    let changed = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/data_sources/{data_source}"),
            Some(json!({"properties": {"Points": {"name": "Score", "rich_text": {}}, "Due": null, "Owner": {"people": {}}}})),
        )
        .await;
    assert_eq!(changed["properties"]["Score"]["type"], "rich_text");
    assert!(changed["properties"].get("Due").is_none());
    assert_eq!(changed["properties"]["Owner"]["type"], "people");
    let rows = query(
        json!({"property": "Score", "rich_text": {"equals": "5"}}),
        json!([]),
    )
    .await;
    assert_eq!(titles(&rows), vec!["d"]);

    // A second data source in the same database, and a database update.
    let second = h.ok(&h.ada, Method::POST, "/v1/data_sources", Some(json!({"parent": {"database_id": database["id"]}, "title": text("Archive"), "properties": {"Name": {"title": {}}}}))).await;
    assert_eq!(second["object"], "data_source");
    let updated = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/databases/{}", database["id"].as_str().unwrap()),
            Some(json!({"title": text("All tasks")})),
        )
        .await;
    assert_eq!(updated["title"][0]["plain_text"], "All tasks");
    assert_eq!(updated["data_sources"].as_array().unwrap().len(), 2);
    let fetched = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/databases/{}", database["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(fetched["data_sources"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn search_users_comments_markdown_and_property_items() {
    let h = Harness::new().await;
    let page = h.page("Quarterly planning").await;
    h.page("Unrelated").await;
    let found = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/search",
            Some(json!({"query": "quarterly", "filter": {"property": "object", "value": "page"}})),
        )
        .await;
    assert_eq!(titles(&found), vec!["Quarterly planning"]);
    let sorted = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/search",
            Some(json!({"sort": {"timestamp": "last_edited_time", "direction": "ascending"}})),
        )
        .await;
    assert_eq!(titles(&sorted), vec!["Quarterly planning", "Unrelated"]);

    let me = h.ok(&h.ben, Method::GET, "/v1/users/me", None).await;
    assert_eq!(me["id"], h.ids["ben"]);
    assert_eq!(me["person"]["email"], "ben@example.com");
    let users = h.ok(&h.ada, Method::GET, "/v1/users", None).await;
    let names: Vec<&str> = users["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ada") && names.contains(&"Robot") && !names.contains(&"cy"),
        "{names:?}"
    );
    let user = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/users/{}", h.ids["cy"]),
            None,
        )
        .await;
    assert_eq!(user["type"], "person");
    let bot_me = h.ok(&h.bot, Method::GET, "/v1/users/me", None).await;
    assert_eq!(bot_me["type"], "bot");

    let comment = h
        .ok(
            &h.ada,
            Method::POST,
            "/v1/comments",
            Some(json!({"parent": {"page_id": page}, "rich_text": text("Looks good")})),
        )
        .await;
    let discussion = comment["discussion_id"].as_str().unwrap();
    h.ok(
        &h.ben,
        Method::POST,
        "/v1/comments",
        Some(json!({"discussion_id": discussion, "rich_text": text("Agreed")})),
    )
    .await;
    let comments = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/comments?block_id={page}"),
            None,
        )
        .await;
    let texts: Vec<&str> = comments["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rich_text"][0]["plain_text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["Looks good", "Agreed"]);

    let inserted = h
        .ok(&h.ada, Method::PATCH, &format!("/v1/pages/{page}/markdown"), Some(json!({"type": "insert_content", "insert_content": {"content": "## Goals\n\n- ship **search**\n"}})))
        .await;
    assert!(
        inserted["markdown"].as_str().unwrap().contains("## Goals"),
        "{inserted}"
    );
    let markdown = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/pages/{page}/markdown"),
            None,
        )
        .await;
    assert_eq!(markdown["truncated"], false);
    assert!(
        markdown["markdown"]
            .as_str()
            .unwrap()
            .contains("**search**")
    );
    let (status, _) = h
        .call(
            &h.ada,
            Method::PATCH,
            &format!("/v1/pages/{page}/markdown"),
            Some(json!({"type": "replace_content", "replace_content": {"new_str": "gone"}})),
        )
        .await;
    assert_eq!(
        status, 400,
        "replacing content needs allow_deleting_content"
    );

    let title = h
        .ok(
            &h.ada,
            Method::GET,
            &format!("/v1/pages/{page}/properties/title"),
            None,
        )
        .await;
    assert_eq!(
        title["results"][0]["title"]["plain_text"],
        "Quarterly planning"
    );
}
