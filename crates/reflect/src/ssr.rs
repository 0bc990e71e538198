//! Superficial self-reflection (SSR): did reflecting change the answer, and for better or worse?
//!
//! Upstream classified SSR by hand (blog Figs. 3a-d); these rules are aha's own
//! operationalisation, so numbers from them are not upstream numbers.
//!
//! Rules, applied to the response cut at the first stop marker (`<|im_end|>`, `<|endoftext|>`,
//! `</s>`, as the verifier does):
//! 1. **Reflection points** are the keyword hits of the given [`KeywordDetector`]. None at all
//!    → [`SsrCategory::None`].
//! 2. The **anchor** is the first reflection point that has an answer standing before it: the
//!    answer the verifier extracts ([`aha_verify::extract_answer`]: last `\boxed{}`, then
//!    `<answer>`, then "the answer is") from the text *before* the hit. Reflections that come
//!    before any answer (e.g. "let me reconsider the problem statement" while still solving)
//!    do not count as reflecting on an answer. If no reflection point has an answer before it
//!    → [`SsrCategory::NoPriorAnswer`].
//! 3. The **prior answer** is the answer standing before the anchor; the **final answer** is the
//!    answer of the whole response. With several reflections, the first answer that was
//!    reflected upon is compared with the final one: intermediate flip-flops are listed in
//!    [`SsrReport::steps`] but do not change the category.
//! 4. Both are graded against the gold with [`aha_verify::Reference::grade_answer`]: correct → C, anything
//!    else (incorrect) → W. Since the prior answer lies in the response, a final answer always
//!    exists. The category is `prior → final`: `C->C` (confirms a correct answer, blog
//!    behaviour 1), `W->C` (fixes a wrong one, behaviour 2), `C->W` (breaks a correct one,
//!    behaviour 3), `W->W` (never reaches a valid answer, behaviour 4). `C->W` and `W->W` are the
//!    superficial cases.
//! 5. A gold answer the verifier cannot read gives [`SsrCategory::GoldUnparseable`] (for
//!    responses that reflect on an answer; `none` / `no_prior_answer` do not need the gold).

use serde::{Deserialize, Serialize};

use aha_verify::{MathOptions, Reference, Verdict, extract_answer};

use crate::{KeywordDetector, KeywordReport};

/// The SSR class of one response. Serialises as `"C->C"`, `"W->C"`, `"C->W"`, `"W->W"`, `"none"`,
/// `"no_prior_answer"`, `"gold_unparseable"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SsrCategory {
    /// Correct before the reflection, correct at the end: the reflection confirmed.
    #[serde(rename = "C->C")]
    CorrectToCorrect,
    /// Wrong before, correct at the end: the reflection fixed the answer.
    #[serde(rename = "W->C")]
    WrongToCorrect,
    /// Correct before, wrong at the end: the reflection broke the answer (superficial).
    #[serde(rename = "C->W")]
    CorrectToWrong,
    /// Wrong before, wrong at the end (superficial).
    #[serde(rename = "W->W")]
    WrongToWrong,
    /// No reflection keyword in the response.
    #[serde(rename = "none")]
    None,
    /// Every reflection comes before the first answer.
    #[serde(rename = "no_prior_answer")]
    NoPriorAnswer,
    /// The gold answer cannot be read, so nothing can be graded.
    #[serde(rename = "gold_unparseable")]
    GoldUnparseable,
}

impl SsrCategory {
    /// The serialised name (`"C->C"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SsrCategory::CorrectToCorrect => "C->C",
            SsrCategory::WrongToCorrect => "W->C",
            SsrCategory::CorrectToWrong => "C->W",
            SsrCategory::WrongToWrong => "W->W",
            SsrCategory::None => "none",
            SsrCategory::NoPriorAnswer => "no_prior_answer",
            SsrCategory::GoldUnparseable => "gold_unparseable",
        }
    }

    /// Every category, in table order.
    pub const ALL: [SsrCategory; 7] = [
        SsrCategory::CorrectToCorrect,
        SsrCategory::WrongToCorrect,
        SsrCategory::CorrectToWrong,
        SsrCategory::WrongToWrong,
        SsrCategory::None,
        SsrCategory::NoPriorAnswer,
        SsrCategory::GoldUnparseable,
    ];

    /// Whether this is a superficial reflection (`C->W` or `W->W`).
    pub fn is_superficial(self) -> bool {
        matches!(
            self,
            SsrCategory::CorrectToWrong | SsrCategory::WrongToWrong
        )
    }
}

/// The answer standing before one reflection point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsrStep {
    /// The keyword that marks the reflection.
    pub keyword: String,
    /// Char offset of the keyword in the response.
    pub start: usize,
    /// The answer standing before it, if any.
    pub answer: Option<String>,
    /// That answer's verdict against the gold.
    pub verdict: Option<Verdict>,
}

/// SSR analysis of one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsrReport {
    /// The class.
    pub category: SsrCategory,
    /// Reflection points (keyword hits) in the response (after the stop-marker cut).
    pub reflections: usize,
    /// Index in `steps` of the anchor reflection (the first with an answer before it).
    pub anchor: Option<usize>,
    /// The answer standing before the anchor.
    pub prior_answer: Option<String>,
    /// Its verdict.
    pub prior_verdict: Option<Verdict>,
    /// The final answer of the response.
    pub final_answer: Option<String>,
    /// Its verdict (`no_answer` when there is none).
    pub final_verdict: Verdict,
    /// Whether the final answer text differs from the prior one (whitespace ignored).
    pub answer_changed: bool,
    /// One entry per reflection point, in order.
    pub steps: Vec<SsrStep>,
}

/// Classifies one response against `gold` (see the module docs for the rules).
///
/// ```
/// use aha_reflect::{KeywordDetector, Keywords, MatchMode, SsrCategory, classify_ssr};
/// let d = KeywordDetector::new(&Keywords::preset("paper15")?, MatchMode::Substring)?;
/// let r = "2+3 = \\boxed{6}. Let me recheck: 2+3 is 5, so \\boxed{5}.";
/// let ssr = classify_ssr(r, "5", &d, &aha_verify::MathOptions::default());
/// assert_eq!(ssr.category, SsrCategory::WrongToCorrect);
/// assert_eq!(ssr.prior_answer.as_deref(), Some("6"));
/// # Ok::<(), aha_reflect::Error>(())
/// ```
pub fn classify_ssr(
    response: &str,
    gold: &str,
    detector: &KeywordDetector,
    opts: &MathOptions,
) -> SsrReport {
    let text = aha_verify::extract::cut_at_stop(response);
    let report = detector.analyze(text);
    classify_with_report(text, &report, gold, opts)
}

/// [`classify_ssr`] when the keyword report of `response` is already at hand (saves a scan).
/// The report must come from the same text; hits past the first stop marker are ignored.
pub fn classify_with_report(
    response: &str,
    report: &KeywordReport,
    gold: &str,
    opts: &MathOptions,
) -> SsrReport {
    let text = aha_verify::extract::cut_at_stop(response);
    let hits: Vec<&crate::Hit> = report
        .hits
        .iter()
        .filter(|h| h.byte_end <= text.len())
        .collect();
    let final_ex = extract_answer(text, opts);
    let mut grade_cache: Vec<(String, Verdict)> = Vec::new();
    // Parsed once: a response may hold many intermediate answers.
    let reference = Reference::new(gold, opts);
    let mut grade = |answer: &str| -> Verdict {
        if let Some((_, v)) = grade_cache.iter().find(|(a, _)| a == answer) {
            return *v;
        }
        let v = reference.grade_answer(answer, opts).verdict;
        grade_cache.push((answer.to_string(), v));
        v
    };
    let final_verdict = match &final_ex {
        Some(e) => grade(&e.text),
        None => Verdict::NoAnswer,
    };
    let mut steps = Vec::with_capacity(hits.len());
    let mut anchor = None;
    for h in &hits {
        let before = extract_answer(&text[..h.byte_start], opts);
        let verdict = before.as_ref().map(|e| grade(&e.text));
        if anchor.is_none() && before.is_some() {
            anchor = Some(steps.len());
        }
        steps.push(SsrStep {
            keyword: h.keyword.clone(),
            start: h.start,
            answer: before.map(|e| e.text),
            verdict,
        });
    }
    let prior = anchor.map(|i| &steps[i]);
    let prior_answer = prior.and_then(|s| s.answer.clone());
    let prior_verdict = prior.and_then(|s| s.verdict);
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let answer_changed = match (&prior_answer, &final_ex) {
        (Some(p), Some(f)) => squash(p) != squash(&f.text),
        _ => false,
    };
    let category = if hits.is_empty() {
        SsrCategory::None
    } else {
        match prior_verdict {
            None => SsrCategory::NoPriorAnswer,
            Some(Verdict::GoldUnparseable) => SsrCategory::GoldUnparseable,
            Some(p) => match (p.is_correct(), final_verdict.is_correct()) {
                (true, true) => SsrCategory::CorrectToCorrect,
                (false, true) => SsrCategory::WrongToCorrect,
                (true, false) => SsrCategory::CorrectToWrong,
                (false, false) => SsrCategory::WrongToWrong,
            },
        }
    };
    SsrReport {
        category,
        reflections: hits.len(),
        anchor,
        prior_answer,
        prior_verdict,
        final_answer: final_ex.map(|e| e.text),
        final_verdict,
        answer_changed,
        steps,
    }
}
