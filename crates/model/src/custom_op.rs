//! Helpers shared by aha's candle `CustomOp`s with hand-written backwards (attention, RMSNorm,
//! rotary embedding, gated MLP) and by their tests.

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor};

/// The contiguous f32 data of a CPU tensor argument of op `op`.
pub(crate) fn f32_slice<'a>(
    op: &str,
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("{op}: {what} is not f32");
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: {what} is not contiguous");
    };
    Ok(&data[start..end])
}

/// Calls `f` with the contiguous f32 data of `tensors` (made f32 and contiguous first where
/// needed), holding their storages' read guards for the call: how a backward reads its
/// inputs, output and output gradient. `names` name them in errors.
pub(crate) fn with_f32<const N: usize, R>(
    op: &str,
    tensors: [&Tensor; N],
    names: [&str; N],
    f: impl FnOnce([&[f32]; N]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let owned = tensors
        .iter()
        .map(|t| t.to_dtype(DType::F32)?.contiguous())
        .collect::<candle_core::Result<Vec<_>>>()?;
    let guards: Vec<_> = owned.iter().map(|t| t.storage_and_layout()).collect();
    let mut slices = Vec::with_capacity(N);
    for ((guard, layout), name) in guards.iter().zip(names) {
        let Storage::Cpu(s) = &**guard else {
            candle_core::bail!("{op}: backward on a non-CPU tensor ({name})");
        };
        slices.push(f32_slice(op, s, layout, name)?);
    }
    let Ok(slices) = <[&[f32]; N]>::try_from(slices) else {
        candle_core::bail!("{op}: internal: {N} tensors");
    };
    f(slices)
}

/// Seeded inputs and closeness checks for the ops' tests against their spelled-out expressions.
#[cfg(test)]
pub(crate) mod testing {
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};

    /// A tensor of `shape` with values uniform in `lo..hi`, the same for the same seed.
    pub(crate) fn random(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// All values, row-major.
    pub(crate) fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// `|a − b| ≤ tol · max|b|` elementwise.
    pub(crate) fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: fused {x} vs plain {y} (max |plain| {scale})"
            );
        }
    }
}
