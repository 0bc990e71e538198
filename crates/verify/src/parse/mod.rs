//! Lexer and recursive-descent parser for LaTeX and plain-text math answers.
//!
//! Written by hand because no Rust crate parses the loose LaTeX that models and datasets write
//! (`\frac12`, `\dfrac`, `3\sqrt{13}`, `\text{ cm}`, `1{,}000`, `x \in [2, 5)`, `pi/2`, `**`)
//! into an expression tree; Python graders rely on sympy/ANTLR for this.
//!
//! Bounded by construction: input length is capped by the caller, recursion depth by
//! [`MAX_DEPTH`], and every token consumed charges the [`Budget`].

mod lex;
mod parser;

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::Expr;

use lex::{Tok, lex};
use parser::Parser;

/// Deepest nesting of brackets/groups the parser accepts.
pub const MAX_DEPTH: usize = 256;

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
