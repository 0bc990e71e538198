//! Golden answer pairs: every `tests/golden/*.jsonl` line is one case
//! `{"gold", "pred", "mode": "answer"|"response", "expected", "source", "note"?, "options"?}`,
//! where `options` is a [`MathOptions`] object with the policies that differ from the default
//! (`{"lenient": true}`, `{"precision": 2}`).
//! Failures print expected above actual; `UPDATE_GOLDEN=1` rewrites `expected` with the actual
//! verdicts (review the diff).

use std::path::PathBuf;

use aha_verify::{MathOptions, grade_answer, grade_math};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn golden_pairs() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let default_opts = MathOptions::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let (mut total, mut failures) = (0usize, Vec::new());
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read golden file");
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut case: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: bad JSON: {e}", path.display(), i + 1));
            let gold = case["gold"].as_str().expect("gold");
            let pred = case["pred"].as_str().expect("pred");
            let source = case["source"].as_str().unwrap_or("");
            assert!(
                !source.is_empty(),
                "{}:{}: missing source",
                path.display(),
                i + 1
            );
            let opts = match case.get("options") {
                Some(o) => serde_json::from_value::<MathOptions>(o.clone())
                    .unwrap_or_else(|e| panic!("{}:{}: bad options: {e}", path.display(), i + 1)),
                None => default_opts.clone(),
            };
            let grade = match case["mode"].as_str().unwrap_or("answer") {
                "response" => grade_math(pred, gold, &opts),
                _ => grade_answer(pred, gold, &opts),
            };
            let actual = grade.verdict.as_str();
            let expected = case["expected"].as_str().expect("expected");
            total += 1;
            if actual != expected {
                failures.push(format!(
                    "{}:{}  [{source}]\n  gold:     {gold}\n  pred:     {pred}\n  expected: {expected}\n  actual:   {actual}",
                    path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(),
                    i + 1
                ));
                case["expected"] = Value::String(actual.to_string());
            }
            out.push_str(&serde_json::to_string(&case).expect("json"));
            out.push('\n');
        }
        if update {
            std::fs::write(path, out).expect("write golden file");
        }
    }
    assert!(total >= 300, "golden suite has only {total} cases");
    if !failures.is_empty() && !update {
        panic!(
            "{} of {total} golden cases differ:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}
