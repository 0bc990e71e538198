//! Throughput of aha's decoder, printed as JSON lines for `bench/model/run.sh`.
//!
//! `cargo run -p aha-model --example bench -- MODEL.gguf [--train] [--candle-kernels]`
//! - prompt tok/s: one forward over a 128-token prompt, single stream (quantized weights);
//! - decode tok/s: 64 new tokens, single stream;
//! - batched decode tok/s: 8 and 32 sequences sampled together (aggregate); each decode
//!   figure also per second of main-thread CPU time (`decode_tok_per_cpu_s`, which with one
//!   thread does not depend on how busy the machine is);
//! - with `--candle-kernels`: candle's own quantized matmuls instead of aha's packed kernel
//!   (the "before" of the packed kernel, for same-run comparisons); rows say which kernels ran;
//! - with `--train`: seconds per GRPO-style step on f32 weights (batch 8 × 256 tokens:
//!   forward, backward, AdamW) and the process's peak RSS.

use std::path::PathBuf;
use std::time::Instant;

use aha_model::candle_core::{Device, Tensor};
use aha_model::candle_nn::{AdamW, Optimizer, ParamsAdamW};
use aha_model::{KvCache, Mode, Model, SamplingParams, WeightKind};
use rand::{Rng, SeedableRng};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Random in-vocabulary token ids (ids below 1000 avoid special tokens in both models).
fn tokens(rng: &mut impl Rng, n: usize, vocab: usize) -> Vec<u32> {
    (0..n)
        .map(|_| rng.random_range(1000..vocab.min(30_000)) as u32)
        .collect()
}

/// Seconds the calling thread has spent on a CPU (Linux `schedstat`). With one thread
/// (`RAYON_NUM_THREADS=1`) this is the whole computation, and unlike wall time it barely moves
/// when other processes compete for the cores.
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

/// Wall and calling-thread CPU seconds of one `generate`.
fn time_generate(model: &Model, prompts: &[Vec<u32>], new: usize) -> Res<(f64, f64)> {
    let params = SamplingParams {
        max_new_tokens: new,
        temperature: 1.0,
        seed: 1,
        ignore_eos: true,
        ..Default::default()
    };
    let (t, c) = (Instant::now(), thread_cpu_s());
    let out = model.generate(prompts, &params, None, &mut |_, _| {})?;
    let s = (t.elapsed().as_secs_f64(), thread_cpu_s() - c);
    assert!(out.iter().all(|c| c.tokens.len() == new));
    Ok(s)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = PathBuf::from(args.get(1).ok_or("usage: bench MODEL.gguf [--train]")?);
    let train_only = args.iter().any(|a| a == "--train-only");
    let train = train_only || args.iter().any(|a| a == "--train");
    aha_model::set_packed_kernel(!args.iter().any(|a| a == "--candle-kernels"));
    let kernels = if aha_model::packed_kernel_active() {
        "aha"
    } else {
        "candle"
    };
    let reps: usize = std::env::var("AHA_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    if !train_only {
        decode_bench(&path, kernels, reps, &mut rng)?;
    }
    if train {
        train_bench(&path, reps, &mut rng)?;
    }
    Ok(())
}

/// Prompt and decode throughput, single stream and batched.
fn decode_bench(
    path: &std::path::Path,
    kernels: &str,
    reps: usize,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Res<()> {
    let dev = Device::Cpu;
    let model = Model::load(path, WeightKind::Quantized, &dev)?;
    let vocab = model.config().vocab_size;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    // Prompt processing: 128 tokens in one forward (as llama-bench -p 128).
    let prompt = tokens(rng, 128, vocab);
    let mut pp = Vec::new();
    for _ in 0..reps + 1 {
        let ids = Tensor::from_vec(prompt.clone(), (1, 128), &dev)?;
        let pos: Vec<i64> = (0..128).collect();
        let mut cache = KvCache::new(model.config().num_layers, 128);
        let t = Instant::now();
        let h = model.forward_hidden(&ids, &pos, Some(&mut cache), Mode::Infer)?;
        let _ = model.logits(&h.narrow(1, 127, 1)?)?;
        pp.push(128.0 / t.elapsed().as_secs_f64());
    }
    pp.remove(0); // warm-up
    println!(
        r#"{{"model":"{name}","kernels":"{kernels}","metric":"prompt_tok_s","batch":1,"value":{:.2}}}"#,
        median(pp)
    );

    // Decode: (64 + 1 new tokens) − (1 new token) isolates 64 decode steps from the prefill.
    let short = tokens(rng, 16, vocab);
    for batch in [1usize, 8, 32] {
        let prompts: Vec<Vec<u32>> = (0..batch).map(|_| short.clone()).collect();
        let (mut tg, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t1 = time_generate(&model, &prompts, 1)?;
            let t65 = time_generate(&model, &prompts, 65)?;
            tg.push((batch * 64) as f64 / (t65.0 - t1.0));
            cpu.push((batch * 64) as f64 / (t65.1 - t1.1));
        }
        println!(
            r#"{{"model":"{name}","kernels":"{kernels}","metric":"decode_tok_s","batch":{batch},"value":{:.2}}}"#,
            median(tg)
        );
        // Per second of the main thread's CPU time: the contention-proof figure when the
        // bench runs on one thread.
        println!(
            r#"{{"model":"{name}","kernels":"{kernels}","metric":"decode_tok_per_cpu_s","batch":{batch},"value":{:.2}}}"#,
            median(cpu)
        );
    }
    Ok(())
}

/// Seconds per GRPO-style step on f32 weights.
fn train_bench(path: &std::path::Path, reps: usize, rng: &mut rand_chacha::ChaCha20Rng) -> Res<()> {
    let dev = Device::Cpu;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    {
        let model = Model::load(path, WeightKind::F32, &dev)?;
        let vocab = model.config().vocab_size;
        let mut opt = AdamW::new(
            model.vars(),
            ParamsAdamW {
                lr: 1e-6,
                ..Default::default()
            },
        )?;
        let (batch, prompt_len, resp_len) = (8usize, 64usize, 192usize);
        for step in 0..reps {
            let prompts: Vec<Vec<u32>> =
                (0..batch).map(|_| tokens(rng, prompt_len, vocab)).collect();
            let resps: Vec<Vec<u32>> = (0..batch).map(|_| tokens(rng, resp_len, vocab)).collect();
            let adv: Vec<f32> = (0..batch)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect();
            let pairs: Vec<(&[u32], &[u32])> = prompts
                .iter()
                .zip(&resps)
                .map(|(p, r)| (p.as_slice(), r.as_slice()))
                .collect();
            let t = Instant::now();
            let scores = model.score(&pairs, 1.0, Mode::Train)?;
            let adv = Tensor::from_vec(adv, (batch, 1), &dev)?;
            // GRPO surrogate at ratio 1: −Σ(A·log p·mask)/Σmask.
            let loss = (scores.logprobs.broadcast_mul(&adv)?.sum_all()?
                / scores.mask.sum_all()?.to_scalar::<f32>()? as f64)?
                .neg()?;
            let fwd = t.elapsed().as_secs_f64();
            let grads = loss.backward()?;
            let bwd = t.elapsed().as_secs_f64() - fwd;
            opt.step(&grads)?;
            let total = t.elapsed().as_secs_f64();
            println!(
                r#"{{"model":"{name}","metric":"train_step_s","batch":{batch},"tokens":{},"step":{step},"value":{total:.3},"forward_s":{fwd:.3},"backward_s":{bwd:.3},"adamw_s":{:.3},"peak_rss_mib":{:.0}}}"#,
                prompt_len + resp_len,
                total - fwd - bwd,
                peak_rss_mib()
            );
        }
    }
    Ok(())
}
