//! The chunked LM head + log-softmax of `Model::score` (its own backward, `aha_model`'s
//! `head.rs`) against the plain tensor expression (`ScoreHead::Full`, candle's autograd): the
//! same log-probabilities and the same gradients for every weight, within float tolerance, with
//! a chunk size that does not divide the rows, padded responses, a temperature, tied and untied
//! heads and soft-capped logits.

use aha_model::candle_core::{Device, Tensor};
use aha_model::{Arch, Mode, Model, ModelConfig, ScoreHead};

/// Prompts and responses of different lengths (so the score pads), token ids below `vocab`.
fn pairs(vocab: u32) -> Vec<(Vec<u32>, Vec<u32>)> {
    let tok = |i: u32| 3 + (i * 7919) % (vocab - 3);
    vec![
        ((0..4).map(tok).collect(), (10..17).map(tok).collect()),
        ((20..22).map(tok).collect(), (30..33).map(tok).collect()),
        ((40..45).map(tok).collect(), (50..59).map(tok).collect()),
    ]
}

/// Scores, a weighted sum of them as the loss, and the gradient of every weight.
fn score_and_grads(
    model: &Model,
    head: ScoreHead,
    temperature: f64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let vocab = model.config().vocab_size as u32;
    let owned = pairs(vocab);
    let refs: Vec<(&[u32], &[u32])> = owned
        .iter()
        .map(|(p, r)| (p.as_slice(), r.as_slice()))
        .collect();
    let s = model
        .score_with(&refs, temperature, Mode::Train, head)
        .unwrap();
    let (b, t) = s.logprobs.dims2().unwrap();
    // Distinct weights per position (some negative), so a gradient mixed up between rows shows.
    let w: Vec<f32> = (0..b * t)
        .map(|i| ((i * 37 % 11) as f32 - 4.0) / 7.0)
        .collect();
    let w = Tensor::from_vec(w, (b, t), &Device::Cpu).unwrap();
    let loss = s.logprobs.mul(&w).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
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
    (s.logprobs.to_vec2::<f32>().unwrap(), g)
}

fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: chunked {x} vs full {y} (max |full| {scale})"
        );
    }
}

fn check(cfg: &ModelConfig, temperature: f64) {
    let model = Model::tiny(cfg, 5, &Device::Cpu).unwrap();
    let (lp_full, g_full) = score_and_grads(&model, ScoreHead::Full, temperature);
    for chunk in [1, 4, 1000] {
        let (lp, g) = score_and_grads(&model, ScoreHead::Chunked(chunk), temperature);
        for (i, (a, b)) in lp.iter().zip(&lp_full).enumerate() {
            assert_close(&format!("chunk {chunk}: logprobs row {i}"), a, b, 1e-5);
        }
        // Padding positions score exactly 0 on both paths.
        assert_eq!(lp[1][3..], [0.0; 6], "chunk {chunk}: padding");
        for (i, (a, b)) in g.iter().zip(&g_full).enumerate() {
            assert!(
                b.iter().any(|v| *v != 0.0),
                "weight {i}: the reference gradient is all zeros"
            );
            assert_close(&format!("chunk {chunk}: grad of weight {i}"), a, b, 1e-4);
        }
    }
}

fn config(arch: Arch, tie: bool) -> ModelConfig {
    let mut cfg = ModelConfig::tiny(arch);
    cfg.vocab_size = 300;
    cfg.tie_word_embeddings = tie;
    cfg
}

#[test]
fn chunked_head_matches_the_full_head_tied() {
    check(&config(Arch::Qwen2, true), 1.0);
}

#[test]
fn chunked_head_matches_the_full_head_untied_with_temperature() {
    check(&config(Arch::Llama, false), 0.7);
}

#[test]
fn chunked_head_matches_the_full_head_with_softcapping() {
    let mut cfg = config(Arch::Gemma3, true);
    // A small cap, so tanh is far from linear on these logits.
    cfg.final_logit_softcapping = Some(0.5);
    check(&cfg, 1.3);
}

#[test]
fn infer_mode_scores_equal_train_mode_scores_and_carry_no_graph() {
    let model = Model::tiny(&config(Arch::Qwen2, true), 9, &Device::Cpu).unwrap();
    let owned = pairs(300);
    let refs: Vec<(&[u32], &[u32])> = owned
        .iter()
        .map(|(p, r)| (p.as_slice(), r.as_slice()))
        .collect();
    let head = ScoreHead::Chunked(2);
    let train = model.score_with(&refs, 1.0, Mode::Train, head).unwrap();
    let infer = model.score_with(&refs, 1.0, Mode::Infer, head).unwrap();
    assert!(train.logprobs.track_op());
    assert!(!infer.logprobs.track_op());
    let (a, b) = (
        train.logprobs.to_vec2::<f32>().unwrap(),
        infer.logprobs.to_vec2::<f32>().unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert_close("infer vs train", y, x, 1e-5);
    }
}
