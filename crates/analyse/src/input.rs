//! The inputs `aha analyse` reads and how one line of each becomes a [`Record`].
//!
//! - [`Format::Verl`]: a directory of `{step}.jsonl` files as verl's trainer writes them under
//!   `trainer.rollout_data_dir` (and `trainer.validation_data_dir`): one line per sample with
//!   `input`, `output`, `gts`, `score`, `step` and the reward function's extra fields.
//! - [`Format::Aha`]: a run directory in aha's rollout format (written by the Python package's
//!   TRL recorder, oat buffer converter and OpenRLHF hook): `run.json` and `rollouts/*.jsonl`,
//!   each line in the generic schema below.
//! - [`Format::Jsonl`]: JSONL files in the generic schema (docs/pipeline.md, "Rollouts from any
//!   engine"): `step` and `response` required; `schema_version` (1), `prompt`, `gold`, `reward`,
//!   `n_tokens`, `finish_reason`, `truncated`, `split` (`train` | `eval`), `question_id`,
//!   `sample_index` optional.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The version of the generic rollout schema this crate reads and the Python writers write.
pub const ROLLOUT_SCHEMA_VERSION: u32 = 1;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// verl's `rollout_data_dir` / `validation_data_dir`.
    Verl,
    /// An aha rollout directory (`run.json`, `rollouts/*.jsonl`).
    Aha,
    /// Generic JSONL files.
    Jsonl,
}

impl Format {
    /// The name used on the command line and in `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Verl => "verl",
            Format::Aha => "aha",
            Format::Jsonl => "jsonl",
        }
    }

    /// Parses a name (`verl`, `aha`, `jsonl`; `generic` and `openrlhf` mean `jsonl`, `trl` and
    /// `oat` mean `aha`, as their recorders write that).
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "verl" => Format::Verl,
            "aha" | "trl" | "oat" => Format::Aha,
            "jsonl" | "generic" | "openrlhf" => Format::Jsonl,
            _ => return None,
        })
    }
}

/// One file to read, with what its lines are.
#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    /// The file.
    pub path: PathBuf,
    /// How its lines read.
    pub format: Format,
    /// Every line is an eval sample (verl's validation dump, `--eval`).
    pub eval: bool,
    /// The step a line without one belongs to (verl's file name).
    pub default_step: Option<u64>,
}

/// Files of one input, in step order, and the format found.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The format.
    pub format: Format,
    /// The files.
    pub files: Vec<InputFile>,
    /// The run's name (`run.json`'s `run`, else the input's name).
    pub name: String,
    /// The engine that wrote it, when known (`run.json`'s `engine`, or `verl`).
    pub engine: Option<String>,
}

fn verl_step(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".jsonl")?.parse().ok()
}

fn list_jsonl(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for e in rd {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.is_file() && p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    Ok(out)
}

fn name_of(path: &Path) -> String {
    let p = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Finds the files of `input` (a directory or a file), in the named format or the one its layout
/// shows. `eval`: every line is an eval sample.
pub fn discover(input: &Path, format: Option<Format>, eval: bool) -> Result<Discovered> {
    let bad = |reason: String| Error::Input {
        path: input.to_path_buf(),
        reason,
    };
    if input.is_file() {
        let format = format.unwrap_or(Format::Jsonl);
        let default_step = (format == Format::Verl).then(|| verl_step(input)).flatten();
        return Ok(Discovered {
            format,
            files: vec![InputFile {
                path: input.to_path_buf(),
                format,
                eval,
                default_step,
            }],
            name: name_of(input),
            engine: (format == Format::Verl).then(|| "verl".to_string()),
        });
    }
    if !input.is_dir() {
        return Err(bad("no such file or directory".into()));
    }
    let rollouts = input.join("rollouts");
    let top = list_jsonl(input)?;
    let detected = if rollouts.is_dir() || input.join("run.json").is_file() {
        Format::Aha
    } else if !top.is_empty() && top.iter().all(|p| verl_step(p).is_some()) {
        Format::Verl
    } else if !top.is_empty() {
        Format::Jsonl
    } else {
        return Err(bad(
            "neither a verl dump ({step}.jsonl files), an aha rollout directory (run.json, \
             rollouts/*.jsonl) nor a directory of JSONL files"
                .into(),
        ));
    };
    let format = format.unwrap_or(detected);
    let mut name = name_of(input);
    let mut engine = None;
    let mut files: Vec<InputFile> = match format {
        Format::Verl => {
            engine = Some("verl".to_string());
            let mut v: Vec<(u64, PathBuf)> = top
                .into_iter()
                .filter_map(|p| Some((verl_step(&p)?, p)))
                .collect();
            if v.is_empty() {
                return Err(bad("no {step}.jsonl files (verl's rollout dump)".into()));
            }
            v.sort();
            v.into_iter()
                .map(|(s, path)| InputFile {
                    path,
                    format,
                    eval,
                    default_step: Some(s),
                })
                .collect()
        }
        Format::Aha | Format::Jsonl => {
            let meta = input.join("run.json");
            if meta.is_file() {
                let text = std::fs::read_to_string(&meta).map_err(|e| Error::io(&meta, e))?;
                let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
                    path: meta.clone(),
                    source,
                })?;
                if let Some(r) = v.get("run").and_then(Value::as_str) {
                    name = r.to_string();
                }
                engine = v.get("engine").and_then(Value::as_str).map(str::to_string);
            }
            let mut paths = if rollouts.is_dir() {
                list_jsonl(&rollouts)?
            } else {
                top
            };
            paths.sort();
            paths
                .into_iter()
                .map(|path| InputFile {
                    path,
                    format,
                    eval,
                    default_step: None,
                })
                .collect()
        }
    };
    if files.is_empty() {
        return Err(bad("no .jsonl files".into()));
    }
    files.dedup();
    Ok(Discovered {
        format,
        files,
        name,
        engine,
    })
}

/// One sample as read from any format.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// The policy step.
    pub step: u64,
    /// The response text.
    pub response: Cow<'a, str>,
    /// The reference, as written (`None`: no reference in the input).
    pub gold: Option<Value>,
    /// The engine's reward.
    pub reward: Option<f64>,
    /// Response length in tokens, when the engine recorded it.
    pub n_tokens: Option<u64>,
    /// Cut by the token budget, when the engine recorded it.
    pub truncated: Option<bool>,
    /// An eval (held-out) sample.
    pub eval: bool,
}

#[derive(Deserialize)]
struct VerlLine<'a> {
    #[serde(borrow)]
    output: Cow<'a, str>,
    #[serde(default)]
    gts: Option<Value>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    step: Option<u64>,
    /// Some reward functions log the response length among their extra fields.
    #[serde(default)]
    response_length: Option<f64>,
}

#[derive(Deserialize)]
struct GenericLine<'a> {
    #[serde(default)]
    schema_version: Option<u32>,
    step: u64,
    #[serde(borrow)]
    response: Cow<'a, str>,
    #[serde(default)]
    gold: Option<Value>,
    #[serde(default)]
    reward: Option<f64>,
    #[serde(default)]
    n_tokens: Option<u64>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    truncated: Option<bool>,
    #[serde(default, borrow)]
    split: Option<Cow<'a, str>>,
}

/// Reads one line of `file`; the error is the reason the line is skipped.
pub fn parse_line<'a>(file: &InputFile, line: &'a [u8]) -> std::result::Result<Record<'a>, String> {
    match file.format {
        Format::Verl => {
            let l: VerlLine = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            let step = l
                .step
                .or(file.default_step)
                .ok_or("no `step` field and the file name is not {step}.jsonl")?;
            Ok(Record {
                step,
                response: l.output,
                gold: l.gts.filter(|g| !g.is_null()),
                reward: l.score,
                n_tokens: l
                    .response_length
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .map(|n| n as u64),
                truncated: None,
                eval: file.eval,
            })
        }
        Format::Aha | Format::Jsonl => {
            let l: GenericLine = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            if let Some(v) = l.schema_version
                && v != ROLLOUT_SCHEMA_VERSION
            {
                return Err(format!(
                    "schema_version {v} is not supported (this aha reads {ROLLOUT_SCHEMA_VERSION})"
                ));
            }
            let eval = match l.split.as_deref() {
                None | Some("train") => file.eval,
                Some("eval" | "validation" | "val" | "test") => true,
                Some(other) => {
                    return Err(format!("split \"{other}\" (expected train or eval)"));
                }
            };
            let truncated = match (l.truncated, l.finish_reason.as_deref()) {
                (Some(t), _) => Some(t),
                (None, Some(r)) => Some(r == "length"),
                (None, None) => None,
            };
            Ok(Record {
                step: l.step,
                response: l.response,
                gold: l.gold.filter(|g| !g.is_null()),
                reward: l.reward,
                n_tokens: l.n_tokens,
                truncated,
                eval,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(format: Format) -> InputFile {
        InputFile {
            path: "x.jsonl".into(),
            format,
            eval: false,
            default_step: Some(7),
        }
    }

    #[test]
    fn verl_lines_read_output_gts_score_and_step() {
        let r = parse_line(
            &file(Format::Verl),
            br#"{"input":"q","output":"a \\boxed{2}","gts":"2","score":1.0,"step":3,"acc":true}"#,
        )
        .unwrap();
        assert_eq!((r.step, r.reward), (3, Some(1.0)));
        assert_eq!(r.response, "a \\boxed{2}");
        assert_eq!(r.gold, Some(Value::String("2".into())));
        // The file name gives the step when the line has none.
        let r = parse_line(&file(Format::Verl), br#"{"output":"x","gts":null}"#).unwrap();
        assert_eq!((r.step, r.gold), (7, None));
        assert!(parse_line(&file(Format::Verl), br#"{"input":"q"}"#).is_err());
    }

    #[test]
    fn generic_lines_check_version_split_and_truncation() {
        let f = file(Format::Jsonl);
        let r = parse_line(
            &f,
            br#"{"schema_version":1,"step":2,"response":"r","finish_reason":"length","split":"eval"}"#,
        )
        .unwrap();
        assert_eq!((r.step, r.truncated, r.eval), (2, Some(true), true));
        let e = parse_line(&f, br#"{"schema_version":2,"step":2,"response":"r"}"#).unwrap_err();
        assert!(e.contains("schema_version 2"), "{e}");
        assert!(
            parse_line(&f, br#"{"response":"r"}"#)
                .unwrap_err()
                .contains("step")
        );
        assert!(parse_line(&f, b"not json").is_err());
    }
}
