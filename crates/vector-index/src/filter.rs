//! Permission filters and the planner that picks a search strategy for them.
//!
//! Filtering inside the graph gets expensive and fragile as the allowed fraction shrinks: a walk
//! that scores rejected nodes wades through ever more of them to fill its beam with allowed ones,
//! and on real corpora recall drops (0.39–0.95 at 1% in our measurements). Below a quarter of
//! the index allowed, the graph is walked two hops at a time instead, scoring allowed nodes only
//! (`Graph::search_layer_two_hop`), which holds recall down to a few percent. A scan over the
//! allowed vectors is exact and costs one distance per allowed vector. So the planner scans when
//!
//! - the allowed set is small in absolute terms (`filter_exact_count_max`), or
//! - it is a small fraction of the index (`filter_exact_selectivity_max`), or
//! - the scan is estimated to compute fewer distances than the filtered graph search would,
//!
//! and filters inside the graph otherwise.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::graph::SlotBits;

/// A precomputed set of external ids a caller may see, kept sorted for binary search.
///
/// A set is typically built once per caller and searched with many times, so it remembers what
/// it resolved to in the last index state it was searched in: the slots of its live ids, as a
/// sorted list (what an exact scan walks) and as one bit per slot (what a filtered graph search
/// tests). Resolving costs one hash lookup per id, which at 10% of 100k vectors is more than the
/// search itself; any change to the index gives it a new state, so a stale resolution is never
/// used. The memory is about one bit per slot of the index plus four bytes per allowed id, and in
/// SQ8 mode, once the set has been scanned, a copy of its rows' codes (one byte per dimension
/// per allowed id, at most 16 MiB).
#[derive(Default)]
pub struct AllowedSet {
    ids: Vec<u64>,
    resolved: Mutex<Option<Arc<ResolvedSlots>>>,
}

/// An allowed set resolved against one state of one index.
pub(crate) struct ResolvedSlots {
    /// The `Index::state_id` this was resolved in.
    pub state_id: u64,
    /// The live slots of the allowed ids, ascending, so a scan reads rows in memory order.
    pub slots: Vec<u32>,
    pub bits: SlotBits,
    /// In SQ8 mode, the rows' codes copied together in `slots` order by the first scan, so
    /// later scans of the set stream through one block instead of gathering scattered rows;
    /// `None` when the copy would be over `GATHERED_CODES_BYTES_MAX`.
    pub gathered_codes: OnceLock<Option<Vec<u8>>>,
}

impl AllowedSet {
    /// Builds the set; duplicates are removed.
    pub fn new(ids: impl IntoIterator<Item = u64>) -> Self {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        Self {
            ids,
            resolved: Mutex::new(None),
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids in ascending order.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The set's slots in the index state `state_id`, resolved by `resolve` unless the last
    /// search already did it in that state.
    pub(crate) fn resolved(
        &self,
        state_id: u64,
        resolve: impl FnOnce(&[u64]) -> ResolvedSlots,
    ) -> Arc<ResolvedSlots> {
        // The cache holds no invariant a panic could break, so a poisoned lock is still usable.
        let mut cached = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(resolved) = cached.as_ref()
            && resolved.state_id == state_id
        {
            return Arc::clone(resolved);
        }
        let resolved = Arc::new(resolve(&self.ids));
        *cached = Some(Arc::clone(&resolved));
        resolved
    }
}

impl Clone for AllowedSet {
    fn clone(&self) -> Self {
        Self {
            ids: self.ids.clone(),
            resolved: Mutex::new(None),
        }
    }
}

/// Two sets are equal when they allow the same ids, whatever they have cached.
impl PartialEq for AllowedSet {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
    }
}

impl Eq for AllowedSet {}

impl std::fmt::Debug for AllowedSet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AllowedSet")
            .field("ids", &self.ids)
            .finish()
    }
}

impl FromIterator<u64> for AllowedSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        Self::new(iter)
    }
}

/// Which external ids a search may return.
#[derive(Clone, Copy)]
pub enum Filter<'a> {
    /// An explicit set; its size is known, so the planner needs no estimate.
    Allowed(&'a AllowedSet),
    /// A predicate over external ids. When the caller knows roughly how many ids pass, passing
    /// the estimate saves the planner a sampling pass.
    Predicate {
        allows: &'a dyn Fn(u64) -> bool,
        allowed_count_estimate: Option<usize>,
    },
}

impl Filter<'_> {
    #[inline]
    pub(crate) fn allows(&self, id: u64) -> bool {
        match self {
            Filter::Allowed(set) => set.contains(id),
            Filter::Predicate { allows, .. } => allows(id),
        }
    }
}

impl std::fmt::Debug for Filter<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Allowed(set) => formatter
                .debug_struct("Allowed")
                .field("len", &set.len())
                .finish(),
            Filter::Predicate {
                allowed_count_estimate,
                ..
            } => formatter
                .debug_struct("Predicate")
                .field("allowed_count_estimate", allowed_count_estimate)
                .finish(),
        }
    }
}

/// How a search was carried out; reported with every result for benchmarks and telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Graph search without a filter (tombstones are still skipped).
    Graph,
    /// Graph search where filtered-out nodes are traversed but not returned.
    GraphFiltered,
    /// A scan over every allowed live vector; exact up to the stored precision.
    Exact,
}

impl Strategy {
    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Graph => "graph",
            Strategy::GraphFiltered => "graph_filtered",
            Strategy::Exact => "exact",
        }
    }
}

/// Lets benchmarks and tests override the planner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StrategyChoice {
    /// Let the planner decide from the filter's selectivity.
    #[default]
    Auto,
    /// Always scan.
    Exact,
    /// Always search the graph, filtering inside it if there is a filter.
    Graph,
}

/// How many live vectors the planner samples to estimate a predicate's selectivity. Large enough
/// that a 2% filter is told apart from a 10% one, small enough to be noise next to a search.
pub(crate) const SELECTIVITY_SAMPLE_MAX: usize = 512;

/// Below this selectivity a filtered graph search scores only allowed nodes and steps over
/// rejected ones to their neighbours (`Graph::search_layer_two_hop`); above it, rejected nodes
/// are scored and traversed like any other. On WordNet the two-hop walk was twice as fast for
/// the same recall at 5–10%, even at 20%, and slower from 30% up, where most neighbours are
/// allowed anyway.
pub(crate) const TWO_HOP_SELECTIVITY_MAX: f64 = 0.25;

/// Distance computations of a two-hop walk per unit of `M · ef`: 1.2 at 5%, 2.1 at 10% and 3.3
/// at 20% on WordNet (M 16, ef 64); the planner uses the value at 10%.
const TWO_HOP_COST_PER_M_EF: f64 = 2.0;

/// The planner's decision for one search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    pub strategy: Strategy,
    /// The estimated fraction of live vectors the filter allows, 1.0 without a filter.
    pub selectivity: f64,
    /// What the caller asked for; a forced strategy is never swapped for another.
    pub choice: StrategyChoice,
}

/// What the planner needs to know about the index.
pub(crate) struct PlannerInputs {
    pub exact_count_max: usize,
    pub exact_selectivity_max: f64,
    pub neighbors_per_node: usize,
    /// The unwidened beam width of this search.
    pub ef: usize,
}

/// Chooses the strategy for a filter whose allowed count among `live` vectors is estimated at
/// `allowed_estimate`.
pub(crate) fn plan(
    choice: StrategyChoice,
    filtered: bool,
    allowed_estimate: usize,
    live: usize,
    inputs: &PlannerInputs,
) -> Plan {
    let selectivity = if !filtered || live == 0 {
        1.0
    } else {
        (allowed_estimate.min(live) as f64 / live as f64).clamp(0.0, 1.0)
    };
    let graph = if filtered {
        Strategy::GraphFiltered
    } else {
        Strategy::Graph
    };
    let strategy = match choice {
        StrategyChoice::Exact => Strategy::Exact,
        StrategyChoice::Graph => graph,
        StrategyChoice::Auto if !filtered => Strategy::Graph,
        StrategyChoice::Auto => {
            let scan_cost = allowed_estimate.min(live) as f64;
            let small = allowed_estimate <= inputs.exact_count_max
                || selectivity <= inputs.exact_selectivity_max
                || scan_cost <= estimated_graph_cost(inputs, selectivity);
            if small { Strategy::Exact } else { graph }
        }
    };
    Plan {
        strategy,
        selectivity,
        choice,
    }
}

/// Distance computations a filtered graph search is expected to make. Unfiltered, a search
/// computes about `M · ef` distances. Below `TWO_HOP_SELECTIVITY_MAX` the two-hop walk scores
/// allowed nodes only, at a few times that. Above it, the walk scores rejected nodes too, which
/// we measured to grow the cost by about `1 / s^0.8` at selectivity `s` on a clustered corpus.
/// The estimate only has to be right within a factor of two or so, because it is compared with
/// a scan whose cost is known exactly.
pub(crate) fn estimated_graph_cost(inputs: &PlannerInputs, selectivity: f64) -> f64 {
    let selectivity = selectivity.max(1e-6);
    let m = inputs.neighbors_per_node as f64;
    if selectivity < TWO_HOP_SELECTIVITY_MAX {
        return TWO_HOP_COST_PER_M_EF * m * inputs.ef as f64;
    }
    let ef = widened_ef(inputs.ef, selectivity, crate::EF_MAX) as f64;
    m * ef / selectivity.powf(0.8)
}

/// The beam width for filtered graph search. Only allowed nodes fill the beam, so the search
/// already walks further as selectivity drops; a mild extra widening by `1/s^0.25` recovers
/// most of what remains (on our corpus, recall at 10% went from 0.9955 to 0.9995 for 45% more
/// distance computations, where `1/sqrt(s)` cost twice as much for the same recall).
pub(crate) fn widened_ef(ef: usize, selectivity: f64, ef_max: usize) -> usize {
    if selectivity >= 1.0 {
        return ef;
    }
    let widened = (ef as f64 / selectivity.max(1e-6).powf(0.25)).ceil();
    (widened.min(ef_max as f64) as usize).max(ef)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUTS: PlannerInputs = PlannerInputs {
        exact_count_max: 2_048,
        exact_selectivity_max: 0.02,
        neighbors_per_node: 16,
        ef: 64,
    };

    #[test]
    fn planner_scans_small_sets_and_filters_in_graph_otherwise() {
        let plan_in = |allowed, live| plan(StrategyChoice::Auto, true, allowed, live, &INPUTS);
        // Absolute and relative thresholds.
        assert_eq!(plan_in(1_500, 1_000_000).strategy, Strategy::Exact);
        assert_eq!(plan_in(15_000, 1_000_000).strategy, Strategy::Exact);
        // 10% of a million is 100,000 distances to scan, far more than a graph search.
        let broad = plan_in(100_000, 1_000_000);
        assert_eq!(broad.strategy, Strategy::GraphFiltered);
        assert!((broad.selectivity - 0.1).abs() < 1e-9);
        // 10% of 20,000 is a 2,000-vector scan, cheaper than the filtered graph search.
        assert_eq!(plan_in(2_000, 20_000).strategy, Strategy::Exact);
        assert_eq!(plan_in(10_000, 20_000).strategy, Strategy::GraphFiltered);

        assert_eq!(
            plan(StrategyChoice::Auto, false, 0, 1_000_000, &INPUTS).strategy,
            Strategy::Graph
        );
        assert_eq!(
            plan(StrategyChoice::Graph, true, 10, 1_000_000, &INPUTS).strategy,
            Strategy::GraphFiltered
        );
        assert_eq!(
            plan(StrategyChoice::Exact, false, 0, 10, &INPUTS).strategy,
            Strategy::Exact
        );
    }

    #[test]
    fn graph_cost_grows_as_selectivity_drops() {
        let unfiltered = estimated_graph_cost(&INPUTS, 1.0);
        assert!((unfiltered - 16.0 * 64.0).abs() < 1e-9);
        // Scoring rejected nodes costs more the fewer are allowed...
        assert!(estimated_graph_cost(&INPUTS, 0.3) > 2.0 * unfiltered);
        assert!(estimated_graph_cost(&INPUTS, 0.3) > estimated_graph_cost(&INPUTS, 0.6));
        // ...while the two-hop walk below a quarter scores allowed nodes only.
        let two_hop = estimated_graph_cost(&INPUTS, 0.1);
        assert!(two_hop > unfiltered && two_hop < estimated_graph_cost(&INPUTS, 0.3));
        assert_eq!(two_hop, estimated_graph_cost(&INPUTS, 0.01));
    }

    #[test]
    fn beam_widens_as_selectivity_drops_and_respects_the_cap() {
        assert_eq!(widened_ef(100, 1.0, 4096), 100);
        assert_eq!(widened_ef(100, 0.0625, 4096), 200);
        assert_eq!(widened_ef(100, 0.0001, 4096), 1000);
        assert_eq!(widened_ef(100, 0.0, 500), 500);
    }

    #[test]
    fn allowed_set_dedups_and_answers_membership() {
        let set: AllowedSet = [5, 1, 5, 3].into_iter().collect();
        assert_eq!(set.ids(), &[1, 3, 5]);
        assert!(set.contains(3) && !set.contains(4));
    }
}
