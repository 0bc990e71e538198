//! The one error type of aha-analyse.

use std::path::PathBuf;

/// What can go wrong analysing a run. Bad *lines* are not errors: they are counted and listed
/// ([`crate::Skipped`]); these are the failures that stop an analysis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An input is not a run in any format this crate reads (or not the one named).
    #[error("{path}: {reason}")]
    Input {
        /// The input.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// An option is out of range.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The option.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The keyword set could not be built.
    #[error("reflection keywords: {0}")]
    Keywords(#[from] aha_reflect::Error),
    /// A JSON document this crate writes or reads whole (state, summary) is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
