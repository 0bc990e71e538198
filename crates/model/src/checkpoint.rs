//! Hugging Face directories (`config.json` + `*.safetensors`), aha's own trained-weights files,
//! and [`Model::load`], which picks the right loader for a path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::{Arch, ModelConfig};
use crate::cpu::LoadOptions;
use crate::decoder::{Model, RawWeight, WeightKind, WeightSource};
use crate::error::{Error, Result};
use crate::gguf::GgufFile;

/// Value of the `format` metadata key in safetensors files written by [`Model::save`].
pub const AHA_FORMAT: &str = "aha-model";

/// The string map in a safetensors header.
type Metadata = HashMap<String, String>;

/// Tensors already in memory, keyed by internal (GGUF-style) name.
struct MapSource {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl WeightSource for MapSource {
    fn take(&mut self, name: &str, _shape: &[usize]) -> Result<Option<RawWeight>> {
        Ok(self.tensors.remove(name).map(RawWeight::Dense))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Maps a Hugging Face parameter name to the internal name; `None` for tensors the decoder does
/// not use (vision towers, rotary buffers).
fn hf_to_internal(name: &str, arch: Arch) -> Option<String> {
    let name = name.strip_prefix("language_model.").unwrap_or(name);
    let simple = match name {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(s) = simple {
        return Some(s.to_string());
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (idx, tail) = rest.split_once('.')?;
    let idx: usize = idx.parse().ok()?;
    let gemma = arch == Arch::Gemma3;
    let mapped = match tail {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.q_norm.weight" => "attn_q_norm.weight",
        "self_attn.k_norm.weight" => "attn_k_norm.weight",
        // In Llama/Qwen2 this is the pre-MLP norm; in Gemma it is the post-attention sandwich norm.
        "post_attention_layernorm.weight" if gemma => "post_attention_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "pre_feedforward_layernorm.weight" => "ffn_norm.weight",
        "post_feedforward_layernorm.weight" => "post_ffw_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{idx}.{mapped}"))
}

fn read_safetensors(
    path: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, Option<Metadata>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, "header", format!("not a safetensors file: {e}")))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| Error::format(path, "tensors", e.to_string()))?;
    Ok((tensors, meta.metadata().clone()))
}

impl Model {
    /// Loads a model from a GGUF file, a Hugging Face directory (`config.json` +
    /// `*.safetensors`), or a `.safetensors` file written by [`Model::save`].
    pub fn load(path: &Path, kind: WeightKind, device: &Device) -> Result<Model> {
        Self::load_with(path, kind, device, &LoadOptions::default())
    }

    /// [`Model::load`] with explicit options (the CPU kernels of quantized weights).
    pub fn load_with(
        path: &Path,
        kind: WeightKind,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<Model> {
        if path.is_dir() {
            return Self::load_hf_dir_with(path, kind, device, options);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Self::load_aha_with(path, kind, device, options),
            _ => Self::load_gguf_with(path, kind, device, options),
        }
    }

    /// Loads a GGUF file. With [`WeightKind::F32`] every tensor is dequantized into a `Var`.
    pub fn load_gguf(path: &Path, kind: WeightKind, device: &Device) -> Result<Model> {
        Self::load_gguf_with(path, kind, device, &LoadOptions::default())
    }

    /// [`Model::load_gguf`] with explicit options.
    pub fn load_gguf_with(
        path: &Path,
        kind: WeightKind,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<Model> {
        let mut file = GgufFile::open(path, device)?;
        let config = file.config()?;
        Model::build(config, &mut file, kind, device, options)
    }

    /// Loads a Hugging Face model directory.
    pub fn load_hf_dir(dir: &Path, kind: WeightKind, device: &Device) -> Result<Model> {
        Self::load_hf_dir_with(dir, kind, device, &LoadOptions::default())
    }

    /// [`Model::load_hf_dir`] with explicit options.
    pub fn load_hf_dir_with(
        dir: &Path,
        kind: WeightKind,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<Model> {
        let config = ModelConfig::from_hf_json(&dir.join("config.json"))?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::format(
                dir,
                "*.safetensors",
                "no weight files in the directory",
            ));
        }
        let mut tensors = HashMap::new();
        for file in &files {
            let (ts, _) = read_safetensors(file, device)?;
            for (name, t) in ts {
                let Some(internal) = hf_to_internal(&name, config.arch) else {
                    continue;
                };
                let mut t = t.to_dtype(DType::F32)?;
                if config.arch == Arch::Gemma3 && internal.contains("norm.weight") {
                    // HF Gemma norms compute x·(1 + w); fold the 1 in.
                    t = (t + 1.0)?;
                }
                tensors.insert(internal, t);
            }
        }
        let mut source = MapSource {
            path: dir.to_path_buf(),
            tensors,
        };
        Model::build(config, &mut source, kind, device, options)
    }

    /// Loads weights written by [`Model::save`] (configuration in the file's metadata).
    pub fn load_aha(path: &Path, kind: WeightKind, device: &Device) -> Result<Model> {
        Self::load_aha_with(path, kind, device, &LoadOptions::default())
    }

    /// [`Model::load_aha`] with explicit options.
    pub fn load_aha_with(
        path: &Path,
        kind: WeightKind,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<Model> {
        let (tensors, meta) = read_safetensors(path, device)?;
        let meta = meta.unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(AHA_FORMAT) {
            return Err(Error::format(
                path,
                "__metadata__.format",
                format!(
                    "not written by aha (expected `{AHA_FORMAT}`); pass a Hugging Face directory instead"
                ),
            ));
        }
        let cfg_text = meta
            .get("config")
            .ok_or_else(|| Error::format(path, "__metadata__.config", "missing"))?;
        let config: ModelConfig = serde_json::from_str(cfg_text).map_err(|e| {
            Error::format(
                path,
                format!(
                    "__metadata__.config line {} column {}",
                    e.line(),
                    e.column()
                ),
                e.to_string(),
            )
        })?;
        let mut source = MapSource {
            path: path.to_path_buf(),
            tensors,
        };
        Model::build(config, &mut source, kind, device, options)
    }

    /// A quantized inference copy of this f32 (trainable) model's current weights: every matrix
    /// whose rows are whole Q8_0 blocks becomes Q8_0 on the packed CPU kernel of `options`
    /// (norms and odd-sized matrices stay f32). For sampling RL rollouts fast between updates;
    /// the copy shares nothing with the `Var`s, so later updates do not reach it. A model with
    /// [`LoadOptions::fixed_order_f32`] keeps it in the copy.
    pub fn quantized_copy(&self, options: &LoadOptions) -> Result<Model> {
        if self.weight_kind() != WeightKind::F32 {
            return Err(Error::invalid(
                "model",
                "only an f32 (trainable) model can be quantized again",
            ));
        }
        let tensors = self
            .named_vars()
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().detach().copy()?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let mut source = MapSource {
            path: PathBuf::from("<quantized copy>"),
            tensors,
        };
        let options = LoadOptions {
            fixed_order_f32: options.fixed_order_f32 || self.fixed_order_f32(),
            ..*options
        };
        Model::build(
            self.config().clone(),
            &mut source,
            WeightKind::Quantized,
            self.device(),
            &options,
        )
    }

    /// Writes the trainable weights and the configuration to one `.safetensors` file that
    /// [`Model::load`] reads back. Quantized models cannot be saved (they hold no `Var`s).
    pub fn save(&self, path: &Path) -> Result<()> {
        if self.weight_kind() != WeightKind::F32 {
            return Err(Error::invalid(
                "model",
                "only f32 (trainable) models can be saved",
            ));
        }
        let config = serde_json::to_string(self.config())
            .map_err(|e| Error::invalid("config", format!("cannot serialise: {e}")))?;
        let meta: HashMap<String, String> = [
            ("format".to_string(), AHA_FORMAT.to_string()),
            ("config".to_string(), config),
        ]
        .into();
        let tensors: Vec<(&str, &Tensor)> = self
            .named_vars()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_tensor()))
            .collect();
        safetensors::serialize_to_file(tensors, Some(meta), path)
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_names_map_per_architecture() {
        let l = |n: &str, a| hf_to_internal(n, a);
        assert_eq!(
            l(
                "model.layers.3.post_attention_layernorm.weight",
                Arch::Llama
            )
            .as_deref(),
            Some("blk.3.ffn_norm.weight")
        );
        assert_eq!(
            l(
                "model.layers.3.post_attention_layernorm.weight",
                Arch::Gemma3
            )
            .as_deref(),
            Some("blk.3.post_attention_norm.weight")
        );
        assert_eq!(
            l(
                "model.layers.0.pre_feedforward_layernorm.weight",
                Arch::Gemma3
            )
            .as_deref(),
            Some("blk.0.ffn_norm.weight")
        );
        assert_eq!(
            l("language_model.model.embed_tokens.weight", Arch::Gemma3).as_deref(),
            Some("token_embd.weight")
        );
        assert_eq!(
            l("model.layers.1.self_attn.q_proj.bias", Arch::Qwen2).as_deref(),
            Some("blk.1.attn_q.bias")
        );
        assert_eq!(l("model.rotary_emb.inv_freq", Arch::Llama), None);
    }
}
