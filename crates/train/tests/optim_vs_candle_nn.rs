//! Our AdamW against candle-nn's reference implementation: same updates on the same gradients.

use aha_train::{AdamW, AdamWConfig};
use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;

#[test]
fn matches_candle_nn_adamw_over_steps() {
    let dev = Device::Cpu;
    let init: Vec<f32> = (0..300)
        .map(|i| ((i * 53 % 29) as f32 - 14.0) * 0.05)
        .collect();
    let ours = Var::from_vec(init.clone(), (20, 15), &dev).unwrap();
    let peer = Var::from_vec(init, (20, 15), &dev).unwrap();
    let cfg = AdamWConfig {
        weight_decay: 0.05,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(vec![ours.clone()], cfg).unwrap();
    let params = candle_nn::ParamsAdamW {
        lr: 0.01,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        weight_decay: cfg.weight_decay,
    };
    let mut reference = candle_nn::AdamW::new(vec![peer.clone()], params).unwrap();
    let loss = |v: &Var| -> Tensor {
        // A non-quadratic loss so that gradients change from step to step.
        (v.as_tensor().tanh().unwrap() * v.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
    };
    for step in 0..10 {
        let lr = 0.01 * (1.0 + step as f64 / 10.0);
        opt.step(&loss(&ours).backward().unwrap(), lr).unwrap();
        reference.set_learning_rate(lr);
        reference.step(&loss(&peer).backward().unwrap()).unwrap();
    }
    let a = ours
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = peer
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-5, "max |ours - candle_nn| = {max_diff}");
    // and they did move
    assert!(a.iter().zip(&b).any(|(x, _)| x.abs() > 0.0));
}

#[test]
fn state_round_trip_resumes_bit_for_bit() {
    let dev = Device::Cpu;
    let init: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.03).collect();
    let loss = |v: &Var| -> Tensor {
        (v.as_tensor().sin().unwrap() * v.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let cfg = AdamWConfig {
        weight_decay: 0.01,
        ..AdamWConfig::default()
    };
    // Uninterrupted: 5 steps.
    let a = Var::from_vec(init.clone(), (6, 10), &dev).unwrap();
    let mut oa = AdamW::new(vec![a.clone()], cfg).unwrap();
    for _ in 0..5 {
        oa.step(&loss(&a).backward().unwrap(), 0.02).unwrap();
    }
    // Interrupted after 2 steps: weights and optimizer state through a safetensors file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    let b = Var::from_vec(init, (6, 10), &dev).unwrap();
    let mut ob = AdamW::new(vec![b.clone()], cfg).unwrap();
    for _ in 0..2 {
        ob.step(&loss(&b).backward().unwrap(), 0.02).unwrap();
    }
    let state: std::collections::HashMap<String, Tensor> =
        ob.state().unwrap().into_iter().collect();
    candle_core::safetensors::save(&state, &path).unwrap();
    let weights = b.as_tensor().copy().unwrap();
    let c = Var::from_tensor(&weights).unwrap();
    let mut oc = AdamW::new(vec![c.clone()], cfg).unwrap();
    oc.load_state(&candle_core::safetensors::load(&path, &dev).unwrap())
        .unwrap();
    for _ in 0..3 {
        oc.step(&loss(&c).backward().unwrap(), 0.02).unwrap();
    }
    let va = a
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let vc = c
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(va, vc);
    // Without the restored state (fresh moments, bias correction from t = 1) it would differ.
    let e = Var::from_tensor(&weights).unwrap();
    let mut oe = AdamW::new(vec![e.clone()], cfg).unwrap();
    for _ in 0..3 {
        oe.step(&loss(&e).backward().unwrap(), 0.02).unwrap();
    }
    assert_ne!(
        e.as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        va
    );
    // A state for a different parameter shape is refused, naming the tensor.
    let d = Var::from_vec(vec![0.0f32; 3], 3, &dev).unwrap();
    let mut od = AdamW::new(vec![d], cfg).unwrap();
    let e = od.load_state(&state).unwrap_err();
    assert!(e.to_string().contains("m.0"), "{e}");
}
