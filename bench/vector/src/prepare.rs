//! `prepare`: the corpus, its vectors (embedded or from the cache), the query split, the
//! permission sets and the exact answers, written to a work directory for both benchmarks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::files::{self, Matrix};
use crate::{BenchResult, K, QUERIES, SplitMix64, corpus, exact};

/// Fixed seeds, so every run measures the same split and the same permission sets.
const SPLIT_SEED: u64 = 4;
const FILTER_SEED: u64 = 0xf117e2;

/// Permission sets per selectivity; query `i` may read set `i % FILTER_SETS`. Several sets stand
/// for several users; each is a uniform random sample of the base set.
pub const FILTER_SETS: usize = 10;

/// The selectivities measured, as (file tag, fraction of the base set).
pub const SELECTIVITIES: [(&str, f64); 2] = [("1", 0.01), ("10", 0.10)];

/// Documents embedded to measure throughput when the vectors come from the cache: enough for a
/// stable figure in about half a minute.
#[cfg(feature = "embed")]
const THROUGHPUT_SAMPLE_DOCUMENTS: usize = 4_096;

/// FNV-1a over the model id and every document: names the cache file, so a different corpus or
/// model never reuses stale vectors. Not cryptographic; nothing here is adversarial.
#[cfg(feature = "embed")]
fn cache_key(model_id: &str, documents: &[String]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(model_id.as_bytes());
    for document in documents {
        feed(b"\n");
        feed(document.as_bytes());
    }
    hash
}

#[cfg(feature = "embed")]
fn cache_dir() -> BenchResult<PathBuf> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache").join("trellis-bench"))
}

/// What `prepare` learned about embedding, for the report.
struct EmbedFigures {
    documents_embedded: usize,
    seconds: f64,
    from_cache: bool,
    model_load_seconds: f64,
    /// Lowest cosine between a freshly embedded sample and the cached vectors.
    sample_min_cosine: Option<f64>,
}

pub fn run(work_dir: &Path) -> BenchResult<()> {
    std::fs::create_dir_all(work_dir)?;
    let started = Instant::now();
    let documents = corpus::load(Path::new(corpus::WORDNET_DIR))?;
    eprintln!("corpus: {} documents", documents.len());
    if documents.len() != corpus::WORDNET_SYNSETS {
        eprintln!(
            "warning: expected {} synsets, found {}",
            corpus::WORDNET_SYNSETS,
            documents.len()
        );
    }
    let (model_id, vectors_path, vectors, figures) = vectors_for(&documents)?;

    let queries = query_rows(vectors.rows);
    let is_query = {
        let mut flags = vec![false; vectors.rows];
        for row in &queries {
            flags[*row as usize] = true;
        }
        flags
    };
    let base_rows: Vec<u32> = (0..vectors.rows as u32)
        .filter(|row| !is_query[*row as usize])
        .collect();
    let base = vectors.select(&base_rows);
    let query_vectors = vectors.select(&queries);
    drop(vectors);

    let truth_started = Instant::now();
    let truth = exact::ground_truth(&base, &query_vectors, K, &|_| None);
    files::write_ids(&work_dir.join("queries.u32"), &queries)?;
    files::write_ids(&work_dir.join("truth.u32"), &truth)?;
    let mut filters = Vec::new();
    let mut rng = SplitMix64::new(FILTER_SEED);
    for (tag, selectivity) in SELECTIVITIES {
        let set_size = (base.rows as f64 * selectivity).round() as usize;
        let mut sets: Vec<Vec<u32>> = Vec::with_capacity(FILTER_SETS);
        for _ in 0..FILTER_SETS {
            let mut set = rng.sample(base.rows, set_size);
            set.sort_unstable();
            sets.push(set);
        }
        let filtered_truth = exact::ground_truth(&base, &query_vectors, K, &|query| {
            Some(&sets[query % FILTER_SETS])
        });
        files::write_ids(&work_dir.join(format!("allowed_{tag}.u32")), &sets.concat())?;
        files::write_ids(&work_dir.join(format!("truth_{tag}.u32")), &filtered_truth)?;
        filters.push(json!({
            "tag": tag,
            "selectivity": selectivity,
            "sets": FILTER_SETS,
            "set_size": set_size,
        }));
    }
    let truth_seconds = truth_started.elapsed().as_secs_f64();

    let manifest = json!({
        "model_id": model_id,
        "vectors_path": vectors_path,
        "documents": base.rows + query_vectors.rows,
        "base": base.rows,
        "queries": query_vectors.rows,
        "dimensions": base.dimensions,
        "k": K,
        "split_seed": SPLIT_SEED,
        "filter_seed": FILTER_SEED,
        "filters": filters,
        "truth_seconds": truth_seconds,
        "embed": {
            "documents": figures.documents_embedded,
            "seconds": figures.seconds,
            "docs_per_second": figures.documents_embedded as f64 / figures.seconds,
            "from_cache": figures.from_cache,
            "model_load_seconds": figures.model_load_seconds,
            "sample_min_cosine": figures.sample_min_cosine,
            "threads": std::thread::available_parallelism().map_or(1, usize::from),
            "candle_num_threads": std::env::var("CANDLE_NUM_THREADS").ok(),
        },
    });
    files::write_json(&work_dir.join("prepare.json"), &manifest)?;
    eprintln!(
        "prepared {} in {:.1} s (ground truth {truth_seconds:.1} s)",
        work_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The held-out queries: the first `QUERIES` rows of a seeded shuffle.
fn query_rows(rows: usize) -> Vec<u32> {
    SplitMix64::new(SPLIT_SEED).sample(rows, QUERIES.min(rows))
}

#[cfg(not(feature = "embed"))]
fn vectors_for(_documents: &[String]) -> BenchResult<(String, PathBuf, Matrix, EmbedFigures)> {
    Err("`prepare` embeds the corpus: build vector-bench with its default `embed` feature".into())
}

#[cfg(feature = "embed")]
fn vectors_for(documents: &[String]) -> BenchResult<(String, PathBuf, Matrix, EmbedFigures)> {
    use embedding::{Embedder, LocalMiniLm, ModelSearch};

    let load_started = Instant::now();
    let model = LocalMiniLm::load(&ModelSearch::new(None))?;
    let model_load_seconds = load_started.elapsed().as_secs_f64();
    let model_id = model.model_id().to_string();
    let dimensions = model.dimensions();
    let dir = cache_dir()?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!(
        "wordnet-minilm-{:016x}.vec",
        cache_key(&model_id, documents)
    ));
    if let Some(cached) = files::read_vectors(&path)
        && cached.rows == documents.len()
        && cached.dimensions == dimensions
    {
        eprintln!(
            "vectors: cached at {}; embedding a sample to measure throughput",
            path.display()
        );
        let sample: Vec<usize> = (0..THROUGHPUT_SAMPLE_DOCUMENTS.min(documents.len()))
            .map(|i| i * documents.len() / THROUGHPUT_SAMPLE_DOCUMENTS.min(documents.len()))
            .collect();
        let texts: Vec<&str> = sample.iter().map(|i| documents[*i].as_str()).collect();
        let (embedded, seconds) = embed_all(&model, &texts)?;
        let sample_min_cosine = sample
            .iter()
            .enumerate()
            .map(|(position, row)| {
                let fresh = embedded.row(position);
                let stored = cached.row(*row);
                fresh
                    .iter()
                    .zip(stored)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        let figures = EmbedFigures {
            documents_embedded: texts.len(),
            seconds,
            from_cache: true,
            model_load_seconds,
            sample_min_cosine: Some(sample_min_cosine),
        };
        return Ok((model_id, path, cached, figures));
    }
    eprintln!(
        "vectors: embedding {} documents (cache miss at {})",
        documents.len(),
        path.display()
    );
    let texts: Vec<&str> = documents.iter().map(String::as_str).collect();
    let (vectors, seconds) = embed_all(&model, &texts)?;
    files::write_vectors(&path, &vectors)?;
    let figures = EmbedFigures {
        documents_embedded: texts.len(),
        seconds,
        from_cache: false,
        model_load_seconds,
        sample_min_cosine: None,
    };
    Ok((model_id, path, vectors, figures))
}

/// Embeds `texts` in batches of the largest size the embedder accepts, shortest texts first so
/// that each batch pads to a similar length, and returns the vectors in input order with the
/// seconds spent.
#[cfg(feature = "embed")]
fn embed_all(model: &embedding::LocalMiniLm, texts: &[&str]) -> BenchResult<(Matrix, f64)> {
    use embedding::{Embedder, TEXTS_PER_BATCH_MAX};

    let dimensions = model.dimensions();
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|i| (texts[*i].len(), *i));
    let mut values = vec![0.0f32; texts.len() * dimensions];
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut done = 0usize;
    for batch in order.chunks(TEXTS_PER_BATCH_MAX) {
        let batch_texts: Vec<&str> = batch.iter().map(|i| texts[*i]).collect();
        let vectors = model.embed_blocking(&batch_texts)?;
        for (row, vector) in batch.iter().zip(vectors) {
            values[row * dimensions..(row + 1) * dimensions].copy_from_slice(&vector);
        }
        done += batch.len();
        if last_report.elapsed().as_secs() >= 30 {
            let elapsed = started.elapsed().as_secs_f64();
            let rate = done as f64 / elapsed;
            eprintln!(
                "embedded {done}/{} ({rate:.1} docs/s, about {:.0} s left)",
                texts.len(),
                (texts.len() - done) as f64 / rate
            );
            last_report = Instant::now();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((
        Matrix {
            rows: texts.len(),
            dimensions,
            values,
        },
        seconds,
    ))
}
