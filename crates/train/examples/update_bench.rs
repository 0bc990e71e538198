//! Seconds per GRPO update on a real model, through `aha_train::Trainer::learn` (the path of
//! `aha train`): score with gradients → GRPO loss → backward → grad-norm clip → AdamW.
//!
//! ```text
//! cargo run --release -p aha-train --example update_bench -- MODEL.gguf [--micro N] [--steps N]
//! ```
//! Batch 8 × (64 prompt + 192 response) random tokens, advantages ±1, one mini-batch, lr 1e-6.
//! `--micro N` accumulates gradients over micro-batches of N responses (0 = all 8 at once);
//! `--fixed-order-f32` runs every f32 product in aha's fixed order (`LoadOptions`) instead of gemm.
//! Prints one JSON line per step: seconds, and the process's peak RSS so far (`VmHWM`).
//! `bench/model/run.sh` runs it for SmolLM2 (the issue's training figure).

use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{LoadOptions, Model, SamplingParams, WeightKind};
use aha_train::{AdamWConfig, AdvantageKind, LossConfig, LrSchedule, Trainer, TrainerConfig};
use rand::{Rng, SeedableRng};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn flag(args: &[String], name: &str, default: usize) -> AnyResult<usize> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
    }
}

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: update_bench MODEL.gguf [--micro N] [--steps N] [--fixed-order-f32]")?;
    let micro = flag(&args, "--micro", 0)?;
    let steps = flag(&args, "--steps", 3)?;
    aha_model::tune_allocator();
    let options = LoadOptions {
        fixed_order_f32: args.iter().any(|a| a == "--fixed-order-f32"),
        ..LoadOptions::default()
    };
    let model = Model::load_with(path.as_ref(), WeightKind::F32, &Device::Cpu, &options)?;
    let vocab = model.config().vocab_size;
    let name = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (batch, prompt_len, resp_len) = (8usize, 64usize, 192usize);
    let cfg = TrainerConfig {
        group_size: batch,
        sampling: SamplingParams::default(),
        loss: LossConfig::new(AdvantageKind::Grpo, resp_len),
        adamw: AdamWConfig::default(),
        schedule: LrSchedule::Constant {
            lr: 1e-6,
            warmup: 0,
        },
        max_grad_norm: 1.0,
        mini_batches: 1,
        micro_batch_size: micro,
        quantized_rollouts: false,
        rollout_kernels: aha_model::CpuKernels::Auto,
    };
    let mut trainer = Trainer::new(&model, None, cfg)?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    // Ids 1000..30000 avoid special tokens.
    let mut tokens = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| rng.random_range(1000..vocab.min(30_000)) as u32)
            .collect()
    };
    for step in 0..steps {
        let prompts: Vec<Vec<u32>> = (0..batch).map(|_| tokens(prompt_len)).collect();
        let resps: Vec<Vec<u32>> = (0..batch).map(|_| tokens(resp_len)).collect();
        let pairs: Vec<(&[u32], &[u32])> = prompts
            .iter()
            .zip(&resps)
            .map(|(p, r)| (p.as_slice(), r.as_slice()))
            .collect();
        let adv: Vec<f64> = (0..batch)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let t = Instant::now();
        let out = trainer.learn(&pairs, &adv, 1.0)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            r#"{{"model":"{name}","metric":"train_step_s","batch":{batch},"tokens":{},"micro_batch":{micro},"fixed_order_f32":{},"step":{step},"value":{secs:.3},"grad_norm":{:.4},"peak_rss_mib":{:.0}}}"#,
            prompt_len + resp_len,
            options.fixed_order_f32,
            out.grad_norm,
            peak_rss_mib()
        );
    }
    Ok(())
}
