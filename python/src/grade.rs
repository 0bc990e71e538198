//! The GIL-free core: grading with Rust-owned inputs, so `verify_batch` can run on all cores
//! while other Python threads keep going.

use aha_verify::{
    CountdownOptions, Grade, MathOptions, Verdict, grade_answer, grade_countdown, grade_math,
};

/// What kind of answer is graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A full model response: the final answer is extracted first (`\boxed{}`, `<answer>`, ...).
    Math,
    /// A bare final answer, compared as is.
    MathAnswer,
    /// TinyZero's Countdown: the last `<answer>` equation must use the numbers and hit the target.
    Countdown,
}

impl Task {
    /// Parses the `task=` argument.
    pub fn parse(name: &str) -> Option<Task> {
        match name {
            "math" => Some(Task::Math),
            "math_answer" | "answer" => Some(Task::MathAnswer),
            "countdown" => Some(Task::Countdown),
            _ => None,
        }
    }

    /// The names accepted by [`Task::parse`], for error messages.
    pub const NAMES: &'static str = "'math', 'math_answer', 'countdown'";
}

/// A Countdown ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountdownGold {
    /// The number the equation must reach.
    pub target: i64,
    /// The numbers that must each be used exactly once.
    pub numbers: Vec<i64>,
}

/// A reference answer, already converted from Python.
#[derive(Debug, Clone, PartialEq)]
pub enum Gold {
    /// Math references; the response is correct if it equals any of them. Empty = no reference.
    Math(Vec<String>),
    /// A Countdown ground truth, or why it could not be read.
    Countdown(Result<CountdownGold, String>),
}

/// Options for every task (each task reads its own part).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Math extraction, equivalence and reward policies.
    pub math: MathOptions,
    /// Countdown strictness.
    pub countdown: CountdownOptions,
}

/// A grade plus which reference produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The grade.
    pub grade: Grade,
    /// Index of the reference the verdict refers to (for an any-of list), if any.
    pub gold_index: Option<usize>,
    /// Why the reference could not be read, when we (not the verifier) found it unreadable.
    pub detail: Option<String>,
}

/// Grades one response. Never fails: bad input is a verdict.
pub fn grade(task: Task, response: &str, gold: &Gold, opts: &Options) -> Outcome {
    match (task, gold) {
        (Task::Countdown, Gold::Countdown(Ok(g))) => Outcome {
            grade: grade_countdown(response, g.target, &g.numbers, &opts.countdown),
            gold_index: Some(0),
            detail: None,
        },
        (Task::Countdown, Gold::Countdown(Err(why))) => unreadable_countdown(why.clone()),
        (Task::Countdown, Gold::Math(_)) => {
            unreadable_countdown("a Countdown reference needs a target and numbers".to_string())
        }
        (_, Gold::Countdown(_)) => Outcome {
            grade: grade_math_task(task, response, "", &opts.math),
            gold_index: None,
            detail: Some("a Countdown reference was given to a math task".to_string()),
        },
        (_, Gold::Math(golds)) => grade_any_of(task, response, golds, &opts.math),
    }
}

fn grade_math_task(task: Task, response: &str, gold: &str, opts: &MathOptions) -> Grade {
    match task {
        Task::MathAnswer => grade_answer(response, gold, opts),
        _ => grade_math(response, gold, opts),
    }
}

fn grade_any_of(task: Task, response: &str, golds: &[String], opts: &MathOptions) -> Outcome {
    // aha-verify owns the any-of rule, so the reward server and the wheel agree on it.
    match aha_verify::grade_any_of(golds, |g| grade_math_task(task, response, g, opts)) {
        Some((i, grade)) => Outcome {
            grade,
            gold_index: Some(i),
            detail: None,
        },
        // The verifier reads an empty reference as unreadable; reuse it so the reward scheme's
        // value for that verdict applies.
        None => Outcome {
            grade: grade_math_task(task, response, "", opts),
            gold_index: None,
            detail: Some("no reference answer was given".to_string()),
        },
    }
}

fn unreadable_countdown(why: String) -> Outcome {
    Outcome {
        grade: Grade {
            verdict: Verdict::GoldUnparseable,
            extracted: None,
            reward: 0.0,
            formatted: false,
        },
        gold_index: None,
        detail: Some(why),
    }
}

/// Reads a Countdown reference from JSON text: `{"target": 24, "numbers": [1, 2, 3, 4]}`
/// (`nums` is accepted for `numbers`, as in TinyZero's parquet columns).
pub fn countdown_gold_from_json(text: &str) -> Result<CountdownGold, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("Countdown reference is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "Countdown reference must be a JSON object".to_string())?;
    let target = obj
        .get("target")
        .ok_or_else(|| "Countdown reference has no field `target`".to_string())?
        .as_i64()
        .ok_or_else(|| "Countdown reference field `target` must be an integer".to_string())?;
    let (field, numbers) = match (obj.get("numbers"), obj.get("nums")) {
        (Some(n), _) => ("numbers", n),
        (None, Some(n)) => ("nums", n),
        (None, None) => {
            return Err("Countdown reference has no field `numbers` (or `nums`)".to_string());
        }
    };
    let numbers = numbers
        .as_array()
        .ok_or_else(|| format!("Countdown reference field `{field}` must be a list"))?
        .iter()
        .enumerate()
        .map(|(i, n)| {
            n.as_i64().ok_or_else(|| {
                format!("Countdown reference field `{field}`[{i}] must be an integer, got {n}")
            })
        })
        .collect::<Result<Vec<i64>, String>>()?;
    Ok(CountdownGold { target, numbers })
}

/// Converts a byte offset in `text` to a character offset (Python strings index characters).
pub fn char_offset(text: &str, byte: usize) -> usize {
    let byte = byte.min(text.len());
    // `is_char_boundary` holds for the verifier's offsets; fall back to a lossy count otherwise.
    text.get(..byte)
        .map(|s| s.chars().count())
        .unwrap_or_else(|| text.char_indices().take_while(|(i, _)| *i < byte).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn math(golds: &[&str]) -> Gold {
        Gold::Math(golds.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn any_of_list_is_correct_when_one_reference_matches() {
        let o = Options::default();
        let out = grade(Task::Math, "so \\boxed{7}", &math(&["5", "7"]), &o);
        assert_eq!(out.grade.verdict, Verdict::Correct);
        assert_eq!(out.gold_index, Some(1));
        assert_eq!(out.grade.reward, 1.0);
    }

    #[test]
    fn any_of_list_prefers_incorrect_over_unreadable_reference() {
        let o = Options::default();
        let out = grade(Task::Math, "\\boxed{7}", &math(&["\\frac{1}{", "5"]), &o);
        assert_eq!(out.grade.verdict, Verdict::Incorrect);
        assert_eq!(out.gold_index, Some(1));
    }

    #[test]
    fn empty_reference_list_is_gold_unparseable() {
        let out = grade(Task::Math, "\\boxed{7}", &math(&[]), &Options::default());
        assert_eq!(out.grade.verdict, Verdict::GoldUnparseable);
        assert_eq!(out.grade.reward, 0.0);
        assert!(out.detail.is_some());
    }

    #[test]
    fn bare_answer_task_does_not_extract() {
        let o = Options::default();
        let out = grade(Task::MathAnswer, "\\frac{1}{2}", &math(&["0.5"]), &o);
        assert_eq!(out.grade.verdict, Verdict::Correct);
        let out = grade(Task::Math, "\\frac{1}{2}", &math(&["0.5"]), &o);
        assert_eq!(out.grade.verdict, Verdict::NoAnswer);
    }

    #[test]
    fn countdown_json_reference_is_read_with_numbers_or_nums() {
        let g = countdown_gold_from_json(r#"{"target": 24, "nums": [2, 3, 4]}"#);
        assert_eq!(
            g,
            Ok(CountdownGold {
                target: 24,
                numbers: vec![2, 3, 4]
            })
        );
        let g = countdown_gold_from_json(r#"{"target": 9, "numbers": [1, 2, 3]}"#);
        let out = grade(
            Task::Countdown,
            "<answer>(1 + 2) * 3</answer>",
            &Gold::Countdown(g),
            &Options::default(),
        );
        assert_eq!(
            (out.grade.verdict, out.grade.reward),
            (Verdict::Correct, 1.0)
        );
    }

    #[test]
    fn malformed_countdown_reference_is_a_verdict_naming_the_field() {
        let g = countdown_gold_from_json(r#"{"target": 9, "numbers": [1, "x"]}"#);
        let why = g.clone().unwrap_err();
        assert!(why.contains("`numbers`[1]"), "{why}");
        let out = grade(
            Task::Countdown,
            "<answer>1</answer>",
            &Gold::Countdown(g),
            &Options::default(),
        );
        assert_eq!(out.grade.verdict, Verdict::GoldUnparseable);
        assert_eq!(out.grade.reward, 0.0);
        assert!(countdown_gold_from_json("[1,2]").is_err());
        assert!(
            countdown_gold_from_json("{\"numbers\": [1]}")
                .unwrap_err()
                .contains("target")
        );
    }

    #[test]
    fn char_offsets_count_characters_not_bytes() {
        let s = "é\\boxed{5}";
        assert_eq!(char_offset(s, 2), 1);
        assert_eq!(char_offset(s, s.len()), s.chars().count());
        assert_eq!(char_offset(s, 1), 1); // inside a character: counts characters before it
    }
}
