//! The base model: a tiny Llama-family decoder, initialised from a seed and pre-trained on the
//! world's corpus of worked solutions with the shared LM/SFT step (`aha_train::sft`; next-token
//! loss on each solution given its question, see [`document`]).

use aha_model::candle_core::{Device, Var};
use aha_model::{Arch, LoadOptions, Model, ModelConfig, WeightKind};
use aha_tokenizer::Tokenizer;
use aha_train::{AdamWConfig, LrSchedule, SftConfig, SftExample, SftStepMetrics};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::vocab::{BOS_ID, EOS_ID};

use crate::world::Solution;

/// Size of the decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Residual width.
    pub hidden: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Attention heads (`hidden` must be a multiple).
    pub heads: usize,
    /// MLP inner width.
    pub intermediate: usize,
    /// Standard deviation of the initial weights (embeddings and projections).
    pub init_std: f64,
}

/// Pre-training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    /// Documents per optimizer step.
    pub batch_size: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Peak learning rate (cosine decay to a tenth, after `warmup` steps).
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
}

/// The decoder configuration for a vocabulary of `vocab` tokens.
pub fn model_config(spec: &ModelSpec, vocab: usize) -> Result<ModelConfig> {
    if spec.heads == 0 || spec.hidden == 0 || !spec.hidden.is_multiple_of(spec.heads) {
        return Err(Error::config(
            "model.heads",
            format!(
                "hidden {} must be a positive multiple of heads {}",
                spec.hidden, spec.heads
            ),
        ));
    }
    if spec.layers == 0 || spec.intermediate == 0 {
        return Err(Error::config(
            "model.layers",
            "layers and intermediate must be ≥ 1",
        ));
    }
    if !(spec.init_std.is_finite() && spec.init_std > 0.0) {
        return Err(Error::config(
            "model.init_std",
            format!("{} (must be finite, > 0)", spec.init_std),
        ));
    }
    let mut c = ModelConfig::tiny(Arch::Llama);
    c.vocab_size = vocab;
    c.hidden_size = spec.hidden;
    c.intermediate_size = spec.intermediate;
    c.num_layers = spec.layers;
    c.num_heads = spec.heads;
    c.num_kv_heads = spec.heads;
    c.head_dim = spec.hidden / spec.heads;
    c.query_pre_attn_scalar = c.head_dim as f64;
    c.sliding_layers = vec![false; spec.layers];
    c.max_position_embeddings = 256;
    c.tie_word_embeddings = true;
    c.bos_token_id = Some(BOS_ID);
    c.eos_token_ids = vec![EOS_ID];
    Ok(c)
}

/// How every model of the demo is built and loaded: f32 products in aha's fixed order, so a
/// seeded demo gives the same numbers on every CPU (docs/cpu-kernels.md).
pub fn load_options() -> LoadOptions {
    LoadOptions {
        fixed_order_f32: true,
        ..LoadOptions::default()
    }
}

/// Loads a saved demo model (f32, trainable) with [`load_options`].
pub fn load_model(path: &std::path::Path) -> Result<Model> {
    Ok(Model::load_with(
        path,
        WeightKind::F32,
        &Device::Cpu,
        &load_options(),
    )?)
}

/// A fresh model: [`Model::tiny`]'s seeded draws, rescaled to `init_std` (its own scales are
/// meant for peaked random-output tests, too large to train from); norms stay near 1.
pub fn init_model(spec: &ModelSpec, vocab: usize, seed: u64) -> Result<Model> {
    let cfg = model_config(spec, vocab)?;
    let model = Model::tiny_with(&cfg, seed, &Device::Cpu, &load_options())?;
    for (name, var) in model.named_vars() {
        if name.contains("norm") {
            continue;
        }
        // tiny() draws embeddings with std 1 and the rest with std 0.2.
        let drawn = if name.starts_with("token_embd") || name.starts_with("output.") {
            1.0
        } else {
            0.2
        };
        rescale(var, spec.init_std / drawn)?;
    }
    Ok(model)
}

fn rescale(var: &Var, factor: f64) -> Result<()> {
    let t = (var.as_tensor() * factor).map_err(aha_model::Error::from)?;
    var.set(&t).map_err(aha_model::Error::from)?;
    Ok(())
}

/// The training example of one worked solution: the question (BOS first) as the prompt, the
/// worked solution and EOS as the response, so the next-token loss is taken on the solution.
///
/// Why not the whole document: the questions are uniform random draws, so their tokens carry
/// only irreducible loss and gradient noise; leaving them out gets the solver's behaviour into a
/// tiny model in a few hundred steps on a CPU, and the question is exactly the prompt that the
/// probe and RL condition on.
pub fn document(tok: &Tokenizer, s: &Solution) -> Result<SftExample> {
    let prompt = tok.encode(&s.question.text(), true)?;
    let mut response = tok.encode(&s.response(), false)?;
    response.push(EOS_ID);
    Ok(SftExample { prompt, response })
}

/// The shared SFT configuration of a pre-training run.
pub fn sft_config(spec: &PretrainSpec, n_docs: usize, seed: u64) -> Result<SftConfig> {
    if spec.batch_size == 0 || spec.steps == 0 || n_docs == 0 {
        return Err(Error::config(
            "pretrain",
            "batch_size, steps and the corpus size must be ≥ 1",
        ));
    }
    Ok(SftConfig {
        batch_size: spec.batch_size,
        epochs: (spec.steps * spec.batch_size).div_ceil(n_docs),
        max_steps: Some(spec.steps),
        adamw: AdamWConfig::default(),
        schedule: LrSchedule::Cosine {
            lr: spec.lr,
            warmup: spec.warmup.min(spec.steps),
            total: spec.steps,
            min_lr_ratio: 0.1,
        },
        max_grad_norm: 1.0,
        seed,
    })
}

/// Pre-trains `model` in place on `docs`, reporting each step.
pub fn pretrain(
    model: &Model,
    docs: &[SftExample],
    spec: &PretrainSpec,
    seed: u64,
    on_step: &mut dyn FnMut(&SftStepMetrics),
) -> Result<Vec<SftStepMetrics>> {
    let cfg = sft_config(spec, docs.len(), seed)?;
    Ok(aha_train::sft(model, docs, &cfg, on_step)?)
}
