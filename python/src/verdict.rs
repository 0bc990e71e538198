//! `aha.Verdict`: the Python view of one grade.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::grade::{Outcome, char_offset};

/// The result of grading one response (`aha.verify`, `aha.verify_batch`, `aha.countdown`).
#[pyclass(module = "aha", frozen, eq, get_all)]
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `"correct"`, `"incorrect"`, `"no_answer"` or `"gold_unparseable"`.
    verdict: &'static str,
    /// The verdict as a number, as OpenRLHF's `extra_logs` hold it: 0 correct, 1 incorrect,
    /// 2 no answer, 3 unreadable reference.
    code: u8,
    /// The answer that was graded (inside the box / tag), if one was found.
    extracted: Option<String>,
    /// Where the answer came from: `"boxed"`, `"answer_tag"`, `"answer_is"`, `"last_number"`,
    /// `"whole"`; `None` without an answer.
    source: Option<&'static str>,
    /// `(start, end)` of `extracted` in the response, in characters (Python string indices).
    span: Option<(usize, usize)>,
    /// The reward under the chosen scheme.
    reward: f64,
    /// An answer could be extracted in the required format.
    formatted: bool,
    /// For an any-of reference list: the index of the reference the verdict refers to.
    gold_index: Option<usize>,
    /// Why the reference could not be read, when known.
    detail: Option<String>,
}

impl Verdict {
    /// Builds the Python view of `outcome` for `response` (needed to turn byte into char offsets).
    pub fn new(response: &str, outcome: Outcome) -> Verdict {
        let g = outcome.grade;
        let (extracted, source, span) = match g.extracted {
            Some(e) => (
                Some(e.text),
                Some(source_name(e.source)),
                Some((char_offset(response, e.start), char_offset(response, e.end))),
            ),
            None => (None, None, None),
        };
        Verdict {
            verdict: g.verdict.as_str(),
            code: g.verdict.code(),
            extracted,
            source,
            span,
            reward: g.reward,
            formatted: g.formatted,
            gold_index: outcome.gold_index,
            detail: outcome.detail,
        }
    }
}

fn source_name(s: aha_verify::AnswerSource) -> &'static str {
    use aha_verify::AnswerSource as A;
    match s {
        A::Boxed => "boxed",
        A::AnswerTag => "answer_tag",
        A::AnswerIs => "answer_is",
        A::LastNumber => "last_number",
        A::MathSpan => "math_span",
        A::Whole => "whole",
    }
}

#[pymethods]
impl Verdict {
    /// `True` only when the verdict is `"correct"`.
    #[getter]
    fn correct(&self) -> bool {
        self.verdict == "correct"
    }

    /// The verdict as a plain dict (JSON-friendly).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("verdict", self.verdict)?;
        d.set_item("correct", self.correct())?;
        d.set_item("reward", self.reward)?;
        d.set_item("formatted", self.formatted)?;
        d.set_item("extracted", &self.extracted)?;
        d.set_item("source", self.source)?;
        d.set_item("span", self.span)?;
        d.set_item("gold_index", self.gold_index)?;
        d.set_item("detail", &self.detail)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // Python's own repr of the strings, so the output reads (and round-trips) like Python.
        let extracted = self.extracted.as_deref().into_pyobject(py)?.repr()?;
        Ok(format!(
            "Verdict(verdict='{}', reward={:?}, extracted={}, formatted={})",
            self.verdict,
            self.reward,
            extracted,
            if self.formatted { "True" } else { "False" }
        ))
    }
}
