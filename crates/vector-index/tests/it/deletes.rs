//! Tombstones, updates and compaction.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use vector_index::{Error, Index, IndexConfig, Metric};

use crate::data::{self, K};

/// Exact top-k over the vectors whose ids survive.
fn truth_without(deleted: &HashSet<u64>) -> Vec<Vec<u64>> {
    let fixture = data::shared();
    fixture
        .dataset
        .queries
        .iter()
        .map(|query| {
            data::exact_neighbors(
                Metric::Cosine,
                fixture
                    .dataset
                    .vectors
                    .iter()
                    .enumerate()
                    .map(|(position, vector)| (data::id_of(position), vector.as_slice()))
                    .filter(|(id, _)| !deleted.contains(id)),
                query,
                K,
            )
            .into_iter()
            .map(|(id, _)| id)
            .collect()
        })
        .collect()
}

fn assert_never_returned(index: &Index, deleted: &HashSet<u64>) {
    for query in &data::shared().dataset.queries {
        for hit in index.search(query, K).unwrap().hits {
            assert!(!deleted.contains(&hit.id), "deleted id {} returned", hit.id);
        }
    }
}

#[test]
fn deleted_ids_are_never_returned_and_compaction_keeps_recall() {
    let fixture = data::shared();
    let mut index = fixture.index.clone();
    let mut rng = StdRng::seed_from_u64(21);
    let deleted: HashSet<u64> = sample(&mut rng, data::VECTORS, data::VECTORS / 4)
        .into_iter()
        .map(data::id_of)
        .collect();
    // Deleting the true nearest neighbours of the queries is the hardest case for navigation.
    let mut deleted = deleted;
    deleted.extend(
        fixture
            .truth
            .iter()
            .flat_map(|truth| truth[..3].iter().copied()),
    );
    for id in &deleted {
        assert!(index.delete(*id));
        assert!(!index.delete(*id), "a second delete of {id} is a no-op");
    }
    let stats = index.stats();
    assert_eq!(stats.tombstones, deleted.len());
    assert_eq!(stats.live_vectors, data::VECTORS - deleted.len());
    assert_never_returned(&index, &deleted);

    let truth = truth_without(&deleted);
    let with_tombstones = data::mean_recall(&index, &fixture.dataset.queries, &truth);
    let memory_before = index.stats().memory.total_bytes();
    index.compact();
    let compacted = data::mean_recall(&index, &fixture.dataset.queries, &truth);
    eprintln!(
        "{} deleted: recall@10 with tombstones {with_tombstones:.4}, after compact {compacted:.4}",
        deleted.len()
    );
    let stats = index.stats();
    assert_eq!(stats.tombstones, 0);
    assert_eq!(stats.slots, data::VECTORS - deleted.len());
    assert!(stats.memory.total_bytes() < memory_before);
    assert_never_returned(&index, &deleted);
    assert!(
        with_tombstones >= 0.95,
        "recall with tombstones {with_tombstones}"
    );
    assert!(compacted >= 0.95, "recall after compact {compacted}");
    assert!(deleted.iter().all(|id| !index.contains(*id)));

    // The compacted index keeps accepting writes.
    let query = fixture.dataset.queries[0].clone();
    index.insert(1, &query).unwrap();
    assert_eq!(index.search(&query, 1).unwrap().hits[0].id, 1);
}

#[test]
fn updates_move_a_vector_and_leave_one_live_copy() {
    let fixture = data::shared();
    let mut index = fixture.index.clone();
    let target = data::id_of(5);
    let old_vector = fixture.dataset.vectors[5].clone();
    let new_vector = fixture.dataset.queries[7].clone();
    assert_eq!(index.search(&old_vector, 1).unwrap().hits[0].id, target);

    index.update(target, &new_vector).unwrap();
    assert_eq!(index.len(), data::VECTORS);
    assert_eq!(index.stats().tombstones, 1);
    let hits = index.search(&new_vector, K).unwrap().hits;
    assert_eq!(hits[0].id, target);
    assert!(hits[0].distance.abs() < 1e-5);
    let near_old = index.search(&old_vector, K).unwrap().hits;
    assert!(near_old.iter().filter(|hit| hit.id == target).count() <= 1);
    assert!(
        near_old
            .iter()
            .all(|hit| hit.id != target || hit.distance > 1e-3)
    );

    index.compact();
    assert_eq!(index.search(&new_vector, 1).unwrap().hits[0].id, target);
}

#[test]
fn misuse_gets_stable_error_codes() {
    let mut index = Index::new(IndexConfig::new(3, Metric::Cosine)).unwrap();
    index.insert(1, &[1.0, 0.0, 0.0]).unwrap();
    let code = |result: vector_index::Result<()>| result.unwrap_err().code();
    assert_eq!(code(index.insert(1, &[0.0, 1.0, 0.0])), "duplicate_id");
    assert_eq!(code(index.update(2, &[0.0, 1.0, 0.0])), "not_found");
    assert_eq!(code(index.insert(2, &[0.0, 1.0])), "dimension_mismatch");
    assert_eq!(
        code(index.insert(2, &[0.0, f32::INFINITY, 0.0])),
        "non_finite_vector"
    );
    assert_eq!(code(index.insert(2, &[0.0, 0.0, 0.0])), "zero_vector");
    assert!(!index.delete(2));
    let too_many = index.search(&[1.0, 0.0, 0.0], vector_index::RESULTS_MAX + 1);
    assert_eq!(too_many.unwrap_err().code(), "limit_exceeded");
    let mut config = IndexConfig::new(0, Metric::L2);
    assert_eq!(
        Index::new(config.clone()).unwrap_err().code(),
        "invalid_config"
    );
    config.dimensions = vector_index::DIMENSIONS_MAX + 1;
    let error = Index::new(config).unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }) && error.is_caller_fault());
    // Failed writes change nothing.
    assert_eq!(index.len(), 1);
    assert_eq!(index.stats().tombstones, 0);
}

#[test]
fn deleting_everything_and_compacting_leaves_a_usable_empty_index() {
    let dataset = data::clustered(5, 300, 1, 8);
    let mut index = data::build(&dataset, IndexConfig::new(8, Metric::L2));
    for position in 0..300 {
        index.delete(data::id_of(position));
    }
    assert!(
        index
            .search(&dataset.queries[0], K)
            .unwrap()
            .hits
            .is_empty()
    );
    index.compact();
    assert!(index.is_empty());
    assert_eq!(index.stats().slots, 0);
    assert!(
        index
            .search(&dataset.queries[0], K)
            .unwrap()
            .hits
            .is_empty()
    );
    index.insert(9, &dataset.vectors[0]).unwrap();
    assert_eq!(index.search(&dataset.queries[0], K).unwrap().hits.len(), 1);
}

#[test]
fn survivors_of_deletion_stay_reachable_after_compaction() {
    // Keeping every 25th vector takes the rebuild path; keeping 11 of every 20 takes the repair
    // path with links that are sparse enough (M 3) for repair to leave islands.
    for (keep_every, keep_of) in [(25, 1), (20, 11)] {
        for seed in 0..4u64 {
            let dataset = data::clustered(100 + seed, 400, 0, 8);
            let mut config = IndexConfig::new(8, Metric::L2);
            config.neighbors_per_node = 3;
            config.ef_construction = 16;
            config.seed = seed;
            let mut index = data::build(&dataset, config);
            let survivors: Vec<usize> = (0..400)
                .filter(|position| position % keep_every < keep_of)
                .collect();
            for position in 0..400 {
                if !survivors.contains(&position) {
                    index.delete(data::id_of(position));
                }
            }
            index.compact();
            assert_eq!(index.len(), survivors.len());
            assert_eq!(index.stats().tombstones, 0);
            let options = vector_index::SearchOptions {
                ef_search: Some(survivors.len()),
                ..Default::default()
            };
            for position in &survivors {
                let hits = index
                    .search_with(&dataset.vectors[*position], 1, &options)
                    .unwrap()
                    .hits;
                assert_eq!(hits[0].id, data::id_of(*position), "seed {seed}");
            }
        }
    }
}
