//! Bad input, limits, deadlines and shutdown: every failure is a clear HTTP error, never a crash.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aha_reward_server::{ServeConfig, Task, Template};
use aha_verify::RewardScheme;
use anyhow::Result;
use common::{Conn, Reply, Slow, real_scorer, start, start_default};
use serde_json::json;

/// Asserts status, error kind, and that the message contains `needle`.
fn assert_error(r: &Reply, status: u16, kind: &str, needle: &str) -> Result<()> {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json()?;
    assert_eq!(v["error"]["kind"], kind, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_name_the_field() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let post = |body: &'static [u8]| body;
    let cases: &[(&str, &[u8], &str)] = &[
        ("/get_reward", post(b"{\"query\": ["), "EOF"),
        ("/get_reward", post(b"not json"), "body"),
        (
            "/get_reward",
            post(b"{\"query\": \"abc\", \"labels\": [\"1\"]}"),
            "query: invalid type",
        ),
        (
            "/get_reward",
            post(b"{\"query\": [\"a\", 3], \"labels\": [\"1\", \"2\"]}"),
            "query[1]",
        ),
        (
            "/get_reward",
            post(b"{\"prompts\": []}"),
            "missing field `query`",
        ),
        (
            "/get_reward",
            post(b"{\"query\": [\"a\"]}"),
            "labels: missing",
        ),
        (
            "/get_reward",
            post(b"{\"query\": [\"a\"], \"labels\": [{\"x\": 1}]}"),
            "labels[0]: a math gold must be",
        ),
        (
            "/get_reward",
            post(b"{\"query\": [\"a\"], \"labels\": [[1, [2]]]}"),
            "labels[0][1]: an answer in a list of math golds must be",
        ),
        (
            "/get_reward",
            post(b"{\"query\": [\"a\"], \"labels\": [\"1\"]} trailing"),
            "trailing",
        ),
        (
            "/v1/verify",
            post(b"{\"items\": [{\"response\": \"x\"}]}"),
            "missing field `gold`",
        ),
        (
            "/v1/verify",
            post(b"{\"items\": [{\"response\": \"x\", \"gold\": \"1\", \"task\": \"chess\"}]}"),
            "items[0].task",
        ),
        (
            "/v1/verify",
            post(b"{\"items\": [{\"response\": \"x\", \"gold\": \"1\", \"tsk\": 1}]}"),
            "unknown field `tsk`",
        ),
        (
            "/v1/verify",
            post(b"{\"items\": [{\"response\": \"x\", \"gold\": \"5\", \"task\": \"countdown\"}]}"),
            "items[0].gold: a Countdown gold",
        ),
    ];
    for (path, body, needle) in cases {
        let r = c
            .request("POST", path, "application/json", body.to_vec())
            .await?;
        assert_error(&r, 400, "invalid_request", needle)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_length_lists() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let r = c
        .post_json(
            "/get_reward",
            &json!({"query": ["a", "b"], "labels": ["1"]}),
        )
        .await?;
    assert_error(
        &r,
        400,
        "invalid_request",
        "labels: has 1 entries but query has 2",
    )?;
    let r = c
        .post_json(
            "/get_reward",
            &json!({"query": ["a", "b"], "prompts": ["p"], "labels": ["1", "2"]}),
        )
        .await?;
    assert_error(
        &r,
        400,
        "invalid_request",
        "prompts: has 1 entries but query has 2",
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_body() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let body = b"{\"query\": [\"ok\", \"\xc3\x28 bad\"], \"labels\": [\"1\", \"2\"]}".to_vec();
    let r = c
        .request("POST", "/get_reward", "application/json", body)
        .await?;
    assert_error(&r, 400, "invalid_request", "query[1]")?;
    assert!(r.text().contains("not valid UTF-8"), "{}", r.text());
    // msgpack with a non-UTF-8 str: 0xa2 = fixstr of 2 bytes.
    let body = b"\x81\xacbatch_prompt\x91\xa2\xc3\x28".to_vec();
    let r = c
        .request("POST", "/get_feedback", "application/msgpack", body)
        .await?;
    assert_error(&r, 400, "invalid_request", "batch_prompt")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_body_and_batch() -> Result<()> {
    let config = ServeConfig {
        max_body_bytes: 1024,
        max_batch: 4,
        ..ServeConfig::default()
    };
    let scorer = real_scorer(Template::QwenMath, RewardScheme::Binary)?;
    let server = start(config, Arc::new(scorer)).await?;
    let mut c = Conn::open(server.addr).await?;
    let big = json!({"query": ["x".repeat(4000)], "labels": ["1"]});
    let r = c.post_json("/get_reward", &big).await?;
    assert_error(&r, 413, "body_too_large", "limit of 1024 bytes")?;

    let mut c = Conn::open(server.addr).await?;
    let five = json!({"query": vec!["a"; 5], "labels": vec!["1"; 5]});
    let r = c.post_json("/get_reward", &five).await?;
    assert_error(
        &r,
        413,
        "batch_too_large",
        "query: batch of 5 samples exceeds the limit of 4",
    )?;
    let r = c
        .post_json(
            "/v1/verify",
            &json!({"items": vec![json!({"response": "a", "gold": "1"}); 5]}),
        )
        .await?;
    assert_error(&r, 413, "batch_too_large", "items")?;
    // The server is still fine.
    let four = json!({"query": vec!["\\boxed{1}"; 4], "labels": vec!["1"; 4]});
    let r = c.post_json("/get_reward", &four).await?;
    assert_eq!(r.json()?["rewards"], json!([1.0, 1.0, 1.0, 1.0]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_and_method() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let r = c.get("/v2/verify").await?;
    assert_error(&r, 404, "not_found", "GET /v2/verify")?;
    let r = c.get("/get_reward").await?;
    assert_eq!(r.status, 405);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_and_overload() -> Result<()> {
    let config = ServeConfig {
        workers: 1,
        deadline: Duration::from_millis(150),
        ..ServeConfig::default()
    };
    let slow = Slow {
        inner: real_scorer(Template::QwenMath, RewardScheme::Binary)?,
        delay: Duration::from_millis(1000),
    };
    let server = start(config, Arc::new(slow)).await?;
    let body = json!({"query": ["\\boxed{1}"], "labels": ["1"]});
    let addr = server.addr;
    let send = |body: serde_json::Value| async move {
        let mut c = Conn::open(addr).await?;
        c.post_json("/get_reward", &body).await
    };
    // The first takes the only worker and runs past the deadline (504); the second finds no
    // worker within its deadline (503).
    let start = Instant::now();
    let (a, b) = tokio::join!(send(body.clone()), send(body.clone()));
    let (a, b) = (a?, b?);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [503, 504], "{} / {}", a.text(), b.text());
    for r in [&a, &b] {
        let kind = if r.status == 503 {
            "overloaded"
        } else {
            "deadline_exceeded"
        };
        assert_error(r, r.status, kind, "150 ms deadline")?;
    }
    // Both answered at the deadline, not after the 400 ms of grading.
    assert!(
        start.elapsed() < Duration::from_millis(390),
        "{:?}",
        start.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() -> Result<()> {
    let config = ServeConfig {
        task: Task::Math,
        ..ServeConfig::default()
    };
    let slow = Slow {
        inner: real_scorer(Template::QwenMath, RewardScheme::Binary)?,
        delay: Duration::from_millis(500),
    };
    let mut server = start(config, Arc::new(slow)).await?;
    let addr = server.addr;
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = Conn::open(addr).await?;
    assert_eq!(idle.get("/healthz").await?.status, 200);
    let in_flight = tokio::spawn(async move {
        let mut c = Conn::open(addr).await?;
        c.post_json(
            "/get_reward",
            &json!({"query": ["\\boxed{3}"], "labels": ["3"]}),
        )
        .await
    });
    common::wait_until_busy(addr).await?;
    server.shutdown();
    let reply = in_flight.await??;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()?["rewards"], json!([1.0]));
    let served = tokio::time::timeout(Duration::from_secs(5), &mut server.handle).await??;
    assert!(served.is_ok(), "{served:?}");
    // Closed for new connections.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(idle);
    Ok(())
}
