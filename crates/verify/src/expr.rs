//! The expression tree produced by the parser.

use num_rational::BigRational;

/// A relation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelOp {
    /// `=` (also `\approx`, `\in` for a lone variable)
    Eq,
    /// `\ne`
    Ne,
    /// `<`
    Lt,
    /// `\le`
    Le,
    /// `>`
    Gt,
    /// `\ge`
    Ge,
}

/// A parsed answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// An exact number; `decimals` is `Some(d)` when written as a decimal with `d` digits after
    /// the point (used for the rounded-reference tolerance).
    Num {
        /// the exact value
        value: BigRational,
        /// digits after the decimal point as written
        decimals: Option<u32>,
    },
    /// An integer written in another base, e.g. `1011_2`: the digits as written and the value.
    Based {
        /// the digits as written
        digits: String,
        /// the base
        base: u32,
        /// the value
        value: BigRational,
    },
    /// A variable (letters, Greek commands, subscripts: `x`, `\theta`, `a_1`).
    Var(String),
    /// π
    Pi,
    /// Euler's number
    E,
    /// The imaginary unit
    I,
    /// ∞
    Inf,
    /// A sum of terms.
    Add(Vec<Expr>),
    /// Negation.
    Neg(Box<Expr>),
    /// A product of factors.
    Mul(Vec<Expr>),
    /// A quotient.
    Div(Box<Expr>, Box<Expr>),
    /// A power (roots are powers with a fractional exponent).
    Pow(Box<Expr>, Box<Expr>),
    /// `n!`
    Fact(Box<Expr>),
    /// A named function applied to arguments (`sin`, `log`, `log_2`, `binom`, `abs`, …).
    Func(String, Vec<Expr>),
    /// `x\%`
    Percent(Box<Expr>),
    /// `a \pm b` (the set {a+b, a−b}).
    PlusMinus(Box<Expr>, Box<Expr>),
    /// A relation chain `e0 op0 e1 op1 e2 …`.
    Rel(Vec<Expr>, Vec<RelOp>),
    /// A bracketed sequence: tuple, point or interval, with its brackets.
    Seq {
        /// `(` or `[`
        open: char,
        /// `)` or `]`
        close: char,
        /// the items
        items: Vec<Expr>,
    },
    /// An unordered collection: `\{…\}` or a bare comma list.
    Set(Vec<Expr>),
    /// A union of sets/intervals (`\cup`).
    Union(Vec<Expr>),
    /// A matrix, row-major.
    Matrix(Vec<Vec<Expr>>),
    /// Plain words (`\text{odd}`, `no solution`), lower-cased and space-joined.
    Text(String),
    /// A multiple-choice letter.
    Choice(char),
}

impl Expr {
    /// A number from a rational.
    pub fn num(value: BigRational) -> Expr {
        Expr::Num {
            value,
            decimals: None,
        }
    }

    /// Whether a `%` occurs anywhere in the tree.
    pub fn has_percent(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e, Expr::Percent(_)));
        found
    }

    /// Calls `f` on every node, depth first.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Neg(a) | Expr::Fact(a) | Expr::Percent(a) => a.visit(f),
            Expr::Div(a, b) | Expr::Pow(a, b) | Expr::PlusMinus(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Add(v)
            | Expr::Mul(v)
            | Expr::Func(_, v)
            | Expr::Rel(v, _)
            | Expr::Set(v)
            | Expr::Union(v)
            | Expr::Seq { items: v, .. } => v.iter().for_each(|e| e.visit(f)),
            Expr::Matrix(rows) => rows.iter().flatten().for_each(|e| e.visit(f)),
            _ => {}
        }
    }
}
