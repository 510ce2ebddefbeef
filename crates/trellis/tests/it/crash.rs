//! kill -9 during a burst of writes: after a restart every acknowledged write is present and
//! no request is half-applied.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Server, temp_dir};

/// Blocks in each page created by the burst: a half-applied request would show fewer.
const BLOCKS_PER_PAGE: usize = 25;

fn page_body(parent: &str, title: &str) -> Value {
    let children: Vec<Value> = (0..BLOCKS_PER_PAGE)
        .map(|i| json!({"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": format!("{title} block {i}")}}]}}))
        .collect();
    json!({
        "parent": {"page_id": parent},
        "properties": {"title": {"title": [{"type": "text", "text": {"content": title}}]}},
        "children": children,
    })
}

async fn count_children(server: &Server, token: &str, page: &str) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/blocks/{page}/children?start_cursor={c}"),
            None => format!("/v1/blocks/{page}/children"),
        };
        let (status, body) = server
            .request("GET", &path, Some(token), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        count += body["results"].as_array().unwrap().len();
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return count,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_writes_loses_nothing_acknowledged_and_applies_nothing_by_half() {
    let dir = temp_dir("crash");
    let data_dir = dir.to_str().unwrap().to_string();
    let mut server = Server::start(&dir, false).await;
    let token = super::owner_token(&data_dir);
    let (status, root) = server
        .request("POST", "/v1/pages", Some(&token), Some(&json!({"parent": {"workspace": true}, "properties": {"title": {"title": [{"type": "text", "text": {"content": "Crash root"}}]}}})))
        .await
        .unwrap();
    assert_eq!(status, 200, "{root}");
    let root = root["id"].as_str().unwrap().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let server_port = server.port;
    let mut writers = Vec::new();
    for writer in 0..4 {
        let stop = stop.clone();
        let token = token.clone();
        let root = root.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut attempt = 0;
            while !stop.load(Ordering::Relaxed) && attempt < 10_000 {
                let title = format!("burst-{writer}-{attempt}");
                attempt += 1;
                match super::http(
                    server_port,
                    "POST",
                    "/v1/pages",
                    Some(&token),
                    Some(&page_body(&root, &title)),
                )
                .await
                {
                    Ok((200, body)) => {
                        acknowledged.push((title, body["id"].as_str().unwrap().to_string()))
                    }
                    Ok(_) | Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    // Let the burst run, then kill the server without warning.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 4,
        "the burst should have written something before the kill"
    );

    let server = Server::start(&dir, false).await;
    for (title, id) in &acknowledged {
        let (status, page) = server
            .request("GET", &format!("/v1/pages/{id}"), Some(&token), None)
            .await
            .unwrap();
        assert_eq!(
            status, 200,
            "acknowledged page {title} is missing after the restart"
        );
        assert_eq!(
            page["properties"]["title"]["title"][0]["plain_text"],
            title.as_str()
        );
    }
    // Every page under the root, acknowledged or not, is whole.
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/blocks/{root}/children?start_cursor={c}"),
            None => format!("/v1/blocks/{root}/children"),
        };
        let (_, body) = server
            .request("GET", &path, Some(&token), None)
            .await
            .unwrap();
        for child in body["results"].as_array().unwrap() {
            let id = child["id"].as_str().unwrap();
            assert_eq!(
                count_children(&server, &token, id).await,
                BLOCKS_PER_PAGE,
                "page {id} was half-applied"
            );
            pages += 1;
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert!(pages >= acknowledged.len());
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
