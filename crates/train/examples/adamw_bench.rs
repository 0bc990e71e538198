//! Seconds per AdamW step: aha-train's fused CPU update vs `candle_nn::AdamW`, same parameters,
//! same gradients, same run (timings on a shared machine are noisy; compare the ratio).
//!
//! `cargo run --release -p aha-train --example adamw_bench -- [params_millions] [steps]`

use std::time::Instant;

use aha_train::{AdamW, AdamWConfig};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let millions: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5.0);
    let steps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let dev = Device::Cpu;
    // A few matrices of 1M elements each, like a model's weight list.
    let n_mats = (millions.ceil() as usize).max(1);
    let make = || -> candle_core::Result<Vec<Var>> {
        (0..n_mats)
            .map(|i| {
                Var::from_tensor(
                    &Tensor::randn(0f32, 0.02, (1000, 1000), &dev)?.affine(1.0, i as f64)?,
                )
            })
            .collect()
    };
    let ours = make()?;
    let peer = make()?;
    let grads_for = |vars: &[Var]| -> candle_core::Result<candle_core::backprop::GradStore> {
        let mut loss = Tensor::zeros((), DType::F32, &dev)?;
        for v in vars {
            loss = (loss + v.as_tensor().sqr()?.sum_all()?)?;
        }
        loss.backward()
    };
    let g_ours = grads_for(&ours)?;
    let g_peer = grads_for(&peer)?;
    let cfg = AdamWConfig::default();
    let mut a = AdamW::new(ours.clone(), cfg)?;
    let mut b = candle_nn::AdamW::new(
        peer.clone(),
        candle_nn::ParamsAdamW {
            lr: 1e-3,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
        },
    )?;
    let (mut t_ours, mut t_peer) = (0.0, 0.0);
    for _ in 0..steps {
        let t = Instant::now();
        a.step(&g_ours, 1e-3)?;
        t_ours += t.elapsed().as_secs_f64();
        let t = Instant::now();
        b.step(&g_peer)?;
        t_peer += t.elapsed().as_secs_f64();
    }
    let (t_ours, t_peer) = (t_ours / steps as f64, t_peer / steps as f64);
    println!(
        "params {}M, {steps} steps: aha-train AdamW {:.4} s/step, candle_nn AdamW {:.4} s/step, ratio candle/aha {:.2}x",
        n_mats,
        t_ours,
        t_peer,
        t_peer / t_ours
    );
    Ok(())
}
