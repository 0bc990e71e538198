//! What one sample is graded into, and the grader behind the service.

use aha_reflect::{KeywordDetector, KeywordReport};
use aha_verify::{AnswerFormat, CountdownOptions, Grade, GradeOptions, MathOptions, RewardScheme};

use crate::config::Task;

/// The reference a response is graded against: the grading contract's type.
pub use aha_verify::Gold;

/// One response to grade.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The response text only (prompt and stop markers already removed, see
    /// [`crate::Isolator`]).
    pub response: String,
    /// How it is graded.
    pub task: Task,
    /// The reference, read for `task` ([`Gold::from_json`]).
    pub gold: Gold,
    /// The prompt ended with `<think>`, so the response starts inside the thinking block
    /// (matters for the strict R1 format check).
    pub prefilled_think: bool,
}

/// Everything the service reports about one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Verdict, extracted answer, reward and format flag.
    pub grade: Grade,
    /// The strict R1 `<think>…</think><answer>…</answer>` format holds.
    pub r1_format: bool,
    /// Self-reflection keyword counts of the response.
    pub reflection: KeywordReport,
    /// Length of the graded response in characters (Unicode scalar values).
    pub response_chars: usize,
}

impl Scored {
    /// The 0–1 score engines use for filtering (OpenRLHF's `scores`): 1 when correct, else 0,
    /// whatever the reward scheme.
    pub fn score(&self) -> f64 {
        if self.grade.verdict.is_correct() {
            1.0
        } else {
            0.0
        }
    }
}

/// Grades samples. Called from the blocking pool, so it may take CPU time, but must return (it
/// is given no way to be cancelled).
pub trait Scorer: Send + Sync + 'static {
    /// Grades one sample.
    fn score(&self, sample: &Sample) -> Scored;
}

/// The prompt template the policy was trained with; it decides where the answer is read from
/// (as in oat, where the `r1` template reads the `<answer>` tag and every other template the
/// last `\boxed{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Template {
    /// DeepSeek-R1-Zero's template: the answer is in `<answer>…</answer>`.
    R1,
    /// Qwen2.5-Math's chat template: the answer is the last `\boxed{}`.
    QwenMath,
    /// No template (plain continuation): the answer is the last `\boxed{}`.
    None,
}

impl Template {
    /// Parses `r1`, `qwen-math` (or `qwen_math`) or `none`.
    pub fn parse(name: &str) -> Option<Template> {
        match name {
            "r1" => Some(Template::R1),
            "qwen-math" | "qwen_math" => Some(Template::QwenMath),
            "none" | "no" => Some(Template::None),
            _ => None,
        }
    }

    /// The name as accepted by [`Template::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Template::R1 => "r1",
            Template::QwenMath => "qwen-math",
            Template::None => "none",
        }
    }

    /// Where this template asks for the answer.
    pub fn answer_format(self) -> AnswerFormat {
        match self {
            Template::R1 => AnswerFormat::AnswerTag,
            Template::QwenMath | Template::None => AnswerFormat::Boxed,
        }
    }

    /// Math options reading the answer only where this template asks for it.
    pub fn math_options(self, reward: RewardScheme) -> MathOptions {
        self.answer_format().math_options(reward)
    }
}

/// The real grader: `aha_verify` for correctness, `aha_reflect` for reflection keywords.
#[derive(Debug, Clone)]
pub struct AhaScorer {
    opts: GradeOptions,
    detector: KeywordDetector,
}

impl AhaScorer {
    /// A grader with the given math and Countdown options and reflection detector.
    pub fn new(
        math: MathOptions,
        countdown: CountdownOptions,
        detector: KeywordDetector,
    ) -> AhaScorer {
        AhaScorer {
            opts: GradeOptions { math, countdown },
            detector,
        }
    }
}

impl Scorer for AhaScorer {
    fn score(&self, sample: &Sample) -> Scored {
        let response = sample.response.as_str();
        let grade = aha_verify::grade(sample.task, response, &sample.gold, &self.opts).grade;
        Scored {
            grade,
            r1_format: aha_verify::r1_format_ok(response, sample.prefilled_think),
            reflection: self.detector.analyze(response),
            response_chars: response.chars().count(),
        }
    }
}
