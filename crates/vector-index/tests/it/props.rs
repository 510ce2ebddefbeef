//! Properties that must hold for every input, checked against brute force on tiny indexes.

use proptest::prelude::*;
use vector_index::{
    AllowedSet, Filter, Index, IndexConfig, Metric, Quantization, SearchOptions, StrategyChoice,
};

use crate::data::reference_distance;

#[derive(Clone, Debug)]
struct Case {
    metric: Metric,
    quantization: Quantization,
    dimensions: usize,
    vectors: Vec<Vec<f32>>,
    allowed: Vec<bool>,
    deleted: Vec<bool>,
    query: Vec<f32>,
    k: usize,
    compact: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..6, 1usize..48).prop_flat_map(|(dimensions, count)| {
        // Small integer grids make exact ties and duplicate vectors common, which is where
        // ordering and filtering bugs hide.
        let component = (-4i8..=4).prop_map(|value| f32::from(value) * 0.5 + 0.25);
        let vector = proptest::collection::vec(component, dimensions);
        (
            prop_oneof![Just(Metric::L2), Just(Metric::Cosine)],
            prop_oneof![
                Just(Quantization::None),
                Just(Quantization::Sq8 { rerank: true }),
                Just(Quantization::Sq8 { rerank: false })
            ],
            proptest::collection::vec(vector.clone(), count),
            proptest::collection::vec(any::<bool>(), count),
            proptest::collection::vec(prop::bool::weighted(0.3), count),
            vector,
            1usize..12,
            any::<bool>(),
        )
            .prop_map(
                move |(metric, quantization, vectors, allowed, deleted, query, k, compact)| Case {
                    metric,
                    quantization,
                    dimensions,
                    vectors,
                    allowed,
                    deleted,
                    query,
                    k,
                    compact,
                },
            )
    })
}

fn id_of(position: usize) -> u64 {
    (position as u64).wrapping_mul(0x9E37_79B9) ^ 0xABCD
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn results_are_allowed_live_sorted_bounded_and_exact_when_scanned(case in case()) {
        let mut config = IndexConfig::new(case.dimensions, case.metric);
        config.quantization = case.quantization;
        config.neighbors_per_node = 4;
        config.ef_construction = 16;
        config.sq8_training_vectors = 8;
        let mut index = Index::new(config).unwrap();
        for (position, vector) in case.vectors.iter().enumerate() {
            index.insert(id_of(position), vector).unwrap();
        }
        for (position, deleted) in case.deleted.iter().enumerate() {
            if *deleted {
                prop_assert!(index.delete(id_of(position)));
            }
        }
        if case.compact {
            index.compact();
        }
        let allowed = AllowedSet::new(
            case.allowed.iter().enumerate().filter(|(_, allowed)| **allowed).map(|(p, _)| id_of(p)),
        );
        let eligible: Vec<usize> = (0..case.vectors.len())
            .filter(|p| case.allowed[*p] && !case.deleted[*p])
            .collect();

        for choice in [StrategyChoice::Auto, StrategyChoice::Exact, StrategyChoice::Graph] {
            let options = SearchOptions {
                filter: Some(Filter::Allowed(&allowed)),
                strategy: choice,
                ..SearchOptions::default()
            };
            let result = index.search_with(&case.query, case.k, &options).unwrap();
            prop_assert!(result.hits.len() <= case.k);
            let mut seen = std::collections::HashSet::new();
            for hit in &result.hits {
                let position = eligible.iter().find(|p| id_of(**p) == hit.id);
                prop_assert!(position.is_some(), "{} is not allowed and live", hit.id);
                prop_assert!(seen.insert(hit.id), "{} returned twice", hit.id);
            }
            for pair in result.hits.windows(2) {
                prop_assert!(pair[0].distance <= pair[1].distance);
            }
            if choice != StrategyChoice::Graph {
                // Tiny allowed sets are always scanned, and a scan is exact.
                prop_assert_eq!(result.strategy, vector_index::Strategy::Exact);
                prop_assert_eq!(result.hits.len(), eligible.len().min(case.k));
                let mut truth: Vec<f64> = eligible
                    .iter()
                    .map(|p| reference_distance(case.metric, &case.query, &case.vectors[*p]))
                    .collect();
                truth.sort_by(f64::total_cmp);
                if result.exact_distances {
                    for (hit, expected) in result.hits.iter().zip(&truth) {
                        prop_assert!((f64::from(hit.distance) - expected).abs() < 1e-4,
                            "distance {} expected {}", hit.distance, expected);
                    }
                }
            }
        }

        // Without a filter, only live ids come back.
        let result = index.search(&case.query, case.k).unwrap();
        for hit in &result.hits {
            let position = (0..case.vectors.len()).find(|p| id_of(*p) == hit.id).unwrap();
            prop_assert!(!case.deleted[position]);
        }
    }

    #[test]
    fn snapshot_decoding_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Index::from_snapshot_bytes(&bytes);
        let _ = vector_index::decode_ops(&bytes);
    }

    /// Damage that slips past the checksum (a buggy writer, or a crafted file) must still either
    /// be refused or give an index that works, never a panic.
    #[test]
    fn resealed_damaged_snapshots_are_refused_or_usable(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        query in proptest::collection::vec(-1.0f32..1.0, 4),
    ) {
        let mut bytes = small_snapshot().to_vec();
        for (position, mask) in flips {
            let position = 24 + position.index(bytes.len() - 24);
            bytes[position] ^= mask;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&bytes[8..20]);
        hasher.update(&bytes[24..]);
        let checksum = hasher.finalize();
        bytes[20..24].copy_from_slice(&checksum.to_le_bytes());
        if let Ok(mut index) = Index::from_snapshot_bytes(&bytes) {
            let query: Vec<f32> = query.iter().map(|value| value + 2.0).collect();
            let _ = index.search(&query, 5);
            let everything = |_: u64| true;
            let filter = Filter::Predicate { allows: &everything, allowed_count_estimate: None };
            let _ = index.search_filtered(&query, 5, &filter);
            index.compact();
            let _ = index.insert(u64::MAX, &query);
            let _ = index.search(&query, 5);
        }
    }
}

/// A small snapshot with tombstones and SQ8 codes, so damage can land in every section.
fn small_snapshot() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let mut config = IndexConfig::new(4, Metric::L2);
        config.quantization = Quantization::Sq8 { rerank: true };
        config.neighbors_per_node = 3;
        config.sq8_training_vectors = 10;
        let mut index = Index::new(config).unwrap();
        for position in 0..40u64 {
            let value = position as f32;
            index
                .insert(position, &[value.sin(), value.cos(), value * 0.1, 1.0])
                .unwrap();
        }
        for position in (0..40).step_by(7) {
            index.delete(position);
        }
        index.to_snapshot_bytes()
    })
}
