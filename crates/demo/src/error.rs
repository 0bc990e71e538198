//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong in a demo run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range or inconsistent with another one.
    #[error("invalid demo configuration: field `{field}`: {msg}")]
    Config {
        /// The offending field (dotted path in `config.json`).
        field: String,
        /// Why it is refused.
        msg: String,
    },
    /// The output directory holds a run with a different configuration.
    #[error(
        "{dir}: holds a demo run with a different configuration (fields: {fields}); use another --out, or delete the directory to start over"
    )]
    ConfigMismatch {
        /// The run directory.
        dir: PathBuf,
        /// The fields that differ.
        fields: String,
    },
    /// A file the demo wrote earlier cannot be read back.
    #[error("{path}: line {line}: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (1 for whole-file JSON).
        line: usize,
        /// What is wrong, naming the field.
        msg: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The model engine failed.
    #[error("model: {0}")]
    Model(#[from] aha_model::Error),
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] aha_tokenizer::Error),
    /// Pre-training or RL failed.
    #[error("training: {0}")]
    Train(#[from] aha_train::Error),
    /// The probe failed.
    #[error("probe: {0}")]
    Probe(#[from] aha_probe::Error),
    /// A file of the run directory could not be written or read back.
    #[error(transparent)]
    RunDir(#[from] aha_rundir::Error),
    /// The reflection analysis failed.
    #[error("reflection analysis: {0}")]
    Reflect(#[from] aha_reflect::Error),
    /// The report failed.
    #[error("report: {0}")]
    Report(#[from] aha_report::Error),
    /// A dataset or template failed.
    #[error("data: {0}")]
    Data(#[from] aha_data::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
