//! GRPO and Dr. GRPO from the same base model, through the shared RL run library
//! (`aha_train::run`): the demo only fills in its [`RunConfig`] and shows progress.

use std::collections::BTreeMap;
use std::path::Path;

use aha_data::Problem;
use aha_tokenizer::Tokenizer;
use aha_train::{
    AdamWConfig, AdvantageKind, EvalConfig, LossSettings, LrSchedule, RunConfig, RunEvent,
    RunInputs, RunSummary, SamplesConfig, SamplingConfig,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::RlSpec;
use crate::error::Result;
use crate::grade::KEYWORDS;

/// The shared run library's configuration for one algorithm of the demo.
pub fn run_config(kind: AdvantageKind, spec: &RlSpec, seed: u64, base: &Path) -> RunConfig {
    let mut cfg = RunConfig {
        algorithm: kind,
        steps: spec.steps,
        prompts_per_step: spec.prompts_per_step,
        group_size: spec.group_size,
        // The world's questions are the whole prompt (the base model was pre-trained on them).
        template: "none".into(),
        sampling: SamplingConfig {
            temperature: spec.temperature,
            top_p: 1.0,
            max_tokens: spec.max_tokens,
            stop: None,
        },
        loss: LossSettings {
            clip_eps: spec.clip_eps,
            budget: None,
            beta: 0.0,
        },
        adamw: AdamWConfig::default(),
        lr: LrSchedule::Constant {
            lr: spec.lr,
            warmup: 0,
        },
        max_grad_norm: 1.0,
        mini_batches: spec.mini_batches,
        // The tiny model's whole mini-batch fits easily; one pass keeps the published figures
        // (a micro-batched update is the same up to float summation order).
        micro_batch_size: 0,
        // The tiny model samples fast in f32, and exact rollouts keep the demo's figures
        // independent of the quantized path.
        quantized_rollouts: false,
        // The demo loads every model in the fixed order (`pretrain::load_options`).
        fixed_order_f32: true,
        eval: EvalConfig {
            every: spec.eval_every,
            max_tokens: None,
            batch_size: 128,
        },
        samples: SamplesConfig {
            every: 1,
            per_step: spec.group_size,
        },
        save_every: spec.eval_every,
        keep_checkpoints: 1,
        seed,
        sources: BTreeMap::from([("model".to_string(), base.display().to_string())]),
        ..RunConfig::default()
    };
    cfg.reflection.keywords = KEYWORDS.into();
    cfg
}

/// Runs (or, when `dir` holds an unfinished run, resumes) one RL run from the base weights.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
pub fn run(
    kind: AdvantageKind,
    spec: &RlSpec,
    seed: u64,
    base: &Path,
    tokenizer: &Tokenizer,
    train: &[Problem],
    eval: &[Problem],
    dir: &Path,
    progress: bool,
) -> Result<RunSummary> {
    let cfg = run_config(kind, spec, seed, base);
    let policy = crate::pretrain::load_model(base)?;
    let resume = dir.read_dir().is_ok_and(|mut d| d.next().is_some());
    let name = kind.as_str();
    let bar = if progress {
        let b = ProgressBar::new(spec.steps as u64);
        b.set_style(
            ProgressStyle::with_template(&format!(
                "{name:>8} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} steps {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let summary = aha_train::run(
        RunInputs {
            policy: &policy,
            reference: None,
            tokenizer,
            train,
            eval,
        },
        &cfg,
        dir,
        resume,
        &mut |ev| match ev {
            RunEvent::Start { first_step, .. } => bar.set_position(*first_step as u64),
            RunEvent::Step(line) => {
                bar.set_message(format!(
                    "reward {:.2} len {:.1}",
                    line.trainer.reward_mean, line.trainer.len_mean
                ));
                bar.inc(1);
            }
            _ => {}
        },
    )?;
    bar.finish();
    Ok(summary)
}
