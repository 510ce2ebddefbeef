use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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

/// Padded tokens (texts × the longest) in one forward pass, so that a pass of long texts is
/// short too: a query waits for at most the pass in progress (about 4 chunks of 200 words,
/// a few hundred milliseconds on one core), not for a whole batch.
const TOKENS_PER_FORWARD_MAX: usize = 512;

/// Urgent passes (queries, an edit's passages) that may go ahead of a waiting batch in a row: a
/// steady stream of them slows indexing down but never stops it.
const URGENT_TURNS_AHEAD_MAX: usize = 4;

/// Forward passes that run at once, at most, whatever the core count.
pub const LANES_MAX: usize = 16;

/// all-MiniLM-L6-v2 on the CPU: sentence-transformers' pipeline reproduced with candle.
///
/// Tokenize (WordPiece, lowercased) with truncation to the model's `max_seq_length` (256
/// tokens, special tokens included), run the 6-layer BERT, average the last hidden states over
/// real tokens only (the attention mask excludes padding), then scale to unit length.
///
/// Cloning is cheap and shares the loaded model. Forward passes run in *lanes*, one per core by
/// default: each lane is a one-thread pool, and a pass runs on one lane, so its matrix products
/// stay on that thread. On the 2-core machine, two single-threaded passes at once embedded about
/// 1.6 times as many texts per second as one pass split over both cores (candle's threads spend
/// much of a pass of short texts waiting on each other; crate README). A batch's passes spread
/// over the free lanes; a waiting pass takes the next free lane, and an urgent one (a query,
/// [`Embedder::embed_query`], or an edit's passages, [`Embedder::embed_urgent`]) goes ahead of
/// waiting batches (at most [`URGENT_TURNS_AHEAD_MAX`] in a row while a batch waits).
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
    /// One single-threaded pool per lane; a forward pass runs inside the lane its turn names.
    lanes: Vec<rayon::ThreadPool>,
    /// Whose forward pass is next; see the type's documentation.
    turns: Turns,
}

/// One forward pass per lane at a time, urgent passes first, batches never starved.
struct Turns {
    state: Mutex<TurnState>,
    changed: Condvar,
}

struct TurnState {
    /// Lanes no pass runs on.
    free: Vec<usize>,
    urgent_waiting: usize,
    batches_waiting: usize,
    /// Urgent turns taken since the last batch turn.
    urgent_in_a_row: usize,
}

impl TurnState {
    fn must_wait(&self, urgent: bool) -> bool {
        let urgent_first = self.urgent_in_a_row < URGENT_TURNS_AHEAD_MAX;
        self.free.is_empty()
            || if urgent {
                self.batches_waiting > 0 && !urgent_first
            } else {
                self.urgent_waiting > 0 && urgent_first
            }
    }
}

/// The right to run one forward pass on `lane`; the lane goes to the next waiting pass when
/// it drops.
struct Turn<'a> {
    turns: &'a Turns,
    lane: usize,
}

impl Turns {
    fn new(lanes: usize) -> Turns {
        Turns {
            state: Mutex::new(TurnState {
                // Popped from the back: lane 0 first.
                free: (0..lanes.max(1)).rev().collect(),
                urgent_waiting: 0,
                batches_waiting: 0,
                urgent_in_a_row: 0,
            }),
            changed: Condvar::new(),
        }
    }

    // The state holds no invariant a panicking pass could break (a pass's `Turn` still drops
    // while unwinding), so a poisoned lock is taken as it is.
    fn lock(&self) -> MutexGuard<'_, TurnState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a free lane: an urgent pass only for that (and for one batch pass after
    /// [`URGENT_TURNS_AHEAD_MAX`] urgent ones in a row), a batch also for waiting urgent passes.
    fn take(&self, urgent: bool) -> Turn<'_> {
        let mut state = self.lock();
        fn waiting(state: &mut TurnState, urgent: bool) -> &mut usize {
            if urgent {
                &mut state.urgent_waiting
            } else {
                &mut state.batches_waiting
            }
        }
        *waiting(&mut state, urgent) += 1;
        while state.must_wait(urgent) {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *waiting(&mut state, urgent) -= 1;
        state.urgent_in_a_row = if urgent { state.urgent_in_a_row + 1 } else { 0 };
        let lane = state.free.pop().expect("must_wait checked a free lane");
        Turn { turns: self, lane }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.turns.lock().free.push(self.lane);
        self.turns.changed.notify_all();
    }
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
        Self::load_dir_with_lanes(dir, default_lanes())
    }

    /// [`LocalMiniLm::load_dir`] with `lanes` forward passes at once (1 to [`LANES_MAX`]).
    pub fn load_dir_with_lanes(dir: &Path, lanes: usize) -> Result<Self> {
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

        let lanes = lanes.clamp(1, LANES_MAX);
        let lanes = (0..lanes)
            .map(|lane| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("embed-lane-{lane}"))
                    .build()
                    .map_err(|error| Error::Inference(format!("starting lane {lane}: {error}")))
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::info!(
            model_dir = %dir.display(),
            tokens_per_text_max,
            lanes = lanes.len(),
            "loaded the local embedding model"
        );
        if lanes.len() > 1 && std::env::var("CANDLE_NUM_THREADS").as_deref() != Ok("1") {
            tracing::info!(
                "CANDLE_NUM_THREADS is not 1: candle's element-wise thread pool contends with \
                 the lanes (the trellis binary sets it; about a quarter slower without)"
            );
        }
        Ok(Self {
            model: Arc::new(Model {
                dir: dir.to_path_buf(),
                bert,
                tokenizer,
                pad_id,
                tokens_per_text_max,
                device,
                turns: Turns::new(lanes.len()),
                lanes,
            }),
        })
    }

    /// The directory the model was loaded from.
    pub fn model_dir(&self) -> &Path {
        &self.model.dir
    }

    /// Forward passes that run at once.
    pub fn lanes(&self) -> usize {
        self.model.lanes.len()
    }

    /// Tokens read per text; longer texts are truncated to this many.
    pub fn tokens_per_text_max(&self) -> usize {
        self.model.tokens_per_text_max
    }

    /// Embeds on the calling thread, which blocks for the whole batch (tens of milliseconds
    /// per text on two cores). Async callers use [`Embedder::embed`] instead.
    pub fn embed_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        check_batch(texts)?;
        self.model.embed(texts, false)
    }

    fn embed_on_pool(&self, texts: Vec<String>, urgent: bool) -> EmbedFuture<'_> {
        let model = Arc::clone(&self.model);
        Box::pin(async move {
            check_batch(&texts)?;
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            tokio::task::spawn_blocking(move || model.embed(&texts, urgent))
                .await
                // A panic inside candle fails this one batch, never the server.
                .map_err(|error| Error::Inference(format!("the embedding task failed: {error}")))?
        })
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
        self.embed_on_pool(texts, false)
    }

    fn embed_urgent(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        self.embed_on_pool(texts, true)
    }
}

impl Model {
    /// Embeds `texts` pass by pass, each pass in its turn on a free lane (`urgent`: ahead of
    /// batches); the passes spread over as many lanes as are free.
    fn embed<S: AsRef<str>>(&self, texts: &[S], urgent: bool) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
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
        let passes = forward_passes(&order, |i| token_ids[i].len());
        let vectors: Mutex<Vec<Vec<f32>>> = Mutex::new(vec![Vec::new(); texts.len()]);
        let next_pass = std::sync::atomic::AtomicUsize::new(0);
        // Each worker takes the next pass, waits for a lane and runs the pass there.
        let work = || -> Result<()> {
            loop {
                let n = next_pass.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(pass) = passes.get(n) else {
                    return Ok(());
                };
                let ids: Vec<&[u32]> = pass.iter().map(|&i| token_ids[i]).collect();
                let turn = self.turns.take(urgent);
                let pass_vectors = self.lanes[turn.lane]
                    .install(|| self.forward(&ids))
                    .map_err(|error| Error::Inference(error.to_string()))?;
                drop(turn);
                let mut vectors = vectors.lock().unwrap_or_else(|p| p.into_inner());
                for (&i, vector) in pass.iter().zip(pass_vectors) {
                    vectors[i] = vector;
                }
            }
        };
        let workers = self.lanes.len().min(passes.len());
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
            let mut outcome = work();
            for helper in helpers {
                let helped = helper.join().unwrap_or_else(|_| {
                    Err(Error::Inference("a forward pass panicked".to_string()))
                });
                outcome = outcome.and(helped);
            }
            outcome
        })?;
        let vectors = vectors.into_inner().unwrap_or_else(|p| p.into_inner());
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

/// Lanes by default: one per core the process may use.
fn default_lanes() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Cuts `order` (text indices sorted by token count, shortest first) into forward passes of at
/// most [`TEXTS_PER_FORWARD_MAX`] texts and [`TOKENS_PER_FORWARD_MAX`] padded tokens; a text
/// longer than that budget on its own gets a pass to itself.
fn forward_passes(order: &[usize], tokens: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut passes = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len()
            && end - start < TEXTS_PER_FORWARD_MAX
            && (end - start + 1) * tokens(order[end]) <= TOKENS_PER_FORWARD_MAX
        {
            end += 1;
        }
        passes.push(&order[start..end]);
        start = end;
    }
    passes
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn passes_are_capped_by_texts_and_by_padded_tokens() {
        // Short texts: 16 a pass.
        let order: Vec<usize> = (0..40).collect();
        let passes = forward_passes(&order, |_| 20);
        assert_eq!(
            passes.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [16, 16, 8]
        );
        // Long texts: as many as fit the token budget, and an over-long one alone.
        let lengths = [100, 200, 256, 256, 256, 256, 2000];
        let order: Vec<usize> = (0..lengths.len()).collect();
        let passes = forward_passes(&order, |i| lengths[i]);
        for pass in &passes {
            let padded = pass.len() * pass.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(
                pass.len() == 1 || padded <= TOKENS_PER_FORWARD_MAX,
                "{pass:?}"
            );
        }
        assert_eq!(passes.concat(), order);
        assert_eq!(passes.last().unwrap(), &[6]);
    }

    #[test]
    fn a_query_takes_the_next_turn_ahead_of_waiting_batches() {
        let turns = Arc::new(Turns::new(1));
        let first = turns.take(false);
        let batch_ran = Arc::new(AtomicBool::new(false));
        let query_ran_first = Arc::new(AtomicBool::new(false));
        let batch = {
            let (turns, batch_ran) = (turns.clone(), batch_ran.clone());
            std::thread::spawn(move || {
                let _turn = turns.take(false);
                batch_ran.store(true, Ordering::SeqCst);
            })
        };
        // Let the batch start waiting, then the query.
        std::thread::sleep(Duration::from_millis(200));
        let query = {
            let (turns, batch_ran, first) =
                (turns.clone(), batch_ran.clone(), query_ran_first.clone());
            std::thread::spawn(move || {
                let _turn = turns.take(true);
                first.store(!batch_ran.load(Ordering::SeqCst), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !batch_ran.load(Ordering::SeqCst),
            "one pass a lane at a time"
        );
        drop(first);
        query.join().unwrap();
        batch.join().unwrap();
        assert!(query_ran_first.load(Ordering::SeqCst));
        assert!(batch_ran.load(Ordering::SeqCst));
    }

    #[test]
    fn each_lane_runs_one_pass_and_a_third_pass_waits_for_a_free_lane() {
        let turns = Arc::new(Turns::new(2));
        let first = turns.take(false);
        let second = turns.take(true);
        assert_ne!(first.lane, second.lane);
        let first_lane = first.lane;
        let ran_on = Arc::new(Mutex::new(None));
        let third = {
            let (turns, ran_on) = (turns.clone(), ran_on.clone());
            std::thread::spawn(move || {
                let turn = turns.take(false);
                *ran_on.lock().unwrap() = Some(turn.lane);
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(*ran_on.lock().unwrap(), None, "both lanes are busy");
        drop(first);
        third.join().unwrap();
        assert_eq!(*ran_on.lock().unwrap(), Some(first_lane));
        drop(second);
    }

    #[test]
    fn a_stream_of_queries_does_not_starve_a_batch() {
        let turns = Arc::new(Turns::new(1));
        let first = turns.take(false);
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn = |name: &'static str, query: bool| {
            let (turns, order) = (turns.clone(), order.clone());
            std::thread::spawn(move || {
                let _turn = turns.take(query);
                order.lock().unwrap().push(name);
                std::thread::sleep(Duration::from_millis(5));
            })
        };
        let mut threads = vec![spawn("batch", false)];
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..URGENT_TURNS_AHEAD_MAX + 3 {
            threads.push(spawn("query", true));
        }
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        for thread in threads {
            thread.join().unwrap();
        }
        let order = order.lock().unwrap();
        let batch_at = order.iter().position(|name| *name == "batch").unwrap();
        assert_eq!(batch_at, URGENT_TURNS_AHEAD_MAX, "{order:?}");
    }
}
