//! The fused causal attention of `Model::score` (`aha_model::attention`, its own backward that
//! recomputes the scores) against the plain tensor expression (`AttentionPath::Plain`,
//! candle's autograd through matmul, mask and softmax), through whole models: the same
//! log-probabilities and the same gradient for every weight, within float tolerance, for
//! grouped-query attention (Llama, Qwen2 with biases) and Gemma 3's sliding-window layers with
//! qk-norm, on padded batches of different lengths, in both modes.

use aha_model::candle_core::{Device, Tensor};
use aha_model::{Arch, AttentionPath, Mode, Model, ModelConfig, ScoreHead};

/// Prompts and responses of different lengths (so the score right-pads), ids below `vocab`.
fn pairs(vocab: u32) -> Vec<(Vec<u32>, Vec<u32>)> {
    let tok = |i: u32| 3 + (i * 7919) % (vocab - 3);
    vec![
        ((0..6).map(tok).collect(), (10..29).map(tok).collect()),
        ((20..22).map(tok).collect(), (30..35).map(tok).collect()),
        ((40..49).map(tok).collect(), (50..61).map(tok).collect()),
    ]
}

/// Scores, and with `Mode::Train` the gradient of every weight under a weighted sum of them.
fn score_and_grads(
    model: &Model,
    attention: AttentionPath,
    mode: Mode,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let vocab = model.config().vocab_size as u32;
    let owned = pairs(vocab);
    let refs: Vec<(&[u32], &[u32])> = owned
        .iter()
        .map(|(p, r)| (p.as_slice(), r.as_slice()))
        .collect();
    let s = model
        .score_with_attention(&refs, 0.9, mode, ScoreHead::Chunked(16), attention)
        .unwrap();
    let lp = s.logprobs.to_vec2::<f32>().unwrap();
    if mode == Mode::Infer {
        assert!(!s.logprobs.track_op());
        return (lp, Vec::new());
    }
    let (b, t) = s.logprobs.dims2().unwrap();
    // Distinct weights per position (some negative), so a gradient mixed up between rows shows.
    let w: Vec<f32> = (0..b * t)
        .map(|i| ((i * 37 % 11) as f32 - 4.0) / 7.0)
        .collect();
    let w = Tensor::from_vec(w, (b, t), &Device::Cpu).unwrap();
    let grads = s
        .logprobs
        .mul(&w)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = model
        .vars()
        .iter()
        .map(|v| {
            grads
                .get(v.as_tensor())
                .expect("every weight gets a gradient")
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect();
    (lp, g)
}

/// `|a − b| ≤ tol · max|b|` elementwise.
fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: fused {x} vs plain {y} (max |plain| {scale})"
        );
    }
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
