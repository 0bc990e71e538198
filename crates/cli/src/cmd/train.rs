//! `aha train`: an R1-Zero-like RL run (GRPO / Dr. GRPO) of an embedded model on a dataset,
//! writing `config.json`, `metrics.jsonl`, `samples.jsonl`, checkpoints and the final weights
//! into `--out` (resumable with `--resume` after any kill).
//!
//! Settings resolve as [`aha_train::RunConfig::resolve`] layers them: defaults, then `--config
//! FILE` (or, with `--resume` and no `--config`, the run's own `config.json`), then every flag
//! given ([`aha_train::RunOverrides`], whose fields are the flags).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Model, WeightKind};
use aha_train::{ConfigLayers, RunConfig, RunEvent, RunInputs, RunOverrides};
use anyhow::Context;

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
    /// The run's settings (--steps, --lr, --algorithm, …).
    #[command(flatten)]
    pub settings: RunOverrides,
    /// Output directory (must be empty unless --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
}

fn abs(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Runs `aha train`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let data = args.dataset.load(&args.dataset.data)?;
    data.dataset.check_unique_ids()?;
    let countdown_data =
        (data.dataset.problems.iter()).any(|p| matches!(p.gold, aha_data::Gold::Countdown { .. }));
    let layers = ConfigLayers {
        file: args.config.as_deref(),
        out: &args.out,
        resume: args.resume,
        countdown_data,
    };
    let mut cfg = RunConfig::resolve(layers, &args.settings)?;
    cfg.rollout_kernels = args.model.kernels.cpu_kernels;
    // The flag only switches the order on: a resume keeps the one in config.json.
    cfg.fixed_order_f32 |= args.model.kernels.fixed_order_f32;
    args.model.kernels.fixed_order_f32 = cfg.fixed_order_f32;
    let mut eval_source = None;
    let (mut train, mut eval) = match (&args.eval_data, args.eval_split_frac) {
        (Some(path), _) => {
            let e = args.dataset.load(path)?;
            e.dataset.check_unique_ids()?;
            eval_source = Some(e.source);
            (data.dataset.problems, e.dataset.problems)
        }
        (None, Some(frac)) => aha_data::train_test_split(data.dataset.problems, frac, cfg.seed)?,
        (None, None) => (data.dataset.problems, Vec::new()),
    };
    train.truncate(args.limit.unwrap_or(usize::MAX));
    eval.truncate(args.eval_limit.unwrap_or(usize::MAX));
    anyhow::ensure!(
        !train.is_empty(),
        "{}: no training problems",
        args.dataset.data.display()
    );
    args.model.model = super::resolve_model(&args.model.model)?;
    let (tok, tok_source) =
        super::load_tokenizer(&args.model.model, args.model.tokenizer.as_deref())?;
    let sources = [
        ("model", Some(abs(&args.model.model))),
        ("tokenizer", Some(abs(&tok_source))),
        ("data", Some(data.source)),
        ("eval_data", eval_source),
        (
            "eval_split_frac",
            args.eval_split_frac.map(|f| f.to_string()),
        ),
        ("train_problems", Some(train.len().to_string())),
        ("eval_problems", Some(eval.len().to_string())),
    ];
    for (k, v) in sources {
        cfg.sources.extend(v.map(|v| (k.to_string(), v)));
    }
    cfg.validate()?;
    eprintln!(
        "aha train: resolved config\n{}",
        serde_json::to_string_pretty(&cfg)?
    );

    let device = Device::cuda_if_available(0).context("selecting the device")?;
    let loaded = Instant::now();
    let load = |what: &str| {
        let options = args.model.kernels.load_options();
        Model::load_with(&args.model.model, WeightKind::F32, &device, &options)
            .with_context(|| format!("loading {what}{}", args.model.model.display()))
    };
    let policy = load("")?;
    let reference = if cfg.loss.beta > 0.0 {
        Some(load("the reference ")?)
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

    let bar = super::bar(
        cfg.steps as u64,
        "train {bar:30} {pos}/{len} steps [{elapsed_precise}, eta {eta}] {msg}",
    );
    let mut progress = |e: &RunEvent<'_>| {
        let u = e.progress();
        if let Some(p) = u.position {
            bar.set_position(p);
        }
        if u.restart {
            bar.reset_eta();
        }
        if let Some(m) = u.message {
            bar.set_message(m);
        }
        match u.line {
            Some(l) if bar.is_hidden() => eprintln!("aha train: {l}"),
            Some(l) => bar.println(l),
            None => {}
        }
    };
    let inputs = RunInputs {
        policy: &policy,
        reference: reference.as_ref(),
        tokenizer: &tok,
        train: &train,
        eval: &eval,
    };
    let summary = aha_train::run(inputs, &cfg, &args.out, args.resume, &mut progress)
        .with_context(|| {
            format!(
                "training stopped; rerun with --resume to continue from the last checkpoint in {}",
                args.out.join("checkpoints").display()
            )
        })?;
    bar.finish_and_clear();
    let hint = aha_train::ship_tokenizer(&tok_source, &args.out)?;
    if let Some(e) = &summary.final_eval {
        eprintln!(
            "aha train: final eval: accuracy {:.3}, mean length {:.1} tokens ({} problems)",
            e.accuracy, e.len_mean, e.n
        );
    }
    let (weights, secs) = (summary.weights.display(), started.elapsed().as_secs_f64());
    let steps = summary.steps;
    match hint {
        Some(h) => eprintln!(
            "aha train: {steps} steps in {secs:.1} s; weights {weights}; try: aha generate --model {weights} {h} --prompt …"
        ),
        None => eprintln!(
            "aha train: {steps} steps in {secs:.1} s; weights {weights} (tokenizer.json beside it); try: aha probe --model {weights} …"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
