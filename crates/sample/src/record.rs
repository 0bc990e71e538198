//! One prompt's generation as `aha generate` reports it: the prompt's tokens (plain text or a
//! chat turn) and the typed JSON record of the completion.

use std::path::Path;

use aha_model::{Completion, FinishReason};
use aha_tokenizer::{ChatMessage, Tokenizer};

use crate::{Error, Result};

/// The `schema_version` of [`GenerationRecord`].
pub const GENERATION_SCHEMA_VERSION: u32 = 1;

/// The prompt's token ids: `text` as a user turn of the tokenizer's chat template (after a
/// `system` message, if given) when `chat`, else the plain text with the tokenizer's default
/// BOS. An empty result is an error: the model needs at least one token to continue.
pub fn prompt_tokens(
    tok: &Tokenizer,
    text: &str,
    chat: bool,
    system: Option<&str>,
) -> Result<Vec<u32>> {
    let ids = if chat {
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(ChatMessage::system(s.to_string()));
        }
        messages.push(ChatMessage::user(text.to_string()));
        tok.encode_chat(&messages, true)
    } else {
        tok.encode(text, tok.add_bos_default())
    }
    .map_err(|e| Error::Sampler(e.to_string()))?;
    if ids.is_empty() {
        return Err(Error::Sampler("the prompt encodes to no tokens".into()));
    }
    Ok(ids)
}

/// One generation: what `aha generate --json` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GenerationRecord<'a> {
    /// [`GENERATION_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The model it came from.
    pub model: &'a Path,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// The completion decoded without special tokens.
    pub text: String,
    /// The sampled ids.
    pub tokens: &'a [u32],
    /// Their log-probabilities.
    pub logprobs: &'a [f32],
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// The stop string that ended it.
    pub stop_string: Option<&'a str>,
}

impl<'a> GenerationRecord<'a> {
    /// The record of completion `c` of a `prompt_tokens`-token prompt to `model`.
    pub fn new(
        model: &'a Path,
        prompt_tokens: usize,
        c: &'a Completion,
        tok: &Tokenizer,
    ) -> GenerationRecord<'a> {
        GenerationRecord {
            schema_version: GENERATION_SCHEMA_VERSION,
            model,
            prompt_tokens,
            text: tok.decode_skip_special(&c.tokens),
            tokens: &c.tokens,
            logprobs: &c.logprobs,
            finish_reason: c.finish_reason,
            stop_string: c.stop_string.as_deref(),
        }
    }
}
