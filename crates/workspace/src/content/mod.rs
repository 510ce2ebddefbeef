//! Full-content search: the indexer (a change-log consumer that chunks, embeds and indexes
//! pages and data sources), and keyword, semantic and hybrid queries trimmed to what the caller
//! may read.
//!
//! The indexer works in two stages, so that an edit is found by keyword at once even when the
//! model embeds more slowly than people edit. The *keyword stage* reads the change log, chunks
//! each touched object and writes its chunks to BM25 and to the store's `search_chunks`; a chunk
//! whose text changed is written without a vector (and its old vector leaves the vector index),
//! and its object joins the *dirty set*. The *vector stage* runs beside it, one round at a time:
//! it embeds the chunks the dirty objects are missing — only their latest text, however often
//! they were edited since — and adds the vectors to the index files and the store. Until then an
//! edit is found by meaning through the provisional vector of its changed passage, which *passage
//! rounds* embed ahead of everything else; vector rounds wait for them (a little while at most).
//! The stages record each edit's lag in `freshness`. The store's
//! cursor means "everything before it is fully indexed, vectors included": it never passes the
//! first event that made a still-dirty object dirty, so a crash replays those events, which
//! rewrite the same BM25 entries and re-embed what has no vector yet.
//!
//! Access is decided twice, both times by `access`: first over the search crate's mirror of the
//! tree (to restrict the index to the caller's readable chunks before ranking, so a guest who can
//! read 1% of the workspace still gets a full page of results), then against the store for every
//! object about to be returned (so a page that stopped being readable a moment ago is never
//! returned, even before the indexer has seen the change).

mod indexer;
mod queries;
#[cfg(test)]
mod tests;
mod vectors;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use access::{Actor, Capabilities, IntegrationActor, UserInformation};
use document::Id;
use embedding::Embedder;
use search::{AccessMirror, ContentIndex, MirrorNode, RebuildReason};
use storage_sql::{Chain, ChangeCursor, SkeletonNode};

use crate::freshness::{Freshness, FreshnessSummary};
use crate::search::{SearchFilter, SearchResult};
use crate::{Error, Result, Workspace};

/// The change-log consumer name of the search indexer.
pub const INDEXER_CONSUMER: &str = "search.indexer";
/// Change-log events read per indexer pass.
pub const INDEXER_EVENTS_PER_PASS: i64 = 500;
/// Objects re-indexed per store transaction during a full reindex.
pub const REINDEX_OBJECTS_PER_BATCH: i64 = 64;
/// Objects read per batch when rebuilding index files from the store.
pub const REBUILD_OBJECTS_PER_BATCH: i64 = 256;
/// Chunk candidates a content query ranks, at most (per list, before fusion).
pub const CANDIDATE_CHUNKS_MAX: usize = 1_000;
/// Chunk candidates a content query ranks per result it may return: several chunks of one
/// object, and objects the caller may no longer read, fall out before results are filled.
pub const CANDIDATES_PER_RESULT: usize = 5;
/// Chunk candidates a content query ranks, at least, however small the page it asks for.
pub const CANDIDATE_CHUNKS_MIN: usize = 50;
/// Chunk candidates the chunk search ranks per chunk it may return (only unreadable objects'
/// chunks fall out there).
pub const CANDIDATES_PER_CHUNK_HIT: usize = 3;
/// Chunk candidates the chunk search ranks, at least.
pub const CHUNK_CANDIDATES_MIN: usize = 30;
/// Object ids read per store query while a reindex counts objects or a repair looks for stale
/// chunks (ids only, so batches are large).
pub const OBJECT_IDS_PER_BATCH: i64 = 10_000;
/// Comments read per store query while the indexer reads a page.
pub const COMMENTS_PER_BATCH: i64 = 100;
/// Results a content query returns over all its pages, at most.
pub const CONTENT_RESULTS_MAX: usize = 200;
/// Chunks the platform chunk search returns at most.
pub const CHUNK_RESULTS_MAX: usize = 100;
/// How often an indexer pass that waits for vectors looks for new change-log events, so that
/// edits reach the keyword index while the model works.
pub const VECTOR_WAIT_POLL_MS: u64 = 20;
/// Chunks one vector round of the indexer embeds, at most (dirty objects are taken oldest first
/// until this many chunks are gathered). Rounds are small because a chunk edited again while its
/// round embeds it loses that work (its new text waits for the next round): with pages edited
/// about once a second and ~200-token chunks, a round of 8 was re-edited under its feet often
/// enough to starve hot pages (bench/search); a round of 2 takes a tenth of a second or so.
pub const VECTOR_ROUND_CHUNKS: usize = 2;
/// Changed passages queued for provisional vectors, at most; beyond this (a bulk load) the
/// oldest are dropped and their chunks wait for their full vectors.
pub const PASSAGES_QUEUED_MAX: usize = 512;
/// Changed passages one passage round embeds, at most: about one forward pass, so that a new
/// edit's passage waits for little more than one pass before its own round starts.
pub const PASSAGES_PER_ROUND_MAX: usize = 16;
/// Passage rounds in flight at once, at most (the local model runs a pass per core at once).
pub const PASSAGE_ROUNDS_MAX: usize = 2;
/// A vector round waits while passages are queued or being embedded (they are what makes an
/// edit findable by meaning, a full vector of a chunk still being edited is soon stale, and a
/// new short chunk's passage vector is its full vector too), but no longer than this, so full
/// vectors keep landing under a steady stream of edits. The default of
/// [`Workspace::set_vector_round_deferral_ms`].
pub const VECTOR_ROUND_DEFERRED_MAX_MS: u64 = 2_000;
/// Passage vectors kept for the vector rounds to reuse as full vectors, at most (beyond this
/// they are dropped and the chunks embedded again).
pub const PASSAGE_VECTORS_REUSED_MAX: usize = 256;
/// Chunks per round when more than [`VECTOR_ROUND_BULK_OBJECTS`] objects wait (a bulk load or a
/// backlog), or, while no edit's passage waits, an object waits for more than
/// [`VECTOR_ROUND_CHUNKS`] chunks (a new or rewritten page): a round of 2 chunks is one forward
/// pass, which keeps one lane of the model busy.
pub const VECTOR_ROUND_BULK_CHUNKS: usize = 16;
/// See [`VECTOR_ROUND_BULK_CHUNKS`].
pub const VECTOR_ROUND_BULK_OBJECTS: usize = 32;

/// How `/v1/search` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Notion's title search (the default).
    #[default]
    Title,
    /// BM25 over full content.
    Keyword,
    /// Nearest chunks by embedding.
    Semantic,
    /// Reciprocal-rank fusion of keyword and semantic.
    Hybrid,
}

impl SearchMode {
    pub fn parse(text: &str) -> Option<SearchMode> {
        Some(match text {
            "title" => SearchMode::Title,
            "keyword" => SearchMode::Keyword,
            "semantic" => SearchMode::Semantic,
            "hybrid" => SearchMode::Hybrid,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SearchMode::Title => "title",
            SearchMode::Keyword => "keyword",
            SearchMode::Semantic => "semantic",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

/// A full-content query.
#[derive(Debug, Clone, Default)]
pub struct ContentQuery {
    pub query: String,
    pub mode: SearchMode,
    pub filter: Option<SearchFilter>,
    pub start_cursor: Option<String>,
    pub page_size: Option<usize>,
}

/// A passage of the best-matching chunk of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct HighlightView {
    pub heading_path: Vec<String>,
    pub text: String,
    /// Byte ranges of matched query terms in `text` (none for a purely semantic match).
    pub ranges: Vec<(usize, usize)>,
}

/// One ranked result of a content query.
#[derive(Debug, Clone)]
pub struct ContentHit {
    pub result: SearchResult,
    pub score: f32,
    pub highlight: HighlightView,
}

/// One chunk for agents and integrations.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHit {
    pub chunk_id: i64,
    pub object_id: Id,
    pub object_kind: &'static str,
    /// The page the chunk belongs to (for a data source: none).
    pub page_id: Option<Id>,
    pub heading_path: Vec<String>,
    pub text: String,
    pub highlight: HighlightView,
    /// The ranking score (cosine similarity, BM25, or fused RRF, by mode).
    pub score: f32,
    /// For a semantic hit on a chunk edited moments ago whose new text the model has not
    /// embedded whole yet: the passage of its text whose provisional vector matched best.
    pub provisional_passage: Option<String>,
    /// For such a hit: that passage and each other of the chunk's passages whose provisional
    /// vector ranked among the query's nearest vectors, best first (empty for a hit by the
    /// chunk's full vector, and in keyword mode).
    pub provisional_passages: Vec<PassageView>,
}

/// A passage of a chunk whose provisional vector matched a query.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageView {
    pub text: String,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// What one indexer pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexPass {
    /// Change-log events read (zero: the log was caught up and every vector was in).
    pub events: usize,
    /// Objects re-chunked by the keyword stage.
    pub objects: usize,
    /// Chunks embedded by the vector rounds that ended during the pass.
    pub chunks_embedded: usize,
}

/// Index sizes, for the CLI and admins.
pub use search::IndexStats;

/// The search side of a workspace: its content index, embedder and access mirror.
pub struct ContentSearch {
    index: ContentIndex,
    embedder: Arc<dyn Embedder>,
    mirror: Mutex<AccessMirror>,
    /// One writer of chunks at a time: a keyword-stage pass (the serve loop, a CLI catch-up, a
    /// test), the commit of a vector round, a rebuild.
    indexing: tokio::sync::Mutex<()>,
    /// Where the two stages are; changed only while `indexing` is held.
    progress: Mutex<Progress>,
    /// How the index files were found at start: `clean`, or why they were rebuilt.
    opened: String,
    counters: VectorCounters,
    /// How long vector rounds may wait for passages, in ms.
    vector_round_deferral_ms: std::sync::atomic::AtomicU64,
    /// Edit → searchable latencies, measured by the stages themselves. Locked after
    /// `progress` when both are held.
    freshness: Mutex<Freshness>,
}

/// How far each indexing stage has come.
struct Progress {
    /// The keyword stage has applied every event up to here.
    keyword_cursor: ChangeCursor,
    /// The cursor saved in the store: everything before it is fully indexed.
    saved_cursor: ChangeCursor,
    /// Objects with chunks that wait for vectors, each with the cursor before the first event
    /// that made it dirty (the store's cursor may not pass it).
    dirty: HashMap<Id, ChangeCursor>,
    /// The vector round in flight, returning how many chunks it embedded.
    round: Option<tokio::task::JoinHandle<Result<usize>>>,
    /// Since when vector rounds have been held back for passages (see
    /// [`VECTOR_ROUND_DEFERRED_MAX_MS`]); `None` while none is.
    deferred_since: Option<std::time::Instant>,
    /// Changed passages of chunks waiting for full vectors, for the next passage round (their
    /// provisional vectors make an edit findable by meaning long before its full vector).
    passages: Vec<PendingPassage>,
    /// The passage rounds in flight (at most [`PASSAGE_ROUNDS_MAX`]): they run beside the
    /// vector round, and the model takes their passes ahead of the vector round's
    /// (`Embedder::embed_urgent`).
    passage_rounds: Vec<tokio::task::JoinHandle<Result<()>>>,
    /// Vectors passage rounds embedded, by embedded text: a passage that is a whole (short)
    /// chunk is that chunk's full vector too, so the next vector round takes it from here
    /// instead of embedding the text again. At most [`PASSAGE_VECTORS_REUSED_MAX`].
    embedded_passages: HashMap<String, Vec<f32>>,
    /// The next sequence number of a provisional vector (see `search::provisional`).
    next_seq: u64,
}

/// A changed passage waiting for its provisional vector.
struct PendingPassage {
    object_id: Id,
    chunk_id: u64,
    seq: u64,
    /// The freshness entry of the edits the passage holds.
    ticket: Option<u64>,
    /// Words of the chunk's text.
    passage: Arc<str>,
    /// What is embedded: the heading path, then the passage.
    text: String,
}

/// Counters of the vector stage since the server started.
#[derive(Debug, Default)]
struct VectorCounters {
    /// Provisional vectors of changed passages added.
    passages: std::sync::atomic::AtomicU64,
    /// Full-chunk vectors whose chunk changed while the model embedded it, kept as provisional
    /// vectors (their text was still a passage of the chunk's).
    kept_provisional: std::sync::atomic::AtomicU64,
    /// Full-chunk vectors thrown away: the chunk changed under them and their text is no
    /// longer part of it.
    discarded: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn new(cursor: ChangeCursor) -> Progress {
        Progress {
            keyword_cursor: cursor,
            saved_cursor: cursor,
            dirty: HashMap::new(),
            round: None,
            deferred_since: None,
            passages: Vec::new(),
            passage_rounds: Vec::new(),
            embedded_passages: HashMap::new(),
            next_seq: 0,
        }
    }

    /// The cursor the store may hold once `dirty` is the dirty set: before the oldest dirty
    /// object's first event, or the keyword stage's cursor when nothing waits for vectors.
    fn durable_cursor(
        dirty: &HashMap<Id, ChangeCursor>,
        keyword_cursor: ChangeCursor,
    ) -> ChangeCursor {
        dirty.values().min().copied().unwrap_or(keyword_cursor)
    }
}

/// The state of content search, for admins, operators and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentStatus {
    pub model_id: String,
    pub dimensions: usize,
    pub stats: IndexStats,
    /// Change-log events not fully indexed yet, vectors included (counted up to
    /// [`PENDING_EVENTS_COUNTED_MAX`]).
    pub pending_events: usize,
    /// Pages and data sources found by keyword whose new chunks wait for vectors.
    pub objects_awaiting_vectors: usize,
    /// `clean`, or why the index files were rebuilt when the server started.
    pub opened: String,
    /// Since the server started: provisional vectors of changed passages added.
    pub provisional_passages_added: u64,
    /// Since the server started: full-chunk vectors of a version the chunk had moments before,
    /// kept as provisional vectors because it changed while the model embedded it.
    pub superseded_vectors_kept: u64,
    /// Since the server started: full-chunk vectors thrown away because the chunk changed while
    /// the model embedded it and the embedded text is no longer part of it.
    pub superseded_vectors_discarded: u64,
    /// Edit → searchable latencies over the newest edits, measured by the indexer.
    pub freshness: FreshnessSummary,
}

/// Pending events are counted up to this many.
pub const PENDING_EVENTS_COUNTED_MAX: i64 = 10_000;

fn search_error(error: search::Error) -> Error {
    if error.is_caller_fault() {
        return Error::validation("query", error.to_string());
    }
    tracing::error!(error = %error, "search index error");
    Error::Internal(error.code().to_string())
}

fn embedding_error(error: embedding::Error) -> Error {
    if error.is_invalid_input() {
        return Error::validation("query", error.to_string());
    }
    tracing::error!(error = %error, "embedding error");
    Error::Unavailable(format!("The embedding model failed: {}", error.code()))
}

/// The mirror's view of a chain read from the store: each node's parent is the next one.
fn chain_nodes(chain: Chain) -> Vec<MirrorNode> {
    let parents: Vec<Option<Id>> = chain
        .nodes
        .iter()
        .skip(1)
        .map(|node| Some(node.id))
        .chain(std::iter::once(None))
        .collect();
    chain
        .nodes
        .into_iter()
        .zip(parents)
        .zip(chain.in_trash)
        .map(|((node, parent_id), in_trash)| MirrorNode {
            id: node.id,
            parent_id,
            inherits: node.inherits,
            in_trash,
            grants: node.grants,
        })
        .collect()
}

fn mirror_node(node: SkeletonNode) -> MirrorNode {
    MirrorNode {
        id: node.id,
        parent_id: node.parent_id,
        inherits: node.inherits,
        in_trash: node.in_trash,
        grants: node.grants,
    }
}

/// The indexer reads as an actor that can read nothing but the object it indexes (which it
/// loads without an access check): mentions of other pages then render as "Untitled", so no
/// chunk carries another page's title into someone else's results.
fn reader_actor() -> Actor {
    Actor::Bot(IntegrationActor {
        id: Id::from_u128(0),
        bot_user_id: Id::from_u128(0),
        capabilities: Capabilities {
            read_content: false,
            update_content: false,
            insert_content: false,
            read_comments: false,
            insert_comments: false,
            user_information: UserInformation::None,
        },
    })
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| Error::Internal("search mirror lock poisoned".into()))
}

impl Workspace {
    /// Turns on content search, with index files under `dir` (in memory when `None`). Loads the
    /// access mirror, and rebuilds the index files from the store when they are new, damaged or
    /// made by another model (reporting progress to `progress` as `(done, total)` chunks).
    pub async fn enable_content_search(
        mut self,
        dir: Option<&std::path::Path>,
        embedder: Arc<dyn Embedder>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Workspace> {
        let (index, reason) = ContentIndex::open(dir, embedder.model_id(), embedder.dimensions())
            .map_err(|error| match error {
            search::Error::Locked { .. } => Error::Conflict(error.to_string()),
            other => search_error(other),
        })?;
        let mut tx = self.store.read().await?;
        let skeleton = tx.access_skeleton().await?;
        let cursor = tx.load_cursor(INDEXER_CONSUMER).await?;
        tx.commit().await?;
        let content = Arc::new(ContentSearch {
            index,
            embedder,
            mirror: Mutex::new(AccessMirror::new(skeleton.into_iter().map(mirror_node))),
            indexing: tokio::sync::Mutex::new(()),
            progress: Mutex::new(Progress::new(cursor)),
            opened: match &reason {
                None => "clean".to_string(),
                Some(reason) => format!("rebuilt: {reason}"),
            },
            counters: VectorCounters::default(),
            vector_round_deferral_ms: std::sync::atomic::AtomicU64::new(
                VECTOR_ROUND_DEFERRED_MAX_MS,
            ),
            freshness: Mutex::new(Freshness::new()),
        });
        self.content = Some(content);
        match reason {
            None => self.load_owners_and_repair().await?,
            Some(reason) if reason.vectors_reusable() => {
                if reason != RebuildReason::New {
                    tracing::warn!(%reason, "rebuilding the search index from the store");
                }
                self.rebuild_index_files(progress).await?;
            }
            Some(reason) => {
                tracing::warn!(%reason, "re-embedding every object");
                self.reindex(progress).await?;
            }
        }
        Ok(self)
    }

    fn content(&self) -> Result<&Arc<ContentSearch>> {
        self.content.as_ref().ok_or_else(|| {
            Error::Unavailable(
                "Content search is not enabled on this server (start it with an embedding model)."
                    .into(),
            )
        })
    }

    /// Whether content search is on.
    pub fn content_search_enabled(&self) -> bool {
        self.content.is_some()
    }

    /// Content search's state: sizes, how far behind the change log it is, how it started.
    pub async fn content_status(&self) -> Result<ContentStatus> {
        let content = self.content()?;
        let mut tx = self.store.read().await?;
        let cursor = tx.load_cursor(INDEXER_CONSUMER).await?;
        let pending = tx
            .read_changes(cursor, PENDING_EVENTS_COUNTED_MAX)
            .await?
            .len();
        tx.commit().await?;
        Ok(ContentStatus {
            model_id: content.index.model_id().to_string(),
            dimensions: content.index.dimensions(),
            stats: content.index.stats().map_err(search_error)?,
            pending_events: pending,
            objects_awaiting_vectors: lock(&content.progress)?.dirty.len(),
            opened: content.opened.clone(),
            provisional_passages_added: content.counters.passages.load(Ordering::Relaxed),
            superseded_vectors_kept: content.counters.kept_provisional.load(Ordering::Relaxed),
            superseded_vectors_discarded: content.counters.discarded.load(Ordering::Relaxed),
            freshness: lock(&content.freshness)?.summary(),
        })
    }

    /// How long vector rounds may wait while passages are being embedded (default
    /// [`VECTOR_ROUND_DEFERRED_MAX_MS`]); 0 starts them beside the passage rounds.
    pub fn set_vector_round_deferral_ms(&self, ms: u64) -> Result<()> {
        self.content()?
            .vector_round_deferral_ms
            .store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// Sizes of the content index.
    pub fn content_index_stats(&self) -> Result<IndexStats> {
        self.content()?.index.stats().map_err(search_error)
    }
}
