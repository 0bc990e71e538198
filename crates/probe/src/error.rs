//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in a probe. A wrong model answer is a verdict, never an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file of the run directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of a run file is malformed (not a torn last line, which is repaired).
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A run-directory file could not be written or read back, or the directory holds a run
    /// with a different configuration ([`aha_rundir::Error::ConfigMismatch`]).
    #[error(transparent)]
    RunDir(aha_rundir::Error),
    /// The probe settings are invalid.
    #[error("invalid probe settings: {0}")]
    Config(String),
    /// A sampler failed (after its own retries).
    #[error("sampling failed: {0}")]
    Sampler(String),
    /// Loading a template or rendering a prompt failed.
    #[error(transparent)]
    Data(#[from] aha_data::Error),
    /// Keyword or judge setup failed.
    #[error(transparent)]
    Reflect(#[from] aha_reflect::Error),
    /// Setting up a sampler or the judge's client failed.
    #[error(transparent)]
    Sample(#[from] aha_sample::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<aha_rundir::Error> for Error {
    fn from(e: aha_rundir::Error) -> Error {
        match e {
            aha_rundir::Error::Io { path, source } => Error::Io { path, source },
            aha_rundir::Error::Line {
                path,
                line,
                message,
            } => Error::Line {
                path,
                line,
                message,
            },
            other => Error::RunDir(other),
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
