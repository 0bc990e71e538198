//! `aha sft`: supervised fine-tuning (or LM pre-training) of an embedded model on
//! `(prompt, response)` traces, with the engine `aha train` uses. Writes `config.json`,
//! `metrics.jsonl` (one line per optimizer step) and `model.safetensors` (+ the tokenizer) into
//! `--out`. Traces are read by [`aha_train::read_examples`], the config written by
//! [`aha_train::SftRunConfig`].

use std::process::ExitCode;
use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Model, WeightKind};
use aha_train::sft_args::SftArgs;
use aha_train::{SftExample, SftRunConfig, SftTrainer, epoch_batches};
use anyhow::Context;

/// Arguments of `aha sft`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (--model, --tokenizer).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The traces, the run's settings and its directory (aha-train's own flags).
    #[command(flatten)]
    pub sft: SftArgs,
}

/// Runs `aha sft`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
    let started = Instant::now();
    let sft = &args.sft;
    aha_train::ensure_new_dir(&sft.out)?;
    let (tok, tok_source) =
        super::load_tokenizer(&args.model.model, args.model.tokenizer.as_deref())?;
    let examples = aha_train::read_examples(&sft.data, &tok, &sft.fields())?;
    let total = sft.total_steps(examples.len());
    let cfg = sft.config(examples.len());
    cfg.validate()?;
    let device = Device::cuda_if_available(0).context("selecting the device")?;
    let options = args.model.kernels.load_options();
    let model = Model::load_with(&args.model.model, WeightKind::F32, &device, &options)
        .with_context(|| format!("loading {}", args.model.model.display()))?;
    let config = SftRunConfig {
        schema_version: aha_train::SFT_SCHEMA_VERSION,
        model: args.model.model.display().to_string(),
        tokenizer: tok_source.display().to_string(),
        data: sft.data.display().to_string(),
        pretrain: sft.pretrain,
        append_eos: !sft.no_eos,
        examples: examples.len(),
        response_tokens: examples.iter().map(|e| e.response.len()).sum(),
        sft: &cfg,
    };
    let text = config.write_new(&sft.out)?;
    eprintln!("aha sft: resolved config\n{text}");

    let bar = super::bar(
        total as u64,
        "sft {bar:30} {pos}/{len} steps [{elapsed_precise}, eta {eta}] {msg}",
    );
    let metrics = sft.out.join("metrics.jsonl");
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
    let weights = sft.out.join("model.safetensors");
    trainer.save_weights(&weights)?;
    let hint = aha_train::ship_tokenizer(&tok_source, &sft.out)?;
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
