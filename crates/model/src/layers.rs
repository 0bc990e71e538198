//! Building blocks of the decoder: linear layers (dense or quantized), embedding, RMSNorm,
//! rotary embedding and grouped-query attention.
//!
//! Every block has two code paths chosen by [`Mode`]: `Train` uses only ops that candle can
//! differentiate (`ops::softmax`) or aha's own ops with a backward (RMSNorm,
//! [`crate::rmsnorm`]; rotate-half RoPE, [`crate::rotary`]), because candle's fused `rms_norm`,
//! `softmax_last_dim` and `rope` silently drop gradients (docs/candle-notes.md, pitfall 1);
//! `Infer` uses the fused kernels for speed.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{D, Module, Tensor};

use crate::cpu::LoadOptions;
use crate::error::Result;
use crate::qgemm::PackedQ8;

/// Which kernels a forward pass may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Autograd-safe ops only: gradients reach every weight.
    Train,
    /// Fused kernels without backward: faster, for sampling and gradient-free scoring.
    Infer,
}

/// A weight matrix stored as `(out, in)`.
#[derive(Debug, Clone)]
pub(crate) enum Weight {
    /// f32 (usually a `Var`'s tensor: trainable).
    Dense(Tensor),
    /// Quantized, inference only.
    Quant(Arc<QMatMul>),
    /// Q8_0, Q4_1 or Q5_0 repacked for aha's batched kernel ([`crate::qgemm`]), inference only.
    Packed(Arc<PackedQ8>),
}

impl Weight {
    /// A quantized matrix in the form `options` (kernels resolved) asks for: repacked for aha's
    /// kernel on the CPU when its type is packable, candle's `QMatMul` otherwise.
    pub(crate) fn quantized(q: QTensor, options: &LoadOptions) -> Result<Weight> {
        match Self::packed(&q, options)? {
            Some(w) => Ok(w),
            None => Ok(Weight::Quant(Arc::new(QMatMul::from_qtensor(q)?))),
        }
    }

    /// Like [`Weight::quantized`] for a tensor that stays shared (tied embeddings).
    pub(crate) fn quantized_shared(q: &Arc<QTensor>, options: &LoadOptions) -> Result<Weight> {
        match Self::packed(q, options)? {
            Some(w) => Ok(w),
            None => Ok(Weight::Quant(Arc::new(QMatMul::from_arc(q.clone())?))),
        }
    }

    /// The packed form, when `options` and the type allow it.
    fn packed(q: &QTensor, options: &LoadOptions) -> Result<Option<Weight>> {
        let kernels = options.cpu_kernels;
        if !(PackedQ8::supports(q.dtype()) && crate::qgemm::packed_for(&q.device(), kernels)) {
            return Ok(None);
        }
        let p = PackedQ8::from_qtensor_in(q, kernels, options.huge_pages)?;
        Ok(Some(Weight::Packed(Arc::new(p))))
    }
}

/// `y = x·Wᵀ (+ b)`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) weight: Weight,
    pub(crate) bias: Option<Tensor>,
    /// Dense products through [`crate::fixed_matmul`] ([`LoadOptions::fixed_order_f32`]).
    pub(crate) fixed: bool,
}

impl Linear {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.weight {
            Weight::Dense(w) => {
                let dims = x.dims().to_vec();
                let in_dim = dims[dims.len() - 1];
                let rows: usize = dims[..dims.len() - 1].iter().product();
                let x2 = x.reshape((rows, in_dim))?;
                let y = crate::fixed_matmul::matmul_if(self.fixed, &x2, &w.t()?)?;
                let mut out_dims = dims;
                let last = out_dims.len() - 1;
                out_dims[last] = w.dim(0)?;
                y.reshape(out_dims)?
            }
            Weight::Quant(q) => q.forward(&x.contiguous()?)?,
            Weight::Packed(p) => {
                let mut dims = x.dims().to_vec();
                let rows: usize = dims[..dims.len() - 1].iter().product();
                // Read in place: copying the activations out was 1 % of a batch-32 step.
                let out = crate::custom_op::with_f32("linear", [x], ["input"], |[xs]| {
                    Ok(p.matmul_vec(xs, rows))
                })??;
                let last = dims.len() - 1;
                dims[last] = p.n();
                Tensor::from_vec(out, dims, x.device())?
            }
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// Token embedding table `(vocab, hidden)`.
#[derive(Debug, Clone)]
pub(crate) enum Embedding {
    /// f32 rows (trainable when a `Var`).
    Dense(Tensor),
    /// Quantized rows, dequantized on lookup.
    Quant(Arc<QTensor>),
}

impl Embedding {
    /// `ids` of any shape → `ids.shape + (hidden,)`.
    pub(crate) fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Embedding::Dense(w) => {
                let mut dims = ids.dims().to_vec();
                dims.push(w.dim(1)?);
                let flat = ids.flatten_all()?;
                Ok(w.index_select(&flat, 0)?.reshape(dims)?)
            }
            Embedding::Quant(q) => Ok(q.embedding(ids)?),
        }
    }
}

/// RMSNorm with a multiplicative weight: `x / rms(x) · w` over the last dimension.
///
/// Gemma's `(1 + w)` form is converted to this form at load time, so one norm serves all.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Infer => Ok(candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)?),
        // Candle's `rms_norm` has no backward; this op has one, and keeps no intermediates.
        Mode::Train => Ok(crate::rmsnorm::rms_norm(x, w, eps)?),
    }
}

/// Softmax over the last dimension.
pub(crate) fn softmax_last(x: &Tensor, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Infer => Ok(candle_nn::ops::softmax_last_dim(&x.contiguous()?)?),
        Mode::Train => Ok(candle_nn::ops::softmax(x, D::Minus1)?),
    }
}

/// Rotary tables for one forward pass: `cos`/`sin` of shape `(B, T, head_dim/2)`, as tensors
/// for candle's inference kernel and as host rows for the training op ([`crate::rotary`]).
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    cos: Tensor,
    sin: Tensor,
    tables: crate::rotary::Tables,
}

impl Rope {
    /// Tables for the given positions (`B·T` values, row-major) and inverse frequencies.
    pub(crate) fn new(
        positions: &[i64],
        batch: usize,
        seq: usize,
        inv_freq: &[f64],
        device: &candle_core::Device,
    ) -> Result<Rope> {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            // Padding slots carry position -1; any finite angle will do for them.
            let p = p.max(0) as f64;
            for &f in inv_freq {
                let a = p * f;
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
        Ok(Rope {
            cos: Tensor::from_slice(&cos, (batch, seq, half), device)?,
            sin: Tensor::from_slice(&sin, (batch, seq, half), device)?,
            tables: crate::rotary::Tables {
                cos: std::sync::Arc::new(cos),
                sin: std::sync::Arc::new(sin),
                half,
            },
        })
    }

    /// The `(B, T, head_dim/2)` cosine and sine tensors.
    #[cfg(test)]
    pub(crate) fn tensors(&self) -> (&Tensor, &Tensor) {
        (&self.cos, &self.sin)
    }

    /// Rotate-half RoPE on `x: (B, H, T, head_dim)`.
    pub(crate) fn apply(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match mode {
            Mode::Infer => Ok(candle_nn::rotary_emb::rope(
                &x.contiguous()?,
                &self.cos,
                &self.sin,
            )?),
            // Candle's `rope` has no backward; this op has one, and keeps no intermediates.
            Mode::Train => Ok(crate::rotary::apply(x, &self.tables)?),
        }
    }
}

/// Inverse rotary frequencies `base^(-2i/d)`, rescaled as configured.
pub(crate) fn inv_freq(
    head_dim: usize,
    base: f64,
    scaling: &crate::config::RopeScaling,
) -> Vec<f64> {
    use crate::config::RopeScaling;
    let half = head_dim / 2;
    (0..half)
        .map(|i| {
            let f = 1.0 / base.powf(2.0 * i as f64 / head_dim as f64);
            match scaling {
                RopeScaling::None => f,
                RopeScaling::Linear { factor } => f / factor,
                RopeScaling::Factors { factors } => f / factors[i],
                RopeScaling::Llama3 {
                    factor,
                    low_freq_factor,
                    high_freq_factor,
                    original_max_position_embeddings,
                } => {
                    let old = *original_max_position_embeddings as f64;
                    let low_wavelen = old / low_freq_factor;
                    let high_wavelen = old / high_freq_factor;
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                }
            }
        })
        .collect()
}

/// Additive attention mask `(B, 1, T, S)`: 0 where query `t` may see key `s`, −∞ elsewhere.
///
/// `q_pos` holds `B·T` query positions, `k_pos[b]` the `S` key positions of sequence `b`;
/// −1 marks padding. A key is visible when it is real, not in the future and (for sliding
/// layers) fewer than `window` positions back. Padding queries see every key so that no row is
/// all −∞ (their outputs are never used).
pub(crate) fn attention_mask(
    q_pos: &[i64],
    k_pos: &[Vec<i64>],
    seq: usize,
    window: Option<usize>,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let batch = k_pos.len();
    let s = k_pos.first().map_or(0, Vec::len);
    let mut m = Vec::with_capacity(batch * seq * s);
    for (b, keys) in k_pos.iter().enumerate() {
        for t in 0..seq {
            let qp = q_pos[b * seq + t];
            for &kp in keys {
                let visible = qp < 0
                    || (kp >= 0 && kp <= qp && window.is_none_or(|w| ((qp - kp) as usize) < w));
                m.push(if visible { 0f32 } else { f32::NEG_INFINITY });
            }
        }
    }
    Ok(Tensor::from_vec(m, (batch, 1, seq, s), device)?)
}

/// Whether any key is hidden from any query; when not, the mask can be skipped (single-stream
/// decoding within the window), saving one op per layer and step.
pub(crate) fn mask_needed(
    q_pos: &[i64],
    k_pos: &[Vec<i64>],
    seq: usize,
    window: Option<usize>,
) -> bool {
    k_pos.iter().enumerate().any(|(b, keys)| {
        (0..seq).any(|t| {
            let qp = q_pos[b * seq + t];
            qp >= 0
                && keys.iter().any(|&kp| {
                    kp < 0 || kp > qp || window.is_some_and(|w| ((qp - kp) as usize) >= w)
                })
        })
    })
}

/// Scaled dot-product attention with grouped heads, without materialising repeated k/v.
///
/// `q: (B, H, T, hd)` (already scaled), `k`, `v: (B, Hkv, S, hd)`, `mask: (B, 1, T, S)` (`None`:
/// every key visible). `fixed`: products through [`crate::fixed_matmul`].
/// Queries of one kv group are stacked along the time axis so one batched matmul serves the
/// whole group. Returns `(B, T, H·hd)`.
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    mode: Mode,
    fixed: bool,
) -> Result<Tensor> {
    let (b, h, t, hd) = q.dims4()?;
    let (_, hkv, s, _) = k.dims4()?;
    let g = h / hkv;
    let qg = q.contiguous()?.reshape((b, hkv, g * t, hd))?;
    let mm = |a: &Tensor, b: &Tensor| crate::fixed_matmul::matmul_if(fixed, a, b);
    let scores = mm(&qg, &k.t()?)?.reshape((b, h, t, s))?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = softmax_last(&scores, mode)?.reshape((b, hkv, g * t, s))?;
    let out = mm(&probs, v)?.reshape((b, h, t, hd))?;
    Ok(out.transpose(1, 2)?.contiguous()?.reshape((b, t, h * hd))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(m: &Tensor) -> candle_core::Result<Vec<Vec<u8>>> {
        let rows = m.squeeze(0)?.squeeze(0)?.to_vec2::<f32>()?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_iter().map(|x| u8::from(x == 0.0)).collect())
            .collect())
    }

    #[test]
    fn causal_padded_and_sliding_masks() -> crate::Result<()> {
        // One sequence: a pad slot, then positions 0..3.
        let q = [-1i64, 0, 1, 2, 3];
        let k = vec![q.to_vec()];
        let full = visible(&attention_mask(&q, &k, 5, None, &candle_core::Device::Cpu)?)?;
        assert_eq!(
            full,
            vec![
                vec![1, 1, 1, 1, 1],
                vec![0, 1, 0, 0, 0],
                vec![0, 1, 1, 0, 0],
                vec![0, 1, 1, 1, 0],
                vec![0, 1, 1, 1, 1]
            ]
        );
        // Window 2: a query sees itself and one position back.
        let slid = visible(&attention_mask(
            &q,
            &k,
            5,
            Some(2),
            &candle_core::Device::Cpu,
        )?)?;
        assert_eq!(
            slid,
            vec![
                vec![1, 1, 1, 1, 1],
                vec![0, 1, 0, 0, 0],
                vec![0, 1, 1, 0, 0],
                vec![0, 0, 1, 1, 0],
                vec![0, 0, 0, 1, 1]
            ]
        );
        Ok(())
    }

    #[test]
    fn mask_is_skipped_only_when_everything_is_visible() {
        let keys = vec![vec![0i64, 1, 2, 3]];
        // One new token at position 3 sees all four keys.
        assert!(!mask_needed(&[3], &keys, 1, None));
        assert!(!mask_needed(&[3], &keys, 1, Some(4)));
        // ...but not with a 3-token window, nor with a padding key, nor in a causal prefill.
        assert!(mask_needed(&[3], &keys, 1, Some(3)));
        assert!(mask_needed(&[3], &[vec![-1, 1, 2, 3]], 1, None));
        assert!(mask_needed(&[0, 1, 2, 3], &keys, 4, None));
    }

    #[test]
    fn llama3_rope_scaling_keeps_high_and_divides_low_frequencies() {
        let s = crate::config::RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        };
        let plain = inv_freq(128, 500_000.0, &crate::config::RopeScaling::None);
        let scaled = inv_freq(128, 500_000.0, &s);
        // Highest frequency (wavelength 2π < 2048): unchanged; lowest: divided by 8.
        assert_eq!(scaled[0], plain[0]);
        assert!((scaled[63] - plain[63] / 8.0).abs() < 1e-18);
    }
}
