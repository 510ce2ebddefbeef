//! The HNSW graph (Malkov & Yashunin, 2016): adjacency by dense `u32` slot, layered search and
//! the neighbour-selection heuristic.
//!
//! Layer 0 holds every node with a fixed-capacity row of `2·M` links, stored flat so that a
//! search touches one contiguous block per node. Only about one node in `M` has upper layers, so
//! those rows live in a second flat array reached through a per-node offset.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::store::{Scorer, VectorStore};

/// `u32` words in a 64-byte cache line.
const WORDS_PER_CACHE_LINE: usize = 16;

/// Marks a node without upper layers in `upper_offsets`.
const NO_UPPER: u32 = u32::MAX;

/// The highest layer a node can be assigned. With `M >= 2` the chance of reaching it is below
/// one in a billion per node, so the cap only guards the `u8` level against a freak draw.
pub(crate) const LEVELS_MAX: u8 = 30;

/// A slot and its distance to whatever is being searched for, ordered by distance and then by
/// slot so that every ordering (and so every result) is deterministic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    pub distance: f32,
    pub slot: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.slot.cmp(&other.slot))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A set of slots as one bit per slot: which slots a search has already seen, or which slots a
/// filter allows. Allocating a fresh one per search stays cheap (15 KB for 120k slots) and keeps
/// `search` free of shared mutable state.
pub(crate) struct SlotBits {
    bits: Vec<u64>,
}

impl SlotBits {
    pub fn new(slots: usize) -> Self {
        Self {
            bits: vec![0; slots.div_ceil(64)],
        }
    }

    pub fn contains(&self, slot: u32) -> bool {
        self.bits[slot as usize / 64] & (1u64 << (slot % 64)) != 0
    }

    /// Marks `slot` if `condition` holds and it was not marked before, returning whether it did,
    /// without a branch on either.
    #[inline]
    pub fn insert_when(&mut self, slot: u32, condition: bool) -> bool {
        let word = &mut self.bits[slot as usize / 64];
        let mask = 1u64 << (slot % 64);
        let fresh = condition & (*word & mask == 0);
        *word |= mask & u64::from(fresh).wrapping_neg();
        fresh
    }

    /// Marks `slot`, returning true if it was not marked before.
    #[inline]
    pub fn insert(&mut self, slot: u32) -> bool {
        let word = &mut self.bits[slot as usize / 64];
        let mask = 1u64 << (slot % 64);
        let fresh = *word & mask == 0;
        *word |= mask;
        fresh
    }
}

/// The two heaps of SEARCH-LAYER: candidates still to expand (closest first) and the best `ef`
/// accepted results so far (furthest on top, so it can be evicted).
struct Beam {
    ef: usize,
    candidates: BinaryHeap<std::cmp::Reverse<Scored>>,
    results: BinaryHeap<Scored>,
}

impl Beam {
    fn new(ef: usize) -> Self {
        Self {
            ef,
            candidates: BinaryHeap::with_capacity(ef * 2),
            results: BinaryHeap::with_capacity(ef + 1),
        }
    }

    /// Whether a node at `distance` could still improve the results.
    #[inline]
    fn admits(&self, distance: f32) -> bool {
        self.results.len() < self.ef
            || self
                .results
                .peek()
                .is_some_and(|furthest| distance < furthest.distance)
    }

    /// Queues `candidate` for expansion, and keeps it as a result if it is `accepted`.
    #[inline]
    fn offer(&mut self, candidate: Scored, accepted: bool) {
        self.candidates.push(std::cmp::Reverse(candidate));
        if accepted {
            self.results.push(candidate);
            if self.results.len() > self.ef {
                self.results.pop();
            }
        }
    }

    /// The closest unexpanded candidate, or `None` once it is further than every result (the
    /// paper's stopping rule) or nothing is left.
    #[inline]
    fn next_to_expand(&mut self) -> Option<Scored> {
        let std::cmp::Reverse(closest) = self.candidates.pop()?;
        if self.results.len() >= self.ef
            && self
                .results
                .peek()
                .is_some_and(|furthest| closest.distance > furthest.distance)
        {
            return None;
        }
        Some(closest)
    }

    fn into_sorted(self) -> Vec<Scored> {
        self.results.into_sorted_vec()
    }
}

/// SplitMix64 (Steele, Lea & Flood, 2014). Its whole state is one counter, so a snapshot can carry
/// it and a reloaded index draws exactly the levels the original would have drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SplitMix64 {
    pub state: u64,
}

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Draws a level from the exponential distribution `floor(-ln(U) · mL)` with `mL = 1/ln(M)`,
    /// which makes each layer about `M` times sparser than the one below.
    pub fn next_level(&mut self, neighbors_per_node: usize) -> u8 {
        // 53 random bits give a uniform value in (0, 1]; zero is excluded so the logarithm is finite.
        let uniform = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let level_multiplier = 1.0 / (neighbors_per_node as f64).ln();
        let level = (-uniform.ln() * level_multiplier).floor();
        level.min(f64::from(LEVELS_MAX)) as u8
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Graph {
    /// M: links kept per node on each upper layer; layer 0 keeps twice as many, as the paper advises.
    pub neighbors_per_node: usize,
    pub levels: Vec<u8>,
    /// For each slot, `[count, link, link, ...]` with room for `2·M` links.
    pub layer0: Vec<u32>,
    /// For each slot, where its upper rows start in `upper`, or `NO_UPPER`.
    pub upper_offsets: Vec<u32>,
    /// For each slot with level `L > 0`, `L` rows of `[count, links...]` with room for `M` links,
    /// layer 1 first.
    pub upper: Vec<u32>,
    pub entry_point: Option<u32>,
    pub max_level: u8,
}

/// Parameters of one insertion.
pub(crate) struct BuildParams {
    pub ef_construction: usize,
    pub keep_pruned_connections: bool,
}

impl Graph {
    pub fn new(neighbors_per_node: usize) -> Self {
        Self {
            neighbors_per_node,
            levels: Vec::new(),
            layer0: Vec::new(),
            upper_offsets: Vec::new(),
            upper: Vec::new(),
            entry_point: None,
            max_level: 0,
        }
    }

    pub fn slots(&self) -> usize {
        self.levels.len()
    }

    pub fn layer0_capacity(&self) -> usize {
        2 * self.neighbors_per_node
    }

    /// The most links a node may keep on `layer`.
    pub fn capacity(&self, layer: usize) -> usize {
        if layer == 0 {
            self.layer0_capacity()
        } else {
            self.neighbors_per_node
        }
    }

    /// Where the row `[count, links...]` of `slot` on `layer` starts, in `layer0` or `upper`.
    #[inline]
    fn row_start(&self, slot: u32, layer: usize) -> usize {
        if layer == 0 {
            slot as usize * (1 + self.layer0_capacity())
        } else {
            let offset = self.upper_offsets[slot as usize];
            debug_assert!(offset != NO_UPPER && layer <= usize::from(self.levels[slot as usize]));
            offset as usize + (layer - 1) * (1 + self.neighbors_per_node)
        }
    }

    #[inline]
    pub fn neighbors(&self, slot: u32, layer: usize) -> &[u32] {
        let start = self.row_start(slot, layer);
        let row = if layer == 0 {
            &self.layer0
        } else {
            &self.upper
        };
        let count = row[start] as usize;
        &row[start + 1..start + 1 + count]
    }

    pub fn set_neighbors(&mut self, slot: u32, layer: usize, links: &[u32]) {
        assert!(links.len() <= self.capacity(layer), "link row overflow");
        let start = self.row_start(slot, layer);
        let row = if layer == 0 {
            &mut self.layer0
        } else {
            &mut self.upper
        };
        row[start] = links.len() as u32;
        row[start + 1..start + 1 + links.len()].copy_from_slice(links);
    }

    /// Appends a link if the row has room, returning false when it is full.
    fn push_neighbor(&mut self, slot: u32, layer: usize, link: u32) -> bool {
        let capacity = self.capacity(layer);
        let start = self.row_start(slot, layer);
        let row = if layer == 0 {
            &mut self.layer0
        } else {
            &mut self.upper
        };
        let count = row[start] as usize;
        if count >= capacity {
            return false;
        }
        row[start + 1 + count] = link;
        row[start] += 1;
        true
    }

    /// Upper-row storage a node of `level` needs, in `u32` words.
    pub fn upper_words(&self, level: u8) -> usize {
        usize::from(level) * (1 + self.neighbors_per_node)
    }

    /// True if adding a node of `level` would overflow the `u32` offsets into `upper`.
    pub fn upper_is_full(&self, level: u8) -> bool {
        self.upper.len() + self.upper_words(level) >= NO_UPPER as usize
    }

    /// Adds an unlinked node as the next slot.
    pub fn push_node(&mut self, level: u8) -> u32 {
        let slot = self.levels.len() as u32;
        self.levels.push(level);
        self.layer0
            .resize(self.layer0.len() + 1 + self.layer0_capacity(), 0);
        if level == 0 {
            self.upper_offsets.push(NO_UPPER);
        } else {
            self.upper_offsets.push(self.upper.len() as u32);
            self.upper
                .resize(self.upper.len() + self.upper_words(level), 0);
        }
        slot
    }

    /// Recomputes `upper_offsets` from `levels`, for a graph whose `upper` was laid out in slot
    /// order (after loading or compaction). Returns the number of `upper` words the levels need.
    pub fn rebuild_upper_offsets(&mut self) -> usize {
        let mut offset = 0usize;
        self.upper_offsets.clear();
        for level in &self.levels {
            if *level == 0 {
                self.upper_offsets.push(NO_UPPER);
            } else {
                self.upper_offsets.push(offset as u32);
                offset += usize::from(*level) * (1 + self.neighbors_per_node);
            }
        }
        offset
    }

    pub fn shrink_to_fit(&mut self) {
        self.levels.shrink_to_fit();
        self.layer0.shrink_to_fit();
        self.upper_offsets.shrink_to_fit();
        self.upper.shrink_to_fit();
    }

    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity()
            + (self.layer0.capacity() + self.upper_offsets.capacity() + self.upper.capacity())
                * size_of::<u32>()
    }

    /// Walks greedily towards the query on one layer, as the paper does above the insertion level.
    pub fn greedy_closest(
        &self,
        scorer: &Scorer<'_>,
        mut current: Scored,
        layer: usize,
        distance_computations: &mut usize,
    ) -> Scored {
        let mut distances: Vec<f32> = Vec::with_capacity(self.capacity(layer));
        loop {
            let mut improved = false;
            let neighbors = self.neighbors(current.slot, layer);
            scorer.distances(neighbors, &mut distances);
            *distance_computations += neighbors.len();
            for (&slot, &distance) in neighbors.iter().zip(&distances) {
                let candidate = Scored { distance, slot };
                if candidate < current {
                    current = candidate;
                    improved = true;
                }
            }
            if !improved {
                return current;
            }
        }
    }

    /// The paper's SEARCH-LAYER with a predicate: every node is traversed, but only nodes that
    /// `accept` allows enter the result set. Rejected nodes (tombstones, filtered-out ids) still
    /// carry the search across the graph, which keeps it connected under any filter. Returns up
    /// to `ef` accepted nodes, closest first.
    // Each argument is a separate input of the paper's algorithm plus the two pieces of per-search
    // state; bundling them into a struct would only move the list elsewhere.
    #[allow(clippy::too_many_arguments)]
    pub fn search_layer(
        &self,
        scorer: &Scorer<'_>,
        entry_points: &[Scored],
        ef: usize,
        layer: usize,
        accept: &impl Fn(u32) -> bool,
        visited: &mut SlotBits,
        distance_computations: &mut usize,
    ) -> Vec<Scored> {
        let mut beam = Beam::new(ef);
        for entry in entry_points {
            if visited.insert(entry.slot) {
                beam.offer(*entry, accept(entry.slot));
            }
        }
        // Unseen neighbours are gathered before any is scored: the distance computations of one
        // expansion then have no branches between them, so the CPU overlaps their memory reads.
        let mut fresh: Vec<u32> = Vec::with_capacity(self.capacity(layer));
        let mut distances: Vec<f32> = Vec::with_capacity(self.capacity(layer));
        while let Some(closest) = beam.next_to_expand() {
            fresh.clear();
            fresh.extend(
                self.neighbors(closest.slot, layer)
                    .iter()
                    .filter(|neighbor| visited.insert(**neighbor)),
            );
            *distance_computations += fresh.len();
            scorer.distances(&fresh, &mut distances);
            for (&slot, &distance) in fresh.iter().zip(&distances) {
                if beam.admits(distance) {
                    beam.offer(Scored { distance, slot }, accept(slot));
                }
            }
        }
        beam.into_sorted()
    }

    /// SEARCH-LAYER on layer 0 for a restrictive filter, after ACORN-1 (Patel et al., 2024):
    /// only allowed nodes are scored and expanded. A rejected neighbour is not scored; the search
    /// looks through it at its own neighbours instead, so the walk stays on the allowed nodes
    /// while using the links of the rejected ones as bridges. Each expansion crosses bridges
    /// only until it has two rows' worth of allowed nodes to score (direct neighbours first),
    /// which bounds its cost when most neighbours are allowed.
    ///
    /// Compared with traversing rejected nodes (`search_layer` with a predicate), this scores
    /// no node the filter rejects, which at 10% selectivity is nine distances in ten.
    pub fn search_layer_two_hop(
        &self,
        scorer: &Scorer<'_>,
        entry: Scored,
        ef: usize,
        allowed: &impl Fn(u32) -> bool,
        visited: &mut SlotBits,
        distance_computations: &mut usize,
    ) -> Vec<Scored> {
        let row_capacity = self.capacity(0);
        // Allowed nodes an expansion gathers before it stops crossing bridges. Two rows' worth
        // measured best on WordNet at 10%: one row's worth needed a wider beam for the same
        // recall, and crossing every bridge gained nothing more.
        let gather_max = 2 * row_capacity;
        let mut beam = Beam::new(ef);
        visited.insert(entry.slot);
        // The entry point comes from the unfiltered upper layers and may be rejected; it is still
        // where the walk starts.
        beam.offer(entry, allowed(entry.slot));
        // `fresh[..gathered]` holds the allowed nodes to score; the rest is room for one more
        // row, so that a row can be gathered without a bounds check per link.
        let mut fresh: Vec<u32> = vec![0; gather_max + row_capacity];
        let mut bridges: Vec<u32> = Vec::with_capacity(row_capacity);
        let mut bridge_rows: Vec<usize> = Vec::with_capacity(row_capacity);
        let mut distances: Vec<f32> = Vec::with_capacity(gather_max + row_capacity);
        while let Some(closest) = beam.next_to_expand() {
            let mut gathered = 0usize;
            bridges.clear();
            for &neighbor in self.neighbors(closest.slot, 0) {
                if allowed(neighbor) {
                    if visited.insert(neighbor) {
                        fresh[gathered] = neighbor;
                        gathered += 1;
                    }
                } else if !visited.contains(neighbor) {
                    bridges.push(neighbor);
                }
            }
            // The bridges' rows are scattered in memory. Reading a word from every cache line
            // of every row in one tight loop, before any row is walked, puts all those cache
            // misses in flight at once instead of one after another.
            bridge_rows.clear();
            bridge_rows.extend(bridges.iter().map(|bridge| self.row_start(*bridge, 0)));
            let row_words = 1 + row_capacity;
            let touched: u32 = bridge_rows
                .iter()
                .flat_map(|start| {
                    (0..row_words)
                        .step_by(WORDS_PER_CACHE_LINE)
                        .map(move |word| start + word)
                })
                .map(|word| self.layer0[word])
                .fold(0, u32::wrapping_add);
            std::hint::black_box(touched);
            // A bridge is marked seen only when its row is read, so a bridge left out here by
            // the cap can still be crossed from a later expansion.
            for (&bridge, &start) in bridges.iter().zip(&bridge_rows) {
                if gathered >= gather_max {
                    break;
                }
                visited.insert(bridge);
                let count = self.layer0[start] as usize;
                for &second in &self.layer0[start + 1..start + 1 + count] {
                    // Branch-free: a link is written either way and kept by advancing the end,
                    // because whether a link is allowed is a coin toss the CPU cannot predict.
                    let keep = visited.insert_when(second, allowed(second));
                    fresh[gathered] = second;
                    gathered += usize::from(keep);
                }
            }
            let fresh = &fresh[..gathered];
            *distance_computations += fresh.len();
            scorer.distances(fresh, &mut distances);
            for (&slot, &distance) in fresh.iter().zip(&distances) {
                if beam.admits(distance) {
                    beam.offer(Scored { distance, slot }, true);
                }
            }
        }
        beam.into_sorted()
    }

    /// Inserts `slot` (already pushed with `push_node`) whose vector is behind `scorer`.
    /// `is_live` tells tombstones apart so that new nodes prefer live neighbours.
    pub fn insert(
        &mut self,
        store: &VectorStore,
        scorer: &Scorer<'_>,
        slot: u32,
        params: &BuildParams,
        is_live: &dyn Fn(u32) -> bool,
    ) {
        let level = self.levels[slot as usize];
        let Some(entry_point) = self.entry_point else {
            self.entry_point = Some(slot);
            self.max_level = level;
            return;
        };
        let mut distance_computations = 0usize;
        let mut current = Scored {
            distance: scorer.distance(entry_point),
            slot: entry_point,
        };
        for layer in (usize::from(level) + 1..=usize::from(self.max_level)).rev() {
            current = self.greedy_closest(scorer, current, layer, &mut distance_computations);
        }
        let mut entry_points = vec![current];
        let top = usize::from(level.min(self.max_level));
        for layer in (0..=top).rev() {
            let mut visited = SlotBits::new(self.slots());
            visited.insert(slot);
            let found = self.search_layer(
                scorer,
                &entry_points,
                params.ef_construction,
                layer,
                &|_| true,
                &mut visited,
                &mut distance_computations,
            );
            // Linking a new node to tombstones wastes links that compaction will cut anyway, so
            // tombstones are used only when nothing live was found.
            let live: Vec<Scored> = found.iter().copied().filter(|c| is_live(c.slot)).collect();
            let pool = if live.is_empty() { &found } else { &live };
            let selected = select_neighbors(store, pool, self.neighbors_per_node, false);
            let links: Vec<u32> = selected.iter().map(|c| c.slot).collect();
            self.set_neighbors(slot, layer, &links);
            for neighbor in selected {
                self.link_back(store, neighbor.slot, slot, layer, params);
            }
            entry_points = found;
        }
        if level > self.max_level {
            self.entry_point = Some(slot);
            self.max_level = level;
        }
    }

    /// Adds the reverse link `from -> to`, shrinking `from`'s row with the heuristic when full.
    pub fn link_back(
        &mut self,
        store: &VectorStore,
        from: u32,
        to: u32,
        layer: usize,
        params: &BuildParams,
    ) {
        if self.push_neighbor(from, layer, to) {
            return;
        }
        let scorer = store.slot_scorer(from);
        let mut slots: Vec<u32> = Vec::with_capacity(self.capacity(layer) + 1);
        slots.extend_from_slice(self.neighbors(from, layer));
        slots.push(to);
        let mut pool: Vec<Scored> = Vec::with_capacity(slots.len());
        scorer.each_distance(&slots, |slot, distance| {
            pool.push(Scored { distance, slot });
            true
        });
        pool.sort_unstable();
        let selected = select_neighbors(
            store,
            &pool,
            self.capacity(layer),
            params.keep_pruned_connections,
        );
        let links: Vec<u32> = selected.iter().map(|c| c.slot).collect();
        self.set_neighbors(from, layer, &links);
    }
}

/// The paper's SELECT-NEIGHBORS-HEURISTIC (algorithm 4). A candidate is kept only if it is closer
/// to the base node than to every neighbour already kept; this spreads links across directions
/// instead of spending them all inside one dense cluster, which is what keeps clustered data
/// navigable. With `keep_pruned_connections` the row is topped up with the closest discarded
/// candidates, so no link slot goes unused. `pool` must be sorted closest first.
pub(crate) fn select_neighbors(
    store: &VectorStore,
    pool: &[Scored],
    limit: usize,
    keep_pruned_connections: bool,
) -> Vec<Scored> {
    let mut selected: Vec<Scored> = Vec::with_capacity(limit);
    let mut selected_slots: Vec<u32> = Vec::with_capacity(limit);
    let mut discarded: Vec<Scored> = Vec::new();
    for candidate in pool {
        if selected.len() >= limit {
            break;
        }
        let diverse = selected.is_empty()
            || !store
                .slot_scorer(candidate.slot)
                .any_closer_than(&selected_slots, candidate.distance);
        if diverse {
            selected.push(*candidate);
            selected_slots.push(candidate.slot);
        } else {
            discarded.push(*candidate);
        }
    }
    if keep_pruned_connections {
        let room = limit.saturating_sub(selected.len());
        selected.extend(discarded.into_iter().take(room));
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_exponential_distribution_and_repeat_for_a_seed() {
        let mut rng = SplitMix64 { state: 7 };
        let draws: Vec<u8> = (0..100_000).map(|_| rng.next_level(16)).collect();
        let at_least_one = draws.iter().filter(|level| **level >= 1).count() as f64;
        // P(level >= 1) = 1/M.
        assert!((at_least_one / 100_000.0 - 1.0 / 16.0).abs() < 0.005);
        let mut again = SplitMix64 { state: 7 };
        assert!(draws.iter().all(|level| *level == again.next_level(16)));
    }

    #[test]
    fn rows_hold_links_per_layer() {
        let mut graph = Graph::new(2);
        let a = graph.push_node(0);
        let b = graph.push_node(2);
        graph.set_neighbors(a, 0, &[b]);
        assert!(graph.push_neighbor(b, 2, a));
        assert!(graph.push_neighbor(b, 2, a));
        assert!(!graph.push_neighbor(b, 2, a));
        assert_eq!(graph.neighbors(a, 0), &[b]);
        assert_eq!(graph.neighbors(b, 1), &[] as &[u32]);
        assert_eq!(graph.neighbors(b, 2), &[a, a]);
        let words = graph.upper.len();
        assert_eq!(graph.clone().rebuild_upper_offsets(), words);
    }
}
