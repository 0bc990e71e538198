//! A file of responses graded line by line (what `aha verify` does): the input line read into a
//! response and a reference, graded through the contract ([`crate::grade`]), and the typed
//! output record; [`grade_stream`] does a whole file. The caller opens the files (this crate
//! only reads and writes the streams it is given).
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

/// What grading a file came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Lines graded.
    pub graded: u64,
    /// Of those, graded correct.
    pub correct: u64,
    /// Lines that could not be graded (an error record each).
    pub malformed: u64,
}

/// Grades every line of `input` (called `name` in error records) and writes one JSON record
/// per non-blank line to `out`. A line that is not UTF-8 or not gradable becomes an error record
/// and the file goes on. `on_line` is called once per line read, with the error message of a
/// malformed line (for progress and stderr). Only reading or writing can fail.
pub fn grade_stream(
    input: impl std::io::BufRead,
    out: &mut dyn std::io::Write,
    name: &str,
    task: Task,
    opts: &GradeOptions,
    on_line: &mut dyn FnMut(Option<&str>),
) -> std::io::Result<FileCounts> {
    let mut counts = FileCounts::default();
    for (i, raw) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let raw = raw.map_err(|e| {
            std::io::Error::new(e.kind(), format!("{name}:{n}: cannot read line: {e}"))
        })?;
        // Invalid UTF-8 is a malformed line like any other, not the end of the run.
        let parsed = String::from_utf8(raw)
            .map_err(|e| bad("(line)", format!("not UTF-8: {e}")))
            .and_then(|line| {
                if line.trim().is_empty() {
                    Ok(None)
                } else {
                    grade_line(&line, task, opts).map(Some)
                }
            });
        let record = match parsed {
            Ok(None) => {
                on_line(None);
                continue;
            }
            Ok(Some(outcome)) => {
                counts.graded += 1;
                counts.correct += u64::from(outcome.grade.verdict == Verdict::Correct);
                on_line(None);
                Record::graded(n, &outcome)
            }
            Err(e) => {
                counts.malformed += 1;
                let r = Record::error(name, n, &e);
                if let Record::Error { error, .. } = &r {
                    on_line(Some(error));
                }
                r
            }
        };
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(counts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_grades_good_lines_and_records_bad_ones() {
        let input = b"{\"response\": \"\\\\boxed{4}\", \"gold\": \"4\"}\n\n{\"response\": 1}\n\xff\n{\"response\": \"5\", \"gold\": \"4\"}";
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let counts = grade_stream(
            &input[..],
            &mut out,
            "in.jsonl",
            Task::Math,
            &GradeOptions::default(),
            &mut |e| errors.extend(e.map(str::to_string)),
        )
        .unwrap();
        assert_eq!(
            counts,
            FileCounts {
                graded: 2,
                correct: 1,
                malformed: 2
            }
        );
        let lines: Vec<Value> = std::str::from_utf8(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "the blank line has no record");
        assert_eq!(lines[0]["verdict"], "correct");
        assert_eq!(
            lines[1]["error"],
            "in.jsonl:3: field `response`: must be a string"
        );
        assert!(
            errors[1].starts_with("in.jsonl:4: field `(line)`: not UTF-8"),
            "{errors:?}"
        );
        assert_eq!(
            (lines[3]["line"].as_u64(), &lines[3]["verdict"]),
            (Some(5), &Value::from("no_answer"))
        );
    }
}
