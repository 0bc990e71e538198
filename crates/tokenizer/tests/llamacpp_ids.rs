//! Exact ids against llama.cpp's `llama-tokenize` on the real model files.
//!
//! Fixtures: `tests/fixtures/<model>.ids.jsonl`, written by `bench/llamacpp/tokenizer_fixtures.py`
//! from the strings in `tests/fixtures/strings.json`. The models come from
//! `scripts/fetch-models.sh`; without them these tests print a notice and pass, unless
//! `AHA_REQUIRE_MODELS=1` (set by scripts/test.sh), where a missing model fails.

use std::path::PathBuf;
use std::time::Instant;

use aha_tokenizer::{ChatMessage, Tokenizer, TokenizerKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

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
    eprintln!(
        "notice: {} not found, skipping (run scripts/fetch-models.sh)",
        path.display()
    );
    None
}

struct Case {
    text: String,
    ids: Vec<u32>,
    ids_plain: Vec<u32>,
}

fn fixtures(name: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.ids.jsonl"));
    let mut out = Vec::new();
    for (i, line) in std::fs::read_to_string(&path)?.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        assert_eq!(v["schema_version"], 1, "{}:{}", path.display(), i + 1);
        let ids = |k: &str| -> Vec<u32> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_u64())
                        .map(|x| x as u32)
                        .collect()
                })
                .unwrap_or_default()
        };
        out.push(Case {
            text: v["text"].as_str().unwrap_or_default().to_string(),
            ids: ids("ids"),
            ids_plain: ids("ids_no_parse_special"),
        });
    }
    assert!(
        out.len() >= 15,
        "{} has only {} cases",
        path.display(),
        out.len()
    );
    Ok(out)
}

/// Every fixture string: ids equal llama.cpp's with and without special-token parsing, and
/// both id lists decode back to the exact string.
fn check_model(tok: &Tokenizer, name: &str) -> TestResult {
    let mut failures = Vec::new();
    for case in fixtures(name)? {
        let ids = tok.encode(&case.text, false)?;
        if ids != case.ids {
            failures.push(format!(
                "{:?}\n  aha:       {ids:?}\n  llama.cpp: {:?}",
                case.text, case.ids
            ));
        }
        let plain = tok.encode_plain(&case.text, false)?;
        if plain != case.ids_plain {
            failures.push(format!(
                "(no parse special) {:?}\n  aha:       {plain:?}\n  llama.cpp: {:?}",
                case.text, case.ids_plain
            ));
        }
        assert_eq!(tok.decode(&case.ids), case.text, "decode of llama.cpp ids");
        assert_eq!(
            tok.decode(&case.ids_plain),
            case.text,
            "decode of plain ids"
        );
    }
    assert!(failures.is_empty(), "{name}: {}", failures.join("\n"));
    Ok(())
}

#[test]
fn smollm2_matches_llamacpp() -> TestResult {
    let Some(path) = model_path("SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return Ok(());
    };
    let t0 = Instant::now();
    let tok = Tokenizer::from_gguf_file(&path)?;
    eprintln!("SmolLM2 tokenizer loaded in {:?}", t0.elapsed());
    assert_eq!(
        tok.kind(),
        &TokenizerKind::ByteLevelBpe {
            pre: "smollm".into()
        }
    );
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    // <|im_end|> (2) is the file's eos; <|endoftext|> (0) also ends generation.
    assert!(tok.is_eos(2) && tok.is_eos(0) && !tok.is_eos(1));
    assert!(!tok.add_bos_default());
    check_model(&tok, "smollm2")
}

#[test]
fn gemma3_matches_llamacpp() -> TestResult {
    let Some(path) = model_path("gemma-3-270m-q4_k_m.gguf") else {
        return Ok(());
    };
    let t0 = Instant::now();
    let tok = Tokenizer::from_gguf_file(&path)?;
    let load = t0.elapsed();
    eprintln!("Gemma3 tokenizer loaded in {load:?}");
    assert_eq!(tok.kind(), &TokenizerKind::SentencePiece);
    assert_eq!(tok.vocab_size(), 262_144);
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.pad_id()),
        (Some(2), Some(1), Some(0))
    );
    let eot = tok.token_to_id("<end_of_turn>").ok_or("no <end_of_turn>")?;
    assert!(tok.is_eos(1) && tok.is_eos(eot));
    assert!(tok.add_bos_default());
    check_model(&tok, "gemma3")
}

#[test]
fn smollm2_chat_prompt_uses_the_gguf_template() -> TestResult {
    let Some(path) = model_path("SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return Ok(());
    };
    let tok = Tokenizer::from_gguf_file(&path)?;
    assert!(tok.chat_template_source().is_some());
    let text = tok.apply_chat_template(&[ChatMessage::user("What is 2+2?")], true)?;
    // The GGUF template adds SmolLM's default system prompt when none is given.
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tok.encode_chat(&[ChatMessage::user("What is 2+2?")], true)?;
    assert_eq!(
        ids.first(),
        Some(&1),
        "starts with <|im_start|>, no BOS added"
    );
    assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 2, "two <|im_end|>");
    Ok(())
}

#[test]
fn gemma3_chat_prompt_has_one_bos() -> TestResult {
    let Some(path) = model_path("gemma-3-270m-q4_k_m.gguf") else {
        return Ok(());
    };
    let tok = Tokenizer::from_gguf_file(&path)?;
    assert!(
        tok.chat_template_source().is_none(),
        "the base GGUF has no template"
    );
    let msgs = [ChatMessage::user("What is 2+2?")];
    let text = tok.apply_chat_template(&msgs, true)?;
    assert_eq!(
        text,
        "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"
    );
    let ids = tok.encode_chat(&msgs, true)?;
    assert_eq!(
        ids.iter().filter(|&&i| i == 2).count(),
        1,
        "exactly one BOS"
    );
    assert_eq!(ids[0], 2);
    Ok(())
}
