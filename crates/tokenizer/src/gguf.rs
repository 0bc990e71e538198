//! Reading the tokenizer out of GGUF metadata.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

use crate::error::{Error, Result};
use crate::vocab::{PieceEncoding, TokenKind, Vocab};
use crate::{Backend, Specials, Tokenizer, TokenizerKind, bpe, spm};

fn get<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a Value> {
    md.get(key)
        .ok_or_else(|| Error::MissingKey { key: key.into() })
}

fn bad(key: &str, reason: impl Into<String>) -> Error {
    Error::BadKey {
        key: key.into(),
        reason: reason.into(),
    }
}

fn as_string<'a>(key: &str, v: &'a Value) -> Result<&'a str> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(bad(
            key,
            format!("expected a string, found {:?}", other.value_type()),
        )),
    }
}

/// Any GGUF integer as i64 (writers differ in the width they use for ids and types).
fn as_int(key: &str, v: &Value) -> Result<i64> {
    Ok(match v {
        Value::U8(x) => i64::from(*x),
        Value::I8(x) => i64::from(*x),
        Value::U16(x) => i64::from(*x),
        Value::I16(x) => i64::from(*x),
        Value::U32(x) => i64::from(*x),
        Value::I32(x) => i64::from(*x),
        Value::I64(x) => *x,
        Value::U64(x) => i64::try_from(*x).map_err(|_| bad(key, "integer out of range"))?,
        other => {
            return Err(bad(
                key,
                format!("expected an integer, found {:?}", other.value_type()),
            ));
        }
    })
}

fn as_array<'a>(key: &str, v: &'a Value) -> Result<&'a [Value]> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(bad(
            key,
            format!("expected an array, found {:?}", other.value_type()),
        )),
    }
}

fn string_array(md: &HashMap<String, Value>, key: &str) -> Result<Vec<String>> {
    as_array(key, get(md, key)?)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            as_string(key, v)
                .map(str::to_string)
                .map_err(|_| bad(key, format!("entry {i} is not a string")))
        })
        .collect()
}

fn opt_bool(md: &HashMap<String, Value>, key: &str) -> Result<Option<bool>> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => as_int(key, v).map(|i| Some(i != 0)),
    }
}

/// An optional token id; out-of-range or negative ids (some writers store -1 for "none") count
/// as absent.
fn opt_id(md: &HashMap<String, Value>, key: &str, n_tokens: usize) -> Result<Option<u32>> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => {
            let i = as_int(key, v)?;
            Ok(u32::try_from(i).ok().filter(|&i| (i as usize) < n_tokens))
        }
    }
}

pub(crate) fn build(md: &HashMap<String, Value>) -> Result<Tokenizer> {
    let model = as_string("tokenizer.ggml.model", get(md, "tokenizer.ggml.model")?)?.to_string();
    let pieces = string_array(md, "tokenizer.ggml.tokens")?;
    let n = pieces.len();
    let kinds = match md.get("tokenizer.ggml.token_type") {
        None => vec![TokenKind::Normal; n],
        Some(v) => as_array("tokenizer.ggml.token_type", v)?
            .iter()
            .map(|t| as_int("tokenizer.ggml.token_type", t).map(TokenKind::from_gguf))
            .collect::<Result<Vec<_>>>()?,
    };
    let chat_template = match md.get("tokenizer.chat_template") {
        None => None,
        Some(v) => Some(as_string("tokenizer.chat_template", v)?.to_string()),
    };
    let mut specials = Specials {
        bos: opt_id(md, "tokenizer.ggml.bos_token_id", n)?,
        eos: opt_id(md, "tokenizer.ggml.eos_token_id", n)?,
        pad: opt_id(md, "tokenizer.ggml.padding_token_id", n)?,
        unk: opt_id(md, "tokenizer.ggml.unknown_token_id", n)?,
        extra_eos: Vec::new(),
        add_bos: false,
        add_space_prefix: false,
        chat_template,
    };
    for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
        if let Some(id) = opt_id(md, key, n)? {
            specials.extra_eos.push(id);
        }
    }
    match model.as_str() {
        "gpt2" => {
            let merges = string_array(md, "tokenizer.ggml.merges")?;
            let pre = match md.get("tokenizer.ggml.pre") {
                None => "default".to_string(),
                Some(v) => as_string("tokenizer.ggml.pre", v)?.to_string(),
            };
            // llama.cpp: BPE vocabularies never get a space prefix; Llama 3 style ones add BOS
            // unless the file says otherwise.
            let default_bos = matches!(pre.as_str(), "llama3" | "llama-v3" | "llama-bpe");
            specials.add_bos = opt_bool(md, "tokenizer.ggml.add_bos_token")?.unwrap_or(default_bos);
            let backend = bpe::ByteLevelBpe::new(&pieces, &merges, &pre)?;
            let vocab = Vocab::new(pieces, kinds, PieceEncoding::ByteLevel)?;
            Ok(Tokenizer::assemble(
                vocab,
                Backend::Bpe(Box::new(backend)),
                TokenizerKind::ByteLevelBpe { pre },
                specials,
            ))
        }
        "llama" => {
            let key = "tokenizer.ggml.scores";
            let scores = as_array(key, get(md, key)?)?
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::F32(x) => Ok(*x),
                    Value::F64(x) => Ok(*x as f32),
                    _ => Err(bad(key, format!("entry {i} is not a float"))),
                })
                .collect::<Result<Vec<f32>>>()?;
            // llama.cpp's SPM defaults: BOS on, space prefix on, unless the file says otherwise.
            specials.add_bos = opt_bool(md, "tokenizer.ggml.add_bos_token")?.unwrap_or(true);
            specials.add_space_prefix =
                opt_bool(md, "tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            let vocab = Vocab::new(pieces, kinds, PieceEncoding::SentencePiece)?;
            let backend = spm::Spm::new(&vocab, scores)?;
            Ok(Tokenizer::assemble(
                vocab,
                Backend::Spm(Box::new(backend)),
                TokenizerKind::SentencePiece,
                specials,
            ))
        }
        other => Err(Error::UnsupportedModel {
            model: other.to_string(),
        }),
    }
}
