//! Golden-file test: every line of `tests/golden/requests.jsonl` is a request and the exact
//! status and JSON body the service must answer. `UPDATE_GOLDEN=1 cargo test -p aha-reward-server --test
//! golden` rewrites the expectations from the current behaviour (review the diff).

mod common;

use std::path::PathBuf;

use anyhow::{Context, Result};
use common::{Conn, start_default};
use serde_json::{Value, json};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/requests.jsonl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_requests() -> Result<()> {
    let path = golden_path();
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let mut failures = Vec::new();
    let mut rewritten = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let case: Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let name = case["name"].as_str().unwrap_or("?");
        let body = match &case["body"] {
            Value::String(raw) => raw.clone().into_bytes(),
            other => serde_json::to_vec(other)?,
        };
        let path_ = case["path"].as_str().context("path")?;
        let reply = c.request("POST", path_, "application/json", body).await?;
        let got = json!({"status": reply.status, "response": reply.json()?});
        let want = json!({"status": case["status"], "response": case["response"]});
        if got != want {
            failures.push(format!(
                "line {} ({name}):\n  expected: {want}\n  actual:   {got}",
                n + 1
            ));
        }
        let mut updated = case.clone();
        updated["status"] = got["status"].clone();
        updated["response"] = got["response"].clone();
        rewritten.push(serde_json::to_string(&updated)?);
    }
    if update {
        std::fs::write(&path, rewritten.join("\n") + "\n")?;
        return Ok(());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rewritten.len() >= 8, "golden file has too few cases");
    Ok(())
}
