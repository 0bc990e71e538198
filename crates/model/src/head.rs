//! The LM head and log-softmax of [`Model::score`](crate::Model::score) in row chunks, with its
//! own backward, so the `(rows, vocab)` logits of a whole batch are never held at once.
//!
//! Why: scoring 8 responses of 192 tokens against SmolLM2's 49 152-token vocabulary makes a
//! 1536 × 49 152 f32 logit matrix (288 MiB), and candle's autograd keeps that, its shifted copy,
//! its `exp` and, in the backward, their gradients alive together: over a GiB for one
//! micro-batch, the largest tensors of a training step. Only one value per row is needed (the
//! log-probability of the target token), so this module computes the head `chunk` rows at a
//! time and keeps just that value and the row's log-sum-exp. The backward recomputes each
//! chunk's logits (one extra head matmul, a few per cent of a step) and turns them into
//! `∂ℓ/∂logits = g·(onehot − softmax)` in place, then into the gradients of the hidden states
//! and of the head weight.
//!
//! Per row `i` with target `t_i`, temperature `T` and optional soft-capping `c`:
//! `u = h_i·Wᵀ`, `z = c·tanh(u/c) / T` (or `u / T`), `ℓ_i = z_{t_i} − logsumexp(z)`.
//! The numbers equal the unchunked tensor expression to within float rounding (the matmul may
//! block its sums differently, and `exp` here is [`crate::fastmath::exp`]); a test in
//! `aha-train` checks values and gradients against it.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use crate::fastmath;
use crate::fixed_matmul::matmul_if;
use crate::par;

/// Rows of logits computed at once by default: 128 × 49 152 f32 is 24 MiB for SmolLM2, while
/// the matmuls stay large enough to run at full speed.
pub const DEFAULT_HEAD_CHUNK_ROWS: usize = 128;

/// The transform from raw head outputs `u` to the scored logits `z`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadTransform {
    /// Sampling temperature `T` (> 0).
    pub(crate) temperature: f32,
    /// Final logit soft-capping `c` (Gemma 2), if any.
    pub(crate) softcap: Option<f32>,
}

impl HeadTransform {
    /// `u → z` in place.
    fn apply(&self, row: &mut [f32]) {
        let t = self.temperature;
        match self.softcap {
            Some(c) => row.iter_mut().for_each(|v| *v = (*v / c).tanh() * c / t),
            None if t != 1.0 => row.iter_mut().for_each(|v| *v /= t),
            None => {}
        }
    }
}

/// `log p(targets[i] | hidden[i])` for every row of `hidden` `(N, H)` against the head weight
/// `weight` `(V, H)`, computed `chunk` rows at a time. Returns an `(N,)` f32 tensor that
/// carries a gradient into `hidden` and `weight` when either tracks one (and `track`).
pub(crate) fn chunked_logprobs(
    hidden: &Tensor,
    weight: &Tensor,
    targets: &[u32],
    transform: HeadTransform,
    chunk: usize,
    track: bool,
    fixed: bool,
) -> candle_core::Result<Tensor> {
    let (n, _) = hidden.dims2()?;
    let (vocab, _) = weight.dims2()?;
    if targets.len() != n || chunk == 0 {
        candle_core::bail!(
            "chunked head: {} targets for {n} rows, chunk {chunk}",
            targets.len()
        );
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= vocab) {
        candle_core::bail!("chunked head: target {t} outside a vocabulary of {vocab}");
    }
    let (h, w) = (hidden.detach(), weight.detach());
    let mut values = Vec::with_capacity(n);
    let mut lse = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let mut z = chunk_logits(&h, &w, start, len, transform, fixed)?;
        let mut rows: Vec<(&mut [f32], f32, f32)> =
            z.chunks_exact_mut(vocab).map(|r| (r, 0f32, 0f32)).collect();
        let tg = &targets[start..start + len];
        par::for_each_mut(&mut rows, |i, (row, value, l)| {
            *l = log_sum_exp(row);
            *value = row[tg[i] as usize] - *l;
        });
        values.extend(rows.iter().map(|r| r.1));
        lse.extend(rows.iter().map(|r| r.2));
        start += len;
    }
    if !(track && (hidden.track_op() || weight.track_op())) {
        return Tensor::from_vec(values, n, hidden.device());
    }
    hidden.apply_op2(
        weight,
        HeadLogprobs {
            values,
            lse,
            targets: targets.to_vec(),
            transform,
            chunk,
            fixed,
        },
    )
}

/// Logits `z` of rows `start..start+len`, row-major `(len, V)`.
fn chunk_logits(
    h: &Tensor,
    w: &Tensor,
    start: usize,
    len: usize,
    transform: HeadTransform,
    fixed: bool,
) -> candle_core::Result<Vec<f32>> {
    let u = matmul_if(fixed, &h.narrow(0, start, len)?, &w.t()?)?;
    let mut z = u.flatten_all()?.to_vec1::<f32>()?;
    drop(u);
    let vocab = w.dim(0)?;
    let mut rows: Vec<&mut [f32]> = z.chunks_exact_mut(vocab).collect();
    par::for_each_mut(&mut rows, |_, row| transform.apply(row));
    Ok(z)
}

/// `log Σ exp(row)`, shifted by the row's maximum.
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if !max.is_finite() {
        return max;
    }
    let mut acc = [0f32; 16];
    let chunks = row.chunks_exact(16);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|&v| fastmath::exp(v - max))
        .sum();
    for c in chunks {
        for l in 0..16 {
            acc[l] += fastmath::exp(c[l] - max);
        }
    }
    (fastmath::sum(&acc) + tail).ln() + max
}

/// The autograd node of [`chunked_logprobs`]: its forward hands back the values computed there;
/// its backward recomputes the logits chunk by chunk.
struct HeadLogprobs {
    values: Vec<f32>,
    lse: Vec<f32>,
    targets: Vec<u32>,
    transform: HeadTransform,
    chunk: usize,
    /// Products through [`crate::fixed_matmul`].
    fixed: bool,
}

impl CustomOp2 for HeadLogprobs {
    fn name(&self) -> &'static str {
        "chunked-lm-head-logprobs"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((
            CpuStorage::F32(self.values.clone()),
            Shape::from(self.values.len()),
        ))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (h, w) = (hidden.detach(), weight.detach());
        let (n, _) = h.dims2()?;
        let vocab = w.dim(0)?;
        let g = grad.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let want_h = hidden.track_op();
        let want_w = weight.track_op();
        let mut grad_h = Vec::new();
        let mut grad_w: Option<Tensor> = None;
        let tr = self.transform;
        let mut start = 0;
        while start < n {
            let len = self.chunk.min(n - start);
            let gs = &g[start..start + len];
            if gs.iter().all(|&v| v == 0.0) {
                // Padding rows (masked out of the loss) contribute nothing.
                if want_h {
                    grad_h.push(Tensor::zeros(
                        h.narrow(0, start, len)?.shape(),
                        DType::F32,
                        h.device(),
                    )?);
                }
                start += len;
                continue;
            }
            let mut z = chunk_logits(&h, &w, start, len, tr, self.fixed)?;
            let mut rows: Vec<&mut [f32]> = z.chunks_exact_mut(vocab).collect();
            let (lse, tg) = (
                &self.lse[start..start + len],
                &self.targets[start..start + len],
            );
            par::for_each_mut(&mut rows, |i, row| {
                // ∂ℓ/∂z = g·(onehot − softmax); then through z = c·tanh(u/c)/T (or u/T).
                let (gi, l, t) = (gs[i], lse[i], tr.temperature);
                let j = tg[i] as usize;
                let zt = row[j];
                // d z / d u at a scored logit z: (1 − tanh²(u/c)) / T, tanh(u/c) = z·T/c.
                let dzdu = |z: f32| match tr.softcap {
                    Some(c) => {
                        let s = z * t / c;
                        (1.0 - s * s) / t
                    }
                    None => 1.0 / t,
                };
                for v in row.iter_mut() {
                    let z = *v;
                    let d = -gi * fastmath::exp(z - l) * dzdu(z);
                    // Subnormal entries (|d| < 1.2e-38, from near-zero probabilities) are flushed
                    // to 0: they change no gradient measurably, and every multiply with one costs
                    // a microcode assist (~100+ cycles) on Intel cores in the two matmuls below.
                    *v = if d.abs() < f32::MIN_POSITIVE { 0.0 } else { d };
                }
                row[j] += gi * dzdu(zt);
            });
            let du = Tensor::from_vec(z, (len, vocab), h.device())?;
            if want_h {
                grad_h.push(matmul_if(self.fixed, &du, &w)?);
            }
            if want_w {
                let part = matmul_if(self.fixed, &du.t()?, &h.narrow(0, start, len)?)?;
                grad_w = Some(match grad_w {
                    Some(acc) => (acc + part)?,
                    None => part,
                });
            }
            start += len;
        }
        let grad_h = if want_h {
            Some(Tensor::cat(&grad_h, 0)?)
        } else {
            None
        };
        let grad_w = match (want_w, grad_w) {
            (true, Some(gw)) => Some(gw),
            (true, None) => Some(w.zeros_like()?),
            (false, _) => None,
        };
        Ok((grad_h, grad_w))
    }
}
