//! Full-content search: the indexer (a change-log consumer that chunks, embeds and indexes
//! pages and data sources), and keyword, semantic and hybrid queries trimmed to what the caller
//! may read.
//!
//! Access is decided twice, both times by `access`: first over the search crate's mirror of the
//! tree (to restrict the index to the caller's readable chunks before ranking, so a guest who can
//! read 1% of the workspace still gets a full page of results), then against the store for every
//! object about to be returned (so a page that stopped being readable a moment ago is never
//! returned, even before the indexer has seen the change).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use access::{Actor, Capabilities, IntegrationActor, Operation, UserInformation};
use document::Id;
use embedding::Embedder;
use search::{
    AccessMirror, ChunkScore, ContentIndex, Highlight, IndexedChunk, MirrorNode, ObjectText,
    ObjectUpdate, RebuildReason,
};
use storage_sql::{Chain, ChangeCursor, Node, SkeletonNode, StoredChunk};

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
}

/// What one indexer pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexPass {
    pub events: usize,
    pub objects: usize,
    pub chunks_embedded: usize,
}

/// Index sizes, for the CLI and admins.
pub use search::IndexStats;

/// The search side of a workspace: its content index, embedder and access mirror.
pub struct ContentSearch {
    index: ContentIndex,
    embedder: Arc<dyn Embedder>,
    mirror: Mutex<AccessMirror>,
    /// One indexer pass at a time (the serve loop, a CLI catch-up, a test).
    indexing: tokio::sync::Mutex<()>,
    /// How the index files were found at start: `clean`, or why they were rebuilt.
    opened: String,
}

/// The state of content search, for admins, operators and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentStatus {
    pub model_id: String,
    pub dimensions: usize,
    pub stats: IndexStats,
    /// Change-log events not indexed yet (counted up to [`PENDING_EVENTS_COUNTED_MAX`]).
    pub pending_events: usize,
    /// `clean`, or why the index files were rebuilt when the server started.
    pub opened: String,
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
        tx.commit().await?;
        let content = Arc::new(ContentSearch {
            index,
            embedder,
            mirror: Mutex::new(AccessMirror::new(skeleton.into_iter().map(mirror_node))),
            indexing: tokio::sync::Mutex::new(()),
            opened: match &reason {
                None => "clean".to_string(),
                Some(reason) => format!("rebuilt: {reason}"),
            },
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
            opened: content.opened.clone(),
        })
    }

    /// Sizes of the content index.
    pub fn content_index_stats(&self) -> Result<IndexStats> {
        self.content()?.index.stats().map_err(search_error)
    }

    /// After a clean open: learn chunk owners from the store and restore any vectors the files
    /// lack (a crash between the index write and the store commit leaves none missing, but files
    /// restored from an older copy might).
    async fn load_owners_and_repair(&self) -> Result<()> {
        let content = self.content()?;
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
            tracing::warn!(
                count = missing.len(),
                "restoring vectors the index files lack"
            );
            let chunks = tx.chunk_vectors(&missing).await?;
            content
                .index
                .restore_vectors(
                    &chunks
                        .into_iter()
                        .map(|c| (c.chunk_id as u64, c.vector))
                        .collect::<Vec<_>>(),
                )
                .map_err(search_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rebuilds the index files from the chunks and vectors in the store (no re-embedding).
    async fn rebuild_index_files(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<()> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        content.index.clear().map_err(search_error)?;
        let mut tx = self.store.read().await?;
        let total = tx.chunk_owners().await?.len() as u64;
        let mut done = 0u64;
        let mut after = None;
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
                updates.push(ObjectUpdate {
                    object_id,
                    chunks: chunks
                        .into_iter()
                        .map(|c| IndexedChunk {
                            chunk_id: c.chunk_id as u64,
                            text: indexed_text(&c),
                            vector: c.vector,
                        })
                        .collect(),
                });
            }
            content.index.apply(&updates).map_err(search_error)?;
            progress(done, total);
        }
        tx.commit().await?;
        content.index.snapshot().map_err(search_error)?;
        Ok(())
    }

    /// Re-chunks and re-embeds every page and data source (vectors whose text and model are
    /// unchanged are reused), then indexes what changed since. `trellis reindex` runs this.
    pub async fn reindex(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<IndexPass> {
        let content = self.content()?;
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
            let _guard = content.indexing.lock().await;
            let embedded = self.index_objects(&batch, None).await?;
            pass.objects += batch.len();
            pass.chunks_embedded += embedded;
            done += batch.len() as u64;
            progress(done, total);
        }
        // Objects that no longer exist lose their chunks.
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
        tx.save_cursor(INDEXER_CONSUMER, start_cursor, document::time::now_ms())
            .await?;
        tx.commit().await?;
        content.index.snapshot().map_err(search_error)?;
        let caught_up = self.index_changes().await?;
        pass.events += caught_up.events;
        pass.objects += caught_up.objects;
        pass.chunks_embedded += caught_up.chunks_embedded;
        Ok(pass)
    }

    /// One indexer pass: reads change-log events after the indexer's cursor, refreshes the
    /// access mirror for structural changes, and re-indexes every object whose text changed.
    /// The index files are written before the store (chunks and cursor, in one transaction), so
    /// a crash at any point replays idempotently. Returns what it did; zero events when idle.
    pub async fn index_changes(&self) -> Result<IndexPass> {
        let content = self.content()?;
        let _guard = content.indexing.lock().await;
        let mut tx = self.store.read().await?;
        let cursor = tx.load_cursor(INDEXER_CONSUMER).await?;
        let changes = tx.read_changes(cursor, INDEXER_EVENTS_PER_PASS).await?;
        let Some(last) = changes.last() else {
            tx.commit().await?;
            return Ok(IndexPass::default());
        };
        let new_cursor = last.cursor;
        let mut objects: Vec<Id> = Vec::new();
        let mut seen = HashSet::new();
        let mut structural: Vec<Id> = Vec::new();
        for record in &changes {
            let change = &record.change;
            let target = match change.object_kind.as_str() {
                "page" | "data_source" => Some(change.object_id),
                // Block and comment events name their page as the parent.
                "block" | "comment" => change.parent_id,
                _ => None,
            };
            if let Some(target) = target
                && seen.insert(target)
            {
                objects.push(target);
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
                if chain.nodes.is_empty() {
                    mirror.remove(id);
                } else {
                    mirror.upsert(chain_nodes(chain));
                }
            }
        }
        let embedded = self.index_objects(&objects, Some(new_cursor)).await?;
        Ok(IndexPass {
            events: changes.len(),
            objects: objects.len(),
            chunks_embedded: embedded,
        })
    }

    /// Chunks, embeds (only changed texts) and indexes the given objects, then commits their
    /// chunks (and the cursor, when given) to the store. Returns how many chunks were embedded.
    async fn index_objects(&self, ids: &[Id], cursor: Option<ChangeCursor>) -> Result<usize> {
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

        // Embed what changed: a stored vector is reused when its text hash and model match.
        let mut to_embed: Vec<String> = Vec::new();
        let mut records: Vec<(Id, Vec<StoredChunk>)> = Vec::new();
        let mut pending: Vec<(usize, usize)> = Vec::new();
        for (object_id, text, stored) in planned {
            let reusable: HashMap<&str, &Vec<f32>> = stored
                .iter()
                .filter(|c| c.model_id == model_id)
                .map(|c| (c.text_hash.as_str(), &c.vector))
                .collect();
            let chunks = match &text {
                Some(text) => search::chunk_object(text),
                None => Vec::new(),
            };
            let mut rows = Vec::with_capacity(chunks.len());
            for chunk in chunks {
                let hash = chunk.text_hash();
                let vector = reusable.get(hash.as_str()).map(|v| (*v).clone());
                if vector.is_none() {
                    pending.push((records.len(), rows.len()));
                    to_embed.push(chunk.indexed_text());
                }
                rows.push(StoredChunk {
                    chunk_id: chunk.id(object_id),
                    object_id,
                    key: chunk.key.clone(),
                    ordinal: chunk.ordinal as i64,
                    heading_path: chunk.heading_path.clone(),
                    text: chunk.text.clone(),
                    text_hash: hash,
                    model_id: model_id.clone(),
                    vector: vector.unwrap_or_default(),
                });
            }
            records.push((object_id, rows));
        }
        let mut vectors = Vec::with_capacity(to_embed.len());
        for batch in to_embed.chunks(embedding::TEXTS_PER_BATCH_MAX) {
            vectors.extend(
                content
                    .embedder
                    .embed(batch.to_vec())
                    .await
                    .map_err(embedding_error)?,
            );
        }
        for ((record, row), vector) in pending.iter().zip(vectors) {
            records[*record].1[*row].vector = vector;
        }

        // Index files first (durable), then the store with the cursor.
        let updates: Vec<ObjectUpdate> = records
            .iter()
            .map(|(object_id, rows)| ObjectUpdate {
                object_id: *object_id,
                chunks: rows
                    .iter()
                    .map(|c| IndexedChunk {
                        chunk_id: c.chunk_id as u64,
                        vector: c.vector.clone(),
                        text: indexed_text(c),
                    })
                    .collect(),
            })
            .collect();
        content.index.apply(&updates).map_err(search_error)?;
        let mut tx = self.store.write().await?;
        for (object_id, rows) in &records {
            tx.replace_chunks(*object_id, rows).await?;
        }
        if let Some(cursor) = cursor {
            tx.save_cursor(INDEXER_CONSUMER, cursor, document::time::now_ms())
                .await?;
        }
        tx.commit().await?;
        Ok(to_embed.len())
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
                    .embed(vec![query.to_string()])
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

fn indexed_text(chunk: &StoredChunk) -> String {
    search::Chunk {
        key: chunk.key.clone(),
        ordinal: chunk.ordinal as usize,
        heading_path: chunk.heading_path.clone(),
        text: chunk.text.clone(),
    }
    .indexed_text()
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
