//! `aha train` and `aha sft` end to end on a tiny random model saved to a temp `.safetensors`
//! file with the word-level tokenizer of `crates/train/tests/fixtures/boxed-words` beside it
//! (each `\boxed{d}` is one token, so "answer 5" has reward variance from step 0):
//! - a run killed with SIGKILL after a checkpoint and rerun with `--resume` ends with the same
//!   `metrics.jsonl` (timing fields aside) and `samples.jsonl` as an uninterrupted run;
//! - the final weights load in `aha generate`;
//! - a non-empty `--out` without `--resume` and a bad data line are clear errors;
//! - `aha sft` lowers the loss and writes loadable weights.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aha_model::candle_core::Device;
use aha_model::{Model, WeightKind};
use serde_json::Value;

mod common;
use common::*;

fn data(dir: &Path) -> PathBuf {
    let path = dir.join("data.jsonl");
    let rows: Vec<String> = ["one", "two", "three", "one two", "two three"]
        .iter()
        .map(|q| format!(r#"{{"id":"{q}","question":"{q}","answer":"5"}}"#))
        .collect();
    std::fs::write(&path, rows.join("\n")).unwrap();
    std::fs::write(dir.join("qa.txt"), "Q {question} A").unwrap();
    path
}

fn train_args(dir: &Path, out: &Path, steps: usize) -> Vec<String> {
    let s = |p: &Path| p.display().to_string();
    [
        "train",
        "--model",
        &s(&dir.join("model.safetensors")),
        "--data",
        &s(&dir.join("data.jsonl")),
        "--eval-split-frac",
        "0.4",
        "--template",
        &s(&dir.join("qa.txt")),
        "--algorithm",
        "grpo",
        "--grade-truncated",
        "--steps",
        &steps.to_string(),
        "--prompts-per-step",
        "2",
        "--group-size",
        "4",
        "--max-tokens",
        "3",
        "--lr",
        "0.03",
        "--mini-batches",
        "2",
        // 4 rollouts per mini-batch, back-propagated 3 + 1 at a time
        "--micro-batch-size",
        "3",
        "--eval-every",
        "5",
        "--samples-every",
        "3",
        "--save-every",
        "4",
        "--seed",
        "9",
        "--out",
        &s(out),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

fn untimed(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("step_time_s");
            o.remove("tokens_per_s");
            v
        })
        .collect()
}

/// `--fixed-order-f32` changes a run's numbers, so it is part of the run's config: a resume
/// without the flag keeps the saved order (and continues exactly like an uninterrupted run in
/// that order), and asking for it on a run made without it is refused as a changed setting.
#[test]
fn the_fixed_order_is_saved_with_the_run_and_kept_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), BOXED_WORDS, 7);
    data(dir.path());
    let run = |out: &Path, steps: usize, extra: &[&str]| {
        let mut args = train_args(dir.path(), out, steps);
        args.extend(extra.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        aha(&argv)
    };
    let fixed_of = |out: &Path| {
        let c: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        c["fixed_order_f32"].clone()
    };

    let whole = dir.path().join("whole");
    let (code, _, err) = run(&whole, 6, &["--fixed-order-f32"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fixed_of(&whole), Value::Bool(true));

    let part = dir.path().join("part");
    let (code, _, err) = run(&part, 4, &["--fixed-order-f32"]);
    assert_eq!(code, 0, "{err}");
    // Extended by two steps without the flag: the saved order carries on.
    let (code, _, err) = run(&part, 6, &["--resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming at step"), "{err}");
    assert_eq!(fixed_of(&part), Value::Bool(true));
    assert_eq!(
        untimed(&part.join("metrics.jsonl")),
        untimed(&whole.join("metrics.jsonl"))
    );

    let plain = dir.path().join("plain");
    let (code, _, err) = run(&plain, 4, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fixed_of(&plain), Value::Bool(false));
    let (code, _, err) = run(&plain, 6, &["--resume", "--fixed-order-f32"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("other settings") && err.contains("fixed_order_f32"),
        "{err}"
    );
}

#[test]
fn train_killed_after_a_checkpoint_and_resumed_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), BOXED_WORDS, 7);
    data(dir.path());
    let steps = 40;

    let full = dir.path().join("full");
    let args = train_args(dir.path(), &full, steps);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resolved config"), "{err}");
    assert_eq!(untimed(&full.join("metrics.jsonl")).len(), steps);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["micro_batch_size"], 3);

    // The same run, killed (SIGKILL) as soon as its first checkpoint is on disk.
    let cut = dir.path().join("cut");
    let args = train_args(dir.path(), &cut, steps);
    let mut child = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !cut.join("checkpoints/step-4").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint after 60 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !cut.join("final.json").exists(),
        "the run finished before the kill"
    );
    let before = untimed(&cut.join("metrics.jsonl")).len();
    assert!(before < steps, "{before} lines before the resume");

    // Not empty: refused without --resume.
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 2);
    assert!(
        err.contains("not empty") && err.contains("--resume"),
        "{err}"
    );

    let mut resumed = args.clone();
    resumed.push("--resume".into());
    let argv: Vec<&str> = resumed.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming at step"), "{err}");
    assert_eq!(
        untimed(&cut.join("metrics.jsonl")),
        untimed(&full.join("metrics.jsonl"))
    );
    assert_eq!(
        std::fs::read_to_string(cut.join("samples.jsonl")).unwrap(),
        std::fs::read_to_string(full.join("samples.jsonl")).unwrap()
    );
    let a = Model::load(
        &full.join("model.safetensors"),
        WeightKind::F32,
        &Device::Cpu,
    )
    .unwrap();
    let b = Model::load(
        &cut.join("model.safetensors"),
        WeightKind::F32,
        &Device::Cpu,
    )
    .unwrap();
    for ((n, x), (_, y)) in a.named_vars().iter().zip(b.named_vars()) {
        let d = (x.as_tensor() - y.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0, "{n}");
    }

    // Metrics carry the eval split (2 of 5 problems held out) on steps 0, 5, …
    let m = untimed(&full.join("metrics.jsonl"));
    assert_eq!(m[0]["eval"]["n"], 2);
    assert!(m[1].get("eval").is_none());
    assert_eq!(m[5]["eval"]["n"], 2);
    assert_eq!(m[0]["algorithm"], "grpo");
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["sources"]["train_problems"], "3");
    assert_eq!(cfg["reward"]["truncated"], Value::Null);

    // The final weights and the copied tokenizer work in `aha generate`.
    let weights = full.join("model.safetensors").display().to_string();
    let tok = full.join("tokenizer.json").display().to_string();
    let (code, out, err) = aha(&[
        "generate",
        "--model",
        &weights,
        "--tokenizer",
        &tok,
        "--prompt",
        "Q one A",
        "--max-tokens",
        "2",
        "--f32",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let rec: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(!rec["tokens"].as_array().unwrap().is_empty());
}

#[test]
fn train_reports_bad_data_and_bad_settings_clearly() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), BOXED_WORDS, 7);
    data(dir.path());
    let bad = dir.path().join("data.jsonl");
    std::fs::write(
        &bad,
        "{\"question\":\"one\",\"answer\":\"5\"}\n{\"question\": 3}\n",
    )
    .unwrap();
    let args = train_args(dir.path(), &dir.path().join("o"), 2);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 2);
    assert!(err.contains("data.jsonl:2"), "{err}");

    data(dir.path());
    let mut args = train_args(dir.path(), &dir.path().join("o2"), 2);
    let at = args.iter().position(|a| a == "--group-size").unwrap();
    args[at + 1] = "1".into();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 2);
    assert!(err.contains("group_size"), "{err}");

    // A negative truncation reward is a value, not a flag.
    let mut args = train_args(dir.path(), &dir.path().join("neg"), 1);
    let at = args.iter().position(|a| a == "--grade-truncated").unwrap();
    args.splice(
        at..=at,
        ["--truncated-reward".to_string(), "-1".to_string()],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 0, "{err}");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("neg/config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["reward"]["truncated"], -1.0);

    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, "{\"steps\": 2,\n \"group_sise\": 4}").unwrap();
    let mut args = train_args(dir.path(), &dir.path().join("o3"), 2);
    args.extend(["--config".to_string(), cfg.display().to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aha(&argv);
    assert_eq!(code, 2);
    assert!(
        err.contains("cfg.json:2") && err.contains("group_sise"),
        "{err}"
    );
}

#[test]
fn sft_lowers_the_loss_and_writes_loadable_weights() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), BOXED_WORDS, 7);
    let data = dir.path().join("traces.jsonl");
    let rows: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|q| format!(r#"{{"prompt":"Q {q} A","response":"so it is \\boxed{{5}}"}}"#))
        .collect();
    std::fs::write(&data, rows.join("\n")).unwrap();
    let out = dir.path().join("sft");
    let s = |p: &Path| p.display().to_string();
    let (code, _, err) = aha(&[
        "sft",
        "--model",
        &s(&model),
        "--data",
        &s(&data),
        "--epochs",
        "15",
        "--batch-size",
        "3",
        "--lr",
        "0.01",
        "--out",
        &s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 15);
    // 3 traces × (4 response words + EOS).
    assert_eq!(lines[0]["tokens"], 15);
    let first = lines[0]["loss"].as_f64().unwrap();
    let last = lines[14]["loss"].as_f64().unwrap();
    assert!(last < 0.3 * first, "loss {first} → {last}");
    assert!(out.join("tokenizer.json").is_file());
    // Greedy generation from the trained weights follows the traces.
    let (code, text, err) = aha(&[
        "generate",
        "--model",
        &s(&out.join("model.safetensors")),
        "--tokenizer",
        &s(&out.join("tokenizer.json")),
        "--prompt",
        "Q two A",
        "--max-tokens",
        "5",
        "--f32",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("\\boxed{5}"), "{text}");

    // A missing field names file, line and field.
    std::fs::write(
        &data,
        "{\"prompt\":\"Q one A\",\"response\":\"so\"}\n{\"prompt\":\"x\"}\n",
    )
    .unwrap();
    let (code, _, err) = aha(&[
        "sft",
        "--model",
        &s(&model),
        "--data",
        &s(&data),
        "--out",
        &s(&dir.path().join("sft2")),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("traces.jsonl:2") && err.contains("\"response\""),
        "{err}"
    );
}
