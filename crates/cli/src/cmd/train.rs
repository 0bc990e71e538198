//! `aha train`: an R1-Zero-like RL run (GRPO / Dr. GRPO) of an embedded model on a dataset,
//! writing `config.json`, `metrics.jsonl`, `samples.jsonl`, checkpoints and the final weights
//! into `--out` (resumable with `--resume` after any kill).
//!
//! Settings resolve in this order: `RunConfig` defaults, then `--config FILE` (or, with
//! `--resume` and no `--config`, the run's own `config.json`), then every flag given.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aha_data::train_test_split;
use aha_model::candle_core::Device;
use aha_model::{Model, WeightKind};
use aha_reflect::MatchMode;
use aha_tokenizer::Tokenizer;
use aha_train::{AdvantageKind, LrSchedule, RewardKind, RunConfig, RunEvent, RunInputs};
use anyhow::Context;

/// Policy-gradient algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// GRPO: (r - mean)/std advantages, token mean per response.
    Grpo,
    /// Dr. GRPO: r - mean advantages, token sum / constant.
    DrGrpo,
}

/// Reward function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reward {
    /// 1 correct, 0 otherwise (answer in the template's format).
    Math,
    /// 1 correct, -0.5 wrong answer, -1 no answer (SimpleRL-Zero).
    Simplerl,
    /// Math 1/0, gated by the strict R1 format (`</think> <answer>…</answer>`).
    R1Format,
    /// TinyZero's Countdown reward (0 / 0.1 / 1).
    Countdown,
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Schedule {
    /// Constant after the warm-up (the paper's).
    Constant,
    /// Cosine to min-lr-ratio × lr over the run's optimizer steps.
    Cosine,
}

pub use super::Match;

/// Arguments of `aha train`. Flags left out take the value of `--config` (or the resumed run's
/// `config.json`), else the default shown.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (--model, --tokenizer).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The problems (--data, --split, --question-field, --answer-field, --id-field).
    #[command(flatten)]
    pub dataset: super::DataArgs,
    /// Use only the first N training problems (after the eval split).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Held-out problems for the greedy eval: a path, a shipped name or `hf:ORG/NAME[:SPLIT]`, as
    /// --data (same field options).
    #[arg(long, conflicts_with = "eval_split_frac")]
    pub eval_data: Option<PathBuf>,
    /// Hold out this fraction of --data (seeded shuffle) for the eval instead.
    #[arg(long)]
    pub eval_split_frac: Option<f64>,
    /// Evaluate on at most N held-out problems.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// A run config (JSON, fields as in config.json; missing fields take defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run name in metrics.jsonl (default: the algorithm).
    #[arg(long)]
    pub run_name: Option<String>,
    /// Prompt template: r1, r1-blog, qwen-math, qwen-math-blog, none, countdown, chat, or a
    /// file with {question} [default: qwen-math].
    #[arg(long)]
    pub template: Option<String>,
    /// Algorithm [default: dr-grpo].
    #[arg(long, value_enum)]
    pub algorithm: Option<Algorithm>,
    /// Reward [default: math; countdown for Countdown data].
    #[arg(long, value_enum)]
    pub reward: Option<Reward>,
    /// Reward of responses cut by the budget [default: 0, the paper's].
    #[arg(
        long,
        conflicts_with = "grade_truncated",
        allow_negative_numbers = true
    )]
    pub truncated_reward: Option<f64>,
    /// Grade budget-truncated responses like any other instead.
    #[arg(long)]
    pub grade_truncated: bool,
    /// Policy steps [default: 100].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Prompts per policy step [default: 8].
    #[arg(long)]
    pub prompts_per_step: Option<usize>,
    /// Samples per prompt, G [default: 8].
    #[arg(long)]
    pub group_size: Option<usize>,
    /// Generation budget per response in tokens [default: 256].
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Sampling temperature [default: 1].
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold [default: 1].
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Stop string (repeatable; default: the template's, e.g. `</answer>` for r1).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// Peak learning rate [default: 1e-6].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule [default: constant].
    #[arg(long, value_enum)]
    pub lr_schedule: Option<Schedule>,
    /// Warm-up optimizer steps [default: 0].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Final lr ratio of the cosine schedule [default: 0.1].
    #[arg(long)]
    pub min_lr_ratio: Option<f64>,
    /// PPO clip ε [default: 0.2].
    #[arg(long)]
    pub clip_eps: Option<f64>,
    /// Dr. GRPO's constant C [default: --max-tokens].
    #[arg(long)]
    pub budget: Option<usize>,
    /// k3 KL weight against a frozen copy of the initial policy [default: 0].
    #[arg(long)]
    pub beta: Option<f64>,
    /// Optimizer steps per policy step [default: 1].
    #[arg(long)]
    pub mini_batches: Option<usize>,
    /// Responses per forward/backward pass (gradient accumulation; 0 = the whole mini-batch)
    /// [default: 0]. Peak memory scales with it; the update is the same.
    #[arg(long)]
    pub micro_batch_size: Option<usize>,
    /// Sample rollouts on a Q8_0 copy of the policy (remade after every update, run on the
    /// packed CPU kernels) instead of the f32 weights [default: true]; the loss still uses the
    /// f32 log-probs and `rollout_kl` in metrics.jsonl reports the gap.
    #[arg(long)]
    pub quantized_rollouts: Option<bool>,
    /// Global grad-norm clip [default: 1].
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    /// AdamW weight decay [default: 0].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Greedy eval every N policy steps, from step 0 (0 = never) [default: 16].
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Eval generation budget [default: --max-tokens].
    #[arg(long)]
    pub eval_max_tokens: Option<usize>,
    /// Eval sequences per forward batch [default: 32].
    #[arg(long)]
    pub eval_batch: Option<usize>,
    /// Save samples every N steps (0 = never) [default: 10].
    #[arg(long)]
    pub samples_every: Option<usize>,
    /// Samples saved per such step (0 = all) [default: 0].
    #[arg(long)]
    pub samples_per_step: Option<usize>,
    /// Checkpoint every N policy steps, and after the last [default: 10].
    #[arg(long)]
    pub save_every: Option<usize>,
    /// Checkpoints kept on disk [default: 1].
    #[arg(long)]
    pub keep_checkpoints: Option<usize>,
    /// Reflection keyword preset (paper15, blog, …) or file [default: paper15].
    #[arg(long)]
    pub keywords: Option<String>,
    /// Keyword matching mode [default: substring].
    #[arg(long = "match", value_enum)]
    pub match_mode: Option<Match>,
    /// Seed of the prompt order and the rollouts [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory (must be empty unless --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
}

/// Loads the tokenizer: `--tokenizer`, else the model's own (GGUF metadata, a Hugging Face
/// directory's tokenizer.json, or a tokenizer.json beside an aha .safetensors file).
pub fn load_tokenizer(
    model: &Path,
    tokenizer: Option<&Path>,
) -> anyhow::Result<(Tokenizer, PathBuf)> {
    Tokenizer::for_model(model, tokenizer)
        .with_context(|| format!("loading the tokenizer of {}", model.display()))
}

/// Makes the final weights in `out` loadable with their tokenizer: a tokenizer.json source is
/// copied beside them (with its tokenizer_config.json / generation_config.json); for a GGUF
/// source the way to pass it is returned as a hint.
pub fn ship_tokenizer(source: &Path, out: &Path) -> anyhow::Result<Option<String>> {
    if source.extension().is_some_and(|e| e == "json") {
        let dir = source.parent().unwrap_or_else(|| Path::new("."));
        std::fs::copy(source, out.join("tokenizer.json"))
            .with_context(|| format!("copying {} into {}", source.display(), out.display()))?;
        for f in ["tokenizer_config.json", "generation_config.json"] {
            if dir.join(f).is_file() {
                std::fs::copy(dir.join(f), out.join(f))
                    .with_context(|| format!("copying {f} into {}", out.display()))?;
            }
        }
        Ok(None)
    } else {
        Ok(Some(format!("--tokenizer {}", source.display())))
    }
}

fn abs(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// The run config: defaults < --config (or the resumed run's config.json) < flags.
fn resolve_config(args: &Args) -> anyhow::Result<RunConfig> {
    let saved = args.out.join(aha_train::run::CONFIG_FILE);
    let mut c = match &args.config {
        Some(p) => RunConfig::from_file(p)?,
        None if args.resume && saved.is_file() => RunConfig::from_file(&saved)?,
        None => RunConfig::default(),
    };
    macro_rules! set {
        ($flag:expr, $field:expr) => {
            if let Some(v) = $flag.clone() {
                $field = v;
            }
        };
    }
    set!(args.run_name, c.run);
    set!(args.template, c.template);
    if let Some(a) = args.algorithm {
        c.algorithm = match a {
            Algorithm::Grpo => AdvantageKind::Grpo,
            Algorithm::DrGrpo => AdvantageKind::DrGrpo,
        };
    }
    if let Some(r) = args.reward {
        c.reward.kind = match r {
            Reward::Math => RewardKind::Math,
            Reward::Simplerl => RewardKind::SimpleRl,
            Reward::R1Format => RewardKind::R1Format,
            Reward::Countdown => RewardKind::Countdown,
        };
    }
    if let Some(t) = args.truncated_reward {
        c.reward.truncated = Some(t);
    }
    if args.grade_truncated {
        c.reward.truncated = None;
    }
    set!(args.steps, c.steps);
    set!(args.prompts_per_step, c.prompts_per_step);
    set!(args.group_size, c.group_size);
    set!(args.max_tokens, c.sampling.max_tokens);
    set!(args.temperature, c.sampling.temperature);
    set!(args.top_p, c.sampling.top_p);
    if !args.stop.is_empty() {
        c.sampling.stop = Some(args.stop.clone());
    }
    let (mut lr, mut warmup, mut ratio, mut cosine) = match c.lr {
        LrSchedule::Constant { lr, warmup } => (lr, warmup, 0.1, false),
        LrSchedule::Cosine {
            lr,
            warmup,
            min_lr_ratio,
            ..
        } => (lr, warmup, min_lr_ratio, true),
    };
    set!(args.lr, lr);
    set!(args.warmup, warmup);
    set!(args.min_lr_ratio, ratio);
    if let Some(s) = args.lr_schedule {
        cosine = s == Schedule::Cosine;
    }
    set!(args.clip_eps, c.loss.clip_eps);
    if let Some(b) = args.budget {
        c.loss.budget = Some(b);
    }
    set!(args.beta, c.loss.beta);
    set!(args.mini_batches, c.mini_batches);
    set!(args.micro_batch_size, c.micro_batch_size);
    set!(args.quantized_rollouts, c.quantized_rollouts);
    c.rollout_kernels = args.model.kernels.cpu_kernels;
    set!(args.max_grad_norm, c.max_grad_norm);
    set!(args.weight_decay, c.adamw.weight_decay);
    c.lr = if cosine {
        LrSchedule::Cosine {
            lr,
            warmup,
            total: c.steps * c.mini_batches,
            min_lr_ratio: ratio,
        }
    } else {
        LrSchedule::Constant { lr, warmup }
    };
    set!(args.eval_every, c.eval.every);
    if let Some(m) = args.eval_max_tokens {
        c.eval.max_tokens = Some(m);
    }
    set!(args.eval_batch, c.eval.batch_size);
    set!(args.samples_every, c.samples.every);
    set!(args.samples_per_step, c.samples.per_step);
    set!(args.save_every, c.save_every);
    set!(args.keep_checkpoints, c.keep_checkpoints);
    set!(args.keywords, c.reflection.keywords);
    if let Some(m) = args.match_mode {
        c.reflection.mode = MatchMode::from(m);
    }
    set!(args.seed, c.seed);
    Ok(c)
}

/// Runs `aha train`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut cfg = resolve_config(&args)?;
    let (ds, data_source) = args.dataset.load(&args.dataset.data)?;
    ds.check_unique_ids()?;
    let mut eval_source = None;
    let countdown = ds
        .problems
        .iter()
        .any(|p| matches!(p.gold, aha_data::Gold::Countdown { .. }));
    if countdown && args.reward.is_none() && args.config.is_none() && !args.resume {
        cfg.reward.kind = RewardKind::Countdown;
    }
    let (mut train, mut eval) = match (&args.eval_data, args.eval_split_frac) {
        (Some(path), _) => {
            let (eval, source) = args.dataset.load(path)?;
            eval.check_unique_ids()?;
            eval_source = Some(source);
            (ds.problems, eval.problems)
        }
        (None, Some(frac)) => train_test_split(ds.problems, frac, cfg.seed)?,
        (None, None) => (ds.problems, Vec::new()),
    };
    if let Some(n) = args.limit {
        train.truncate(n);
    }
    if let Some(n) = args.eval_limit {
        eval.truncate(n);
    }
    anyhow::ensure!(
        !train.is_empty(),
        "{}: no training problems",
        args.dataset.data.display()
    );
    args.model.model = super::resolve_model(&args.model.model)?;
    let (tok, tok_source) = load_tokenizer(&args.model.model, args.model.tokenizer.as_deref())?;
    cfg.sources.insert("model".into(), abs(&args.model.model));
    cfg.sources.insert("tokenizer".into(), abs(&tok_source));
    cfg.sources.insert("data".into(), data_source);
    if let Some(e) = eval_source {
        cfg.sources.insert("eval_data".into(), e);
    }
    if let Some(f) = args.eval_split_frac {
        cfg.sources.insert("eval_split_frac".into(), f.to_string());
    }
    cfg.sources
        .insert("train_problems".into(), train.len().to_string());
    cfg.sources
        .insert("eval_problems".into(), eval.len().to_string());
    cfg.validate()?;
    eprintln!(
        "aha train: resolved config\n{}",
        serde_json::to_string_pretty(&cfg)?
    );

    let device = Device::cuda_if_available(0).context("selecting the device")?;
    let loaded = Instant::now();
    let policy = Model::load(&args.model.model, WeightKind::F32, &device)
        .with_context(|| format!("loading {}", args.model.model.display()))?;
    let reference = if cfg.loss.beta > 0.0 {
        Some(
            Model::load(&args.model.model, WeightKind::F32, &device)
                .with_context(|| format!("loading the reference {}", args.model.model.display()))?,
        )
    } else {
        None
    };
    eprintln!(
        "aha train: loaded {} ({} parameters, {:.1} s); {} train / {} eval problems",
        args.model.model.display(),
        policy.num_params(),
        loaded.elapsed().as_secs_f64(),
        train.len(),
        eval.len()
    );

    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(cfg.steps as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "train {bar:30} {pos}/{len} steps [{elapsed_precise}, eta {eta}] {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = |e: &RunEvent<'_>| match e {
        RunEvent::Start { first_step, .. } => {
            bar.set_position(*first_step as u64);
            bar.reset_eta();
            if *first_step > 0 {
                report(&bar, &format!("resuming at step {first_step}"));
            }
        }
        RunEvent::Eval { step, done, total } => {
            bar.set_message(format!("step {step}: eval {done}/{total}"));
        }
        RunEvent::Token {
            step,
            tokens,
            budget,
        } => bar.set_message(format!("step {step}: sampling {tokens}/≤{budget} tokens")),
        RunEvent::Step(l) => {
            bar.set_position(l.trainer.step as u64 + 1);
            let mut line = format!(
                "step {:>4}  reward {:+.3}  acc {:.3}  format {:.3}  len {:.1}  trunc {:.2}  refl {:.2}  gnorm {:.3}  {:.1} s",
                l.trainer.step,
                l.trainer.reward_mean,
                l.task.accuracy,
                l.task.format_rate,
                l.trainer.len_mean,
                l.trainer.truncated_rate,
                l.task.reflection_rate,
                l.trainer.grad_norm,
                l.trainer.step_time_s
            );
            if let Some(e) = &l.eval {
                line.push_str(&format!(
                    "  | eval acc {:.3} len {:.1}",
                    e.accuracy, e.len_mean
                ));
            }
            report(&bar, &line);
        }
        RunEvent::Checkpoint { dir, .. } => {
            report(&bar, &format!("checkpoint {}", dir.display()));
        }
        _ => {}
    };
    let summary = aha_train::run(
        RunInputs {
            policy: &policy,
            reference: reference.as_ref(),
            tokenizer: &tok,
            train: &train,
            eval: &eval,
        },
        &cfg,
        &args.out,
        args.resume,
        &mut progress,
    )
    .with_context(|| {
        format!(
            "training stopped; rerun with --resume to continue from the last checkpoint in {}",
            args.out.join("checkpoints").display()
        )
    })?;
    bar.finish_and_clear();
    let hint = ship_tokenizer(&tok_source, &args.out)?;
    if let Some(e) = &summary.final_eval {
        eprintln!(
            "aha train: final eval: accuracy {:.3}, mean length {:.1} tokens ({} problems)",
            e.accuracy, e.len_mean, e.n
        );
    }
    let weights = summary.weights.display();
    match hint {
        Some(h) => eprintln!(
            "aha train: {} steps in {:.1} s; weights {weights}; try: aha generate --model {weights} {h} --prompt …",
            summary.steps,
            started.elapsed().as_secs_f64()
        ),
        None => eprintln!(
            "aha train: {} steps in {:.1} s; weights {weights} (tokenizer.json beside it); try: aha probe --model {weights} …",
            summary.steps,
            started.elapsed().as_secs_f64()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a line above the bar, or on stderr when the bar is hidden (not a terminal).
fn report(bar: &indicatif::ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("aha train: {line}");
    } else {
        bar.println(line);
    }
}
