//! Configuration from Hugging Face `config.json` text, and errors for bad model files.

use std::path::Path;

use aha_model::candle_core::Device;
use aha_model::{Activation, Arch, Model, ModelConfig, RopeScaling, WeightKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

// Field values of google/gemma-3-270m's config.json (layer_types shortened to the 18 entries).
const GEMMA3_270M: &str = r#"{
  "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
  "vocab_size": 262144, "hidden_size": 640, "intermediate_size": 2048,
  "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
  "rope_scaling": null, "sliding_window": 512, "query_pre_attn_scalar": 256,
  "hidden_activation": "gelu_pytorch_tanh", "final_logit_softcapping": null,
  "max_position_embeddings": 32768, "bos_token_id": 2, "eos_token_id": 1,
  "layer_types": ["sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                  "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                  "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention"]
}"#;

// Field values of Qwen/Qwen2.5-0.5B-Instruct's config.json.
const QWEN25_05B: &str = r#"{
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
  "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
  "max_window_layers": 21, "use_sliding_window": false, "tie_word_embeddings": true,
  "vocab_size": 151936, "max_position_embeddings": 32768, "bos_token_id": 151643, "eos_token_id": 151645,
  "torch_dtype": "bfloat16"
}"#;

// Field values of meta-llama/Llama-3.2-1B's config.json.
const LLAMA32_1B: &str = r#"{
  "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 32,
  "num_hidden_layers": 16, "num_key_value_heads": 8, "head_dim": 64, "rms_norm_eps": 1e-05,
  "rope_theta": 500000.0, "tie_word_embeddings": true, "vocab_size": 128256,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "eos_token_id": [128001, 128008, 128009]
}"#;

#[test]
fn gemma3_config_from_hf_json() -> TestResult {
    let c = ModelConfig::from_hf_str(GEMMA3_270M, Path::new("config.json"))?;
    assert_eq!(c.arch, Arch::Gemma3);
    assert_eq!((c.num_heads, c.num_kv_heads, c.head_dim), (4, 1, 256));
    assert_eq!(c.sliding_window, Some(512));
    assert_eq!(c.sliding_layers.iter().filter(|s| !**s).count(), 3);
    assert!(!c.sliding_layers[5] && c.sliding_layers[6]);
    assert_eq!((c.rope_theta, c.rope_local_theta), (1e6, 1e4));
    assert_eq!(c.activation, Activation::GeluTanh);
    assert!(c.qk_norm && c.sandwich_norm && c.scale_embeddings && c.tie_word_embeddings);
    assert_eq!(c.eos_token_ids, vec![1]);
    Ok(())
}

#[test]
fn qwen2_config_has_biases_and_no_window_unless_enabled() -> TestResult {
    let c = ModelConfig::from_hf_str(QWEN25_05B, Path::new("config.json"))?;
    assert_eq!(c.arch, Arch::Qwen2);
    assert!(c.attention_bias && c.tie_word_embeddings);
    assert_eq!(c.head_dim, 64);
    assert_eq!(c.kv_group(), 7);
    assert_eq!(c.sliding_window, None);
    assert!(c.sliding_layers.iter().all(|s| !s));
    Ok(())
}

#[test]
fn llama3_rope_scaling_and_eos_list() -> TestResult {
    let c = ModelConfig::from_hf_str(LLAMA32_1B, Path::new("config.json"))?;
    assert_eq!(c.arch, Arch::Llama);
    assert!(!c.attention_bias);
    assert_eq!(c.eos_token_ids, vec![128001, 128008, 128009]);
    assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 32.0));
    Ok(())
}

#[test]
fn bad_config_errors_name_file_line_and_field() {
    let broken = "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": \"big\"\n}";
    let e = ModelConfig::from_hf_str(broken, Path::new("/m/config.json"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("/m/config.json") && e.contains("line 3"), "{e}");
    let missing = r#"{"model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1}"#;
    let e = ModelConfig::from_hf_str(missing, Path::new("c.json"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("vocab_size"), "{e}");
    let unknown = r#"{"model_type": "gpt2"}"#;
    let e = ModelConfig::from_hf_str(unknown, Path::new("c.json"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unsupported architecture `gpt2`"), "{e}");
}

#[test]
fn unreadable_model_files_are_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nope.gguf");
    let e = Model::load(&missing, WeightKind::F32, &Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("nope.gguf"), "{e}");
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"definitely not a gguf file")?;
    let e = Model::load(&garbage, WeightKind::F32, &Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("garbage.gguf") && e.contains("GGUF"), "{e}");
    let st = dir.path().join("foreign.safetensors");
    std::fs::write(&st, b"\x02\x00\x00\x00\x00\x00\x00\x00{}")?;
    let e = Model::load(&st, WeightKind::F32, &Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("foreign.safetensors") && e.contains("format"),
        "{e}"
    );
    Ok(())
}

/// transformers 5 writes `rope_theta` and the scaling inside `rope_parameters` (one section, or
/// one per attention type for Gemma 3). The three configs below are what transformers 5.24.0
/// wrote: SmolLM2's from `save_pretrained` (scripts/gguf-to-hf.py on the test GGUF), the other
/// two from `Gemma3TextConfig(...)` / `LlamaConfig(...)` with the fields of the 4.x files above,
/// printed with `to_dict()`. Reading only the 4.x keys ran them with the default base (10 000).
#[test]
fn transformers5_rope_parameters() -> TestResult {
    let smollm2 = r#"{
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
      "intermediate_size": 1536, "num_attention_heads": 9, "num_hidden_layers": 30,
      "num_key_value_heads": 3, "head_dim": 64, "rms_norm_eps": 9.999999747378752e-06,
      "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"},
      "tie_word_embeddings": true, "vocab_size": 49152, "max_position_embeddings": 8192
    }"#;
    let c = ModelConfig::from_hf_str(smollm2, Path::new("smollm2/config.json"))?;
    assert_eq!(c.rope_theta, 1e5);
    assert!(matches!(c.rope_scaling, RopeScaling::None));

    let gemma = GEMMA3_270M
        .replace(
            r#""rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,"#,
            r#""rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
               "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},"#,
        )
        .replace(r#""rope_scaling": null, "#, "");
    assert!(!gemma.contains("rope_theta\": 1000000.0, \"rope_local"));
    let c = ModelConfig::from_hf_str(&gemma, Path::new("gemma/config.json"))?;
    assert_eq!((c.rope_theta, c.rope_local_theta), (1e6, 1e4));

    let llama = LLAMA32_1B
        .replace(r#""rope_theta": 500000.0, "#, "")
        .replace(
            r#""rope_scaling": {"factor": 32.0,"#,
            r#""rope_parameters": {"rope_theta": 500000.0, "factor": 32.0,"#,
        );
    let c = ModelConfig::from_hf_str(&llama, Path::new("llama/config.json"))?;
    assert_eq!(c.rope_theta, 5e5);
    assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 32.0));

    // A section that is not an object is an error naming the field, not a silent default.
    let bad = r#"{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
      "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 10,
      "rope_parameters": {"full_attention": 5}}"#;
    let e = ModelConfig::from_hf_str(bad, Path::new("bad/config.json")).unwrap_err();
    assert!(
        e.to_string().contains("rope_parameters.full_attention"),
        "{e}"
    );
    Ok(())
}
