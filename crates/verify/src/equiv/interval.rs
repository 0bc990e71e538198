//! Inequalities, intervals and unions read as sets of intervals.

use num_rational::BigRational;
use num_traits::{One, Signed};

use crate::budget::Budget;
use crate::error::Result;
use crate::expr::RelOp;

use super::canon::{Atom, Poly};
use super::compare::answer_name;
use super::value::{Scalar, Value};

type Q = BigRational;

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
/// The budget pays for solving inequalities; running out reads as "not intervals".
pub(super) fn intervals(v: &Value, b: &mut Budget) -> Option<Vec<Interval>> {
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
                out.extend(intervals(p, b)?);
            }
            Some(out)
        }
        Value::Rel { sides, ops } => rel_intervals(sides, ops, b).ok().flatten(),
        _ => None,
    }
}

/// A bound on `|u|`: its value and whether it is included.
type End = Option<(Q, bool)>;

/// One bound on the subject of an inequality: `subject op bound`.
type Bound = (RelOp, Poly);

/// The solution set of an inequality (chain) in one unknown, as intervals.
///
/// The unknown is the one side with variables (every other side constant), or for a single
/// relation with variables on both sides their difference against 0. That subject is solved
/// when it is linear in one variable (`-2x > -4` is `x < 2`: dividing by a negative factor
/// flips the relation), or `k·|u| + d` with `u` linear (`2 \le |w| \le 5` is
/// `[-5,-2] ∪ [2,5]`); a name (`g(t)`, `|PQ|`, see [`answer_name`]) is taken as it is, so
/// `-1 < g(t) < 2` is `(-1, 2)`.
fn rel_intervals(sides: &[Scalar], ops: &[RelOp], b: &mut Budget) -> Result<Option<Vec<Interval>>> {
    if ops.iter().any(|o| matches!(o, RelOp::Eq | RelOp::Ne)) {
        return Ok(None);
    }
    let varying: Vec<usize> = (0..sides.len())
        .filter(|&i| sides[i].poly.has_vars())
        .collect();
    let (subject, bounds, named): (Poly, Vec<Bound>, bool) = match varying.as_slice() {
        [vi] => {
            let vi = *vi;
            let mut bounds = Vec::new();
            // Each op relates sides[k] and sides[k+1]; only those touching the unknown bound it.
            for (k, op) in ops.iter().enumerate() {
                if k == vi {
                    bounds.push((*op, sides[k + 1].poly.clone()));
                } else if k + 1 == vi {
                    bounds.push((flip(*op), sides[k].poly.clone()));
                }
            }
            let p = sides[vi].poly.clone();
            let named = answer_name(&p);
            (p, bounds, named)
        }
        [0, 1] if ops.len() == 1 => {
            let d = sides[0].poly.add(&sides[1].poly.neg(), b)?;
            (d, vec![(ops[0], Poly::default())], false)
        }
        _ => return Ok(None),
    };
    if let Some((c, d)) = linear(&subject) {
        return Ok(Some(vec![solve_linear(&bounds, &c, &d, b)?]));
    }
    if let Some((k, u, d)) = abs_form(&subject) {
        return abs_intervals(&bounds, &k, &u, &d, b);
    }
    if named {
        return Ok(Some(vec![solve_linear(
            &bounds,
            &Q::one(),
            &Poly::default(),
            b,
        )?]));
    }
    Ok(None)
}

/// `subject = c·v + d` with `v` one variable, `c` a non-zero rational and `d` constant.
fn linear(p: &Poly) -> Option<(Q, Poly)> {
    let mut coef = None;
    let mut rest = Poly::default();
    for (m, c) in &p.terms {
        match m.as_slice() {
            [(Atom::Var(_), e)] if e.is_one() => {
                if coef.is_some() {
                    return None;
                }
                coef = Some(c.clone());
            }
            _ => rest.add_term(m.clone(), c.clone()),
        }
    }
    if rest.has_vars() {
        return None;
    }
    coef.map(|c| (c, rest))
}

/// `subject = k·|u| + d` with `k > 0` rational, `u` linear in one variable and `d` constant.
fn abs_form(p: &Poly) -> Option<(Q, Poly, Poly)> {
    let mut found = None;
    let mut rest = Poly::default();
    for (m, c) in &p.terms {
        match m.as_slice() {
            [(Atom::Func(f, args), e)] if f == "abs" && e.is_one() && args.len() == 1 => {
                if found.is_some() || !c.is_positive() {
                    return None;
                }
                found = Some((c.clone(), args[0].clone()));
            }
            _ => rest.add_term(m.clone(), c.clone()),
        }
    }
    let (k, u) = found?;
    (!rest.has_vars() && linear(&u).is_some()).then_some((k, u, rest))
}

/// `(bound - d) / c`, with ±∞ kept as ±∞ (sign flipped when `c < 0`).
fn transform(bound: &Poly, c: &Q, d: &Poly, b: &mut Budget) -> Result<Poly> {
    if let Some(pos) = is_inf(bound) {
        return Ok(inf_poly(pos == c.is_positive()));
    }
    Ok(bound.add(&d.neg(), b)?.scale(&c.recip()))
}

/// The interval of `v` where `c·v + d op bound` holds for every bound.
fn solve_linear(bounds: &[Bound], c: &Q, d: &Poly, b: &mut Budget) -> Result<Interval> {
    let mut iv = Interval {
        lo: inf_poly(false),
        lo_closed: false,
        hi: inf_poly(true),
        hi_closed: false,
    };
    for (op, bound) in bounds {
        let nb = transform(bound, c, d, b)?;
        let op = if c.is_negative() { flip(*op) } else { *op };
        match op {
            RelOp::Lt | RelOp::Le => {
                iv.hi = nb;
                iv.hi_closed = op == RelOp::Le;
            }
            _ => {
                iv.lo = nb;
                iv.lo_closed = op == RelOp::Ge;
            }
        }
    }
    Ok(iv)
}

/// The intervals of `v` where `k·|u| + d op bound` holds for every bound, `u = c·v + e`; only
/// for rational bounds (their signs decide the shape), and `None` for an empty or one-point set.
fn abs_intervals(
    bounds: &[Bound],
    k: &Q,
    u: &Poly,
    d: &Poly,
    b: &mut Budget,
) -> Result<Option<Vec<Interval>>> {
    // Bounds on t = |u|: lo (value, closed) and hi (value, closed).
    let (mut lo, mut hi): (End, End) = (None, None);
    for (op, bound) in bounds {
        let Some(t) = transform(bound, k, d, b)?.as_constant() else {
            return Ok(None);
        };
        match op {
            RelOp::Lt | RelOp::Le => hi = Some((t, *op == RelOp::Le)),
            _ => lo = Some((t, *op == RelOp::Ge)),
        }
    }
    let zero = Q::from_integer(0.into());
    if let Some((h, closed)) = &hi
        && (h.is_negative() || (*h == zero && !closed) || (*h == zero && *closed))
    {
        return Ok(None);
    }
    // Whether t = |u| may be as small as 0 (then the two pieces meet around u = 0).
    let from_zero = match &lo {
        None => true,
        Some((l, closed)) => l.is_negative() || (*l == zero && *closed),
    };
    if let (Some((l, _)), Some((h, _))) = (&lo, &hi)
        && l >= h
    {
        return Ok(None);
    }
    let q = |v: &Q| Poly::constant(v.clone());
    let mut pieces: Vec<Interval> = Vec::new();
    match (&lo, &hi, from_zero) {
        (_, Some((h, hc)), true) => pieces.push(Interval {
            lo: q(&-h.clone()),
            lo_closed: *hc,
            hi: q(h),
            hi_closed: *hc,
        }),
        (_, None, true) => pieces.push(Interval {
            lo: inf_poly(false),
            lo_closed: false,
            hi: inf_poly(true),
            hi_closed: false,
        }),
        (Some((l, lc)), hi, false) => {
            let (hp, hn, hc) = match hi {
                Some((h, hc)) => (q(h), q(&-h.clone()), *hc),
                None => (inf_poly(true), inf_poly(false), false),
            };
            pieces.push(Interval {
                lo: hn,
                lo_closed: hc,
                hi: q(&-l.clone()),
                hi_closed: *lc,
            });
            pieces.push(Interval {
                lo: q(l),
                lo_closed: *lc,
                hi: hp,
                hi_closed: hc,
            });
        }
        (None, _, false) => return Ok(None),
    }
    // Back from u to v: u = c·v + e.
    let Some((c, e)) = linear(u) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(pieces.len());
    for iv in pieces {
        let (lo, hi) = (transform(&iv.lo, &c, &e, b)?, transform(&iv.hi, &c, &e, b)?);
        out.push(if c.is_negative() {
            Interval {
                lo: hi,
                lo_closed: iv.hi_closed,
                hi: lo,
                hi_closed: iv.lo_closed,
            }
        } else {
            Interval {
                lo,
                lo_closed: iv.lo_closed,
                hi,
                hi_closed: iv.hi_closed,
            }
        });
    }
    Ok(Some(out))
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
