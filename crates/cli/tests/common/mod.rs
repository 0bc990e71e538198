//! Helpers shared by the `aha` CLI tests (each test file includes this module and uses part of
//! it, hence the `dead_code` allowance).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aha_model::candle_core::Device;
use aha_model::{Arch, Model, ModelConfig};
use aha_tokenizer::Tokenizer;
use serde_json::Value;

/// Runs the `aha` binary; returns its exit code, stdout and stderr.
pub fn aha(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The tiny Hugging Face tokenizer of `aha-tokenizer`'s fixtures (with its generation config).
pub const TINY_HF: (&str, &[&str]) = (
    "../tokenizer/tests/fixtures/tiny-hf",
    &[
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ],
);

/// The word-level tokenizer of `aha-train`'s fixtures (each `\boxed{d}` is one token).
pub const BOXED_WORDS: (&str, &[&str]) = (
    "../train/tests/fixtures/boxed-words",
    &["tokenizer.json", "tokenizer_config.json"],
);

/// `dir/model.safetensors`: a random tiny Qwen2 (seed `seed`) over the vocabulary of the
/// tokenizer fixture `(folder relative to this crate, files)`, copied beside it.
pub fn tiny_model(dir: &Path, (fixture, files): (&str, &[&str]), seed: u64) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
    for f in files {
        std::fs::copy(fixture.join(f), dir.join(f)).unwrap();
    }
    let tok = Tokenizer::from_tokenizer_json(&dir.join("tokenizer.json")).unwrap();
    let cfg = ModelConfig {
        vocab_size: tok.vocab_size(),
        eos_token_ids: tok.eos_ids().to_vec(),
        ..ModelConfig::tiny(Arch::Qwen2)
    };
    let path = dir.join("model.safetensors");
    Model::tiny(&cfg, seed, &Device::Cpu)
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

/// The JSON lines of a file.
pub fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// SmolLM2 from the model cache (`AHA_MODELS_DIR`, default `~/.cache/aha/models`); `None` with a
/// notice when absent, a failure when `AHA_REQUIRE_MODELS=1`.
pub fn smollm2() -> Option<PathBuf> {
    let file = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let dir = std::env::var_os("AHA_MODELS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aha/models")));
    match dir.map(|d| d.join(file)) {
        Some(p) if p.is_file() => Some(p),
        _ if std::env::var("AHA_REQUIRE_MODELS").as_deref() == Ok("1") => {
            panic!("{file} not found and AHA_REQUIRE_MODELS=1 (run scripts/fetch-models.sh)")
        }
        _ => {
            eprintln!("notice: {file} not found; skipping (run scripts/fetch-models.sh)");
            None
        }
    }
}
