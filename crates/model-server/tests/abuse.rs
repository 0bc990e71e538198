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
//! The attacks and the well-behaved client are shared with `aha-reward-server`'s abuse test:
//! `aha_http_limits::test_support`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aha_http_limits::test_support::{
    self as attack, CHILD_ENV, ChildSpec, parent_gone, serve_child, spawn, under_attack,
};
use aha_model::candle_core::Device;
use aha_model::{Arch, Model, ModelConfig};
use aha_model_server::{Config, Limits};
use aha_sample::EmbeddedSampler;
use aha_tokenizer::Tokenizer;
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The served model's name.
const NAME: &str = "tiny";

/// Runs the server when this binary is started as the child ([`CHILD_ENV`] set); a no-op test
/// otherwise.
#[test]
fn child_server() -> Result<()> {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    let spec = ChildSpec::parse(&spec)?;
    let config = Config {
        max_tokens: 8,
        max_n: 4,
        limits: Limits {
            max_connections: spec.max_connections,
            header_timeout: spec.header_timeout,
            body_timeout: spec.body_timeout,
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
    serve_child(|listener| async move {
        aha_model_server::serve(sampler, config, listener, parent_gone()).await?;
        Ok(())
    })
}

fn server(max_connections: usize, header_ms: u64, body_ms: u64) -> Result<attack::Server> {
    spawn(ChildSpec::new(max_connections, header_ms, body_ms))
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

/// The text of the well-behaved request.
async fn completion(addr: SocketAddr) -> Result<String> {
    let r = request(addr, "POST", "/v1/completions", &good_body()).await?;
    ensure!(r.status == 200, "status {}: {}", r.status, r.body);
    let v: Value = serde_json::from_str(&r.body)?;
    let text = v["choices"][0]["text"].as_str().context("no text")?;
    Ok(text.to_string())
}

/// Runs `attack` under [`under_attack`] with the well-behaved client: a seeded completion
/// whose text must stay what it was on the quiet server.
async fn attacked<F, Fut>(name: &str, addr: SocketAddr, attack: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let expected: Arc<str> = completion(addr).await?.into();
    let good = move || {
        let expected = expected.clone();
        async move {
            let text = completion(addr).await?;
            ensure!(*text == *expected, "{text:?} != {expected:?}");
            Ok(())
        }
    };
    under_attack(name, good, attack).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_beyond_the_descriptor_limit() -> Result<()> {
    // The default connection limit, under the descriptor limit: eviction at the limit.
    let server = server(Limits::default().max_connections, 30_000, 60_000)?;
    let addr = server.addr;
    attacked("slowloris 1100 conns (limit 512)", addr, || async {
        let hold = Duration::from_secs(8);
        let reopened = attack::slowloris(addr, "/v1/completions", 1100, hold).await?;
        println!("slowloris: {reopened} attacker connections were closed by the server");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_with_a_limit_above_the_descriptors() -> Result<()> {
    // A limit the descriptors run out before: the accept loop's EMFILE path must evict too.
    let server = server(4096, 30_000, 60_000)?;
    let addr = server.addr;
    attacked(
        "slowloris 1100 conns (limit 4096 > nofile)",
        addr,
        || async {
            attack::slowloris(addr, "/v1/completions", 1100, Duration::from_secs(8)).await?;
            Ok(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    attacked("oversized headers", addr, || {
        attack::oversized_headers(addr, "/v1/models")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_announced_larger_than_sent_get_408() -> Result<()> {
    let server = server(512, 5_000, 1_000)?;
    let addr = server.addr;
    attacked("short bodies", addr, || {
        attack::short_bodies(
            addr,
            "/v1/completions",
            "{\"model\": ",
            "did not arrive within",
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_announced_over_the_limit_get_413_at_once() -> Result<()> {
    let server = server(512, 5_000, 60_000)?;
    let big = Limits::default().max_body_bytes + 1;
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {big}\r\n\r\n{{"
    );
    let start = Instant::now();
    let answer = attack::raw(server.addr, req.as_bytes(), Duration::from_secs(5)).await?;
    ensure!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    // Answered from the head, without waiting for the (never sent) body.
    ensure!(start.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_garbage_is_answered_400_and_closed() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    attacked("pipelined garbage", addr, || {
        attack::pipelined_garbage(addr, "/v1/models")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_disconnecting_mid_request() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    // Each asks for the most work a request may: n = 4, 8 tokens each.
    let bodies: Vec<Vec<u8>> = (0..400usize)
        .map(|i| {
            json!({
                "model": NAME, "prompt": format!("{} {i}", "count with me ".repeat(20)),
                "max_tokens": 8, "n": 4, "seed": i
            })
            .to_string()
            .into_bytes()
        })
        .collect();
    attacked("disconnects mid-request", addr, || {
        attack::disconnect_mid_request(addr, "/v1/completions", bodies.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_reconnect_flood() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    attacked("instant reconnect flood", addr, || async move {
        let made = attack::reconnect_flood(addr, 32, Duration::from_secs(2)).await?;
        println!("reconnect flood: {made} connections in 2 s");
        ensure!(made > 100, "the flood made only {made} connections");
        Ok(())
    })
    .await
}
