//! Load generator for the reward service (used by `bench/serve/run.sh`).
//!
//! Opens `--connections` keep-alive HTTP/1.1 connections and sends OpenRLHF `/get_reward`
//! requests back to back for `--duration-s` seconds, each with `--batch` samples of realistic
//! Qwen-style math responses (a third of them wrong, some with reflection keywords, golds in a
//! different but equal form). Prints requests/s, samples/s and latency percentiles, and checks
//! the rewards of every 50th reply against the expected ones.
//!
//! ```sh
//! cargo run --release -p aha-reward-server --example loadgen -- --url http://127.0.0.1:5000 --batch 1
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    url: String,
    /// Path to POST to.
    #[arg(long, default_value = "/get_reward")]
    path: String,
    /// Samples per request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Warm-up seconds, not measured.
    #[arg(long, default_value_t = 1.0)]
    warmup_s: f64,
    /// Client threads (keep low: the server shares the machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Label of this run in the output (e.g. `aha` or `peer`).
    #[arg(long, default_value = "aha")]
    label: String,
    /// Identifier of the benchmark run, copied into the JSON line (to pair aha with the peer).
    #[arg(long, default_value = "")]
    run_id: String,
    /// Append a JSON line with the figures to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Questions with their gold answer, a correct answer in another form, and a wrong answer.
const ITEMS: &[(&str, &str, &str, &str)] = &[
    ("What is $\\frac{3}{4}$ of 12?", "9", "9", "8"),
    (
        "Simplify $\\frac{6}{8}$.",
        "\\frac{3}{4}",
        "0.75",
        "\\frac{2}{3}",
    ),
    ("Solve $x^2 = 2$ for $x > 0$.", "\\sqrt{2}", "\\sqrt2", "2"),
    ("What is $2^{10}$?", "1024", "1024", "1000"),
    (
        "Find $\\frac{1}{\\sqrt{2}}$ rationalised.",
        "\\frac{\\sqrt{2}}{2}",
        "\\frac{\\sqrt2}{2}",
        "\\sqrt{2}",
    ),
    (
        "How many degrees are in a right angle?",
        "90",
        "90^\\circ",
        "180",
    ),
    ("What is $0.5 + 0.25$?", "\\frac{3}{4}", "0.75", "0.7"),
    ("Evaluate $(1+2)\\cdot 3$.", "9", "9.0", "6"),
];

/// One sample: (prompt, query, label, expected reward).
fn sample(k: usize) -> (String, String, String, f64) {
    let (q, gold, right, wrong) = ITEMS[k % ITEMS.len()];
    let correct = !k.is_multiple_of(3);
    let answer = if correct { right } else { wrong };
    let reflect = if k.is_multiple_of(4) {
        " Wait, let me double-check the arithmetic once more before answering."
    } else {
        ""
    };
    let prompt = format!(
        "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{{}}.<|im_end|>\n<|im_start|>user\n{q} (variant {k})<|im_end|>\n<|im_start|>assistant\n"
    );
    let response = format!(
        "We start from the definitions given in the problem and work through it carefully. \
         First we write down what is known, then we compute each intermediate quantity and \
         keep track of units and signs.{reflect} Putting the pieces together gives the result, \
         so the final answer is $\\boxed{{{answer}}}$.<|im_end|><|endoftext|>"
    );
    (
        prompt.clone(),
        format!("{prompt}{response}"),
        gold.to_string(),
        if correct { 1.0 } else { 0.0 },
    )
}

struct Body {
    bytes: Bytes,
    rewards: Vec<f64>,
}

fn bodies(batch: usize) -> Result<Vec<Body>> {
    (0..256)
        .map(|b| {
            let samples: Vec<_> = (0..batch).map(|i| sample(b * batch + i)).collect();
            let body = json!({
                "query": samples.iter().map(|s| &s.1).collect::<Vec<_>>(),
                "prompts": samples.iter().map(|s| &s.0).collect::<Vec<_>>(),
                "labels": samples.iter().map(|s| &s.2).collect::<Vec<_>>(),
            });
            Ok(Body {
                bytes: Bytes::from(serde_json::to_vec(&body)?),
                rewards: samples.iter().map(|s| s.3).collect(),
            })
        })
        .collect()
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    errors: AtomicU64,
}

async fn connection(
    addr: SocketAddr,
    path: Arc<str>,
    bodies: Arc<Vec<Body>>,
    offset: usize,
    measure_from: Instant,
    stop_at: Instant,
    counts: Arc<Counts>,
) -> Result<Vec<u32>> {
    let mut latencies = Vec::new();
    let mut n = offset;
    'reconnect: while Instant::now() < stop_at {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        while Instant::now() < stop_at {
            let body = &bodies[n % bodies.len()];
            n += 1;
            let req = hyper::Request::post(&*path)
                .header("host", addr.to_string())
                .header("content-type", "application/json")
                .body(Full::new(body.bytes.clone()))?;
            let start = Instant::now();
            let result = async {
                sender.ready().await?;
                let resp = sender.send_request(req).await?;
                let status = resp.status();
                let bytes = resp.into_body().collect().await?.to_bytes();
                Ok::<_, anyhow::Error>((status, bytes))
            }
            .await;
            let elapsed = start.elapsed();
            match result {
                Ok((status, bytes)) if status.is_success() => {
                    if n.is_multiple_of(50) {
                        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
                        if v["rewards"] != json!(body.rewards) {
                            bail!("wrong rewards {} for {:?}", v["rewards"], body.rewards);
                        }
                    }
                    if start >= measure_from {
                        counts.ok.fetch_add(1, Ordering::Relaxed);
                        latencies.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                    }
                }
                _ => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    continue 'reconnect;
                }
            }
        }
    }
    Ok(latencies)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[idx]) / 1000.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    let hostport = args
        .url
        .strip_prefix("http://")
        .context("--url must start with http://")?
        .trim_end_matches('/');
    let addr: SocketAddr = hostport.parse().context("--url must be http://IP:PORT")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let bodies = Arc::new(bodies(args.batch)?);
    let counts = Arc::new(Counts::default());
    let path: Arc<str> = Arc::from(args.path.as_str());
    let measured = Duration::from_secs_f64(args.duration_s);
    let (latencies, secs) = runtime.block_on(async {
        let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup_s);
        let stop_at = measure_from + measured;
        let bar = indicatif::ProgressBar::new(measured.as_secs());
        bar.set_style(indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} s",
        )?);
        bar.set_message(format!("{} batch={}", args.label, args.batch));
        let ticker = {
            let bar = bar.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(measure_from.into()).await;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    bar.inc(1);
                }
            })
        };
        let tasks: Vec<_> = (0..args.connections)
            .map(|c| {
                tokio::spawn(connection(
                    addr,
                    path.clone(),
                    bodies.clone(),
                    c * 7,
                    measure_from,
                    stop_at,
                    counts.clone(),
                ))
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        ticker.abort();
        bar.finish_and_clear();
        let secs = measured.as_secs_f64();
        Ok::<_, anyhow::Error>((all, secs))
    })?;
    let mut sorted = latencies;
    sorted.sort_unstable();
    let ok = counts.ok.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    let rps = ok as f64 / secs;
    let (p50, p90, p99) = (
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.90),
        percentile(&sorted, 0.99),
    );
    let max = sorted.last().map_or(f64::NAN, |m| f64::from(*m) / 1000.0);
    println!(
        "{:<6} batch={:<3} conns={:<4} {:>9.0} req/s {:>10.0} samples/s  p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms  errors {}",
        args.label,
        args.batch,
        args.connections,
        rps,
        rps * args.batch as f64,
        p50,
        p90,
        p99,
        max,
        errors
    );
    if let Some(out) = &args.out {
        let line = json!({
            "schema_version": 1, "run_id": args.run_id, "label": args.label, "path": args.path, "batch": args.batch,
            "connections": args.connections, "duration_s": secs, "requests": ok, "errors": errors,
            "req_per_s": rps, "samples_per_s": rps * args.batch as f64,
            "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)?;
        writeln!(f, "{line}")?;
    }
    if errors > 0 {
        eprintln!("loadgen: {errors} failed requests");
    }
    Ok(())
}
