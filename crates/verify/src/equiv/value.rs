//! Values: the evaluated, comparable form of an answer (scalars, tuples, sets, unions,
//! matrices, relations, text), with `\pm` expanded into sets.

use crate::error::{Error, Result};
use crate::expr::{Expr, RelOp};

use super::canon::{Ctx, Poly, to_poly};

/// Most `\pm` signs expanded in one answer.
pub(super) const MAX_PM: usize = 4;

#[derive(Debug, Clone)]
pub(super) struct Scalar {
    pub(super) poly: Poly,
    pub(super) expr: Expr,
}

#[derive(Debug, Clone)]
pub(super) enum Value {
    Scalar(Scalar),
    Seq {
        open: char,
        close: char,
        items: Vec<Value>,
    },
    Set(Vec<Value>),
    Union(Vec<Value>),
    Matrix(Vec<Vec<Value>>),
    Rel {
        sides: Vec<Scalar>,
        ops: Vec<RelOp>,
    },
    Text(String),
    Choice(char),
    /// An answer that equals nothing (an equation chain with a false link).
    Invalid,
}

pub(super) fn count_pm(e: &Expr) -> usize {
    let mut n = 0;
    e.visit(&mut |x| n += usize::from(matches!(x, Expr::PlusMinus(..))));
    n
}

/// Replaces the `\pm` signs by + or − according to the bits of `mask`.
pub(super) fn choose_pm(e: &Expr, mask: u32, idx: &mut u32) -> Expr {
    let rec = |x: &Expr, idx: &mut u32| Box::new(choose_pm(x, mask, idx));
    match e {
        Expr::PlusMinus(a, b) => {
            let bit = (mask >> *idx) & 1;
            *idx += 1;
            let a = choose_pm(a, mask, idx);
            let b = choose_pm(b, mask, idx);
            if bit == 0 {
                Expr::Add(vec![a, b])
            } else {
                Expr::Add(vec![a, Expr::Neg(Box::new(b))])
            }
        }
        Expr::Neg(a) => Expr::Neg(rec(a, idx)),
        Expr::Fact(a) => Expr::Fact(rec(a, idx)),
        Expr::Percent(a) => Expr::Percent(rec(a, idx)),
        Expr::Div(a, b) => {
            let a = rec(a, idx);
            Expr::Div(a, rec(b, idx))
        }
        Expr::Pow(a, b) => {
            let a = rec(a, idx);
            Expr::Pow(a, rec(b, idx))
        }
        Expr::Add(v) => Expr::Add(v.iter().map(|x| choose_pm(x, mask, idx)).collect()),
        Expr::Mul(v) => Expr::Mul(v.iter().map(|x| choose_pm(x, mask, idx)).collect()),
        Expr::Func(n, v) => Expr::Func(
            n.clone(),
            v.iter().map(|x| choose_pm(x, mask, idx)).collect(),
        ),
        other => other.clone(),
    }
}

pub(super) fn scalar(e: &Expr, cx: &mut Ctx<'_>) -> Result<Scalar> {
    Ok(Scalar {
        poly: to_poly(e, cx)?,
        expr: e.clone(),
    })
}

pub(super) fn to_value(e: &Expr, cx: &mut Ctx<'_>) -> Result<Value> {
    cx.budget.charge(1)?;
    let many = |items: &[Expr], cx: &mut Ctx<'_>| -> Result<Vec<Value>> {
        items.iter().map(|x| to_value(x, cx)).collect()
    };
    Ok(match e {
        Expr::Seq { open, close, items } => Value::Seq {
            open: *open,
            close: *close,
            items: many(items, cx)?,
        },
        Expr::Set(items) => {
            // Flatten nested ± sets inside a list: `1 \pm \sqrt2, 3`.
            let mut out = Vec::new();
            for v in many(items, cx)? {
                match v {
                    Value::Set(inner) if inner.len() > 1 => out.extend(inner),
                    v => out.push(v),
                }
            }
            Value::Set(out)
        }
        Expr::Union(parts) => {
            let parts = many(parts, cx)?;
            // A union of finite sets is one finite set: `\{2,5\} \cup \{7\}` = `\{2,5,7\}`.
            if parts.iter().all(|p| matches!(p, Value::Set(_))) {
                let mut out: Vec<Value> = Vec::new();
                for p in parts {
                    let Value::Set(items) = p else { continue };
                    for it in items {
                        cx.budget.charge(out.len() as u64 + 1)?;
                        let dup = matches!(&it, Value::Scalar(a)
                            if out.iter().any(|o| matches!(o, Value::Scalar(b) if b.poly == a.poly)));
                        if !dup {
                            out.push(it);
                        }
                    }
                }
                Value::Set(out)
            } else {
                Value::Union(parts)
            }
        }
        Expr::Matrix(rows) => Value::Matrix(
            rows.iter()
                .map(|r| many(r, cx))
                .collect::<Result<Vec<_>>>()?,
        ),
        // `x \in [2, 5)`, `x = 1, 2` style: a lone variable equal to a non-number.
        Expr::Rel(sides, ops)
            if sides.len() == 2
                && ops[0] == RelOp::Eq
                && matches!(sides[0], Expr::Var(_))
                && (count_pm(&sides[1]) > 0
                    || matches!(
                        sides[1],
                        Expr::Seq { .. } | Expr::Set(_) | Expr::Union(_) | Expr::Matrix(_)
                    )) =>
        {
            to_value(&sides[1], cx)?
        }
        // A labelled tuple `(a, b) = (4, 1)`: the tuple of names labels the value on the right
        // (a tuple, or a set of tuples of the same length).
        Expr::Rel(sides, ops)
            if sides.len() == 2 && ops[0] == RelOp::Eq && labels(&sides[0], &sides[1]) =>
        {
            to_value(&sides[1], cx)?
        }
        Expr::Rel(sides, ops) => {
            let mut ss = Vec::with_capacity(sides.len());
            for s in sides {
                ss.push(scalar(s, cx)?);
            }
            Value::Rel {
                sides: ss,
                ops: ops.clone(),
            }
        }
        Expr::Text(t) => Value::Text(t.clone()),
        Expr::Choice(c) => Value::Choice(*c),
        other => {
            let n = count_pm(other);
            if n == 0 {
                Value::Scalar(scalar(other, cx)?)
            } else if n > MAX_PM {
                return Err(Error::Syntax {
                    at: 0,
                    reason: format!("more than {MAX_PM} ± signs"),
                });
            } else {
                let mut vs = Vec::new();
                for mask in 0..(1u32 << n) {
                    let mut idx = 0;
                    let x = choose_pm(other, mask, &mut idx);
                    vs.push(Value::Scalar(scalar(&x, cx)?));
                }
                Value::Set(vs)
            }
        }
    })
}

/// Whether `left` is a tuple of distinct names (`(a, b)`, `(m, n)`) labelling `right`, a tuple
/// of the same length or a set or union of such tuples.
fn labels(left: &Expr, right: &Expr) -> bool {
    let Expr::Seq { items: names, .. } = left else {
        return false;
    };
    let all_names = names.iter().all(|n| matches!(n, Expr::Var(_)))
        && names
            .iter()
            .enumerate()
            .all(|(i, n)| !names[..i].contains(n));
    let fits = |e: &Expr| matches!(e, Expr::Seq { items, .. } if items.len() == names.len());
    all_names
        && names.len() >= 2
        && match right {
            Expr::Set(v) | Expr::Union(v) => !v.is_empty() && v.iter().all(fits),
            e => fits(e),
        }
}
