//! The analysis of a file of responses, one JSON line each (what `aha reflect` does): the input
//! line, its keyword / SSR analysis, the judge replies, and the typed output record.
//!
//! Input: one JSON object per line with `response` (alias `output`) and optionally `id` /
//! `question_id` (string or number; the k responses of a question share it), `gold` (string or
//! number: enables grading and SSR), `question` (needed by the judge), `prompt` (the templated
//! model input, for the answering judge), `correct` (bool) or `reward` (number; correct iff
//! == 1, the study's rule), `temperature`, `n_tokens`.

use std::collections::BTreeMap;

use aha_verify::{MathOptions, Reference, Verdict, extract_answer};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::aggregate::ResponseRecord;
use crate::judge::{self, Answering, JudgePrompt, JudgeVerdict};
use crate::{Hit, KeywordDetector, KeywordReport, SsrReport, classify_with_report};

/// Version of the [`Record`] layout.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// One parsed input line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputLine {
    /// The response text.
    pub response: String,
    /// The line's `id`, as given.
    pub id: Option<Value>,
    /// The question the response answers (`question_id`, else `id`, else `line-N`).
    pub question_id: String,
    /// The reference answer, when given.
    pub gold: Option<String>,
    /// The question text (the reflection judge needs it).
    pub question: Option<String>,
    /// The templated model input (for the answering judge).
    pub prompt: Option<String>,
    /// Correctness given by the input (`correct`, or `reward == 1`).
    pub correct: Option<bool>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Response length in tokens.
    pub n_tokens: Option<usize>,
}

impl InputLine {
    /// Parses line `n` (1-based) of a file; errors name the field.
    pub fn parse(text: &str, n: usize) -> Result<InputLine, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| "expected a JSON object".to_string())?;
        let response = match obj.get("response").or_else(|| obj.get("output")) {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("field `response`: expected a string".into()),
            None => return Err("field `response`: missing".into()),
        };
        let id = obj.get("id").cloned();
        let question_id = match obj.get("question_id").or(id.as_ref()) {
            None => format!("line-{n}"),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            Some(_) => {
                let f = if obj.contains_key("question_id") {
                    "question_id"
                } else {
                    "id"
                };
                return Err(format!("field `{f}`: expected a string or number"));
            }
        };
        let gold = match obj.get("gold") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(x)) => Some(x.to_string()),
            Some(_) => return Err("field `gold`: expected a string or number".into()),
        };
        let correct = match (obj.get("correct"), obj.get("reward")) {
            (Some(Value::Bool(b)), _) => Some(*b),
            (Some(Value::Null) | None, Some(Value::Number(r))) => r.as_f64().map(|r| r == 1.0),
            (Some(Value::Null) | None, None | Some(Value::Null)) => None,
            (Some(_), _) => return Err("field `correct`: expected true or false".into()),
            (_, Some(_)) => return Err("field `reward`: expected a number".into()),
        };
        let temperature = match obj.get("temperature") {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                t.as_f64()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or_else(|| "field `temperature`: expected a number ≥ 0".to_string())?,
            ),
        };
        let n_tokens =
            match obj.get("n_tokens") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    "field `n_tokens`: expected a non-negative integer".to_string()
                })? as usize),
            };
        Ok(InputLine {
            response,
            id,
            question_id,
            gold,
            question: opt_str(obj, "question")?,
            prompt: opt_str(obj, "prompt")?,
            correct,
            temperature,
            n_tokens,
        })
    }

    /// The reflection judge's prompt for this line (needs `question`).
    pub fn judge_prompt(&self) -> Result<JudgePrompt, String> {
        let q = self
            .question
            .as_ref()
            .ok_or("field `question`: missing (the judge needs it)")?;
        Ok(JudgePrompt {
            text: judge::judge_prompt(q, &self.response),
            max_tokens: judge::STUDY_JUDGE_MAX_TOKENS,
        })
    }

    /// The answering judge's prompt for this line (needs `prompt` or `question`).
    pub fn answering_prompt(&self) -> Result<JudgePrompt, String> {
        let p = self
            .prompt
            .as_ref()
            .or(self.question.as_ref())
            .ok_or("fields `prompt` and `question`: missing (the answering judge needs one)")?;
        Ok(JudgePrompt {
            text: judge::answering_prompt(p, &self.response),
            max_tokens: judge::STUDY_ANSWERING_MAX_TOKENS,
        })
    }
}

fn opt_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("field `{field}`: expected a string")),
    }
}

/// The analysis of one line: keywords, grading and SSR, and the judges' replies once asked.
#[derive(Debug, Clone)]
pub struct LineAnalysis {
    /// The input.
    pub line: InputLine,
    /// Keyword occurrences.
    pub report: KeywordReport,
    /// The verdict against `gold`, when given.
    pub verdict: Option<Verdict>,
    /// The extracted final answer.
    pub answer: Option<String>,
    /// The SSR report, when `gold` is given.
    pub ssr: Option<SsrReport>,
    /// The reflection judge's reply (or why it failed), when asked.
    pub judge: Option<Result<String, String>>,
    /// The answering judge's reply (or why it failed), when asked.
    pub answering: Option<Result<String, String>>,
}

impl LineAnalysis {
    /// Counts keywords, and grades and classifies SSR when the line has a gold.
    pub fn new(line: InputLine, detector: &KeywordDetector, opts: &MathOptions) -> LineAnalysis {
        let report = match line.n_tokens {
            Some(n) => detector.analyze_with_tokens(&line.response, n),
            None => detector.analyze(&line.response),
        };
        let (verdict, answer, ssr) = match &line.gold {
            Some(gold) => {
                let s = classify_with_report(&line.response, &report, gold, opts);
                // SSR grades the final answer; without one, ask whether the gold itself is
                // readable, so such lines are not counted as wrong.
                let verdict =
                    if s.final_answer.is_none() && !Reference::new(gold, opts).is_readable() {
                        Verdict::GoldUnparseable
                    } else {
                        s.final_verdict
                    };
                (Some(verdict), s.final_answer.clone(), Some(s))
            }
            None => (
                None,
                extract_answer(&line.response, opts).map(|e| e.text),
                None,
            ),
        };
        LineAnalysis {
            line,
            report,
            verdict,
            answer,
            ssr,
            judge: None,
            answering: None,
        }
    }

    /// Correctness: the input's own, else the verdict (none for an unreadable gold).
    pub fn correct(&self) -> Option<bool> {
        self.line.correct.or(match self.verdict {
            Some(Verdict::GoldUnparseable) | None => None,
            Some(v) => Some(v.is_correct()),
        })
    }

    /// The output record of line `n` (1-based).
    pub fn record(&self, n: usize, keyword_set: &str) -> Record<'_> {
        let r = &self.report;
        let (judge, judge_error) = split(&self.judge, |reply| {
            let v = JudgeVerdict::parse(reply);
            JudgeRecord {
                reply,
                reflection: v.study_reflection,
                category: v.category.map(|c| c.number()),
                cross: v.study_reflection && r.has_reflection(),
            }
        });
        let (answering, answering_error) = split(&self.answering, |reply| AnsweringRecord {
            reply,
            verdict: Answering::parse(reply),
        });
        Record {
            schema_version: RECORD_SCHEMA_VERSION,
            line: n,
            id: self.line.id.as_ref(),
            question_id: &self.line.question_id,
            keyword_set: keyword_set.to_string(),
            keyword_count: r.total,
            keywords: &r.per_keyword,
            has_reflection: r.has_reflection(),
            in_think: r.in_think,
            per_1k_chars: r.per_1k_chars,
            per_1k_tokens: r.per_1k_tokens,
            hits: &r.hits,
            correct: self.correct(),
            verdict: self.verdict,
            ssr: self.ssr.as_ref(),
            judge,
            judge_error,
            answering,
            answering_error,
        }
    }

    /// The line as the aggregate tables see it.
    pub fn response_record(&self) -> ResponseRecord {
        let verdict = match &self.judge {
            Some(Ok(reply)) => Some(JudgeVerdict::parse(reply)),
            _ => None,
        };
        ResponseRecord {
            question_id: self.line.question_id.clone(),
            temperature: self.line.temperature,
            keyword_count: self.report.total,
            per_keyword: self.report.per_keyword.clone(),
            correct: self.correct(),
            answered: Some(self.answer.is_some()),
            answer: self.answer.clone(),
            ssr: self.ssr.as_ref().map(|s| s.category),
            judge_reflection: verdict.as_ref().map(|v| v.study_reflection),
            judge_category: verdict.map(|v| v.category),
            answering: match &self.answering {
                Some(Ok(reply)) => Some(Answering::parse(reply)),
                _ => None,
            },
        }
    }
}

fn split<'a, T>(
    slot: &'a Option<Result<String, String>>,
    ok: impl FnOnce(&'a str) -> T,
) -> (Option<T>, Option<&'a str>) {
    match slot {
        Some(Ok(reply)) => (Some(ok(reply)), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    }
}

/// Which judge a question is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JudgeKind {
    Reflection,
    Answering,
}

fn slot(a: &mut LineAnalysis, kind: JudgeKind) -> &mut Option<Result<String, String>> {
    match kind {
        JudgeKind::Reflection => &mut a.judge,
        JudgeKind::Answering => &mut a.answering,
    }
}

/// Asks the reflection judge (and, with `answering`, the answering judge) about every analysed
/// line, through [`judge::ask_cached`], and stores the replies in the lines. Returns the
/// failures as (row index, message): a line without the field its judge needs, or a reply that
/// never came. Fails only when the cache cannot be written.
pub fn judge_lines(
    rows: &mut [Row],
    answering: bool,
    backend: &dyn judge::JudgeBackend,
    model: &str,
    cache: &mut judge::JudgeCache,
    on_asked: &mut dyn FnMut(usize, usize),
    on_reply: &mut dyn FnMut(),
) -> crate::Result<Vec<(usize, String)>> {
    let mut asks: Vec<(usize, JudgeKind)> = Vec::new();
    let mut prompts: Vec<JudgePrompt> = Vec::new();
    let mut failures = Vec::new();
    for (i, row) in rows.iter_mut().enumerate() {
        let Ok(a) = row else { continue };
        let mut wanted = vec![(JudgeKind::Reflection, a.line.judge_prompt())];
        if answering {
            wanted.push((JudgeKind::Answering, a.line.answering_prompt()));
        }
        for (kind, prompt) in wanted {
            match prompt {
                Ok(p) => {
                    asks.push((i, kind));
                    prompts.push(p);
                }
                Err(e) => {
                    failures.push((i, e.clone()));
                    *slot(a, kind) = Some(Err(e));
                }
            }
        }
    }
    let total = prompts.len();
    let replies = judge::ask_cached(
        backend,
        model,
        cache,
        &prompts,
        &mut |n| on_asked(total - n, n),
        on_reply,
    )?;
    for ((i, kind), reply) in asks.into_iter().zip(replies.replies) {
        if let Ok(a) = &mut rows[i] {
            if let Err(e) = &reply {
                failures.push((i, format!("judge: {e}")));
            }
            *slot(a, kind) = Some(reply);
        }
    }
    Ok(failures)
}

/// A line's analysis, or why the line could not be read (`file:line: message`).
pub type Row = Result<LineAnalysis, String>;

/// Reads a file's lines as bytes (without `\n` or `\r\n`), so that one line of invalid UTF-8
/// becomes an error record rather than the end of the run.
pub fn read_raw_lines(mut input: impl std::io::BufRead) -> std::io::Result<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    loop {
        let mut buf = Vec::new();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(lines);
        }
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        lines.push(buf);
    }
}

/// Measures a response in tokens, or says why it cannot.
pub type CountTokens<'a> = &'a dyn Fn(&str) -> Result<usize, String>;

/// Parses and analyses line `n` (1-based) of the file `name`. `count_tokens` measures a
/// response in tokens for lines without `n_tokens` (`per_1k_tokens`); errors name file, line
/// and field.
pub fn analyse_line(
    bytes: &[u8],
    n: usize,
    name: &str,
    count_tokens: Option<CountTokens<'_>>,
    detector: &KeywordDetector,
    opts: &MathOptions,
) -> Row {
    let parsed = match std::str::from_utf8(bytes) {
        Err(e) => Err(format!("invalid UTF-8: {e}")),
        Ok(t) if t.trim().is_empty() => Err("empty line".to_string()),
        Ok(t) => InputLine::parse(t, n).and_then(|mut line| {
            if let (None, Some(count)) = (line.n_tokens, count_tokens) {
                let n = count(&line.response)
                    .map_err(|e| format!("field `response`: cannot tokenize: {e}"))?;
                line.n_tokens = Some(n);
            }
            Ok(line)
        }),
    };
    parsed
        .map(|line| LineAnalysis::new(line, detector, opts))
        .map_err(|e| format!("{name}:{n}: {e}"))
}

/// Writes one record per row (an [`ErrorRecord`] for a row that could not be read, after
/// passing its message to `on_error`), one JSON object a line.
pub fn write_records(
    rows: &[Row],
    keyword_set: &str,
    out: &mut dyn std::io::Write,
    on_error: &mut dyn FnMut(&str),
) -> std::io::Result<()> {
    for (i, row) in rows.iter().enumerate() {
        match row {
            Ok(a) => serde_json::to_writer(&mut *out, &a.record(i + 1, keyword_set))?,
            Err(e) => {
                on_error(e);
                let r = ErrorRecord {
                    schema_version: RECORD_SCHEMA_VERSION,
                    line: i + 1,
                    error: e,
                };
                serde_json::to_writer(&mut *out, &r)?;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The aggregate tables over the rows that could be read.
pub fn summarize_rows(
    rows: &[Row],
    keywords: &crate::Keywords,
    mode: crate::MatchMode,
) -> crate::aggregate::Summary {
    let records: Vec<ResponseRecord> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(LineAnalysis::response_record)
        .collect();
    crate::aggregate::summarize(&records, keywords, mode)
}

/// The output line of an input line that could not be read.
#[derive(Debug, Serialize)]
pub struct ErrorRecord<'a> {
    /// [`RECORD_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The input line number (1-based).
    pub line: usize,
    /// `file:line: message`.
    pub error: &'a str,
}

/// One output line of `aha reflect` (fields absent when unknown).
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// [`RECORD_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The input line number (1-based).
    pub line: usize,
    /// The input's `id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a Value>,
    /// The question id.
    pub question_id: &'a str,
    /// The keyword set's label.
    pub keyword_set: String,
    /// Keyword occurrences.
    pub keyword_count: usize,
    /// Occurrences per keyword.
    pub keywords: &'a BTreeMap<String, usize>,
    /// At least one keyword.
    pub has_reflection: bool,
    /// Occurrences inside `<think>`.
    pub in_think: usize,
    /// Occurrences per 1,000 characters.
    pub per_1k_chars: f64,
    /// Occurrences per 1,000 tokens, when the length in tokens is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_1k_tokens: Option<f64>,
    /// Where each keyword occurs.
    pub hits: &'a [Hit],
    /// Correctness (the input's, else the verdict's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// The verdict against the gold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The SSR report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssr: Option<&'a SsrReport>,
    /// The reflection judge's reply and reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeRecord<'a>>,
    /// Why the reflection judge failed on this line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_error: Option<&'a str>,
    /// The answering judge's reply and reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering: Option<AnsweringRecord<'a>>,
    /// Why the answering judge failed on this line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering_error: Option<&'a str>,
}

/// The reflection judge's part of a [`Record`].
#[derive(Debug, Serialize)]
pub struct JudgeRecord<'a> {
    /// The raw reply.
    pub reply: &'a str,
    /// The study's reading (category 2: reflection).
    pub reflection: bool,
    /// The strict reading's category number, if the reply ends in one.
    pub category: Option<u8>,
    /// Both the judge and the keywords see reflection.
    pub cross: bool,
}

/// The answering judge's part of a [`Record`].
#[derive(Debug, Serialize)]
pub struct AnsweringRecord<'a> {
    /// The raw reply.
    pub reply: &'a str,
    /// Its reading.
    pub verdict: Answering,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Keywords, MatchMode};

    #[test]
    fn lines_parse_with_field_errors() {
        let l = InputLine::parse(
            r#"{"output": "x", "id": 7, "gold": 3, "reward": 1.0, "temperature": 0.5}"#,
            1,
        )
        .unwrap();
        assert_eq!(
            (l.question_id.as_str(), l.gold.as_deref(), l.correct),
            ("7", Some("3"), Some(true))
        );
        assert_eq!(
            InputLine::parse("{}", 4).unwrap_err(),
            "field `response`: missing"
        );
        let e = InputLine::parse(r#"{"response": "x", "temperature": -1}"#, 1).unwrap_err();
        assert!(e.contains("`temperature`"), "{e}");
        let e = InputLine::parse(r#"{"response": "x", "gold": [1]}"#, 1).unwrap_err();
        assert!(e.contains("`gold`"), "{e}");
        assert_eq!(
            InputLine::parse(r#"{"response": "x"}"#, 9)
                .unwrap()
                .question_id,
            "line-9"
        );
    }

    #[test]
    fn records_carry_grading_ssr_and_judge_replies() {
        let det = KeywordDetector::new(&Keywords::preset("paper15").unwrap(), MatchMode::Substring)
            .unwrap();
        let line = InputLine::parse(
            r#"{"response": "2+2=5. Wait, let me check again: \\boxed{4}", "gold": "4", "question": "2+2?"}"#,
            1,
        )
        .unwrap();
        let mut a = LineAnalysis::new(line, &det, &MathOptions::default());
        assert_eq!(a.verdict, Some(Verdict::Correct));
        assert!(a.report.total >= 1);
        a.judge = Some(Ok("... Category: 2".into()));
        let v = serde_json::to_value(a.record(1, "paper15")).unwrap();
        assert_eq!(v["verdict"], "correct");
        assert_eq!(v["correct"], true);
        assert_eq!(v["judge"]["cross"], true);
        assert!(v.get("answering").is_none() && v.get("judge_error").is_none());
        assert_eq!(a.response_record().judge_reflection, Some(true));
    }

    #[test]
    fn a_file_reads_into_rows_and_records_with_errors_in_place() {
        let det = KeywordDetector::new(&Keywords::preset("paper15").unwrap(), MatchMode::Substring)
            .unwrap();
        let input = b"{\"response\": \"wait, \\\\boxed{4}\", \"gold\": 4}\r\n\xff\n\n{\"response\": \"a b c\"}";
        let raw = read_raw_lines(&input[..]).unwrap();
        assert_eq!(raw.len(), 4);
        let words = |t: &str| Ok(t.split_whitespace().count());
        let rows: Vec<Row> = raw
            .iter()
            .enumerate()
            .map(|(i, b)| {
                analyse_line(
                    b,
                    i + 1,
                    "in.jsonl",
                    Some(&words),
                    &det,
                    &MathOptions::default(),
                )
            })
            .collect();
        assert_eq!(rows[0].as_ref().unwrap().verdict, Some(Verdict::Correct));
        assert!(
            rows[1]
                .as_ref()
                .unwrap_err()
                .starts_with("in.jsonl:2: invalid UTF-8")
        );
        assert_eq!(rows[2].as_ref().unwrap_err(), "in.jsonl:3: empty line");
        assert_eq!(rows[3].as_ref().unwrap().line.n_tokens, Some(3));
        let mut out = Vec::new();
        let mut errors = 0;
        write_records(&rows, "paper15", &mut out, &mut |_| errors += 1).unwrap();
        let lines: Vec<Value> = std::str::from_utf8(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!((lines.len(), errors), (4, 2));
        assert_eq!(lines[2]["error"], "in.jsonl:3: empty line");
        assert_eq!(
            (
                lines[2]["line"].as_u64(),
                lines[2]["schema_version"].as_u64()
            ),
            (Some(3), Some(1))
        );
        assert_eq!(lines[0]["keyword_set"], "paper15");
        let summary = summarize_rows(
            &rows,
            &Keywords::preset("paper15").unwrap(),
            MatchMode::Substring,
        );
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["overall"]["responses"],
            2
        );
    }
}
