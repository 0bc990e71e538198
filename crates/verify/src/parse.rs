//! Lexer and recursive-descent parser for LaTeX and plain-text math answers.
//!
//! Written by hand because no Rust crate parses the loose LaTeX that models and datasets write
//! (`\frac12`, `\dfrac`, `3\sqrt{13}`, `\text{ cm}`, `1{,}000`, `x \in [2, 5)`, `pi/2`, `**`)
//! into an expression tree; Python graders rely on sympy/ANTLR for this.
//!
//! Bounded by construction: input length is capped by the caller, recursion depth by
//! [`MAX_DEPTH`], and every token consumed charges the [`Budget`].

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::{Expr, RelOp};

/// Deepest nesting of brackets/groups the parser accepts.
pub const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A number literal: digits and at most one '.', thousands separators already removed.
    Num(String),
    /// A single letter (variable) or a Unicode symbol letter.
    Letter(char),
    /// A multi-letter plain word.
    Word(String),
    /// A LaTeX command name without the backslash.
    Cmd(String),
    /// Punctuation / operator.
    Sym(char),
    /// `**`
    DStar,
    /// `\\` (matrix row separator)
    RowSep,
    /// Relation operator.
    Rel(RelOp),
    /// `\{` and `\}`
    LSet,
    RSet,
    /// `\pm` / `\mp`
    Pm,
    /// `\%` or `%`
    Percent,
    /// `^\circ`, `°`, `\degree`
    Degree,
}

/// Parses an answer into an expression tree.
pub fn parse(text: &str, budget: &mut Budget) -> Result<Expr> {
    let toks = lex(text, budget)?;
    if toks.is_empty() {
        return Err(Error::Empty);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        budget,
    };
    // A clock time `5:00`, `1:03 PM` is text, not the ratio 5/0.
    let is_time = p.toks.windows(3).any(|w| {
        matches!(w, [Tok::Num(_), Tok::Sym(':'), Tok::Num(m)] if m.len() == 2 && !m.contains('.'))
    });
    if is_time {
        let t = render(&p.toks);
        let t = t
            .strip_prefix('0')
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        return Ok(Expr::Text(
            t.map_or_else(|| render(&p.toks), str::to_string),
        ));
    }
    let has_words = p.toks.iter().any(|t| matches!(t, Tok::Word(_)));
    let words_text = has_words.then(|| render(&p.toks));
    let r = p.top().and_then(|e| {
        if p.pos < p.toks.len() {
            return Err(Error::Syntax {
                at: p.pos,
                reason: format!("unexpected {:?}", p.toks[p.pos]),
            });
        }
        Ok(e)
    });
    match (r, words_text) {
        // Text that is not math (`\text{1:03 PM}`, `\text{(P)}`): compare as normalised text.
        (Err(Error::Syntax { .. } | Error::Empty), Some(t)) => Ok(Expr::Text(t)),
        (r, _) => r,
    }
}

/// Lower-cased text of the tokens, for answers that are words rather than math.
fn render(toks: &[Tok]) -> String {
    let mut s = String::new();
    for t in toks {
        match t {
            Tok::Num(n) => s.push_str(n),
            Tok::Letter(c) => s.extend(c.to_lowercase()),
            Tok::Word(w) => {
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(&w.to_lowercase());
            }
            Tok::Sym(c) => s.push(*c),
            Tok::Cmd(c) => {
                s.push('\\');
                s.push_str(c);
            }
            other => s.push_str(&format!("{other:?}")),
        }
    }
    s
}

const TEXT_CMDS: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mbox",
    "operatorname",
    "mathbb",
    "mathcal",
    "boldsymbol",
    "bf",
    "rm",
    "hbox",
];

const SKIP_CMDS: &[&str] = &[
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "displaystyle",
    "textstyle",
    "quad",
    "qquad",
    "space",
    "limits",
    "nolimits",
    "mathop",
    ",",
    ";",
    ":",
    "!",
    " ",
    "$",
    "(",
    ")",
    "[",
    "]",
    "prime",
    "hfill",
    "nonumber",
    "dagger",
];

/// Two-letter plain words that are units, not products of two variables.
const SHORT_UNITS: &[&str] = &[
    "cm", "mm", "km", "ft", "in", "kg", "mg", "ml", "hr", "oz", "lb", "mi", "yd", "am", "pm", "th",
    "st", "nd", "rd", "or", "is", "of", "to", "at", "by", "mL", "cc",
];

/// Plain words with a mathematical meaning.
fn word_token(w: &str) -> Option<Tok> {
    Some(match w {
        "pi" => Tok::Cmd("pi".into()),
        "inf" | "infty" | "infinity" | "oo" => Tok::Cmd("infty".into()),
        "sqrt" | "exp" | "ln" | "log" | "sin" | "cos" | "tan" | "sec" | "csc" | "cot"
        | "arcsin" | "arccos" | "arctan" | "sinh" | "cosh" | "tanh" | "abs" => Tok::Cmd(w.into()),
        "and" | "or" => Tok::Sym(','),
        "U" => Tok::Cmd("cup".into()),
        _ => return None,
    })
}

fn lex(text: &str, budget: &mut Budget) -> Result<Vec<Tok>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    lex_into(&chars, 0, chars.len(), false, &mut out, budget, 0)?;
    Ok(out)
}

/// Index of the closing `}` for the `{` at `open` (char index), or an error.
fn close_brace(chars: &[(usize, char)], open: usize, end: usize) -> Result<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < end {
        match chars[i].1 {
            '\\' => {
                i += 2;
                continue;
            }
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(Error::Unbalanced { what: "braces" })
}

#[allow(clippy::too_many_lines)]
fn lex_into(
    chars: &[(usize, char)],
    mut i: usize,
    end: usize,
    text_mode: bool,
    out: &mut Vec<Tok>,
    budget: &mut Budget,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep { cap: MAX_DEPTH });
    }
    // Bracket depth inside this run, for the bare `1,000` thousands rule.
    let mut bracket_depth = 0i32;
    while i < end {
        budget.charge(1)?;
        let c = chars[i].1;
        match c {
            c if c.is_whitespace() || c == '$' || c == '~' => i += 1,
            '0'..='9' | '.' => {
                if c == '.' && !(i + 1 < end && chars[i + 1].1.is_ascii_digit()) {
                    // A sentence period or stray dot.
                    i += 1;
                    continue;
                }
                let (s, ni) = lex_number(chars, i, end, bracket_depth == 0);
                i = ni;
                out.push(Tok::Num(s));
            }
            'a'..='z' | 'A'..='Z' => {
                let st = i;
                while i < end && chars[i].1.is_ascii_alphabetic() {
                    i += 1;
                }
                let w: String = chars[st..i].iter().map(|x| x.1).collect();
                if let Some(t) = word_token(&w) {
                    out.push(t);
                } else if w.len() == 1 && !text_mode {
                    out.push(Tok::Letter(w.chars().next().unwrap_or('x')));
                } else if text_mode || w.len() >= 3 || SHORT_UNITS.contains(&w.as_str()) {
                    out.push(Tok::Word(w));
                } else {
                    // `xy` in math is a product of two variables.
                    out.extend(w.chars().map(Tok::Letter));
                }
            }
            '\\' => {
                i += 1;
                if i >= end {
                    break;
                }
                let st = i;
                if chars[i].1.is_ascii_alphabetic() {
                    while i < end && chars[i].1.is_ascii_alphabetic() {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
                let name: String = chars[st..i].iter().map(|x| x.1).collect();
                match name.as_str() {
                    "\\" => out.push(Tok::RowSep),
                    "{" => out.push(Tok::LSet),
                    "}" => out.push(Tok::RSet),
                    "%" => out.push(Tok::Percent),
                    "&" => out.push(Tok::Sym('&')),
                    "|" => out.push(Tok::Sym('|')),
                    "#" | "_" => {}
                    "pm" => out.push(Tok::Pm),
                    "mp" => out.push(Tok::Pm),
                    "le" | "leq" | "leqslant" | "leqq" => out.push(Tok::Rel(RelOp::Le)),
                    "ge" | "geq" | "geqslant" | "geqq" => out.push(Tok::Rel(RelOp::Ge)),
                    "lt" => out.push(Tok::Rel(RelOp::Lt)),
                    "gt" => out.push(Tok::Rel(RelOp::Gt)),
                    "ne" | "neq" => out.push(Tok::Rel(RelOp::Ne)),
                    "approx" | "in" | "equiv" | "coloneqq" => out.push(Tok::Rel(RelOp::Eq)),
                    "circ" | "degree" | "degrees" => out.push(Tok::Degree),
                    "dfrac" | "tfrac" | "cfrac" => out.push(Tok::Cmd("frac".into())),
                    "dbinom" | "tbinom" => out.push(Tok::Cmd("binom".into())),
                    "cdot" | "times" | "ast" => out.push(Tok::Sym('*')),
                    "div" => out.push(Tok::Sym('/')),
                    "colon" => out.push(Tok::Sym(':')),
                    "ldots" | "cdots" | "dots" | "dotsc" | "dotsb" => {
                        out.push(Tok::Cmd("dots".into()))
                    }
                    "infty" | "infin" => out.push(Tok::Cmd("infty".into())),
                    "emptyset" | "varnothing" => {
                        out.push(Tok::LSet);
                        out.push(Tok::RSet);
                    }
                    "land" | "wedge" | "text{and}" | "lor" | "vee" => out.push(Tok::Sym(',')),
                    "begin" | "end" => {
                        // `\begin{pmatrix}`: keep the environment name as one command.
                        let (env, ni) = brace_arg_text(chars, i, end)?;
                        i = ni;
                        let env = env.trim_end_matches('*').to_string();
                        if env == "array" && i < end && chars[i].1 == '{' {
                            // Skip the column spec `{cc}`.
                            i = close_brace(chars, i, end)? + 1;
                        }
                        out.push(Tok::Cmd(format!("{name}:{env}")));
                    }
                    n if SKIP_CMDS.contains(&n) => {
                        // `\left.` / `\right.`: the dot is an invisible delimiter.
                        if (n == "left" || n == "right") && i < end && chars[i].1 == '.' {
                            i += 1;
                        }
                    }
                    n if TEXT_CMDS.contains(&n) => {
                        // Skip spaces before the argument.
                        while i < end && chars[i].1 == ' ' {
                            i += 1;
                        }
                        if i < end && chars[i].1 == '{' {
                            let close = close_brace(chars, i, end)?;
                            // In `\text{…}` every letter run is a word (`\text{ m}` is a unit);
                            // math fonts (`\mathrm{e}`, `\mathbf{v}`) keep single letters.
                            let words = n.starts_with("text") || matches!(n, "mbox" | "hbox");
                            lex_into(chars, i + 1, close, words, out, budget, depth + 1)?;
                            i = close + 1;
                        }
                    }
                    _ => out.push(Tok::Cmd(name)),
                }
            }
            '{' => {
                // `{,}` thousands separator between digit groups.
                if i + 2 < end
                    && chars[i + 1].1 == ','
                    && chars[i + 2].1 == '}'
                    && matches!(out.last(), Some(Tok::Num(_)))
                {
                    i += 3;
                    if let Some(Tok::Num(prev)) = out.last_mut() {
                        let st = i;
                        while i < end && chars[i].1.is_ascii_digit() {
                            i += 1;
                        }
                        prev.extend(chars[st..i].iter().map(|x| x.1));
                    }
                    continue;
                }
                out.push(Tok::Sym('{'));
                i += 1;
            }
            '*' if i + 1 < end && chars[i + 1].1 == '*' => {
                out.push(Tok::DStar);
                i += 2;
            }
            '<' | '>' | '!' | '=' => {
                let next_eq = i + 1 < end && chars[i + 1].1 == '=';
                let t = match (c, next_eq) {
                    ('<', true) => Tok::Rel(RelOp::Le),
                    ('>', true) => Tok::Rel(RelOp::Ge),
                    ('!', true) => Tok::Rel(RelOp::Ne),
                    ('=', true) => Tok::Rel(RelOp::Eq),
                    ('<', false) => Tok::Rel(RelOp::Lt),
                    ('>', false) => Tok::Rel(RelOp::Gt),
                    ('=', false) => Tok::Rel(RelOp::Eq),
                    _ => Tok::Sym('!'),
                };
                i += if next_eq { 2 } else { 1 };
                out.push(t);
            }
            '%' => {
                out.push(Tok::Percent);
                i += 1;
            }
            '°' => {
                out.push(Tok::Degree);
                i += 1;
            }
            '≤' => {
                out.push(Tok::Rel(RelOp::Le));
                i += 1;
            }
            '≥' => {
                out.push(Tok::Rel(RelOp::Ge));
                i += 1;
            }
            '≠' => {
                out.push(Tok::Rel(RelOp::Ne));
                i += 1;
            }
            '±' => {
                out.push(Tok::Pm);
                i += 1;
            }
            '−' | '–' => {
                out.push(Tok::Sym('-'));
                i += 1;
            }
            '×' | '·' | '⋅' => {
                out.push(Tok::Sym('*'));
                i += 1;
            }
            '÷' => {
                out.push(Tok::Sym('/'));
                i += 1;
            }
            'π' => {
                out.push(Tok::Cmd("pi".into()));
                i += 1;
            }
            '∞' => {
                out.push(Tok::Cmd("infty".into()));
                i += 1;
            }
            '√' => {
                out.push(Tok::Cmd("sqrt".into()));
                i += 1;
            }
            '∪' => {
                out.push(Tok::Cmd("cup".into()));
                i += 1;
            }
            '(' | '[' => {
                bracket_depth += 1;
                out.push(Tok::Sym(c));
                i += 1;
            }
            ')' | ']' => {
                bracket_depth -= 1;
                out.push(Tok::Sym(c));
                i += 1;
            }
            '+' | '-' | '*' | '/' | '^' | '_' | '}' | ',' | '|' | '&' | ';' | ':' | '\'' => {
                out.push(Tok::Sym(c));
                i += 1;
            }
            c if c.is_alphabetic() => {
                // Greek and other letters written as Unicode.
                out.push(Tok::Letter(c));
                i += 1;
            }
            _ => {
                return Err(Error::Syntax {
                    at: chars[i].0,
                    reason: format!("unexpected character {c:?}"),
                });
            }
        }
    }
    Ok(())
}

/// Reads `{name}` starting at char `i` (after optional spaces); returns the text and next index.
fn brace_arg_text(chars: &[(usize, char)], mut i: usize, end: usize) -> Result<(String, usize)> {
    while i < end && chars[i].1 == ' ' {
        i += 1;
    }
    if i >= end || chars[i].1 != '{' {
        return Err(Error::Syntax {
            at: chars.get(i).map_or(0, |x| x.0),
            reason: "expected `{` after \\begin/\\end".into(),
        });
    }
    let close = close_brace(chars, i, end)?;
    Ok((chars[i + 1..close].iter().map(|x| x.1).collect(), close + 1))
}

/// Lexes a number at `i`: digits, one decimal point, thousands separators (`1,000` outside
/// brackets, `1\,000`, `1,\!000`), scientific `1.5e-3`.
fn lex_number(chars: &[(usize, char)], mut i: usize, end: usize, top: bool) -> (String, usize) {
    let mut s = String::new();
    let digit = |k: usize| k < end && chars[k].1.is_ascii_digit();
    while digit(i) {
        s.push(chars[i].1);
        i += 1;
    }
    // Thousands groups: exactly three digits after each separator.
    let first_len = s.len();
    if (1..=3).contains(&first_len) {
        loop {
            let sep_len = if i + 2 < end
                && chars[i].1 == ','
                && chars[i + 1].1 == '\\'
                && chars[i + 2].1 == '!'
            {
                3
            } else if top && i < end && chars[i].1 == ',' {
                1
            } else if i + 1 < end && chars[i].1 == '\\' && chars[i + 1].1 == ',' {
                2
            } else {
                0
            };
            if sep_len == 0 {
                break;
            }
            let g = i + sep_len;
            if digit(g) && digit(g + 1) && digit(g + 2) && !digit(g + 3) {
                s.extend(chars[g..g + 3].iter().map(|x| x.1));
                i = g + 3;
            } else {
                break;
            }
        }
    }
    if i < end && chars[i].1 == '.' && digit(i + 1) {
        s.push('.');
        i += 1;
        while digit(i) {
            s.push(chars[i].1);
            i += 1;
        }
    }
    // Repeating decimal `0.\overline{3}`, `0.1\overline{6}` (also `0.\overline{3}` written
    // with the point before the bar): encoded as `0.1r6`.
    let bar_at = if i < end && chars[i].1 == '.' && !s.contains('.') {
        i + 1
    } else {
        i
    };
    let bar: Vec<char> = "\\overline{".chars().collect();
    if bar_at + bar.len() < end
        && chars[bar_at..bar_at + bar.len()]
            .iter()
            .map(|x| x.1)
            .eq(bar.iter().copied())
    {
        let st = bar_at + bar.len();
        let mut k = st;
        while digit(k) {
            k += 1;
        }
        if k > st && k < end && chars[k].1 == '}' {
            if !s.contains('.') {
                s.push('.');
            }
            s.push('r');
            s.extend(chars[st..k].iter().map(|x| x.1));
            return (s, k + 1);
        }
    }
    // Scientific notation: `e`/`E`, optional sign, digits, and no letter right after.
    if i < end && (chars[i].1 == 'e' || chars[i].1 == 'E') && !s.is_empty() {
        let mut k = i + 1;
        if k < end && (chars[k].1 == '-' || chars[k].1 == '+') {
            k += 1;
        }
        if digit(k) {
            let mut j = k;
            while digit(j) {
                j += 1;
            }
            if !(j < end && chars[j].1.is_alphabetic()) && j - k <= 4 {
                s.push('e');
                for c in &chars[i + 1..j] {
                    s.push(c.1);
                }
                i = j;
            }
        }
    }
    if s.is_empty() {
        s.push('0');
    }
    (s, i)
}

/// Exact value of a number literal and its count of decimal digits.
pub fn number_value(s: &str) -> Option<(BigRational, Option<u32>)> {
    if let Some((head, rep)) = s.split_once('r') {
        // x = head + 0.00…(rep)(rep)… : the repeating block contributes rep / (10^k (10^r − 1)).
        let (h, _) = number_value(head)?;
        let k = head.split_once('.').map_or(0, |(_, f)| f.len());
        let r: BigInt = rep.parse().ok()?;
        let ten = BigInt::from(10);
        let den = num_traits::pow(ten.clone(), k) * (num_traits::pow(ten, rep.len()) - 1);
        return Some((h + BigRational::new(r, den), None));
    }
    let (mant, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = match mant.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mant, None),
    };
    let digits = format!("{int}{}", frac.unwrap_or(""));
    let n: BigInt = if digits.is_empty() {
        BigInt::zero()
    } else {
        digits.parse().ok()?
    };
    let scale = frac.map_or(0, |f| f.len() as i32) - exp;
    let ten = BigInt::from(10);
    let v = if scale >= 0 {
        let d = num_traits::pow(ten, scale as usize);
        let g = crate::number::gcd(&n, &d);
        if g.is_zero() {
            BigRational::zero()
        } else {
            BigRational::new_raw(n / &g, d / g)
        }
    } else {
        BigRational::from_integer(n * num_traits::pow(ten, (-scale) as usize))
    };
    let decimals = if exp == 0 {
        frac.map(|f| f.len() as u32)
    } else {
        None
    };
    Some((v, decimals))
}

struct Parser<'b> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    budget: &'b mut Budget,
}

fn syntax<T>(at: usize, reason: impl Into<String>) -> Result<T> {
    Err(Error::Syntax {
        at,
        reason: reason.into(),
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok) -> Result<()> {
        if self.eat(t) {
            Ok(())
        } else {
            syntax(self.pos, format!("expected {t:?}, found {:?}", self.peek()))
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        self.budget.charge(1)?;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep { cap: MAX_DEPTH });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// The whole answer: a comma list (a set) or a single item; words are dropped.
    fn top(&mut self) -> Result<Expr> {
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
    fn items(&mut self) -> Result<Vec<Expr>> {
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

    fn union(&mut self) -> Result<Expr> {
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

    fn relation(&mut self) -> Result<Expr> {
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

    fn sum(&mut self) -> Result<Expr> {
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

    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Letter(_) | Tok::LSet) => true,
            Some(Tok::Sym('(' | '{' | '[')) => true,
            Some(Tok::Cmd(c)) => !matches!(c.as_str(), "cup" | "dots") && !c.starts_with("end:"),
            _ => false,
        }
    }

    fn term(&mut self) -> Result<Expr> {
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

    fn unary(&mut self) -> Result<(Expr, Kind)> {
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

    fn power(&mut self) -> Result<(Expr, Kind)> {
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
    fn script(&mut self) -> Result<Expr> {
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

    fn postfix(&mut self) -> Result<(Expr, Kind)> {
        let (e, kind) = self.primary()?;
        let e2 = self.postfix_ops(e.clone())?;
        let kind = if e2 == e { kind } else { Kind::Other };
        Ok((e2, kind))
    }

    fn postfix_ops(&mut self, mut e: Expr) -> Result<Expr> {
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
    fn group(&mut self) -> Result<Expr> {
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
    fn arg(&mut self) -> Result<Expr> {
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
    fn primary(&mut self) -> Result<(Expr, Kind)> {
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

    fn command(&mut self, name: &str, at: usize) -> Result<(Expr, Kind)> {
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

    fn matrix(&mut self, begin: &str) -> Result<Expr> {
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
enum Kind {
    /// An integer literal.
    Int,
    /// `\frac{int}{int}` (for mixed numbers).
    IntFrac,
    Other,
}

fn finish_sum(acc: Option<Expr>, mut terms: Vec<Expr>) -> Expr {
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

fn is_int_lit(e: &Expr) -> bool {
    matches!(e, Expr::Num { value, decimals: None } if value.is_integer())
}

fn is_one(e: &Expr) -> bool {
    matches!(e, Expr::Num { value, .. } if value.is_one())
}

fn num_expr(s: &str, at: usize) -> Result<Expr> {
    match number_value(s) {
        Some((value, decimals)) => Ok(Expr::Num { value, decimals }),
        None => syntax(at, format!("bad number {s:?}")),
    }
}

/// `x_1` → variable `x_1`; `1011_2` → the integer in base 2.
fn subscript(base: Expr, sub: Expr, at: usize) -> Result<Expr> {
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

fn sub_name(e: &Expr) -> String {
    match e {
        Expr::Num { value, .. } => value.to_string(),
        Expr::Var(v) => v.clone(),
        other => format!("{other:?}"),
    }
}
