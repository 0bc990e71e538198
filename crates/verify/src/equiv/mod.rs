//! Deciding whether two parsed answers are equal.
//!
//! **Method.** Scalars are brought to a canonical form: a sum of monomials with exact rational
//! coefficients, where a monomial is a product of atoms raised to rational exponents. Atoms are
//! variables, π, e, i, ∞, primes with a fractional exponent (so `3\sqrt{13}` and `\sqrt{117}`
//! both become `3·13^{1/2}` and `\frac{1}{\sqrt2}` becomes `\frac12·2^{1/2}`), and opaque atoms
//! for what the form cannot normalise (a sum raised to a negative or fractional power, functions
//! like `\sin`, powers too large to build). Two canonical forms without opaque atoms are equal
//! iff the values are equal as polynomials over ℚ(radicals, π, e) — exact, no floats, so
//! `\frac{1}{2^{99}}` ≠ `\frac{1}{2^{98}}`.
//!
//! We chose the canonical form over seeded evaluation at random points because it is exact and
//! needs no tolerance, which is what separates tiny values like `\frac{1}{2004!}` and
//! `\frac{1}{2006!}`. Only when an opaque atom remains (e.g. `\frac{x^2-1}{x-1}` vs `x+1`,
//! `\frac{1}{1+\sqrt2}` vs `\sqrt2-1`) we fall back to evaluating both sides in complex floating
//! point at three seeded points (variables drawn per name), with relative tolerance 1e-9.
//!
//! Structured answers: tuples and intervals compare element-wise (bracket type matters unless
//! `strict_brackets` is off), sets and bare comma lists order-free, matrices element-wise,
//! equations up to a non-zero factor, `x = 5` as `5`, and single-variable inequalities as
//! unions of intervals.

mod canon;
mod compare;
mod interval;
mod numeric;
mod value;

use num_integer::Integer;
use num_traits::One;

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::{BoxPolicy, MathOptions, PercentPolicy, Verdict};

use canon::{Ctx, PercentMode};
use compare::Cmp;
use value::to_value;

/// Parses an answer (LaTeX or plain text) into an expression tree, with the default caps.
///
/// ```
/// use aha_verify::parse_answer;
/// assert!(parse_answer("\\frac{1}{2} + 3\\sqrt{13}").is_ok());
/// assert!(parse_answer("\\frac{1}{").is_err());
/// ```
pub fn parse_answer(text: &str) -> Result<Expr> {
    let opts = MathOptions::default();
    let mut b = Budget::new(opts.budget_steps);
    parse_clean(text, &opts, &mut b)
}

/// Whether the answer `pred` equals the reference `gold` (both bare answers).
/// `Err` means the reference cannot be read.
///
/// ```
/// use aha_verify::{answers_equal, MathOptions};
/// let o = MathOptions::default();
/// assert_eq!(answers_equal("\\frac{1}{2004!}", "\\frac{1}{2006!}", &o), Ok(false));
/// assert_eq!(answers_equal("x \\in [2, 5)", "[2,5)", &o), Ok(true));
/// ```
pub fn answers_equal(pred: &str, gold: &str, opts: &MathOptions) -> Result<bool> {
    let g = Gold::new(gold, opts);
    if let Err(e) = &g.parsed {
        return Err(e.clone());
    }
    Ok(g.judge(pred, opts) == Verdict::Correct)
}

fn parse_clean(text: &str, opts: &MathOptions, b: &mut Budget) -> Result<Expr> {
    if text.len() > opts.max_answer_bytes {
        return Err(Error::TooLong {
            len: text.len(),
            cap: opts.max_answer_bytes,
        });
    }
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Empty);
    }
    if let Some(c) = choice_letter(t, false) {
        return Ok(Expr::Choice(c));
    }
    if opts.decimal_comma {
        return crate::parse::parse(&decimal_commas(t), b);
    }
    crate::parse::parse(t, b)
}

/// Rewrites decimal commas as points: a `,` outside brackets between a digit and a run of
/// digits that is not exactly three long (`1,22` → `1.22`, `3,5` → `3.5`; `1,234` and
/// `(1,2)` stay), when the digits before it have no point.
fn decimal_commas(t: &str) -> String {
    let c: Vec<char> = t.chars().collect();
    let mut out = String::with_capacity(t.len());
    let mut depth = 0i32;
    for (i, &ch) in c.iter().enumerate() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 && i > 0 && c[i - 1].is_ascii_digit() {
            let run = c[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            let mut k = i;
            while k > 0 && c[k - 1].is_ascii_digit() {
                k -= 1;
            }
            let point_before = k > 0 && c[k - 1] == '.';
            if run > 0 && run != 3 && !point_before {
                out.push('.');
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// A multiple-choice letter A–E written as `C`, `(C)`, `\text{(C)}`, `\textbf{(C)}`; with
/// `lenient`, also a letter that starts the answer (`(C) 12`).
fn choice_letter(s: &str, lenient: bool) -> Option<char> {
    let mut t = s.trim().to_string();
    for w in [
        "\\textbf{",
        "\\text{",
        "\\mathrm{",
        "\\mathbf{",
        "\\left",
        "\\right",
    ] {
        t = t.replace(w, "");
    }
    let t: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '$' | '{' | '}'))
        .collect();
    let t = t.trim_end_matches('.');
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(t);
    let mut cs = inner.chars();
    if let (Some(c), None) = (cs.next(), cs.next())
        && ('A'..='E').contains(&c)
    {
        return Some(c);
    }
    if lenient {
        let b = t.as_bytes();
        if b.len() >= 3 && b[0] == b'(' && b[2] == b')' && (b'A'..=b'E').contains(&b[1]) {
            return Some(b[1] as char);
        }
    }
    None
}

/// Removes markup that never changes meaning, for the fast string-equality path.
fn normalize_text(s: &str) -> String {
    let mut t = s.replace("\\left", "").replace("\\right", "");
    for (a, b) in [
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("$", ""),
    ] {
        t = t.replace(a, b);
    }
    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    t.trim_end_matches('.').to_string()
}

/// A parsed reference answer, reusable across many predictions.
pub(crate) struct Gold {
    norm: String,
    parsed: Result<Expr>,
}

impl Gold {
    /// Reads a reference; a `\boxed{}` inside it is unwrapped first (its last box).
    pub(crate) fn new(gold: &str, opts: &MathOptions) -> Gold {
        let boxed = gold.contains("\\boxed") || gold.contains("\\fbox");
        let joined = (boxed && opts.boxes == BoxPolicy::All)
            .then(|| crate::extract::all_boxed(gold))
            .flatten();
        let text = match (&joined, crate::extract::last_boxed(gold)) {
            (Some(j), _) => j.text.as_str(),
            (None, Some((s, e))) if boxed => &gold[s..e],
            _ => gold,
        };
        let mut b = Budget::new(opts.budget_steps);
        let parsed = parse_clean(text, opts, &mut b).and_then(|e| {
            // The reference must also evaluate; a budget overrun makes it unreadable.
            let mut cx = Ctx {
                budget: &mut b,
                percent: PercentMode::Drop,
            };
            to_value(&e, &mut cx).map(|_| e)
        });
        Gold {
            norm: normalize_text(text),
            parsed,
        }
    }

    pub(crate) fn is_readable(&self) -> bool {
        self.parsed.is_ok()
    }

    /// The verdict for the bare answer `pred`.
    pub(crate) fn judge(&self, pred: &str, opts: &MathOptions) -> Verdict {
        let Ok(gold) = &self.parsed else {
            return Verdict::GoldUnparseable;
        };
        if normalize_text(pred) == self.norm {
            return Verdict::Correct;
        }
        if let Expr::Choice(c) = gold {
            return if choice_letter(pred, true) == Some(*c) {
                Verdict::Correct
            } else {
                Verdict::Incorrect
            };
        }
        let mut b = Budget::new(opts.budget_steps);
        let Ok(p) = parse_clean(pred, opts, &mut b) else {
            return Verdict::Incorrect;
        };
        if opts.require_reduced_fractions && unreduced_fraction(&p) {
            return Verdict::Incorrect;
        }
        match compare(gold, &p, opts, &mut b) {
            Ok(true) => Verdict::Correct,
            _ => Verdict::Incorrect,
        }
    }
}

/// `\frac{2}{4}` or `\frac{8}{2}` (PRM800K rejects both against `\frac12` / `4`).
fn unreduced_fraction(e: &Expr) -> bool {
    match e {
        Expr::Neg(a) => unreduced_fraction(a),
        Expr::Div(a, b) => match (&**a, &**b) {
            (
                Expr::Num {
                    value: n,
                    decimals: None,
                },
                Expr::Num {
                    value: d,
                    decimals: None,
                },
            ) if n.is_integer() && d.is_integer() => {
                d.numer().is_one() || !n.numer().gcd(d.numer()).is_one()
            }
            _ => false,
        },
        _ => false,
    }
}

fn percent_modes(e: &Expr, policy: PercentPolicy) -> Vec<PercentMode> {
    if !e.has_percent() {
        return vec![PercentMode::Drop];
    }
    match policy {
        PercentPolicy::Either => vec![PercentMode::Drop, PercentMode::Hundredth],
        PercentPolicy::Drop => vec![PercentMode::Drop],
        PercentPolicy::Hundredth => vec![PercentMode::Hundredth],
    }
}

fn compare(gold: &Expr, pred: &Expr, opts: &MathOptions, b: &mut Budget) -> Result<bool> {
    for gm in percent_modes(gold, opts.percent) {
        for pm in percent_modes(pred, opts.percent) {
            let gv = to_value(
                gold,
                &mut Ctx {
                    budget: b,
                    percent: gm,
                },
            )?;
            let pv = to_value(
                pred,
                &mut Ctx {
                    budget: b,
                    percent: pm,
                },
            )?;
            let mut c = Cmp {
                opts,
                budget: b,
                percent: pm,
            };
            if c.eq(&gv, &pv)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
