//! Hugging Face directories: `tokenizer.json` (run by the `tokenizers` crate) plus the special
//! tokens and chat template of `tokenizer_config.json` and the end-of-generation ids of
//! `generation_config.json`.

use std::path::Path;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::vocab::{PieceEncoding, TokenKind, Vocab, parse_byte_piece};
use crate::{Backend, Specials, Tokenizer, TokenizerKind};

fn read_json(path: &Path) -> Result<Json> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::TokenizerJson {
        path: path.to_path_buf(),
        reason: format!("line {}, column {}: {e}", e.line(), e.column()),
    })
}

/// A token named in tokenizer_config.json: a string or `{"content": "..."}`.
fn token_text(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content").and_then(Json::as_str),
        _ => None,
    }
}

pub(crate) fn build(path: &Path) -> Result<Tokenizer> {
    let json = read_json(path)?;
    let mut parse = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::TokenizerJson {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // No post-processor: BOS is added by `encode(.., add_bos)` only, as for GGUF models.
    parse.with_post_processor(None::<tokenizers::PostProcessorWrapper>);
    let mut plain = parse.clone();
    plain.set_encode_special_tokens(true);

    // Byte-level decoders map chars back to bytes; everything else here is SentencePiece-like
    // (`▁` for space, `<0xAB>` byte fallback).
    let byte_level = json
        .get("decoder")
        .is_some_and(|d| d.to_string().contains("\"ByteLevel\""));
    let encoding = if byte_level {
        PieceEncoding::ByteLevel
    } else {
        PieceEncoding::SentencePiece
    };
    let byte_fallback = json
        .pointer("/model/byte_fallback")
        .and_then(Json::as_bool)
        .unwrap_or(false);

    let vocab_map = parse.get_vocab(true);
    let n = vocab_map
        .values()
        .map(|&i| i as usize + 1)
        .max()
        .unwrap_or(0);
    let mut pieces = vec![String::new(); n];
    let mut kinds = vec![TokenKind::Unused; n];
    for (piece, id) in vocab_map {
        let kind = if byte_fallback && parse_byte_piece(&piece).is_some() {
            TokenKind::Byte
        } else {
            TokenKind::Normal
        };
        kinds[id as usize] = kind;
        pieces[id as usize] = piece;
    }
    for (id, added) in parse.get_added_tokens_decoder() {
        if let Some(k) = kinds.get_mut(id as usize) {
            *k = if added.special {
                TokenKind::Control
            } else {
                TokenKind::UserDefined
            };
        }
    }
    let vocab = Vocab::new(pieces, kinds, encoding)?;

    let dir = path.parent().unwrap_or(Path::new("."));
    let mut specials = Specials::default();
    let config_path = dir.join("tokenizer_config.json");
    if config_path.exists() {
        let cfg = read_json(&config_path)?;
        let id_of = |key: &str| token_text(cfg.get(key)).and_then(|t| vocab.id(t));
        specials.bos = id_of("bos_token");
        specials.eos = id_of("eos_token");
        specials.pad = id_of("pad_token");
        specials.unk = id_of("unk_token");
        specials.add_bos = cfg
            .get("add_bos_token")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        specials.chat_template = match cfg.get("chat_template") {
            Some(Json::String(s)) => Some(s.clone()),
            // A list of named templates: take "default".
            Some(Json::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(Json::as_str)
                .map(str::to_string),
            _ => None,
        };
    }
    if specials.chat_template.is_none() {
        // Newer exports keep the template in its own file.
        let jinja = dir.join("chat_template.jinja");
        if jinja.exists() {
            specials.chat_template =
                Some(std::fs::read_to_string(&jinja).map_err(|source| Error::Io {
                    path: jinja.clone(),
                    source,
                })?);
        }
    }
    let gen_path = dir.join("generation_config.json");
    if gen_path.exists() {
        let generation = read_json(&gen_path)?;
        match generation.get("eos_token_id") {
            Some(Json::Number(x)) => specials
                .extra_eos
                .extend(x.as_u64().and_then(|i| u32::try_from(i).ok())),
            Some(Json::Array(xs)) => specials.extra_eos.extend(
                xs.iter()
                    .filter_map(Json::as_u64)
                    .filter_map(|i| u32::try_from(i).ok()),
            ),
            _ => {}
        }
    }
    Ok(Tokenizer::assemble(
        vocab,
        Backend::Hf {
            parse: Box::new(parse),
            plain: Box::new(plain),
        },
        TokenizerKind::TokenizerJson,
        specials,
    ))
}
