//! The `aha serve-reward` binary as a user starts it: binds 127.0.0.1 port 0, prints the bound
//! address, answers OpenRLHF's protocol with correct rewards, rejects malformed bodies with 400,
//! and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), returning status and body.
fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let status: u16 = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(["serve-reward", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aha serve-reward");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read first line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "bound to {addr}");
    Server { child, addr }
}

#[test]
fn openrlhf_protocol_end_to_end() {
    let server = start(&["--task", "math"]);
    let prompt = "<|im_start|>user\nWhat is 1/2 + 1/4?<|im_end|>\n<|im_start|>assistant\n";
    let body = serde_json::json!({
        "query": [
            format!("{prompt}So the sum is \\boxed{{\\frac{{3}}{{4}}}}.<|im_end|>"),
            format!("{prompt}Let me recheck: it is \\boxed{{0.75}}<|im_end|>"),
            format!("{prompt}I think it is \\boxed{{1/6}}<|im_end|>"),
            format!("{prompt}No idea.<|im_end|>"),
        ],
        "prompts": [prompt, prompt, prompt, prompt],
        "labels": ["\\frac34", "\\frac34", "\\frac34", "\\frac34"],
    });
    let (status, text) = post(&server.addr, "/get_reward", &body.to_string());
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON answer");
    let rewards: Vec<f64> = v["rewards"]
        .as_array()
        .expect("rewards")
        .iter()
        .map(|r| r.as_f64().expect("number"))
        .collect();
    assert_eq!(rewards, vec![1.0, 1.0, 0.0, 0.0]);
    assert_eq!(v["scores"].as_array().map(Vec::len), Some(4));
    assert!(v["extra_logs"].is_object(), "{text}");

    // Wrong-length labels: a 400 that names the field, and the server keeps serving.
    let bad = serde_json::json!({"query": ["a", "b"], "prompts": ["", ""], "labels": ["1"]});
    let (status, text) = post(&server.addr, "/get_reward", &bad.to_string());
    assert_eq!(status, 400);
    assert!(text.contains("labels"), "{text}");
    let (status, _) = post(&server.addr, "/get_reward", "{not json");
    assert_eq!(status, 400);
}

#[test]
fn sigterm_stops_the_server() {
    let mut server = start(&[]);
    let (status, _) = post(
        &server.addr,
        "/get_reward",
        r#"{"query":["\\boxed{2}"],"prompts":[""],"labels":["2"]}"#,
    );
    assert_eq!(status, 200);
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(code) = server.child.try_wait().expect("wait") {
            assert!(code.success(), "exit status after SIGTERM: {code}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
