//! `keyword_count` must equal Python's `sum(text.lower().count(k) for k in keywords)` exactly.
//!
//! Runs `python3` on the same texts: every solution of MATH train/test and the benchmark files in
//! `../shared/data` (override with `AHA_SHARED_DATA`), plus synthetic reflection-heavy responses
//! with overlapping keywords, mixed case and Unicode whose lower-casing changes length. Word mode
//! is compared with Python `re.findall` using `(?<!\w)` / `(?!\w)` around each keyword. Skips
//! with a notice when python3 or the data is absent.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aha_reflect::{KeywordDetector, Keywords, MatchMode, PRESETS};

fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    dir.is_dir().then_some(dir)
}

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Strings of the named fields (string or list of strings) of every row.
fn field_texts(path: &std::path::Path, fields: &[&str], out: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("notice: {} absent, skipped", path.display());
        return;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for f in fields {
            match &v[f] {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => {
                    out.extend(a.iter().filter_map(|x| x.as_str().map(String::from)))
                }
                _ => {}
            }
        }
    }
}

/// Deterministic reflection-heavy texts (xorshift; no external RNG needed for a fixed corpus).
fn synthetic(n: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "Let me rethink again. ",
        "RE-EVALUATE",
        "reevaluate",
        "re-evaluation ",
        "Re-Examine ",
        "reexamine",
        "double-check",
        "Double-Check again ",
        "check again",
        "CHECK AGAIN",
        "think again",
        "rethinking",
        "recheck",
        "rechecking",
        "reconsider",
        "reassess",
        "reanalyze",
        "verify again",
        "go over the steps",
        "try again",
        "Wait, ",
        "however",
        "Alternatively",
        "retry",
        "aha",
        " ",
        ", ",
        ".\n",
        "\\boxed{42}",
        "<think>",
        "</think>",
        "İ",
        "chec\u{212A} again",
        "ΣΑΣ ",
        "ß",
        "ﬁ",
        "Ⅻ",
        "é",
        "e\u{301}",
        "\u{1F914}",
        "_",
        "x",
        "7",
        "re",
        "check",
        "again",
        "-",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let len = 5 + (next() % 60) as usize;
            (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

const PY: &str = r#"
import json, re, sys
presets = json.loads(sys.argv[1])
texts = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
out = []
for t in texts:
    low = t.lower()
    row = {}
    for name, kws in presets.items():
        row[name] = sum(low.count(k) for k in kws)
        row[name + "/word"] = sum(
            len(re.findall(("(?<!\\w)" if re.match(r"\w", k) else "") + re.escape(k)
                           + ("(?!\\w)" if re.match(r".*\w$", k) else ""), low))
            for k in kws)
    out.append(row)
json.dump(out, sys.stdout)
"#;

#[test]
fn substring_and_word_counts_equal_python() {
    if !python_available() {
        eprintln!("notice: python3 not found; parity test skipped");
        return;
    }
    let mut texts = synthetic(3000);
    let n_synth = texts.len();
    if let Some(data) = shared_data() {
        field_texts(
            &data.join("math/math_train.jsonl"),
            &["solution"],
            &mut texts,
        );
        field_texts(
            &data.join("math/math_test.jsonl"),
            &["solution"],
            &mut texts,
        );
        for (f, fields) in [
            ("benchmarks/math500.jsonl", &["solution"][..]),
            ("benchmarks/minerva_math.jsonl", &["solution"]),
            ("benchmarks/olympiadbench.jsonl", &["solution"]),
            ("benchmarks/aime24.jsonl", &["solution"]),
            ("benchmarks/gsm8k.jsonl", &["answer"]),
        ] {
            field_texts(&data.join(f), fields, &mut texts);
        }
    } else {
        eprintln!("notice: shared data not found; comparing synthetic texts only");
    }
    eprintln!(
        "comparing {} texts ({} synthetic, {} MB)",
        texts.len(),
        n_synth,
        texts.iter().map(String::len).sum::<usize>() / 1_000_000
    );

    let presets: serde_json::Map<String, serde_json::Value> = PRESETS
        .iter()
        .map(|p| {
            (
                p.to_string(),
                serde_json::json!(Keywords::preset(p).unwrap().words()),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for t in &texts {
        serde_json::to_writer(&mut f, t).unwrap();
        f.write_all(b"\n").unwrap();
    }
    drop(f);
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(serde_json::Value::Object(presets).to_string())
        .arg(&input)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(py.len(), texts.len());

    let mut nonzero = 0;
    for p in PRESETS {
        let kw = Keywords::preset(p).unwrap();
        let sub = KeywordDetector::new(&kw, MatchMode::Substring).unwrap();
        let word = KeywordDetector::new(&kw, MatchMode::Word).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let r = sub.analyze(t);
            let want = py[i][*p].as_u64().unwrap() as usize;
            assert_eq!(r.total, want, "{p} substring, text {i}: {t:?}");
            assert_eq!(sub.count(t), want);
            assert_eq!(r.per_keyword.values().sum::<usize>(), want);
            let want_w = py[i][&format!("{p}/word")].as_u64().unwrap() as usize;
            assert_eq!(word.analyze(t).total, want_w, "{p} word, text {i}: {t:?}");
            nonzero += usize::from(want > 0);
        }
    }
    // The comparison must exercise real hits, not only zeros.
    assert!(nonzero > 1000, "only {nonzero} texts with hits");
}
