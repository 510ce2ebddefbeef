//! Provisional vectors: an edited chunk is found by meaning through the vector of its changed
//! passage (and of its previous text, while that is still part of it) before the model has
//! re-embedded the whole chunk, and never through a passage the chunk no longer holds.
//!
//! The embedder here holds back every batch with a long text (a whole chunk) until the test
//! opens its gate, so the test sees the state between the two embeddings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use embedding::{GatedEmbedder, HashingEmbedder};
use serde_json::{Value, json};

use super::Harness;

/// Batches with a text of more words than this wait for the gate.
const GATED_WORDS_MIN: usize = 40;

fn holds_whole_chunks(texts: &[String]) -> bool {
    texts
        .iter()
        .any(|t| t.split_whitespace().count() > GATED_WORDS_MIN)
}

async fn chunks(h: &Harness, query: &str) -> Vec<Value> {
    let body = h
        .ok(
            &h.ada,
            Method::POST,
            "/platform/v1/search/chunks",
            Some(json!({"query": query, "mode": "semantic", "page_size": 10})),
        )
        .await;
    body["results"].as_array().unwrap().clone()
}

async fn status(h: &Harness) -> Value {
    h.ok(&h.ada, Method::GET, "/platform/v1/search/status", None)
        .await
}

/// Polls the chunk search until `found` holds for its results (10 s at most).
async fn eventually(h: &Harness, query: &str, what: &str, found: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let results = chunks(h, query).await;
        if found(&results) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within 10 s; last results {results:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (5 s at most) until the status says `edits` edits await meaning; returns `freshness`.
async fn awaiting_meaning(h: &Harness, edits: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let freshness = status(h).await["freshness"].clone();
        if freshness["edits_awaiting_meaning"] == edits {
            return freshness;
        }
        assert!(Instant::now() < deadline, "{freshness}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn paragraph(text: &str) -> Value {
    json!({"children": [{"type": "paragraph", "paragraph": {"rich_text": super::text(text)}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_found_by_its_passage_before_the_chunk_is_re_embedded() {
    let (embedder, gate) =
        GatedEmbedder::new(HashingEmbedder::new(64).unwrap(), holds_whole_chunks);
    let h = Harness::with_embedder(Arc::new(embedder)).await;
    let page = h.page("Harbor log").await;
    let seed: Vec<String> = (0..60).map(|i| format!("seed{i}")).collect();
    let query = seed[..30].join(" ");
    let seed = seed.join(" ");
    h.ok(
        &h.ada,
        Method::PATCH,
        &format!("/v1/blocks/{page}/children"),
        Some(paragraph(&seed)),
    )
    .await;
    while h.workspace.index_changes().await.unwrap().events > 0 {}
    let results = chunks(&h, &seed).await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["provisional_passage"], Value::Null);

    // From here the model embeds short passages at once and whole chunks only later. Vector
    // rounds start beside passage rounds instead of waiting for them, so that the append below
    // starts a round of the chunk with the appended paragraph at once.
    h.workspace.set_vector_round_deferral_ms(0).unwrap();
    gate.send_replace(false);
    let appended = h
        .ok(
            &h.ada,
            Method::PATCH,
            &format!("/v1/blocks/{page}/children"),
            Some(paragraph("saffron lighthouse beacon keeper")),
        )
        .await;
    let appended_id = appended["results"][0]["id"].as_str().unwrap().to_string();
    assert!(h.workspace.index_changes().await.unwrap().events > 0);
    eventually(
        &h,
        "saffron lighthouse beacon keeper",
        "the appended passage by its provisional vector",
        |results| {
            results.iter().any(|hit| {
                let passage = hit["provisional_passage"].as_str().unwrap_or("");
                passage.contains("saffron lighthouse beacon keeper")
                    && hit["text"].as_str().unwrap().contains(passage)
                    // The passage carries a few words of context, not the whole chunk.
                    && passage.split_whitespace().count() < 20
            })
        },
    )
    .await;
    // The chunk's previous text is still all there: its old vector serves meanwhile. (The
    // query is short enough to pass the gate.)
    let results = chunks(&h, &query).await;
    assert_eq!(
        results[0]["provisional_passage"].as_str(),
        Some(seed.as_str())
    );
    // The answer names both of the chunk's provisional vectors (with only two vectors in the
    // index, both rank among the nearest), best first: the one that ranked the chunk, then
    // the appended passage.
    let named = results[0]["provisional_passages"].as_array().unwrap();
    assert_eq!(named.len(), 2, "{}", results[0]);
    assert_eq!(named[0]["text"].as_str(), Some(seed.as_str()));
    assert!(
        named[1]["text"]
            .as_str()
            .unwrap()
            .contains("saffron lighthouse beacon keeper"),
        "{}",
        results[0]
    );
    assert!(named[0]["score"].as_f64().unwrap() >= named[1]["score"].as_f64().unwrap());
    assert_eq!(results[0]["score"], named[0]["score"]);
    let state = status(&h).await;
    assert_eq!(state["objects_awaiting_vectors"], 1, "{state}");
    assert_eq!(state["provisional_vectors"], 2, "{state}");
    assert_eq!(state["provisional_passages_added"], 1, "{state}");
    // The indexer's own freshness measure counts the append as findable by meaning (by its
    // passage) although the chunk still waits for its full vector.
    let freshness = awaiting_meaning(&h, 0).await;
    assert!(
        freshness["keyword"]["samples"].as_u64().unwrap() >= 2,
        "{freshness}"
    );
    assert!(
        freshness["meaning"]["samples"].as_u64().unwrap() >= 2,
        "{freshness}"
    );

    // Removing the passage removes its vector at once: no result stands for text the chunk
    // no longer holds, while the whole chunk still waits for the model.
    h.ok(
        &h.ada,
        Method::DELETE,
        &format!("/v1/blocks/{appended_id}"),
        None,
    )
    .await;
    assert!(h.workspace.index_changes().await.unwrap().events > 0);
    for hit in chunks(&h, "saffron lighthouse beacon keeper").await {
        let passage = hit["provisional_passage"].as_str().unwrap_or("");
        assert!(!passage.contains("saffron"), "{hit}");
        assert!(!hit["text"].as_str().unwrap().contains("saffron"), "{hit}");
        assert_eq!(
            hit["provisional_passages"].as_array().unwrap().len(),
            1,
            "{hit}"
        );
    }
    assert_eq!(status(&h).await["provisional_vectors"], 1);
    // A deletion has no passage of its own: it counts as findable by meaning only once the
    // chunk's full vector lands.
    awaiting_meaning(&h, 1).await;

    // The model catches up: full vectors replace every provisional one, and the vector embedded
    // of the text with the deleted paragraph is thrown away, not served.
    gate.send_replace(true);
    while h.workspace.index_changes().await.unwrap().events > 0 {}
    let state = status(&h).await;
    assert_eq!(state["objects_awaiting_vectors"], 0, "{state}");
    assert_eq!(state["provisional_vectors"], 0, "{state}");
    assert_eq!(state["superseded_vectors_discarded"], 1, "{state}");
    assert_eq!(state["freshness"]["edits_awaiting_meaning"], 0, "{state}");
    let results = chunks(&h, &seed).await;
    assert_eq!(results[0]["provisional_passage"], Value::Null);
    assert_eq!(results[0]["provisional_passages"], json!([]));
    assert_eq!(results[0]["text"].as_str(), Some(seed.as_str()));
}
