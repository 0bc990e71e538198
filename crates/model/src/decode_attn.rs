//! Attention of one new token per sequence over the KV cache (batched decoding), read in place.
//!
//! Why not [`crate::layers::attend`]: for one query row per head, candle runs `B·Hkv` tiny
//! matmuls through `gemm` plus a softmax op and copies of the cache views, and at batch 32 that
//! fixed cost was ~12 % of a decoding step. Here each (sequence, head) is two short dot-product
//! loops over the cached keys and values, straight from the cache buffers.

use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// Strided f32 view of a rank-4 tensor's CPU storage.
struct View<'a> {
    data: &'a [f32],
    offset: usize,
    stride: [usize; 4],
}

impl View<'_> {
    fn at(&self, i: usize, j: usize, k: usize) -> usize {
        self.offset + i * self.stride[0] + j * self.stride[1] + k * self.stride[2]
    }
}

/// The f32 CPU data of a rank-4 tensor with a unit last stride.
fn view<'a>(st: &'a Storage, l: &candle_core::Layout) -> Option<View<'a>> {
    match st {
        Storage::Cpu(CpuStorage::F32(d)) if l.stride().len() == 4 && l.stride()[3] == 1 => {
            let st = l.stride();
            Some(View {
                data: d.as_slice(),
                offset: l.start_offset(),
                stride: [st[0], st[1], st[2], st[3]],
            })
        }
        _ => None,
    }
}

/// `softmax(q·kᵀ + mask)·v` for `q: (B, H, 1, hd)` (already scaled), `k`, `v: (B, Hkv, S, hd)`
/// and `mask: (B, 1, 1, S)`; returns `(B, 1, H·hd)`, or `None` when the tensors are not f32 on
/// the CPU with a unit last stride (the caller then takes the general path).
pub(crate) fn attend_one(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let (b, h, t, hd) = q.dims4()?;
    let (_, hkv, s, _) = k.dims4()?;
    if t != 1 || hkv == 0 || h % hkv != 0 {
        return Ok(None);
    }
    let q = q.contiguous()?;
    let mask = match mask {
        Some(m) => Some(m.contiguous()?.flatten_all()?.to_vec1::<f32>()?),
        None => None,
    };
    let (qs, ql) = q.storage_and_layout();
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let (Some(qv), Some(kv), Some(vv)) = (view(&qs, ql), view(&ks, kl), view(&vs, vl)) else {
        return Ok(None);
    };
    let group = h / hkv;
    let mut out = vec![0f32; b * h * hd];
    // One (sequence, head) per work item; each writes its own hd outputs.
    out.par_chunks_mut(hd).enumerate().for_each_init(
        || vec![0f32; s],
        |scores, (i, o)| {
            let (bi, hi) = (i / h, i % h);
            let g = hi / group;
            let qrow = &qv.data[qv.at(bi, hi, 0)..qv.at(bi, hi, 0) + hd];
            let mut max = f32::NEG_INFINITY;
            for (j, sc) in scores.iter_mut().enumerate() {
                let kb = kv.at(bi, g, j);
                let krow = &kv.data[kb..kb + hd];
                let dot: f32 = qrow.iter().zip(krow).map(|(a, b)| a * b).sum();
                let m = mask.as_ref().map_or(0.0, |m| m[bi * s + j]);
                *sc = dot + m;
                max = max.max(*sc);
            }
            let mut sum = 0f32;
            for sc in scores.iter_mut() {
                *sc = (*sc - max).exp();
                sum += *sc;
            }
            let inv = 1.0 / sum;
            for (j, &p) in scores.iter().enumerate() {
                let vb = vv.at(bi, g, j);
                let p = p * inv;
                for (oc, &x) in o.iter_mut().zip(&vv.data[vb..vb + hd]) {
                    *oc += p * x;
                }
            }
        },
    );
    drop((qs, ks, vs));
    Ok(Some(Tensor::from_vec(out, (b, 1, h * hd), k.device())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Mode, attend};
    use candle_core::{Device, IndexOp};

    #[test]
    fn matches_the_general_attention_on_cache_views_with_a_mask() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, hkv, hd, cap, s) = (3usize, 6usize, 2usize, 8usize, 10usize, 7usize);
        let vals = |n: usize, f: f32| -> Vec<f32> {
            (0..n).map(|i| ((i as f32) * f).sin()).collect::<Vec<_>>()
        };
        let q = Tensor::from_vec(vals(b * h * hd, 0.37), (b, h, 1, hd), &dev)?;
        // Cache buffers larger than the cached length, viewed like KvCache::append does.
        let kbuf = Tensor::from_vec(vals(b * hkv * cap * hd, 0.11), (b, hkv, cap, hd), &dev)?;
        let vbuf = Tensor::from_vec(vals(b * hkv * cap * hd, 0.23), (b, hkv, cap, hd), &dev)?;
        let (k, v) = (kbuf.narrow(2, 0, s)?, vbuf.narrow(2, 0, s)?);
        // Sequence 0 has two padding keys, sequence 2 one.
        let mut m = vec![0f32; b * s];
        m[0] = f32::NEG_INFINITY;
        m[1] = f32::NEG_INFINITY;
        m[2 * s] = f32::NEG_INFINITY;
        let mask = Tensor::from_vec(m, (b, 1, 1, s), &dev)?;
        for mask in [None, Some(&mask)] {
            let fast = attend_one(&q, &k, &v, mask)?.ok_or(crate::Error::invalid("t", "none"))?;
            let slow = attend(&q, &k, &v, mask, Mode::Infer)?;
            let diff = (fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "max diff {diff}");
            assert!(slow.i((0, 0, 0))?.to_scalar::<f32>()?.is_finite());
        }
        // Prefill shapes are left to the general path.
        let q2 = Tensor::zeros((b, h, 2, hd), candle_core::DType::F32, &dev)?;
        assert!(attend_one(&q2, &k, &v, None)?.is_none());
        Ok(())
    }
}
