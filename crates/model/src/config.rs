//! Model hyper-parameters: one [`ModelConfig`] for all three families, built from GGUF metadata
//! or a Hugging Face `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The model families the decoder implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Llama / SmolLM2 / Mistral-style: pre-norm, SiLU-gated MLP, no biases.
    Llama,
    /// Qwen2 / Qwen2.5: Llama plus biases on the q/k/v projections.
    Qwen2,
    /// Gemma 3 text: sandwich norms, qk-norm, GELU-tanh, √H embedding scale, sliding window.
    Gemma3,
}

impl Arch {
    /// The name used in GGUF `general.architecture`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gemma3 => "gemma3",
        }
    }
}

/// The MLP activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `x·σ(x)` (Llama, Qwen2).
    Silu,
    /// GELU with the tanh approximation (Gemma's `gelu_pytorch_tanh`).
    GeluTanh,
}

/// How rotary position frequencies are rescaled for long contexts (global layers only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor` (Gemma 3 4B+).
    Linear {
        /// Position divisor.
        factor: f64,
    },
    /// Llama 3.1-style smooth frequency rescaling.
    Llama3 {
        /// Divisor for low frequencies.
        factor: f64,
        /// Wavelength bound (in units of the original context) below which frequencies are divided.
        low_freq_factor: f64,
        /// Wavelength bound above which frequencies are kept.
        high_freq_factor: f64,
        /// The pre-training context length.
        original_max_position_embeddings: usize,
    },
    /// Per-frequency divisors as stored in a GGUF `rope_freqs.weight` tensor.
    Factors {
        /// One divisor per rotary frequency (`head_dim / 2` values).
        factors: Vec<f64>,
    },
}

/// Hyper-parameters of a decoder. Everything the forward pass needs, nothing about files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Model family.
    pub arch: Arch,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Residual stream width.
    pub hidden_size: usize,
    /// MLP inner width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base of global-attention layers.
    pub rope_theta: f64,
    /// RoPE base of sliding-window layers (Gemma 3 uses 10 000); equals `rope_theta` otherwise.
    pub rope_local_theta: f64,
    /// Long-context frequency rescaling of global layers.
    pub rope_scaling: RopeScaling,
    /// Window (in tokens, the query included) of sliding-window layers.
    pub sliding_window: Option<usize>,
    /// Per layer: does it use the sliding window? Length `num_layers`.
    pub sliding_layers: Vec<bool>,
    /// Context length the model was trained for (informational; RoPE is computed on the fly).
    pub max_position_embeddings: usize,
    /// The LM head reuses the token embedding.
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v projections (Qwen2).
    pub attention_bias: bool,
    /// RMSNorm over each query/key head before RoPE (Gemma 3, Qwen3).
    pub qk_norm: bool,
    /// Extra norms after attention and after the MLP (Gemma 2/3).
    pub sandwich_norm: bool,
    /// Multiply embeddings by √hidden_size (Gemma).
    pub scale_embeddings: bool,
    /// Attention scores are multiplied by `query_pre_attn_scalar^-1/2`.
    pub query_pre_attn_scalar: f64,
    /// MLP activation.
    pub activation: Activation,
    /// `cap·tanh(logits/cap)` on the final logits, when set.
    pub final_logit_softcapping: Option<f64>,
    /// Beginning-of-sequence token id, when the model file says.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token ids (generation stops on any of them).
    pub eos_token_ids: Vec<u32>,
}

impl ModelConfig {
    /// Checks internal consistency (head counts divide, per-layer list has the right length).
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::format(path, field, msg));
        if self.num_heads == 0
            || self.num_kv_heads == 0
            || !self.num_heads.is_multiple_of(self.num_kv_heads)
        {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} query heads are not a multiple of {} kv heads",
                    self.num_heads, self.num_kv_heads
                ),
            );
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return bad(
                "head_dim",
                format!("{} is not a positive even number", self.head_dim),
            );
        }
        if self.sliding_layers.len() != self.num_layers {
            return bad(
                "sliding_layers",
                format!(
                    "{} entries for {} layers",
                    self.sliding_layers.len(),
                    self.num_layers
                ),
            );
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return bad(
                "vocab_size/hidden_size/num_layers",
                "must be positive".into(),
            );
        }
        if let RopeScaling::Factors { factors } = &self.rope_scaling
            && factors.len() != self.head_dim / 2
        {
            return bad(
                "rope_freqs",
                format!("{} factors for head_dim {}", factors.len(), self.head_dim),
            );
        }
        Ok(())
    }

    /// Number of query heads sharing one key/value head.
    pub fn kv_group(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }

    /// Reads a Hugging Face `config.json` (a `text_config` section is used when present).
    pub fn from_hf_json(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_hf_str(&text, path)
    }

    /// Parses the text of a Hugging Face `config.json`; `path` only names the source in errors.
    pub fn from_hf_str(text: &str, path: &Path) -> Result<ModelConfig> {
        let outer: HfOuter = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
        let hf: HfConfig = match outer.text_config {
            Some(tc) => serde_json::from_value(tc)
                .map_err(|e| json_error(path, &e).in_field("text_config"))?,
            None => serde_json::from_str(text).map_err(|e| json_error(path, &e))?,
        };
        let model_type = hf
            .model_type
            .clone()
            .or(outer.model_type)
            .unwrap_or_default();
        let arch = match model_type.as_str() {
            "llama" | "mistral" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "gemma3" | "gemma3_text" => Arch::Gemma3,
            other => {
                return Err(Error::UnsupportedArch {
                    path: path.into(),
                    arch: other.to_string(),
                });
            }
        };
        let need = |v: Option<usize>, field: &str| {
            v.ok_or_else(|| Error::format(path, field, "missing (required for this architecture)"))
        };
        let hidden_size = need(hf.hidden_size, "hidden_size")?;
        let num_heads = need(hf.num_attention_heads, "num_attention_heads")?;
        let num_layers = need(hf.num_hidden_layers, "num_hidden_layers")?;
        let gemma = arch == Arch::Gemma3;
        let head_dim = match hf.head_dim {
            Some(d) => d,
            None if num_heads > 0 => hidden_size / num_heads,
            None => 0,
        };
        let rope = RopeParams::from_hf(&hf, path)?;
        let rope_theta = hf
            .rope_theta
            .or(rope.global.as_ref().and_then(|r| r.rope_theta))
            .unwrap_or(if gemma { 1_000_000.0 } else { 10_000.0 });
        let sliding_window = match arch {
            Arch::Gemma3 => hf.sliding_window,
            // Qwen2 only slides when explicitly switched on, and then on layers ≥ max_window_layers.
            Arch::Qwen2 if hf.use_sliding_window == Some(true) => hf.sliding_window,
            Arch::Llama => hf.sliding_window,
            Arch::Qwen2 => None,
        };
        let sliding_layers: Vec<bool> = if let Some(types) = &hf.layer_types {
            types.iter().map(|t| t == "sliding_attention").collect()
        } else {
            match (arch, sliding_window) {
                (_, None) => vec![false; num_layers],
                (Arch::Gemma3, Some(_)) => {
                    let pattern = hf.sliding_window_pattern.unwrap_or(6).max(1);
                    (0..num_layers).map(|i| (i + 1) % pattern != 0).collect()
                }
                (Arch::Qwen2, Some(_)) => {
                    let from = hf.max_window_layers.unwrap_or(0);
                    (0..num_layers).map(|i| i >= from).collect()
                }
                (Arch::Llama, Some(_)) => vec![true; num_layers],
            }
        };
        // An explicit `rope_scaling` (transformers 4.x) wins over `rope_parameters` (5.x).
        let rope_scaling = match hf.rope_scaling.as_ref().or(rope.global.as_ref()) {
            None => RopeScaling::None,
            Some(rs) => {
                let kind = rs.rope_type.clone().or(rs.kind.clone()).unwrap_or_default();
                match kind.as_str() {
                    "default" | "" => RopeScaling::None,
                    "linear" => RopeScaling::Linear {
                        factor: rs.factor.unwrap_or(1.0),
                    },
                    "llama3" => RopeScaling::Llama3 {
                        factor: rs.factor.unwrap_or(8.0),
                        low_freq_factor: rs.low_freq_factor.unwrap_or(1.0),
                        high_freq_factor: rs.high_freq_factor.unwrap_or(4.0),
                        original_max_position_embeddings: rs
                            .original_max_position_embeddings
                            .unwrap_or(8192),
                    },
                    other => {
                        return Err(Error::format(
                            path,
                            "rope_scaling.rope_type",
                            format!("`{other}` is not supported (default, linear, llama3)"),
                        ));
                    }
                }
            }
        };
        let activation = match hf.hidden_activation.as_deref().or(hf.hidden_act.as_deref()) {
            None => {
                if gemma {
                    Activation::GeluTanh
                } else {
                    Activation::Silu
                }
            }
            Some("silu") | Some("swish") => Activation::Silu,
            Some("gelu_pytorch_tanh") | Some("gelu_tanh") | Some("gelu") => Activation::GeluTanh,
            Some(other) => {
                return Err(Error::format(
                    path,
                    "hidden_act",
                    format!("`{other}` is not supported (silu, gelu_pytorch_tanh)"),
                ));
            }
        };
        let cfg = ModelConfig {
            arch,
            vocab_size: need(hf.vocab_size, "vocab_size")?,
            hidden_size,
            intermediate_size: need(hf.intermediate_size, "intermediate_size")?,
            num_layers,
            num_heads,
            num_kv_heads: hf.num_key_value_heads.unwrap_or(num_heads),
            head_dim,
            rms_norm_eps: hf.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_local_theta: if gemma {
                hf.rope_local_base_freq
                    .or(rope.local.as_ref().and_then(|r| r.rope_theta))
                    .unwrap_or(10_000.0)
            } else {
                rope_theta
            },
            rope_scaling,
            sliding_window,
            sliding_layers,
            max_position_embeddings: hf.max_position_embeddings.unwrap_or(4096),
            tie_word_embeddings: hf.tie_word_embeddings.unwrap_or(gemma),
            attention_bias: hf.attention_bias.unwrap_or(arch == Arch::Qwen2),
            qk_norm: gemma,
            sandwich_norm: gemma,
            scale_embeddings: gemma,
            query_pre_attn_scalar: hf.query_pre_attn_scalar.unwrap_or(head_dim as f64),
            activation,
            final_logit_softcapping: hf.final_logit_softcapping,
            bos_token_id: hf.bos_token_id,
            eos_token_ids: match hf.eos_token_id {
                None => Vec::new(),
                Some(OneOrMany::One(id)) => vec![id],
                Some(OneOrMany::Many(ids)) => ids,
            },
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// A small random-init configuration of the given family for tests: 2 layers, hidden 32,
    /// 4 query heads over 2 kv heads, vocab 64. The Gemma variant slides a 4-token window on
    /// its first layer so that short tests cross the window.
    pub fn tiny(arch: Arch) -> ModelConfig {
        let gemma = arch == Arch::Gemma3;
        ModelConfig {
            arch,
            vocab_size: 64,
            hidden_size: 32,
            intermediate_size: 48,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: if gemma { 16 } else { 8 },
            rms_norm_eps: 1e-6,
            rope_theta: if gemma { 1_000_000.0 } else { 10_000.0 },
            rope_local_theta: 10_000.0,
            rope_scaling: RopeScaling::None,
            sliding_window: gemma.then_some(4),
            sliding_layers: vec![gemma, false],
            max_position_embeddings: 256,
            tie_word_embeddings: arch != Arch::Qwen2,
            attention_bias: arch == Arch::Qwen2,
            qk_norm: gemma,
            sandwich_norm: gemma,
            scale_embeddings: gemma,
            query_pre_attn_scalar: if gemma { 16.0 } else { 8.0 },
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            final_logit_softcapping: None,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
        }
    }
}

fn json_error(path: &Path, e: &serde_json::Error) -> Error {
    Error::format(
        path,
        format!("line {} column {}", e.line(), e.column()),
        e.to_string(),
    )
}

trait InField {
    fn in_field(self, field: &str) -> Self;
}

impl InField for Error {
    fn in_field(self, field: &str) -> Self {
        match self {
            Error::Format {
                path,
                field: f,
                msg,
            } => Error::Format {
                path,
                field: format!("{field}: {f}"),
                msg,
            },
            other => other,
        }
    }
}

#[derive(Deserialize)]
struct HfOuter {
    model_type: Option<String>,
    text_config: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// transformers 5 moved `rope_theta` and `rope_scaling` into `rope_parameters`: one section for
/// every layer, or (Gemma 3) one per attention type. Reading only the 4.x keys would silently
/// run such a checkpoint with the default base (SmolLM2 uses 100 000, not 10 000).
struct RopeParams {
    /// The section of full-attention layers (or of every layer).
    global: Option<HfRopeScaling>,
    /// The section of sliding-window layers, when the file has one of its own.
    local: Option<HfRopeScaling>,
}

impl RopeParams {
    fn from_hf(hf: &HfConfig, path: &Path) -> Result<RopeParams> {
        let Some(value) = &hf.rope_parameters else {
            return Ok(RopeParams {
                global: None,
                local: None,
            });
        };
        let section = |v: &serde_json::Value, field: &str| -> Result<HfRopeScaling> {
            serde_json::from_value(v.clone())
                .map_err(|e| Error::format(path, field, format!("not a RoPE section: {e}")))
        };
        let by_type = value
            .as_object()
            .filter(|m| m.contains_key("full_attention") || m.contains_key("sliding_attention"));
        Ok(match by_type {
            Some(m) => RopeParams {
                global: m
                    .get("full_attention")
                    .map(|v| section(v, "rope_parameters.full_attention"))
                    .transpose()?,
                local: m
                    .get("sliding_attention")
                    .map(|v| section(v, "rope_parameters.sliding_attention"))
                    .transpose()?,
            },
            None => RopeParams {
                global: Some(section(value, "rope_parameters")?),
                local: None,
            },
        })
    }
}

#[derive(Deserialize)]
struct HfRopeScaling {
    /// Only in transformers 5's `rope_parameters` sections.
    rope_theta: Option<f64>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<usize>,
}

/// The subset of HF config fields the three families use. Unknown fields are ignored on purpose:
/// real configs carry dozens of training-only keys.
#[derive(Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_local_base_freq: Option<f64>,
    rope_scaling: Option<HfRopeScaling>,
    rope_parameters: Option<serde_json::Value>,
    sliding_window: Option<usize>,
    sliding_window_pattern: Option<usize>,
    use_sliding_window: Option<bool>,
    max_window_layers: Option<usize>,
    layer_types: Option<Vec<String>>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    query_pre_attn_scalar: Option<f64>,
    hidden_act: Option<String>,
    hidden_activation: Option<String>,
    final_logit_softcapping: Option<f64>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
}
