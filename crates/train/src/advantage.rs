//! Group-relative advantages (docs/study.md, "Advantages").
//!
//! Responses arrive as consecutive groups of `G` samples of the same prompt (the rollout order;
//! they must never be shuffled apart before this step). Within each group, with `R` the scalar
//! outcome rewards:
//!
//! - [`AdvantageKind::Grpo`]: `A_i = (R_i - mean(R)) / (std(R) + 1e-8)`, `std` the *unbiased*
//!   (N-1) standard deviation, as torch's default `std()` in OAT's `compute_monte_carlo_advantages`;
//! - [`AdvantageKind::DrGrpo`]: `A_i = R_i - mean(R)` (no difficulty normalisation).
//!
//! Edge cases (documented choices, not upstream behaviour where upstream yields NaN):
//! - `G = 1`: the group mean is the reward itself, so every advantage is 0 for both kinds.
//!   Torch's unbiased std of one element is NaN and would poison the loss; we return 0 instead,
//!   which is what the formula's numerator already says (no baseline signal from one sample).
//! - a group whose rewards are all equal gets exactly 0 advantages (no learning signal), also
//!   for GRPO: computing `(r - mean)` in floating point could otherwise leave a ~1e-17 residue
//!   that `/ (0 + 1e-8)` would blow up to ~1e-9.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The epsilon added to the group std in GRPO's advantage (OAT: `1e-8`).
pub const GRPO_STD_EPS: f64 = 1e-8;

/// Which advantage (and, in [`crate::loss`], which aggregation) an algorithm uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum AdvantageKind {
    /// GRPO: `(r - mean) / (std_unbiased + 1e-8)`.
    Grpo,
    /// Dr. GRPO: `r - mean`.
    DrGrpo,
}

impl AdvantageKind {
    /// The name written to `metrics.jsonl` (`"grpo"` / `"dr_grpo"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AdvantageKind::Grpo => "grpo",
            AdvantageKind::DrGrpo => "dr_grpo",
        }
    }
}

/// Advantages for `rewards`, read as consecutive groups of `group_size`.
///
/// Errors when `group_size` is 0, when `rewards.len()` is not a multiple of it, or when a reward
/// is not finite (a NaN reward is a grader bug that must not reach the weights).
pub fn group_advantages(
    rewards: &[f64],
    group_size: usize,
    kind: AdvantageKind,
) -> Result<Vec<f64>> {
    if group_size == 0 {
        return Err(Error::invalid("group_size", "must be ≥ 1"));
    }
    if !rewards.len().is_multiple_of(group_size) {
        return Err(Error::invalid(
            "rewards",
            format!(
                "{} rewards is not a multiple of group size {group_size}",
                rewards.len()
            ),
        ));
    }
    if let Some((i, &r)) = rewards.iter().enumerate().find(|(_, r)| !r.is_finite()) {
        return Err(Error::invalid(
            "rewards",
            format!("reward {i} is {r} (must be finite)"),
        ));
    }
    let mut out = Vec::with_capacity(rewards.len());
    for group in rewards.chunks(group_size) {
        let first = group[0];
        if group.iter().all(|&r| r == first) {
            out.extend(std::iter::repeat_n(0.0, group.len()));
            continue;
        }
        // group.len() ≥ 2 here: a one-element group is always "all equal".
        let n = group.len() as f64;
        let mean = group.iter().sum::<f64>() / n;
        match kind {
            AdvantageKind::DrGrpo => out.extend(group.iter().map(|&r| r - mean)),
            AdvantageKind::Grpo => {
                let var = group.iter().map(|&r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
                let denom = var.sqrt() + GRPO_STD_EPS;
                out.extend(group.iter().map(|&r| (r - mean) / denom));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn grpo_and_dr_grpo_hand_values() {
        // Group 1: [1, 0, 0, 1]: mean 0.5; squared deviations 4 × 0.25 = 1; unbiased var 1/3;
        // std = 0.5773502692; GRPO A = ±0.5 / (0.5773502692 + 1e-8) = ±0.8660253899.
        // Group 2: [1, 0, 0, 0]: mean 0.25; deviations 0.75, -0.25 ×3; sum sq 0.5625 + 3×0.0625
        // = 0.75; var 0.25; std 0.5; GRPO A = 0.75/0.50000001 = 1.49999997, -0.49999999.
        let r = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let g = group_advantages(&r, 4, AdvantageKind::Grpo).unwrap();
        let s = 0.5 / ((1.0f64 / 3.0).sqrt() + 1e-8);
        close(
            &g,
            &[
                s,
                -s,
                -s,
                s,
                0.75 / 0.50000001,
                -0.25 / 0.50000001,
                -0.25 / 0.50000001,
                -0.25 / 0.50000001,
            ],
        );
        assert!((g[0] - 0.8660253899).abs() < 1e-8);
        let d = group_advantages(&r, 4, AdvantageKind::DrGrpo).unwrap();
        close(&d, &[0.5, -0.5, -0.5, 0.5, 0.75, -0.25, -0.25, -0.25]);
    }

    #[test]
    fn groups_are_consecutive_not_interleaved() {
        // [1,1 | 0,0] are two zero-variance groups; an interleaved reading ([1,0],[1,0]) would
        // give non-zero advantages.
        let a = group_advantages(&[1.0, 1.0, 0.0, 0.0], 2, AdvantageKind::DrGrpo).unwrap();
        close(&a, &[0.0; 4]);
    }

    #[test]
    fn single_sample_and_constant_groups_are_zero() {
        for kind in [AdvantageKind::Grpo, AdvantageKind::DrGrpo] {
            close(
                &group_advantages(&[0.7, -1.0, 3.0], 1, kind).unwrap(),
                &[0.0; 3],
            );
            // 0.1 × 3 would not average back exactly to 0.1 in floating point.
            close(
                &group_advantages(&[0.1, 0.1, 0.1], 3, kind).unwrap(),
                &[0.0; 3],
            );
        }
    }

    #[test]
    fn advantages_sum_to_zero_per_group() {
        let r = [1.0, -0.5, -1.0, 1.0, 0.3, 0.2];
        for kind in [AdvantageKind::Grpo, AdvantageKind::DrGrpo] {
            let a = group_advantages(&r, 3, kind).unwrap();
            for g in a.chunks(3) {
                assert!(g.iter().sum::<f64>().abs() < 1e-9);
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(group_advantages(&[1.0, 0.0, 1.0], 2, AdvantageKind::Grpo).is_err());
        assert!(group_advantages(&[1.0], 0, AdvantageKind::Grpo).is_err());
        let e = group_advantages(&[1.0, f64::NAN], 2, AdvantageKind::DrGrpo).unwrap_err();
        assert!(e.to_string().contains("reward 1"), "{e}");
        assert!(
            group_advantages(&[], 4, AdvantageKind::Grpo)
                .unwrap()
                .is_empty()
        );
    }
}
