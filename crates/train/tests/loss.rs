//! The GRPO and Dr. GRPO losses and their gradients against hand-derived values.
//!
//! The running example: one group of G = 2 responses to one prompt, rewards [1, 0].
//! - response 1 (correct) has 3 tokens, response 2 (wrong) has 1 token and 2 padding slots;
//! - log-ratios `logp_new - logp_old`: response 1 `[0, 0, ln 1.5]`, response 2 `[ln 0.9, ·, ·]`,
//!   so ρ = [1, 1, 1.5] and [0.9].
//!
//! Advantages (mean 0.5; unbiased std = √((0.25 + 0.25)/1) = √0.5 = 0.70710678):
//! - GRPO: a = 0.5 / (0.70710678 + 1e-8) = 0.70710677, A = [a, -a];
//! - Dr. GRPO: A = [0.5, -0.5].
//!
//! Per-token PPO-clip losses ℓ = max(-Aρ, -A·clip(ρ, 0.8, 1.2)):
//! - response 1 (A > 0): [-A, -A, max(-1.5A, -1.2A) = -1.2A] (third token clipped);
//! - response 2 (A < 0, ρ = 0.9 inside the range): -A·0.9 = 0.9|A| (not clipped).
//!
//! GRPO (mean per response, then over responses):
//!   ½·[(-a - a - 1.2a)/3 + 0.9a] = ½·a·(-3.2/3 + 0.9) = -a/12 = -0.058925565
//! Dr. GRPO with C = 4 (sum per response / C, then mean):
//!   ½·[(-0.5 - 0.5 - 0.6)/4 + 0.45/4] = ½·(-0.4 + 0.1125) = -0.14375
//!
//! Gradients d loss / d logp_new (dρ/dlogp_new = ρ; clipped tokens and padding get 0):
//! - GRPO: resp. 1 tokens 1–2: ½·(1/3)·(-a) = -a/6; token 3: 0; resp. 2: ½·1·(a·0.9) = 0.45a.
//! - Dr. GRPO: resp. 1 tokens 1–2: ½·(1/4)·(-0.5) = -0.0625; token 3: 0;
//!   resp. 2: ½·(1/4)·(0.5·0.9) = 0.05625.
//!
//! The two differ as docs/study.md ("The policy loss") says: GRPO weights each token of the
//! short wrong response 3× more than a token of the long correct one (1/|o_i|) and scales by
//! 1/std; Dr. GRPO weights all tokens by the same 1/C.

use aha_train::{AdvantageKind, LossConfig, group_advantages, policy_loss};
use candle_core::{Device, Tensor, Var};

const TOL: f64 = 1e-6;

struct Case {
    new: Var,
    old: Tensor,
    mask: Tensor,
}

/// `pad` is written into padding slots of `logp_new`, to show it cannot leak into the loss.
fn case(pad: f32) -> Case {
    let dev = Device::Cpu;
    let old = [-1.0f32, -2.0, -0.5, -1.5, -3.0, -3.0];
    let ratio_ln = [0.0f32, 0.0, 1.5f32.ln(), 0.9f32.ln(), 0.0, 0.0];
    let mut new: Vec<f32> = old.iter().zip(&ratio_ln).map(|(o, d)| o + d).collect();
    new[4] = pad;
    new[5] = pad;
    Case {
        new: Var::from_vec(new, (2, 3), &dev).unwrap(),
        old: Tensor::from_vec(old.to_vec(), (2, 3), &dev).unwrap(),
        mask: Tensor::from_vec(vec![1.0f32, 1.0, 1.0, 1.0, 0.0, 0.0], (2, 3), &dev).unwrap(),
    }
}

fn grads_of(c: &Case, cfg: &LossConfig, adv: &[f64]) -> (f64, Vec<Vec<f32>>) {
    let out = policy_loss(cfg, c.new.as_tensor(), &c.old, None, &c.mask, adv).unwrap();
    let grads = out.loss.backward().unwrap();
    let g = grads
        .get(c.new.as_tensor())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    (out.stats.loss, g)
}

fn assert_grad(got: &[Vec<f32>], want: [[f64; 3]; 2]) {
    for (r, w) in got.iter().zip(want) {
        for (x, y) in r.iter().zip(w) {
            assert!((*x as f64 - y).abs() < TOL, "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn grpo_value_and_gradient_by_hand() {
    let adv = group_advantages(&[1.0, 0.0], 2, AdvantageKind::Grpo).unwrap();
    let a = 0.5 / (0.5f64.sqrt() + 1e-8);
    assert!((adv[0] - a).abs() < 1e-12 && (adv[1] + a).abs() < 1e-12);
    let cfg = LossConfig::new(AdvantageKind::Grpo, 4);
    let c = case(0.0);
    let (loss, g) = grads_of(&c, &cfg, &adv);
    assert!((loss - (-a / 12.0)).abs() < TOL, "{loss}");
    assert!((loss + 0.058_925_565).abs() < TOL);
    assert_grad(&g, [[-a / 6.0, -a / 6.0, 0.0], [0.45 * a, 0.0, 0.0]]);
}

#[test]
fn dr_grpo_value_and_gradient_by_hand() {
    let adv = group_advantages(&[1.0, 0.0], 2, AdvantageKind::DrGrpo).unwrap();
    assert_eq!(adv, vec![0.5, -0.5]);
    let cfg = LossConfig::new(AdvantageKind::DrGrpo, 4);
    let c = case(0.0);
    let (loss, g) = grads_of(&c, &cfg, &adv);
    assert!((loss + 0.14375).abs() < TOL, "{loss}");
    assert_grad(&g, [[-0.0625, -0.0625, 0.0], [0.05625, 0.0, 0.0]]);
}

#[test]
fn dr_grpo_scales_with_budget_only() {
    // Same tokens, C = 8 instead of 4: the loss and every gradient halve.
    let adv = [0.5, -0.5];
    let c = case(0.0);
    let (l4, g4) = grads_of(&c, &LossConfig::new(AdvantageKind::DrGrpo, 4), &adv);
    let c = case(0.0);
    let (l8, g8) = grads_of(&c, &LossConfig::new(AdvantageKind::DrGrpo, 8), &adv);
    assert!((l8 - l4 / 2.0).abs() < 1e-7);
    for (r4, r8) in g4.iter().zip(&g8) {
        for (x, y) in r4.iter().zip(r8) {
            assert!((x / 2.0 - y).abs() < 1e-7);
        }
    }
}

#[test]
fn stats_by_hand() {
    // 4 response tokens; only response 1's third token is clipped → clip_frac 1/4.
    // approx_kl = ½·mean(d²) = ½·(ln²1.5 + ln²0.9)/4; entropy = mean(-old) = (1 + 2 + 0.5 + 1.5)/4.
    let c = case(0.0);
    let out = policy_loss(
        &LossConfig::new(AdvantageKind::Grpo, 4),
        c.new.as_tensor(),
        &c.old,
        None,
        &c.mask,
        &[0.7, -0.7],
    )
    .unwrap();
    let s = out.stats;
    assert_eq!(s.tokens, 4);
    assert!((s.clip_frac.unwrap() - 0.25).abs() < 1e-9);
    let want_kl = 0.5 * (1.5f64.ln().powi(2) + 0.9f64.ln().powi(2)) / 4.0;
    assert!((s.approx_kl.unwrap() - want_kl).abs() < 1e-6);
    assert!((s.entropy.unwrap() - 1.25).abs() < 1e-6);
    assert_eq!(s.kl_ref, None);
    assert_eq!(s.loss, s.pg_loss);
}

#[test]
fn negative_advantage_clips_below() {
    // One token, A = -1, ρ = 0.5: max(0.5, 0.8) = 0.8, clipped, gradient 0.
    // ρ = 1.5 with A = -1: max(1.5, 1.2) = 1.5, unclipped, gradient -A·ρ = 1.5.
    let dev = Device::Cpu;
    let new = Var::from_vec(vec![0.5f32.ln(), 1.5f32.ln()], (2, 1), &dev).unwrap();
    let old = Tensor::zeros((2, 1), candle_core::DType::F32, &dev).unwrap();
    let mask = Tensor::ones((2, 1), candle_core::DType::F32, &dev).unwrap();
    let out = policy_loss(
        &LossConfig::new(AdvantageKind::DrGrpo, 1),
        new.as_tensor(),
        &old,
        None,
        &mask,
        &[-1.0, -1.0],
    )
    .unwrap();
    // mean of [0.8, 1.5] = 1.15
    assert!((out.stats.loss - 1.15).abs() < 1e-6);
    assert!((out.stats.clip_frac.unwrap() - 0.5).abs() < 1e-9);
    let g = out.loss.backward().unwrap();
    let g = g.get(new.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
    assert!(
        g[0][0].abs() < 1e-7 && (g[1][0] - 0.75).abs() < 1e-6,
        "{g:?}"
    );
}

#[test]
fn padding_garbage_cannot_leak() {
    // Padding log-probs of +50 would give ρ = e^53 → inf without the zeroing before exp.
    let adv = [0.5, -0.5];
    let cfg = LossConfig::new(AdvantageKind::Grpo, 4);
    let (clean, gc) = grads_of(&case(0.0), &cfg, &adv);
    let (dirty, gd) = grads_of(&case(50.0), &cfg, &adv);
    assert_eq!(clean, dirty);
    assert_eq!(gc, gd);
}

#[test]
fn k3_kl_value_and_gradient_by_hand() {
    // ρ = 1 everywhere, A = 0 → policy term 0; one response, 2 tokens, ref - new = [ln 2, 0].
    // k3 = e^d - d - 1 = [2 - ln 2 - 1, 0] = [0.306852819, 0].
    // Dr. GRPO, C = 2, beta 0.5: loss = 0.5·0.306852819/2 = 0.076713205.
    // d k3/d new = -(e^d - 1) = [-1, 0] → gradient 0.5·(1/2)·[-1, 0] = [-0.25, 0].
    let dev = Device::Cpu;
    let new = Var::from_vec(vec![-1.0f32, -2.0], (1, 2), &dev).unwrap();
    let old = new.as_tensor().detach();
    let reference = Tensor::from_vec(vec![-1.0 + 2f32.ln(), -2.0], (1, 2), &dev).unwrap();
    let mask = Tensor::ones((1, 2), candle_core::DType::F32, &dev).unwrap();
    let cfg = LossConfig {
        beta: 0.5,
        ..LossConfig::new(AdvantageKind::DrGrpo, 2)
    };
    let out = policy_loss(&cfg, new.as_tensor(), &old, Some(&reference), &mask, &[0.0]).unwrap();
    assert!(
        (out.stats.loss - 0.076_713_205).abs() < 1e-6,
        "{:?}",
        out.stats
    );
    assert!((out.stats.kl_ref.unwrap() - 0.306_852_819 / 2.0).abs() < 1e-6);
    let g = out.loss.backward().unwrap();
    let g = g.get(new.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
    assert!(
        (g[0][0] + 0.25).abs() < 1e-6 && g[0][1].abs() < 1e-7,
        "{g:?}"
    );
    // Same with GRPO: per-response mean over 2 tokens = same 1/2 here.
    let cfg = LossConfig {
        beta: 0.5,
        ..LossConfig::new(AdvantageKind::Grpo, 2)
    };
    let out = policy_loss(&cfg, new.as_tensor(), &old, Some(&reference), &mask, &[0.0]).unwrap();
    assert!((out.stats.loss - 0.076_713_205).abs() < 1e-6);
    // beta > 0 without a reference is an error, not a silent no-KL run.
    assert!(policy_loss(&cfg, new.as_tensor(), &old, None, &mask, &[0.0]).is_err());
}

#[test]
fn empty_response_contributes_zero() {
    // Response 2 has no tokens: GRPO's floor-at-1 denominator makes it 0, not NaN.
    let dev = Device::Cpu;
    let new = Var::from_vec(vec![-1.0f32, -1.0], (2, 1), &dev).unwrap();
    let old = new.as_tensor().detach();
    let mask = Tensor::from_vec(vec![1.0f32, 0.0], (2, 1), &dev).unwrap();
    let out = policy_loss(
        &LossConfig::new(AdvantageKind::Grpo, 1),
        new.as_tensor(),
        &old,
        None,
        &mask,
        &[1.0, -1.0],
    )
    .unwrap();
    // ½·(-1 + 0)
    assert!((out.stats.loss + 0.5).abs() < 1e-7);
}

#[test]
fn bad_inputs_are_errors() {
    let c = case(0.0);
    let cfg = LossConfig::new(AdvantageKind::Grpo, 4);
    let run = |cfg: &LossConfig, adv: &[f64], mask: &Tensor| {
        policy_loss(cfg, c.new.as_tensor(), &c.old, None, mask, adv)
    };
    assert!(run(&cfg, &[1.0], &c.mask).is_err());
    let e = run(&cfg, &[1.0, f64::NAN], &c.mask).unwrap_err();
    assert!(e.to_string().contains("advantage 1"), "{e}");
    let wrong = Tensor::ones((2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(
        run(&cfg, &[1.0, 0.0], &wrong)
            .unwrap_err()
            .to_string()
            .contains("mask")
    );
    let bad = LossConfig {
        clip_eps: 0.0,
        ..cfg
    };
    assert!(run(&bad, &[1.0, 0.0], &c.mask).is_err());
    let bad = LossConfig::new(AdvantageKind::DrGrpo, 0);
    assert!(run(&bad, &[1.0, 0.0], &c.mask).is_err());
}
