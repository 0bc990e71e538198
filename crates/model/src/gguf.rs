//! Loading GGUF files: configuration from metadata, tensors as f32 `Var`s or quantized matrices.

use std::borrow::Cow;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::Device;
#[cfg(test)]
use candle_core::Tensor;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QStorage, QTensor};

use crate::config::{Activation, Arch, ModelConfig, RopeScaling};
use crate::decoder::{RawWeight, WeightSource};
use crate::error::{Error, Result};

/// An open GGUF file: parsed header plus a reader for tensor data.
pub(crate) struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: BufReader<File>,
    device: Device,
    /// Heads of q and k, for undoing llama.cpp's rotary row permutation (llama arch only).
    unpermute: Option<(usize, usize)>,
}

impl GgufFile {
    /// Opens and parses the header.
    pub(crate) fn open(path: &Path, device: &Device) -> Result<GgufFile> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader)
            .map_err(|e| Error::format(path, "header", format!("not a readable GGUF file: {e}")))?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            content,
            reader,
            device: device.clone(),
            unpermute: None,
        })
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn uint(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_u64(v).map(Some).ok_or_else(|| {
                Error::format(
                    &self.path,
                    key,
                    format!("expected an integer, found {:?}", v.value_type()),
                )
            }),
        }
    }

    fn req_uint(&self, key: &str) -> Result<usize> {
        self.uint(key)?
            .map(|v| v as usize)
            .ok_or_else(|| Error::format(&self.path, key, "missing metadata key"))
    }

    fn float(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_f64(v).map(Some).ok_or_else(|| {
                Error::format(
                    &self.path,
                    key,
                    format!("expected a number, found {:?}", v.value_type()),
                )
            }),
        }
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }

    fn tensor_dims(&self, name: &str) -> Option<Vec<usize>> {
        self.content
            .tensor_infos
            .get(name)
            .map(|t| t.shape.dims().to_vec())
    }

    /// The model configuration described by the metadata.
    pub(crate) fn config(&mut self) -> Result<ModelConfig> {
        let arch_name = self
            .string("general.architecture")
            .ok_or_else(|| {
                Error::format(&self.path, "general.architecture", "missing metadata key")
            })?
            .to_string();
        let arch = match arch_name.as_str() {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "gemma3" => Arch::Gemma3,
            other => {
                return Err(Error::UnsupportedArch {
                    path: self.path.clone(),
                    arch: other.to_string(),
                });
            }
        };
        let a = arch_name.as_str();
        let k = |s: &str| format!("{a}.{s}");
        let hidden = self.req_uint(&k("embedding_length"))?;
        let num_heads = self.req_uint(&k("attention.head_count"))?;
        let num_layers = self.req_uint(&k("block_count"))?;
        let num_kv_heads = self
            .uint(&k("attention.head_count_kv"))?
            .map_or(num_heads, |v| v as usize);
        let head_dim = match self.uint(&k("attention.key_length"))? {
            Some(d) => d as usize,
            None if num_heads > 0 => hidden / num_heads,
            None => 0,
        };
        let embd = self
            .tensor_dims("token_embd.weight")
            .ok_or_else(|| Error::format(&self.path, "token_embd.weight", "tensor missing"))?;
        let vocab_size = embd.first().copied().unwrap_or(0);
        let gemma = arch == Arch::Gemma3;
        let rope_theta =
            self.float(&k("rope.freq_base"))?
                .unwrap_or(if gemma { 1_000_000.0 } else { 10_000.0 });
        let sliding_window = if gemma {
            self.uint(&k("attention.sliding_window"))?
                .map(|v| v as usize)
        } else {
            None
        };
        // llama.cpp fixes Gemma 3's pattern at 5 local layers then 1 global; honour an explicit key.
        let pattern = self
            .uint(&k("attention.sliding_window_pattern"))?
            .map_or(6, |v| v as usize)
            .max(1);
        let sliding_layers = (0..num_layers)
            .map(|i| sliding_window.is_some() && (i + 1) % pattern != 0)
            .collect();
        let mut rope_scaling = match (
            self.string(&k("rope.scaling.type")),
            self.float(&k("rope.scaling.factor"))?,
        ) {
            (Some("linear"), Some(f)) if f != 1.0 => RopeScaling::Linear { factor: f },
            _ => RopeScaling::None,
        };
        if self.content.tensor_infos.contains_key("rope_freqs.weight") {
            let t = self
                .content
                .tensor(&mut self.reader, "rope_freqs.weight", &Device::Cpu)
                .and_then(|q| q.dequantize(&Device::Cpu))
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| Error::format(&self.path, "rope_freqs.weight", e.to_string()))?;
            rope_scaling = RopeScaling::Factors {
                factors: t.into_iter().map(f64::from).collect(),
            };
        }
        let mut eos_token_ids = Vec::new();
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let Some(id) = self.uint(key)? {
                let id = id as u32;
                if !eos_token_ids.contains(&id) {
                    eos_token_ids.push(id);
                }
            }
        }
        let cfg = ModelConfig {
            arch,
            vocab_size,
            hidden_size: hidden,
            intermediate_size: self.req_uint(&k("feed_forward_length"))?,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: self
                .float(&k("attention.layer_norm_rms_epsilon"))?
                .unwrap_or(1e-6),
            rope_theta,
            rope_local_theta: if gemma { 10_000.0 } else { rope_theta },
            rope_scaling,
            sliding_window,
            sliding_layers,
            max_position_embeddings: self
                .uint(&k("context_length"))?
                .map_or(4096, |v| v as usize),
            tie_word_embeddings: !self.content.tensor_infos.contains_key("output.weight"),
            attention_bias: self.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
            qk_norm: gemma,
            sandwich_norm: gemma,
            scale_embeddings: gemma,
            query_pre_attn_scalar: head_dim as f64,
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            final_logit_softcapping: self.float(&k("final_logit_softcapping"))?,
            bos_token_id: self.uint("tokenizer.ggml.bos_token_id")?.map(|v| v as u32),
            eos_token_ids,
        };
        if arch == Arch::Llama {
            self.unpermute = Some((num_heads, num_kv_heads));
        }
        cfg.validate(&self.path)?;
        Ok(cfg)
    }
}

impl WeightSource for GgufFile {
    fn take(&mut self, name: &str, _shape: &[usize]) -> Result<Option<RawWeight>> {
        if !self.content.tensor_infos.contains_key(name) {
            return Ok(None);
        }
        let q = self
            .content
            .tensor(&mut self.reader, name, &self.device)
            .map_err(|e| Error::format(&self.path, name, format!("cannot read tensor: {e}")))?;
        let heads = match (self.unpermute, name) {
            (Some((nh, _)), n) if n.ends_with(".attn_q.weight") => Some(nh),
            (Some((_, nkv)), n) if n.ends_with(".attn_k.weight") => Some(nkv),
            _ => None,
        };
        let q = match heads {
            Some(h) => unpermute_rows(q, h, &self.device)
                .map_err(|e| Error::format(&self.path, name, e.to_string()))?,
            None => q,
        };
        Ok(Some(match q.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                RawWeight::Dense(q.dequantize(&self.device)?)
            }
            _ => RawWeight::Quant(q),
        }))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Undoes llama.cpp's conversion permutation of Llama q/k rows (interleaved-pair RoPE layout)
/// so that rotate-half RoPE applies: within each head, GGUF row `2i + j` is HF row
/// `j·hd/2 + i`. Rows are moved as raw bytes, so quantized weights stay bit-exact.
fn unpermute_rows(q: QTensor, heads: usize, device: &Device) -> candle_core::Result<QTensor> {
    let (rows, cols) = q.shape().dims2()?;
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        candle_core::bail!("{rows} rows cannot be split into {heads} heads of even width");
    }
    let hd = rows / heads;
    let dtype = q.dtype();
    let row_bytes = cols / dtype.block_size() * dtype.type_size();
    let data = q.data()?;
    if data.len() != rows * row_bytes {
        candle_core::bail!(
            "unexpected tensor byte size {} for {rows}x{cols} {dtype:?}",
            data.len()
        );
    }
    let mut out = vec![0u8; data.len()];
    for h in 0..heads {
        for i in 0..hd / 2 {
            for j in 0..2 {
                let src = h * hd + 2 * i + j;
                let dst = h * hd + j * (hd / 2) + i;
                out[dst * row_bytes..(dst + 1) * row_bytes]
                    .copy_from_slice(&data[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    let storage = QStorage::from_data(Cow::Owned(out), device, dtype)?;
    QTensor::new(storage, (rows, cols))
}

fn as_u64(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match *v {
        Value::F32(x) => Some(x.into()),
        Value::F64(x) => Some(x),
        _ => as_u64(v).map(|x| x as f64),
    }
}

/// Dense `Tensor` helper used by tests: undo the permutation on an f32 matrix.
/// Reads the header and metadata of the GGUF file at `path` and the model configuration they
/// describe, without loading tensors. Entry point of the `gguf_header` fuzz target (not a
/// stable API).
#[doc(hidden)]
pub fn read_config(path: &Path) -> Result<ModelConfig> {
    GgufFile::open(path, &Device::Cpu)?.config()
}

#[cfg(test)]
pub(crate) fn unpermute_dense(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let hd = rows / heads;
    w.reshape((heads, hd / 2, 2, cols))?
        .transpose(1, 2)?
        .reshape((rows, cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_row_unpermute_matches_tensor_reshape() -> candle_core::Result<()> {
        // 2 heads of width 4, 32 columns (one Q8_0 block per row).
        let (heads, rows, cols) = (2, 8, 32);
        let data: Vec<f32> = (0..rows * cols)
            .map(|i| (i / cols) as f32 + (i % cols) as f32 / 64.0)
            .collect();
        let w = Tensor::from_vec(data, (rows, cols), &Device::Cpu)?;
        let q = QTensor::quantize(&w, GgmlDType::F32)?;
        let un = unpermute_rows(q, heads, &Device::Cpu)?.dequantize(&Device::Cpu)?;
        let expected = unpermute_dense(&w, heads)?;
        let diff = (un - &expected)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert_eq!(diff, 0.0);
        // Row 1 of head 0 in HF layout (j=0, i=1) was GGUF row 2.
        let row1 = expected.get(1)?.get(0)?.to_scalar::<f32>()?;
        assert_eq!(row1, 2.0);
        Ok(())
    }
}
