//! Q8_0, Q4_1 and Q5_0 weight matrices repacked for a batched CPU matmul: `Y = X·Wᵀ` for many rows
//! at once, on AVX-512-VNNI (with a portable fallback of the same layout).
//!
//! Why hand-written: candle 0.11.1 multiplies Q8_0 matrices with one 256-bit dot product per
//! (row, column) pair, runs Q4_1 and Q5_0 with scalar code, and its AVX-512-VNNI repacked path only takes
//! matrices whose inner dimension is a multiple of 256 (SmolLM2's 576 and Gemma's 640 are not),
//! so a batch of 8 or 32 decoding sequences cost almost 8 or 32 single-row matmuls. No crate
//! offers a batched kernel for these types on the CPU (`gemm` is floating point only). The layout
//! follows the idea of ggml's and candle's repacked tiles (16 output columns interleaved per 4
//! inner values, so one `vpdpbusd` yields 16 partial dot products); the code is ours.
//!
//! Numerics are those of ggml's and candle's Q8_0/Q8_1 paths: activations are quantized per 32
//! values to i8 with `d = max|x| / 127` (rounded half away from zero), each block's integer dot
//! product is scaled by `d_w · d_x` (plus `m · d_x · Σq_x` for Q4_1's minimum) and summed in f32.
//! Q8_0 results equal candle's up to f32 summation order; Q4_1 and Q5_0 files run as stored,
//! where aha used to requantize them to Q8_0 (greedy SmolLM2 text now follows llama.cpp's).

use crate::cpu::CpuKernels;
use crate::error::{Error, Result};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

/// Values per quantization block.
const QK: usize = 32;
/// Output columns per tile (one 512-bit register of i32 lanes).
const TILE_N: usize = 16;
/// Activation rows that share each loaded weight vector (register blocking).
const ROWS: usize = 8;
/// Bytes of one packed Q8_0 tile: 16 scales (f16) and 16 × 32 weights, as in GGML Q8_0.
const TILE_BYTES: usize = TILE_N * 2 + TILE_N * QK;
/// Bytes of one packed Q4_1 tile: 16 scales and 16 minimums (f16), 16 × 32 nibbles.
const TILE_BYTES_Q4_1: usize = TILE_N * 4 + TILE_N * QK / 2;
/// Bytes of one packed Q5_0 tile: 16 scales and 16 offsets (f16), 16 × 32 bytes.
const TILE_BYTES_Q5_0: usize = TILE_N * 4 + TILE_N * QK;

/// How the weights of a [`PackedQ8`] are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `w = d·q`, `q` in −127..=127 (stored `q + 128`).
    Q8_0,
    /// `w = d·q + m`, `q` in 0..=15: packed as is, so a Q4_1 file is used without the loss and
    /// the 1.7× memory traffic of requantizing it to Q8_0.
    Q4_1,
    /// `w = d·(q − 16)`, `q` in 0..=31: one byte per weight (unsigned, no offset) and the
    /// `−16·d` term added like Q4_1's minimum, so Q5_0 files (Gemma 3) run with exact weights.
    Q5_0,
}

impl Format {
    /// Bytes of one packed tile.
    fn tile_bytes(self) -> usize {
        match self {
            Format::Q8_0 => TILE_BYTES,
            Format::Q4_1 => TILE_BYTES_Q4_1,
            Format::Q5_0 => TILE_BYTES_Q5_0,
        }
    }
}

/// A Q8_0 matrix `(n, k)` (`n` outputs, `k` inputs) in tiles of 16 columns × 32 inputs.
///
/// Tile `(c, b)` (column group `c`, inner block `b`) holds the 16 weight scales (f16), then the
/// weights plus 128 (unsigned, as `vpdpbusd` wants its first operand) ordered
/// `[group of 4 inputs (8)][column (16)][4]`, so one 64-byte load feeds one `vpdpbusd` for 16
/// columns. The +128 is taken off with `−128·Σx` per activation block ([`quantize_rows`]).
/// Columns past `n` are zero padding (scale 0).
///
/// Q4_1 tiles hold the 16 scales, the 16 minimums (f16), then 4 × 64 bytes ordered
/// `[group of 4 inputs (4)][column (16)][4]` whose low nibbles are inputs `4g..4g+4` and high
/// nibbles inputs `16+4g..16+4g+4`; unsigned nibbles need no offset, and the minimum adds
/// `m·Σx` per block. Q5_0 tiles hold the scales, the offsets `−16·d` (f16), then the 5-bit
/// values as bytes in the Q8_0 order.
#[derive(Debug)]
pub(crate) struct PackedQ8 {
    n: usize,
    k: usize,
    format: Format,
    /// The packed path that runs it (resolved and supported by this CPU: checked at packing).
    kernels: CpuKernels,
    /// `ceil(n / 16) · (k / 32)` tiles, column group major (in huge pages where possible).
    tiles: crate::hugebuf::TileBuf,
}

/// One activation matrix quantized for [`PackedQ8::matmul`]: `rows × k` values `q` in
/// −127..=127, and per row and block the f32 scale `d`, `−128·Σq` (the Q8_0 weights' offset)
/// and `d·Σq` (for the Q4_1 minimums).
struct QuantRows {
    qs: Vec<i8>,
    d: Vec<f32>,
    corr: Vec<i32>,
    dsum: Vec<f32>,
    blocks: usize,
}

/// Where rows `r0..r0+N` of a [`QuantRows`] start, for the SIMD kernels that walk them by pointer:
/// their int8 values, block scales, `−128·Σq` and `d·Σq` per block.
struct RowPtrs<const N: usize> {
    qs: [*const i8; N],
    d: [*const f32; N],
    corr: [*const i32; N],
    dsum: [*const f32; N],
}

impl QuantRows {
    /// Start pointers of rows `r0..r0+N` (indexing panics, outside the hot loop, if a row is
    /// missing).
    // Inlined: called once per (column group, 4 rows, half) pass, and a call that is not inlined
    // into the kernel showed up at ~6% of the batch-32 kernel time on the AVX2 path.
    #[inline(always)]
    fn row_ptrs<const N: usize>(&self, r0: usize) -> RowPtrs<N> {
        let (k, kb) = (self.blocks * QK, self.blocks);
        RowPtrs {
            qs: std::array::from_fn(|i| self.qs[(r0 + i) * k..].as_ptr()),
            d: std::array::from_fn(|i| self.d[(r0 + i) * kb..].as_ptr()),
            corr: std::array::from_fn(|i| self.corr[(r0 + i) * kb..].as_ptr()),
            dsum: std::array::from_fn(|i| self.dsum[(r0 + i) * kb..].as_ptr()),
        }
    }
}

/// Whether a quantized type on `device` gets the packed kernel under `kernels` (resolved):
/// it is a CPU kernel, so CUDA weights keep candle's quantized kernels (which run on the GPU).
pub(crate) fn packed_for(device: &candle_core::Device, kernels: CpuKernels) -> bool {
    device.is_cpu() && kernels.is_packed()
}

impl PackedQ8 {
    /// Whether [`PackedQ8::from_qtensor`] takes this type.
    pub(crate) fn supports(dtype: GgmlDType) -> bool {
        matches!(dtype, GgmlDType::Q8_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0)
    }

    /// Repacks a Q8_0, Q4_1 or Q5_0 matrix `(n, k)` (`k` a multiple of 32) for the packed path
    /// `kernels` (a packed path this CPU supports, else an error).
    #[cfg(test)]
    pub(crate) fn from_qtensor(q: &QTensor, kernels: CpuKernels) -> Result<PackedQ8> {
        Self::from_qtensor_in(q, kernels, true)
    }

    /// [`PackedQ8::from_qtensor`], with the tiles in huge pages or not.
    pub(crate) fn from_qtensor_in(
        q: &QTensor,
        kernels: CpuKernels,
        huge_pages: bool,
    ) -> Result<PackedQ8> {
        let (n, k) = q.shape().dims2()?;
        let data = q.data()?;
        let mut packed = match q.dtype() {
            GgmlDType::Q8_0 => Self::from_q8_0_bytes(&data, n, k, huge_pages),
            GgmlDType::Q4_1 => Self::from_q4_1_bytes(&data, n, k, huge_pages),
            GgmlDType::Q5_0 => Self::from_q5_0_bytes(&data, n, k, huge_pages),
            other => Err(Error::invalid(
                "weight",
                format!("internal: packing {other:?} is not supported"),
            )),
        }?;
        packed.set_kernels(kernels)?;
        Ok(packed)
    }

    /// Switches the packed path (same layout for all), refusing one the CPU cannot run.
    pub(crate) fn set_kernels(&mut self, kernels: CpuKernels) -> Result<()> {
        let kernels = kernels.resolve()?;
        if !kernels.is_packed() {
            return Err(Error::invalid(
                "CPU kernels",
                format!("internal: `{kernels}` is not a packed path"),
            ));
        }
        self.kernels = kernels;
        Ok(())
    }

    /// Repacks GGML Q4_1 bytes (row major, 20 bytes per block: f16 scale, f16 minimum, 16
    /// bytes holding values `j` (low nibble) and `j + 16` (high nibble)).
    fn from_q4_1_bytes(data: &[u8], n: usize, k: usize, huge: bool) -> Result<PackedQ8> {
        Self::pack(data, (n, k, huge), Format::Q4_1, 20, |block, c, tile| {
            tile[c * 2..c * 2 + 2].copy_from_slice(&block[..2]);
            tile[TILE_N * 2 + c * 2..TILE_N * 2 + c * 2 + 2].copy_from_slice(&block[2..4]);
            let raw = &block[4..];
            let q = |j: usize| {
                if j < 16 {
                    raw[j] & 0x0F
                } else {
                    raw[j - 16] >> 4
                }
            };
            let qs = &mut tile[TILE_N * 4..];
            for gq in 0..4 {
                for b4 in 0..4 {
                    let (lo, hi) = (q(4 * gq + b4), q(16 + 4 * gq + b4));
                    qs[gq * TILE_N * 4 + c * 4 + b4] = lo | (hi << 4);
                }
            }
        })
    }

    /// Repacks GGML Q5_0 bytes (row major, 22 bytes per block: f16 scale, 4 bytes of fifth
    /// bits (bit `j` for value `j`), 16 bytes holding the low 4 bits of values `j` and `j + 16`).
    fn from_q5_0_bytes(data: &[u8], n: usize, k: usize, huge: bool) -> Result<PackedQ8> {
        Self::pack(data, (n, k, huge), Format::Q5_0, 22, |block, c, tile| {
            let d = f16::from_le_bytes([block[0], block[1]]);
            tile[c * 2..c * 2 + 2].copy_from_slice(&block[..2]);
            // −16·d is exact in f16 (a power-of-two multiple) unless it overflows.
            let off = f16::from_f32(-16.0 * d.to_f32());
            tile[TILE_N * 2 + c * 2..TILE_N * 2 + c * 2 + 2].copy_from_slice(&off.to_le_bytes());
            let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
            let low = &block[6..];
            let qs = &mut tile[TILE_N * 4..];
            for j in 0..QK {
                let nib = if j < 16 {
                    low[j] & 0x0F
                } else {
                    low[j - 16] >> 4
                };
                let q = nib | ((((qh >> j) & 1) as u8) << 4);
                qs[(j / 4) * TILE_N * 4 + c * 4 + j % 4] = q;
            }
        })
    }

    /// Repacks GGML Q8_0 bytes (row major, 34 bytes per block: f16 scale then 32 i8).
    fn from_q8_0_bytes(data: &[u8], n: usize, k: usize, huge: bool) -> Result<PackedQ8> {
        Self::pack(data, (n, k, huge), Format::Q8_0, 34, |block, c, tile| {
            tile[c * 2..c * 2 + 2].copy_from_slice(&block[..2]);
            let qs = &mut tile[TILE_N * 2..];
            for (j, &w) in block[2..].iter().enumerate() {
                qs[(j / 4) * TILE_N * 4 + c * 4 + j % 4] = (w as i8 as i16 + 128) as u8;
            }
        })
    }

    /// The repacking loop of every format: for each tile (16 columns × one block of 32 inputs)
    /// `fill(block, c, tile)` writes column `c` from its GGML block of `block_bytes` bytes.
    /// Columns past `n` stay zero (scale 0: they contribute nothing). `(n, k, huge_pages)`:
    /// the shape and whether the tiles go to the huge-page arena.
    fn pack(
        data: &[u8],
        (n, k, huge_pages): (usize, usize, bool),
        format: Format,
        block_bytes: usize,
        fill: impl Fn(&[u8], usize, &mut [u8]),
    ) -> Result<PackedQ8> {
        let kb = k / QK;
        if !k.is_multiple_of(QK) || data.len() != n * kb * block_bytes {
            return Err(Error::invalid(
                "weight",
                format!(
                    "internal: {} {format:?} bytes for a {n}x{k} matrix",
                    data.len()
                ),
            ));
        }
        let tb = format.tile_bytes();
        let mut tiles = crate::hugebuf::TileBuf::zeroed(n.div_ceil(TILE_N) * kb * tb, huge_pages);
        for (t, tile) in tiles.chunks_exact_mut(tb).enumerate() {
            let (g, b) = (t / kb, t % kb);
            for c in 0..TILE_N.min(n.saturating_sub(g * TILE_N)) {
                let col = g * TILE_N + c;
                fill(
                    &data[(col * kb + b) * block_bytes..(col * kb + b + 1) * block_bytes],
                    c,
                    tile,
                );
            }
        }
        Ok(PackedQ8 {
            n,
            k,
            format,
            kernels: CpuKernels::Portable,
            tiles,
        })
    }

    /// Bytes per tile of this matrix's format.
    fn tile_bytes(&self) -> usize {
        self.format.tile_bytes()
    }

    /// Output features.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// `dst (m × n) = x (m × k) · Wᵀ` into a caller's buffer (the tests' form of
    /// [`PackedQ8::matmul_vec`]).
    #[cfg(test)]
    pub(crate) fn matmul(&self, x: &[f32], m: usize, dst: &mut [f32]) -> Result<()> {
        let (n, k) = (self.n, self.k);
        if x.len() != m * k || dst.len() != m * n {
            return Err(Error::invalid(
                "activations",
                format!(
                    "internal: {}x{k} weights got {} inputs and {} outputs for {m} rows",
                    n,
                    x.len(),
                    dst.len()
                ),
            ));
        }
        // SAFETY: `dst` holds m·n elements (checked above) and is borrowed mutably for the call.
        unsafe { self.matmul_raw(x, m, dst.as_mut_ptr()) };
        Ok(())
    }

    /// `x (m × k) · Wᵀ` as a new `m × n` vector, written once without zeroing it first (at
    /// batch 32 the zeroing of every layer's output was 2 % of a decoding step).
    pub(crate) fn matmul_vec(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        if x.len() != m * self.k {
            return Err(Error::invalid(
                "activations",
                format!(
                    "internal: {}x{} weights got {} inputs for {m} rows",
                    self.n,
                    self.k,
                    x.len()
                ),
            ));
        }
        let len = m * self.n;
        let mut out = Vec::<f32>::with_capacity(len);
        // SAFETY: the allocation holds `len` f32; `matmul_raw` writes every one of them (each
        // (row, column) belongs to exactly one work item) before the length is set.
        unsafe {
            self.matmul_raw(x, m, out.as_mut_ptr());
            out.set_len(len);
        }
        Ok(out)
    }

    /// The product into `dst`, every element of which is written, split over candle's CPU
    /// thread pool by column groups.
    ///
    /// # Safety
    /// `x` holds `m·k` values and `dst` points to `m·n` writable f32 that nothing else accesses
    /// during the call.
    unsafe fn matmul_raw(&self, x: &[f32], m: usize, dst: *mut f32) {
        let (n, k) = (self.n, self.k);
        if m == 0 {
            return;
        }
        let rows = quantize_rows(x, m, k, self.kernels);
        let groups = n.div_ceil(TILE_N);
        // Work items: (column group, chunk of rows). Column groups dominate; rows are chunked
        // only for long inputs (prefill, scoring) so both threads get work when n is small.
        let row_chunk = if m <= 64 { m } else { 64 };
        let chunks = m.div_ceil(row_chunk);
        let dst_ptr = dst as usize;
        let work = |range: std::ops::Range<usize>| {
            for item in range {
                let (g, ch) = (item / chunks, item % chunks);
                let r0 = ch * row_chunk;
                let r1 = m.min(r0 + row_chunk);
                // SAFETY: every (row, column) of `dst` belongs to exactly one item, `dst` has
                // m·n elements (the caller's contract) and outlives the pool call, which joins
                // all workers before returning.
                unsafe { self.tile_rows(&rows, g, r0..r1, dst_ptr as *mut f32) };
            }
        };
        let items = groups * chunks;
        if items == 1 {
            work(0..1);
        } else {
            candle_core::utils::barrier_pool().execute_chunked(items, work);
        }
    }

    /// Computes columns `16g..16g+16` of rows `rows` into `dst` (row stride `n`).
    ///
    /// # Safety
    /// `dst` must point to `m·n` writable f32 with no other writer of these elements.
    unsafe fn tile_rows(
        &self,
        x: &QuantRows,
        g: usize,
        rows: std::ops::Range<usize>,
        dst: *mut f32,
    ) {
        let kb = self.k / QK;
        let tb = self.tile_bytes();
        let tiles = &self.tiles[g * kb * tb..(g + 1) * kb * tb];
        let mut out = [[0f32; TILE_N]; ROWS];
        let mut r = rows.start;
        while r < rows.end {
            let nr = ROWS.min(rows.end - r);
            match (self.kernels, self.format) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY (every SIMD arm): `kernels` is set only through `set_kernels`, which
                // refuses a path whose CPU features are missing; the tile and row ranges are in
                // bounds by construction.
                (CpuKernels::Avx512Vnni, Format::Q8_0) => unsafe {
                    avx512::tile(tiles, x, r, nr, kb, &mut out)
                },
                #[cfg(target_arch = "x86_64")]
                (CpuKernels::Avx512Vnni, Format::Q4_1) => unsafe {
                    avx512::tile_affine::<true>(tiles, x, r, nr, kb, &mut out)
                },
                #[cfg(target_arch = "x86_64")]
                (CpuKernels::Avx512Vnni, Format::Q5_0) => unsafe {
                    avx512::tile_affine::<false>(tiles, x, r, nr, kb, &mut out)
                },
                #[cfg(target_arch = "x86_64")]
                (CpuKernels::AvxVnni, format) => unsafe {
                    avx2::vnni::tile(format, tiles, x, r, nr, kb, &mut out)
                },
                #[cfg(target_arch = "x86_64")]
                (CpuKernels::Avx2, format) => unsafe {
                    avx2::plain::tile(format, tiles, x, r, nr, kb, &mut out)
                },
                (_, Format::Q8_0) => scalar_tile(tiles, x, r, nr, kb, &mut out),
                (_, Format::Q4_1) => scalar_tile_affine::<true>(tiles, x, r, nr, kb, &mut out),
                (_, Format::Q5_0) => scalar_tile_affine::<false>(tiles, x, r, nr, kb, &mut out),
            }
            let cols = TILE_N.min(self.n - g * TILE_N);
            for (i, o) in out.iter().enumerate().take(nr) {
                // SAFETY: row r+i < m and columns 16g..16g+cols < n lie inside `dst`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        o.as_ptr(),
                        dst.add((r + i) * self.n + g * TILE_N),
                        cols,
                    );
                }
            }
            r += nr;
        }
    }
}

/// Quantizes `m` rows of `k` values (a multiple of 32) exactly as candle's
/// `BlockQ8_0::from_float` does (scale rounded through f16, round half away from zero).
fn quantize_rows(x: &[f32], m: usize, k: usize, kernels: CpuKernels) -> QuantRows {
    let blocks = k / QK;
    let mut qs = vec![0i8; m * k];
    let mut d = vec![0f32; m * blocks];
    let mut corr = vec![0i32; m * blocks];
    let mut dsum = vec![0f32; m * blocks];
    for ((((xb, qb), db), cb), sb) in x
        .chunks_exact(QK)
        .zip(qs.chunks_exact_mut(QK))
        .zip(d.iter_mut())
        .zip(corr.iter_mut())
        .zip(dsum.iter_mut())
    {
        let xb: &[f32; QK] = xb.try_into().unwrap_or(&[0.0; QK]);
        let qb: &mut [i8; QK] = match qb.try_into() {
            Ok(q) => q,
            Err(_) => continue, // unreachable: chunks_exact yields QK values
        };
        let (scale, sum) = match kernels {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the packed matrix's `kernels` passed `set_kernels`, so the CPU has the
            // path's features (AVX-512F; AVX2 for the 256-bit paths).
            CpuKernels::Avx512Vnni => unsafe { avx512::quantize_block(xb, qb) },
            #[cfg(target_arch = "x86_64")]
            CpuKernels::AvxVnni | CpuKernels::Avx2 => unsafe { avx2::quantize_block(xb, qb) },
            _ => quantize_block(xb, qb),
        };
        *db = f16::from_f32(scale).to_f32();
        *cb = -128 * sum;
        *sb = *db * sum as f32;
    }
    QuantRows {
        qs,
        d,
        corr,
        dsum,
        blocks,
    }
}

/// One block as candle's `BlockQ8_0::from_float`: returns the (unrounded) scale and `Σq`.
fn quantize_block(xb: &[f32; QK], qb: &mut [i8; QK]) -> (f32, i32) {
    let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
    let scale = amax / 127.0;
    let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    let mut sum = 0i32;
    for (q, v) in qb.iter_mut().zip(xb) {
        let r = (v * inv).round();
        *q = r as i8;
        sum += r as i32;
    }
    (scale, sum)
}

/// The tile product without SIMD: the portable kernel and the reference the SIMD ones are
/// tested against (bit for bit: integer sums are exact and the f32 steps are the same fused
/// multiply-adds in the same order).
fn scalar_tile(
    tiles: &[u8],
    x: &QuantRows,
    r0: usize,
    nr: usize,
    kb: usize,
    out: &mut [[f32; TILE_N]; ROWS],
) {
    let k = kb * QK;
    for (i, o) in out.iter_mut().enumerate().take(nr) {
        let row = r0 + i;
        *o = [0.0; TILE_N];
        for b in 0..kb {
            let tile = &tiles[b * TILE_BYTES..(b + 1) * TILE_BYTES];
            let xq = &x.qs[row * k + b * QK..row * k + (b + 1) * QK];
            let xd = x.d[row * x.blocks + b];
            for (c, oc) in o.iter_mut().enumerate() {
                let wd = f16::from_le_bytes([tile[c * 2], tile[c * 2 + 1]]).to_f32();
                let mut acc = x.corr[row * x.blocks + b];
                for (j, &xq) in xq.iter().enumerate() {
                    let w = tile[TILE_N * 2 + (j / 4) * TILE_N * 4 + c * 4 + j % 4];
                    acc += i32::from(xq) * i32::from(w);
                }
                // One fused multiply-add per block, as the SIMD paths do: same bits on every path.
                *oc = (acc as f32).mul_add(wd * xd, *oc);
            }
        }
    }
}

/// [`scalar_tile`] for the formats with a scale and an offset per block (Q4_1 with its
/// minimum, Q5_0 with `−16·d`): `NIBBLES` selects Q4_1's packed nibbles over Q5_0's bytes.
fn scalar_tile_affine<const NIBBLES: bool>(
    tiles: &[u8],
    x: &QuantRows,
    r0: usize,
    nr: usize,
    kb: usize,
    out: &mut [[f32; TILE_N]; ROWS],
) {
    let k = kb * QK;
    let tb = if NIBBLES {
        TILE_BYTES_Q4_1
    } else {
        TILE_BYTES_Q5_0
    };
    for (i, o) in out.iter_mut().enumerate().take(nr) {
        let row = r0 + i;
        *o = [0.0; TILE_N];
        for b in 0..kb {
            let tile = &tiles[b * tb..(b + 1) * tb];
            let xq = &x.qs[row * k + b * QK..row * k + (b + 1) * QK];
            let (xd, xs) = (x.d[row * x.blocks + b], x.dsum[row * x.blocks + b]);
            for (c, oc) in o.iter_mut().enumerate() {
                let wd = f16::from_le_bytes([tile[c * 2], tile[c * 2 + 1]]).to_f32();
                let off = TILE_N * 2 + c * 2;
                let wm = f16::from_le_bytes([tile[off], tile[off + 1]]).to_f32();
                let mut acc = 0i32;
                for (j, &xq) in xq.iter().enumerate() {
                    let w = if NIBBLES {
                        let byte = tile[TILE_N * 4 + ((j % 16) / 4) * TILE_N * 4 + c * 4 + j % 4];
                        if j < 16 { byte & 0x0F } else { byte >> 4 }
                    } else {
                        tile[TILE_N * 4 + (j / 4) * TILE_N * 4 + c * 4 + j % 4]
                    };
                    acc += i32::from(xq) * i32::from(w);
                }
                *oc = (acc as f32).mul_add(wd * xd, *oc);
                *oc = wm.mul_add(xs, *oc);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{
        QK, QuantRows, ROWS, RowPtrs, TILE_BYTES, TILE_BYTES_Q4_1, TILE_BYTES_Q5_0, TILE_N,
    };

    /// `$f::<nr, …>(args)` for a run-time row count `nr` in 1..=8 (`_` in the turbofish marks
    /// the row-count parameter): one instance per count keeps every accumulator in a register.
    macro_rules! by_rows {
        ($nr:expr, $f:ident :: <_ $(, $g:ident)*> ($($arg:expr),*)) => {
            match $nr {
                8 => $f::<8 $(, $g)*>($($arg),*),
                7 => $f::<7 $(, $g)*>($($arg),*),
                6 => $f::<6 $(, $g)*>($($arg),*),
                5 => $f::<5 $(, $g)*>($($arg),*),
                4 => $f::<4 $(, $g)*>($($arg),*),
                3 => $f::<3 $(, $g)*>($($arg),*),
                2 => $f::<2 $(, $g)*>($($arg),*),
                _ => $f::<1 $(, $g)*>($($arg),*),
            }
        };
    }

    /// `out[i] = Σ_b (Σ_j w·x) · d_w · d_x` for rows `r0..r0+nr` and one column group.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, BW and VNNI; `tiles` holds `kb` tiles and rows
    /// `r0..r0+nr` exist in `x`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile(
        tiles: &[u8],
        x: &QuantRows,
        r0: usize,
        nr: usize,
        kb: usize,
        out: &mut [[f32; TILE_N]; ROWS],
    ) {
        // SAFETY: forwarded contract; one instance per row count keeps every accumulator in a
        // register.
        unsafe { by_rows!(nr, rows::<_>(tiles, x, r0, kb, out)) }
    }

    /// [`tile`] for the formats with a scale and an offset per block: Q4_1 (`NIBBLES`, its
    /// minimum) and Q5_0 (the offset `−16·d`).
    ///
    /// # Safety
    /// As for [`tile`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile_affine<const NIBBLES: bool>(
        tiles: &[u8],
        x: &QuantRows,
        r0: usize,
        nr: usize,
        kb: usize,
        out: &mut [[f32; TILE_N]; ROWS],
    ) {
        // SAFETY: forwarded contract.
        unsafe { by_rows!(nr, rows_affine::<_, NIBBLES>(tiles, x, r0, kb, out)) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn rows_affine<const N: usize, const NIBBLES: bool>(
        tiles: &[u8],
        x: &QuantRows,
        r0: usize,
        kb: usize,
        out: &mut [[f32; TILE_N]; ROWS],
    ) {
        let tb = if NIBBLES {
            TILE_BYTES_Q4_1
        } else {
            TILE_BYTES_Q5_0
        };
        debug_assert!(tiles.len() >= kb * tb && N <= ROWS);
        // SAFETY: as in `rows`, with tiles of `tb` bytes.
        unsafe {
            let mut t = tiles.as_ptr();
            let RowPtrs {
                qs: mut xq,
                d: mut xd,
                dsum: mut xs,
                ..
            } = x.row_ptrs::<N>(r0);
            let nib = _mm512_set1_epi8(0x0F);
            let mut accf = [_mm512_setzero_ps(); N];
            for _ in 0..kb {
                let wd = _mm512_cvtph_ps(_mm256_loadu_si256(t as *const __m256i));
                let wm = _mm512_cvtph_ps(_mm256_loadu_si256(t.add(TILE_N * 2) as *const __m256i));
                let w = t.add(TILE_N * 4);
                let mut acci = [_mm512_setzero_si512(); N];
                if NIBBLES {
                    // Each 64-byte vector holds inputs 4g..4g+4 (low nibbles) and 16+4g..
                    // (high nibbles) of the 16 columns.
                    for gq in 0..4 {
                        let v = _mm512_loadu_si512(w.add(gq * TILE_N * 4) as *const __m512i);
                        let lo = _mm512_and_si512(v, nib);
                        let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), nib);
                        for i in 0..N {
                            let a = (xq[i].add(gq * 4) as *const i32).read_unaligned();
                            let b = (xq[i].add(16 + gq * 4) as *const i32).read_unaligned();
                            acci[i] = _mm512_dpbusd_epi32(acci[i], lo, _mm512_set1_epi32(a));
                            acci[i] = _mm512_dpbusd_epi32(acci[i], hi, _mm512_set1_epi32(b));
                        }
                    }
                } else {
                    for gq in 0..QK / 4 {
                        let wv = _mm512_loadu_si512(w.add(gq * TILE_N * 4) as *const __m512i);
                        for i in 0..N {
                            let xv = (xq[i].add(gq * 4) as *const i32).read_unaligned();
                            acci[i] = _mm512_dpbusd_epi32(acci[i], wv, _mm512_set1_epi32(xv));
                        }
                    }
                }
                for i in 0..N {
                    let s = _mm512_mul_ps(wd, _mm512_set1_ps(xd[i].read()));
                    accf[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[i]), s, accf[i]);
                    accf[i] = _mm512_fmadd_ps(wm, _mm512_set1_ps(xs[i].read()), accf[i]);
                    xq[i] = xq[i].add(QK);
                    xd[i] = xd[i].add(1);
                    xs[i] = xs[i].add(1);
                }
                t = t.add(tb);
            }
            for i in 0..N {
                _mm512_storeu_ps(out[i].as_mut_ptr(), accf[i]);
            }
        }
    }

    /// [`super::quantize_block`] in registers: identical results (round half away from zero
    /// is done as truncate, then ±1 where the dropped fraction is at least one half).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_block(xb: &[f32; QK], qb: &mut [i8; QK]) -> (f32, i32) {
        // SAFETY: 32 f32 in and 32 i8 out, both exact-size arrays; unaligned accesses.
        unsafe {
            let a = _mm512_loadu_ps(xb.as_ptr());
            let b = _mm512_loadu_ps(xb.as_ptr().add(16));
            let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
            let scale = amax / 127.0;
            let inv = _mm512_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
            let round = |v: __m512| {
                let y = _mm512_mul_ps(v, inv);
                let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
                let f = _mm512_sub_ps(y, t);
                let up = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(f, _mm512_set1_ps(0.5));
                let down = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(f, _mm512_set1_ps(-0.5));
                let t = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0));
                _mm512_cvttps_epi32(_mm512_mask_sub_ps(t, down, t, _mm512_set1_ps(1.0)))
            };
            let (qa, qb_) = (round(a), round(b));
            let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb_));
            _mm_storeu_si128(qb.as_mut_ptr() as *mut __m128i, _mm512_cvtepi32_epi8(qa));
            _mm_storeu_si128(
                qb.as_mut_ptr().add(16) as *mut __m128i,
                _mm512_cvtepi32_epi8(qb_),
            );
            (scale, sum)
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn rows<const N: usize>(
        tiles: &[u8],
        x: &QuantRows,
        r0: usize,
        kb: usize,
        out: &mut [[f32; TILE_N]; ROWS],
    ) {
        debug_assert!(tiles.len() >= kb * TILE_BYTES && N <= ROWS);
        // SAFETY (all pointer reads below): tile b spans tiles[b·TILE_BYTES..(b+1)·TILE_BYTES],
        // activation row r spans qs[r·k..(r+1)·k], d and corr[r·kb..(r+1)·kb], all in bounds by
        // the caller's contract. Pointers advance by increments (no index arithmetic in the
        // loop, so no overflow checks in debug-assertion builds). Unaligned loads throughout.
        unsafe {
            let mut t = tiles.as_ptr();
            let RowPtrs {
                qs: mut xq,
                d: mut xd,
                corr: mut xc,
                ..
            } = x.row_ptrs::<N>(r0);
            let mut accf = [_mm512_setzero_ps(); N];
            for _ in 0..kb {
                let wd = _mm512_cvtph_ps(_mm256_loadu_si256(t as *const __m256i));
                let w = t.add(TILE_N * 2);
                let mut acci = [_mm512_setzero_si512(); N];
                for i in 0..N {
                    acci[i] = _mm512_set1_epi32(xc[i].read());
                }
                for gq in 0..QK / 4 {
                    let wv = _mm512_loadu_si512(w.add(gq * TILE_N * 4) as *const __m512i);
                    for i in 0..N {
                        let xv = (xq[i].add(gq * 4) as *const i32).read_unaligned();
                        acci[i] = _mm512_dpbusd_epi32(acci[i], wv, _mm512_set1_epi32(xv));
                    }
                }
                for i in 0..N {
                    let s = _mm512_mul_ps(wd, _mm512_set1_ps(xd[i].read()));
                    accf[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[i]), s, accf[i]);
                    xq[i] = xq[i].add(QK);
                    xd[i] = xd[i].add(1);
                    xc[i] = xc[i].add(1);
                }
                t = t.add(TILE_BYTES);
            }
            for i in 0..N {
                _mm512_storeu_ps(out[i].as_mut_ptr(), accf[i]);
            }
        }
    }
}

/// The packed kernels on 256-bit registers: [`avx2::plain`] with `vpmaddubsw` (AVX2, FMA, F16C),
/// [`avx2::vnni`] with VEX `vpdpbusd` (AVX-VNNI). Each 16-column tile is run as two halves of 8
/// columns, up to 4 activation rows per pass (16 registers: an integer and a float accumulator per
/// row and the weight vectors). Per column the f32 steps are those of the AVX-512 and portable
/// kernels (one fused multiply-add per block, the minimum's second), so results are bit-identical.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::QK;

    /// [`super::quantize_block`] on AVX2: identical results (round half away from zero as
    /// truncate, then ±1 where the dropped fraction is at least one half).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_block(xb: &[f32; QK], qb: &mut [i8; QK]) -> (f32, i32) {
        // SAFETY: 32 f32 read from an exact-size array with unaligned loads.
        unsafe {
            let p = xb.as_ptr();
            let v = [
                _mm256_loadu_ps(p),
                _mm256_loadu_ps(p.add(8)),
                _mm256_loadu_ps(p.add(16)),
                _mm256_loadu_ps(p.add(24)),
            ];
            let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
            let m = _mm256_max_ps(
                _mm256_max_ps(_mm256_and_ps(v[0], abs), _mm256_and_ps(v[1], abs)),
                _mm256_max_ps(_mm256_and_ps(v[2], abs), _mm256_and_ps(v[3], abs)),
            );
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), m);
            // max is exact, so the order of the reduction does not matter.
            let amax = lanes.iter().fold(0f32, |a, &b| a.max(b));
            let scale = amax / 127.0;
            let inv = _mm256_set1_ps(if scale != 0.0 { 1.0 / scale } else { 0.0 });
            let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
            let mut q = [0i32; QK];
            for (j, vj) in v.iter().enumerate() {
                let y = _mm256_mul_ps(*vj, inv);
                let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
                let f = _mm256_sub_ps(y, t);
                let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(f, half), one);
                let down = _mm256_and_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(f, _mm256_set1_ps(-0.5)), one);
                let r = _mm256_sub_ps(_mm256_add_ps(t, up), down);
                _mm256_storeu_si256(
                    q.as_mut_ptr().add(8 * j) as *mut __m256i,
                    _mm256_cvttps_epi32(r),
                );
            }
            let mut sum = 0i32;
            for (o, &v) in qb.iter_mut().zip(&q) {
                *o = v as i8;
                sum += v;
            }
            (scale, sum)
        }
    }

    /// One module of kernels per feature set: `$vnni` selects `vpdpbusd` over `vpmaddubsw`.
    macro_rules! kernels {
        ($name:ident, $features:literal, $vnni:literal) => {
            pub(super) mod $name {
                use std::arch::x86_64::*;

                use super::super::{
                    Format, QK, QuantRows, ROWS, RowPtrs, TILE_BYTES, TILE_BYTES_Q4_1,
                    TILE_BYTES_Q5_0, TILE_N,
                };

                /// Rows per pass: 4, except 3 for Q8_0 without VNNI, where the signed and
                /// absolute weights `vpmaddubsw` needs made LLVM spill a 4-row pass's registers
                /// to the stack inside the inner loop (50 stack accesses in `q8::<4>`).
                const R: usize = 4;
                const R_Q8_PLAIN: usize = 3;

                /// Columns `16g..16g+16` of rows `r0..r0+nr` (`nr` ≤ 8) for one column group.
                ///
                /// # Safety
                /// The CPU must have this module's features; `tiles` holds `kb` tiles of
                /// `format` and rows `r0..r0+nr` exist in `x`.
                #[target_feature(enable = $features)]
                pub(in super::super) unsafe fn tile(
                    format: Format,
                    tiles: &[u8],
                    x: &QuantRows,
                    r0: usize,
                    nr: usize,
                    kb: usize,
                    out: &mut [[f32; TILE_N]; ROWS],
                ) {
                    let step = if !$vnni && format == Format::Q8_0 {
                        R_Q8_PLAIN
                    } else {
                        R
                    };
                    let mut r = 0;
                    while r < nr {
                        let n = step.min(nr - r);
                        let o = &mut out[r..r + n];
                        for h in 0..2 {
                            // SAFETY: forwarded contract; one instance per row count keeps
                            // every accumulator in a register.
                            unsafe {
                                match (format, n) {
                                    (Format::Q8_0, 4) => q8::<4>(tiles, x, r0 + r, kb, h, o),
                                    (Format::Q8_0, 3) => q8::<3>(tiles, x, r0 + r, kb, h, o),
                                    (Format::Q8_0, 2) => q8::<2>(tiles, x, r0 + r, kb, h, o),
                                    (Format::Q8_0, _) => q8::<1>(tiles, x, r0 + r, kb, h, o),
                                    (Format::Q4_1, 4) => {
                                        affine::<4, true>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q4_1, 3) => {
                                        affine::<3, true>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q4_1, 2) => {
                                        affine::<2, true>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q4_1, _) => {
                                        affine::<1, true>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q5_0, 4) => {
                                        affine::<4, false>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q5_0, 3) => {
                                        affine::<3, false>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q5_0, 2) => {
                                        affine::<2, false>(tiles, x, r0 + r, kb, h, o)
                                    }
                                    (Format::Q5_0, _) => {
                                        affine::<1, false>(tiles, x, r0 + r, kb, h, o)
                                    }
                                }
                            }
                        }
                        r += n;
                    }
                }

                /// `acc + Σ w·x` over 4-byte groups for 8 columns: `w1` holds the stored bytes
                /// (`w + 128`, unsigned; the accumulator then starts at `−128·Σx`), `ws` the
                /// same as signed `w`, `wa` their absolute values (for `vpmaddubsw`, whose
                /// pairs of u8·i8 products saturate in i16 unless the unsigned side stays
                /// below 128: `|w|·(x·sgn w)` does; its accumulator starts at 0).
                macro_rules! dot_q8 {
                    ($acc:expr, $w1:expr, $ws:expr, $wa:expr, $xv:expr) => {
                        if $vnni {
                            _mm256_dpbusd_avx_epi32($acc, $w1, $xv)
                        } else {
                            let p = _mm256_maddubs_epi16($wa, _mm256_sign_epi8($xv, $ws));
                            _mm256_add_epi32($acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
                        }
                    };
                }

                /// Four activation bytes at `p + off`, broadcast to every 32-bit lane.
                macro_rules! bcast {
                    ($p:expr, $off:expr) => {
                        _mm256_set1_epi32(($p.add($off) as *const i32).read_unaligned())
                    };
                }

                #[target_feature(enable = $features)]
                unsafe fn q8<const N: usize>(
                    tiles: &[u8],
                    x: &QuantRows,
                    r0: usize,
                    kb: usize,
                    h: usize,
                    out: &mut [[f32; TILE_N]],
                ) {
                    debug_assert!(tiles.len() >= kb * TILE_BYTES && N <= out.len());
                    // SAFETY: tile b spans tiles[b·TILE_BYTES..], half h its columns 8h..8h+8;
                    // activation row r spans qs[r·k..(r+1)·k], d and corr[r·kb..(r+1)·kb], in
                    // bounds by the caller's contract. Unaligned loads throughout.
                    unsafe {
                        let mut t = tiles.as_ptr();
                        let RowPtrs {
                            qs: mut xq,
                            d: mut xd,
                            corr: mut xc,
                            ..
                        } = x.row_ptrs::<N>(r0);
                        let flip = _mm256_set1_epi8(-128);
                        let mut accf = [_mm256_setzero_ps(); N];
                        for _ in 0..kb {
                            let wd =
                                _mm256_cvtph_ps(_mm_loadu_si128(t.add(h * 16) as *const __m128i));
                            let w = t.add(TILE_N * 2 + h * 32);
                            let mut acci = [_mm256_setzero_si256(); N];
                            if $vnni {
                                // vpdpbusd takes the stored w + 128; −128·Σx takes it off.
                                for i in 0..N {
                                    acci[i] = _mm256_set1_epi32(xc[i].read());
                                }
                            }
                            for gq in 0..QK / 4 {
                                let w1 =
                                    _mm256_loadu_si256(w.add(gq * TILE_N * 4) as *const __m256i);
                                let ws = _mm256_xor_si256(w1, flip);
                                let wa = _mm256_abs_epi8(ws);
                                for i in 0..N {
                                    let xv = bcast!(xq[i], gq * 4);
                                    acci[i] = dot_q8!(acci[i], w1, ws, wa, xv);
                                }
                            }
                            for i in 0..N {
                                let s = _mm256_mul_ps(wd, _mm256_set1_ps(xd[i].read()));
                                accf[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acci[i]), s, accf[i]);
                                xq[i] = xq[i].add(QK);
                                xd[i] = xd[i].add(1);
                                xc[i] = xc[i].add(1);
                            }
                            t = t.add(TILE_BYTES);
                        }
                        for i in 0..N {
                            _mm256_storeu_ps(out[i].as_mut_ptr().add(h * 8), accf[i]);
                        }
                    }
                }

                /// The scale-and-offset formats: Q4_1 (`NIBBLES`) and Q5_0. Their weights are
                /// unsigned and small (≤ 15 or ≤ 31), so without VNNI `vpmaddubsw` pairs are
                /// summed in i16 over several groups before widening (8 groups of ≤ 2·15·127
                /// for Q4_1, 4 of ≤ 2·31·127 for Q5_0, both below 32767).
                #[target_feature(enable = $features)]
                unsafe fn affine<const N: usize, const NIBBLES: bool>(
                    tiles: &[u8],
                    x: &QuantRows,
                    r0: usize,
                    kb: usize,
                    h: usize,
                    out: &mut [[f32; TILE_N]],
                ) {
                    let tb = if NIBBLES {
                        TILE_BYTES_Q4_1
                    } else {
                        TILE_BYTES_Q5_0
                    };
                    debug_assert!(tiles.len() >= kb * tb && N <= out.len());
                    // SAFETY: as in `q8`, with tiles of `tb` bytes.
                    unsafe {
                        let mut t = tiles.as_ptr();
                        let RowPtrs {
                            qs: mut xq,
                            d: mut xd,
                            dsum: mut xs,
                            ..
                        } = x.row_ptrs::<N>(r0);
                        let nib = _mm256_set1_epi8(0x0F);
                        let ones = _mm256_set1_epi16(1);
                        let mut accf = [_mm256_setzero_ps(); N];
                        for _ in 0..kb {
                            let wd =
                                _mm256_cvtph_ps(_mm_loadu_si128(t.add(h * 16) as *const __m128i));
                            let wm = _mm256_cvtph_ps(_mm_loadu_si128(
                                t.add(TILE_N * 2 + h * 16) as *const __m128i
                            ));
                            let w = t.add(TILE_N * 4 + h * 32);
                            let mut acci = [_mm256_setzero_si256(); N];
                            if NIBBLES {
                                let mut p16 = [_mm256_setzero_si256(); N];
                                for gq in 0..4 {
                                    let v = _mm256_loadu_si256(
                                        w.add(gq * TILE_N * 4) as *const __m256i
                                    );
                                    let lo = _mm256_and_si256(v, nib);
                                    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), nib);
                                    for i in 0..N {
                                        let (a, b) =
                                            (bcast!(xq[i], gq * 4), bcast!(xq[i], 16 + gq * 4));
                                        if $vnni {
                                            acci[i] = _mm256_dpbusd_avx_epi32(acci[i], lo, a);
                                            acci[i] = _mm256_dpbusd_avx_epi32(acci[i], hi, b);
                                        } else {
                                            p16[i] = _mm256_add_epi16(
                                                p16[i],
                                                _mm256_maddubs_epi16(lo, a),
                                            );
                                            p16[i] = _mm256_add_epi16(
                                                p16[i],
                                                _mm256_maddubs_epi16(hi, b),
                                            );
                                        }
                                    }
                                }
                                if !$vnni {
                                    for i in 0..N {
                                        acci[i] = _mm256_madd_epi16(p16[i], ones);
                                    }
                                }
                            } else {
                                for half in 0..2 {
                                    let mut p16 = [_mm256_setzero_si256(); N];
                                    for gq in half * 4..half * 4 + 4 {
                                        let wv = _mm256_loadu_si256(
                                            w.add(gq * TILE_N * 4) as *const __m256i
                                        );
                                        for i in 0..N {
                                            let a = bcast!(xq[i], gq * 4);
                                            if $vnni {
                                                acci[i] = _mm256_dpbusd_avx_epi32(acci[i], wv, a);
                                            } else {
                                                p16[i] = _mm256_add_epi16(
                                                    p16[i],
                                                    _mm256_maddubs_epi16(wv, a),
                                                );
                                            }
                                        }
                                    }
                                    if !$vnni {
                                        for i in 0..N {
                                            acci[i] = _mm256_add_epi32(
                                                acci[i],
                                                _mm256_madd_epi16(p16[i], ones),
                                            );
                                        }
                                    }
                                }
                            }
                            for i in 0..N {
                                let s = _mm256_mul_ps(wd, _mm256_set1_ps(xd[i].read()));
                                accf[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acci[i]), s, accf[i]);
                                accf[i] =
                                    _mm256_fmadd_ps(wm, _mm256_set1_ps(xs[i].read()), accf[i]);
                                xq[i] = xq[i].add(QK);
                                xd[i] = xd[i].add(1);
                                xs[i] = xs[i].add(1);
                            }
                            t = t.add(tb);
                        }
                        for i in 0..N {
                            _mm256_storeu_ps(out[i].as_mut_ptr().add(h * 8), accf[i]);
                        }
                    }
                }
            }
        };
    }

    kernels!(plain, "avx2,fma,f16c", false);
    kernels!(vnni, "avx2,fma,f16c,avxvnni", true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module, Tensor};

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        // A small LCG: deterministic values in [-1, 1) with a few large outliers.
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let v = (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                if i % 97 == 0 { v * 8.0 } else { v }
            })
            .collect()
    }

    /// Packed product vs candle's own Q8_0 matmul and the exact f32 product of the
    /// dequantized weights, for row counts around the register block and a ragged `n`.
    #[test]
    fn packed_matmul_matches_candle_q8_0() -> Result<()> {
        let dev = Device::Cpu;
        for &(n, k, dtype) in &[
            (40usize, 96usize, GgmlDType::Q8_0),
            (48, 576, GgmlDType::Q8_0),
            (40, 128, GgmlDType::Q4_1), // candle's Q4_1 dot needs an even block count
            (48, 576, GgmlDType::Q4_1),
            (40, 128, GgmlDType::Q5_0),
            (48, 576, GgmlDType::Q5_0),
        ] {
            let w0 = Tensor::from_vec(pseudo(n * k, 3), (n, k), &dev)?;
            let q = QTensor::quantize(&w0, dtype)?;
            // The exact reference uses the stored (quantized) weights for Q4_1: packing it
            // loses nothing, so only the activations' rounding remains.
            let exact_weights = dtype != GgmlDType::Q8_0;
            let w = if exact_weights {
                q.dequantize(&dev)?
            } else {
                w0.clone()
            };
            let packed = PackedQ8::from_qtensor(&q, CpuKernels::Auto)?;
            let reference = QMatMul::from_qtensor(QTensor::quantize(&w0, dtype)?)?;
            // For Q4_1 candle uses Q8_1 activations whose `d·Σq` is rounded to f16; ours is
            // exact f32: both lie within the rounding bound of the exact product, not closer.
            let (same_tol, slack) = if exact_weights {
                (1e-3, 2.0)
            } else {
                (1e-4, 0.0)
            };
            for m in [1usize, 3, 8, 9, 17, 70] {
                let x = pseudo(m * k, m as u32 + 7);
                let mut ours = vec![0f32; m * n];
                packed.matmul(&x, m, &mut ours)?;
                let xt = Tensor::from_vec(x.clone(), (m, k), &dev)?;
                let theirs = reference.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?;
                let wv = w.flatten_all()?.to_vec1::<f32>()?;
                for r in 0..m {
                    for c in 0..n {
                        let i = r * n + c;
                        let (xr, wr) = (&x[r * k..(r + 1) * k], &wv[c * k..(c + 1) * k]);
                        let exact: f64 = xr.iter().zip(wr).map(|(a, b)| f64::from(a * b)).sum();
                        // Rounding bound of 8-bit quantization of both operands: each value
                        // moves by at most half a step, a step being its block's max / 127.
                        let mut bound = 0f64;
                        for (xb, wb) in xr.chunks(QK).zip(wr.chunks(QK)) {
                            let sx = xb.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                            let sw = if exact_weights {
                                0.0
                            } else {
                                wb.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0
                            };
                            for (a, b) in xb.iter().zip(wb) {
                                bound += f64::from(
                                    (sx / 2.0) * (b.abs() + sw / 2.0) + (sw / 2.0) * a.abs(),
                                );
                            }
                        }
                        let scale = f64::from(theirs[i].abs().max(1.0));
                        // Same quantization as candle: equal up to f32 summation order.
                        assert!(
                            f64::from((ours[i] - theirs[i]).abs())
                                <= same_tol * scale + slack * bound,
                            "{dtype:?} n={n} k={k} m={m} [{i}]: packed {} vs candle {}",
                            ours[i],
                            theirs[i]
                        );
                        // And within the quantization bound of the exact product (f16 scales
                        // add a relative 2^-11 on top).
                        let err = (f64::from(ours[i]) - exact).abs();
                        assert!(
                            err <= 1.01 * bound + 1e-3 * exact.abs() + 1e-4,
                            "{dtype:?} n={n} k={k} m={m} [{i}]: packed {} vs exact {exact} ({bound})",
                            ours[i]
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Every packed path this CPU runs gives the portable kernel's results bit for bit, for
    /// every format, row counts around the register blocks and a ragged column count.
    #[test]
    fn every_packed_path_matches_the_portable_kernel_bit_for_bit() -> Result<()> {
        for path in CpuKernels::PACKED.into_iter().filter(|p| !p.supported()) {
            eprintln!("notice: this CPU lacks {path}; that path is not checked here");
        }
        let dev = Device::Cpu;
        for &(n, k) in &[(40usize, 128usize), (72, 576)] {
            let w = Tensor::from_vec(pseudo(n * k, 5), (n, k), &dev)?;
            for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_1, GgmlDType::Q5_0] {
                let mut packed =
                    PackedQ8::from_qtensor(&QTensor::quantize(&w, dtype)?, CpuKernels::Portable)?;
                for m in [1usize, 2, 3, 4, 5, 7, 8, 9, 13, 70] {
                    let x = pseudo(m * k, 9 + m as u32);
                    packed.set_kernels(CpuKernels::Portable)?;
                    let mut reference = vec![0f32; m * n];
                    packed.matmul(&x, m, &mut reference)?;
                    for path in CpuKernels::PACKED.into_iter().filter(|p| p.supported()) {
                        packed.set_kernels(path)?;
                        let mut got = vec![0f32; m * n];
                        packed.matmul(&x, m, &mut got)?;
                        for (i, (a, b)) in got.iter().zip(&reference).enumerate() {
                            assert_eq!(
                                a.to_bits(),
                                b.to_bits(),
                                "{dtype:?} {path} n={n} k={k} m={m} [{i}]: {a} vs portable {b}"
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn a_path_the_cpu_lacks_is_refused_with_its_name() -> Result<()> {
        let w = Tensor::zeros((16, 32), candle_core::DType::F32, &Device::Cpu)?;
        let q = QTensor::quantize(&w, GgmlDType::Q8_0)?;
        for path in CpuKernels::PACKED {
            let r = PackedQ8::from_qtensor(&q, path);
            assert_eq!(r.is_ok(), path.supported(), "{path}");
            if let Err(e) = r {
                assert!(e.to_string().contains(path.name()), "{e}");
            }
        }
        assert!(PackedQ8::from_qtensor(&q, CpuKernels::Candle).is_err());
        Ok(())
    }

    #[test]
    fn simd_quantization_is_bit_identical_including_ties() {
        let mut blocks: Vec<[f32; QK]> = Vec::new();
        // amax 127 gives scale 1, so these are exact ties of round-half-away-from-zero.
        let mut ties = [0f32; QK];
        for (j, v) in ties.iter_mut().enumerate() {
            *v = (j as f32 - 15.5) * if j % 2 == 0 { 1.0 } else { -1.0 };
        }
        ties[0] = 127.0;
        blocks.push(ties);
        blocks.push([0.0; QK]);
        for seed in 0..200 {
            let v = pseudo(QK, seed);
            blocks.push(v.try_into().unwrap_or([0.0; QK]));
        }
        let mut checked = 0;
        for path in [CpuKernels::Avx512Vnni, CpuKernels::Avx2] {
            if !path.supported() {
                eprintln!("notice: this CPU lacks {path}; its quantization is not checked here");
                continue;
            }
            checked += 1;
            for xb in &blocks {
                let (mut a, mut b) = ([0i8; QK], [0i8; QK]);
                let sa = quantize_block(xb, &mut a);
                // SAFETY: the path's features were checked above.
                let sb = unsafe {
                    match path {
                        CpuKernels::Avx512Vnni => avx512::quantize_block(xb, &mut b),
                        _ => avx2::quantize_block(xb, &mut b),
                    }
                };
                assert_eq!((sa, a), (sb, b), "{path} block {xb:?}");
            }
        }
        if checked == 0 {
            eprintln!("notice: no SIMD quantization path on this CPU");
        }
    }

    #[test]
    fn rejects_mismatched_shapes() -> Result<()> {
        let w = Tensor::zeros((16, 32), candle_core::DType::F32, &Device::Cpu)?;
        let packed =
            PackedQ8::from_qtensor(&QTensor::quantize(&w, GgmlDType::Q8_0)?, CpuKernels::Auto)?;
        let mut dst = vec![0f32; 16];
        assert!(packed.matmul(&[0.0; 31], 1, &mut dst).is_err());
        assert!(
            PackedQ8::from_qtensor(&QTensor::quantize(&w, GgmlDType::Q4_0)?, CpuKernels::Auto)
                .is_err()
        );
        assert!(!PackedQ8::supports(GgmlDType::Q4K));
        Ok(())
    }
}
