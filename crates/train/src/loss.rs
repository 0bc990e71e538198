//! The PPO-clip policy loss with GRPO / Dr. GRPO aggregation, and the optional k3 KL term
//! (docs/study.md, "The policy loss").
//!
//! Per token `t` of response `i` (advantage `A_i` broadcast to every token):
//!
//! ```text
//! ρ_t = exp(logp_new_t - logp_old_t)
//! ℓ_t = max(-A_i·ρ_t, -A_i·clip(ρ_t, 1-ε, 1+ε))
//! ```
//!
//! Aggregation per response, then the mean over the responses of the batch:
//! - GRPO (`masked_mean`): `Σ_t ℓ_t·m_t / Σ_t m_t` (the 1/|o_i| length bias);
//! - Dr. GRPO (`masked_sum` / constant): `Σ_t ℓ_t·m_t / C`, `C` = the generation budget.
//!
//! With `beta > 0` the k3 estimate of KL(new ‖ ref), `exp(d) - d - 1` with `d = logp_ref -
//! logp_new` clamped to [-40, 40] (the paper-era OAT code), is aggregated the same way and added
//! times `beta`.
//!
//! Implementation note: `max(·,·)` is written as a select with a gradient-free mask. Where the
//! clipped term is strictly larger, `clip(ρ)` sits at a bound, so its gradient is 0 and the
//! selected value can be a constant; elsewhere (ties included) the unclipped term and its
//! gradient `-A·ρ` are used, which equals torch's total gradient through `max` at ties.
//! Padding positions have their log-ratio zeroed *before* `exp`, so garbage log-probs in padding
//! cannot turn into `inf · 0 = NaN`.

use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::advantage::AdvantageKind;
use crate::error::{Error, Result};

/// The bound on the KL log-ratio before `exp` (OAT ≥ v0.0.9: clamp to [-40, 40]).
pub const KL_LOG_RATIO_CLAMP: f64 = 40.0;

/// How the per-token losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// GRPO (masked mean per response) or Dr. GRPO (masked sum / `budget`).
    pub kind: AdvantageKind,
    /// PPO clip range ε (upstream default 0.2): ρ is clipped to [1-ε, 1+ε].
    pub clip_eps: f64,
    /// Dr. GRPO's constant `C`, the generation budget in tokens (OAT ≥ `7619b79`:
    /// `generate_max_length`). Unused by GRPO.
    pub budget: usize,
    /// Weight of the k3 KL term against the reference policy; 0 disables it.
    pub beta: f64,
}

impl LossConfig {
    /// The upstream recipe for `kind`: ε = 0.2, no KL, `budget` tokens.
    pub fn new(kind: AdvantageKind, budget: usize) -> LossConfig {
        LossConfig {
            kind,
            clip_eps: 0.2,
            budget,
            beta: 0.0,
        }
    }

    /// Checks ranges; called by [`policy_loss`].
    pub fn validate(&self) -> Result<()> {
        if !(self.clip_eps > 0.0 && self.clip_eps < 1.0) {
            return Err(Error::invalid(
                "clip_eps",
                format!("{} (must be in (0, 1))", self.clip_eps),
            ));
        }
        if self.kind == AdvantageKind::DrGrpo && self.budget == 0 {
            return Err(Error::invalid(
                "budget",
                "Dr. GRPO divides by the generation budget; it must be ≥ 1",
            ));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(Error::invalid(
                "beta",
                format!("{} (must be finite and ≥ 0)", self.beta),
            ));
        }
        Ok(())
    }
}

/// Scalar diagnostics of one loss evaluation (all computed without gradients).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossStats {
    /// The total loss value (policy term + beta × KL term).
    pub loss: f64,
    /// The PPO-clip policy term alone.
    pub pg_loss: f64,
    /// The aggregated k3 KL to the reference (before × beta); `None` when beta = 0.
    pub kl_ref: Option<f64>,
    /// Fraction of response tokens where the clipped term won (its gradient is 0);
    /// `None` when the batch has no response tokens.
    pub clip_frac: Option<f64>,
    /// `0.5 · mean_t (logp_new - logp_old)²` over response tokens (the TRL/OAT estimate of
    /// KL(old ‖ new)); `None` without tokens.
    pub approx_kl: Option<f64>,
    /// Monte-Carlo estimate of the sampling policy's per-token entropy, `mean_t(-logp_old)` over
    /// the sampled tokens (exact in expectation when `logp_old` is scored at the sampling
    /// temperature); `None` without tokens.
    pub entropy: Option<f64>,
    /// Number of response tokens (mask sum).
    pub tokens: usize,
}

/// A differentiable loss and its diagnostics.
#[derive(Debug, Clone)]
pub struct PolicyLoss {
    /// Scalar loss; call `backward()` on it. Gradients flow only into `logp_new`.
    pub loss: Tensor,
    /// Diagnostics for `metrics.jsonl`.
    pub stats: LossStats,
}

/// The GRPO / Dr. GRPO loss of a batch of responses.
///
/// `logp_new` `(B, T)` carries the autograd graph (e.g. `aha_model::Model::score` in train mode);
/// `logp_old` `(B, T)` are the rollout policy's log-probs and `logp_ref` `(B, T)` the frozen
/// reference's (required iff `beta > 0`); both are detached here. `mask` `(B, T)` is 1 on
/// response tokens and 0 on padding; `advantages` has one value per response (see
/// [`crate::group_advantages`]).
pub fn policy_loss(
    cfg: &LossConfig,
    logp_new: &Tensor,
    logp_old: &Tensor,
    logp_ref: Option<&Tensor>,
    mask: &Tensor,
    advantages: &[f64],
) -> Result<PolicyLoss> {
    cfg.validate()?;
    let (b, t) = logp_new.dims2()?;
    for (name, x) in [("logp_old", logp_old), ("mask", mask)]
        .into_iter()
        .chain(logp_ref.map(|r| ("logp_ref", r)))
    {
        if x.dims() != [b, t] {
            return Err(Error::invalid(
                "shape",
                format!("{name} is {:?}, logp_new is [{b}, {t}]", x.dims()),
            ));
        }
    }
    if b == 0 {
        return Err(Error::invalid("batch", "no responses"));
    }
    if advantages.len() != b {
        return Err(Error::invalid(
            "advantages",
            format!("{} advantages for {b} responses", advantages.len()),
        ));
    }
    if let Some((i, a)) = advantages.iter().enumerate().find(|(_, a)| !a.is_finite()) {
        return Err(Error::invalid(
            "advantages",
            format!("advantage {i} is {a} (must be finite)"),
        ));
    }
    if cfg.beta > 0.0 && logp_ref.is_none() {
        return Err(Error::invalid(
            "logp_ref",
            format!("beta = {} needs reference log-probs", cfg.beta),
        ));
    }
    let device = logp_new.device();
    let dtype = logp_new.dtype();
    let mask = mask.detach().to_dtype(dtype)?;
    let old = logp_old.detach().to_dtype(dtype)?;
    let adv: Vec<f32> = advantages.iter().map(|&a| a as f32).collect();
    let adv = Tensor::from_vec(adv, (b, 1), device)?.to_dtype(dtype)?;

    // Log-ratio zeroed on padding, so ρ = 1 there (finite) and the mask removes it below.
    let diff = (logp_new - &old)?.mul(&mask)?;
    let ratio = diff.exp()?;
    let unclipped = ratio.broadcast_mul(&adv)?.neg()?;
    let eps = cfg.clip_eps;
    let clipped = ratio
        .detach()
        .clamp(1.0 - eps, 1.0 + eps)?
        .broadcast_mul(&adv)?
        .neg()?;
    let pick = clipped.gt(&unclipped.detach())?.to_dtype(dtype)?;
    let per_token = (unclipped.mul(&pick.affine(-1.0, 1.0)?)? + clipped.mul(&pick)?)?;
    let lengths = mask.sum(D::Minus1)?; // (B,)
    let pg = aggregate(&per_token, &mask, &lengths, cfg)?;

    let (loss, kl_ref) = match logp_ref {
        Some(r) if cfg.beta > 0.0 => {
            let r = r.detach().to_dtype(dtype)?;
            let d = (r - logp_new)?
                .mul(&mask)?
                .clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)?;
            let k3 = ((d.exp()? - &d)? - 1.0)?;
            let kl = aggregate(&k3, &mask, &lengths, cfg)?;
            let kl_val = kl.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            ((&pg + kl.affine(cfg.beta, 0.0)?)?, Some(kl_val))
        }
        _ => (pg.clone(), None),
    };

    let tokens = mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let per_tok_mean = |x: &Tensor| -> Result<Option<f64>> {
        if tokens == 0.0 {
            return Ok(None);
        }
        let s = x.mul(&mask)?.sum_all()?.to_dtype(DType::F64)?;
        Ok(Some(s.to_scalar::<f64>()? / tokens))
    };
    let diff_d = diff.detach();
    let stats = LossStats {
        loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        pg_loss: pg.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        kl_ref,
        clip_frac: per_tok_mean(&pick)?,
        approx_kl: per_tok_mean(&diff_d.sqr()?)?.map(|v| 0.5 * v),
        entropy: per_tok_mean(&old.neg()?)?,
        tokens: tokens as usize,
    };
    if !stats.loss.is_finite() {
        return Err(Error::NonFinite {
            what: "loss",
            value: stats.loss,
        });
    }
    Ok(PolicyLoss { loss, stats })
}

/// Per-response aggregation (GRPO: masked mean; Dr. GRPO: masked sum / C), then the mean over
/// responses. A response with no tokens contributes 0 (its GRPO denominator is floored at 1,
/// where upstream's masked mean would divide 0 by 0).
fn aggregate(
    per_token: &Tensor,
    mask: &Tensor,
    lengths: &Tensor,
    cfg: &LossConfig,
) -> Result<Tensor> {
    let sums = per_token.mul(mask)?.sum(D::Minus1)?;
    let per_response = match cfg.kind {
        AdvantageKind::Grpo => sums.div(&lengths.maximum(1.0)?)?,
        AdvantageKind::DrGrpo => sums.affine(1.0 / cfg.budget as f64, 0.0)?,
    };
    Ok(per_response.mean_all()?)
}
