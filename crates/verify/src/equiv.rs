//! Deciding whether two parsed answers are equal.
//!
//! **Method.** Scalars are brought to a canonical form: a sum of monomials with exact rational
//! coefficients, where a monomial is a product of atoms raised to rational exponents. Atoms are
//! variables, π, e, i, ∞, primes with a fractional exponent (so `3\sqrt{13}` and `\sqrt{117}`
//! both become `3·13^{1/2}` and `\frac{1}{\sqrt2}` becomes `\frac12·2^{1/2}`), and opaque atoms
//! for what the form cannot normalise (a sum raised to a negative or fractional power, functions
//! like `\sin`, powers too large to build). Two canonical forms without opaque atoms are equal
//! iff the values are equal as polynomials over ℚ(radicals, π, e) — exact, no floats, so
//! `\frac{1}{2^{99}}` ≠ `\frac{1}{2^{98}}`.
//!
//! We chose the canonical form over seeded evaluation at random points because it is exact and
//! needs no tolerance, which is what separates tiny values like `\frac{1}{2004!}` and
//! `\frac{1}{2006!}`. Only when an opaque atom remains (e.g. `\frac{x^2-1}{x-1}` vs `x+1`,
//! `\frac{1}{1+\sqrt2}` vs `\sqrt2-1`) we fall back to evaluating both sides in complex floating
//! point at three seeded points (variables drawn per name), with relative tolerance 1e-9.
//!
//! Structured answers: tuples and intervals compare element-wise (bracket type matters unless
//! `strict_brackets` is off), sets and bare comma lists order-free, matrices element-wise,
//! equations up to a non-zero factor, `x = 5` as `5`, and single-variable inequalities as
//! unions of intervals.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::expr::{Expr, RelOp};
use crate::number;
use crate::{MathOptions, PercentPolicy, Verdict};

type Q = BigRational;

/// Most terms a canonical polynomial may have.
const MAX_TERMS: usize = 400;

/// Largest natural power of a sum that is expanded.
const MAX_EXPAND_POW: u64 = 24;

/// Largest exponent denominator (root index) handled exactly.
const MAX_ROOT: i64 = 64;

/// Most `\pm` signs expanded in one answer.
const MAX_PM: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
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
    fn is_opaque(&self) -> bool {
        matches!(self, Atom::Sum(_) | Atom::Func(..) | Atom::Pow(..))
    }
}

type Mono = Vec<(Atom, Q)>;

/// A canonical sum of monomials with non-zero rational coefficients.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Poly {
    terms: BTreeMap<Mono, Q>,
}

impl Poly {
    fn constant(q: Q) -> Poly {
        let mut terms = BTreeMap::new();
        if !q.is_zero() {
            terms.insert(Vec::new(), q);
        }
        Poly { terms }
    }

    fn atom(a: Atom) -> Poly {
        let mut terms = BTreeMap::new();
        terms.insert(vec![(a, Q::one())], Q::one());
        Poly { terms }
    }

    fn as_constant(&self) -> Option<Q> {
        match self.terms.len() {
            0 => Some(Q::zero()),
            1 => self.terms.get(&Vec::new()).cloned(),
            _ => None,
        }
    }

    fn has_opaque(&self) -> bool {
        self.terms
            .keys()
            .any(|m| m.iter().any(|(a, _)| a.is_opaque()))
    }

    fn has_vars(&self) -> bool {
        self.terms.keys().any(|m| {
            m.iter().any(|(a, _)| match a {
                Atom::Var(_) => true,
                Atom::Sum(p) | Atom::Pow(p, _) => p.has_vars(),
                Atom::Func(_, args) => args.iter().any(Poly::has_vars),
                _ => false,
            })
        })
    }

    fn add_term(&mut self, m: Mono, c: Q) {
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

    fn add(&self, other: &Poly, b: &mut Budget) -> Result<Poly> {
        b.charge(other.terms.len() as u64 + 1)?;
        let mut r = self.clone();
        for (m, c) in &other.terms {
            r.add_term(m.clone(), c.clone());
        }
        check_size(&r)?;
        Ok(r)
    }

    fn neg(&self) -> Poly {
        Poly {
            terms: self.terms.iter().map(|(m, c)| (m.clone(), -c)).collect(),
        }
    }

    fn scale(&self, q: &Q) -> Poly {
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

    fn mul(&self, other: &Poly, b: &mut Budget) -> Result<Poly> {
        let mut r = Poly::default();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &other.terms {
                b.charge(1 + (ma.len() + mb.len()) as u64)?;
                let (k, m) = mono_mul(ma, mb, b)?;
                r.add_term(m, number::qmul(&number::qmul(ca, cb), &k));
            }
            check_size(&r)?;
        }
        Ok(r)
    }

    /// Splits off the first coefficient: `self = c · monic`.
    fn monic(&self) -> (Q, Poly) {
        match self.terms.values().next() {
            Some(c) => (c.clone(), self.scale(&c.recip())),
            None => (Q::zero(), Poly::default()),
        }
    }
}

fn check_size(p: &Poly) -> Result<()> {
    if p.terms.len() > MAX_TERMS {
        return Err(Error::Syntax {
            at: 0,
            reason: format!("expression expands to more than {MAX_TERMS} terms"),
        });
    }
    Ok(())
}

/// Multiplies two monomials; returns the rational factor split off and the normalised monomial.
fn mono_mul(a: &Mono, b: &Mono, bud: &mut Budget) -> Result<(Q, Mono)> {
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
fn normalize_mono(m: Vec<(Atom, Q)>, bud: &mut Budget) -> Result<(Q, Mono)> {
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
fn rational_pow(q: &Q, r: &Q, b: &mut Budget) -> Result<Poly> {
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
fn poly_pow(base: &Poly, exp: &Poly, b: &mut Budget) -> Result<Poly> {
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
enum PercentMode {
    Drop,
    Hundredth,
}

struct Ctx<'b> {
    budget: &'b mut Budget,
    percent: PercentMode,
}

fn not_scalar<T>(what: &str) -> Result<T> {
    Err(Error::Syntax {
        at: 0,
        reason: format!("{what} used as a number"),
    })
}

fn to_poly(e: &Expr, cx: &mut Ctx<'_>) -> Result<Poly> {
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

fn func(name: &str, args: Vec<Poly>, cx: &mut Ctx<'_>) -> Result<Poly> {
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

// ---------------------------------------------------------------------------------------------
// Numeric fallback (complex f64), used only when canonical forms contain opaque atoms.

#[derive(Debug, Clone, Copy, PartialEq)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    fn r(re: f64) -> C {
        C { re, im: 0.0 }
    }
    fn add(self, o: C) -> C {
        C::new(self.re + o.re, self.im + o.im)
    }
    fn new(re: f64, im: f64) -> C {
        C { re, im }
    }
    fn mul(self, o: C) -> C {
        C::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    fn div(self, o: C) -> C {
        let d = o.re * o.re + o.im * o.im;
        C::new(
            (self.re * o.re + self.im * o.im) / d,
            (self.im * o.re - self.re * o.im) / d,
        )
    }
    fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn ln(self) -> C {
        C::new(self.abs().ln(), self.im.atan2(self.re))
    }
    fn exp(self) -> C {
        let m = self.re.exp();
        C::new(m * self.im.cos(), m * self.im.sin())
    }
    fn pow(self, e: C) -> C {
        if self.re == 0.0 && self.im == 0.0 {
            return if e.re > 0.0 {
                C::r(0.0)
            } else {
                C::r(f64::NAN)
            };
        }
        // Real root of a negative base for odd-denominator rational exponents.
        if self.im == 0.0 && e.im == 0.0 && self.re < 0.0 {
            let k = e.re;
            if k.fract() == 0.0 {
                return C::r(self.re.powf(k));
            }
            for den in [3.0, 5.0, 7.0] {
                let num = k * den;
                if (num - num.round()).abs() < 1e-12 && (num.round() as i64) % 2 != 0 {
                    return C::r(-(-self.re).powf(k));
                }
                if (num - num.round()).abs() < 1e-12 {
                    return C::r((-self.re).powf(k));
                }
            }
        }
        e.mul(self.ln()).exp()
    }
    fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
}

fn var_value(name: &str, seed: u64) -> f64 {
    // FNV-1a over the name, mixed with the seed by splitmix64: the same variable gets the
    // same value on both sides.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    0.35 + 1.3 * ((z >> 11) as f64 / (1u64 << 53) as f64)
}

fn num_eval(e: &Expr, seed: u64, pm: PercentMode, b: &mut Budget) -> Result<C> {
    b.charge(1)?;
    Ok(match e {
        Expr::Num { value, .. } | Expr::Based { value, .. } => {
            C::r(value.to_f64().unwrap_or(f64::NAN))
        }
        Expr::Var(v) => C::r(var_value(v, seed)),
        Expr::Pi => C::r(std::f64::consts::PI),
        Expr::E => C::r(std::f64::consts::E),
        Expr::I => C::new(0.0, 1.0),
        Expr::Inf => C::r(f64::INFINITY),
        Expr::Add(ts) => {
            let mut acc = C::r(0.0);
            for t in ts {
                acc = acc.add(num_eval(t, seed, pm, b)?);
            }
            acc
        }
        Expr::Neg(a) => {
            let v = num_eval(a, seed, pm, b)?;
            C::new(-v.re, -v.im)
        }
        Expr::Mul(fs) => {
            let mut acc = C::r(1.0);
            for f in fs {
                acc = acc.mul(num_eval(f, seed, pm, b)?);
            }
            acc
        }
        Expr::Div(x, y) => num_eval(x, seed, pm, b)?.div(num_eval(y, seed, pm, b)?),
        Expr::Pow(x, y) => num_eval(x, seed, pm, b)?.pow(num_eval(y, seed, pm, b)?),
        Expr::Fact(a) => {
            let v = num_eval(a, seed, pm, b)?;
            if v.im != 0.0 || v.re < 0.0 || v.re.fract() != 0.0 || v.re > 170.0 {
                C::r(f64::NAN)
            } else {
                C::r((1..=v.re as u64).map(|k| k as f64).product())
            }
        }
        Expr::Percent(a) => {
            let v = num_eval(a, seed, pm, b)?;
            match pm {
                PercentMode::Drop => v,
                PercentMode::Hundredth => v.div(C::r(100.0)),
            }
        }
        Expr::Func(name, args) => {
            let mut vs = Vec::with_capacity(args.len());
            for a in args {
                vs.push(num_eval(a, seed, pm, b)?);
            }
            num_func(name, &vs)
        }
        _ => return not_scalar("structured value"),
    })
}

fn num_func(name: &str, v: &[C]) -> C {
    let nan = C::r(f64::NAN);
    let Some(&x) = v.first() else { return nan };
    let real = |f: fn(f64) -> f64| if x.im == 0.0 { C::r(f(x.re)) } else { nan };
    match name {
        "exp" => x.exp(),
        "ln" => x.ln(),
        "log" => real(f64::log10),
        "abs" => C::r(x.abs()),
        "sin" => real(f64::sin),
        "cos" => real(f64::cos),
        "tan" => real(f64::tan),
        "sec" => real(|t| 1.0 / t.cos()),
        "csc" => real(|t| 1.0 / t.sin()),
        "cot" => real(|t| 1.0 / t.tan()),
        "arcsin" => real(f64::asin),
        "arccos" => real(f64::acos),
        "arctan" => real(f64::atan),
        "sinh" => real(f64::sinh),
        "cosh" => real(f64::cosh),
        "tanh" => real(f64::tanh),
        "binom" => match v.get(1) {
            Some(k) if x.im == 0.0 && k.im == 0.0 => {
                let (n, k) = (x.re, k.re);
                C::r(
                    (0..k.max(0.0) as u64)
                        .fold(1.0, |acc, i| acc * (n - i as f64) / (i as f64 + 1.0)),
                )
            }
            _ => nan,
        },
        n if n.starts_with("log_") => match n[4..].parse::<f64>() {
            Ok(base) if x.im == 0.0 => C::r(x.re.ln() / base.ln()),
            _ => nan,
        },
        _ => nan,
    }
}

fn close(a: C, b: C) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    let scale = 1.0f64.max(a.abs()).max(b.abs());
    (a.re - b.re).abs() <= 1e-9 * scale && (a.im - b.im).abs() <= 1e-9 * scale
}

// ---------------------------------------------------------------------------------------------
// Values: the evaluated, comparable form of an answer.

#[derive(Debug, Clone)]
struct Scalar {
    poly: Poly,
    expr: Expr,
}

#[derive(Debug, Clone)]
enum Value {
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
}

fn count_pm(e: &Expr) -> usize {
    let mut n = 0;
    e.visit(&mut |x| n += usize::from(matches!(x, Expr::PlusMinus(..))));
    n
}

/// Replaces the `\pm` signs by + or − according to the bits of `mask`.
fn choose_pm(e: &Expr, mask: u32, idx: &mut u32) -> Expr {
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

fn scalar(e: &Expr, cx: &mut Ctx<'_>) -> Result<Scalar> {
    Ok(Scalar {
        poly: to_poly(e, cx)?,
        expr: e.clone(),
    })
}

fn to_value(e: &Expr, cx: &mut Ctx<'_>) -> Result<Value> {
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
        Expr::Union(parts) => Value::Union(many(parts, cx)?),
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

/// How the two sides are compared.
struct Cmp<'o, 'b> {
    opts: &'o MathOptions,
    budget: &'b mut Budget,
    percent: PercentMode,
}

impl Cmp<'_, '_> {
    fn scalar_eq(&mut self, g: &Scalar, p: &Scalar) -> Result<bool> {
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

    fn eq(&mut self, g: &Value, p: &Value) -> Result<bool> {
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

    fn multiset_eq(&mut self, a: &[Value], b: &[Value]) -> Result<bool> {
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

    fn rel_eq(&mut self, g: &Value, p: &Value) -> Result<bool> {
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

    fn intervals_eq(&mut self, a: &[Interval], b: &[Interval]) -> Result<bool> {
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

fn unreachable_scalar() -> Scalar {
    poly_scalar(&Poly::default())
}

/// A scalar for a canonical polynomial whose source expression is unknown (interval ends):
/// the numeric fallback then sees NaN and never reports equality.
fn poly_scalar(p: &Poly) -> Scalar {
    Scalar {
        poly: p.clone(),
        expr: Expr::Text(String::new()),
    }
}

/// Whether a decimal reference with `d` digits after the point reads as a rounded value: at
/// least two decimals (`0.33`) or three significant digits (`33.3`). `0.3` is taken as exact, so
/// `\frac13` does not match it.
fn looks_rounded(value: &Poly, d: u32) -> bool {
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
fn is_decimal_literal(e: &Expr) -> bool {
    lone_decimals(e).is_some()
}

/// Digits after the point if `e` is a lone (possibly negated) decimal literal.
fn lone_decimals(e: &Expr) -> Option<u32> {
    match e {
        Expr::Num { decimals, .. } => *decimals,
        Expr::Neg(a) => lone_decimals(a),
        _ => None,
    }
}

/// The right-hand side of `v = rhs` where `v` is a lone variable and `rhs` has no relation.
fn lone_var_rhs(v: &Value) -> Option<&Scalar> {
    let Value::Rel { sides, ops } = v else {
        return None;
    };
    if ops.len() != 1 || ops[0] != RelOp::Eq {
        return None;
    }
    // `f(x) = x^2` names the answer unless the right side is just as bare (`y = x`).
    answer_name(&sides[0].poly).then_some(&sides[1])
}

fn lone_var(p: &Poly) -> Option<String> {
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
fn answer_name(p: &Poly) -> bool {
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

fn is_inf(p: &Poly) -> Option<bool> {
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
struct Interval {
    lo: Poly,
    lo_closed: bool,
    hi: Poly,
    hi_closed: bool,
}

fn inf_poly(positive: bool) -> Poly {
    let p = Poly::atom(Atom::Inf);
    if positive { p } else { p.neg() }
}

/// The value as a union of intervals, if it is one (interval, union, inequality, list of them).
fn intervals(v: &Value) -> Option<Vec<Interval>> {
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

fn rel_intervals(sides: &[Scalar], ops: &[RelOp]) -> Option<Vec<Interval>> {
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

fn flip(op: RelOp) -> RelOp {
    match op {
        RelOp::Lt => RelOp::Gt,
        RelOp::Le => RelOp::Ge,
        RelOp::Gt => RelOp::Lt,
        RelOp::Ge => RelOp::Le,
        o => o,
    }
}

// ---------------------------------------------------------------------------------------------
// Public entry points.

/// Parses an answer (LaTeX or plain text) into an expression tree, with the default caps.
///
/// ```
/// use aha_verify::parse_answer;
/// assert!(parse_answer("\\frac{1}{2} + 3\\sqrt{13}").is_ok());
/// assert!(parse_answer("\\frac{1}{").is_err());
/// ```
pub fn parse_answer(text: &str) -> Result<Expr> {
    let opts = MathOptions::default();
    let mut b = Budget::new(opts.budget_steps);
    parse_clean(text, &opts, &mut b)
}

/// Whether the answer `pred` equals the reference `gold` (both bare answers).
/// `Err` means the reference cannot be read.
///
/// ```
/// use aha_verify::{answers_equal, MathOptions};
/// let o = MathOptions::default();
/// assert_eq!(answers_equal("\\frac{1}{2004!}", "\\frac{1}{2006!}", &o), Ok(false));
/// assert_eq!(answers_equal("x \\in [2, 5)", "[2,5)", &o), Ok(true));
/// ```
pub fn answers_equal(pred: &str, gold: &str, opts: &MathOptions) -> Result<bool> {
    let g = Gold::new(gold, opts);
    if let Err(e) = &g.parsed {
        return Err(e.clone());
    }
    Ok(g.judge(pred, opts) == Verdict::Correct)
}

fn parse_clean(text: &str, opts: &MathOptions, b: &mut Budget) -> Result<Expr> {
    if text.len() > opts.max_answer_bytes {
        return Err(Error::TooLong {
            len: text.len(),
            cap: opts.max_answer_bytes,
        });
    }
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Empty);
    }
    if let Some(c) = choice_letter(t, false) {
        return Ok(Expr::Choice(c));
    }
    crate::parse::parse(t, b)
}

/// A multiple-choice letter A–E written as `C`, `(C)`, `\text{(C)}`, `\textbf{(C)}`; with
/// `lenient`, also a letter that starts the answer (`(C) 12`).
fn choice_letter(s: &str, lenient: bool) -> Option<char> {
    let mut t = s.trim().to_string();
    for w in [
        "\\textbf{",
        "\\text{",
        "\\mathrm{",
        "\\mathbf{",
        "\\left",
        "\\right",
    ] {
        t = t.replace(w, "");
    }
    let t: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '$' | '{' | '}'))
        .collect();
    let t = t.trim_end_matches('.');
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(t);
    let mut cs = inner.chars();
    if let (Some(c), None) = (cs.next(), cs.next())
        && ('A'..='E').contains(&c)
    {
        return Some(c);
    }
    if lenient {
        let b = t.as_bytes();
        if b.len() >= 3 && b[0] == b'(' && b[2] == b')' && (b'A'..=b'E').contains(&b[1]) {
            return Some(b[1] as char);
        }
    }
    None
}

/// Removes markup that never changes meaning, for the fast string-equality path.
fn normalize_text(s: &str) -> String {
    let mut t = s.replace("\\left", "").replace("\\right", "");
    for (a, b) in [
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("$", ""),
    ] {
        t = t.replace(a, b);
    }
    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    t.trim_end_matches('.').to_string()
}

/// A parsed reference answer, reusable across many predictions.
pub(crate) struct Gold {
    norm: String,
    parsed: Result<Expr>,
}

impl Gold {
    /// Reads a reference; a `\boxed{}` inside it is unwrapped first (its last box).
    pub(crate) fn new(gold: &str, opts: &MathOptions) -> Gold {
        let text = match crate::extract::last_boxed(gold) {
            Some((s, e)) if gold.contains("\\boxed") || gold.contains("\\fbox") => &gold[s..e],
            _ => gold,
        };
        let mut b = Budget::new(opts.budget_steps);
        let parsed = parse_clean(text, opts, &mut b).and_then(|e| {
            // The reference must also evaluate; a budget overrun makes it unreadable.
            let mut cx = Ctx {
                budget: &mut b,
                percent: PercentMode::Drop,
            };
            to_value(&e, &mut cx).map(|_| e)
        });
        Gold {
            norm: normalize_text(text),
            parsed,
        }
    }

    pub(crate) fn is_readable(&self) -> bool {
        self.parsed.is_ok()
    }

    /// The verdict for the bare answer `pred`.
    pub(crate) fn judge(&self, pred: &str, opts: &MathOptions) -> Verdict {
        let Ok(gold) = &self.parsed else {
            return Verdict::GoldUnparseable;
        };
        if normalize_text(pred) == self.norm {
            return Verdict::Correct;
        }
        if let Expr::Choice(c) = gold {
            return if choice_letter(pred, true) == Some(*c) {
                Verdict::Correct
            } else {
                Verdict::Incorrect
            };
        }
        let mut b = Budget::new(opts.budget_steps);
        let Ok(p) = parse_clean(pred, opts, &mut b) else {
            return Verdict::Incorrect;
        };
        if opts.require_reduced_fractions && unreduced_fraction(&p) {
            return Verdict::Incorrect;
        }
        match compare(gold, &p, opts, &mut b) {
            Ok(true) => Verdict::Correct,
            _ => Verdict::Incorrect,
        }
    }
}

/// `\frac{2}{4}` or `\frac{8}{2}` (PRM800K rejects both against `\frac12` / `4`).
fn unreduced_fraction(e: &Expr) -> bool {
    match e {
        Expr::Neg(a) => unreduced_fraction(a),
        Expr::Div(a, b) => match (&**a, &**b) {
            (
                Expr::Num {
                    value: n,
                    decimals: None,
                },
                Expr::Num {
                    value: d,
                    decimals: None,
                },
            ) if n.is_integer() && d.is_integer() => {
                d.numer().is_one() || !n.numer().gcd(d.numer()).is_one()
            }
            _ => false,
        },
        _ => false,
    }
}

fn percent_modes(e: &Expr, policy: PercentPolicy) -> Vec<PercentMode> {
    if !e.has_percent() {
        return vec![PercentMode::Drop];
    }
    match policy {
        PercentPolicy::Either => vec![PercentMode::Drop, PercentMode::Hundredth],
        PercentPolicy::Drop => vec![PercentMode::Drop],
        PercentPolicy::Hundredth => vec![PercentMode::Hundredth],
    }
}

fn compare(gold: &Expr, pred: &Expr, opts: &MathOptions, b: &mut Budget) -> Result<bool> {
    for gm in percent_modes(gold, opts.percent) {
        for pm in percent_modes(pred, opts.percent) {
            let gv = to_value(
                gold,
                &mut Ctx {
                    budget: b,
                    percent: gm,
                },
            )?;
            let pv = to_value(
                pred,
                &mut Ctx {
                    budget: b,
                    percent: pm,
                },
            )?;
            let mut c = Cmp {
                opts,
                budget: b,
                percent: pm,
            };
            if c.eq(&gv, &pv)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
