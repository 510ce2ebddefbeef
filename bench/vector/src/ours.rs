//! `index`: our index on the prepared vectors, single-threaded, then every table and the
//! RESULT line, with the peers' figures from `peers.json` beside ours.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use vector_index::{
    AllowedSet, Filter, Index, IndexConfig, MemoryReport, Metric, Quantization, SearchOptions,
    StrategyChoice,
};

use crate::files::{self, Matrix};
use crate::report::{self, Point, grouped, optional, qps_at_recall, table};
use crate::{BenchResult, K};

/// The beam widths of every recall/throughput sweep, ours and the peers' alike.
const EF_SWEEP: [usize; 12] = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];

/// Timed passes over all queries; the fastest counts, as in ann-benchmarks, because on a shared
/// machine the slow passes measure the neighbours, not the index.
const REPEATS: usize = 3;

const F32_NAME: &str = "ours f32";
const SQ8_RERANK_NAME: &str = "ours SQ8+rerank";

/// The recall at which throughputs are compared, and the one that must be reachable.
const TARGET_RECALL: f64 = 0.95;
const HIGH_RECALL: f64 = 0.99;

struct FilterSpec {
    tag: String,
    sets: Vec<AllowedSet>,
    truth: Vec<u32>,
}

struct Prepared {
    manifest: Value,
    base: Matrix,
    queries: Matrix,
    truth: Vec<u32>,
    filters: Vec<FilterSpec>,
}

fn load(work_dir: &Path) -> BenchResult<Prepared> {
    let manifest = files::read_json(&work_dir.join("prepare.json"))?;
    let vectors_path = manifest["vectors_path"]
        .as_str()
        .ok_or("prepare.json has no vectors_path")?;
    let vectors = files::read_vectors(Path::new(vectors_path))
        .ok_or_else(|| format!("{vectors_path}: missing or damaged; run `prepare` again"))?;
    let query_rows = files::read_ids(&work_dir.join("queries.u32"))?;
    let mut is_query = vec![false; vectors.rows];
    for row in &query_rows {
        is_query[*row as usize] = true;
    }
    let base_rows: Vec<u32> = (0..vectors.rows as u32)
        .filter(|row| !is_query[*row as usize])
        .collect();
    let base = vectors.select(&base_rows);
    let queries = vectors.select(&query_rows);
    let truth = files::read_ids(&work_dir.join("truth.u32"))?;
    let mut filters = Vec::new();
    for spec in manifest["filters"]
        .as_array()
        .ok_or("prepare.json has no filters")?
    {
        let tag = spec["tag"]
            .as_str()
            .ok_or("filter without tag")?
            .to_string();
        let set_size = spec["set_size"].as_u64().ok_or("filter without set_size")? as usize;
        let ids = files::read_ids(&work_dir.join(format!("allowed_{tag}.u32")))?;
        let sets = ids
            .chunks(set_size)
            .map(|set| AllowedSet::new(set.iter().map(|id| u64::from(*id))))
            .collect();
        filters.push(FilterSpec {
            truth: files::read_ids(&work_dir.join(format!("truth_{tag}.u32")))?,
            sets,
            tag,
        });
    }
    Ok(Prepared {
        manifest,
        base,
        queries,
        truth,
        filters,
    })
}

/// One index configuration under test.
struct Variant {
    name: &'static str,
    config: IndexConfig,
}

fn params_of(config: &IndexConfig) -> String {
    format!(
        "M={} efC={}",
        config.neighbors_per_node, config.ef_construction
    )
}

struct Measured {
    name: String,
    params: String,
    build_seconds: f64,
    memory_bytes_per_vector: f64,
    memory: Option<MemoryReport>,
    sweep: Vec<Point>,
}

impl Measured {
    fn qps_at_target(&self) -> Option<f64> {
        qps_at_recall(&self.sweep, TARGET_RECALL)
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "params": self.params,
            "build_seconds": self.build_seconds,
            "memory_bytes_per_vector": self.memory_bytes_per_vector,
            "sweep": self.sweep.iter().map(|p| json!({"ef": p.ef, "recall": p.recall, "qps": p.qps})).collect::<Vec<_>>(),
        })
    }

    fn from_peer(entry: &Value, vectors: usize) -> Option<Self> {
        Some(Self {
            name: entry["name"].as_str()?.to_string(),
            params: entry["params"].as_str()?.to_string(),
            build_seconds: entry["build_seconds"].as_f64()?,
            memory_bytes_per_vector: entry["memory_bytes"].as_f64()? / vectors as f64,
            memory: None,
            sweep: entry["sweep"]
                .as_array()?
                .iter()
                .map(|point| {
                    Some(Point {
                        ef: point["ef"].as_u64()? as usize,
                        recall: point["recall"].as_f64()?,
                        qps: point["qps"].as_f64()?,
                        distance_computations: None,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

fn build(base: &Matrix, config: IndexConfig) -> BenchResult<(Index, f64)> {
    let mut index = Index::new(config)?;
    let started = Instant::now();
    for row in 0..base.rows {
        index.insert(row as u64, base.row(row))?;
    }
    // hnswlib and faiss allocate for the final size up front; ours grows by doubling, so the
    // spare capacity is released (inside the timed build) before memory is reported.
    index.shrink_to_fit();
    Ok((index, started.elapsed().as_secs_f64()))
}

/// Hits of `found` among the first `K` ids of `truth`.
fn hits(found: impl Iterator<Item = u64>, truth: &[u32]) -> usize {
    let expected = &truth[..K];
    found
        .filter(|id| expected.iter().any(|row| u64::from(*row) == *id))
        .count()
}

/// What one pass over all queries found, and what it cost.
struct Pass {
    recall: f64,
    qps: f64,
    distance_computations: f64,
    strategies: BTreeMap<&'static str, usize>,
}

/// Runs every query `REPEATS` times with the options `options_of(query)` gives, keeping the
/// first pass's answers and the fastest pass's time.
fn timed_passes<'a>(
    index: &Index,
    queries: &Matrix,
    truth: &[u32],
    options_of: &dyn Fn(usize) -> SearchOptions<'a>,
) -> BenchResult<Pass> {
    let mut best_seconds = f64::INFINITY;
    let mut first: Option<Pass> = None;
    for _ in 0..REPEATS {
        let mut found_hits = 0usize;
        let mut computations = 0usize;
        let mut strategies: BTreeMap<&'static str, usize> = BTreeMap::new();
        let started = Instant::now();
        for query in 0..queries.rows {
            let result = index.search_with(queries.row(query), K, &options_of(query))?;
            if first.is_none() {
                found_hits += hits(
                    result.hits.iter().map(|hit| hit.id),
                    &truth[query * K..(query + 1) * K],
                );
                computations += result.distance_computations;
                *strategies.entry(result.strategy.as_str()).or_default() += 1;
            }
        }
        best_seconds = best_seconds.min(started.elapsed().as_secs_f64());
        if first.is_none() {
            first = Some(Pass {
                recall: found_hits as f64 / (queries.rows * K) as f64,
                qps: 0.0,
                distance_computations: computations as f64 / queries.rows as f64,
                strategies,
            });
        }
    }
    let mut pass = first.ok_or("no queries")?;
    pass.qps = queries.rows as f64 / best_seconds;
    Ok(pass)
}

fn sweep(index: &Index, prepared: &Prepared, name: &str) -> BenchResult<Vec<Point>> {
    let mut points = Vec::new();
    for ef in EF_SWEEP {
        let options = SearchOptions {
            ef_search: Some(ef),
            ..SearchOptions::default()
        };
        let pass = timed_passes(index, &prepared.queries, &prepared.truth, &|_| options)?;
        eprintln!(
            "{name} ef={ef} recall={:.4} qps={:.0}",
            pass.recall, pass.qps
        );
        points.push(Point {
            ef,
            recall: pass.recall,
            qps: pass.qps,
            distance_computations: Some(pass.distance_computations),
        });
    }
    Ok(points)
}

fn measure(prepared: &Prepared, variant: &Variant) -> BenchResult<(Index, Measured)> {
    eprintln!("building {} ({})", variant.name, params_of(&variant.config));
    let (index, build_seconds) = build(&prepared.base, variant.config.clone())?;
    eprintln!("built {} in {build_seconds:.1} s", variant.name);
    let stats = index.stats();
    let measured = Measured {
        name: variant.name.to_string(),
        params: params_of(&variant.config),
        build_seconds,
        memory_bytes_per_vector: stats.memory.total_bytes() as f64 / stats.live_vectors as f64,
        memory: Some(stats.memory),
        sweep: sweep(&index, prepared, variant.name)?,
    };
    Ok((index, measured))
}

/// The CPU features the distance kernels were compiled for; the crate has no runtime dispatch,
/// so this is what ran.
fn kernel_features() -> String {
    let features = [
        ("sse4.1", cfg!(target_feature = "sse4.1")),
        ("avx2", cfg!(target_feature = "avx2")),
        ("fma", cfg!(target_feature = "fma")),
        ("avx512f", cfg!(target_feature = "avx512f")),
    ];
    let enabled: Vec<&str> = features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    if enabled.is_empty() {
        "x86-64 baseline (SSE2)".to_string()
    } else {
        enabled.join("+")
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

fn config(prepared: &Prepared, quantization: Quantization) -> IndexConfig {
    let mut config = IndexConfig::new(prepared.base.dimensions, Metric::Cosine);
    config.quantization = quantization;
    config
}

/// `--portable-out`: only the f32 index, for the build-flags comparison.
fn run_portable(prepared: &Prepared, out: &Path) -> BenchResult<()> {
    let variant = Variant {
        name: F32_NAME,
        config: config(prepared, Quantization::None),
    };
    let (_, measured) = measure(prepared, &variant)?;
    let mut value = measured.to_json();
    value["kernel_features"] = json!(kernel_features());
    files::write_json(out, &value)
}

pub fn run(work_dir: &Path, portable_out: Option<&Path>) -> BenchResult<()> {
    let load_at_start = load_average();
    let prepared = load(work_dir)?;
    if let Some(out) = portable_out {
        return run_portable(&prepared, out);
    }
    let peers = files::read_json(&work_dir.join("peers.json")).ok();
    let portable = files::read_json(&work_dir.join("portable.json")).ok();

    let variants = [
        Variant {
            name: F32_NAME,
            config: config(&prepared, Quantization::None),
        },
        Variant {
            name: SQ8_RERANK_NAME,
            config: config(&prepared, Quantization::Sq8 { rerank: true }),
        },
        Variant {
            name: "ours SQ8 codes only",
            config: config(&prepared, Quantization::Sq8 { rerank: false }),
        },
    ];
    let mut ours: Vec<Measured> = Vec::new();
    let mut filtered = Vec::new();
    for (position, variant) in variants.iter().enumerate() {
        let (index, measured) = measure(&prepared, variant)?;
        ours.push(measured);
        // Filtered search is measured on the f32 index and on SQ8 with re-ranking, the two
        // modes that return exact distances.
        if position < 2 {
            filtered.extend(measure_filtered(&index, variant.name, &prepared)?);
        }
    }
    let load_at_end = load_average();

    let vectors = prepared.base.rows;
    let peer_indexes: Vec<Measured> = peers
        .as_ref()
        .and_then(|peers| peers["indexes"].as_array())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| Measured::from_peer(entry, vectors))
                .collect()
        })
        .unwrap_or_default();
    let portable_measured = portable
        .as_ref()
        .and_then(|value| Measured::from_peer_like_ours(value, vectors));

    print_report(&Report {
        prepared: &prepared,
        ours: &ours,
        peers: &peer_indexes,
        peers_raw: peers.as_ref(),
        portable: portable_measured.as_ref(),
        portable_features: portable
            .as_ref()
            .and_then(|value| value["kernel_features"].as_str())
            .unwrap_or("n/a"),
        filtered: &filtered,
        load_at_start: &load_at_start,
        load_at_end: &load_at_end,
    });
    Ok(())
}

impl Measured {
    /// Reads back what `run_portable` wrote.
    fn from_peer_like_ours(value: &Value, vectors: usize) -> Option<Self> {
        let mut entry = value.clone();
        entry["memory_bytes"] = json!(value["memory_bytes_per_vector"].as_f64()? * vectors as f64);
        Self::from_peer(&entry, vectors)
    }
}

/// One filtered measurement: a selectivity, an index, a way of choosing the strategy, a beam.
struct FilteredRow {
    tag: String,
    allowed_ids: usize,
    index: &'static str,
    label: String,
    /// The beam asked for; `None` is the index's default (`IndexConfig::ef_search`).
    ef: Option<usize>,
    choice: StrategyChoice,
    pass: Pass,
}

/// Beams tried with the planner besides the default one, to show the recall/throughput trade
/// of the strategy it picks.
const FILTERED_EFS: [usize; 3] = [16, 24, 32];

fn measure_filtered(
    index: &Index,
    index_name: &'static str,
    prepared: &Prepared,
) -> BenchResult<Vec<FilteredRow>> {
    let mut rows = Vec::new();
    for spec in &prepared.filters {
        let mut ways: Vec<(StrategyChoice, Option<usize>)> = vec![(StrategyChoice::Auto, None)];
        ways.extend(
            FILTERED_EFS
                .iter()
                .map(|ef| (StrategyChoice::Auto, Some(*ef))),
        );
        ways.push((StrategyChoice::Exact, None));
        ways.push((StrategyChoice::Graph, None));
        for (choice, ef_search) in ways {
            let options_of = |query: usize| SearchOptions {
                filter: Some(Filter::Allowed(&spec.sets[query % spec.sets.len()])),
                ef_search,
                strategy: choice,
            };
            let pass = timed_passes(index, &prepared.queries, &spec.truth, &options_of)?;
            let how = match choice {
                StrategyChoice::Auto => "planner",
                StrategyChoice::Exact => "forced exact scan",
                StrategyChoice::Graph => "forced in-graph",
            };
            let beam = ef_search.map_or_else(
                || format!("ef {} (default)", index.config().ef_search),
                |ef| format!("ef {ef}"),
            );
            let label = format!("{index_name}, {how}, {beam}");
            eprintln!(
                "filtered {}% {label}: recall={:.4} qps={:.0}",
                spec.tag, pass.recall, pass.qps
            );
            rows.push(FilteredRow {
                tag: spec.tag.clone(),
                allowed_ids: spec.sets[0].len(),
                index: index_name,
                label,
                ef: ef_search,
                choice,
                pass,
            });
        }
    }
    Ok(rows)
}

/// The planner's operating point for one selectivity and index: the fastest planner row that
/// reaches `recall_min`, else the one with the best recall.
fn operating_point<'a>(
    rows: &'a [FilteredRow],
    tag: &str,
    index: &str,
    recall_min: f64,
) -> Option<&'a FilteredRow> {
    let planner = rows
        .iter()
        .filter(|row| row.tag == tag && row.index == index && row.choice == StrategyChoice::Auto);
    planner
        .clone()
        .filter(|row| row.pass.recall >= recall_min)
        .max_by(|a, b| a.pass.qps.total_cmp(&b.pass.qps))
        .or_else(|| planner.max_by(|a, b| a.pass.recall.total_cmp(&b.pass.recall)))
}

struct Report<'a> {
    prepared: &'a Prepared,
    ours: &'a [Measured],
    peers: &'a [Measured],
    peers_raw: Option<&'a Value>,
    portable: Option<&'a Measured>,
    portable_features: &'a str,
    filtered: &'a [FilteredRow],
    load_at_start: &'a str,
    load_at_end: &'a str,
}

fn strategies_text(strategies: &BTreeMap<&'static str, usize>) -> String {
    strategies
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_report(report: &Report<'_>) {
    let prepared = report.prepared;
    let manifest = &prepared.manifest;
    let embed = &manifest["embed"];
    let versions = report
        .peers_raw
        .map(|peers| {
            peers["versions"]
                .as_object()
                .map(|versions| {
                    versions
                        .iter()
                        .map(|(name, version)| {
                            format!("{name} {}", version.as_str().unwrap_or("?"))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "peers not run".to_string());

    table(
        "Setup",
        &["item", "value"],
        &[
            vec!["corpus".into(), format!("WordNet 3.0 synsets, {} documents", manifest["documents"])],
            vec!["model".into(), manifest["model_id"].as_str().unwrap_or("?").to_string()],
            vec!["vectors".into(), format!("{} base + {} queries (seed {}), {} dimensions, cosine", prepared.base.rows, prepared.queries.rows, manifest["split_seed"], prepared.base.dimensions)],
            vec!["threads".into(), "one search thread each: ours single-threaded by design; hnswlib num_threads=1; faiss omp_set_num_threads(1); no taskset pinning".into()],
            vec!["timing".into(), format!("best of {REPEATS} passes over all queries")],
            vec!["our kernels compiled for".into(), kernel_features()],
            vec!["peers".into(), versions],
            vec!["load average (1/5/15 min)".into(), format!("start {}, end {}", report.load_at_start, report.load_at_end)],
        ],
    );

    let embed_rate = embed["docs_per_second"].as_f64().unwrap_or(0.0);
    let from_cache = embed["from_cache"].as_bool().unwrap_or(false);
    table(
        "Embedding (all-MiniLM-L6-v2 on candle, both cores, batches of 256 sorted by length)",
        &[
            "documents embedded",
            "seconds",
            "docs/s",
            "source",
            "threads",
        ],
        &[vec![
            grouped(embed["documents"].as_f64().unwrap_or(0.0)),
            format!("{:.1}", embed["seconds"].as_f64().unwrap_or(0.0)),
            format!("{embed_rate:.1}"),
            if from_cache {
                format!(
                    "vectors from cache; throughput from a fixed sample (min cosine to cache {:.6})",
                    embed["sample_min_cosine"].as_f64().unwrap_or(f64::NAN)
                )
            } else {
                "full corpus embedded in this run".to_string()
            },
            format!(
                "{} (CANDLE_NUM_THREADS={})",
                embed["threads"],
                embed["candle_num_threads"].as_str().unwrap_or("unset")
            ),
        ]],
    );

    let mut all: Vec<&Measured> = report.ours.iter().collect();
    all.extend(report.peers);
    let hnswlib = report.peers.iter().find(|peer| peer.name == "hnswlib");
    let mut summary_rows: Vec<Vec<String>> = all
        .iter()
        .map(|index| {
            vec![
                index.name.clone(),
                index.params.clone(),
                format!("{:.1}", index.build_seconds),
                format!("{:.0}", index.memory_bytes_per_vector),
                optional(index.qps_at_target(), grouped),
                format!("{:.4}", report::max_recall(&index.sweep)),
            ]
        })
        .collect();
    if let Some(portable) = report.portable {
        summary_rows.push(vec![
            format!("ours f32, portable build ({})", report.portable_features),
            portable.params.clone(),
            format!("{:.1}", portable.build_seconds),
            format!("{:.0}", portable.memory_bytes_per_vector),
            optional(portable.qps_at_target(), grouped),
            format!("{:.4}", report::max_recall(&portable.sweep)),
        ]);
    }
    table(
        "Unfiltered search, single-threaded (memory: ours from stats().memory; hnswlib save_index file; faiss serialize_index)",
        &[
            "index",
            "params",
            "build s",
            "bytes/vector",
            "queries/s at recall@10 0.95",
            "best recall@10",
        ],
        &summary_rows,
    );

    let mut sweep_headers = vec!["ef".to_string()];
    sweep_headers.extend(
        all.iter()
            .map(|index| format!("{} recall / q/s", index.name)),
    );
    let sweep_rows: Vec<Vec<String>> = EF_SWEEP
        .iter()
        .map(|ef| {
            let mut row = vec![ef.to_string()];
            for index in &all {
                row.push(
                    index
                        .sweep
                        .iter()
                        .find(|point| point.ef == *ef)
                        .map_or("n/a".into(), |point| {
                            format!("{:.4} / {}", point.recall, grouped(point.qps))
                        }),
                );
            }
            row
        })
        .collect();
    let sweep_header_refs: Vec<&str> = sweep_headers.iter().map(String::as_str).collect();
    table(
        "Recall@10 vs queries/s by ef",
        &sweep_header_refs,
        &sweep_rows,
    );

    let f32_ours = &report.ours[0];
    let sq8_ours = &report.ours[1];
    let sq8_bare = &report.ours[2];
    let sq8_rows: Vec<Vec<String>> = f32_ours
        .sweep
        .iter()
        .zip(&sq8_ours.sweep)
        .zip(&sq8_bare.sweep)
        .map(|((f, s), b)| {
            vec![
                f.ef.to_string(),
                format!("{:.4}", f.recall),
                format!("{:.4} ({:+.4})", s.recall, s.recall - f.recall),
                format!("{:.4} ({:+.4})", b.recall, b.recall - f.recall),
                format!("{:.0}", f.distance_computations.unwrap_or(0.0)),
            ]
        })
        .collect();
    table(
        "SQ8 against f32 at equal ef (ours)",
        &[
            "ef",
            "f32 recall",
            "SQ8+rerank recall (delta)",
            "SQ8 no-rerank recall (delta)",
            "f32 distances/query",
        ],
        &sq8_rows,
    );
    let memory_rows: Vec<Vec<String>> = report
        .ours
        .iter()
        .filter_map(|index| {
            let memory = index.memory?;
            let per = |bytes: usize| format!("{:.0}", bytes as f64 / prepared.base.rows as f64);
            Some(vec![
                index.name.clone(),
                per(memory.graph_bytes),
                per(memory.vectors_bytes),
                per(memory.codes_bytes),
                per(memory.rerank_bytes),
                per(memory.ids_bytes),
                per(memory.traversal_bytes()),
                per(memory.total_bytes()),
            ])
        })
        .collect();
    table(
        "Memory per vector, bytes (stats().memory)",
        &[
            "index",
            "graph",
            "f32 vectors",
            "SQ8 codes",
            "rerank f32",
            "ids",
            "traversal",
            "total",
        ],
        &memory_rows,
    );

    let mut filtered_rows: Vec<Vec<String>> = report
        .filtered
        .iter()
        .map(|row| {
            vec![
                format!("{}% ({} ids)", row.tag, grouped(row.allowed_ids as f64)),
                row.label.clone(),
                format!("{:.4}", row.pass.recall),
                grouped(row.pass.qps),
                format!("{:.0}", row.pass.distance_computations),
                strategies_text(&row.pass.strategies),
            ]
        })
        .collect();
    if let Some(peer_rows) = report
        .peers_raw
        .and_then(|peers| peers["filtered"].as_array())
    {
        for row in peer_rows {
            let ef = row["ef"]
                .as_u64()
                .map_or(String::new(), |ef| format!(", ef {ef}"));
            filtered_rows.push(vec![
                format!("{}%", row["tag"].as_str().unwrap_or("?")),
                format!("{}{ef}", row["name"].as_str().unwrap_or("?")),
                format!("{:.4}", row["recall"].as_f64().unwrap_or(0.0)),
                grouped(row["qps"].as_f64().unwrap_or(0.0)),
                String::new(),
                String::new(),
            ]);
        }
    }
    // Group by selectivity (the cell starts with it), ours before the peers, order kept.
    filtered_rows.sort_by_key(|row| {
        row[0]
            .split('%')
            .next()
            .and_then(|tag| tag.parse::<u32>().ok())
    });
    table(
        &format!(
            "Filtered search: random allowed sets ({} per selectivity, seed {}), recall@10 against exact search within the set",
            crate::prepare::FILTER_SETS,
            manifest["filter_seed"]
        ),
        &[
            "allowed",
            "method",
            "recall@10",
            "queries/s",
            "distances/query",
            "strategy picked",
        ],
        &filtered_rows,
    );

    // Goals from issue 4.
    let ours_qps = f32_ours.qps_at_target();
    let hnswlib_qps = hnswlib.and_then(Measured::qps_at_target);
    let ratio = ours_qps
        .zip(hnswlib_qps)
        .map(|(ours, theirs)| ours / theirs);
    let ours_max = report::max_recall(&f32_ours.sweep);
    let recall_delta = |other: &Measured| {
        f32_ours
            .sweep
            .iter()
            .zip(&other.sweep)
            .map(|(f, s)| f.recall - s.recall)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let memory_ratio =
        |other: &Measured| other.memory_bytes_per_vector / f32_ours.memory_bytes_per_vector;
    let rerank_delta = recall_delta(sq8_ours);
    let rerank_memory_ratio = memory_ratio(sq8_ours);
    let rerank_traversal_ratio = sq8_ours
        .memory
        .zip(f32_ours.memory)
        .map_or(f64::NAN, |(s, f)| {
            s.traversal_bytes() as f64 / f.total_bytes() as f64
        });
    let plain_delta = recall_delta(sq8_bare);
    let plain_memory_ratio = memory_ratio(sq8_bare);
    let build_ratio = hnswlib.map(|h| f32_ours.build_seconds / h.build_seconds);
    let point = |tag: &str, index: &str, recall_min: f64| {
        operating_point(report.filtered, tag, index, recall_min)
    };
    let filtered1 = point("1", F32_NAME, 0.99);
    let filtered10 = point("10", F32_NAME, 0.95);
    let filtered1_sq8 = point("1", SQ8_RERANK_NAME, 0.99);
    let filtered10_sq8 = point("10", SQ8_RERANK_NAME, 0.95);
    let meets = |row: Option<&FilteredRow>, recall_min: f64, qps_min: f64| {
        row.is_some_and(|row| row.pass.recall >= recall_min && row.pass.qps >= qps_min)
    };
    let describe = |row: Option<&FilteredRow>| {
        row.map_or("n/a".to_string(), |row| {
            format!(
                "{:.4} at {} q/s ({})",
                row.pass.recall,
                grouped(row.pass.qps),
                row.label
            )
        })
    };
    let met = |ok: bool| if ok { "met" } else { "NOT met" }.to_string();
    let filter_goal = |allowed: &str,
                       f32_row: Option<&FilteredRow>,
                       sq8_row: Option<&FilteredRow>,
                       recall_min: f64,
                       qps_min: f64| {
        let status = match (
            meets(f32_row, recall_min, qps_min),
            meets(sq8_row, recall_min, qps_min),
        ) {
            (true, _) => "met",
            (false, true) => "met with SQ8+rerank only",
            (false, false) => "NOT met",
        };
        vec![
            format!(
                "{allowed} filter: recall >= {recall_min} at >= {} q/s",
                grouped(qps_min)
            ),
            format!(
                "f32: {}; SQ8+rerank: {}",
                describe(f32_row),
                describe(sq8_row)
            ),
            status.to_string(),
        ]
    };
    let goals = vec![
        vec![
            "queries/s at recall@10 0.95 >= 1.0x hnswlib".into(),
            format!(
                "f32 {} vs {} = {}; SQ8+rerank {}",
                optional(ours_qps, grouped),
                optional(hnswlib_qps, grouped),
                optional(ratio, |r| format!("{r:.2}x")),
                optional(
                    sq8_ours
                        .qps_at_target()
                        .zip(hnswlib_qps)
                        .map(|(o, h)| o / h),
                    |r| format!("{r:.2}x")
                ),
            ),
            met(ratio.is_some_and(|r| r >= 1.0)),
        ],
        vec![
            "recall@10 >= 0.99 reachable".into(),
            format!(
                "best {ours_max:.4} (ef up to {})",
                EF_SWEEP[EF_SWEEP.len() - 1]
            ),
            met(ours_max >= HIGH_RECALL),
        ],
        vec![
            "int8 within 0.01 recall of f32 at <= 40% of its memory".into(),
            format!(
                "SQ8 (codes only): worst delta {plain_delta:+.4}, memory {:.0}%; SQ8+rerank: worst delta {rerank_delta:+.4}, memory {:.0}% (traversal {:.0}%)",
                plain_memory_ratio * 100.0,
                rerank_memory_ratio * 100.0,
                rerank_traversal_ratio * 100.0
            ),
            met(plain_delta <= 0.01 && plain_memory_ratio <= 0.40),
        ],
        vec![
            "build time <= hnswlib's".into(),
            format!(
                "{:.1} s vs {} = {}",
                f32_ours.build_seconds,
                optional(hnswlib.map(|h| h.build_seconds), |s| format!("{s:.1} s")),
                optional(build_ratio, |r| format!("{r:.2}x"))
            ),
            met(build_ratio.is_some_and(|r| r <= 1.0)),
        ],
        filter_goal("1%", filtered1, filtered1_sq8, 0.99, 20_000.0),
        filter_goal("10%", filtered10, filtered10_sq8, 0.95, 3_000.0),
    ];
    table("Goals (issue 4)", &["goal", "measured", "status"], &goals);

    let strategy = |row: Option<&FilteredRow>| {
        row.map_or("na".to_string(), |row| {
            row.pass
                .strategies
                .iter()
                .max_by_key(|(_, count)| **count)
                .map_or("na".to_string(), |(name, _)| (*name).to_string())
        })
    };
    let number = |value: Option<f64>, digits: usize| {
        value.map_or("na".to_string(), |value| format!("{value:.digits$}"))
    };
    let ef_of = |row: Option<&FilteredRow>| {
        row.map_or("na".to_string(), |row| {
            row.ef
                .unwrap_or(IndexConfig::new(1, Metric::Cosine).ef_search)
                .to_string()
        })
    };
    let faiss_qps = report
        .peers
        .iter()
        .find(|peer| peer.name == "faiss HNSW32")
        .and_then(Measured::qps_at_target);
    let fields = [
        ("ours_qps_at_r95", number(ours_qps, 0)),
        ("hnswlib_qps_at_r95", number(hnswlib_qps, 0)),
        ("ratio", number(ratio, 3)),
        ("faiss_qps_at_r95", number(faiss_qps, 0)),
        (
            "ours_sq8_rerank_qps_at_r95",
            number(sq8_ours.qps_at_target(), 0),
        ),
        (
            "portable_qps_at_r95",
            number(report.portable.and_then(Measured::qps_at_target), 0),
        ),
        ("ours_max_recall", format!("{ours_max:.4}")),
        ("r99_reachable", (ours_max >= HIGH_RECALL).to_string()),
        ("ours_build_s", format!("{:.1}", f32_ours.build_seconds)),
        (
            "hnswlib_build_s",
            number(hnswlib.map(|h| h.build_seconds), 1),
        ),
        ("build_ratio", number(build_ratio, 3)),
        ("sq8_recall_delta", format!("{plain_delta:.4}")),
        ("sq8_memory_ratio", format!("{plain_memory_ratio:.3}")),
        ("sq8_rerank_recall_delta", format!("{rerank_delta:.4}")),
        (
            "sq8_rerank_memory_ratio",
            format!("{rerank_memory_ratio:.3}"),
        ),
        (
            "sq8_rerank_traversal_memory_ratio",
            format!("{rerank_traversal_ratio:.3}"),
        ),
        (
            "filtered1_recall",
            number(filtered1.map(|r| r.pass.recall), 4),
        ),
        ("filtered1_qps", number(filtered1.map(|r| r.pass.qps), 0)),
        ("filtered1_strategy", strategy(filtered1)),
        ("filtered1_ef", ef_of(filtered1)),
        (
            "filtered10_recall",
            number(filtered10.map(|r| r.pass.recall), 4),
        ),
        ("filtered10_qps", number(filtered10.map(|r| r.pass.qps), 0)),
        ("filtered10_strategy", strategy(filtered10)),
        ("filtered10_ef", ef_of(filtered10)),
        (
            "filtered1_sq8_recall",
            number(filtered1_sq8.map(|r| r.pass.recall), 4),
        ),
        (
            "filtered1_sq8_qps",
            number(filtered1_sq8.map(|r| r.pass.qps), 0),
        ),
        (
            "filtered10_sq8_recall",
            number(filtered10_sq8.map(|r| r.pass.recall), 4),
        ),
        (
            "filtered10_sq8_qps",
            number(filtered10_sq8.map(|r| r.pass.qps), 0),
        ),
        ("filtered10_sq8_ef", ef_of(filtered10_sq8)),
        ("embed_docs_per_s", format!("{embed_rate:.1}")),
        ("embed_from_cache", from_cache.to_string()),
        ("kernels", kernel_features().replace(' ', "_")),
        (
            "load_start",
            report
                .load_at_start
                .split(' ')
                .next()
                .unwrap_or("?")
                .to_string(),
        ),
        (
            "load_end",
            report
                .load_at_end
                .split(' ')
                .next()
                .unwrap_or("?")
                .to_string(),
        ),
    ];
    let line: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    println!();
    println!("RESULT {}", line.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_count_only_the_first_k_truth_rows() {
        let truth: Vec<u32> = (0..K as u32 + 5).collect();
        assert_eq!(hits([0u64, 3, 9, 10, 42].into_iter(), &truth), 3);
    }
}
