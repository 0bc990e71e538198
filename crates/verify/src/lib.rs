//! Rule-based rewards for R1-Zero-like RL: math answer extraction and exact equivalence, the R1
//! format check, and TinyZero's Countdown reward.
//!
//! Where it sits: a pure library (no async, no ML, no I/O) used by `aha verify`, the reward
//! server, the reflection analysis and the Python wheel. It must never import those crates.
//!
//! Grading a response has three steps:
//! 1. [`extract_answer`] finds the final answer (last `\boxed{}`/`\fbox{}`, `<answer>` tag,
//!    "(the final) answer is …", optionally the last number), after cutting at stop markers;
//! 2. the answer and the reference are parsed by a hand-written LaTeX/plain-text math parser into
//!    an expression tree and compared with exact rational arithmetic (see `equiv`);
//! 3. the [`Verdict`] is turned into a reward according to [`RewardScheme`].
//!
//! Every call does bounded work (caps on sizes plus a step budget), so a pathological input
//! returns a verdict quickly from any thread.
//!
//! ```
//! use aha_verify::{grade_math, MathOptions, Verdict};
//! let opts = MathOptions::default();
//! let g = grade_math("So the answer is $\\boxed{\\frac{\\sqrt2}{2}}$.", "\\frac{1}{\\sqrt{2}}", &opts);
//! assert_eq!(g.verdict, Verdict::Correct);
//! assert_eq!(g.reward, 1.0);
//! let g = grade_math("\\boxed{\\frac{1}{2^{99}}}", "\\frac{1}{2^{98}}", &opts);
//! assert_eq!(g.verdict, Verdict::Incorrect);
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

#[cfg(feature = "clap")]
pub mod args;
pub mod budget;
mod contract;
pub mod countdown;
mod equiv;
mod error;
pub mod expr;
pub mod extract;
pub mod isolate;
pub mod lines;
mod number;
mod parse;
pub mod reward;

pub use contract::{AnswerFormat, Gold, GradeOptions, Outcome, Task, grade};
pub use countdown::{CountdownOptions, grade_countdown};
pub use equiv::{answers_equal, parse_answer};
pub use error::{Error, Result};
pub use expr::Expr;
pub use extract::extract_answer;
pub use reward::{Reference, grade_answer, grade_math, r1_format_ok};

/// The outcome of grading one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The answer equals the reference.
    Correct,
    /// An answer was found and it differs from the reference (or cannot be read).
    Incorrect,
    /// No answer could be extracted from the response.
    NoAnswer,
    /// The reference itself cannot be read; never rewarded as correct.
    GoldUnparseable,
}

impl Verdict {
    /// `true` only for [`Verdict::Correct`].
    pub fn is_correct(self) -> bool {
        self == Verdict::Correct
    }

    /// The snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Incorrect => "incorrect",
            Verdict::NoAnswer => "no_answer",
            Verdict::GoldUnparseable => "gold_unparseable",
        }
    }

    /// The number logged where only numbers fit (OpenRLHF's `extra_logs`, wandb): 0 correct,
    /// 1 incorrect, 2 no answer, 3 unreadable reference.
    pub fn code(self) -> u8 {
        match self {
            Verdict::Correct => 0,
            Verdict::Incorrect => 1,
            Verdict::NoAnswer => 2,
            Verdict::GoldUnparseable => 3,
        }
    }
}

/// Where an extracted answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// The last `\boxed{…}` / `\fbox{…}` (or `\boxed 5`).
    Boxed,
    /// The last R1 `<answer>…</answer>` tag.
    AnswerTag,
    /// The text after the last "answer is" ("the answer is", "the final answer is").
    AnswerIs,
    /// The last number in the response (fallback, off by default).
    LastNumber,
    /// The last `$…$`, `$$…$$`, `\(…\)` or `\[…\]` span (lenient extraction only).
    MathSpan,
    /// The whole text was taken as the answer ([`grade_answer`]).
    Whole,
}

/// An answer found in a response.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Extracted {
    /// The answer text as extracted (inside the box / tag).
    pub text: String,
    /// Where it came from.
    pub source: AnswerSource,
    /// Byte offset of `text` in the response given.
    pub start: usize,
    /// Byte offset one past the end of `text` in the response given.
    pub end: usize,
}

/// Reward values for each verdict.
///
/// Names: `binary` and `simplerl`, the spelling of the CLI, the server and the Python wheel;
/// [`RewardScheme::parse`] and serde also accept the alias `simple_rl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum RewardScheme {
    /// 1 for correct, 0 otherwise (oat / understand-r1-zero, DeepScaleR).
    #[default]
    Binary,
    /// SimpleRL-Zero / the oat-zero blog: 1 correct, -0.5 wrong answer, -1 no answer. SimpleRL
    /// only reads `\boxed{}`: set `answer_tag` and `answer_is` to `false` to mirror it exactly
    /// (`aha verify --reward simplerl` does).
    #[serde(rename = "simplerl", alias = "simple_rl")]
    #[cfg_attr(feature = "clap", value(name = "simplerl", alias = "simple_rl"))]
    SimpleRl,
}

impl RewardScheme {
    /// Every accepted name, the canonical ones first: for error messages and CLI value lists.
    pub const NAMES: [&str; 3] = ["binary", "simplerl", "simple_rl"];

    /// Parses a scheme name: `binary`, or `simplerl` (alias `simple_rl`).
    ///
    /// ```
    /// use aha_verify::RewardScheme;
    /// assert_eq!(RewardScheme::parse("simple_rl"), RewardScheme::parse("simplerl"));
    /// assert_eq!(RewardScheme::parse("simplerl").map(|s| s.as_str()), Some("simplerl"));
    /// assert_eq!(RewardScheme::parse("simple"), None);
    /// ```
    pub fn parse(name: &str) -> Option<RewardScheme> {
        match name {
            "binary" => Some(RewardScheme::Binary),
            "simplerl" | "simple_rl" => Some(RewardScheme::SimpleRl),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardScheme::Binary => "binary",
            RewardScheme::SimpleRl => "simplerl",
        }
    }
}

/// How a percent sign is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PercentPolicy {
    /// `50\%` equals both `50` and `0.5` (default). Without a `%` on either side, `50` ≠ `0.5`,
    /// unlike Qwen's `math_equal`, which also accepts gold/100 and gold*100.
    #[default]
    Either,
    /// `50\%` equals `50` only (the sign is dropped, as Hendrycks/PRM800K normalisation does).
    Drop,
    /// `50\%` equals `0.5` only (the sign means /100).
    Hundredth,
}

/// Which boxes of a response (or of a reference) make up its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BoxPolicy {
    /// The last `\boxed{}` only (default): a model that boxes a draft and then its correction
    /// is graded on the correction. The Qwen2.5-Math grader also takes the last box.
    #[default]
    Last,
    /// Every box, in order, as one comma list (a set): `\boxed{3}` and `\boxed{-4}` against
    /// `3, -4`. Boxes with the same text count once. math-verify merges boxes that follow one
    /// another, joined by `,`, "and" or "or".
    All,
}

impl BoxPolicy {
    /// Every accepted name.
    pub const NAMES: [&str; 2] = ["last", "all"];

    /// Parses `last` or `all`.
    pub fn parse(name: &str) -> Option<BoxPolicy> {
        match name {
            "last" => Some(BoxPolicy::Last),
            "all" => Some(BoxPolicy::All),
            _ => None,
        }
    }
}

/// What an equation chain such as `y = 2+2 = 4` is taken to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum EquationChain {
    /// The last side, only when every link of the chain holds (default): `y = 2+2 = 4` answers
    /// 4, `y = 2+2 = 5` answers nothing. A decimal that closes the chain as an approximation
    /// (`x = \frac13 \approx 0.333`) hands the answer back to the exact side before it.
    #[default]
    Checked,
    /// The last side, whatever the links say (math-verify's choice).
    Last,
}

impl EquationChain {
    /// Every accepted name.
    pub const NAMES: [&str; 2] = ["checked", "last"];

    /// Parses `checked` or `last`.
    pub fn parse(name: &str) -> Option<EquationChain> {
        match name {
            "checked" => Some(EquationChain::Checked),
            "last" => Some(EquationChain::Last),
            _ => None,
        }
    }
}

/// Options for math grading. `Default` gives the documented default policies (see
/// `docs/verifier.md` for each default, its reason and the peer graders' choices).
///
/// Deserialises from a JSON object with any subset of the fields (the rest keep their
/// defaults); unknown names are refused.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MathOptions {
    /// Take the last `\boxed{}`/`\fbox{}` (default `true`).
    pub boxed: bool,
    /// Take the last `<answer>…</answer>` (default `true`).
    pub answer_tag: bool,
    /// Take the text after the last "answer is" (default `true`).
    pub answer_is: bool,
    /// Fall back to the last number in the response (default `false`, as in the oat grader;
    /// Qwen2.5-Math's evaluation turns it on).
    pub last_number: bool,
    /// Reading of `%` (default [`PercentPolicy::Either`]).
    pub percent: PercentPolicy,
    /// Require fractions in the same reduced form as the reference: `\frac{2}{4}` ≠ `\frac12`
    /// (PRM800K's rule). Default `false`: equal values are equal.
    pub require_reduced_fractions: bool,
    /// Bracket type matters for intervals and tuples: `(0,1)` ≠ `[0,1)` (default `true`;
    /// Qwen's `math_equal` ignores it).
    pub strict_brackets: bool,
    /// When the reference is a rounded decimal (`d ≥ 2` digits after the point, or at least
    /// three significant digits), accept a non-decimal answer whose value rounds to it at `d`
    /// digits (`0.33` vs `\frac13`, `3.14` vs `\pi`, `33.3` vs `\frac{100}{3}`). Decimal
    /// answers must always be exactly equal, and `0.3` is not read as rounded. Default `true`.
    pub rounded_reference: bool,
    /// Accept an inequality where the reference is an interval and vice versa (default `true`;
    /// math-verify only accepts the prediction-interval direction by default).
    pub relation_interval: bool,
    /// A decimal answer against a reference that is not a decimal (`0.1428571428571428` or
    /// `0.14286` for `\frac17`, `1.6667` for `\frac53`, `1.41421` for `\sqrt2`) is accepted when
    /// it agrees with the exact value to every digit it gives (it is the value truncated or
    /// rounded at its last digit) and shows at least this many significant digits.
    /// `0` turns this off (decimals must then equal the value exactly). Default 5.
    pub decimal_digits: u32,
    /// Rounding precision like math-verify's `float_rounding`: when set to `k` and one side is
    /// written as a decimal, both sides are rounded to `k` digits after the point and compared
    /// (`precision = 2` accepts `0.67` for `\frac23`). Default `None` (off).
    pub precision: Option<u32>,
    /// Which boxes make up the answer, of the response and of a boxed reference (default
    /// [`BoxPolicy::Last`]).
    pub boxes: BoxPolicy,
    /// Lenient extraction for evaluating instruct models (default `false`): when there is no
    /// box and no answer tag, the answer after the last "answer is" / "answer:" ("Final
    /// Answer: …"), else the last `$…$`/`\[…\]` math span or the last number, whichever
    /// comes last in the response.
    pub lenient: bool,
    /// Read a comma between digits as a decimal comma (`1,22` = 1.22) when the group after it
    /// is not exactly three digits and it is outside brackets (default `false`: `1,22` is
    /// the list 1, 22 and `1,234` is 1234).
    pub decimal_comma: bool,
    /// What an equation chain answers (default [`EquationChain::Checked`]).
    pub equation_chain: EquationChain,
    /// Reward values (default [`RewardScheme::Binary`]).
    pub reward: RewardScheme,
    /// Work budget per comparison, in steps (default 50 000, a few milliseconds at most in a release build).
    pub budget_steps: u64,
    /// Answers and references longer than this many bytes are not parsed (default 10 000).
    pub max_answer_bytes: usize,
}

impl Default for MathOptions {
    fn default() -> Self {
        MathOptions {
            boxed: true,
            answer_tag: true,
            answer_is: true,
            last_number: false,
            percent: PercentPolicy::Either,
            require_reduced_fractions: false,
            strict_brackets: true,
            rounded_reference: true,
            relation_interval: true,
            decimal_digits: 5,
            precision: None,
            boxes: BoxPolicy::Last,
            lenient: false,
            decimal_comma: false,
            equation_chain: EquationChain::Checked,
            reward: RewardScheme::Binary,
            budget_steps: 50_000,
            max_answer_bytes: 10_000,
        }
    }
}

/// The result of grading one response.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Grade {
    /// The verdict.
    pub verdict: Verdict,
    /// The answer that was graded, if one was found.
    pub extracted: Option<Extracted>,
    /// The reward under the chosen scheme.
    pub reward: f64,
    /// An answer could be extracted in the required format.
    pub formatted: bool,
}
