//! Seconds per RL policy step of `aha_train::Trainer::step` on a random-init model of a given
//! shape: 1 prompt × G samples, every completion exactly `--completion-len` tokens (EOS ignored),
//! GRPO, lr 1e-6, beta 0, one optimizer step per rollout batch. `bench/train/run.sh` runs it
//! against TRL's GRPOTrainer on the same shapes and batch. `--model FILE.gguf` trains the real
//! weights of a GGUF file (dequantized to f32) instead, its shape replacing the shape flags.
//!
//! ```text
//! cargo run --release -p aha-train --example rl_step_bench -- \
//!   --arch qwen2 --layers 4 --hidden 256 --intermediate 704 --heads 4 --kv-heads 2 \
//!   --vocab 8192 --completion-len 128 --prompt-len 16 --group 8 --warmup 2 --steps 10
//! ```
//!
//! Prints one JSON line: per-step seconds, their median, the rollout (generation) seconds of
//! each step, completion lengths and the peak RSS (`VmHWM` of /proc/self/status).

use std::collections::HashMap;
use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Arch, Model, ModelConfig, SamplingParams};
use aha_train::{AdamWConfig, AdvantageKind, LossConfig, LrSchedule, Trainer, TrainerConfig};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `--key value` pairs; every key must be one the bench knows.
fn parse_args() -> AnyResult<HashMap<String, String>> {
    const KEYS: [&str; 18] = [
        "model",
        "micro",
        "arch",
        "layers",
        "hidden",
        "intermediate",
        "heads",
        "kv-heads",
        "vocab",
        "completion-len",
        "prompt-len",
        "group",
        "warmup",
        "steps",
        "seed",
        "tie",
        "quantized-rollouts",
        "kernels",
    ];
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k
            .strip_prefix("--")
            .filter(|k| KEYS.contains(k))
            .ok_or_else(|| format!("unknown argument `{k}` (known: --{})", KEYS.join(", --")))?;
        let v = it.next().ok_or_else(|| format!("`{k}` needs a value"))?;
        out.insert(key.to_string(), v);
    }
    Ok(out)
}

fn get<T: std::str::FromStr>(args: &HashMap<String, String>, key: &str, default: T) -> AnyResult<T>
where
    T::Err: std::fmt::Display,
{
    match args.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e| format!("--{key} {v}: {e}").into()),
    }
}

/// Peak resident set size of this process in KiB (Linux `VmHWM`), when readable.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

fn main() -> AnyResult<()> {
    let args = parse_args()?;
    let arch = match args.get("arch").map(String::as_str).unwrap_or("qwen2") {
        "qwen2" => Arch::Qwen2,
        "llama" => Arch::Llama,
        other => return Err(format!("--arch {other}: expected qwen2 or llama").into()),
    };
    let mut cfg = ModelConfig::tiny(arch);
    cfg.num_layers = get(&args, "layers", 4)?;
    cfg.hidden_size = get(&args, "hidden", 256)?;
    cfg.intermediate_size = get(&args, "intermediate", 704)?;
    cfg.num_heads = get(&args, "heads", 4)?;
    cfg.num_kv_heads = get(&args, "kv-heads", 2)?;
    cfg.head_dim = cfg.hidden_size / cfg.num_heads;
    cfg.vocab_size = get(&args, "vocab", 8192)?;
    cfg.sliding_layers = vec![false; cfg.num_layers];
    cfg.tie_word_embeddings = get(&args, "tie", true)?;
    cfg.max_position_embeddings = 4096;
    let completion_len: usize = get(&args, "completion-len", 128)?;
    let prompt_len: usize = get(&args, "prompt-len", 16)?;
    let group: usize = get(&args, "group", 8)?;
    let warmup: usize = get(&args, "warmup", 2)?;
    let steps: usize = get(&args, "steps", 10)?;
    let seed: u64 = get(&args, "seed", 0)?;
    // Rollouts on a Q8_0 copy of the policy (packed kernels), as `aha train` samples; 0 samples
    // on the f32 weights.
    let quantized_rollouts = get::<u8>(&args, "quantized-rollouts", 1)? != 0;
    let kernels: aha_model::CpuKernels = get(&args, "kernels", aha_model::CpuKernels::Auto)?;
    let kernels_name = if quantized_rollouts {
        kernels.resolve()?.name()
    } else {
        "f32"
    };

    aha_model::tune_allocator();
    // `--model FILE.gguf`: the real weights (dequantized to f32, trainable) instead of a random
    // init of the shape flags; the shape then comes from the file.
    let model = match args.get("model") {
        Some(path) => {
            let m = Model::load(path.as_ref(), aha_model::WeightKind::F32, &Device::Cpu)?;
            cfg = m.config().clone();
            m
        }
        None => Model::tiny(&cfg, seed, &Device::Cpu)?,
    };
    let weights = args.get("model").map_or("random", |_| "file");
    let params: usize = model.vars().iter().map(|v| v.elem_count()).sum();
    let trainer_cfg = TrainerConfig {
        group_size: group,
        sampling: SamplingParams {
            max_new_tokens: completion_len,
            temperature: 1.0,
            top_p: 1.0,
            seed,
            // Fixed lengths: the worst case, and the same work on both sides of the comparison.
            ignore_eos: true,
            ..SamplingParams::default()
        },
        loss: LossConfig::new(AdvantageKind::Grpo, completion_len),
        adamw: AdamWConfig::default(),
        schedule: LrSchedule::Constant {
            lr: 1e-6,
            warmup: 0,
        },
        max_grad_norm: 1.0,
        mini_batches: 1,
        // `--micro N`: score and back-propagate N responses at a time (the same update in less
        // memory; 0 = the whole batch at once).
        micro_batch_size: get(&args, "micro", 0)?,
        quantized_rollouts,
        rollout_kernels: kernels,
    };
    let mut trainer = Trainer::new(&model, None, trainer_cfg)?;
    // Token ids 3.. avoid the tiny config's BOS (1) and EOS (2).
    let prompt: Vec<u32> = (0..prompt_len)
        .map(|i| 3 + (i as u32 * 7919) % (cfg.vocab_size as u32 - 3))
        .collect();
    let prompts = vec![prompt];
    // A reward that differs within the group, so advantages and gradients are non-zero.
    // The first reward call of a step marks the end of its rollout (rewards are computed after
    // the whole batch is sampled), which splits the step into rollout and update seconds.
    let rollout_end = std::cell::Cell::new(None::<Instant>);
    let mut reward = |_: usize, c: &aha_model::Completion| {
        if rollout_end.get().is_none() {
            rollout_end.set(Some(Instant::now()));
        }
        f64::from(c.tokens.iter().filter(|t| *t % 2 == 0).count() as u32) / c.tokens.len() as f64
    };

    let mut step_s = Vec::new();
    let mut rollout_s = Vec::new();
    let mut rollout_kl = Vec::new();
    for i in 0..warmup + steps {
        let t = Instant::now();
        rollout_end.set(None);
        let out = trainer.step(&prompts, &mut reward)?;
        let dt = t.elapsed().as_secs_f64();
        let gen_s = rollout_end
            .get()
            .map_or(f64::NAN, |e| (e - t).as_secs_f64());
        if out
            .rollouts
            .iter()
            .any(|r| r.completion.tokens.len() != completion_len)
        {
            return Err("a completion did not run to the full length".into());
        }
        if !out.metrics.loss.is_finite() {
            return Err(format!("step {i}: non-finite loss {}", out.metrics.loss).into());
        }
        eprintln!(
            "aha step {i}{}: {dt:.3} s (rollout {gen_s:.3} s), loss {:.5}, grad norm {:.4}, rollout KL {:?}",
            if i < warmup { " (warm-up)" } else { "" },
            out.metrics.loss,
            out.metrics.grad_norm,
            out.metrics.rollout_kl
        );
        rollout_kl.extend(out.metrics.rollout_kl);
        if i >= warmup {
            step_s.push(dt);
            rollout_s.push(gen_s);
        }
    }
    let line = serde_json::json!({
        "schema_version": 1,
        "system": "aha",
        "params": params,
        "config": {
            "arch": format!("{:?}", cfg.arch).to_lowercase(),
            "layers": cfg.num_layers, "hidden": cfg.hidden_size,
            "intermediate": cfg.intermediate_size, "heads": cfg.num_heads,
            "kv_heads": cfg.num_kv_heads, "vocab": cfg.vocab_size,
            "tie_word_embeddings": cfg.tie_word_embeddings,
        },
        "weights": weights,
        "micro_batch": get(&args, "micro", 0usize)?,
        "group": group,
        "prompt_len": prompt_len,
        "completion_len": completion_len,
        "warmup": warmup,
        "rollout_kernels": kernels_name,
        "rollout_kl": rollout_kl,
        "step_s": step_s,
        "rollout_s": rollout_s,
        "median_step_s": median(&step_s),
        "peak_rss_kib": peak_rss_kib(),
        "threads": std::env::var("RAYON_NUM_THREADS").ok(),
    });
    println!("{line}");
    Ok(())
}
