//! RMSNorm for training passes as one autograd node with its own backward.
//!
//! Why hand-written: candle's fused `rms_norm` has no backward (docs/candle-notes.md, pitfall
//! 1), so the train path used to spell it out as `x.sqr()`, a row sum, a scale, `+ ε`, `sqrt`, a
//! broadcast division and a broadcast product; autograd then kept `x²` and the normalised rows
//! for every norm of every layer (two tensors of the hidden size per norm). This op keeps only its
//! inputs (held anyway: the residual stream and the weight) and recomputes each row's scale in the
//! backward, a single pass over the row.
//!
//! `y = x / d · w` with `d = sqrt(Σx² / n + ε)` per row. With `n̂ = x / d` and `ĝ = g · w`, the
//! backward is `dx = (ĝ − n̂ · Σ(ĝ·n̂) / n) / d` and `dw = Σ_rows g · n̂`. Row sums accumulate in
//! f64; the forward's rounding differs from the spelled-out expression's in the last bits only
//! (tested below against it, values and both gradients).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::par;

/// Rows per parallel work item (a few dozen KiB of the hidden state each).
const ROWS_PER_ITEM: usize = 32;

/// `x / sqrt(mean(x²) + eps) · w` over the last dimension of `x`, differentiable in `x` and `w`.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let hidden = x.dim(candle_core::D::Minus1)?;
    if w.dims() != [hidden] {
        candle_core::bail!(
            "rms_norm: weight {:?} for rows of {hidden} values",
            w.dims()
        );
    }
    let op = RmsNorm { eps: eps as f32 };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    if x.track_op() || w.track_op() {
        x.apply_op2(&w, op)
    } else {
        x.apply_op2_no_bwd(&w, &op)
    }
}

struct RmsNorm {
    eps: f32,
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    crate::custom_op::f32_slice("rms_norm", s, l, what)
}

impl RmsNorm {
    /// `d` of one row.
    fn scale(&self, row: &[f32]) -> f32 {
        let ss: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        ((ss / row.len() as f64) as f32 + self.eps).sqrt()
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (f32_slice(sx, lx, "x")?, f32_slice(sw, lw, "weight")?);
        let n = w.len();
        let mut out = vec![0f32; x.len()];
        let mut items: Vec<(&mut [f32], &[f32])> = out
            .chunks_mut(ROWS_PER_ITEM * n)
            .zip(x.chunks(ROWS_PER_ITEM * n))
            .collect();
        par::for_each_mut(&mut items, |_, (o, xs)| {
            for (orow, xrow) in o.chunks_exact_mut(n).zip(xs.chunks_exact(n)) {
                let d = self.scale(xrow);
                for ((o, &v), &wv) in orow.iter_mut().zip(xrow).zip(w) {
                    *o = v / d * wv;
                }
            }
        });
        Ok((CpuStorage::F32(out), lx.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        crate::custom_op::with_f32(
            "rms_norm",
            [grad, x, w],
            ["output gradient", "x", "weight"],
            |[g, xv, wv]| self.backward(g, xv, wv, x, w),
        )
    }
}

impl RmsNorm {
    /// `(dx, dw)` as tensors shaped like `x` and `w`.
    fn backward(
        &self,
        g: &[f32],
        xv: &[f32],
        wv: &[f32],
        x: &Tensor,
        w: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = wv.len();
        let mut dx = vec![0f32; xv.len()];
        // Per item: its rows of dx and its partial dw (summed below in item order, so the result
        // does not depend on the thread count).
        let mut items: Vec<(&mut [f32], Vec<f64>)> = dx
            .chunks_mut(ROWS_PER_ITEM * n)
            .map(|c| (c, vec![0f64; n]))
            .collect();
        par::for_each_mut(&mut items, |i, (dxc, dw)| {
            let base = i * ROWS_PER_ITEM * n;
            for (r, dxrow) in dxc.chunks_exact_mut(n).enumerate() {
                let xrow = &xv[base + r * n..base + (r + 1) * n];
                let grow = &g[base + r * n..base + (r + 1) * n];
                let d = self.scale(xrow);
                let mut dot = 0f64;
                for ((&xj, &gj), &wj) in xrow.iter().zip(grow).zip(wv) {
                    dot += f64::from(gj * wj) * f64::from(xj / d);
                }
                let mean = (dot / n as f64) as f32;
                for (j, o) in dxrow.iter_mut().enumerate() {
                    let nj = xrow[j] / d;
                    dw[j] += f64::from(grow[j]) * f64::from(nj);
                    *o = (grow[j] * wv[j] - nj * mean) / d;
                }
            }
        });
        let mut dw = vec![0f64; n];
        for (_, part) in &items {
            for (a, b) in dw.iter_mut().zip(part) {
                *a += b;
            }
        }
        let dw: Vec<f32> = dw.into_iter().map(|v| v as f32).collect();
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_op::testing::{assert_close, flat, random};
    use candle_core::{D, Var};

    /// The expression the op replaced, from differentiable candle ops.
    fn plain(x: &Tensor, w: &Tensor, eps: f64) -> Tensor {
        let hidden = x.dim(D::Minus1).unwrap() as f64;
        let ms = (x.sqr().unwrap().sum_keepdim(D::Minus1).unwrap() / hidden).unwrap();
        let normed = x
            .broadcast_div(&(ms + eps).unwrap().sqrt().unwrap())
            .unwrap();
        normed.broadcast_mul(w).unwrap()
    }

    /// Values and the gradients of `x` and `w` against the plain expression, over more rows than
    /// one work item (so the partial `dw` sums are combined), with rows of very different scales.
    #[test]
    fn fused_rms_norm_matches_the_plain_expression() {
        let (b, t, n) = (3, 29, 48);
        let eps = 1e-6;
        let scales = random(&[b, t, 1], 7, 0.01, 20.0);
        let weights = random(&[b, t, n], 9, -1.0, 1.0);
        let mut out = Vec::new();
        for fused in [true, false] {
            let x = Var::from_tensor(
                &random(&[b, t, n], 1, -2.0, 2.0)
                    .broadcast_mul(&scales)
                    .unwrap(),
            )
            .unwrap();
            let w = Var::from_tensor(&random(&[n], 2, 0.5, 1.5)).unwrap();
            let y = if fused {
                rms_norm(x.as_tensor(), w.as_tensor(), eps).unwrap()
            } else {
                plain(x.as_tensor(), w.as_tensor(), eps)
            };
            let loss = (y.clone() * &weights).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            out.push((
                flat(&y),
                flat(g.get(x.as_tensor()).unwrap()),
                flat(g.get(w.as_tensor()).unwrap()),
            ));
        }
        assert_close("values", &out[0].0, &out[1].0, 1e-6);
        assert_close("dx", &out[0].1, &out[1].1, 1e-5);
        assert_close("dw", &out[0].2, &out[1].2, 1e-5);
    }

    #[test]
    fn a_weight_of_the_wrong_size_is_an_error() {
        let x = random(&[2, 8], 1, -1.0, 1.0);
        let w = random(&[7], 2, -1.0, 1.0);
        assert!(rms_norm(&x, &w, 1e-6).is_err());
    }
}
