//! llama.cpp's own tokenizer test vocabularies: `models/ggml-vocab-*.gguf` with their
//! `.inp`/`.out` cases (expected ids from the Hugging Face tokenizers, as llama.cpp's
//! `test-tokenizer-0` checks them: no BOS, special tokens not parsed).
//!
//! They cover pre-tokenizers aha has no model for (Qwen2, Qwen3.5, Llama 3, GPT-2, StarCoder, …).
//! The files come with the llama.cpp source that `bench/llamacpp/build.sh` unpacks; they are
//! not committed here (up to 11 MB each). Without them the test prints a notice and passes.

use std::path::PathBuf;

use aha_tokenizer::Tokenizer;

type TestResult = Result<(), Box<dyn std::error::Error>>;
/// (input text, expected ids)
type Case = (String, Vec<u32>);

fn vocab_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_LLAMACPP_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aha/llama.cpp"))
        })?
        .join("src/models");
    if dir.join("ggml-vocab-qwen2.gguf.inp").exists() {
        Some(dir)
    } else {
        eprintln!(
            "notice: llama.cpp test vocabularies not found in {}, skipping (run bench/llamacpp/build.sh)",
            dir.display()
        );
        None
    }
}

/// The cases of one vocabulary, split the way `test-tokenizer-0` splits them.
fn cases(dir: &std::path::Path, name: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp")))?;
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out")))?;
    let mut texts: Vec<String> = inp
        .split("\n__ggml_vocab_test__\n")
        .map(str::to_string)
        .collect();
    if texts.last().is_some_and(String::is_empty) {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
        })
        .collect::<Result<_, _>>()?;
    assert_eq!(texts.len(), ids.len(), "{name}: inputs vs outputs");
    Ok(texts.into_iter().zip(ids).collect())
}

fn check(name: &str) -> TestResult {
    let Some(dir) = vocab_dir() else {
        return Ok(());
    };
    let tok = Tokenizer::from_gguf_file(&dir.join(format!("ggml-vocab-{name}.gguf")))?;
    let cases = cases(&dir, name)?;
    let mut bad = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode_plain(text, false)?;
        if &got != want {
            bad.push(format!("{text:?}\n  aha:  {got:?}\n  want: {want:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: {} of {} differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
    eprintln!("{name}: {} cases identical", cases.len());
    Ok(())
}

#[test]
fn gpt2() -> TestResult {
    check("gpt-2")
}

#[test]
fn llama3_bpe() -> TestResult {
    check("llama-bpe")
}

#[test]
fn qwen2() -> TestResult {
    check("qwen2")
}

#[test]
fn qwen35() -> TestResult {
    check("qwen35")
}

#[test]
fn starcoder() -> TestResult {
    check("starcoder")
}

#[test]
fn refact() -> TestResult {
    check("refact")
}

#[test]
fn command_r() -> TestResult {
    check("command-r")
}

#[test]
fn mpt() -> TestResult {
    check("mpt")
}

#[test]
fn llama_spm() -> TestResult {
    check("llama-spm")
}
