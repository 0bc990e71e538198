//! Comparing two values: scalars exactly (with the rounded-reference tolerance and the numeric
//! fallback), tuples element-wise, sets order-free, equations up to a factor, and relations as
//! unions of intervals.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};

use crate::MathOptions;
use crate::budget::Budget;
use crate::error::Result;
use crate::expr::{Expr, RelOp};

use super::canon::{Atom, PercentMode, Poly};
use super::interval::{Interval, intervals, is_inf};
use super::numeric::{close, num_eval};
use super::value::{Scalar, Value};

type Q = BigRational;

/// How the two sides are compared.
pub(super) struct Cmp<'o, 'b> {
    pub(super) opts: &'o MathOptions,
    pub(super) budget: &'b mut Budget,
    pub(super) percent: PercentMode,
}

impl Cmp<'_, '_> {
    pub(super) fn scalar_eq(&mut self, g: &Scalar, p: &Scalar) -> Result<bool> {
        self.budget.charge(1)?;
        // A reference in base b ≠ 10 matches its digits written without the subscript (models
        // often drop it), but not the decimal value: `11` for `1011_2` reads as eleven in base 2.
        if let (
            Expr::Based { digits, base, .. },
            Expr::Num {
                value,
                decimals: None,
            },
        ) = (&g.expr, &p.expr)
            && *base != 10
            && value.is_integer()
        {
            return Ok(value.numer().to_string() == *digits);
        }
        if g.poly == p.poly {
            return Ok(true);
        }
        // Tolerance only where the reference is itself a rounded decimal.
        if self.opts.rounded_reference
            && let Some(d) = lone_decimals(&g.expr)
            && looks_rounded(&g.poly, d)
            && !is_decimal_literal(&p.expr)
            && !p.poly.has_vars()
            && let Some(gv) = g.poly.as_constant()
        {
            let pv = num_eval(&p.expr, 0, self.percent, self.budget)?;
            let gv = gv.to_f64().unwrap_or(f64::NAN);
            let half_ulp = 0.5 * 10f64.powi(-(d as i32));
            if pv.im.abs() < 1e-12 && (pv.re - gv).abs() <= half_ulp * (1.0 + 1e-9) {
                return Ok(true);
            }
        }
        if g.poly.has_opaque() || p.poly.has_opaque() {
            for seed in 1..=3u64 {
                let a = num_eval(&g.expr, seed, self.percent, self.budget)?;
                let b = num_eval(&p.expr, seed, self.percent, self.budget)?;
                if !close(a, b) {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn eq(&mut self, g: &Value, p: &Value) -> Result<bool> {
        self.budget.charge(1)?;
        match (g, p) {
            (Value::Scalar(a), Value::Scalar(b)) => return self.scalar_eq(a, b),
            (Value::Rel { .. }, Value::Rel { .. }) => return self.rel_eq(g, p),
            (Value::Rel { .. }, _) if lone_var_rhs(g).is_some() => {
                let rhs =
                    Value::Scalar(lone_var_rhs(g).cloned().unwrap_or_else(unreachable_scalar));
                return self.eq(&rhs, p);
            }
            (_, Value::Rel { .. }) if lone_var_rhs(p).is_some() => {
                let rhs =
                    Value::Scalar(lone_var_rhs(p).cloned().unwrap_or_else(unreachable_scalar));
                return self.eq(g, &rhs);
            }
            (
                Value::Seq {
                    open: go,
                    close: gc,
                    items: gi,
                },
                Value::Seq {
                    open: po,
                    close: pc,
                    items: pi,
                },
            ) => {
                if gi.len() != pi.len() || (self.opts.strict_brackets && (go != po || gc != pc)) {
                    return Ok(false);
                }
                for (a, b) in gi.iter().zip(pi) {
                    if !self.eq(a, b)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            (Value::Set(a), Value::Set(b)) | (Value::Union(a), Value::Union(b))
                if a.len() == b.len() && self.multiset_eq(a, b)? =>
            {
                return Ok(true);
            }
            // A solved system `x = 2, y = 3` equals the point `(2, 3)` in the written order.
            (Value::Set(eqs), Value::Seq { items, .. })
            | (Value::Seq { items, .. }, Value::Set(eqs))
                if eqs.len() == items.len()
                    && eqs.len() > 1
                    && eqs.iter().all(|e| lone_var_rhs(e).is_some()) =>
            {
                for (e, it) in eqs.iter().zip(items) {
                    let rhs =
                        Value::Scalar(lone_var_rhs(e).cloned().unwrap_or_else(unreachable_scalar));
                    if !self.eq(&rhs, it)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            (Value::Set(a), b) if a.len() == 1 && !matches!(b, Value::Set(_)) => {
                return self.eq(&a[0], b);
            }
            (a, Value::Set(b)) if b.len() == 1 && !matches!(a, Value::Set(_)) => {
                return self.eq(a, &b[0]);
            }
            (Value::Matrix(a), Value::Matrix(b)) => {
                if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
                    return Ok(false);
                }
                for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
                    if !self.eq(x, y)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            (Value::Text(a), Value::Text(b)) => return Ok(a == b),
            (Value::Choice(a), Value::Choice(b)) => return Ok(a == b),
            _ => {}
        }
        // Inequalities, intervals and unions compared as sets of intervals.
        let relational = |v: &Value| match v {
            Value::Rel { .. } | Value::Union(_) => true,
            Value::Set(items) => items.iter().any(|x| matches!(x, Value::Rel { .. })),
            _ => false,
        };
        let (gr, pr) = (relational(g), relational(p));
        if (gr || pr)
            && (self.opts.relation_interval || gr == pr)
            && let (Some(a), Some(b)) = (intervals(g), intervals(p))
            && a.len() == b.len()
        {
            return self.intervals_eq(&a, &b);
        }
        Ok(false)
    }

    pub(super) fn multiset_eq(&mut self, a: &[Value], b: &[Value]) -> Result<bool> {
        let mut used = vec![false; b.len()];
        'outer: for x in a {
            for (j, y) in b.iter().enumerate() {
                if !used[j] && self.eq(x, y)? {
                    used[j] = true;
                    continue 'outer;
                }
            }
            return Ok(false);
        }
        Ok(true)
    }

    pub(super) fn rel_eq(&mut self, g: &Value, p: &Value) -> Result<bool> {
        let (Value::Rel { sides: gs, ops: go }, Value::Rel { sides: ps, ops: po }) = (g, p) else {
            return Ok(false);
        };
        // Equations (and `≠`): lhs − rhs equal up to a non-zero factor.
        if go.len() == 1
            && po.len() == 1
            && go[0] == po[0]
            && matches!(go[0], RelOp::Eq | RelOp::Ne)
        {
            let dg = gs[0].poly.add(&gs[1].poly.neg(), self.budget)?;
            let dp = ps[0].poly.add(&ps[1].poly.neg(), self.budget)?;
            if dg.monic().1 == dp.monic().1 {
                return Ok(true);
            }
            // `x = 5` vs `x = 5.0`-style: compare right-hand sides of lone-variable equations.
            if let (Some(a), Some(b)) = (lone_var_rhs(g), lone_var_rhs(p))
                && gs[0].poly == ps[0].poly
            {
                return self.scalar_eq(a, b);
            }
            return Ok(false);
        }
        if let (Some(a), Some(b)) = (intervals(g), intervals(p)) {
            return self.intervals_eq(&a, &b);
        }
        if go == po && gs.len() == ps.len() {
            for (a, b) in gs.iter().zip(ps) {
                if !self.scalar_eq(a, b)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn intervals_eq(&mut self, a: &[Interval], b: &[Interval]) -> Result<bool> {
        if a.len() != b.len() {
            return Ok(false);
        }
        let mut used = vec![false; b.len()];
        'outer: for x in a {
            for (j, y) in b.iter().enumerate() {
                if used[j] {
                    continue;
                }
                let ends = |s: &mut Self, p: &Poly, q: &Poly, pc: bool, qc: bool| -> Result<bool> {
                    let inf = is_inf(p);
                    if inf != is_inf(q) {
                        return Ok(false);
                    }
                    if inf.is_some() {
                        return Ok(true);
                    }
                    if s.opts.strict_brackets && pc != qc {
                        return Ok(false);
                    }
                    s.scalar_eq(&poly_scalar(p), &poly_scalar(q))
                };
                if ends(self, &x.lo, &y.lo, x.lo_closed, y.lo_closed)?
                    && ends(self, &x.hi, &y.hi, x.hi_closed, y.hi_closed)?
                {
                    used[j] = true;
                    continue 'outer;
                }
            }
            return Ok(false);
        }
        Ok(true)
    }
}

pub(super) fn unreachable_scalar() -> Scalar {
    poly_scalar(&Poly::default())
}

/// A scalar for a canonical polynomial whose source expression is unknown (interval ends):
/// the numeric fallback then sees NaN and never reports equality.
pub(super) fn poly_scalar(p: &Poly) -> Scalar {
    Scalar {
        poly: p.clone(),
        expr: Expr::Text(String::new()),
    }
}

/// Whether a decimal reference with `d` digits after the point reads as a rounded value: at
/// least two decimals (`0.33`) or three significant digits (`33.3`). `0.3` is taken as exact, so
/// `\frac13` does not match it.
pub(super) fn looks_rounded(value: &Poly, d: u32) -> bool {
    if d >= 2 {
        return true;
    }
    let Some(v) = value.as_constant() else {
        return false;
    };
    let scaled = v.abs() * Q::from_integer(num_traits::pow(BigInt::from(10), d as usize));
    d >= 1 && scaled.to_integer().to_string().len() >= 3
}

/// Whether `e` is a (possibly negated) number written with a decimal point.
pub(super) fn is_decimal_literal(e: &Expr) -> bool {
    lone_decimals(e).is_some()
}

/// Digits after the point if `e` is a lone (possibly negated) decimal literal.
pub(super) fn lone_decimals(e: &Expr) -> Option<u32> {
    match e {
        Expr::Num { decimals, .. } => *decimals,
        Expr::Neg(a) => lone_decimals(a),
        _ => None,
    }
}

/// The right-hand side of `v = rhs` where `v` is a lone variable and `rhs` has no relation.
pub(super) fn lone_var_rhs(v: &Value) -> Option<&Scalar> {
    let Value::Rel { sides, ops } = v else {
        return None;
    };
    if ops.len() != 1 || ops[0] != RelOp::Eq {
        return None;
    }
    // `f(x) = x^2` names the answer unless the right side is just as bare (`y = x`).
    answer_name(&sides[0].poly).then_some(&sides[1])
}

pub(super) fn lone_var(p: &Poly) -> Option<String> {
    if p.terms.len() != 1 {
        return None;
    }
    let (m, c) = p.terms.iter().next()?;
    match (m.as_slice(), c.is_one()) {
        ([(Atom::Var(v), e)], true) if e.is_one() => Some(v.clone()),
        _ => None,
    }
}

/// A left-hand side naming the answer: a lone variable, or a function application like `f(x)`
/// (parsed as the product `f·x`), i.e. a product of distinct variables with coefficient 1.
pub(super) fn answer_name(p: &Poly) -> bool {
    if p.terms.len() != 1 {
        return false;
    }
    let Some((m, c)) = p.terms.iter().next() else {
        return false;
    };
    c.is_one()
        && !m.is_empty()
        && m.len() <= 3
        && m.iter()
            .all(|(a, e)| matches!(a, Atom::Var(_)) && e.is_one())
}
