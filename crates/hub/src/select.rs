//! Which files make a model or a dataset split.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::{Hub, PARQUET_REVISION, Repo};

/// A model name: `ORG/NAME`, optionally a file in it (`ORG/NAME/model-q4_k_m.gguf`) and a
/// revision (`ORG/NAME@v1.0`, `ORG/NAME/file.gguf@<commit>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName {
    /// The repository at its revision.
    pub repo: Repo,
    /// The one file asked for, if any.
    pub file: Option<String>,
}

impl std::str::FromStr for ModelName {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModelName> {
        let (name, revision) = match s.rsplit_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let mut parts = name.splitn(3, '/');
        let (org, repo, file) = (parts.next(), parts.next(), parts.next());
        let valid = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let (Some(org), Some(repo)) = (org, repo) else {
            return Err(Error::InvalidName(format!(
                "\"{s}\": expected ORG/NAME, ORG/NAME/FILE.gguf, with an optional @REVISION"
            )));
        };
        if !valid(org)
            || !valid(repo)
            || file.is_some_and(|f| f.is_empty() || f.split('/').any(|c| c.is_empty() || c == ".."))
            || revision.is_some_and(str::is_empty)
        {
            return Err(Error::InvalidName(format!(
                "\"{s}\": expected ORG/NAME, ORG/NAME/FILE.gguf, with an optional @REVISION"
            )));
        }
        let mut r = Repo::model(format!("{org}/{repo}"));
        if let Some(rev) = revision {
            r = r.at(rev);
        }
        Ok(ModelName {
            repo: r,
            file: file.map(str::to_string),
        })
    }
}

/// A model in the cache, ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFiles {
    /// A snapshot folder with `config.json`, the safetensors and the tokenizer files.
    Directory(PathBuf),
    /// One file (a GGUF).
    File(PathBuf),
}

impl ModelFiles {
    /// The folder or file.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ModelFiles::Directory(p) | ModelFiles::File(p) => p,
        }
    }
}

/// Files fetched beside the safetensors of a model, when the repository has them.
const MODEL_SIDE_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "model.safetensors.index.json",
];

fn list(files: &[String], max: usize) -> String {
    let mut s = files
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > max {
        s.push_str(&format!(", … ({} files)", files.len()));
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

/// A dataset file's (config, split), from the layouts the hub uses: `{config}/{split}/NNNN.parquet`
/// (the Parquet conversion), `[data/]{split}-NNNNN-of-NNNNN.parquet`, `[{config}/]{split}.parquet`.
fn config_and_split(path: &str) -> (String, String) {
    let comps: Vec<&str> = path.split('/').collect();
    let file = comps[comps.len() - 1];
    let stem = file.strip_suffix(".parquet").unwrap_or(file);
    let dirs = &comps[..comps.len() - 1];
    let numbered = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit());
    let (split, config_dirs) = if numbered && !dirs.is_empty() {
        (dirs[dirs.len() - 1], &dirs[..dirs.len() - 1])
    } else {
        (stem.split(['-', '_']).next().unwrap_or(stem), dirs)
    };
    let split = split.strip_prefix("partial-").unwrap_or(split);
    let config = config_dirs
        .iter()
        .copied()
        .find(|d| *d != "data")
        .unwrap_or("default");
    (config.to_string(), split.to_string())
}

impl Hub {
    /// A model's files, downloaded once: with a file named, that file; else `config.json`, every
    /// top-level `.safetensors` and the tokenizer files (a [`ModelFiles::Directory`]), or the
    /// repository's one GGUF file. Several GGUF files and no safetensors is an error listing
    /// them (name one: `ORG/NAME/FILE.gguf`).
    pub fn model(&self, name: &ModelName) -> Result<ModelFiles> {
        if let Some(file) = &name.file {
            return self.download(&name.repo, file).map(ModelFiles::File);
        }
        let listing = self.list_files(&name.repo)?;
        let repo = name.repo.clone().at(listing.commit.clone());
        let top = |ext: &str| -> Vec<String> {
            listing
                .files
                .iter()
                .filter(|f| !f.contains('/') && f.ends_with(ext))
                .cloned()
                .collect()
        };
        let safetensors = top(".safetensors");
        if !safetensors.is_empty() {
            if !listing.files.iter().any(|f| f == "config.json") {
                return Err(Error::Selection {
                    repo: name.repo.id.clone(),
                    message: "has safetensors but no config.json".into(),
                });
            }
            let mut dir = None;
            for f in MODEL_SIDE_FILES
                .iter()
                .map(|s| s.to_string())
                .filter(|f| listing.files.contains(f))
                .chain(safetensors)
            {
                let p = self.download(&repo, &f)?;
                dir = p.parent().map(PathBuf::from);
            }
            return Ok(ModelFiles::Directory(dir.expect("at least config.json")));
        }
        let ggufs: Vec<String> = listing
            .files
            .iter()
            .filter(|f| f.ends_with(".gguf"))
            .cloned()
            .collect();
        match ggufs.as_slice() {
            [one] => self.download(&repo, one).map(ModelFiles::File),
            [] => Err(Error::Selection {
                repo: name.repo.id.clone(),
                message: format!(
                    "no model files (*.safetensors with config.json, or *.gguf) at {}; files: {}",
                    name.repo.revision,
                    list(&listing.files, 12)
                ),
            }),
            many => Err(Error::Selection {
                repo: name.repo.id.clone(),
                message: format!(
                    "{} GGUF files; name one as hf:{}/FILE.gguf: {}",
                    many.len(),
                    name.repo.id,
                    list(many, 30)
                ),
            }),
        }
    }

    /// The Parquet files of a dataset's split, downloaded once, in order: the repository's own
    /// Parquet files if it has any, else those of the hub's conversion branch
    /// ([`PARQUET_REVISION`]). `split` may be `SPLIT` or `CONFIG/SPLIT`; without it, the one
    /// split there is (several are an error listing them).
    pub fn dataset(&self, id: &str, split: Option<&str>) -> Result<Vec<PathBuf>> {
        let main = Repo::dataset(id);
        let listing = self.list_files(&main)?;
        let mut repo = main.clone().at(listing.commit.clone());
        let mut files: Vec<String> = listing
            .files
            .iter()
            .filter(|f| f.ends_with(".parquet"))
            .cloned()
            .collect();
        if files.is_empty() {
            let converted = main.clone().at(PARQUET_REVISION);
            let conv = match self.list_files(&converted) {
                Ok(l) => l,
                Err(Error::RevisionNotFound { .. }) => {
                    return Err(Error::Selection {
                        repo: id.to_string(),
                        message: format!(
                            "no Parquet files in the repository and no {PARQUET_REVISION} branch; \
                             files: {}",
                            list(&listing.files, 12)
                        ),
                    });
                }
                Err(e) => return Err(e),
            };
            repo = converted.at(conv.commit.clone());
            files = conv
                .files
                .into_iter()
                .filter(|f| f.ends_with(".parquet"))
                .collect();
        }
        // config -> split -> files
        let mut by_config: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for f in files {
            let (c, s) = config_and_split(&f);
            by_config
                .entry(c)
                .or_default()
                .entry(s)
                .or_default()
                .push(f);
        }
        let (want_config, want_split) = match split.map(|s| s.split_once('/')) {
            Some(Some((c, s))) => (Some(c), Some(s)),
            Some(None) => (None, split),
            None => (None, None),
        };
        let configs: Vec<&String> = by_config.keys().collect();
        let config = match want_config {
            Some(c) => by_config.get_key_value(c).map(|(k, _)| k.clone()),
            None if configs.len() == 1 => Some(configs[0].clone()),
            None => by_config.get_key_value("default").map(|(k, _)| k.clone()),
        };
        let Some(config) = config else {
            let all: Vec<String> = configs.iter().map(|c| c.to_string()).collect();
            return Err(Error::Selection {
                repo: id.to_string(),
                message: format!(
                    "{}; name one as hf:{id}:CONFIG/SPLIT; configs: {}",
                    match want_config {
                        Some(c) => format!("no config \"{c}\""),
                        None => "several configs".into(),
                    },
                    list(&all, 30)
                ),
            });
        };
        let splits = &by_config[&config];
        let names: Vec<String> = splits.keys().cloned().collect();
        let chosen = match want_split {
            Some(s) => splits.get(s),
            None if splits.len() == 1 => splits.values().next(),
            None => None,
        };
        let Some(chosen) = chosen else {
            return Err(Error::Selection {
                repo: id.to_string(),
                message: format!(
                    "{}; splits of config \"{config}\": {}",
                    match want_split {
                        Some(s) => format!("no split \"{s}\""),
                        None => format!("several splits; name one as hf:{id}:SPLIT"),
                    },
                    list(&names, 30)
                ),
            });
        };
        let mut chosen = chosen.clone();
        chosen.sort();
        chosen.iter().map(|f| self.download(&repo, f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_from_layouts() {
        let cs = |p: &str| config_and_split(p);
        assert_eq!(
            cs("default/test/0000.parquet"),
            ("default".into(), "test".into())
        );
        assert_eq!(
            cs("main/partial-train/0001.parquet"),
            ("main".into(), "train".into())
        );
        assert_eq!(
            cs("data/train-00000-of-00002.parquet"),
            ("default".into(), "train".into())
        );
        assert_eq!(
            cs("socratic/test-00000-of-00001.parquet"),
            ("socratic".into(), "test".into())
        );
        assert_eq!(cs("test.parquet"), ("default".into(), "test".into()));
    }

    #[test]
    fn model_names() {
        let m: ModelName = "Qwen/Qwen2.5-Math-1.5B".parse().unwrap();
        assert_eq!(m.repo, Repo::model("Qwen/Qwen2.5-Math-1.5B"));
        assert_eq!(m.file, None);
        let g: ModelName = "org/repo-GGUF/sub/m.Q4_K_M.gguf@v2".parse().unwrap();
        assert_eq!(g.repo, Repo::model("org/repo-GGUF").at("v2"));
        assert_eq!(g.file.as_deref(), Some("sub/m.Q4_K_M.gguf"));
        for bad in ["gpt2", "a/", "a/b/", "a/b/../x", "a/b@", "a b/c"] {
            assert!(bad.parse::<ModelName>().is_err(), "{bad}");
        }
    }
}
