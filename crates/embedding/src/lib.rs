//! Trellis's text-embedding layer: texts in, L2-normalized `f32` vectors out.
//!
//! Three implementations sit behind one [`Embedder`] trait:
//! - [`LocalMiniLm`] runs all-MiniLM-L6-v2 on the CPU with candle, reproducing
//!   sentence-transformers' pipeline (tokenize with truncation to 256 tokens, BERT, mean pooling
//!   over real tokens, L2 normalization).
//! - [`OpenAiCompatible`] calls `POST {base_url}/v1/embeddings` on any server that speaks
//!   OpenAI's wire format.
//! - [`HashingEmbedder`] needs no model and no network, for tests of the code that consumes
//!   vectors.
//!
//! Architecture invariant: every vector an [`Embedder`] returns has exactly
//! [`Embedder::dimensions`] finite components and unit L2 norm, so consumers may use a dot
//! product as cosine similarity.

mod bert;
mod error;
mod gated;
mod hashing;
mod local;
mod model_dir;
mod remote;

use std::future::Future;
use std::pin::Pin;

pub use error::{Error, Result};
pub use gated::{GatedEmbedder, HoldRule};
pub use hashing::HashingEmbedder;
pub use local::{LocalMiniLm, MINILM_DIMENSIONS, MINILM_MODEL_ID};
pub use model_dir::{MODEL_DIR_ENV, MODEL_PYTHON_PACKAGE, ModelSearch, PYTHON_LOOKUP_TIMEOUT_MS};
pub use remote::{OpenAiCompatible, OpenAiCompatibleConfig};

/// Most texts one [`Embedder::embed`] call accepts. The indexer batches below this; a larger
/// batch would hold the CPU (or a remote quota) for too long in one request.
pub const TEXTS_PER_BATCH_MAX: usize = 256;

/// Longest text accepted, in UTF-8 bytes. The local model reads only the first
/// [`TOKENS_PER_TEXT_MAX`] tokens anyway (about 1–2 KB of prose), so anything much longer is a
/// caller that forgot to chunk, and tokenizing megabytes only to throw them away wastes CPU.
pub const TEXT_BYTES_MAX: usize = 32 * 1024;

/// Tokens the local model reads per text, special tokens included; the rest is truncated.
/// This is MiniLM's `max_seq_length` in `sentence_bert_config.json` (its `tokenizer.json`
/// says 128, which sentence-transformers overrides).
pub const TOKENS_PER_TEXT_MAX: usize = 256;

/// Default wall-clock limit for one remote embedding request, connect to last byte.
pub const REMOTE_TIMEOUT_MS: u64 = 30_000;

/// Default cap on one remote response body. 256 texts of 3,072 dimensions printed as JSON
/// floats (about 20 bytes each) is about 16 MB; twice that leaves room for whitespace.
pub const RESPONSE_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Largest vector any embedder may declare. Real models stay at or below 4,096.
pub const DIMENSIONS_MAX: usize = 8_192;

/// A boxed future, so that [`Embedder`] stays object-safe (`Arc<dyn Embedder>`).
pub type EmbedFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>>> + Send + 'a>>;

/// Turns texts into vectors. Implementations are cheap to share behind an `Arc`.
pub trait Embedder: Send + Sync {
    /// Identifies the vector space: vectors from embedders with different ids must never be
    /// compared, so the indexer stores this next to each vector and re-embeds when it changes.
    fn model_id(&self) -> &str;

    /// Length of every vector this embedder returns.
    fn dimensions(&self) -> usize;

    /// Embeds `texts` in order: the `i`th vector belongs to the `i`th text. Each vector has
    /// [`Embedder::dimensions`] components and unit L2 norm. An empty batch returns an empty
    /// list. CPU-bound implementations do their work on tokio's blocking pool, so this never
    /// stalls the async runtime; it must be called from within a tokio runtime.
    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_>;

    /// Embeds a small batch someone is waiting for (a search query, an edit's changed passages,
    /// which make it findable by meaning): an embedder that queues work (the local model) runs
    /// it before the background batches waiting for their turn.
    fn embed_urgent(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        self.embed(texts)
    }

    /// Embeds one search query, urgently ([`Embedder::embed_urgent`]). Returns one vector.
    fn embed_query(&self, query: String) -> EmbedFuture<'_> {
        self.embed_urgent(vec![query])
    }
}

/// Checks the limits every embedder shares, before any work is done.
fn check_batch<S: AsRef<str>>(texts: &[S]) -> Result<()> {
    if texts.len() > TEXTS_PER_BATCH_MAX {
        return Err(Error::BatchTooLarge {
            texts: texts.len(),
            max: TEXTS_PER_BATCH_MAX,
        });
    }
    if let Some((index, text)) = texts
        .iter()
        .enumerate()
        .find(|(_, text)| text.as_ref().len() > TEXT_BYTES_MAX)
    {
        return Err(Error::InputTooLong {
            index,
            bytes: text.as_ref().len(),
            max: TEXT_BYTES_MAX,
        });
    }
    Ok(())
}

/// Scales `vector` to unit length the way `torch.nn.functional.normalize` does: the norm is
/// clamped below at 1e-12, so a zero vector stays zero instead of becoming NaN.
fn normalize_l2(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in vector.iter_mut() {
        *x /= norm;
    }
}
