//! The grading contract has one entry point: every caller outside aha-verify grades a response
//! against a reference through `aha_verify::grade`, never through the per-kind functions, so no
//! second any-of loop or Countdown reading can creep back in (they had drifted apart four times).
//!
//! This scans the workspace's Rust sources (crates, the Python wheel, benches) for direct calls.
//! `Reference::grade_answer` (a method: grading one intermediate answer for SSR) is allowed.

use std::path::{Path, PathBuf};

/// Free functions only aha-verify itself may call.
const PER_KIND: &[&str] = &[
    "grade_math",
    "grade_answer",
    "grade_countdown",
    "grade_any_of",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if name != "target" && name != ".git" {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Direct calls of a per-kind function in `line` (not `.method(` calls, not in comments).
fn direct_calls(line: &str) -> Vec<&'static str> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut found = Vec::new();
    for f in PER_KIND {
        let pat = format!("{f}(");
        for (at, _) in code.match_indices(&pat) {
            let before = code[..at].chars().next_back();
            let is_ident_part = before.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !is_ident_part && before != Some('.') && !code[..at].ends_with("fn ") {
                found.push(*f);
            }
        }
    }
    found
}

#[test]
fn the_scanner_sees_calls_and_ignores_methods_and_comments() {
    assert_eq!(
        direct_calls("let g = grade_math(r, g, &o);"),
        ["grade_math"]
    );
    assert_eq!(
        direct_calls("aha_verify::grade_countdown(r, 1, &n, &o)"),
        ["grade_countdown"]
    );
    assert!(direct_calls("reference.grade_answer(a, o)").is_empty());
    assert!(direct_calls("// grade_math(x) was here").is_empty());
    assert!(direct_calls("aha_verify::grade(task, r, &gold, &o)").is_empty());
    assert!(direct_calls("fn regrade_math(x: u8) {}").is_empty());
}

#[test]
fn every_caller_outside_aha_verify_uses_the_one_entry_point() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "python/src", "bench"] {
        rust_files(&root.join(dir), &mut files);
    }
    let verify = root.join("crates/verify");
    let mut offenders = Vec::new();
    let mut scanned = 0;
    for f in files {
        if f.starts_with(&verify) {
            continue;
        }
        scanned += 1;
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            for call in direct_calls(line) {
                offenders.push(format!("{}:{}: {call}(", f.display(), i + 1));
            }
        }
    }
    assert!(scanned > 50, "scanned only {scanned} files: wrong root?");
    assert!(
        offenders.is_empty(),
        "grade through aha_verify::grade (the contract's one entry point), not:\n{}",
        offenders.join("\n")
    );
}
