//! The gated MLP's `act(gate) · up` for training passes as one autograd node with its own
//! backward.
//!
//! Why hand-written: spelled out as candle's `silu` (or `gelu`) then a product, autograd kept
//! the activated gate for the backward, a third tensor of the MLP's width per layer (for SmolLM2,
//! 1,536 floats per token and layer: 377 MiB of a whole-batch update of 8 × 256 tokens), on top of
//! `gate` and `up`, which the projections' backward needs anyway. This op keeps only those two
//! and recomputes the activation in the backward.
//!
//! Forward: `silu(g)·u = g / (1 + e^(−g)) · u`, or GELU's tanh form
//! `0.5·g·(1 + tanh(√(2/π)·g·(1 + 0.044715·g²)))·u`, as candle computes them. Backward:
//! `du = dp · act(g)`, `dg = dp · u · act′(g)` with `silu′ = σ(g)·(1 − silu(g)) + silu(g)` and
//! `gelu′ = 0.5·(1 + t) + 0.5·g·(1 − t²)·√(2/π)·(1 + 3·0.044715·g²)`, `t` the tanh above.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::fastmath::Gate;
use crate::par;

/// Elements per parallel work item.
const CHUNK: usize = 16 * 1024;
/// `√(2/π)`.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of GELU's tanh approximation.
const GELU_C: f32 = 0.044_715;

/// `act(gate) · up` elementwise, differentiable in both.
pub(crate) fn gated(act: Gate, gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    if gate.dims() != up.dims() {
        candle_core::bail!("gated MLP: gate {:?} vs up {:?}", gate.dims(), up.dims());
    }
    let op = Gated { act };
    let (gate, up) = (gate.contiguous()?, up.contiguous()?);
    if gate.track_op() || up.track_op() {
        gate.apply_op2(&up, op)
    } else {
        gate.apply_op2_no_bwd(&up, &op)
    }
}

struct Gated {
    act: Gate,
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    crate::custom_op::f32_slice("gated MLP", s, l, what)
}

/// `act(g)`, as candle's unary op computes it.
#[inline]
fn act(a: Gate, g: f32) -> f32 {
    match a {
        Gate::Silu => g / (1.0 + (-g).exp()),
        Gate::GeluTanh => 0.5 * g * (1.0 + (SQRT_2_OVER_PI * g * (1.0 + GELU_C * g * g)).tanh()),
    }
}

/// `(act(g), act′(g))`.
#[inline]
fn act_and_slope(a: Gate, g: f32) -> (f32, f32) {
    match a {
        Gate::Silu => {
            let e = (-g).exp();
            let s = g / (1.0 + e);
            let sig = 1.0 / (e + 1.0);
            (s, sig * (1.0 - s) + s)
        }
        Gate::GeluTanh => {
            let t = (SQRT_2_OVER_PI * g * (1.0 + GELU_C * g * g)).tanh();
            let y = 0.5 * g * (1.0 + t);
            let dt = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * g * g);
            (y, 0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * dt)
        }
    }
}

impl CustomOp2 for Gated {
    fn name(&self) -> &'static str {
        "gated-mlp"
    }

    fn cpu_fwd(
        &self,
        sg: &CpuStorage,
        lg: &Layout,
        su: &CpuStorage,
        lu: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, u) = (f32_slice(sg, lg, "gate")?, f32_slice(su, lu, "up")?);
        let mut out = vec![0f32; g.len()];
        let mut items: Vec<&mut [f32]> = out.chunks_mut(CHUNK).collect();
        par::for_each_mut(&mut items, |i, o| {
            let base = i * CHUNK;
            for (j, o) in o.iter_mut().enumerate() {
                *o = act(self.act, g[base + j]) * u[base + j];
            }
        });
        Ok((CpuStorage::F32(out), lg.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        crate::custom_op::with_f32(
            "gated MLP",
            [grad, gate, up],
            ["output gradient", "gate", "up"],
            |[dp, g, u]| self.backward(dp, g, u, gate, up),
        )
    }
}

impl Gated {
    /// `(d gate, d up)` as tensors shaped like the inputs.
    fn backward(
        &self,
        dp: &[f32],
        g: &[f32],
        u: &[f32],
        gate: &Tensor,
        up: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let mut dg = vec![0f32; g.len()];
        let mut du = vec![0f32; g.len()];
        let mut items: Vec<(&mut [f32], &mut [f32])> =
            dg.chunks_mut(CHUNK).zip(du.chunks_mut(CHUNK)).collect();
        par::for_each_mut(&mut items, |i, (dgc, duc)| {
            let base = i * CHUNK;
            for (j, (dgj, duj)) in dgc.iter_mut().zip(duc.iter_mut()).enumerate() {
                let k = base + j;
                let (a, slope) = act_and_slope(self.act, g[k]);
                *dgj = dp[k] * u[k] * slope;
                *duj = dp[k] * a;
            }
        });
        let dev = gate.device();
        Ok((
            Some(Tensor::from_vec(dg, gate.shape(), dev)?),
            Some(Tensor::from_vec(du, up.shape(), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_op::testing::{assert_close, flat};
    use candle_core::Var;

    fn random(shape: &[usize], seed: u64, spread: f32) -> Tensor {
        crate::custom_op::testing::random(shape, seed, -spread, spread)
    }

    /// Values and both gradients against candle's activation and product, for both gates,
    /// over more elements than one work item, with inputs far into both tails.
    #[test]
    fn fused_gate_matches_candles_ops() {
        let shape = [3, 11, 700];
        let weights = random(&shape, 9, 1.0);
        for a in [Gate::Silu, Gate::GeluTanh] {
            let mut out = Vec::new();
            for fused in [true, false] {
                let g = Var::from_tensor(&random(&shape, 1, 12.0)).unwrap();
                let u = Var::from_tensor(&random(&shape, 2, 3.0)).unwrap();
                let y = if fused {
                    gated(a, g.as_tensor(), u.as_tensor()).unwrap()
                } else {
                    let act = match a {
                        Gate::Silu => g.as_tensor().silu().unwrap(),
                        Gate::GeluTanh => g.as_tensor().gelu().unwrap(),
                    };
                    (act * u.as_tensor()).unwrap()
                };
                let loss = (y.clone() * &weights).unwrap().sum_all().unwrap();
                let grads = loss.backward().unwrap();
                out.push((
                    flat(&y),
                    flat(grads.get(g.as_tensor()).unwrap()),
                    flat(grads.get(u.as_tensor()).unwrap()),
                ));
            }
            assert_close(&format!("{a:?} values"), &out[0].0, &out[1].0, 1e-6);
            assert_close(&format!("{a:?} d gate"), &out[0].1, &out[1].1, 1e-5);
            assert_close(&format!("{a:?} d up"), &out[0].2, &out[1].2, 1e-6);
        }
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let g = random(&[2, 4], 1, 1.0);
        let u = random(&[2, 5], 2, 1.0);
        assert!(gated(Gate::Silu, &g, &u).is_err());
    }
}
