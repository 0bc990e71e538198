//! SIGTERM through `serve_until_signal` (what `aha serve-reward` runs): the in-flight request is
//! answered, then the server returns cleanly. Alone in its test binary, because the signal goes
//! to the whole process.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aha_reward_server::{ServeConfig, Template};
use aha_verify::RewardScheme;
use anyhow::{Context, Result};
use common::{Conn, Slow, real_scorer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_stops() -> Result<()> {
    let slow = Slow {
        inner: real_scorer(Template::QwenMath, RewardScheme::Binary)?,
        delay: Duration::from_millis(500),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        aha_reward_server::serve_until_signal(
            ServeConfig::default(),
            Arc::new(slow),
            "127.0.0.1:0".parse().expect("literal address"),
            move |addr| {
                let _ = tx.send(addr);
            },
        )
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        .await?
        .context("server did not announce its address")?;
    let in_flight = tokio::spawn(async move {
        let mut c = Conn::open(addr).await?;
        c.post_json(
            "/get_reward",
            &json!({"query": ["\\boxed{5}"], "labels": ["5"]}),
        )
        .await
    });
    common::wait_until_busy(addr).await?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()?;
    assert!(status.success());
    let reply = in_flight.await??;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()?["rewards"], json!([1.0]));
    let served = tokio::task::spawn_blocking(move || server.join())
        .await?
        .map_err(|_| anyhow::anyhow!("server thread panicked"))?;
    assert!(served.is_ok(), "{served:?}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    Ok(())
}
