//! A fixed synthetic corpus and the exact answers the index is measured against.
//!
//! The corpus is a Gaussian mixture: each cluster has a random centre and its own low-rank
//! spread plus isotropic noise. Clusters make the graph's long-range links matter, and the
//! low-rank spread gives the data an intrinsic dimension well below the ambient one, as real
//! embeddings have; plain isotropic noise would make every method look bad for reasons that do
//! not apply to text embeddings.

use std::collections::HashSet;
use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vector_index::{Index, IndexConfig, Metric, Quantization};

pub const DIMENSIONS: usize = 96;
pub const VECTORS: usize = 20_000;
pub const QUERIES: usize = 200;
pub const K: usize = 10;
const CLUSTERS: usize = 40;
/// Directions of spread within a cluster; half the ambient dimensions keeps the search honest
/// (recall@10 at ef 16 is about 0.94 on this corpus) without being unlike real embeddings.
const LATENT_DIMENSIONS: usize = 48;
const LATENT_SCALE: f32 = 0.35;
const NOISE_SCALE: f32 = 0.3;
const SEED: u64 = 20_240_611;

pub struct Dataset {
    pub vectors: Vec<Vec<f32>>,
    pub queries: Vec<Vec<f32>>,
}

/// External ids are deliberately not slot numbers, so a mix-up between the two shows.
pub fn id_of(position: usize) -> u64 {
    position as u64 * 7 + 1_000
}

pub fn gaussian(rng: &mut StdRng) -> f32 {
    // Box–Muller; the offset keeps the logarithm finite.
    let u1: f64 = rng.random::<f64>() + f64::MIN_POSITIVE;
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

pub fn clustered(seed: u64, vectors: usize, queries: usize, dimensions: usize) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let clusters: Vec<(Vec<f32>, Vec<f32>)> = (0..CLUSTERS)
        .map(|_| {
            let centre = (0..dimensions).map(|_| gaussian(&mut rng)).collect();
            let basis = (0..dimensions * LATENT_DIMENSIONS)
                .map(|_| gaussian(&mut rng) * LATENT_SCALE)
                .collect();
            (centre, basis)
        })
        .collect();
    let sample = |rng: &mut StdRng| -> Vec<f32> {
        let (centre, basis) = &clusters[rng.random_range(0..CLUSTERS)];
        let latent: Vec<f32> = (0..LATENT_DIMENSIONS).map(|_| gaussian(rng)).collect();
        (0..dimensions)
            .map(|d| {
                let spread: f32 = latent
                    .iter()
                    .enumerate()
                    .map(|(l, z)| basis[d * LATENT_DIMENSIONS + l] * z)
                    .sum();
                centre[d] + spread + gaussian(rng) * NOISE_SCALE
            })
            .collect()
    };
    let vectors = (0..vectors).map(|_| sample(&mut rng)).collect();
    let queries = (0..queries).map(|_| sample(&mut rng)).collect();
    Dataset { vectors, queries }
}

/// Distances computed independently of the crate, in f64, so the ground truth does not share
/// the kernels under test.
pub fn reference_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::Cosine => {
            let dot: f64 = a
                .iter()
                .zip(b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let norm_a: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let norm_b: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / (norm_a * norm_b)
        }
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum(),
    }
}

/// The exact `k` nearest among `candidates` (id, vector), closest first.
pub fn exact_neighbors<'a>(
    metric: Metric,
    candidates: impl Iterator<Item = (u64, &'a [f32])>,
    query: &[f32],
    k: usize,
) -> Vec<(u64, f64)> {
    let mut scored: Vec<(u64, f64)> = candidates
        .map(|(id, vector)| (id, reference_distance(metric, query, vector)))
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// The fraction of the true top-k ids that the index returned.
pub fn recall(found: &[u64], truth: &[u64]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let truth: HashSet<u64> = truth.iter().copied().collect();
    found.iter().filter(|id| truth.contains(id)).count() as f64 / truth.len() as f64
}

pub fn test_config(quantization: Quantization) -> IndexConfig {
    let mut config = IndexConfig::new(DIMENSIONS, Metric::Cosine);
    config.quantization = quantization;
    config.neighbors_per_node = 16;
    config.ef_construction = 100;
    config.ef_search = 64;
    config
}

pub fn build(dataset: &Dataset, config: IndexConfig) -> Index {
    let mut index = Index::new(config).unwrap();
    for (position, vector) in dataset.vectors.iter().enumerate() {
        index.insert(id_of(position), vector).unwrap();
    }
    index
}

pub struct Fixture {
    pub dataset: Dataset,
    pub index: Index,
    /// Exact top-k ids for each query over the whole corpus.
    pub truth: Vec<Vec<u64>>,
}

/// The corpus and its f32 index, built once and shared by every test in the binary.
pub fn shared() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dataset = clustered(SEED, VECTORS, QUERIES, DIMENSIONS);
        let index = build(&dataset, test_config(Quantization::None));
        let truth = dataset
            .queries
            .iter()
            .map(|query| {
                exact_neighbors(
                    Metric::Cosine,
                    dataset
                        .vectors
                        .iter()
                        .enumerate()
                        .map(|(position, vector)| (id_of(position), vector.as_slice())),
                    query,
                    K,
                )
                .into_iter()
                .map(|(id, _)| id)
                .collect()
            })
            .collect();
        Fixture {
            dataset,
            index,
            truth,
        }
    })
}

/// Mean recall@k of `index` over the shared queries against `truth`.
pub fn mean_recall(index: &Index, queries: &[Vec<f32>], truth: &[Vec<u64>]) -> f64 {
    let total: f64 = queries
        .iter()
        .zip(truth)
        .map(|(query, truth)| {
            let found: Vec<u64> = index
                .search(query, K)
                .unwrap()
                .hits
                .iter()
                .map(|hit| hit.id)
                .collect();
            recall(&found, truth)
        })
        .sum();
    total / queries.len() as f64
}
