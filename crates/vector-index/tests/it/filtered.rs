//! Permission-filtered search: the planner's choice, recall at low selectivity, and that nothing
//! outside the allowed set ever comes back.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use vector_index::{AllowedSet, Filter, Index, Metric, SearchOptions, Strategy, StrategyChoice};

use crate::data::{self, K};

/// A random allowed set holding `fraction` of the corpus.
fn random_allowed(seed: u64, fraction: f64) -> AllowedSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let count = (data::VECTORS as f64 * fraction).round() as usize;
    sample(&mut rng, data::VECTORS, count)
        .into_iter()
        .map(data::id_of)
        .collect()
}

/// Mean recall@10 of filtered searches against the exact filtered answer, checking on the way
/// that every hit is allowed. Returns the recall and the strategies used.
fn filtered_recall(
    index: &Index,
    allowed: &AllowedSet,
    strategy: StrategyChoice,
) -> (f64, Vec<Strategy>) {
    let mut distance_computations = 0usize;
    let fixture = data::shared();
    let mut total = 0.0;
    let mut strategies = Vec::new();
    for query in &fixture.dataset.queries {
        let options = SearchOptions {
            filter: Some(Filter::Allowed(allowed)),
            strategy,
            ..SearchOptions::default()
        };
        let result = index.search_with(query, K, &options).unwrap();
        for hit in &result.hits {
            assert!(allowed.contains(hit.id), "id {} is not allowed", hit.id);
        }
        assert_eq!(result.hits.len(), K);
        let truth: Vec<u64> = data::exact_neighbors(
            Metric::Cosine,
            allowed.ids().iter().map(|id| {
                let position = ((id - 1_000) / 7) as usize;
                (*id, fixture.dataset.vectors[position].as_slice())
            }),
            query,
            K,
        )
        .into_iter()
        .map(|(id, _)| id)
        .collect();
        let found: Vec<u64> = result.hits.iter().map(|hit| hit.id).collect();
        total += data::recall(&found, &truth);
        strategies.push(result.strategy);
        distance_computations += result.distance_computations;
    }
    let queries = fixture.dataset.queries.len();
    eprintln!(
        "  {} allowed, {:?}: {} distance computations per query",
        allowed.len(),
        strategies[0],
        distance_computations / queries
    );
    (total / queries as f64, strategies)
}

#[test]
fn one_percent_selectivity_is_scanned_exactly() {
    let index = &data::shared().index;
    let allowed = random_allowed(11, 0.01);
    let (recall, strategies) = filtered_recall(index, &allowed, StrategyChoice::Auto);
    eprintln!(
        "1% filter, planner: recall@10 = {recall:.4} via {:?}",
        strategies[0]
    );
    assert!(
        strategies
            .iter()
            .all(|strategy| *strategy == Strategy::Exact)
    );
    assert!(recall >= 0.99, "recall {recall}");
}

#[test]
fn ten_percent_selectivity_meets_the_recall_target_with_either_strategy() {
    let index = &data::shared().index;
    let allowed = random_allowed(12, 0.10);
    // On 20k vectors, 10% is a 2,000-vector scan, which the planner rightly finds cheaper than
    // filtering inside the graph.
    let (recall, strategies) = filtered_recall(index, &allowed, StrategyChoice::Auto);
    eprintln!(
        "10% filter, planner: recall@10 = {recall:.4} via {:?}",
        strategies[0]
    );
    assert!(
        strategies
            .iter()
            .all(|strategy| *strategy == Strategy::Exact)
    );
    assert!(recall >= 0.95, "recall {recall}");

    let (recall, strategies) = filtered_recall(index, &allowed, StrategyChoice::Graph);
    eprintln!("10% filter, forced graph: recall@10 = {recall:.4}");
    assert!(
        strategies
            .iter()
            .all(|strategy| *strategy == Strategy::GraphFiltered)
    );
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn in_graph_filtering_stays_correct_at_low_selectivity() {
    // Forcing the graph where the planner would scan: still correct, only more expensive.
    let index = &data::shared().index;
    for (seed, fraction) in [(13, 0.05), (14, 0.01)] {
        let allowed = random_allowed(seed, fraction);
        let (recall, strategies) = filtered_recall(index, &allowed, StrategyChoice::Graph);
        eprintln!("{fraction} filter, forced graph: recall@10 = {recall:.4}");
        assert!(
            strategies
                .iter()
                .all(|strategy| *strategy == Strategy::GraphFiltered)
        );
        assert!(recall >= 0.90, "recall {recall} at {fraction}");
    }
}

#[test]
fn predicates_are_planned_from_a_sampled_selectivity() {
    let fixture = data::shared();
    let index = &fixture.index;
    let query = &fixture.dataset.queries[3];
    // Ids are 1000 + 7·position, so this admits every 200th vector: 0.5%.
    let sparse = |id: u64| ((id - 1_000) / 7).is_multiple_of(200);
    let filter = Filter::Predicate {
        allows: &sparse,
        allowed_count_estimate: None,
    };
    let result = index.search_filtered(query, K, &filter).unwrap();
    assert_eq!(result.strategy, Strategy::Exact);
    assert!(result.selectivity < 0.02);
    assert!(result.hits.iter().all(|hit| sparse(hit.id)));
    assert_eq!(result.hits.len(), K);

    let broad = |id: u64| ((id - 1_000) / 7).is_multiple_of(2);
    let filter = Filter::Predicate {
        allows: &broad,
        allowed_count_estimate: None,
    };
    let result = index.search_filtered(query, K, &filter).unwrap();
    assert_eq!(result.strategy, Strategy::GraphFiltered);
    assert!((result.selectivity - 0.5).abs() < 0.1);
    assert!(result.ef_used > index.config().ef_search);
    assert!(result.hits.iter().all(|hit| broad(hit.id)));

    // A caller-supplied estimate overrides sampling.
    let filter = Filter::Predicate {
        allows: &broad,
        allowed_count_estimate: Some(10),
    };
    assert_eq!(
        index.search_filtered(query, K, &filter).unwrap().strategy,
        Strategy::Exact
    );
}

#[test]
fn an_empty_allowed_set_returns_nothing() {
    let fixture = data::shared();
    let empty = AllowedSet::default();
    let result = fixture
        .index
        .search_filtered(&fixture.dataset.queries[0], K, &Filter::Allowed(&empty))
        .unwrap();
    assert!(result.hits.is_empty());
    assert_eq!(result.strategy, Strategy::Exact);
}

#[test]
fn sq8_scans_read_codes_and_rerank_to_the_exact_answer() {
    // With SQ8 and re-ranking, the scan ranks by codes and re-scores a few times k exactly.
    let index = crate::recall::sq8_with_rerank();
    let allowed = random_allowed(15, 0.01);
    let (recall, strategies) = filtered_recall(index, &allowed, StrategyChoice::Auto);
    eprintln!("1% filter on SQ8+rerank: recall@10 = {recall:.4}");
    assert!(
        strategies
            .iter()
            .all(|strategy| *strategy == Strategy::Exact)
    );
    assert!(recall >= 0.99, "recall {recall}");
    let (recall, _) = filtered_recall(index, &random_allowed(16, 0.10), StrategyChoice::Graph);
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn an_allowed_set_reused_after_a_change_sees_the_change() {
    // A set remembers its slots per index state; a change must never let an old resolution
    // return a deleted vector or miss a new one.
    let fixture = data::shared();
    let mut index = fixture.index.clone();
    let query = &fixture.dataset.queries[1];
    let allowed = random_allowed(17, 0.05);
    for strategy in [StrategyChoice::Exact, StrategyChoice::Graph] {
        let options = SearchOptions {
            filter: Some(Filter::Allowed(&allowed)),
            strategy,
            ..SearchOptions::default()
        };
        let before = index.search_with(query, K, &options).unwrap();
        let nearest = before.hits[0].id;
        assert!(index.delete(nearest));
        let after = index.search_with(query, K, &options).unwrap();
        assert!(after.hits.iter().all(|hit| hit.id != nearest));
        assert_eq!(after.hits.len(), K);
        // Put it back under the same id: the set allows it again.
        let position = ((nearest - 1_000) / 7) as usize;
        index
            .insert(nearest, &fixture.dataset.vectors[position])
            .unwrap();
        let again = index.search_with(query, K, &options).unwrap();
        assert_eq!(again.hits[0].id, nearest);
        // A clone that changes separately gets its own state, so the shared set stays correct
        // for both.
        let mut other = index.clone();
        assert!(other.delete(nearest));
        assert_eq!(
            index.search_with(query, K, &options).unwrap().hits[0].id,
            nearest
        );
        assert!(
            other
                .search_with(query, K, &options)
                .unwrap()
                .hits
                .iter()
                .all(|hit| hit.id != nearest)
        );
    }
}
