//! `aha analyse` on verl's own dump (crates/analyse/tests/fixtures), then `aha report` on the
//! result: the files, the file:line of a malformed line, and the claims table.

use std::path::Path;
use std::process::Command;

fn aha() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aha"))
}

#[test]
fn analyse_a_verl_dump_then_report_it() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../analyse/tests/fixtures/verl");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    for s in ["1", "2", "3"] {
        std::fs::copy(
            fixtures.join(format!("rollout/{s}.jsonl")),
            dump.join(format!("{s}.jsonl")),
        )
        .unwrap();
    }
    let mut two = std::fs::read_to_string(dump.join("2.jsonl")).unwrap();
    two.push_str("{broken\n");
    std::fs::write(dump.join("2.jsonl"), two).unwrap();
    let out = dir.path().join("analysis");
    let o = aha()
        .arg("analyse")
        .arg(&dump)
        .arg("--eval")
        .arg(fixtures.join("validation"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("2.jsonl:5: "),
        "the malformed line is named: {err}"
    );
    assert!(err.contains("3 step(s), 12 sample(s)"), "{err}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4); // steps 0 (eval only), 1, 2, 3
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["skipped_lines"], 1);
    assert_eq!(summary["agreement"]["rate"], 1.0);

    let page = dir.path().join("report.html");
    let o = aha()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("imported verl run"));
    assert!(html.contains("id=\"tab-claims\""));
    assert!(html.contains("id=\"fig-train-length-reflection\""));
    assert!(html.contains("id=\"fig-train-length-chars\""));
    // A bad flag is an error, not a panic.
    let o = aha()
        .args(["analyse", "--out"])
        .arg(&out)
        .arg(&dump)
        .args(["--ema", "1.5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `--tokenizer` counts the tokens of responses that came without `n_tokens`: token lengths by
/// outcome, truncation by `--max-tokens` and reflections per 1k tokens, computed by hand with
/// the word-level tokenizer of crates/train/tests/fixtures/boxed-words (one token per word).
#[test]
fn analyse_counts_tokens_with_a_tokenizer() {
    let tok = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../train/tests/fixtures/boxed-words/tokenizer.json");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("run.jsonl");
    std::fs::write(
        &input,
        concat!(
            // 4 tokens, correct
            r#"{"step":1,"response":"so it is \\boxed{2}","gold":"2"}"#,
            "\n",
            // 3 tokens, incorrect, one reflection keyword
            r#"{"step":1,"response":"hmm recheck \\boxed{3}","gold":"2"}"#,
            "\n",
            // 7 tokens, correct, cut by --max-tokens 5
            r#"{"step":1,"response":"one two three \\boxed{5} so it is","gold":"5"}"#,
            "\n",
        ),
    )
    .unwrap();
    let run = |out: &Path, with_tokenizer: bool| -> serde_json::Value {
        let mut c = aha();
        c.arg("analyse").arg(&input).arg("--out").arg(out);
        if with_tokenizer {
            c.arg("--tokenizer").arg(&tok).args(["--max-tokens", "5"]);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        serde_json::from_str(m.lines().next().unwrap()).unwrap()
    };
    let m = run(&dir.path().join("tok"), true);
    let f = |k: &str| {
        m[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {m}"))
    };
    assert_eq!(m["n"], 3);
    assert!((f("len_mean") - 14.0 / 3.0).abs() < 1e-9, "{m}");
    assert_eq!(f("len_correct"), 5.5);
    assert_eq!(f("len_incorrect"), 3.0);
    assert_eq!(f("len_truncated"), 7.0);
    assert!((f("truncated_rate") - 1.0 / 3.0).abs() < 1e-9);
    assert!((f("reflection_per_1k_tokens") - 1000.0 / 14.0).abs() < 1e-9);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("tok/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(
        summary["settings"]["tokenizer"]
            .as_str()
            .is_some_and(|s| s.ends_with("tokenizer.json")),
        "{summary}"
    );
    // Without it the input has no token counts: no token lengths, characters only.
    let m = run(&dir.path().join("chars"), false);
    assert!(
        m.get("len_mean").is_none() && m.get("len_correct").is_none(),
        "{m}"
    );
    assert!(
        (m["chars_mean"].as_f64().unwrap() - (18.0 + 21.0 + 32.0) / 3.0).abs() < 1e-9,
        "{m}"
    );
}
