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

    /// Options read from `huggingface_hub`'s variables, looked up through `var` (the caller
    /// decides where they come from; this crate reads no environment): `HF_ENDPOINT`,
    /// `HF_HUB_CACHE` / `HF_HOME` / `XDG_CACHE_HOME` / `HOME` for the cache, `HF_TOKEN` (else
    /// the token file `HF_TOKEN_PATH` or `$HF_HOME/token`), `HF_HUB_OFFLINE`, and
    /// `HF_HUB_DISABLE_PROGRESS_BARS` (progress bars are drawn only when `terminal` is true).
    /// Blank values count as unset.
    ///
    /// ```
    /// let vars = [("HF_HOME", "/data/hf"), ("HF_HUB_OFFLINE", "1")];
    /// let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    /// let o = aha_hub::HubOptions::from_vars(get, false).unwrap();
    /// assert_eq!(o.cache_dir, std::path::Path::new("/data/hf/hub"));
    /// assert!(o.offline && o.token.is_none());
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, terminal: bool) -> Result<HubOptions> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let path = |k: &str| var(k).map(PathBuf::from);
        let cache = default_cache_dir(
            path("HF_HUB_CACHE"),
            path("HF_HOME"),
            path("XDG_CACHE_HOME"),
            path("HOME"),
        )
        .ok_or_else(|| {
            Error::Setup("no Hugging Face cache folder: set HF_HUB_CACHE or HF_HOME".into())
        })?;
        let hf_home = path("HF_HOME").or_else(|| cache.parent().map(PathBuf::from));
        let token = var("HF_TOKEN").or_else(|| {
            let file = path("HF_TOKEN_PATH").or_else(|| hf_home.map(|h| h.join("token")))?;
            std::fs::read_to_string(file)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        let flag = |k: &str| var(k).is_some_and(|v| flag_is_set(&v));
        Ok(HubOptions {
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token,
            offline: flag("HF_HUB_OFFLINE"),
            progress: terminal && !flag("HF_HUB_DISABLE_PROGRESS_BARS"),
            ..HubOptions::new(cache)
        })
    }
}

/// A `--model` value: `hf:ORG/NAME[/FILE.gguf][@REV]` is downloaded once through the hub that
/// `hub` makes (only then called) and becomes the cached snapshot folder or GGUF file; any other
/// value is a path and is returned as it is.
pub fn resolve_model(spec: &std::path::Path, hub: impl FnOnce() -> Result<Hub>) -> Result<PathBuf> {
    let Some(name) = spec.to_str().and_then(|s| s.strip_prefix("hf:")) else {
        return Ok(spec.to_path_buf());
    };
    let parsed: ModelName = name.parse()?;
    Ok(hub()?.model(&parsed)?.path().to_path_buf())
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
