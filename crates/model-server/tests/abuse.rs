//! `aha serve-model`'s server under abuse, on 127.0.0.1: more idle and trickling connections
//! than the process has file descriptors, oversized headers, bodies announced larger than sent,
//! pipelined garbage, clients that disconnect mid-request and clients that connect and close as
//! fast as they can. During each attack a well-behaved client keeps sending seeded completion
//! requests on fresh connections; every one must get the same text as before the attack within
//! its latency bound. Each test prints that client's p50/p99.
//!
//! The server runs in a child process (this test binary re-run as `child_server`) with
//! `ulimit -n 1024`, the common default, so the attacks can exhaust its descriptors and not the
//! test's. The model is a tiny random Qwen2 over the tiny tokenizer fixture, built by the child.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aha_model::candle_core::Device;
use aha_model::{Arch, Model, ModelConfig};
use aha_model_server::{Config, Limits};
use aha_sample::EmbeddedSampler;
use aha_tokenizer::Tokenizer;
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The child's descriptor limit.
const NOFILE: u32 = 1024;
/// The well-behaved client's latency bound per request (connect + sample 8 tokens + answer),
/// generous for a loaded 2-core machine; typical figures are printed.
const BOUND: Duration = Duration::from_secs(2);
/// How long each attack lasts at least.
const ATTACK: Duration = Duration::from_secs(4);
/// The served model's name.
const NAME: &str = "tiny";

/// Runs the server when this binary is started as the child (`AHA_ABUSE_CHILD` set); a no-op
/// test otherwise. Configuration: `AHA_ABUSE_CHILD=max_connections,header_ms,body_ms`.
#[test]
fn child_server() -> Result<()> {
    let Ok(spec) = std::env::var("AHA_ABUSE_CHILD") else {
        return Ok(());
    };
    let n: Vec<u64> = spec
        .split(',')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?;
    let [max_connections, header_ms, body_ms] = n[..] else {
        bail!("AHA_ABUSE_CHILD={spec}");
    };
    let config = Config {
        max_tokens: 8,
        max_n: 4,
        limits: Limits {
            max_connections: max_connections as usize,
            header_timeout: Duration::from_millis(header_ms),
            body_timeout: Duration::from_millis(body_ms),
            ..Limits::default()
        },
        ..Config::new(NAME)
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenizer/tests/fixtures/tiny-hf");
    let tok = Tokenizer::from_tokenizer_json(&fixture.join("tokenizer.json"))?;
    let cfg = ModelConfig {
        vocab_size: tok.vocab_size(),
        eos_token_ids: tok.eos_ids().to_vec(),
        ..ModelConfig::tiny(Arch::Qwen2)
    };
    let model = Model::tiny(&cfg, 5, &Device::Cpu)?;
    let sampler = EmbeddedSampler::new(model, tok, NAME);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("AHA_ABUSE_ADDR={}", listener.local_addr()?);
        // Ends when the parent closes our stdin (or dies).
        let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 1];
            let _ = std::io::stdin().read(&mut buf);
            let _ = gone_tx.send(());
        });
        let parent_gone = async {
            let _ = gone_rx.await;
        };
        aha_model_server::serve(sampler, config, listener, parent_gone).await?;
        Ok(())
    })
}

/// The server child; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(max_connections: usize, header_ms: u64, body_ms: u64) -> Result<Server> {
    use std::io::BufRead;
    let exe = std::env::current_exe()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
        .env(
            "AHA_ABUSE_CHILD",
            format!("{max_connections},{header_ms},{body_ms}"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            bail!("the server child exited before announcing its address");
        };
        // The test harness prints `test child_server ... ` on the same line first.
        let line = line?;
        if let Some((_, a)) = line.split_once("AHA_ABUSE_ADDR=") {
            break a.trim().parse()?;
        }
    };
    // Keep draining the child's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok(Server { child, addr })
}

/// An HTTP/1.1 answer: status and body.
struct Answer {
    status: u16,
    body: String,
}

/// One request with `connection: close` on a fresh connection; reads the whole answer.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<Answer> {
    let mut s = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").context("no end of head")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line in {head:.100}"))?;
    Ok(Answer {
        status,
        body: body.to_string(),
    })
}

/// The well-behaved request: a seeded completion, so its text is the same every time.
fn good_body() -> Vec<u8> {
    json!({"model": NAME, "prompt": "What is 1 + 1?", "max_tokens": 8, "seed": 7})
        .to_string()
        .into_bytes()
}

/// One well-behaved request: its text must be `expected`.
async fn good_request(addr: SocketAddr, expected: &str) -> Result<Duration> {
    let start = Instant::now();
    let r = request(addr, "POST", "/v1/completions", &good_body()).await?;
    ensure!(r.status == 200, "status {}: {}", r.status, r.body);
    let v: Value = serde_json::from_str(&r.body)?;
    let text = v["choices"][0]["text"].as_str().context("no text")?;
    ensure!(text == expected, "{text:?} != {expected:?}");
    Ok(start.elapsed())
}

/// The text of the well-behaved request on a quiet server.
async fn reference(addr: SocketAddr) -> Result<String> {
    let r = request(addr, "POST", "/v1/completions", &good_body()).await?;
    ensure!(r.status == 200, "status {}: {}", r.status, r.body);
    let v: Value = serde_json::from_str(&r.body)?;
    let text = v["choices"][0]["text"].as_str().context("no text")?;
    Ok(text.to_string())
}

/// Sends well-behaved requests back to back until `stop`; every one must succeed within
/// [`BOUND`]. Returns the latencies.
async fn good_client(
    addr: SocketAddr,
    expected: String,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Duration>> {
    let mut took = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = tokio::time::timeout(BOUND, good_request(addr, &expected))
            .await
            .with_context(|| format!("request {} took over {BOUND:?}", took.len()))??;
        took.push(t);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(took)
}

/// Runs `attack` again and again for at least [`ATTACK`] while the good client runs; checks and
/// prints the good client's latencies.
async fn under_attack<F, Fut>(name: &str, addr: SocketAddr, mut attack: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    // The server works before the attack.
    let expected = reference(addr).await?;
    good_request(addr, &expected).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn(good_client(addr, expected.clone(), stop.clone()));
    let start = Instant::now();
    let attacked = async {
        while start.elapsed() < ATTACK {
            attack().await?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut took = client.await??;
    attacked?;
    ensure!(took.len() >= 5, "only {} good requests", took.len());
    took.sort();
    let pct = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
    println!(
        "abuse {name}: well-behaved client {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        took[took.len() - 1].as_secs_f64() * 1e3,
    );
    // And after it.
    good_request(addr, &expected).await?;
    Ok(())
}

/// Opens `n` connections: even ones stay silent, odd ones trickle a request head one byte every
/// 200 ms; holds them for `hold`, reopening any the server closes.
async fn slowloris(addr: SocketAddr, n: usize, hold: Duration) -> Result<usize> {
    let until = Instant::now() + hold;
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(tokio::spawn(async move {
            let mut reopened = 0usize;
            while Instant::now() < until {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let head = b"POST /v1/completions HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                let mut k = 0;
                loop {
                    if Instant::now() >= until {
                        break;
                    }
                    let wrote = if i % 2 == 1 && k < head.len() {
                        k += 1;
                        s.write_all(&head[k - 1..k]).await.is_ok()
                    } else {
                        true
                    };
                    // A closed connection reads 0 (or fails): reopen it.
                    let mut buf = [0u8; 256];
                    let closed = matches!(
                        tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await,
                        Ok(Ok(0) | Err(_))
                    );
                    if !wrote || closed {
                        reopened += 1;
                        // slowloris.py reopens closed sockets once per cycle, not at once.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
            reopened
        }));
    }
    let mut reopened = 0;
    for t in tasks {
        reopened += t.await?;
    }
    Ok(reopened)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_beyond_the_descriptor_limit() -> Result<()> {
    // The default connection limit, under the descriptor limit: eviction at the limit.
    let server = spawn(Limits::default().max_connections, 30_000, 60_000)?;
    under_attack("slowloris 1100 conns (limit 512)", server.addr, || async {
        let reopened = slowloris(server.addr, 1100, Duration::from_secs(8)).await?;
        println!("slowloris: {reopened} attacker connections were closed by the server");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_with_a_limit_above_the_descriptors() -> Result<()> {
    // A limit the descriptors run out before: the accept loop's EMFILE path must evict too.
    let server = spawn(4096, 30_000, 60_000)?;
    under_attack(
        "slowloris 1100 conns (limit 4096 > nofile)",
        server.addr,
        || async {
            slowloris(server.addr, 1100, Duration::from_secs(8)).await?;
            Ok(())
        },
    )
    .await
}

/// Sends `bytes` on a fresh connection and returns what the server answered before closing
/// (or within `wait`).
async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    // The server may close before taking everything: that is an answer too.
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() -> Result<()> {
    let server = spawn(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack("oversized headers", addr, || async move {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            tasks.push(tokio::spawn(async move {
                let big = "a".repeat(200 * 1024);
                let req = format!("GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
                raw(addr, req.as_bytes(), Duration::from_secs(3)).await
            }));
        }
        for t in tasks {
            let answer = t.await??;
            ensure!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
                "{answer:.200}"
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_announced_larger_than_sent_get_408() -> Result<()> {
    let server = spawn(512, 5_000, 1_000)?;
    let addr = server.addr;
    under_attack("short bodies", addr, || async move {
        let mut tasks = Vec::new();
        for _ in 0..300 {
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let req = b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"model\": ";
                let answer = raw(addr, req, Duration::from_secs(5)).await?;
                Ok::<_, anyhow::Error>((answer, start.elapsed()))
            }));
        }
        for t in tasks {
            let (answer, took) = t.await??;
            ensure!(answer.starts_with("HTTP/1.1 408"), "{answer:.300}");
            ensure!(answer.contains("did not arrive within"), "{answer:.300}");
            ensure!(took < Duration::from_secs(4), "408 after {took:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_announced_over_the_limit_get_413_at_once() -> Result<()> {
    let server = spawn(512, 5_000, 60_000)?;
    let big = Limits::default().max_body_bytes + 1;
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {big}\r\n\r\n{{"
    );
    let start = Instant::now();
    let answer = raw(server.addr, req.as_bytes(), Duration::from_secs(5)).await?;
    ensure!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    // Answered from the head, without waiting for the (never sent) body.
    ensure!(start.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_garbage_is_answered_400_and_closed() -> Result<()> {
    let server = spawn(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack("pipelined garbage", addr, || async move {
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            tasks.push(tokio::spawn(async move {
                let mut req = b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n".to_vec();
                // Then bytes that are no HTTP at all (deterministic per connection).
                let mut x = i.wrapping_mul(2_654_435_761).wrapping_add(1);
                for _ in 0..4096 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    req.push((x & 0xff) as u8);
                }
                raw(addr, &req, Duration::from_secs(5)).await
            }));
        }
        for t in tasks {
            let answer = t.await??;
            ensure!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
            // hyper answers the garbage with 400 (or just closes), never a second 200.
            ensure!(answer.matches("HTTP/1.1 200").count() == 1, "{answer:.600}");
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_disconnecting_mid_request() -> Result<()> {
    let server = spawn(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack("disconnects mid-request", addr, || async move {
        let mut tasks = Vec::new();
        for i in 0..400usize {
            tasks.push(tokio::spawn(async move {
                // Asks for the most work a request may: n = 4, 8 tokens each.
                let body = json!({
                    "model": NAME, "prompt": format!("{} {i}", "count with me ".repeat(20)),
                    "max_tokens": 8, "n": 4, "seed": i
                })
                .to_string();
                let mut s = TcpStream::connect(addr).await?;
                let head = format!(
                    "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                s.write_all(head.as_bytes()).await?;
                // Half leave in the middle of the body, half after sending it all (while it is
                // queued for the model or being sampled).
                let cut = if i % 2 == 0 { body.len() / 2 } else { body.len() };
                s.write_all(&body.as_bytes()[..cut]).await?;
                tokio::time::sleep(Duration::from_millis((i % 7) as u64 * 5)).await;
                drop(s);
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(())
    })
    .await
}

/// Connects and closes at once, `tasks` clients in parallel, for `time`; half close with FIN,
/// half reset (zero linger). Returns the connections made.
async fn reconnect_flood(addr: SocketAddr, tasks: usize, time: Duration) -> Result<u64> {
    let made = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + time;
    let mut handles = Vec::new();
    for i in 0..tasks {
        let made = made.clone();
        handles.push(tokio::spawn(async move {
            while Instant::now() < until {
                // Refused or failed connects are part of the flood too: try again at once.
                if let Ok(s) = TcpStream::connect(addr).await {
                    if i % 2 == 1 {
                        let _ = s.set_zero_linger();
                    }
                    made.fetch_add(1, Ordering::Relaxed);
                    drop(s);
                } else {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for h in handles {
        h.await?;
    }
    Ok(made.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_reconnect_flood() -> Result<()> {
    let server = spawn(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack("instant reconnect flood", addr, || async move {
        let made = reconnect_flood(addr, 32, Duration::from_secs(2)).await?;
        println!("reconnect flood: {made} connections in 2 s");
        ensure!(made > 100, "the flood made only {made} connections");
        Ok(())
    })
    .await
}
