//! `aha verify` end to end: one output line per input line, in order; malformed lines are
//! reported with line number and field and do not stop the run (exit code 1).

use std::io::Write;
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str], input: &str) -> (i32, Vec<Value>, String) {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(input.as_bytes()).expect("write input");
    let path = f.path().to_str().expect("utf-8 path").to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_aha"))
        .arg("verify")
        .arg("--input")
        .arg(&path)
        .args(args)
        .output()
        .expect("run aha");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let records = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON output line"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        records,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn math_lines_are_graded_in_order() {
    let input = [
        r#"{"response": "so $\\boxed{\\frac{1}{2}}$", "gold": "0.5"}"#,
        r#"{"response": "I get \\boxed{3}", "answer": "4"}"#,
        r#"{"response": "nothing", "gold": "4"}"#,
        r#"{"response": "\\boxed{7}", "solution": "Hence $\\boxed{7}$."}"#,
        r#"{"response": "\\boxed{-2}", "gold": ["2", "-2"]}"#,
        r#"{"response": "\\boxed{1}", "gold": "\\frac{1}{"}"#,
    ]
    .join("\n");
    let (code, recs, _) = run(&[], &input);
    assert_eq!(code, 0);
    let verdicts: Vec<&str> = recs
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        [
            "correct",
            "incorrect",
            "no_answer",
            "correct",
            "correct",
            "gold_unparseable"
        ]
    );
    let rewards: Vec<f64> = recs.iter().map(|r| r["reward"].as_f64().unwrap()).collect();
    assert_eq!(rewards, [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    assert_eq!(recs[0]["extracted"], "\\frac{1}{2}");
    assert_eq!(recs[2]["extracted"], Value::Null);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["schema_version"], 1);
        assert_eq!(r["line"], i + 1);
    }
}

#[test]
fn simplerl_rewards_and_answer_only() {
    let input = "{\"response\": \"no box\", \"gold\": \"1\"}\n{\"response\": \"\\\\boxed{2}\", \"gold\": \"1\"}";
    let (_, recs, _) = run(&["--reward", "simplerl"], input);
    assert_eq!(recs[0]["reward"], -1.0);
    assert_eq!(recs[1]["reward"], -0.5);
    let (_, recs, _) = run(
        &["--answer-only"],
        r#"{"response": "x \\in [2, 5)", "gold": "[2,5)"}"#,
    );
    assert_eq!(recs[0]["verdict"], "correct");
    assert_eq!(recs[0]["source"], "whole");
}

#[test]
fn malformed_lines_are_reported_and_the_run_continues() {
    let input = [
        r#"{"response": "\\boxed{1}", "gold": "1"}"#,
        r#"{"response": 5, "gold": "1"}"#,
        r#"not json"#,
        r#"{"gold": "1"}"#,
        r#"{"response": "\\boxed{2}", "gold": "2"}"#,
    ]
    .join("\n");
    let (code, recs, stderr) = run(&[], &input);
    assert_eq!(code, 1);
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0]["verdict"], "correct");
    assert!(
        recs[1]["error"]
            .as_str()
            .unwrap()
            .contains(":2: field `response`")
    );
    assert!(recs[2]["error"].as_str().unwrap().contains(":3:"));
    assert!(
        recs[3]["error"]
            .as_str()
            .unwrap()
            .contains(":4: field `response`: missing")
    );
    assert_eq!(recs[4]["verdict"], "correct");
    assert!(stderr.contains(":2: field `response`"), "{stderr}");
}

#[test]
fn countdown_follows_tinyzero() {
    let input = [
        r#"{"response": "<think>ok</think>\n<answer>(1 + 2) * 3</answer>", "gold": {"target": 9, "numbers": [1, 2, 3]}}"#,
        r#"{"response": "<answer>1 + 2 + 3</answer>", "gold": {"target": 9, "numbers": [1, 2, 3]}}"#,
        r#"{"response": "<answer>4 ** 3 / 2</answer>", "gold": "{\"target\": 32, \"numbers\": [4, 3, 2]}"}"#,
        r#"{"response": "<answer>(1 + 2) * 3</answer>\n", "gold": {"target": 9, "numbers": [1, 2, 3]}}"#,
        r#"{"response": "<answer>1</answer>", "gold": {"target": 9}}"#,
    ]
    .join("\n");
    let (code, recs, _) = run(&["--task", "countdown"], &input);
    assert_eq!(code, 1);
    let rewards: Vec<Option<f64>> = recs.iter().map(|r| r["reward"].as_f64()).collect();
    assert_eq!(rewards, [Some(1.0), Some(0.1), Some(1.0), Some(0.0), None]);
    let err = recs[4]["error"].as_str().unwrap();
    assert!(
        err.contains("field `gold`") && err.contains("missing field `numbers`"),
        "{err}"
    );
    let (_, recs, _) = run(&["--task", "countdown", "--strict"], &input);
    assert_eq!(recs[2]["reward"], 0.1);
}

#[test]
fn output_file_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.jsonl");
    let (code, recs, _) = run(
        &["--output", out.to_str().unwrap()],
        r#"{"response": "\\boxed{1}", "gold": "1"}"#,
    );
    assert_eq!(code, 0);
    assert!(recs.is_empty());
    let text = std::fs::read_to_string(&out).expect("output file");
    let r: Value = serde_json::from_str(text.trim()).expect("JSON");
    assert_eq!(r["verdict"], "correct");
}

#[test]
fn invalid_utf8_line_is_one_malformed_line() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(b"{\"response\": \"\\\\boxed{1}\", \"gold\": \"1\"}\n\xff\xfe\n{\"response\": \"\\\\boxed{2}\", \"gold\": \"2\"}\n")
        .expect("write input");
    let out = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(["verify", "--input"])
        .arg(f.path())
        .output()
        .expect("run aha");
    assert_eq!(out.status.code(), Some(1));
    let recs: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["verdict"], "correct");
    assert!(recs[1]["error"].as_str().unwrap().contains("not UTF-8"));
    assert_eq!(recs[2]["verdict"], "correct");
}

#[test]
fn policy_flags_reach_the_grader() {
    let unboxed = r#"{"response": "So the probability is $\\frac{1}{2}$.", "gold": "0.5"}"#;
    let (_, recs, _) = run(&[], unboxed);
    assert_eq!(recs[0]["verdict"], "no_answer");
    let (_, recs, _) = run(&["--lenient"], unboxed);
    assert_eq!(recs[0]["verdict"], "correct");
    assert_eq!(recs[0]["source"], "math_span");

    let two_boxes = r#"{"response": "\\boxed{3} or \\boxed{-4}", "gold": "3, -4"}"#;
    let (_, recs, _) = run(&[], two_boxes);
    assert_eq!(recs[0]["verdict"], "incorrect");
    let (_, recs, _) = run(&["--boxes", "all"], two_boxes);
    assert_eq!(recs[0]["verdict"], "correct");

    let decimal = r#"{"response": "\\boxed{0.67}", "gold": "\\frac{2}{3}"}"#;
    let (_, recs, _) = run(&[], decimal);
    assert_eq!(recs[0]["verdict"], "incorrect");
    let (_, recs, _) = run(&["--precision", "2"], decimal);
    assert_eq!(recs[0]["verdict"], "correct");
    let long = r#"{"response": "\\boxed{1.6667}", "gold": "\\frac{5}{3}"}"#;
    let (_, recs, _) = run(&[], long);
    assert_eq!(recs[0]["verdict"], "correct");
    let (_, recs, _) = run(&["--decimal-digits", "0"], long);
    assert_eq!(recs[0]["verdict"], "incorrect");

    let comma = r#"{"response": "\\boxed{1,22}", "gold": "1.22"}"#;
    let (_, recs, _) = run(&["--decimal-comma"], comma);
    assert_eq!(recs[0]["verdict"], "correct");

    let chain = r#"{"response": "\\boxed{y = 2+2 = 5}", "gold": "5"}"#;
    let (_, recs, _) = run(&[], chain);
    assert_eq!(recs[0]["verdict"], "incorrect");
    let (_, recs, _) = run(&["--equation-chain", "last"], chain);
    assert_eq!(recs[0]["verdict"], "correct");
}
