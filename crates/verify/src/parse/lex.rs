//! The lexer: LaTeX and plain text into tokens (commands, numbers with their separators,
//! letters and words, relations), skipping markup that never changes meaning.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::RelOp;

use super::MAX_DEPTH;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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

pub(super) const TEXT_CMDS: &[&str] = &[
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

pub(super) const SKIP_CMDS: &[&str] = &[
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
pub(super) const SHORT_UNITS: &[&str] = &[
    "cm", "mm", "km", "ft", "in", "kg", "mg", "ml", "hr", "oz", "lb", "mi", "yd", "am", "pm", "th",
    "st", "nd", "rd", "or", "is", "of", "to", "at", "by", "mL", "cc",
];

/// Plain words with a mathematical meaning.
pub(super) fn word_token(w: &str) -> Option<Tok> {
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

pub(super) fn lex(text: &str, budget: &mut Budget) -> Result<Vec<Tok>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    lex_into(&chars, 0, chars.len(), false, &mut out, budget, 0)?;
    Ok(out)
}

/// Index of the closing `}` for the `{` at `open` (char index), or an error.
pub(super) fn close_brace(chars: &[(usize, char)], open: usize, end: usize) -> Result<usize> {
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
pub(super) fn lex_into(
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
pub(super) fn brace_arg_text(
    chars: &[(usize, char)],
    mut i: usize,
    end: usize,
) -> Result<(String, usize)> {
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

/// Length of a thousands separator at `i`: a comma followed by LaTeX spacing (`,\!`, `,\,`,
/// `,\ `, with plain spaces around them: `4,\! 096`), a thin space alone (`1\,000`, `1\;000`), or
/// a bare comma outside brackets (`top`); 0 if there is none. A comma followed by plain spaces
/// only (`4, 096`) is a list separator, not this.
fn separator_len(chars: &[(usize, char)], i: usize, end: usize, top: bool) -> usize {
    let at = |k: usize| (k < end).then(|| chars[k].1);
    let spacing =
        |k: usize| at(k) == Some('\\') && matches!(at(k + 1), Some('!' | ',' | ';' | ':' | ' '));
    let (mut k, mut latex) = match at(i) {
        Some(',') => (i + 1, false),
        Some('\\') if spacing(i) && at(i + 1) != Some('!') => (i + 2, true),
        _ => return 0,
    };
    loop {
        if spacing(k) {
            k += 2;
            latex = true;
        } else if at(k) == Some(' ') && latex {
            k += 1;
        } else {
            break;
        }
    }
    if latex {
        k - i
    } else if top {
        1
    } else {
        0
    }
}

/// Lexes a number at `i`: digits, one decimal point, thousands separators (`1,000` outside
/// brackets, `1\,000`, `1,\!000`, `4,\! 096`), scientific `1.5e-3`.
pub(super) fn lex_number(
    chars: &[(usize, char)],
    mut i: usize,
    end: usize,
    top: bool,
) -> (String, usize) {
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
            let sep_len = separator_len(chars, i, end, top);
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
