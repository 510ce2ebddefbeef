//! The vector-index benchmark of issue 4: WordNet embedded by the local model, our HNSW index
//! against hnswlib and faiss on the same vectors.
//!
//! ```text
//! vector-bench prepare WORK_DIR     # corpus, vectors (cached), split, permission sets, truth
//! vector-bench index WORK_DIR       # our index; prints every table and the RESULT line
//! ```
//!
//! `bench/vector/run.sh` runs `prepare`, then the Python peers (`peers.py`), then `index`, which
//! reads the peers' figures from `WORK_DIR/peers.json` so the ratios come from one run.

mod corpus;
mod exact;
mod files;
mod ours;
mod prepare;
mod report;

use std::path::PathBuf;

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Neighbours per query, for recall@10.
pub const K: usize = 10;

/// Held-out queries.
pub const QUERIES: usize = 1_000;

/// SplitMix64: a tiny seeded generator, so the split and the permission sets need no crate. The
/// index has its own copy for levels; that one is private to it, and the benchmark's draws must
/// not change if the index's ever does.
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `count` distinct values from `0..population`, in random order (a partial Fisher–Yates
    /// shuffle).
    pub fn sample(&mut self, population: usize, count: usize) -> Vec<u32> {
        let mut values: Vec<u32> = (0..population as u32).collect();
        for i in 0..count.min(population) {
            let j = i + (self.next_u64() % (population - i) as u64) as usize;
            values.swap(i, j);
        }
        values.truncate(count);
        values
    }
}

const USAGE: &str =
    "usage: vector-bench prepare WORK_DIR | vector-bench index WORK_DIR [--portable-out FILE]";

fn main() -> std::process::ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match arguments.as_slice() {
        [command, work_dir] if command == "prepare" => prepare::run(&PathBuf::from(work_dir)),
        [command, work_dir] if command == "index" => ours::run(&PathBuf::from(work_dir), None),
        [command, work_dir, flag, out] if command == "index" && flag == "--portable-out" => {
            ours::run(&PathBuf::from(work_dir), Some(&PathBuf::from(out)))
        }
        _ => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vector-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_and_repeat_for_a_seed() {
        let sample = SplitMix64::new(9).sample(1_000, 100);
        let mut sorted = sample.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        assert_eq!(sample, SplitMix64::new(9).sample(1_000, 100));
    }
}
