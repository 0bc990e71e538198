//! The schema of a run's `config.json`: [`RunConfig`] and its sections, with validation.

use std::collections::BTreeMap;
use std::path::Path;

use aha_model::SamplingParams;
use aha_reflect::MatchMode;
use serde::{Deserialize, Serialize};

use crate::advantage::AdvantageKind;
use crate::error::{Error, Result};
use crate::loss::LossConfig;
use crate::optim::AdamWConfig;
use crate::schedule::LrSchedule;
use crate::task::{RewardConfig, RewardKind};
use crate::trainer::TrainerConfig;

/// The `schema_version` of `config.json`, `samples.jsonl` lines and checkpoint run state.
pub const RUN_SCHEMA_VERSION: u32 = 1;

/// Rollout sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Softmax temperature (> 0: a group of greedy samples would all be equal).
    pub temperature: f64,
    /// Nucleus sampling threshold (1 = off).
    pub top_p: f64,
    /// Generation budget per response, in tokens.
    pub max_tokens: usize,
    /// Stop strings; `None` = the template's (`</answer>` for r1, kept in the output).
    pub stop: Option<Vec<String>>,
}

impl Default for SamplingConfig {
    /// The paper's sampling: temperature 1, top-p 1; a CPU-sized budget of 256 tokens.
    fn default() -> SamplingConfig {
        SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_tokens: 256,
            stop: None,
        }
    }
}

/// Loss settings besides the algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossSettings {
    /// PPO clip ε.
    pub clip_eps: f64,
    /// Dr. GRPO's constant C; `None` = the generation budget `sampling.max_tokens` (OAT ≥ 7619b79).
    pub budget: Option<usize>,
    /// k3 KL weight against the reference model (0 = none, the paper's recipe).
    pub beta: f64,
}

impl Default for LossSettings {
    fn default() -> LossSettings {
        LossSettings {
            clip_eps: 0.2,
            budget: None,
            beta: 0.0,
        }
    }
}

/// Greedy evaluation on the held-out problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate before the update of every `every`-th step, and after the last step (0 = never).
    pub every: usize,
    /// Budget of eval responses; `None` = `sampling.max_tokens`.
    pub max_tokens: Option<usize>,
    /// Sequences per forward batch.
    pub batch_size: usize,
}

impl Default for EvalConfig {
    fn default() -> EvalConfig {
        EvalConfig {
            every: 16,
            max_tokens: None,
            batch_size: 32,
        }
    }
}

/// Which rollouts go to `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplesConfig {
    /// Save on every `every`-th step (0 = never).
    pub every: usize,
    /// The first this many rollouts of such a step, whole groups first (0 = all).
    pub per_step: usize,
}

impl Default for SamplesConfig {
    fn default() -> SamplesConfig {
        SamplesConfig {
            every: 10,
            per_step: 0,
        }
    }
}

/// Reflection keyword detection for the metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReflectionConfig {
    /// A keyword preset of `aha-reflect` (`paper15`, `blog`, …) or a keyword file.
    pub keywords: String,
    /// `substring` (the study's rule) or `word`.
    pub mode: MatchMode,
}

impl Default for ReflectionConfig {
    fn default() -> ReflectionConfig {
        ReflectionConfig {
            keywords: "paper15".into(),
            mode: MatchMode::Substring,
        }
    }
}

/// Everything that defines an RL run; saved as `config.json` in the output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Always [`RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Display name, the `run` field of every metrics line (empty = the algorithm's name).
    pub run: String,
    /// `grpo` or `dr_grpo`.
    pub algorithm: AdvantageKind,
    /// Policy steps.
    pub steps: usize,
    /// Prompts per policy step.
    pub prompts_per_step: usize,
    /// Samples per prompt (G ≥ 2).
    pub group_size: usize,
    /// Prompt template: a built-in name (`r1`, `qwen-math`, `countdown`, …) or a file.
    pub template: String,
    /// Reward function and the reward of truncated responses.
    pub reward: RewardConfig,
    /// Rollout sampling.
    pub sampling: SamplingConfig,
    /// Clip ε, Dr. GRPO constant, KL beta.
    pub loss: LossSettings,
    /// AdamW hyper-parameters.
    pub adamw: AdamWConfig,
    /// Learning rate per optimizer step.
    pub lr: LrSchedule,
    /// Global grad-norm clip.
    pub max_grad_norm: f64,
    /// Optimizer steps per policy step (the rollout batch is cut into this many chunks).
    pub mini_batches: usize,
    /// Responses per forward/backward pass within a mini-batch (0 = all at once); the same
    /// gradient in less memory. Default 8, as TRL's `per_device_train_batch_size`: memory stays
    /// that of 8 responses however many a step samples (docs/results/train-bench.md).
    pub micro_batch_size: usize,
    /// Sample rollouts on a Q8_0 copy of the policy remade after every update (packed CPU
    /// kernels; [`TrainerConfig::quantized_rollouts`]); `false` samples on the f32 weights.
    pub quantized_rollouts: bool,
    /// CPU kernels of that copy; not saved (every packed path gives the same numbers).
    #[serde(skip)]
    pub rollout_kernels: aha_model::CpuKernels,
    /// The model's f32 products run in aha's fixed summation order
    /// (`LoadOptions::fixed_order_f32`, `--fixed-order-f32`). Saved and compared on resume:
    /// unlike the CPU path it changes the numbers, so a resume keeps the run's order.
    pub fixed_order_f32: bool,
    /// Greedy evaluation.
    pub eval: EvalConfig,
    /// Saved samples.
    pub samples: SamplesConfig,
    /// Checkpoint every this many policy steps (and always after the last; 0 = only the last).
    pub save_every: usize,
    /// Checkpoints kept on disk (the newest ones; at least 1).
    pub keep_checkpoints: usize,
    /// Reflection keywords.
    pub reflection: ReflectionConfig,
    /// Seed of the prompt order and of the rollout sampling.
    pub seed: u64,
    /// Where model, tokenizer and data came from (informational; not compared on resume).
    pub sources: BTreeMap<String, String>,
}

impl Default for RunConfig {
    /// The paper's recipe (Dr. GRPO, lr 1e-6 constant, G = 8, ε = 0.2, no KL, AdamW
    /// 0.9/0.95, clip 1.0) at CPU scale: 8 prompts per step, 256-token budget, 1 optimizer step.
    fn default() -> RunConfig {
        RunConfig {
            schema_version: RUN_SCHEMA_VERSION,
            run: String::new(),
            algorithm: AdvantageKind::DrGrpo,
            steps: 100,
            prompts_per_step: 8,
            group_size: 8,
            template: "qwen-math".into(),
            reward: RewardConfig::default(),
            sampling: SamplingConfig::default(),
            loss: LossSettings::default(),
            adamw: AdamWConfig::default(),
            lr: LrSchedule::Constant {
                lr: 1e-6,
                warmup: 0,
            },
            max_grad_norm: 1.0,
            mini_batches: 1,
            micro_batch_size: 8,
            quantized_rollouts: true,
            rollout_kernels: aha_model::CpuKernels::Auto,
            fixed_order_f32: false,
            eval: EvalConfig::default(),
            samples: SamplesConfig::default(),
            save_every: 10,
            keep_checkpoints: 1,
            reflection: ReflectionConfig::default(),
            seed: 0,
            sources: BTreeMap::new(),
        }
    }
}

impl RunConfig {
    /// Reads a (possibly partial) config file: missing fields take their defaults, unknown
    /// fields are an error naming the line.
    pub fn from_file(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                "config",
                format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()),
            )
        })
    }

    /// The `run` name: `run`, else the algorithm's name.
    pub fn run_name(&self) -> String {
        if self.run.is_empty() {
            self.algorithm.as_str().to_string()
        } else {
            self.run.clone()
        }
    }

    /// Checks ranges, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        let positive = |what: &'static str, v: usize| {
            if v == 0 {
                Err(Error::invalid(what, "must be ≥ 1"))
            } else {
                Ok(())
            }
        };
        if self.schema_version != RUN_SCHEMA_VERSION {
            return Err(Error::invalid(
                "schema_version",
                format!(
                    "{} (this build reads {RUN_SCHEMA_VERSION})",
                    self.schema_version
                ),
            ));
        }
        positive("steps", self.steps)?;
        positive("prompts_per_step", self.prompts_per_step)?;
        positive("sampling.max_tokens", self.sampling.max_tokens)?;
        positive("mini_batches", self.mini_batches)?;
        positive("eval.batch_size", self.eval.batch_size)?;
        positive("keep_checkpoints", self.keep_checkpoints)?;
        if self.group_size < 2 {
            return Err(Error::invalid(
                "group_size",
                format!(
                    "{} (a group needs ≥ 2 samples: one alone has advantage 0)",
                    self.group_size
                ),
            ));
        }
        if self.mini_batches > self.prompts_per_step * self.group_size {
            return Err(Error::invalid(
                "mini_batches",
                format!(
                    "{} > {} rollouts per step",
                    self.mini_batches,
                    self.prompts_per_step * self.group_size
                ),
            ));
        }
        if !(self.sampling.temperature.is_finite() && self.sampling.temperature > 0.0) {
            return Err(Error::invalid(
                "sampling.temperature",
                format!(
                    "{} (must be > 0: greedy groups have no variance)",
                    self.sampling.temperature
                ),
            ));
        }
        if !(self.sampling.top_p > 0.0 && self.sampling.top_p <= 1.0) {
            return Err(Error::invalid(
                "sampling.top_p",
                format!("{} (must be in (0, 1])", self.sampling.top_p),
            ));
        }
        if self.eval.max_tokens == Some(0) {
            return Err(Error::invalid("eval.max_tokens", "must be ≥ 1"));
        }
        self.trainer_config().loss.validate()?;
        self.adamw.validate()?;
        self.lr.validate()
    }

    /// The trainer's configuration derived from this run's.
    pub fn trainer_config(&self) -> TrainerConfig {
        TrainerConfig {
            group_size: self.group_size,
            sampling: SamplingParams {
                max_new_tokens: self.sampling.max_tokens,
                temperature: self.sampling.temperature,
                top_p: self.sampling.top_p,
                top_k: 0,
                seed: self.seed,
                stop_token_ids: Vec::new(),
                stop_strings: Vec::new(),
                ignore_eos: false,
            },
            loss: LossConfig {
                kind: self.algorithm,
                clip_eps: self.loss.clip_eps,
                budget: self.loss.budget.unwrap_or(self.sampling.max_tokens),
                beta: self.loss.beta,
            },
            adamw: self.adamw,
            schedule: self.lr,
            max_grad_norm: self.max_grad_norm,
            mini_batches: self.mini_batches,
            micro_batch_size: self.micro_batch_size,
            quantized_rollouts: self.quantized_rollouts,
            rollout_kernels: self.rollout_kernels,
        }
    }
}

/// A learning-rate schedule's shape, without its numbers (`aha train --lr-schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ScheduleKind {
    /// Constant after the warm-up (the paper's).
    Constant,
    /// Cosine to min-lr-ratio × lr over the run's optimizer steps.
    Cosine,
}

/// Settings given on top of a run's config (the flags of `aha train`): each field left `None`
/// keeps the value of the layer below. With the `clap` feature this is the flag set itself, so
/// a setting, its flag and its help live here once.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct RunOverrides {
    /// Run name in metrics.jsonl (default: the algorithm).
    #[cfg_attr(feature = "clap", arg(long))]
    pub run_name: Option<String>,
    /// Prompt template: r1, r1-blog, qwen-math, qwen-math-blog, none, countdown, chat, or a
    /// file with {question} [default: qwen-math].
    #[cfg_attr(feature = "clap", arg(long))]
    pub template: Option<String>,
    /// Algorithm [default: dr-grpo].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub algorithm: Option<AdvantageKind>,
    /// Reward [default: math; countdown for Countdown data].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub reward: Option<RewardKind>,
    /// Reward of responses cut by the budget [default: 0, the paper's].
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            conflicts_with = "grade_truncated",
            allow_negative_numbers = true
        )
    )]
    pub truncated_reward: Option<f64>,
    /// Grade budget-truncated responses like any other instead.
    #[cfg_attr(feature = "clap", arg(long))]
    pub grade_truncated: bool,
    /// Policy steps [default: 100].
    #[cfg_attr(feature = "clap", arg(long))]
    pub steps: Option<usize>,
    /// Prompts per policy step [default: 8].
    #[cfg_attr(feature = "clap", arg(long))]
    pub prompts_per_step: Option<usize>,
    /// Samples per prompt, G [default: 8].
    #[cfg_attr(feature = "clap", arg(long))]
    pub group_size: Option<usize>,
    /// Generation budget per response in tokens [default: 256].
    #[cfg_attr(feature = "clap", arg(long))]
    pub max_tokens: Option<usize>,
    /// Sampling temperature [default: 1].
    #[cfg_attr(feature = "clap", arg(long))]
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold [default: 1].
    #[cfg_attr(feature = "clap", arg(long))]
    pub top_p: Option<f64>,
    /// Stop string (repeatable; default: the template's, e.g. `</answer>` for r1).
    #[cfg_attr(feature = "clap", arg(long = "stop"))]
    pub stop: Vec<String>,
    /// Peak learning rate [default: 1e-6].
    #[cfg_attr(feature = "clap", arg(long))]
    pub lr: Option<f64>,
    /// Learning-rate schedule [default: constant].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub lr_schedule: Option<ScheduleKind>,
    /// Warm-up optimizer steps [default: 0].
    #[cfg_attr(feature = "clap", arg(long))]
    pub warmup: Option<usize>,
    /// Final lr ratio of the cosine schedule [default: 0.1].
    #[cfg_attr(feature = "clap", arg(long))]
    pub min_lr_ratio: Option<f64>,
    /// PPO clip ε [default: 0.2].
    #[cfg_attr(feature = "clap", arg(long))]
    pub clip_eps: Option<f64>,
    /// Dr. GRPO's constant C [default: --max-tokens].
    #[cfg_attr(feature = "clap", arg(long))]
    pub budget: Option<usize>,
    /// k3 KL weight against a frozen copy of the initial policy [default: 0].
    #[cfg_attr(feature = "clap", arg(long))]
    pub beta: Option<f64>,
    /// Optimizer steps per policy step [default: 1].
    #[cfg_attr(feature = "clap", arg(long))]
    pub mini_batches: Option<usize>,
    /// Responses per forward/backward pass (gradient accumulation; 0 = the whole mini-batch)
    /// [default: 8]. Peak memory scales with it; the update is the same.
    #[cfg_attr(feature = "clap", arg(long))]
    pub micro_batch_size: Option<usize>,
    /// Sample rollouts on a Q8_0 copy of the policy (remade after every update, run on the
    /// packed CPU kernels) instead of the f32 weights [default: true]; the loss still uses the
    /// f32 log-probs and `rollout_kl` in metrics.jsonl reports the gap.
    #[cfg_attr(feature = "clap", arg(long))]
    pub quantized_rollouts: Option<bool>,
    /// Global grad-norm clip [default: 1].
    #[cfg_attr(feature = "clap", arg(long))]
    pub max_grad_norm: Option<f64>,
    /// AdamW weight decay [default: 0].
    #[cfg_attr(feature = "clap", arg(long))]
    pub weight_decay: Option<f64>,
    /// Greedy eval every N policy steps, from step 0 (0 = never) [default: 16].
    #[cfg_attr(feature = "clap", arg(long))]
    pub eval_every: Option<usize>,
    /// Eval generation budget [default: --max-tokens].
    #[cfg_attr(feature = "clap", arg(long))]
    pub eval_max_tokens: Option<usize>,
    /// Eval sequences per forward batch [default: 32].
    #[cfg_attr(feature = "clap", arg(long))]
    pub eval_batch: Option<usize>,
    /// Save samples every N steps (0 = never) [default: 10].
    #[cfg_attr(feature = "clap", arg(long))]
    pub samples_every: Option<usize>,
    /// Samples saved per such step (0 = all) [default: 0].
    #[cfg_attr(feature = "clap", arg(long))]
    pub samples_per_step: Option<usize>,
    /// Checkpoint every N policy steps, and after the last [default: 10].
    #[cfg_attr(feature = "clap", arg(long))]
    pub save_every: Option<usize>,
    /// Checkpoints kept on disk [default: 1].
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_checkpoints: Option<usize>,
    /// Reflection keyword preset (paper15, blog, …) or file [default: paper15].
    #[cfg_attr(feature = "clap", arg(long))]
    pub keywords: Option<String>,
    /// Keyword matching mode [default: substring].
    #[cfg_attr(feature = "clap", arg(long = "match", value_enum))]
    pub match_mode: Option<MatchMode>,
    /// Seed of the prompt order and the rollouts [default: 0].
    #[cfg_attr(feature = "clap", arg(long))]
    pub seed: Option<u64>,
}

fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *field = v.clone();
    }
}

impl RunOverrides {
    /// Writes every given setting into `c`. The lr schedule keeps the numbers it has unless
    /// they are given; a cosine schedule spans `steps × mini_batches` optimizer steps (after
    /// those are overridden too).
    pub fn apply(&self, c: &mut RunConfig) {
        set(&mut c.run, &self.run_name);
        set(&mut c.template, &self.template);
        set(&mut c.algorithm, &self.algorithm);
        set(&mut c.reward.kind, &self.reward);
        if let Some(t) = self.truncated_reward {
            c.reward.truncated = Some(t);
        }
        if self.grade_truncated {
            c.reward.truncated = None;
        }
        set(&mut c.steps, &self.steps);
        set(&mut c.prompts_per_step, &self.prompts_per_step);
        set(&mut c.group_size, &self.group_size);
        set(&mut c.sampling.max_tokens, &self.max_tokens);
        set(&mut c.sampling.temperature, &self.temperature);
        set(&mut c.sampling.top_p, &self.top_p);
        if !self.stop.is_empty() {
            c.sampling.stop = Some(self.stop.clone());
        }
        set(&mut c.loss.clip_eps, &self.clip_eps);
        if self.budget.is_some() {
            c.loss.budget = self.budget;
        }
        set(&mut c.loss.beta, &self.beta);
        set(&mut c.mini_batches, &self.mini_batches);
        set(&mut c.micro_batch_size, &self.micro_batch_size);
        set(&mut c.quantized_rollouts, &self.quantized_rollouts);
        set(&mut c.max_grad_norm, &self.max_grad_norm);
        set(&mut c.adamw.weight_decay, &self.weight_decay);
        let (mut lr, mut warmup, mut ratio, mut kind) = match c.lr {
            LrSchedule::Constant { lr, warmup } => (lr, warmup, 0.1, ScheduleKind::Constant),
            LrSchedule::Cosine {
                lr,
                warmup,
                min_lr_ratio,
                ..
            } => (lr, warmup, min_lr_ratio, ScheduleKind::Cosine),
        };
        set(&mut lr, &self.lr);
        set(&mut warmup, &self.warmup);
        set(&mut ratio, &self.min_lr_ratio);
        set(&mut kind, &self.lr_schedule);
        c.lr = match kind {
            ScheduleKind::Cosine => LrSchedule::Cosine {
                lr,
                warmup,
                total: c.steps * c.mini_batches,
                min_lr_ratio: ratio,
            },
            ScheduleKind::Constant => LrSchedule::Constant { lr, warmup },
        };
        set(&mut c.eval.every, &self.eval_every);
        if self.eval_max_tokens.is_some() {
            c.eval.max_tokens = self.eval_max_tokens;
        }
        set(&mut c.eval.batch_size, &self.eval_batch);
        set(&mut c.samples.every, &self.samples_every);
        set(&mut c.samples.per_step, &self.samples_per_step);
        set(&mut c.save_every, &self.save_every);
        set(&mut c.keep_checkpoints, &self.keep_checkpoints);
        set(&mut c.reflection.keywords, &self.keywords);
        set(&mut c.reflection.mode, &self.match_mode);
        set(&mut c.seed, &self.seed);
    }
}

/// Where the layers of a run's config come from.
#[derive(Debug, Clone, Copy)]
pub struct ConfigLayers<'a> {
    /// A config file (`--config`): its fields over the defaults.
    pub file: Option<&'a Path>,
    /// The run directory: resuming without a file reads its own `config.json`.
    pub out: &'a Path,
    /// The run resumes.
    pub resume: bool,
    /// The training data is Countdown: a new run that chose no reward anywhere gets
    /// [`RewardKind::Countdown`].
    pub countdown_data: bool,
}

impl RunConfig {
    /// The run's config in layers: the defaults, then `layers.file` (or, resuming without one,
    /// the run's own `config.json`), then the overrides. Validation is left to the caller, who
    /// may still add [`RunConfig::sources`].
    pub fn resolve(layers: ConfigLayers<'_>, overrides: &RunOverrides) -> Result<RunConfig> {
        let saved = layers.out.join(super::CONFIG_FILE);
        let mut c = match layers.file {
            Some(p) => RunConfig::from_file(p)?,
            None if layers.resume && saved.is_file() => RunConfig::from_file(&saved)?,
            None => RunConfig::default(),
        };
        let chosen = overrides.reward.is_some() || layers.file.is_some() || layers.resume;
        if layers.countdown_data && !chosen {
            c.reward.kind = RewardKind::Countdown;
        }
        overrides.apply(&mut c);
        Ok(c)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn layers(out: &Path) -> ConfigLayers<'_> {
        ConfigLayers {
            file: None,
            out,
            resume: false,
            countdown_data: false,
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(
            &file,
            r#"{"steps": 7, "group_size": 4, "lr": {"kind": "cosine", "lr": 1e-5, "warmup": 2, "total": 1, "min_lr_ratio": 0.5}}"#,
        )
        .unwrap();
        let flags = RunOverrides {
            group_size: Some(6),
            mini_batches: Some(2),
            warmup: Some(3),
            ..RunOverrides::default()
        };
        let c = RunConfig::resolve(
            ConfigLayers {
                file: Some(&file),
                ..layers(dir.path())
            },
            &flags,
        )
        .unwrap();
        assert_eq!((c.steps, c.group_size, c.mini_batches), (7, 6, 2));
        // The file's schedule keeps its lr and ratio; the flag's warm-up wins; the total follows
        // the overridden steps × mini-batches.
        assert_eq!(
            c.lr,
            LrSchedule::Cosine {
                lr: 1e-5,
                warmup: 3,
                total: 14,
                min_lr_ratio: 0.5
            }
        );
        assert_eq!(c.prompts_per_step, RunConfig::default().prompts_per_step);
        let constant = RunOverrides {
            lr_schedule: Some(ScheduleKind::Constant),
            ..flags
        };
        let c = RunConfig::resolve(
            ConfigLayers {
                file: Some(&file),
                ..layers(dir.path())
            },
            &constant,
        )
        .unwrap();
        assert_eq!(
            c.lr,
            LrSchedule::Constant {
                lr: 1e-5,
                warmup: 3
            }
        );
    }

    #[test]
    fn resuming_reads_the_runs_config_and_truncation_flags_set_or_clear() {
        let dir = tempfile::tempdir().unwrap();
        let saved = RunConfig {
            steps: 9,
            ..RunConfig::default()
        };
        std::fs::write(
            dir.path().join(super::super::CONFIG_FILE),
            serde_json::to_string(&saved).unwrap(),
        )
        .unwrap();
        let resumed = RunConfig::resolve(
            ConfigLayers {
                resume: true,
                countdown_data: true,
                ..layers(dir.path())
            },
            &RunOverrides::default(),
        )
        .unwrap();
        assert_eq!(resumed.steps, 9);
        assert_eq!(
            resumed.reward.kind,
            RewardKind::Math,
            "a resumed run keeps its reward"
        );
        let fresh = RunConfig::resolve(layers(dir.path()), &RunOverrides::default()).unwrap();
        assert_eq!(
            fresh.steps, 100,
            "without --resume the saved config is not read"
        );
        let graded = RunOverrides {
            grade_truncated: true,
            ..RunOverrides::default()
        };
        assert_eq!(
            RunConfig::resolve(layers(dir.path()), &graded)
                .unwrap()
                .reward
                .truncated,
            None
        );
        let minus = RunOverrides {
            truncated_reward: Some(-1.0),
            ..RunOverrides::default()
        };
        assert_eq!(
            RunConfig::resolve(layers(dir.path()), &minus)
                .unwrap()
                .reward
                .truncated,
            Some(-1.0)
        );
    }

    #[test]
    fn countdown_data_picks_the_countdown_reward_unless_one_was_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let countdown = ConfigLayers {
            countdown_data: true,
            ..layers(dir.path())
        };
        let c = RunConfig::resolve(countdown, &RunOverrides::default()).unwrap();
        assert_eq!(c.reward.kind, RewardKind::Countdown);
        let chosen = RunOverrides {
            reward: Some(RewardKind::SimpleRl),
            ..RunOverrides::default()
        };
        assert_eq!(
            RunConfig::resolve(countdown, &chosen).unwrap().reward.kind,
            RewardKind::SimpleRl
        );
    }
}
