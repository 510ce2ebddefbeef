use std::collections::HashSet;

use access::Role;
use embedding::{GatedEmbedder, HashingEmbedder};
use storage_sql::Store;
use tokio::sync::watch;

use super::vectors::indexed_text;
use super::*;
use crate::{NewPage, NewUser, ParentRef};

struct Fixture {
    store: Store,
    embedder: Arc<GatedEmbedder>,
    gate: watch::Sender<bool>,
    dir: std::path::PathBuf,
}

impl Fixture {
    async fn new() -> Fixture {
        // Every batch waits while the gate is shut.
        let (embedder, gate) = GatedEmbedder::new(HashingEmbedder::new(64).unwrap(), |_| true);
        Fixture {
            store: Store::open("sqlite::memory:").await.unwrap(),
            embedder: Arc::new(embedder),
            gate,
            dir: std::env::temp_dir().join(format!("trellis-content-{}", Id::new())),
        }
    }

    /// A server start: the same store, index files in `dir` (in memory when `None`).
    async fn open(&self, dir: Option<&std::path::Path>) -> Workspace {
        Workspace::new(self.store.clone())
            .await
            .unwrap()
            .enable_content_search(dir, self.embedder.clone(), &|_, _| {})
            .await
            .unwrap()
    }
}

async fn find(workspace: &Workspace, actor: &Actor, word: &str, mode: SearchMode) -> Vec<ChunkHit> {
    workspace
        .search_chunks(actor, word, mode, 5)
        .await
        .unwrap()
        .into_iter()
        .filter(|hit| hit.text.contains(word))
        .collect()
}

/// The semantic side of the index for `page`'s chunks, asked directly with the query's
/// vector (so that a shut gate does not hold up the query): how many hits come from full
/// vectors (none when none of the page's chunks has one), and the passages of the
/// provisional hits.
fn page_vectors_found(workspace: &Workspace, page: Id, word: &str) -> (usize, Vec<String>) {
    let content = workspace.content().unwrap();
    let query = HashingEmbedder::new(64)
        .unwrap()
        .embed_now(&[word.to_string()])
        .unwrap()
        .pop()
        .unwrap();
    let allowed = content
        .index
        .chunks_of_objects(&HashSet::from([page]))
        .unwrap();
    let hits = content.index.semantic(&query, 10, &allowed).unwrap();
    let full = hits.iter().filter(|hit| hit.passages.is_empty()).count();
    let provisional = hits
        .iter()
        .filter_map(|hit| hit.passages.first().map(|m| m.passage.to_string()))
        .collect();
    (full, provisional)
}

/// An owner, acting, and an empty page of theirs at the top of the workspace.
async fn owner_and_page(workspace: &Workspace) -> (Actor, Id) {
    let owner = workspace
        .create_user(NewUser {
            email: "owner@example.com".into(),
            name: "Owner".into(),
            role: Role::Owner,
            password: None,
        })
        .await
        .unwrap();
    let actor = workspace.actor_for_user(owner.id).await.unwrap();
    let page = workspace
        .create_page(
            &actor,
            NewPage {
                parent: Some(ParentRef::Workspace),
                ..NewPage::default()
            },
        )
        .await
        .unwrap()
        .page
        .id;
    (actor, page)
}

async fn catch_up(workspace: &Workspace) {
    while workspace.index_changes().await.unwrap().events > 0 {}
}

/// A new long page (no passages: its chunks are longer than a passage may be) is embedded in
/// bulk rounds, so that every lane of the model has work; a page being typed in (its edits'
/// passages waiting) is not.
#[tokio::test]
async fn a_new_long_page_is_embedded_in_bulk_rounds() {
    static LARGEST_BATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let (embedder, _gate) = GatedEmbedder::new(HashingEmbedder::new(64).unwrap(), |texts| {
        LARGEST_BATCH.fetch_max(texts.len(), Ordering::SeqCst);
        false
    });
    let store = Store::open("sqlite::memory:").await.unwrap();
    let workspace = Workspace::new(store)
        .await
        .unwrap()
        .enable_content_search(None, Arc::new(embedder), &|_, _| {})
        .await
        .unwrap();
    let (actor, page) = owner_and_page(&workspace).await;
    let long_text: String = (0..1_200).map(|i| format!("w{i} ")).collect();
    workspace
        .insert_page_markdown(&actor, page, &long_text)
        .await
        .unwrap();
    catch_up(&workspace).await;
    let status = workspace.content_status().await.unwrap();
    assert_eq!(status.objects_awaiting_vectors, 0);
    assert!(status.stats.chunks >= 8, "{status:?}");
    assert!(
        LARGEST_BATCH.load(Ordering::SeqCst) > VECTOR_ROUND_CHUNKS,
        "a round of {} chunks",
        LARGEST_BATCH.load(Ordering::SeqCst)
    );
}

/// An edit is found by keyword while its vector is held back, survives restarts (from the
/// files, and rebuilt from the store) in that state, and is found by meaning once the model
/// runs; edits made meanwhile are coalesced, so a superseded text is never embedded.
#[tokio::test]
async fn an_edit_is_found_by_keyword_before_its_vector_and_by_meaning_after() {
    let fixture = Fixture::new().await;
    let workspace = fixture.open(Some(&fixture.dir)).await;
    let (actor, page) = owner_and_page(&workspace).await;
    workspace
        .insert_page_markdown(&actor, page, "The lighthouse keeper polishes the lens.")
        .await
        .unwrap();
    catch_up(&workspace).await;
    assert_eq!(
        page_vectors_found(&workspace, page, "lighthouse"),
        (1, Vec::new())
    );

    // The model is held back; three edits follow one another.
    fixture.gate.send_replace(false);
    for word in ["zanzibarite", "quetzalcoatlus", "xylographer"] {
        workspace
            .insert_page_markdown(&actor, page, &format!("Logged a {word} today."))
            .await
            .unwrap();
        let pass = workspace.index_changes().await.unwrap();
        assert!(pass.events > 0, "{pass:?}");
        let hits = find(&workspace, &actor, word, SearchMode::Keyword).await;
        assert_eq!(hits.len(), 1, "{word} by keyword at once");
        assert_eq!(hits[0].object_id, page);
    }
    // The vector of the old text is not served as the new text's: only as a provisional
    // vector of the old text, which is still all part of the chunk.
    assert_eq!(
        page_vectors_found(&workspace, page, "xylographer"),
        (
            0,
            vec!["The lighthouse keeper polishes the lens.".to_string()]
        ),
    );
    let status = workspace.content_status().await.unwrap();
    assert_eq!(status.objects_awaiting_vectors, 1);
    assert!(status.pending_events > 0, "the cursor waits for vectors");

    // A stop in the middle of the round, then a start whose index is rebuilt from the store.
    workspace.stop_content_indexing().await.unwrap();
    drop(workspace);
    let rebuilt = fixture.open(None).await;
    assert_eq!(
        find(&rebuilt, &actor, "xylographer", SearchMode::Keyword)
            .await
            .len(),
        1
    );
    // Provisional vectors live in memory only: a rebuilt index has none.
    assert_eq!(
        page_vectors_found(&rebuilt, page, "xylographer"),
        (0, Vec::new())
    );
    assert_eq!(
        rebuilt
            .content_status()
            .await
            .unwrap()
            .objects_awaiting_vectors,
        1
    );
    drop(rebuilt);

    // A start from the files the first run left.
    let workspace = fixture.open(Some(&fixture.dir)).await;
    let status = workspace.content_status().await.unwrap();
    assert_eq!(status.opened, "clean");
    assert_eq!(status.objects_awaiting_vectors, 1);
    assert_eq!(
        find(&workspace, &actor, "xylographer", SearchMode::Keyword)
            .await
            .len(),
        1
    );

    fixture.gate.send_replace(true);
    catch_up(&workspace).await;
    for word in ["zanzibarite", "quetzalcoatlus", "xylographer", "lighthouse"] {
        let hits = find(&workspace, &actor, word, SearchMode::Semantic).await;
        assert_eq!(hits.len(), 1, "{word} by meaning after the model ran");
        assert_eq!(hits[0].object_id, page);
    }
    let status = workspace.content_status().await.unwrap();
    assert_eq!(status.pending_events, 0);
    assert_eq!(status.objects_awaiting_vectors, 0);
    // The page's text was embedded twice: before the edits, and once more for all three.
    let embedded: Vec<String> = fixture
        .embedder
        .embedded()
        .into_iter()
        .filter(|text| text.contains("lighthouse keeper"))
        .collect();
    assert_eq!(embedded.len(), 2, "{embedded:?}");
    assert!(!embedded[0].contains("zanzibarite"));
    for word in ["zanzibarite", "quetzalcoatlus", "xylographer"] {
        assert!(embedded[1].contains(word), "{embedded:?}");
    }
    // The stored vectors are those of the stored text.
    let mut tx = fixture.store.read().await.unwrap();
    let chunks = tx.chunks_of(page).await.unwrap();
    tx.commit().await.unwrap();
    assert!(!chunks.is_empty());
    for chunk in &chunks {
        let expected = HashingEmbedder::new(64)
            .unwrap()
            .embed_now(&[indexed_text(chunk)])
            .unwrap();
        assert_eq!(chunk.vector, expected[0]);
    }
    drop(workspace);
    std::fs::remove_dir_all(&fixture.dir).unwrap();
}

/// Content search shows a page as it reads, not its Markdown source: neither a highlight nor
/// its heading path holds any syntax.
#[tokio::test]
async fn highlights_are_plain_text() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let workspace = Workspace::new(store)
        .await
        .unwrap()
        .enable_content_search(
            None,
            Arc::new(HashingEmbedder::new(64).unwrap()),
            &|_, _| {},
        )
        .await
        .unwrap();
    let (actor, page) = owner_and_page(&workspace).await;
    let markdown = "# Harbour **plans**\n\n\
        The **lighthouse** keeper reads [the tide table](https://example.com/tides) and \
        `logs` it.\n\n\
        - a _buoy_ list item\n- [ ] a task\n\n> a quote\n\n```\ncode line\n```\n";
    workspace
        .insert_page_markdown(&actor, page, markdown)
        .await
        .unwrap();
    catch_up(&workspace).await;
    for mode in [SearchMode::Keyword, SearchMode::Hybrid] {
        let query = ContentQuery {
            query: "lighthouse tide".into(),
            mode,
            ..ContentQuery::default()
        };
        let hits = workspace
            .search_content(&actor, query)
            .await
            .unwrap()
            .results;
        assert_eq!(hits.len(), 1, "{mode:?}");
        let highlight = &hits[0].highlight;
        assert!(
            highlight
                .text
                .contains("The lighthouse keeper reads the tide table and logs it."),
            "{highlight:?}"
        );
        for syntax in ["**", "[", "](", "`", "#", "- ", ">", "_", "https://"] {
            assert!(
                !highlight.text.contains(syntax),
                "{syntax:?} in {mode:?}: {highlight:?}"
            );
        }
        for &(start, end) in &highlight.ranges {
            let term = highlight.text[start..end].to_lowercase();
            assert!(term == "lighthouse" || term == "tide", "{term:?}");
        }
        assert_eq!(
            highlight.heading_path.last().map(String::as_str),
            Some("Harbour plans")
        );
    }
}
