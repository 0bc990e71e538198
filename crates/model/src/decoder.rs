//! The decoder: one [`Model`] type for Llama, Qwen2 and Gemma 3, with f32 trainable weights
//! (`Var`s) or quantized inference weights.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{DType, Device, Tensor, Var};

use crate::attention::AttentionPath;
use crate::config::ModelConfig;
use crate::cpu::{CpuKernels, LoadOptions};
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::layers::{
    Embedding, Linear, Mode, Rope, Weight, attend, attention_mask, inv_freq, mask_needed, rms_norm,
};

/// How weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightKind {
    /// f32 `Var`s: trainable, exact, ~4 bytes per parameter.
    F32,
    /// Quantized matrices for fast inference (not trainable). On the CPU, Q8_0, Q4_1 and Q5_0
    /// matrices run as stored on aha's packed kernel and every other type, and dense matrices
    /// whose rows are whole blocks, are requantized to Q8_0 at load; with
    /// [`crate::CpuKernels::Candle`] (and on CUDA) candle's own fast types are kept as stored.
    Quantized,
}

/// A tensor as a weight source hands it over: dense or still quantized.
#[derive(Debug)]
pub(crate) enum RawWeight {
    Dense(Tensor),
    Quant(QTensor),
}

impl RawWeight {
    fn dims(&self) -> Vec<usize> {
        match self {
            RawWeight::Dense(t) => t.dims().to_vec(),
            RawWeight::Quant(q) => q.shape().dims().to_vec(),
        }
    }

    fn dense(self, device: &Device) -> Result<Tensor> {
        Ok(match self {
            RawWeight::Dense(t) => t.to_dtype(DType::F32)?.to_device(device)?,
            RawWeight::Quant(q) => q.dequantize(device)?,
        })
    }
}

/// Where [`Model::build`] gets tensors from, by internal (GGUF-style) name.
pub(crate) trait WeightSource {
    /// The tensor, or `None` when the file does not have it. `shape` is what the model expects
    /// (file sources check nothing with it; generated sources use it).
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Option<RawWeight>>;
    /// The file, for error messages.
    fn path(&self) -> &Path;
}

/// Several projections of the same input: separate (trainable `Var`s) or, for quantized
/// inference, one matrix with the outputs stacked, so that decoding runs one matmul (one
/// activation quantization, one thread-pool dispatch) instead of two or three.
#[derive(Debug, Clone)]
enum Proj {
    Separate(Vec<Linear>),
    Fused(Linear, Vec<usize>),
}

impl Proj {
    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Proj::Separate(ls) => ls.iter().map(|l| l.forward(x)).collect(),
            Proj::Fused(l, sizes) => {
                let y = l.forward(x)?;
                let mut start = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for &n in sizes {
                    out.push(y.narrow(candle_core::D::Minus1, start, n)?);
                    start += n;
                }
                Ok(out)
            }
        }
    }
}

/// Which keys each query sees in one attention call.
#[derive(Clone, Copy)]
enum Pattern<'a> {
    /// Keys at positions `0..=t` (the last `window` of them, if set), every row at positions
    /// `0..T`, no cache: the fused attention ([`crate::attention`]).
    Causal(Option<usize>),
    /// The additive mask (`None`: every key visible), for the plain expression.
    Mask(Option<&'a Tensor>),
}

#[derive(Debug, Clone)]
struct Attention {
    /// q, k, v projections.
    qkv: Proj,
    o: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
}

#[derive(Debug, Clone)]
struct Block {
    attn_norm: Tensor,
    attn: Attention,
    post_attn_norm: Option<Tensor>,
    ffn_norm: Tensor,
    /// gate and up projections.
    gate_up: Proj,
    down: Linear,
    post_ffn_norm: Option<Tensor>,
    sliding: bool,
}

/// A decoder-only language model.
///
/// Weights are keyed by GGUF tensor names (`blk.0.attn_q.weight`, ...). Norm weights are held in
/// plain multiplicative form (Gemma's `1 + w` is folded in at load).
#[derive(Debug)]
pub struct Model {
    config: ModelConfig,
    device: Device,
    kind: WeightKind,
    kernels: CpuKernels,
    kv_cache_f32: bool,
    /// Every f32 product through [`crate::fixed_matmul`] ([`LoadOptions::fixed_order_f32`]).
    fixed_order_f32: bool,
    embed: Embedding,
    blocks: Vec<Block>,
    final_norm: Tensor,
    lm_head: Linear,
    vars: Vec<(String, Var)>,
    inv_freq_global: Vec<f64>,
    inv_freq_local: Vec<f64>,
}

/// Collects tensors into `Var`s or quantized matrices while the model is assembled.
struct Builder<'a> {
    source: &'a mut dyn WeightSource,
    kind: WeightKind,
    device: Device,
    /// Load options, CPU kernels resolved.
    options: LoadOptions,
    vars: Vec<(String, Var)>,
}

impl Builder<'_> {
    /// The resolved CPU kernels.
    fn kernels(&self) -> CpuKernels {
        self.options.cpu_kernels
    }

    fn path(&self) -> PathBuf {
        self.source.path().to_path_buf()
    }

    fn raw(&mut self, name: &str, shape: &[usize]) -> Result<RawWeight> {
        let raw = self
            .source
            .take(name, shape)?
            .ok_or_else(|| Error::format(self.path(), name, "tensor missing"))?;
        let dims = raw.dims();
        if dims != shape {
            return Err(Error::format(
                self.path(),
                name,
                format!("shape {dims:?}, expected {shape:?}"),
            ));
        }
        Ok(raw)
    }

    /// A dense f32 tensor; a `Var` when training weights are requested.
    fn dense(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.raw(name, shape)?.dense(&self.device)?;
        self.finish_dense(name, t)
    }

    fn finish_dense(&mut self, name: &str, t: Tensor) -> Result<Tensor> {
        match self.kind {
            WeightKind::F32 => {
                let var = Var::from_tensor(&t)?;
                let t = var.as_tensor().clone();
                self.vars.push((name.to_string(), var));
                Ok(t)
            }
            WeightKind::Quantized => Ok(t),
        }
    }

    /// A weight matrix `(out, in)`.
    fn matrix(&mut self, name: &str, shape: &[usize]) -> Result<Weight> {
        match self.kind {
            WeightKind::F32 => Ok(Weight::Dense(self.dense(name, shape)?)),
            WeightKind::Quantized => {
                let q = to_fast_quant(self.raw(name, shape)?, &self.device, self.kernels())?;
                Ok(match q {
                    RawWeight::Quant(q) => Weight::quantized(q, &self.options)?,
                    RawWeight::Dense(t) => Weight::Dense(t),
                })
            }
        }
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let weight = self.matrix(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(self.dense(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            fixed: self.options.fixed_order_f32,
        })
    }
}

impl Builder<'_> {
    /// Projections `names` (each `(outs[i], inp)`) of one input; fused when quantized and every
    /// matrix ends up in the same quantized type.
    fn proj(&mut self, names: &[String], outs: &[usize], inp: usize, bias: bool) -> Result<Proj> {
        if self.kind == WeightKind::F32 {
            let ls = names
                .iter()
                .zip(outs)
                .map(|(n, &o)| self.linear(n, o, inp, bias))
                .collect::<Result<_>>()?;
            return Ok(Proj::Separate(ls));
        }
        let mut parts = Vec::with_capacity(names.len());
        let mut biases = Vec::new();
        for (n, &o) in names.iter().zip(outs) {
            parts.push(to_fast_quant(
                self.raw(&format!("{n}.weight"), &[o, inp])?,
                &self.device,
                self.kernels(),
            )?);
            if bias {
                biases.push(self.dense(&format!("{n}.bias"), &[o])?);
            }
        }
        let dtype = match parts.first() {
            Some(RawWeight::Quant(q)) => Some(q.dtype()),
            _ => None,
        };
        let same = dtype.is_some()
            && parts
                .iter()
                .all(|p| matches!(p, RawWeight::Quant(q) if Some(q.dtype()) == dtype));
        if let (true, Some(dtype)) = (same, dtype) {
            // Rows are independent in every GGML type, so stacking raw bytes stacks matrices.
            let mut bytes = Vec::new();
            for p in &parts {
                if let RawWeight::Quant(q) = p {
                    bytes.extend_from_slice(&q.data()?);
                }
            }
            let total: usize = outs.iter().sum();
            let storage = QStorage::from_data(Cow::Owned(bytes), &self.device, dtype)?;
            let q = QTensor::new(storage, (total, inp))?;
            let bias = if bias {
                Some(Tensor::cat(&biases, 0)?)
            } else {
                None
            };
            let weight = Weight::quantized(q, &self.options)?;
            let fixed = self.options.fixed_order_f32;
            return Ok(Proj::Fused(
                Linear {
                    weight,
                    bias,
                    fixed,
                },
                outs.to_vec(),
            ));
        }
        let mut biases = biases.into_iter();
        let ls = parts
            .into_iter()
            .map(|p| {
                let weight = match p {
                    RawWeight::Quant(q) => Weight::quantized(q, &self.options),
                    RawWeight::Dense(t) => Ok::<_, Error>(Weight::Dense(t)),
                }?;
                Ok(Linear {
                    weight,
                    bias: biases.next(),
                    fixed: self.options.fixed_order_f32,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Proj::Separate(ls))
    }
}

/// Types whose CPU matmul kernels are fast in candle 0.11.1 (docs/candle-notes.md, pitfall 4).
fn has_fast_kernel(t: GgmlDType) -> bool {
    matches!(
        t,
        GgmlDType::Q4_0
            | GgmlDType::Q8_0
            | GgmlDType::Q2K
            | GgmlDType::Q3K
            | GgmlDType::Q4K
            | GgmlDType::Q5K
            | GgmlDType::Q6K
    )
}

/// A weight in its inference form: quantized (as stored, or requantized to Q8_0 for the kernels
/// in use), or, when its rows are not whole Q8_0 blocks, dense f32 on `device`.
fn to_fast_quant(raw: RawWeight, device: &Device, kernels: CpuKernels) -> Result<RawWeight> {
    let packed = crate::qgemm::packed_for(device, kernels);
    match raw {
        // candle's own kernels for these types, unless aha's packed kernel runs: then
        // re-quantizing to its Q8_0 is faster for every batch size (Gemma-3-270M Q4_K_M, 2
        // threads: prompt 1.5x, decode 1.3x single stream and batched) and loses next to nothing
        // (Q8_0's rounding error is a small fraction of Q4_K's).
        RawWeight::Quant(q) if has_fast_kernel(q.dtype()) && !packed => Ok(RawWeight::Quant(q)),
        RawWeight::Quant(q) if q.dtype() == GgmlDType::Q8_0 => Ok(RawWeight::Quant(q)),
        // aha's packed kernel runs Q4_1 and Q5_0 as stored (exact weights; Q4_1 with 40% less
        // memory traffic than Q8_0).
        RawWeight::Quant(q) if matches!(q.dtype(), GgmlDType::Q4_1 | GgmlDType::Q5_0) && packed => {
            Ok(RawWeight::Quant(q))
        }
        other => {
            let t = other.dense(device)?;
            let cols = t.dim(1)?;
            if cols % GgmlDType::Q8_0.block_size() == 0 {
                Ok(RawWeight::Quant(QTensor::quantize(&t, GgmlDType::Q8_0)?))
            } else {
                Ok(RawWeight::Dense(t))
            }
        }
    }
}

impl Model {
    /// Assembles a model from a weight source. Every tensor is shape-checked against `config`.
    pub(crate) fn build(
        config: ModelConfig,
        source: &mut dyn WeightSource,
        kind: WeightKind,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<Model> {
        config.validate(source.path())?;
        // CUDA weights keep candle's kernels whatever was asked.
        let kernels = if device.is_cpu() {
            options.cpu_kernels.resolve()?
        } else {
            CpuKernels::Candle
        };
        let c = &config;
        let (h, hd, nh, nkv, inter, vocab) = (
            c.hidden_size,
            c.head_dim,
            c.num_heads,
            c.num_kv_heads,
            c.intermediate_size,
            c.vocab_size,
        );
        let options = LoadOptions {
            cpu_kernels: kernels,
            ..*options
        };
        let mut b = Builder {
            source,
            kind,
            device: device.clone(),
            options,
            vars: Vec::new(),
        };
        let embed_name = "token_embd.weight";
        let (embed, embed_raw_quant) = match kind {
            WeightKind::F32 => (Embedding::Dense(b.dense(embed_name, &[vocab, h])?), None),
            WeightKind::Quantized => {
                match to_fast_quant(b.raw(embed_name, &[vocab, h])?, device, kernels)? {
                    // Quantized row lookup needs whole blocks per row; otherwise look rows up
                    // in a dequantized copy and keep the quantized matrix for the LM head.
                    RawWeight::Quant(q) if !h.is_multiple_of(q.dtype().block_size()) => {
                        let dense = q.dequantize(device)?;
                        (Embedding::Dense(dense), Some(Arc::new(q)))
                    }
                    RawWeight::Quant(q) => {
                        let q = Arc::new(q);
                        (Embedding::Quant(q.clone()), Some(q))
                    }
                    RawWeight::Dense(t) => (Embedding::Dense(t), None),
                }
            }
        };
        let mut blocks = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("blk.{i}");
            let attn_norm = b.dense(&format!("{p}.attn_norm.weight"), &[h])?;
            let attn = Attention {
                qkv: b.proj(
                    &[
                        format!("{p}.attn_q"),
                        format!("{p}.attn_k"),
                        format!("{p}.attn_v"),
                    ],
                    &[nh * hd, nkv * hd, nkv * hd],
                    h,
                    c.attention_bias,
                )?,
                o: b.linear(&format!("{p}.attn_output"), h, nh * hd, false)?,
                q_norm: if c.qk_norm {
                    Some(b.dense(&format!("{p}.attn_q_norm.weight"), &[hd])?)
                } else {
                    None
                },
                k_norm: if c.qk_norm {
                    Some(b.dense(&format!("{p}.attn_k_norm.weight"), &[hd])?)
                } else {
                    None
                },
            };
            let post_attn_norm = if c.sandwich_norm {
                Some(b.dense(&format!("{p}.post_attention_norm.weight"), &[h])?)
            } else {
                None
            };
            let ffn_norm = b.dense(&format!("{p}.ffn_norm.weight"), &[h])?;
            let gate_up = b.proj(
                &[format!("{p}.ffn_gate"), format!("{p}.ffn_up")],
                &[inter, inter],
                h,
                false,
            )?;
            let down = b.linear(&format!("{p}.ffn_down"), h, inter, false)?;
            let post_ffn_norm = if c.sandwich_norm {
                Some(b.dense(&format!("{p}.post_ffw_norm.weight"), &[h])?)
            } else {
                None
            };
            blocks.push(Block {
                attn_norm,
                attn,
                post_attn_norm,
                ffn_norm,
                gate_up,
                down,
                post_ffn_norm,
                sliding: c.sliding_layers[i],
            });
        }
        let final_norm = b.dense("output_norm.weight", &[h])?;
        let lm_head = if c.tie_word_embeddings {
            let weight = match (&embed, embed_raw_quant) {
                (_, Some(q)) => Weight::quantized_shared(&q, &options)?,
                (Embedding::Dense(t), None) => Weight::Dense(t.clone()),
                (Embedding::Quant(q), None) => Weight::quantized_shared(q, &options)?,
            };
            Linear {
                weight,
                bias: None,
                fixed: options.fixed_order_f32,
            }
        } else {
            Linear {
                weight: b.matrix("output.weight", &[vocab, h])?,
                bias: None,
                fixed: options.fixed_order_f32,
            }
        };
        let vars = b.vars;
        let inv_freq_global = inv_freq(hd, config.rope_theta, &config.rope_scaling);
        let inv_freq_local = inv_freq(
            hd,
            config.rope_local_theta,
            &crate::config::RopeScaling::None,
        );
        Ok(Model {
            config,
            device: device.clone(),
            kind,
            kernels,
            kv_cache_f32: options.kv_cache_f32,
            fixed_order_f32: options.fixed_order_f32,
            embed,
            blocks,
            final_norm,
            lm_head,
            vars,
            inv_freq_global,
            inv_freq_local,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// How the weights are held.
    pub fn weight_kind(&self) -> WeightKind {
        self.kind
    }

    /// The CPU kernels its quantized matrices run on (resolved: never [`CpuKernels::Auto`];
    /// [`CpuKernels::Candle`] on CUDA).
    pub fn cpu_kernels(&self) -> CpuKernels {
        self.kernels
    }

    /// The KV-cache storage [`Model::generate`] uses: f16 for quantized models on CPUs that run
    /// the f16 attention kernels (half the memory traffic over long caches; the int8 activations
    /// of the quantized path already round more than f16 does), f32 otherwise, so the f32
    /// (trainable) path stays exact against a full forward.
    pub fn kv_cache_dtype(&self) -> DType {
        let f16 = self.kind == WeightKind::Quantized
            && self.device.is_cpu()
            && self.config.head_dim.is_multiple_of(8)
            && crate::decode_attn::f16_cache_supported()
            && !self.kv_cache_f32;
        if f16 { DType::F16 } else { DType::F32 }
    }

    /// The trainable parameters with their (GGUF-style) names; empty for quantized models.
    pub fn named_vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The trainable parameters, e.g. for `candle_nn::AdamW::new`.
    pub fn vars(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Number of parameters (elements of all weights held as `Var`s).
    pub fn num_params(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Logits `(B, T, vocab)` for `input_ids: (B, T)` (u32), positions `0..T`, no padding and no
    /// cache. In [`Mode::Train`] gradients reach every weight.
    pub fn forward(&self, input_ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let pos: Vec<i64> = (0..batch).flat_map(|_| 0..seq as i64).collect();
        let hidden = self.forward_hidden(input_ids, &pos, None, mode)?;
        self.logits(&hidden)
    }

    /// The LM head's f32 weight `(vocab, hidden)` when it is a plain dense matrix without bias
    /// (trainable models): what the chunked scoring head ([`crate::head`]) multiplies by.
    pub(crate) fn dense_head_weight(&self) -> Option<&Tensor> {
        match (&self.lm_head.weight, &self.lm_head.bias) {
            (crate::layers::Weight::Dense(w), None) => Some(w),
            _ => None,
        }
    }

    /// Whether every f32 product runs through the fixed-order kernel
    /// ([`LoadOptions::fixed_order_f32`]).
    pub fn fixed_order_f32(&self) -> bool {
        self.fixed_order_f32
    }

    /// Applies the LM head (and soft-capping) to final hidden states `(…, hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let logits = self.lm_head.forward(hidden)?;
        Ok(match self.config.final_logit_softcapping {
            Some(cap) => ((logits / cap)?.tanh()? * cap)?,
            None => logits,
        })
    }

    /// Final-normed hidden states `(B, T, hidden)`.
    ///
    /// `q_pos` holds the position of each of the `B·T` input tokens (−1 = left padding, never
    /// attended to). With a cache, the tokens are appended to it and attend to everything cached.
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        q_pos: &[i64],
        cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> Result<Tensor> {
        self.forward_hidden_with(input_ids, q_pos, cache, mode, AttentionPath::Fused)
    }

    /// [`Model::forward_hidden`] with an explicit choice of attention for full-sequence
    /// passes. [`AttentionPath::Fused`] applies without a cache, on the CPU, with f32
    /// activations and positions `0..T` in every row (scoring, training); anything else runs
    /// the plain expression.
    pub fn forward_hidden_with(
        &self,
        input_ids: &Tensor,
        q_pos: &[i64],
        mut cache: Option<&mut KvCache>,
        mode: Mode,
        attention: AttentionPath,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (batch, seq) = input_ids.dims2()?;
        if q_pos.len() != batch * seq {
            return Err(Error::invalid(
                "positions",
                format!("{} for a {batch}x{seq} batch", q_pos.len()),
            ));
        }
        let cached = cache.is_some();
        let own_keys: Vec<Vec<i64>>;
        let k_pos: &[Vec<i64>] = match cache.as_deref_mut() {
            Some(cache) => {
                cache.push_positions(q_pos, batch, seq)?;
                cache.key_positions()
            }
            None => {
                own_keys = q_pos.chunks(seq).map(<[i64]>::to_vec).collect();
                &own_keys
            }
        };
        let any_sliding = self.blocks.iter().any(|b| b.sliding);
        let any_global = self.blocks.iter().any(|b| !b.sliding);
        let mut x = self.embed.forward(input_ids)?;
        if c.scale_embeddings {
            x = (x * (c.hidden_size as f64).sqrt())?;
        }
        // The fused attention knows only the plain causal pattern (every row at positions
        // 0..T, nothing cached), which is what scoring and training run.
        let fused = attention == AttentionPath::Fused
            && !cached
            && self.device.is_cpu()
            && x.dtype() == DType::F32
            && q_pos
                .chunks(seq.max(1))
                .all(|row| row.iter().enumerate().all(|(i, &p)| p == i as i64));
        let mask = |present: bool, window: Option<usize>| -> Result<Option<Tensor>> {
            if present && !fused && mask_needed(q_pos, k_pos, seq, window) {
                Ok(Some(attention_mask(
                    q_pos,
                    k_pos,
                    seq,
                    window,
                    &self.device,
                )?))
            } else {
                Ok(None)
            }
        };
        let global_mask = mask(any_global, None)?;
        let local_mask = mask(any_sliding, c.sliding_window)?;
        let global_rope = if any_global {
            Some(Rope::new(
                q_pos,
                batch,
                seq,
                &self.inv_freq_global,
                &self.device,
            )?)
        } else {
            None
        };
        let local_rope = if any_sliding {
            Some(Rope::new(
                q_pos,
                batch,
                seq,
                &self.inv_freq_local,
                &self.device,
            )?)
        } else {
            None
        };

        for (i, block) in self.blocks.iter().enumerate() {
            let (mask, rope) = if block.sliding {
                (local_mask.as_ref(), local_rope.as_ref())
            } else {
                (global_mask.as_ref(), global_rope.as_ref())
            };
            let Some(rope) = rope else {
                // Invariant: rotary tables were built for every kind of layer present.
                return Err(Error::invalid("model", "internal: missing rotary table"));
            };
            let h = rms_norm(&x, &block.attn_norm, c.rms_norm_eps, mode)?;
            let pattern = if fused {
                Pattern::Causal(block.sliding.then_some(c.sliding_window).flatten())
            } else {
                Pattern::Mask(mask)
            };
            let mut a = self.attention(
                &block.attn,
                &h,
                (rope, pattern),
                cache.as_deref_mut().map(|c| (c, i)),
                mode,
            )?;
            if let Some(w) = &block.post_attn_norm {
                a = rms_norm(&a, w, c.rms_norm_eps, mode)?;
            }
            x = (x + a)?;
            let h = rms_norm(&x, &block.ffn_norm, c.rms_norm_eps, mode)?;
            let mut m = block
                .down
                .forward(&self.gated_mlp(&block.gate_up, &h, mode)?)?;
            if let Some(w) = &block.post_ffn_norm {
                m = rms_norm(&m, w, c.rms_norm_eps, mode)?;
            }
            x = (x + m)?;
        }
        if let Some(cache) = cache {
            cache.advance(seq);
        }
        rms_norm(&x, &self.final_norm, c.rms_norm_eps, mode)
    }

    /// `act(gate(h)) · up(h)`, the input of the down projection.
    fn gated_mlp(&self, gate_up: &Proj, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let act = match self.config.activation {
            crate::config::Activation::Silu => crate::fastmath::Gate::Silu,
            crate::config::Activation::GeluTanh => crate::fastmath::Gate::GeluTanh,
        };
        // Quantized inference: one pass over the fused [gate | up] output, in parallel, with a
        // vectorised exp (candle's unary ops run a libm call per element on one thread).
        if let (Mode::Infer, Proj::Fused(l, sizes)) = (mode, gate_up)
            && let [g, u] = sizes[..]
            && g == u
            && h.device().is_cpu()
        {
            let y = l.forward(h)?;
            let mut dims = y.dims().to_vec();
            if let Some(last) = dims.last_mut() {
                *last = g;
            }
            let out = crate::custom_op::with_f32("gated MLP", [&y], ["gate/up"], |[vals]| {
                Ok(crate::fastmath::gated_rows(act, vals, g))
            })?;
            return Ok(Tensor::from_vec(out, dims, h.device())?);
        }
        let [gate, up]: [Tensor; 2] = gate_up
            .forward(h)?
            .try_into()
            .map_err(|_| Error::invalid("model", "internal: gate/up projection count"))?;
        // Training (and any CPU pass): one op with its own backward that keeps no activated
        // copy of the gate (crates/model/src/gated.rs).
        if gate.device().is_cpu() && gate.dtype() == candle_core::DType::F32 {
            return Ok(crate::gated::gated(act, &gate, &up)?);
        }
        let gate = match act {
            crate::fastmath::Gate::Silu => candle_nn::ops::silu(&gate)?,
            crate::fastmath::Gate::GeluTanh => gate.gelu()?,
        };
        Ok((gate * up)?)
    }

    /// Self-attention of one block; `cache` is the batch's KV cache and this block's index.
    fn attention(
        &self,
        a: &Attention,
        x: &Tensor,
        (rope, pattern): (&Rope, Pattern<'_>),
        cache: Option<(&mut KvCache, usize)>,
        mode: Mode,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let heads = |y: Tensor, n: usize, norm: &Option<Tensor>| -> Result<Tensor> {
            let y = y.reshape((b, t, n, c.head_dim))?;
            let y = match norm {
                Some(w) => rms_norm(&y, w, c.rms_norm_eps, mode)?,
                None => y,
            };
            Ok(y.transpose(1, 2)?)
        };
        let [q, k, v]: [Tensor; 3] = a
            .qkv
            .forward(x)?
            .try_into()
            .map_err(|_| Error::invalid("model", "internal: q/k/v projection count"))?;
        let q = heads(q, c.num_heads, &a.q_norm)?;
        let k = heads(k, c.num_kv_heads, &a.k_norm)?;
        let v = heads(v, c.num_kv_heads, &None)?;
        let scale = c.query_pre_attn_scalar.powf(-0.5);
        let q = rope.apply(&q, mode)?;
        let k = rope.apply(&k, mode)?;
        let mask = match pattern {
            Pattern::Causal(window) => {
                // (B, H, T, hd) → (B, T, H·hd), as `attend` returns it.
                let out = crate::attention::causal_attention_with(
                    &q,
                    &k,
                    &v,
                    scale,
                    window,
                    self.fixed_order_f32,
                )?;
                let (h, hd) = (c.num_heads, c.head_dim);
                let out = out.transpose(1, 2)?.contiguous()?.reshape((b, t, h * hd))?;
                return a.o.forward(&out);
            }
            Pattern::Mask(mask) => mask,
        };
        let q = (q * scale)?;
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, &k, &v)?,
            // Batched matmul needs each (S, hd) matrix laid out densely.
            None => (k.contiguous()?, v.contiguous()?),
        };
        // One new token per sequence (decoding): read the cache in place.
        let fast = match mode {
            Mode::Infer if t == 1 => crate::decode_attn::attend_one(&q, &k, &v, mask)?,
            _ => None,
        };
        let out = match fast {
            Some(out) => out,
            // A half-precision cache is widened for the general path (prefill, other devices).
            None => attend(
                &q,
                &k.to_dtype(candle_core::DType::F32)?,
                &v.to_dtype(candle_core::DType::F32)?,
                mask,
                mode,
                self.fixed_order_f32,
            )?,
        };
        a.o.forward(&out)
    }
}
