//! Decode throughput of one batch size, for profiling (`perf record`) and quick A/B checks.
//!
//! `cargo run -p aha-model --example decode -- MODEL.gguf BATCH [NEW_TOKENS] [REPS]`
//! prints one JSON line per repetition with the aggregate decode tok/s (prefill excluded by
//! timing 1 and NEW+1 tokens).

use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Model, SamplingParams, WeightKind};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Nanoseconds the calling thread has spent on a CPU (Linux `schedstat`); with
/// `RAYON_NUM_THREADS=1` this is the whole computation, and unlike wall time it hardly moves
/// when other processes compete for the cores.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn run(model: &Model, prompts: &[Vec<u32>], new: usize) -> Res<(f64, f64)> {
    let params = SamplingParams {
        max_new_tokens: new,
        temperature: 1.0,
        seed: 1,
        ignore_eos: true,
        ..Default::default()
    };
    let (t, c) = (Instant::now(), cpu_s());
    model.generate(prompts, &params, None, &mut |_, _| {})?;
    Ok((t.elapsed().as_secs_f64(), cpu_s() - c))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: decode MODEL.gguf BATCH [NEW_TOKENS] [REPS]";
    let path = args.get(1).ok_or(usage)?;
    let batch: usize = args.get(2).ok_or(usage)?.parse()?;
    let new: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let reps: usize = args.get(4).map_or(Ok(3), |s| s.parse())?;
    // AHA_PACKED=0: candle's own quantized kernels, for A/B runs.
    aha_model::set_packed_kernel(std::env::var("AHA_PACKED").as_deref() != Ok("0"));
    let model = Model::load(path.as_ref(), WeightKind::Quantized, &Device::Cpu)?;
    let prompt: Vec<u32> = (0..16).map(|i| 1000 + 37 * i).collect();
    let prompts: Vec<Vec<u32>> = (0..batch).map(|_| prompt.clone()).collect();
    for _ in 0..reps {
        let t1 = run(&model, &prompts, 1)?;
        let tn = run(&model, &prompts, new + 1)?;
        let tokens = (batch * new) as f64;
        println!(
            r#"{{"batch":{batch},"new":{new},"packed":{},"decode_tok_s":{:.2},"main_thread_cpu_tok_s":{:.2}}}"#,
            aha_model::packed_kernel_active(),
            tokens / (tn.0 - t1.0),
            tokens / (tn.1 - t1.1)
        );
    }
    Ok(())
}
