//! Numeric fallback (complex f64), used only when canonical forms contain opaque atoms.

use num_traits::ToPrimitive;

use crate::budget::Budget;
use crate::error::Result;
use crate::expr::Expr;

use super::canon::{PercentMode, not_scalar};

/// The most terms a numeric `binom(n, k)` multiplies; beyond that it is not evaluated.
const MAX_BINOM_TERMS: f64 = 10_000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct C {
    pub(super) re: f64,
    pub(super) im: f64,
}

impl C {
    pub(super) fn r(re: f64) -> C {
        C { re, im: 0.0 }
    }
    pub(super) fn add(self, o: C) -> C {
        C::new(self.re + o.re, self.im + o.im)
    }
    pub(super) fn new(re: f64, im: f64) -> C {
        C { re, im }
    }
    pub(super) fn mul(self, o: C) -> C {
        C::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    pub(super) fn div(self, o: C) -> C {
        let d = o.re * o.re + o.im * o.im;
        C::new(
            (self.re * o.re + self.im * o.im) / d,
            (self.im * o.re - self.re * o.im) / d,
        )
    }
    pub(super) fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    pub(super) fn ln(self) -> C {
        C::new(self.abs().ln(), self.im.atan2(self.re))
    }
    pub(super) fn exp(self) -> C {
        let m = self.re.exp();
        C::new(m * self.im.cos(), m * self.im.sin())
    }
    pub(super) fn pow(self, e: C) -> C {
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
    pub(super) fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
}

pub(super) fn var_value(name: &str, seed: u64) -> f64 {
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

pub(super) fn num_eval(e: &Expr, seed: u64, pm: PercentMode, b: &mut Budget) -> Result<C> {
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

pub(super) fn num_func(name: &str, v: &[C]) -> C {
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
                let (n, k) = (x.re, k.re.max(0.0).floor());
                // The product has k terms: for a whole n, use the shorter side (and 0 past n);
                // otherwise a huge k (a fuzzer found `\binom{10}{3111…1}`) would loop for ages.
                let k = if n >= 0.0 && n.fract() == 0.0 {
                    if k > n { -1.0 } else { k.min(n - k) }
                } else {
                    k
                };
                if k < 0.0 {
                    C::r(0.0)
                } else if k > MAX_BINOM_TERMS {
                    nan
                } else {
                    C::r((0..k as u64).fold(1.0, |acc, i| acc * (n - i as f64) / (i as f64 + 1.0)))
                }
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

pub(super) fn close(a: C, b: C) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    let scale = 1.0f64.max(a.abs()).max(b.abs());
    (a.re - b.re).abs() <= 1e-9 * scale && (a.im - b.im).abs() <= 1e-9 * scale
}
