//! Exact rational helpers with size caps: integer powers, factoring for radicals.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::budget::Budget;
use crate::error::Result;

/// Largest number (in bits of numerator plus denominator) built exactly; bigger values stay
/// symbolic. 2006! has about 19 000 bits.
pub const MAX_BITS: u64 = 40_000;

/// Largest `n` for which `n!` is computed exactly.
pub const MAX_FACTORIAL: u64 = 3_000;

/// Trial division bound for factoring radicands that fit in a `u64`.
const TRIAL_U64: u64 = 100_000;

/// Trial division bound for larger radicands.
const TRIAL_BIG: u64 = 1_000;

/// Bits of a rational (numerator + denominator).
pub fn bits(q: &BigRational) -> u64 {
    q.numer().bits() + q.denom().bits()
}

/// Greatest common divisor: Euclid's remainder steps while the operands differ a lot in size,
/// then num-bigint's `gcd` (Stein's binary algorithm, in place). Stein alone needs one pass per
/// bit when one operand is tiny (gcd(3, 2004!) costs milliseconds), which Euclid's first step
/// makes instant; Euclid alone allocates a fresh remainder per step, which the fuzzer showed
/// costs seconds over many sums of 10,000-bit fractions.
pub fn gcd(a: &BigInt, b: &BigInt) -> BigInt {
    let (mut a, mut b) = (a.abs(), b.abs());
    if a < b {
        std::mem::swap(&mut a, &mut b);
    }
    while !b.is_zero() {
        if a.bits() < b.bits() + 64 {
            return num_integer::Integer::gcd(&a, &b);
        }
        let r = &a % &b;
        a = b;
        b = r;
    }
    a
}

/// `x · y`, reduced with [`gcd`] (and free when a factor is 0 or 1).
pub fn qmul(x: &BigRational, y: &BigRational) -> BigRational {
    if x.is_zero() || y.is_zero() {
        return BigRational::zero();
    }
    if x.is_one() {
        return y.clone();
    }
    if y.is_one() {
        return x.clone();
    }
    let g1 = gcd(x.numer(), y.denom());
    let g2 = gcd(y.numer(), x.denom());
    let n = (x.numer() / &g1) * (y.numer() / &g2);
    let d = (x.denom() / &g2) * (y.denom() / &g1);
    // Denominators stay positive and the fraction is reduced by construction.
    BigRational::new_raw(n, d)
}

/// `x + y`, reduced with [`gcd`].
pub fn qadd(x: &BigRational, y: &BigRational) -> BigRational {
    if x.is_zero() {
        return y.clone();
    }
    if y.is_zero() {
        return x.clone();
    }
    let (n, d) = if x.denom() == y.denom() {
        (x.numer() + y.numer(), x.denom().clone())
    } else {
        (
            x.numer() * y.denom() + y.numer() * x.denom(),
            x.denom() * y.denom(),
        )
    };
    if n.is_zero() {
        return BigRational::zero();
    }
    let g = gcd(&n, &d);
    BigRational::new_raw(n / &g, d / g)
}

/// `q^e` for an integer `e`, or `None` if the result would exceed [`MAX_BITS`] (or `q = 0`,
/// `e < 0`).
pub fn pow_int(q: &BigRational, e: &BigInt) -> Option<BigRational> {
    if e.is_zero() {
        return Some(BigRational::one());
    }
    if q.is_zero() {
        return (e.is_positive()).then(BigRational::zero);
    }
    if q.numer().abs().is_one() && q.denom().is_one() {
        let odd = e.is_odd();
        return Some(if q.is_negative() && odd {
            -BigRational::one()
        } else {
            BigRational::one()
        });
    }
    let ea = e.abs().to_u64()?;
    if bits(q).checked_mul(ea)? > MAX_BITS {
        return None;
    }
    // Powers of a reduced fraction are reduced: no gcd needed.
    let n = num_traits::pow(q.numer().clone(), ea as usize);
    let d = num_traits::pow(q.denom().clone(), ea as usize);
    let r = BigRational::new_raw(n, d);
    Some(if e.is_negative() { r.recip() } else { r })
}

/// `n!` for `0 <= n <= MAX_FACTORIAL`.
pub fn factorial(n: &BigRational, budget: &mut Budget) -> Result<Option<BigInt>> {
    if !n.is_integer() || n.is_negative() {
        return Ok(None);
    }
    let Some(k) = n.numer().to_u64() else {
        return Ok(None);
    };
    if k > MAX_FACTORIAL {
        return Ok(None);
    }
    budget.charge(k)?;
    let mut acc = BigInt::one();
    for i in 2..=k {
        acc *= i;
    }
    Ok(Some(acc))
}

/// `binom(n, k)` for small non-negative integers.
pub fn binomial(n: &BigRational, k: &BigRational, budget: &mut Budget) -> Result<Option<BigInt>> {
    if !n.is_integer() || !k.is_integer() {
        return Ok(None);
    }
    let (Some(n), Some(k)) = (n.numer().to_i64(), k.numer().to_i64()) else {
        return Ok(None);
    };
    if !(0..=100_000).contains(&n) {
        return Ok(None);
    }
    if k < 0 || k > n {
        return Ok(Some(BigInt::zero()));
    }
    let k = k.min(n - k);
    budget.charge(k as u64)?;
    let mut acc = BigInt::one();
    for i in 0..k {
        acc = acc * (n - i) / (i + 1);
    }
    Ok(Some(acc))
}

/// Factors a positive integer into (base, multiplicity) pairs. Small primes are found by trial
/// division; a remaining cofactor is kept whole (after pulling out a perfect square or cube), so
/// bases are primes except for rare large cofactors.
pub fn factor(n: &BigInt, budget: &mut Budget) -> Result<Vec<(BigInt, u64)>> {
    let mut out: Vec<(BigInt, u64)> = Vec::new();
    if n.is_one() || n.is_zero() {
        return Ok(out);
    }
    let mut rest = n.clone();
    if let Some(mut v) = rest.to_u64() {
        let mut d = 2u64;
        while d <= TRIAL_U64 && d.saturating_mul(d) <= v {
            if d & 127 == 1 {
                budget.charge(1)?;
            }
            if v % d == 0 {
                let mut m = 0;
                while v % d == 0 {
                    v /= d;
                    m += 1;
                }
                out.push((BigInt::from(d), m));
            }
            d += if d == 2 { 1 } else { 2 };
        }
        rest = BigInt::from(v);
    } else {
        let mut d = 2u64;
        while d <= TRIAL_BIG {
            budget.charge(1)?;
            let bd = BigInt::from(d);
            if rest.is_multiple_of(&bd) {
                let mut m = 0;
                while rest.is_multiple_of(&bd) {
                    rest /= &bd;
                    m += 1;
                }
                out.push((bd, m));
            }
            d += if d == 2 { 1 } else { 2 };
        }
    }
    if !rest.is_one() {
        budget.charge(rest.bits() / 64 + 1)?;
        let s = rest.sqrt();
        let c = rest.cbrt();
        if &s * &s == rest {
            out.push((s, 2));
        } else if &c * &c * &c == rest {
            out.push((c, 3));
        } else {
            out.push((rest, 1));
        }
    }
    Ok(out)
}
