//! The grading contract: what a reference answer is, which options a template's answer format
//! implies, and the one [`grade`] that every caller (the CLI, probe, train, demo, the reward
//! server and the Python wheel) goes through.
//!
//! Keeping these here, in one place, is what makes "correct" mean the same thing in a probe
//! report, an RL reward and an engine's reward call: before, each caller had its own any-of loop
//! and its own reading of Countdown references, and they had drifted apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::countdown::{CountdownOptions, grade_countdown};
use crate::reward::{grade_answer, grade_any_of, grade_math, reward_for};
use crate::{Error, Grade, MathOptions, RewardScheme, Verdict};

/// The reference answer of one problem.
///
/// Serialises untagged: a string, a list of strings, or `{"target": .., "numbers": [..]}` (the
/// shape of TinyZero's `reward_model.ground_truth`; `nums` is read as `numbers`). Values that
/// arrive from engines in other shapes (numbers, `null`, Countdown objects sent as JSON text) are
/// read by [`Gold::from_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gold {
    /// One answer string (MATH, AIME, GSM8K, ...).
    Answer(String),
    /// Several acceptable answers, any one of which is correct (Minerva, OlympiadBench). An empty
    /// list means "no reference" and grades as [`Verdict::GoldUnparseable`].
    AnyOf(Vec<String>),
    /// A Countdown task: reach `target` using each of `numbers` exactly once.
    Countdown {
        /// The number the equation must equal.
        target: i64,
        /// The numbers available (a multiset).
        #[serde(alias = "nums")]
        numbers: Vec<i64>,
    },
}

/// What the shape of a Countdown reference must be, for error messages.
const COUNTDOWN_SHAPE: &str = r#"a Countdown gold must be {"target": <int>, "numbers": [<int>, ...]} (`nums` for `numbers` too; an object or a JSON string)"#;

impl Gold {
    /// The acceptable answer strings of a math gold (`[]` for Countdown).
    pub fn answers(&self) -> &[String] {
        match self {
            Gold::Answer(a) => std::slice::from_ref(a),
            Gold::AnyOf(v) => v,
            Gold::Countdown { .. } => &[],
        }
    }

    /// The task a gold of this shape is graded with by default: [`Task::Countdown`] for a
    /// Countdown gold, [`Task::Math`] otherwise.
    pub fn task(&self) -> Task {
        match self {
            Gold::Countdown { .. } => Task::Countdown,
            _ => Task::Math,
        }
    }

    /// Reads a reference as engines and data files send it, for `task`.
    ///
    /// Math (and bare answers): a string; a number (as written: `5`, `2.5`); a list of those
    /// (any-of, as OpenRLHF and verl pass several acceptable answers); `null` or `[]` mean "no
    /// reference" and grade as [`Verdict::GoldUnparseable`] rather than failing a whole batch.
    /// Countdown: `{"target": N, "numbers": [...]}` (or `nums`) as an object or as JSON text
    /// (oat passes it as text); unknown keys are ignored.
    ///
    /// Errors are [`Error::Gold`], whose `at` is the path inside `value` (`""`, `"[1]"`) so the
    /// caller can prefix its own field name (`labels[3][1]`).
    ///
    /// ```
    /// use aha_verify::{Gold, Task};
    /// use serde_json::json;
    /// assert_eq!(Gold::from_json(&json!(["2", -2]), Task::Math).unwrap(),
    ///            Gold::AnyOf(vec!["2".into(), "-2".into()]));
    /// assert_eq!(Gold::from_json(&json!(r#"{"target": 5, "nums": [2, 3]}"#), Task::Countdown).unwrap(),
    ///            Gold::Countdown { target: 5, numbers: vec![2, 3] });
    /// let err = Gold::from_json(&json!(["1", {"x": 1}]), Task::Math).unwrap_err();
    /// assert!(err.to_string().starts_with("[1]: "), "{err}");
    /// ```
    pub fn from_json(value: &Value, task: Task) -> crate::Result<Gold> {
        match task {
            Task::Math | Task::MathAnswer => match value {
                Value::Null => Ok(Gold::AnyOf(Vec::new())),
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        math_scalar(item).ok_or_else(|| Error::Gold {
                            at: format!("[{i}]"),
                            reason: format!(
                                "an answer in a list of math golds must be a string or a number, got {}",
                                kind_of(item)
                            ),
                        })
                    })
                    .collect::<crate::Result<Vec<_>>>()
                    .map(Gold::AnyOf),
                other => math_scalar(other).map(Gold::Answer).ok_or_else(|| Error::Gold {
                    at: String::new(),
                    reason: format!(
                        "a math gold must be a string, a number or a list of them, got {}",
                        kind_of(other)
                    ),
                }),
            },
            Task::Countdown => {
                #[derive(Deserialize)]
                struct Shape {
                    target: i64,
                    #[serde(alias = "nums")]
                    numbers: Vec<i64>,
                }
                let parsed = match value {
                    Value::String(s) => {
                        let mut de = serde_json::Deserializer::from_str(s);
                        serde_path_to_error::deserialize::<_, Shape>(&mut de)
                    }
                    Value::Object(_) => serde_path_to_error::deserialize::<_, Shape>(value),
                    other => {
                        return Err(Error::Gold {
                            at: String::new(),
                            reason: format!("{COUNTDOWN_SHAPE}, got {}", kind_of(other)),
                        });
                    }
                };
                parsed
                    .map(|s| Gold::Countdown {
                        target: s.target,
                        numbers: s.numbers,
                    })
                    .map_err(|e| {
                        let path = e.path().to_string();
                        Error::Gold {
                            at: if path == "." {
                                String::new()
                            } else {
                                format!(".{path}")
                            },
                            reason: format!("{COUNTDOWN_SHAPE}: {}", e.inner()),
                        }
                    })
            }
        }
    }
}

/// One math answer: a string, or a number as written.
fn math_scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What is graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Task {
    /// A full model response: the final answer is extracted first (`\boxed{}`, `<answer>`, ...)
    /// and compared with the reference by exact equivalence.
    #[default]
    Math,
    /// A bare final answer, compared as it is (no extraction).
    // Not a `--task` value: `aha verify` asks for it with `--answer-only`, and the reward server
    // takes it per item only.
    #[serde(alias = "answer")]
    #[cfg_attr(feature = "clap", value(skip))]
    MathAnswer,
    /// TinyZero's Countdown: the last `<answer>` equation must use the numbers and hit the
    /// target (reward 1 / 0.1 / 0).
    Countdown,
}

impl Task {
    /// Every accepted name, the canonical ones first.
    pub const NAMES: [&str; 4] = ["math", "math_answer", "countdown", "answer"];

    /// Parses `math`, `math_answer` (alias `answer`) or `countdown`.
    ///
    /// ```
    /// use aha_verify::Task;
    /// assert_eq!(Task::parse("answer"), Task::parse("math_answer"));
    /// assert_eq!(Task::parse("countdown").map(Task::as_str), Some("countdown"));
    /// assert_eq!(Task::parse("Math"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Task> {
        match name {
            "math" => Some(Task::Math),
            "math_answer" | "answer" => Some(Task::MathAnswer),
            "countdown" => Some(Task::Countdown),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Math => "math",
            Task::MathAnswer => "math_answer",
            Task::Countdown => "countdown",
        }
    }
}

/// Where a prompt template asks the model to put its final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerFormat {
    /// `<answer> ... </answer>` (the R1 templates, Countdown).
    AnswerTag,
    /// `\boxed{...}` (Qwen-Math, no template, chat).
    Boxed,
}

impl AnswerFormat {
    /// `"answer_tag"` or `"boxed"`, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerFormat::AnswerTag => "answer_tag",
            AnswerFormat::Boxed => "boxed",
        }
    }

    /// Math options that read the answer only where this format puts it, as the study (and oat,
    /// where the `r1` template reads the `<answer>` tag and every other template the last
    /// `\boxed{}`) grades: a boxed answer under an answer-tag template is not read, and "the
    /// answer is" never counts. Every other policy keeps its default.
    ///
    /// ```
    /// use aha_verify::{AnswerFormat, RewardScheme};
    /// let o = AnswerFormat::AnswerTag.math_options(RewardScheme::Binary);
    /// assert!(o.answer_tag && !o.boxed && !o.answer_is);
    /// ```
    pub fn math_options(self, reward: RewardScheme) -> MathOptions {
        MathOptions {
            boxed: self == AnswerFormat::Boxed,
            answer_tag: self == AnswerFormat::AnswerTag,
            answer_is: false,
            reward,
            ..MathOptions::default()
        }
    }
}

/// Options for every task (each task reads its own part).
#[derive(Debug, Clone, Default)]
pub struct GradeOptions {
    /// Math extraction, equivalence and reward policies.
    pub math: MathOptions,
    /// Countdown strictness.
    pub countdown: CountdownOptions,
}

impl GradeOptions {
    /// Options with these math policies and the default Countdown options.
    pub fn math(math: MathOptions) -> GradeOptions {
        GradeOptions {
            math,
            countdown: CountdownOptions::default(),
        }
    }
}

/// A grade, which reference it refers to, and why the reference was unusable if it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The grade.
    pub grade: Grade,
    /// Index of the reference the grade refers to (in [`Gold::answers`] for a list; 0 for a
    /// single answer or a Countdown gold); `None` when no reference was usable.
    pub gold_index: Option<usize>,
    /// Why the reference could not be used, when that was decided here rather than by the math
    /// parser (an empty list, a Countdown gold given to a math task, a malformed reference).
    pub detail: Option<String>,
}

impl Outcome {
    /// The outcome for a reference that could not be used at all (for example one that failed
    /// [`Gold::from_json`] where the caller grades instead of refusing): a
    /// [`Verdict::GoldUnparseable`] with the reward every scheme gives it, and `why` as detail.
    pub fn unusable_gold(why: impl Into<String>, opts: &GradeOptions) -> Outcome {
        Outcome {
            grade: Grade {
                verdict: Verdict::GoldUnparseable,
                extracted: None,
                reward: reward_for(Verdict::GoldUnparseable, opts.math.reward),
                formatted: false,
            },
            gold_index: None,
            detail: Some(why.into()),
        }
    }
}

/// Grades one response against its reference: the one entry point of the contract.
///
/// - [`Task::Math`] extracts the final answer ([`grade_math`]), [`Task::MathAnswer`] compares the
///   text as it is ([`grade_answer`]); a list gold is any-of: the first reference that makes the
///   response correct wins, otherwise the most informative verdict is kept (wrong, then no answer,
///   then unreadable reference; the first reference on a tie).
/// - [`Task::Countdown`] needs a [`Gold::Countdown`]; a math gold there (or a Countdown gold
///   under a math task) is [`Verdict::GoldUnparseable`] with a `detail` that says so.
///
/// Never fails: bad input is a verdict.
///
/// ```
/// use aha_verify::{grade, Gold, GradeOptions, Task, Verdict};
/// let o = GradeOptions::default();
/// let any_of = Gold::AnyOf(vec!["2".into(), "-2".into()]);
/// let out = grade(Task::Math, "so x = \\boxed{-2}", &any_of, &o);
/// assert_eq!((out.grade.verdict, out.gold_index), (Verdict::Correct, Some(1)));
/// let cd = Gold::Countdown { target: 5, numbers: vec![2, 3] };
/// assert_eq!(grade(Task::Countdown, "<answer>2+3</answer>", &cd, &o).grade.reward, 1.0);
/// assert_eq!(grade(Task::Math, "\\boxed{5}", &cd, &o).grade.verdict, Verdict::GoldUnparseable);
/// ```
pub fn grade(task: Task, response: &str, gold: &Gold, opts: &GradeOptions) -> Outcome {
    match (task, gold) {
        (Task::Countdown, Gold::Countdown { target, numbers }) => Outcome {
            grade: grade_countdown(response, *target, numbers, &opts.countdown),
            gold_index: Some(0),
            detail: None,
        },
        (Task::Countdown, _) => Outcome::unusable_gold(
            "a Countdown task needs a {\"target\", \"numbers\"} reference, got a math answer",
            opts,
        ),
        (_, Gold::Countdown { .. }) => {
            Outcome::unusable_gold("a Countdown reference was given to a math task", opts)
        }
        (task, gold) => {
            let one = |g: &str| match task {
                Task::MathAnswer => grade_answer(response, g, &opts.math),
                _ => grade_math(response, g, &opts.math),
            };
            match grade_any_of(gold.answers(), one) {
                Some((i, grade)) => Outcome {
                    grade,
                    gold_index: Some(i),
                    detail: None,
                },
                None => Outcome::unusable_gold("no reference answer was given", opts),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn o() -> GradeOptions {
        GradeOptions::default()
    }

    #[test]
    fn any_of_prefers_correct_then_incorrect_then_unreadable() {
        let g = Gold::AnyOf(vec!["\\frac{1}{".into(), "5".into(), "7".into()]);
        let out = grade(Task::Math, "so \\boxed{7}", &g, &o());
        assert_eq!(
            (out.grade.verdict, out.gold_index),
            (Verdict::Correct, Some(2))
        );
        let out = grade(Task::Math, "so \\boxed{8}", &g, &o());
        assert_eq!(
            (out.grade.verdict, out.gold_index),
            (Verdict::Incorrect, Some(1))
        );
        let out = grade(Task::Math, "nothing", &g, &o());
        assert_eq!(
            (out.grade.verdict, out.gold_index),
            (Verdict::NoAnswer, Some(1))
        );
    }

    #[test]
    fn empty_list_is_an_unusable_reference_with_the_schemes_reward() {
        let mut opts = o();
        opts.math.reward = RewardScheme::SimpleRl;
        let out = grade(Task::Math, "\\boxed{1}", &Gold::AnyOf(vec![]), &opts);
        assert_eq!(out.grade.verdict, Verdict::GoldUnparseable);
        assert_eq!(out.grade.reward, 0.0);
        assert_eq!(out.gold_index, None);
        assert!(out.detail.is_some());
    }

    #[test]
    fn bare_answers_are_not_extracted() {
        let g = Gold::Answer("3".into());
        assert_eq!(
            grade(Task::MathAnswer, "3", &g, &o()).grade.verdict,
            Verdict::Correct
        );
        assert_eq!(
            grade(Task::Math, "3", &g, &o()).grade.verdict,
            Verdict::NoAnswer
        );
    }

    #[test]
    fn task_and_gold_shapes_must_agree() {
        let cd = Gold::Countdown {
            target: 9,
            numbers: vec![4, 5],
        };
        assert_eq!(
            grade(Task::Countdown, "<answer>4+5</answer>", &cd, &o())
                .grade
                .verdict,
            Verdict::Correct
        );
        let out = grade(
            Task::Countdown,
            "<answer>9</answer>",
            &Gold::Answer("9".into()),
            &o(),
        );
        assert_eq!(out.grade.verdict, Verdict::GoldUnparseable);
        assert!(out.detail.unwrap().contains("Countdown"));
    }

    #[test]
    fn golds_from_json_in_every_shape_engines_send() {
        let m = |v: Value| Gold::from_json(&v, Task::Math);
        assert_eq!(m(json!("7")).unwrap(), Gold::Answer("7".into()));
        assert_eq!(m(json!(7)).unwrap(), Gold::Answer("7".into()));
        assert_eq!(m(json!(2.5)).unwrap(), Gold::Answer("2.5".into()));
        assert_eq!(
            m(json!(["2", -2])).unwrap(),
            Gold::AnyOf(vec!["2".into(), "-2".into()])
        );
        assert_eq!(m(Value::Null).unwrap(), Gold::AnyOf(vec![]));
        assert_eq!(m(json!([])).unwrap(), Gold::AnyOf(vec![]));
        let err = m(json!({"a": 1})).unwrap_err().to_string();
        assert!(err.contains("got an object"), "{err}");
        let err = m(json!(["1", ["2"]])).unwrap_err();
        assert!(err.to_string().starts_with("[1]: "), "{err}");

        let c = |v: Value| Gold::from_json(&v, Task::Countdown);
        let want = Gold::Countdown {
            target: 24,
            numbers: vec![3, 8],
        };
        assert_eq!(c(json!({"target": 24, "numbers": [3, 8]})).unwrap(), want);
        assert_eq!(
            c(json!({"target": 24, "nums": [3, 8], "id": 5})).unwrap(),
            want
        );
        assert_eq!(c(json!(r#"{"nums": [3, 8], "target": 24}"#)).unwrap(), want);
        for bad in [
            json!("24"),
            json!([24]),
            json!({"target": 24}),
            json!({"target": "x", "numbers": [1]}),
            json!({"target": 1, "numbers": [1.5]}),
        ] {
            let err = c(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("a Countdown gold must be"), "{bad}: {err}");
        }
        let err = c(json!(r#"{"target": 9, "numbers": [1, "x"]}"#)).unwrap_err();
        assert!(err.to_string().starts_with(".numbers[1]: "), "{err}");
    }

    #[test]
    fn serde_shapes_round_trip() {
        for g in [
            Gold::Answer("x".into()),
            Gold::AnyOf(vec!["1".into(), "2".into()]),
            Gold::Countdown {
                target: 3,
                numbers: vec![1, 2],
            },
        ] {
            let s = serde_json::to_string(&g).unwrap();
            assert_eq!(serde_json::from_str::<Gold>(&s).unwrap(), g, "{s}");
        }
        let nums: Gold = serde_json::from_str(r#"{"target": 3, "nums": [1, 2]}"#).unwrap();
        assert_eq!(nums.task(), Task::Countdown);
    }
}
