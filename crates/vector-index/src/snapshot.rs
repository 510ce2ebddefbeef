//! Snapshot encoding: the whole index as one byte string.
//!
//! ```text
//! magic "TRLSVIDX" (8) | format version u32 LE | payload length u64 LE
//! | crc32 of (version ++ length ++ payload) u32 LE | payload
//! ```
//!
//! The checksum is verified before the version is interpreted, so a flipped bit in the version
//! reads as corruption rather than as a future format. After the checksum, every structural
//! invariant is checked again, because a snapshot is input like any other: a crafted one with a
//! valid checksum must still fail cleanly instead of producing an index that panics later.

use crate::SLOTS_MAX;
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::graph::{Graph, LEVELS_MAX, SplitMix64};
use crate::index::{Index, IndexConfig, Quantization};
use crate::quantize::Sq8Quantizer;
use crate::slot_map;
use crate::store::{QuantizedRows, VectorStore};

const MAGIC: &[u8; 8] = b"TRLSVIDX";
/// The snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 + 8 + 4;
const NO_ENTRY_POINT: u32 = u32::MAX;

fn corrupt(reason: &'static str) -> Error {
    Error::CorruptSnapshot { reason }
}

impl Index {
    /// Serializes the index, tombstones and level generator included, so that a reloaded index
    /// answers and grows exactly like this one.
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let mut payload = Writer::default();
        let config = &self.config;
        payload.u32(config.dimensions as u32);
        payload.u8(config.metric.to_byte());
        let (quantization, rerank) = match config.quantization {
            Quantization::None => (0, false),
            Quantization::Sq8 { rerank } => (1, rerank),
        };
        payload.u8(quantization);
        payload.u8(u8::from(rerank));
        payload.u32(config.neighbors_per_node as u32);
        payload.u32(config.ef_construction as u32);
        payload.u32(config.ef_search as u32);
        payload.u8(u8::from(config.keep_pruned_connections));
        payload.u64(config.seed);
        payload.u32(config.sq8_training_vectors as u32);
        payload.u64(config.filter_exact_count_max as u64);
        payload.f64(config.filter_exact_selectivity_max);
        payload.u64(self.level_rng.state);

        let graph = &self.graph;
        payload.u64(graph.slots() as u64);
        for id in &self.ids {
            payload.u64(*id);
        }
        for deleted in &self.deleted {
            payload.u8(u8::from(*deleted));
        }
        payload.bytes(&graph.levels);
        payload.u32(graph.entry_point.unwrap_or(NO_ENTRY_POINT));
        payload.u8(graph.max_level);
        payload.u32s(&graph.layer0);
        payload.u64(graph.upper.len() as u64);
        payload.u32s(&graph.upper);

        let store = &self.store;
        match &store.exact {
            Some(exact) => {
                payload.u8(1);
                payload.f32s(exact);
            }
            None => payload.u8(0),
        }
        match &store.quantized {
            Some(rows) => {
                payload.u8(1);
                payload.f32s(rows.quantizer.minimum());
                payload.f32s(rows.quantizer.step());
                payload.bytes(&rows.codes);
                payload.u64(rows.norms_squared.len() as u64);
                payload.f32s(&rows.norms_squared);
            }
            None => payload.u8(0),
        }

        let payload = payload.out;
        let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let checksum = snapshot_checksum(&out[8..20], &payload);
        out.extend_from_slice(&checksum.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Restores an index from `to_snapshot_bytes` output. Damaged bytes give `corrupt_snapshot`
    /// and a future format gives `unsupported_version`; neither ever yields an index.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER_BYTES {
            return Err(corrupt("shorter than the header"));
        }
        if &bytes[..8] != MAGIC {
            return Err(corrupt("not a vector-index snapshot (bad magic)"));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let payload_len =
            u64::from_le_bytes(bytes[12..20].try_into().map_err(|_| corrupt("header"))?);
        let stored_checksum = u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        let payload = &bytes[HEADER_BYTES..];
        if payload.len() as u64 != payload_len {
            return Err(corrupt(if (payload.len() as u64) < payload_len {
                "truncated"
            } else {
                "trailing bytes after the payload"
            }));
        }
        if snapshot_checksum(&bytes[8..20], payload) != stored_checksum {
            return Err(corrupt("checksum mismatch"));
        }
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: SNAPSHOT_FORMAT_VERSION,
            });
        }
        decode_payload(payload)
    }
}

fn snapshot_checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    hasher.finalize()
}

fn decode_payload(payload: &[u8]) -> Result<Index> {
    let mut reader = Reader {
        bytes: payload,
        offset: 0,
    };
    let dimensions = reader.u32()? as usize;
    let metric = Metric::from_byte(reader.u8()?).ok_or(corrupt("unknown metric"))?;
    let quantization_tag = reader.u8()?;
    let rerank = reader.flag()?;
    let quantization = match quantization_tag {
        0 => Quantization::None,
        1 => Quantization::Sq8 { rerank },
        _ => return Err(corrupt("unknown quantization")),
    };
    let config = IndexConfig {
        dimensions,
        metric,
        quantization,
        neighbors_per_node: reader.u32()? as usize,
        ef_construction: reader.u32()? as usize,
        ef_search: reader.u32()? as usize,
        keep_pruned_connections: reader.flag()?,
        seed: reader.u64()?,
        sq8_training_vectors: reader.u32()? as usize,
        filter_exact_count_max: usize::try_from(reader.u64()?)
            .map_err(|_| corrupt("filter_exact_count_max"))?,
        filter_exact_selectivity_max: reader.f64()?,
    };
    config
        .validate()
        .map_err(|_| corrupt("configuration out of range"))?;
    let level_rng = SplitMix64 {
        state: reader.u64()?,
    };

    let slots = reader.u64()?;
    if slots > SLOTS_MAX as u64 {
        return Err(corrupt("slot count over SLOTS_MAX"));
    }
    let slots = slots as usize;
    let ids = reader.u64s(slots)?;
    let deleted = reader
        .bytes(slots)?
        .iter()
        .map(|byte| match byte {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("tombstone flag")),
        })
        .collect::<Result<Vec<bool>>>()?;
    let tombstones = deleted.iter().filter(|deleted| **deleted).count();
    let mut slot_of = slot_map::with_capacity(slots - tombstones);
    for (slot, (id, deleted)) in ids.iter().zip(&deleted).enumerate() {
        if !deleted && slot_of.insert(*id, slot as u32).is_some() {
            return Err(corrupt("a live id appears twice"));
        }
    }

    let mut graph = Graph::new(config.neighbors_per_node);
    graph.levels = reader.bytes(slots)?.to_vec();
    if graph.levels.iter().any(|level| *level > LEVELS_MAX) {
        return Err(corrupt("level above LEVELS_MAX"));
    }
    let entry_point = reader.u32()?;
    graph.max_level = reader.u8()?;
    graph.entry_point = (entry_point != NO_ENTRY_POINT).then_some(entry_point);
    match graph.entry_point {
        None if slots != 0 => return Err(corrupt("missing entry point")),
        Some(_) if slots == 0 => return Err(corrupt("entry point in an empty graph")),
        Some(entry) if entry as usize >= slots => return Err(corrupt("entry point out of range")),
        Some(entry) if graph.levels[entry as usize] != graph.max_level => {
            return Err(corrupt("entry point is not on the top level"));
        }
        _ => {}
    }
    if graph.levels.iter().any(|level| *level > graph.max_level) {
        return Err(corrupt("a node is above the top level"));
    }
    let layer0_words = slots
        .checked_mul(1 + graph.layer0_capacity())
        .ok_or(corrupt("graph size"))?;
    graph.layer0 = reader.u32s(layer0_words)?;
    let upper_words = usize::try_from(reader.u64()?).map_err(|_| corrupt("graph size"))?;
    if graph.rebuild_upper_offsets() != upper_words || upper_words >= u32::MAX as usize {
        return Err(corrupt("upper layers do not match the levels"));
    }
    graph.upper = reader.u32s(upper_words)?;
    validate_links(&graph)?;

    let mut store = VectorStore::new(metric, dimensions);
    store.rows = slots;
    let values = slots
        .checked_mul(dimensions)
        .ok_or(corrupt("vector store size"))?;
    store.exact = if reader.flag()? {
        let exact = reader.f32s(values)?;
        if exact.iter().any(|value| !value.is_finite()) {
            return Err(corrupt("non-finite vector component"));
        }
        Some(exact)
    } else {
        None
    };
    store.quantized = if reader.flag()? {
        let minimum = reader.f32s(dimensions)?;
        let step = reader.f32s(dimensions)?;
        let quantizer =
            Sq8Quantizer::from_parts(minimum, step).ok_or(corrupt("quantizer tables"))?;
        let codes = reader.bytes(values)?.to_vec();
        let norm_count = usize::try_from(reader.u64()?).map_err(|_| corrupt("norm count"))?;
        let expected_norms = if metric == Metric::L2 { slots } else { 0 };
        if norm_count != expected_norms {
            return Err(corrupt("norm count does not match the metric"));
        }
        let norms_squared = reader.f32s(norm_count)?;
        Some(QuantizedRows {
            quantizer,
            codes,
            norms_squared,
        })
    } else {
        None
    };
    let storage_consistent = match (quantization, &store.exact, &store.quantized) {
        (Quantization::None, Some(_), None) => true,
        // Before training, SQ8 keeps only the originals; after, codes plus originals iff re-ranking.
        (Quantization::Sq8 { .. }, Some(_), None) => true,
        (Quantization::Sq8 { rerank }, exact, Some(_)) => exact.is_some() == rerank,
        _ => false,
    };
    if !storage_consistent {
        return Err(corrupt(
            "vector storage does not match the quantization mode",
        ));
    }
    if reader.offset != payload.len() {
        return Err(corrupt("unread bytes at the end of the payload"));
    }
    Ok(Index {
        config,
        ids,
        slot_of,
        deleted,
        tombstones,
        graph,
        store,
        level_rng,
        state_id: crate::index::next_state_id(),
    })
}

/// Every link row must fit its capacity and point at a node that exists on that layer.
fn validate_links(graph: &Graph) -> Result<()> {
    let slots = graph.slots();
    for slot in 0..slots as u32 {
        for layer in 0..=usize::from(graph.levels[slot as usize]) {
            let row_start = if layer == 0 {
                slot as usize * (1 + graph.layer0_capacity())
            } else {
                graph.upper_offsets[slot as usize] as usize
                    + (layer - 1) * (1 + graph.neighbors_per_node)
            };
            let row = if layer == 0 {
                &graph.layer0
            } else {
                &graph.upper
            };
            if row[row_start] as usize > graph.capacity(layer) {
                return Err(corrupt("link row longer than its capacity"));
            }
            for link in graph.neighbors(slot, layer) {
                let reachable =
                    (*link as usize) < slots && usize::from(graph.levels[*link as usize]) >= layer;
                if !reachable {
                    return Err(corrupt("link to a node that is not on the layer"));
                }
            }
        }
    }
    Ok(())
}

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, value: u8) {
        self.out.push(value);
    }
    fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn f64(&mut self, value: f64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn bytes(&mut self, values: &[u8]) {
        self.out.extend_from_slice(values);
    }
    fn u32s(&mut self, values: &[u32]) {
        self.out.reserve(values.len() * 4);
        for value in values {
            self.u32(*value);
        }
    }
    fn f32s(&mut self, values: &[f32]) {
        self.out.reserve(values.len() * 4);
        for value in values {
            self.out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// Reads little-endian values, failing on truncation instead of panicking, and checking every
/// length against the bytes actually present before allocating for it.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, count: usize) -> Result<&'a [u8]> {
        let end = self
            .offset
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(corrupt("payload ends early"))?;
        let taken = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(taken)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn flag(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("flag byte")),
        }
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn sized(&mut self, count: usize, width: usize) -> Result<&'a [u8]> {
        let length = count.checked_mul(width).ok_or(corrupt("length overflow"))?;
        self.bytes(length)
    }
    fn u32s(&mut self, count: usize) -> Result<Vec<u32>> {
        Ok(self
            .sized(count, 4)?
            .chunks_exact(4)
            .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect())
    }
    fn u64s(&mut self, count: usize) -> Result<Vec<u64>> {
        Ok(self
            .sized(count, 8)?
            .chunks_exact(8)
            .map(|chunk| {
                let mut array = [0u8; 8];
                array.copy_from_slice(chunk);
                u64::from_le_bytes(array)
            })
            .collect())
    }
    fn f32s(&mut self, count: usize) -> Result<Vec<f32>> {
        Ok(self
            .sized(count, 4)?
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect())
    }
}
