//! Rotary embedding for training passes as one autograd node with its own backward.
//!
//! Why hand-written: candle's fused `rope` has no backward (docs/candle-notes.md, pitfall 1), so
//! the train path used to build rotate-half from differentiable ops (`cat` of the cos and sin
//! tables, two `narrow`s, a `neg`, a `cat`, two broadcast products and a sum). Autograd kept
//! every one of those intermediates for the backward, five to six tensors of q's and k's size
//! per layer, most of the whole-batch update's activation memory after the fused attention.
//! This op keeps nothing but its input (already held by the projection) and its output.
//!
//! The arithmetic is the expression it replaces, term for term: `x_j·cos_j + (−x_{j+h})·sin_j`
//! for the first half of each head, `x_j·cos_j + x_{j−h}·sin_j` for the second, and in the
//! backward `g_j·cos_j + g_{j+h}·sin_j` and `g_j·cos_j − g_{j−h}·sin_j`. Each output is one
//! rounding of two products, as before, so values and gradients are bit-identical to the plain
//! expression (tested below), and seeded runs are unchanged.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Storage, Tensor};

use crate::par;

/// `(B, T, head_dim/2)` cosine and sine tables shared by a forward pass's layers.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    /// `cos(p · f_i)` per (sequence, position, frequency), row-major.
    pub(crate) cos: Arc<Vec<f32>>,
    /// `sin(p · f_i)`, same layout.
    pub(crate) sin: Arc<Vec<f32>>,
    /// Frequencies per position (`head_dim / 2`).
    pub(crate) half: usize,
}

/// Rotate-half RoPE on `x: (B, H, T, head_dim)` (any strides with a dense last dimension),
/// differentiable; the result is contiguous.
pub(crate) fn apply(x: &Tensor, tables: &Tables) -> candle_core::Result<Tensor> {
    let (b, _, t, d) = x.dims4()?;
    if d != 2 * tables.half || tables.cos.len() != b * t * tables.half {
        candle_core::bail!(
            "rotary: x {:?} does not match tables of {} positions × {} frequencies",
            x.dims(),
            tables.cos.len() / tables.half.max(1),
            tables.half
        );
    }
    let op = Rotary {
        tables: tables.clone(),
    };
    if x.track_op() {
        x.apply_op1(op)
    } else {
        x.apply_op1_no_bwd(&op)
    }
}

struct Rotary {
    tables: Tables,
}

impl Rotary {
    /// `out (B·H·T·d, contiguous) = R · x`, or `Rᵀ · x` with `inverse` (the backward). `x` is
    /// addressed through `layout` (last dimension dense).
    fn rotate(
        &self,
        data: &[f32],
        layout: &Layout,
        inverse: bool,
    ) -> candle_core::Result<Vec<f32>> {
        let (b, h, t, d) = layout.shape().dims4()?;
        let st = layout.stride();
        if st[3] != 1 && d > 1 {
            candle_core::bail!("rotary: the head dimension is not dense (strides {st:?})");
        }
        let (s0, s1, s2, off) = (st[0], st[1], st[2], layout.start_offset());
        let half = self.tables.half;
        let (cos, sin) = (&self.tables.cos[..], &self.tables.sin[..]);
        let mut out = vec![0f32; b * h * t * d];
        let mut rows: Vec<&mut [f32]> = out.chunks_mut(t * d).collect();
        par::for_each_mut(&mut rows, |bh, o| {
            let (bi, hi) = (bh / h, bh % h);
            for ti in 0..t {
                let src = &data[off + bi * s0 + hi * s1 + ti * s2..][..d];
                let dst = &mut o[ti * d..(ti + 1) * d];
                let tab = (bi * t + ti) * half;
                let (c, s) = (&cos[tab..tab + half], &sin[tab..tab + half]);
                let (x1, x2) = src.split_at(half);
                let (o1, o2) = dst.split_at_mut(half);
                for j in 0..half {
                    if inverse {
                        o1[j] = x1[j] * c[j] + x2[j] * s[j];
                        o2[j] = x2[j] * c[j] - x1[j] * s[j];
                    } else {
                        o1[j] = x1[j] * c[j] + (-x2[j]) * s[j];
                        o2[j] = x2[j] * c[j] + x1[j] * s[j];
                    }
                }
            }
        });
        Ok(out)
    }
}

impl CustomOp1 for Rotary {
    fn name(&self) -> &'static str {
        "rotary"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = s else {
            candle_core::bail!("rotary: x is not f32");
        };
        Ok((
            CpuStorage::F32(self.rotate(data, l, false)?),
            l.shape().clone(),
        ))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.to_dtype(DType::F32)?;
        let (guard, layout) = grad.storage_and_layout();
        let Storage::Cpu(CpuStorage::F32(g)) = &*guard else {
            candle_core::bail!("rotary: backward on a non-CPU or non-f32 gradient");
        };
        let dx = self.rotate(g, layout, true)?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Mode, Rope};
    use candle_core::{D, Device, Var};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        crate::custom_op::testing::random(shape, seed, -3.0, 3.0)
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v.into_iter().map(f32::to_bits).collect()
    }

    /// The rotate-half expression the op replaced, from differentiable candle ops.
    fn plain(x: &Tensor, rope: &Rope) -> Tensor {
        let (cos, sin) = rope.tensors();
        let half = x.dim(D::Minus1).unwrap() / 2;
        let cos = Tensor::cat(&[cos, cos], D::Minus1)
            .unwrap()
            .unsqueeze(1)
            .unwrap();
        let sin = Tensor::cat(&[sin, sin], D::Minus1)
            .unwrap()
            .unsqueeze(1)
            .unwrap();
        let x1 = x.narrow(D::Minus1, 0, half).unwrap();
        let x2 = x.narrow(D::Minus1, half, half).unwrap();
        let rotated = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
        (x.broadcast_mul(&cos).unwrap() + rotated.broadcast_mul(&sin).unwrap()).unwrap()
    }

    /// Values and input gradients of the op and of the plain expression, bit for bit, on the
    /// strided `(B, T, H, d) → (B, H, T, d)` view the decoder passes, with padding positions.
    #[test]
    fn fused_rotary_matches_the_plain_expression_bit_for_bit() {
        let (b, t, h, d) = (2, 7, 3, 16);
        let positions: Vec<i64> = (0..b * t)
            .map(|i| if i == 3 { -1 } else { (i % t) as i64 * 37 })
            .collect();
        let inv_freq: Vec<f64> = (0..d / 2)
            .map(|i| 1.0 / 10000f64.powf(2.0 * i as f64 / d as f64))
            .collect();
        let rope = Rope::new(&positions, b, t, &inv_freq, &Device::Cpu).unwrap();
        let weights = random(&[b, h, t, d], 2);
        let mut grads = Vec::new();
        let mut values = Vec::new();
        for fused in [true, false] {
            let x = Var::from_tensor(&random(&[b, t, h, d], 1)).unwrap();
            let xt = x.as_tensor().transpose(1, 2).unwrap();
            let y = if fused {
                rope.apply(&xt, Mode::Train).unwrap()
            } else {
                plain(&xt, &rope)
            };
            let loss = (y.clone() * &weights).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            grads.push(bits(g.get(x.as_tensor()).unwrap()));
            values.push(bits(&y));
        }
        assert_eq!(values[0], values[1], "values");
        assert_eq!(grads[0], grads[1], "gradients");
        // And the inference kernel agrees with both within float rounding.
        let x = random(&[b, h, t, d], 3);
        let infer = rope.apply(&x, Mode::Infer).unwrap();
        let train = rope.apply(&x, Mode::Train).unwrap();
        let diff = (infer - train)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "infer vs train: {diff}");
    }

    #[test]
    fn mismatched_tables_are_an_error() {
        let rope = Rope::new(&[0, 1], 1, 2, &[1.0, 0.5], &Device::Cpu).unwrap();
        let x = random(&[1, 2, 3, 4], 1);
        assert!(rope.apply(&x, Mode::Train).is_err());
    }
}
