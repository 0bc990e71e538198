//! Attention of one new token per sequence over the KV cache (batched decoding), read in place.
//!
//! Why not [`crate::layers::attend`]: for one query row per head, candle runs `B·Hkv` tiny
//! matmuls through `gemm` plus a softmax op and copies of the cache views, and at batch 32 that
//! fixed cost was ~12 % of a decoding step. Here each (sequence, KV head) is two passes over the
//! cached keys and values, straight from the cache buffers, f32 or f16 (the f16 cache of
//! quantized models is widened in registers; over long caches attention is bound by memory
//! traffic, and f16 halves it: SmolLM2 batch 32 over 512 new tokens decoded ~14 % faster).

use candle_core::{CpuStorage, Storage, Tensor};
use std::cell::RefCell;

use crate::fastmath::{exp, sum};

use crate::error::Result;

/// Cached keys or values as stored: f32, or f16 (the half-size cache).
#[derive(Clone, Copy)]
enum Data<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
}

/// Strided view of a rank-4 tensor's CPU storage.
struct View<'a> {
    data: Data<'a>,
    offset: usize,
    stride: [usize; 4],
}

impl View<'_> {
    fn at(&self, i: usize, j: usize, k: usize) -> usize {
        self.offset + i * self.stride[0] + j * self.stride[1] + k * self.stride[2]
    }
}

/// The f32 or f16 CPU data of a rank-4 tensor with a unit last stride.
fn view<'a>(st: &'a Storage, l: &candle_core::Layout) -> Option<View<'a>> {
    let data = match st {
        Storage::Cpu(CpuStorage::F32(d)) => Data::F32(d.as_slice()),
        Storage::Cpu(CpuStorage::F16(d)) => Data::F16(d.as_slice()),
        _ => return None,
    };
    let st = l.stride();
    (st.len() == 4 && st[3] == 1).then(|| View {
        data,
        offset: l.start_offset(),
        stride: [st[0], st[1], st[2], st[3]],
    })
}

thread_local! {
    /// Attention scores of the (sequence, KV head) a worker is on, reused across calls.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `a·b` with 16 independent partial sums, a shape the compiler turns into SIMD (a plain
/// `zip().sum()` must keep the sequential float order and stays scalar).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One sequence's query heads that share a KV head, over that head's cached keys/values
/// (stored as `T`: f32, or f16 for the half-size cache).
struct Group<'a, T = f32> {
    /// `group` query rows of `hd` values, contiguous.
    q: &'a [f32],
    /// Key `j` is `k[j·stride..j·stride + hd]` (likewise values).
    k: &'a [T],
    v: &'a [T],
    stride: usize,
    /// Additive mask of the `s` keys, if any.
    mask: Option<&'a [f32]>,
    s: usize,
    hd: usize,
}

impl<T> Group<'_, T> {
    /// Whether every row the kernels index is inside the slices (the raw-pointer kernels rely
    /// on it).
    fn check(&self) -> bool {
        let need = if self.s == 0 {
            0
        } else {
            (self.s - 1) * self.stride + self.hd
        };
        self.hd > 0
            && self.q.len().is_multiple_of(self.hd)
            && self.stride >= self.hd
            && self.k.len() >= need
            && self.v.len() >= need
            && self.mask.is_none_or(|m| m.len() >= self.s)
    }
}

/// Makes `scores` hold `heads·s` zeros for the group's scores.
#[inline(always)]
fn zeroed<T>(scores: &mut Vec<f32>, g: &Group<'_, T>) {
    scores.clear();
    scores.resize(g.q.len() / g.hd * g.s, 0.0);
}

/// `scores[h·s + j] = q_h·k_j + mask_j` for every query head of the group and every key.
#[inline(always)]
fn qk(g: &Group<'_>, scores: &mut [f32]) {
    let (s, hd) = (g.s, g.hd);
    let heads = g.q.len() / hd;
    for j in 0..s {
        let m = g.mask.map_or(0.0, |m| m[j]);
        if m == f32::NEG_INFINITY {
            // Padding, or outside a sliding window (Gemma's local layers): skip the dot
            // products; the key's weight below is exactly 0.
            for h in 0..heads {
                scores[h * s + j] = f32::NEG_INFINITY;
            }
            continue;
        }
        let krow = &g.k[j * g.stride..j * g.stride + hd];
        for (h, qrow) in g.q.chunks_exact(hd).enumerate() {
            scores[h * s + j] = dot(qrow, krow) + m;
        }
    }
}

/// Each head's row of scores becomes its softmax, in place.
#[inline(always)]
fn softmax_rows(scores: &mut [f32], s: usize) {
    for row in scores.chunks_exact_mut(s) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for sc in row.iter_mut() {
            *sc = exp(*sc - max);
        }
        let inv = 1.0 / sum(row);
        for sc in row.iter_mut() {
            *sc *= inv;
        }
    }
}

/// `out[h] = Σ_j p[h][j]·v_j` (keys of weight 0 are skipped).
#[inline(always)]
fn pv(g: &Group<'_>, p: &[f32], out: &mut [f32]) {
    let (s, hd) = (g.s, g.hd);
    out.fill(0.0);
    for j in 0..s {
        if g.mask.is_some_and(|m| m[j] == f32::NEG_INFINITY) {
            continue;
        }
        let vrow = &g.v[j * g.stride..j * g.stride + hd];
        for (h, o) in out.chunks_exact_mut(hd).enumerate() {
            let w = p[h * s + j];
            for (oc, &x) in o.iter_mut().zip(vrow) {
                *oc += w * x;
            }
        }
    }
}

/// Writes the group's `group·hd` outputs into `out`, reading the keys and values of its KV head
/// for all of the group's query heads (GQA).
#[inline(always)]
fn attend_group(g: &Group<'_>, out: &mut [f32], scores: &mut Vec<f32>) {
    zeroed(scores, g);
    qk(g, scores);
    softmax_rows(scores, g.s);
    pv(g, scores, out);
}

/// [`attend_group`] compiled for AVX2 + FMA, with hand-written inner loops when `hd` is a
/// multiple of 8 (every supported model's): the compiler's own vectorisation of a lone dot
/// product waits on one add chain, and of the weighted sum of values stores the outputs after
/// every key; over long caches attention was then ~45 % of a batch-32 step.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_group_avx2(g: &Group<'_>, out: &mut [f32], scores: &mut Vec<f32>) {
    if !g.hd.is_multiple_of(8) {
        return attend_group(g, out, scores);
    }
    zeroed(scores, g);
    // SAFETY: AVX2/FMA per this function's contract; hd is a multiple of 8; the slices of `g`
    // hold every row they index (checked by `Group::check`).
    unsafe {
        x86::qk(g, scores);
        softmax_rows(scores, g.s);
        x86::pv(g, scores, out);
    }
}

/// [`attend_group`] over an f16 cache (AVX2, FMA and F16C; `hd` a multiple of 8): the values
/// are widened in registers, so attention reads half the bytes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `g.hd % 8 == 0`; `g` passes [`Group::check`];
/// `out.len() == g.q.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_group_f16(g: &Group<'_, half::f16>, out: &mut [f32], scores: &mut Vec<f32>) {
    zeroed(scores, g);
    // SAFETY: forwarded contract.
    unsafe {
        x86::qk_f16(g, scores);
        softmax_rows(scores, g.s);
        x86::pv_f16(g, scores, out);
    }
}

/// Whether this CPU runs the f16-cache kernels.
pub(crate) fn f16_cache_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::LazyLock<bool> =
            std::sync::LazyLock::new(|| std::arch::is_x86_feature_detected!("f16c"));
        crate::fastmath::avx2_fma() && *HAS
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Group;

    /// Eight f32 values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_f32(p: *const f32) -> __m256 {
        // SAFETY: the caller passes 8 readable values.
        unsafe { _mm256_loadu_ps(p) }
    }

    /// Eight f16 values, widened to f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_f16(p: *const half::f16) -> __m256 {
        // SAFETY: the caller passes 8 readable values (16 bytes).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    /// The lane sums of four vectors, as the four lanes of one.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
        // hadd pairs neighbours: after two rounds each 128-bit half holds the partial sums
        // of a, b, c, d over its four lanes.
        let abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
        _mm_add_ps(
            _mm256_castps256_ps128(abcd),
            _mm256_extractf128_ps::<1>(abcd),
        )
    }

    /// The key and value kernels for one storage type of the cache.
    macro_rules! kernels {
        ($qk:ident, $pv:ident, $t:ty, $feat:literal, $load:ident) => {
            /// [`super::qk`] four keys at a time (four independent accumulators per head).
            ///
            /// # Safety
            /// The target features; `g.hd % 8 == 0`; `g` passes [`Group::check`];
            /// `scores.len() ≥ heads·s`.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $qk(g: &Group<'_, $t>, scores: &mut [f32]) {
                let (s, hd, st) = (g.s, g.hd, g.stride);
                let heads = g.q.len() / hd;
                let masked = |j: usize| g.mask.is_some_and(|m| m[j] == f32::NEG_INFINITY);
                let madd = |j: usize| g.mask.map_or(0.0, |m| m[j]);
                let mut j = 0;
                while j < s {
                    let n = 4.min(s - j);
                    if (j..j + n).all(masked) {
                        for h in 0..heads {
                            scores[h * s + j..h * s + j + n].fill(f32::NEG_INFINITY);
                        }
                        j += n;
                        continue;
                    }
                    // SAFETY: rows j..j+n are inside `g.k` (check), hd values each; q rows likewise.
                    unsafe {
                        let kp = g.k.as_ptr().add(j * st);
                        for h in 0..heads {
                            let qp = g.q.as_ptr().add(h * hd);
                            let (mut a0, mut a1, mut a2, mut a3) = (
                                _mm256_setzero_ps(),
                                _mm256_setzero_ps(),
                                _mm256_setzero_ps(),
                                _mm256_setzero_ps(),
                            );
                            let mut d = 0;
                            if n == 4 {
                                while d < hd {
                                    let qv = _mm256_loadu_ps(qp.add(d));
                                    a0 = _mm256_fmadd_ps(qv, $load(kp.add(d)), a0);
                                    a1 = _mm256_fmadd_ps(qv, $load(kp.add(st + d)), a1);
                                    a2 = _mm256_fmadd_ps(qv, $load(kp.add(2 * st + d)), a2);
                                    a3 = _mm256_fmadd_ps(qv, $load(kp.add(3 * st + d)), a3);
                                    d += 8;
                                }
                            } else {
                                // The last 1–3 keys: one at a time.
                                let acc = [&mut a0, &mut a1, &mut a2];
                                for (t, a) in acc.into_iter().enumerate().take(n) {
                                    let mut d = 0;
                                    while d < hd {
                                        let qv = _mm256_loadu_ps(qp.add(d));
                                        *a = _mm256_fmadd_ps(qv, $load(kp.add(t * st + d)), *a);
                                        d += 8;
                                    }
                                }
                            }
                            let mut sums = [0f32; 4];
                            _mm_storeu_ps(sums.as_mut_ptr(), hsum4(a0, a1, a2, a3));
                            for (t, &v) in sums.iter().enumerate().take(n) {
                                scores[h * s + j + t] = v + madd(j + t);
                            }
                        }
                    }
                    j += n;
                }
            }

            /// [`super::pv`] with the outputs held in registers, 64 values (8 vectors) at a time.
            ///
            /// # Safety
            /// As for the key kernel, and `out.len() == heads·hd`, `p.len() ≥ heads·s`.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $pv(g: &Group<'_, $t>, p: &[f32], out: &mut [f32]) {
                let (s, hd, st) = (g.s, g.hd, g.stride);
                for (h, o) in out.chunks_exact_mut(hd).enumerate() {
                    let ph = &p[h * s..(h + 1) * s];
                    let mut c0 = 0;
                    while c0 < hd {
                        // SAFETY: columns c0..c0 + 64 (or + 8) of rows j < s are inside `g.v`.
                        unsafe {
                            if hd - c0 >= 64 {
                                let mut acc = [_mm256_setzero_ps(); 8];
                                for (j, &w) in ph.iter().enumerate() {
                                    if w == 0.0 {
                                        continue;
                                    }
                                    let wb = _mm256_set1_ps(w);
                                    let vp = g.v.as_ptr().add(j * st + c0);
                                    for (c, a) in acc.iter_mut().enumerate() {
                                        *a = _mm256_fmadd_ps(wb, $load(vp.add(c * 8)), *a);
                                    }
                                }
                                for (c, a) in acc.iter().enumerate() {
                                    _mm256_storeu_ps(o.as_mut_ptr().add(c0 + c * 8), *a);
                                }
                                c0 += 64;
                            } else {
                                let mut acc = _mm256_setzero_ps();
                                for (j, &w) in ph.iter().enumerate() {
                                    let vp = g.v.as_ptr().add(j * st + c0);
                                    acc = _mm256_fmadd_ps(_mm256_set1_ps(w), $load(vp), acc);
                                }
                                _mm256_storeu_ps(o.as_mut_ptr().add(c0), acc);
                                c0 += 8;
                            }
                        }
                    }
                }
            }
        };
    }

    kernels!(qk, pv, f32, "avx2,fma", load_f32);
    kernels!(qk_f16, pv_f16, half::f16, "avx2,fma,f16c", load_f16);
}

/// Runs [`attend_group`] with the widest SIMD this CPU has.
fn attend_group_best(g: &Group<'_>, out: &mut [f32], scores: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if crate::fastmath::avx2_fma() && g.check() && out.len() == g.q.len() {
        // SAFETY: AVX2 and FMA were detected at run time; the group's rows are in bounds.
        return unsafe { attend_group_avx2(g, out, scores) };
    }
    attend_group(g, out, scores)
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
    if t != 1 || hkv == 0 || h % hkv != 0 || s == 0 {
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
    let Data::F32(qd) = qv.data else {
        return Ok(None);
    };
    let f16 = match (kv.data, vv.data) {
        (Data::F32(_), Data::F32(_)) => false,
        // The f16 kernels need AVX2/FMA/F16C and whole 8-value vectors per head.
        (Data::F16(_), Data::F16(_)) if f16_cache_supported() && hd.is_multiple_of(8) => true,
        _ => return Ok(None),
    };
    if kv.stride[2] != vv.stride[2] {
        return Ok(None);
    }
    let group = h / hkv;
    let stride = kv.stride[2];
    // The cache is contiguous per (sequence, head) up to its capacity: rows j < s are valid.
    let span = (s - 1) * stride + hd;
    let mut out = vec![0f32; b * h * hd];
    // Query heads of a KV head are adjacent, so each (sequence, KV head) owns group·hd outputs.
    let mut rows: Vec<&mut [f32]> = out.chunks_mut(group * hd).collect();
    crate::par::for_each_mut(&mut rows, |i, o| {
        let (bi, g) = (i / hkv, i % hkv);
        let (q0, k0, v0) = (qv.at(bi, g * group, 0), kv.at(bi, g, 0), vv.at(bi, g, 0));
        let q = &qd[q0..q0 + group * hd];
        let mask = mask.as_ref().map(|m| &m[bi * s..(bi + 1) * s]);
        // The group over this (sequence, KV head)'s rows of the cache, of either storage type.
        macro_rules! group {
            ($kd:expr, $vd:expr) => {
                Group {
                    q,
                    k: &$kd[k0..k0 + span],
                    v: &$vd[v0..v0 + span],
                    stride,
                    mask,
                    s,
                    hd,
                }
            };
        }
        match (kv.data, vv.data) {
            (Data::F32(kd), Data::F32(vd)) => {
                let grp = group!(kd, vd);
                SCORES.with_borrow_mut(|scores| attend_group_best(&grp, o, scores));
            }
            #[cfg(target_arch = "x86_64")]
            (Data::F16(kd), Data::F16(vd)) if f16 => {
                let grp = group!(kd, vd);
                if grp.check() && o.len() == q.len() {
                    // SAFETY: AVX2/FMA/F16C detected (`f16`), hd % 8 == 0, bounds checked.
                    SCORES.with_borrow_mut(|scores| unsafe { attend_group_f16(&grp, o, scores) });
                }
            }
            // Ruled out before the pool call.
            _ => {}
        }
    });
    drop(rows);
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
        // (head_dim, cached keys): 8 and 72 take the AVX2 kernels' 8-wide and 64 + 8-wide value
        // paths and key blocks of 4 with remainders, 64 the main shape, 12 the portable path.
        for (hd, s) in [(8usize, 7usize), (64, 13), (72, 5), (12, 6), (64, 1)] {
            let (b, h, hkv, cap) = (3usize, 6usize, 2usize, 16usize);
            let vals = |n: usize, f: f32| -> Vec<f32> {
                (0..n).map(|i| ((i as f32) * f).sin()).collect::<Vec<_>>()
            };
            let q = Tensor::from_vec(vals(b * h * hd, 0.37), (b, h, 1, hd), &dev)?;
            // Cache buffers larger than the cached length, viewed like KvCache::append does.
            let kbuf = Tensor::from_vec(vals(b * hkv * cap * hd, 0.11), (b, hkv, cap, hd), &dev)?;
            let vbuf = Tensor::from_vec(vals(b * hkv * cap * hd, 0.23), (b, hkv, cap, hd), &dev)?;
            let (k, v) = (kbuf.narrow(2, 0, s)?, vbuf.narrow(2, 0, s)?);
            // Sequence 0 has two padding keys (when there are more than two), sequence 2 one.
            let mut m = vec![0f32; b * s];
            if s > 2 {
                m[0] = f32::NEG_INFINITY;
                m[1] = f32::NEG_INFINITY;
                m[2 * s] = f32::NEG_INFINITY;
            }
            let mask = Tensor::from_vec(m, (b, 1, 1, s), &dev)?;
            for mask in [None, Some(&mask)] {
                let fast =
                    attend_one(&q, &k, &v, mask)?.ok_or(crate::Error::invalid("t", "none"))?;
                let slow = attend(&q, &k, &v, mask, Mode::Infer, false)?;
                let diff = (fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-5, "hd {hd}, s {s}: max diff {diff}");
                assert!(slow.i((0, 0, 0))?.to_scalar::<f32>()?.is_finite());
            }
            // An f16 cache (what quantized models decode with): the kernels widen in registers,
            // so they match the general path on the widened values just as closely.
            let (k16, v16) = (
                k.to_dtype(candle_core::DType::F16)?,
                v.to_dtype(candle_core::DType::F16)?,
            );
            let (kw, vw) = (
                k16.to_dtype(candle_core::DType::F32)?,
                v16.to_dtype(candle_core::DType::F32)?,
            );
            let fast16 = attend_one(&q, &k16, &v16, Some(&mask))?;
            if f16_cache_supported() && hd % 8 == 0 {
                let fast16 = fast16.ok_or(crate::Error::invalid("f16", "not taken"))?;
                let slow = attend(&q, &kw, &vw, Some(&mask), Mode::Infer, false)?;
                let diff = (fast16 - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-5, "f16 cache, hd {hd}, s {s}: max diff {diff}");
            } else {
                // Left to the general path, which widens the cache.
                assert!(fast16.is_none());
            }
            // Prefill shapes are left to the general path.
            let q2 = Tensor::zeros((b, h, 2, hd), candle_core::DType::F32, &dev)?;
            assert!(attend_one(&q2, &k, &v, None)?.is_none());
        }
        Ok(())
    }
}
