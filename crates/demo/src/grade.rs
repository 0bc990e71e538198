//! Grading and per-response analysis shared by the RL metrics and the summary: the verifier's
//! boxed-answer reward and the `paper15` keyword / SSR analysis, exactly as the probe uses them.

use aha_reflect::{KeywordDetector, Keywords, MatchMode, SsrCategory, classify_ssr};
use aha_verify::{AnswerFormat, Gold, GradeOptions, MathOptions, RewardScheme, Task, Verdict};
use serde::Serialize;

use crate::error::Result;

/// The reflection keyword set of the demo (the study's paper-era list).
pub const KEYWORDS: &str = "paper15";

/// Grades responses and finds reflections.
#[derive(Debug)]
pub struct Grader {
    detector: KeywordDetector,
    opts: GradeOptions,
}

/// One graded response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graded {
    /// The verdict against the gold answer.
    pub verdict: Verdict,
    /// Reflection keyword occurrences.
    pub reflections: usize,
    /// The SSR category.
    pub ssr: SsrCategory,
}

impl Grader {
    /// The `paper15` substring detector and boxed-answer grading.
    pub fn new() -> Result<Grader> {
        let detector = KeywordDetector::new(&Keywords::preset(KEYWORDS)?, MatchMode::Substring)?;
        Ok(Grader {
            detector,
            opts: GradeOptions::math(AnswerFormat::Boxed.math_options(RewardScheme::Binary)),
        })
    }

    /// The grading options (boxed answers only, as the probe grades the `none` template).
    pub fn options(&self) -> &MathOptions {
        &self.opts.math
    }

    /// The keyword detector.
    pub fn detector(&self) -> &KeywordDetector {
        &self.detector
    }

    /// Grades `response` against `gold`.
    pub fn grade(&self, response: &str, gold: &str) -> Graded {
        let g =
            aha_verify::grade(Task::Math, response, &Gold::Answer(gold.into()), &self.opts).grade;
        let ssr = classify_ssr(response, gold, &self.detector, &self.opts.math);
        Graded {
            verdict: g.verdict,
            reflections: ssr.reflections,
            ssr: ssr.category,
        }
    }
}
