//! One workspace's content index: our HNSW over chunk embeddings, tantivy BM25 over chunk
//! text, and which object owns which chunk. Files live in one directory:
//!
//! ```text
//! LOCK              held (flock) by the one process that writes the index
//! meta.json         format, embedding model id, dimensions
//! vectors.snapshot  a checksummed vector-index snapshot
//! vectors.log       checksummed operations since that snapshot (fsync'd per batch)
//! keyword/          tantivy
//! ```
//!
//! Indexing has two stages, and the index files say which chunks are in which: a chunk's text
//! (BM25, and the object that owns it) goes in as soon as it changes, and its vector follows when
//! the model has embedded it ([`IndexedChunk::vector`] `None` until then). A chunk whose text
//! changed loses its old vector at once, so a semantic search never serves the vector of text
//! the chunk no longer has. Until the new vector lands the chunk may be found by provisional
//! vectors of passages of its current text (see [`crate::provisional`]), kept in memory only.
//!
//! Crash safety: a batch is appended to `vectors.log` and fsync'd before it is applied in memory,
//! and tantivy commits durably, all *before* the caller commits the same chunks (and vectors) and
//! its change-log cursor to the store. So after a kill -9 the files are never behind the store's
//! cursor, and replaying events from the cursor is idempotent. A torn log tail is truncated; a
//! damaged snapshot, log or keyword index is reported as a reason to rebuild from the store (which
//! keeps every chunk's text and vector, or no vector for a chunk still waiting for one), never
//! served.
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use document::Id;
use serde::{Deserialize, Serialize};
use vector_index::{
    AllowedSet, Filter, Index, IndexConfig, LogEnd, Metric, Op, Quantization, SearchOptions,
    decode_ops, encode_op_into,
};

use crate::keyword::{Highlight, KeywordIndex};
use crate::provisional::{MATCHED_PASSAGES_PER_HIT_MAX, PassageMatch, Provisional};
use crate::{Error, Result};

/// Format of the directory layout and `meta.json`.
pub const INDEX_FORMAT_VERSION: u32 = 1;

/// When `vectors.log` grows past this, a new snapshot is written and the log emptied.
pub const VECTOR_LOG_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Tombstones (deleted or replaced vectors) tolerated before compaction, at least; beyond
/// this, the index compacts once tombstones outnumber live vectors.
pub const COMPACT_TOMBSTONES_MIN: usize = 1_024;

/// Beam width for content searches: wider than the index default because a query asks for up
/// to a few hundred candidates to fuse with keyword results.
pub const SEARCH_EF: usize = 128;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    model_id: String,
    dimensions: usize,
}

/// A chunk as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedChunk {
    pub chunk_id: u64,
    /// Unit-length embedding of `text`; `None` while it waits for the model (the chunk is then
    /// found by keyword only, and any vector it had for older text is dropped).
    pub vector: Option<Vec<f32>>,
    /// What BM25 indexes: the heading path and the chunk text.
    pub text: String,
}

/// The new set of chunks of one object (empty: the object is no longer indexed).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectUpdate {
    pub object_id: Id,
    pub chunks: Vec<IndexedChunk>,
}

/// Why an opened index must be rebuilt from the store before it can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildReason {
    /// No index files yet (first start, or the directory was removed).
    New,
    /// The embedding model or dimensions changed: every chunk must be re-embedded.
    ModelChanged { was: String },
    /// A file failed its checksum or could not be read; the message says which.
    Damaged(String),
    /// The files hold vectors in another layout than this version keeps (`was` names it); the
    /// stored vectors are reused.
    LayoutChanged { was: String },
}

impl RebuildReason {
    /// Whether the stored vectors are still usable (only the files need rebuilding).
    pub fn vectors_reusable(&self) -> bool {
        !matches!(self, RebuildReason::ModelChanged { .. })
    }
}

impl std::fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebuildReason::New => write!(f, "no index yet"),
            RebuildReason::ModelChanged { was } => {
                write!(f, "the embedding model changed (was {was})")
            }
            RebuildReason::Damaged(what) => write!(f, "damaged: {what}"),
            RebuildReason::LayoutChanged { was } => {
                write!(f, "the vector layout changed (was {was})")
            }
        }
    }
}

/// Sizes for the admin and the benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub chunks: usize,
    pub objects: usize,
    /// Bytes the vector index holds in memory.
    pub vector_memory_bytes: usize,
    /// Bytes of index files on disk (0 in memory).
    pub disk_bytes: u64,
    pub keyword_documents: u64,
    /// Provisional vectors held for chunks waiting for their full vectors (in memory).
    pub provisional_vectors: usize,
    /// Provisional vectors dropped or refused for lack of room since the index opened.
    pub provisional_dropped: u64,
}

/// A vector or keyword hit: the chunk and its score (cosine similarity, or BM25).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkScore {
    pub chunk_id: u64,
    pub score: f32,
    /// For a hit by provisional vectors: the passages of the chunk's current text they were
    /// embedded from, best first: the one that ranked the chunk, then each other that ranked
    /// among the query's nearest vectors (at most [`MATCHED_PASSAGES_PER_HIT_MAX`] in all).
    /// Empty for a hit by the chunk's full vector and for keyword hits; a fused hit keeps its
    /// semantic hit's.
    pub passages: Vec<PassageMatch>,
}

#[derive(Default)]
struct Owners {
    object_of: HashMap<u64, Id>,
    chunks_of: HashMap<Id, Vec<u64>>,
}

impl Owners {
    /// The chunks `update`'s object owns now that the update no longer lists.
    fn dropped_by<'a>(&'a self, update: &'a ObjectUpdate) -> impl Iterator<Item = u64> + 'a {
        let kept: HashSet<u64> = update.chunks.iter().map(|c| c.chunk_id).collect();
        self.chunks_of
            .get(&update.object_id)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |id| !kept.contains(id))
    }

    fn set(&mut self, object_id: Id, chunks: Vec<u64>) {
        if let Some(old) = self.chunks_of.remove(&object_id) {
            for id in old {
                self.object_of.remove(&id);
            }
        }
        for id in &chunks {
            self.object_of.insert(*id, object_id);
        }
        if !chunks.is_empty() {
            self.chunks_of.insert(object_id, chunks);
        }
    }
}

pub struct ContentIndex {
    dir: Option<PathBuf>,
    _lock: Option<File>,
    model_id: String,
    dimensions: usize,
    vectors: RwLock<Index>,
    /// The open log; `None` in memory. Held while a batch is written and applied, so that
    /// snapshots never race with a batch.
    log: Mutex<Option<(File, u64)>>,
    keyword: KeywordIndex,
    owners: RwLock<Owners>,
    /// Vectors of passages of chunks whose text changed and whose full vector has not landed.
    provisional: Mutex<Provisional>,
}

/// Content vectors are searched with SQ8 codes (one byte per dimension) and the final beam is
/// re-scored with the `f32` originals: in the WordNet benchmark this stayed within 0.005 of `f32`
/// recall at every ef while answering 1.65x the queries at recall@10 0.95, and permission-filtered
/// scans of a 1%
/// allowed set 2.6x faster (26,778 against 10,181 queries/s), for 22% more memory in all. Until
/// `sq8_training_vectors` vectors have arrived, the index searches in `f32`.
const VECTOR_QUANTIZATION: Quantization = Quantization::Sq8 { rerank: true };

fn vector_config(dimensions: usize) -> IndexConfig {
    IndexConfig {
        quantization: VECTOR_QUANTIZATION,
        ..IndexConfig::new(dimensions, Metric::Cosine)
    }
}

fn layout_name(quantization: Quantization) -> &'static str {
    match quantization {
        Quantization::None => "f32",
        Quantization::Sq8 { rerank: true } => "SQ8 with f32 re-ranking",
        Quantization::Sq8 { rerank: false } => "SQ8 codes only",
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

impl ContentIndex {
    /// Opens (or creates) the index in `dir`, or an in-memory one when `dir` is `None`.
    /// Returns why it must be rebuilt from the store, if it must. Fails with
    /// [`Error::Locked`] when another process holds the directory.
    pub fn open(
        dir: Option<&Path>,
        model_id: &str,
        dimensions: usize,
    ) -> Result<(ContentIndex, Option<RebuildReason>)> {
        let Some(dir) = dir else {
            let index = ContentIndex {
                dir: None,
                _lock: None,
                model_id: model_id.to_string(),
                dimensions,
                vectors: RwLock::new(Index::new(vector_config(dimensions))?),
                log: Mutex::new(None),
                keyword: KeywordIndex::open(None)?,
                owners: RwLock::new(Owners::default()),
                provisional: Mutex::new(Provisional::new()),
            };
            return Ok((index, Some(RebuildReason::New)));
        };
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.display().to_string(),
                });
            }
            Err(fs::TryLockError::Error(error)) => return Err(error.into()),
        }

        let wanted = Meta {
            format: INDEX_FORMAT_VERSION,
            model_id: model_id.to_string(),
            dimensions,
        };
        let meta_path = dir.join("meta.json");
        let mut reason = match fs::read(&meta_path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Some(RebuildReason::New),
            Err(error) => return Err(error.into()),
            Ok(bytes) => match serde_json::from_slice::<Meta>(&bytes) {
                Err(error) => Some(RebuildReason::Damaged(format!("meta.json: {error}"))),
                Ok(meta) if meta.format != INDEX_FORMAT_VERSION => {
                    Some(RebuildReason::Damaged(format!(
                        "index format {} (this build reads {INDEX_FORMAT_VERSION})",
                        meta.format
                    )))
                }
                Ok(meta) if meta.model_id != model_id || meta.dimensions != dimensions => {
                    Some(RebuildReason::ModelChanged {
                        was: format!("{} ({} dimensions)", meta.model_id, meta.dimensions),
                    })
                }
                Ok(_) => None,
            },
        };

        let snapshot_path = dir.join("vectors.snapshot");
        let log_path = dir.join("vectors.log");
        let mut vectors = Index::new(vector_config(dimensions))?;
        if reason.is_none() {
            match fs::read(&snapshot_path) {
                Ok(bytes) => match Index::from_snapshot_bytes(&bytes) {
                    Ok(index) if index.config().quantization != VECTOR_QUANTIZATION => {
                        reason = Some(RebuildReason::LayoutChanged {
                            was: layout_name(index.config().quantization).into(),
                        })
                    }
                    Ok(index) if index.config().dimensions == dimensions => vectors = index,
                    Ok(_) => {
                        reason = Some(RebuildReason::Damaged(
                            "vectors.snapshot has other dimensions".into(),
                        ))
                    }
                    Err(error) => {
                        reason = Some(RebuildReason::Damaged(format!("vectors.snapshot: {error}")))
                    }
                },
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        let mut log_len = 0u64;
        if reason.is_none() {
            match fs::read(&log_path) {
                Ok(bytes) => {
                    let decoded = decode_ops(&bytes);
                    match decoded.end {
                        LogEnd::Corrupt => {
                            reason = Some(RebuildReason::Damaged(format!(
                                "vectors.log is damaged after byte {}",
                                decoded.valid_bytes
                            )));
                        }
                        LogEnd::Clean | LogEnd::TornTail => {
                            if decoded.end == LogEnd::TornTail {
                                tracing::warn!(
                                    kept = decoded.valid_bytes,
                                    dropped = bytes.len() - decoded.valid_bytes,
                                    "truncating a torn tail of vectors.log"
                                );
                                let file = OpenOptions::new().write(true).open(&log_path)?;
                                file.set_len(decoded.valid_bytes as u64)?;
                                file.sync_all()?;
                            }
                            for op in &decoded.ops {
                                if let Err(error) = vectors.apply(op) {
                                    reason = Some(RebuildReason::Damaged(format!(
                                        "vectors.log replay: {error}"
                                    )));
                                    break;
                                }
                            }
                            log_len = decoded.valid_bytes as u64;
                        }
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }

        let keyword_dir = dir.join("keyword");
        let keyword = if reason.is_some() {
            // Whatever is there is about to be rebuilt; start from an empty directory.
            if keyword_dir.exists() {
                fs::remove_dir_all(&keyword_dir)?;
            }
            KeywordIndex::open(Some(&keyword_dir))?
        } else {
            match KeywordIndex::open(Some(&keyword_dir)) {
                Ok(keyword) => keyword,
                Err(error) => {
                    reason = Some(RebuildReason::Damaged(format!("keyword index: {error}")));
                    fs::remove_dir_all(&keyword_dir)?;
                    KeywordIndex::open(Some(&keyword_dir))?
                }
            }
        };

        if reason.is_some() {
            vectors = Index::new(vector_config(dimensions))?;
            keyword.clear()?;
            let _ = fs::remove_file(&snapshot_path);
            File::create(&log_path)?.sync_all()?;
            log_len = 0;
        }
        write_atomically(
            &meta_path,
            &serde_json::to_vec_pretty(&wanted).map_err(|e| Error::Metadata(e.to_string()))?,
        )?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let index = ContentIndex {
            dir: Some(dir.to_path_buf()),
            _lock: Some(lock),
            model_id: model_id.to_string(),
            dimensions,
            vectors: RwLock::new(vectors),
            log: Mutex::new(Some((log, log_len))),
            keyword,
            owners: RwLock::new(Owners::default()),
            provisional: Mutex::new(Provisional::new()),
        };
        Ok((index, reason))
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Tells the index which object owns each chunk, as the store says (at start).
    pub fn set_owners(&self, owners: impl IntoIterator<Item = (u64, Id)>) -> Result<()> {
        let mut grouped: HashMap<Id, Vec<u64>> = HashMap::new();
        for (chunk, object) in owners {
            grouped.entry(object).or_default().push(chunk);
        }
        let mut map = self.owners.write().map_err(|_| Error::Poisoned)?;
        *map = Owners::default();
        for (object, chunks) in grouped {
            map.set(object, chunks);
        }
        Ok(())
    }

    /// Chunk ids the vector index should hold (per the owners) but does not: chunks waiting for
    /// their vectors, chunks whose vectors a crash kept out of the files, or files restored from
    /// an older copy. The store knows which of them have vectors to restore.
    pub fn missing_vectors(&self) -> Result<Vec<u64>> {
        let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
        let vectors = self.vectors.read().map_err(|_| Error::Poisoned)?;
        Ok(owners
            .object_of
            .keys()
            .filter(|id| !vectors.contains(**id))
            .copied()
            .collect())
    }

    /// Inserts (or replaces) vectors of chunks the index knows, durably (logged and fsync'd)
    /// when this returns: the second indexing stage, and repairs at open. Vectors of chunks no
    /// object owns any more are skipped: their object changed after they were embedded.
    pub fn insert_vectors(&self, chunks: &[(u64, Vec<f32>)]) -> Result<()> {
        let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
        let mut ops = Vec::with_capacity(chunks.len());
        for (id, vector) in chunks {
            if vector.len() != self.dimensions {
                return Err(Error::DimensionMismatch {
                    expected: self.dimensions,
                    got: vector.len(),
                });
            }
            if owners.object_of.contains_key(id) {
                ops.push(Op::Insert {
                    id: *id,
                    vector: vector.clone(),
                });
            }
        }
        drop(owners);
        self.write_ops(&ops)?;
        let mut provisional = self.provisional.lock().map_err(|_| Error::Poisoned)?;
        for op in &ops {
            if let Op::Insert { id, .. } = op {
                provisional.remove(*id);
            }
        }
        Ok(())
    }

    /// Adds a provisional vector of `passage` (a passage of the chunk's current indexed text)
    /// for a chunk that waits for its full vector (`seq` orders a chunk's provisional vectors,
    /// lowest dropped first). Skipped (returning false) when no object owns the chunk, the chunk
    /// already has its full vector, or the provisional set is full.
    pub fn add_provisional(
        &self,
        chunk_id: u64,
        seq: u64,
        passage: Arc<str>,
        vector: Vec<f32>,
    ) -> Result<bool> {
        if vector.len() != self.dimensions {
            return Err(Error::DimensionMismatch {
                expected: self.dimensions,
                got: vector.len(),
            });
        }
        let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
        let vectors = self.vectors.read().map_err(|_| Error::Poisoned)?;
        if !owners.object_of.contains_key(&chunk_id) || vectors.contains(chunk_id) {
            return Ok(false);
        }
        let mut provisional = self.provisional.lock().map_err(|_| Error::Poisoned)?;
        Ok(provisional.add(chunk_id, seq, passage, vector))
    }

    /// Pairs each hit with the object owning its chunk, in order; hits whose chunk has no
    /// owner (left behind by a crash between an index write and the store commit) are dropped.
    pub fn with_owners(&self, hits: Vec<ChunkScore>) -> Result<Vec<(Id, ChunkScore)>> {
        let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
        Ok(hits
            .into_iter()
            .filter_map(|hit| Some((*owners.object_of.get(&hit.chunk_id)?, hit)))
            .collect())
    }

    /// The chunk ids of the given objects.
    pub fn chunks_of_objects(&self, objects: &HashSet<Id>) -> Result<HashSet<u64>> {
        let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
        Ok(objects
            .iter()
            .filter_map(|object| owners.chunks_of.get(object))
            .flatten()
            .copied()
            .collect())
    }

    /// Replaces the chunks of each object: durably (log fsync'd, tantivy committed) when this
    /// returns, so the caller may then commit the same chunks and its cursor to the store.
    /// Unchanged vectors are left alone, so an edit touches only the chunks that changed; a chunk
    /// without a vector loses the one it had.
    pub fn apply(&self, updates: &[ObjectUpdate]) -> Result<()> {
        let mut ops = Vec::new();
        {
            let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
            let vectors = self.vectors.read().map_err(|_| Error::Poisoned)?;
            for update in updates {
                for old in owners.dropped_by(update) {
                    if vectors.contains(old) {
                        ops.push(Op::Delete { id: old });
                    }
                }
                for chunk in &update.chunks {
                    let Some(vector) = &chunk.vector else {
                        if vectors.contains(chunk.chunk_id) {
                            ops.push(Op::Delete { id: chunk.chunk_id });
                        }
                        continue;
                    };
                    if vector.len() != self.dimensions {
                        return Err(Error::DimensionMismatch {
                            expected: self.dimensions,
                            got: vector.len(),
                        });
                    }
                    let unchanged = vectors.vector(chunk.chunk_id).is_some_and(|stored| {
                        stored
                            .iter()
                            .zip(vector)
                            .all(|(a, b)| (a - b).abs() <= 1e-6)
                    });
                    if !unchanged {
                        ops.push(Op::Insert {
                            id: chunk.chunk_id,
                            vector: vector.clone(),
                        });
                    }
                }
            }
        }
        self.write_ops(&ops)?;
        let keyword: Vec<(String, Vec<(u64, String)>)> = updates
            .iter()
            .map(|update| {
                (
                    update.object_id.to_string(),
                    update
                        .chunks
                        .iter()
                        .map(|c| (c.chunk_id, c.text.clone()))
                        .collect(),
                )
            })
            .collect();
        self.keyword.replace(&keyword)?;
        let mut owners = self.owners.write().map_err(|_| Error::Poisoned)?;
        let mut provisional = self.provisional.lock().map_err(|_| Error::Poisoned)?;
        for update in updates {
            for old in owners.dropped_by(update) {
                provisional.remove(old);
            }
            for chunk in &update.chunks {
                match chunk.vector {
                    Some(_) => provisional.remove(chunk.chunk_id),
                    None => provisional.retain_passages(chunk.chunk_id, &chunk.text),
                }
            }
            owners.set(
                update.object_id,
                update.chunks.iter().map(|c| c.chunk_id).collect(),
            );
        }
        Ok(())
    }

    /// Logs (fsync) then applies vector operations; snapshots when the log is long.
    fn write_ops(&self, ops: &[Op]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut log = self.log.lock().map_err(|_| Error::Poisoned)?;
        if let Some((file, len)) = log.as_mut() {
            let mut bytes = Vec::new();
            for op in ops {
                encode_op_into(op, &mut bytes)?;
            }
            file.write_all(&bytes)?;
            file.sync_data()?;
            *len += bytes.len() as u64;
        }
        let compacted = {
            let mut vectors = self.vectors.write().map_err(|_| Error::Poisoned)?;
            for op in ops {
                vectors.apply(op)?;
            }
            // Every edit of a chunk leaves a tombstone; searches walk through them, so drop
            // them once they are as many as the live vectors.
            let stats = vectors.stats();
            let compact = stats.tombstones >= COMPACT_TOMBSTONES_MIN
                && stats.tombstones >= stats.live_vectors;
            if compact {
                vectors.compact();
            }
            compact
        };
        let long = log
            .as_ref()
            .is_some_and(|(_, len)| *len > VECTOR_LOG_BYTES_MAX);
        if long || compacted {
            self.snapshot_locked(&mut log)?;
        }
        Ok(())
    }

    /// Writes a snapshot and empties the log. The log lock is held throughout.
    fn snapshot_locked(&self, log: &mut Option<(File, u64)>) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let bytes = self
            .vectors
            .read()
            .map_err(|_| Error::Poisoned)?
            .to_snapshot_bytes();
        write_atomically(&dir.join("vectors.snapshot"), &bytes)?;
        // A crash here leaves a snapshot that already contains the log's operations; replaying
        // them again is idempotent.
        if let Some((file, len)) = log.as_mut() {
            file.set_len(0)?;
            file.sync_all()?;
            *len = 0;
        }
        Ok(())
    }

    /// Writes a snapshot now (after a rebuild, and at shutdown).
    pub fn snapshot(&self) -> Result<()> {
        let mut log = self.log.lock().map_err(|_| Error::Poisoned)?;
        self.snapshot_locked(&mut log)
    }

    /// Empties the index before a rebuild from the store.
    pub fn clear(&self) -> Result<()> {
        let mut log = self.log.lock().map_err(|_| Error::Poisoned)?;
        *self.vectors.write().map_err(|_| Error::Poisoned)? =
            Index::new(vector_config(self.dimensions))?;
        if let Some((file, len)) = log.as_mut() {
            file.set_len(0)?;
            file.sync_all()?;
            *len = 0;
        }
        drop(log);
        self.keyword.clear()?;
        *self.owners.write().map_err(|_| Error::Poisoned)? = Owners::default();
        self.provisional
            .lock()
            .map_err(|_| Error::Poisoned)?
            .clear();
        Ok(())
    }

    /// The `k` chunks nearest to `query` among `allowed`, most similar first: by each chunk's
    /// full vector, or, for a chunk waiting for it, its best provisional vector.
    ///
    /// A chunk waiting for its full vector can hold many provisional vectors (one per recent
    /// edit), and a query about one edit may rank the chunk by another's passage. So a hit also
    /// names each other passage of its chunk whose vector ranked among the `k` vectors nearest
    /// the query (full and provisional vectors ranked together), so that the caller sees every
    /// passage that matched as well as the answer's own hits did, not only the best.
    pub fn semantic(
        &self,
        query: &[f32],
        k: usize,
        allowed: &HashSet<u64>,
    ) -> Result<Vec<ChunkScore>> {
        if k == 0 || allowed.is_empty() {
            return Ok(Vec::new());
        }
        let allowed_set = AllowedSet::new(allowed.iter().copied());
        let vectors = self.vectors.read().map_err(|_| Error::Poisoned)?;
        let k = k.min(vector_index::RESULTS_MAX);
        let result = vectors.search_with(
            query,
            k,
            &SearchOptions {
                filter: Some(Filter::Allowed(&allowed_set)),
                ef_search: Some(SEARCH_EF.max(k)),
                ..SearchOptions::default()
            },
        )?;
        drop(vectors);
        let mut hits: Vec<ChunkScore> = result
            .hits
            .iter()
            .map(|hit| ChunkScore {
                chunk_id: hit.id,
                score: 1.0 - hit.distance,
                passages: Vec::new(),
            })
            .collect();
        let provisional = self
            .provisional
            .lock()
            .map_err(|_| Error::Poisoned)?
            .search(query, k, allowed);
        if provisional.is_empty() {
            return Ok(hits);
        }
        let bar = kth_best(
            hits.iter().map(|h| h.score).chain(
                provisional
                    .iter()
                    .flat_map(|p| p.passages.iter().map(|m| m.score)),
            ),
            k,
        );
        // A chunk has a full vector or provisional ones, but a full vector may land between the
        // two lookups: keep each chunk once, by its full vector when it has one.
        let full: HashSet<u64> = hits.iter().map(|h| h.chunk_id).collect();
        hits.extend(
            provisional
                .into_iter()
                .filter(|p| !full.contains(&p.chunk_id))
                .map(|p| {
                    let score = p.score();
                    let mut passages = p.passages;
                    // The best passage always; the others that reached the bar.
                    let named = 1 + passages
                        .iter()
                        .skip(1)
                        .take_while(|m| m.score >= bar)
                        .count();
                    passages.truncate(named.min(MATCHED_PASSAGES_PER_HIT_MAX));
                    ChunkScore {
                        chunk_id: p.chunk_id,
                        score,
                        passages,
                    }
                }),
        );
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.chunk_id.cmp(&b.chunk_id))
        });
        hits.truncate(k);
        Ok(hits)
    }

    /// The best `k` chunks for `query` by BM25 among `allowed`, best first.
    pub fn keyword(
        &self,
        query: &str,
        k: usize,
        allowed: Arc<HashSet<u64>>,
    ) -> Result<Vec<ChunkScore>> {
        if allowed.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .keyword
            .search(query, k, Some(allowed))?
            .into_iter()
            .map(|(chunk_id, score)| ChunkScore {
                chunk_id,
                score,
                passages: Vec::new(),
            })
            .collect())
    }

    /// Highlighted passages of `texts` for `query`.
    pub fn highlight(&self, query: &str, texts: &[&str]) -> Result<Vec<Highlight>> {
        self.keyword.highlight(query, texts)
    }

    pub fn stats(&self) -> Result<IndexStats> {
        let owners = self.owners.read().map_err(|_| Error::Poisoned)?;
        let vectors = self.vectors.read().map_err(|_| Error::Poisoned)?;
        let provisional = self.provisional.lock().map_err(|_| Error::Poisoned)?;
        Ok(IndexStats {
            chunks: vectors.len(),
            objects: owners.chunks_of.len(),
            vector_memory_bytes: vectors.stats().memory.total_bytes(),
            disk_bytes: self.dir.as_deref().map(dir_bytes).unwrap_or(0),
            keyword_documents: self.keyword.len(),
            provisional_vectors: provisional.len(),
            provisional_dropped: provisional.dropped(),
        })
    }
}

/// The `k`-th highest of `scores` (1-based), or minus infinity when there are fewer than `k`.
fn kth_best(scores: impl Iterator<Item = f32>, k: usize) -> f32 {
    let mut scores: Vec<f32> = scores.collect();
    if k == 0 || scores.len() < k {
        return f32::NEG_INFINITY;
    }
    let (_, kth, _) = scores.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    *kth
}

/// The constant of reciprocal-rank fusion, 60 as in the paper.
pub const RRF_K: f32 = 60.0;

/// Reciprocal-rank fusion (Cormack et al.): each list adds `1 / (K + rank)` for each chunk it
/// ranks. Returns chunks best first with their fused scores; a chunk keeps the matched passages
/// of the first list that has any.
pub fn reciprocal_rank_fusion(lists: &[&[ChunkScore]]) -> Vec<ChunkScore> {
    let mut fused: HashMap<u64, ChunkScore> = HashMap::new();
    for list in lists {
        for (rank, hit) in list.iter().enumerate() {
            let entry = fused.entry(hit.chunk_id).or_insert_with(|| ChunkScore {
                chunk_id: hit.chunk_id,
                score: 0.0,
                passages: Vec::new(),
            });
            entry.score += 1.0 / (RRF_K + rank as f32 + 1.0);
            if entry.passages.is_empty() {
                entry.passages = hit.passages.clone();
            }
        }
    }
    let mut out: Vec<ChunkScore> = fused.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    out
}
