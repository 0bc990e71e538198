//! `aha probe` end to end against the in-process OpenAI-compatible stub of
//! `crates/probe/tests/stub` (127.0.0.1:0): the summary numbers, a run killed mid-way and
//! continued with every sample exactly once, the config-mismatch refusal, and a bad dataset row.

#[path = "../../probe/tests/stub/mod.rs"]
mod stub;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{aha, lines as responses};

fn probe_args(url: &str, data: &Path, out: &Path, n: &str) -> Vec<String> {
    [
        "probe",
        "--server",
        url,
        "--model-name",
        "stub-model",
        "--data",
        data.to_str().unwrap(),
        "--template",
        "qwen-math",
        "--temperatures",
        "0.5,1.0",
        "-n",
        n,
        "--max-tokens",
        "16",
        "--out",
        out.to_str().unwrap(),
        "--concurrency",
        "1",
        "--retries",
        "0",
        "--batch",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, stub::dataset_jsonl()).unwrap();
    (dir, data)
}

#[test]
fn probe_writes_responses_graded_and_summary() {
    let (dir, data) = setup();
    let stub = stub::start(None);
    let out = dir.path().join("run");
    let args = probe_args(&stub.url, &data, &out, "2");
    let (code, stdout, stderr) = aha(&refs(&args));
    assert_eq!(code, 0, "{stderr}");
    let lines = responses(&out.join("responses.jsonl"));
    assert_eq!(lines.len(), 12);
    for l in &lines {
        for f in [
            "schema_version",
            "question_id",
            "template",
            "temperature",
            "sample_index",
            "response",
            "finish_reason",
            "num_tokens",
        ] {
            assert!(l.get(f).is_some(), "missing {f} in {l}");
        }
    }
    assert_eq!(responses(&out.join("graded.jsonl")).len(), 12);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let by_t = &s["templates"][0]["summary"]["by_temperature"];
    // See the stub's table: T=0.5 passes q1, q2 (2 of 3); T=1.0 passes q1 only.
    assert_eq!(by_t[0]["passed_questions"], 2);
    assert_eq!(by_t[1]["passed_questions"], 1);
    assert_eq!(by_t[0]["reflective_questions"], 1);
    assert_eq!(by_t[1]["reflective_questions"], 2);
    assert_eq!(s["templates"][0]["lengths"][0]["truncated"], 2);
    assert_eq!(s["config"]["n"], 2);
    // The table: one row per temperature, keyword and SSR lines.
    assert!(stdout.contains("template qwen-math"), "{stdout}");
    assert!(stdout.contains("66.7%"), "{stdout}");
    assert!(stdout.contains("SSR: "), "{stdout}");
    assert!(stdout.contains("recheck 6 (6 resp.)"), "{stdout}");

    // Rerunning a finished run draws nothing and reports it.
    let before = stub.state.sampling_requests().len();
    let (code, _, stderr) = aha(&refs(&args));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("12 samples (12 resumed, 0 drawn now)"),
        "{stderr}"
    );
    assert_eq!(stub.state.sampling_requests().len(), before);

    // Another -n into the same directory is refused, naming the field.
    let args = probe_args(&stub.url, &data, &out, "3");
    let (code, _, stderr) = aha(&refs(&args));
    assert_eq!(code, 2);
    assert!(stderr.contains("n: 2 -> 3"), "{stderr}");
}

#[test]
fn a_killed_probe_continues_without_duplicates() {
    let (dir, data) = setup();
    let stub = stub::start(None);
    stub.state.delay_ms.store(150, Ordering::SeqCst);
    let out = dir.path().join("run");
    let path = out.join("responses.jsonl");
    let args = probe_args(&stub.url, &data, &out, "2");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(refs(&args))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = std::fs::read_to_string(&path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the probe never wrote 4 lines");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = responses(&path).len();
    assert!(
        (4..12).contains(&partial),
        "killed too late: {partial} lines"
    );

    stub.state.delay_ms.store(0, Ordering::SeqCst);
    let (code, _, stderr) = aha(&refs(&args));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("({partial} resumed")), "{stderr}");
    let lines = responses(&path);
    assert_eq!(lines.len(), 12);
    let keys: HashSet<(String, String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["question_id"].as_str().unwrap().to_string(),
                l["temperature"].to_string(),
                l["sample_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 12, "a sample is duplicated");
}

#[test]
fn a_bad_dataset_row_names_file_line_and_field() {
    let (dir, data) = setup();
    std::fs::write(&data, "{\"problem\": 3, \"answer\": \"1\"}\n").unwrap();
    let out = dir.path().join("run");
    // Nothing listens on port 9: the dataset is read before any request.
    let args = probe_args("http://127.0.0.1:9/v1", &data, &out, "1");
    let (code, _, stderr) = aha(&refs(&args));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("data.jsonl:1: field \"problem\""),
        "{stderr}"
    );
}

/// `<repo>/../shared/data` (or `$AHA_SHARED_DATA`), when present.
fn shared_data() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("AHA_SHARED_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        std::path::PathBuf::from,
    );
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: shared data not found at {}; skipping (set AHA_SHARED_DATA)",
            dir.display()
        );
        None
    }
}

#[test]
fn probe_math500_through_both_endpoints() {
    let Some(shared) = shared_data() else {
        return;
    };
    let data = shared.join("benchmarks/math500.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let stub = stub::start(None);
    let out = dir.path().join("run");
    let (code, stdout, stderr) = aha(&[
        "probe",
        "--server",
        &stub.url,
        "--model-name",
        "stub-model",
        "--data",
        data.to_str().unwrap(),
        "--template",
        "r1",
        "--template",
        "chat",
        "--temperatures",
        "0,1",
        "-n",
        "3",
        "--limit",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Per template: T=0 takes one sample (greedy), T=1 three: 5 × (1 + 3).
    let lines = responses(&out.join("responses.jsonl"));
    assert_eq!(lines.len(), 2 * 5 * 4);
    // Ids come from MATH500's unique_id.
    assert!(
        lines[0]["question_id"]
            .as_str()
            .unwrap()
            .starts_with("test/"),
        "{}",
        lines[0]
    );
    let reqs = stub.state.sampling_requests();
    assert_eq!(reqs.iter().filter(|(e, _)| e == "chat").count(), 20);
    // The r1 prompt ends with the prefilled think tag and stops at </answer>.
    let (_, r1) = reqs.iter().find(|(e, _)| e == "completions").unwrap();
    assert!(
        r1["prompt"]
            .as_str()
            .unwrap()
            .ends_with("\nAssistant: <think>")
    );
    assert_eq!(r1["stop"], serde_json::json!(["</answer>"]));
    assert!(
        stdout.contains("template r1 (answer_tag answers)"),
        "{stdout}"
    );
    assert!(stdout.contains("template chat (boxed answers)"), "{stdout}");
}
