//! Supervised fine-tuning and LM pre-training on `(prompt, response)` token pairs.
//!
//! The loss is the masked token-mean cross-entropy over response tokens only:
//! `-Σ_i Σ_t log p(r_it | prompt_i, r_i<t) / Σ_i |r_i|`, scored by the same
//! [`aha_model::Model::score`] the RL learner uses (temperature 1, [`Mode::Train`]). Pre-training
//! a language model is the special case of a BOS-only prompt (the whole text is the response).
//! Each step is one optimizer step on one mini-batch: loss → backward → global grad-norm clip →
//! AdamW with the scheduled lr, exactly as in [`crate::Trainer`].
//!
//! [`SftTrainer::step`] is the building block (the caller picks the batches); [`sft`] runs whole
//! epochs over a data set in a seeded order and reports every step to a callback.

use std::path::Path;
use std::time::Instant;

use aha_model::{Mode, Model};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optim::{AdamW, AdamWConfig, clip_grad_norm};
use crate::schedule::LrSchedule;

/// The `schema_version` of [`SftStepMetrics`] lines.
pub const SFT_SCHEMA_VERSION: u32 = 1;

/// One supervised example, as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftExample {
    /// Conditioning tokens (no loss); must be non-empty: at least a BOS token.
    pub prompt: Vec<u32>,
    /// The tokens the loss is taken over (append the EOS id if the model should learn to stop).
    pub response: Vec<u32>,
}

/// Optimisation settings of a supervised run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Examples per optimizer step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Passes over the data; [`sft`] stops earlier when `max_steps` is reached.
    pub epochs: usize,
    /// Stop after this many optimizer steps (`None`: run all epochs).
    pub max_steps: Option<usize>,
    /// AdamW hyper-parameters.
    pub adamw: AdamWConfig,
    /// Learning rate per optimizer step.
    pub schedule: LrSchedule,
    /// Global grad-norm clip.
    pub max_grad_norm: f64,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
}

impl Default for SftConfig {
    /// Batch 8, one epoch, AdamW (0.9, 0.95), constant lr 1e-4, clip 1.0, seed 0.
    fn default() -> SftConfig {
        SftConfig {
            batch_size: 8,
            epochs: 1,
            max_steps: None,
            adamw: AdamWConfig::default(),
            schedule: LrSchedule::Constant {
                lr: 1e-4,
                warmup: 0,
            },
            max_grad_norm: 1.0,
            seed: 0,
        }
    }
}

impl SftConfig {
    /// Checks ranges, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be ≥ 1"));
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
            return Err(Error::invalid(
                "max_grad_norm",
                format!("{} (must be finite, > 0)", self.max_grad_norm),
            ));
        }
        self.adamw.validate()?;
        self.schedule.validate()
    }
}

/// What one optimizer step did (one line of `aha sft`'s `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftStepMetrics {
    /// Always [`SFT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Optimizer step, 0-based.
    pub step: usize,
    /// Epoch the batch came from, 0-based.
    pub epoch: usize,
    /// Token-mean cross-entropy (nats/token) of the batch before the update.
    pub loss: f64,
    /// Response tokens in the batch (the loss's denominator).
    pub tokens: usize,
    /// Examples in the batch.
    pub examples: usize,
    /// Pre-clip global grad norm.
    pub grad_norm: f64,
    /// Learning rate applied.
    pub lr: f64,
    /// Response tokens per second of wall time.
    pub tokens_per_s: f64,
    /// Wall time of the step.
    pub step_time_s: f64,
}

/// Weights (shared `Var`s of the model), optimizer and step counter of a supervised run.
#[derive(Debug)]
pub struct SftTrainer<'m> {
    model: &'m Model,
    cfg: SftConfig,
    opt: AdamW,
    step: usize,
}

impl<'m> SftTrainer<'m> {
    /// A trainer updating `model`'s f32 weights in place (a quantized model has no `Var`s and is
    /// refused).
    pub fn new(model: &'m Model, cfg: SftConfig) -> Result<SftTrainer<'m>> {
        cfg.validate()?;
        if model.vars().is_empty() {
            return Err(Error::invalid(
                "model",
                "no trainable weights (load it with WeightKind::F32)",
            ));
        }
        let opt = AdamW::new(model.vars(), cfg.adamw)?;
        Ok(SftTrainer {
            model,
            cfg,
            opt,
            step: 0,
        })
    }

    /// Optimizer steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The model being trained.
    pub fn model(&self) -> &Model {
        self.model
    }

    /// One optimizer step on `batch`; `epoch` is only recorded in the metrics.
    ///
    /// A batch without response tokens is refused (it would divide by zero).
    pub fn step(&mut self, batch: &[SftExample], epoch: usize) -> Result<SftStepMetrics> {
        let start = Instant::now();
        let pairs = pairs_of(batch)?;
        let scores = self
            .model
            .score(&pairs, 1.0, Mode::Train)
            .map_err(Error::Model)?;
        let tokens: usize = scores.lengths.iter().sum();
        // score() zeroes padding, so the plain sum is the masked sum.
        let loss = (scores.logprobs.sum_all()? * (-1.0 / tokens as f64))?;
        let loss_value = f64::from(loss.to_scalar::<f32>()?);
        if !loss_value.is_finite() {
            return Err(Error::NonFinite {
                what: "sft loss",
                value: loss_value,
            });
        }
        let mut grads = loss.backward()?;
        let vars = self.model.vars();
        let grad_norm = clip_grad_norm(&vars, &mut grads, self.cfg.max_grad_norm)?;
        let lr = self.cfg.schedule.lr_at(self.step);
        self.opt.step(&grads, lr)?;
        let elapsed = start.elapsed().as_secs_f64();
        let m = SftStepMetrics {
            schema_version: SFT_SCHEMA_VERSION,
            step: self.step,
            epoch,
            loss: loss_value,
            tokens,
            examples: batch.len(),
            grad_norm,
            lr,
            tokens_per_s: if elapsed > 0.0 {
                tokens as f64 / elapsed
            } else {
                0.0
            },
            step_time_s: elapsed,
        };
        self.step += 1;
        Ok(m)
    }

    /// Token-mean cross-entropy of `examples` under the current weights, without gradients,
    /// in batches of `batch_size`; returns `(loss, tokens)`.
    pub fn eval_loss(&self, examples: &[SftExample]) -> Result<(f64, usize)> {
        eval_loss(self.model, examples, self.cfg.batch_size)
    }

    /// Writes the weights to `path` (a `.safetensors` file `aha_model::Model::load` reads) via a
    /// temporary file and a rename, so a kill leaves the old file or the new one.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        save_model_atomic(self.model, path)
    }
}

/// Token-mean cross-entropy of `examples` under `model` ([`Mode::Infer`], no gradients), in
/// batches of `batch_size`; returns `(loss, tokens)`. Examples without response tokens add
/// nothing; with no tokens at all the loss is 0.
pub fn eval_loss(
    model: &Model,
    examples: &[SftExample],
    batch_size: usize,
) -> Result<(f64, usize)> {
    let (mut sum, mut tokens) = (0.0f64, 0usize);
    for batch in examples.chunks(batch_size.max(1)) {
        let pairs = pairs_of_lenient(batch)?;
        let scores = model
            .score(&pairs, 1.0, Mode::Infer)
            .map_err(Error::Model)?;
        sum -= f64::from(scores.logprobs.sum_all()?.to_scalar::<f32>()?);
        tokens += scores.lengths.iter().sum::<usize>();
    }
    Ok((if tokens > 0 { sum / tokens as f64 } else { 0.0 }, tokens))
}

/// The batches of a run: per epoch, the example indices in a seeded shuffle (ChaCha20 seeded
/// with `seed + epoch`, so epoch `e`'s order does not depend on how many epochs ran before a
/// resume), cut into chunks of `batch_size`. Returns `(epoch, indices)` per optimizer step.
pub fn epoch_batches(
    n_examples: usize,
    batch_size: usize,
    epochs: usize,
    seed: u64,
) -> Vec<(usize, Vec<usize>)> {
    let mut out = Vec::new();
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..n_examples).collect();
        order.shuffle(&mut ChaCha20Rng::seed_from_u64(
            seed.wrapping_add(epoch as u64),
        ));
        for chunk in order.chunks(batch_size.max(1)) {
            out.push((epoch, chunk.to_vec()));
        }
    }
    out
}

/// Trains `model` on `examples` for `cfg.epochs` epochs (or `cfg.max_steps` steps) in the order
/// of [`epoch_batches`], calling `on_step` after every optimizer step; returns all step metrics.
pub fn sft(
    model: &Model,
    examples: &[SftExample],
    cfg: &SftConfig,
    on_step: &mut dyn FnMut(&SftStepMetrics),
) -> Result<Vec<SftStepMetrics>> {
    if examples.is_empty() {
        return Err(Error::invalid("examples", "no training examples"));
    }
    let mut trainer = SftTrainer::new(model, cfg.clone())?;
    let mut out = Vec::new();
    for (epoch, idx) in epoch_batches(examples.len(), cfg.batch_size, cfg.epochs, cfg.seed) {
        if cfg.max_steps.is_some_and(|m| trainer.steps_done() >= m) {
            break;
        }
        let batch: Vec<SftExample> = idx.iter().map(|&i| examples[i].clone()).collect();
        if batch.iter().all(|e| e.response.is_empty()) {
            continue;
        }
        let m = trainer.step(&batch, epoch)?;
        on_step(&m);
        out.push(m);
    }
    Ok(out)
}

/// How the lines of a trace file become [`SftExample`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFields {
    /// Field holding the prompt text (conditioning only, no loss).
    pub prompt: String,
    /// Field holding the response text (the loss is taken over its tokens).
    pub response: String,
    /// Language-model pre-training: no prompt field; each text follows a BOS token.
    pub pretrain: bool,
    /// Append the EOS token to each response, so that the model learns to stop.
    pub append_eos: bool,
}

/// Reads a JSONL trace file (one object per line with the [`TraceFields`]) into examples;
/// errors name file, line and field. Blank lines are skipped; an empty file is an error.
pub fn read_examples(
    path: &Path,
    tok: &aha_tokenizer::Tokenizer,
    fields: &TraceFields,
) -> Result<Vec<SftExample>> {
    let shown = path.display();
    let bad = |msg: String| Error::invalid("traces", msg);
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let eos = tok.eos_id();
    if fields.append_eos && eos.is_none() {
        return Err(bad("the tokenizer has no EOS token; pass --no-eos".into()));
    }
    let bos_prompt = match (fields.pretrain, tok.bos_id()) {
        (true, Some(b)) => Some(vec![b]),
        (true, None) => {
            return Err(bad(
                "--pretrain needs a BOS token and the tokenizer has none".into(),
            ));
        }
        (false, _) => None,
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("{shown}:{n}: not JSON: {e}")))?;
        let field = |name: &str| -> Result<&str> {
            match row.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s),
                Some(_) => Err(bad(format!(
                    "{shown}:{n}: field \"{name}\": expected a string"
                ))),
                None => Err(bad(format!("{shown}:{n}: field \"{name}\" is missing"))),
            }
        };
        let encode = |name: &str, text: &str, bos: bool| {
            tok.encode(text, bos)
                .map_err(|e| bad(format!("{shown}:{n}: field \"{name}\": {e}")))
        };
        let response_text = field(&fields.response)?;
        let prompt = match &bos_prompt {
            Some(p) => p.clone(),
            None => encode(
                &fields.prompt,
                field(&fields.prompt)?,
                tok.add_bos_default(),
            )?,
        };
        if prompt.is_empty() {
            return Err(bad(format!(
                "{shown}:{n}: field \"{}\" is empty and the tokenizer adds no BOS",
                fields.prompt
            )));
        }
        let mut response = encode(&fields.response, response_text, false)?;
        if let Some(e) = eos.filter(|_| fields.append_eos) {
            response.push(e);
        }
        out.push(SftExample { prompt, response });
    }
    if out.is_empty() {
        return Err(bad(format!("{shown}: no examples")));
    }
    Ok(out)
}

/// The `config.json` of an `aha sft` run: where model, tokenizer and traces came from, how the
/// traces were read, and the optimisation settings.
#[derive(Debug, Clone, Serialize)]
pub struct SftRunConfig<'a> {
    /// Always [`SFT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The model's path.
    pub model: String,
    /// The tokenizer's source.
    pub tokenizer: String,
    /// The trace file.
    pub data: String,
    /// Pre-training (BOS-only prompts).
    pub pretrain: bool,
    /// EOS appended to responses.
    pub append_eos: bool,
    /// Examples read.
    pub examples: usize,
    /// Response tokens over all examples (the tokens the loss is taken over per epoch).
    pub response_tokens: usize,
    /// The optimisation settings.
    pub sft: &'a SftConfig,
}

impl SftRunConfig<'_> {
    /// Creates `out` (which must be missing or empty: an SFT run does not resume) and writes
    /// this config into it as `config.json`, atomically; returns the text written.
    pub fn write_new(&self, out: &Path) -> Result<String> {
        ensure_new_dir(out)?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("config", e.to_string()))?;
        std::fs::create_dir_all(out).map_err(|source| Error::Io {
            path: out.to_path_buf(),
            source,
        })?;
        aha_rundir::write_atomic(&out.join("config.json"), text.as_bytes())?;
        Ok(text)
    }
}

/// Fails unless `out` is missing or an empty directory (an SFT run does not resume); callers
/// check before loading a model, [`SftRunConfig::write_new`] again before writing.
pub fn ensure_new_dir(out: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(out) {
        Ok(mut d) => d.next().is_some(),
        Err(_) if !out.exists() => false,
        Err(source) => {
            return Err(Error::Io {
                path: out.to_path_buf(),
                source,
            });
        }
    };
    if entries {
        return Err(Error::invalid(
            "output directory",
            format!("{} is not empty; choose another --out", out.display()),
        ));
    }
    Ok(())
}

/// Makes weights written into `out` loadable with their tokenizer: a `tokenizer.json` source is
/// copied beside them (with its `tokenizer_config.json` / `generation_config.json`); for any
/// other source (a GGUF file) the flag that passes it is returned as a hint.
pub fn ship_tokenizer(source: &Path, out: &Path) -> Result<Option<String>> {
    if source.extension().is_none_or(|e| e != "json") {
        return Ok(Some(format!("--tokenizer {}", source.display())));
    }
    let dir = source.parent().unwrap_or_else(|| Path::new("."));
    let copy = |from: &Path, name: &str| {
        std::fs::copy(from, out.join(name))
            .map(|_| ())
            .map_err(|source| Error::Io {
                path: from.to_path_buf(),
                source,
            })
    };
    copy(source, "tokenizer.json")?;
    for f in ["tokenizer_config.json", "generation_config.json"] {
        if dir.join(f).is_file() {
            copy(&dir.join(f), f)?;
        }
    }
    Ok(None)
}

/// Writes `model`'s weights to `path` through `path.tmp` + rename.
pub(crate) fn save_model_atomic(model: &Model, path: &Path) -> Result<()> {
    let tmp = aha_rundir::tmp_path(path);
    model.save(&tmp).map_err(Error::Model)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn pairs_of(batch: &[SftExample]) -> Result<Vec<(&[u32], &[u32])>> {
    if batch.iter().all(|e| e.response.is_empty()) {
        return Err(Error::invalid(
            "batch",
            "no response tokens: the loss would be 0/0",
        ));
    }
    pairs_of_lenient(batch)
}

fn pairs_of_lenient(batch: &[SftExample]) -> Result<Vec<(&[u32], &[u32])>> {
    batch
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if e.prompt.is_empty() {
                Err(Error::invalid(
                    "prompt",
                    format!("example {i} has an empty prompt (start it with the BOS token)"),
                ))
            } else {
                Ok((e.prompt.as_slice(), e.response.as_slice()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_example_once_per_epoch_and_are_seeded() {
        let b = epoch_batches(10, 4, 2, 7);
        assert_eq!(b.len(), 6);
        for epoch in 0..2 {
            let mut seen: Vec<usize> = b
                .iter()
                .filter(|(e, _)| *e == epoch)
                .flat_map(|(_, i)| i.clone())
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
        assert_eq!(b, epoch_batches(10, 4, 2, 7));
        assert_ne!(b, epoch_batches(10, 4, 2, 8));
        // Epochs are shuffled independently.
        assert_ne!(b[0].1, b[3].1);
    }

    #[test]
    fn a_new_sft_directory_must_be_empty_and_gets_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let sft = SftConfig::default();
        let cfg = SftRunConfig {
            schema_version: SFT_SCHEMA_VERSION,
            model: "m".into(),
            tokenizer: "t".into(),
            data: "d".into(),
            pretrain: false,
            append_eos: true,
            examples: 2,
            response_tokens: 9,
            sft: &sft,
        };
        let text = cfg.write_new(&out).unwrap();
        let saved = std::fs::read_to_string(out.join("config.json")).unwrap();
        assert_eq!(saved, text);
        let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
        assert_eq!(
            (
                v["response_tokens"].as_u64(),
                v["sft"]["batch_size"].as_u64()
            ),
            (Some(9), Some(8))
        );
        let again = cfg.write_new(&out).unwrap_err().to_string();
        assert!(again.contains("is not empty"), "{again}");
    }

    #[test]
    fn shipping_a_tokenizer_copies_json_sources_and_hints_for_others() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(src.join("tokenizer.json"), "{}").unwrap();
        std::fs::write(src.join("generation_config.json"), "{\"eos\": 1}").unwrap();
        assert_eq!(
            ship_tokenizer(&src.join("tokenizer.json"), &out).unwrap(),
            None
        );
        assert!(out.join("tokenizer.json").is_file());
        assert!(out.join("generation_config.json").is_file());
        assert!(!out.join("tokenizer_config.json").exists());
        assert_eq!(
            ship_tokenizer(Path::new("m.gguf"), &out)
                .unwrap()
                .as_deref(),
            Some("--tokenizer m.gguf")
        );
    }
}
