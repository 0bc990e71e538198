//! Short names for the data sets shipped in the repository's `data/` folder, and the parsing of
//! a `--data` value (a path, a short name, or a Hugging Face dataset `hf:ORG/NAME[:split]`).
//!
//! The crate does not know where `data/` is: the caller passes the directory (the `aha` binary
//! takes it from `--data-dir`, `AHA_DATA_DIR`, or its build-time location in the clone).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::load::{Dataset, LoadOptions, load, load_many};

/// A data set shipped in the repository's `data/` folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// The short name `--data` takes, e.g. `math500`.
    pub name: &'static str,
    /// The file, relative to the data directory.
    pub file: &'static str,
    /// The number of problems in it.
    pub rows: usize,
    /// One line saying what it is.
    pub about: &'static str,
}

/// Every shipped data set, in the order `--help` lists them (data/README.md has sources and
/// licences).
pub const SHIPPED: &[Shipped] = &[
    Shipped {
        name: "math500",
        file: "benchmarks/math500.jsonl",
        rows: 500,
        about: "MATH500, PRM800K's split of the MATH test set",
    },
    Shipped {
        name: "aime24",
        file: "benchmarks/aime24.jsonl",
        rows: 30,
        about: "AIME 2024",
    },
    Shipped {
        name: "amc23",
        file: "benchmarks/amc23.jsonl",
        rows: 40,
        about: "AMC 2023",
    },
    Shipped {
        name: "minerva",
        file: "benchmarks/minerva_math.jsonl",
        rows: 272,
        about: "Minerva math",
    },
    Shipped {
        name: "olympiadbench",
        file: "benchmarks/olympiadbench.jsonl",
        rows: 675,
        about: "OlympiadBench, English text-only math",
    },
    Shipped {
        name: "gsm8k",
        file: "benchmarks/gsm8k.jsonl",
        rows: 1319,
        about: "GSM8K test split",
    },
    Shipped {
        name: "oat500",
        file: "oat-zero/math_train_500.json",
        rows: 500,
        about: "oat-zero's 500 MATH training questions of the epoch-0 study",
    },
    Shipped {
        name: "math8k",
        file: "math/math_l3to5_8k.json",
        rows: 8523,
        about: "MATH level 3-5 RL training set",
    },
    Shipped {
        name: "countdown",
        file: "countdown/test.parquet",
        rows: 2001,
        about: "Countdown test split of TinyZero",
    },
];

/// The prefix of a Hugging Face dataset in a `--data` value.
pub const HUB_PREFIX: &str = "hf:";

/// The shipped data set with this short name.
pub fn shipped(name: &str) -> Option<&'static Shipped> {
    SHIPPED.iter().find(|s| s.name == name)
}

/// The short names, comma-separated (for help texts and errors).
pub fn shipped_names() -> String {
    SHIPPED
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a `--data` value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A file or `save_to_disk` directory (possibly a shipped set, already resolved).
    Path(PathBuf),
    /// A dataset on the Hugging Face hub: `hf:ORG/NAME[:split]`.
    Hub {
        /// The repository id, `ORG/NAME`.
        repo: String,
        /// The split after the second colon (`SPLIT` or `CONFIG/SPLIT`), if given.
        split: Option<String>,
    },
}

/// Resolves a `--data` value against the shipped data directory `data_dir`.
///
/// - `hf:ORG/NAME[:SPLIT]` (or `:CONFIG/SPLIT`) is a [`DataSource::Hub`] (the caller downloads it);
/// - a path that exists is itself;
/// - a short name from [`SHIPPED`] is `data_dir/<file>` (an error if that file is missing, i.e.
///   `data_dir` is not the repository's `data/` folder);
/// - anything else that looks like a name (no path separator, no extension) is an error listing
///   the short names; other paths are returned as they are, for the loader to report.
pub fn resolve_data(spec: &str, data_dir: &Path) -> Result<DataSource> {
    if let Some(rest) = spec.strip_prefix(HUB_PREFIX) {
        return parse_hub(rest);
    }
    let path = Path::new(spec);
    if path.exists() {
        return Ok(DataSource::Path(path.to_path_buf()));
    }
    if let Some(s) = shipped(spec) {
        let file = data_dir.join(s.file);
        if !file.is_file() {
            return Err(Error::Invalid(format!(
                "data set \"{spec}\" is shipped as data/{}, but {} does not exist; point \
                 --data-dir (or AHA_DATA_DIR) at the repository's data/ folder",
                s.file,
                file.display()
            )));
        }
        return Ok(DataSource::Path(file));
    }
    let looks_like_name = !spec.is_empty()
        && !spec.contains(['/', '\\'])
        && path.extension().is_none()
        && !spec.starts_with('.');
    if looks_like_name {
        return Err(Error::Invalid(format!(
            "no file \"{spec}\" and no shipped data set of that name; shipped: {} (or a path, \
             or hf:ORG/NAME[:split])",
            shipped_names()
        )));
    }
    Ok(DataSource::Path(path.to_path_buf()))
}

/// A `--data` value, loaded: the problems, and how to record where they came from (the
/// canonical path, or the `hf:` name with its split).
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// The problems.
    pub dataset: Dataset,
    /// The canonical path of a file or directory, or `hf:ORG/NAME[:SPLIT]`.
    pub source: String,
}

/// Resolves a `--data` value ([`resolve_data`] against `data_dir`) and loads it with `opts`.
/// A hub dataset is downloaded by `fetch` (called with the repository id and the split, the
/// name's own else `opts.split`; it returns the Parquet files), so this crate stays free of
/// HTTP; its files are loaded as one dataset with `opts`' field mapping.
pub fn load_data<E: std::fmt::Display>(
    spec: &Path,
    data_dir: &Path,
    opts: &LoadOptions,
    fetch: impl FnOnce(&str, Option<&str>) -> std::result::Result<Vec<PathBuf>, E>,
) -> Result<LoadedData> {
    let source = match spec.to_str() {
        Some(s) => resolve_data(s, data_dir)?,
        None => DataSource::Path(spec.to_path_buf()),
    };
    match source {
        DataSource::Path(path) => {
            let dataset = load(&path, opts)?;
            let shown = std::fs::canonicalize(&path).unwrap_or(path);
            Ok(LoadedData {
                dataset,
                source: shown.display().to_string(),
            })
        }
        DataSource::Hub { repo, split } => {
            let split = split.or_else(|| opts.split.clone());
            let name = match &split {
                Some(s) => format!("{HUB_PREFIX}{repo}:{s}"),
                None => format!("{HUB_PREFIX}{repo}"),
            };
            let files = fetch(&repo, split.as_deref()).map_err(|e| Error::Fetch {
                name: name.clone(),
                message: e.to_string(),
            })?;
            // The split chose the files; it names no `save_to_disk` split inside them.
            let opts = LoadOptions {
                split: None,
                ..opts.clone()
            };
            Ok(LoadedData {
                dataset: load_many(&files, &opts)?,
                source: name,
            })
        }
    }
}

fn parse_hub(rest: &str) -> Result<DataSource> {
    let (repo, split) = match rest.split_once(':') {
        Some((repo, split)) => (repo, Some(split)),
        None => (rest, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let ok = match repo.split_once('/') {
        Some((org, name)) => valid(org) && valid(name),
        None => valid(repo),
    };
    let split_ok = |s: &str| match s.split_once('/') {
        Some((config, split)) => valid(config) && valid(split),
        None => valid(s),
    };
    if !ok || split.is_some_and(|s| !split_ok(s)) {
        return Err(Error::Invalid(format!(
            "\"{HUB_PREFIX}{rest}\": expected {HUB_PREFIX}ORG/NAME, {HUB_PREFIX}ORG/NAME:SPLIT or {HUB_PREFIX}ORG/NAME:CONFIG/SPLIT"
        )));
    }
    Ok(DataSource::Hub {
        repo: repo.to_string(),
        split: split.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_parse() {
        let d = Path::new("/nonexistent");
        assert_eq!(
            resolve_data("hf:HuggingFaceH4/MATH-500:test", d).unwrap(),
            DataSource::Hub {
                repo: "HuggingFaceH4/MATH-500".into(),
                split: Some("test".into())
            }
        );
        assert_eq!(
            resolve_data("hf:gsm8k", d).unwrap(),
            DataSource::Hub {
                repo: "gsm8k".into(),
                split: None
            }
        );
        for bad in ["hf:", "hf:a/b/c", "hf:a/b:", "hf:a b/c", "hf:a/b:c/d/e"] {
            assert!(resolve_data(bad, d).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_data_reads_paths_and_hands_hub_names_to_the_fetcher() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.jsonl");
        std::fs::write(&file, "{\"question\": \"1+1?\", \"answer\": \"2\"}\n").unwrap();
        let opts = LoadOptions {
            split: Some("test".into()),
            ..LoadOptions::default()
        };
        let never = |_: &str, _: Option<&str>| -> std::result::Result<Vec<PathBuf>, String> {
            panic!("a path needs no download")
        };
        let loaded = load_data(&file, dir.path(), &LoadOptions::default(), never).unwrap();
        assert_eq!(loaded.dataset.problems.len(), 1);
        assert_eq!(
            loaded.source,
            std::fs::canonicalize(&file).unwrap().display().to_string()
        );
        // The flag's split goes to the fetcher when the name has none; the name's wins.
        let mut asked = None;
        let hub = load_data(Path::new("hf:org/set"), dir.path(), &opts, |repo, split| {
            asked = Some((repo.to_string(), split.map(str::to_string)));
            Ok::<_, String>(vec![file.clone()])
        })
        .unwrap();
        assert_eq!(asked, Some(("org/set".into(), Some("test".into()))));
        assert_eq!(hub.source, "hf:org/set:test");
        assert_eq!(hub.dataset.problems.len(), 1);
        let err = load_data(Path::new("hf:org/set:train"), dir.path(), &opts, |_, s| {
            Err(format!("offline, split {s:?}"))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "dataset hf:org/set:train: offline, split Some(\"train\")"
        );
    }

    #[test]
    fn names_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("benchmarks")).unwrap();
        std::fs::write(dir.path().join("benchmarks/aime24.jsonl"), "").unwrap();
        assert_eq!(
            resolve_data("aime24", dir.path()).unwrap(),
            DataSource::Path(dir.path().join("benchmarks/aime24.jsonl"))
        );
        let missing = resolve_data("math500", dir.path()).unwrap_err().to_string();
        assert!(missing.contains("--data-dir"), "{missing}");
        let unknown = resolve_data("math5000", dir.path())
            .unwrap_err()
            .to_string();
        assert!(unknown.contains(&shipped_names()), "{unknown}");
        assert_eq!(
            resolve_data("runs/x.jsonl", dir.path()).unwrap(),
            DataSource::Path("runs/x.jsonl".into())
        );
        let names: std::collections::BTreeSet<_> = SHIPPED.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), SHIPPED.len());
    }
}
