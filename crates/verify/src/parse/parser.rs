//! The recursive-descent parser: tokens into an [`Expr`] (items, unions, relations, sums,
//! terms with implicit products and mixed numbers, powers, commands, matrices).

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::Expr;

use super::MAX_DEPTH;
use super::lex::{Tok, number_value};

pub(super) struct Parser<'b> {
    pub(super) toks: Vec<Tok>,
    pub(super) pos: usize,
    pub(super) depth: usize,
    pub(super) budget: &'b mut Budget,
}

pub(super) fn syntax<T>(at: usize, reason: impl Into<String>) -> Result<T> {
    Err(Error::Syntax {
        at,
        reason: reason.into(),
    })
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    pub(super) fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }

    pub(super) fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, t: &Tok) -> Result<()> {
        if self.eat(t) {
            Ok(())
        } else {
            syntax(self.pos, format!("expected {t:?}, found {:?}", self.peek()))
        }
    }

    pub(super) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        self.budget.charge(1)?;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep { cap: MAX_DEPTH });
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// The whole answer: a comma list (a set) or a single item; words are dropped.
    pub(super) fn top(&mut self) -> Result<Expr> {
        // Plain words only (`\text{odd}`, `no solution`): keep as text.
        if self
            .toks
            .iter()
            .all(|t| matches!(t, Tok::Word(_) | Tok::Sym('.') | Tok::Sym(',')))
        {
            let words: Vec<String> = self
                .toks
                .iter()
                .filter_map(|t| match t {
                    Tok::Word(w) => Some(w.to_lowercase()),
                    _ => None,
                })
                .collect();
            self.pos = self.toks.len();
            return Ok(Expr::Text(words.join(" ")));
        }
        // Drop words (units, trailing text) and the `^2` of a unit like `\text{cm}^2`.
        let mut kept = Vec::with_capacity(self.toks.len());
        let mut k = 0;
        while k < self.toks.len() {
            if matches!(self.toks[k], Tok::Word(_)) {
                k += 1;
                if k + 1 < self.toks.len()
                    && self.toks[k] == Tok::Sym('^')
                    && matches!(self.toks[k + 1], Tok::Num(_))
                {
                    k += 2;
                }
                continue;
            }
            kept.push(self.toks[k].clone());
            k += 1;
        }
        // Trailing punctuation.
        while matches!(kept.last(), Some(Tok::Sym('.' | ',' | ';'))) {
            kept.pop();
        }
        // Leading `,` left by a dropped word like "and".
        while matches!(kept.first(), Some(Tok::Sym(','))) {
            kept.remove(0);
        }
        if kept.is_empty() {
            return Err(Error::Empty);
        }
        self.toks = kept;
        let items = self.items()?;
        Ok(if items.len() == 1 {
            items.into_iter().next().unwrap_or(Expr::Set(vec![]))
        } else {
            Expr::Set(items)
        })
    }

    /// Comma/semicolon separated items until a closing token (not consumed) or the end.
    pub(super) fn items(&mut self) -> Result<Vec<Expr>> {
        let mut items = vec![self.union()?];
        while matches!(self.peek(), Some(Tok::Sym(',' | ';'))) {
            self.pos += 1;
            // Tolerate a doubled separator from "… , and …".
            if matches!(self.peek(), Some(Tok::Sym(',' | ';'))) {
                continue;
            }
            items.push(self.union()?);
        }
        Ok(items)
    }

    pub(super) fn union(&mut self) -> Result<Expr> {
        let first = self.relation()?;
        if self.peek() != Some(&Tok::Cmd("cup".into())) {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.eat(&Tok::Cmd("cup".into())) {
            parts.push(self.relation()?);
        }
        Ok(Expr::Union(parts))
    }

    pub(super) fn relation(&mut self) -> Result<Expr> {
        let first = self.sum()?;
        let mut sides = vec![first];
        let mut ops = Vec::new();
        while let Some(Tok::Rel(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            ops.push(op);
            sides.push(self.sum()?);
        }
        Ok(if ops.is_empty() {
            sides.pop().unwrap_or(Expr::Set(vec![]))
        } else {
            Expr::Rel(sides, ops)
        })
    }

    pub(super) fn sum(&mut self) -> Result<Expr> {
        self.enter()?;
        let mut terms: Vec<Expr> = Vec::new();
        // Leading sign.
        let first = match self.peek() {
            Some(Tok::Sym('-')) => {
                self.pos += 1;
                Expr::Neg(Box::new(self.term()?))
            }
            Some(Tok::Sym('+')) => {
                self.pos += 1;
                self.term()?
            }
            Some(Tok::Pm) => {
                self.pos += 1;
                Expr::PlusMinus(
                    Box::new(Expr::num(BigRational::zero())),
                    Box::new(self.term()?),
                )
            }
            _ => self.term()?,
        };
        terms.push(first);
        let mut acc: Option<Expr> = None;
        loop {
            match self.peek() {
                Some(Tok::Sym('+')) => {
                    self.pos += 1;
                    terms.push(self.term()?);
                }
                Some(Tok::Sym('-')) => {
                    self.pos += 1;
                    terms.push(Expr::Neg(Box::new(self.term()?)));
                }
                Some(Tok::Pm) => {
                    self.pos += 1;
                    let rhs = self.term()?;
                    let lhs = finish_sum(acc.take(), std::mem::take(&mut terms));
                    acc = Some(Expr::PlusMinus(Box::new(lhs), Box::new(rhs)));
                }
                _ => break,
            }
        }
        self.leave();
        Ok(finish_sum(acc, terms))
    }

    pub(super) fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Letter(_) | Tok::LSet) => true,
            Some(Tok::Sym('(' | '{' | '[')) => true,
            Some(Tok::Cmd(c)) => !matches!(c.as_str(), "cup" | "dots") && !c.starts_with("end:"),
            _ => false,
        }
    }

    pub(super) fn term(&mut self) -> Result<Expr> {
        self.enter()?;
        let (first, first_kind) = self.unary()?;
        let mut factors = vec![first];
        let mut denoms: Vec<Expr> = Vec::new();
        let mut single_int = first_kind == Kind::Int;
        loop {
            match self.peek() {
                Some(Tok::Sym('*')) => {
                    self.pos += 1;
                    factors.push(self.unary()?.0);
                    single_int = false;
                }
                // A ratio `3:1` is read as the quotient.
                Some(Tok::Sym('/' | ':')) => {
                    self.pos += 1;
                    denoms.push(self.unary()?.0);
                    single_int = false;
                }
                _ if self.starts_factor() => {
                    let (f, kind) = self.unary()?;
                    if single_int
                        && kind == Kind::IntFrac
                        && factors.len() == 1
                        && denoms.is_empty()
                    {
                        // Mixed number `2\frac{1}{3}` = 2 + 1/3.
                        let whole = factors.pop().unwrap_or(Expr::num(BigRational::zero()));
                        factors.push(Expr::Add(vec![whole, f]));
                    } else {
                        factors.push(f);
                    }
                    single_int = false;
                }
                _ => break,
            }
        }
        self.leave();
        let num = if factors.len() == 1 {
            factors.pop().unwrap_or(Expr::num(BigRational::one()))
        } else {
            Expr::Mul(factors)
        };
        Ok(denoms
            .into_iter()
            .fold(num, |acc, d| Expr::Div(Box::new(acc), Box::new(d))))
    }

    pub(super) fn unary(&mut self) -> Result<(Expr, Kind)> {
        self.enter()?;
        let r = match self.peek() {
            Some(Tok::Sym('-')) => {
                self.pos += 1;
                let (e, _) = self.unary()?;
                (Expr::Neg(Box::new(e)), Kind::Other)
            }
            Some(Tok::Sym('+')) => {
                self.pos += 1;
                self.unary()?
            }
            _ => self.power()?,
        };
        self.leave();
        Ok(r)
    }

    pub(super) fn power(&mut self) -> Result<(Expr, Kind)> {
        let (mut base, mut kind) = self.postfix()?;
        loop {
            match self.peek() {
                Some(Tok::Sym('^')) => {
                    self.pos += 1;
                    if self.eat(&Tok::Degree) {
                        continue;
                    }
                    if self.peek() == Some(&Tok::Sym('{'))
                        && self.peek_at(1) == Some(&Tok::Degree)
                        && self.peek_at(2) == Some(&Tok::Sym('}'))
                    {
                        self.pos += 3;
                        continue;
                    }
                    let exp = self.script()?;
                    // `y^{\prime}`: an empty superscript (after dropping `\prime`) is no power.
                    if exp != Expr::Set(vec![]) {
                        base = Expr::Pow(Box::new(base), Box::new(exp));
                    }
                    kind = Kind::Other;
                }
                Some(Tok::DStar) => {
                    self.pos += 1;
                    let (exp, _) = self.unary()?;
                    base = Expr::Pow(Box::new(base), Box::new(exp));
                    kind = Kind::Other;
                }
                _ => break,
            }
            base = self.postfix_ops(base)?;
        }
        Ok((base, kind))
    }

    /// The argument of `^` or `_`: a `{}` group, a parenthesised group, a signed unary, or one
    /// token.
    pub(super) fn script(&mut self) -> Result<Expr> {
        match self.peek() {
            Some(Tok::Sym('{')) => self.group(),
            Some(Tok::Sym('-')) => {
                self.pos += 1;
                let e = self.script()?;
                Ok(Expr::Neg(Box::new(e)))
            }
            Some(Tok::Sym('(')) => Ok(self.primary()?.0),
            _ => Ok(self.primary()?.0),
        }
    }

    pub(super) fn postfix(&mut self) -> Result<(Expr, Kind)> {
        let (e, kind) = self.primary()?;
        let e2 = self.postfix_ops(e.clone())?;
        let kind = if e2 == e { kind } else { Kind::Other };
        Ok((e2, kind))
    }

    pub(super) fn postfix_ops(&mut self, mut e: Expr) -> Result<Expr> {
        loop {
            match self.peek() {
                Some(Tok::Sym('!')) => {
                    self.pos += 1;
                    e = Expr::Fact(Box::new(e));
                }
                Some(Tok::Percent) => {
                    self.pos += 1;
                    e = Expr::Percent(Box::new(e));
                }
                Some(Tok::Degree) | Some(Tok::Sym('\'')) => self.pos += 1,
                Some(Tok::Sym('_')) => {
                    self.pos += 1;
                    let sub = self.script()?;
                    e = subscript(e, sub, self.pos)?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// A `{…}` group: its content as one expression (a list inside is a set).
    pub(super) fn group(&mut self) -> Result<Expr> {
        self.enter()?;
        self.expect(&Tok::Sym('{'))?;
        if self.eat(&Tok::Sym('}')) {
            self.leave();
            return Ok(Expr::Set(vec![]));
        }
        let items = self.items()?;
        self.expect(&Tok::Sym('}'))?;
        self.leave();
        Ok(if items.len() == 1 {
            items.into_iter().next().unwrap_or(Expr::Set(vec![]))
        } else {
            Expr::Set(items)
        })
    }

    /// The argument of `\frac`/`\sqrt`: a group, or a single digit/letter/command (`\frac12`).
    pub(super) fn arg(&mut self) -> Result<Expr> {
        match self.peek().cloned() {
            Some(Tok::Sym('{')) => self.group(),
            Some(Tok::Num(s)) if s.len() > 1 && !s.contains(['.', 'e']) => {
                // `\frac12`: the argument is the first digit only.
                let (a, b) = s.split_at(1);
                self.toks[self.pos] = Tok::Num(b.to_string());
                num_expr(a, self.pos)
            }
            Some(_) => Ok(self.primary()?.0),
            None => syntax(self.pos, "missing argument"),
        }
    }

    #[allow(clippy::too_many_lines)]
    pub(super) fn primary(&mut self) -> Result<(Expr, Kind)> {
        self.enter()?;
        let at = self.pos;
        let Some(tok) = self.peek().cloned() else {
            return syntax(at, "unexpected end");
        };
        self.pos += 1;
        let r = match tok {
            Tok::Num(s) => (
                num_expr(&s, at)?,
                if s.contains(['.', 'e']) {
                    Kind::Other
                } else {
                    Kind::Int
                },
            ),
            Tok::Letter(c) => (
                match c {
                    'e' => Expr::E,
                    'i' => Expr::I,
                    _ => Expr::Var(c.to_string()),
                },
                Kind::Other,
            ),
            Tok::Sym('{') => {
                self.pos -= 1;
                (self.group()?, Kind::Other)
            }
            Tok::Sym(open @ ('(' | '[')) => {
                let items = self.items()?;
                let close = match self.peek() {
                    Some(Tok::Sym(c @ (')' | ']'))) => *c,
                    _ => return Err(Error::Unbalanced { what: "brackets" }),
                };
                self.pos += 1;
                if items.len() == 1
                    && ((open == '(' && close == ')') || (open == '[' && close == ']'))
                {
                    (
                        items.into_iter().next().unwrap_or(Expr::Set(vec![])),
                        Kind::Other,
                    )
                } else {
                    (Expr::Seq { open, close, items }, Kind::Other)
                }
            }
            Tok::LSet => {
                if self.eat(&Tok::RSet) {
                    (Expr::Set(vec![]), Kind::Other)
                } else {
                    let items = self.items()?;
                    // `\{x : x > 1\}` style set-builder is not supported.
                    if !self.eat(&Tok::RSet) {
                        return Err(Error::Unbalanced { what: "set braces" });
                    }
                    (Expr::Set(items), Kind::Other)
                }
            }
            Tok::Sym('|') => {
                let inner = self.sum()?;
                self.expect(&Tok::Sym('|'))?;
                (Expr::Func("abs".into(), vec![inner]), Kind::Other)
            }
            Tok::Cmd(name) => self.command(&name, at)?,
            other => return syntax(at, format!("unexpected {other:?}")),
        };
        self.leave();
        Ok(r)
    }

    pub(super) fn command(&mut self, name: &str, at: usize) -> Result<(Expr, Kind)> {
        Ok(match name {
            "frac" | "over" => {
                let a = self.arg()?;
                let b = self.arg()?;
                let kind = if is_int_lit(&a) && is_int_lit(&b) {
                    Kind::IntFrac
                } else {
                    Kind::Other
                };
                (Expr::Div(Box::new(a), Box::new(b)), kind)
            }
            "sqrt" => {
                let mut index = None;
                if self.eat(&Tok::Sym('[')) {
                    let i = self.sum()?;
                    self.expect(&Tok::Sym(']'))?;
                    index = Some(i);
                }
                let x = if self.peek() == Some(&Tok::Sym('(')) {
                    self.primary()?.0
                } else {
                    self.arg()?
                };
                let one = Expr::num(BigRational::one());
                let n = index.unwrap_or(Expr::num(BigRational::from_integer(2.into())));
                (
                    Expr::Pow(Box::new(x), Box::new(Expr::Div(Box::new(one), Box::new(n)))),
                    Kind::Other,
                )
            }
            "binom" | "choose" => {
                let a = self.arg()?;
                let b = self.arg()?;
                (Expr::Func("binom".into(), vec![a, b]), Kind::Other)
            }
            "boxed" | "fbox" | "mathbf" | "overline" | "underline" | "hat" | "vec" | "bar" => {
                (self.arg()?, Kind::Other)
            }
            "pi" => (Expr::Pi, Kind::Other),
            "infty" => (Expr::Inf, Kind::Other),
            "dots" => (Expr::Var("…".into()), Kind::Other),
            "exp" | "ln" | "log" | "lg" | "sin" | "cos" | "tan" | "sec" | "csc" | "cot"
            | "arcsin" | "arccos" | "arctan" | "sinh" | "cosh" | "tanh" | "abs" => {
                let mut fname = name.to_string();
                let mut power = None;
                loop {
                    if self.eat(&Tok::Sym('_')) {
                        let b = self.script()?;
                        fname = match b {
                            Expr::Num { value, .. } => format!("{fname}_{value}"),
                            other => format!("{fname}_{other:?}"),
                        };
                    } else if self.eat(&Tok::Sym('^')) {
                        power = Some(self.script()?);
                    } else {
                        break;
                    }
                }
                let arg = match self.peek() {
                    Some(Tok::Sym('(' | '{')) => self.primary()?.0,
                    _ => self.power()?.0,
                };
                let f = Expr::Func(fname, vec![arg]);
                let f = match power {
                    // `\sin^{-1}` is the inverse function, not a reciprocal.
                    Some(Expr::Neg(inner)) if is_one(&inner) => match &f {
                        Expr::Func(n, a) => Expr::Func(format!("arc{n}"), a.clone()),
                        _ => f,
                    },
                    Some(p) => Expr::Pow(Box::new(f), Box::new(p)),
                    None => f,
                };
                (f, Kind::Other)
            }
            n if n.starts_with("begin:") => (self.matrix(n)?, Kind::Other),
            n if n.starts_with("end:") => return syntax(at, format!("stray \\end{{{}}}", &n[4..])),
            // Greek letters and other symbols are variables.
            n if n.chars().all(|c| c.is_ascii_alphabetic()) => {
                (Expr::Var(format!("\\{n}")), Kind::Other)
            }
            n => return syntax(at, format!("unsupported command \\{n}")),
        })
    }

    pub(super) fn matrix(&mut self, begin: &str) -> Result<Expr> {
        let env = &begin[6..];
        let end = Tok::Cmd(format!("end:{env}"));
        let mut rows = vec![];
        let mut row = vec![];
        loop {
            if self.eat(&end) {
                break;
            }
            if self.peek().is_none() {
                return Err(Error::Unbalanced {
                    what: "\\begin/\\end",
                });
            }
            row.push(self.sum()?);
            if self.eat(&Tok::Sym('&')) {
                continue;
            }
            if self.eat(&Tok::RowSep) {
                rows.push(std::mem::take(&mut row));
                continue;
            }
            if self.peek() != Some(&end) {
                return syntax(self.pos, "expected `&`, `\\\\` or \\end in matrix");
            }
        }
        if !row.is_empty() {
            rows.push(row);
        }
        if rows.is_empty() || rows.iter().any(|r| r.len() != rows[0].len()) {
            return syntax(self.pos, "ragged or empty matrix");
        }
        Ok(Expr::Matrix(rows))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An integer literal.
    Int,
    /// `\frac{int}{int}` (for mixed numbers).
    IntFrac,
    Other,
}

pub(super) fn finish_sum(acc: Option<Expr>, mut terms: Vec<Expr>) -> Expr {
    let tail = if terms.len() == 1 {
        terms.pop()
    } else if terms.is_empty() {
        None
    } else {
        Some(Expr::Add(terms))
    };
    match (acc, tail) {
        (Some(a), Some(t)) => Expr::Add(vec![a, t]),
        (Some(a), None) => a,
        (None, Some(t)) => t,
        (None, None) => Expr::num(BigRational::zero()),
    }
}

pub(super) fn is_int_lit(e: &Expr) -> bool {
    matches!(e, Expr::Num { value, decimals: None } if value.is_integer())
}

pub(super) fn is_one(e: &Expr) -> bool {
    matches!(e, Expr::Num { value, .. } if value.is_one())
}

pub(super) fn num_expr(s: &str, at: usize) -> Result<Expr> {
    match number_value(s) {
        Some((value, decimals)) => Ok(Expr::Num { value, decimals }),
        None => syntax(at, format!("bad number {s:?}")),
    }
}

/// `x_1` → variable `x_1`; `1011_2` → the integer in base 2.
pub(super) fn subscript(base: Expr, sub: Expr, at: usize) -> Result<Expr> {
    match (&base, &sub) {
        (
            Expr::Num {
                value,
                decimals: None,
            },
            Expr::Num {
                value: b,
                decimals: None,
            },
        ) if value.is_integer() && b.is_integer() => {
            let digits = value.numer().to_string();
            let radix: u32 = b.numer().try_into().map_err(|_| Error::Syntax {
                at,
                reason: "bad base".into(),
            })?;
            if !(2..=36).contains(&radix) {
                return syntax(at, format!("base {radix} out of range"));
            }
            let v = BigInt::parse_bytes(digits.as_bytes(), radix).ok_or(Error::Syntax {
                at,
                reason: format!("{digits} is not a base-{radix} numeral"),
            })?;
            Ok(Expr::Based {
                digits,
                base: radix,
                value: BigRational::from_integer(v),
            })
        }
        (Expr::Var(v), _) => Ok(Expr::Var(format!("{v}_{}", sub_name(&sub)))),
        (Expr::Pi | Expr::E | Expr::I, _) => Ok(Expr::Var(format!("{base:?}_{}", sub_name(&sub)))),
        // Other subscripts (`\log_2` handled elsewhere) are ignored.
        _ => Ok(base),
    }
}

pub(super) fn sub_name(e: &Expr) -> String {
    match e {
        Expr::Num { value, .. } => value.to_string(),
        Expr::Var(v) => v.clone(),
        other => format!("{other:?}"),
    }
}
