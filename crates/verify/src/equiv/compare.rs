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
        if self.decimal_answer_eq(g, p)? || self.rounded_eq(g, p)? {
            return Ok(true);
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

    /// The decimal-answer policy (`decimal_digits`): a decimal answer `p` against a reference
    /// `g` that is not a decimal, equal when it shows enough significant digits and is the value
    /// truncated or rounded at its last digit.
    fn decimal_answer_eq(&mut self, g: &Scalar, p: &Scalar) -> Result<bool> {
        let min = self.opts.decimal_digits;
        let (Some(d), Some(pv)) = (lone_decimals(&p.expr), p.poly.as_constant()) else {
            return Ok(false);
        };
        if min == 0
            || d > 400
            || is_decimal_literal(&g.expr)
            || g.poly.has_vars()
            || significant_digits(&pv, d) < min
        {
            return Ok(false);
        }
        let ten_d = Q::from_integer(num_traits::pow(BigInt::from(10), d as usize));
        // The digits written, as an integer: `1.6667` → 16667.
        let n = (&pv * &ten_d).to_integer();
        if let Some(gq) = g.poly.as_constant() {
            // A rational reference, decided exactly: `p` must be `g` truncated or rounded.
            let x = gq * &ten_d;
            return Ok(n == x.trunc().to_integer() || n == x.round().to_integer());
        }
        let gv = num_eval(&g.expr, 0, self.percent, self.budget)?;
        if !gv.is_finite() || gv.im.abs() > 1e-12 {
            return Ok(false);
        }
        let x = gv.re * ten_d.to_f64().unwrap_or(f64::INFINITY);
        if x.abs() < 2f64.powi(50) {
            let n = n.to_f64().unwrap_or(f64::NAN);
            return Ok(n == x.trunc() || n == x.round());
        }
        // More digits than a double holds: off by less than one unit in the last place, with
        // a few ulps of the double's own error allowed for.
        let pf = pv.to_f64().unwrap_or(f64::NAN);
        let ulp = ten_d.recip().to_f64().unwrap_or(0.0);
        Ok((gv.re - pf).abs() < ulp + 4.0 * f64::EPSILON * gv.re.abs())
    }

    /// The rounding-precision policy (`precision = k`): when one side is written as a decimal,
    /// both sides rounded to `k` digits after the point are compared (as math-verify's
    /// `float_rounding` does).
    fn rounded_eq(&mut self, g: &Scalar, p: &Scalar) -> Result<bool> {
        let Some(k) = self.opts.precision else {
            return Ok(false);
        };
        if !(is_decimal_literal(&g.expr) || is_decimal_literal(&p.expr))
            || g.poly.has_vars()
            || p.poly.has_vars()
        {
            return Ok(false);
        }
        let k = k.min(30);
        if let (Some(a), Some(b)) = (g.poly.as_constant(), p.poly.as_constant()) {
            return Ok(round_q(&a, k) == round_q(&b, k));
        }
        let a = num_eval(&g.expr, 0, self.percent, self.budget)?;
        let b = num_eval(&p.expr, 0, self.percent, self.budget)?;
        let scale = 10f64.powi(k as i32);
        Ok(a.is_finite()
            && b.is_finite()
            && a.im.abs() < 1e-12
            && b.im.abs() < 1e-12
            && (a.re * scale).round() == (b.re * scale).round())
    }

    /// What an equation chain answers under the `equation_chain` policy, or `None` when `v` is
    /// not a chain: `y = 2+2 = 4` (a name, then values) or `2+2 = 4` (values only).
    /// [`Value::Invalid`] when a link of a checked chain is false.
    fn chain_value(&mut self, v: &Value) -> Result<Option<Value>> {
        let Value::Rel { sides, ops } = v else {
            return Ok(None);
        };
        if ops.iter().any(|o| *o != RelOp::Eq) {
            return Ok(None);
        }
        let named = answer_name(&sides[0].poly);
        let values = &sides[usize::from(named)..];
        let constant = values.iter().all(|s| !s.poly.has_vars());
        // `x = 5` is an assignment (handled as such); `2 = 2` chains need two values.
        if values.len() < 2 || (!named && !constant && sides.len() == 2) {
            return Ok(None);
        }
        let answer = match self.opts.equation_chain {
            crate::EquationChain::Last => values.len() - 1,
            crate::EquationChain::Checked => {
                if !constant {
                    return Ok(Some(Value::Invalid));
                }
                for w in values.windows(2) {
                    if !self.scalar_eq(&w[0], &w[1])? && !self.scalar_eq(&w[1], &w[0])? {
                        return Ok(Some(Value::Invalid));
                    }
                }
                // A decimal that closes the chain approximately hands the answer back to the
                // exact value before it (`\frac13 \approx 0.333`).
                let mut k = values.len() - 1;
                while k > 0
                    && is_decimal_literal(&values[k].expr)
                    && !is_decimal_literal(&values[k - 1].expr)
                    && values[k].poly != values[k - 1].poly
                {
                    k -= 1;
                }
                k
            }
        };
        let last = values[answer].clone();
        Ok(Some(if named {
            Value::Rel {
                sides: vec![sides[0].clone(), last],
                ops: vec![RelOp::Eq],
            }
        } else {
            Value::Scalar(last)
        }))
    }

    pub(super) fn eq(&mut self, g: &Value, p: &Value) -> Result<bool> {
        self.budget.charge(1)?;
        if matches!(g, Value::Invalid) || matches!(p, Value::Invalid) {
            return Ok(false);
        }
        if let Some(g2) = self.chain_value(g)? {
            return self.eq(&g2, p);
        }
        if let Some(p2) = self.chain_value(p)? {
            return self.eq(g, &p2);
        }
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
            && let (Some(a), Some(b)) = (intervals(g, self.budget), intervals(p, self.budget))
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
        if let (Some(a), Some(b)) = (intervals(g, self.budget), intervals(p, self.budget)) {
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

/// A left-hand side made only of symbols, naming the answer: a lone variable, a function
/// application like `f(x)` (parsed as the product `f·x`), a ratio or fraction of names (`x:y`,
/// `S_1:S_2`, `\frac{AM}{MC}`), or the absolute value of such a name (`|PQ|`). That is one term
/// with coefficient 1 whose factors are variables to the power ±1 (at least one +1) or `|…|`
/// of a name.
pub(super) fn answer_name(p: &Poly) -> bool {
    if p.terms.len() != 1 {
        return false;
    }
    let Some((m, c)) = p.terms.iter().next() else {
        return false;
    };
    let factor = |(a, e): &(Atom, Q)| match a {
        Atom::Var(_) => e.is_one() || *e == -Q::one(),
        Atom::Func(f, args) => f == "abs" && e.is_one() && args.len() == 1 && answer_name(&args[0]),
        _ => false,
    };
    c.is_one()
        && !m.is_empty()
        && m.len() <= 4
        && m.iter().all(factor)
        && m.iter().any(|(_, e)| e.is_one())
}

/// Significant digits of a decimal written with `d` digits after the point (`1.6667` → 5,
/// `0.0120` → 3).
fn significant_digits(v: &Q, d: u32) -> u32 {
    let scaled = v.abs() * Q::from_integer(num_traits::pow(BigInt::from(10), d as usize));
    let n = scaled.to_integer();
    if n == BigInt::from(0) {
        0
    } else {
        n.to_string().len() as u32
    }
}

/// `q` rounded half away from zero to `k` digits after the point, times `10^k`.
fn round_q(q: &Q, k: u32) -> BigInt {
    let s = q.abs() * Q::from_integer(num_traits::pow(BigInt::from(10), k as usize));
    let r = (s + Q::new(BigInt::one(), BigInt::from(2)))
        .floor()
        .to_integer();
    if q.is_negative() { -r } else { r }
}
