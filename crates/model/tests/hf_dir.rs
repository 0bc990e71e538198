//! Loading a Hugging Face directory: a tiny model's weights written under HF names (Gemma norms
//! in HF's `w` form, i.e. minus one) plus a config.json must give the same logits.

use std::collections::HashMap;

use aha_model::candle_core::{Device, Tensor};
use aha_model::{Arch, Mode, Model, ModelConfig, WeightKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn hf_name(internal: &str, arch: Arch) -> String {
    match internal {
        "token_embd.weight" => return "model.embed_tokens.weight".into(),
        "output_norm.weight" => return "model.norm.weight".into(),
        "output.weight" => return "lm_head.weight".into(),
        _ => {}
    }
    let rest = internal.strip_prefix("blk.").unwrap_or(internal);
    let (i, tail) = rest.split_once('.').unwrap_or(("0", rest));
    let gemma = arch == Arch::Gemma3;
    let hf = match tail {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_q.bias" => "self_attn.q_proj.bias",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_k.bias" => "self_attn.k_proj.bias",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_v.bias" => "self_attn.v_proj.bias",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "attn_q_norm.weight" => "self_attn.q_norm.weight",
        "attn_k_norm.weight" => "self_attn.k_norm.weight",
        "post_attention_norm.weight" => "post_attention_layernorm.weight",
        "ffn_norm.weight" if gemma => "pre_feedforward_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "post_ffw_norm.weight" => "post_feedforward_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        other => other,
    };
    format!("model.layers.{i}.{hf}")
}

fn config_json(c: &ModelConfig) -> String {
    let model_type = match c.arch {
        Arch::Llama => "llama",
        Arch::Qwen2 => "qwen2",
        Arch::Gemma3 => "gemma3_text",
    };
    let layer_types: Vec<&str> = c
        .sliding_layers
        .iter()
        .map(|s| {
            if *s {
                "sliding_attention"
            } else {
                "full_attention"
            }
        })
        .collect();
    serde_json::json!({
        "model_type": model_type, "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads, "num_key_value_heads": c.num_kv_heads, "head_dim": c.head_dim,
        "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta, "rope_local_base_freq": c.rope_local_theta,
        "sliding_window": c.sliding_window, "layer_types": layer_types,
        "query_pre_attn_scalar": c.query_pre_attn_scalar, "tie_word_embeddings": c.tie_word_embeddings,
        "bos_token_id": 1, "eos_token_id": 2
    })
    .to_string()
}

#[test]
fn hf_directories_load_like_the_original() -> TestResult {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Gemma3] {
        let cfg = ModelConfig::tiny(arch);
        let model = Model::tiny(&cfg, 3, &Device::Cpu)?;
        let dir = tempfile::tempdir()?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (name, var) in model.named_vars() {
            let mut t = var.as_tensor().clone();
            if arch == Arch::Gemma3 && name.contains("norm.weight") {
                t = (t - 1.0)?;
            }
            tensors.insert(hf_name(name, arch), t);
        }
        aha_model::candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors"))?;
        std::fs::write(dir.path().join("config.json"), config_json(&cfg))?;
        let loaded = Model::load(dir.path(), WeightKind::F32, &Device::Cpu)?;
        assert_eq!(loaded.named_vars().len(), model.named_vars().len());
        let ids = Tensor::new(&[[1u32, 9, 4, 33, 7, 2, 60]], &Device::Cpu)?;
        let diff = (model.forward(&ids, Mode::Infer)? - loaded.forward(&ids, Mode::Infer)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{arch:?}: HF-loaded logits differ by {diff}");
    }
    Ok(())
}
