use std::collections::HashSet;
use std::sync::Arc;

use document::Id;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use search::{ContentIndex, IndexedChunk, ObjectUpdate, RebuildReason, reciprocal_rank_fusion};

const DIMENSIONS: usize = 16;

fn unit(rng: &mut StdRng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIMENSIONS)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// 50 objects with 3 chunks each; chunk text names its object.
fn corpus(seed: u64) -> Vec<ObjectUpdate> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..50u128)
        .map(|o| ObjectUpdate {
            object_id: Id::from_u128(o + 1),
            chunks: (0..3u64)
                .map(|c| IndexedChunk {
                    chunk_id: (o as u64) * 10 + c + 1,
                    vector: Some(unit(&mut rng)),
                    text: format!("object{o} part{c} shared words"),
                })
                .collect(),
        })
        .collect()
}

fn all_chunks(updates: &[ObjectUpdate]) -> HashSet<u64> {
    updates
        .iter()
        .flat_map(|u| u.chunks.iter().map(|c| c.chunk_id))
        .collect()
}

#[test]
fn searches_are_restricted_to_the_allowed_chunks() {
    let (index, reason) = ContentIndex::open(None, "test", DIMENSIONS).unwrap();
    assert_eq!(reason, Some(RebuildReason::New));
    let updates = corpus(1);
    index.apply(&updates).unwrap();
    let allowed: HashSet<u64> = [11, 12, 13, 201].into_iter().collect();
    let query = updates[1].chunks[0].vector.clone().unwrap();
    let semantic = index.semantic(&query, 10, &allowed).unwrap();
    assert_eq!(
        semantic[0].chunk_id, 11,
        "the query's own chunk ranks first"
    );
    assert!(semantic.iter().all(|h| allowed.contains(&h.chunk_id)));
    assert_eq!(semantic.len(), 4);
    let keyword = index
        .keyword("shared", 100, Arc::new(allowed.clone()))
        .unwrap();
    let got: HashSet<u64> = keyword.iter().map(|h| h.chunk_id).collect();
    assert_eq!(got, allowed);
    let keyword = index
        .keyword("object1", 10, Arc::new(all_chunks(&updates)))
        .unwrap();
    let got: HashSet<u64> = keyword.iter().map(|h| h.chunk_id).collect();
    assert_eq!(got, [11, 12, 13].into_iter().collect());
    assert!(
        index
            .semantic(&query, 10, &HashSet::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn replacing_an_object_drops_its_old_chunks() {
    let (index, _) = ContentIndex::open(None, "test", DIMENSIONS).unwrap();
    let mut updates = corpus(2);
    index.apply(&updates).unwrap();
    updates[0].chunks.truncate(1);
    updates[0].chunks[0].text = "renamed".into();
    index.apply(&updates[..1]).unwrap();
    index
        .apply(&[ObjectUpdate {
            object_id: Id::from_u128(2),
            chunks: Vec::new(),
        }])
        .unwrap();
    let stats = index.stats().unwrap();
    assert_eq!(stats.chunks, 150 - 2 - 3);
    assert_eq!(stats.objects, 49);
    assert_eq!(stats.keyword_documents, 145);
    let everything: HashSet<u64> = (0..1000).collect();
    assert!(
        index
            .keyword("object1", 10, Arc::new(everything.clone()))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        index.keyword("renamed", 10, Arc::new(everything)).unwrap()[0].chunk_id,
        1
    );
}

/// The first stage makes a chunk's new text searchable by keyword and drops the vector of its
/// old text; the second stage's vector makes it findable by meaning again, and survives a
/// reopen of the files.
#[test]
fn text_goes_in_before_its_vector_and_an_old_vector_is_never_served() {
    let dir = std::env::temp_dir().join(format!("trellis-search-{}", Id::new()));
    let mut updates = corpus(4);
    let everything = all_chunks(&updates);
    let old_vector = updates[5].chunks[1].vector.clone().unwrap();
    {
        let (index, _) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        index.apply(&updates).unwrap();
        assert_eq!(
            index.semantic(&old_vector, 1, &everything).unwrap()[0].chunk_id,
            52
        );

        // Stage one: chunk 52 gets new text and no vector yet.
        updates[5].chunks[1].text = "object5 rewritten zebra".into();
        updates[5].chunks[1].vector = None;
        index.apply(&updates[5..6]).unwrap();
        let keyword = index
            .keyword("zebra", 10, Arc::new(everything.clone()))
            .unwrap();
        assert_eq!(keyword.len(), 1);
        assert_eq!(keyword[0].chunk_id, 52);
        let semantic = index.semantic(&old_vector, 150, &everything).unwrap();
        assert!(
            semantic.iter().all(|hit| hit.chunk_id != 52),
            "the vector of the old text is gone"
        );
        assert_eq!(index.missing_vectors().unwrap(), vec![52]);
        assert_eq!(index.stats().unwrap().chunks, 149);
        assert_eq!(index.stats().unwrap().keyword_documents, 150);
    }
    // The files hold the text without the vector; the second stage then adds it.
    let new_vector = unit(&mut StdRng::seed_from_u64(99));
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert_eq!(reason, None);
        index
            .set_owners(
                updates
                    .iter()
                    .flat_map(|u| u.chunks.iter().map(|c| (c.chunk_id, u.object_id))),
            )
            .unwrap();
        assert_eq!(index.missing_vectors().unwrap(), vec![52]);
        assert_eq!(
            index
                .keyword("zebra", 10, Arc::new(everything.clone()))
                .unwrap()[0]
                .chunk_id,
            52
        );
        index
            .insert_vectors(&[(52, new_vector.clone()), (9_999, new_vector.clone())])
            .unwrap();
        assert!(index.missing_vectors().unwrap().is_empty());
        assert_eq!(
            index.semantic(&new_vector, 1, &everything).unwrap()[0].chunk_id,
            52
        );
        assert_eq!(
            index.stats().unwrap().chunks,
            150,
            "a vector of a chunk no object owns is skipped"
        );
    }
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert_eq!(reason, None);
        assert_eq!(
            index.semantic(&new_vector, 1, &everything).unwrap()[0].chunk_id,
            52
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_files_survive_an_abrupt_stop_and_damage_is_reported_not_served() {
    let dir = std::env::temp_dir().join(format!("trellis-search-{}", Id::new()));
    let updates = corpus(3);
    let query = updates[7].chunks[2].vector.clone().unwrap();
    let everything = all_chunks(&updates);
    let before;
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert_eq!(reason, Some(RebuildReason::New));
        // A second process can't open it while this one holds it.
        assert_eq!(
            ContentIndex::open(Some(&dir), "test", DIMENSIONS)
                .err()
                .unwrap()
                .code(),
            "index_locked"
        );
        index.apply(&updates).unwrap();
        before = index.semantic(&query, 5, &everything).unwrap();
        // Dropped without a snapshot: only the log and tantivy's commits are on disk.
    }
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert_eq!(reason, None, "a clean reopen needs no rebuild");
        assert_eq!(index.semantic(&query, 5, &everything).unwrap(), before);
        assert_eq!(index.stats().unwrap().keyword_documents, 150);
        index.snapshot().unwrap();
    }
    // A torn write at the end of the log is cut off; the rest is kept.
    {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("vectors.log"))
            .unwrap();
        log.write_all(&[9, 0, 0]).unwrap();
    }
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert_eq!(reason, None);
        assert_eq!(index.semantic(&query, 5, &everything).unwrap(), before);
    }
    // A flipped byte in the snapshot is caught by its checksum.
    let snapshot = dir.join("vectors.snapshot");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&snapshot, bytes).unwrap();
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert!(
            matches!(reason, Some(RebuildReason::Damaged(ref what)) if what.contains("vectors.snapshot")),
            "{reason:?}"
        );
        assert_eq!(
            index.stats().unwrap().chunks,
            0,
            "nothing damaged is served"
        );
    }
    // Vectors kept in another layout (an f32 index, as versions before SQ8 wrote) are rebuilt
    // from the stored vectors, not served in a layout this version doesn't search.
    let f32_index = vector_index::Index::new(vector_index::IndexConfig::new(
        DIMENSIONS,
        vector_index::Metric::Cosine,
    ))
    .unwrap();
    std::fs::write(&snapshot, f32_index.to_snapshot_bytes()).unwrap();
    {
        let (index, reason) = ContentIndex::open(Some(&dir), "test", DIMENSIONS).unwrap();
        assert_eq!(
            reason,
            Some(RebuildReason::LayoutChanged { was: "f32".into() })
        );
        assert!(reason.unwrap().vectors_reusable());
        assert_eq!(index.stats().unwrap().chunks, 0);
    }
    // Another model's index is not reused.
    let (_, reason) = ContentIndex::open(Some(&dir), "other-model", DIMENSIONS).unwrap();
    assert!(matches!(reason, Some(RebuildReason::ModelChanged { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reciprocal_rank_fusion_rewards_agreement() {
    use search::ChunkScore;
    let a = [
        ChunkScore {
            chunk_id: 1,
            score: 0.9,
            passages: Vec::new(),
        },
        ChunkScore {
            chunk_id: 2,
            score: 0.8,
            passages: Vec::new(),
        },
        ChunkScore {
            chunk_id: 3,
            score: 0.7,
            passages: Vec::new(),
        },
    ];
    let b = [
        ChunkScore {
            chunk_id: 3,
            score: 9.0,
            passages: Vec::new(),
        },
        ChunkScore {
            chunk_id: 4,
            score: 8.0,
            passages: Vec::new(),
        },
        ChunkScore {
            chunk_id: 1,
            score: 7.0,
            passages: Vec::new(),
        },
    ];
    let fused: Vec<u64> = reciprocal_rank_fusion(&[&a, &b])
        .iter()
        .map(|h| h.chunk_id)
        .collect();
    assert_eq!(fused, vec![1, 3, 2, 4]);
}

/// A unit vector in `dims` dimensions, uniform in [-1, 1) before normalizing.
fn unit_in(rng: &mut StdRng, dims: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// `center` plus `spread` times a random unit vector, normalized: a point of `center`'s cluster.
fn near(rng: &mut StdRng, center: &[f32], spread: f32) -> Vec<f32> {
    let noise = unit_in(rng, center.len());
    let v: Vec<f32> = center
        .iter()
        .zip(noise)
        .map(|(c, n)| c + spread * n)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// The recall of the content index's semantic search (its graph and the permission planner, as
/// content search uses them) against exact search over the same allowed chunks, on a clustered
/// corpus like embeddings are (20,000 chunks of 4,000 objects, 64 dimensions, 80 loose
/// clusters): recall@10 is at least 0.95 with every chunk allowed (the graph), a random half
/// (the graph, filtered) and a random 10% or 1% (the planner scans them), as a caller's
/// permissions would allow. Fixed seed; measured 1.0 in each case.
#[test]
fn semantic_recall_against_exact_search_holds_under_permission_filters() {
    const DIMS: usize = 64;
    const K: usize = 10;
    let mut rng = StdRng::seed_from_u64(20261202);
    let centers: Vec<Vec<f32>> = (0..80).map(|_| unit_in(&mut rng, DIMS)).collect();
    let mut vectors: Vec<(u64, Vec<f32>)> = Vec::new();
    let updates: Vec<ObjectUpdate> = (0..4_000u64)
        .map(|o| ObjectUpdate {
            object_id: Id::from_u128(o as u128 + 1),
            chunks: (0..5u64)
                .map(|c| {
                    let center = &centers[rng.random_range(0..centers.len())];
                    let vector = near(&mut rng, center, 1.2);
                    let chunk_id = o * 10 + c + 1;
                    vectors.push((chunk_id, vector.clone()));
                    IndexedChunk {
                        chunk_id,
                        vector: Some(vector),
                        text: format!("object{o} part{c}"),
                    }
                })
                .collect(),
        })
        .collect();
    let (index, _) = ContentIndex::open(None, "test", DIMS).unwrap();
    for batch in updates.chunks(200) {
        index.apply(batch).unwrap();
    }
    for (label, share) in [("all", 1.0), ("50%", 0.5), ("10%", 0.1), ("1%", 0.01)] {
        let allowed: HashSet<u64> = vectors
            .iter()
            .filter(|_| rng.random_bool(share))
            .map(|(id, _)| *id)
            .collect();
        let mut recall_sum = 0.0;
        let queries = 100;
        for _ in 0..queries {
            let center = &centers[rng.random_range(0..centers.len())];
            let query = near(&mut rng, center, 1.2);
            let mut exact: Vec<(f32, u64)> = vectors
                .iter()
                .filter(|(id, _)| allowed.contains(id))
                .map(|(id, v)| (v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>(), *id))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let truth: HashSet<u64> = exact.iter().take(K).map(|(_, id)| *id).collect();
            let found = index.semantic(&query, K, &allowed).unwrap();
            assert!(found.iter().all(|hit| allowed.contains(&hit.chunk_id)));
            assert_eq!(found.len(), truth.len().min(K), "{label}");
            let hits = found
                .iter()
                .filter(|hit| truth.contains(&hit.chunk_id))
                .count();
            recall_sum += hits as f64 / truth.len() as f64;
        }
        let recall = recall_sum / queries as f64;
        eprintln!(
            "allowed {label} ({} chunks): recall@{K} {recall:.4}",
            allowed.len()
        );
        assert!(
            recall >= 0.95,
            "recall@{K} with {label} of the chunks allowed is {recall:.4}, below 0.95"
        );
    }
}

#[test]
fn a_provisional_hit_names_each_of_its_passages_that_ranked_among_the_nearest_vectors() {
    let (index, _) = ContentIndex::open(None, "test", DIMENSIONS).unwrap();
    let mut updates = corpus(5);
    // A chunk edited three times since its last full vector: it waits for a new one.
    updates.push(ObjectUpdate {
        object_id: Id::from_u128(99),
        chunks: vec![IndexedChunk {
            chunk_id: 991,
            vector: None,
            text: "alpha beta gamma".into(),
        }],
    });
    index.apply(&updates).unwrap();
    let mut rng = StdRng::seed_from_u64(6);
    let beta = unit(&mut rng);
    // Alpha is beta nudged a little; gamma points the other way.
    let nudged: Vec<f32> = beta
        .iter()
        .enumerate()
        .map(|(i, x)| x + if i == 0 { 0.05 } else { 0.0 })
        .collect();
    let norm = nudged.iter().map(|x| x * x).sum::<f32>().sqrt();
    let alpha: Vec<f32> = nudged.iter().map(|x| x / norm).collect();
    let gamma: Vec<f32> = beta.iter().map(|x| -x).collect();
    for (seq, (passage, vector)) in [("alpha", &alpha), ("beta", &beta), ("gamma", &gamma)]
        .into_iter()
        .enumerate()
    {
        assert!(
            index
                .add_provisional(991, seq as u64, passage.into(), vector.clone())
                .unwrap()
        );
    }
    let everything = all_chunks(&updates);
    let passages = |hits: &[search::ChunkScore]| -> Vec<String> {
        let hit = hits
            .iter()
            .find(|h| h.chunk_id == 991)
            .expect("the edited chunk is found");
        hit.passages.iter().map(|m| m.passage.to_string()).collect()
    };

    // Asked about beta: the chunk ranks by beta, and alpha ranked second among all vectors, so
    // it is named too; gamma, the farthest vector of all, is not.
    let hits = index.semantic(&beta, 5, &everything).unwrap();
    assert_eq!(hits[0].chunk_id, 991);
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert_eq!(passages(&hits), ["beta", "alpha"]);
    assert!(
        hits[1..].iter().all(|h| h.passages.is_empty()),
        "a hit by a full vector names no passage"
    );
    // Among the single nearest vector, only beta.
    assert_eq!(
        passages(&index.semantic(&beta, 1, &everything).unwrap()),
        ["beta"]
    );
    // Asked about gamma, the chunk still ranks by its best passage; alpha and beta are the
    // farthest vectors of all.
    let hits = index.semantic(&gamma, 5, &everything).unwrap();
    assert_eq!(hits[0].chunk_id, 991);
    assert_eq!(passages(&hits), ["gamma"]);
    // With room for every vector, every passage is named, best first.
    let hits = index.semantic(&beta, 1_000, &everything).unwrap();
    assert_eq!(passages(&hits), ["beta", "alpha", "gamma"]);
    // Fusion with a keyword list keeps the semantic hit's passages.
    let keyword = index
        .keyword("gamma", 10, Arc::new(everything.clone()))
        .unwrap();
    let semantic = index.semantic(&beta, 5, &everything).unwrap();
    let fused = reciprocal_rank_fusion(&[&semantic, &keyword]);
    assert_eq!(passages(&fused), ["beta", "alpha"]);
}
