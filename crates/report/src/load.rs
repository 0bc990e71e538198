//! Reading run directories: probe outputs (`summary.json`, `graded.jsonl`, `responses.jsonl`,
//! `config.json`, as `aha probe` writes them) and training outputs (`metrics.jsonl`,
//! `config.json`, `samples.jsonl`, as `aha train` writes them; docs/pipeline.md).
//!
//! The structs mirror only the fields the report shows and ignore the rest, so a newer writer
//! that adds fields still renders.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The `summary.json` layout this crate reads (aha-probe's `PROBE_SUMMARY_SCHEMA_VERSION`).
pub const PROBE_SUMMARY_SCHEMA: u32 = 1;
/// The `metrics.jsonl` line layout this crate reads (docs/pipeline.md).
pub const METRICS_SCHEMA: u32 = 1;

fn check_schema(path: &Path, line: usize, found: u32, supported: u32) -> Result<()> {
    if found == supported {
        Ok(())
    } else {
        Err(Error::Schema {
            path: path.to_path_buf(),
            line,
            found,
            supported,
        })
    }
}

/// One run directory, detected by its files.
#[derive(Debug, Clone)]
pub enum Run {
    /// A probe directory (`summary.json`).
    Probe(ProbeRun),
    /// A training run (`metrics.jsonl`).
    Train(TrainRun),
}

/// A probe run directory.
#[derive(Debug, Clone)]
pub struct ProbeRun {
    /// Display name (the directory's name).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// The run configuration (`config.json`, else the summary's copy), top-level fields.
    pub config: Map<String, Value>,
    /// The judge model, when the judge ran.
    pub judge_model: Option<String>,
    /// One entry per template, in sweep order.
    pub templates: Vec<TemplateSummary>,
    /// Graded samples (empty when `graded.jsonl` is absent), with their response text.
    pub samples: Vec<ProbeSample>,
}

/// The summary of one template (`summary.json` → `templates[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateSummary {
    /// Template name.
    pub template: String,
    /// Answer format (`boxed`, `answer_tag`, `countdown`).
    #[serde(default)]
    pub answer_format: String,
    /// Pass@k, reflection@k, keyword and SSR tables.
    pub summary: Summary,
}

/// The aggregate tables of one template (`aha_reflect::aggregate::Summary`, the fields shown).
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    /// Keyword set label.
    #[serde(default)]
    pub keywords: String,
    /// All temperatures together.
    pub overall: Group,
    /// One group per temperature, ascending.
    #[serde(default)]
    pub by_temperature: Vec<Group>,
}

/// Aggregates of one group of responses (`aha_reflect::aggregate::GroupSummary`).
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    /// The temperature (`None` for the overall group).
    pub temperature: Option<f64>,
    /// Responses.
    pub responses: usize,
    /// Questions.
    pub questions: usize,
    /// Fraction of questions with a keyword-reflective response (reflection@k, keyword).
    pub question_reflection_rate: f64,
    /// Fraction of responses with a keyword.
    #[serde(default)]
    pub response_reflection_rate: f64,
    /// LLM judge counts, when the judge ran.
    #[serde(default)]
    pub judge: Option<JudgeCounts>,
    /// Accuracy over graded responses.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Fraction of questions with any correct response (pass@k, k = all samples).
    #[serde(default)]
    pub pass_any: Option<f64>,
    /// Fraction of responses with an extractable answer.
    #[serde(default)]
    pub answer_rate: Option<f64>,
    /// Fraction the answering-ability judge calls answering.
    #[serde(default)]
    pub llm_answer_rate: Option<f64>,
    /// Keyword occurrences.
    #[serde(default)]
    pub keyword_table: Vec<KeywordRow>,
    /// Keyword occurrences split by correctness.
    #[serde(default)]
    pub reflection_vs_correctness: Option<ReflectionVsCorrectness>,
    /// SSR category counts.
    #[serde(default)]
    pub ssr: BTreeMap<String, usize>,
}

/// Judge counts of one group.
#[derive(Debug, Clone, Deserialize)]
pub struct JudgeCounts {
    /// Questions with a judge-reflective response.
    pub judge_questions: usize,
    /// Questions with a response both keyword- and judge-reflective.
    pub cross_questions: usize,
}

/// One keyword's occurrences.
#[derive(Debug, Clone, Deserialize)]
pub struct KeywordRow {
    /// The keyword.
    pub keyword: String,
    /// Total occurrences.
    pub occurrences: usize,
}

/// Keyword occurrences in correct vs incorrect responses.
#[derive(Debug, Clone, Deserialize)]
pub struct ReflectionVsCorrectness {
    /// Occurrences in correct responses.
    pub occurrences_in_correct: usize,
    /// Occurrences in incorrect responses.
    pub occurrences_in_incorrect: usize,
}

/// One graded probe sample.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeSample {
    /// Question id.
    pub question_id: String,
    /// Template.
    pub template: String,
    /// Temperature.
    pub temperature: f64,
    /// Sample index.
    #[serde(default)]
    pub sample_index: u64,
    /// Verdict (`correct`, `incorrect`, `no_answer`, `gold_unparseable`).
    pub verdict: String,
    /// Keywords found, with counts.
    #[serde(default)]
    pub keywords: BTreeMap<String, usize>,
    /// SSR category, when the gold parsed.
    #[serde(default)]
    pub ssr: Option<String>,
    /// The response text (joined from `responses.jsonl`; empty when it is missing).
    #[serde(default)]
    pub response: String,
}

/// A training run directory.
#[derive(Debug, Clone)]
pub struct TrainRun {
    /// Display name (`run` of the metrics, else the directory's name).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// The resolved config (`config.json`), when present.
    pub config: Map<String, Value>,
    /// One line per policy step, in file order.
    pub metrics: Vec<Metrics>,
    /// Saved samples (`samples.jsonl`), when present.
    pub samples: Vec<TrainSample>,
    /// `summary.json` of `aha analyse` (an imported run: engine, inputs, claims), when present.
    pub analysis: Option<Map<String, Value>>,
}

/// One `metrics.jsonl` line (docs/pipeline.md); absent values stay `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)] // field names are the documented schema
pub struct Metrics {
    pub schema_version: u32,
    pub step: u64,
    #[serde(default)]
    pub run: Option<String>,
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default)]
    pub reward_mean: Option<f64>,
    #[serde(default)]
    pub reward_std: Option<f64>,
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub frac_correct: Option<f64>,
    #[serde(default)]
    pub frac_formatted_wrong: Option<f64>,
    #[serde(default)]
    pub frac_unformatted: Option<f64>,
    #[serde(default)]
    pub format_rate: Option<f64>,
    #[serde(default)]
    pub len_mean: Option<f64>,
    #[serde(default)]
    pub len_correct: Option<f64>,
    #[serde(default)]
    pub len_incorrect: Option<f64>,
    #[serde(default)]
    pub len_truncated: Option<f64>,
    #[serde(default)]
    pub truncated_rate: Option<f64>,
    #[serde(default)]
    pub reflection_count_mean: Option<f64>,
    #[serde(default)]
    pub reflection_rate: Option<f64>,
    /// Lengths in characters (`aha analyse`).
    #[serde(default)]
    pub chars_mean: Option<f64>,
    #[serde(default)]
    pub chars_correct: Option<f64>,
    #[serde(default)]
    pub chars_incorrect: Option<f64>,
    #[serde(default)]
    pub chars_truncated: Option<f64>,
    /// Share of re-graded responses where the engine's verdict equals aha's (`aha analyse`).
    #[serde(default)]
    pub engine_agreement: Option<f64>,
    /// SSR category counts of the step's rollouts (`C->C`, `W->C`, …).
    #[serde(default)]
    pub ssr: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub loss: Option<f64>,
    #[serde(default)]
    pub clip_frac: Option<f64>,
    #[serde(default)]
    pub approx_kl: Option<f64>,
    #[serde(default)]
    pub kl_ref: Option<f64>,
    #[serde(default)]
    pub entropy: Option<f64>,
    #[serde(default)]
    pub grad_norm: Option<f64>,
    #[serde(default)]
    pub lr: Option<f64>,
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    #[serde(default)]
    pub step_time_s: Option<f64>,
    #[serde(default)]
    pub eval: Option<EvalMetrics>,
}

/// The `eval` object of an evaluation step (greedy, held-out split).
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)] // field names are the documented schema
pub struct EvalMetrics {
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub len_mean: Option<f64>,
    #[serde(default)]
    pub len_correct: Option<f64>,
    #[serde(default)]
    pub len_incorrect: Option<f64>,
    #[serde(default)]
    pub reward_mean: Option<f64>,
    #[serde(default)]
    pub format_rate: Option<f64>,
    #[serde(default)]
    pub truncated_rate: Option<f64>,
    #[serde(default)]
    pub reflection_rate: Option<f64>,
    #[serde(default)]
    pub reflection_count_mean: Option<f64>,
    /// SSR category counts of the eval responses, when the writer records them.
    #[serde(default)]
    pub ssr: Option<BTreeMap<String, f64>>,
}

/// One `samples.jsonl` line.
#[derive(Debug, Clone, Deserialize)]
pub struct TrainSample {
    /// Policy step.
    pub step: u64,
    /// Question id.
    #[serde(default)]
    pub question_id: String,
    /// The response text.
    pub response: String,
    /// Reward.
    #[serde(default)]
    pub reward: Option<f64>,
    /// Verdict.
    #[serde(default)]
    pub verdict: Option<String>,
}

/// Detects what `dir` holds and loads it.
pub fn load_dir(dir: &Path) -> Result<Run> {
    if dir.join("metrics.jsonl").is_file() && analysis_summary(dir)?.is_some() {
        load_train(dir).map(Run::Train)
    } else if dir.join("summary.json").is_file() {
        load_probe(dir).map(Run::Probe)
    } else if dir.join("metrics.jsonl").is_file() {
        load_train(dir).map(Run::Train)
    } else {
        Err(Error::UnknownDir(dir.to_path_buf()))
    }
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses one JSON document; errors name the field path and the line.
fn parse<T: DeserializeOwned>(path: &Path, line: Option<usize>, text: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        Error::Parse {
            path: path.to_path_buf(),
            line: line.unwrap_or(inner.line()),
            field,
            message: inner.to_string(),
        }
    })
}

/// Parses every non-blank line of a JSONL file, with its 1-based line number.
fn parse_numbered<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>> {
    let text = read(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| parse(path, Some(i + 1), l).map(|v| (i + 1, v)))
        .collect()
}

/// Parses every non-blank line of a JSONL file.
fn parse_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    Ok(parse_numbered(path)?.into_iter().map(|(_, v)| v).collect())
}

fn read_config(path: &Path) -> Result<Option<Map<String, Value>>> {
    if path.is_file() {
        parse(path, None, &read(path)?).map(Some)
    } else {
        Ok(None)
    }
}

#[derive(Deserialize)]
struct SummaryFile {
    schema_version: u32,
    #[serde(default)]
    config: Map<String, Value>,
    #[serde(default)]
    judge_model: Option<String>,
    templates: Vec<TemplateSummary>,
}

#[derive(Deserialize)]
struct ResponseLine {
    question_id: String,
    template: String,
    temperature: f64,
    #[serde(default)]
    sample_index: u64,
    response: String,
}

/// Loads a probe directory.
pub fn load_probe(dir: &Path) -> Result<ProbeRun> {
    let summary_path = dir.join("summary.json");
    let summary: SummaryFile = parse(&summary_path, None, &read(&summary_path)?)?;
    check_schema(
        &summary_path,
        1,
        summary.schema_version,
        PROBE_SUMMARY_SCHEMA,
    )?;
    let config = read_config(&dir.join("config.json"))?.unwrap_or(summary.config);
    let graded_path = dir.join("graded.jsonl");
    let mut samples: Vec<ProbeSample> = if graded_path.is_file() {
        parse_lines(&graded_path)?
    } else {
        Vec::new()
    };
    let responses_path = dir.join("responses.jsonl");
    if responses_path.is_file() && !samples.is_empty() {
        // Temperatures are keyed by their bit pattern: both files carry the same f64 value.
        let mut text: HashMap<(String, String, u64, u64), String> = HashMap::new();
        for r in parse_lines::<ResponseLine>(&responses_path)? {
            text.insert(
                (
                    r.question_id,
                    r.template,
                    r.temperature.to_bits(),
                    r.sample_index,
                ),
                r.response,
            );
        }
        for s in &mut samples {
            let key = (
                s.question_id.clone(),
                s.template.clone(),
                s.temperature.to_bits(),
                s.sample_index,
            );
            if let Some(t) = text.remove(&key) {
                s.response = t;
            }
        }
    }
    Ok(ProbeRun {
        name: dir_name(dir),
        dir: dir.to_path_buf(),
        config,
        judge_model: summary.judge_model,
        templates: summary.templates,
        samples,
    })
}

/// `summary.json` when `aha analyse` wrote it (`"kind": "aha-analyse"`).
fn analysis_summary(dir: &Path) -> Result<Option<Map<String, Value>>> {
    let path = dir.join("summary.json");
    if !path.is_file() {
        return Ok(None);
    }
    let m: Map<String, Value> = parse(&path, None, &read(&path)?)?;
    Ok((m.get("kind").and_then(Value::as_str) == Some("aha-analyse")).then_some(m))
}

/// Loads a training run directory (also an `aha analyse` output directory).
pub fn load_train(dir: &Path) -> Result<TrainRun> {
    let metrics_path = dir.join("metrics.jsonl");
    let mut metrics = Vec::new();
    for (line, m) in parse_numbered::<Metrics>(&metrics_path)? {
        check_schema(&metrics_path, line, m.schema_version, METRICS_SCHEMA)?;
        metrics.push(m);
    }
    if metrics.is_empty() {
        return Err(Error::EmptyMetrics(metrics_path));
    }
    let config = read_config(&dir.join("config.json"))?.unwrap_or_default();
    let samples_path = dir.join("samples.jsonl");
    let samples = if samples_path.is_file() {
        parse_lines(&samples_path)?
    } else {
        Vec::new()
    };
    let name = metrics
        .iter()
        .find_map(|m| m.run.clone())
        .unwrap_or_else(|| dir_name(dir));
    let analysis = analysis_summary(dir)?;
    let config = match (&analysis, config.is_empty()) {
        // An imported run: its settings and inputs stand in for the config.
        (Some(a), true) => {
            let mut c = Map::new();
            for k in [
                "engine",
                "format",
                "inputs",
                "eval_inputs",
                "samples",
                "skipped_lines",
            ] {
                if let Some(v) = a.get(k) {
                    c.insert(k.to_string(), v.clone());
                }
            }
            if let Some(Value::Object(st)) = a.get("settings") {
                c.extend(st.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            c
        }
        _ => config,
    };
    Ok(TrainRun {
        name,
        dir: dir.to_path_buf(),
        config,
        metrics,
        samples,
        analysis,
    })
}
