//! One readable GRPO / Dr. GRPO policy-iteration loop over an [`aha_model::Model`].
//!
//! A policy step ([`Trainer::step`]):
//! 1. every prompt is sampled `G` times; the `G` samples of a prompt stay consecutive, which is
//!    what makes them a group for [`crate::group_advantages`];
//! 2. each completion gets a scalar reward from the caller's closure (the verifier lives outside
//!    this crate); truncation handling is the closure's choice (`Completion::finish_reason`);
//! 3. group advantages;
//! 4. old log-probs (and the reference's, with beta > 0) are recomputed by the learner without
//!    gradients before any update (OAT does the same), at the sampling temperature (0 read as 1);
//!    the first mini-batch reuses its own train-mode scores, detached, as they are the same;
//! 5. the rollout batch is split into `mini_batches` contiguous chunks, each one optimizer step:
//!    loss → backward → global grad-norm clip → AdamW with the scheduled lr.
//!
//! Returns a [`StepMetrics`] line for `metrics.jsonl` (docs/pipeline.md) and the rollouts;
//! task-level fields (accuracy, format rate, reflection, SSR) need the verifier and are left to
//! the caller, who has the rollouts.

use std::path::Path;
use std::time::Instant;

use aha_model::{Completion, Detokenize, FinishReason, Mode, Model, SamplingParams};
use serde::{Deserialize, Serialize};

use crate::advantage::group_advantages;
use crate::error::{Error, Result};
use crate::loss::{LossConfig, policy_loss};
use crate::optim::{AdamW, AdamWConfig, clip_grad_norm};
use crate::schedule::LrSchedule;

/// The `schema_version` of [`StepMetrics`] lines.
pub const METRICS_SCHEMA_VERSION: u32 = 1;

/// Everything a training run needs besides the model, the prompts and the reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Samples per prompt (the group size G; upstream 8).
    pub group_size: usize,
    /// Rollout sampling; `seed` is offset by the policy step so each step draws fresh samples.
    pub sampling: SamplingParams,
    /// Algorithm, clip ε, Dr. GRPO budget, KL beta (beta > 0 needs a reference model).
    pub loss: LossConfig,
    /// AdamW hyper-parameters.
    pub adamw: AdamWConfig,
    /// Learning rate per optimizer step.
    pub schedule: LrSchedule,
    /// Global grad-norm clip (upstream 1.0).
    pub max_grad_norm: f64,
    /// Optimizer steps per rollout batch (upstream: 8): the batch is cut into this many
    /// contiguous chunks of `ceil(n / mini_batches)` responses (fewer when `n` is smaller).
    pub mini_batches: usize,
    /// Responses per forward/backward pass (0 = the whole mini-batch at once). Smaller
    /// micro-batches accumulate the same gradient (the loss is a mean over responses, so each
    /// micro-batch's loss is weighted by its share) in less memory: activations scale with it.
    #[serde(default)]
    pub micro_batch_size: usize,
    /// Sample the rollouts on a Q8_0 copy of the policy, made after every update and run on
    /// the packed CPU kernels with the f16 KV cache, instead of on the f32 weights. Much faster;
    /// the sampler then differs slightly from the learner (as a vLLM sampler does in verl or
    /// OpenRLHF): the loss still uses the learner's f32 log-probs, and
    /// [`StepMetrics::rollout_kl`] reports the gap.
    #[serde(default)]
    pub quantized_rollouts: bool,
    /// The CPU kernels of that copy (default: the fastest this CPU runs). Not saved: it changes
    /// speed, not results (every packed path gives the same bits).
    #[serde(skip)]
    pub rollout_kernels: aha_model::CpuKernels,
}

/// One `metrics.jsonl` line (the trainer-level subset of docs/pipeline.md; `None` is omitted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Always [`METRICS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Policy step, 0-based.
    pub step: usize,
    /// `grpo` or `dr_grpo`.
    pub algorithm: String,
    /// Mean reward of the rollout batch.
    pub reward_mean: f64,
    /// Population std of the rewards of the batch.
    pub reward_std: f64,
    /// Mean response length in tokens.
    pub len_mean: f64,
    /// Mean length of budget-truncated responses (omitted when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_truncated: Option<f64>,
    /// Fraction of responses cut by the budget.
    pub truncated_rate: f64,
    /// Loss, averaged over the mini-batches.
    pub loss: f64,
    /// Clip fraction, averaged over the mini-batches that had tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_frac: Option<f64>,
    /// Approximate KL(old ‖ new), averaged likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_kl: Option<f64>,
    /// Sampling-policy entropy estimate, averaged likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    /// The aggregated k3 KL to the reference, averaged over mini-batches (only with beta > 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_ref: Option<f64>,
    /// Pre-clip global grad norm, averaged over the mini-batches.
    pub grad_norm: f64,
    /// KL(sampler ‖ learner) per response token (k3 estimator over the sampled tokens): the
    /// mismatch between the quantized rollout policy and the f32 learner before the update
    /// (only with [`TrainerConfig::quantized_rollouts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_kl: Option<f64>,
    /// Learning rate of the last optimizer step.
    pub lr: f64,
    /// Generated tokens per second of wall time over the whole step.
    pub tokens_per_s: f64,
    /// Wall time of the step.
    pub step_time_s: f64,
}

/// One sampled response of a policy step, for task-level metrics (accuracy, format rate,
/// reflection, SSR) and `samples.jsonl`, which need the verifier and the tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Index into the step's `prompts`.
    pub prompt_index: usize,
    /// The sampled tokens, their log-probs and finish reason.
    pub completion: Completion,
    /// The reward the closure gave it.
    pub reward: f64,
    /// Its group advantage.
    pub advantage: f64,
}

/// What [`Trainer::step`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// The trainer-level `metrics.jsonl` fields.
    pub metrics: StepMetrics,
    /// Every sampled response, in rollout order (groups of `group_size` consecutive).
    pub rollouts: Vec<Rollout>,
}

/// The loop counters a checkpoint stores beside the weights and the optimizer state. Sampling
/// seeds derive from `policy_step`, so these counters are the whole RNG state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Always [`METRICS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Policy steps completed.
    pub policy_step: usize,
    /// Optimizer steps completed (drives the lr schedule).
    pub opt_step: usize,
}

/// File names inside a checkpoint directory.
pub const CHECKPOINT_MODEL: &str = "model.safetensors";
/// The optimizer state ([`AdamW::state`]).
pub const CHECKPOINT_OPTIMIZER: &str = "optimizer.safetensors";
/// The [`TrainerState`] as JSON.
pub const CHECKPOINT_STATE: &str = "trainer.json";

/// The training loop state: the model's weights (shared `Var`s), optimizer and counters.
#[derive(Debug)]
pub struct Trainer<'m> {
    model: &'m Model,
    /// Frozen reference policy for the k3 KL term (needed iff `loss.beta > 0`).
    reference: Option<&'m Model>,
    cfg: TrainerConfig,
    opt: AdamW,
    policy_step: usize,
    opt_step: usize,
}

impl<'m> Trainer<'m> {
    /// A trainer updating `model`'s f32 weights in place. With `cfg.loss.beta > 0`, a frozen
    /// `reference` model (same vocabulary; usually a copy of the initial weights) is required.
    pub fn new(
        model: &'m Model,
        reference: Option<&'m Model>,
        cfg: TrainerConfig,
    ) -> Result<Trainer<'m>> {
        cfg.loss.validate()?;
        cfg.schedule.validate()?;
        if cfg.group_size == 0 || cfg.mini_batches == 0 {
            return Err(Error::invalid(
                "trainer",
                "group_size and mini_batches must be ≥ 1",
            ));
        }
        if !(cfg.max_grad_norm.is_finite() && cfg.max_grad_norm > 0.0) {
            return Err(Error::invalid(
                "max_grad_norm",
                format!("{} (must be finite, > 0)", cfg.max_grad_norm),
            ));
        }
        if cfg.loss.beta > 0.0 && reference.is_none() {
            return Err(Error::invalid(
                "reference",
                format!("beta = {} needs a reference model", cfg.loss.beta),
            ));
        }
        let opt = AdamW::new(model.vars(), cfg.adamw)?;
        Ok(Trainer {
            model,
            reference: reference.filter(|_| cfg.loss.beta > 0.0),
            cfg,
            opt,
            policy_step: 0,
            opt_step: 0,
        })
    }

    /// Writes a checkpoint into `dir` (created if missing): the weights ([`CHECKPOINT_MODEL`],
    /// readable by `aha_model::Model::load`), the optimizer state and the counters. Each file is
    /// written to a temporary name and renamed, so a kill leaves either the old or the new file.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let commit = |name: &str, write: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
            let tmp = dir.join(format!("{name}.tmp"));
            let dst = dir.join(name);
            write(&tmp)?;
            std::fs::rename(&tmp, &dst).map_err(|e| io(&dst, e))
        };
        commit(CHECKPOINT_MODEL, &|p| self.model.save(p).map_err(model_err))?;
        commit(CHECKPOINT_OPTIMIZER, &|p| {
            let state: std::collections::HashMap<String, candle_core::Tensor> =
                self.opt.state()?.into_iter().collect();
            // candle's error would not say which file failed (e.g. on a full disk).
            candle_core::safetensors::save(&state, p)
                .map_err(|e| io(p, std::io::Error::other(e.to_string())))
        })?;
        let state = TrainerState {
            schema_version: METRICS_SCHEMA_VERSION,
            policy_step: self.policy_step,
            opt_step: self.opt_step,
        };
        commit(CHECKPOINT_STATE, &|p| {
            let text =
                serde_json::to_string(&state).map_err(|e| io(p, std::io::Error::other(e)))?;
            std::fs::write(p, text).map_err(|e| io(p, e))
        })
    }

    /// Restores the optimizer state and counters of a checkpoint in `dir`. The weights are the
    /// caller's to load (the trainer borrows the model): `Model::load(&dir.join(CHECKPOINT_MODEL),
    /// ..)`. A resumed run then continues with the same samples and updates.
    pub fn restore(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join(CHECKPOINT_STATE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let state: TrainerState = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                "checkpoint",
                format!(
                    "{}: line {} column {}: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if state.schema_version != METRICS_SCHEMA_VERSION {
            return Err(Error::invalid(
                "checkpoint",
                format!(
                    "{}: schema_version {} (this build reads {METRICS_SCHEMA_VERSION})",
                    path.display(),
                    state.schema_version
                ),
            ));
        }
        let opt_path = dir.join(CHECKPOINT_OPTIMIZER);
        let tensors = candle_core::safetensors::load(&opt_path, self.model.device())?;
        self.opt.load_state(&tensors)?;
        self.policy_step = state.policy_step;
        self.opt_step = state.opt_step;
        Ok(())
    }

    /// The update half of a policy step: old log-probs, then for each mini-batch (micro-batched
    /// forward/backward, gradients accumulated) loss → grad-norm clip → AdamW. `pairs` are
    /// (prompt, response) token ids, `advantages` one per response, `temperature` the sampling
    /// temperature (log-probs are scored at it). [`Trainer::step`] calls this after the rollout;
    /// it is public for callers that bring their own rollouts (and for benchmarks).
    pub fn learn(
        &mut self,
        pairs: &[(&[u32], &[u32])],
        advantages: &[f64],
        temperature: f64,
    ) -> Result<Learned> {
        self.learn_with(pairs, advantages, temperature, None)
    }

    /// [`Trainer::learn`] with the sampler's per-token log-probs of the responses (at the same
    /// temperature), when the rollouts came from another policy than the learner's weights: the
    /// result then carries [`Learned::rollout_kl`].
    pub fn learn_with(
        &mut self,
        pairs: &[(&[u32], &[u32])],
        advantages: &[f64],
        temperature: f64,
        sampler_logprobs: Option<&[Vec<f32>]>,
    ) -> Result<Learned> {
        let n = pairs.len();
        if let Some(s) = sampler_logprobs
            && (s.len() != n || s.iter().zip(pairs).any(|(lp, (_, r))| lp.len() != r.len()))
        {
            return Err(Error::invalid(
                "sampler_logprobs",
                format!(
                    "{} rows do not match the {n} responses and their lengths",
                    s.len()
                ),
            ));
        }
        let mut rollout_kl = Mean::default();
        if advantages.len() != n {
            return Err(Error::invalid(
                "advantages",
                format!("{} advantages for {n} responses", advantages.len()),
            ));
        }
        if n == 0 {
            return Err(Error::invalid(
                "pairs",
                "an update needs at least one response",
            ));
        }
        let chunk = n.div_ceil(self.cfg.mini_batches).max(1);
        let micro = match self.cfg.micro_batch_size {
            0 => chunk,
            m => m.min(chunk),
        };
        let (mut loss_sum, mut gn_sum, mut batches) = (0.0, 0.0, 0usize);
        let mut clip = Mean::default();
        let mut akl = Mean::default();
        let mut ent = Mean::default();
        let mut kl_ref = Mean::default();
        let mut lr = 0.0;
        // All old log-probs first: after the first optimizer step the model is no longer the
        // rollout policy. The first mini-batch needs no extra pass: before any update its
        // train-mode scores *are* the old policy's, detached (TRL's GRPOTrainer does the same
        // with one iteration), which saves a quarter of a one-mini-batch step's compute.
        // Indexed [mini-batch][micro-batch].
        let olds = pairs
            .chunks(chunk)
            .enumerate()
            .map(|(k, mb)| {
                mb.chunks(micro)
                    .map(|m| {
                        if k == 0 {
                            Ok(None)
                        } else {
                            self.model.score(m, temperature, Mode::Infer).map(Some)
                        }
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(model_err)?;
        let refs = pairs
            .chunks(chunk)
            .map(|mb| {
                mb.chunks(micro)
                    .map(|m| match self.reference {
                        Some(r) => r.score(m, temperature, Mode::Infer).map(Some),
                        None => Ok(None),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(model_err)?;
        let vars = self.model.vars();
        for (k, mb) in pairs.chunks(chunk).enumerate() {
            let adv_mb = &advantages[k * chunk..k * chunk + mb.len()];
            let mut acc: Option<aha_model::candle_core::backprop::GradStore> = None;
            let mut parts = MicroStats::default();
            for (j, m) in mb.chunks(micro).enumerate() {
                let adv = &adv_mb[j * micro..j * micro + m.len()];
                let new = self
                    .model
                    .score(m, temperature, Mode::Train)
                    .map_err(model_err)?;
                let old = match &olds[k][j] {
                    Some(o) => o.logprobs.clone(),
                    None => new.logprobs.detach(),
                };
                if let Some(sampler) = sampler_logprobs {
                    let first = k * chunk + j * micro;
                    let learner = old.to_vec2::<f32>()?;
                    for (row, lp_s) in learner.iter().zip(&sampler[first..first + m.len()]) {
                        for (&l, &s) in row.iter().zip(lp_s) {
                            rollout_kl.add(Some(k3(f64::from(s), f64::from(l))));
                        }
                    }
                }
                let out = policy_loss(
                    &self.cfg.loss,
                    &new.logprobs,
                    &old,
                    refs[k][j].as_ref().map(|r| &r.logprobs),
                    &new.mask,
                    adv,
                )?;
                // The loss is a mean over responses: weight each micro-batch by its share.
                let share = m.len() as f64 / mb.len() as f64;
                let loss = if m.len() == mb.len() {
                    out.loss
                } else {
                    out.loss.affine(share, 0.0)?
                };
                let grads = loss.backward()?;
                drop((loss, new));
                acc = Some(match acc {
                    None => grads,
                    Some(mut sum) => {
                        accumulate(&mut sum, grads, &vars)?;
                        sum
                    }
                });
                parts.add(&out.stats, share);
            }
            let Some(mut grads) = acc else { continue };
            let gn = clip_grad_norm(&vars, &mut grads, self.cfg.max_grad_norm)?;
            lr = self.cfg.schedule.lr_at(self.opt_step);
            self.opt.step(&grads, lr)?;
            self.opt_step += 1;
            loss_sum += parts.loss;
            gn_sum += gn;
            batches += 1;
            clip.add(parts.per_token(parts.clip));
            akl.add(parts.per_token(parts.approx_kl));
            ent.add(parts.per_token(parts.entropy));
            kl_ref.add(parts.kl_ref);
        }

        Ok(Learned {
            loss: loss_sum / batches.max(1) as f64,
            clip_frac: clip.get(),
            approx_kl: akl.get(),
            entropy: ent.get(),
            kl_ref: kl_ref.get(),
            grad_norm: gn_sum / batches.max(1) as f64,
            rollout_kl: rollout_kl.get(),
            lr,
            optimizer_steps: batches,
        })
    }

    /// Policy steps taken so far.
    pub fn policy_step(&self) -> usize {
        self.policy_step
    }

    /// One policy step on `prompts` (token ids); `reward(prompt_index, completion)` scores each
    /// sample.
    pub fn step(
        &mut self,
        prompts: &[Vec<u32>],
        reward: &mut dyn FnMut(usize, &Completion) -> f64,
    ) -> Result<StepOutput> {
        self.step_with(prompts, None, reward, &mut |_, _| {})
    }

    /// [`Trainer::step`] with a detokenizer (needed when `sampling.stop_strings` is non-empty)
    /// and a per-token callback `on_token(sequence, token)` during the rollout (for progress).
    pub fn step_with(
        &mut self,
        prompts: &[Vec<u32>],
        decoder: Option<&dyn Detokenize>,
        reward: &mut dyn FnMut(usize, &Completion) -> f64,
        on_token: &mut dyn FnMut(usize, u32),
    ) -> Result<StepOutput> {
        if prompts.is_empty() {
            return Err(Error::invalid(
                "prompts",
                "a policy step needs at least one prompt",
            ));
        }
        let start = Instant::now();
        let g = self.cfg.group_size;
        let expanded: Vec<Vec<u32>> = prompts
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), g))
            .collect();
        let mut sampling = self.cfg.sampling.clone();
        sampling.seed = sampling.seed.wrapping_add(self.policy_step as u64);
        // The quantized copy is remade every step: the weights changed in the last update.
        let quantized = if self.cfg.quantized_rollouts {
            Some(
                self.model
                    .quantized_copy(&aha_model::LoadOptions {
                        cpu_kernels: self.cfg.rollout_kernels,
                        ..aha_model::LoadOptions::default()
                    })
                    .map_err(model_err)?,
            )
        } else {
            None
        };
        let completions = quantized
            .as_ref()
            .unwrap_or(self.model)
            .generate(&expanded, &sampling, decoder, on_token)
            .map_err(model_err)?;
        drop(quantized);
        let rewards: Vec<f64> = completions
            .iter()
            .enumerate()
            .map(|(i, c)| reward(i / g, c))
            .collect();
        let advantages = group_advantages(&rewards, g, self.cfg.loss.kind)?;

        let pairs: Vec<(&[u32], &[u32])> = expanded
            .iter()
            .zip(&completions)
            .map(|(p, c)| (p.as_slice(), c.tokens.as_slice()))
            .collect();
        let sampler_logprobs: Option<Vec<Vec<f32>>> = self
            .cfg
            .quantized_rollouts
            .then(|| completions.iter().map(|c| c.logprobs.clone()).collect());
        let learned = self.learn_with(
            &pairs,
            &advantages,
            sampling.temperature,
            sampler_logprobs.as_deref(),
        )?;
        let n = pairs.len();

        let lens: Vec<f64> = completions.iter().map(|c| c.tokens.len() as f64).collect();
        let truncated: Vec<f64> = completions
            .iter()
            .filter(|c| c.finish_reason == FinishReason::Length)
            .map(|c| c.tokens.len() as f64)
            .collect();
        let total_tokens: f64 = lens.iter().sum();
        let elapsed = start.elapsed().as_secs_f64();
        let reward_mean = mean(&rewards).unwrap_or(0.0);
        let metrics = StepMetrics {
            schema_version: METRICS_SCHEMA_VERSION,
            step: self.policy_step,
            algorithm: self.cfg.loss.kind.as_str().to_string(),
            reward_mean,
            reward_std: mean(
                &rewards
                    .iter()
                    .map(|r| (r - reward_mean).powi(2))
                    .collect::<Vec<_>>(),
            )
            .unwrap_or(0.0)
            .sqrt(),
            len_mean: mean(&lens).unwrap_or(0.0),
            len_truncated: mean(&truncated),
            truncated_rate: truncated.len() as f64 / n.max(1) as f64,
            loss: learned.loss,
            clip_frac: learned.clip_frac,
            approx_kl: learned.approx_kl,
            entropy: learned.entropy,
            kl_ref: learned.kl_ref,
            grad_norm: learned.grad_norm,
            rollout_kl: learned.rollout_kl,
            lr: learned.lr,
            tokens_per_s: if elapsed > 0.0 {
                total_tokens / elapsed
            } else {
                0.0
            },
            step_time_s: elapsed,
        };
        self.policy_step += 1;
        let rollouts = completions
            .into_iter()
            .zip(rewards)
            .zip(advantages)
            .enumerate()
            .map(|(i, ((completion, reward), advantage))| Rollout {
                prompt_index: i / g,
                completion,
                reward,
                advantage,
            })
            .collect();
        Ok(StepOutput { metrics, rollouts })
    }
}

/// What [`Trainer::learn`] did: loss statistics averaged over its mini-batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// Loss, averaged over the mini-batches.
    pub loss: f64,
    /// Clip fraction (per token), averaged over mini-batches with tokens.
    pub clip_frac: Option<f64>,
    /// Approximate KL(old ‖ new), averaged likewise.
    pub approx_kl: Option<f64>,
    /// Sampling-policy entropy estimate, averaged likewise.
    pub entropy: Option<f64>,
    /// KL to the reference (beta > 0 only).
    pub kl_ref: Option<f64>,
    /// Pre-clip gradient norm, averaged over the mini-batches.
    pub grad_norm: f64,
    /// KL(sampler ‖ learner) per response token, k3 estimator (only when the sampler's
    /// log-probs were given to [`Trainer::learn_with`]).
    pub rollout_kl: Option<f64>,
    /// Learning rate of the last optimizer step.
    pub lr: f64,
    /// Optimizer steps taken.
    pub optimizer_steps: usize,
}

/// Appends `value` as one JSON line to `path` (created if missing), in one write on an
/// `O_APPEND` handle, fsynced ([`aha_rundir::append_jsonl`]): a killed run leaves at most one
/// partial last line, never an interleaved one.
pub fn append_jsonl<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    Ok(aha_rundir::append_jsonl(path, std::slice::from_ref(value))?)
}

fn model_err(e: aha_model::Error) -> Error {
    Error::Model(e)
}

/// The k3 estimate of KL(p ‖ q) from one token drawn from p: `r − 1 − ln r` with
/// `r = q(x)/p(x)`; unbiased, never negative, and low-variance when p and q are close.
fn k3(logp: f64, logq: f64) -> f64 {
    let d = logq - logp;
    d.exp_m1() - d
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Mean of the present values.
#[derive(Default)]
struct Mean {
    sum: f64,
    n: usize,
}

/// A mini-batch's loss statistics, combined over its micro-batches: response-mean quantities
/// weighted by each micro-batch's share of responses, per-token ones by its tokens.
#[derive(Default)]
struct MicroStats {
    loss: f64,
    kl_ref: Option<f64>,
    tokens: f64,
    clip: f64,
    approx_kl: f64,
    entropy: f64,
}

impl MicroStats {
    fn add(&mut self, s: &crate::loss::LossStats, share: f64) {
        self.loss += share * s.loss;
        if let Some(kl) = s.kl_ref {
            *self.kl_ref.get_or_insert(0.0) += share * kl;
        }
        let t = s.tokens as f64;
        self.tokens += t;
        self.clip += t * s.clip_frac.unwrap_or(0.0);
        self.approx_kl += t * s.approx_kl.unwrap_or(0.0);
        self.entropy += t * s.entropy.unwrap_or(0.0);
    }

    /// A token-weighted sum as a per-token mean (`None` without tokens, as the loss reports).
    fn per_token(&self, weighted: f64) -> Option<f64> {
        (self.tokens > 0.0).then(|| weighted / self.tokens)
    }
}

/// Adds the gradients of `vars` in `more` into `sum`.
fn accumulate(
    sum: &mut aha_model::candle_core::backprop::GradStore,
    mut more: aha_model::candle_core::backprop::GradStore,
    vars: &[aha_model::candle_core::Var],
) -> Result<()> {
    for v in vars {
        let Some(g) = more.remove(v.as_tensor()) else {
            continue;
        };
        let total = match sum.remove(v.as_tensor()) {
            Some(prev) => (prev + g)?,
            None => g,
        };
        sum.insert(v.as_tensor(), total);
    }
    Ok(())
}

impl Mean {
    fn add(&mut self, x: Option<f64>) {
        if let Some(x) = x {
            self.sum += x;
            self.n += 1;
        }
    }

    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}
