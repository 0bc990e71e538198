//! AdamW and global grad-norm clipping.
//!
//! Hand-written rather than `candle_nn::AdamW` because that one builds about ten full-size
//! temporaries per parameter per step and takes 14–27 s at 268 M parameters (docs/candle-notes.md,
//! "AdamW cost"). On the CPU this update is one fused pass over the parameter, its gradient and
//! its moments (held as plain `Vec<f32>`); on other devices it falls back to tensor ops.
//!
//! The update is PyTorch's `torch.optim.AdamW` (decoupled weight decay, bias correction), per
//! parameter with step `t` counted per parameter:
//!
//! ```text
//! θ ← θ·(1 - lr·wd)
//! m ← β1·m + (1-β1)·g            v ← β2·v + (1-β2)·g²
//! θ ← θ - lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + eps)
//! ```

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// AdamW hyper-parameters (the learning rate is passed per step, from a schedule).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// First-moment decay (OAT / DeepSpeed FusedAdam: 0.9).
    pub beta1: f64,
    /// Second-moment decay (OAT: 0.95).
    pub beta2: f64,
    /// Added to √v̂ (torch default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay (OAT: 0).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// The study's recipe: betas (0.9, 0.95), eps 1e-8, weight decay 0.
    fn default() -> AdamWConfig {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    /// Checks ranges: betas in [0, 1), eps > 0, weight decay ≥ 0.
    pub fn validate(&self) -> Result<()> {
        for (what, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::invalid(what, format!("{b} (must be in [0, 1))")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::invalid("eps", format!("{} (must be > 0)", self.eps)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                format!("{} (must be ≥ 0)", self.weight_decay),
            ));
        }
        Ok(())
    }
}

/// Adam moments of one parameter.
#[derive(Debug)]
enum Moments {
    /// CPU: plain buffers for the fused loop.
    Host { m: Vec<f32>, v: Vec<f32> },
    /// Other devices: tensors on the parameter's device.
    Device { m: Tensor, v: Tensor },
}

#[derive(Debug)]
struct ParamState {
    var: Var,
    /// Optimizer steps this parameter has taken (it skips steps where it has no gradient).
    step: u64,
    moments: Moments,
}

/// AdamW over a fixed list of f32 `Var`s.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<ParamState>,
}

impl AdamW {
    /// An optimizer for `vars` (all f32) with zeroed moments.
    pub fn new(vars: Vec<Var>, cfg: AdamWConfig) -> Result<AdamW> {
        cfg.validate()?;
        Self::build(vars, cfg, true)
    }

    fn build(vars: Vec<Var>, cfg: AdamWConfig, allow_host: bool) -> Result<AdamW> {
        let mut params = Vec::with_capacity(vars.len());
        for (i, var) in vars.into_iter().enumerate() {
            if var.dtype() != DType::F32 {
                return Err(Error::invalid(
                    "vars",
                    format!(
                        "parameter {i} is {:?}; AdamW trains f32 weights",
                        var.dtype()
                    ),
                ));
            }
            let moments = if allow_host && var.device().is_cpu() {
                let n = var.elem_count();
                Moments::Host {
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            } else {
                Moments::Device {
                    m: var.zeros_like()?,
                    v: var.zeros_like()?,
                }
            };
            params.push(ParamState {
                var,
                step: 0,
                moments,
            });
        }
        Ok(AdamW { cfg, params })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// The optimizer state as named tensors, for checkpoints: `m.{i}` and `v.{i}` (the moments
    /// of parameter `i`, f32, its shape) and `steps` (i64, one count per parameter).
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for (i, p) in self.params.iter().enumerate() {
            let (m, v) = match &p.moments {
                Moments::Host { m, v } => {
                    let shape = p.var.shape().clone();
                    (
                        Tensor::from_slice(m, shape.clone(), p.var.device())?,
                        Tensor::from_slice(v, shape, p.var.device())?,
                    )
                }
                Moments::Device { m, v } => (m.clone(), v.clone()),
            };
            out.push((format!("m.{i}"), m));
            out.push((format!("v.{i}"), v));
        }
        let steps: Vec<i64> = self.params.iter().map(|p| p.step as i64).collect();
        let n = steps.len();
        let device = self
            .params
            .first()
            .map(|p| p.var.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        out.push(("steps".to_string(), Tensor::from_vec(steps, n, &device)?));
        Ok(out)
    }

    /// Restores a state written by [`AdamW::state`] for the same parameter list, so that a
    /// resumed run continues with bit-identical updates.
    pub fn load_state(&mut self, state: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        let get = |key: &str| {
            state
                .get(key)
                .ok_or_else(|| Error::invalid("optimizer state", format!("missing tensor `{key}`")))
        };
        let steps = get("steps")?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
        if steps.len() != self.params.len() {
            return Err(Error::invalid(
                "optimizer state",
                format!(
                    "`steps` has {} entries for {} parameters",
                    steps.len(),
                    self.params.len()
                ),
            ));
        }
        // Validate everything before changing anything.
        let mut loaded = Vec::with_capacity(self.params.len());
        for (i, p) in self.params.iter().enumerate() {
            let mut pair = Vec::with_capacity(2);
            for key in [format!("m.{i}"), format!("v.{i}")] {
                let t = get(&key)?;
                if t.shape() != p.var.shape() {
                    return Err(Error::invalid(
                        "optimizer state",
                        format!(
                            "`{key}` is {:?}, parameter {i} is {:?}",
                            t.dims(),
                            p.var.dims()
                        ),
                    ));
                }
                pair.push(t.to_dtype(DType::F32)?.to_device(p.var.device())?);
            }
            if steps[i] < 0 {
                return Err(Error::invalid(
                    "optimizer state",
                    format!("negative step count {} for parameter {i}", steps[i]),
                ));
            }
            loaded.push(pair);
        }
        for ((p, mut pair), &step) in self.params.iter_mut().zip(loaded).zip(&steps) {
            let (v, m) = (pair.remove(1), pair.remove(0));
            p.step = step as u64;
            p.moments = match p.moments {
                Moments::Host { .. } => Moments::Host {
                    m: m.flatten_all()?.to_vec1::<f32>()?,
                    v: v.flatten_all()?.to_vec1::<f32>()?,
                },
                Moments::Device { .. } => Moments::Device { m, v },
            };
        }
        Ok(())
    }

    /// Applies one update with learning rate `lr` to every parameter that has a gradient in
    /// `grads` (parameters without one are left untouched, as in torch).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::invalid("lr", format!("{lr} (must be finite, ≥ 0)")));
        }
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.cfg;
        for p in &mut self.params {
            let Some(grad) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            p.step += 1;
            let t = p.step as i32;
            let bc1 = 1.0 - beta1.powi(t);
            let bc2 = 1.0 - beta2.powi(t);
            let decay = 1.0 - lr * weight_decay;
            match &mut p.moments {
                Moments::Host { m, v } => {
                    let g = grad.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                    let mut theta = p.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                    // Scalars in f32 for the loop; the bias corrections are folded in once.
                    let (b1, b2) = (beta1 as f32, beta2 as f32);
                    let step_size = (lr / bc1) as f32;
                    let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
                    let (eps, decay) = (eps as f32, decay as f32);
                    for (((th, &gi), mi), vi) in
                        theta.iter_mut().zip(&g).zip(m.iter_mut()).zip(v.iter_mut())
                    {
                        *mi = b1 * *mi + (1.0 - b1) * gi;
                        *vi = b2 * *vi + (1.0 - b2) * gi * gi;
                        let denom = vi.sqrt() * inv_sqrt_bc2 + eps;
                        *th = *th * decay - step_size * *mi / denom;
                    }
                    let shape = p.var.shape().clone();
                    p.var
                        .set(&Tensor::from_vec(theta, shape, p.var.device())?)?;
                }
                Moments::Device { m, v } => {
                    let g = grad.to_dtype(DType::F32)?;
                    *m = ((&*m * beta1)? + (&g * (1.0 - beta1))?)?;
                    *v = ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
                    let denom = ((&*v / bc2)?.sqrt()? + eps)?;
                    let update = ((&*m / bc1)? / denom)?;
                    let theta = ((p.var.as_tensor() * decay)? - (update * lr)?)?;
                    p.var.set(&theta)?;
                }
            }
        }
        Ok(())
    }
}

/// Global L2 norm of the gradients of `vars` (missing gradients count as 0), then, if it exceeds
/// `max_norm`, every gradient is scaled by `max_norm / (norm + 1e-6)` (torch's
/// `clip_grad_norm_`). Returns the norm *before* clipping, the value logged as `grad_norm`.
///
/// A non-finite norm is an error: applying such a step would destroy the weights.
pub fn clip_grad_norm(vars: &[Var], grads: &mut GradStore, max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::invalid(
            "max_norm",
            format!("{max_norm} (must be finite, > 0)"),
        ));
    }
    let mut sum_sq = 0.0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            sum_sq += g
                .to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sum_sq.sqrt();
    if !norm.is_finite() {
        return Err(Error::NonFinite {
            what: "gradient norm",
            value: norm,
        });
    }
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let scaled = (g * coef)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// One step by hand: θ = [1, -2], g = [0.5, -0.1], lr 0.1, β (0.9, 0.95), eps 1e-8, wd 0.1.
    /// decay: θ·(1 - 0.01) = [0.99, -1.98].
    /// m = 0.1·g = [0.05, -0.01]; m̂ = m / 0.1 = g.
    /// v = 0.05·g² = [0.0125, 0.0005]; v̂ = v / 0.05 = g² → √v̂ = |g|.
    /// update = lr·g/(|g| + 1e-8) ≈ lr·sign(g) = [0.1, -0.1] (to ~2e-8 relative).
    /// θ = [0.89, -1.88].
    /// Step 2 with the same g: m = 0.9·0.05 + 0.05 = 0.095 → m̂ = 0.095/0.19 = 0.5 = g again;
    /// v likewise gives √v̂ = |g|, so θ = [0.89·0.99 - 0.1, -1.88·0.99 + 0.1] = [0.7811, -1.7612].
    fn check(allow_host: bool) {
        let dev = Device::Cpu;
        let var = Var::from_vec(vec![1.0f32, -2.0], 2, &dev).unwrap();
        let cfg = AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::build(vec![var.clone()], cfg, allow_host).unwrap();
        assert_eq!(
            matches!(opt.params[0].moments, Moments::Host { .. }),
            allow_host
        );
        let g = Tensor::new(&[0.5f32, -0.1], &dev).unwrap();
        // A loss whose gradient is g: Σ θ·g.
        let grads = (var.as_tensor() * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        opt.step(&grads, 0.1).unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (got[0] - 0.89).abs() < 1e-6 && (got[1] + 1.88).abs() < 1e-6,
            "{got:?}"
        );
        let grads = (var.as_tensor() * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        opt.step(&grads, 0.1).unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (got[0] - 0.7811).abs() < 1e-6 && (got[1] + 1.7612).abs() < 1e-6,
            "{got:?}"
        );
    }

    #[test]
    fn adamw_hand_steps_fused() {
        check(true);
    }

    #[test]
    fn adamw_hand_steps_tensor_path() {
        check(false);
    }

    #[test]
    fn fused_and_tensor_paths_agree_on_random_steps() {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..64)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.1)
            .collect();
        let a = Var::from_vec(init.clone(), (8, 8), &dev).unwrap();
        let b = Var::from_vec(init, (8, 8), &dev).unwrap();
        let cfg = AdamWConfig {
            weight_decay: 0.01,
            ..AdamWConfig::default()
        };
        let mut oa = AdamW::build(vec![a.clone()], cfg, true).unwrap();
        let mut ob = AdamW::build(vec![b.clone()], cfg, false).unwrap();
        for k in 0..5 {
            // Loss Σ sin(θ)·θ gives a parameter-dependent gradient.
            let ga = (a.as_tensor().sin().unwrap() * a.as_tensor()).unwrap();
            let ga = ga.sum_all().unwrap().backward().unwrap();
            let gb = (b.as_tensor().sin().unwrap() * b.as_tensor()).unwrap();
            let gb = gb.sum_all().unwrap().backward().unwrap();
            oa.step(&ga, 0.01 * (k + 1) as f64).unwrap();
            ob.step(&gb, 0.01 * (k + 1) as f64).unwrap();
        }
        let va = a
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let vb = b
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (x, y) in va.iter().zip(&vb) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn clip_scales_to_max_norm() {
        // grads [3, 4] and [12]: norm √(9 + 16 + 144) = 13; max 6.5 → coef 6.5/(13 + 1e-6).
        let dev = Device::Cpu;
        let a = Var::from_vec(vec![0.0f32, 0.0], 2, &dev).unwrap();
        let b = Var::from_vec(vec![0.0f32], 1, &dev).unwrap();
        let ga = Tensor::new(&[3.0f32, 4.0], &dev).unwrap();
        let gb = Tensor::new(&[12.0f32], &dev).unwrap();
        let loss = ((a.as_tensor() * &ga).unwrap().sum_all().unwrap()
            + (b.as_tensor() * &gb).unwrap().sum_all().unwrap())
        .unwrap();
        let mut grads = loss.backward().unwrap();
        let vars = [a.clone(), b.clone()];
        let norm = clip_grad_norm(&vars, &mut grads, 6.5).unwrap();
        assert!((norm - 13.0).abs() < 1e-9);
        let ca = grads.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        let cb = grads.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert!(
            (ca[0] - 1.5).abs() < 1e-5 && (ca[1] - 2.0).abs() < 1e-5 && (cb[0] - 6.0).abs() < 1e-5
        );
        // Under the limit: untouched, and the norm is still reported.
        let norm = clip_grad_norm(&vars, &mut grads, 100.0).unwrap();
        assert!((norm - 6.5).abs() < 1e-4);
        let cb2 = grads.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(cb, cb2);
        assert!(clip_grad_norm(&vars, &mut grads, 0.0).is_err());
    }

    #[test]
    fn non_finite_norm_is_an_error() {
        let dev = Device::Cpu;
        let a = Var::from_vec(vec![0.0f32], 1, &dev).unwrap();
        let g = Tensor::new(&[f32::NAN], &dev).unwrap();
        let mut grads = (a.as_tensor() * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let e = clip_grad_norm(&[a], &mut grads, 1.0).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    }

    #[test]
    fn rejects_bad_config() {
        let bad = AdamWConfig {
            beta2: 1.0,
            ..AdamWConfig::default()
        };
        assert!(AdamW::new(vec![], bad).is_err());
    }
}
