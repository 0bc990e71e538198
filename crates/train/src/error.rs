//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `aha-train`.
///
/// A low reward is data, never an error: errors are bad arguments, shape mismatches, tensor-engine
/// failures and non-finite numbers that would corrupt the weights if applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller-supplied argument is out of range or inconsistent with another one.
    #[error("invalid {what}: {msg}")]
    Invalid {
        /// The argument or field at fault.
        what: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// A value that must be finite is NaN or infinite (e.g. a reward or the gradient norm).
    #[error("non-finite {what}: {value}")]
    NonFinite {
        /// Which quantity.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// The model failed to sample or score (bad token ids, engine error, ...).
    #[error("model: {0}")]
    Model(#[source] aha_model::Error),
    /// Writing an output file (e.g. `metrics.jsonl`) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The tensor engine failed (shape mismatch, device error, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A run-directory file could not be written or read back.
    #[error(transparent)]
    RunDir(#[from] aha_rundir::Error),
}

impl Error {
    pub(crate) fn invalid(what: &'static str, msg: impl Into<String>) -> Error {
        Error::Invalid {
            what,
            msg: msg.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
