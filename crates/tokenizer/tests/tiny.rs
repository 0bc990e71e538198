//! Hand-made tiny vocabularies (no model files): byte-level BPE, SentencePiece, tokenizer.json,
//! special-token splitting and streaming decode. Expected ids are derived by hand in comments.

use std::collections::HashMap;
use std::path::PathBuf;

use aha_tokenizer::{Error, TokenKind, Tokenizer, TokenizerKind};
use candle_core::quantized::gguf_file::Value;
use proptest::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// GPT-2's byte → char map (test copy, written from its definition): printable Latin-1 bytes
/// stay, the rest go to U+0100.. in byte order.
fn gpt2_char(b: u8) -> char {
    let printable = |x: u8| matches!(x, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let n = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + n).unwrap_or('?')
}

fn strings(xs: &[&str]) -> Value {
    Value::Array(xs.iter().map(|s| Value::String(s.to_string())).collect())
}

/// Ids 0..=255: the byte chars in byte order; then merged pieces; then three control tokens.
///
/// | id  | piece | merge rank |
/// |-----|-------|------------|
/// | 256 | Ġt    | 2          |
/// | 257 | he    | 0          |
/// | 258 | the   | 1          |
/// | 259 | Ġthe  | 3          |
/// | 260 | ca    | 4          |
/// | 261 | cat   | 5          |
/// | 262 | Ġcat  | 6          |
/// | 263 | <\|im_start\|> (control) | |
/// | 264 | <\|im_end\|> (control)   | |
/// | 265 | <\|endoftext\|> (control)| |
fn tiny_bpe_metadata() -> HashMap<String, Value> {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| gpt2_char(b).to_string()).collect();
    for p in [
        "Ġt",
        "he",
        "the",
        "Ġthe",
        "ca",
        "cat",
        "Ġcat",
        "<|im_start|>",
        "<|im_end|>",
        "<|endoftext|>",
    ] {
        tokens.push(p.to_string());
    }
    let types: Vec<Value> = (0..tokens.len())
        .map(|i| Value::I32(if i >= 263 { 3 } else { 1 }))
        .collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let mut md = HashMap::new();
    md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
    md.insert("tokenizer.ggml.pre".into(), Value::String("gpt2".into()));
    md.insert("tokenizer.ggml.tokens".into(), strings(&refs));
    md.insert("tokenizer.ggml.token_type".into(), Value::Array(types));
    md.insert(
        "tokenizer.ggml.merges".into(),
        strings(&["h e", "t he", "Ġ t", "Ġt he", "c a", "ca t", "Ġ cat"]),
    );
    md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(263));
    md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(264));
    md
}

fn tiny_bpe() -> Tokenizer {
    match Tokenizer::from_gguf_metadata(&tiny_bpe_metadata()) {
        Ok(t) => t,
        Err(e) => panic!("tiny BPE: {e}"),
    }
}

#[test]
fn bpe_merges_follow_rank_order() -> TestResult {
    let tok = tiny_bpe();
    assert_eq!(
        tok.kind(),
        &TokenizerKind::ByteLevelBpe { pre: "gpt2".into() }
    );
    // Words (gpt2 regex): "the", " cat", " the".
    // "the": (h,e) rank 0 -> t,he; (t,he) rank 1 -> the = 258.
    // " cat": (c,a) rank 4 -> Ġ,ca,t; (ca,t) rank 5 -> Ġ,cat; (Ġ,cat) rank 6 -> Ġcat = 262.
    // " the": (h,e) rank 0 beats (Ġ,t) rank 2 -> Ġ,t,he; (t,he) rank 1 -> Ġ,the; no "Ġ the"
    // merge exists, so Ġ (32) and the (258) stay apart although "Ġthe" is in the vocabulary.
    assert_eq!(tok.encode("the cat the", false)?, vec![258, 262, 32, 258]);
    // BOS on request; "é" is bytes C3 A9, i.e. ids 195, 169.
    assert_eq!(tok.encode("é", true)?, vec![263, 195, 169]);
    assert_eq!(tok.decode(&[258, 262, 32, 258, 195, 169]), "the cat theé");
    Ok(())
}

#[test]
fn bpe_special_tokens_in_text() -> TestResult {
    let tok = tiny_bpe();
    assert_eq!(
        tok.encode("<|im_start|>the<|im_end|>", false)?,
        vec![263, 258, 264]
    );
    // Without special parsing the control tokens are plain bytes:
    // "<|" "im" "_" "start" "|>" "the" "<|" "im" "_" "end" "|>".
    let plain = tok.encode_plain("<|im_start|>the<|im_end|>", false)?;
    assert_eq!(
        plain,
        vec![
            60, 124, 105, 109, 95, 115, 116, 97, 114, 116, 124, 62, 258, 60, 124, 105, 109, 95,
            101, 110, 100, 124, 62
        ]
    );
    assert_eq!(tok.decode(&plain), "<|im_start|>the<|im_end|>");
    assert_eq!(tok.decode(&[263, 258, 264]), "<|im_start|>the<|im_end|>");
    assert_eq!(tok.decode_skip_special(&[263, 258, 264]), "the");
    // eos (264) plus the end-of-turn names present: <|im_end|>, <|endoftext|>.
    assert!(tok.is_eos(264) && tok.is_eos(265) && !tok.is_eos(263));
    assert_eq!(tok.token_kind(263), Some(TokenKind::Control));
    assert_eq!(tok.token_to_id("Ġcat"), Some(262));
    assert_eq!(tok.id_to_piece(262), Some("Ġcat"));
    assert_eq!(tok.token_bytes(262), Some(&b" cat"[..]));
    Ok(())
}

#[test]
fn stream_decoder_holds_back_split_utf8() {
    let tok = tiny_bpe();
    // "é🙂" = C3 A9 | F0 9F 99 82: text appears only once a char is complete.
    let mut s = tok.stream_decoder(false);
    let got: Vec<String> = [195u32, 169, 240, 159, 153, 130]
        .iter()
        .map(|&id| s.push(id))
        .collect();
    assert_eq!(got, vec!["", "é", "", "", "", "🙂"]);
    assert_eq!(s.finish(), "");
    // A char cut off at the end comes out as one U+FFFD, like decode().
    let mut s = tok.stream_decoder(false);
    assert_eq!(s.push(240), "");
    assert_eq!(s.push(159), "");
    assert_eq!(s.finish(), "\u{FFFD}");
    assert_eq!(tok.decode(&[240, 159]), "\u{FFFD}");
    // A byte that can never start a char (0xFF) is replaced at once; then text flows on.
    let mut s = tok.stream_decoder(false);
    assert_eq!(s.push(255), "\u{FFFD}");
    assert_eq!(s.push(258), "the");
    // Skipping specials in the stream; unknown ids become U+FFFD.
    let mut s = tok.stream_decoder(true);
    assert_eq!(s.push(263), "");
    assert_eq!(s.push(258), "the");
    assert_eq!(s.push(99_999), "\u{FFFD}");
}

#[test]
fn bad_metadata_names_the_key() {
    let mut md = tiny_bpe_metadata();
    md.remove("tokenizer.ggml.merges");
    match Tokenizer::from_gguf_metadata(&md) {
        Err(Error::MissingKey { key }) => assert_eq!(key, "tokenizer.ggml.merges"),
        other => panic!("expected MissingKey, got {other:?}"),
    }
    let mut md = tiny_bpe_metadata();
    md.insert("tokenizer.ggml.pre".into(), Value::String("nope".into()));
    assert!(matches!(
        Tokenizer::from_gguf_metadata(&md),
        Err(Error::UnsupportedPre { .. })
    ));
    let mut md = tiny_bpe_metadata();
    md.insert("tokenizer.ggml.merges".into(), strings(&["hnospace"]));
    match Tokenizer::from_gguf_metadata(&md) {
        Err(e @ Error::BadKey { .. }) => assert!(e.to_string().contains("entry 0"), "{e}"),
        other => panic!("expected BadKey, got {other:?}"),
    }
    let mut md = tiny_bpe_metadata();
    md.insert("tokenizer.ggml.model".into(), Value::String("bert".into()));
    assert!(matches!(
        Tokenizer::from_gguf_metadata(&md),
        Err(Error::UnsupportedModel { .. })
    ));
    let mut md = tiny_bpe_metadata();
    md.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(vec![Value::I32(1)]),
    );
    assert!(matches!(
        Tokenizer::from_gguf_metadata(&md),
        Err(Error::BadKey { .. })
    ));
}

/// SentencePiece vocabulary:
///
/// | id      | piece            | score / kind           |
/// |---------|------------------|------------------------|
/// | 0,1,2   | <pad> <eos> <bos>| control                |
/// | 3..=258 | <0x00>..<0xFF>   | byte                   |
/// | 259     | ▁                | -3.0                   |
/// | 260     | a                | -4.0                   |
/// | 261     | b                | -4.0                   |
/// | 262     | ab               | -1.0                   |
/// | 263     | ▁a               | -0.5                   |
/// | 264     | ▁ab              | -2.0                   |
/// | 265     | \n\n             | user-defined           |
/// | 266     | \n\n\n           | user-defined           |
/// | 267     | <start_of_turn>  | control                |
/// | 268     | <end_of_turn>    | control                |
fn tiny_spm_metadata(add_space_prefix: bool) -> HashMap<String, Value> {
    let mut tokens: Vec<String> = vec!["<pad>".into(), "<eos>".into(), "<bos>".into()];
    let mut types = vec![3, 3, 3];
    let mut scores = vec![0.0f32; 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    for (p, s, t) in [
        ("▁", -3.0, 1),
        ("a", -4.0, 1),
        ("b", -4.0, 1),
        ("ab", -1.0, 1),
        ("▁a", -0.5, 1),
        ("▁ab", -2.0, 1),
        ("\n\n", 0.0, 4),
        ("\n\n\n", 0.0, 4),
        ("<start_of_turn>", 0.0, 3),
        ("<end_of_turn>", 0.0, 3),
    ] {
        tokens.push(p.into());
        scores.push(s);
        types.push(t);
    }
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let mut md = HashMap::new();
    md.insert("tokenizer.ggml.model".into(), Value::String("llama".into()));
    md.insert("tokenizer.ggml.tokens".into(), strings(&refs));
    md.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(types.into_iter().map(Value::I32).collect()),
    );
    md.insert(
        "tokenizer.ggml.scores".into(),
        Value::Array(scores.into_iter().map(Value::F32).collect()),
    );
    md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(2));
    md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(1));
    md.insert("tokenizer.ggml.padding_token_id".into(), Value::U32(0));
    md.insert(
        "tokenizer.ggml.add_space_prefix".into(),
        Value::Bool(add_space_prefix),
    );
    md
}

fn tiny_spm(add_space_prefix: bool) -> Tokenizer {
    match Tokenizer::from_gguf_metadata(&tiny_spm_metadata(add_space_prefix)) {
        Ok(t) => t,
        Err(e) => panic!("tiny SPM: {e}"),
    }
}

#[test]
fn spm_merges_by_score_with_byte_fallback() -> TestResult {
    let tok = tiny_spm(false);
    assert_eq!(tok.kind(), &TokenizerKind::SentencePiece);
    // "ab ab" -> a b ▁ a b. Best bigram: "▁a" (-0.5) -> a b ▁a b; then "ab" (-1.0) at the
    // left -> ab ▁a b; then "▁ab" (-2.0) -> ab ▁ab.
    assert_eq!(tok.encode("ab ab", false)?, vec![262, 264]);
    // "c" and "é" are not pieces: byte fallback, <0x63> = 3 + 0x63, é = <0xC3><0xA9>.
    assert_eq!(tok.encode("cé", false)?, vec![3 + 0x63, 3 + 0xC3, 3 + 0xA9]);
    assert_eq!(
        tok.decode(&[262, 264, 3 + 0x63, 3 + 0xC3, 3 + 0xA9]),
        "ab abcé"
    );
    // With a space prefix "ab" becomes "▁ab" -> ▁ a b: ▁a (-0.5) beats ab (-1.0), which is
    // then stale; ▁a b -> ▁ab (-2.0).
    let prefixed = tiny_spm(true);
    assert_eq!(prefixed.encode("ab", false)?, vec![264]);
    assert_eq!(tok.encode("ab", true)?, vec![2, 262]);
    assert!(tok.add_bos_default());
    Ok(())
}

#[test]
fn spm_special_tokens_longest_first() -> TestResult {
    let tok = tiny_spm(false);
    // Five newlines: the 3-newline token claims the first three, the 2-newline token the rest.
    assert_eq!(tok.encode("\n\n\n\n\n", false)?, vec![266, 265]);
    // User-defined tokens are found even without special parsing; control tokens are not.
    assert_eq!(tok.encode_plain("a\n\nb", false)?, vec![260, 265, 261]);
    assert_eq!(
        tok.encode("<start_of_turn>ab<end_of_turn>", false)?,
        vec![267, 262, 268]
    );
    let plain = tok.encode_plain("<end_of_turn>", false)?;
    assert!(!plain.contains(&268) && plain.len() == "<end_of_turn>".len());
    assert_eq!(tok.decode(&plain), "<end_of_turn>");
    assert!(tok.is_eos(1) && tok.is_eos(268));
    Ok(())
}

fn tiny_hf_json() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-hf/tokenizer.json")
}

#[test]
fn tokenizer_json_agrees_with_gguf_metadata() -> TestResult {
    // The same vocabulary and merges as tiny_bpe_metadata(), as a tokenizer.json with a
    // tokenizer_config.json (bos <|im_start|>, eos <|im_end|>, ChatML template) beside it.
    let hf = Tokenizer::from_tokenizer_json(&tiny_hf_json())?;
    let gguf = tiny_bpe();
    assert_eq!(hf.kind(), &TokenizerKind::TokenizerJson);
    assert_eq!(hf.vocab_size(), gguf.vocab_size());
    for text in ["the cat the", "<|im_start|>the<|im_end|>", "é🙂 x  y\n\tz"] {
        assert_eq!(
            hf.encode(text, false)?,
            gguf.encode(text, false)?,
            "{text:?}"
        );
        assert_eq!(
            hf.encode_plain(text, false)?,
            gguf.encode_plain(text, false)?,
            "{text:?}"
        );
        assert_eq!(hf.decode(&hf.encode(text, false)?), text);
    }
    assert_eq!((hf.bos_id(), hf.eos_id()), (Some(263), Some(264)));
    assert!(hf.is_eos(265), "<|endoftext|> from generation_config.json");
    assert!(hf.chat_template_source().is_some());
    Ok(())
}

#[test]
fn missing_tokenizer_json_names_the_file() {
    let path = PathBuf::from("/nonexistent/tokenizer.json");
    match Tokenizer::from_tokenizer_json(&path) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("/nonexistent/tokenizer.json")),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn malformed_tokenizer_json_gives_line_and_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{\n  \"model\": [1,\n")?;
    match Tokenizer::from_tokenizer_json(&path) {
        Err(e @ Error::TokenizerJson { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("tokenizer.json") && msg.contains("line 3"),
                "{msg}"
            );
        }
        other => panic!("expected TokenizerJson, got {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bpe_round_trips_any_string(s in any::<String>()) {
        let tok = tiny_bpe();
        let ids = tok.encode(&s, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(tok.decode(&ids), s.clone());
        let plain = tok.encode_plain(&s, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(tok.decode(&plain), s);
    }

    #[test]
    fn spm_round_trips_any_string_without_the_space_marker(s in "[^\u{2581}]*") {
        // U+2581 itself is how SentencePiece stores a space, so it decodes to " ": the one
        // string SentencePiece cannot round-trip, in llama.cpp too.
        let tok = tiny_spm(false);
        let ids = tok.encode(&s, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(tok.decode(&ids), s);
    }

    #[test]
    fn stream_equals_decode(s in any::<String>(), skip in any::<bool>()) {
        let tok = tiny_spm(false);
        let ids = tok.encode(&s, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut st = tok.stream_decoder(skip);
        let mut out = String::new();
        for &id in &ids {
            out.push_str(&st.push(id));
        }
        out.push_str(&st.finish());
        let want = if skip { tok.decode_skip_special(&ids) } else { tok.decode(&ids) };
        prop_assert_eq!(out, want);
    }
}

/// `Tokenizer::for_model`: an explicit tokenizer wins; a Hugging Face directory and an aha
/// `.safetensors` file find the `tokenizer.json` inside or beside them; a weight file with none
/// is a clear error naming it.
#[test]
fn for_model_finds_the_tokenizer_of_each_kind_of_model() -> Result<(), Box<dyn std::error::Error>> {
    let fixture_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-hf");
    let json = fixture_dir.join("tokenizer.json");
    let reference = Tokenizer::from_tokenizer_json(&json)?;

    let (tok, source) = Tokenizer::for_model(&fixture_dir, None)?;
    assert_eq!(source, json);
    assert_eq!(tok.vocab_size(), reference.vocab_size());

    let dir = tempfile::tempdir()?;
    let weights = dir.path().join("model.safetensors");
    std::fs::write(&weights, b"not read")?;
    match Tokenizer::for_model(&weights, None) {
        Err(Error::NoTokenizer { path }) => assert_eq!(path, weights),
        other => panic!("expected NoTokenizer, got {:?}", other.map(|(_, p)| p)),
    }
    let (_, source) = Tokenizer::for_model(&weights, Some(&json))?;
    assert_eq!(source, json);
    std::fs::copy(&json, dir.path().join("tokenizer.json"))?;
    let (tok, source) = Tokenizer::for_model(&weights, None)?;
    assert_eq!(source, dir.path().join("tokenizer.json"));
    assert_eq!(tok.vocab_size(), reference.vocab_size());
    Ok(())
}
