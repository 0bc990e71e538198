//! The flags of `aha sft` (behind the `clap` feature) but the model's, and what they build: the
//! [`TraceFields`] that read the traces and the [`SftConfig`] of the run
//! ([`SftArgs::config`], whose cosine schedule spans the steps the run will take).

use std::path::PathBuf;

use crate::{AdamWConfig, LrSchedule, SftConfig, TraceFields};

/// The flags of `aha sft` (the model flags are the binary's).
#[derive(Debug, Clone, clap::Args)]
pub struct SftArgs {
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

impl SftArgs {
    /// How the trace lines become examples.
    pub fn fields(&self) -> TraceFields {
        TraceFields {
            prompt: self.prompt_field.clone(),
            response: self.response_field.clone(),
            pretrain: self.pretrain,
            append_eos: !self.no_eos,
        }
    }

    /// The optimizer steps a run over `examples` examples takes: every batch of every epoch,
    /// or `--max-steps` if that is fewer.
    pub fn total_steps(&self, examples: usize) -> usize {
        let steps_per_epoch = examples.div_ceil(self.batch_size.max(1));
        (self.max_steps.unwrap_or(usize::MAX)).min(steps_per_epoch * self.epochs)
    }

    /// The run's config for `examples` examples (not yet validated: [`SftConfig::validate`]).
    pub fn config(&self, examples: usize) -> SftConfig {
        let (lr, warmup) = (self.lr, self.warmup);
        SftConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            max_steps: self.max_steps,
            adamw: AdamWConfig {
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            },
            schedule: match self.cosine_min_lr_ratio {
                Some(min_lr_ratio) => LrSchedule::Cosine {
                    lr,
                    warmup,
                    total: self.total_steps(examples),
                    min_lr_ratio,
                },
                None => LrSchedule::Constant { lr, warmup },
            },
            max_grad_norm: self.max_grad_norm,
            seed: self.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SftArgs,
    }

    fn parse(flags: &[&str]) -> SftArgs {
        let argv = ["aha", "--data", "t.jsonl", "--out", "o"];
        let argv = argv.iter().chain(flags).copied();
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    #[test]
    fn defaults() {
        let args = parse(&[]);
        let fields = args.fields();
        assert_eq!(
            (fields.prompt.as_str(), fields.response.as_str()),
            ("prompt", "response")
        );
        assert!(fields.append_eos && !fields.pretrain);
        let cfg = args.config(20);
        assert_eq!((cfg.batch_size, cfg.epochs, cfg.max_steps), (8, 1, None));
        assert!(matches!(cfg.schedule, LrSchedule::Constant { lr, warmup: 0 } if lr == 1e-5));
        assert!(cfg.validate().is_ok());
        assert_eq!(args.total_steps(20), 3);
    }

    #[test]
    fn cosine_spans_the_steps_the_run_takes() {
        let args = parse(&[
            "--epochs",
            "3",
            "--batch-size",
            "4",
            "--cosine-min-lr-ratio",
            "0.1",
        ]);
        assert_eq!(args.total_steps(10), 9);
        assert!(matches!(
            args.config(10).schedule,
            LrSchedule::Cosine { total: 9, .. }
        ));
        let args = parse(&[
            "--epochs",
            "3",
            "--max-steps",
            "5",
            "--cosine-min-lr-ratio",
            "0",
        ]);
        assert!(matches!(
            args.config(80).schedule,
            LrSchedule::Cosine { total: 5, .. }
        ));
        assert!(!parse(&["--no-eos", "--pretrain"]).fields().append_eos);
    }
}
