//! Trellis's own approximate-nearest-neighbour index.
//!
//! An HNSW graph over dense `u32` slots, addressed by caller-chosen `u64` ids, with:
//!
//! - cosine and squared-L2 distance on autovectorized `f32` kernels;
//! - optional SQ8 scalar quantization for traversal, with exact re-ranking of the final beam;
//! - tombstone deletes, upserts and `compact()`, which repairs the graph around deleted nodes;
//! - permission-filtered search, where a planner picks an exact scan or in-graph filtering by the
//!   filter's selectivity and reports its choice;
//! - snapshot and operation-log encodings as plain bytes with checksums.
//!
//! Architecture invariant: this crate does no I/O, spawns no threads and derives no wire
//! formats. Callers own files, locks and scheduling.

mod distance;
mod error;
mod filter;
mod graph;
mod index;
mod oplog;
mod quantize;
mod slot_map;
mod snapshot;
mod store;

pub use distance::{Metric, dot};
pub use error::{Error, Result};
pub use filter::{AllowedSet, Filter, Strategy, StrategyChoice};
pub use index::{
    Hit, Index, IndexConfig, MemoryReport, Quantization, SearchOptions, SearchResult, Stats,
};
pub use oplog::{
    DecodedOps, LogEnd, OP_RECORD_BODY_BYTES_MAX, Op, decode_ops, encode_op, encode_op_into,
};
pub use snapshot::SNAPSHOT_FORMAT_VERSION;

/// The most dimensions a vector may have; 4,096 covers every common embedding model.
pub const DIMENSIONS_MAX: usize = 4_096;

/// The most slots (live vectors plus tombstones) one index holds. Slots are `u32`, and keeping
/// well below `u32::MAX` leaves room for sentinels.
pub const SLOTS_MAX: usize = 1 << 31;

/// Bounds on M, the links per node. Below 2 the graph cannot branch; above 128 each layer-0 row
/// costs over 1 KiB per node for no measurable recall gain.
pub const NEIGHBORS_PER_NODE_MIN: usize = 2;
pub const NEIGHBORS_PER_NODE_MAX: usize = 128;

/// The widest search beam, for construction and search alike, including the widening applied
/// to filtered searches.
pub const EF_MAX: usize = 4_096;

/// The most results one search returns.
pub const RESULTS_MAX: usize = 1_024;

/// The most vectors an SQ8 quantizer waits for before training.
pub const SQ8_TRAINING_VECTORS_MAX: usize = 1 << 20;

#[cfg(test)]
mod tests {
    #[test]
    fn index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Index>();
    }
}
