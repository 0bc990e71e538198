//! The task side of an RL run: rewards from the verifier, and the task-level `metrics.jsonl`
//! fields (accuracy, outcome composition, lengths by outcome, reflection, SSR).
//!
//! Grading ([`Grader::grade`]) turns one response text into a [`Graded`] record; the metrics
//! ([`task_metrics`], [`eval_metrics`]) are pure functions of those records, defined once in
//! `aha_analyse::metrics` (re-exported here) so that `aha analyse` measures an engine's run the
//! same way, and unit-tested against hand-computed numbers without a model.

use aha_data::{Gold, Template};
use aha_reflect::{KeywordDetector, Keywords, MatchMode, classify_with_report};
use aha_verify::{Grade, GradeOptions, RewardScheme, Verdict, r1_format_ok};
use serde::{Deserialize, Serialize};

// The metric definitions live in aha-analyse, shared with `aha analyse` (one implementation).
pub use aha_analyse::metrics::{
    EvalMetrics, Graded, SSR_CATEGORIES, TaskAccumulator, TaskMetrics, eval_metrics, task_metrics,
};

use crate::error::{Error, Result};

/// Which reward function scores a response (docs/study.md, Rewards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RewardKind {
    /// 1 correct, 0 otherwise (oat / the paper's `boxed_reward_fn`); the answer is read in the
    /// template's format only (`\boxed{}` or `<answer>`).
    #[serde(rename = "math")]
    Math,
    /// SimpleRL-Zero / the blog: 1 correct, -0.5 wrong answer, -1 no answer.
    #[serde(rename = "simplerl")]
    #[cfg_attr(feature = "clap", value(name = "simplerl"))]
    SimpleRl,
    /// The paper's R1-template reward: 1 if correct *and* the response has the strict R1 format
    /// (`… </think> <answer> … </answer>`), else 0; a response failing the format counts as
    /// having no answer.
    #[serde(rename = "r1_format")]
    R1Format,
    /// TinyZero's Countdown reward: 0 no answer, 0.1 formatted but wrong, 1 correct.
    #[serde(rename = "countdown")]
    Countdown,
}

impl RewardKind {
    /// The serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Math => "math",
            RewardKind::SimpleRl => "simplerl",
            RewardKind::R1Format => "r1_format",
            RewardKind::Countdown => "countdown",
        }
    }

    /// Parses a serialised name (`-` and `_` interchangeable).
    pub fn parse(name: &str) -> Result<RewardKind> {
        Ok(match name.replace('-', "_").as_str() {
            "math" => RewardKind::Math,
            "simplerl" | "simple_rl" => RewardKind::SimpleRl,
            "r1_format" | "r1" => RewardKind::R1Format,
            "countdown" => RewardKind::Countdown,
            _ => {
                return Err(Error::invalid(
                    "reward",
                    format!(
                        "unknown reward \"{name}\"; expected math, simplerl, r1_format or countdown"
                    ),
                ));
            }
        })
    }
}

/// How responses are rewarded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// The reward function.
    pub kind: RewardKind,
    /// Reward of a response cut by the token budget, whatever it says (the paper: 0);
    /// `null` grades it like any other response.
    pub truncated: Option<f64>,
}

impl Default for RewardConfig {
    /// Math 1/0, truncated responses 0 (the paper's recipe).
    fn default() -> RewardConfig {
        RewardConfig {
            kind: RewardKind::Math,
            truncated: Some(0.0),
        }
    }
}

/// Grades responses of one template under one reward function, and counts reflections.
#[derive(Debug)]
pub struct Grader {
    reward: RewardConfig,
    opts: GradeOptions,
    prefilled_think: bool,
    detector: KeywordDetector,
}

impl Grader {
    /// A grader for responses to `template`, with the reflection keyword preset (or file)
    /// `keywords` matched by `mode`.
    pub fn new(
        reward: RewardConfig,
        template: &Template,
        keywords: &str,
        mode: MatchMode,
    ) -> Result<Grader> {
        if let Some(t) = reward.truncated
            && !t.is_finite()
        {
            return Err(Error::invalid(
                "reward.truncated",
                format!("{t} (must be finite)"),
            ));
        }
        let kw = Keywords::from_spec(keywords)
            .map_err(|e| Error::invalid("reflection.keywords", e.to_string()))?;
        let detector = KeywordDetector::new(&kw, mode)
            .map_err(|e| Error::invalid("reflection.keywords", e.to_string()))?;
        // Only the format the template asks for counts, as in the study.
        let math = template
            .answer_format()
            .math_options(if reward.kind == RewardKind::SimpleRl {
                RewardScheme::SimpleRl
            } else {
                RewardScheme::Binary
            });
        Ok(Grader {
            reward,
            opts: GradeOptions::math(math),
            prefilled_think: template.prefilled_think(),
            detector,
        })
    }

    /// Fails when a gold cannot be graded by this reward function (a Countdown gold under a
    /// math reward or the reverse), naming the problem.
    pub fn check_gold(&self, id: &str, gold: &Gold) -> Result<()> {
        let countdown = matches!(gold, Gold::Countdown { .. });
        if countdown != (self.reward.kind == RewardKind::Countdown) {
            return Err(Error::invalid(
                "reward",
                format!(
                    "problem {id}: a {} gold cannot be graded with the {} reward",
                    if countdown { "Countdown" } else { "math" },
                    self.reward.kind.as_str()
                ),
            ));
        }
        if let Gold::AnyOf(v) = gold
            && v.is_empty()
        {
            return Err(Error::invalid(
                "gold",
                format!("problem {id}: empty list of answers"),
            ));
        }
        Ok(())
    }

    /// Grades `text` (the response as the template's stop rule leaves it) against `gold`.
    pub fn grade(&self, text: &str, gold: &Gold, truncated: bool, tokens: usize) -> Graded {
        let grade = self.grade_text(text, gold);
        let report = self
            .detector
            .analyze(aha_verify::extract::cut_at_stop(text));
        let ssr = match gold {
            Gold::Countdown { .. } => None,
            g => g
                .answers()
                .first()
                .map(|a| classify_with_report(text, &report, a, &self.opts.math).category),
        };
        let reward = match (truncated, self.reward.truncated) {
            (true, Some(r)) => r,
            _ => grade.reward,
        };
        Graded {
            reward,
            verdict: grade.verdict,
            formatted: grade.formatted,
            truncated,
            tokens,
            reflection_count: report.total,
            ssr,
            extracted: grade.extracted.map(|e| e.text),
        }
    }

    fn grade_text(&self, text: &str, gold: &Gold) -> Grade {
        if self.reward.kind == RewardKind::R1Format
            && !matches!(gold, Gold::Countdown { .. })
            && !r1_format_ok(text, self.prefilled_think)
        {
            return Grade {
                verdict: Verdict::NoAnswer,
                extracted: None,
                reward: 0.0,
                formatted: false,
            };
        }
        // `check_gold` has matched the gold's shape to the reward, so its own task is the one.
        aha_verify::grade(gold.task(), text, gold, &self.opts).grade
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aha_reflect::SsrCategory;

    fn grader(kind: RewardKind, template: &str) -> Grader {
        let reward = RewardConfig {
            kind,
            truncated: Some(0.0),
        };
        Grader::new(
            reward,
            &Template::from_name(template).unwrap(),
            "paper15",
            MatchMode::Substring,
        )
        .unwrap()
    }

    #[test]
    fn rewards_follow_the_scheme_the_template_and_truncation() {
        let gold = Gold::Answer("5".into());
        let m = grader(RewardKind::Math, "qwen-math");
        let r = m.grade("so \\boxed{5}", &gold, false, 4);
        assert_eq!(
            (r.reward, r.verdict, r.formatted),
            (1.0, Verdict::Correct, true)
        );
        // The template's format only: an answer tag under qwen-math is not read.
        assert_eq!(
            m.grade("<answer>5</answer>", &gold, false, 4).verdict,
            Verdict::NoAnswer
        );
        // Truncated: reward 0 whatever the text says; the verdict stays the text's.
        let t = m.grade("\\boxed{5}", &gold, true, 4);
        assert_eq!(
            (t.reward, t.verdict, t.truncated),
            (0.0, Verdict::Correct, true)
        );

        let s = grader(RewardKind::SimpleRl, "qwen-math");
        assert_eq!(s.grade("\\boxed{6}", &gold, false, 1).reward, -0.5);
        assert_eq!(s.grade("nothing", &gold, false, 1).reward, -1.0);

        let r1 = grader(RewardKind::R1Format, "r1");
        let ok = r1.grade(" 2+3 </think> <answer> 5 </answer>", &gold, false, 9);
        assert_eq!((ok.reward, ok.formatted), (1.0, true));
        let bad = r1.grade(" 2+3 <answer> 5 </answer>", &gold, false, 9);
        assert_eq!(
            (bad.reward, bad.verdict, bad.formatted),
            (0.0, Verdict::NoAnswer, false)
        );

        let c = grader(RewardKind::Countdown, "countdown");
        let cd = Gold::Countdown {
            target: 9,
            numbers: vec![1, 2, 3],
        };
        assert_eq!(
            c.grade("</think>\n<answer>(1 + 2) * 3</answer>", &cd, false, 3)
                .reward,
            1.0
        );
        assert_eq!(
            c.grade("</think>\n<answer>1 + 2 + 3</answer>", &cd, false, 3)
                .reward,
            0.1
        );
        assert!(c.check_gold("x", &gold).is_err());
        assert!(
            m.check_gold("x", &cd)
                .unwrap_err()
                .to_string()
                .contains("problem x")
        );
    }

    #[test]
    fn reflections_and_ssr_are_counted() {
        let m = grader(RewardKind::Math, "qwen-math");
        let gold = Gold::Answer("5".into());
        let r = m.grade(
            "It is \\boxed{4}. Wait, let me recheck: 2+3 is \\boxed{5}.",
            &gold,
            false,
            20,
        );
        assert_eq!(r.reflection_count, 1);
        assert_eq!(r.ssr, Some(SsrCategory::WrongToCorrect));
        assert_eq!(r.extracted.as_deref(), Some("5"));
    }
}
