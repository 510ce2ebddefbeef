//! The index: external ids, tombstones, storage and graph, and the operations over them.

use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use crate::distance::{Metric, prepare_vector};
use crate::error::{Error, Result};
use crate::filter::{
    Filter, Plan, PlannerInputs, ResolvedSlots, SELECTIVITY_SAMPLE_MAX, Strategy, StrategyChoice,
    TWO_HOP_SELECTIVITY_MAX, plan, widened_ef,
};
use crate::graph::{
    BuildParams, Graph, LEVELS_MAX, Scored, SlotBits, SplitMix64, select_neighbors,
};
use crate::oplog::Op;
use crate::slot_map::{self, SlotMap};
use crate::store::{Scorer, VectorStore};
use crate::{
    DIMENSIONS_MAX, EF_MAX, NEIGHBORS_PER_NODE_MAX, NEIGHBORS_PER_NODE_MIN, RESULTS_MAX, SLOTS_MAX,
    SQ8_TRAINING_VECTORS_MAX,
};

/// How vectors are held for graph traversal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantization {
    /// Full-precision `f32` everywhere.
    None,
    /// One byte per dimension for traversal. With `rerank`, the `f32` originals are also kept and
    /// the final candidates are re-scored exactly; without it they are dropped after training and
    /// distances stay approximate.
    Sq8 { rerank: bool },
}

/// Everything that shapes an index. `IndexConfig::new` gives defaults that reach about 0.95–0.99
/// recall@10 on embedding-like data.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexConfig {
    pub dimensions: usize,
    pub metric: Metric,
    pub quantization: Quantization,
    /// M in the HNSW paper: links a node keeps on each upper layer. Layer 0 keeps `2·M`.
    pub neighbors_per_node: usize,
    /// Beam width while inserting; wider builds a better graph, more slowly.
    pub ef_construction: usize,
    /// Default beam width while searching; raised to `k` when `k` is larger.
    pub ef_search: usize,
    /// Top up each link row with the closest candidates the heuristic discarded.
    pub keep_pruned_connections: bool,
    /// Seeds level assignment, so that a given seed and insertion order always build the same graph.
    pub seed: u64,
    /// In SQ8 mode, the quantizer is trained once this many vectors have arrived; until then the
    /// index searches in full precision.
    pub sq8_training_vectors: usize,
    /// The planner always scans when at most this many vectors are allowed. Above it, it still
    /// scans when its cost model says a scan is cheaper than filtering inside the graph.
    pub filter_exact_count_max: usize,
    /// The planner always scans when at most this fraction of live vectors is allowed.
    pub filter_exact_selectivity_max: f64,
}

impl IndexConfig {
    pub fn new(dimensions: usize, metric: Metric) -> Self {
        Self {
            dimensions,
            metric,
            quantization: Quantization::None,
            neighbors_per_node: 16,
            ef_construction: 200,
            ef_search: 64,
            keep_pruned_connections: true,
            seed: 0x7472_656c_6c69_7321,
            sq8_training_vectors: 1_024,
            // An unfiltered graph search with ef 64 and M 16 computes about 1,000–2,000
            // distances, so scanning this many costs no more than one graph search.
            filter_exact_count_max: 2_048,
            filter_exact_selectivity_max: 0.02,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let invalid = |reason| Err(Error::InvalidConfig { reason });
        if self.dimensions == 0 || self.dimensions > DIMENSIONS_MAX {
            return invalid("dimensions must be between 1 and DIMENSIONS_MAX");
        }
        if !(NEIGHBORS_PER_NODE_MIN..=NEIGHBORS_PER_NODE_MAX).contains(&self.neighbors_per_node) {
            return invalid(
                "neighbors_per_node must be between NEIGHBORS_PER_NODE_MIN and NEIGHBORS_PER_NODE_MAX",
            );
        }
        if self.ef_construction == 0 || self.ef_construction > EF_MAX {
            return invalid("ef_construction must be between 1 and EF_MAX");
        }
        if self.ef_search == 0 || self.ef_search > EF_MAX {
            return invalid("ef_search must be between 1 and EF_MAX");
        }
        if self.sq8_training_vectors == 0 || self.sq8_training_vectors > SQ8_TRAINING_VECTORS_MAX {
            return invalid("sq8_training_vectors must be between 1 and SQ8_TRAINING_VECTORS_MAX");
        }
        if !(0.0..=1.0).contains(&self.filter_exact_selectivity_max) {
            return invalid("filter_exact_selectivity_max must be between 0 and 1");
        }
        Ok(())
    }
}

/// Per-search knobs beyond the query and `k`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchOptions<'a> {
    pub filter: Option<Filter<'a>>,
    /// Overrides the configured beam width for this search.
    pub ef_search: Option<usize>,
    /// Overrides the planner, for benchmarks and tests.
    pub strategy: StrategyChoice,
}

/// One result: the caller's id and its distance under the index's metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub distance: f32,
}

/// The answer to a search, with how it was obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResult {
    /// At most `k` hits, closest first.
    pub hits: Vec<Hit>,
    pub strategy: Strategy,
    /// The estimated fraction of live vectors the filter allows; 1.0 without a filter.
    pub selectivity: f64,
    /// The beam width the graph search used; 0 for a scan.
    pub ef_used: usize,
    /// Distances computed, in any precision, as a machine-independent cost measure.
    pub distance_computations: usize,
    /// True when the hits' distances are full precision (f32 mode, or SQ8 with re-ranking).
    pub exact_distances: bool,
}

/// Bytes held in memory, by component, counting allocated capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Link rows, levels and offsets.
    pub graph_bytes: usize,
    /// Full-precision vectors that traversal reads (f32 mode, or SQ8 before training).
    pub vectors_bytes: usize,
    /// SQ8 codes, per-row norms and quantizer tables that traversal reads.
    pub codes_bytes: usize,
    /// Full-precision vectors kept only for re-ranking in SQ8 mode.
    pub rerank_bytes: usize,
    /// External ids, the id-to-slot map and tombstone flags.
    pub ids_bytes: usize,
}

impl MemoryReport {
    /// What a search must keep hot: everything but the re-ranking store.
    pub fn traversal_bytes(&self) -> usize {
        self.graph_bytes + self.vectors_bytes + self.codes_bytes + self.ids_bytes
    }

    pub fn total_bytes(&self) -> usize {
        self.traversal_bytes() + self.rerank_bytes
    }
}

/// Counts and sizes for dashboards and capacity planning.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub live_vectors: usize,
    pub tombstones: usize,
    /// Live vectors plus tombstones: what the graph and storage hold.
    pub slots: usize,
    pub dimensions: usize,
    pub metric: Metric,
    pub quantization: Quantization,
    /// False in SQ8 mode until `sq8_training_vectors` have arrived.
    pub quantizer_trained: bool,
    pub max_level: usize,
    pub memory: MemoryReport,
}

/// A search's filter, with the allowed set's slots when it is an explicit set.
struct ActiveFilter<'a> {
    filter: &'a Filter<'a>,
    resolved: Option<&'a ResolvedSlots>,
}

/// An SQ8 scan with re-ranking keeps `max(k · SCAN_RERANK_FACTOR, k + SCAN_RERANK_EXTRA)`
/// candidates by their codes and re-scores them exactly. The true top 10 of WordNet's vectors
/// all ranked within the top 40 by codes; the extra covers small `k`.
const SCAN_RERANK_FACTOR: usize = 4;
const SCAN_RERANK_EXTRA: usize = 32;

/// The largest copy of codes an allowed set keeps for scanning (`ResolvedSlots::gathered_codes`):
/// 16 MiB is about 44,000 rows of 384 dimensions, far more than the planner ever scans.
/// Scanning a 1% set of WordNet's codes from one block instead of scattered rows measured
/// about 1.5x faster.
const GATHERED_CODES_BYTES_MAX: usize = 16 << 20;

/// Slots an unresolved scan gathers before scoring them, four rows at a time.
const SCAN_BLOCK_SLOTS: usize = 256;

/// A graph-based approximate-nearest-neighbour index over caller-chosen `u64` ids.
///
/// Mutation takes `&mut self` and search `&self`; the type is `Send + Sync`, so callers that
/// search while inserting wrap it in a `RwLock`.
#[derive(Clone, Debug)]
pub struct Index {
    pub(crate) config: IndexConfig,
    /// External id by slot; tombstoned slots keep theirs for diagnostics.
    pub(crate) ids: Vec<u64>,
    /// Slot by external id, for live vectors only.
    pub(crate) slot_of: SlotMap,
    pub(crate) deleted: Vec<bool>,
    pub(crate) tombstones: usize,
    pub(crate) graph: Graph,
    pub(crate) store: VectorStore,
    pub(crate) level_rng: SplitMix64,
    /// Names this index's current contents: drawn afresh from a process-wide counter on creation
    /// and on every change, so no two different states ever share one (a clone shares its
    /// original's only until either changes). Allowed sets key their resolved slots by it.
    pub(crate) state_id: u64,
}

/// A state id never used before in this process.
pub(crate) fn next_state_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, AtomicOrdering::Relaxed)
}

impl Index {
    /// An empty index; fails with `invalid_config` if a setting is out of range.
    pub fn new(config: IndexConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            ids: Vec::new(),
            slot_of: slot_map::with_capacity(0),
            deleted: Vec::new(),
            tombstones: 0,
            graph: Graph::new(config.neighbors_per_node),
            store: VectorStore::new(config.metric, config.dimensions),
            level_rng: SplitMix64 { state: config.seed },
            state_id: next_state_id(),
            config,
        })
    }

    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// The number of live (not deleted) vectors.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.slot_of.contains_key(&id)
    }

    /// The stored vector for `id`: normalized under cosine, and decoded from its codes when SQ8
    /// dropped the originals.
    pub fn vector(&self, id: u64) -> Option<Vec<f32>> {
        self.slot_of
            .get(&id)
            .map(|slot| self.store.row_vector(*slot))
    }

    /// Adds a new vector; fails with `duplicate_id` if `id` is live.
    pub fn insert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        let prepared = prepare_vector(self.config.metric, self.config.dimensions, vector)?;
        if self.contains(id) {
            return Err(Error::DuplicateId { id });
        }
        self.check_capacity()?;
        self.insert_prepared(id, &prepared);
        Ok(())
    }

    /// Replaces the vector of a live id; fails with `not_found` otherwise.
    pub fn update(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        if !self.contains(id) {
            return Err(Error::NotFound { id });
        }
        self.upsert(id, vector)
    }

    /// Inserts or replaces. A replaced vector becomes a tombstone and the new one is inserted
    /// afresh, because moving a node in place would leave its links pointing the wrong way.
    pub fn upsert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        let prepared = prepare_vector(self.config.metric, self.config.dimensions, vector)?;
        self.check_capacity()?;
        self.delete(id);
        self.insert_prepared(id, &prepared);
        Ok(())
    }

    /// Marks `id` deleted. Its node stays in the graph for navigation until `compact()`, but is
    /// never returned. Returns whether `id` was live.
    pub fn delete(&mut self, id: u64) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else {
            return false;
        };
        self.deleted[slot as usize] = true;
        self.tombstones += 1;
        self.state_id = next_state_id();
        true
    }

    /// Applies one operation-log record. Inserts act as upserts and deleting an absent id is a
    /// no-op, so replaying a log over a snapshot that already contains some of it is harmless.
    pub fn apply(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::Insert { id, vector } => self.upsert(*id, vector),
            Op::Delete { id } => {
                self.delete(*id);
                Ok(())
            }
        }
    }

    fn check_capacity(&self) -> Result<()> {
        if self.graph.slots() >= SLOTS_MAX || self.graph.upper_is_full(LEVELS_MAX) {
            return Err(Error::CapacityExceeded { limit: SLOTS_MAX });
        }
        Ok(())
    }

    fn insert_prepared(&mut self, id: u64, vector: &[f32]) {
        self.state_id = next_state_id();
        let level = self.level_rng.next_level(self.config.neighbors_per_node);
        self.store.push(vector);
        let slot = self.graph.push_node(level);
        self.ids.push(id);
        self.deleted.push(false);
        self.slot_of.insert(id, slot);
        let params = BuildParams {
            ef_construction: self.config.ef_construction,
            keep_pruned_connections: self.config.keep_pruned_connections,
        };
        let scorer = self.store.traversal_scorer(vector);
        let deleted = &self.deleted;
        self.graph
            .insert(&self.store, &scorer, slot, &params, &|candidate| {
                !deleted[candidate as usize]
            });
        self.train_quantizer_when_due();
    }

    fn train_quantizer_when_due(&mut self) {
        let Quantization::Sq8 { rerank } = self.config.quantization else {
            return;
        };
        if self.store.is_quantized() || self.graph.slots() < self.config.sq8_training_vectors {
            return;
        }
        let live = self.live_slots();
        self.store.train(&live, rerank);
    }

    fn live_slots(&self) -> Vec<u32> {
        (0..self.graph.slots() as u32)
            .filter(|slot| !self.deleted[*slot as usize])
            .collect()
    }

    /// The `k` nearest live vectors.
    pub fn search(&self, query: &[f32], k: usize) -> Result<SearchResult> {
        self.search_with(query, k, &SearchOptions::default())
    }

    /// The `k` nearest live vectors that `filter` allows; the planner picks the strategy.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter<'_>,
    ) -> Result<SearchResult> {
        let options = SearchOptions {
            filter: Some(*filter),
            ..SearchOptions::default()
        };
        self.search_with(query, k, &options)
    }

    /// The general search: an optional filter, a beam width and a strategy override.
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<SearchResult> {
        let query = prepare_vector(self.config.metric, self.config.dimensions, query)?;
        if k > RESULTS_MAX {
            return Err(Error::LimitExceeded {
                what: "k",
                value: k,
                limit: RESULTS_MAX,
            });
        }
        let ef = options.ef_search.unwrap_or(self.config.ef_search);
        if ef == 0 || ef > EF_MAX {
            return Err(Error::LimitExceeded {
                what: "ef_search",
                value: ef,
                limit: EF_MAX,
            });
        }
        let live = self.len();
        let resolved = match options.filter {
            Some(Filter::Allowed(set)) => {
                Some(set.resolved(self.state_id, |ids| self.resolve(ids)))
            }
            _ => None,
        };
        let allowed_estimate = match options.filter {
            None => live,
            // Resolving the set counted exactly the allowed ids that are live here.
            Some(Filter::Allowed(_)) => resolved.as_ref().map_or(0, |r| r.slots.len()),
            Some(Filter::Predicate {
                allowed_count_estimate: Some(estimate),
                ..
            }) => estimate,
            Some(Filter::Predicate { allows, .. }) => self.estimate_allowed(allows),
        };
        let inputs = PlannerInputs {
            exact_count_max: self.config.filter_exact_count_max,
            exact_selectivity_max: self.config.filter_exact_selectivity_max,
            neighbors_per_node: self.config.neighbors_per_node,
            ef: ef.max(k),
        };
        let plan = plan(
            options.strategy,
            options.filter.is_some(),
            allowed_estimate,
            live,
            &inputs,
        );
        if k == 0 || live == 0 {
            return Ok(SearchResult {
                hits: Vec::new(),
                strategy: plan.strategy,
                selectivity: plan.selectivity,
                ef_used: 0,
                distance_computations: 0,
                exact_distances: self.store.exact.is_some(),
            });
        }
        let filter = options.filter.as_ref().map(|filter| ActiveFilter {
            filter,
            resolved: resolved.as_deref(),
        });
        match plan.strategy {
            Strategy::Exact => Ok(self.scan(&query, k, filter.as_ref(), plan)),
            Strategy::Graph | Strategy::GraphFiltered => {
                Ok(self.graph_search(&query, k, ef, filter.as_ref(), plan))
            }
        }
    }

    /// Estimates how many live vectors a predicate allows from a sample of slots. The sample is
    /// pseudo-random rather than evenly spaced, because permissions often follow id patterns
    /// (every n-th document) that a fixed stride would alias with.
    fn estimate_allowed(&self, allows: &dyn Fn(u64) -> bool) -> usize {
        let slots = self.graph.slots();
        if slots <= SELECTIVITY_SAMPLE_MAX {
            return (0..slots)
                .filter(|slot| !self.deleted[*slot] && allows(self.ids[*slot]))
                .count();
        }
        // A fixed seed keeps the plan, and so the result, the same for the same index.
        let mut positions = SplitMix64 { state: 0x5eed };
        let (mut sampled, mut allowed) = (0usize, 0usize);
        for _ in 0..SELECTIVITY_SAMPLE_MAX {
            let slot = (positions.next_u64() % slots as u64) as usize;
            if !self.deleted[slot] {
                sampled += 1;
                allowed += usize::from(allows(self.ids[slot]));
            }
        }
        if sampled == 0 {
            // Nothing live in the sample says nothing about the filter; assume it is broad.
            return self.len();
        }
        (allowed as f64 / sampled as f64 * self.len() as f64).ceil() as usize
    }

    /// The live slots of `ids`, for `AllowedSet::resolved`.
    fn resolve(&self, ids: &[u64]) -> ResolvedSlots {
        let mut slots: Vec<u32> = ids
            .iter()
            .filter_map(|id| self.slot_of.get(id).copied())
            .collect();
        slots.sort_unstable();
        let mut bits = SlotBits::new(self.graph.slots());
        for slot in &slots {
            bits.insert(*slot);
        }
        ResolvedSlots {
            state_id: self.state_id,
            slots,
            bits,
            gathered_codes: OnceLock::new(),
        }
    }

    /// Layer 0 of a graph search: two-hop for restrictive filters, the paper's walk otherwise.
    // The walk's inputs plus its per-search state, as in `Graph::search_layer`.
    #[allow(clippy::too_many_arguments)]
    fn walk_layer0(
        &self,
        scorer: &Scorer<'_>,
        entry: Scored,
        ef: usize,
        two_hop: bool,
        accept: &impl Fn(u32) -> bool,
        distance_computations: &mut usize,
    ) -> Vec<Scored> {
        let mut visited = SlotBits::new(self.graph.slots());
        if two_hop {
            self.graph.search_layer_two_hop(
                scorer,
                entry,
                ef,
                accept,
                &mut visited,
                distance_computations,
            )
        } else {
            self.graph.search_layer(
                scorer,
                &[entry],
                ef,
                0,
                accept,
                &mut visited,
                distance_computations,
            )
        }
    }

    /// `walk_layer0` with the membership test for `filter`, each kind monomorphized so that the
    /// test is inlined into the walk.
    fn walk_filtered(
        &self,
        scorer: &Scorer<'_>,
        entry: Scored,
        ef: usize,
        two_hop: bool,
        filter: Option<&ActiveFilter<'_>>,
        distance_computations: &mut usize,
    ) -> Vec<Scored> {
        match filter {
            Some(ActiveFilter {
                resolved: Some(resolved),
                ..
            }) => self.walk_layer0(
                scorer,
                entry,
                ef,
                two_hop,
                &|slot| resolved.bits.contains(slot),
                distance_computations,
            ),
            Some(filter) => self.walk_layer0(
                scorer,
                entry,
                ef,
                two_hop,
                &|slot| self.allows(filter, slot),
                distance_computations,
            ),
            None => self.walk_layer0(
                scorer,
                entry,
                ef,
                false,
                &|slot| !self.deleted[slot as usize],
                distance_computations,
            ),
        }
    }

    fn graph_search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&ActiveFilter<'_>>,
        plan: Plan,
    ) -> SearchResult {
        let two_hop = filter.is_some() && plan.selectivity < TWO_HOP_SELECTIVITY_MAX;
        let mut ef_used = ef.max(k);
        if filter.is_some() && !two_hop {
            ef_used = widened_ef(ef_used, plan.selectivity, EF_MAX);
        }
        let scorer = self.store.traversal_scorer(query);
        let mut distance_computations = 1usize;
        let Some(entry_point) = self.graph.entry_point else {
            unreachable!("a non-empty index has an entry point");
        };
        let mut current = Scored {
            distance: scorer.distance(entry_point),
            slot: entry_point,
        };
        for layer in (1..=usize::from(self.graph.max_level)).rev() {
            current =
                self.graph
                    .greedy_closest(&scorer, current, layer, &mut distance_computations);
        }
        let mut found = self.walk_filtered(
            &scorer,
            current,
            ef_used,
            two_hop,
            filter,
            &mut distance_computations,
        );
        if two_hop && found.len() < k {
            // The allowed nodes the two-hop walk could reach ran out: walk again through the
            // rejected nodes too, which reaches every allowed node connected to the entry.
            ef_used = widened_ef(ef.max(k), plan.selectivity, EF_MAX);
            found = self.walk_filtered(
                &scorer,
                current,
                ef_used,
                false,
                filter,
                &mut distance_computations,
            );
        }
        let allowed_estimate = plan.selectivity * self.len() as f64;
        if filter.is_some()
            && found.len() < k
            && plan.choice == StrategyChoice::Auto
            && allowed_estimate >= k as f64
        {
            // Even that found fewer than k while the filter should allow more (the graph is not
            // guaranteed connected): a scan finds every one.
            let fallback = Plan {
                strategy: Strategy::Exact,
                ..plan
            };
            let mut result = self.scan(query, k, filter, fallback);
            result.distance_computations += distance_computations;
            return result;
        }
        let exact_distances = self.store.exact.is_some();
        if self.store.can_rerank() {
            // The beam holds far more than k candidates; scoring them all exactly recovers the
            // order that quantization blurred.
            self.rescore_exactly(query, &mut found);
            distance_computations += found.len();
        }
        found.truncate(k);
        SearchResult {
            hits: self.hits(&found),
            strategy: plan.strategy,
            selectivity: plan.selectivity,
            ef_used,
            distance_computations,
            exact_distances,
        }
    }

    /// Whether a live or deleted `slot` may be returned under `filter`.
    #[inline]
    fn allows(&self, filter: &ActiveFilter<'_>, slot: u32) -> bool {
        match filter.resolved {
            // Resolution kept live slots only, so the bits already exclude tombstones; testing
            // a bit is what makes a filtered walk affordable next to a binary search per node.
            Some(resolved) => resolved.bits.contains(slot),
            None => !self.deleted[slot as usize] && filter.filter.allows(self.ids[slot as usize]),
        }
    }

    /// Scores every allowed live vector, in full precision when the originals are kept.
    fn scan(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&ActiveFilter<'_>>,
        plan: Plan,
    ) -> SearchResult {
        // With SQ8 and re-ranking, the scan reads the codes, a quarter of the bytes, and keeps
        // a few times k candidates to score exactly at the end; otherwise it reads whatever
        // precision the store holds and keeps k.
        let rerank = self.store.can_rerank();
        let keep = if rerank {
            (k * SCAN_RERANK_FACTOR).max(k + SCAN_RERANK_EXTRA)
        } else {
            k
        };
        let scorer = if rerank {
            self.store.traversal_scorer(query)
        } else {
            self.store.precise_scorer(query)
        };
        let mut best: BinaryHeap<Scored> = BinaryHeap::with_capacity(keep + 1);
        let mut distance_computations = 0usize;
        let mut consider = |slot: u32, distance: f32| {
            let candidate = Scored { distance, slot };
            distance_computations += 1;
            if best.len() < keep {
                best.push(candidate);
            } else if best.peek().is_some_and(|worst| candidate < *worst) {
                best.pop();
                best.push(candidate);
            }
            true
        };
        match filter.and_then(|filter| filter.resolved) {
            Some(resolved) => {
                let gathered = if rerank {
                    resolved
                        .gathered_codes
                        .get_or_init(|| {
                            let bytes = resolved.slots.len() * self.config.dimensions;
                            (bytes <= GATHERED_CODES_BYTES_MAX)
                                .then(|| self.store.gather_codes(&resolved.slots))
                                .flatten()
                        })
                        .as_deref()
                } else {
                    None
                };
                match gathered {
                    Some(codes) => scorer.each_distance_gathered(codes, &resolved.slots, consider),
                    None => scorer.each_distance_streaming(&resolved.slots, |slot, distance| {
                        consider(slot, distance);
                    }),
                }
            }
            None => {
                // Slots are gathered in blocks so that rows are still scored four at a time.
                let mut block: Vec<u32> = Vec::with_capacity(SCAN_BLOCK_SLOTS);
                for slot in 0..self.graph.slots() as u32 {
                    let eligible = match filter {
                        None => !self.deleted[slot as usize],
                        Some(filter) => self.allows(filter, slot),
                    };
                    if eligible {
                        block.push(slot);
                    }
                    if block.len() == SCAN_BLOCK_SLOTS {
                        scorer.each_distance(&block, &mut consider);
                        block.clear();
                    }
                }
                scorer.each_distance(&block, &mut consider);
            }
        }
        let mut found = best.into_sorted_vec();
        if rerank {
            self.rescore_exactly(query, &mut found);
            distance_computations += found.len();
            found.truncate(k);
        }
        SearchResult {
            hits: self.hits(&found),
            strategy: plan.strategy,
            selectivity: plan.selectivity,
            ef_used: 0,
            distance_computations,
            exact_distances: self.store.exact.is_some(),
        }
    }

    /// Replaces SQ8 distances with full-precision ones and re-sorts. The candidates' rows are
    /// scattered, so they are scored together, their reads overlapping.
    fn rescore_exactly(&self, query: &[f32], candidates: &mut [Scored]) {
        let slots: Vec<u32> = candidates.iter().map(|candidate| candidate.slot).collect();
        let mut distances = Vec::with_capacity(slots.len());
        self.store
            .precise_scorer(query)
            .distances(&slots, &mut distances);
        for (candidate, distance) in candidates.iter_mut().zip(distances) {
            candidate.distance = distance;
        }
        candidates.sort_unstable();
    }

    fn hits(&self, scored: &[Scored]) -> Vec<Hit> {
        scored
            .iter()
            .map(|candidate| Hit {
                id: self.ids[candidate.slot as usize],
                distance: candidate.distance,
            })
            .collect()
    }

    /// Removes every tombstone and renumbers slots densely.
    ///
    /// Up to half the slots being tombstones, links into deleted nodes are repaired the way
    /// FreshDiskANN consolidates deletes: a node that pointed at a deleted node considers that
    /// node's live neighbours instead, and the selection heuristic picks the new row. That keeps
    /// the graph navigable at a fraction of the cost of a rebuild. Beyond half, most second-hop
    /// neighbours are deleted too and repair leaves islands, so the graph is rebuilt from the
    /// survivors instead, at a cost proportional to what is left. Either way, nodes that layer 0
    /// can no longer reach from the entry point are then re-linked by searching for them.
    ///
    /// In SQ8 mode with re-ranking, the quantizer is retrained on the surviving vectors so that
    /// drifted data gets its ranges back.
    pub fn compact(&mut self) {
        if self.tombstones == 0 {
            return;
        }
        self.state_id = next_state_id();
        let kept = self.live_slots();
        let rebuild = self.tombstones >= kept.len();
        if !rebuild {
            self.repair_links_around_tombstones(&kept);
        }
        self.renumber(&kept);
        if rebuild {
            self.rebuild_graph();
        }
        self.relink_unreachable();
    }

    fn build_params(&self) -> BuildParams {
        BuildParams {
            ef_construction: self.config.ef_construction,
            keep_pruned_connections: self.config.keep_pruned_connections,
        }
    }

    /// Replaces every link to a tombstone with the best of the tombstone's live neighbours.
    fn repair_links_around_tombstones(&mut self, kept: &[u32]) {
        let keep_pruned_connections = self.config.keep_pruned_connections;
        let is_deleted = |slot: u32| self.deleted[slot as usize];
        // Compute every repaired row against the unrepaired graph first, so the result does not
        // depend on the order nodes are visited in.
        let mut repaired: Vec<(u32, usize, Vec<u32>)> = Vec::new();
        let mut orphans: Vec<(u32, usize)> = Vec::new();
        for &slot in kept {
            for layer in 0..=usize::from(self.graph.levels[slot as usize]) {
                let links = self.graph.neighbors(slot, layer);
                if !links.iter().any(|link| is_deleted(*link)) {
                    continue;
                }
                let mut pool_slots: Vec<u32> = Vec::new();
                for &link in links {
                    if !is_deleted(link) {
                        pool_slots.push(link);
                    } else {
                        pool_slots.extend(
                            self.graph
                                .neighbors(link, layer)
                                .iter()
                                .filter(|second| !is_deleted(**second) && **second != slot),
                        );
                    }
                }
                pool_slots.sort_unstable();
                pool_slots.dedup();
                if pool_slots.is_empty() {
                    orphans.push((slot, layer));
                    continue;
                }
                let scorer = self.store.slot_scorer(slot);
                let mut pool: Vec<Scored> = pool_slots
                    .iter()
                    .map(|&candidate| Scored {
                        distance: scorer.distance(candidate),
                        slot: candidate,
                    })
                    .collect();
                pool.sort_unstable();
                let selected = select_neighbors(
                    &self.store,
                    &pool,
                    self.graph.capacity(layer),
                    keep_pruned_connections,
                );
                repaired.push((slot, layer, selected.iter().map(|c| c.slot).collect()));
            }
        }
        for (slot, layer, links) in &repaired {
            self.graph.set_neighbors(*slot, *layer, links);
        }
        // A node whose links and second-hop links were all deleted is searched for afresh.
        for (slot, layer) in orphans {
            self.graph.set_neighbors(slot, layer, &[]);
            self.relink(slot, layer);
        }
    }

    /// Rebuilds the graph over the current slots, keeping each node's level so that no level is
    /// drawn twice and the result stays a function of the seed and the operations.
    fn rebuild_graph(&mut self) {
        let levels = std::mem::take(&mut self.graph.levels);
        self.graph = Graph::new(self.config.neighbors_per_node);
        let params = self.build_params();
        for (slot, level) in levels.into_iter().enumerate() {
            let slot = slot as u32;
            self.graph.push_node(level);
            let vector = self.store.row_vector(slot);
            let scorer = self.store.traversal_scorer(&vector);
            self.graph
                .insert(&self.store, &scorer, slot, &params, &|_| true);
        }
    }

    /// Re-links, at layer 0, every node that a walk from the entry point cannot reach. HNSW does
    /// not guarantee reachability; after deletions it is worth restoring because an unreachable
    /// node can never be returned by a graph search.
    fn relink_unreachable(&mut self) {
        // Each round can only connect more nodes; two rounds catch islands that the first round's
        // new links did not reach, and the bound keeps compaction's cost predictable.
        for _ in 0..2 {
            let Some(entry_point) = self.graph.entry_point else {
                return;
            };
            let mut reached = SlotBits::new(self.graph.slots());
            reached.insert(entry_point);
            let mut frontier = vec![entry_point];
            let mut reached_count = 1usize;
            while let Some(slot) = frontier.pop() {
                for &link in self.graph.neighbors(slot, 0) {
                    if reached.insert(link) {
                        reached_count += 1;
                        frontier.push(link);
                    }
                }
            }
            if reached_count == self.graph.slots() {
                return;
            }
            let unreached: Vec<u32> = (0..self.graph.slots() as u32)
                .filter(|slot| !reached.contains(*slot))
                .collect();
            for slot in unreached {
                self.relink(slot, 0);
            }
        }
    }

    /// Finds links for one node on one layer by searching the graph for its own vector, keeping
    /// the best of those and its current links, and links back so it can be found again.
    fn relink(&mut self, slot: u32, layer: usize) {
        let Some(entry_point) = self.graph.entry_point else {
            return;
        };
        let params = self.build_params();
        let vector = self.store.row_vector(slot);
        let scorer = self.store.traversal_scorer(&vector);
        let mut distance_computations = 0usize;
        let mut current = Scored {
            distance: scorer.distance(entry_point),
            slot: entry_point,
        };
        for upper in (layer + 1..=usize::from(self.graph.max_level)).rev() {
            current =
                self.graph
                    .greedy_closest(&scorer, current, upper, &mut distance_computations);
        }
        let deleted = &self.deleted;
        let accept = |candidate: u32| candidate != slot && !deleted[candidate as usize];
        let mut visited = SlotBits::new(self.graph.slots());
        let mut found = self.graph.search_layer(
            &scorer,
            &[current],
            params.ef_construction,
            layer,
            &accept,
            &mut visited,
            &mut distance_computations,
        );
        for &link in self.graph.neighbors(slot, layer) {
            if !found.iter().any(|candidate| candidate.slot == link) {
                found.push(Scored {
                    distance: scorer.distance(link),
                    slot: link,
                });
            }
        }
        found.sort_unstable();
        let selected = select_neighbors(
            &self.store,
            &found,
            self.graph.capacity(layer),
            params.keep_pruned_connections,
        );
        let links: Vec<u32> = selected.iter().map(|c| c.slot).collect();
        self.graph.set_neighbors(slot, layer, &links);
        for link in links {
            self.graph
                .link_back(&self.store, link, slot, layer, &params);
        }
    }

    /// Drops tombstoned slots from every structure, renumbering the `kept` slots `0..n` in order.
    fn renumber(&mut self, kept: &[u32]) {
        let mut new_slot = vec![u32::MAX; self.graph.slots()];
        for (new, old) in kept.iter().enumerate() {
            new_slot[*old as usize] = new as u32;
        }
        let old_graph =
            std::mem::replace(&mut self.graph, Graph::new(self.config.neighbors_per_node));
        for old in kept {
            self.graph.push_node(old_graph.levels[*old as usize]);
        }
        for (new, old) in kept.iter().enumerate() {
            for layer in 0..=usize::from(old_graph.levels[*old as usize]) {
                let links: Vec<u32> = old_graph
                    .neighbors(*old, layer)
                    .iter()
                    .map(|link| new_slot[*link as usize])
                    .filter(|link| *link != u32::MAX)
                    .collect();
                self.graph.set_neighbors(new as u32, layer, &links);
            }
        }
        let entry = old_graph
            .entry_point
            .filter(|entry| new_slot[*entry as usize] != u32::MAX)
            .map(|entry| new_slot[entry as usize])
            .or_else(|| {
                // The first node on the highest remaining level becomes the entry point.
                let top = self.graph.levels.iter().copied().max()?;
                let position = self.graph.levels.iter().position(|level| *level == top)?;
                Some(position as u32)
            });
        self.graph.entry_point = entry;
        self.graph.max_level = entry.map_or(0, |entry| self.graph.levels[entry as usize]);

        self.store.retain_slots(kept);
        self.ids = kept.iter().map(|old| self.ids[*old as usize]).collect();
        self.deleted = vec![false; kept.len()];
        self.tombstones = 0;
        self.slot_of = self
            .ids
            .iter()
            .enumerate()
            .map(|(slot, id)| (*id, slot as u32))
            .collect();
        if let Quantization::Sq8 { rerank } = self.config.quantization
            && self.store.is_quantized()
            && self.store.exact.is_some()
        {
            let all: Vec<u32> = (0..kept.len() as u32).collect();
            self.store.train(&all, rerank);
        }
    }

    /// Releases the spare capacity that growing by inserts leaves in every array (up to half of
    /// it right after a doubling), for an index that is built once and then mostly searched.
    /// Later inserts grow the arrays again as needed.
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.slot_of.shrink_to_fit();
        self.deleted.shrink_to_fit();
        self.graph.shrink_to_fit();
        self.store.shrink_to_fit();
    }

    pub fn stats(&self) -> Stats {
        let exact_bytes = self.store.exact_bytes();
        let quantized = self.store.is_quantized();
        let hash_entry_bytes = size_of::<(u64, u32)>() + 1;
        let memory = MemoryReport {
            graph_bytes: self.graph.heap_bytes(),
            vectors_bytes: if quantized { 0 } else { exact_bytes },
            codes_bytes: self.store.quantized_bytes(),
            rerank_bytes: if quantized { exact_bytes } else { 0 },
            ids_bytes: self.ids.capacity() * size_of::<u64>()
                + self.deleted.capacity()
                + self.slot_of.capacity() * hash_entry_bytes,
        };
        Stats {
            live_vectors: self.len(),
            tombstones: self.tombstones,
            slots: self.graph.slots(),
            dimensions: self.config.dimensions,
            metric: self.config.metric,
            quantization: self.config.quantization,
            quantizer_trained: quantized,
            max_level: usize::from(self.graph.max_level),
            memory,
        }
    }
}
