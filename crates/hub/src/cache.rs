//! The on-disk layout `huggingface_hub` uses, so that files either tool downloaded are found by
//! the other:
//!
//! ```text
//! <cache>/models--ORG--NAME/            (datasets--ORG--NAME/ for datasets)
//!     blobs/<etag>                      the file's bytes, named by its ETag (sha256 for LFS files)
//!     blobs/<etag>.incomplete           a download in progress (resumed with an HTTP Range request)
//!     refs/<revision>                   the commit a branch or tag pointed to (refs/main)
//!     snapshots/<commit>/<path>         a relative symlink to ../../blobs/<etag>
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Result, io};
use crate::{Repo, RepoKind};

/// The default cache folder from the values of the environment variables `huggingface_hub`
/// reads, in its order: `HF_HUB_CACHE`, then `HF_HOME/hub`, then `XDG_CACHE_HOME/huggingface/hub`,
/// then `HOME/.cache/huggingface/hub`. `None` when none is set. (Only binaries read the
/// environment; they pass the values in.)
pub fn default_cache_dir(
    hf_hub_cache: Option<PathBuf>,
    hf_home: Option<PathBuf>,
    xdg_cache_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let nonempty = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    if let Some(c) = nonempty(hf_hub_cache) {
        return Some(c);
    }
    let hf_home = nonempty(hf_home)
        .or_else(|| nonempty(xdg_cache_home).map(|x| x.join("huggingface")))
        .or_else(|| nonempty(home).map(|h| h.join(".cache").join("huggingface")))?;
    Some(hf_home.join("hub"))
}

/// Whether an environment value means "on" the way `huggingface_hub` reads flags such as
/// `HF_HUB_OFFLINE`: `1`, `on`, `yes` or `true`, in any case.
pub fn flag_is_set(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "on" | "yes" | "true"
    )
}

/// Whether a revision is a full commit hash (40 hex digits).
pub(crate) fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One repository's folder in the cache.
#[derive(Debug, Clone)]
pub(crate) struct RepoCache {
    pub root: PathBuf,
}

impl RepoCache {
    pub fn new(cache_dir: &Path, repo: &Repo) -> RepoCache {
        let kind = match repo.kind {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        };
        let name = format!("{kind}--{}", repo.id.replace('/', "--"));
        RepoCache {
            root: cache_dir.join(name),
        }
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.root.join("blobs").join(etag)
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.root.join("snapshots").join(commit)
    }

    pub fn pointer(&self, commit: &str, path: &str) -> PathBuf {
        let mut p = self.snapshot(commit);
        p.extend(path.split('/'));
        p
    }

    fn ref_file(&self, revision: &str) -> PathBuf {
        let mut p = self.root.join("refs");
        p.extend(revision.split('/'));
        p
    }

    /// The commit `revision` stands for in the cache: itself if it is a commit hash, else what
    /// `refs/<revision>` records.
    pub fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let text = std::fs::read_to_string(self.ref_file(revision)).ok()?;
        let c = text.trim();
        is_commit(c).then(|| c.to_string())
    }

    /// Records that `revision` points at `commit` (no-op for a commit hash).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.ref_file(revision);
        if std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == commit) {
            return Ok(());
        }
        let dir = path.parent().expect("ref file has a parent");
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::write(&path, commit).map_err(io(&path))
    }

    /// The cached file `path` of `revision`, if there is one.
    pub fn cached_file(&self, revision: &str, path: &str) -> Option<PathBuf> {
        let commit = self.commit_of(revision)?;
        let p = self.pointer(&commit, path);
        p.is_file().then_some(p)
    }

    /// Links `snapshots/<commit>/<path>` to `blobs/<etag>` with a relative symlink (a copy where
    /// symlinks are not available), as `huggingface_hub` does.
    pub fn link(&self, commit: &str, path: &str, etag: &str) -> Result<PathBuf> {
        let pointer = self.pointer(commit, path);
        let dir = pointer.parent().expect("pointer has a parent");
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let depth = path.split('/').count() + 1;
        let target: PathBuf = std::iter::repeat_n("..", depth)
            .chain(["blobs", etag])
            .collect();
        let _ = std::fs::remove_file(&pointer);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &pointer).is_ok();
        #[cfg(not(unix))]
        let linked = false;
        if !linked {
            let blob = self.blob(etag);
            std::fs::copy(&blob, &pointer).map_err(io(&pointer))?;
        }
        Ok(pointer)
    }

    /// Every file of a cached snapshot, as repository paths (`a/b.parquet`), sorted.
    pub fn snapshot_files(&self, commit: &str) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                let p = e.path();
                if p.is_dir() {
                    walk(&p, &rel, out);
                } else if p.is_file() {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.snapshot(commit), "", &mut out);
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_order() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            default_cache_dir(p("/c"), p("/h"), p("/x"), p("/home/u")),
            p("/c")
        );
        assert_eq!(
            default_cache_dir(None, p("/h"), p("/x"), p("/home/u")),
            p("/h/hub")
        );
        assert_eq!(
            default_cache_dir(None, None, p("/x"), p("/home/u")),
            p("/x/huggingface/hub")
        );
        assert_eq!(
            default_cache_dir(None, None, None, p("/home/u")),
            p("/home/u/.cache/huggingface/hub")
        );
        assert_eq!(default_cache_dir(None, None, None, None), None);
        assert!(flag_is_set("1") && flag_is_set("True") && !flag_is_set("0"));
    }

    #[test]
    fn folder_names() {
        let c = RepoCache::new(Path::new("/c"), &Repo::dataset("HuggingFaceH4/MATH-500"));
        assert_eq!(c.root, Path::new("/c/datasets--HuggingFaceH4--MATH-500"));
        assert_eq!(
            c.ref_file("refs/convert/parquet"),
            Path::new("/c/datasets--HuggingFaceH4--MATH-500/refs/refs/convert/parquet")
        );
        let m = RepoCache::new(Path::new("/c"), &Repo::model("gpt2"));
        assert_eq!(m.root, Path::new("/c/models--gpt2"));
    }
}
