//! The task-level metrics of a batch of graded responses: the definitions behind the
//! `metrics.jsonl` fields of docs/pipeline.md (accuracy, outcome composition, lengths by outcome,
//! reflection, SSR). `aha train` (through `aha_train::task`, which re-exports these) and
//! `aha analyse` both use them, so a step of an imported run and a step of aha's own run are
//! measured the same way.
//!
//! [`TaskAccumulator`] is the one implementation: it folds graded responses one at a time (so an
//! importer can stream a step of any size, split over files and threads, and merge the parts),
//! and [`task_metrics`] is that fold over a slice.

use std::collections::BTreeMap;

use aha_reflect::SsrCategory;
use aha_verify::Verdict;
use serde::{Deserialize, Serialize};

/// One graded response: everything the task metrics need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graded {
    /// The reward given (after the truncation rule).
    pub reward: f64,
    /// The verifier's verdict on the text.
    pub verdict: Verdict,
    /// An answer could be read in the required format.
    pub formatted: bool,
    /// Cut by the token budget.
    pub truncated: bool,
    /// Response length in tokens.
    pub tokens: usize,
    /// Reflection keyword occurrences.
    pub reflection_count: usize,
    /// SSR category (math golds only).
    pub ssr: Option<SsrCategory>,
    /// The extracted answer, if any.
    pub extracted: Option<String>,
}

/// The task-level fields of a `metrics.jsonl` line (docs/pipeline.md); `None` is omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Fraction of responses graded correct.
    pub accuracy: f64,
    /// Same as `accuracy` (the outcome composition's first part).
    pub frac_correct: f64,
    /// Fraction with an answer in the required format that is not correct.
    pub frac_formatted_wrong: f64,
    /// Fraction without an answer in the required format (not correct).
    pub frac_unformatted: f64,
    /// Fraction with an answer in the required format (correct ones included).
    pub format_rate: f64,
    /// Mean length (tokens) of correct responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_correct: Option<f64>,
    /// Mean length (tokens) of the other responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_incorrect: Option<f64>,
    /// Mean reflection keyword occurrences per response.
    pub reflection_count_mean: f64,
    /// Fraction of responses with at least one reflection keyword.
    pub reflection_rate: f64,
    /// SSR category counts (math golds only; every category present, zeros included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssr: Option<BTreeMap<String, usize>>,
}

/// The SSR categories counted in `metrics.jsonl`.
pub const SSR_CATEGORIES: [SsrCategory; 7] = [
    SsrCategory::CorrectToCorrect,
    SsrCategory::WrongToCorrect,
    SsrCategory::CorrectToWrong,
    SsrCategory::WrongToWrong,
    SsrCategory::None,
    SsrCategory::NoPriorAnswer,
    SsrCategory::GoldUnparseable,
];

fn ssr_index(c: SsrCategory) -> usize {
    SSR_CATEGORIES
        .iter()
        .position(|x| *x == c)
        .unwrap_or(SSR_CATEGORIES.len() - 1)
}

/// Running sums behind [`TaskMetrics`] and [`EvalMetrics`]: add graded responses in any order,
/// merge accumulators of parts of a batch, then [`finish`](TaskAccumulator::finish).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskAccumulator {
    /// Responses added.
    pub n: u64,
    /// Correct responses.
    pub correct: u64,
    /// Responses with an answer in the required format.
    pub formatted: u64,
    /// Formatted but not correct.
    pub formatted_wrong: u64,
    /// Neither formatted nor correct.
    pub unformatted: u64,
    /// Cut by the token budget.
    pub truncated: u64,
    /// Responses with a reflection keyword.
    pub reflective: u64,
    /// Sum of reflection keyword occurrences.
    pub reflection_sum: u64,
    /// Sum of rewards.
    pub reward_sum: f64,
    /// Sum of token lengths, all responses.
    pub tokens_sum: u64,
    /// Sum of token lengths of correct responses.
    pub tokens_correct: u64,
    /// Sum of token lengths of the other responses.
    pub tokens_incorrect: u64,
    /// SSR counts in [`SSR_CATEGORIES`] order; empty until a response with a category is added.
    pub ssr: Vec<u64>,
}

impl TaskAccumulator {
    /// Adds one graded response.
    pub fn add(&mut self, g: &Graded) {
        let correct = g.verdict.is_correct();
        self.n += 1;
        self.correct += u64::from(correct);
        self.formatted += u64::from(g.formatted);
        self.formatted_wrong += u64::from(g.formatted && !correct);
        self.unformatted += u64::from(!g.formatted && !correct);
        self.truncated += u64::from(g.truncated);
        self.reflective += u64::from(g.reflection_count > 0);
        self.reflection_sum += g.reflection_count as u64;
        self.reward_sum += g.reward;
        self.tokens_sum += g.tokens as u64;
        if correct {
            self.tokens_correct += g.tokens as u64;
        } else {
            self.tokens_incorrect += g.tokens as u64;
        }
        if let Some(c) = g.ssr {
            if self.ssr.is_empty() {
                self.ssr = vec![0; SSR_CATEGORIES.len()];
            }
            self.ssr[ssr_index(c)] += 1;
        }
    }

    /// Adds everything `other` has counted.
    pub fn merge(&mut self, other: &TaskAccumulator) {
        self.n += other.n;
        self.correct += other.correct;
        self.formatted += other.formatted;
        self.formatted_wrong += other.formatted_wrong;
        self.unformatted += other.unformatted;
        self.truncated += other.truncated;
        self.reflective += other.reflective;
        self.reflection_sum += other.reflection_sum;
        self.reward_sum += other.reward_sum;
        self.tokens_sum += other.tokens_sum;
        self.tokens_correct += other.tokens_correct;
        self.tokens_incorrect += other.tokens_incorrect;
        if !other.ssr.is_empty() {
            if self.ssr.is_empty() {
                self.ssr = vec![0; SSR_CATEGORIES.len()];
            }
            for (a, b) in self.ssr.iter_mut().zip(&other.ssr) {
                *a += b;
            }
        }
    }

    fn frac(&self, count: u64) -> f64 {
        count as f64 / self.n.max(1) as f64
    }

    fn mean_tokens(sum: u64, count: u64) -> Option<f64> {
        (count > 0).then(|| sum as f64 / count as f64)
    }

    /// The SSR counts by category name (every category, zeros included), if any response had one.
    pub fn ssr_counts(&self) -> Option<BTreeMap<String, usize>> {
        (!self.ssr.is_empty()).then(|| {
            SSR_CATEGORIES
                .iter()
                .zip(&self.ssr)
                .map(|(c, n)| (c.as_str().to_string(), *n as usize))
                .collect()
        })
    }

    /// The `metrics.jsonl` task fields (all zeros for nothing added).
    pub fn finish(&self) -> TaskMetrics {
        let correct = self.frac(self.correct);
        TaskMetrics {
            accuracy: correct,
            frac_correct: correct,
            frac_formatted_wrong: self.frac(self.formatted_wrong),
            frac_unformatted: self.frac(self.unformatted),
            format_rate: self.frac(self.formatted),
            len_correct: Self::mean_tokens(self.tokens_correct, self.correct),
            len_incorrect: Self::mean_tokens(self.tokens_incorrect, self.n - self.correct),
            reflection_count_mean: self.reflection_sum as f64 / self.n.max(1) as f64,
            reflection_rate: self.frac(self.reflective),
            ssr: self.ssr_counts(),
        }
    }

    /// The `eval` object's fields.
    pub fn finish_eval(&self) -> EvalMetrics {
        EvalMetrics {
            n: self.n as usize,
            accuracy: self.frac(self.correct),
            reward_mean: self.reward_sum / self.n.max(1) as f64,
            format_rate: self.frac(self.formatted),
            len_mean: self.tokens_sum as f64 / self.n.max(1) as f64,
            len_correct: Self::mean_tokens(self.tokens_correct, self.correct),
            len_incorrect: Self::mean_tokens(self.tokens_incorrect, self.n - self.correct),
            truncated_rate: self.frac(self.truncated),
            reflection_rate: self.frac(self.reflective),
        }
    }
}

/// The task metrics of a batch of graded responses (all zeros for an empty batch).
pub fn task_metrics(graded: &[Graded]) -> TaskMetrics {
    let mut acc = TaskAccumulator::default();
    graded.iter().for_each(|g| acc.add(g));
    acc.finish()
}

/// The `eval` object of a `metrics.jsonl` line: greedy responses on the held-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Problems evaluated.
    pub n: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean reward.
    pub reward_mean: f64,
    /// Fraction with an answer in the required format.
    pub format_rate: f64,
    /// Mean length in tokens.
    pub len_mean: f64,
    /// Mean length of correct responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_correct: Option<f64>,
    /// Mean length of the other responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_incorrect: Option<f64>,
    /// Fraction cut by the budget.
    pub truncated_rate: f64,
    /// Fraction with a reflection keyword.
    pub reflection_rate: f64,
}

/// The eval metrics of graded greedy responses.
pub fn eval_metrics(graded: &[Graded]) -> EvalMetrics {
    let mut acc = TaskAccumulator::default();
    graded.iter().for_each(|g| acc.add(g));
    acc.finish_eval()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(verdict: Verdict, formatted: bool, tokens: usize, refl: usize) -> Graded {
        Graded {
            reward: f64::from(u8::from(verdict.is_correct())),
            verdict,
            formatted,
            truncated: false,
            tokens,
            reflection_count: refl,
            ssr: None,
            extracted: None,
        }
    }

    #[test]
    fn task_metrics_match_hand_computed_values() {
        // 4 responses: correct (10 tok, 2 refl), formatted wrong (20, 0),
        // unformatted (30, 1), correct (40, 0).
        let mut v = vec![
            g(Verdict::Correct, true, 10, 2),
            g(Verdict::Incorrect, true, 20, 0),
            g(Verdict::NoAnswer, false, 30, 1),
            g(Verdict::Correct, true, 40, 0),
        ];
        v[0].ssr = Some(SsrCategory::CorrectToCorrect);
        v[1].ssr = Some(SsrCategory::None);
        v[2].ssr = Some(SsrCategory::NoPriorAnswer);
        v[3].ssr = Some(SsrCategory::None);
        let m = task_metrics(&v);
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.frac_formatted_wrong, 0.25);
        assert_eq!(m.frac_unformatted, 0.25);
        assert_eq!(m.format_rate, 0.75);
        assert_eq!(m.len_correct, Some(25.0));
        assert_eq!(m.len_incorrect, Some(25.0));
        assert_eq!(m.reflection_count_mean, 0.75);
        assert_eq!(m.reflection_rate, 0.5);
        let ssr = m.ssr.unwrap();
        assert_eq!(
            (ssr["C->C"], ssr["none"], ssr["no_prior_answer"]),
            (1, 2, 1)
        );
        assert_eq!(ssr.values().sum::<usize>(), 4);
    }

    #[test]
    fn merged_parts_equal_the_whole() {
        let mut v = vec![
            g(Verdict::Correct, true, 6, 0),
            g(Verdict::Incorrect, true, 12, 1),
            g(Verdict::GoldUnparseable, false, 9, 3),
        ];
        v[1].ssr = Some(SsrCategory::WrongToWrong);
        let mut a = TaskAccumulator::default();
        a.add(&v[0]);
        let mut b = TaskAccumulator::default();
        b.add(&v[1]);
        b.add(&v[2]);
        a.merge(&b);
        assert_eq!(a.finish(), task_metrics(&v));
        assert_eq!(a.finish_eval(), eval_metrics(&v));
        // Through JSON (the analysis state file) and back.
        let back: TaskAccumulator =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn eval_metrics_match_hand_computed_values() {
        let mut v = vec![
            g(Verdict::Correct, true, 6, 0),
            g(Verdict::Incorrect, true, 12, 1),
            g(Verdict::GoldUnparseable, false, 9, 0),
        ];
        v[2].truncated = true;
        let e = eval_metrics(&v);
        assert_eq!(e.n, 3);
        assert!((e.accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert!((e.reward_mean - 1.0 / 3.0).abs() < 1e-12);
        assert!((e.format_rate - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.len_mean, 9.0);
        assert_eq!(e.len_correct, Some(6.0));
        assert_eq!(e.len_incorrect, Some(10.5));
        assert!((e.truncated_rate - 1.0 / 3.0).abs() < 1e-12);
        assert!((e.reflection_rate - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn empty_and_all_wrong_batches_omit_missing_lengths() {
        let m = task_metrics(&[]);
        assert_eq!(
            (m.accuracy, m.len_correct, m.len_incorrect),
            (0.0, None, None)
        );
        assert!(m.ssr.is_none());
        let m = task_metrics(&[g(Verdict::Incorrect, true, 5, 0)]);
        assert_eq!((m.len_correct, m.len_incorrect), (None, Some(5.0)));
        let json = serde_json::to_value(&m).unwrap();
        assert!(json.get("len_correct").is_none());
    }
}
