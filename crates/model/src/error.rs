//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `aha-model`.
///
/// A model producing a wrong answer is never an error; these are I/O, format, argument and
/// tensor-engine failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A model file is malformed, or a required field is missing or has the wrong type.
    #[error("{}: {field}: {msg}", path.display())]
    Format {
        /// The file involved.
        path: PathBuf,
        /// The metadata key, JSON field or tensor name at fault (with line:column where known).
        field: String,
        /// What is wrong with it.
        msg: String,
    },
    /// The model's architecture is not one this decoder implements.
    #[error("{}: unsupported architecture `{arch}` (supported: llama, qwen2, gemma3)", path.display())]
    UnsupportedArch {
        /// The file involved.
        path: PathBuf,
        /// The architecture name found in the file.
        arch: String,
    },
    /// A caller-supplied argument is out of range or inconsistent.
    #[error("invalid {what}: {msg}")]
    InvalidInput {
        /// Which argument.
        what: String,
        /// Why it is rejected.
        msg: String,
    },
    /// A tensor operation failed inside candle.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn format(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            field: field.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
