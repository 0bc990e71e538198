//! The fused causal attention of `Model::score` (`aha_model::attention`, its own backward that
//! recomputes the scores) against the plain tensor expression (`AttentionPath::Plain`,
//! candle's autograd through matmul, mask and softmax), through whole models: the same
//! log-probabilities and the same gradient for every weight, within float tolerance, for
//! grouped-query attention (Llama, Qwen2 with biases) and Gemma 3's sliding-window layers with
//! qk-norm, on padded batches of different lengths, in both modes.

use aha_model::candle_core::Device;
use aha_model::{Arch, AttentionPath, Mode, Model, ModelConfig, ScoreHead};

mod common;
use common::{pairs, refs, weighted_grads};

/// Scores, and with `Mode::Train` the gradient of every weight under a weighted sum of them.
fn score_and_grads(
    model: &Model,
    attention: AttentionPath,
    mode: Mode,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    // Different lengths, so the score right-pads.
    let spans = [(0..6, 10..29), (20..22, 30..35), (40..49, 50..61)];
    let owned = pairs(model.config().vocab_size as u32, &spans);
    let s = model
        .score_with_attention(&refs(&owned), 0.9, mode, ScoreHead::Chunked(16), attention)
        .unwrap();
    let lp = s.logprobs.to_vec2::<f32>().unwrap();
    if mode == Mode::Infer {
        assert!(!s.logprobs.track_op());
        return (lp, Vec::new());
    }
    (lp, weighted_grads(model, &s.logprobs))
}

/// `|a − b| ≤ tol · max|b|` elementwise.
fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    common::assert_close(what, a, b, tol, ("fused", "plain"));
}

// Tolerances as in chunked_head.rs: f32 rounding of the same sums in another order (gemm's
// blocking, the softmax's partial sums, a polynomial exp), carried through two layers: 1e-5 of
// the largest log-probability and 1e-4 of each weight's largest gradient entry, while a wrong
// mask, window or kv group changes them at the 1e-1 level.
fn check(cfg: &ModelConfig) {
    let model = Model::tiny(cfg, 11, &Device::Cpu).unwrap();
    for mode in [Mode::Train, Mode::Infer] {
        let (lp_plain, g_plain) = score_and_grads(&model, AttentionPath::Plain, mode);
        let (lp, g) = score_and_grads(&model, AttentionPath::Fused, mode);
        for (i, (a, b)) in lp.iter().zip(&lp_plain).enumerate() {
            assert_close(&format!("{mode:?}: logprobs row {i}"), a, b, 1e-5);
        }
        for (i, (a, b)) in g.iter().zip(&g_plain).enumerate() {
            assert!(
                b.iter().any(|v| *v != 0.0),
                "weight {i}: the reference gradient is all zeros"
            );
            assert_close(&format!("grad of weight {i}"), a, b, 1e-4);
        }
    }
}

#[test]
fn fused_attention_matches_plain_attention_llama() {
    let mut cfg = ModelConfig::tiny(Arch::Llama);
    cfg.vocab_size = 300;
    // 6 query heads on 2 kv heads (groups of 3, as SmolLM2's 9 on 3).
    cfg.num_heads = 6;
    cfg.hidden_size = 48;
    check(&cfg);
}

#[test]
fn fused_attention_matches_plain_attention_qwen2() {
    let mut cfg = ModelConfig::tiny(Arch::Qwen2);
    cfg.vocab_size = 300;
    check(&cfg);
}

#[test]
fn fused_attention_matches_plain_attention_gemma3_sliding_window() {
    let mut cfg = ModelConfig::tiny(Arch::Gemma3);
    cfg.vocab_size = 300;
    // Layer 0 slides over the last 4 keys, layer 1 is global; the sequences are longer.
    assert_eq!(cfg.sliding_window, Some(4));
    check(&cfg);
}
