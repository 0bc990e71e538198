//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `aha-reflect`. A reflective (or wrong) response is data, never
/// an error: errors are for bad configuration, unreadable files and malformed input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Keywords::from_spec` was given neither a preset name nor an existing file.
    #[error("keywords `{spec}` is neither a preset ({known}) nor an existing file")]
    UnknownKeywords {
        /// The preset name or path given.
        spec: String,
        /// The preset names.
        known: String,
    },
    /// `Keywords::preset` was given a name that is not one of [`crate::PRESETS`].
    #[error("unknown keyword preset `{name}` (known: {known})")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The known preset names, comma-separated.
        known: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A keyword list is unusable (empty, or an empty keyword).
    #[error("{source_name}:{line}: {reason}")]
    BadKeywords {
        /// The file or preset the list came from.
        source_name: String,
        /// 1-based line number (0 when the problem is the list as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The keyword automaton could not be built (e.g. too many keywords).
    #[error("cannot build keyword automaton: {0}")]
    Automaton(String),
    /// A judge cache file has a malformed line.
    #[error("{path}:{line}: malformed judge cache entry: {reason}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
