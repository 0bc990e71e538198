//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file or JSONL line is malformed; `field` names the JSON path that failed.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (of the JSONL line, or of the error inside a JSON file).
        line: usize,
        /// The JSON path of the offending field (`.` when the document itself is bad).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A file was written with a layout version this build does not read.
    #[error("{path}:{line}: schema_version {found} is not supported (this aha reads {supported})")]
    Schema {
        /// The file.
        path: PathBuf,
        /// 1-based line number (1 for a JSON document).
        line: usize,
        /// The version found.
        found: u32,
        /// The version supported.
        supported: u32,
    },
    /// A directory holds neither a probe (`summary.json`) nor a training run (`metrics.jsonl`).
    #[error("{0}: neither a probe directory (summary.json) nor a training run (metrics.jsonl)")]
    UnknownDir(PathBuf),
    /// A training run's `metrics.jsonl` has no lines.
    #[error("{0}: no metrics lines")]
    EmptyMetrics(PathBuf),
    /// Drawing a chart failed (the plotting backend's message).
    #[error("chart `{id}`: {message}")]
    Chart {
        /// The figure id.
        id: String,
        /// The backend's message.
        message: String,
    },
    /// The reflection keyword preset could not be loaded.
    #[error(transparent)]
    Keywords(#[from] aha_reflect::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
