//! `aha probe --model PATH` end to end on a tiny random model saved to a temp `.safetensors`
//! file with the tiny `tokenizer.json` fixture of `aha-tokenizer` beside it: responses and
//! summary, a rerun that resumes, and `--model` with `--server` refused.

use serde_json::Value;

mod common;
use common::*;

#[test]
fn probe_with_an_embedded_model_writes_summary_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), TINY_HF, 5);
    let data = dir.path().join("data.jsonl");
    std::fs::write(
        &data,
        "{\"id\":\"a\",\"problem\":\"1 + 1?\",\"answer\":\"2\"}\n\
         {\"id\":\"b\",\"problem\":\"2 * 3?\",\"answer\":\"6\"}\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let args = |limit: &str| -> Vec<String> {
        [
            "probe",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--template",
            "chat",
            "--temperatures",
            "0.8",
            "-n",
            "3",
            "--max-tokens",
            "5",
            "--limit",
            limit,
            "--out",
            out.to_str().unwrap(),
            "--batch",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |a: Vec<String>| aha(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let (code, stdout, stderr) = run(args("2"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("template chat"), "{stdout}");
    let first = lines(&out.join("responses.jsonl"));
    assert_eq!(first.len(), 6);
    for l in &first {
        assert_eq!(l["schema_version"], 1);
        let n = l["num_tokens"].as_u64().unwrap();
        assert!((1..=5).contains(&n), "{l}");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["config"]["sampler"]
            .as_str()
            .unwrap()
            .starts_with("embedded:")
    );

    // A rerun of the finished run draws nothing and leaves the file as it was.
    let (code, _, stderr) = run(args("2"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("6 resumed, 0 drawn now"), "{stderr}");
    assert_eq!(lines(&out.join("responses.jsonl")), first);

    let (code, _, stderr) = aha(&[
        "probe",
        "--model",
        model.to_str().unwrap(),
        "--server",
        "http://127.0.0.1:9/v1",
        "--data",
        data.to_str().unwrap(),
        "--template",
        "chat",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
