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
                let dimensions = store.dimensions;
                let start = slot as usize * dimensions;
                let dot = query.dot(&rows.codes[start..start + dimensions]);
                match store.metric {
                    Metric::Cosine => 1.0 - dot,
                    Metric::L2 => {
                        query_norm_squared + rows.norms_squared[slot as usize] - 2.0 * dot
                    }
                }
            }
        }
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
