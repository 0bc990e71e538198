//! The micro world: chains of additions and subtractions ("Compute 17 + 5 - 8 + 6 ."), worked
//! step by step to a `\boxed{ }` answer, and a corpus of such worked solutions written by an
//! imperfect, sometimes reflecting solver.
//!
//! The solver's mistakes are those of a child doing sums: with probability
//! [`WorldConfig::carry_error_rate`] it forgets the carry (`17 + 5 = 12`) or the borrow
//! (`23 - 5 = 28`) of a step that has one, and with [`WorldConfig::slip_rate`] any step is off
//! by one. A wrong step propagates (later steps are computed from the written value). After the
//! boxed answer it sometimes reflects ("Wait , let me recheck ." — a `paper15` keyword) and
//! works the sum again, and the second pass is where the study's SSR categories come from:
//! - wrong answer, reflection fixes it (all steps right the second time): `W->C`;
//! - wrong answer, reflection re-states the same wrong steps: `W->W` (superficial);
//! - correct answer, reflection confirms it: `C->C`;
//! - correct answer, reflection breaks it (a mistake in the second pass): `C->W` (superficial).
//!
//! Every text is space-separated words, so the world's tokenizer ([`crate::vocab`]) is a plain
//! word-level one in which every number 0..=`max_value` is one token.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use aha_reflect::SsrCategory;

use crate::error::{Error, Result};

/// The reflection phrases of the corpus; each contains a `paper15` keyword (`recheck`,
/// `check again`), so the study's keyword detector sees them.
///
/// Both are six tokens long: with a fixed number of steps every copy the solver makes (operands
/// from the question, the first pass into a superficial second pass) then sits at a fixed
/// relative offset, which a tiny model with rotary positions learns in minutes.
pub const REFLECTION_PHRASES: &[&str] = &["Wait , let me recheck .", "Wait , let me check again ."];

/// Largest `max_value` a configuration may set.
pub const MAX_VALUE_LIMIT: u32 = 199;

/// How far above `max_value` a wrong value may go.
pub const WRONG_HEADROOM: u32 = 20;

/// The largest number written in a world with `max_value` (the tokenizer has one token per
/// number up to it): correct values stay ≤ `max_value`, wrong ones ≤ `max_value + 20`.
pub fn number_max(max_value: u32) -> u32 {
    max_value + WRONG_HEADROOM
}

/// How questions are drawn and how the corpus' solver behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// Smallest first number of a question.
    pub start_min: u32,
    /// Largest first number of a question.
    pub start_max: u32,
    /// Operands after the first are drawn from `1..=operand_max`.
    pub operand_max: u32,
    /// Fewest operations per question.
    pub steps_min: usize,
    /// Most operations per question.
    pub steps_max: usize,
    /// Every correct value lies in `0..=max_value`; wrong ones in `0..=max_value + 20`.
    pub max_value: u32,
    /// Probability that a step with a carry or borrow is written with it forgotten (±10).
    pub carry_error_rate: f64,
    /// Probability that a step without a carry is written off by one.
    pub slip_rate: f64,
    /// Probability of reflecting after a wrong first answer.
    pub reflect_after_wrong: f64,
    /// Probability of reflecting after a correct first answer.
    pub reflect_after_correct: f64,
    /// Share of reflections on a wrong answer that fix it (`W->C`); the rest re-state it (`W->W`).
    pub fix_rate: f64,
    /// Share of reflections on a correct answer that break it (`C->W`); the rest confirm it.
    pub break_rate: f64,
}

impl Default for WorldConfig {
    fn default() -> WorldConfig {
        WorldConfig {
            start_min: 2,
            start_max: 19,
            operand_max: 9,
            steps_min: 3,
            steps_max: 3,
            max_value: 19,
            carry_error_rate: 0.55,
            slip_rate: 0.03,
            reflect_after_wrong: 0.4,
            reflect_after_correct: 0.15,
            fix_rate: 0.4,
            break_rate: 0.25,
        }
    }
}

impl WorldConfig {
    /// Checks ranges, naming the field at fault (`world.<field>`).
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, msg: String| Err(Error::config(format!("world.{f}"), msg));
        for (name, p) in [
            ("carry_error_rate", self.carry_error_rate),
            ("slip_rate", self.slip_rate),
            ("reflect_after_wrong", self.reflect_after_wrong),
            ("reflect_after_correct", self.reflect_after_correct),
            ("fix_rate", self.fix_rate),
            ("break_rate", self.break_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(name, format!("{p} is not a probability in [0, 1]"));
            }
        }
        if self.max_value > MAX_VALUE_LIMIT {
            return bad(
                "max_value",
                format!("{} (at most {MAX_VALUE_LIMIT})", self.max_value),
            );
        }
        if self.start_min > self.start_max || self.start_max > self.max_value {
            return bad(
                "start_max",
                format!(
                    "need start_min ≤ start_max ≤ max_value, got {} / {} / {}",
                    self.start_min, self.start_max, self.max_value
                ),
            );
        }
        if self.operand_max == 0 || self.operand_max > self.max_value {
            return bad(
                "operand_max",
                format!("{} (need 1..=max_value)", self.operand_max),
            );
        }
        if self.steps_min == 0 || self.steps_min > self.steps_max || self.steps_max > 8 {
            return bad(
                "steps_max",
                format!(
                    "need 1 ≤ steps_min ≤ steps_max ≤ 8, got {} / {}",
                    self.steps_min, self.steps_max
                ),
            );
        }
        Ok(())
    }
}

/// An operation of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
}

impl Op {
    /// The symbol as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
        }
    }

    /// `x op d` (may leave the world's range; callers check).
    pub fn apply(self, x: i64, d: i64) -> i64 {
        match self {
            Op::Add => x + d,
            Op::Sub => x - d,
        }
    }

    /// Whether `x op d` needs a carry (addition) or a borrow (subtraction) in the ones digit.
    pub fn has_carry(self, x: i64, d: i64) -> bool {
        match self {
            Op::Add => x.rem_euclid(10) + d.rem_euclid(10) >= 10,
            Op::Sub => x.rem_euclid(10) < d.rem_euclid(10),
        }
    }

    /// The result with the carry or borrow forgotten: `x + d - 10` or `x - d + 10`.
    pub fn forgot_carry(self, x: i64, d: i64) -> i64 {
        match self {
            Op::Add => x + d - 10,
            Op::Sub => x - d + 10,
        }
    }
}

/// A question: a start number and a chain of operations, evaluated left to right.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Question {
    /// The first number.
    pub start: u32,
    /// The operations and their operands, in order.
    pub ops: Vec<(Op, u32)>,
}

impl Question {
    /// The question as the model sees it: `Compute 17 + 5 - 8 .`
    pub fn text(&self) -> String {
        let mut s = format!("Compute {}", self.start);
        for (op, d) in &self.ops {
            s.push_str(&format!(" {} {d}", op.symbol()));
        }
        s.push_str(" .");
        s
    }

    /// The correct value after each operation (the last is the answer).
    pub fn chain(&self) -> Vec<i64> {
        let mut x = i64::from(self.start);
        self.ops
            .iter()
            .map(|&(op, d)| {
                x = op.apply(x, i64::from(d));
                x
            })
            .collect()
    }

    /// The correct final answer.
    pub fn answer(&self) -> i64 {
        self.chain()
            .last()
            .copied()
            .unwrap_or(i64::from(self.start))
    }

    /// Steps that need a carry or borrow when computed correctly.
    pub fn carry_steps(&self) -> usize {
        let mut x = i64::from(self.start);
        let mut n = 0;
        for &(op, d) in &self.ops {
            n += usize::from(op.has_carry(x, i64::from(d)));
            x = op.apply(x, i64::from(d));
        }
        n
    }
}

/// One written step `x op d = written`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Left operand as written (the previous step's written value).
    pub x: i64,
    /// The operation.
    pub op: Op,
    /// Right operand.
    pub d: i64,
    /// The value written after `=`.
    pub written: i64,
    /// What the solver did at this step.
    pub mistake: Mistake,
    /// Whether forgetting a carry was possible here (the step has one and the wrong value keeps
    /// the chain in range): the steps [`WorldConfig::carry_error_rate`] applies to.
    pub carry_possible: bool,
}

/// The kind of mistake in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mistake {
    /// The step is right.
    None,
    /// The carry or borrow was forgotten.
    Carry,
    /// Off by one.
    Slip,
}

/// One pass through the sum, ending in a boxed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The steps as written.
    pub steps: Vec<Step>,
}

impl Attempt {
    /// The boxed answer: the last written value.
    pub fn answer(&self) -> i64 {
        self.steps.last().map_or(0, |s| s.written)
    }

    /// `17 + 5 = 22 . 22 - 8 = 14 . \boxed{ 14 }`
    pub fn text(&self) -> String {
        let mut s = String::new();
        for st in &self.steps {
            s.push_str(&format!(
                "{} {} {} = {} . ",
                st.x,
                st.op.symbol(),
                st.d,
                st.written
            ));
        }
        s.push_str(&format!("\\boxed{{ {} }}", self.answer()));
        s
    }
}

/// A worked solution of the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    /// The question.
    pub question: Question,
    /// The first pass.
    pub first: Attempt,
    /// The reflection, if the solver reflected: phrase index into [`REFLECTION_PHRASES`] and
    /// the second pass.
    pub reflection: Option<(usize, Attempt)>,
}

impl Solution {
    /// The response text (what follows the question), with a leading space: the world's
    /// tokenizer puts a word boundary before every word.
    pub fn response(&self) -> String {
        let mut s = format!(" {}", self.first.text());
        if let Some((phrase, second)) = &self.reflection {
            s.push(' ');
            s.push_str(REFLECTION_PHRASES[*phrase % REFLECTION_PHRASES.len()]);
            s.push(' ');
            s.push_str(&second.text());
        }
        s
    }

    /// The final answer (the second pass's when the solver reflected).
    pub fn final_answer(&self) -> i64 {
        self.reflection
            .as_ref()
            .map_or(self.first.answer(), |(_, a)| a.answer())
    }

    /// Whether the final answer is right.
    pub fn is_correct(&self) -> bool {
        self.final_answer() == self.question.answer()
    }

    /// The SSR category the generator meant (prior = first answer, final = last answer);
    /// [`SsrCategory::None`] without reflection.
    pub fn intended_ssr(&self) -> SsrCategory {
        let gold = self.question.answer();
        match &self.reflection {
            None => SsrCategory::None,
            Some((_, second)) => match (self.first.answer() == gold, second.answer() == gold) {
                (true, true) => SsrCategory::CorrectToCorrect,
                (false, true) => SsrCategory::WrongToCorrect,
                (true, false) => SsrCategory::CorrectToWrong,
                (false, false) => SsrCategory::WrongToWrong,
            },
        }
    }
}

/// The seeded generator of questions and solutions.
#[derive(Debug, Clone)]
pub struct World {
    cfg: WorldConfig,
}

impl World {
    /// A world with a validated configuration.
    pub fn new(cfg: WorldConfig) -> Result<World> {
        cfg.validate()?;
        Ok(World { cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.cfg
    }

    fn in_range(&self, v: i64) -> bool {
        (0..=i64::from(self.cfg.max_value)).contains(&v)
    }

    /// Wrong values may exceed `max_value` by up to [`WRONG_HEADROOM`] (so that a forgotten
    /// carry early in a chain stays possible); they are never negative.
    fn written_in_range(&self, v: i64) -> bool {
        (0..=i64::from(number_max(self.cfg.max_value))).contains(&v)
    }

    /// Draws a question whose correct values all lie in range.
    pub fn question(&self, rng: &mut ChaCha20Rng) -> Question {
        let c = &self.cfg;
        loop {
            let start = rng.random_range(c.start_min..=c.start_max);
            let n = rng.random_range(c.steps_min..=c.steps_max);
            let ops: Vec<(Op, u32)> = (0..n)
                .map(|_| {
                    let op = if rng.random_bool(0.5) {
                        Op::Add
                    } else {
                        Op::Sub
                    };
                    (op, rng.random_range(1..=c.operand_max))
                })
                .collect();
            let q = Question { start, ops };
            if q.chain().iter().all(|&v| self.in_range(v)) {
                return q;
            }
        }
    }

    /// `n` distinct questions (by text), none of them in `exclude`.
    pub fn questions(
        &self,
        n: usize,
        rng: &mut ChaCha20Rng,
        exclude: &std::collections::HashSet<String>,
    ) -> Result<Vec<Question>> {
        let mut seen = exclude.clone();
        let mut out = Vec::with_capacity(n);
        // The question space is finite: give up (clearly) instead of looping forever.
        let mut tries = 0usize;
        while out.len() < n {
            tries += 1;
            if tries > 200 * n + 10_000 {
                return Err(Error::config(
                    "world",
                    format!(
                        "only {} distinct questions found for {n} requested; widen the ranges",
                        out.len()
                    ),
                ));
            }
            let q = self.question(rng);
            if seen.insert(q.text()) {
                out.push(q);
            }
        }
        Ok(out)
    }

    /// Whether writing `wrong` at step `i` keeps the rest of the chain, computed right from
    /// it, within the written range.
    fn feasible(&self, q: &Question, i: usize, wrong: i64) -> bool {
        let mut x = wrong;
        if !self.written_in_range(x) {
            return false;
        }
        for &(op, d) in &q.ops[i + 1..] {
            x = op.apply(x, i64::from(d));
            if !self.written_in_range(x) {
                return false;
            }
        }
        true
    }

    /// One pass by the imperfect solver; `force` = step index at which a mistake must happen.
    /// A mistake is only drawn where it keeps the chain in range (so the configured rates are
    /// the rates among steps where the mistake is possible); `None` if a forced one is not.
    fn try_attempt(
        &self,
        q: &Question,
        rng: &mut ChaCha20Rng,
        careless: bool,
        force: Option<usize>,
    ) -> Option<Attempt> {
        let mut x = i64::from(q.start);
        let mut steps = Vec::with_capacity(q.ops.len());
        for (i, &(op, d)) in q.ops.iter().enumerate() {
            let d = i64::from(d);
            let right = op.apply(x, d);
            let carry = op.has_carry(x, d);
            let forgot = op.forgot_carry(x, d);
            let slip = if rng.random_bool(0.5) {
                right + 1
            } else {
                right - 1
            };
            let carry_ok = carry && self.feasible(q, i, forgot);
            let slip_ok = self.feasible(q, i, slip);
            let (written, mistake) = if force == Some(i) {
                match (carry_ok, slip_ok) {
                    (true, _) => (forgot, Mistake::Carry),
                    (false, true) => (slip, Mistake::Slip),
                    (false, false) => return None,
                }
            } else if careless && carry_ok && rng.random_bool(self.cfg.carry_error_rate) {
                (forgot, Mistake::Carry)
            } else if careless && !carry && slip_ok && rng.random_bool(self.cfg.slip_rate) {
                (slip, Mistake::Slip)
            } else {
                (right, Mistake::None)
            };
            if !self.written_in_range(right) {
                return None;
            }
            steps.push(Step {
                x,
                op,
                d,
                written,
                mistake,
                carry_possible: carry_ok,
            });
            x = written;
        }
        Some(Attempt { steps })
    }

    /// A careful pass: every step right.
    pub fn correct_attempt(&self, q: &Question) -> Attempt {
        let mut x = i64::from(q.start);
        let steps = q
            .ops
            .iter()
            .map(|&(op, d)| {
                let d = i64::from(d);
                let w = op.apply(x, d);
                let s = Step {
                    x,
                    op,
                    d,
                    written: w,
                    mistake: Mistake::None,
                    carry_possible: false,
                };
                x = w;
                s
            })
            .collect();
        Attempt { steps }
    }

    /// A pass with the solver's error rates; falls back to a careful pass if repeated draws
    /// leave the range (rare: a wrong value near 0 or `max_value`).
    fn attempt(&self, q: &Question, rng: &mut ChaCha20Rng) -> Attempt {
        (0..32)
            .find_map(|_| self.try_attempt(q, rng, true, None))
            .unwrap_or_else(|| self.correct_attempt(q))
    }

    /// A pass with exactly one mistake at a random step (a reflection that breaks a correct
    /// answer), or `None` if no such pass stays in range.
    fn broken_attempt(&self, q: &Question, rng: &mut ChaCha20Rng) -> Option<Attempt> {
        (0..32).find_map(|_| {
            let at = rng.random_range(0..q.ops.len());
            self.try_attempt(q, rng, false, Some(at))
                .filter(|a| a.answer() != q.answer())
        })
    }

    /// A worked solution of `q` by the imperfect solver.
    pub fn solve(&self, q: &Question, rng: &mut ChaCha20Rng) -> Solution {
        let c = &self.cfg;
        let first = self.attempt(q, rng);
        let correct = first.answer() == q.answer();
        let p_reflect = if correct {
            c.reflect_after_correct
        } else {
            c.reflect_after_wrong
        };
        let reflection = rng.random_bool(p_reflect).then(|| {
            let phrase = rng.random_range(0..REFLECTION_PHRASES.len());
            let second = if correct {
                if rng.random_bool(c.break_rate) {
                    self.broken_attempt(q, rng).unwrap_or_else(|| first.clone())
                } else {
                    first.clone()
                }
            } else if rng.random_bool(c.fix_rate) {
                self.correct_attempt(q)
            } else {
                first.clone()
            };
            (phrase, second)
        });
        Solution {
            question: q.clone(),
            first,
            reflection,
        }
    }
}

/// A ChaCha20 stream for one purpose of one run: `seed` and a purpose tag, so the corpus, the
/// train questions and the held-out questions never share draws.
pub fn rng_for(seed: u64, purpose: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_and_forgotten_carries() {
        assert!(Op::Add.has_carry(17, 5));
        assert!(!Op::Add.has_carry(12, 5));
        assert_eq!(Op::Add.forgot_carry(17, 5), 12);
        assert!(Op::Sub.has_carry(23, 5));
        assert!(!Op::Sub.has_carry(28, 5));
        assert_eq!(Op::Sub.forgot_carry(23, 5), 28);
    }

    #[test]
    fn texts() {
        let q = Question {
            start: 17,
            ops: vec![(Op::Add, 5), (Op::Sub, 8)],
        };
        assert_eq!(q.text(), "Compute 17 + 5 - 8 .");
        assert_eq!(q.answer(), 14);
        let w = World::new(WorldConfig::default()).unwrap();
        assert_eq!(
            w.correct_attempt(&q).text(),
            "17 + 5 = 22 . 22 - 8 = 14 . \\boxed{ 14 }"
        );
    }
}
