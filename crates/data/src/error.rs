//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Where in a data file a row sits, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a text file (JSONL, or the line a JSON-array element starts on), and the
    /// 0-based row index.
    Line {
        /// 1-based line number.
        line: usize,
        /// 0-based row index (what the id defaults to).
        row: usize,
    },
    /// A 0-based row of a columnar file (Parquet, Arrow).
    Row(usize),
}

impl Location {
    /// The 0-based row index.
    pub fn row(self) -> usize {
        match self {
            Location::Line { row, .. } | Location::Row(row) => row,
        }
    }
}

/// One row that could not be turned into a [`crate::Problem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file the row is in.
    pub path: PathBuf,
    /// Where the row is.
    pub location: Location,
    /// The field at fault, when one is (`None` for a row that is not valid JSON at all).
    pub field: Option<String>,
    /// What is wrong, e.g. `expected a string, got number`.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_else(|| self.path.to_string_lossy());
        match self.location {
            Location::Line { line, .. } => write!(f, "{file}:{line}: ")?,
            Location::Row(row) => write!(f, "{file}: row {row}: ")?,
        }
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A whole file is malformed (not a JSON array, not an Arrow/Parquet file, unsupported column
    /// type, ...), as opposed to one bad row.
    #[error("{}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The format could not be determined from the path, or is not supported.
    #[error("{}: {message}", path.display())]
    Format {
        /// The path.
        path: PathBuf,
        /// Why, and what would be accepted.
        message: String,
    },
    /// Rows were bad and the load was strict; every bad row is listed.
    #[error("{}", rows_message(.0))]
    Rows(Vec<RowError>),
    /// A template could not be found, read or used.
    #[error("template: {0}")]
    Template(String),
    /// An invalid argument to a helper (e.g. a test fraction outside 0..=1).
    #[error("{0}")]
    Invalid(String),
    /// The caller's download of a hub dataset ([`crate::load_data`]) failed.
    #[error("dataset {name}: {message}")]
    Fetch {
        /// The `hf:` name.
        name: String,
        /// The downloader's message.
        message: String,
    },
}

fn rows_message(rows: &[RowError]) -> String {
    const SHOWN: usize = 5;
    let mut s = match rows.len() {
        1 => String::from("1 bad row: "),
        n => format!("{n} bad rows: "),
    };
    for (i, r) in rows.iter().take(SHOWN).enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&r.to_string());
    }
    if rows.len() > SHOWN {
        s.push_str(&format!("; ... and {} more", rows.len() - SHOWN));
    }
    s
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
