//! Inequalities, intervals and unions read as sets of intervals.

use num_traits::{One, Signed};

use crate::expr::RelOp;

use super::canon::{Atom, Poly};
use super::compare::lone_var;
use super::value::{Scalar, Value};

pub(super) fn is_inf(p: &Poly) -> Option<bool> {
    if p.terms.len() != 1 {
        return None;
    }
    let (m, c) = p.terms.iter().next()?;
    match m.as_slice() {
        [(Atom::Inf, e)] if e.is_one() => Some(c.is_positive()),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub(super) struct Interval {
    pub(super) lo: Poly,
    pub(super) lo_closed: bool,
    pub(super) hi: Poly,
    pub(super) hi_closed: bool,
}

pub(super) fn inf_poly(positive: bool) -> Poly {
    let p = Poly::atom(Atom::Inf);
    if positive { p } else { p.neg() }
}

/// The value as a union of intervals, if it is one (interval, union, inequality, list of them).
pub(super) fn intervals(v: &Value) -> Option<Vec<Interval>> {
    match v {
        Value::Seq { open, close, items } if items.len() == 2 => {
            let (Value::Scalar(a), Value::Scalar(b)) = (&items[0], &items[1]) else {
                return None;
            };
            Some(vec![Interval {
                lo: a.poly.clone(),
                lo_closed: *open == '[',
                hi: b.poly.clone(),
                hi_closed: *close == ']',
            }])
        }
        Value::Union(parts) | Value::Set(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(intervals(p)?);
            }
            Some(out)
        }
        Value::Rel { sides, ops } => rel_intervals(sides, ops),
        _ => None,
    }
}

pub(super) fn rel_intervals(sides: &[Scalar], ops: &[RelOp]) -> Option<Vec<Interval>> {
    let var_idx: Vec<usize> = (0..sides.len())
        .filter(|&i| lone_var(&sides[i].poly).is_some())
        .collect();
    if var_idx.len() != 1 || ops.iter().any(|o| matches!(o, RelOp::Eq | RelOp::Ne)) {
        return None;
    }
    let vi = var_idx[0];
    if sides
        .iter()
        .enumerate()
        .any(|(i, s)| i != vi && s.poly.has_vars())
    {
        return None;
    }
    let mut iv = Interval {
        lo: inf_poly(false),
        lo_closed: false,
        hi: inf_poly(true),
        hi_closed: false,
    };
    // Each op relates sides[k] and sides[k+1]; only those touching the variable bound it.
    for (k, op) in ops.iter().enumerate() {
        let (bound, var_on_left) = if k == vi {
            (&sides[k + 1], true)
        } else if k + 1 == vi {
            (&sides[k], false)
        } else {
            continue;
        };
        // Normalise to `x op bound`.
        let op = if var_on_left { *op } else { flip(*op) };
        match op {
            RelOp::Lt | RelOp::Le => {
                iv.hi = bound.poly.clone();
                iv.hi_closed = op == RelOp::Le;
            }
            RelOp::Gt | RelOp::Ge => {
                iv.lo = bound.poly.clone();
                iv.lo_closed = op == RelOp::Ge;
            }
            _ => return None,
        }
    }
    Some(vec![iv])
}

pub(super) fn flip(op: RelOp) -> RelOp {
    match op {
        RelOp::Lt => RelOp::Gt,
        RelOp::Le => RelOp::Ge,
        RelOp::Gt => RelOp::Lt,
        RelOp::Ge => RelOp::Le,
        o => o,
    }
}
