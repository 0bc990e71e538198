//! Run directories, written so that nothing already computed is lost: the one home of the
//! durability rules that the probe, `aha train`, `aha sft`, the demo and `aha analyse` share.
//!
//! - [`write_atomic`]: a temporary sibling (`NAME.tmp`, the extension kept), fsynced, renamed
//!   over the target, then the directory fsynced: a reader or a crash sees the old file or the
//!   new one, never half of one.
//! - [`JsonlAppender`] / [`append_jsonl`]: append-only JSONL, one `write` per batch on an
//!   `O_APPEND` handle, fsynced before returning.
//! - [`read_jsonl`]: every complete line parsed, errors naming `file:line`; a torn last line (no
//!   trailing newline: a write cut by a kill) is dropped, and cut off the file with
//!   [`TornTail::Cut`] so the next append starts on a line boundary.
//! - [`check_or_write_config`]: a run's settings are written once; a rerun into the same
//!   directory with other settings is refused, naming every differing field as a dotted path
//!   ([`json_diff`]); a resume removes the temporaries a killed run left
//!   ([`remove_stale_temporaries`]).
//!
//! Pure: std, serde and serde_json only, no async.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What can go wrong with a run directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of a JSONL file (or a JSON file) is malformed; not a torn last line, which is
    /// recovered.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value could not be serialised.
    #[error("{path}: cannot serialise: {source}")]
    Serialise {
        /// The file it was for.
        path: PathBuf,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The directory holds a run with other settings.
    #[error(
        "{path} was written by a run with a different configuration (fields: {}); use a new output directory or the same settings",
        .fields.join(", ")
    )]
    ConfigMismatch {
        /// The existing config file.
        path: PathBuf,
        /// The differing fields, each `dotted.path: old -> new`.
        fields: Vec<String>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The temporary sibling used while writing `path`: `path` with `.tmp` appended (so
/// `config.json` becomes `config.json.tmp`, never `config.tmp`).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// How deep below a run directory [`remove_stale_temporaries`] looks: run directories nest a
/// few levels (`demo/grpo/checkpoints/step-N/`), and the bound keeps a wrong directory from
/// being walked whole.
const TEMPORARY_DEPTH: usize = 6;

/// Whether `name` is a temporary of this crate's naming scheme ([`tmp_path`]): a non-empty
/// name followed by `.tmp`.
fn is_temporary_name(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes()
        .strip_suffix(b".tmp")
        .is_some_and(|stem| !stem.is_empty())
}

/// Removes the temporaries that interrupted atomic writes left in `dir` and the directories
/// below it (up to a few levels; symbolic links are not followed): regular files named
/// `NAME.tmp`, the [`tmp_path`] of a `NAME`. A kill between creating such a file and renaming
/// it leaves it behind; its target is intact (the old file, or none), so it is never read and
/// only wastes space (a model's weights: hundreds of MB). Nothing else is touched: not other
/// files, not directories named `*.tmp` (a checkpoint's staging directory belongs to its
/// writer). [`check_or_write_config`] calls it when it finds an existing run, i.e. on resume;
/// call it only while no other process writes into `dir`. Returns the removed files, sorted.
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&d)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(&d))?;
            // The entry's own type: a symbolic link is neither followed nor removed.
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            let path = entry.path();
            if kind.is_dir() && depth + 1 < TEMPORARY_DEPTH {
                stack.push((path, depth + 1));
            } else if kind.is_file() && is_temporary_name(&entry.file_name()) {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed.push(path),
                    // Gone meanwhile: nothing left to clean.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path)(e)),
                }
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Writes `bytes` to `path` atomically and durably (see the crate docs). On failure (a full
/// disk, a file-size limit) the temporary is removed and `path` is left as it was; the error
/// names `path`, the file the caller asked for.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        // Best effort: a temporary that cannot be removed is overwritten by the next write.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    sync_parent(path)
}

/// Fsyncs the directory holding `path`, so a rename in it survives a crash. Not every platform
/// can open a directory for syncing; there it is skipped.
fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        dir.sync_all().map_err(io(parent))?;
    }
    Ok(())
}

/// Writes `value` as pretty JSON plus a newline, atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| Error::Serialise {
        path: path.to_path_buf(),
        source,
    })?;
    text.push(b'\n');
    write_atomic(path, &text)
}

/// JSON lines of `values`, each ending in a newline.
fn jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    for v in values {
        serde_json::to_writer(&mut buf, v).map_err(|source| Error::Serialise {
            path: path.to_path_buf(),
            source,
        })?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// Appends `values` to `path` (created if missing) in one write, fsynced.
pub fn append_jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<()> {
    JsonlAppender::open(path)?.append(values)
}

/// An append-only JSONL file kept open across batches.
#[derive(Debug)]
pub struct JsonlAppender {
    path: PathBuf,
    file: File,
}

impl JsonlAppender {
    /// Opens `path` for appending, creating it.
    pub fn open(path: &Path) -> Result<JsonlAppender> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        Ok(JsonlAppender {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes an exclusive advisory lock on the file; `Ok(false)` when another process holds it.
    pub fn try_lock(&self) -> Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&self.path)(e)),
        }
    }

    /// Appends `values`, one line each, in one write, then fsyncs the data. On failure (a full
    /// disk, a file-size limit) the file is cut back to its length before the call, so it
    /// never ends in a partial line that a reader would see as torn.
    pub fn append<T: Serialize>(&mut self, values: &[T]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let buf = jsonl(&self.path, values)?;
        let before = self.file.metadata().map_err(io(&self.path))?.len();
        let appended = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = appended {
            // A write that filled the disk can have landed in part. Cutting it off needs no
            // space; if even that fails, the next reader drops the torn line (`read_jsonl`).
            let _ = self.file.set_len(before);
            return Err(io(&self.path)(e));
        }
        Ok(())
    }
}

/// What [`read_jsonl`] does with a torn last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornTail {
    /// Ignore it and leave the file alone (a reader of a run still being written).
    Ignore,
    /// Cut it off the file (the writer resuming), so the next append starts a fresh line.
    Cut,
}

/// Reads every complete line of `path` as a `T`, with its 1-based line number; blank lines are
/// skipped and a missing file is empty. A malformed complete line is an error naming
/// `file:line`.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path, torn: TornTail) -> Result<Vec<(usize, T)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() && torn == TornTail::Cut {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path))?;
        f.set_len(complete as u64).map_err(io(path))?;
        f.sync_all().map_err(io(path))?;
    }
    let mut out = Vec::new();
    for (i, raw) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = serde_json::from_slice(raw).map_err(|e| Error::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push((i + 1, value));
    }
    Ok(out)
}

/// One field at which two JSON values differ.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// Dotted path (`sampling.top_p`; `(whole file)` when the roots differ in kind).
    pub path: String,
    /// The old value (`None`: absent).
    pub old: Option<Value>,
    /// The new value (`None`: absent).
    pub new: Option<Value>,
}

impl std::fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".into(), Value::to_string);
        write!(
            f,
            "{}: {} -> {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// Every dotted path at which `old` and `new` differ, in sorted order (objects are compared key
/// by key, anything else as a whole).
///
/// ```
/// use serde_json::json;
/// let d = aha_rundir::json_diff(&json!({"a": {"b": 1, "c": 2}}), &json!({"a": {"b": 1, "c": 3}}));
/// assert_eq!(d.len(), 1);
/// assert_eq!(d[0].to_string(), "a.c: 2 -> 3");
/// ```
pub fn json_diff(old: &Value, new: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    diff_into("", Some(old), Some(new), &mut out);
    out
}

fn diff_into(prefix: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldDiff>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                diff_into(&p, x.get(k), y.get(k), out);
            }
        }
        _ if a != b => out.push(FieldDiff {
            path: if prefix.is_empty() {
                "(whole file)".into()
            } else {
                prefix.to_string()
            },
            old: a.cloned(),
            new: b.cloned(),
        }),
        _ => {}
    }
}

/// Writes `config` to `path` for a new run (atomically), or checks that the file already there
/// holds the same settings; top-level fields named in `ignore` may differ (settings a rerun may
/// change, such as a step count to extend to). Returns whether the file existed. On a resume
/// (the same settings) the temporaries that a killed run left in the config's directory are
/// removed ([`remove_stale_temporaries`]).
pub fn check_or_write_config<T: Serialize>(
    path: &Path,
    config: &T,
    ignore: &[&str],
) -> Result<bool> {
    let new = serde_json::to_value(config).map_err(|source| Error::Serialise {
        path: path.to_path_buf(),
        source,
    })?;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let old: Value = serde_json::from_str(&text).map_err(|e| Error::Line {
                path: path.to_path_buf(),
                line: e.line(),
                message: format!("not a config file: {e}"),
            })?;
            let fields: Vec<String> = json_diff(&old, &new)
                .into_iter()
                .filter(|d| {
                    let top = d.path.split('.').next().unwrap_or_default();
                    !ignore.contains(&top)
                })
                .map(|d| d.to_string())
                .collect();
            if fields.is_empty() {
                if let Some(dir) = path.parent() {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    remove_stale_temporaries(dir)?;
                }
                Ok(true)
            } else {
                Err(Error::ConfigMismatch {
                    path: path.to_path_buf(),
                    fields,
                })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            write_json_atomic(path, &new)?;
            Ok(false)
        }
        Err(e) => Err(io(path)(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_atomic_write_names_the_target_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: the target is a non-empty directory.
        let p = dir.path().join("summary.json");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), "x").unwrap();
        match write_atomic(&p, b"{}") {
            Err(Error::Io { path, .. }) => assert_eq!(path, p),
            other => panic!("{other:?}"),
        }
        assert!(!tmp_path(&p).exists(), "the temporary is left");
        assert!(p.join("inside").is_file());
    }

    #[test]
    fn atomic_writes_keep_the_extension_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(tmp_path(&p), dir.path().join("config.json.tmp"));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"]);
    }

    #[test]
    fn a_resume_removes_the_temporaries_a_kill_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("demo");
        let config = run.join("config.json");
        let settings = json!({"seed": 1});
        assert!(!check_or_write_config(&config, &settings, &[]).unwrap());
        let grpo = run.join("grpo");
        std::fs::create_dir_all(grpo.join("checkpoints/step-4.tmp")).unwrap();
        // What a SIGKILL inside `write_atomic` (or a weights save) leaves.
        let stale = [
            tmp_path(&grpo.join("model.safetensors")),
            tmp_path(&run.join("summary.json")),
        ];
        for p in &stale {
            std::fs::write(p, b"half").unwrap();
        }
        // Not temporaries of this scheme, or not ours to remove.
        let kept = [
            run.join(".tmp"),
            run.join("notes.tmp.txt"),
            grpo.join("model.safetensors"),
            grpo.join("checkpoints/step-4.tmp/model.safetensors"),
        ];
        for p in &kept {
            std::fs::write(p, b"keep").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(run.join("notes.tmp.txt"), run.join("link.tmp")).unwrap();

        // A rerun with other settings is refused and cleans nothing.
        assert!(check_or_write_config(&config, &json!({"seed": 2}), &[]).is_err());
        assert!(stale.iter().all(|p| p.is_file()));

        assert!(check_or_write_config(&config, &settings, &[]).unwrap());
        for p in &stale {
            assert!(!p.exists(), "left: {}", p.display());
        }
        for p in &kept {
            assert!(p.is_file(), "removed: {}", p.display());
        }
        assert!(grpo.join("checkpoints/step-4.tmp").is_dir());
        #[cfg(unix)]
        assert!(run.join("link.tmp").symlink_metadata().is_ok());
        assert_eq!(
            remove_stale_temporaries(&run).unwrap(),
            Vec::<PathBuf>::new()
        );
        let again = tmp_path(&grpo.join("model.safetensors"));
        std::fs::write(&again, b"half").unwrap();
        assert_eq!(remove_stale_temporaries(&run).unwrap(), [again]);
        assert!(
            remove_stale_temporaries(&dir.path().join("none"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn torn_tails_are_ignored_or_cut_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        append_jsonl(&p, &[json!({"a": 1}), json!({"a": 2})]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"a\": 3")
            .unwrap();
        let read: Vec<(usize, Value)> = read_jsonl(&p, TornTail::Ignore).unwrap();
        assert_eq!(read.len(), 2);
        assert!(std::fs::read(&p).unwrap().ends_with(b"3"));
        let _: Vec<(usize, Value)> = read_jsonl(&p, TornTail::Cut).unwrap();
        assert!(std::fs::read(&p).unwrap().ends_with(b"}\n"));
        append_jsonl(&p, &[json!({"a": 3})]).unwrap();
        assert_eq!(read_jsonl::<Value>(&p, TornTail::Cut).unwrap().len(), 3);

        std::fs::write(&p, "{\"a\": 1}\nnot json\n{\"a\": 2}\n").unwrap();
        let err = read_jsonl::<Value>(&p, TornTail::Ignore).unwrap_err();
        assert!(err.to_string().contains("x.jsonl:2:"), "{err}");
        assert!(
            read_jsonl::<Value>(&dir.path().join("none"), TornTail::Cut)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn configs_are_written_once_and_reruns_with_other_settings_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run").join("config.json");
        let a = json!({"seed": 1, "sampling": {"top_p": 1.0, "n": 4}, "steps": 10});
        assert!(!check_or_write_config(&p, &a, &[]).unwrap());
        assert!(check_or_write_config(&p, &a, &[]).unwrap());
        let longer = json!({"seed": 1, "sampling": {"top_p": 1.0, "n": 4}, "steps": 20});
        assert!(check_or_write_config(&p, &longer, &["steps"]).unwrap());
        let b = json!({"seed": 1, "sampling": {"top_p": 0.9, "n": 4}, "steps": 10, "x": 1});
        match check_or_write_config(&p, &b, &[]).unwrap_err() {
            Error::ConfigMismatch { fields, .. } => {
                assert_eq!(fields, ["sampling.top_p: 1.0 -> 0.9", "x: (absent) -> 1"])
            }
            other => panic!("{other}"),
        }
    }
}
