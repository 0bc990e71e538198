//! A small Hugging Face hub client: model and dataset files downloaded once into the cache
//! layout the `huggingface_hub` Python library uses, so files either tool fetched are shared.
//!
//! - [`Hub::download`] fetches one file of a repository at a revision (resumable: a cut
//!   download continues from its `.incomplete` file with an HTTP `Range` request);
//! - [`Hub::list_files`] lists a revision's files (from the cache when offline);
//! - [`Hub::model`] picks a model's files (`config.json` + safetensors + tokenizer, or one GGUF);
//! - [`Hub::dataset`] picks a dataset split's Parquet files (in the repository, or on the hub's
//!   `refs/convert/parquet` branch).
//!
//! Options come in as arguments ([`HubOptions`]): the crate reads no environment variables; the
//! `aha` binary maps `HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE`, `HF_TOKEN` and `HF_HUB_OFFLINE`
//! onto them ([`default_cache_dir`], [`flag_is_set`]).
//!
//! ```no_run
//! use aha_hub::{Hub, HubOptions, Repo};
//!
//! let hub = Hub::new(HubOptions::new("/tmp/hf-cache"))?;
//! let config = hub.download(&Repo::model("Qwen/Qwen2.5-Math-1.5B"), "config.json")?;
//! let files = hub.dataset("HuggingFaceH4/MATH-500", Some("test"))?;
//! # let _ = (config, files);
//! # Ok::<(), aha_hub::Error>(())
//! ```
#![deny(missing_docs)]

mod cache;
mod client;
mod error;
mod select;

use std::path::PathBuf;

pub use cache::{default_cache_dir, flag_is_set};
pub use client::Hub;
pub use error::{Error, Result};
pub use select::{ModelFiles, ModelName};

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The revision used when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// The branch on which the hub keeps its Parquet conversion of a dataset.
pub const PARQUET_REVISION: &str = "refs/convert/parquet";

/// How the client talks to the hub and where it caches.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The hub's base URL, e.g. [`DEFAULT_ENDPOINT`] (no trailing slash needed).
    pub endpoint: String,
    /// The cache folder (`HF_HUB_CACHE`; see [`default_cache_dir`]).
    pub cache_dir: PathBuf,
    /// A user access token, sent as `Authorization: Bearer` to the endpoint only.
    pub token: Option<String>,
    /// Never contact the hub: answer from the cache or fail ([`Error::NotCached`]).
    pub offline: bool,
    /// Draw a progress bar per file on stderr.
    pub progress: bool,
    /// How many times a download cut mid-file is resumed before giving up.
    pub retries: u32,
}

impl HubOptions {
    /// Options for the public hub with this cache folder: no token, online, no progress bar,
    /// three resumes.
    pub fn new(cache_dir: impl Into<PathBuf>) -> HubOptions {
        HubOptions {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            cache_dir: cache_dir.into(),
            token: None,
            offline: false,
            progress: false,
            retries: 3,
        }
    }
}

/// What kind of repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// A model repository (`models--…` in the cache).
    Model,
    /// A dataset repository (`datasets--…` in the cache).
    Dataset,
}

/// A repository at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Model or dataset.
    pub kind: RepoKind,
    /// `ORG/NAME` (or a bare `NAME` for the few legacy repositories without an org).
    pub id: String,
    /// A branch, tag or commit hash ([`DEFAULT_REVISION`] by default).
    pub revision: String,
}

impl Repo {
    /// A model repository at `main`.
    pub fn model(id: impl Into<String>) -> Repo {
        Repo {
            kind: RepoKind::Model,
            id: id.into(),
            revision: DEFAULT_REVISION.to_string(),
        }
    }

    /// A dataset repository at `main`.
    pub fn dataset(id: impl Into<String>) -> Repo {
        Repo {
            kind: RepoKind::Dataset,
            id: id.into(),
            revision: DEFAULT_REVISION.to_string(),
        }
    }

    /// The same repository at another revision.
    pub fn at(mut self, revision: impl Into<String>) -> Repo {
        self.revision = revision.into();
        self
    }
}

/// The files of a repository at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The commit the revision resolved to.
    pub commit: String,
    /// Every file's path in the repository (`/`-separated), sorted.
    pub files: Vec<String>,
}
