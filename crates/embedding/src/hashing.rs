use crate::{DIMENSIONS_MAX, EmbedFuture, Embedder, Error, Result, check_batch, normalize_l2};

/// A model-free embedder for tests: each lowercase word is hashed to one signed component
/// ("feature hashing"), so texts sharing words are close and the result never changes.
///
/// It captures word overlap only, not meaning; it exists so that code consuming vectors (the
/// search indexer) can be tested without a model file or a network.
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dimensions: usize,
    model_id: String,
}

impl HashingEmbedder {
    pub fn new(dimensions: usize) -> Result<Self> {
        if dimensions == 0 || dimensions > DIMENSIONS_MAX {
            return Err(Error::InvalidConfig(format!(
                "dimensions must be between 1 and {DIMENSIONS_MAX}, not {dimensions}"
            )));
        }
        Ok(Self {
            dimensions,
            model_id: format!("hashing-{dimensions}"),
        })
    }

    /// Embeds on the calling thread; the work is a few hashes per word.
    pub fn embed_now(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        check_batch(texts)?;
        Ok(texts.iter().map(|text| self.embed_one(text)).collect())
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0_f32; self.dimensions];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
        {
            let hash = fnv1a(word.to_lowercase().as_bytes());
            let slot = (hash % self.dimensions as u64) as usize;
            // The top bit picks the sign, so unrelated words cancel out instead of piling up.
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[slot] += sign;
        }
        // A text with no words (or whose words cancel out) still needs a unit vector; all such
        // texts share one direction.
        if vector.iter().all(|x| *x == 0.0) {
            vector[0] = 1.0;
        }
        normalize_l2(&mut vector);
        vector
    }
}

impl Embedder for HashingEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        Box::pin(async move { self.embed_now(&texts) })
    }
}

/// FNV-1a, 64-bit: stable across Rust versions and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
