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

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use access::{Actor, Capabilities, IntegrationActor, Operation, UserInformation};
use document::Id;
use embedding::Embedder;
use search::{
    AccessMirror, ChunkScore, ContentIndex, Highlight, IndexedChunk, MirrorNode, ObjectText,
    ObjectUpdate, RebuildReason,
};
use storage_sql::{Chain, ChangeCursor, Node, SkeletonNode, StoredChunk};

use crate::freshness::{Freshness, FreshnessSummary};
use crate::request::{Page, invalid_cursor, page_size};
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

    /// After a clean open: learn chunk owners from the store, restore any vectors the files lack
    /// (files restored from an older copy, or a crash between a vector round's file write and its
    /// store commit), and put objects whose chunks have no vector in the store yet back in the
    /// dirty set.
    async fn load_owners_and_repair(&self) -> Result<()> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        let mut tx = self.store.read().await?;
        let owners = tx.chunk_owners().await?;
        content
            .index
            .set_owners(
                owners
                    .into_iter()
                    .map(|(chunk, object)| (chunk as u64, object)),
            )
            .map_err(search_error)?;
        let missing: Vec<i64> = content
            .index
            .missing_vectors()
            .map_err(search_error)?
            .into_iter()
            .map(|id| id as i64)
            .collect();
        if !missing.is_empty() {
            let chunks = tx.chunk_vectors(&missing).await?;
            let (waiting, stored): (Vec<StoredChunk>, Vec<StoredChunk>) =
                chunks.into_iter().partition(|c| c.vector.is_empty());
            if !stored.is_empty() {
                tracing::warn!(
                    count = stored.len(),
                    "restoring vectors the index files lack"
                );
                content
                    .index
                    .insert_vectors(
                        &stored
                            .into_iter()
                            .map(|c| (c.chunk_id as u64, c.vector))
                            .collect::<Vec<_>>(),
                    )
                    .map_err(search_error)?;
            }
            let mut progress = lock(&content.progress)?;
            let since = progress.saved_cursor;
            for chunk in waiting {
                progress.dirty.entry(chunk.object_id).or_insert(since);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rebuilds the index files from the chunks and vectors in the store (no re-embedding;
    /// chunks the store has no vector for go back in the dirty set).
    async fn rebuild_index_files(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<()> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        content.index.clear().map_err(search_error)?;
        let mut tx = self.store.read().await?;
        let total = tx.chunk_owners().await?.len() as u64;
        let mut done = 0u64;
        let mut after = None;
        let mut waiting = Vec::new();
        loop {
            let objects = tx.chunked_objects(after, REBUILD_OBJECTS_PER_BATCH).await?;
            let Some(last) = objects.last() else {
                break;
            };
            after = Some(*last);
            let mut updates = Vec::with_capacity(objects.len());
            for object_id in objects {
                let chunks = tx.chunks_of(object_id).await?;
                done += chunks.len() as u64;
                if chunks.iter().any(|c| c.vector.is_empty()) {
                    waiting.push(object_id);
                }
                updates.push(ObjectUpdate {
                    object_id,
                    chunks: chunks
                        .into_iter()
                        .map(|c| IndexedChunk {
                            chunk_id: c.chunk_id as u64,
                            text: indexed_text(&c),
                            vector: (!c.vector.is_empty()).then_some(c.vector),
                        })
                        .collect(),
                });
            }
            content.index.apply(&updates).map_err(search_error)?;
            progress(done, total);
        }
        tx.commit().await?;
        content.index.snapshot().map_err(search_error)?;
        let mut state = lock(&content.progress)?;
        let since = state.saved_cursor;
        for object_id in waiting {
            state.dirty.entry(object_id).or_insert(since);
        }
        Ok(())
    }

    /// Re-chunks and re-embeds every page and data source (vectors whose text and model are
    /// unchanged are reused), then indexes what changed since. `trellis reindex` runs this.
    pub async fn reindex(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<IndexPass> {
        let content = self.content()?;
        self.stop_content_indexing().await?;
        let mut tx = self.store.read().await?;
        let start_cursor = tx.load_cursor(INDEXER_CONSUMER).await?;
        let mut total = 0u64;
        let mut after = None;
        loop {
            let batch = tx.indexable_objects(after, 10_000).await?;
            let Some(last) = batch.last() else { break };
            after = Some(*last);
            total += batch.len() as u64;
        }
        tx.commit().await?;
        {
            let _guard = content.indexing.lock().await;
            content.index.clear().map_err(search_error)?;
            // Events after the start cursor replay once every object is in.
            *lock(&content.progress)? = Progress::new(start_cursor);
        }
        let mut pass = IndexPass::default();
        let mut after = None;
        let mut done = 0u64;
        progress(0, total);
        loop {
            let mut tx = self.store.read().await?;
            let batch = tx
                .indexable_objects(after, REINDEX_OBJECTS_PER_BATCH)
                .await?;
            tx.commit().await?;
            let Some(last) = batch.last() else { break };
            after = Some(*last);
            {
                let _guard = content.indexing.lock().await;
                self.index_text(&batch, start_cursor, None, None).await?;
            }
            while !lock(&content.progress)?.dirty.is_empty() {
                pass.chunks_embedded += self
                    .vector_round(embedding::TEXTS_PER_BATCH_MAX, true)
                    .await?;
            }
            pass.objects += batch.len();
            done += batch.len() as u64;
            progress(done, total);
        }
        // Objects that no longer exist lose their chunks.
        {
            let _guard = content.indexing.lock().await;
            let mut tx = self.store.write().await?;
            let mut stale = Vec::new();
            let mut after = None;
            loop {
                let batch = tx.chunked_objects(after, 10_000).await?;
                let Some(last) = batch.last() else { break };
                after = Some(*last);
                for id in batch {
                    if tx.get_node(id).await?.is_none() {
                        stale.push(id);
                    }
                }
            }
            for id in &stale {
                tx.replace_chunks(*id, &[]).await?;
            }
            // Everything up to the cursor read at the start is now in; later events replay.
            tx.save_cursor(INDEXER_CONSUMER, start_cursor, crate::clock::now_ms())
                .await?;
            tx.commit().await?;
        }
        content.index.snapshot().map_err(search_error)?;
        let caught_up = self.index_changes().await?;
        pass.events += caught_up.events;
        pass.objects += caught_up.objects;
        pass.chunks_embedded += caught_up.chunks_embedded;
        Ok(pass)
    }

    /// One indexer pass: the keyword stage over the change-log events after its cursor, which
    /// also starts a vector round when objects wait for vectors. When there were no new events
    /// it waits, looking for new events every [`VECTOR_WAIT_POLL_MS`], until every vector is in:
    /// so a caller that repeats passes until one reads no events ends with everything searchable
    /// by keyword and by meaning, and the serve loop still takes in new edits while the model
    /// works. Returns what it did.
    pub async fn index_changes(&self) -> Result<IndexPass> {
        let mut pass = self.keyword_stage().await?;
        loop {
            self.reap_passage_round().await?;
            let passages_running = self.start_passage_round()?;
            pass.chunks_embedded += self.reap_vector_round().await?;
            let running = self.start_vector_round()?;
            if pass.events > 0 || !(running || passages_running) {
                return Ok(pass);
            }
            tokio::time::sleep(std::time::Duration::from_millis(VECTOR_WAIT_POLL_MS)).await;
            let more = self.keyword_stage().await?;
            pass.events += more.events;
            pass.objects += more.objects;
        }
    }

    /// Stops the vector round in flight, if any, and waits until it is gone: what it embedded
    /// and did not commit is embedded again later. For shutdown and tests; the next indexer pass
    /// starts a new round.
    pub async fn stop_content_indexing(&self) -> Result<()> {
        let content = self.content()?;
        let rounds = {
            let mut progress = lock(&content.progress)?;
            let passages: Vec<_> = progress.passage_rounds.drain(..).collect();
            (progress.round.take(), passages)
        };
        for round in &rounds.1 {
            round.abort();
        }
        if let Some(round) = rounds.0 {
            round.abort();
            // Cancelled, or finished before the abort: either way nothing is left running.
            let _ = round.await;
        }
        for round in rounds.1 {
            let _ = round.await;
        }
        Ok(())
    }

    /// Starts passage rounds for the queued passages of objects still waiting for vectors, up
    /// to [`PASSAGE_ROUNDS_MAX`] in flight; returns whether any is in flight now.
    fn start_passage_round(&self) -> Result<bool> {
        let content = self.content()?;
        let mut progress = lock(&content.progress)?;
        while progress.passage_rounds.len() < PASSAGE_ROUNDS_MAX && !progress.passages.is_empty() {
            let take = progress.passages.len().min(PASSAGES_PER_ROUND_MAX);
            let taken: Vec<PendingPassage> = progress.passages.drain(..take).collect();
            let queued: Vec<PendingPassage> = taken
                .into_iter()
                .filter(|p| progress.dirty.contains_key(&p.object_id))
                .collect();
            if queued.is_empty() {
                continue;
            }
            let workspace = self.clone();
            progress.passage_rounds.push(tokio::spawn(async move {
                workspace.passage_round(queued).await
            }));
        }
        Ok(!progress.passage_rounds.is_empty())
    }

    /// Collects the passage rounds that have ended; the first error, if any.
    async fn reap_passage_round(&self) -> Result<()> {
        let content = self.content()?;
        let ended: Vec<_> = {
            let mut progress = lock(&content.progress)?;
            let (ended, running) = progress
                .passage_rounds
                .drain(..)
                .partition(|round| round.is_finished());
            progress.passage_rounds = running;
            ended
        };
        let mut outcome = Ok(());
        for round in ended {
            let result = round
                .await
                .map_err(|error| Error::Internal(format!("a passage round failed: {error}")))
                .and_then(|result| result);
            outcome = outcome.and(result);
        }
        outcome
    }

    /// Starts a vector round when objects wait for vectors, none is in flight, and no passages
    /// wait (or rounds have been held back for them for the deferral, see
    /// [`VECTOR_ROUND_DEFERRED_MAX_MS`]); returns whether one is in flight now.
    fn start_vector_round(&self) -> Result<bool> {
        let content = self.content()?;
        let mut progress = lock(&content.progress)?;
        if progress.dirty.is_empty() {
            progress.deferred_since = None;
        }
        if progress.round.is_some() || progress.dirty.is_empty() {
            return Ok(progress.round.is_some());
        }
        let passages_waiting = !progress.passages.is_empty() || !progress.passage_rounds.is_empty();
        let deferral = std::time::Duration::from_millis(
            content.vector_round_deferral_ms.load(Ordering::Relaxed),
        );
        let since = *progress
            .deferred_since
            .get_or_insert_with(std::time::Instant::now);
        if !passages_waiting || since.elapsed() >= deferral {
            progress.deferred_since = None;
            let chunks = if progress.dirty.len() > VECTOR_ROUND_BULK_OBJECTS {
                VECTOR_ROUND_BULK_CHUNKS
            } else {
                VECTOR_ROUND_CHUNKS
            };
            // While edits' passages are being embedded, people are typing: keep rounds small.
            let bulk_allowed = !passages_waiting;
            let workspace = self.clone();
            progress.round = Some(tokio::spawn(async move {
                workspace.vector_round(chunks, bulk_allowed).await
            }));
        }
        Ok(progress.round.is_some())
    }

    /// Collects the vector round if it has ended: how many chunks it embedded, or its error.
    async fn reap_vector_round(&self) -> Result<usize> {
        let content = self.content()?;
        let round = {
            let mut progress = lock(&content.progress)?;
            match &progress.round {
                Some(round) if round.is_finished() => progress.round.take(),
                _ => None,
            }
        };
        match round {
            None => Ok(0),
            Some(round) => round
                .await
                .map_err(|error| Error::Internal(format!("the vector round failed: {error}")))?,
        }
    }

    /// The keyword stage over the events after its cursor: refreshes the access mirror for
    /// structural changes and re-chunks every touched object (see [`Workspace::index_text`]).
    async fn keyword_stage(&self) -> Result<IndexPass> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        let cursor = lock(&content.progress)?.keyword_cursor;
        let mut tx = self.store.read().await?;
        let changes = tx.read_changes(cursor, INDEXER_EVENTS_PER_PASS).await?;
        let Some(last) = changes.last() else {
            tx.commit().await?;
            return Ok(IndexPass::default());
        };
        let new_cursor = last.cursor;
        let mut objects: Vec<Id> = Vec::new();
        // The commit times of the events that touched each object, for the freshness measure.
        let mut edit_times: HashMap<Id, Vec<i64>> = HashMap::new();
        let mut structural: Vec<Id> = Vec::new();
        for record in &changes {
            let change = &record.change;
            let target = match change.object_kind.as_str() {
                "page" | "data_source" => Some(change.object_id),
                // Block and comment events name their page as the parent.
                "block" | "comment" => change.parent_id,
                _ => None,
            };
            if let Some(target) = target {
                let times = edit_times.entry(target).or_default();
                if times.is_empty() {
                    objects.push(target);
                }
                times.push(record.time);
            }
            // Anything but a content edit may change who can read what (a new node, a move,
            // trash, sharing): refresh that node's chain in the mirror.
            let is_structural = matches!(
                change.object_kind.as_str(),
                "page" | "database" | "data_source"
            ) && !matches!(
                change.kind.as_str(),
                "page.properties_updated" | "page.content_updated" | "data_source.content_updated"
            );
            if is_structural {
                structural.push(change.object_id);
            }
        }
        let mut chains = Vec::new();
        for id in &structural {
            chains.push((*id, tx.chain(*id).await?));
        }
        tx.commit().await?;
        {
            let mut mirror = lock(&content.mirror)?;
            for (id, chain) in chains {
                // A chain past the depth limit does not reach the top of its tree: mirrored
                // as it is, its last node would pass for a top-level one.
                if chain.nodes.is_empty() || chain.too_deep() {
                    mirror.remove(id);
                } else {
                    mirror.upsert(chain_nodes(chain));
                }
            }
        }
        self.index_text(&objects, cursor, Some(new_cursor), Some(&edit_times))
            .await?;
        Ok(IndexPass {
            events: changes.len(),
            objects: objects.len(),
            chunks_embedded: 0,
        })
    }

    /// Chunks the given objects and indexes their text: a chunk whose text (and model) is
    /// unchanged keeps its stored vector, any other is written without one and its object joins
    /// the dirty set (`since`: the cursor before the events that touched it). Index files first
    /// (durable), then the chunks to the store, with the durable cursor when it moved
    /// (`keyword_cursor`: where the keyword stage now is, when these are change-log events).
    /// With `edits` (change-log events, not a bulk reindex: each object's events' commit times),
    /// a changed chunk keeps its old vector as a provisional one while its old text is still
    /// part of it, its changed passage is queued for a provisional vector of its own, and the
    /// edits enter the freshness measure. The caller holds `indexing`.
    async fn index_text(
        &self,
        ids: &[Id],
        since: ChangeCursor,
        keyword_cursor: Option<ChangeCursor>,
        edits: Option<&HashMap<Id, Vec<i64>>>,
    ) -> Result<()> {
        let provisional = edits.is_some();
        let content = self.content()?;
        let model_id = content.embedder.model_id().to_string();
        // Read the objects' text and their stored chunks.
        let reader = reader_actor();
        let mut r = self.begin(&reader, false).await?;
        let result = async {
            let mut planned = Vec::new();
            for id in ids {
                let text = r.object_text(*id).await?;
                let stored = r.tx.chunks_of(*id).await?;
                planned.push((*id, text, stored));
            }
            Ok(planned)
        }
        .await;
        let planned = r.finish(result).await?;

        // A stored vector is reused when its text hash and model match.
        let mut records: Vec<(Id, Vec<StoredChunk>)> = Vec::with_capacity(planned.len());
        // Old vectors to keep as provisional ones, and changed passages to embed.
        let mut kept: Vec<(u64, Arc<str>, Vec<f32>)> = Vec::new();
        let mut passages: Vec<(Id, u64, Arc<str>, String)> = Vec::new();
        // Per object, the chunks whose text this pass changed and that have no vector: what its
        // edits wait for to be found by meaning.
        let mut changed: HashMap<Id, Vec<u64>> = HashMap::new();
        for (object_id, text, stored) in planned {
            let previous: HashMap<i64, &StoredChunk> =
                stored.iter().map(|c| (c.chunk_id, c)).collect();
            let reusable: HashMap<&str, &Vec<f32>> = stored
                .iter()
                .filter(|c| c.model_id == model_id && !c.vector.is_empty())
                .map(|c| (c.text_hash.as_str(), &c.vector))
                .collect();
            let chunks = match &text {
                Some(text) => search::chunk_object(text),
                None => Vec::new(),
            };
            let rows = chunks
                .into_iter()
                .map(|chunk| {
                    let hash = chunk.text_hash();
                    let vector = reusable
                        .get(hash.as_str())
                        .map(|v| (*v).clone())
                        .unwrap_or_default();
                    StoredChunk {
                        chunk_id: chunk.id(object_id),
                        object_id,
                        key: chunk.key,
                        ordinal: chunk.ordinal as i64,
                        heading_path: chunk.heading_path,
                        text: chunk.text,
                        text_hash: hash,
                        model_id: model_id.clone(),
                        vector,
                    }
                })
                .collect::<Vec<StoredChunk>>();
            if provisional {
                for (i, row) in rows.iter().enumerate() {
                    if !row.vector.is_empty() {
                        continue;
                    }
                    let old = previous.get(&row.chunk_id).copied();
                    if let Some(old) = old
                        && !old.vector.is_empty()
                        && old.model_id == model_id
                        && old.heading_path == row.heading_path
                        && search::contains_passage(&indexed_text(row), &old.text)
                    {
                        kept.push((
                            row.chunk_id as u64,
                            Arc::from(old.text.as_str()),
                            old.vector.clone(),
                        ));
                    }
                    // A new window of a growing section starts with words carried over
                    // from the window before it: those are not what the edit added.
                    let carried = match (old, i.checked_sub(1).map(|p| &rows[p])) {
                        (None, Some(before)) if before.heading_path == row.heading_path => {
                            search::carried_over(&before.text, &row.text)
                        }
                        _ => None,
                    };
                    let old_text = old.map(|o| o.text.as_str()).or(carried.as_deref());
                    if let Some(passage) = search::changed_passage(old_text, &row.text) {
                        let text = passage_text(row, &passage);
                        passages.push((object_id, row.chunk_id as u64, Arc::from(passage), text));
                    }
                    if old.is_none_or(|old| old.text_hash != row.text_hash) {
                        changed
                            .entry(object_id)
                            .or_default()
                            .push(row.chunk_id as u64);
                    }
                }
            }
            records.push((object_id, rows));
        }

        let updates: Vec<ObjectUpdate> = records
            .iter()
            .map(|(object_id, rows)| ObjectUpdate {
                object_id: *object_id,
                chunks: rows
                    .iter()
                    .map(|c| IndexedChunk {
                        chunk_id: c.chunk_id as u64,
                        vector: (!c.vector.is_empty()).then(|| c.vector.clone()),
                        text: indexed_text(c),
                    })
                    .collect(),
            })
            .collect();
        content.index.apply(&updates).map_err(search_error)?;

        let (dirty, keyword_cursor, saved_cursor) = {
            let progress = lock(&content.progress)?;
            let mut dirty = progress.dirty.clone();
            for (object_id, rows) in &records {
                if rows.iter().any(|c| c.vector.is_empty()) {
                    dirty.entry(*object_id).or_insert(since);
                } else {
                    dirty.remove(object_id);
                }
            }
            let keyword_cursor = keyword_cursor.unwrap_or(progress.keyword_cursor);
            (dirty, keyword_cursor, progress.saved_cursor)
        };
        self.commit_chunks(content, &records, dirty, Some(keyword_cursor), saved_cursor)
            .await?;
        // The chunks are in the store: a vector round that reads them from here on sees these
        // texts, so sequence numbers (and freshness tickets) handed out now are covered by what
        // it embeds.
        let mut progress = lock(&content.progress)?;
        let mut tickets: HashMap<Id, u64> = HashMap::new();
        {
            let mut freshness = lock(&content.freshness)?;
            let now = crate::clock::now_ms();
            for (object_id, rows) in &records {
                if rows.is_empty() {
                    freshness.object_gone(*object_id);
                    continue;
                }
                if rows.iter().all(|row| !row.vector.is_empty()) {
                    let below = freshness.next_ticket();
                    freshness.object_settled(*object_id, below, now);
                }
                let waiting = changed.get(object_id).map_or(&[][..], Vec::as_slice);
                let times = edits.and_then(|edits| edits.get(object_id));
                if let Some(ticket) = freshness.applied(
                    *object_id,
                    times.map_or(&[][..], Vec::as_slice),
                    waiting,
                    now,
                ) {
                    tickets.insert(*object_id, ticket);
                }
            }
        }
        for (chunk_id, passage, vector) in kept {
            let seq = progress.next_seq;
            progress.next_seq += 1;
            content
                .index
                .add_provisional(chunk_id, seq, passage, vector)
                .map_err(search_error)?;
        }
        for (object_id, chunk_id, passage, text) in passages {
            let seq = progress.next_seq;
            progress.next_seq += 1;
            progress.passages.push(PendingPassage {
                object_id,
                chunk_id,
                seq,
                ticket: tickets.get(&object_id).copied(),
                passage,
                text,
            });
        }
        let excess = progress.passages.len().saturating_sub(PASSAGES_QUEUED_MAX);
        progress.passages.drain(..excess);
        Ok(())
    }

    /// Embeds changed passages of chunks waiting for their full vectors (ahead of the vector
    /// round's batches) and adds them as provisional vectors, where the passage is still part
    /// of the chunk's text and the chunk still has no full vector. Keeps the vectors it
    /// embedded for the vector rounds (see `Progress::embedded_passages`).
    async fn passage_round(&self, queued: Vec<PendingPassage>) -> Result<()> {
        let content = self.content()?;
        let vectors = content
            .embedder
            .embed_urgent(queued.iter().map(|p| p.text.clone()).collect())
            .await
            .map_err(embedding_error)?;
        let _guard = content.indexing.lock().await;
        let ids: Vec<i64> = queued.iter().map(|p| p.chunk_id as i64).collect();
        let mut tx = self.store.read().await?;
        let current: HashMap<i64, StoredChunk> = tx
            .chunks_by_id(&ids)
            .await?
            .into_iter()
            .map(|c| (c.chunk_id, c))
            .collect();
        tx.commit().await?;
        let mut added = 0;
        let mut embedded = HashMap::new();
        let mut landed = Vec::new();
        for (pending, vector) in queued.into_iter().zip(vectors) {
            if let Some(row) = current.get(&(pending.chunk_id as i64))
                && search::contains_passage(&indexed_text(row), &pending.passage)
                && content
                    .index
                    .add_provisional(
                        pending.chunk_id,
                        pending.seq,
                        pending.passage,
                        vector.clone(),
                    )
                    .map_err(search_error)?
            {
                added += 1;
                if let Some(ticket) = pending.ticket {
                    landed.push((ticket, pending.chunk_id));
                }
            }
            embedded.insert(pending.text, vector);
        }
        {
            let mut freshness = lock(&content.freshness)?;
            let now = crate::clock::now_ms();
            for (ticket, chunk_id) in landed {
                freshness.passage_landed(ticket, chunk_id, now);
            }
        }
        content
            .counters
            .passages
            .fetch_add(added as u64, Ordering::Relaxed);
        let mut progress = lock(&content.progress)?;
        if progress.embedded_passages.len() + embedded.len() > PASSAGE_VECTORS_REUSED_MAX {
            progress.embedded_passages.clear();
        }
        progress.embedded_passages.extend(embedded);
        Ok(())
    }

    /// Stores the objects' chunks and, in the same transaction, the cursor that `dirty` and
    /// the keyword cursor make durable (when it moved past `saved_cursor`); then makes `dirty`
    /// (and `keyword_cursor`, when given) the indexer's progress.
    async fn commit_chunks(
        &self,
        content: &ContentSearch,
        records: &[(Id, Vec<StoredChunk>)],
        dirty: HashMap<Id, ChangeCursor>,
        keyword_cursor: Option<ChangeCursor>,
        saved_cursor: ChangeCursor,
    ) -> Result<()> {
        let durable = Progress::durable_cursor(
            &dirty,
            match keyword_cursor {
                Some(cursor) => cursor,
                None => lock(&content.progress)?.keyword_cursor,
            },
        );
        let mut tx = self.store.write().await?;
        for (object_id, rows) in records {
            tx.replace_chunks(*object_id, rows).await?;
        }
        if durable > saved_cursor {
            tx.save_cursor(INDEXER_CONSUMER, durable, crate::clock::now_ms())
                .await?;
        }
        tx.commit().await?;
        let mut progress = lock(&content.progress)?;
        progress.dirty = dirty;
        if let Some(cursor) = keyword_cursor {
            progress.keyword_cursor = cursor;
        }
        progress.saved_cursor = progress.saved_cursor.max(durable);
        Ok(())
    }

    /// One vector round: embeds the chunks the dirty objects have no vector for (oldest objects
    /// first, up to `chunks_max` chunks), then, holding `indexing`, fills them into
    /// the chunks as they are *now* (a chunk edited again meanwhile keeps waiting, for the next
    /// round), index files first, then the store with the durable cursor. Returns how many
    /// chunks it embedded.
    async fn vector_round(&self, chunks_max: usize, bulk_allowed: bool) -> Result<usize> {
        let content = self.content()?;
        let (passages, mut objects, seq_now, tickets_read) = {
            let mut progress = lock(&content.progress)?;
            let tickets_read = lock(&content.freshness)?.next_ticket();
            let objects: Vec<(ChangeCursor, Id)> = progress
                .dirty
                .iter()
                .map(|(object_id, since)| (*since, *object_id))
                .collect();
            (
                std::mem::take(&mut progress.embedded_passages),
                objects,
                progress.next_seq,
                tickets_read,
            )
        };
        objects.sort_unstable();
        // Texts to embed by text hash: a hash names the embedded text exactly.
        let mut texts: HashMap<String, String> = HashMap::new();
        // What this round embeds of each chunk: its text hash, heading path and text.
        let mut versions: HashMap<i64, (String, Vec<String>, String)> = HashMap::new();
        let mut taken = Vec::new();
        let mut tx = self.store.read().await?;
        let mut chunks_max = chunks_max;
        for (_, object_id) in objects {
            if texts.len() >= chunks_max {
                break;
            }
            let chunks = tx.chunks_of(object_id).await?;
            // An object missing more chunks than a small round holds, while no edit's passage
            // waits, is new or rewritten, not a page someone is typing in: embed in bulk
            // rounds, which keep every lane busy. (Without the passage condition, hot pages
            // that crossed a window got bulk rounds too, and the bench's edits waited for
            // them: meaning p99 2.1-2.8 s against 0.4-0.8 s.)
            if bulk_allowed
                && chunks.iter().filter(|c| c.vector.is_empty()).count() > VECTOR_ROUND_CHUNKS
            {
                chunks_max = chunks_max.max(VECTOR_ROUND_BULK_CHUNKS);
            }
            for chunk in chunks {
                if chunk.vector.is_empty() && texts.len() < chunks_max {
                    let text = indexed_text(&chunk);
                    texts.entry(chunk.text_hash.clone()).or_insert(text);
                    versions.insert(
                        chunk.chunk_id,
                        (chunk.text_hash, chunk.heading_path, chunk.text),
                    );
                }
            }
            taken.push(object_id);
        }
        tx.commit().await?;
        // A text the passage round just embedded (a whole short chunk) is not embedded again.
        let mut embedded: HashMap<String, Vec<f32>> = HashMap::new();
        texts.retain(|hash, text| match passages.get(text.as_str()) {
            Some(vector) => {
                embedded.insert(hash.clone(), vector.clone());
                false
            }
            None => true,
        });
        let (hashes, texts): (Vec<String>, Vec<String>) = texts.into_iter().unzip();
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(embedding::TEXTS_PER_BATCH_MAX) {
            vectors.extend(
                content
                    .embedder
                    .embed(batch.to_vec())
                    .await
                    .map_err(embedding_error)?,
            );
        }
        embedded.extend(hashes.into_iter().zip(vectors));

        let _guard = content.indexing.lock().await;
        // Entries opened from here on are of edits made after the texts read below.
        let tickets_filled = lock(&content.freshness)?.next_ticket();
        let mut tx = self.store.read().await?;
        let mut updated = Vec::new();
        let mut inserts = Vec::new();
        let mut done = Vec::new();
        // Vectors of a version the chunk had when the round read it, for chunks edited since.
        let mut superseded = Vec::new();
        for object_id in taken {
            let mut rows = tx.chunks_of(object_id).await?;
            let mut filled = false;
            for row in &mut rows {
                if !row.vector.is_empty() {
                    continue;
                }
                if let Some(vector) = embedded.get(&row.text_hash) {
                    row.vector = vector.clone();
                    inserts.push((row.chunk_id as u64, vector.clone()));
                    filled = true;
                } else if let Some((hash, heading_path, text)) = versions.get(&row.chunk_id)
                    && let Some(vector) = embedded.get(hash)
                {
                    let still_part = *heading_path == row.heading_path
                        && search::contains_passage(&indexed_text(row), text);
                    superseded.push((row.chunk_id as u64, still_part.then_some((text, vector))));
                }
            }
            if rows.iter().all(|row| !row.vector.is_empty()) {
                done.push(object_id);
            }
            if filled {
                updated.push((object_id, rows));
            }
        }
        tx.commit().await?;
        content
            .index
            .insert_vectors(&inserts)
            .map_err(search_error)?;
        let mut landed: Vec<(u64, u64)> = inserts
            .iter()
            .map(|(chunk_id, _)| (*chunk_id, tickets_filled))
            .collect();
        for (chunk_id, kept) in superseded {
            let counter = match kept {
                Some((text, vector)) => {
                    landed.push((chunk_id, tickets_read));
                    content
                        .index
                        .add_provisional(
                            chunk_id,
                            // The chunk's passage vectors stay beside it: this vector's
                            // text holds theirs, but a query for one edit matches that edit's
                            // passage better than ~160 words of which it is one sentence.
                            seq_now.saturating_sub(1),
                            Arc::from(text.as_str()),
                            vector.clone(),
                        )
                        .map_err(search_error)?;
                    &content.counters.kept_provisional
                }
                None => &content.counters.discarded,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        {
            let mut freshness = lock(&content.freshness)?;
            let now = crate::clock::now_ms();
            for (chunk_id, tickets_below) in landed {
                freshness.vector_landed(chunk_id, tickets_below, now);
            }
            for object_id in &done {
                freshness.object_settled(*object_id, tickets_filled, now);
            }
        }
        let (dirty, saved_cursor) = {
            let progress = lock(&content.progress)?;
            let mut dirty = progress.dirty.clone();
            for object_id in &done {
                dirty.remove(object_id);
            }
            (dirty, progress.saved_cursor)
        };
        self.commit_chunks(content, &updated, dirty, None, saved_cursor)
            .await?;
        Ok(inserts.len())
    }

    /// Full-content search, ranked best first, one result per page or data source.
    pub async fn search_content(
        &self,
        actor: &Actor,
        query: ContentQuery,
    ) -> Result<Page<ContentHit>> {
        let limit = page_size(query.page_size)? as usize;
        let offset = match &query.start_cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix('r')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n < CONTENT_RESULTS_MAX)
                .ok_or_else(invalid_cursor)?,
        };
        let wanted = (offset + limit + 1).min(CONTENT_RESULTS_MAX + 1);
        let candidates = (wanted * 5).clamp(50, CANDIDATE_CHUNKS_MAX);
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let ranked = self
                .rank_chunks(actor, r.root(), &query.query, query.mode, candidates)
                .await?;
            // Best chunk per object, objects in order of their best chunk.
            let mut best: Vec<(Id, ChunkScore)> = Vec::new();
            let mut seen = HashSet::new();
            for (object, hit) in ranked {
                if seen.insert(object) {
                    best.push((object, hit));
                }
            }
            let mut hits = Vec::new();
            let mut skipped = 0;
            let mut more = false;
            for (object_id, score) in best {
                let Some(result) = r.readable_result(object_id, query.filter).await? else {
                    continue;
                };
                if skipped < offset {
                    skipped += 1;
                    continue;
                }
                if hits.len() == limit {
                    more = true;
                    break;
                }
                hits.push((result, score));
            }
            let chunk_ids: Vec<i64> = hits.iter().map(|(_, s)| s.chunk_id as i64).collect();
            let highlights = self.highlights(&mut r, &query.query, &chunk_ids).await?;
            let results = hits
                .into_iter()
                .zip(highlights)
                .map(|((result, score), (highlight, _))| ContentHit {
                    result,
                    score: score.score,
                    highlight,
                })
                .collect();
            let next = offset + limit;
            Ok(Page {
                results,
                next_cursor: (more && next < CONTENT_RESULTS_MAX).then(|| format!("r{next}")),
            })
        }
        .await;
        r.finish(result).await
    }

    /// Chunk-level search for agents and integrations: the best `limit` chunks the caller may
    /// read, with scores, heading paths and highlighted passages.
    pub async fn search_chunks(
        &self,
        actor: &Actor,
        query: &str,
        mode: SearchMode,
        limit: usize,
    ) -> Result<Vec<ChunkHit>> {
        if limit == 0 || limit > CHUNK_RESULTS_MAX {
            return Err(Error::validation(
                "page_size",
                format!(
                    "should be a number between 1 and {CHUNK_RESULTS_MAX}, instead was {limit}"
                ),
            ));
        }
        let mode = if mode == SearchMode::Title {
            SearchMode::Hybrid
        } else {
            mode
        };
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let ranked = self
                .rank_chunks(
                    actor,
                    r.root(),
                    query,
                    mode,
                    (limit * 3).clamp(30, CANDIDATE_CHUNKS_MAX),
                )
                .await?;
            let mut kept = Vec::new();
            let mut verdicts: HashMap<Id, Option<&'static str>> = HashMap::new();
            for (object, hit) in ranked {
                if kept.len() == limit {
                    break;
                }
                let kind = match verdicts.get(&object) {
                    Some(verdict) => *verdict,
                    None => {
                        let verdict = match r.readable_result(object, None).await? {
                            Some(SearchResult::Page(_)) => Some("page"),
                            Some(SearchResult::DataSource(_)) => Some("data_source"),
                            None => None,
                        };
                        verdicts.insert(object, verdict);
                        verdict
                    }
                };
                if let Some(kind) = kind {
                    kept.push((hit, kind));
                }
            }
            let ids: Vec<i64> = kept.iter().map(|(h, _)| h.chunk_id as i64).collect();
            let highlights = self.highlights(&mut r, query, &ids).await?;
            Ok(kept
                .into_iter()
                .zip(highlights)
                .filter_map(|((hit, kind), (highlight, chunk))| {
                    let chunk = chunk?;
                    Some(ChunkHit {
                        chunk_id: hit.chunk_id as i64,
                        object_id: chunk.object_id,
                        object_kind: kind,
                        page_id: (kind == "page").then_some(chunk.object_id),
                        heading_path: chunk.heading_path.clone(),
                        text: chunk.text.clone(),
                        highlight,
                        score: hit.score,
                        provisional_passage: hit.passages.first().map(|m| m.passage.to_string()),
                        provisional_passages: hit
                            .passages
                            .iter()
                            .map(|m| PassageView {
                                text: m.passage.to_string(),
                                score: m.score,
                            })
                            .collect(),
                    })
                })
                .collect())
        }
        .await;
        r.finish(result).await
    }

    /// Ranks chunks the mirror says the actor may read, by mode, each with its object.
    async fn rank_chunks(
        &self,
        actor: &Actor,
        root: &access::Node,
        query: &str,
        mode: SearchMode,
        candidates: usize,
    ) -> Result<Vec<(Id, ChunkScore)>> {
        let content = self.content()?;
        if query.len() > search::keyword::QUERY_BYTES_MAX {
            return Err(Error::validation(
                "query",
                format!(
                    "should be at most {} bytes, instead was {}",
                    search::keyword::QUERY_BYTES_MAX,
                    query.len()
                ),
            ));
        }
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let allowed_objects = lock(&content.mirror)?.allowed(actor, root);
        let allowed = Arc::new(
            content
                .index
                .chunks_of_objects(&allowed_objects)
                .map_err(search_error)?,
        );
        let keyword = match mode {
            SearchMode::Keyword | SearchMode::Hybrid => content
                .index
                .keyword(query, candidates, allowed.clone())
                .map_err(search_error)?,
            _ => Vec::new(),
        };
        let semantic = match mode {
            SearchMode::Semantic | SearchMode::Hybrid => {
                let vector = content
                    .embedder
                    .embed_query(query.to_string())
                    .await
                    .map_err(embedding_error)?
                    .pop()
                    .ok_or_else(|| Error::Internal("the embedder returned no vector".into()))?;
                content
                    .index
                    .semantic(&vector, candidates, &allowed)
                    .map_err(search_error)?
            }
            _ => Vec::new(),
        };
        let ranked = match mode {
            SearchMode::Keyword => keyword,
            SearchMode::Semantic => semantic,
            _ => search::reciprocal_rank_fusion(&[&semantic, &keyword]),
        };
        content.index.with_owners(ranked).map_err(search_error)
    }

    /// Highlights for chunks (in order), with the chunk records.
    async fn highlights(
        &self,
        r: &mut crate::request::Request<'_>,
        query: &str,
        chunk_ids: &[i64],
    ) -> Result<Vec<(HighlightView, Option<StoredChunk>)>> {
        let content = self.content()?;
        let mut by_id: HashMap<i64, StoredChunk> =
            r.tx.chunks_by_id(chunk_ids)
                .await?
                .into_iter()
                .map(|c| (c.chunk_id, c))
                .collect();
        let chunks: Vec<Option<StoredChunk>> =
            chunk_ids.iter().map(|id| by_id.remove(id)).collect();
        let texts: Vec<&str> = chunks
            .iter()
            .map(|c| c.as_ref().map(|c| c.text.as_str()).unwrap_or(""))
            .collect();
        let passages = content
            .index
            .highlight(query, &texts)
            .map_err(search_error)?;
        Ok(chunks
            .into_iter()
            .zip(passages)
            .map(|(chunk, Highlight { text, ranges })| {
                (
                    HighlightView {
                        heading_path: chunk
                            .as_ref()
                            .map(|c| c.heading_path.clone())
                            .unwrap_or_default(),
                        text,
                        ranges,
                    },
                    chunk,
                )
            })
            .collect())
    }
}

/// What is embedded for a changed passage of a chunk: its heading path, then the passage.
fn passage_text(chunk: &StoredChunk, passage: &str) -> String {
    search::Chunk {
        key: chunk.key.clone(),
        ordinal: chunk.ordinal as usize,
        heading_path: chunk.heading_path.clone(),
        text: passage.to_string(),
    }
    .indexed_text()
}

fn indexed_text(chunk: &StoredChunk) -> String {
    passage_text(chunk, &chunk.text)
}

impl crate::request::Request<'_> {
    /// The object as a search result if the caller may read it now (by the store, not the
    /// mirror) and it is not in the trash; `None` otherwise. Audited for integrations.
    async fn readable_result(
        &mut self,
        id: Id,
        filter: Option<SearchFilter>,
    ) -> Result<Option<SearchResult>> {
        let Some(node) = self.tx.get_node(id).await? else {
            return Ok(None);
        };
        let wanted = matches!(
            (&node.node, filter),
            (Node::Page(_), None | Some(SearchFilter::Page))
                | (Node::DataSource(_), None | Some(SearchFilter::DataSource))
        );
        if !wanted || node.node.in_trash() {
            return Ok(None);
        }
        let Some((chain, level)) = self.level(id).await? else {
            return Ok(None);
        };
        if chain.trashed_ancestor
            || !access::decide_with_level(self.actor, Operation::Read, level).is_allowed()
        {
            return Ok(None);
        }
        self.audit_decision(Operation::Read, id, true, "search");
        Ok(Some(match node.node {
            Node::Page(page) => SearchResult::Page(self.view_page(page).await?),
            Node::DataSource(data_source) => {
                SearchResult::DataSource(self.data_source_view(data_source).await?)
            }
            _ => return Ok(None),
        }))
    }

    /// What the indexer reads of a page or data source; `None` when it does not exist or is
    /// not indexable.
    async fn object_text(&mut self, id: Id) -> Result<Option<ObjectText>> {
        let Some(node) = self.tx.get_node(id).await? else {
            return Ok(None);
        };
        match node.node {
            Node::Page(page) => {
                let data_source = self.data_source_of(&page).await?;
                let title = page.title();
                let view = self.view_page_in(page, data_source).await?;
                let mut properties = Vec::new();
                if let Some(data_source) = &view.data_source {
                    for schema in &data_source.properties {
                        if schema.id == document::page::TITLE_PROPERTY_ID {
                            continue;
                        }
                        if let Some(value) = view.page.properties.get(&schema.id) {
                            let text = value.plain_text(Some(schema));
                            if !text.trim().is_empty() {
                                properties.push((schema.name.clone(), text));
                            }
                        }
                    }
                }
                let markdown = self.markdown_of(view.page.id).await?;
                let mut comments = Vec::new();
                let mut after = None;
                loop {
                    let batch = self.tx.comments(id, after, 100).await?;
                    let Some(last) = batch.last() else { break };
                    after = Some((last.created_time, last.id));
                    for mut comment in batch {
                        self.trim_rich_text(&mut comment.rich_text).await?;
                        comments.push(document::rich_text::plain_text(&comment.rich_text));
                    }
                }
                Ok(Some(ObjectText {
                    object_id: id,
                    title,
                    properties,
                    markdown,
                    comments,
                }))
            }
            Node::DataSource(data_source) => {
                let title = document::data_source::title_plain(&data_source.title);
                let description = document::rich_text::plain_text(&data_source.description);
                let properties = vec![(
                    "Properties".to_string(),
                    data_source
                        .properties
                        .iter()
                        .map(|p| p.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                )];
                Ok(Some(ObjectText {
                    object_id: id,
                    title,
                    properties,
                    markdown: description,
                    comments: Vec::new(),
                }))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use access::Role;
    use embedding::{GatedEmbedder, HashingEmbedder};
    use storage_sql::Store;
    use tokio::sync::watch;

    use super::*;
    use crate::{NewPage, NewUser, ParentInput};

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

    async fn find(
        workspace: &Workspace,
        actor: &Actor,
        word: &str,
        mode: SearchMode,
    ) -> Vec<ChunkHit> {
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
                    parent: Some(ParentInput::Workspace),
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
        static LARGEST_BATCH: std::sync::atomic::AtomicUsize =
            std::sync::atomic::AtomicUsize::new(0);
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
}
