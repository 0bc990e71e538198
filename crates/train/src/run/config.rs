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
use crate::task::RewardConfig;
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
    /// gradient in less memory.
    pub micro_batch_size: usize,
    /// Sample rollouts on a Q8_0 copy of the policy remade after every update (packed CPU
    /// kernels; [`TrainerConfig::quantized_rollouts`]); `false` samples on the f32 weights.
    pub quantized_rollouts: bool,
    /// CPU kernels of that copy; not saved (every packed path gives the same numbers).
    #[serde(skip)]
    pub rollout_kernels: aha_model::CpuKernels,
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
            micro_batch_size: 0,
            quantized_rollouts: true,
            rollout_kernels: aha_model::CpuKernels::Auto,
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
