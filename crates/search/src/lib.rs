//! Trellis's content search, below the workspace service: it knows chunks, vectors and
//! documents, but not the store, the API, or who may read what (the workspace decides that and
//! hands in allowed sets).
//!
//! - [`chunk`]: structure-following chunking with stable chunk ids (pure).
//! - [`mirror`]: the tree's access facts, so allowed sets are computed by `access` per query
//!   without a database round trip per object (pure).
//! - [`index`]: one workspace's [`ContentIndex`]: our HNSW (`vector-index`) over chunk
//!   embeddings, tantivy BM25 over chunk text, reciprocal-rank fusion, and crash-safe files.
//! - [`keyword`]: the tantivy side, with highlighted snippets.
//! - [`provisional`]: in-memory vectors of passages of just-edited chunks, so an edit is found by
//!   meaning before the model has re-embedded the whole chunk (pure).

pub mod chunk;
mod error;
pub mod index;
pub mod keyword;
pub mod mirror;
pub mod provisional;

pub use chunk::{Chunk, ObjectText, chunk_id, chunk_object};
pub use error::{Error, Result};
pub use index::{
    ChunkScore, ContentIndex, IndexStats, IndexedChunk, ObjectUpdate, RebuildReason,
    reciprocal_rank_fusion,
};
pub use keyword::Highlight;
pub use mirror::{AccessMirror, MirrorNode};
pub use provisional::{
    MATCHED_PASSAGES_PER_HIT_MAX, PassageMatch, Provisional, ProvisionalHit, carried_over,
    changed_passage, contains_passage,
};
