//! ~400k ids per model against llama.cpp: every row of MATH-500 (problem + solution) and GSM8K
//! (question + answer) from the shared data, compared by id count and hash.
//!
//! Fixtures `tests/fixtures/<model>.corpus.jsonl` come from `bench/llamacpp/tokenizer_fixtures.py`.
//! Skips with a notice when the shared data (`AHA_SHARED_DATA`, default `<repo>/../shared/data`)
//! is absent, and when the model is absent unless `AHA_REQUIRE_MODELS=1`.

use std::path::{Path, PathBuf};

use aha_tokenizer::Tokenizer;
use sha2::{Digest, Sha256};

type TestResult = Result<(), Box<dyn std::error::Error>>;
/// (data set, row index, text)
type Row = (String, usize, String);

fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("benchmarks/math500.jsonl").exists() {
        Some(dir)
    } else {
        eprintln!(
            "notice: shared data not found at {}, skipping",
            dir.display()
        );
        None
    }
}

fn model_path(file: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_MODELS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aha/models")))?;
    let path = dir.join(file);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("AHA_REQUIRE_MODELS").is_ok_and(|v| v == "1") {
        panic!(
            "{} is missing and AHA_REQUIRE_MODELS=1: run scripts/fetch-models.sh",
            path.display()
        );
    }
    eprintln!("notice: {} not found, skipping", path.display());
    None
}

/// The rows the fixture script tokenized, in its order.
fn rows(data: &Path) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for (name, file, a, b) in [
        ("math500", "benchmarks/math500.jsonl", "problem", "solution"),
        ("gsm8k", "benchmarks/gsm8k.jsonl", "question", "answer"),
    ] {
        for (i, line) in std::fs::read_to_string(data.join(file))?
            .lines()
            .enumerate()
        {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let field = |k: &str| {
                v[k].as_str()
                    .map(str::to_string)
                    .ok_or(format!("{file}:{}: no {k}", i + 1))
            };
            out.push((
                name.to_string(),
                i,
                format!("{}\n\n{}", field(a)?, field(b)?),
            ));
        }
    }
    Ok(out)
}

fn sha256_16(ids: &[u32]) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.to_le_bytes());
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check(model_file: &str, fixture: &str) -> TestResult {
    let (Some(data), Some(model)) = (shared_data(), model_path(model_file)) else {
        return Ok(());
    };
    let tok = Tokenizer::from_gguf_file(&model)?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture);
    let want: Vec<serde_json::Value> = std::fs::read_to_string(&path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let rows = rows(&data)?;
    assert_eq!(
        rows.len(),
        want.len(),
        "{} rows vs {} in the fixture",
        rows.len(),
        want.len()
    );
    let mut bad = Vec::new();
    let mut total = 0;
    for ((name, i, text), w) in rows.iter().zip(&want) {
        assert_eq!(
            (w["data"].as_str(), w["row"].as_u64()),
            (Some(name.as_str()), Some(*i as u64))
        );
        let ids = tok.encode(text, false)?;
        total += ids.len();
        if Some(ids.len() as u64) != w["n_ids"].as_u64()
            || Some(sha256_16(&ids).as_str()) != w["sha256_16"].as_str()
        {
            bad.push(format!(
                "{name} row {i}: {} ids, llama.cpp {}",
                ids.len(),
                w["n_ids"]
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{model_file}: {} of {} rows differ from llama.cpp:\n{}",
        bad.len(),
        rows.len(),
        bad.join("\n")
    );
    assert!(total > 300_000, "only {total} ids checked");
    eprintln!(
        "{model_file}: {} rows, {total} ids identical to llama.cpp",
        rows.len()
    );
    Ok(())
}

#[test]
fn smollm2_corpus_matches_llamacpp() -> TestResult {
    check("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2.corpus.jsonl")
}

#[test]
fn gemma3_corpus_matches_llamacpp() -> TestResult {
    check("gemma-3-270m-q4_k_m.gguf", "gemma3.corpus.jsonl")
}
