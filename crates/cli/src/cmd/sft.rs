//! `aha sft`: supervised fine-tuning (or LM pre-training) of an embedded model on
//! `(prompt, response)` traces, with the engine `aha train` uses. Writes `config.json`,
//! `metrics.jsonl` (one line per optimizer step) and `model.safetensors` (+ the tokenizer) into
//! `--out`. Traces are read by [`aha_train::read_examples`], the config written by
//! [`aha_train::SftRunConfig`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Model, WeightKind};
use aha_train::{
    LrSchedule, SftConfig, SftExample, SftRunConfig, SftTrainer, TraceFields, epoch_batches,
};
use anyhow::Context;

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

/// Runs `aha sft`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
    let started = Instant::now();
    aha_train::ensure_new_dir(&args.out)?;
    let (tok, tok_source) =
        super::load_tokenizer(&args.model.model, args.model.tokenizer.as_deref())?;
    let fields = TraceFields {
        prompt: args.prompt_field.clone(),
        response: args.response_field.clone(),
        pretrain: args.pretrain,
        append_eos: !args.no_eos,
    };
    let examples = aha_train::read_examples(&args.data, &tok, &fields)?;
    let steps_per_epoch = examples.len().div_ceil(args.batch_size.max(1));
    let total = (args.max_steps.unwrap_or(usize::MAX)).min(steps_per_epoch * args.epochs);
    let (lr, warmup) = (args.lr, args.warmup);
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
                lr,
                warmup,
                total,
                min_lr_ratio,
            },
            None => LrSchedule::Constant { lr, warmup },
        },
        max_grad_norm: args.max_grad_norm,
        seed: args.seed,
    };
    cfg.validate()?;
    let device = Device::cuda_if_available(0).context("selecting the device")?;
    let model = Model::load(&args.model.model, WeightKind::F32, &device)
        .with_context(|| format!("loading {}", args.model.model.display()))?;
    let config = SftRunConfig {
        schema_version: aha_train::SFT_SCHEMA_VERSION,
        model: args.model.model.display().to_string(),
        tokenizer: tok_source.display().to_string(),
        data: args.data.display().to_string(),
        pretrain: args.pretrain,
        append_eos: !args.no_eos,
        examples: examples.len(),
        response_tokens: examples.iter().map(|e| e.response.len()).sum(),
        sft: &cfg,
    };
    let text = config.write_new(&args.out)?;
    eprintln!("aha sft: resolved config\n{text}");

    let bar = super::bar(
        total as u64,
        "sft {bar:30} {pos}/{len} steps [{elapsed_precise}, eta {eta}] {msg}",
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
    let hint = aha_train::ship_tokenizer(&tok_source, &args.out)?;
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
