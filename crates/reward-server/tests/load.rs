//! 10 000 single-sample OpenRLHF requests, 256 in flight: no error, every reward right.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Result, bail};
use common::{Conn, start_default};
use serde_json::json;

const REQUESTS: usize = 10_000;
const CONNECTIONS: usize = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_single_sample_requests() -> Result<()> {
    let server = start_default().await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let next = next.clone();
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await?;
            let mut done = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REQUESTS {
                    return Ok::<usize, anyhow::Error>(done);
                }
                // Every third answer is wrong, so a mixed-up response would be caught.
                let gold = if i.is_multiple_of(3) { i + 1 } else { i };
                let want = if i.is_multiple_of(3) { 0.0 } else { 1.0 };
                let body = json!({
                    "query": [format!("Q{i}: compute.<|im_start|>assistant\nWait, recheck: \\boxed{{{i}}}<|im_end|>")],
                    "prompts": [format!("Q{i}: compute.")],
                    "labels": [gold.to_string()],
                });
                let r = c.post_json("/get_reward", &body).await?;
                if r.status != 200 {
                    bail!("request {i}: status {}: {}", r.status, r.text());
                }
                let v = r.json()?;
                if v["rewards"] != json!([want]) || v["extra_logs"]["reflection_keywords"] != json!([1.0]) {
                    bail!("request {i}: wrong answer {v}");
                }
                done += 1;
            }
        }));
    }
    let mut total = 0;
    for c in clients {
        total += c.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(total, REQUESTS);
    eprintln!(
        "{REQUESTS} requests over {CONNECTIONS} connections in {secs:.2} s ({:.0} req/s, debug build)",
        REQUESTS as f64 / secs
    );
    Ok(())
}
