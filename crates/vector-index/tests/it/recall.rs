//! Recall of the graph against exact search, in f32 and SQ8, and what each mode costs in memory.

use std::sync::OnceLock;
use std::time::Instant;

use vector_index::{Index, Metric, Quantization, Strategy};

use crate::data::{self, K};

pub fn sq8_with_rerank() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        data::build(
            &data::shared().dataset,
            data::test_config(Quantization::Sq8 { rerank: true }),
        )
    })
}

#[test]
fn f32_recall_at_10_is_at_least_0_95() {
    let started = Instant::now();
    let fixture = data::shared();
    eprintln!("shared fixture ready after {:?}", started.elapsed());
    let recall = data::mean_recall(&fixture.index, &fixture.dataset.queries, &fixture.truth);
    eprintln!("f32 recall@10 = {recall:.4}");
    assert!(recall >= 0.95, "f32 recall@10 {recall}");

    let result = fixture
        .index
        .search(&fixture.dataset.queries[0], K)
        .unwrap();
    let computations: usize = fixture
        .dataset
        .queries
        .iter()
        .map(|query| {
            fixture
                .index
                .search(query, K)
                .unwrap()
                .distance_computations
        })
        .sum();
    eprintln!(
        "unfiltered: {} distance computations per query",
        computations / fixture.dataset.queries.len()
    );
    assert_eq!(result.strategy, Strategy::Graph);
    assert!(result.exact_distances);
    assert_eq!(result.hits.len(), K);
}

#[test]
fn sq8_with_rerank_is_within_0_01_of_f32() {
    let fixture = data::shared();
    let sq8 = sq8_with_rerank();
    let f32_recall = data::mean_recall(&fixture.index, &fixture.dataset.queries, &fixture.truth);
    let sq8_recall = data::mean_recall(sq8, &fixture.dataset.queries, &fixture.truth);
    eprintln!("f32 recall@10 = {f32_recall:.4}, sq8+rerank recall@10 = {sq8_recall:.4}");
    assert!(
        sq8_recall >= f32_recall - 0.01,
        "sq8 {sq8_recall} f32 {f32_recall}"
    );

    // Re-ranked distances are the exact ones.
    let query = &fixture.dataset.queries[1];
    let result = sq8.search(query, K).unwrap();
    assert!(result.exact_distances);
    for hit in &result.hits {
        let position = ((hit.id - 1_000) / 7) as usize;
        let expected =
            data::reference_distance(Metric::Cosine, query, &fixture.dataset.vectors[position]);
        assert!((f64::from(hit.distance) - expected).abs() < 1e-4);
    }

    let f32_memory = fixture.index.stats().memory;
    let sq8_stats = sq8.stats();
    assert!(sq8_stats.quantizer_trained);
    let sq8_memory = sq8_stats.memory;
    eprintln!("f32 memory {f32_memory:?}\nsq8 memory {sq8_memory:?}");
    // Traversal reads codes, never the originals, which sit in the separate re-rank store.
    assert_eq!(sq8_memory.vectors_bytes, 0);
    assert_eq!(sq8_memory.rerank_bytes, f32_memory.vectors_bytes);
    assert!(sq8_memory.codes_bytes * 100 <= f32_memory.vectors_bytes * 30);
    assert!(sq8_memory.traversal_bytes() < f32_memory.traversal_bytes());
}

#[test]
fn sq8_traversal_memory_is_at_most_40_percent_of_f32_at_embedding_width() {
    // At 384 dimensions (all-MiniLM-L6-v2) vectors dominate the graph, which is where SQ8 pays.
    let dataset = data::clustered(7, 2_000, 50, 384);
    let config = |quantization| {
        let mut config = vector_index::IndexConfig::new(384, Metric::Cosine);
        config.quantization = quantization;
        config.ef_construction = 64;
        config.sq8_training_vectors = 500;
        config
    };
    let full = data::build(&dataset, config(Quantization::None));
    let compact = data::build(&dataset, config(Quantization::Sq8 { rerank: false }));
    let full_memory = full.stats().memory;
    let compact_memory = compact.stats().memory;
    let ratio = compact_memory.total_bytes() as f64 / full_memory.total_bytes() as f64;
    eprintln!("384-d: f32 {full_memory:?}\n384-d: sq8 {compact_memory:?}\nratio {ratio:.3}");
    assert_eq!(compact_memory.rerank_bytes, 0);
    assert!(ratio <= 0.40, "sq8 uses {ratio:.3} of f32 memory");

    // Without re-ranking the distances are approximate, but the ranking still tracks the truth.
    let truth: Vec<Vec<u64>> = dataset
        .queries
        .iter()
        .map(|query| {
            data::exact_neighbors(
                Metric::Cosine,
                dataset
                    .vectors
                    .iter()
                    .enumerate()
                    .map(|(position, vector)| (data::id_of(position), vector.as_slice())),
                query,
                K,
            )
            .into_iter()
            .map(|(id, _)| id)
            .collect()
        })
        .collect();
    let full_recall = data::mean_recall(&full, &dataset.queries, &truth);
    let compact_recall = data::mean_recall(&compact, &dataset.queries, &truth);
    eprintln!("384-d recall: f32 {full_recall:.4}, sq8 without rerank {compact_recall:.4}");
    assert!(
        !compact
            .search(&dataset.queries[0], K)
            .unwrap()
            .exact_distances
    );
    assert!(compact_recall >= full_recall - 0.05);
}

#[test]
fn the_same_seed_and_insertion_order_build_the_same_index() {
    let dataset = data::clustered(3, 600, 0, 16);
    let config = || {
        let mut config = vector_index::IndexConfig::new(16, Metric::L2);
        config.ef_construction = 40;
        config
    };
    let first = data::build(&dataset, config());
    let second = data::build(&dataset, config());
    assert_eq!(first.to_snapshot_bytes(), second.to_snapshot_bytes());
    let mut reseeded = config();
    reseeded.seed ^= 1;
    assert_ne!(
        first.to_snapshot_bytes(),
        data::build(&dataset, reseeded).to_snapshot_bytes()
    );
}

#[test]
fn shrinking_releases_spare_capacity_and_changes_no_answer() {
    let fixture = data::shared();
    let mut index = fixture.index.clone();
    let query = &fixture.dataset.queries[2];
    let before = index.search(query, K).unwrap();
    let grown = index.stats().memory;
    index.shrink_to_fit();
    let shrunk = index.stats().memory;
    assert!(shrunk.total_bytes() <= grown.total_bytes());
    // The f32 rows are exactly one row per vector once shrunk.
    assert_eq!(
        shrunk.vectors_bytes,
        data::VECTORS * data::DIMENSIONS * size_of::<f32>()
    );
    assert_eq!(index.search(query, K).unwrap().hits, before.hits);
    // Growing again after shrinking still works.
    index.insert(u64::MAX, query).unwrap();
    assert_eq!(index.search(query, 1).unwrap().hits[0].id, u64::MAX);
}
