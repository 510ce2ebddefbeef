//! MiniLM's BERT encoder, written out so that its element-wise steps use every core.
//!
//! candle-transformers' `BertModel` (0.11.1) computes each attention softmax as five separate
//! single-threaded passes over a `texts × 12 × tokens × tokens` tensor and GELU as one
//! single-threaded map over the `texts × tokens × 1,536` activations; on two cores those passes
//! leave one core idle for a large share of a forward pass over ~200-token chunks. Here the
//! softmax is candle-nn's fused `softmax_last_dim` (parallel over rows), GELU is the same erf
//! formula split over the threads candle uses, and the attention scale is applied to the queries
//! (`tokens × 384` values) instead of the scores (`tokens × tokens × 12`). Weights, layer order and
//! everything else follow candle-transformers' `bert.rs`; the vectors agree with
//! sentence-transformers' as before (the reference test checks them).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use candle_transformers::models::bert::Config;
use rayon::prelude::*;

pub(crate) struct Bert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Layer> {
        let hidden = config.hidden_size;
        let attention = vb.pp("attention");
        Ok(Layer {
            query: linear(hidden, hidden, attention.pp("self").pp("query"))?,
            key: linear(hidden, hidden, attention.pp("self").pp("key"))?,
            value: linear(hidden, hidden, attention.pp("self").pp("value"))?,
            attention_output: linear(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: layer_norm(
                hidden,
                config.layer_norm_eps,
                attention.pp("output").pp("LayerNorm"),
            )?,
            intermediate: linear(
                hidden,
                config.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            output: linear(
                config.intermediate_size,
                hidden,
                vb.pp("output").pp("dense"),
            )?,
            output_norm: layer_norm(
                hidden,
                config.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
        })
    }
}

impl Bert {
    /// Loads the weights (with or without a `bert.` prefix), as `BertModel::load` does.
    pub(crate) fn load(vb: VarBuilder, config: &Config) -> Result<Bert> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let embeddings = vb.pp("embeddings");
        let hidden = config.hidden_size;
        if !hidden.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden size {hidden} is not a multiple of {} heads",
                config.num_attention_heads
            );
        }
        Ok(Bert {
            word_embeddings: embedding(
                config.vocab_size,
                hidden,
                embeddings.pp("word_embeddings"),
            )?,
            position_embeddings: embedding(
                config.max_position_embeddings,
                hidden,
                embeddings.pp("position_embeddings"),
            )?,
            token_type_embeddings: embedding(
                config.type_vocab_size,
                hidden,
                embeddings.pp("token_type_embeddings"),
            )?,
            embeddings_norm: layer_norm(hidden, config.layer_norm_eps, embeddings.pp("LayerNorm"))?,
            layers: (0..config.num_hidden_layers)
                .map(|index| Layer::load(vb.pp("encoder").pp(format!("layer.{index}")), config))
                .collect::<Result<_>>()?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    /// The last hidden states, `(texts, tokens, hidden)`. `attention_mask` is 1 for real tokens
    /// and 0 for padding, `(texts, tokens)`; `padded` says whether any text is padded (when none
    /// is, the mask changes nothing and is not added).
    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        padded: bool,
    ) -> Result<Tensor> {
        let (_, tokens) = input_ids.dims2()?;
        // Single-sequence inputs are all segment 0.
        let token_type_ids = input_ids.zeros_like()?;
        let positions = Tensor::arange(0u32, tokens as u32, input_ids.device())?;
        let embedded = (self.word_embeddings.forward(input_ids)?
            + self.token_type_embeddings.forward(&token_type_ids)?)?
        .broadcast_add(&self.position_embeddings.forward(&positions)?)?;
        let mut hidden = self.embeddings_norm.forward(&embedded)?;
        // Padding gets the lowest f32 added to its scores, as `get_extended_attention_mask`.
        let mask = if padded {
            let mask = attention_mask
                .to_dtype(DType::F32)?
                .unsqueeze(1)?
                .unsqueeze(1)?;
            Some(((mask.ones_like()? - &mask)? * f64::from(f32::MIN))?)
        } else {
            None
        };
        for layer in &self.layers {
            hidden = self.layer(layer, &hidden, mask.as_ref())?;
        }
        Ok(hidden)
    }

    fn layer(&self, layer: &Layer, hidden: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (texts, tokens, width) = hidden.dims3()?;
        let heads = |xs: Tensor| -> Result<Tensor> {
            xs.reshape((texts, tokens, self.heads, self.head_size))?
                .transpose(1, 2)?
                .contiguous()
        };
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let query = heads((layer.query.forward(hidden)? * scale)?)?;
        let key = heads(layer.key.forward(hidden)?)?;
        let value = heads(layer.value.forward(hidden)?)?;
        let mut scores = query.matmul(&key.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probabilities
            .matmul(&value)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((texts, tokens, width))?;
        let attended = layer
            .attention_norm
            .forward(&(layer.attention_output.forward(&context)? + hidden)?)?;
        let intermediate = layer
            .intermediate
            .forward(&attended)?
            .apply_op1_no_bwd(&ParallelGeluErf)?;
        layer
            .output_norm
            .forward(&(layer.output.forward(&intermediate)? + attended)?)
    }
}

/// GELU with erf, as candle's `gelu_erf` computes it element by element, on every thread.
struct ParallelGeluErf;

fn gelu_erf(x: f32) -> f32 {
    (candle_core::cpu::erf::erf_f32(x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * x
}

impl CustomOp1 for ParallelGeluErf {
    fn name(&self) -> &'static str {
        "parallel-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!("parallel-gelu-erf: f32 only");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("parallel-gelu-erf: the input must be contiguous");
        };
        let source = &values[start..end];
        let mut output = vec![0.0_f32; source.len()];
        // Split over the threads of the pool the pass runs in (one for a lane of `LocalMiniLm`).
        let per_thread = source.len().div_ceil(rayon::current_num_threads()).max(1);
        output
            .par_chunks_mut(per_thread)
            .zip(source.par_chunks(per_thread))
            .for_each(|(to, from)| {
                for (x, y) in from.iter().zip(to) {
                    *y = gelu_erf(*x);
                }
            });
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}
