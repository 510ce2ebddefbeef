use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct};
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::bert::Bert;
use crate::model_dir::ModelSearch;
use crate::{EmbedFuture, Embedder, Error, Result, TOKENS_PER_TEXT_MAX, check_batch, normalize_l2};

/// The vector space [`LocalMiniLm`] produces: the same id as the hosted model, because the
/// vectors match sentence-transformers' (cosine ≥ 0.999, checked by the reference test).
pub const MINILM_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Length of MiniLM's vectors (its hidden size).
pub const MINILM_DIMENSIONS: usize = 384;

/// MiniLM's shape, checked at load so a different BERT in the model directory cannot pass
/// itself off under [`MINILM_MODEL_ID`].
const MINILM_LAYERS: usize = 6;

/// Texts in one forward pass. A batch is sorted by token count and cut into passes of this
/// size, so short texts are not padded to the length of a long one. 16 measured fastest on
/// 2 cores for ~30-word texts: about 118 docs/s against 108 for 32 and 97 for 8 (README).
const TEXTS_PER_FORWARD_MAX: usize = 16;

/// all-MiniLM-L6-v2 on the CPU: sentence-transformers' pipeline reproduced with candle.
///
/// Tokenize (WordPiece, lowercased) with truncation to the model's `max_seq_length` (256
/// tokens, special tokens included), run the 6-layer BERT, average the last hidden states over
/// real tokens only (the attention mask excludes padding), then scale to unit length.
///
/// Cloning is cheap and shares the loaded model. One batch runs at a time: a forward pass
/// already uses every core (candle's matrix multiplications are multi-threaded), so two at once
/// would only contend for the same cores and caches.
#[derive(Clone)]
pub struct LocalMiniLm {
    model: Arc<Model>,
}

struct Model {
    dir: PathBuf,
    bert: Bert,
    tokenizer: Tokenizer,
    pad_id: u32,
    tokens_per_text_max: usize,
    device: Device,
    /// Held for the whole of one batch; see the type's documentation.
    running: Mutex<()>,
}

/// The fields of `sentence_bert_config.json` this crate reads.
#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// The fields of `1_Pooling/config.json` this crate reads.
#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

impl LocalMiniLm {
    /// Finds the model directory with `search` (see [`ModelSearch`]) and loads it.
    pub fn load(search: &ModelSearch) -> Result<Self> {
        Self::load_dir(&search.resolve()?)
    }

    /// Loads the model from a directory holding `config.json`, `tokenizer.json` and
    /// `model.safetensors` (and optionally `sentence_bert_config.json` and
    /// `1_Pooling/config.json`, which are checked when present). Reads about 90 MB.
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModel {
            path: dir.to_path_buf(),
            reason,
        };

        let config: BertConfig = read_json(dir, "config.json")?;
        if config.hidden_size != MINILM_DIMENSIONS || config.num_hidden_layers != MINILM_LAYERS {
            return Err(invalid(format!(
                "config.json describes a BERT with hidden size {} and {} layers; \
                 all-MiniLM-L6-v2 has {MINILM_DIMENSIONS} and {MINILM_LAYERS}",
                config.hidden_size, config.num_hidden_layers
            )));
        }
        if config.hidden_act != HiddenAct::Gelu {
            return Err(invalid(format!(
                "config.json asks for the {:?} activation; all-MiniLM-L6-v2 uses gelu",
                config.hidden_act
            )));
        }
        check_pooling(dir)?;
        let tokens_per_text_max = max_seq_length(dir, &config)?;

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|error| invalid(format!("tokenizer.json: {error}")))?;
        // tokenizer.json pads every text to 128 tokens and truncates there; sentence-transformers
        // replaces both with max_seq_length and per-batch padding, and so do we (padding is done
        // per forward pass in `embed_sorted`).
        let pad_id = tokenizer
            .get_padding()
            .map(|padding| padding.pad_id)
            .unwrap_or(config.pad_token_id as u32);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: tokens_per_text_max,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|error| invalid(format!("tokenizer truncation: {error}")))?;

        let device = Device::Cpu;
        let weights = std::fs::read(dir.join("model.safetensors"))
            .map_err(|error| invalid(format!("model.safetensors: {error}")))?;
        let vars = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|error| invalid(format!("model.safetensors: {error}")))?;
        let bert = Bert::load(vars, &config)
            .map_err(|error| invalid(format!("model.safetensors: {error}")))?;

        tracing::info!(
            model_dir = %dir.display(),
            tokens_per_text_max,
            threads = candle_core::utils::get_num_threads(),
            "loaded the local embedding model"
        );
        Ok(Self {
            model: Arc::new(Model {
                dir: dir.to_path_buf(),
                bert,
                tokenizer,
                pad_id,
                tokens_per_text_max,
                device,
                running: Mutex::new(()),
            }),
        })
    }

    /// The directory the model was loaded from.
    pub fn model_dir(&self) -> &Path {
        &self.model.dir
    }

    /// Tokens read per text; longer texts are truncated to this many.
    pub fn tokens_per_text_max(&self) -> usize {
        self.model.tokens_per_text_max
    }

    /// Embeds on the calling thread, which blocks for the whole batch (tens of milliseconds
    /// per text on two cores). Async callers use [`Embedder::embed`] instead.
    pub fn embed_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        check_batch(texts)?;
        self.model.embed(texts)
    }
}

impl Embedder for LocalMiniLm {
    fn model_id(&self) -> &str {
        MINILM_MODEL_ID
    }

    fn dimensions(&self) -> usize {
        MINILM_DIMENSIONS
    }

    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        let model = Arc::clone(&self.model);
        Box::pin(async move {
            check_batch(&texts)?;
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            tokio::task::spawn_blocking(move || model.embed(&texts))
                .await
                // A panic inside candle fails this one batch, never the server.
                .map_err(|error| Error::Inference(format!("the embedding task failed: {error}")))?
        })
    }
}

impl Model {
    fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let _running = self
            .running
            .lock()
            // The guard protects no data, so a batch that panicked leaves nothing to repair.
            .unwrap_or_else(|poisoned| poisoned.into_inner());

        let started = std::time::Instant::now();
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|error| Error::Inference(format!("tokenization: {error}")))?;
        let token_ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();

        // Sort by length so each forward pass pads to a similar length, then put the vectors
        // back in the caller's order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| token_ids[i].len());
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for pass in order.chunks(TEXTS_PER_FORWARD_MAX) {
            let ids: Vec<&[u32]> = pass.iter().map(|&i| token_ids[i]).collect();
            let pass_vectors = self
                .forward(&ids)
                .map_err(|error| Error::Inference(error.to_string()))?;
            for (&i, vector) in pass.iter().zip(pass_vectors) {
                vectors[i] = vector;
            }
        }
        tracing::debug!(
            texts = texts.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "embedded a batch locally"
        );
        Ok(vectors)
    }

    /// One forward pass: pad to the longest text, run BERT, mean-pool over real tokens, then
    /// normalize.
    fn forward(&self, token_ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let texts = token_ids.len();
        let tokens = token_ids.iter().map(|ids| ids.len()).max().unwrap_or(0);
        let mut input_ids = Vec::with_capacity(texts * tokens);
        let mut attention_mask = Vec::with_capacity(texts * tokens);
        for ids in token_ids {
            input_ids.extend_from_slice(ids);
            input_ids.extend(std::iter::repeat_n(self.pad_id, tokens - ids.len()));
            attention_mask.extend(std::iter::repeat_n(1_u32, ids.len()));
            attention_mask.extend(std::iter::repeat_n(0_u32, tokens - ids.len()));
        }
        let padded = token_ids.iter().any(|ids| ids.len() < tokens);
        let input_ids = Tensor::from_vec(input_ids, (texts, tokens), &self.device)?;
        let attention_mask = Tensor::from_vec(attention_mask, (texts, tokens), &self.device)?;
        let hidden = self.bert.forward(&input_ids, &attention_mask, padded)?;
        let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        // sentence-transformers clamps the token count at 1e-9; every text has at least the
        // [CLS] and [SEP] tokens, so this never changes a result.
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mut pooled = summed.broadcast_div(&counts)?.to_vec2::<f32>()?;
        for vector in &mut pooled {
            normalize_l2(vector);
        }
        Ok(pooled)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, file: &str) -> Result<T> {
    let invalid = |reason: String| Error::InvalidModel {
        path: dir.to_path_buf(),
        reason,
    };
    let bytes =
        std::fs::read(dir.join(file)).map_err(|error| invalid(format!("{file}: {error}")))?;
    serde_json::from_slice(&bytes).map_err(|error| invalid(format!("{file}: {error}")))
}

/// Refuses a model whose pooling is not mean pooling, the only kind this crate implements.
/// Without `1_Pooling/config.json` mean pooling is assumed, as sentence-transformers does.
fn check_pooling(dir: &Path) -> Result<()> {
    if !dir.join("1_Pooling/config.json").is_file() {
        return Ok(());
    }
    let pooling: PoolingConfig = read_json(dir, "1_Pooling/config.json")?;
    let mean_only = pooling.pooling_mode_mean_tokens
        && !pooling.pooling_mode_cls_token
        && !pooling.pooling_mode_max_tokens
        && !pooling.pooling_mode_mean_sqrt_len_tokens;
    if !mean_only {
        return Err(Error::InvalidModel {
            path: dir.to_path_buf(),
            reason: "1_Pooling/config.json asks for pooling other than mean pooling".to_string(),
        });
    }
    Ok(())
}

/// The model's `max_seq_length`, capped at [`TOKENS_PER_TEXT_MAX`] and the position table.
fn max_seq_length(dir: &Path, config: &BertConfig) -> Result<usize> {
    let declared = if dir.join("sentence_bert_config.json").is_file() {
        let sentence_bert: SentenceBertConfig = read_json(dir, "sentence_bert_config.json")?;
        sentence_bert.max_seq_length
    } else {
        None
    };
    let declared = declared.unwrap_or(TOKENS_PER_TEXT_MAX);
    let tokens = declared
        .min(TOKENS_PER_TEXT_MAX)
        .min(config.max_position_embeddings);
    if tokens < declared {
        tracing::warn!(
            declared,
            tokens,
            "the model's max_seq_length is above our limit; longer texts are truncated earlier \
             than sentence-transformers would"
        );
    }
    if tokens < 2 {
        return Err(Error::InvalidModel {
            path: dir.to_path_buf(),
            reason: format!("max_seq_length {tokens} leaves no room for text"),
        });
    }
    Ok(tokens)
}
