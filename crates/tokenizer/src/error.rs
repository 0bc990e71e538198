//! The crate's one error type.

use std::path::PathBuf;

/// Why a tokenizer could not be built, or a text could not be encoded or a template rendered.
///
/// Decoding never fails: ids outside the vocabulary decode to U+FFFD (see
/// [`crate::Tokenizer::decode`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A GGUF metadata key the tokenizer needs is absent.
    #[error("GGUF metadata: missing key `{key}`")]
    MissingKey {
        /// the metadata key, e.g. `tokenizer.ggml.tokens`
        key: String,
    },
    /// A GGUF metadata key has the wrong type or an invalid value.
    #[error("GGUF metadata: key `{key}`: {reason}")]
    BadKey {
        /// the metadata key
        key: String,
        /// what was expected or found
        reason: String,
    },
    /// The GGUF `tokenizer.ggml.model` (or a tokenizer.json model type) is not supported.
    #[error(
        "unsupported tokenizer model `{model}` (supported: gpt2 byte-level BPE, llama SentencePiece)"
    )]
    UnsupportedModel {
        /// the model name found in the file
        model: String,
    },
    /// The GGUF `tokenizer.ggml.pre` pre-tokenizer is not known to this crate.
    #[error(
        "unsupported pre-tokenizer `{pre}` (supported: default, gpt2, gpt-2, mpt, olmo, smollm, starcoder, refact, command-r, qwen2, qwen35, deepseek-r1-qwen, stablelm2, llama3, llama-bpe, falcon3)"
    )]
    UnsupportedPre {
        /// the pre-tokenizer name found in the file
        pre: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the underlying error
        source: std::io::Error,
    },
    /// An aha weight file (`.safetensors`) was given without a tokenizer, and none lies beside it.
    #[error(
        "{path}: aha weight files carry no tokenizer and there is no tokenizer.json beside it; pass --tokenizer (GGUF or tokenizer.json)"
    )]
    NoTokenizer {
        /// the weight file
        path: PathBuf,
    },
    /// A GGUF file could not be parsed.
    #[error("{path}: not a readable GGUF file: {reason}")]
    Gguf {
        /// the file
        path: PathBuf,
        /// candle's parse error
        reason: String,
    },
    /// A tokenizer.json (or tokenizer_config.json) could not be parsed or used.
    #[error("{path}: {reason}")]
    TokenizerJson {
        /// the file
        path: PathBuf,
        /// what went wrong, with line and column where the JSON parser gives them
        reason: String,
    },
    /// The text could not be encoded, e.g. it needs a byte token the vocabulary lacks.
    #[error("cannot encode text: {reason}")]
    Encode {
        /// what went wrong
        reason: String,
    },
    /// The chat template could not be compiled or rendered.
    #[error("chat template: {reason}")]
    Template {
        /// minijinja's message, with the template line where it gives one
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
