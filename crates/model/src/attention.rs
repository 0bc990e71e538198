//! Causal self-attention over whole sequences (scoring and training) with its own backward, so
//! the `(B, H, T, T)` attention scores are never held for autograd.
//!
//! Why hand-written: the plain candle expression (`q·kᵀ`, add the mask, softmax, `·v`,
//! `layers::attend`) keeps every intermediate alive until the backward pass: for
//! SmolLM2's RL update (8 sequences × 256 tokens, 9 heads) that is the `(8, 9, 256, 256)` f32
//! scores, the masked copy, the softmax's shifted copy, its `exp` and the probabilities, ~110 MiB
//! a layer and over 3 GiB for 30 layers, the largest share of the step's peak memory. candle
//! has no fused attention with a backward on the CPU, so this module is one candle custom op
//! on `(q, k, v)` whose forward keeps only the output and one log-sum-exp per query row, and
//! whose backward recomputes the scores one block of query rows at a time (the FlashAttention
//! recipe, with the whole key row in the block since `T` is short here).
//!
//! The work is split by `(sequence, kv head)`: each task owns the rows of the query heads that
//! share that kv head (grouped-query attention), so the gradients of its k and v rows are
//! accumulated by one thread without locks. The tasks run on candle's CPU pool
//! (the `par` module); the block matrix products call the `gemm` crate directly (the same kernels
//! candle's matmul uses, AVX-512 where the CPU has it), single-threaded inside a task. Query
//! rows only multiply the keys they may see (causal: keys `≤ t`; a sliding window: the last
//! `window` of those), which skips about 40 % of the products at `T = 256`.
//!
//! Numbers: the same function as the plain expression; values and the gradients of `q`, `k`
//! and `v` agree to float rounding (other summation order, `fastmath::exp` instead
//! of libm's), checked in this module's tests and, through whole models, in
//! `crates/train/tests/fused_attention.rs`.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use crate::fastmath;
use crate::par;

/// Query rows whose scores are computed (and, in the backward, recomputed) at once: a
/// `64 × T` block of f32 scores per task, small enough to stay in cache, large enough for the
/// block products to run at the matmul kernels' speed.
const ROW_BLOCK: usize = 64;

/// How the attention of a full-sequence forward pass (no KV cache, positions `0..T` in every
/// row, as [`Model::score`](crate::Model::score) and [`Model::forward`](crate::Model::forward)
/// run it) is computed on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionPath {
    /// [`causal_attention`]: no `(B, H, T, T)` tensors kept for autograd. The default.
    #[default]
    Fused,
    /// The plain tensor expression (`matmul`, mask, softmax, `matmul`) under candle's
    /// autograd: the reference the fused path is tested against.
    Plain,
}

/// Causal scaled dot-product attention with grouped kv heads, differentiable in `q`, `k`, `v`.
///
/// `q: (B, H, T, d)`, `k`, `v: (B, Hkv, T, d)` (f32, CPU, `H` a multiple of `Hkv`); query `t`
/// of every sequence sees keys `0..=t` (and with `window = Some(w)` only the last `w` of them,
/// itself included); the scores are `scale · q·k`. Returns `(B, H, T, d)`. When an input
/// tracks a gradient the result does too, and the backward recomputes the scores instead of
/// storing them.
pub fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    window: Option<usize>,
) -> candle_core::Result<Tensor> {
    causal_attention_with(q, k, v, scale, window, false)
}

/// [`causal_attention`] with its block products through `gemm` (`fixed = false`) or aha's
/// fixed-order kernel (`true`: the same bits on every CPU, [`crate::LoadOptions::fixed_order_f32`]).
pub fn causal_attention_with(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    window: Option<usize>,
    fixed: bool,
) -> candle_core::Result<Tensor> {
    let (b, h, t, d) = q.dims4()?;
    let (bk, hkv, tk, dk) = k.dims4()?;
    if (bk, tk, dk) != (b, t, d) || v.dims() != k.dims() || hkv == 0 || h % hkv != 0 {
        candle_core::bail!(
            "causal attention: q {:?}, k {:?}, v {:?} (want (B, H, T, d) and (B, Hkv, T, d), H a multiple of Hkv)",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    if window == Some(0) {
        candle_core::bail!("causal attention: a window of 0 keys");
    }
    let op = CausalAttention {
        scale: scale as f32,
        fixed,
        window,
        lse: OnceLock::new(),
    };
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    if q.track_op() || k.track_op() || v.track_op() {
        q.apply_op3(&k, &v, op)
    } else {
        q.apply_op3_no_bwd(&k, &v, &op)
    }
}

/// The autograd node: shapes come from the layouts; the log-sum-exp of every query row is
/// left here by the forward for the backward.
struct CausalAttention {
    scale: f32,
    /// Block products through [`crate::fixed_matmul`].
    fixed: bool,
    window: Option<usize>,
    /// `(B, H, T)` log-sum-exp of each row's scaled scores, set once by the forward.
    lse: OnceLock<Vec<f32>>,
}

/// Sizes of one call: batch, query heads, kv heads, sequence length, head dimension.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    h: usize,
    hkv: usize,
    t: usize,
    d: usize,
}

impl Dims {
    /// Query heads per kv head.
    fn group(&self) -> usize {
        self.h / self.hkv
    }
}

/// The contiguous f32 data of one of this op's CPU tensor arguments.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    crate::custom_op::f32_slice("causal attention", s, l, what)
}

/// Key range `[lo, hi)` query `t` may see.
fn visible(t: usize, window: Option<usize>) -> (usize, usize) {
    (window.map_or(0, |w| (t + 1).saturating_sub(w)), t + 1)
}

/// The scaled scores of query rows `t0..t0 + rows` of one head against keys `ks..ks + kl`
/// (`q_head`: that head's `(T, d)` rows; `k_seq`: the kv head's `(T, d)` rows), into `s`
/// `(rows, kl)`.
fn block_scores(
    s: &mut [f32],
    q_head: &[f32],
    k_seq: &[f32],
    (t0, rows, ks, kl, d): (usize, usize, usize, usize, usize),
    scale: f32,
    fixed: bool,
) {
    assert!(
        s.len() >= rows * kl && q_head.len() >= (t0 + rows) * d && k_seq.len() >= (ks + kl) * d
    );
    // SAFETY: the bounds were just checked; `s` is a distinct mutable buffer.
    unsafe {
        crate::fixed_matmul::gemm_strided(
            fixed,
            (rows, kl, d),
            s.as_mut_ptr(),
            (kl, 1),
            false,
            q_head[t0 * d..].as_ptr(),
            (d, 1),
            // kᵀ: element (c, j) is k[ks + j][c].
            k_seq[ks * d..].as_ptr(),
            (1, d),
            scale,
        );
    }
}

/// Softmax of each row of a score block over its visible keys, in place (hidden keys become
/// 0); returns each row's log-sum-exp through `lse`.
#[inline(always)]
fn softmax_rows(
    s: &mut [f32],
    kl: usize,
    t0: usize,
    ks: usize,
    window: Option<usize>,
    lse: &mut [f32],
) {
    for (i, (row, l)) in s.chunks_exact_mut(kl).zip(lse.iter_mut()).enumerate() {
        let (lo, hi) = visible(t0 + i, window);
        let (lo, hi) = (lo - ks, hi - ks);
        row[..lo].fill(0.0);
        row[hi..].fill(0.0);
        let vis = &mut row[lo..hi];
        let max = vis.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        vis.iter_mut().for_each(|x| *x = fastmath::exp(*x - max));
        let sum = fastmath::sum(vis);
        let inv = 1.0 / sum;
        vis.iter_mut().for_each(|x| *x *= inv);
        *l = max + sum.ln();
    }
}

/// Probabilities `exp(s − lse)` over the visible keys of each row of a score block, in place
/// (hidden keys become 0).
#[inline(always)]
fn probs_rows(s: &mut [f32], kl: usize, t0: usize, ks: usize, window: Option<usize>, lse: &[f32]) {
    for (i, (row, &l)) in s.chunks_exact_mut(kl).zip(lse).enumerate() {
        let (lo, hi) = visible(t0 + i, window);
        let (lo, hi) = (lo - ks, hi - ks);
        row[..lo].fill(0.0);
        row[hi..].fill(0.0);
        row[lo..hi]
            .iter_mut()
            .for_each(|x| *x = fastmath::exp(*x - l));
    }
}

/// `dp ← scale · p ∘ (dp − D)` per row, `D` being the row's `dO·O` (the softmax backward).
#[inline(always)]
fn softmax_grad_rows(dp: &mut [f32], p: &[f32], kl: usize, delta: &[f32], scale: f32) {
    for ((dr, pr), &dl) in dp.chunks_exact_mut(kl).zip(p.chunks_exact(kl)).zip(delta) {
        for (g, &pv) in dr.iter_mut().zip(pr) {
            *g = scale * pv * (*g - dl);
        }
    }
}

/// The row loops above compiled with AVX2 + FMA (the block products are gemm's own code).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    /// [`super::softmax_rows`] with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax_rows(
        s: &mut [f32],
        kl: usize,
        t0: usize,
        ks: usize,
        window: Option<usize>,
        lse: &mut [f32],
    ) {
        super::softmax_rows(s, kl, t0, ks, window, lse);
    }

    /// [`super::probs_rows`] with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn probs_rows(
        s: &mut [f32],
        kl: usize,
        t0: usize,
        ks: usize,
        window: Option<usize>,
        lse: &[f32],
    ) {
        super::probs_rows(s, kl, t0, ks, window, lse);
    }

    /// [`super::softmax_grad_rows`] with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax_grad_rows(
        dp: &mut [f32],
        p: &[f32],
        kl: usize,
        delta: &[f32],
        scale: f32,
    ) {
        super::softmax_grad_rows(dp, p, kl, delta, scale);
    }
}

/// [`softmax_rows`] on the fastest compilation this CPU runs.
fn softmax_rows_fast(
    s: &mut [f32],
    kl: usize,
    t0: usize,
    ks: usize,
    w: Option<usize>,
    lse: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if fastmath::avx2_fma() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { avx2::softmax_rows(s, kl, t0, ks, w, lse) };
    }
    softmax_rows(s, kl, t0, ks, w, lse);
}

/// [`probs_rows`] on the fastest compilation this CPU runs.
fn probs_rows_fast(s: &mut [f32], kl: usize, t0: usize, ks: usize, w: Option<usize>, lse: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if fastmath::avx2_fma() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { avx2::probs_rows(s, kl, t0, ks, w, lse) };
    }
    probs_rows(s, kl, t0, ks, w, lse);
}

/// [`softmax_grad_rows`] on the fastest compilation this CPU runs.
fn softmax_grad_rows_fast(dp: &mut [f32], p: &[f32], kl: usize, delta: &[f32], scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if fastmath::avx2_fma() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { avx2::softmax_grad_rows(dp, p, kl, delta, scale) };
    }
    softmax_grad_rows(dp, p, kl, delta, scale);
}

/// Row blocks of one head: `(t0, rows, ks, kl)` = first query row, row count, first visible
/// key of the block and the number of keys the block multiplies.
fn row_blocks(
    t: usize,
    window: Option<usize>,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..t).step_by(ROW_BLOCK).map(move |t0| {
        let rows = ROW_BLOCK.min(t - t0);
        let ks = visible(t0, window).0;
        let ke = t0 + rows;
        (t0, rows, ks, ke - ks)
    })
}

impl CausalAttention {
    /// The forward pass on contiguous f32 data; returns `(B, H, T, d)` and fills the
    /// log-sum-exp.
    fn forward(&self, q: &[f32], k: &[f32], v: &[f32], dims: Dims) -> Vec<f32> {
        let Dims { b, h, hkv, t, d } = dims;
        let g = dims.group();
        let mut out = vec![0f32; b * h * t * d];
        let mut lse = vec![0f32; b * h * t];
        // One task per (sequence, kv head): its g query heads' output rows and lse entries
        // are contiguous.
        let mut tasks: Vec<(&mut [f32], &mut [f32])> = out
            .chunks_mut(g * t * d)
            .zip(lse.chunks_mut(g * t))
            .collect();
        let (scale, window, fixed) = (self.scale, self.window, self.fixed);
        par::for_each_mut(&mut tasks, |i, (o, l)| {
            let (bi, kh) = (i / hkv, i % hkv);
            let kv_off = (bi * hkv + kh) * t * d;
            let (k_seq, v_seq) = (&k[kv_off..kv_off + t * d], &v[kv_off..kv_off + t * d]);
            let mut s = vec![0f32; ROW_BLOCK * t];
            for j in 0..g {
                let qh = (bi * h + kh * g + j) * t * d;
                let q_head = &q[qh..qh + t * d];
                let o_head = &mut o[j * t * d..(j + 1) * t * d];
                let l_head = &mut l[j * t..(j + 1) * t];
                for (t0, rows, ks, kl) in row_blocks(t, window) {
                    let s = &mut s[..rows * kl];
                    block_scores(s, q_head, k_seq, (t0, rows, ks, kl, d), scale, fixed);
                    softmax_rows_fast(s, kl, t0, ks, window, &mut l_head[t0..t0 + rows]);
                    let o_blk = &mut o_head[t0 * d..(t0 + rows) * d];
                    // SAFETY: p is (rows, kl), v's rows ks..ks + kl exist, o_blk is (rows, d).
                    unsafe {
                        crate::fixed_matmul::gemm_strided(
                            fixed,
                            (rows, d, kl),
                            o_blk.as_mut_ptr(),
                            (d, 1),
                            false,
                            s.as_ptr(),
                            (kl, 1),
                            v_seq[ks * d..].as_ptr(),
                            (d, 1),
                            1.0,
                        );
                    }
                }
            }
        });
        drop(tasks);
        // Set once per node: the forward runs once.
        let _ = self.lse.set(lse);
        out
    }

    /// The backward pass: `(dq, dk, dv)` from the inputs, the output and its gradient `dout`
    /// (all contiguous f32).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        out: &[f32],
        dout: &[f32],
        lse: &[f32],
        dims: Dims,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let Dims { b, h, hkv, t, d } = dims;
        let g = dims.group();
        let mut dq = vec![0f32; b * h * t * d];
        let mut dk = vec![0f32; b * hkv * t * d];
        let mut dv = vec![0f32; b * hkv * t * d];
        // Per task: its query heads' dq rows, then its kv head's dk and dv rows.
        let mut tasks: Vec<BackwardTask<'_>> = dq
            .chunks_mut(g * t * d)
            .zip(dk.chunks_mut(t * d).zip(dv.chunks_mut(t * d)))
            .collect();
        let (scale, window, fixed) = (self.scale, self.window, self.fixed);
        par::for_each_mut(&mut tasks, |i, (dq_grp, (dk_seq, dv_seq))| {
            let (bi, kh) = (i / hkv, i % hkv);
            let kv_off = (bi * hkv + kh) * t * d;
            let (k_seq, v_seq) = (&k[kv_off..kv_off + t * d], &v[kv_off..kv_off + t * d]);
            let mut p = vec![0f32; ROW_BLOCK * t];
            let mut dp = vec![0f32; ROW_BLOCK * t];
            let mut delta = vec![0f32; ROW_BLOCK];
            for j in 0..g {
                let hh = bi * h + kh * g + j;
                let (qh, lh) = (hh * t * d, hh * t);
                let q_head = &q[qh..qh + t * d];
                let (o_head, do_head) = (&out[qh..qh + t * d], &dout[qh..qh + t * d]);
                let dq_head = &mut dq_grp[j * t * d..(j + 1) * t * d];
                for (t0, rows, ks, kl) in row_blocks(t, window) {
                    let (p, dp) = (&mut p[..rows * kl], &mut dp[..rows * kl]);
                    block_scores(p, q_head, k_seq, (t0, rows, ks, kl, d), scale, fixed);
                    probs_rows_fast(p, kl, t0, ks, window, &lse[lh + t0..lh + t0 + rows]);
                    let do_blk = &do_head[t0 * d..(t0 + rows) * d];
                    let o_blk = &o_head[t0 * d..(t0 + rows) * d];
                    for (r, dl) in delta[..rows].iter_mut().enumerate() {
                        let (a, c) = (&do_blk[r * d..(r + 1) * d], &o_blk[r * d..(r + 1) * d]);
                        *dl = a.iter().zip(c).map(|(x, y)| x * y).sum();
                    }
                    // SAFETY (all four products): every operand was sliced to the shape and
                    // strides passed, and the destinations are buffers distinct from the
                    // operands.
                    unsafe {
                        // dv[ks..] += pᵀ · dO
                        crate::fixed_matmul::gemm_strided(
                            fixed,
                            (kl, d, rows),
                            dv_seq[ks * d..].as_mut_ptr(),
                            (d, 1),
                            true,
                            p.as_ptr(),
                            (1, kl),
                            do_blk.as_ptr(),
                            (d, 1),
                            1.0,
                        );
                        // dp = dO · vᵀ
                        crate::fixed_matmul::gemm_strided(
                            fixed,
                            (rows, kl, d),
                            dp.as_mut_ptr(),
                            (kl, 1),
                            false,
                            do_blk.as_ptr(),
                            (d, 1),
                            v_seq[ks * d..].as_ptr(),
                            (1, d),
                            1.0,
                        );
                    }
                    softmax_grad_rows_fast(dp, p, kl, &delta[..rows], scale);
                    // SAFETY: as above; dp now holds ∂/∂(q·k) of the block.
                    unsafe {
                        // dq = ds · k
                        crate::fixed_matmul::gemm_strided(
                            fixed,
                            (rows, d, kl),
                            dq_head[t0 * d..].as_mut_ptr(),
                            (d, 1),
                            false,
                            dp.as_ptr(),
                            (kl, 1),
                            k_seq[ks * d..].as_ptr(),
                            (d, 1),
                            1.0,
                        );
                        // dk[ks..] += dsᵀ · q
                        crate::fixed_matmul::gemm_strided(
                            fixed,
                            (kl, d, rows),
                            dk_seq[ks * d..].as_mut_ptr(),
                            (d, 1),
                            true,
                            dp.as_ptr(),
                            (1, kl),
                            q_head[t0 * d..].as_ptr(),
                            (d, 1),
                            1.0,
                        );
                    }
                }
            }
        });
        drop(tasks);
        (dq, dk, dv)
    }
}

/// The gradient rows one backward task owns: `(dq of its query heads, (dk, dv) of its kv
/// head)`.
type BackwardTask<'a> = (&'a mut [f32], (&'a mut [f32], &'a mut [f32]));

/// Reads the dims of `(q, k)` layouts.
fn dims_of(lq: &Layout, lk: &Layout) -> candle_core::Result<Dims> {
    let (b, h, t, d) = lq.shape().dims4()?;
    let (_, hkv, _, _) = lk.shape().dims4()?;
    Ok(Dims { b, h, hkv, t, d })
}

impl CustomOp3 for CausalAttention {
    fn name(&self) -> &'static str {
        "causal-attention"
    }

    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = dims_of(lq, lk)?;
        let (q, k, v) = (
            f32_slice(sq, lq, "q")?,
            f32_slice(sk, lk, "k")?,
            f32_slice(sv, lv, "v")?,
        );
        let out = self.forward(q, k, v, dims);
        Ok((CpuStorage::F32(out), lq.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(lse) = self.lse.get() else {
            candle_core::bail!("causal attention: backward before forward");
        };
        let dims = dims_of(q.layout(), k.layout())?;
        let (dq, dk, dv) = crate::custom_op::with_f32(
            "causal attention",
            [q, k, v, res, grad],
            ["q", "k", "v", "output", "output gradient"],
            |[q, k, v, res, grad]| Ok(self.backward(q, k, v, res, grad, lse, dims)),
        )?;
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, q.shape(), dev)?),
            Some(Tensor::from_vec(dk, k.shape(), dev)?),
            Some(Tensor::from_vec(dv, v.shape(), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_op::testing::{assert_close, flat};
    use crate::layers::{Mode, attend, attention_mask};
    use candle_core::{Device, Var};

    fn random(shape: &[usize], seed: u64, spread: f32) -> Tensor {
        crate::custom_op::testing::random(shape, seed, -spread, spread)
    }

    /// The fused op against the decoder's plain expression (`attend` with the causal mask the
    /// decoder builds), values and the gradients of q, k and v under a loss that weights every
    /// output differently.
    fn check(b: usize, h: usize, hkv: usize, t: usize, d: usize, window: Option<usize>) {
        let scale = (d as f64).powf(-0.5);
        // Spread 2 puts scores in the range where the softmax is far from uniform.
        let q = Var::from_tensor(&random(&[b, h, t, d], 1, 2.0)).unwrap();
        let k = Var::from_tensor(&random(&[b, hkv, t, d], 2, 2.0)).unwrap();
        let v = Var::from_tensor(&random(&[b, hkv, t, d], 3, 1.0)).unwrap();
        let w = random(&[b, t, h * d], 4, 1.0);

        let fused = causal_attention(&q, &k, &v, scale, window).unwrap();
        let fused = fused.transpose(1, 2).unwrap().contiguous().unwrap();
        let fused = fused.reshape((b, t, h * d)).unwrap();
        let pos: Vec<i64> = (0..b).flat_map(|_| 0..t as i64).collect();
        let keys: Vec<Vec<i64>> = pos.chunks(t).map(<[i64]>::to_vec).collect();
        let mask = attention_mask(&pos, &keys, t, window, &Device::Cpu).unwrap();
        let qs = (q.as_tensor() * scale).unwrap();
        let plain = attend(&qs, &k, &v, Some(&mask), Mode::Train, false).unwrap();
        assert_close("output", &flat(&fused), &flat(&plain), 2e-6);

        let grads = |y: &Tensor| {
            let g = y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
            [&q, &k, &v].map(|x| flat(g.get(x.as_tensor()).unwrap()))
        };
        let (gf, gp) = (grads(&fused), grads(&plain));
        for (name, (a, b)) in ["dq", "dk", "dv"].iter().zip(gf.iter().zip(&gp)) {
            if window == Some(1) && *name != "dv" {
                // Each query sees only itself: the softmax is constant 1, so q and k get no
                // gradient (the reference's is exactly 0; the fused one is rounding noise).
                assert!(
                    a.iter().all(|x| x.abs() < 1e-5),
                    "{name}: not ~0 for window 1"
                );
                continue;
            }
            assert!(b.iter().any(|x| *x != 0.0), "{name}: zero reference");
            assert_close(name, a, b, 2e-5);
        }
    }

    // Tolerances: both sides are f32 sums of at most T·d terms of size ~1 in another order
    // (gemm's blocking, 16-lane partial sums in the softmax) and another exp (3e-7 relative);
    // the outputs are averages (error ~1e-7 of their scale), the gradients pass through two
    // more products, so 2e-6 and 2e-5 of the largest entry leave a margin of ~10× over the
    // differences seen, while a wrong mask or a missed group member moves entries by O(1).

    #[test]
    fn matches_plain_attention_with_grouped_heads() {
        // T spans two row blocks and a ragged third; 9 query heads on 3 kv heads as SmolLM2.
        check(2, 9, 3, ROW_BLOCK * 2 + 5, 16, None);
    }

    #[test]
    fn matches_plain_attention_with_a_sliding_window() {
        check(2, 4, 2, ROW_BLOCK + 9, 8, Some(7));
        check(1, 2, 1, 20, 8, Some(1));
        check(1, 2, 2, 5, 4, Some(100));
    }

    #[test]
    fn candle_f32_matmul_matches_a_plain_loop() {
        // candle's f32 matmul is the `gemm` crate, which picks its kernels at run time
        // (AVX-512 with `x86-v4`, AVX2+FMA, or scalar): scripts/test-cpu-paths.sh runs this
        // under emulated CPUs without AVX-512 and without AVX, so each of its paths is checked.
        let (m, k, n) = (37, 129, 45);
        let a = random(&[m, k], 5, 1.0);
        let b = random(&[k, n], 6, 1.0);
        let got = flat(&a.matmul(&b).unwrap());
        let (av, bv) = (flat(&a), flat(&b));
        let want: Vec<f32> = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..k)
                    .map(|c| f64::from(av[i * k + c]) * f64::from(bv[c * n + j]))
                    .sum::<f64>() as f32
            })
            .collect();
        assert_close("matmul", &got, &want, 1e-5);
    }

    #[test]
    fn no_graph_without_tracked_inputs_and_bad_shapes_are_refused() {
        let q = random(&[1, 2, 6, 4], 7, 1.0);
        let k = random(&[1, 1, 6, 4], 8, 1.0);
        let y = causal_attention(&q, &k, &k, 0.5, None).unwrap();
        assert!(!y.track_op());
        assert_eq!(y.dims(), &[1, 2, 6, 4]);
        let k3 = random(&[1, 3, 6, 4], 9, 1.0);
        assert!(causal_attention(&q, &k3, &k3, 0.5, None).is_err());
        assert!(causal_attention(&q, &k, &k, 0.5, Some(0)).is_err());
    }
}
