//! A whole R1-Zero-like RL run over [`aha_data::Problem`]s: [`run`].
//!
//! Per policy step `s` (0-based):
//! 1. on eval steps (`s % eval.every == 0`, so step 0 evaluates the base model), greedy
//!    responses on the held-out problems, graded → the `eval` object of line `s`;
//! 2. the next `prompts_per_step` problems of the seeded per-epoch order ([`prompt_order`]),
//!    rendered with the template and tokenized; [`Trainer::step_with`] samples `group_size`
//!    responses each, rewards them through the [`Grader`], and updates the policy;
//! 3. one `metrics.jsonl` line (trainer fields + [`TaskMetrics`] + eval), `samples.jsonl` lines
//!    on sample steps;
//! 4. on checkpoint steps, `checkpoints/step-{s+1}/` (weights, optimizer, counters, run state,
//!    config), written into a temporary directory and renamed into place.
//!
//! Everything random derives from `seed` and the step number (sampling seeds inside the trainer,
//! the prompt order here), so the state of a run is its weights, optimizer and step: resuming
//! from a checkpoint and rewriting the JSONL files without the lines of later steps gives files
//! equal to an uninterrupted run's, timing fields aside.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aha_data::{Problem, Prompt, Template};
use aha_model::{Completion, FinishReason, Model, SamplingParams};
use aha_reflect::MatchMode;
use aha_tokenizer::{ChatMessage, Tokenizer};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::advantage::AdvantageKind;
use crate::error::{Error, Result};
use crate::loss::LossConfig;
use crate::optim::AdamWConfig;
use crate::schedule::LrSchedule;
use crate::task::{
    EvalMetrics, Graded, Grader, RewardConfig, TaskMetrics, eval_metrics, task_metrics,
};
use crate::trainer::{StepMetrics, Trainer, TrainerConfig};

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

/// One `metrics.jsonl` line (docs/pipeline.md): the trainer's fields, the task's, and `eval` on
/// evaluation steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    /// The run's name.
    pub run: String,
    /// Step, reward, length, loss and optimizer fields.
    #[serde(flatten)]
    pub trainer: StepMetrics,
    /// Accuracy, outcome composition, lengths by outcome, reflection, SSR.
    #[serde(flatten)]
    pub task: TaskMetrics,
    /// Greedy eval before this step's update (eval steps only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eval: Option<EvalMetrics>,
}

/// One `samples.jsonl` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// Always [`RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Policy step.
    pub step: usize,
    /// The problem's id.
    pub question_id: String,
    /// Index of the sample within its group.
    pub sample_index: usize,
    /// The response text (stop rule applied, special tokens left out).
    pub response: String,
    /// Reward.
    pub reward: f64,
    /// Group advantage.
    pub advantage: f64,
    /// Verdict (`correct`, `incorrect`, `no_answer`, `gold_unparseable`).
    pub verdict: String,
    /// Extracted answer.
    pub extracted: Option<String>,
    /// `stop` or `length`.
    pub finish_reason: FinishReason,
    /// Response tokens.
    pub num_tokens: usize,
    /// Reflection keyword occurrences.
    pub reflection_count: usize,
    /// SSR category (math golds).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ssr: Option<String>,
}

/// The run state stored in a checkpoint besides the trainer's (`run_state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Always [`RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Policy steps completed.
    pub step: usize,
    /// Prompts consumed so far (`step × prompts_per_step`): the position in the prompt order.
    pub prompt_cursor: usize,
    /// The seed of the prompt order and sampling.
    pub seed: u64,
}

/// What the model, tokenizer and data of a run are.
#[derive(Debug, Clone, Copy)]
pub struct RunInputs<'a> {
    /// The policy (f32 weights, updated in place).
    pub policy: &'a Model,
    /// Frozen reference for the KL term (required iff `loss.beta > 0`).
    pub reference: Option<&'a Model>,
    /// The policy's tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Training problems.
    pub train: &'a [Problem],
    /// Held-out problems for the greedy eval (may be empty: no eval).
    pub eval: &'a [Problem],
}

/// Progress of a run, for a progress bar.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// The run starts (or resumes) at `first_step` of `steps`.
    Start {
        /// First policy step to run (0, or the resumed checkpoint's step).
        first_step: usize,
        /// Total policy steps.
        steps: usize,
    },
    /// Greedy eval progress before step `step` (`done` of `total` problems).
    Eval {
        /// The step.
        step: usize,
        /// Problems done.
        done: usize,
        /// Problems to do.
        total: usize,
    },
    /// A rollout token was sampled in step `step` (`tokens` so far of at most `budget`).
    Token {
        /// The step.
        step: usize,
        /// Tokens sampled so far in this step.
        tokens: usize,
        /// Upper bound: rollouts × budget.
        budget: usize,
    },
    /// Step finished and its line written.
    Step(&'a MetricsLine),
    /// A checkpoint was committed.
    Checkpoint {
        /// Steps it holds.
        step: usize,
        /// Its directory.
        dir: &'a Path,
    },
}

/// What a finished [`run`] reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Always [`RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The step the run started from (0, or the resumed checkpoint's).
    pub resumed_from: usize,
    /// Policy steps completed.
    pub steps: usize,
    /// Greedy eval after the last update (when eval is on and there are eval problems).
    pub final_eval: Option<EvalMetrics>,
    /// The final weights (`model.safetensors` in the output directory).
    pub weights: PathBuf,
    /// The last metrics line written by this call.
    pub last: Option<MetricsLine>,
}

/// The files of a run directory.
pub const CONFIG_FILE: &str = "config.json";
/// Per-step metrics.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Saved rollouts.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// Checkpoints, one `step-N` directory each.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The final weights, loadable by `aha_model::Model::load`.
pub const FINAL_WEIGHTS: &str = "model.safetensors";
/// The [`RunSummary`] of the last completed run.
pub const FINAL_FILE: &str = "final.json";
const RUN_STATE_FILE: &str = "run_state.json";

/// The training-problem indices of policy step `step`: positions `step·P .. step·P + P` of the
/// endless sequence of per-epoch permutations of `0..n` (epoch `e` shuffled by ChaCha20 seeded
/// with `seed` on stream `e`). A pure function of its arguments, so a resumed run draws the same
/// prompts; a group is one prompt, so groups are never split.
pub fn prompt_order(n: usize, step: usize, prompts_per_step: usize, seed: u64) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut cache: Option<(usize, Vec<usize>)> = None;
    (step * prompts_per_step..(step + 1) * prompts_per_step)
        .map(|k| {
            let epoch = k / n;
            if cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut perm: Vec<usize> = (0..n).collect();
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                rng.set_stream(epoch as u64);
                perm.shuffle(&mut rng);
                cache = Some((epoch, perm));
            }
            cache.as_ref().map_or(0, |(_, p)| p[k % n])
        })
        .collect()
}

/// Runs (or resumes) an RL run into `out`; see the module docs for what is written.
///
/// Without `resume`, `out` must be missing or empty. With `resume`, a run in `out` continues from
/// its newest checkpoint (from scratch when it has none) with the same settings: a `config.json`
/// that differs in anything but `steps` and `sources` is refused, naming the fields.
pub fn run(
    inputs: RunInputs<'_>,
    cfg: &RunConfig,
    out: &Path,
    resume: bool,
    progress: &mut dyn FnMut(&RunEvent<'_>),
) -> Result<RunSummary> {
    cfg.validate()?;
    if inputs.train.is_empty() {
        return Err(Error::invalid("train", "no training problems"));
    }
    let template =
        Template::resolve(&cfg.template).map_err(|e| Error::invalid("template", e.to_string()))?;
    let grader = Grader::new(
        cfg.reward,
        &template,
        &cfg.reflection.keywords,
        cfg.reflection.mode,
    )?;
    for p in inputs.train.iter().chain(inputs.eval) {
        grader.check_gold(&p.id, &p.gold)?;
    }
    let env = Env {
        tokenizer: inputs.tokenizer,
        template: &template,
        grader: &grader,
        stop: cfg.sampling.stop.clone().unwrap_or_else(|| template.stop()),
        include_stop: template.include_stop_in_output(),
    };

    let mut tcfg = cfg.trainer_config();
    // The tokenizer knows end-of-turn ids (`<|im_end|>`) that a GGUF's single EOS id misses.
    tcfg.sampling.stop_token_ids = inputs.tokenizer.eos_ids().to_vec();
    tcfg.sampling.stop_strings = env.stop.clone();
    let start_step = prepare_dir(out, cfg, resume)?;
    let mut trainer = Trainer::new(inputs.policy, inputs.reference, tcfg)?;
    if let Some(ckpt) = start_step.as_ref().and_then(|(_, d)| d.as_deref()) {
        load_weights(inputs.policy, &ckpt.join(crate::trainer::CHECKPOINT_MODEL))?;
        trainer.restore(ckpt)?;
    }
    let first = start_step.as_ref().map_or(0, |(s, _)| *s);
    if trainer.policy_step() != first {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "trainer state says {} steps, the directory step-{first}",
                trainer.policy_step()
            ),
        ));
    }
    progress(&RunEvent::Start {
        first_step: first,
        steps: cfg.steps,
    });

    let eval_prompts = inputs
        .eval
        .iter()
        .map(|p| env.encode(p))
        .collect::<Result<Vec<_>>>()?;
    let run_name = cfg.run_name();
    let mut last = None;
    let detok = |ids: &[u32]| inputs.tokenizer.decode_skip_special(ids);
    let decoder: Option<&dyn aha_model::Detokenize> = (!env.stop.is_empty()).then_some(&detok);

    for step in first..cfg.steps {
        let eval = if cfg.eval.every > 0 && step % cfg.eval.every == 0 && !inputs.eval.is_empty() {
            Some(evaluate(
                inputs.policy,
                &env,
                inputs.eval,
                &eval_prompts,
                cfg,
                &mut |done, total| {
                    progress(&RunEvent::Eval { step, done, total });
                },
            )?)
        } else {
            None
        };
        let idx = prompt_order(inputs.train.len(), step, cfg.prompts_per_step, cfg.seed);
        let problems: Vec<&Problem> = idx.iter().map(|&i| &inputs.train[i]).collect();
        let prompts = problems
            .iter()
            .map(|p| env.encode(p))
            .collect::<Result<Vec<_>>>()?;
        let mut graded: Vec<(Graded, String)> = Vec::with_capacity(prompts.len() * cfg.group_size);
        let budget = prompts.len() * cfg.group_size * cfg.sampling.max_tokens;
        let mut tokens = 0usize;
        let output = trainer.step_with(
            &prompts,
            decoder,
            &mut |i, c| {
                let text = env.response_text(c);
                let g = env.grade(&text, problems[i], c);
                let r = g.reward;
                graded.push((g, text));
                r
            },
            &mut |_, _| {
                tokens += 1;
                if tokens.is_multiple_of(16) {
                    progress(&RunEvent::Token {
                        step,
                        tokens,
                        budget,
                    });
                }
            },
        )?;
        let only: Vec<Graded> = graded.iter().map(|(g, _)| g.clone()).collect();
        let line = MetricsLine {
            run: run_name.clone(),
            trainer: output.metrics,
            task: task_metrics(&only),
            eval,
        };
        append_line(&out.join(METRICS_FILE), &[&line])?;
        if cfg.samples.every > 0 && step % cfg.samples.every == 0 {
            let keep = if cfg.samples.per_step == 0 {
                output.rollouts.len()
            } else {
                cfg.samples.per_step
            };
            let lines: Vec<SampleLine> = output
                .rollouts
                .iter()
                .zip(&graded)
                .enumerate()
                .take(keep)
                .map(|(i, (r, (g, text)))| SampleLine {
                    schema_version: RUN_SCHEMA_VERSION,
                    step,
                    question_id: problems[r.prompt_index].id.clone(),
                    sample_index: i % cfg.group_size,
                    response: text.clone(),
                    reward: r.reward,
                    advantage: r.advantage,
                    verdict: g.verdict.as_str().to_string(),
                    extracted: g.extracted.clone(),
                    finish_reason: r.completion.finish_reason,
                    num_tokens: r.completion.tokens.len(),
                    reflection_count: g.reflection_count,
                    ssr: g.ssr.map(|s| s.as_str().to_string()),
                })
                .collect();
            let refs: Vec<&SampleLine> = lines.iter().collect();
            append_line(&out.join(SAMPLES_FILE), &refs)?;
        }
        progress(&RunEvent::Step(&line));
        last = Some(line);
        let done = step + 1;
        if done == cfg.steps || (cfg.save_every > 0 && done % cfg.save_every == 0) {
            let dir = save_checkpoint(&trainer, cfg, out, done)?;
            progress(&RunEvent::Checkpoint {
                step: done,
                dir: &dir,
            });
        }
    }

    let final_eval = if cfg.eval.every > 0 && !inputs.eval.is_empty() {
        Some(evaluate(
            inputs.policy,
            &env,
            inputs.eval,
            &eval_prompts,
            cfg,
            &mut |done, total| {
                progress(&RunEvent::Eval {
                    step: cfg.steps,
                    done,
                    total,
                });
            },
        )?)
    } else {
        None
    };
    let weights = out.join(FINAL_WEIGHTS);
    // The newest checkpoint (step `steps`, written in the loop or restored) holds exactly these
    // weights: a hard link saves a copy (540 MB for a 135M model); other filesystems get a write.
    let last_ckpt = out
        .join(CHECKPOINTS_DIR)
        .join(format!("step-{}", cfg.steps))
        .join(crate::trainer::CHECKPOINT_MODEL);
    if !link_atomic(&last_ckpt, &weights) {
        crate::sft::save_model_atomic(inputs.policy, &weights)?;
    }
    let summary = RunSummary {
        schema_version: RUN_SCHEMA_VERSION,
        resumed_from: first,
        steps: cfg.steps,
        final_eval,
        weights,
        last,
    };
    write_atomic(&out.join(FINAL_FILE), &to_json(&summary, out)?)?;
    Ok(summary)
}

/// The per-run pieces that turn problems into token ids and completions into graded text.
struct Env<'a> {
    tokenizer: &'a Tokenizer,
    template: &'a Template,
    grader: &'a Grader,
    stop: Vec<String>,
    include_stop: bool,
}

impl Env<'_> {
    fn encode(&self, p: &Problem) -> Result<Vec<u32>> {
        let prompt = self
            .template
            .render(p)
            .map_err(|e| Error::invalid("template", e.to_string()))?;
        let ids = match &prompt {
            Prompt::Text(t) => self.tokenizer.encode(t, self.tokenizer.add_bos_default()),
            Prompt::Chat { user } => self
                .tokenizer
                .encode_chat(&[ChatMessage::user(user.clone())], true),
        }
        .map_err(|e| Error::invalid("prompt", format!("problem {}: {e}", p.id)))?;
        if ids.is_empty() {
            return Err(Error::invalid(
                "prompt",
                format!(
                    "problem {}: empty prompt and the tokenizer adds no BOS",
                    p.id
                ),
            ));
        }
        Ok(ids)
    }

    /// The response text (see [`aha_model::Completion::response_text`]).
    fn response_text(&self, c: &Completion) -> String {
        c.response_text(
            &|t: &[u32]| self.tokenizer.decode_skip_special(t),
            self.include_stop,
        )
    }

    fn grade(&self, text: &str, p: &Problem, c: &Completion) -> Graded {
        self.grader.grade(
            text,
            &p.gold,
            c.finish_reason == FinishReason::Length,
            c.tokens.len(),
        )
    }
}

fn evaluate(
    model: &Model,
    env: &Env<'_>,
    problems: &[Problem],
    prompts: &[Vec<u32>],
    cfg: &RunConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalMetrics> {
    let params = SamplingParams {
        max_new_tokens: cfg.eval.max_tokens.unwrap_or(cfg.sampling.max_tokens),
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        seed: 0,
        stop_token_ids: env.tokenizer.eos_ids().to_vec(),
        stop_strings: env.stop.clone(),
        ignore_eos: false,
    };
    let detok = |ids: &[u32]| env.tokenizer.decode_skip_special(ids);
    let decoder: Option<&dyn aha_model::Detokenize> = (!env.stop.is_empty()).then_some(&detok);
    let mut graded = Vec::with_capacity(problems.len());
    for (ps, ids) in problems
        .chunks(cfg.eval.batch_size)
        .zip(prompts.chunks(cfg.eval.batch_size))
    {
        let done = model
            .generate(ids, &params, decoder, &mut |_, _| {})
            .map_err(Error::Model)?;
        for (p, c) in ps.iter().zip(&done) {
            let text = env.response_text(c);
            graded.push(env.grade(&text, p, c));
        }
        progress(graded.len(), problems.len());
    }
    Ok(eval_metrics(&graded))
}

/// Sets up `out` and returns `Some((step, checkpoint dir))` to resume from (`None` dir: from
/// scratch in an existing run directory), or `None` for a fresh run.
fn prepare_dir(
    out: &Path,
    cfg: &RunConfig,
    resume: bool,
) -> Result<Option<(usize, Option<PathBuf>)>> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let non_empty = out.is_dir()
        && std::fs::read_dir(out)
            .map_err(|e| io(out, e))?
            .next()
            .is_some();
    let config_path = out.join(CONFIG_FILE);
    if !resume && non_empty {
        return Err(Error::invalid(
            "out",
            format!(
                "{} is not empty; pass resume (--resume) to continue the run in it, or choose another directory",
                out.display()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let resuming = resume && config_path.is_file();
    if resuming {
        let saved = RunConfig::from_file(&config_path)?;
        let diff = config_diff(&saved, cfg, out)?;
        if !diff.is_empty() {
            return Err(Error::invalid(
                "config",
                format!(
                    "{} was written with other settings ({}); resume with the same settings or use another directory",
                    config_path.display(),
                    diff.join(", ")
                ),
            ));
        }
    }
    write_atomic(&config_path, &to_json(cfg, out)?)?;
    if !resuming {
        // A fresh run (or a resume of a run that never wrote its config): no old lines.
        for f in [METRICS_FILE, SAMPLES_FILE] {
            truncate_lines(&out.join(f), 0)?;
        }
        return Ok(None);
    }
    let ckpt = newest_checkpoint(&out.join(CHECKPOINTS_DIR))?;
    let step = ckpt.as_ref().map_or(0, |(s, _)| *s);
    for f in [METRICS_FILE, SAMPLES_FILE] {
        truncate_lines(&out.join(f), step)?;
    }
    Ok(Some((step, ckpt.map(|(_, d)| d))))
}

/// Fields of two configs that differ (dotted paths), ignoring `steps` (a resume may extend the
/// run) and `sources`.
fn config_diff(a: &RunConfig, b: &RunConfig, out: &Path) -> Result<Vec<String>> {
    let (a, b) = (
        serde_json::to_value(a).map_err(|e| json_err(out, e))?,
        serde_json::to_value(b).map_err(|e| json_err(out, e))?,
    );
    Ok(aha_rundir::json_diff(&a, &b)
        .into_iter()
        .filter(|d| {
            let top = d.path.split('.').next().unwrap_or_default();
            top != "steps" && top != "sources"
        })
        .map(|d| d.to_string())
        .collect())
}

/// The committed checkpoint with the most steps: `dir/step-N` (temporary `step-N.tmp`
/// directories of a killed save are removed).
fn newest_checkpoint(dir: &Path) -> Result<Option<(usize, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            std::fs::remove_dir_all(e.path()).map_err(|source| Error::Io {
                path: e.path(),
                source,
            })?;
            continue;
        }
        if let Some(n) = name
            .strip_prefix("step-")
            .and_then(|n| n.parse::<usize>().ok())
            && best.as_ref().is_none_or(|(b, _)| n > *b)
        {
            best = Some((n, e.path()));
        }
    }
    Ok(best)
}

/// Keeps the lines of `path` whose `step` is below `before` (all of them when they parse), via
/// a temporary file and a rename. A torn last line (a kill mid-write) is dropped; a bad line
/// elsewhere is an error naming the file and line.
fn truncate_lines(path: &Path, before: usize) -> Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut kept = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        #[derive(Deserialize)]
        struct Step {
            step: usize,
        }
        match serde_json::from_str::<Step>(line) {
            Ok(s) if s.step < before && line.ends_with('\n') => kept.push_str(line),
            Ok(_) => {}
            // Only the last line can be torn by a kill.
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(Error::invalid(
                    "jsonl",
                    format!("{}:{}: {e}", path.display(), i + 1),
                ));
            }
        }
    }
    write_atomic(path, kept.as_bytes())
}

fn save_checkpoint(
    trainer: &Trainer<'_>,
    cfg: &RunConfig,
    out: &Path,
    step: usize,
) -> Result<PathBuf> {
    let root = out.join(CHECKPOINTS_DIR);
    let dst = root.join(format!("step-{step}"));
    let tmp = root.join(format!("step-{step}.tmp"));
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    trainer.save_checkpoint(&tmp)?;
    let state = RunState {
        schema_version: RUN_SCHEMA_VERSION,
        step,
        prompt_cursor: step * cfg.prompts_per_step,
        seed: cfg.seed,
    };
    write_atomic(&tmp.join(RUN_STATE_FILE), &to_json(&state, out)?)?;
    write_atomic(&tmp.join(CONFIG_FILE), &to_json(cfg, out)?)?;
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| io(&dst, e))?;
    // Older checkpoints beyond the kept number go once the new one is in place.
    let mut steps: Vec<(usize, PathBuf)> = std::fs::read_dir(&root)
        .map_err(|e| io(&root, e))?
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_string_lossy()
                .strip_prefix("step-")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    steps.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
    for (_, old) in steps.iter().skip(cfg.keep_checkpoints) {
        std::fs::remove_dir_all(old).map_err(|e| io(old, e))?;
    }
    Ok(dst)
}

/// Copies the weights of an aha `.safetensors` file into `model`'s `Var`s (same names, shapes).
fn load_weights(model: &Model, path: &Path) -> Result<()> {
    let tensors = candle_core::safetensors::load(path, model.device())?;
    for (name, var) in model.named_vars() {
        let t = tensors.get(name).ok_or_else(|| {
            Error::invalid(
                "checkpoint",
                format!("{}: tensor {name} missing", path.display()),
            )
        })?;
        if t.dims() != var.dims() {
            return Err(Error::invalid(
                "checkpoint",
                format!(
                    "{}: tensor {name} has shape {:?}, the model {:?}",
                    path.display(),
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(t)?;
    }
    Ok(())
}

/// Hard-links `src` to `dst` through a temporary name and a rename; false when it cannot.
fn link_atomic(src: &Path, dst: &Path) -> bool {
    let tmp = aha_rundir::tmp_path(dst);
    let _ = std::fs::remove_file(&tmp);
    std::fs::hard_link(src, &tmp).is_ok() && std::fs::rename(&tmp, dst).is_ok()
}

fn json_err(path: &Path, e: serde_json::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

fn to_json<T: Serialize>(v: &T, path: &Path) -> Result<Vec<u8>> {
    let mut text = serde_json::to_vec_pretty(v).map_err(|e| json_err(path, e))?;
    text.push(b'\n');
    Ok(text)
}

/// Writes `bytes` to `path` atomically ([`aha_rundir::write_atomic`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(aha_rundir::write_atomic(path, bytes)?)
}

/// Appends `values` as JSON lines in one write, fsynced ([`aha_rundir::append_jsonl`]).
fn append_line<T: Serialize>(path: &Path, values: &[&T]) -> Result<()> {
    Ok(aha_rundir::append_jsonl(path, values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_order_is_a_seeded_permutation_per_epoch() {
        // 5 problems, 2 per step: steps 0..5 cover two epochs exactly.
        let all: Vec<usize> = (0..5).flat_map(|s| prompt_order(5, s, 2, 3)).collect();
        assert_eq!(all.len(), 10);
        for epoch in all.chunks(5) {
            let mut e = epoch.to_vec();
            e.sort_unstable();
            assert_eq!(e, vec![0, 1, 2, 3, 4]);
        }
        assert_ne!(all[..5], all[5..], "each epoch has its own order");
        assert_eq!(prompt_order(5, 3, 2, 3), all[6..8]);
        assert_ne!(prompt_order(50, 0, 10, 3), prompt_order(50, 0, 10, 4));
        assert!(prompt_order(0, 0, 2, 3).is_empty());
    }

    #[test]
    fn truncating_keeps_earlier_steps_and_drops_a_torn_line() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid("tmp", e.to_string()))?;
        let p = dir.path().join("m.jsonl");
        std::fs::write(
            &p,
            "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"x\"",
        )
        .map_err(|e| Error::invalid("tmp", e.to_string()))?;
        truncate_lines(&p, 2)?;
        assert_eq!(
            std::fs::read_to_string(&p).map_err(|e| Error::invalid("tmp", e.to_string()))?,
            "{\"step\":0}\n{\"step\":1}\n"
        );
        std::fs::write(&p, "{\"step\":0}\nnot json\n{\"step\":1}\n")
            .map_err(|e| Error::invalid("tmp", e.to_string()))?;
        let err = truncate_lines(&p, 5).unwrap_err().to_string();
        assert!(err.contains("m.jsonl:2"), "{err}");
        Ok(())
    }

    #[test]
    fn config_defaults_fill_a_partial_file_and_typos_are_refused() -> Result<()> {
        let cfg: RunConfig = serde_json::from_str(r#"{"steps": 3, "sampling": {"max_tokens": 9}}"#)
            .map_err(|e| Error::invalid("json", e.to_string()))?;
        assert_eq!(cfg.steps, 3);
        assert_eq!(cfg.sampling.max_tokens, 9);
        assert_eq!(cfg.sampling.temperature, 1.0);
        assert_eq!(cfg.trainer_config().loss.budget, 9);
        cfg.validate()?;
        assert!(serde_json::from_str::<RunConfig>(r#"{"stepz": 3}"#).is_err());
        let bad = RunConfig {
            group_size: 1,
            ..RunConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("group_size")
        );
        Ok(())
    }
}
