//! Vector storage by slot, in full precision, as SQ8 codes, or both.
//!
//! Which representation exists decides how distances are computed:
//!
//! | mode                     | `exact`            | `quantized` | traversal reads |
//! |--------------------------|--------------------|-------------|-----------------|
//! | f32                      | yes                | no          | `exact`         |
//! | SQ8, before training     | yes (buffer)       | no          | `exact`         |
//! | SQ8 with re-ranking      | yes (re-rank only) | yes         | codes           |
//! | SQ8 without re-ranking   | no                 | yes         | codes           |

use std::borrow::Cow;

use crate::distance::Metric;
use crate::quantize::{QuantizedQuery, Sq8Quantizer};

#[derive(Clone, Debug)]
pub(crate) struct QuantizedRows {
    pub quantizer: Sq8Quantizer,
    pub codes: Vec<u8>,
    /// `|x̂|²` for each row under L2, where the norm does not cancel out; empty under cosine.
    pub norms_squared: Vec<f32>,
}

#[derive(Clone, Debug)]
pub(crate) struct VectorStore {
    pub metric: Metric,
    pub dimensions: usize,
    pub rows: usize,
    pub exact: Option<Vec<f32>>,
    pub quantized: Option<QuantizedRows>,
}

/// Distances from one fixed vector (a query, or a stored node during graph repair) to any slot.
pub(crate) struct Scorer<'a> {
    store: &'a VectorStore,
    kind: ScorerKind<'a>,
}

enum ScorerKind<'a> {
    Exact(Cow<'a, [f32]>),
    Quantized {
        query: QuantizedQuery,
        query_norm_squared: f32,
    },
}

/// Rows a streaming scan touches ahead of scoring them.
const STREAM_BLOCK_SLOTS: usize = 16;

impl Scorer<'_> {
    #[inline]
    pub fn distance(&self, slot: u32) -> f32 {
        let store = self.store;
        match &self.kind {
            ScorerKind::Exact(query) => store.metric.distance(query, store.exact_row(slot)),
            ScorerKind::Quantized {
                query,
                query_norm_squared,
            } => {
                let rows = store.quantized_rows();
                let dot = query.dot(rows.codes_row(slot, store.dimensions));
                quantized_distance(store.metric, rows, slot, *query_norm_squared, dot)
            }
        }
    }

    /// The distances to four slots at once, so that their memory reads overlap.
    #[inline]
    fn distance4(&self, quad: [u32; 4]) -> [f32; 4] {
        let store = self.store;
        match &self.kind {
            ScorerKind::Exact(query) => store
                .metric
                .distance4(query, quad.map(|slot| store.exact_row(slot))),
            ScorerKind::Quantized {
                query,
                query_norm_squared,
            } => {
                let rows = store.quantized_rows();
                let dots = query.dot4(quad.map(|slot| rows.codes_row(slot, store.dimensions)));
                std::array::from_fn(|i| {
                    quantized_distance(store.metric, rows, quad[i], *query_norm_squared, dots[i])
                })
            }
        }
    }

    /// Calls `visit(slot, distance)` for `slots` in order until it returns false. Rows are
    /// scored four at a time; the last one to three slots are padded to four by repeating the
    /// last one, whose row is cached by then, so the padding costs arithmetic only where a lone
    /// row would lose the overlap of memory reads.
    #[inline]
    pub fn each_distance(&self, slots: &[u32], mut visit: impl FnMut(u32, f32) -> bool) {
        let (quads, rest) = slots.as_chunks::<4>();
        for quad in quads {
            let distances = self.distance4(*quad);
            for (slot, distance) in quad.iter().zip(distances) {
                if !visit(*slot, distance) {
                    return;
                }
            }
        }
        if let Some(last) = rest.last() {
            let padded: [u32; 4] = std::array::from_fn(|i| *rest.get(i).unwrap_or(last));
            let distances = self.distance4(padded);
            for (slot, distance) in rest.iter().zip(distances) {
                if !visit(*slot, distance) {
                    return;
                }
            }
        }
    }

    /// `each_distance` for long runs of slots, such as a scan: rows are touched a block ahead
    /// of being scored, so their cache misses overlap with the arithmetic on the block before.
    pub fn each_distance_streaming(&self, slots: &[u32], mut visit: impl FnMut(u32, f32)) {
        let mut blocks = slots.chunks(STREAM_BLOCK_SLOTS).peekable();
        if let Some(first) = blocks.peek() {
            self.touch(first);
        }
        while let Some(block) = blocks.next() {
            if let Some(next) = blocks.peek() {
                self.touch(next);
            }
            self.each_distance(block, |slot, distance| {
                visit(slot, distance);
                true
            });
        }
    }

    /// `each_distance` over rows whose codes were copied together, in `slots` order, by
    /// `VectorStore::gather_codes`: one contiguous block streams from memory at full speed.
    /// Only for SQ8 traversal scorers; an exact scorer reads its own rows.
    pub fn each_distance_gathered(
        &self,
        codes: &[u8],
        slots: &[u32],
        mut visit: impl FnMut(u32, f32) -> bool,
    ) {
        let store = self.store;
        let ScorerKind::Quantized {
            query,
            query_norm_squared,
        } = &self.kind
        else {
            self.each_distance(slots, visit);
            return;
        };
        let rows = store.quantized_rows();
        let dimensions = store.dimensions;
        let (quads, rest) = slots.as_chunks::<4>();
        let (code_quads, code_rest) = codes.split_at(quads.len() * 4 * dimensions);
        for (quad, block) in quads.iter().zip(code_quads.chunks_exact(4 * dimensions)) {
            let dots = query.dot4(std::array::from_fn(|i| {
                &block[i * dimensions..(i + 1) * dimensions]
            }));
            for (slot, dot) in quad.iter().zip(dots) {
                let distance =
                    quantized_distance(store.metric, rows, *slot, *query_norm_squared, dot);
                if !visit(*slot, distance) {
                    return;
                }
            }
        }
        for (slot, row) in rest.iter().zip(code_rest.chunks_exact(dimensions)) {
            let dot = query.dot(row);
            if !visit(
                *slot,
                quantized_distance(store.metric, rows, *slot, *query_norm_squared, dot),
            ) {
                return;
            }
        }
    }

    /// The distances to `slots`, in order, into `out` (cleared first).
    pub fn distances(&self, slots: &[u32], out: &mut Vec<f32>) {
        out.clear();
        self.touch(slots);
        self.each_distance(slots, |_, distance| {
            out.push(distance);
            true
        });
    }

    /// Reads the first value of every row in `slots`. The four-row kernels keep four rows'
    /// reads in flight; touching all the rows of a gathered neighbourhood first starts every
    /// row's first cache miss at once, and the hardware prefetcher follows each row from there.
    /// This is what hnswlib's prefetch instructions do, without `unsafe`.
    #[inline]
    fn touch(&self, slots: &[u32]) {
        let store = self.store;
        let touched: f32 = match &self.kind {
            ScorerKind::Exact(_) => slots.iter().map(|slot| store.exact_row(*slot)[0]).sum(),
            ScorerKind::Quantized { .. } => {
                let rows = store.quantized_rows();
                slots
                    .iter()
                    .map(|slot| f32::from(rows.codes_row(*slot, store.dimensions)[0]))
                    .sum()
            }
        };
        std::hint::black_box(touched);
    }

    /// Whether any of `slots` is closer than `bound`: the test of the neighbour-selection
    /// heuristic, stopping at the first one found.
    pub fn any_closer_than(&self, slots: &[u32], bound: f32) -> bool {
        let mut found = false;
        self.each_distance(slots, |_, distance| {
            found = distance < bound;
            !found
        });
        found
    }
}

/// A distance from the inner product of a query with a row's decoded codes.
#[inline]
fn quantized_distance(
    metric: Metric,
    rows: &QuantizedRows,
    slot: u32,
    query_norm_squared: f32,
    dot: f32,
) -> f32 {
    match metric {
        Metric::Cosine => 1.0 - dot,
        Metric::L2 => query_norm_squared + rows.norms_squared[slot as usize] - 2.0 * dot,
    }
}

impl QuantizedRows {
    #[inline]
    fn codes_row(&self, slot: u32, dimensions: usize) -> &[u8] {
        let start = slot as usize * dimensions;
        &self.codes[start..start + dimensions]
    }
}

impl VectorStore {
    pub fn new(metric: Metric, dimensions: usize) -> Self {
        Self {
            metric,
            dimensions,
            rows: 0,
            exact: Some(Vec::new()),
            quantized: None,
        }
    }

    /// Appends a prepared vector as the next slot.
    pub fn push(&mut self, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dimensions);
        if let Some(exact) = &mut self.exact {
            exact.extend_from_slice(vector);
        }
        if let Some(rows) = &mut self.quantized {
            let start = rows.codes.len();
            rows.codes.resize(start + self.dimensions, 0);
            rows.quantizer.encode(vector, &mut rows.codes[start..]);
            if self.metric == Metric::L2 {
                let norm = decoded_norm_squared(&rows.quantizer, &rows.codes[start..]);
                rows.norms_squared.push(norm);
            }
        }
        self.rows += 1;
    }

    pub fn is_quantized(&self) -> bool {
        self.quantized.is_some()
    }

    /// Re-ranking needs both the codes (for traversal) and the originals (for the exact pass).
    pub fn can_rerank(&self) -> bool {
        self.exact.is_some() && self.quantized.is_some()
    }

    #[inline]
    fn exact_row(&self, slot: u32) -> &[f32] {
        let start = slot as usize * self.dimensions;
        match &self.exact {
            Some(exact) => &exact[start..start + self.dimensions],
            None => unreachable!("exact scorers are only built when full-precision rows exist"),
        }
    }

    #[inline]
    fn quantized_rows(&self) -> &QuantizedRows {
        match &self.quantized {
            Some(rows) => rows,
            None => unreachable!("quantized scorers are only built when codes exist"),
        }
    }

    /// The stored vector of a slot in full precision, decoded from its codes when the originals
    /// were not kept.
    pub fn row_vector(&self, slot: u32) -> Vec<f32> {
        if self.exact.is_some() {
            return self.exact_row(slot).to_vec();
        }
        let rows = self.quantized_rows();
        let start = slot as usize * self.dimensions;
        let mut vector = vec![0.0; self.dimensions];
        rows.quantizer
            .decode(&rows.codes[start..start + self.dimensions], &mut vector);
        vector
    }

    /// A scorer for graph traversal: codes when they exist, because that is what the SQ8 mode
    /// is for.
    pub fn traversal_scorer<'a>(&'a self, query: &'a [f32]) -> Scorer<'a> {
        match &self.quantized {
            Some(rows) => Scorer {
                store: self,
                kind: ScorerKind::Quantized {
                    query: rows.quantizer.prepare(query),
                    query_norm_squared: crate::distance::dot(query, query),
                },
            },
            None => Scorer {
                store: self,
                kind: ScorerKind::Exact(Cow::Borrowed(query)),
            },
        }
    }

    /// A scorer that uses full precision whenever the originals are kept, for exact scans and
    /// re-ranking.
    pub fn precise_scorer<'a>(&'a self, query: &'a [f32]) -> Scorer<'a> {
        if self.exact.is_some() {
            Scorer {
                store: self,
                kind: ScorerKind::Exact(Cow::Borrowed(query)),
            }
        } else {
            self.traversal_scorer(query)
        }
    }

    /// A traversal scorer centred on a stored node, for the neighbour-selection heuristic.
    pub fn slot_scorer(&self, slot: u32) -> Scorer<'_> {
        match &self.quantized {
            Some(rows) => {
                let vector = self.row_vector(slot);
                Scorer {
                    store: self,
                    kind: ScorerKind::Quantized {
                        query: rows.quantizer.prepare(&vector),
                        query_norm_squared: crate::distance::dot(&vector, &vector),
                    },
                }
            }
            None => Scorer {
                store: self,
                kind: ScorerKind::Exact(Cow::Borrowed(self.exact_row(slot))),
            },
        }
    }

    /// Trains the quantizer on the given slots and encodes every row. The originals are dropped
    /// unless they are kept for re-ranking.
    pub fn train(&mut self, training_slots: &[u32], keep_exact: bool) {
        let Some(exact) = &self.exact else {
            // Without originals, re-training would quantize an already quantized signal.
            return;
        };
        let dimensions = self.dimensions;
        let quantizer = Sq8Quantizer::train(
            dimensions,
            training_slots.iter().map(|slot| {
                let start = *slot as usize * dimensions;
                &exact[start..start + dimensions]
            }),
        );
        let mut codes = vec![0u8; self.rows * dimensions];
        let mut norms_squared = Vec::new();
        for (row, row_codes) in exact
            .chunks_exact(dimensions)
            .zip(codes.chunks_exact_mut(dimensions))
        {
            quantizer.encode(row, row_codes);
            if self.metric == Metric::L2 {
                norms_squared.push(decoded_norm_squared(&quantizer, row_codes));
            }
        }
        self.quantized = Some(QuantizedRows {
            quantizer,
            codes,
            norms_squared,
        });
        if !keep_exact {
            self.exact = None;
        }
    }

    /// Keeps only the given slots, in the given order, renumbering them densely from zero.
    pub fn retain_slots(&mut self, kept: &[u32]) {
        let dimensions = self.dimensions;
        if let Some(exact) = &mut self.exact {
            let mut rows = Vec::with_capacity(kept.len() * dimensions);
            for slot in kept {
                let start = *slot as usize * dimensions;
                rows.extend_from_slice(&exact[start..start + dimensions]);
            }
            *exact = rows;
        }
        if let Some(quantized) = &mut self.quantized {
            let mut codes = Vec::with_capacity(kept.len() * dimensions);
            for slot in kept {
                let start = *slot as usize * dimensions;
                codes.extend_from_slice(&quantized.codes[start..start + dimensions]);
            }
            quantized.codes = codes;
            if !quantized.norms_squared.is_empty() {
                quantized.norms_squared = kept
                    .iter()
                    .map(|slot| quantized.norms_squared[*slot as usize])
                    .collect();
            }
        }
        self.rows = kept.len();
    }

    pub fn shrink_to_fit(&mut self) {
        if let Some(exact) = &mut self.exact {
            exact.shrink_to_fit();
        }
        if let Some(rows) = &mut self.quantized {
            rows.codes.shrink_to_fit();
            rows.norms_squared.shrink_to_fit();
        }
    }

    /// The codes of `slots`, copied together in that order; `None` without codes.
    pub fn gather_codes(&self, slots: &[u32]) -> Option<Vec<u8>> {
        let rows = self.quantized.as_ref()?;
        let mut codes = Vec::with_capacity(slots.len() * self.dimensions);
        for slot in slots {
            codes.extend_from_slice(rows.codes_row(*slot, self.dimensions));
        }
        Some(codes)
    }

    /// Bytes of full-precision rows.
    pub fn exact_bytes(&self) -> usize {
        self.exact
            .as_ref()
            .map_or(0, |exact| exact.capacity() * size_of::<f32>())
    }

    /// Bytes of codes, per-row norms and the quantizer's tables.
    pub fn quantized_bytes(&self) -> usize {
        self.quantized.as_ref().map_or(0, |rows| {
            rows.codes.capacity()
                + rows.norms_squared.capacity() * size_of::<f32>()
                + rows.quantizer.heap_bytes()
        })
    }
}

fn decoded_norm_squared(quantizer: &Sq8Quantizer, codes: &[u8]) -> f32 {
    let mut decoded = vec![0.0; codes.len()];
    quantizer.decode(codes, &mut decoded);
    crate::distance::dot(&decoded, &decoded)
}
