//! The server under abuse, on 127.0.0.1: more idle and trickling connections than the process
//! has file descriptors, oversized headers, bodies announced larger than sent, pipelined garbage,
//! clients that disconnect mid-request, clients that connect and close as fast as they can, and
//! batches of pathological answers. During each attack
//! a well-behaved client keeps sending requests on fresh connections; every one must get the
//! correct answer within its latency bound. Each test prints that client's p50/p99.
//!
//! The server runs in a child process (this test binary re-run as `child_server`) with
//! `ulimit -n 1024`, the common default, so the attacks can exhaust its descriptors and not the
//! test's. The attacks and the well-behaved client are shared with `aha-model-server`'s abuse
//! test: `aha_http_limits::test_support`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aha_http_limits::test_support::{
    self as attack, CHILD_ENV, ChildSpec, parent_gone, serve_child, spawn, under_attack,
};
use aha_reward_server::{RewardService, ServeConfig, Template};
use aha_verify::RewardScheme;
use anyhow::{Context, Result, bail};
use common::{Conn, real_scorer};
use serde_json::json;

/// Runs the server when this binary is started as the child ([`CHILD_ENV`] set); a no-op test
/// otherwise.
#[test]
fn child_server() -> Result<()> {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    let spec = ChildSpec::parse(&spec)?;
    let config = ServeConfig {
        max_connections: spec.max_connections,
        header_timeout: spec.header_timeout,
        body_timeout: spec.body_timeout,
        workers: 2,
        deadline: Duration::from_secs(5),
        ..ServeConfig::default()
    };
    let scorer = Arc::new(real_scorer(Template::QwenMath, RewardScheme::Binary)?);
    serve_child(|listener| async move {
        let service = RewardService::new(config, scorer)?;
        service.serve(listener, parent_gone()).await?;
        Ok(())
    })
}

fn server(max_connections: usize, header_ms: u64, body_ms: u64) -> Result<attack::Server> {
    spawn(ChildSpec::new(max_connections, header_ms, body_ms))
}

/// One well-behaved request on a fresh connection: a correct answer must come back correct.
async fn good_request(addr: SocketAddr) -> Result<()> {
    let mut c = Conn::open(addr).await?;
    let r = c
        .post_json(
            "/v1/verify",
            &json!({"items": [{"response": "6*7 = \\boxed{42}", "gold": "42"}]}),
        )
        .await?;
    anyhow::ensure!(r.status == 200, "status {}: {}", r.status, r.text());
    let v = r.json()?;
    anyhow::ensure!(v["results"][0]["correct"] == true, "{v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_beyond_the_descriptor_limit() -> Result<()> {
    // The default connection limit, under the descriptor limit: eviction at the limit.
    let server = server(ServeConfig::default().max_connections, 30_000, 60_000)?;
    let addr = server.addr;
    under_attack(
        "slowloris 1100 conns (limit 512)",
        move || good_request(addr),
        || async {
            let reopened =
                attack::slowloris(addr, "/v1/verify", 1100, Duration::from_secs(8)).await?;
            println!("slowloris: {reopened} attacker connections were closed by the server");
            Ok(())
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_with_a_limit_above_the_descriptors() -> Result<()> {
    // A limit the descriptors run out before: the accept loop's EMFILE path must evict too.
    let server = server(4096, 30_000, 60_000)?;
    let addr = server.addr;
    under_attack(
        "slowloris 1100 conns (limit 4096 > nofile)",
        move || good_request(addr),
        || async {
            attack::slowloris(addr, "/v1/verify", 1100, Duration::from_secs(8)).await?;
            Ok(())
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack(
        "oversized headers",
        move || good_request(addr),
        || attack::oversized_headers(addr, "/healthz"),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_announced_larger_than_sent_get_408() -> Result<()> {
    let server = server(512, 5_000, 1_000)?;
    let addr = server.addr;
    under_attack(
        "short bodies",
        move || good_request(addr),
        || attack::short_bodies(addr, "/v1/verify", "{\"items\": [", "body_timeout"),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_garbage_is_answered_400_and_closed() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack(
        "pipelined garbage",
        move || good_request(addr),
        || attack::pipelined_garbage(addr, "/healthz"),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_disconnecting_mid_request() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    let body = serde_json::to_vec(&json!({"items": (0..200).map(|i| json!({
        "response": format!("{} \\boxed{{{i}}}", "so we add. ".repeat(50)), "gold": i.to_string()
    })).collect::<Vec<_>>()}))?;
    under_attack(
        "disconnects mid-request",
        move || good_request(addr),
        || attack::disconnect_mid_request(addr, "/v1/verify", vec![body.clone(); 400]),
    )
    .await?;
    // Nothing is left running for the clients that went away.
    let mut c = Conn::open(addr).await?;
    for _ in 0..100 {
        let h = c.get("/healthz").await?.json()?;
        if h["busy_workers"] == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("grading workers still busy 10 s after the clients left")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pathological_answers() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    let nested = format!("\\boxed{{{}1{}}}", "(".repeat(20_000), ")".repeat(20_000));
    let braces = format!("\\boxed{{{}}}", "{".repeat(50_000));
    let power = "\\boxed{10^{10^{10^{10^{10^{10}}}}}}".to_string();
    let huge_exp = "\\boxed{9^{999999999999}}".to_string();
    let mega = format!("\\boxed{{{}}}", "7".repeat(1 << 20));
    let frac = format!("\\boxed{{{}}}", "\\frac{1}{".repeat(5_000));
    let bad: Vec<String> = vec![nested, braces, power, huge_exp, mega, frac];
    let bad = &bad;
    under_attack(
        "pathological answers",
        move || good_request(addr),
        || async move {
            for round in 0..1 {
                let mut items: Vec<_> = bad
                    .iter()
                    .map(|r| json!({"response": r, "gold": "42"}))
                    .collect();
                items.extend(bad.iter().map(
                    |g| json!({"response": "\\boxed{42}", "gold": g.trim_start_matches("\\boxed")}),
                ));
                items.push(json!({"response": "\\boxed{42}", "gold": "42"}));
                let mut c = Conn::open(addr).await?;
                let start = Instant::now();
                let r = c
                    .post_json("/v1/verify", &json!({ "items": items }))
                    .await?;
                anyhow::ensure!(r.status == 200, "round {round}: {} {}", r.status, r.text());
                let v = r.json()?;
                let results = v["results"].as_array().context("results")?;
                anyhow::ensure!(results.len() == 2 * bad.len() + 1);
                anyhow::ensure!(results[2 * bad.len()]["correct"] == true);
                for r in &results[..2 * bad.len()] {
                    anyhow::ensure!(r["correct"] == false, "{r}");
                }
                println!(
                    "pathological batch {round}: {:.0} ms",
                    start.elapsed().as_secs_f64() * 1e3
                );
            }
            Ok(())
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_reconnect_flood() -> Result<()> {
    let server = server(512, 5_000, 5_000)?;
    let addr = server.addr;
    under_attack(
        "instant reconnect flood",
        move || good_request(addr),
        || async move {
            let made = attack::reconnect_flood(addr, 32, Duration::from_secs(2)).await?;
            println!("reconnect flood: {made} connections in 2 s");
            anyhow::ensure!(made > 100, "the flood made only {made} connections");
            Ok(())
        },
    )
    .await?;
    Ok(())
}
