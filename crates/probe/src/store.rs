//! The run directory: `config.json` (the sampling identity of the run) and the append-only
//! `responses.jsonl`, recovered after a crash.

use std::collections::HashSet;
use std::path::Path;

use aha_rundir::{JsonlAppender, TornTail};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version of the `responses.jsonl` line layout.
pub const RESPONSES_SCHEMA_VERSION: u32 = 1;
/// Version of the `config.json` layout.
pub const CONFIG_SCHEMA_VERSION: u32 = 1;

/// The settings that decide which samples a run draws. A run directory holds one of these;
/// continuing it with different settings would mix incomparable samples, so it is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// [`CONFIG_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The sampler ([`aha_sample::Sampler::describe`]); a server URL is deliberately not part of it,
    /// so a restarted server on another port can continue the run.
    pub sampler: String,
    /// The dataset file (as resolved by the caller).
    pub data: String,
    /// Dataset split, when given.
    pub split: Option<String>,
    /// Question field mapping, when given.
    pub question_field: Option<String>,
    /// Answer field mapping, when given.
    pub answer_field: Option<String>,
    /// Number of questions sampled (after `limit`).
    pub questions: usize,
    /// `--limit`, when given.
    pub limit: Option<usize>,
    /// Template names, in sweep order.
    pub templates: Vec<String>,
    /// Temperatures, in sweep order.
    pub temperatures: Vec<f64>,
    /// Samples per question and temperature (temperature 0 always takes one).
    pub n: u32,
    /// Token budget per sample.
    pub max_tokens: u32,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Base seed of the per-sample seeds (`None`: unseeded).
    pub seed: Option<u64>,
}

impl ProbeConfig {
    /// Samples per question at `temperature` (the study forces n = 1 for greedy decoding).
    pub fn samples_at(&self, temperature: f64) -> u32 {
        if temperature == 0.0 { 1 } else { self.n }
    }

    /// Checks the settings are usable.
    pub fn validate(&self) -> Result<()> {
        if self.templates.is_empty() {
            return Err(Error::Config("at least one template is needed".into()));
        }
        if self.temperatures.is_empty() {
            return Err(Error::Config("at least one temperature is needed".into()));
        }
        if let Some(t) = self
            .temperatures
            .iter()
            .find(|t| !t.is_finite() || **t < 0.0)
        {
            return Err(Error::Config(format!(
                "temperature {t} must be a finite number ≥ 0"
            )));
        }
        let mut seen = HashSet::new();
        for t in &self.temperatures {
            if !seen.insert(t.to_bits()) {
                return Err(Error::Config(format!("temperature {t} is listed twice")));
            }
        }
        let mut names = HashSet::new();
        for t in &self.templates {
            if !names.insert(t) {
                return Err(Error::Config(format!("template {t} is listed twice")));
            }
        }
        if self.n == 0 {
            return Err(Error::Config("-n must be at least 1".into()));
        }
        if self.max_tokens == 0 {
            return Err(Error::Config("--max-tokens must be at least 1".into()));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Config(format!(
                "--top-p {} must be in (0, 1]",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// Writes `dir/config.json` for a new run, or checks that an existing one matches `config`
/// (the error lists every differing field as a dotted path).
pub fn check_or_write_config(dir: &Path, config: &ProbeConfig) -> Result<()> {
    aha_rundir::check_or_write_config(&dir.join("config.json"), config, &[])?;
    Ok(())
}

/// One line of `responses.jsonl`: one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseLine {
    /// [`RESPONSES_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The problem id.
    pub question_id: String,
    /// The template name.
    pub template: String,
    /// The sampling temperature.
    pub temperature: f64,
    /// 0-based index among the question's samples at this temperature.
    pub sample_index: u32,
    /// The generated text.
    pub response: String,
    /// Why generation ended (`stop`, `length`, ...).
    pub finish_reason: String,
    /// Generated tokens, when the sampler reports them.
    pub num_tokens: Option<u64>,
    /// The seed the sample was drawn with, when seeded.
    pub seed: Option<u64>,
}

/// Identity of a sample: (template, question id, temperature bits, sample index).
pub type SampleKey = (String, String, u64, u32);

impl ResponseLine {
    /// This sample's identity.
    pub fn key(&self) -> SampleKey {
        (
            self.template.clone(),
            self.question_id.clone(),
            self.temperature.to_bits(),
            self.sample_index,
        )
    }
}

/// Reads `path` for resuming: every complete line must be a valid, unique sample; a torn last
/// line (no trailing newline: the write was cut by a crash) is cut off the file, so the sample is
/// drawn again and appended whole. A missing file is an empty run.
pub fn recover_responses(path: &Path) -> Result<Vec<ResponseLine>> {
    check_lines(path, aha_rundir::read_jsonl(path, TornTail::Cut)?)
}

/// Reads a complete `responses.jsonl` (read-only; a torn last line is ignored).
pub fn read_responses(path: &Path) -> Result<Vec<ResponseLine>> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    check_lines(path, aha_rundir::read_jsonl(path, TornTail::Ignore)?)
}

/// Every line has the supported schema version and is a new sample.
fn check_lines(path: &Path, lines: Vec<(usize, ResponseLine)>) -> Result<Vec<ResponseLine>> {
    let mut out = Vec::with_capacity(lines.len());
    let mut seen = HashSet::new();
    for (line_no, line) in lines {
        let err = |message: String| Error::Line {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        if line.schema_version != RESPONSES_SCHEMA_VERSION {
            return Err(err(format!(
                "field \"schema_version\": {} is not the supported version {RESPONSES_SCHEMA_VERSION}",
                line.schema_version
            )));
        }
        if !seen.insert(line.key()) {
            return Err(err(format!(
                "duplicate sample (question_id {:?}, template {:?}, temperature {}, sample_index {})",
                line.question_id, line.template, line.temperature, line.sample_index
            )));
        }
        out.push(line);
    }
    Ok(out)
}

/// Appends lines to `responses.jsonl`, one `write` per batch, fsynced before returning.
#[derive(Debug)]
pub struct ResponseWriter {
    file: JsonlAppender,
}

impl ResponseWriter {
    /// Opens `path` for appending (creating it).
    pub fn open(path: &Path) -> Result<ResponseWriter> {
        Ok(ResponseWriter {
            file: JsonlAppender::open(path)?,
        })
    }

    /// Takes an exclusive advisory lock on the file, failing at once when another process
    /// holds it.
    pub fn try_lock(&self) -> Result<()> {
        if self.file.try_lock()? {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "{} is being written by another process (another aha probe into the same --out?)",
                self.file.path().display()
            )))
        }
    }

    /// Appends `lines` and fsyncs.
    pub fn append(&mut self, lines: &[ResponseLine]) -> Result<()> {
        Ok(self.file.append(lines)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(q: &str, i: u32, response: &str) -> ResponseLine {
        ResponseLine {
            schema_version: RESPONSES_SCHEMA_VERSION,
            question_id: q.into(),
            template: "r1".into(),
            temperature: 0.6,
            sample_index: i,
            response: response.into(),
            finish_reason: "stop".into(),
            num_tokens: Some(3),
            seed: None,
        }
    }

    proptest! {
        /// Cutting the file at any byte (a crash mid-write) recovers exactly the lines that were
        /// complete, leaves the file ending at a line boundary, and appending continues cleanly.
        #[test]
        fn any_cut_recovers_the_complete_prefix(
            responses in proptest::collection::vec("[a-zé\\n\"\\\\{} ]{0,12}", 1..6),
            cut_frac in 0.0f64..=1.0,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("responses.jsonl");
            let lines: Vec<ResponseLine> = responses
                .iter()
                .enumerate()
                .map(|(i, r)| line("q", i as u32, r))
                .collect();
            ResponseWriter::open(&path).unwrap().append(&lines).unwrap();
            let full = std::fs::read(&path).unwrap();
            let cut = ((full.len() as f64) * cut_frac) as usize;
            std::fs::write(&path, &full[..cut]).unwrap();
            let complete = full[..cut].iter().filter(|b| **b == b'\n').count();

            let got = recover_responses(&path).unwrap();
            prop_assert_eq!(&got[..], &lines[..complete]);
            let after = std::fs::read(&path).unwrap();
            prop_assert!(after.is_empty() || after.ends_with(b"\n"));

            ResponseWriter::open(&path).unwrap().append(&lines[complete..]).unwrap();
            prop_assert_eq!(recover_responses(&path).unwrap(), lines);
        }
    }

    #[test]
    fn wrong_schema_version_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("responses.jsonl");
        let mut l = line("q", 0, "x");
        l.schema_version = 9;
        ResponseWriter::open(&path).unwrap().append(&[l]).unwrap();
        let msg = recover_responses(&path).unwrap_err().to_string();
        assert!(
            msg.ends_with(
                "responses.jsonl:1: field \"schema_version\": 9 is not the supported version 1"
            ),
            "{msg}"
        );
    }

    #[test]
    fn config_mismatch_lists_each_field_once() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ProbeConfig {
            schema_version: CONFIG_SCHEMA_VERSION,
            sampler: "openai:m".into(),
            data: "d.jsonl".into(),
            split: None,
            question_field: None,
            answer_field: None,
            questions: 5,
            limit: Some(5),
            templates: vec!["r1".into()],
            temperatures: vec![0.1, 1.0],
            n: 8,
            max_tokens: 100,
            top_p: 0.9,
            seed: Some(0),
        };
        check_or_write_config(dir.path(), &cfg).unwrap();
        check_or_write_config(dir.path(), &cfg).unwrap();
        let mut other = cfg.clone();
        other.temperatures = vec![0.1];
        other.sampler = "openai:other".into();
        let err = check_or_write_config(dir.path(), &other).unwrap_err();
        let Error::RunDir(aha_rundir::Error::ConfigMismatch { fields, .. }) = err else {
            panic!("{err}");
        };
        assert_eq!(
            fields,
            [
                "sampler: \"openai:m\" -> \"openai:other\"",
                "temperatures: [0.1,1.0] -> [0.1]"
            ]
        );
    }
}
