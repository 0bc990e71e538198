//! Streaming analysis: files are read in blocks, each block's lines are parsed, graded and
//! scanned on all cores, and folded into per-step accumulators; memory is bounded by the block
//! size, not by the run. What was read is kept in a state file beside the outputs, so a rerun on
//! a run that is still training reads only the files that are new or have changed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use aha_reflect::{KeywordDetector, Keywords, MatchMode, classify_with_report};
use aha_verify::{AnswerFormat, Gold, GradeOptions, MathOptions, RewardScheme, Task, Verdict};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::claims::{ClaimPoint, Claims, claims};
use crate::error::{Error, Result};
use crate::input::{Discovered, InputFile, Record, parse_line};
use crate::metrics::{Graded, TaskAccumulator, TaskMetrics};

/// `schema_version` of `metrics.jsonl` lines (the layout of docs/pipeline.md, as `aha train`).
pub const METRICS_SCHEMA_VERSION: u32 = 1;
/// `schema_version` of `summary.json`.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;
/// `schema_version` of the state file.
pub const STATE_SCHEMA_VERSION: u32 = 1;
/// The outputs, in the `--out` directory.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// See [`METRICS_FILE`].
pub const SUMMARY_FILE: &str = "summary.json";
/// What has been read (per file: size, modification time, per-step sums).
pub const STATE_FILE: &str = "analyse-state.json";
/// Skipped lines listed in `summary.json` (all are counted).
pub const MAX_LISTED_SKIPS: usize = 100;

/// Bytes read per block (each block's lines are processed in parallel).
const BLOCK: usize = 8 << 20;

/// Which grader a reference goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum TaskChoice {
    /// Countdown for `{"target", "numbers"}` references (objects or JSON text), math otherwise.
    Auto,
    /// Always math.
    Math,
    /// Always Countdown.
    Countdown,
}

/// Where the final answer of a math response is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum AnswerChoice {
    /// The last `\boxed{}` (Qwen-math style prompts; the study's default).
    Boxed,
    /// `<answer>…</answer>` (R1 template).
    AnswerTag,
    /// Any of `\boxed{}`, `<answer>`, "the answer is".
    Any,
}

impl AnswerChoice {
    fn options(self) -> MathOptions {
        match self {
            AnswerChoice::Boxed => AnswerFormat::Boxed.math_options(RewardScheme::Binary),
            AnswerChoice::AnswerTag => AnswerFormat::AnswerTag.math_options(RewardScheme::Binary),
            AnswerChoice::Any => MathOptions::default(),
        }
    }
}

/// How a run is analysed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The grader.
    pub task: TaskChoice,
    /// The math answer format.
    pub answer: AnswerChoice,
    /// Reflection keywords.
    pub keywords: Keywords,
    /// Keyword matching.
    pub match_mode: MatchMode,
    /// A response of at least this many tokens counts as truncated (when the input has no
    /// `finish_reason` / `truncated`).
    pub max_tokens: Option<u64>,
    /// An engine reward at or above this counts as "correct" for the agreement with aha's
    /// verdict (and as the verdict of samples without a reference).
    pub engine_correct_at: f64,
    /// EMA weight of the length curve for the claims.
    pub ema: f64,
    /// Worker threads (`None`: rayon's default, all cores).
    pub threads: Option<usize>,
    /// A name for the tokenizer counting tokens, when one is given (part of the state's key).
    pub tokenizer: Option<String>,
}

impl Settings {
    /// The study's defaults: auto task, any answer format, `paper15` keywords by substring.
    pub fn new(keywords: Keywords) -> Settings {
        Settings {
            task: TaskChoice::Auto,
            answer: AnswerChoice::Any,
            keywords,
            match_mode: MatchMode::Substring,
            max_tokens: None,
            engine_correct_at: 1.0,
            ema: 0.9,
            threads: None,
            tokenizer: None,
        }
    }

    /// What the per-file sums depend on: a state made under other settings is not reused.
    fn key(&self) -> String {
        format!(
            "task={:?} answer={:?} keywords={}:{} match={} max_tokens={:?} correct_at={} tokenizer={:?}",
            self.task,
            self.answer,
            self.keywords.label(),
            self.keywords.words().join("\u{1f}"),
            self.match_mode.as_str(),
            self.max_tokens,
            self.engine_correct_at,
            self.tokenizer
        )
    }
}

/// Counts the tokens of a response (the CLI's `--tokenizer`).
pub type TokenCounter<'a> = dyn Fn(&str) -> usize + Send + Sync + 'a;

/// A line that was not analysed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

/// The sums of one step (one split) of one file; merged over files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepAccumulator {
    /// The shared task sums (`aha train`'s definitions).
    pub task: TaskAccumulator,
    /// Sum of squared rewards.
    pub reward_sq: f64,
    /// Responses whose token length is known.
    pub tokens_known: u64,
    /// Responses whose truncation is known.
    pub trunc_known: u64,
    /// Token lengths of truncated responses.
    pub tokens_truncated: u64,
    /// Characters, all responses.
    pub chars: u64,
    /// Characters of correct responses.
    pub chars_correct: u64,
    /// Characters of the other responses.
    pub chars_incorrect: u64,
    /// Characters of truncated responses.
    pub chars_truncated: u64,
    /// Responses graded by aha (a reference was given).
    pub graded: u64,
    /// Of those, with an engine reward.
    pub with_engine: u64,
    /// Of those, where the engine's verdict (reward ≥ the threshold) equals aha's.
    pub agree: u64,
    /// Sum of engine rewards (all responses that have one).
    pub engine_sum: f64,
    /// Responses with an engine reward.
    pub engine_n: u64,
    /// Responses with neither a reference nor a reward (length and reflection only).
    pub ungradable: u64,
}

impl StepAccumulator {
    fn merge(&mut self, o: &StepAccumulator) {
        self.task.merge(&o.task);
        self.reward_sq += o.reward_sq;
        self.tokens_known += o.tokens_known;
        self.trunc_known += o.trunc_known;
        self.tokens_truncated += o.tokens_truncated;
        self.chars += o.chars;
        self.chars_correct += o.chars_correct;
        self.chars_incorrect += o.chars_incorrect;
        self.chars_truncated += o.chars_truncated;
        self.graded += o.graded;
        self.with_engine += o.with_engine;
        self.agree += o.agree;
        self.engine_sum += o.engine_sum;
        self.engine_n += o.engine_n;
        self.ungradable += o.ungradable;
    }

    fn add(&mut self, o: &LineOut) {
        let g = &o.graded;
        self.task.add(g);
        self.reward_sq += g.reward * g.reward;
        self.tokens_known += u64::from(o.tokens_known);
        self.trunc_known += u64::from(o.trunc_known);
        if g.truncated {
            self.tokens_truncated += g.tokens as u64;
            self.chars_truncated += o.chars;
        }
        self.chars += o.chars;
        if g.verdict.is_correct() {
            self.chars_correct += o.chars;
        } else {
            self.chars_incorrect += o.chars;
        }
        self.graded += u64::from(o.aha_graded);
        if let Some(r) = o.engine_reward {
            self.engine_sum += r;
            self.engine_n += 1;
        }
        if let Some(a) = o.agree {
            self.with_engine += 1;
            self.agree += u64::from(a);
        }
        self.ungradable += u64::from(o.ungradable);
    }

    /// The step's measures (`None` when nothing was added).
    pub fn measures(&self) -> Option<Measures> {
        let t = &self.task;
        if t.n == 0 {
            return None;
        }
        let n = t.n as f64;
        let all_tokens = self.tokens_known == t.n;
        let all_trunc = self.trunc_known == t.n;
        let mean = |sum: u64, count: u64| (count > 0).then(|| sum as f64 / count as f64);
        let mut task = t.finish();
        if !all_tokens {
            task.len_correct = None;
            task.len_incorrect = None;
        }
        let reward_mean = t.reward_sum / n;
        let var = (self.reward_sq / n - reward_mean * reward_mean).max(0.0);
        Some(Measures {
            n: t.n,
            reward_mean,
            reward_std: var.sqrt(),
            task,
            len_mean: all_tokens.then(|| t.tokens_sum as f64 / n),
            len_truncated: (all_tokens && all_trunc)
                .then(|| mean(self.tokens_truncated, t.truncated))
                .flatten(),
            truncated_rate: all_trunc.then(|| t.truncated as f64 / n),
            chars_mean: self.chars as f64 / n,
            chars_correct: mean(self.chars_correct, t.correct),
            chars_incorrect: mean(self.chars_incorrect, t.n - t.correct),
            chars_truncated: all_trunc
                .then(|| mean(self.chars_truncated, t.truncated))
                .flatten(),
            reflection_per_1k_tokens: (all_tokens && t.tokens_sum > 0)
                .then(|| 1000.0 * t.reflection_sum as f64 / t.tokens_sum as f64),
            reflection_per_1k_chars: (self.chars > 0)
                .then(|| 1000.0 * t.reflection_sum as f64 / self.chars as f64),
            graded: self.graded,
            engine_reward_mean: (self.engine_n > 0).then(|| self.engine_sum / self.engine_n as f64),
            engine_agreement: (self.with_engine > 0)
                .then(|| self.agree as f64 / self.with_engine as f64),
        })
    }
}

/// The measures of one step (train rollouts, or the `eval` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Responses.
    pub n: u64,
    /// Mean reward (the engine's, else aha's).
    pub reward_mean: f64,
    /// Standard deviation of the rewards (population).
    pub reward_std: f64,
    /// Accuracy, outcome composition, token lengths by outcome, reflection, SSR.
    #[serde(flatten)]
    pub task: TaskMetrics,
    /// Mean length in tokens (when every response's is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_mean: Option<f64>,
    /// Mean token length of truncated responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_truncated: Option<f64>,
    /// Fraction cut by the budget (when every response's truncation is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_rate: Option<f64>,
    /// Mean length in characters (Unicode scalar values, as Python's `len`).
    pub chars_mean: f64,
    /// Mean characters of correct responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chars_correct: Option<f64>,
    /// Mean characters of the other responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chars_incorrect: Option<f64>,
    /// Mean characters of truncated responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chars_truncated: Option<f64>,
    /// Reflection keywords per 1,000 tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reflection_per_1k_tokens: Option<f64>,
    /// Reflection keywords per 1,000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reflection_per_1k_chars: Option<f64>,
    /// Responses re-graded by aha (a reference was given).
    pub graded: u64,
    /// Mean of the engine's own rewards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_reward_mean: Option<f64>,
    /// Share of re-graded responses where the engine's verdict equals aha's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_agreement: Option<f64>,
}

/// One `metrics.jsonl` line of an analysed run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsLine {
    /// [`METRICS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The run's name.
    pub run: String,
    /// The engine that wrote the rollouts, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The policy step.
    pub step: u64,
    /// The train rollouts' measures (absent on a step with only eval samples).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub train: Option<Measures>,
    /// The eval samples' measures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval: Option<Measures>,
}

/// Engine vs aha verdicts over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Responses with a reference and an engine reward.
    pub compared: u64,
    /// Where the verdicts agree.
    pub agree: u64,
    /// `agree / compared`.
    pub rate: Option<f64>,
}

/// `summary.json`: what was analysed, how, the run's totals and the study's claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always `aha-analyse` (what tells `aha report` this is not a probe summary).
    pub kind: String,
    /// The run's name.
    pub run: String,
    /// The engine, when known.
    pub engine: Option<String>,
    /// The input format.
    pub format: String,
    /// The inputs.
    pub inputs: Vec<PathBuf>,
    /// The eval inputs.
    pub eval_inputs: Vec<PathBuf>,
    /// The settings, as text.
    pub settings: BTreeMap<String, Value>,
    /// Steps with train samples.
    pub steps: usize,
    /// Train samples.
    pub samples: u64,
    /// Eval samples.
    pub eval_samples: u64,
    /// Samples re-graded by aha (a reference was given).
    pub graded: u64,
    /// Engine vs aha.
    pub agreement: Agreement,
    /// Lines not analysed.
    pub skipped_lines: u64,
    /// The first [`MAX_LISTED_SKIPS`] of them.
    pub skipped: Vec<Skipped>,
    /// Files read in this run.
    pub files_read: usize,
    /// Files whose sums came from the state of an earlier run.
    pub files_reused: usize,
    /// Bytes read in this run.
    pub bytes_read: u64,
    /// The study's claims on the train curves.
    pub claims: Claims,
}

impl Summary {
    /// One line per listed skipped line (`file:line: reason`), then how many more were skipped
    /// than listed: what the command line prints, so no malformed line goes unmentioned.
    pub fn skip_notes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .skipped
            .iter()
            .map(|s| format!("skipped {s}"))
            .collect();
        let listed = self.skipped.len() as u64;
        if self.skipped_lines > listed {
            out.push(format!(
                "… and {} more skipped line(s) (summary.json lists the first {listed})",
                self.skipped_lines - listed
            ));
        }
        out
    }

    /// The one-line account of an analysis that took `secs` seconds and wrote into `out`.
    pub fn describe(&self, out: &Path, secs: f64) -> String {
        let agreement = self.agreement.rate.map_or(String::new(), |r| {
            format!(", engine agreement {:.1}%", 100.0 * r)
        });
        let mb = self.bytes_read as f64 / 1e6;
        format!(
            "{} ({}): {} step(s), {} sample(s) ({} re-graded{agreement}), {} eval sample(s); \
             {} file(s) read ({mb:.1} MB in {secs:.1} s, {:.0} MB/s), {} reused; {} line(s) \
             skipped -> {}",
            self.run,
            self.format,
            self.steps,
            self.samples,
            self.graded,
            self.eval_samples,
            self.files_read,
            mb / secs.max(1e-9),
            self.files_reused,
            self.skipped_lines,
            out.display()
        )
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FileState {
    size: u64,
    mtime_ns: u64,
    train: BTreeMap<u64, StepAccumulator>,
    eval: BTreeMap<u64, StepAccumulator>,
    skipped_n: u64,
    skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    schema_version: u32,
    key: String,
    files: BTreeMap<String, FileState>,
}

/// What one line contributes.
struct LineOut {
    eval: bool,
    step: u64,
    graded: Graded,
    chars: u64,
    tokens_known: bool,
    trunc_known: bool,
    aha_graded: bool,
    engine_reward: Option<f64>,
    agree: Option<bool>,
    ungradable: bool,
}

/// Progress of a long analysis (the CLI draws it as a bar).
pub trait Progress {
    /// The work ahead: bytes and files to read.
    fn start(&mut self, bytes: u64, files: usize);
    /// `bytes` more were processed.
    fn advance(&mut self, bytes: u64);
}

/// No progress display.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64, _: usize) {}
    fn advance(&mut self, _: u64) {}
}

/// The analysis of one run.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// One line per step, in step order.
    pub lines: Vec<MetricsLine>,
    /// The summary.
    pub summary: Summary,
}

struct Grader<'a> {
    settings: &'a Settings,
    detector: KeywordDetector,
    opts: GradeOptions,
    tokens: Option<&'a TokenCounter<'a>>,
}

fn countdown_shaped(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("target"),
        Value::String(s) => s.trim_start().starts_with('{') && s.contains("\"target\""),
        _ => false,
    }
}

impl Grader<'_> {
    fn line(&self, rec: &Record<'_>) -> std::result::Result<LineOut, String> {
        let text: &str = &rec.response;
        let chars = text.chars().count() as u64;
        let tokens = rec.n_tokens.or_else(|| self.tokens.map(|c| c(text) as u64));
        let truncated = rec.truncated.or_else(|| {
            let (n, max) = (tokens?, self.settings.max_tokens?);
            Some(n >= max)
        });
        let cut = aha_verify::extract::cut_at_stop(text);
        let engine_ok = rec.reward.map(|r| r >= self.settings.engine_correct_at);
        let (verdict, formatted, aha_reward, reflections, ssr, aha_graded) = match &rec.gold {
            Some(value) => {
                let task = match self.settings.task {
                    TaskChoice::Math => Task::Math,
                    TaskChoice::Countdown => Task::Countdown,
                    TaskChoice::Auto if countdown_shaped(value) => Task::Countdown,
                    TaskChoice::Auto => Task::Math,
                };
                let gold = Gold::from_json(value, task).map_err(|e| format!("gold: {e}"))?;
                let outcome = aha_verify::grade(task, text, &gold, &self.opts);
                let report = self.detector.analyze(cut);
                let ssr = match (&gold, gold.answers().first()) {
                    (Gold::Countdown { .. }, _) | (_, None) => None,
                    (_, Some(a)) => {
                        Some(classify_with_report(text, &report, a, &self.opts.math).category)
                    }
                };
                let g = outcome.grade;
                (g.verdict, g.formatted, g.reward, report.total, ssr, true)
            }
            None => {
                // No reference: the engine's reward is the verdict.
                let v = match engine_ok {
                    Some(true) => Verdict::Correct,
                    Some(false) => Verdict::Incorrect,
                    None => Verdict::NoAnswer,
                };
                (
                    v,
                    v.is_correct(),
                    0.0,
                    self.detector.count(cut),
                    None,
                    false,
                )
            }
        };
        Ok(LineOut {
            eval: rec.eval,
            step: rec.step,
            graded: Graded {
                reward: rec.reward.unwrap_or(aha_reward),
                verdict,
                formatted,
                truncated: truncated.unwrap_or(false),
                tokens: tokens.unwrap_or(0) as usize,
                reflection_count: reflections,
                ssr,
                extracted: None,
            },
            chars,
            tokens_known: tokens.is_some(),
            trunc_known: truncated.is_some(),
            aha_graded,
            engine_reward: rec.reward,
            agree: (aha_graded)
                .then(|| engine_ok.map(|ok| ok == verdict.is_correct()))
                .flatten(),
            ungradable: rec.gold.is_none() && rec.reward.is_none(),
        })
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One block of complete lines, as the reader thread hands it to the workers.
struct Block {
    bytes: Vec<u8>,
    /// `(1-based line number, byte range, ends with a newline)` of each non-blank line.
    lines: Vec<(u64, std::ops::Range<usize>, bool)>,
}

/// The first `\n` in `bytes`. Whole 64-byte chunks are tested with a branch-free fold, which
/// the compiler vectorises (a byte-at-a-time search was ~8% of the analysis).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    let mut skipped = 0;
    for chunk in bytes.chunks_exact(64) {
        if chunk.iter().fold(false, |any, &b| any | (b == b'\n')) {
            break;
        }
        skipped += 64;
    }
    bytes[skipped..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| skipped + i)
}

/// Reads `f` in blocks of complete lines (about `block` bytes; a longer line makes a longer
/// block) and finds their lines, sending each block to `tx`. Runs on its own thread so that
/// reading and line splitting overlap the grading of the previous block.
fn read_blocks(
    mut f: std::fs::File,
    path: &Path,
    block: usize,
    tx: std::sync::mpsc::SyncSender<Result<Block>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        // The partial line left from the last block, then up to block bytes more.
        let mut buf = std::mem::take(&mut carry);
        let start = buf.len();
        buf.reserve(block);
        let mut eof = false;
        while buf.len() < start + block {
            // `Read::take` + `read_to_end` fills the spare capacity without zeroing it first.
            match (&mut f)
                .take((start + block - buf.len()) as u64)
                .read_to_end(&mut buf)
            {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(Error::io(path, e)));
                    return;
                }
            }
        }
        // Complete lines only; the rest is carried into the next block.
        let end = if eof {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                // One line longer than the block: read on.
                None => {
                    carry = buf;
                    continue;
                }
            }
        };
        carry = buf[end..].to_vec();
        buf.truncate(end);
        let mut lines = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            line_no += 1;
            let (stop, complete) = match find_newline(&buf[at..]) {
                Some(i) => (at + i, true),
                None => (buf.len(), false),
            };
            let mut e = stop;
            if e > at && buf[e - 1] == b'\r' {
                e -= 1;
            }
            if !buf[at..e].iter().all(u8::is_ascii_whitespace) {
                lines.push((line_no, at..e, complete));
            }
            at = stop + 1;
        }
        if tx.send(Ok(Block { bytes: buf, lines })).is_err() || eof {
            return;
        }
    }
}

fn read_file(
    pool: &rayon::ThreadPool,
    grader: &Grader<'_>,
    file: &InputFile,
    progress: &mut dyn Progress,
) -> Result<FileState> {
    let path = &file.path;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    let mut st = FileState {
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
        ..FileState::default()
    };
    // One block read ahead: memory stays at about three blocks whatever the file's size.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Block>>(1);
    std::thread::scope(|s| -> Result<()> {
        s.spawn(move || read_blocks(f, path, BLOCK, tx));
        for block in rx {
            let block = block?;
            let bytes = &block.bytes;
            // Collected in line order and folded in that order, so the per-step sums (floats
            // among them) do not depend on how the work was split between threads.
            let outs: Vec<(u64, std::result::Result<LineOut, String>)> = pool.install(|| {
                block
                    .lines
                    .par_iter()
                    .map(|(n, range, complete)| {
                        let r = parse_line(file, &bytes[range.clone()])
                            .and_then(|rec| grader.line(&rec));
                        let r = r.map_err(|e| {
                            if *complete {
                                e
                            } else {
                                format!("incomplete last line (file still being written?): {e}")
                            }
                        });
                        (*n, r)
                    })
                    .collect()
            });
            for (n, r) in outs {
                match r {
                    Ok(o) => {
                        let map = if o.eval { &mut st.eval } else { &mut st.train };
                        map.entry(o.step).or_default().add(&o);
                    }
                    Err(reason) => {
                        st.skipped_n += 1;
                        if st.skipped.len() < MAX_LISTED_SKIPS {
                            st.skipped.push(Skipped {
                                path: path.clone(),
                                line: n,
                                reason,
                            });
                        }
                    }
                }
            }
            progress.advance(bytes.len() as u64);
        }
        Ok(())
    })?;
    Ok(st)
}

#[cfg(test)]
mod block_tests {
    /// Blocks far smaller than the lines: every line comes out whole, numbered, in order, with
    /// blank lines skipped, `\r\n` trimmed and a last line without `\n` marked incomplete.
    #[test]
    fn blocks_keep_lines_whole_across_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let text = "short\na line longer than one block of sixteen bytes\r\n\n  \nmid\nlast";
        std::fs::write(&path, text).unwrap();
        for block in [1, 7, 16, 64, 1 << 20] {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let f = std::fs::File::open(&path).unwrap();
            let p = path.clone();
            let h = std::thread::spawn(move || super::read_blocks(f, &p, block, tx));
            let mut got = Vec::new();
            let mut bytes = 0;
            for b in rx {
                let b = b.unwrap();
                bytes += b.bytes.len();
                for (n, r, complete) in &b.lines {
                    let l = String::from_utf8(b.bytes[r.clone()].to_vec()).unwrap();
                    got.push((*n, l, *complete));
                }
            }
            h.join().unwrap();
            assert_eq!(bytes, text.len(), "block {block}");
            let want = [
                (1, "short", true),
                (2, "a line longer than one block of sixteen bytes", true),
                (5, "mid", true),
                (6, "last", false),
            ];
            let want: Vec<_> = want
                .iter()
                .map(|(n, l, c)| (*n, l.to_string(), *c))
                .collect();
            assert_eq!(got, want, "block {block}");
        }
    }
}

#[cfg(test)]
mod newline_tests {
    #[test]
    fn find_newline_matches_a_plain_search() {
        for len in [0usize, 1, 63, 64, 65, 127, 128, 200] {
            for at in [None, Some(0), Some(63), Some(64), Some(130), Some(199)] {
                let mut v = vec![b'x'; len];
                if let Some(i) = at.filter(|&i| i < len) {
                    v[i] = b'\n';
                    if i + 2 < len {
                        v[i + 2] = b'\n';
                    }
                }
                let want = v.iter().position(|&b| b == b'\n');
                assert_eq!(super::find_newline(&v), want, "len {len} at {at:?}");
            }
        }
    }
}

fn read_state(path: &Path, key: &str) -> State {
    let fresh = State {
        schema_version: STATE_SCHEMA_VERSION,
        key: key.to_string(),
        files: BTreeMap::new(),
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return fresh;
    };
    match serde_json::from_str::<State>(&text) {
        Ok(s) if s.schema_version == STATE_SCHEMA_VERSION && s.key == key => s,
        _ => fresh,
    }
}

/// Writes `bytes` to `path` atomically ([`aha_rundir::write_atomic`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    aha_rundir::write_atomic(path, bytes).map_err(|e| match e {
        aha_rundir::Error::Io { path, source } => Error::Io { path, source },
        other => Error::io(path, std::io::Error::other(other.to_string())),
    })
}

fn file_key(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Analyses the run made of `inputs` (train rollouts) and `evals` (held-out samples), writing
/// `metrics.jsonl`, `summary.json` and the state file into `out` (created if missing).
pub fn analyse(
    inputs: &[Discovered],
    evals: &[Discovered],
    settings: &Settings,
    tokens: Option<&TokenCounter<'_>>,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<Analysis> {
    if !(0.0..1.0).contains(&settings.ema) {
        return Err(Error::Invalid {
            what: "EMA weight",
            reason: format!("{} (must be in [0, 1))", settings.ema),
        });
    }
    let first = inputs.first().ok_or(Error::Invalid {
        what: "inputs",
        reason: "no input".into(),
    })?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let detector = KeywordDetector::new(&settings.keywords, settings.match_mode)?;
    let grader = Grader {
        settings,
        detector,
        opts: GradeOptions::math(settings.answer.options()),
        tokens,
    };
    let state_path = out.join(STATE_FILE);
    let key = settings.key();
    let mut old = read_state(&state_path, &key);
    let mut state = State {
        schema_version: STATE_SCHEMA_VERSION,
        key,
        files: BTreeMap::new(),
    };
    let files: Vec<&InputFile> = inputs
        .iter()
        .chain(evals)
        .flat_map(|d| d.files.iter())
        .collect();
    let mut todo = Vec::new();
    for f in &files {
        let k = file_key(&f.path);
        let meta = std::fs::metadata(&f.path).map_err(|e| Error::io(&f.path, e))?;
        match old.files.remove(&k) {
            Some(s) if s.size == meta.len() && s.mtime_ns == mtime_ns(&meta) => {
                state.files.insert(k, s);
            }
            _ => todo.push((k, *f, meta.len())),
        }
    }
    let files_reused = state.files.len();
    let bytes: u64 = todo.iter().map(|t| t.2).sum();
    progress.start(bytes, todo.len());
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = settings.threads {
            b = b.num_threads(n);
        }
        b.build().map_err(|e| Error::Invalid {
            what: "threads",
            reason: e.to_string(),
        })?
    };
    let mut since_save = 0u64;
    for (k, f, _) in &todo {
        let st = read_file(&pool, &grader, f, progress)?;
        since_save += st.size;
        state.files.insert(k.clone(), st);
        // Keep what was read across an interruption (every ~1 GB).
        if since_save > 1 << 30 {
            since_save = 0;
            let json = serde_json::to_vec(&state).map_err(|source| Error::Json {
                path: state_path.clone(),
                source,
            })?;
            write_atomic(&state_path, &json)?;
        }
    }

    let mut train: BTreeMap<u64, StepAccumulator> = BTreeMap::new();
    let mut eval: BTreeMap<u64, StepAccumulator> = BTreeMap::new();
    let (mut skipped_lines, mut skipped) = (0u64, Vec::new());
    // Files in input order, so the listed skips read in order.
    for f in &files {
        let Some(st) = state.files.get(&file_key(&f.path)) else {
            continue;
        };
        for (s, a) in &st.train {
            train.entry(*s).or_default().merge(a);
        }
        for (s, a) in &st.eval {
            eval.entry(*s).or_default().merge(a);
        }
        skipped_lines += st.skipped_n;
        for s in &st.skipped {
            if skipped.len() < MAX_LISTED_SKIPS {
                skipped.push(s.clone());
            }
        }
    }
    let run = first.name.clone();
    let source = first.engine.clone();
    let steps: std::collections::BTreeSet<u64> = train.keys().chain(eval.keys()).copied().collect();
    let lines: Vec<MetricsLine> = steps
        .iter()
        .map(|s| MetricsLine {
            schema_version: METRICS_SCHEMA_VERSION,
            run: run.clone(),
            source: source.clone(),
            step: *s,
            train: train.get(s).and_then(StepAccumulator::measures),
            eval: eval.get(s).and_then(StepAccumulator::measures),
        })
        .collect();

    let mut total = StepAccumulator::default();
    train.values().for_each(|a| total.merge(a));
    let eval_samples: u64 = eval.values().map(|a| a.task.n).sum();
    let chars_known = lines.iter().any(|l| l.train.is_some());
    let points: Vec<ClaimPoint> = lines
        .iter()
        .filter_map(|l| {
            let m = l.train.as_ref()?;
            let ssr = m.task.ssr.as_ref();
            Some(ClaimPoint {
                step: l.step as f64,
                length: Some(m.chars_mean),
                reflection: Some(m.task.reflection_count_mean),
                wc: ssr.map(|s| s.get("W->C").copied().unwrap_or(0) as f64),
                ww: ssr.map(|s| s.get("W->W").copied().unwrap_or(0) as f64),
            })
        })
        .collect();
    let claims = claims(
        &points,
        settings.ema,
        if chars_known { "characters" } else { "" },
    );
    let mut st = BTreeMap::new();
    let mut put = |k: &str, v: Value| {
        st.insert(k.to_string(), v);
    };
    put(
        "task",
        serde_json::to_value(settings.task).unwrap_or(Value::Null),
    );
    put(
        "answer_format",
        serde_json::to_value(settings.answer).unwrap_or(Value::Null),
    );
    put("keywords", Value::String(settings.keywords.label()));
    put("match", Value::String(settings.match_mode.as_str().into()));
    put("max_tokens", serde_json::json!(settings.max_tokens));
    put(
        "engine_correct_at",
        serde_json::json!(settings.engine_correct_at),
    );
    put("ema", serde_json::json!(settings.ema));
    put("tokenizer", serde_json::json!(settings.tokenizer));
    let summary = Summary {
        schema_version: SUMMARY_SCHEMA_VERSION,
        kind: "aha-analyse".into(),
        run,
        engine: source,
        format: first.format.as_str().into(),
        inputs: inputs.iter().map(input_root).collect(),
        eval_inputs: evals.iter().map(input_root).collect(),
        settings: st,
        steps: train.len(),
        samples: total.task.n,
        eval_samples,
        graded: total.graded,
        agreement: Agreement {
            compared: total.with_engine,
            agree: total.agree,
            rate: (total.with_engine > 0).then(|| total.agree as f64 / total.with_engine as f64),
        },
        skipped_lines,
        skipped,
        files_read: todo.len(),
        files_reused,
        bytes_read: bytes,
        claims,
    };

    let mut text = Vec::new();
    for l in &lines {
        serde_json::to_writer(&mut text, l).map_err(|source| Error::Json {
            path: out.join(METRICS_FILE),
            source,
        })?;
        text.push(b'\n');
    }
    write_atomic(&out.join(METRICS_FILE), &text)?;
    let json = serde_json::to_vec_pretty(&summary).map_err(|source| Error::Json {
        path: out.join(SUMMARY_FILE),
        source,
    })?;
    write_atomic(&out.join(SUMMARY_FILE), &json)?;
    let json = serde_json::to_vec(&state).map_err(|source| Error::Json {
        path: state_path.clone(),
        source,
    })?;
    write_atomic(&state_path, &json)?;
    Ok(Analysis { lines, summary })
}

fn input_root(d: &Discovered) -> PathBuf {
    d.files
        .first()
        .and_then(|f| {
            if d.files.len() == 1 {
                Some(f.path.clone())
            } else {
                let p = f.path.parent()?;
                Some(if p.ends_with("rollouts") {
                    p.parent().unwrap_or(p).to_path_buf()
                } else {
                    p.to_path_buf()
                })
            }
        })
        .unwrap_or_default()
}
