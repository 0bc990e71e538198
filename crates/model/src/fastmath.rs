//! Vectorisable `exp` and the fused activations of quantized inference.
//!
//! Why by hand: the standard library's `f32::exp` is a libm call per element, which no loop
//! vectorises; at batch 32 SmolLM2 spends millions of them per decoding step (the SiLU gate,
//! the attention softmax, the sampler's vocabulary-wide softmax). No maintained crate offers a
//! SIMD `exp` on stable Rust without a C toolchain, so this is the classic Cephes `expf`
//! scheme (range reduction by ln 2, degree-6 polynomial, exponent by bit assembly) written
//! branch-free, so that loops over it compile to AVX2 inside the kernels' AVX2 wrappers.
//! Peak relative error against f64 `exp` is below 3e-7 (tested).

/// `e^x` for f32, branch-free: finite inputs below −87.3 give 0, inputs above 88.3 saturate at
/// `e^88.3` (callers only need it for softmax and sigmoids), NaN stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·LN2_HI is exact (Cephes' C1, C2).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    const LO: f32 = -87.336_54;
    let xc = x.clamp(LO, 88.3);
    let t = xc * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    // n ∈ [−126, 127] after the clamp, so 2ⁿ is a normal float.
    let ni = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let scale = f32::from_bits(((ni + 127) as u32) << 23);
    if x < LO { 0.0 } else { p * scale }
}

/// Sum with 16 independent partial sums (vectorisable, unlike a sequential fold).
#[inline(always)]
pub(crate) fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = xs.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for l in 0..16 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Whether this CPU has AVX2 and FMA (checked once). Kernels built on [`exp`] come in two
/// compilations: an `#[inline(always)]` body, and a `#[target_feature(enable = "avx2,fma")]`
/// wrapper of it that callers take when this is true.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma() -> bool {
    static HAS: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    });
    *HAS
}

/// The gate of a gated MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// `g·σ(g)` (Llama, Qwen2).
    Silu,
    /// GELU with the tanh approximation (Gemma): `0.5·g·(1 + tanh(√(2/π)(g + 0.044715·g³)))`,
    /// computed as `g·σ(2·√(2/π)(g + 0.044715·g³))`, the same function.
    GeluTanh,
}

/// `out[i] = act(gate[i]) · up[i]`.
#[inline(always)]
fn gated(act: Gate, gate: &[f32], up: &[f32], out: &mut [f32]) {
    const C: f32 = 2.0 * 0.797_884_6; // 2·√(2/π)
    match act {
        Gate::Silu => {
            for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + exp(-g)) * u;
            }
        }
        Gate::GeluTanh => {
            for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                let z = C * (g + 0.044_715 * g * g * g);
                *o = g / (1.0 + exp(-z)) * u;
            }
        }
    }
}

/// [`gated`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gated_avx2(act: Gate, gate: &[f32], up: &[f32], out: &mut [f32]) {
    gated(act, gate, up, out)
}

/// `act(gate) · up` over rows of `width` values stored as `[gate | up]` pairs (`2·width` per row,
/// as the fused gate/up projection lays them out); returns `rows·width` values.
pub(crate) fn gated_rows(act: Gate, gate_up: &[f32], width: usize) -> Vec<f32> {
    let rows = gate_up.len() / (2 * width).max(1);
    let mut out = vec![0f32; rows * width];
    let mut chunks: Vec<(&[f32], &mut [f32])> = gate_up
        .chunks_exact(2 * width)
        .zip(out.chunks_mut(width))
        .collect();
    crate::par::for_each_mut(&mut chunks, |_, (gu, o)| {
        let (g, u) = gu.split_at(width);
        #[cfg(target_arch = "x86_64")]
        if avx2_fma() {
            // SAFETY: AVX2 and FMA were detected at run time.
            return unsafe { gated_avx2(act, g, u, o) };
        }
        gated(act, g, u, o)
    });
    drop(chunks);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_3e7_relative_of_f64_exp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_731;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(100.0).is_finite() && exp(100.0) > 1e38);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_all_avx2(xs: &mut [f32]) {
        for x in xs {
            *x = exp(*x);
        }
    }

    #[test]
    fn vectorised_exp_matches_scalar_exp() {
        #[cfg(target_arch = "x86_64")]
        if avx2_fma() {
            let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.173).collect();
            let mut v = xs.clone();
            // SAFETY: AVX2 and FMA were detected.
            unsafe { exp_all_avx2(&mut v) };
            for (a, b) in v.iter().zip(&xs) {
                assert!((a - exp(*b)).abs() <= 1e-6 * a.abs(), "{a} vs {}", exp(*b));
            }
        }
    }

    #[test]
    fn gates_match_their_textbook_formulas() {
        let width = 37;
        let gate_up: Vec<f32> = (0..3 * 2 * width)
            .map(|i| ((i as f32) * 0.61).sin() * 6.0)
            .collect();
        for act in [Gate::Silu, Gate::GeluTanh] {
            let out = gated_rows(act, &gate_up, width);
            assert_eq!(out.len(), 3 * width);
            for (r, row) in gate_up.chunks(2 * width).enumerate() {
                for i in 0..width {
                    let (g, u) = (f64::from(row[i]), f64::from(row[width + i]));
                    let a = match act {
                        Gate::Silu => g / (1.0 + (-g).exp()),
                        Gate::GeluTanh => {
                            let k = (2.0 / std::f64::consts::PI).sqrt();
                            0.5 * g * (1.0 + (k * (g + 0.044715 * g * g * g)).tanh())
                        }
                    };
                    let got = f64::from(out[r * width + i]);
                    assert!((got - a * u).abs() < 1e-5, "{act:?} {g} {u}: {got}");
                }
            }
        }
    }

    #[test]
    fn sum_matches_sequential_sum() {
        let xs: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.37).cos()).collect();
        let seq: f64 = xs.iter().map(|&x| f64::from(x)).sum();
        assert!((f64::from(sum(&xs)) - seq).abs() < 1e-4);
    }
}
