//! `aha serve-model` on a tiny random model (127.0.0.1, port 0): `/v1/models`, and `aha probe
//! --server` against it (concurrent requests, both endpoints) draws exactly the texts that
//! `aha probe --model` draws in-process with the same seeds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod common;
use common::*;

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn texts(path: &Path) -> Vec<(String, String, u32, String)> {
    let mut v: Vec<_> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let l: Value = serde_json::from_str(l).unwrap();
            (
                l["template"].as_str().unwrap().to_string(),
                l["question_id"].as_str().unwrap().to_string(),
                l["sample_index"].as_u64().unwrap() as u32,
                l["response"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn served_samples_equal_embedded_samples() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), TINY_HF, 5);
    let mut child = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args([
            "serve-model",
            "--model",
            model.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--max-tokens",
            "64",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let models = get(&addr, "/v1/models");
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    assert!(models.contains("\"id\":\"model.safetensors\""), "{models}");

    let data = dir.path().join("data.jsonl");
    std::fs::write(
        &data,
        "{\"id\":\"a\",\"problem\":\"1 + 1?\",\"answer\":\"2\"}\n\
         {\"id\":\"b\",\"problem\":\"2 * 3?\",\"answer\":\"6\"}\n",
    )
    .unwrap();
    let common = |out: &Path| -> Vec<String> {
        [
            "--data",
            data.to_str().unwrap(),
            "--template",
            "chat",
            "--template",
            "qwen-math",
            "--temperatures",
            "0.8",
            "-n",
            "3",
            "--max-tokens",
            "5",
            "--seed",
            "9",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let url = format!("http://{addr}/v1");
    let served = dir.path().join("served");
    let mut args = vec![
        "probe".to_string(),
        "--server".into(),
        url,
        "--model-name".into(),
        "model.safetensors".into(),
        "--concurrency".into(),
        "4".into(),
        "--retries".into(),
        "0".into(),
    ];
    args.extend(common(&served));
    let out = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let embedded = dir.path().join("embedded");
    let mut args = vec![
        "probe".to_string(),
        "--model".into(),
        model.to_str().unwrap().into(),
    ];
    args.extend(common(&embedded));
    let out = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let a = texts(&served.join("responses.jsonl"));
    let b = texts(&embedded.join("responses.jsonl"));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b);
    // Not all alike: the seeds matter.
    let distinct: std::collections::HashSet<&str> = a.iter().map(|t| t.3.as_str()).collect();
    assert!(distinct.len() > 6, "{a:?}");
}

fn start_server(model: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(["serve", "--model", model.to_str().unwrap()])
        .args(["--addr", "127.0.0.1:0", "--model-name", "smollm2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (server, addr)
}

#[test]
fn smollm2_served_and_embedded_probes_agree() {
    let Some(model) = smollm2() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(
        &data,
        "{\"id\":\"p1\",\"problem\":\"What is $2 + 3$?\",\"answer\":\"5\"}\n",
    )
    .unwrap();
    let (_server, addr) = start_server(&model);
    // One sequence per batch on both sides: quantized CPU matmuls are not batch-invariant, so
    // equal texts need equal batch shapes.
    let run = |backend: &[&str], out: &Path| {
        let mut args: Vec<&str> = vec!["probe"];
        args.extend_from_slice(backend);
        args.extend([
            "--data",
            data.to_str().unwrap(),
            "--template",
            "qwen-math",
            "--temperatures",
            "0,0.7",
            "-n",
            "2",
            "--max-tokens",
            "64",
            "--concurrency",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        let o = Command::new(env!("CARGO_BIN_EXE_aha"))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        s
    };
    let url = format!("http://{addr}/v1");
    let served = dir.path().join("served");
    let a = run(&["--server", &url, "--model-name", "smollm2"], &served);
    let embedded = dir.path().join("embedded");
    let b = run(&["--model", model.to_str().unwrap()], &embedded);
    // Same summary shape (only the sampler's description differs) and the same samples.
    assert_eq!(a["templates"], b["templates"]);
    let ta = texts(&served.join("responses.jsonl"));
    assert_eq!(ta.len(), 3, "greedy takes one sample, T = 0.7 two");
    assert_eq!(ta, texts(&embedded.join("responses.jsonl")));
    // Plausible: the model writes words and, greedily, gets 2 + 3 right.
    assert!(
        ta.iter().all(|t| t.3.split_whitespace().count() > 3),
        "{ta:?}"
    );
    let greedy_p1 = ta.iter().find(|t| t.1 == "p1" && t.2 == 0).unwrap();
    assert!(greedy_p1.3.contains('5'), "{greedy_p1:?}");
}
