//! Every MATH500 and MATH test reference answer is readable, equals itself, and (MATH500) equals
//! the last `\boxed{}` of its own solution. Reads `../shared/data` (or `AHA_SHARED_DATA`); when
//! absent the test prints a notice and returns.

use std::path::PathBuf;

use aha_verify::{MathOptions, Verdict, extract::last_boxed, grade_answer};
use serde_json::Value;

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    dir.is_dir().then_some(dir)
}

fn rows(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read data file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON row"))
        .collect()
}

fn last_box(solution: &str) -> Option<&str> {
    last_boxed(solution).map(|(s, e)| &solution[s..e])
}

/// Checks one reference; returns a failure description.
fn check(id: &str, gold: &str, solution_box: Option<&str>, opts: &MathOptions) -> Option<String> {
    let own = grade_answer(gold, gold, opts).verdict;
    if own != Verdict::Correct {
        return Some(format!("{id}: {gold:?} vs itself: {}", own.as_str()));
    }
    if let Some(b) = solution_box {
        let v = grade_answer(b, gold, opts).verdict;
        if v != Verdict::Correct {
            return Some(format!(
                "{id}: {gold:?} vs solution box {b:?}: {}",
                v.as_str()
            ));
        }
    }
    None
}

#[test]
fn math500_and_math_test_golds_are_readable() {
    let Some(dir) = data_dir() else {
        eprintln!("notice: shared data not found; skipping MATH500/MATH gold checks");
        return;
    };
    let opts = MathOptions::default();
    let mut failures = Vec::new();
    let mut checked = 0;
    for r in rows(&dir.join("benchmarks/math500.jsonl")) {
        let id = r["unique_id"].as_str().unwrap_or("?");
        let gold = r["answer"].as_str().expect("answer");
        let sol = r["solution"].as_str().expect("solution");
        checked += 1;
        failures.extend(check(&format!("math500 {id}"), gold, last_box(sol), &opts));
    }
    for r in rows(&dir.join("math/math_test.jsonl")) {
        let id = r["unique_id"].as_str().unwrap_or("?");
        let sol = r["solution"].as_str().expect("solution");
        let Some(gold) = last_box(sol) else {
            failures.push(format!("math_test {id}: no \\boxed{{}} in solution"));
            continue;
        };
        checked += 1;
        failures.extend(check(&format!("math_test {id}"), gold, None, &opts));
    }
    eprintln!("checked {checked} references, {} failures", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} references fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The other evaluation sets and the RL training references: every reference is readable and
/// equals itself (GSM8K: the number after `####`; Minerva: the solution's last box; OlympiadBench:
/// each item of `final_answer`).
#[test]
fn other_benchmark_and_training_golds_are_readable() {
    let Some(dir) = data_dir() else {
        eprintln!("notice: shared data not found; skipping benchmark gold checks");
        return;
    };
    let opts = MathOptions::default();
    let mut golds: Vec<(String, String)> = Vec::new();
    for r in rows(&dir.join("benchmarks/aime24.jsonl")) {
        golds.push((format!("aime24 {}", r["id"]), value_text(&r["answer"])));
    }
    for r in rows(&dir.join("benchmarks/amc23.jsonl")) {
        golds.push((format!("amc23 {}", r["id"]), value_text(&r["answer"])));
    }
    for r in rows(&dir.join("benchmarks/gsm8k.jsonl")) {
        let a = r["answer"].as_str().unwrap_or("");
        let n = a.rsplit("####").next().unwrap_or("").trim().to_string();
        golds.push((format!("gsm8k {}", r["idx"]), n));
    }
    for r in rows(&dir.join("benchmarks/minerva_math.jsonl")) {
        let sol = r["solution"].as_str().unwrap_or("");
        if let Some(b) = last_box(sol) {
            golds.push((format!("minerva {}", r["idx"]), b.to_string()));
        }
    }
    for r in rows(&dir.join("benchmarks/olympiadbench.jsonl")) {
        for a in r["final_answer"].as_array().into_iter().flatten() {
            golds.push((format!("olympiadbench {}", r["id"]), value_text(a)));
        }
    }
    for r in rows(&dir.join("math/math_train.jsonl")) {
        let sol = r["solution"].as_str().unwrap_or("");
        if let Some(b) = last_box(sol) {
            golds.push((
                format!("math_train {}", r["unique_id"].as_str().unwrap_or("?")),
                b.to_string(),
            ));
        }
    }
    let l3to5: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("math/math_l3to5_8k.json")).expect("read"),
    )
    .expect("JSON");
    for r in l3to5.as_array().into_iter().flatten() {
        golds.push((format!("math_l3to5 {}", r["id"]), value_text(&r["answer"])));
    }
    // Known-bad references, unreadable by design: empty boxes in the MATH training solutions
    // (and the training set copied from them), and OlympiadBench 2045's `$t(0,4]$` (a stray `t`
    // glued to an interval).
    let residue = |id: &str, g: &str| {
        g.is_empty() || (id.starts_with("olympiadbench 2045") && g == "$t(0,4]$")
    };
    let mut failures = Vec::new();
    let mut skipped = 0;
    for (id, g) in &golds {
        if residue(id, g) {
            skipped += 1;
            assert_eq!(
                grade_answer(g, g, &opts).verdict,
                Verdict::GoldUnparseable,
                "{id}"
            );
            continue;
        }
        failures.extend(check(id, g, None, &opts));
    }
    eprintln!("{skipped} known-bad references give gold_unparseable");
    eprintln!(
        "checked {} references, {} failures",
        golds.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} references fail:\n{}",
        failures.len(),
        golds.len(),
        failures.join("\n")
    );
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
