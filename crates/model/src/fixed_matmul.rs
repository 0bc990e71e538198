//! An f32 matrix product whose results do not depend on the CPU: the same bits on every x86-64
//! model, SIMD width, cache size and thread count. [`crate::LoadOptions::fixed_order_f32`] routes
//! every f32 product of a model through it (linear layers, attention, the scoring head, and their
//! backwards), so a seeded run (the demo) reproduces on any machine.
//!
//! Why hand-written: candle's f32 matmul is the `gemm` crate, which picks AVX-512, AVX2 or scalar
//! microkernels at run time and sizes its blocks, including where it splits the inner dimension,
//! from the CPU's cache sizes. Two CPU models then sum the same products in different orders; in
//! a training run the last-bit differences grow until sampled tokens differ, and the demo's
//! seed-0 accuracies moved by 10+ points between an Intel and an AMD VM. No crate offers a
//! matmul with a documented summation order. Here every output is one chain of fused
//! multiply-adds over the inner index in ascending order, starting from 0: SIMD lanes run across
//! outputs, never across the inner index, and blocks and threads only decide which outputs are
//! computed together. A fused multiply-add rounds once, so the AVX2+FMA kernel (`vfmadd` on 8
//! outputs at a time, taken when the CPU has them) and the scalar chain (`f32::mul_add`: the
//! same instruction, or libm's `fmaf` on a CPU without FMA) give the same bits.
//!
//! It is slower than `gemm` on large matrices (no packing), which is why it is an option and not
//! the default: at the demo's sizes the two take about the same time.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// Output rows per parallel task.
const TASK_ROWS: usize = 32;

/// `dst (m × n) = beta · lhs (m × k) · rhs (k × n)` (`+ dst` when `acc`), strided, on the calling
/// thread: with `fixed`, each output summed in the fixed order (see the module docs), then scaled
/// by `beta` and added to `dst`; otherwise by the `gemm` crate (candle's f32 kernels). The block
/// products of the fused attention call this.
///
/// # Safety
/// Every pointer must address a matrix of the given shape and strides inside one live
/// allocation, and `dst` must not overlap `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_strided(
    fixed: bool,
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    (dst_rs, dst_cs): (usize, usize),
    acc: bool,
    lhs: *const f32,
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: *const f32,
    (rhs_rs, rhs_cs): (usize, usize),
    beta: f32,
) {
    if !fixed {
        // SAFETY: forwarded from the caller's contract; gemm reads `dst` only when `acc`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                dst_cs as isize,
                dst_rs as isize,
                acc,
                lhs,
                lhs_cs as isize,
                lhs_rs as isize,
                rhs,
                rhs_cs as isize,
                rhs_rs as isize,
                1.0,
                beta,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        run(&Args {
            m,
            n,
            k,
            dst,
            dst_rs,
            dst_cs,
            acc,
            lhs,
            lhs_rs,
            lhs_cs,
            rhs,
            rhs_rs,
            rhs_cs,
            beta,
            rhs_padded: false,
        })
    }
}

/// [`gemm_strided`] on its arguments: the AVX2+FMA kernel when the CPU has it, else the scalar
/// chain per output.
///
/// # Safety
/// The contract of [`gemm_strided`]; with `rhs_padded`, `rhs` rows also hold readable columns up to
/// the next multiple of 8.
unsafe fn run(args: &Args) {
    #[cfg(target_arch = "x86_64")]
    if crate::fastmath::avx2_fma() {
        // SAFETY: AVX2 and FMA were detected at run time; the rest is the caller's contract.
        return unsafe { x86::gemm(args) };
    }
    // SAFETY: the caller's contract.
    unsafe {
        for i in 0..args.m {
            for j in 0..args.n {
                args.store(i, j, args.chain(i, j));
            }
        }
    }
}

/// The arguments of [`gemm_strided`]'s fixed order.
#[derive(Clone, Copy)]
struct Args {
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    dst_cs: usize,
    acc: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
    beta: f32,
    /// `rhs` rows (contiguous) hold zero columns up to the next multiple of 8.
    rhs_padded: bool,
}

impl Args {
    /// Output `(i, j)` before `beta`: the chain `s ← lhs(i, p)·rhs(p, j) + s`, `p` ascending.
    ///
    /// # Safety
    /// `i < m`, `j < n`, and the contract of [`gemm_strided`].
    #[inline(always)]
    unsafe fn chain(&self, i: usize, j: usize) -> f32 {
        let mut s = 0f32;
        for p in 0..self.k {
            // SAFETY: in bounds by the contract.
            let (x, w) = unsafe {
                (
                    *self.lhs.add(i * self.lhs_rs + p * self.lhs_cs),
                    *self.rhs.add(p * self.rhs_rs + j * self.rhs_cs),
                )
            };
            s = x.mul_add(w, s);
        }
        s
    }

    /// Writes `beta · s` (plus the old value when accumulating) to output `(i, j)`.
    ///
    /// # Safety
    /// As [`Args::chain`].
    #[inline(always)]
    unsafe fn store(&self, i: usize, j: usize, s: f32) {
        // SAFETY: in bounds by the contract.
        unsafe {
            let d = self.dst.add(i * self.dst_rs + j * self.dst_cs);
            let v = self.beta * s;
            *d = if self.acc { *d + v } else { v };
        }
    }
}

/// The AVX2+FMA kernel: blocks of 4 rows × 16 (or 8) columns held in registers, each lane the
/// same chain as [`Args::chain`] (`vfmadd` rounds once, as `mul_add` does).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Args;

    /// Rows of a register block.
    const MR: usize = 4;

    /// The whole product. Column blocks outer (a `k × 16` panel of `rhs` stays in cache), row
    /// blocks inner. A strided `rhs` (the transposed keys of attention scores) or a column count
    /// that is not a multiple of 8 is first copied into a contiguous panel padded with zero
    /// columns, whose lanes are computed and not stored: every output still takes the vector
    /// chain, and lanes never mix.
    ///
    /// # Safety
    /// AVX2 and FMA; the contract of [`super::gemm_strided`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(a: &Args) {
        let n8 = a.n.next_multiple_of(8);
        let packed: Vec<f32>;
        let mut args = *a;
        if a.rhs_cs != 1 || (n8 != a.n && !a.rhs_padded) {
            let mut panel = vec![0f32; a.k * n8];
            for (p, row) in panel.chunks_exact_mut(n8).enumerate() {
                for (j, x) in row[..a.n].iter_mut().enumerate() {
                    // SAFETY: (p, j) lies inside the k × n rhs.
                    *x = unsafe { *a.rhs.add(p * a.rhs_rs + j * a.rhs_cs) };
                }
            }
            packed = panel;
            (args.rhs, args.rhs_rs, args.rhs_cs) = (packed.as_ptr(), n8, 1);
        }
        let a = &args;
        let mut j0 = 0;
        // SAFETY (every call): the blocks lie inside `m × n8` of the (packed) rhs and `block`
        // stores only columns below `n`.
        unsafe {
            while j0 < n8 {
                let v = if n8 - j0 >= 16 { 2 } else { 1 };
                let mut i0 = 0;
                while i0 < a.m {
                    match (a.m - i0).min(MR) {
                        4 if v == 2 => block::<4, 2>(a, i0, j0),
                        4 => block::<4, 1>(a, i0, j0),
                        3 if v == 2 => block::<3, 2>(a, i0, j0),
                        3 => block::<3, 1>(a, i0, j0),
                        2 if v == 2 => block::<2, 2>(a, i0, j0),
                        2 => block::<2, 1>(a, i0, j0),
                        _ if v == 2 => block::<1, 2>(a, i0, j0),
                        _ => block::<1, 1>(a, i0, j0),
                    }
                    i0 += MR;
                }
                j0 += 8 * v;
            }
        }
    }

    /// Rows `i0..i0 + R`, columns `j0..j0 + 8V`.
    ///
    /// # Safety
    /// AVX2 and FMA; rows `i0..i0 + R` exist; `rhs` rows are contiguous and hold columns
    /// `j0..j0 + 8V` (padding included).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const R: usize, const V: usize>(a: &Args, i0: usize, j0: usize) {
        // SAFETY: rows i0..i0+R of lhs, columns j0..j0+8V of rhs and dst, all inside the product.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); V]; R];
            for p in 0..a.k {
                let brow = a.rhs.add(p * a.rhs_rs + j0);
                let mut b = [_mm256_setzero_ps(); V];
                for (v, bv) in b.iter_mut().enumerate() {
                    *bv = _mm256_loadu_ps(brow.add(8 * v));
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(*a.lhs.add((i0 + r) * a.lhs_rs + p * a.lhs_cs));
                    for (s, bv) in row.iter_mut().zip(&b) {
                        *s = _mm256_fmadd_ps(x, *bv, *s);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (v, s) in row.iter().enumerate() {
                    let mut lanes = [0f32; 8];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), *s);
                    // Padding columns (at or past n) are computed, never stored.
                    for (l, &x) in lanes
                        .iter()
                        .enumerate()
                        .take(a.n.saturating_sub(j0 + 8 * v))
                    {
                        a.store(i0 + r, j0 + 8 * v + l, x);
                    }
                }
            }
        }
    }
}

/// `a (…, m, k) · b (…, k, n)` for f32 CPU tensors with the same leading (batch) dimensions, in
/// the fixed order of [`gemm_strided`]; differentiable (the backward uses the same kernel).
/// Transposed views are read in place.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (a, b) = (readable(a)?, readable(b)?);
    if a.track_op() || b.track_op() {
        a.apply_op2(&b, FixedMatmul)
    } else {
        a.apply_op2_no_bwd(&b, &FixedMatmul)
    }
}

/// `a · b` through [`matmul`] when `fixed`, else candle's matmul (the `gemm` crate).
pub(crate) fn matmul_if(fixed: bool, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if fixed { matmul(a, b) } else { a.matmul(b) }
}

/// `t` itself when [`strides`] can read its layout, else a contiguous copy.
fn readable(t: &Tensor) -> candle_core::Result<Tensor> {
    match strides(t.layout()) {
        Some(_) => Ok(t.clone()),
        None => t.contiguous(),
    }
}

/// Where the matrices of one operand lie in its storage: from the layout's start offset, matrix
/// `b`, row `i`, column `j` at `b·batch + i·rs + j·cs`.
#[derive(Debug, Clone, Copy)]
struct Strides {
    batch: usize,
    rs: usize,
    cs: usize,
}

/// The [`Strides`] of a layout whose leading (batch) dimensions collapse into one stride, with
/// any strides for the last two (so a transposed view needs no copy); `None` otherwise.
fn strides(l: &Layout) -> Option<Strides> {
    let (d, st) = (l.dims(), l.stride());
    let r = d.len();
    if r < 2 {
        return None;
    }
    for i in 0..r.saturating_sub(3) {
        if st[i] != st[i + 1] * d[i + 1] {
            return None;
        }
    }
    Some(Strides {
        batch: if r > 2 { st[r - 3] } else { 0 },
        rs: st[r - 2],
        cs: st[r - 1],
    })
}

/// The f32 data of one operand and its strides, checked to hold `batch` matrices of
/// `rows × cols`.
fn operand<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    (batch, rows, cols): (usize, usize, usize),
    what: &str,
) -> candle_core::Result<(&'a [f32], Strides)> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("fixed-order matmul: {what} is not f32");
    };
    let Some(st) = strides(l) else {
        candle_core::bail!("fixed-order matmul: {what} has an unsupported layout");
    };
    let data = &data[l.start_offset().min(data.len())..];
    if batch * rows * cols > 0 {
        let last = (batch - 1) * st.batch + (rows - 1) * st.rs + (cols - 1) * st.cs;
        if last >= data.len() {
            candle_core::bail!("fixed-order matmul: {what} layout runs past its storage");
        }
    }
    Ok((data, st))
}

/// The autograd node of [`matmul`].
struct FixedMatmul;

/// Batch count and `(m, k, n)` of a product, checked.
fn dims(a: &[usize], b: &[usize]) -> candle_core::Result<(usize, usize, usize, usize)> {
    let (ra, rb) = (a.len(), b.len());
    if ra < 2 || ra != rb || a[..ra - 2] != b[..rb - 2] || a[ra - 1] != b[rb - 2] {
        candle_core::bail!("fixed-order matmul: shapes {a:?} and {b:?} do not multiply");
    }
    let batch = a[..ra - 2].iter().product();
    Ok((batch, a[ra - 2], a[ra - 1], b[rb - 1]))
}

impl CustomOp2 for FixedMatmul {
    fn name(&self) -> &'static str {
        "fixed-order-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, m, k, n) = dims(l1.dims(), l2.dims())?;
        let (a, sa) = operand(s1, l1, (batch, m, k), "lhs")?;
        let (b, sb) = operand(s2, l2, (batch, k, n), "rhs")?;
        let mut out = vec![0f32; batch * m * n];
        if n > 0 && m > 0 {
            // A transposed rhs, or a column count that is not a multiple of 8, is copied once per
            // matrix into a contiguous panel with zero padding columns, which every task reads.
            let n8 = n.next_multiple_of(8);
            let pack = sb.cs != 1 || n8 != n;
            let panels: Vec<Vec<f32>> = if pack {
                (0..batch)
                    .map(|bi| {
                        let mut panel = vec![0f32; k * n8];
                        for (p, row) in panel.chunks_exact_mut(n8).enumerate() {
                            for (j, x) in row[..n].iter_mut().enumerate() {
                                *x = b[bi * sb.batch + p * sb.rs + j * sb.cs];
                            }
                        }
                        panel
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
            for (bi, mat) in out.chunks_mut(m * n).enumerate() {
                for (ci, rows) in mat.chunks_mut(TASK_ROWS * n).enumerate() {
                    tasks.push((bi, ci * TASK_ROWS, rows));
                }
            }
            crate::par::for_each_mut(&mut tasks, |_, (bi, r0, rows)| {
                let (bi, r0, rm) = (*bi, *r0, rows.len() / n);
                let (rhs, rhs_rs, rhs_cs) = match panels.get(bi) {
                    Some(panel) => (panel.as_ptr(), n8, 1),
                    None => (b[bi * sb.batch..].as_ptr(), sb.rs, sb.cs),
                };
                // SAFETY: `operand` checked that every (matrix, row, column) of both operands
                // lies inside its data; a panel is k × n8; `rows` is this task's own rm × n
                // part of the output.
                unsafe {
                    run(&Args {
                        m: rm,
                        n,
                        k,
                        dst: rows.as_mut_ptr(),
                        dst_rs: n,
                        dst_cs: 1,
                        acc: false,
                        lhs: a[bi * sa.batch + r0 * sa.rs..].as_ptr(),
                        lhs_rs: sa.rs,
                        lhs_cs: sa.cs,
                        rhs,
                        rhs_rs,
                        rhs_cs,
                        beta: 1.0,
                        rhs_padded: pack,
                    });
                }
            });
        }
        let mut shape = l1.dims().to_vec();
        let last = shape.len() - 1;
        shape[last] = n;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let rank = a.rank();
        // The gradients are plain values (no graph is built for them); transposes are views.
        let (a, b, g) = (a.detach(), b.detach(), readable(&grad.detach())?);
        let bt = readable(&b.transpose(rank - 2, rank - 1)?)?;
        let at = readable(&a.transpose(rank - 2, rank - 1)?)?;
        let ga = g.apply_op2_no_bwd(&bt, &FixedMatmul)?;
        let gb = at.apply_op2_no_bwd(&g, &FixedMatmul)?;
        Ok((Some(ga), Some(gb)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_op::testing::{flat, random};
    use candle_core::Var;

    /// The definition: each output a sequential `mul_add` chain from 0, then `beta`, then `+ dst`.
    fn reference(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f32;
                for p in 0..k {
                    s = a[i * k + p].mul_add(b[p * n + j], s);
                }
                out[i * n + j] = s;
            }
        }
        out
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn every_shape_equals_the_sequential_chain_bit_for_bit() {
        // Sizes around the register block (4 × 16) and the task split (32 rows), long inner
        // products (where a split of the inner dimension would show), a batch of three.
        for &(batch, m, k, n) in &[
            (1, 1, 1, 1),
            (1, 4, 64, 16),
            (1, 5, 33, 17),
            (1, 37, 256, 47),
            (3, 70, 129, 64),
            (2, 3, 1000, 5),
        ] {
            let a = random(&[batch, m, k], 11 + m as u64, -1.0, 1.0);
            let b = random(&[batch, k, n], 7 + n as u64, -1.0, 1.0);
            let got = flat(&matmul(&a, &b).unwrap());
            let (av, bv) = (flat(&a), flat(&b));
            let want: Vec<f32> = (0..batch)
                .flat_map(|i| {
                    reference(
                        m,
                        n,
                        k,
                        &av[i * m * k..][..m * k],
                        &bv[i * k * n..][..k * n],
                    )
                })
                .collect();
            assert_eq!(bits(&got), bits(&want), "shape {batch}x{m}x{k}x{n}");
        }
    }

    #[test]
    fn transposed_views_equal_their_contiguous_copies_bit_for_bit() {
        // lhs and rhs given as transposes (batched, and 2-D with a ragged column count).
        for &(batch, m, k, n) in &[(2, 7, 45, 21), (1, 33, 64, 40)] {
            let at = random(&[batch, k, m], 21, -1.0, 1.0);
            let bt = random(&[batch, n, k], 22, -1.0, 1.0);
            let (a, b) = (at.transpose(1, 2).unwrap(), bt.transpose(1, 2).unwrap());
            let got = flat(&matmul(&a, &b).unwrap());
            let want = flat(&matmul(&a.contiguous().unwrap(), &b.contiguous().unwrap()).unwrap());
            assert_eq!(bits(&got), bits(&want), "shape {batch}x{m}x{k}x{n}");
            let a2 = a.get(0).unwrap();
            let b2 = b.get(0).unwrap();
            let got2 = flat(&matmul(&a2, &b2).unwrap());
            let want2 = reference(m, n, k, &flat(&a2), &flat(&b2));
            assert_eq!(bits(&got2), bits(&want2), "2-D {m}x{k}x{n}");
        }
    }

    #[test]
    fn strided_accumulating_calls_follow_the_same_chain() {
        // The attention's use: rhs read transposed (column stride ≠ 1), beta, accumulate.
        let (m, n, k) = (6, 19, 40);
        let a = flat(&random(&[m, k], 1, -1.0, 1.0));
        let bt = flat(&random(&[n, k], 2, -1.0, 1.0)); // rhs (k × n) stored transposed
        let mut b = vec![0f32; k * n];
        for p in 0..k {
            for j in 0..n {
                b[p * n + j] = bt[j * k + p];
            }
        }
        let base = flat(&random(&[m, n], 3, -1.0, 1.0));
        let mut dst = base.clone();
        // SAFETY: all three buffers hold the shapes and strides given.
        unsafe {
            gemm_strided(
                true,
                (m, n, k),
                dst.as_mut_ptr(),
                (n, 1),
                true,
                a.as_ptr(),
                (k, 1),
                bt.as_ptr(),
                (1, k),
                0.5,
            );
        }
        let want: Vec<f32> = reference(m, n, k, &a, &b)
            .iter()
            .zip(&base)
            .map(|(s, d)| d + 0.5 * s)
            .collect();
        assert_eq!(bits(&dst), bits(&want));
    }

    #[test]
    fn gradients_are_the_fixed_products_of_the_transposes() {
        let (m, k, n) = (9, 21, 13);
        let a = Var::from_tensor(&random(&[m, k], 4, -1.0, 1.0)).unwrap();
        let b = Var::from_tensor(&random(&[k, n], 5, -1.0, 1.0)).unwrap();
        let w = random(&[m, n], 6, -1.0, 1.0);
        let y = matmul(a.as_tensor(), b.as_tensor()).unwrap();
        let grads = (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let ga = flat(grads.get(a.as_tensor()).unwrap());
        let gb = flat(grads.get(b.as_tensor()).unwrap());
        let (av, bv, wv) = (flat(a.as_tensor()), flat(b.as_tensor()), flat(&w));
        // dA = W·Bᵀ, dB = Aᵀ·W, each in the fixed order.
        let bt: Vec<f32> = (0..n * k).map(|i| bv[(i % k) * n + i / k]).collect();
        let at: Vec<f32> = (0..k * m).map(|i| av[(i % m) * k + i / m]).collect();
        assert_eq!(bits(&ga), bits(&reference(m, k, n, &wv, &bt)));
        assert_eq!(bits(&gb), bits(&reference(k, n, m, &at, &wv)));
        // And they are the gradients: candle's matmul agrees to rounding.
        let y2 = a.as_tensor().matmul(b.as_tensor()).unwrap();
        let g2 = (y2 * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let ga2 = flat(g2.get(a.as_tensor()).unwrap());
        for (x, y) in ga.iter().zip(&ga2) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    /// A digest of a whole tiny model's numbers with every f32 product in the fixed order, for
    /// both architectures: full-sequence logits, scored log-probabilities and every weight's
    /// gradient (fused attention, the chunked head, linear layers, their backwards), then
    /// tokens and log-probabilities sampled from its quantized copy (packed kernels, prefill
    /// attention, decode attention, sampler). `scripts/test-cpu-paths.sh` runs this test on the
    /// host and on emulated CPUs (AVX2 without AVX-512; SSE only) and requires the same digest
    /// line from each: that is the cross-CPU check. Here it checks that the fixed-order numbers
    /// are the model's (candle's gemm path agrees to rounding).
    #[test]
    fn tiny_model_digest() {
        use crate::Model;
        use crate::config::{Arch, ModelConfig};
        use crate::cpu::LoadOptions;
        use crate::layers::Mode;
        use crate::sampling::SamplingParams;
        use candle_core::Device;
        use std::hash::{DefaultHasher, Hasher};

        let mut h = DefaultHasher::new();
        let mut put = |v: &[f32]| v.iter().for_each(|x| h.write_u32(x.to_bits()));
        let prompts: Vec<Vec<u32>> = vec![vec![1, 5, 9], vec![1, 17, 33, 12, 40, 8, 21, 3, 60]];
        let responses: Vec<Vec<u32>> = vec![vec![7, 30, 2, 11, 4], vec![50, 6]];
        let pairs: Vec<(&[u32], &[u32])> = prompts
            .iter()
            .zip(&responses)
            .map(|(p, r)| (p.as_slice(), r.as_slice()))
            .collect();
        for arch in [Arch::Llama, Arch::Gemma3] {
            let cfg = ModelConfig::tiny(arch);
            let mut sums = Vec::new();
            for fixed in [true, false] {
                let opts = LoadOptions {
                    fixed_order_f32: fixed,
                    ..LoadOptions::default()
                };
                let model = Model::tiny_with(&cfg, 3, &Device::Cpu, &opts).unwrap();
                let ids = Tensor::new(&[[1u32, 4, 9, 16, 25, 36, 49, 2]], &Device::Cpu).unwrap();
                let logits = flat(&model.forward(&ids, Mode::Train).unwrap());
                let scores = model.score(&pairs, 1.0, Mode::Train).unwrap();
                let lp = scores.logprobs.sum_all().unwrap();
                let grads = lp.backward().unwrap();
                let mut grad_vals = Vec::new();
                for (_, var) in model.named_vars() {
                    grad_vals.extend(flat(grads.get(var.as_tensor()).unwrap()));
                }
                let lp_vals = flat(&scores.logprobs);
                if fixed {
                    put(&logits);
                    put(&lp_vals);
                    put(&grad_vals);
                    let q = model.quantized_copy(&LoadOptions::default()).unwrap();
                    assert!(q.fixed_order_f32());
                    let params = SamplingParams {
                        max_new_tokens: 6,
                        temperature: 1.0,
                        seed: 5,
                        ignore_eos: true,
                        ..SamplingParams::default()
                    };
                    for c in q.generate(&prompts, &params, None, &mut |_, _| {}).unwrap() {
                        put(&c.tokens.iter().map(|&t| t as f32).collect::<Vec<_>>());
                        put(&c.logprobs);
                    }
                }
                sums.push((logits, lp_vals, grad_vals));
            }
            let (fx, gm) = (&sums[0], &sums[1]);
            crate::custom_op::testing::assert_close("logits", &fx.0, &gm.0, 1e-4);
            crate::custom_op::testing::assert_close("log-probs", &fx.1, &gm.1, 1e-4);
            crate::custom_op::testing::assert_close("gradients", &fx.2, &gm.2, 1e-3);
        }
        println!("fixed-order digest: {:016x}", h.finish());
    }

    #[test]
    fn mismatched_shapes_are_refused() {
        let a = random(&[2, 3], 1, -1.0, 1.0);
        let b = random(&[4, 5], 2, -1.0, 1.0);
        assert!(matmul(&a, &b).is_err());
        let b3 = random(&[2, 3, 5], 2, -1.0, 1.0);
        assert!(matmul(&a, &b3).is_err());
    }
}
