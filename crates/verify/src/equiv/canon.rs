//! The canonical form of a scalar: a sum of monomials with exact rational coefficients over
//! atoms (variables, π, e, i, ∞, primes with fractional exponents, opaque atoms), and the
//! conversion of an expression tree into it.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::number;

pub(super) type Q = BigRational;

/// Most terms a canonical polynomial may have.
pub(super) const MAX_TERMS: usize = 400;

/// Largest natural power of a sum that is expanded.
pub(super) const MAX_EXPAND_POW: u64 = 24;

/// Largest exponent denominator (root index) handled exactly.
pub(super) const MAX_ROOT: i64 = 64;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Atom {
    I,
    Pi,
    E,
    Inf,
    /// A positive integer (prime, or an unfactored cofactor) with exponent in (0, 1).
    Prime(BigInt),
    Var(String),
    /// A non-monomial polynomial (leading coefficient 1) raised to a non-natural power.
    Sum(Poly),
    /// An opaque function of canonical arguments.
    Func(String, Vec<Poly>),
    /// `base^exponent` that could not be built (symbolic or huge exponent).
    Pow(Poly, Poly),
}

impl Atom {
    pub(super) fn is_opaque(&self) -> bool {
        matches!(self, Atom::Sum(_) | Atom::Func(..) | Atom::Pow(..))
    }
}

pub(super) type Mono = Vec<(Atom, Q)>;

/// A canonical sum of monomials with non-zero rational coefficients.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Poly {
    pub(super) terms: BTreeMap<Mono, Q>,
}

impl Poly {
    pub(super) fn constant(q: Q) -> Poly {
        let mut terms = BTreeMap::new();
        if !q.is_zero() {
            terms.insert(Vec::new(), q);
        }
        Poly { terms }
    }

    pub(super) fn atom(a: Atom) -> Poly {
        let mut terms = BTreeMap::new();
        terms.insert(vec![(a, Q::one())], Q::one());
        Poly { terms }
    }

    pub(super) fn as_constant(&self) -> Option<Q> {
        match self.terms.len() {
            0 => Some(Q::zero()),
            1 => self.terms.get(&Vec::new()).cloned(),
            _ => None,
        }
    }

    pub(super) fn has_opaque(&self) -> bool {
        self.terms
            .keys()
            .any(|m| m.iter().any(|(a, _)| a.is_opaque()))
    }

    pub(super) fn has_vars(&self) -> bool {
        self.terms.keys().any(|m| {
            m.iter().any(|(a, _)| match a {
                Atom::Var(_) => true,
                Atom::Sum(p) | Atom::Pow(p, _) => p.has_vars(),
                Atom::Func(_, args) => args.iter().any(Poly::has_vars),
                _ => false,
            })
        })
    }

    pub(super) fn add_term(&mut self, m: Mono, c: Q) {
        use std::collections::btree_map::Entry;
        if c.is_zero() {
            return;
        }
        match self.terms.entry(m) {
            Entry::Vacant(v) => {
                v.insert(c);
            }
            Entry::Occupied(mut o) => {
                let sum = number::qadd(o.get(), &c);
                if sum.is_zero() {
                    o.remove();
                } else {
                    *o.get_mut() = sum;
                }
            }
        }
    }

    pub(super) fn add(&self, other: &Poly, b: &mut Budget) -> Result<Poly> {
        b.charge(other.terms.len() as u64 + 1)?;
        let mut r = self.clone();
        for (m, c) in &other.terms {
            if let Some(old) = r.terms.get(m) {
                b.charge(coef_work(old, c))?;
            }
            r.add_term(m.clone(), c.clone());
        }
        check_size(&r)?;
        Ok(r)
    }

    pub(super) fn neg(&self) -> Poly {
        Poly {
            terms: self.terms.iter().map(|(m, c)| (m.clone(), -c)).collect(),
        }
    }

    pub(super) fn scale(&self, q: &Q) -> Poly {
        if q.is_zero() {
            return Poly::default();
        }
        Poly {
            terms: self
                .terms
                .iter()
                .map(|(m, c)| (m.clone(), number::qmul(c, q)))
                .collect(),
        }
    }

    pub(super) fn mul(&self, other: &Poly, b: &mut Budget) -> Result<Poly> {
        let mut r = Poly::default();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &other.terms {
                b.charge(1 + (ma.len() + mb.len()) as u64 + coef_work(ca, cb))?;
                let (k, m) = mono_mul(ma, mb, b)?;
                let c = number::qmul(&number::qmul(ca, cb), &k);
                if let Some(old) = r.terms.get(&m) {
                    b.charge(coef_work(old, &c))?;
                }
                r.add_term(m, c);
            }
            check_size(&r)?;
        }
        Ok(r)
    }

    /// Splits off the first coefficient: `self = c · monic`.
    pub(super) fn monic(&self) -> (Q, Poly) {
        match self.terms.values().next() {
            Some(c) => (c.clone(), self.scale(&c.recip())),
            None => (Q::zero(), Poly::default()),
        }
    }
}

/// Budget steps for one sum or product of two coefficients beyond the step itself. Reducing a
/// big fraction costs about (limbs of one) × (limbs of the other), so huge coefficients spend
/// the budget as their work grows: the fuzzer found sums of 20,000-bit fractions that took
/// seconds while charging one step each. Word-sized coefficients cost nothing extra.
fn coef_work(a: &Q, b: &Q) -> u64 {
    let la = number::bits(a) / 64 + 1;
    let lb = number::bits(b) / 64 + 1;
    la.saturating_mul(lb) / 8
}

pub(super) fn check_size(p: &Poly) -> Result<()> {
    if p.terms.len() > MAX_TERMS {
        return Err(Error::Syntax {
            at: 0,
            reason: format!("expression expands to more than {MAX_TERMS} terms"),
        });
    }
    Ok(())
}

/// Multiplies two monomials; returns the rational factor split off and the normalised monomial.
pub(super) fn mono_mul(a: &Mono, b: &Mono, bud: &mut Budget) -> Result<(Q, Mono)> {
    let mut merged: Vec<(Atom, Q)> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i].0 < b[j].0) {
            merged.push(a[i].clone());
            i += 1;
        } else if i >= a.len() || b[j].0 < a[i].0 {
            merged.push(b[j].clone());
            j += 1;
        } else {
            merged.push((a[i].0.clone(), &a[i].1 + &b[j].1));
            i += 1;
            j += 1;
        }
    }
    normalize_mono(merged, bud)
}

/// Normalises exponents: integer parts of prime exponents go into the coefficient, `i^n`
/// reduces mod 4, zero exponents vanish.
pub(super) fn normalize_mono(m: Vec<(Atom, Q)>, bud: &mut Budget) -> Result<(Q, Mono)> {
    let mut coef = Q::one();
    let mut out: Mono = Vec::with_capacity(m.len());
    for (atom, e) in m {
        bud.charge(1)?;
        if e.is_zero() {
            continue;
        }
        match atom {
            Atom::Prime(p) => {
                let k = e.floor();
                let f = &e - &k;
                if !k.is_zero() {
                    match number::pow_int(&Q::from_integer(p.clone()), k.numer()) {
                        Some(v) => coef = number::qmul(&coef, &v),
                        None => {
                            // Too big to build: keep the whole exponent symbolically.
                            out.push((Atom::Prime(p), e));
                            continue;
                        }
                    }
                }
                if !f.is_zero() {
                    out.push((Atom::Prime(p), f));
                }
            }
            Atom::I if e.is_integer() => {
                let n = e.numer().mod_floor(&BigInt::from(4));
                let n = n.to_u8().unwrap_or(0);
                if n >= 2 {
                    coef = -coef;
                }
                if n % 2 == 1 {
                    out.push((Atom::I, Q::one()));
                }
            }
            a => out.push((a, e)),
        }
    }
    out.sort_by(|x, y| x.0.cmp(&y.0));
    Ok((coef, out))
}

/// `q^r` for rationals, exact where the result is in our canonical form.
pub(super) fn rational_pow(q: &Q, r: &Q, b: &mut Budget) -> Result<Poly> {
    if r.is_zero() {
        return Ok(Poly::constant(Q::one()));
    }
    if q.is_zero() {
        if r.is_positive() {
            return Ok(Poly::default());
        }
        return Err(Error::Syntax {
            at: 0,
            reason: "division by zero".into(),
        });
    }
    let (p, s) = (r.numer(), r.denom());
    let opaque = || {
        Ok(Poly::atom(Atom::Pow(
            Poly::constant(q.clone()),
            Poly::constant(r.clone()),
        )))
    };
    if s.is_one() {
        return match number::pow_int(q, p) {
            Some(v) => Ok(Poly::constant(v)),
            None => opaque(),
        };
    }
    let Some(s_small) = s.to_i64().filter(|s| *s <= MAX_ROOT) else {
        return opaque();
    };
    if p.abs() > BigInt::from(100_000) {
        return opaque();
    }
    // Sign: (-a)^(p/s) = (-1)^(p/s) a^(p/s); real root for odd s, i^p for s = 2.
    let mut sign_poly = Poly::constant(Q::one());
    let a = q.abs();
    if q.is_negative() {
        if s_small % 2 == 1 {
            if p.is_odd() {
                sign_poly = Poly::constant(-Q::one());
            }
        } else if s_small == 2 {
            let (k, m) = normalize_mono(vec![(Atom::I, Q::from_integer(p.clone()))], b)?;
            let mut t = Poly::default();
            t.add_term(m, k);
            sign_poly = t;
        } else {
            return opaque();
        }
    }
    let mut mono: Vec<(Atom, Q)> = Vec::new();
    for (base, mult) in number::factor(a.numer(), b)? {
        mono.push((Atom::Prime(base), r * Q::from_integer(BigInt::from(mult))));
    }
    for (base, mult) in number::factor(a.denom(), b)? {
        mono.push((Atom::Prime(base), -r * Q::from_integer(BigInt::from(mult))));
    }
    mono.sort_by(|x, y| x.0.cmp(&y.0));
    // Merge equal bases (cofactors may repeat a prime).
    let mut merged: Vec<(Atom, Q)> = Vec::new();
    for (a, e) in mono {
        match merged.last_mut() {
            Some((la, le)) if *la == a => *le += e,
            _ => merged.push((a, e)),
        }
    }
    let (k, m) = normalize_mono(merged, b)?;
    let mut t = Poly::default();
    t.add_term(m, k);
    t.mul(&sign_poly, b)
}

/// `base^exp` in canonical form.
pub(super) fn poly_pow(base: &Poly, exp: &Poly, b: &mut Budget) -> Result<Poly> {
    b.charge(1)?;
    let Some(r) = exp.as_constant() else {
        return Ok(Poly::atom(Atom::Pow(base.clone(), exp.clone())));
    };
    if r.is_zero() {
        return Ok(Poly::constant(Q::one()));
    }
    if base.terms.is_empty() {
        return rational_pow(&Q::zero(), &r, b);
    }
    if base.terms.len() == 1 {
        let (m, c) = base
            .terms
            .iter()
            .next()
            .map(|(m, c)| (m.clone(), c.clone()))
            .unwrap_or_default();
        let cp = rational_pow(&c, &r, b)?;
        if m.is_empty() {
            return Ok(cp);
        }
        let scaled: Vec<(Atom, Q)> = m.into_iter().map(|(a, e)| (a, e * &r)).collect();
        let (k, nm) = normalize_mono(scaled, b)?;
        let mut t = Poly::default();
        t.add_term(nm, k);
        return t.mul(&cp, b);
    }
    if r.is_integer() && r.is_positive() && r.numer().to_u64().is_some_and(|n| n <= MAX_EXPAND_POW)
    {
        let n = r.numer().to_u64().unwrap_or(1);
        let mut acc = Poly::constant(Q::one());
        for _ in 0..n {
            acc = acc.mul(base, b)?;
        }
        return Ok(acc);
    }
    // (c·P)^r = c^r · Sum(P)^r with P monic, so scalar multiples share the atom.
    let (c, monic) = base.monic();
    let cp = rational_pow(&c, &r, b)?;
    let mut t = Poly::default();
    t.add_term(vec![(Atom::Sum(monic), r)], Q::one());
    t.mul(&cp, b)
}

/// Percent reading for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PercentMode {
    Drop,
    Hundredth,
}

pub(super) struct Ctx<'b> {
    pub(super) budget: &'b mut Budget,
    pub(super) percent: PercentMode,
}

pub(super) fn not_scalar<T>(what: &str) -> Result<T> {
    Err(Error::Syntax {
        at: 0,
        reason: format!("{what} used as a number"),
    })
}

pub(super) fn to_poly(e: &Expr, cx: &mut Ctx<'_>) -> Result<Poly> {
    cx.budget.charge(1)?;
    Ok(match e {
        Expr::Num { value, .. } | Expr::Based { value, .. } => Poly::constant(value.clone()),
        Expr::Var(v) => Poly::atom(Atom::Var(v.clone())),
        Expr::Pi => Poly::atom(Atom::Pi),
        Expr::E => Poly::atom(Atom::E),
        Expr::I => Poly::atom(Atom::I),
        Expr::Inf => Poly::atom(Atom::Inf),
        Expr::Add(ts) => {
            let mut acc = Poly::default();
            for t in ts {
                let p = to_poly(t, cx)?;
                acc = acc.add(&p, cx.budget)?;
            }
            acc
        }
        Expr::Neg(a) => to_poly(a, cx)?.neg(),
        Expr::Mul(fs) => {
            let mut acc = Poly::constant(Q::one());
            for f in fs {
                let p = to_poly(f, cx)?;
                acc = acc.mul(&p, cx.budget)?;
            }
            acc
        }
        Expr::Div(a, d) => {
            let pa = to_poly(a, cx)?;
            let pd = to_poly(d, cx)?;
            let inv = poly_pow(&pd, &Poly::constant(-Q::one()), cx.budget)?;
            pa.mul(&inv, cx.budget)?
        }
        Expr::Pow(a, x) => {
            let pa = to_poly(a, cx)?;
            let px = to_poly(x, cx)?;
            poly_pow(&pa, &px, cx.budget)?
        }
        Expr::Fact(a) => {
            let pa = to_poly(a, cx)?;
            match pa.as_constant() {
                Some(n) => match number::factorial(&n, cx.budget)? {
                    Some(v) => Poly::constant(Q::from_integer(v)),
                    None => Poly::atom(Atom::Func("fact".into(), vec![pa])),
                },
                None => Poly::atom(Atom::Func("fact".into(), vec![pa])),
            }
        }
        Expr::Percent(a) => {
            let pa = to_poly(a, cx)?;
            match cx.percent {
                PercentMode::Drop => pa,
                PercentMode::Hundredth => pa.scale(&Q::new(1.into(), 100.into())),
            }
        }
        Expr::Func(name, args) => {
            let mut ps = Vec::with_capacity(args.len());
            for a in args {
                ps.push(to_poly(a, cx)?);
            }
            func(name, ps, cx)?
        }
        Expr::PlusMinus(..) => return not_scalar("±"),
        Expr::Rel(..) => return not_scalar("relation"),
        Expr::Seq { .. } | Expr::Set(_) | Expr::Union(_) => return not_scalar("tuple or set"),
        Expr::Matrix(_) => return not_scalar("matrix"),
        Expr::Text(_) | Expr::Choice(_) => return not_scalar("text"),
    })
}

pub(super) fn func(name: &str, args: Vec<Poly>, cx: &mut Ctx<'_>) -> Result<Poly> {
    let consts: Vec<Option<Q>> = args.iter().map(Poly::as_constant).collect();
    match (name, consts.as_slice()) {
        ("exp", [_]) => return poly_pow(&Poly::atom(Atom::E), &args[0], cx.budget),
        ("abs", [Some(q)]) => return Ok(Poly::constant(q.abs())),
        ("binom", [Some(n), Some(k)]) => {
            if let Some(v) = number::binomial(n, k, cx.budget)? {
                return Ok(Poly::constant(Q::from_integer(v)));
            }
        }
        ("ln" | "log", [Some(q)]) if q.is_one() => return Ok(Poly::default()),
        ("ln", [_]) => {
            // ln(e^q) = q
            if let Some((m, c)) = args[0].terms.iter().next()
                && args[0].terms.len() == 1
                && c.is_one()
                && m.len() == 1
                && m[0].0 == Atom::E
            {
                return Ok(Poly::constant(m[0].1.clone()));
            }
        }
        _ => {}
    }
    let canonical = match name {
        "lg" => "log",
        n => n,
    };
    Ok(Poly::atom(Atom::Func(canonical.to_string(), args)))
}
