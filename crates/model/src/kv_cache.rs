//! Key/value cache for incremental decoding of a batch of sequences.
//!
//! Inference only: it writes into preallocated buffers with `slice_set`, which has no gradient.
//! Training and scoring run full forwards without a cache (docs/candle-notes.md, pitfall 1).

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Per-layer key and value buffers `(B, Hkv, capacity, head_dim)` plus the position of every
/// cached key of every sequence (−1 for left padding).
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    capacity: usize,
    key_pos: Vec<Vec<i64>>,
    dtype: DType,
}

impl KvCache {
    /// An empty cache for `num_layers` layers that reserves room for `capacity` positions
    /// (it grows if needed).
    pub fn new(num_layers: usize, capacity: usize) -> KvCache {
        KvCache::with_dtype(num_layers, capacity, DType::F32)
    }

    /// Like [`KvCache::new`], storing keys and values as `dtype`: F32, or F16 (half the bytes
    /// for attention to read; keys and values are rounded to f16 on the way in, as llama.cpp's
    /// default cache does).
    pub fn with_dtype(num_layers: usize, capacity: usize, dtype: DType) -> KvCache {
        KvCache {
            layers: vec![None; num_layers],
            len: 0,
            capacity: capacity.max(1),
            key_pos: Vec::new(),
            dtype,
        }
    }

    /// How keys and values are stored.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of cached positions (padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first forward.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of sequences in the cache.
    pub fn batch_size(&self) -> usize {
        self.key_pos.len()
    }

    /// Positions of the cached keys of each sequence.
    pub(crate) fn key_positions(&self) -> &[Vec<i64>] {
        &self.key_pos
    }

    /// Registers the positions of the `seq` tokens about to be appended (`B·seq` values).
    pub(crate) fn push_positions(&mut self, q_pos: &[i64], batch: usize, seq: usize) -> Result<()> {
        if self.key_pos.is_empty() {
            self.key_pos = vec![Vec::new(); batch];
        }
        if self.key_pos.len() != batch {
            return Err(Error::invalid(
                "batch",
                format!(
                    "the cache holds {} sequences but {batch} were fed",
                    self.key_pos.len()
                ),
            ));
        }
        for (b, keys) in self.key_pos.iter_mut().enumerate() {
            keys.extend_from_slice(&q_pos[b * seq..(b + 1) * seq]);
        }
        Ok(())
    }

    /// Writes `k`, `v` (`(B, Hkv, T, hd)`) of `layer` after the cached positions and returns
    /// views of everything cached so far for that layer. Call [`KvCache::advance`] once all
    /// layers are done.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (b, hkv, t, hd) = k.dims4()?;
        let need = self.len + t;
        let slot = &mut self.layers[layer];
        let (kb, vb) = match slot.take() {
            None => {
                let cap = self.capacity.max(need);
                let shape = (b, hkv, cap, hd);
                (
                    Tensor::zeros(shape, self.dtype, k.device())?,
                    Tensor::zeros(shape, self.dtype, k.device())?,
                )
            }
            Some((kb, vb)) if kb.dim(2)? < need => {
                (grow(&kb, need, self.len)?, grow(&vb, need, self.len)?)
            }
            Some(bufs) => bufs,
        };
        kb.slice_set(&k.to_dtype(self.dtype)?.contiguous()?, 2, self.len)?;
        vb.slice_set(&v.to_dtype(self.dtype)?.contiguous()?, 2, self.len)?;
        let out = (kb.narrow(2, 0, need)?, vb.narrow(2, 0, need)?);
        *slot = Some((kb, vb));
        Ok(out)
    }

    /// Marks `t` more positions as cached (after every layer appended them).
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
        if let Some(Some((kb, _))) = self.layers.first() {
            self.capacity = kb.dim(2).unwrap_or(self.capacity);
        }
    }

    /// Keeps only the sequences at the given batch indices (in that order): finished sequences
    /// drop out of the batch so later steps cost nothing for them.
    pub fn retain(&mut self, keep: &[usize], device: &Device) -> Result<()> {
        let idx: Vec<u32> = keep.iter().map(|&i| i as u32).collect();
        let idx = Tensor::from_vec(idx, keep.len(), device)?;
        for (kb, vb) in self.layers.iter_mut().flatten() {
            *kb = kb.index_select(&idx, 0)?;
            *vb = vb.index_select(&idx, 0)?;
        }
        self.key_pos = keep
            .iter()
            .map(|&i| std::mem::take(&mut self.key_pos[i]))
            .collect();
        Ok(())
    }
}

/// A larger buffer holding the first `len` positions of `buf`.
fn grow(buf: &Tensor, need: usize, len: usize) -> Result<Tensor> {
    let (b, h, cap, hd) = buf.dims4()?;
    let new_cap = (cap * 2).max(need);
    let bigger = Tensor::zeros((b, h, new_cap, hd), buf.dtype(), buf.device())?;
    bigger.slice_set(&buf.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
    Ok(bigger)
}
