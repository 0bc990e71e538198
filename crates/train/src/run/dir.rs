//! The run directory: its file names, preparing it (fresh or resumed), checkpoints, and the
//! JSONL truncation a resume needs; durable writes go through `aha-rundir`.

use std::path::{Path, PathBuf};

use aha_model::Model;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trainer::Trainer;

use super::config::RUN_SCHEMA_VERSION;
use super::config::RunConfig;
use super::records::RunState;

/// The files of a run directory.
pub const CONFIG_FILE: &str = "config.json";
/// Per-step metrics.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Saved rollouts.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// Checkpoints, one `step-N` directory each.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The final weights, loadable by `aha_model::Model::load`.
pub const FINAL_WEIGHTS: &str = "model.safetensors";
/// The [`super::RunSummary`] of the last completed run.
pub const FINAL_FILE: &str = "final.json";
pub(super) const RUN_STATE_FILE: &str = "run_state.json";

/// Sets up `out` and returns `Some((step, checkpoint dir))` to resume from (`None` dir: from
/// scratch in an existing run directory), or `None` for a fresh run.
pub(super) fn prepare_dir(
    out: &Path,
    cfg: &RunConfig,
    resume: bool,
) -> Result<Option<(usize, Option<PathBuf>)>> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let non_empty = out.is_dir()
        && std::fs::read_dir(out)
            .map_err(|e| io(out, e))?
            .next()
            .is_some();
    let config_path = out.join(CONFIG_FILE);
    if !resume && non_empty {
        return Err(Error::invalid(
            "out",
            format!(
                "{} is not empty; pass resume (--resume) to continue the run in it, or choose another directory",
                out.display()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let resuming = resume && config_path.is_file();
    if resuming {
        let saved = RunConfig::from_file(&config_path)?;
        let diff = config_diff(&saved, cfg, out)?;
        if !diff.is_empty() {
            return Err(Error::invalid(
                "config",
                format!(
                    "{} was written with other settings ({}); resume with the same settings or use another directory",
                    config_path.display(),
                    diff.join(", ")
                ),
            ));
        }
        // What a kill inside an atomic write left (e.g. `model.safetensors.tmp`).
        aha_rundir::remove_stale_temporaries(out)?;
    }
    write_atomic(&config_path, &to_json(cfg, out)?)?;
    if !resuming {
        // A fresh run (or a resume of a run that never wrote its config): no old lines.
        for f in [METRICS_FILE, SAMPLES_FILE] {
            truncate_lines(&out.join(f), 0)?;
        }
        return Ok(None);
    }
    let ckpt = newest_checkpoint(&out.join(CHECKPOINTS_DIR))?;
    let step = ckpt.as_ref().map_or(0, |(s, _)| *s);
    for f in [METRICS_FILE, SAMPLES_FILE] {
        truncate_lines(&out.join(f), step)?;
    }
    Ok(Some((step, ckpt.map(|(_, d)| d))))
}

/// Fields of two configs that differ (dotted paths), ignoring `steps` (a resume may extend the
/// run) and `sources`.
pub(super) fn config_diff(a: &RunConfig, b: &RunConfig, out: &Path) -> Result<Vec<String>> {
    let (a, b) = (
        serde_json::to_value(a).map_err(|e| json_err(out, e))?,
        serde_json::to_value(b).map_err(|e| json_err(out, e))?,
    );
    Ok(aha_rundir::json_diff(&a, &b)
        .into_iter()
        .filter(|d| {
            let top = d.path.split('.').next().unwrap_or_default();
            top != "steps" && top != "sources"
        })
        .map(|d| d.to_string())
        .collect())
}

/// The committed checkpoint with the most steps: `dir/step-N` (temporary `step-N.tmp`
/// directories of a killed save are removed).
pub(super) fn newest_checkpoint(dir: &Path) -> Result<Option<(usize, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            std::fs::remove_dir_all(e.path()).map_err(|source| Error::Io {
                path: e.path(),
                source,
            })?;
            continue;
        }
        if let Some(n) = name
            .strip_prefix("step-")
            .and_then(|n| n.parse::<usize>().ok())
            && best.as_ref().is_none_or(|(b, _)| n > *b)
        {
            best = Some((n, e.path()));
        }
    }
    Ok(best)
}

/// Keeps the lines of `path` whose `step` is below `before` (all of them when they parse), via
/// a temporary file and a rename. A torn last line (a kill mid-write) is dropped; a bad line
/// elsewhere is an error naming the file and line.
pub(super) fn truncate_lines(path: &Path, before: usize) -> Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut kept = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        #[derive(Deserialize)]
        struct Step {
            step: usize,
        }
        match serde_json::from_str::<Step>(line) {
            Ok(s) if s.step < before && line.ends_with('\n') => kept.push_str(line),
            Ok(_) => {}
            // Only the last line can be torn by a kill.
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(Error::invalid(
                    "jsonl",
                    format!("{}:{}: {e}", path.display(), i + 1),
                ));
            }
        }
    }
    write_atomic(path, kept.as_bytes())
}

pub(super) fn save_checkpoint(
    trainer: &Trainer<'_>,
    cfg: &RunConfig,
    out: &Path,
    step: usize,
) -> Result<PathBuf> {
    let root = out.join(CHECKPOINTS_DIR);
    let dst = root.join(format!("step-{step}"));
    let tmp = root.join(format!("step-{step}.tmp"));
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    let staged = (|| {
        trainer.save_checkpoint(&tmp)?;
        let state = RunState {
            schema_version: RUN_SCHEMA_VERSION,
            step,
            prompt_cursor: step * cfg.prompts_per_step,
            seed: cfg.seed,
        };
        write_atomic(&tmp.join(RUN_STATE_FILE), &to_json(&state, out)?)?;
        write_atomic(&tmp.join(CONFIG_FILE), &to_json(cfg, out)?)
    })();
    if let Err(e) = staged {
        // A half-written checkpoint (a full disk) is of no use: leave no partial files behind.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| io(&dst, e))?;
    // Older checkpoints beyond the kept number go once the new one is in place.
    let mut steps: Vec<(usize, PathBuf)> = std::fs::read_dir(&root)
        .map_err(|e| io(&root, e))?
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_string_lossy()
                .strip_prefix("step-")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    steps.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
    for (_, old) in steps.iter().skip(cfg.keep_checkpoints) {
        std::fs::remove_dir_all(old).map_err(|e| io(old, e))?;
    }
    Ok(dst)
}

/// Copies the weights of an aha `.safetensors` file into `model`'s `Var`s (same names, shapes).
pub(super) fn load_weights(model: &Model, path: &Path) -> Result<()> {
    let tensors = candle_core::safetensors::load(path, model.device())?;
    for (name, var) in model.named_vars() {
        let t = tensors.get(name).ok_or_else(|| {
            Error::invalid(
                "checkpoint",
                format!("{}: tensor {name} missing", path.display()),
            )
        })?;
        if t.dims() != var.dims() {
            return Err(Error::invalid(
                "checkpoint",
                format!(
                    "{}: tensor {name} has shape {:?}, the model {:?}",
                    path.display(),
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(t)?;
    }
    Ok(())
}

/// Hard-links `src` to `dst` through a temporary name and a rename; false when it cannot.
pub(super) fn link_atomic(src: &Path, dst: &Path) -> bool {
    let tmp = aha_rundir::tmp_path(dst);
    let _ = std::fs::remove_file(&tmp);
    std::fs::hard_link(src, &tmp).is_ok() && std::fs::rename(&tmp, dst).is_ok()
}

pub(super) fn json_err(path: &Path, e: serde_json::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

pub(super) fn to_json<T: Serialize>(v: &T, path: &Path) -> Result<Vec<u8>> {
    let mut text = serde_json::to_vec_pretty(v).map_err(|e| json_err(path, e))?;
    text.push(b'\n');
    Ok(text)
}

/// Writes `bytes` to `path` atomically ([`aha_rundir::write_atomic`]).
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(aha_rundir::write_atomic(path, bytes)?)
}

/// Appends `values` as JSON lines in one write, fsynced ([`aha_rundir::append_jsonl`]).
pub(super) fn append_line<T: Serialize>(path: &Path, values: &[&T]) -> Result<()> {
    Ok(aha_rundir::append_jsonl(path, values)?)
}
