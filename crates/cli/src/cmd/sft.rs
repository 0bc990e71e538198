//! `aha sft`: supervised fine-tuning (or LM pre-training) of an embedded model on
//! `(prompt, response)` traces, with the engine `aha train` uses. Writes `config.json`,
//! `metrics.jsonl` (one line per optimizer step) and `model.safetensors` (+ the tokenizer) into
//! `--out`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Model, WeightKind};
use aha_tokenizer::Tokenizer;
use aha_train::{LrSchedule, SftConfig, SftExample, SftTrainer, epoch_batches};
use anyhow::{Context, bail};

use super::train::{load_tokenizer, ship_tokenizer};

/// Arguments of `aha sft`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (--model, --tokenizer).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// JSONL traces, one object per line with the prompt and response fields.
    #[arg(long)]
    pub data: PathBuf,
    /// Field holding the prompt text (conditioning only, no loss).
    #[arg(long, default_value = "prompt")]
    pub prompt_field: String,
    /// Field holding the response text (the loss is taken over its tokens).
    #[arg(long, default_value = "response")]
    pub response_field: String,
    /// Language-model pre-training: no prompt field; each text follows a BOS token.
    #[arg(long)]
    pub pretrain: bool,
    /// Do not append the EOS token to responses (by default the model learns to stop).
    #[arg(long)]
    pub no_eos: bool,
    /// Passes over the data.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-5)]
    pub lr: f64,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Cosine decay to this fraction of --lr over the run (default: constant lr).
    #[arg(long)]
    pub cosine_min_lr_ratio: Option<f64>,
    /// Global grad-norm clip.
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Seed of the per-epoch shuffle.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (must be empty).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(serde::Serialize)]
struct Config<'a> {
    schema_version: u32,
    model: String,
    tokenizer: String,
    data: String,
    pretrain: bool,
    append_eos: bool,
    examples: usize,
    response_tokens: usize,
    sft: &'a SftConfig,
}

/// Reads the traces, naming file, line and field on bad input.
fn read_examples(args: &Args, tok: &Tokenizer) -> anyhow::Result<Vec<SftExample>> {
    let file = std::fs::File::open(&args.data)
        .with_context(|| format!("opening {}", args.data.display()))?;
    let path = args.data.display();
    let bos = tok.bos_id();
    let eos = tok.eos_id();
    if !args.no_eos && eos.is_none() {
        bail!("the tokenizer has no EOS token; pass --no-eos");
    }
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{path}:{n}: reading"))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{path}:{n}: not JSON"))?;
        let field = |name: &str| -> anyhow::Result<&str> {
            match row.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s),
                Some(_) => bail!("{path}:{n}: field \"{name}\": expected a string"),
                None => bail!("{path}:{n}: field \"{name}\" is missing"),
            }
        };
        let response_text = field(&args.response_field)?;
        let prompt = if args.pretrain {
            match bos {
                Some(b) => vec![b],
                None => bail!("--pretrain needs a BOS token and the tokenizer has none"),
            }
        } else {
            tok.encode(field(&args.prompt_field)?, tok.add_bos_default())
                .with_context(|| format!("{path}:{n}: field \"{}\"", args.prompt_field))?
        };
        if prompt.is_empty() {
            bail!(
                "{path}:{n}: field \"{}\" is empty and the tokenizer adds no BOS",
                args.prompt_field
            );
        }
        let mut response = tok
            .encode(response_text, false)
            .with_context(|| format!("{path}:{n}: field \"{}\"", args.response_field))?;
        if let Some(e) = eos.filter(|_| !args.no_eos) {
            response.push(e);
        }
        out.push(SftExample { prompt, response });
    }
    if out.is_empty() {
        bail!("{path}: no examples");
    }
    Ok(out)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(aha_rundir::write_atomic(path, bytes)?)
}

/// Runs `aha sft`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
    let started = Instant::now();
    if args.out.is_dir()
        && std::fs::read_dir(&args.out)
            .with_context(|| format!("reading {}", args.out.display()))?
            .next()
            .is_some()
    {
        bail!("{} is not empty; choose another --out", args.out.display());
    }
    let (tok, tok_source) = load_tokenizer(&args.model.model, args.model.tokenizer.as_deref())?;
    let examples = read_examples(&args, &tok)?;
    let steps_per_epoch = examples.len().div_ceil(args.batch_size.max(1));
    let total = args
        .max_steps
        .unwrap_or(usize::MAX)
        .min(steps_per_epoch * args.epochs);
    let cfg = SftConfig {
        batch_size: args.batch_size,
        epochs: args.epochs,
        max_steps: args.max_steps,
        adamw: aha_train::AdamWConfig {
            weight_decay: args.weight_decay,
            ..aha_train::AdamWConfig::default()
        },
        schedule: match args.cosine_min_lr_ratio {
            Some(min_lr_ratio) => LrSchedule::Cosine {
                lr: args.lr,
                warmup: args.warmup,
                total,
                min_lr_ratio,
            },
            None => LrSchedule::Constant {
                lr: args.lr,
                warmup: args.warmup,
            },
        },
        max_grad_norm: args.max_grad_norm,
        seed: args.seed,
    };
    cfg.validate()?;
    let device = Device::cuda_if_available(0).context("selecting the device")?;
    let model = Model::load(&args.model.model, WeightKind::F32, &device)
        .with_context(|| format!("loading {}", args.model.model.display()))?;
    let config = Config {
        schema_version: 1,
        model: args.model.model.display().to_string(),
        tokenizer: tok_source.display().to_string(),
        data: args.data.display().to_string(),
        pretrain: args.pretrain,
        append_eos: !args.no_eos,
        examples: examples.len(),
        response_tokens: examples.iter().map(|e| e.response.len()).sum(),
        sft: &cfg,
    };
    let text = serde_json::to_string_pretty(&config)?;
    eprintln!("aha sft: resolved config\n{text}");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_atomic(&args.out.join("config.json"), text.as_bytes())?;

    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sft {bar:30} {pos}/{len} steps [{elapsed_precise}, eta {eta}] {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let metrics = args.out.join("metrics.jsonl");
    let mut trainer = SftTrainer::new(&model, cfg.clone())?;
    for (epoch, idx) in epoch_batches(examples.len(), cfg.batch_size, cfg.epochs, cfg.seed) {
        if trainer.steps_done() >= total {
            break;
        }
        let batch: Vec<SftExample> = idx.iter().map(|&i| examples[i].clone()).collect();
        let m = trainer.step(&batch, epoch)?;
        aha_train::append_jsonl(&metrics, &m)?;
        bar.set_position(trainer.steps_done() as u64);
        bar.set_message(format!("loss {:.4}", m.loss));
        if bar.is_hidden() && (m.step % 10 == 0 || trainer.steps_done() == total) {
            eprintln!(
                "aha sft: step {:>5}  epoch {}  loss {:.4}  tokens {}  gnorm {:.3}  lr {:.2e}",
                m.step, m.epoch, m.loss, m.tokens, m.grad_norm, m.lr
            );
        }
    }
    bar.finish_and_clear();
    let weights = args.out.join("model.safetensors");
    trainer.save_weights(&weights)?;
    let hint = ship_tokenizer(&tok_source, &args.out)?;
    eprintln!(
        "aha sft: {} steps in {:.1} s; weights {}{}",
        trainer.steps_done(),
        started.elapsed().as_secs_f64(),
        weights.display(),
        hint.map(|h| format!(" (load with {h})"))
            .unwrap_or_else(|| " (tokenizer.json beside it)".into())
    );
    Ok(ExitCode::SUCCESS)
}
