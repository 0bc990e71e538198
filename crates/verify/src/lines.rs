//! A file of responses graded line by line (what `aha verify` does): the input line read into a
//! response and a reference, graded through the contract ([`crate::grade`]), and the typed
//! output record. Pure: the caller reads and writes the files.
//!
//! Input: one JSON object per line with `response` and a reference: `gold` (math: a string, a
//! number or a list of them, any of which counts; Countdown: `{"target": N, "numbers": [...]}`),
//! or for MATH/benchmark rows `answer`, `final_answer` or `solution` (its last `\boxed{}`).

use serde::Serialize;
use serde_json::Value;

use crate::{AnswerSource, Gold, GradeOptions, Outcome, Task, Verdict};

/// Version of the [`Record`] layout.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// Why a line could not be graded: the field at fault (`(line)` for the line as a whole) and
/// what is wrong with it. A wrong answer is never this: it is a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> LineError {
    LineError {
        field,
        message: message.into(),
    }
}

/// Grades one input line for `task`.
///
/// ```
/// use aha_verify::{GradeOptions, Task, Verdict, lines::grade_line};
/// let o = GradeOptions::default();
/// let out = grade_line(r#"{"response": "so \\boxed{-2}", "answer": ["2", "-2"]}"#, Task::Math, &o);
/// assert_eq!(out.map(|o| o.grade.verdict), Ok(Verdict::Correct));
/// let err = grade_line(r#"{"response": 3, "gold": "3"}"#, Task::Math, &o).unwrap_err();
/// assert_eq!(err.field, "response");
/// ```
pub fn grade_line(line: &str, task: Task, opts: &GradeOptions) -> Result<Outcome, LineError> {
    let v: Value =
        serde_json::from_str(line).map_err(|e| bad("(line)", format!("invalid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("(line)", "expected a JSON object"))?;
    let response = match obj.get("response") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("response", "must be a string")),
        None => return Err(bad("response", "missing")),
    };
    // Math rows may carry the reference under a benchmark's own name.
    let fields: &[&'static str] = match task {
        Task::Countdown => &["gold"],
        Task::Math | Task::MathAnswer => &["gold", "answer", "final_answer", "solution"],
    };
    let (field, value) = fields
        .iter()
        .find_map(|f| obj.get(*f).map(|v| (*f, v)))
        .ok_or_else(|| match task {
            Task::Countdown => bad("gold", "missing"),
            _ => bad("gold", "missing (also no answer/final_answer/solution)"),
        })?;
    let gold = Gold::from_json(value, task).map_err(|e| bad(field, e.to_string()))?;
    if gold.answers().is_empty() && !matches!(gold, Gold::Countdown { .. }) {
        return Err(bad(field, "no reference answer (null or an empty list)"));
    }
    Ok(crate::grade(task, response, &gold, opts))
}

/// One output line: a grade, or why the input line could not be graded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Record {
    /// The line was graded.
    Graded {
        /// [`RECORD_SCHEMA_VERSION`].
        schema_version: u32,
        /// The input line number (1-based).
        line: usize,
        /// The verdict.
        verdict: Verdict,
        /// The answer that was graded.
        extracted: Option<String>,
        /// The reward under the chosen scheme.
        reward: f64,
        /// An answer was found in the required format.
        formatted: bool,
        /// Where the answer came from.
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<AnswerSource>,
        /// Which reference of an any-of list the verdict refers to.
        #[serde(skip_serializing_if = "Option::is_none")]
        gold_index: Option<usize>,
    },
    /// The line could not be graded.
    Error {
        /// [`RECORD_SCHEMA_VERSION`].
        schema_version: u32,
        /// The input line number (1-based).
        line: usize,
        /// `file:line: field `name`: message`.
        error: String,
    },
}

impl Record {
    /// The record of a graded line `line`.
    pub fn graded(line: usize, outcome: &Outcome) -> Record {
        let g = &outcome.grade;
        Record::Graded {
            schema_version: RECORD_SCHEMA_VERSION,
            line,
            verdict: g.verdict,
            extracted: g.extracted.as_ref().map(|e| e.text.clone()),
            reward: g.reward,
            formatted: g.formatted,
            source: g.extracted.as_ref().map(|e| e.source),
            gold_index: outcome.gold_index,
        }
    }

    /// The record of line `line` of `file` that could not be graded.
    pub fn error(file: &str, line: usize, e: &LineError) -> Record {
        Record::Error {
            schema_version: RECORD_SCHEMA_VERSION,
            line,
            error: format!("{file}:{line}: field `{}`: {}", e.field, e.message),
        }
    }
}
