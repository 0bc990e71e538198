//! Learning-rate schedules: constant or cosine decay to a floor, both after a linear warm-up.
//!
//! Conventions follow Hugging Face `transformers` (`get_constant_schedule_with_warmup`,
//! `get_cosine_with_min_lr_schedule_with_warmup`), which OAT uses: during warm-up
//! `lr·s/W` for step `s < W` (so step 0 has lr 0 when `W > 0`); the cosine part then runs over
//! `total - W` steps from `lr` down to `min_lr_ratio·lr` and stays there after `total`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A learning-rate schedule over optimizer steps (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// `lr` after `warmup` linear warm-up steps (the paper's recipe: constant, no warm-up).
    Constant {
        /// Peak learning rate.
        lr: f64,
        /// Warm-up steps.
        warmup: usize,
    },
    /// Cosine decay from `lr` to `min_lr_ratio · lr` at step `total` (OAT's
    /// `cosine_with_min_lr` default uses ratio 0.1).
    Cosine {
        /// Peak learning rate.
        lr: f64,
        /// Warm-up steps.
        warmup: usize,
        /// Total optimizer steps of the run.
        total: usize,
        /// Final lr as a fraction of `lr`, in [0, 1].
        min_lr_ratio: f64,
    },
}

impl LrSchedule {
    /// Checks ranges: `lr` finite and ≥ 0, `warmup ≤ total`, ratio in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let lr = match *self {
            LrSchedule::Constant { lr, .. } => lr,
            LrSchedule::Cosine {
                lr,
                warmup,
                total,
                min_lr_ratio,
            } => {
                if warmup > total {
                    return Err(Error::invalid(
                        "schedule",
                        format!("warmup {warmup} > total {total} steps"),
                    ));
                }
                if !(0.0..=1.0).contains(&min_lr_ratio) {
                    return Err(Error::invalid(
                        "min_lr_ratio",
                        format!("{min_lr_ratio} (must be in [0, 1])"),
                    ));
                }
                lr
            }
        };
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::invalid("lr", format!("{lr} (must be finite, ≥ 0)")));
        }
        Ok(())
    }

    /// The learning rate at optimizer step `step`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let (lr, warmup) = match *self {
            LrSchedule::Constant { lr, warmup } | LrSchedule::Cosine { lr, warmup, .. } => {
                (lr, warmup)
            }
        };
        if step < warmup {
            return lr * step as f64 / warmup as f64;
        }
        match *self {
            LrSchedule::Constant { .. } => lr,
            LrSchedule::Cosine {
                total,
                min_lr_ratio,
                ..
            } => {
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-15, "{a} vs {b}");
    }

    #[test]
    fn constant_with_warmup() {
        let s = LrSchedule::Constant {
            lr: 1e-3,
            warmup: 4,
        };
        s.validate().unwrap();
        close(s.lr_at(0), 0.0);
        close(s.lr_at(1), 2.5e-4);
        close(s.lr_at(3), 7.5e-4);
        close(s.lr_at(4), 1e-3);
        close(s.lr_at(1000), 1e-3);
        close(
            LrSchedule::Constant {
                lr: 1e-6,
                warmup: 0,
            }
            .lr_at(0),
            1e-6,
        );
    }

    #[test]
    fn cosine_hand_values() {
        // warm-up 2, then cosine over 10 - 2 = 8 steps from 1.0 to 0.1.
        let s = LrSchedule::Cosine {
            lr: 1.0,
            warmup: 2,
            total: 10,
            min_lr_ratio: 0.1,
        };
        s.validate().unwrap();
        close(s.lr_at(1), 0.5);
        close(s.lr_at(2), 1.0);
        // progress 0.5: cos(π/2) = 0 → 0.1 + 0.9·0.5 = 0.55
        assert!((s.lr_at(6) - 0.55).abs() < 1e-12);
        // progress 0.25: 0.5(1 + √2/2) = 0.8535533906 → 0.1 + 0.9·0.8535533906 = 0.8681980515
        assert!((s.lr_at(4) - 0.868_198_051_5).abs() < 1e-9);
        assert!((s.lr_at(10) - 0.1).abs() < 1e-12);
        assert!((s.lr_at(50) - 0.1).abs() < 1e-12);
        // monotone non-increasing after warm-up
        for k in 2..12 {
            assert!(s.lr_at(k + 1) <= s.lr_at(k) + 1e-15);
        }
    }

    #[test]
    fn invalid_schedules() {
        let bad = LrSchedule::Cosine {
            lr: 1.0,
            warmup: 5,
            total: 4,
            min_lr_ratio: 0.1,
        };
        assert!(bad.validate().is_err());
        let bad = LrSchedule::Cosine {
            lr: 1.0,
            warmup: 0,
            total: 4,
            min_lr_ratio: 1.5,
        };
        assert!(bad.validate().is_err());
        assert!(
            LrSchedule::Constant {
                lr: f64::NAN,
                warmup: 0
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn serde_round_trip() {
        let s = LrSchedule::Cosine {
            lr: 1e-6,
            warmup: 0,
            total: 100,
            min_lr_ratio: 0.1,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"kind\":\"cosine\""), "{j}");
        assert_eq!(serde_json::from_str::<LrSchedule>(&j).unwrap(), s);
    }
}
