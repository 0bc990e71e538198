//! The world's tokenizer: word level, one token per number, written as a Hugging Face
//! `tokenizer.json` (WordLevel model, Metaspace pre-tokenizer) plus `tokenizer_config.json`, so
//! that `aha_tokenizer::Tokenizer::from_tokenizer_json`, `aha generate --model` and `aha probe
//! --model` read it like any other model's.
//!
//! Word level because the world's texts are space-separated words; a number being one token
//! keeps sequences short (a solution is ~25-50 tokens) and makes each arithmetic step one
//! prediction, which a tiny model learns in minutes on a CPU.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::world::REFLECTION_PHRASES;

/// Unknown-word token (id 0).
pub const UNK: &str = "<unk>";
/// Beginning of sequence (id 1).
pub const BOS: &str = "<s>";
/// End of sequence (id 2).
pub const EOS: &str = "</s>";
/// BOS id.
pub const BOS_ID: u32 = 1;
/// EOS id.
pub const EOS_ID: u32 = 2;

/// The SentencePiece word-boundary mark the Metaspace pre-tokenizer puts before every word.
const MARK: char = '\u{2581}';

/// The words of the world, in id order after the three special tokens.
pub fn words(max_value: u32) -> Vec<String> {
    let mut w: Vec<String> = ["Compute", "+", "-", "=", ".", ",", "\\boxed{", "}"]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    for phrase in REFLECTION_PHRASES {
        for word in phrase.split(' ') {
            if !w.iter().any(|x| x == word) {
                w.push(word.to_string());
            }
        }
    }
    w.extend((0..=crate::world::number_max(max_value)).map(|n| n.to_string()));
    w
}

/// Vocabulary size for numbers up to `max_value` (specials included).
pub fn vocab_size(max_value: u32) -> usize {
    3 + words(max_value).len()
}

/// The `tokenizer.json` text.
pub fn tokenizer_json(max_value: u32) -> String {
    let mut vocab = serde_json::Map::new();
    for (i, s) in [UNK, BOS, EOS].iter().enumerate() {
        vocab.insert((*s).to_string(), json!(i));
    }
    for (i, w) in words(max_value).iter().enumerate() {
        vocab.insert(format!("{MARK}{w}"), json!(i + 3));
    }
    let special = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let meta = json!({"type": "Metaspace", "replacement": MARK.to_string(),
                      "prepend_scheme": "always", "split": true});
    let doc: Value = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, UNK), special(1, BOS), special(2, EOS)],
        "normalizer": null,
        "pre_tokenizer": meta,
        "post_processor": null,
        "decoder": meta,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": UNK},
    });
    // A map of strings and numbers always serialises.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The `tokenizer_config.json` text (special tokens, BOS added by default).
pub fn tokenizer_config_json() -> String {
    let doc = json!({"bos_token": BOS, "eos_token": EOS, "unk_token": UNK,
                     "add_bos_token": true, "model_max_length": 256});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Writes `tokenizer.json` and `tokenizer_config.json` into `dir` and loads them back.
pub fn write_and_load(dir: &Path, max_value: u32) -> Result<aha_tokenizer::Tokenizer> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tok = dir.join("tokenizer.json");
    std::fs::write(&tok, tokenizer_json(max_value)).map_err(|e| Error::io(&tok, e))?;
    let cfg = dir.join("tokenizer_config.json");
    std::fs::write(&cfg, tokenizer_config_json()).map_err(|e| Error::io(&cfg, e))?;
    Ok(aha_tokenizer::Tokenizer::from_tokenizer_json(&tok)?)
}
