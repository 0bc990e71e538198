//! Turning verdicts into rewards: math (binary or SimpleRL) and the strict R1 format check.

use crate::extract::{cut_at_stop, extract_answer};
use crate::{AnswerSource, Extracted, Grade, MathOptions, RewardScheme, Verdict, equiv};

/// The reward of `verdict` under `scheme`. An unreadable reference gets 0 in every scheme: it is
/// neither evidence for nor against the policy.
pub fn reward_for(verdict: Verdict, scheme: RewardScheme) -> f64 {
    match (scheme, verdict) {
        (_, Verdict::Correct) => 1.0,
        (_, Verdict::GoldUnparseable) => 0.0,
        (RewardScheme::Binary, _) => 0.0,
        (RewardScheme::SimpleRl, Verdict::Incorrect) => -0.5,
        (RewardScheme::SimpleRl, Verdict::NoAnswer) => -1.0,
    }
}

/// Grades a full model response against the reference answer `gold`.
///
/// The reference may itself contain a `\boxed{}` (then its last box is used). A reference that
/// cannot be read gives [`Verdict::GoldUnparseable`] whatever the response says.
///
/// ```
/// use aha_verify::{grade_math, MathOptions, RewardScheme, Verdict};
/// let mut opts = MathOptions::default();
/// opts.reward = RewardScheme::SimpleRl;
/// assert_eq!(grade_math("no box here", "5", &opts).reward, -1.0);
/// assert_eq!(grade_math("\\boxed{6}", "5", &opts).reward, -0.5);
/// let g = grade_math("The answer is $3\\sqrt{13}$.", "\\sqrt{117}", &opts);
/// assert_eq!(g.verdict, Verdict::Correct);
/// assert_eq!(grade_math("\\boxed{5}", "\\frac{1}{", &opts).verdict, Verdict::GoldUnparseable);
/// ```
pub fn grade_math(response: &str, gold: &str, opts: &MathOptions) -> Grade {
    Reference::new(gold, opts).grade_math(response, opts)
}

/// Grades against several acceptable references (any-of), calling `grade_one` with each: the
/// contract's one any-of rule, reached only through [`crate::grade`].
///
/// The first reference that makes the response correct wins; otherwise the most informative
/// verdict is kept, "wrong" before "no answer" before "unreadable reference", the first
/// reference on a tie. Returns the index of the reference the grade refers to, or `None` when
/// `golds` is empty.
pub(crate) fn grade_any_of<S: AsRef<str>>(
    golds: &[S],
    mut grade_one: impl FnMut(&str) -> Grade,
) -> Option<(usize, Grade)> {
    fn rank(v: Verdict) -> u8 {
        match v {
            Verdict::Correct => 0,
            Verdict::Incorrect => 1,
            Verdict::NoAnswer => 2,
            Verdict::GoldUnparseable => 3,
        }
    }
    let mut best: Option<(usize, Grade)> = None;
    for (i, gold) in golds.iter().enumerate() {
        let grade = grade_one(gold.as_ref());
        if grade.verdict == Verdict::Correct {
            return Some((i, grade));
        }
        if best
            .as_ref()
            .is_none_or(|(_, b)| rank(grade.verdict) < rank(b.verdict))
        {
            best = Some((i, grade));
        }
    }
    best
}

/// A reference answer parsed once, for grading many responses against it (e.g. the G samples
/// of one prompt in GRPO).
///
/// ```
/// use aha_verify::{MathOptions, Reference, Verdict};
/// let o = MathOptions::default();
/// let r = Reference::new("\\frac{\\pi}{2}", &o);
/// assert!(r.is_readable());
/// assert_eq!(r.grade_math("\\boxed{\\pi/2}", &o).verdict, Verdict::Correct);
/// assert_eq!(r.grade_answer("pi/3", &o).verdict, Verdict::Incorrect);
/// ```
pub struct Reference {
    gold: equiv::Gold,
}

impl Reference {
    /// Parses the reference (its last `\boxed{}` if it has one).
    pub fn new(gold: &str, opts: &MathOptions) -> Reference {
        Reference {
            gold: equiv::Gold::new(gold, opts),
        }
    }

    /// Whether the reference can be read; if not, every grade is [`Verdict::GoldUnparseable`].
    pub fn is_readable(&self) -> bool {
        self.gold.is_readable()
    }

    /// Grades a full response (see [`grade_math`]).
    pub fn grade_math(&self, response: &str, opts: &MathOptions) -> Grade {
        grade_response(&self.gold, response, opts)
    }

    /// Grades a bare final answer (see [`grade_answer`]).
    pub fn grade_answer(&self, answer: &str, opts: &MathOptions) -> Grade {
        grade_bare(&self.gold, answer, opts)
    }
}

fn grade_response(gold: &equiv::Gold, response: &str, opts: &MathOptions) -> Grade {
    match extract_answer(response, opts) {
        None => finish(
            if gold.is_readable() {
                Verdict::NoAnswer
            } else {
                Verdict::GoldUnparseable
            },
            None,
            false,
            opts,
        ),
        Some(e) => {
            let v = gold.judge(&e.text, opts);
            finish(v, Some(e), true, opts)
        }
    }
}

/// Grades a bare final answer (no extraction) against the reference `gold`.
///
/// ```
/// use aha_verify::{grade_answer, MathOptions, Verdict};
/// let o = MathOptions::default();
/// assert_eq!(grade_answer("(1, 2]", "(1,2]", &o).verdict, Verdict::Correct);
/// assert_eq!(grade_answer("[1, 2]", "(1,2]", &o).verdict, Verdict::Incorrect);
/// assert_eq!(grade_answer("\\{3, 1\\}", "1, 3", &o).verdict, Verdict::Correct);
/// assert_eq!(grade_answer("   ", "1", &o).verdict, Verdict::NoAnswer);
/// ```
pub fn grade_answer(answer: &str, gold: &str, opts: &MathOptions) -> Grade {
    Reference::new(gold, opts).grade_answer(answer, opts)
}

fn grade_bare(gold: &equiv::Gold, answer: &str, opts: &MathOptions) -> Grade {
    let trimmed = answer.trim();
    if trimmed.is_empty() {
        let v = if gold.is_readable() {
            Verdict::NoAnswer
        } else {
            Verdict::GoldUnparseable
        };
        return finish(v, None, false, opts);
    }
    let start = answer.len() - answer.trim_start().len();
    let e = Extracted {
        text: trimmed.to_string(),
        source: AnswerSource::Whole,
        start,
        end: start + trimmed.len(),
    };
    let v = gold.judge(trimmed, opts);
    finish(v, Some(e), true, opts)
}

fn finish(
    verdict: Verdict,
    extracted: Option<Extracted>,
    formatted: bool,
    o: &MathOptions,
) -> Grade {
    Grade {
        verdict,
        extracted,
        reward: reward_for(verdict, o.reward),
        formatted,
    }
}

/// Strict R1 format check: `<think>…</think>` then `<answer>…</answer>` and nothing else but
/// whitespace, each tag exactly once and in that order. With `prefilled_think` the prompt already
/// ended in `<think>`, so the response must not contain another `<think>`. Text after the first
/// stop marker is ignored.
///
/// ```
/// use aha_verify::r1_format_ok;
/// assert!(r1_format_ok("<think>hm</think> <answer>5</answer>", false));
/// assert!(r1_format_ok("hm</think>\n<answer>5</answer><|im_end|>", true));
/// assert!(!r1_format_ok("<think>hm</think> <answer>5</answer>", true));
/// assert!(!r1_format_ok("<think>a</think> so <answer>5</answer>", false));
/// assert!(!r1_format_ok("<think>a</think><answer>5</answer><answer>6</answer>", false));
/// ```
pub fn r1_format_ok(response: &str, prefilled_think: bool) -> bool {
    let text = cut_at_stop(response).trim();
    let count = |t: &str| text.matches(t).count();
    let want_think = usize::from(!prefilled_think);
    if count("<think>") != want_think
        || count("</think>") != 1
        || count("<answer>") != 1
        || count("</answer>") != 1
    {
        return false;
    }
    let rest = if prefilled_think {
        text
    } else {
        match text.strip_prefix("<think>") {
            Some(r) => r,
            None => return false,
        }
    };
    let Some((_, after_think)) = rest.split_once("</think>") else {
        return false;
    };
    let Some(after) = after_think.trim_start().strip_prefix("<answer>") else {
        return false;
    };
    let Some((inner, tail)) = after.split_once("</answer>") else {
        return false;
    };
    !inner.trim().is_empty() && tail.trim().is_empty()
}
