//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong talking to the hub or its cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name like `ORG/NAME[/file][@revision]` could not be parsed.
    #[error("{0}")]
    InvalidName(String),
    /// The HTTP client or its runtime could not be created.
    #[error("hub client setup: {0}")]
    Setup(String),
    /// The request was refused for lack of (valid) credentials: a private repository, or a
    /// gated one whose terms the token's user has not accepted.
    #[error(
        "{repo}: access denied (HTTP {status}{}){}: {hint}",
        if *gated { ", gated repository" } else { "" },
        message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    )]
    Unauthorized {
        /// The repository, e.g. `meta-llama/Llama-3.2-1B`.
        repo: String,
        /// 401 or 403.
        status: u16,
        /// The hub said the repository is gated (`X-Error-Code: GatedRepo`).
        gated: bool,
        /// The hub's `X-Error-Message`, if any.
        message: Option<String>,
        /// What to do about it (set a token, or accept the terms on the repository's page).
        hint: String,
    },
    /// The repository does not exist (or is private and no token was sent).
    #[error("{repo}: repository not found on {endpoint}{}", if *token_sent { "" } else { " (if it is private or gated, set a token: HF_TOKEN)" })]
    RepoNotFound {
        /// The repository.
        repo: String,
        /// The hub's base URL.
        endpoint: String,
        /// Whether a token was sent.
        token_sent: bool,
    },
    /// The revision (branch, tag or commit) does not exist in the repository.
    #[error("{repo}: revision \"{revision}\" not found")]
    RevisionNotFound {
        /// The repository.
        repo: String,
        /// The revision asked for.
        revision: String,
    },
    /// The file does not exist at that revision.
    #[error("{repo}@{revision}: no file \"{path}\"")]
    EntryNotFound {
        /// The repository.
        repo: String,
        /// The revision.
        revision: String,
        /// The file's path in the repository.
        path: String,
    },
    /// Any other HTTP error status.
    #[error("{url}: HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Http {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
        /// The hub's `X-Error-Message` or the body's start, if any.
        message: Option<String>,
    },
    /// The hub could not be reached, or the connection failed before a response.
    #[error("{url}: {source}")]
    Network {
        /// The URL requested.
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// A download stopped part-way (after the retries); the bytes so far are kept in
    /// `partial` and the next download of the file resumes from there.
    #[error("{url}: download interrupted at {received} of {} bytes ({source}); run again to resume from {}", total.map_or("?".into(), |t| t.to_string()), partial.display())]
    Interrupted {
        /// The URL being downloaded.
        url: String,
        /// Bytes in the partial file.
        received: u64,
        /// The expected size, if known.
        total: Option<u64>,
        /// The `.incomplete` file holding the bytes so far.
        partial: PathBuf,
        /// Why it stopped.
        source: reqwest::Error,
    },
    /// A file or repository is needed from the hub but the hub may not (offline mode) or could
    /// not be asked, and the cache does not have it.
    #[error("{repo}@{revision}: {what} is not in the cache ({}) and {reason}", cache.display())]
    NotCached {
        /// The repository.
        repo: String,
        /// The revision.
        revision: String,
        /// What was wanted: `file "config.json"`, `the file list`.
        what: String,
        /// The repository's cache folder.
        cache: PathBuf,
        /// Why the hub was not asked: offline mode, or the network error.
        reason: String,
    },
    /// The hub's answer was not what the protocol says (missing headers, bad JSON, short file).
    #[error("{url}: {message}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The repository has no files of the kind asked for (no safetensors or GGUF model, no
    /// Parquet data), or more than one candidate and the name must pick one.
    #[error("{repo}: {message}")]
    Selection {
        /// The repository.
        repo: String,
        /// What was found and what to do.
        message: String,
    },
    /// A cache file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
