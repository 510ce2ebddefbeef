use embedding::{Embedder, HashingEmbedder, TEXT_BYTES_MAX, TEXTS_PER_BATCH_MAX};

use crate::{cosine, norm};

#[test]
fn vectors_are_unit_length_and_stable() {
    let embedder = HashingEmbedder::new(64).unwrap();
    let texts = vec![
        "Quarterly revenue report".to_string(),
        String::new(),
        "!!! ???".to_string(),
    ];
    let first = embedder.embed_now(&texts).unwrap();
    let second = embedder.embed_now(&texts).unwrap();
    assert_eq!(first, second);
    for vector in &first {
        assert_eq!(vector.len(), 64);
        assert!((norm(vector) - 1.0).abs() < 1e-6);
    }
    assert_eq!(embedder.model_id(), "hashing-64");
}

#[test]
fn shared_words_are_closer_than_unrelated_ones() {
    let embedder = HashingEmbedder::new(256).unwrap();
    let texts: Vec<String> = [
        "the quarterly revenue report",
        "The revenue report, quarterly!",
        "cats sleep a lot",
    ]
    .map(String::from)
    .to_vec();
    let vectors = embedder.embed_now(&texts).unwrap();
    assert!(cosine(&vectors[0], &vectors[1]) > 0.99);
    assert!(cosine(&vectors[0], &vectors[2]) < 0.5);
}

#[test]
fn limits_are_enforced_before_any_work() {
    let embedder = HashingEmbedder::new(8).unwrap();
    let too_many = vec!["a".to_string(); TEXTS_PER_BATCH_MAX + 1];
    let error = embedder.embed_now(&too_many).unwrap_err();
    assert_eq!(error.code(), "batch_too_large");
    assert!(error.is_invalid_input());

    let too_long = vec!["ok".to_string(), "x".repeat(TEXT_BYTES_MAX + 1)];
    let error = embedder.embed_now(&too_long).unwrap_err();
    assert_eq!(error.code(), "input_too_long");
    assert!(error.to_string().contains("text 1"), "{error}");

    assert_eq!(
        HashingEmbedder::new(0).unwrap_err().code(),
        "invalid_config"
    );
}

#[tokio::test]
async fn works_behind_the_trait_object() {
    let embedder: std::sync::Arc<dyn Embedder> =
        std::sync::Arc::new(HashingEmbedder::new(16).unwrap());
    assert!(embedder.embed(Vec::new()).await.unwrap().is_empty());
    let vectors = embedder
        .embed(vec!["one".into(), "two".into()])
        .await
        .unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(embedder.dimensions(), 16);
}
