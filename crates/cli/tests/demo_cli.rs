//! `aha demo --quick` end to end: every phase's output, the report, resume and refusal.

use std::path::Path;
use std::process::Command;

fn demo(out: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(["demo", "--quick", "--no-progress", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run aha demo");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn quick_demo_runs_every_phase_resumes_and_refuses_other_settings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("demo");
    let (code, stdout, stderr) = demo(&out, &[]);
    assert_eq!(code, 0, "{stderr}");
    // The resolved configuration is printed and saved.
    assert!(stderr.contains("\"corpus_size\""), "{stderr}");
    assert_eq!(json(&out.join("config.json"))["quick"], true);
    // Base model, loadable beside its tokenizer.
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(out.join("base").join(f).is_file(), "base/{f}");
    }
    // Probe of the base model and of both RL models.
    for p in ["probe", "probe-grpo", "probe-dr_grpo"] {
        let s = json(&out.join(p).join("summary.json"));
        assert_eq!(s["schema_version"], 1, "{p}");
        assert!(out.join(p).join("responses.jsonl").is_file(), "{p}");
    }
    // Both RL runs wrote one metrics line per step, with task metrics.
    for r in ["grpo", "dr_grpo"] {
        let text = std::fs::read_to_string(out.join(r).join("metrics.jsonl")).expect(r);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("metrics line"))
            .collect();
        assert_eq!(lines.len(), 2, "{r}: {text}");
        assert_eq!(lines[0]["algorithm"], r);
        assert!(lines[0]["accuracy"].is_number(), "{r}: {text}");
        assert!(out.join(r).join("model.safetensors").is_file());
    }
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("<svg") && html.contains("dr_grpo"), "report");
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["models"].as_array().map(Vec::len), Some(3));
    assert!(
        stdout.contains("W->C") && stdout.contains("report:"),
        "{stdout}"
    );

    // Same settings: every phase is resumed, nothing is redone.
    let before = std::fs::read(out.join("grpo").join("metrics.jsonl")).expect("metrics");
    let (code, stdout2, stderr) = demo(&out, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming"), "{stderr}");
    assert_eq!(
        std::fs::read(out.join("grpo").join("metrics.jsonl")).expect("metrics"),
        before
    );
    assert_eq!(
        stdout.lines().next(),
        stdout2.lines().next(),
        "same table header"
    );

    // Other settings: refused, naming the field, and nothing is touched.
    let (code, _, stderr) = demo(&out, &["--seed", "5"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("seed") && stderr.contains("different configuration"),
        "{stderr}"
    );
}
