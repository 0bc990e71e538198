//! Throughput of aha's decoder, printed as JSON lines for `bench/model/run.sh`.
//!
//! `cargo run -p aha-model --example bench -- MODEL.gguf [--kernels PATH]`
//! - prompt tok/s: one forward over a 128-token prompt, single stream (quantized weights);
//! - decode tok/s: 64 new tokens (`AHA_BENCH_NEW` to change), single stream;
//! - batched decode tok/s: 8 and 32 sequences sampled together (aggregate); each decode
//!   figure also per second of main-thread CPU time (`decode_tok_per_cpu_s`, which with one
//!   thread does not depend on how busy the machine is);
//! - `--kernels PATH` picks the CPU path (`auto`, `avx512-vnni`, `avx-vnni`, `avx2`, `portable`,
//!   or `candle` for candle's own quantized matmuls, the "before" of the packed kernel;
//!   `--candle-kernels` is short for the last); rows say which path ran;
//!
//! `AHA_KV_F32=1` keeps the KV cache in f32 and `AHA_NO_HUGE_PAGES=1` the packed weights on the
//! heap (`LoadOptions`), for before/after figures.
//!
//! For profiling one case: `AHA_BENCH_BATCHES=8 AHA_BENCH_NEW=512 AHA_BENCH_REPS=1` (under
//! `perf record`, say) runs just that batch size and length after the prompt figure.
//!
//! The training-step figure comes from `aha-train`'s `update_bench` example (the trainer's own
//! update path), which `bench/model/run.sh` runs too.

use std::path::PathBuf;
use std::time::Instant;

use aha_model::candle_core::{Device, Tensor};
use aha_model::{CpuKernels, KvCache, LoadOptions, Mode, Model, SamplingParams, WeightKind};
use rand::{Rng, SeedableRng};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
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
    let path = PathBuf::from(
        args.get(1)
            .ok_or("usage: bench MODEL.gguf [--kernels PATH]")?,
    );
    let kernels: CpuKernels = if args.iter().any(|a| a == "--candle-kernels") {
        CpuKernels::Candle
    } else {
        match args.iter().position(|a| a == "--kernels") {
            Some(i) => args.get(i + 1).ok_or("--kernels needs a path")?.parse()?,
            None => CpuKernels::Auto,
        }
    };
    let reps: usize = std::env::var("AHA_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    aha_model::tune_allocator();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    decode_bench(&path, kernels, reps, &mut rng)
}

/// Prompt and decode throughput, single stream and batched.
fn decode_bench(
    path: &std::path::Path,
    kernels: CpuKernels,
    reps: usize,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Res<()> {
    let dev = Device::Cpu;
    // The library reads no environment; the bench maps its switches onto load options.
    let options = LoadOptions {
        cpu_kernels: kernels,
        kv_cache_f32: std::env::var_os("AHA_KV_F32").is_some(),
        huge_pages: std::env::var_os("AHA_NO_HUGE_PAGES").is_none(),
        ..LoadOptions::default()
    };
    let model = Model::load_with(path, WeightKind::Quantized, &dev, &options)?;
    let kernels = model.cpu_kernels().name();
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

    // Decode: (new + 1 tokens) − (1 new token) isolates `new` decode steps from the prefill.
    let short = tokens(rng, 16, vocab);
    // AHA_BENCH_NEW=512 decodes that many tokens instead of 64 (attention over a longer cache).
    let new: usize = std::env::var("AHA_BENCH_NEW")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(64);
    // AHA_BENCH_BATCHES=8 (comma-separated) limits the decode figures, e.g. for profiling.
    let batches: Vec<usize> = std::env::var("AHA_BENCH_BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32]);
    for batch in batches {
        let prompts: Vec<Vec<u32>> = (0..batch).map(|_| short.clone()).collect();
        let (mut tg, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t1 = time_generate(&model, &prompts, 1)?;
            let tn = time_generate(&model, &prompts, new + 1)?;
            tg.push((batch * new) as f64 / (tn.0 - t1.0));
            cpu.push((batch * new) as f64 / (tn.1 - t1.1));
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
