//! The chunked LM head + log-softmax of `Model::score` (its own backward, `aha_model`'s
//! `head.rs`) against the plain tensor expression (`ScoreHead::Full`, candle's autograd): the
//! same log-probabilities and the same gradients for every weight, within float tolerance, with
//! a chunk size that does not divide the rows, padded responses, a temperature, tied and untied
//! heads and soft-capped logits.

use aha_model::candle_core::Device;
use aha_model::{Arch, Mode, Model, ModelConfig, ScoreHead};

mod common;
use common::{pairs, refs, weighted_grads};

/// The three pairs of these tests (different lengths, so the score pads).
fn batch(vocab: u32) -> Vec<(Vec<u32>, Vec<u32>)> {
    pairs(vocab, &[(0..4, 10..17), (20..22, 30..33), (40..45, 50..59)])
}

/// Scores, a weighted sum of them as the loss, and the gradient of every weight.
fn score_and_grads(
    model: &Model,
    head: ScoreHead,
    temperature: f64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let owned = batch(model.config().vocab_size as u32);
    let s = model
        .score_with(&refs(&owned), temperature, Mode::Train, head)
        .unwrap();
    let g = weighted_grads(model, &s.logprobs);
    (s.logprobs.to_vec2::<f32>().unwrap(), g)
}

fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    common::assert_close(what, a, b, tol, ("chunked", "full"));
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
    let owned = batch(300);
    let refs = refs(&owned);
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
