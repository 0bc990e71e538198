//! Tokenizers built from GGUF metadata (byte-level BPE for SmolLM2/Qwen/Llama 3, SentencePiece
//! for Gemma) or from a Hugging Face `tokenizer.json`, plus chat templates. Ids match
//! llama.cpp's `llama-tokenize` on the fixture strings in `tests/fixtures/`.
//!
//! # API (what `aha-model` and the CLI compile against)
//!
//! ```text
//! Tokenizer::from_gguf(&gguf_file::Content) -> Result<Tokenizer>
//! Tokenizer::from_gguf_metadata(&HashMap<String, gguf_file::Value>) -> Result<Tokenizer>
//! Tokenizer::from_gguf_file(path) -> Result<Tokenizer>          // reads metadata, not tensors
//! Tokenizer::from_tokenizer_json(path) -> Result<Tokenizer>      // + tokenizer_config.json beside it
//! tok.encode(text, add_bos) -> Result<Vec<u32>>        // special tokens in text recognised
//! tok.encode_plain(text, add_bos) -> Result<Vec<u32>>  // control tokens in text stay text
//! tok.decode(&ids) -> String                 // control tokens rendered as their text
//! tok.decode_skip_special(&ids) -> String    // control tokens dropped
//! tok.stream_decoder(skip_special) -> StreamDecoder   // .push(id) -> String, .finish() -> String
//! tok.bos_id() / eos_id() / pad_id() / unk_id() -> Option<u32>
//! tok.eos_ids() -> &[u32]      // every end-of-generation id (eos, <|im_end|>, <end_of_turn>, ...)
//! tok.is_eos(id) -> bool
//! tok.add_bos_default() -> bool   // what the model file asks for (Gemma: true, SmolLM2: false)
//! tok.vocab_size() / token_to_id(piece) / id_to_piece(id) / token_kind(id) / token_bytes(id)
//! tok.chat_template() -> Result<ChatTemplate>   // the model's, or a fallback (Gemma turns / ChatML)
//! tok.apply_chat_template(&[ChatMessage], add_generation_prompt) -> Result<String>
//! tok.encode_chat(&[ChatMessage], add_generation_prompt) -> Result<Vec<u32>>  // no double BOS
//! ```
//!
//! ```no_run
//! use aha_tokenizer::{ChatMessage, Tokenizer};
//! # fn main() -> aha_tokenizer::Result<()> {
//! let tok = Tokenizer::from_gguf_file("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref())?;
//! let ids = tok.encode_chat(&[ChatMessage::user("What is 3 + 5?")], true)?;
//! let mut stream = tok.stream_decoder(true);
//! for &id in &ids {
//!     print!("{}", stream.push(id));
//! }
//! print!("{}", stream.finish());
//! # Ok(()) }
//! ```
//!
//! # Matching llama.cpp
//! - Special tokens: control, user-defined and unknown tokens found verbatim in the text become
//!   single ids before the model's algorithm runs, longest first (llama.cpp's
//!   `tokenizer_st_partition` with `parse_special = true`). [`Tokenizer::encode_plain`] keeps
//!   only user-defined ones (llama.cpp's `parse_special = false`).
//! - `gpt2` models: the pre-tokenizer regexes of the GGUF `tokenizer.ggml.pre` name
//!   (`smollm`, `qwen2`, `llama-bpe`, `gpt2`, `default`, …), GPT-2 byte-level mapping, and the
//!   `tokenizers` crate's BPE over the GGUF merges. No prefix space (candle's own
//!   `TokenizerFromGguf` adds one and is wrong for SmolLM2).
//! - `llama` (SentencePiece) models: score-ordered bigram merging with byte fallback, see
//!   `spm.rs`; a space prefix unless `tokenizer.ggml.add_space_prefix` is false (Gemma).
//! - Checked: the fixture strings and ~400k ids of MATH-500/GSM8K text per model (SmolLM2,
//!   Gemma 3) against `llama-tokenize`, and llama.cpp's own test vocabularies (GPT-2, Llama 3,
//!   Qwen2, Qwen3.5, StarCoder, Refact, Command-R, MPT, Llama SPM) when its source is unpacked.
//! - Not modelled: llama.cpp's per-model `lstrip`/`rstrip` token attributes (jina, phi-3), and
//!   BPE pre-tokenizers other than those listed in [`Error::UnsupportedPre`]. With a space
//!   prefix (Llama 2 style SentencePiece) [`Tokenizer::decode`] keeps the leading space that
//!   encoding added.
#![deny(missing_docs)]

mod bpe;
mod chat;
mod error;
mod gguf;
mod hf;
mod spm;
mod stream;
mod vocab;

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file;

pub use chat::{CHATML_TEMPLATE, ChatMessage, ChatTemplate, GEMMA_TEMPLATE};
pub use error::{Error, Result};
pub use stream::StreamDecoder;
pub use vocab::TokenKind;

use vocab::{Fragment, Vocab};

/// Which algorithm a tokenizer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenizerKind {
    /// GPT-2 style byte-level BPE from GGUF tokens and merges, with the named pre-tokenizer.
    ByteLevelBpe {
        /// the GGUF `tokenizer.ggml.pre` name, e.g. `smollm`
        pre: String,
    },
    /// SentencePiece-style BPE from GGUF tokens and scores (Gemma, Llama 2).
    SentencePiece,
    /// A Hugging Face `tokenizer.json`, run by the `tokenizers` crate.
    TokenizerJson,
}

#[derive(Clone)]
enum Backend {
    Bpe(Box<bpe::ByteLevelBpe>),
    Spm(Box<spm::Spm>),
    /// Two copies: `plain` has special-token splitting off, for [`Tokenizer::encode_plain`].
    Hf {
        parse: Box<tokenizers::Tokenizer>,
        plain: Box<tokenizers::Tokenizer>,
    },
}

/// Special ids and flags read from the model files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Specials {
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    pub(crate) pad: Option<u32>,
    pub(crate) unk: Option<u32>,
    /// Extra end-of-generation ids named by the files (e.g. `eot_token_id`).
    pub(crate) extra_eos: Vec<u32>,
    pub(crate) add_bos: bool,
    pub(crate) add_space_prefix: bool,
    pub(crate) chat_template: Option<String>,
}

/// A tokenizer: text ↔ ids, special tokens, streaming decode and the chat template.
///
/// Share it by reference or `Arc` (it is `Send + Sync` and all methods take `&self`); `clone`
/// copies the whole vocabulary.
#[derive(Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    backend: Backend,
    kind: TokenizerKind,
    specials: Specials,
    eos_ids: Vec<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind)
            .field("vocab_size", &self.vocab.len())
            .field("bos", &self.specials.bos)
            .field("eos_ids", &self.eos_ids)
            .finish()
    }
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes in its `tokenizer.*` metadata.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Tokenizer> {
        Tokenizer::from_gguf_metadata(&content.metadata)
    }

    /// Builds the tokenizer from GGUF metadata (`tokenizer.ggml.model`, `.tokens`,
    /// `.token_type`, `.scores` or `.merges`, `.pre`, special ids, `tokenizer.chat_template`).
    pub fn from_gguf_metadata(md: &HashMap<String, gguf_file::Value>) -> Result<Tokenizer> {
        gguf::build(md)
    }

    /// Reads the metadata of the GGUF file at `path` (not the tensors) and builds its tokenizer.
    pub fn from_gguf_file(path: &Path) -> Result<Tokenizer> {
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = std::io::BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| Error::Gguf {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Tokenizer::from_gguf(&content)
    }

    /// The tokenizer of a model, and the file it came from: `tokenizer` when given (a GGUF file
    /// or a `tokenizer.json`), else the model's own: a GGUF file's metadata, a Hugging Face
    /// directory's `tokenizer.json`, or the `tokenizer.json` beside an aha `.safetensors` file
    /// (which carries none itself: [`Error::NoTokenizer`] when that is missing too).
    pub fn for_model(
        model: &Path,
        tokenizer: Option<&Path>,
    ) -> Result<(Tokenizer, std::path::PathBuf)> {
        let source = match tokenizer {
            Some(p) => p.to_path_buf(),
            None if model.is_dir() => model.join("tokenizer.json"),
            None if model.extension().is_some_and(|e| e == "safetensors") => {
                let beside = model
                    .parent()
                    .unwrap_or_else(|| Path::new("."))
                    .join("tokenizer.json");
                if !beside.is_file() {
                    return Err(Error::NoTokenizer {
                        path: model.to_path_buf(),
                    });
                }
                beside
            }
            None => model.to_path_buf(),
        };
        let tok = if source.extension().is_some_and(|e| e == "json") {
            Tokenizer::from_tokenizer_json(&source)?
        } else {
            Tokenizer::from_gguf_file(&source)?
        };
        Ok((tok, source))
    }

    /// Loads a Hugging Face `tokenizer.json`. Special ids, `add_bos_token` and the chat template
    /// come from `tokenizer_config.json` in the same directory when it exists, extra
    /// end-of-generation ids from `generation_config.json`.
    pub fn from_tokenizer_json(path: &Path) -> Result<Tokenizer> {
        hf::build(path)
    }

    pub(crate) fn assemble(
        vocab: Vocab,
        backend: Backend,
        kind: TokenizerKind,
        specials: Specials,
    ) -> Tokenizer {
        let mut eos_ids: Vec<u32> = specials.eos.into_iter().collect();
        eos_ids.extend(specials.extra_eos.iter().copied());
        for name in vocab::END_OF_TURN_NAMES {
            if let Some(id) = vocab.id(name) {
                eos_ids.push(id);
            }
        }
        let mut seen = std::collections::HashSet::new();
        eos_ids.retain(|id| (*id as usize) < vocab.len() && seen.insert(*id));
        Tokenizer {
            vocab,
            backend,
            kind,
            specials,
            eos_ids,
        }
    }

    /// Which algorithm this tokenizer runs.
    pub fn kind(&self) -> &TokenizerKind {
        &self.kind
    }

    /// Encodes `text`; special tokens written in the text (`<|im_start|>`, `<end_of_turn>`, …)
    /// become their single ids, as llama.cpp does with `parse_special`. With `add_bos` the BOS
    /// id (if the model has one) comes first.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        self.encode_impl(text, add_bos, true)
    }

    /// Like [`Tokenizer::encode`], but control tokens in the text are tokenized as plain text
    /// (user-defined tokens are still recognised, as in llama.cpp). For untrusted text.
    pub fn encode_plain(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        self.encode_impl(text, add_bos, false)
    }

    fn encode_impl(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_bos && let Some(b) = self.specials.bos {
            out.push(b);
        }
        if let Backend::Hf { parse, plain } = &self.backend {
            // tokenizer.json carries its own added-token rules; let the library apply them.
            let t = if parse_special { parse } else { plain };
            let enc = t.encode(text, false).map_err(|e| Error::Encode {
                reason: e.to_string(),
            })?;
            out.extend_from_slice(enc.get_ids());
            return Ok(out);
        }
        // SentencePiece adds its space prefix at the start and after each special token.
        let mut prev_special = true;
        for frag in self.vocab.partition(text, parse_special) {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(t) => {
                    match &self.backend {
                        Backend::Bpe(b) => b.encode_into(t, &mut out)?,
                        Backend::Spm(s) => {
                            if self.specials.add_space_prefix && prev_special {
                                let spaced = format!(" {t}");
                                s.encode_into(&self.vocab, &spaced, &mut out)?;
                            } else {
                                s.encode_into(&self.vocab, t, &mut out)?;
                            }
                        }
                        Backend::Hf { .. } => {}
                    }
                    prev_special = false;
                }
            }
        }
        Ok(out)
    }

    /// Decodes ids to text; control tokens appear as their text (so `decode(encode(s)) == s`),
    /// byte tokens are joined into UTF-8, and invalid UTF-8 or unknown ids become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.decode_impl(ids, false)
    }

    /// Decodes ids to text, leaving out control, unknown and unused tokens (BOS, `<|im_end|>`,
    /// …); user-defined tokens stay.
    pub fn decode_skip_special(&self, ids: &[u32]) -> String {
        self.decode_impl(ids, true)
    }

    fn decode_impl(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            self.append_token_bytes(id, skip_special, &mut bytes);
        }
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    pub(crate) fn append_token_bytes(&self, id: u32, skip_special: bool, out: &mut Vec<u8>) {
        if skip_special
            && matches!(
                self.vocab.kind(id),
                Some(TokenKind::Control | TokenKind::Unknown | TokenKind::Unused)
            )
        {
            return;
        }
        match self.vocab.token_bytes(id) {
            Some(b) => out.extend_from_slice(b),
            None => out.extend_from_slice("\u{FFFD}".as_bytes()),
        }
    }

    /// An incremental decoder for streaming generated tokens.
    pub fn stream_decoder(&self, skip_special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, skip_special)
    }

    /// The BOS id, if the model has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.specials.bos
    }
    /// The EOS id the file names (SmolLM2: `<|im_end|>`; Gemma: `<eos>`).
    pub fn eos_id(&self) -> Option<u32> {
        self.specials.eos
    }
    /// The padding id, if the model names one.
    pub fn pad_id(&self) -> Option<u32> {
        self.specials.pad
    }
    /// The unknown-token id, if the model names one.
    pub fn unk_id(&self) -> Option<u32> {
        self.specials.unk
    }
    /// Every id that ends generation: the EOS id, ids named as such by the files (`eot`), and
    /// end-of-turn tokens present in the vocabulary (`<|im_end|>`, `<|endoftext|>`,
    /// `<end_of_turn>`, `<|eot_id|>`, …), as llama.cpp's end-of-generation set.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
    }
    /// Whether `id` ends generation (see [`Tokenizer::eos_ids`]).
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_ids.contains(&id)
    }
    /// Whether the model file asks for a BOS token in front of prompts.
    pub fn add_bos_default(&self) -> bool {
        self.specials.add_bos && self.specials.bos.is_some()
    }
    /// Number of ids (the embedding rows the vocabulary needs).
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }
    /// The id of a vocabulary piece, as stored (byte-level or `▁` form).
    pub fn token_to_id(&self, piece: &str) -> Option<u32> {
        self.vocab.id(piece)
    }
    /// The stored piece of an id (byte-level or `▁` form; see [`Tokenizer::token_bytes`] for text).
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.vocab.piece(id)
    }
    /// The kind of an id.
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.vocab.kind(id)
    }
    /// The bytes an id decodes to (control tokens: their text).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.vocab.token_bytes(id)
    }

    /// Bytes a byte-level BPE vocabulary has no single-byte token for. Text holding such a byte
    /// loses it on encode, as in llama.cpp (SmolLM2's GGUF lacks six ASCII control bytes and
    /// some bytes that never occur in UTF-8), so it cannot round-trip. Empty for the other
    /// kinds, which fall back to `<0xNN>` tokens or leave it to `tokenizer.json`.
    pub fn bytes_without_token(&self) -> Vec<u8> {
        if !matches!(self.backend, Backend::Bpe(_)) {
            return Vec::new();
        }
        (0..=255u8)
            .filter(|&b| self.vocab.id(&bpe::byte_to_char(b).to_string()).is_none())
            .collect()
    }

    /// The model's own chat template source, if its files carry one.
    pub fn chat_template_source(&self) -> Option<&str> {
        self.specials.chat_template.as_deref()
    }

    /// The chat template to use: the model's own, else Gemma's turn format when the vocabulary
    /// has `<start_of_turn>`, else ChatML.
    pub fn chat_template(&self) -> Result<ChatTemplate> {
        let source = match &self.specials.chat_template {
            Some(s) => s.as_str(),
            None if self.vocab.id("<start_of_turn>").is_some() => GEMMA_TEMPLATE,
            None => CHATML_TEMPLATE,
        };
        let text = |id: Option<u32>| {
            id.and_then(|i| self.vocab.piece(i))
                .unwrap_or_default()
                .to_string()
        };
        ChatTemplate::new(source, text(self.specials.bos), text(self.specials.eos))
    }

    /// Renders `messages` with [`Tokenizer::chat_template`].
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        self.chat_template()?
            .render(messages, add_generation_prompt)
    }

    /// Renders and encodes a chat. BOS is added when the model asks for it and the rendered
    /// template does not already start with it (Gemma's template writes `<bos>` itself).
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let text = self.apply_chat_template(messages, add_generation_prompt)?;
        let mut ids = self.encode(&text, false)?;
        if self.add_bos_default()
            && let Some(b) = self.specials.bos
            && ids.first() != Some(&b)
        {
            ids.insert(0, b);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn tokenizer_is_send_and_sync() {
        assert_send_sync::<Tokenizer>();
    }
}
