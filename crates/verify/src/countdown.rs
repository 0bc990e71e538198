//! TinyZero's Countdown reward (`verl/utils/reward_score/countdown.py`, identical in oat's
//! `oracles/countdown.py`), re-implemented with a safe evaluator.
//!
//! Semantics kept exactly: only the **last line** of the response counts; the answer is the last
//! `<answer>…</answer>` on it; the multiset of digit runs (`\d+`) in the equation must equal the
//! given numbers; the equation must consist of `[\d+\-*/().\s]` and evaluate (Python semantics:
//! ints are unbounded, `/` is float division, `//` floors, `**` is power) to within `1e-5` of the
//! target. Rewards: no answer 0, any other failure 0.1, correct 1.
//!
//! Unlike Python's `eval`, `**` cannot blow up: integer results are capped at
//! [`MAX_INT_BITS`] bits, beyond which the equation counts as not evaluable (0.1).

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::{AnswerSource, Extracted, Grade, Verdict};

/// Largest integer (in bits) the evaluator builds before giving up on an equation.
pub const MAX_INT_BITS: u64 = 4096;

/// Countdown grading options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountdownOptions {
    /// Accept only `+ - * /`, parentheses and integer literals (no `**`, `//`, unary signs or
    /// decimals); evaluated with the same arithmetic. Default `false` = TinyZero's behaviour.
    pub strict: bool,
}

/// Grades a Countdown response: 1.0 if the last `<answer>` on the last line uses every number
/// exactly once and evaluates to `target`, 0.1 if an answer is there but fails, 0.0 if none.
///
/// ```
/// use aha_verify::{grade_countdown, CountdownOptions, Verdict};
/// let o = CountdownOptions::default();
/// let g = grade_countdown("<think>…</think>\n<answer>(1 + 2) * 3</answer>", 9, &[1, 2, 3], &o);
/// assert_eq!((g.verdict, g.reward), (Verdict::Correct, 1.0));
/// // `**` is accepted by TinyZero's eval, rejected in strict mode.
/// let r = "<answer>4 ** 3 / 2</answer>";
/// assert_eq!(grade_countdown(r, 32, &[4, 3, 2], &o).reward, 1.0);
/// assert_eq!(grade_countdown(r, 32, &[4, 3, 2], &CountdownOptions { strict: true }).reward, 0.1);
/// ```
pub fn grade_countdown(
    response: &str,
    target: i64,
    numbers: &[i64],
    opts: &CountdownOptions,
) -> Grade {
    let Some((start, end)) = extract(response) else {
        return Grade {
            verdict: Verdict::NoAnswer,
            extracted: None,
            reward: 0.0,
            formatted: false,
        };
    };
    let eq = &response[start..end];
    let extracted = Some(Extracted {
        text: eq.to_string(),
        source: AnswerSource::AnswerTag,
        start,
        end,
    });
    let ok = uses_numbers(eq, numbers)
        && evaluate(eq, opts.strict).is_some_and(|v| (v - target as f64).abs() < 1e-5);
    Grade {
        verdict: if ok {
            Verdict::Correct
        } else {
            Verdict::Incorrect
        },
        extracted,
        reward: if ok { 1.0 } else { 0.1 },
        formatted: true,
    }
}

/// Byte range (in `response`) of the stripped last `<answer>(.*?)</answer>` on the last line.
fn extract(response: &str) -> Option<(usize, usize)> {
    let line_start = response.rfind('\n').map_or(0, |i| i + 1);
    let line = &response[line_start..];
    // Python's non-greedy finditer: scan left to right, keep the last complete match.
    let mut pos = 0;
    let mut last = None;
    while let Some(o) = line[pos..].find("<answer>") {
        let s = pos + o + "<answer>".len();
        match line[s..].find("</answer>") {
            Some(c) => {
                last = Some((s, s + c));
                pos = s + c + "</answer>".len();
            }
            None => break,
        }
    }
    let (s, e) = last?;
    // Python's str.strip() strips whitespace.
    let inner = &line[s..e];
    let lead = inner.len() - inner.trim_start().len();
    let t = inner.trim();
    Some((line_start + s + lead, line_start + s + lead + t.len()))
}

/// `sorted(int(n) for n in re.findall(r"\d+", eq)) == sorted(numbers)`.
fn uses_numbers(eq: &str, numbers: &[i64]) -> bool {
    let mut found = Vec::new();
    let b = eq.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            match eq[s..i].parse::<BigInt>().ok().and_then(|v| v.to_i64()) {
                Some(v) => found.push(v),
                None => return false,
            }
        } else {
            i += 1;
        }
    }
    let mut want = numbers.to_vec();
    found.sort_unstable();
    want.sort_unstable();
    found == want
}

/// A Python number: unbounded int or float.
#[derive(Debug, Clone)]
enum Num {
    Int(BigInt),
    Float(f64),
}

impl Num {
    fn to_f64(&self) -> f64 {
        match self {
            Num::Int(i) => i.to_f64().unwrap_or(f64::INFINITY),
            Num::Float(f) => *f,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(String),
    Plus,
    Minus,
    Star,
    Slash,
    DStar,
    DSlash,
    LParen,
    RParen,
}

/// Evaluates `eq` like TinyZero's `evaluate_equation`; `None` where Python would raise.
fn evaluate(eq: &str, strict: bool) -> Option<f64> {
    if eq.is_empty()
        || !eq
            .bytes()
            .all(|c| c.is_ascii_digit() || b"+-*/(). \t\n\r\x0b\x0c".contains(&c))
    {
        return None;
    }
    if eq.len() > 10_000 {
        return None;
    }
    let toks = lex(eq)?;
    if strict
        && toks.iter().any(|t| match t {
            Tok::DStar | Tok::DSlash => true,
            Tok::Num(s) => s.contains('.'),
            _ => false,
        })
    {
        return None;
    }
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        strict,
        depth: 0,
    };
    let v = p.expr()?;
    if p.pos != toks.len() {
        return None;
    }
    let f = v.to_f64();
    f.is_finite().then_some(f)
}

fn lex(s: &str) -> Option<Vec<Tok>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => i += 1,
            b'+' => {
                out.push(Tok::Plus);
                i += 1
            }
            b'-' => {
                out.push(Tok::Minus);
                i += 1
            }
            b'*' if b.get(i + 1) == Some(&b'*') => {
                out.push(Tok::DStar);
                i += 2
            }
            b'*' => {
                out.push(Tok::Star);
                i += 1
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                out.push(Tok::DSlash);
                i += 2
            }
            b'/' => {
                out.push(Tok::Slash);
                i += 1
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            _ => {
                let st = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let lit = &s[st..i];
                // Python literals: at most one '.', at least one digit, no leading zeros on
                // a non-zero integer literal.
                if lit.matches('.').count() > 1 || lit == "." {
                    return None;
                }
                if !lit.contains('.')
                    && lit.len() > 1
                    && lit.starts_with('0')
                    && lit.bytes().any(|d| d != b'0')
                {
                    return None;
                }
                out.push(Tok::Num(lit.to_string()));
            }
        }
    }
    Some(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    strict: bool,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    // expr := term (('+'|'-') term)*
    fn expr(&mut self) -> Option<Num> {
        let mut acc = self.term()?;
        while let Some(t) = self.peek() {
            let op = t.clone();
            if op != Tok::Plus && op != Tok::Minus {
                break;
            }
            self.pos += 1;
            let r = self.term()?;
            acc = arith(&acc, &r, &op)?;
        }
        Some(acc)
    }

    // term := unary (('*'|'/'|'//') unary)*
    fn term(&mut self) -> Option<Num> {
        let mut acc = self.unary()?;
        while let Some(t) = self.peek() {
            let op = t.clone();
            if !matches!(op, Tok::Star | Tok::Slash | Tok::DSlash) {
                break;
            }
            self.pos += 1;
            let r = self.unary()?;
            acc = arith(&acc, &r, &op)?;
        }
        Some(acc)
    }

    // unary := ('+'|'-') unary | power   (Python: -2**2 == -4)
    fn unary(&mut self) -> Option<Num> {
        self.depth += 1;
        if self.depth > 200 {
            return None;
        }
        let r = match self.peek() {
            Some(Tok::Minus) if !self.strict => {
                self.pos += 1;
                let v = self.unary()?;
                Some(match v {
                    Num::Int(i) => Num::Int(-i),
                    Num::Float(f) => Num::Float(-f),
                })
            }
            Some(Tok::Plus) if !self.strict => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        };
        self.depth -= 1;
        r
    }

    // power := atom ('**' unary)?
    fn power(&mut self) -> Option<Num> {
        let base = self.atom()?;
        if self.peek() == Some(&Tok::DStar) {
            self.pos += 1;
            let e = self.unary()?;
            return pow(&base, &e);
        }
        Some(base)
    }

    fn atom(&mut self) -> Option<Num> {
        match self.peek()?.clone() {
            Tok::Num(s) => {
                self.pos += 1;
                if s.contains('.') {
                    s.parse::<f64>().ok().map(Num::Float)
                } else {
                    s.parse::<BigInt>().ok().map(Num::Int)
                }
            }
            Tok::LParen => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > 200 {
                    return None;
                }
                let v = self.expr()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return None;
                }
                self.pos += 1;
                Some(v)
            }
            _ => None,
        }
    }
}

fn arith(a: &Num, b: &Num, op: &Tok) -> Option<Num> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => match op {
            Tok::Plus => Some(Num::Int(x + y)),
            Tok::Minus => Some(Num::Int(x - y)),
            Tok::Star => (x.bits() + y.bits() <= MAX_INT_BITS).then(|| Num::Int(x * y)),
            Tok::Slash => {
                if y.is_zero() {
                    return None;
                }
                // Python's int / int is correctly rounded; a ratio to f64 is close enough here.
                let q = num_rational::BigRational::new(x.clone(), y.clone());
                Some(Num::Float(q.to_f64().unwrap_or(f64::NAN)))
            }
            Tok::DSlash => {
                if y.is_zero() {
                    return None;
                }
                Some(Num::Int(x.div_floor(y)))
            }
            _ => None,
        },
        _ => {
            let (x, y) = (a.to_f64(), b.to_f64());
            match op {
                Tok::Plus => Some(Num::Float(x + y)),
                Tok::Minus => Some(Num::Float(x - y)),
                Tok::Star => Some(Num::Float(x * y)),
                Tok::Slash => (y != 0.0).then(|| Num::Float(x / y)),
                Tok::DSlash => (y != 0.0).then(|| Num::Float((x / y).floor())),
                _ => None,
            }
        }
    }
}

fn pow(base: &Num, exp: &Num) -> Option<Num> {
    match (base, exp) {
        (Num::Int(b), Num::Int(e)) => {
            if e.is_negative() {
                if b.is_zero() {
                    return None; // ZeroDivisionError
                }
                let f = b.to_f64()?.powf(e.to_f64()?);
                return Some(Num::Float(f));
            }
            if b.is_zero() || b.is_one() {
                return Some(Num::Int(b.clone()));
            }
            if *b == -BigInt::one() {
                return Some(Num::Int(if e.is_even() {
                    BigInt::one()
                } else {
                    b.clone()
                }));
            }
            let e = e.to_u64()?;
            if b.bits().checked_mul(e)? > MAX_INT_BITS {
                return None;
            }
            Some(Num::Int(num_traits::pow(b.clone(), e as usize)))
        }
        _ => {
            let (x, y) = (base.to_f64(), exp.to_f64());
            if x == 0.0 && y < 0.0 {
                return None;
            }
            // Python returns a complex number for a negative base and fractional exponent;
            // its distance to an integer target is then never below 1e-5 unless the imaginary
            // part vanishes, which does not happen for finite non-integer exponents here.
            if x < 0.0 && y.fract() != 0.0 {
                return None;
            }
            let f = x.powf(y);
            f.is_finite().then_some(Num::Float(f))
        }
    }
}
