//! GRPO / Dr. GRPO training maths for aha (study-spec §4.3 and §5).
//!
//! Where it sits: rollouts (any sampler) produce per-response scalar rewards and per-token
//! log-probs; this crate turns rewards into group advantages ([`advantage`]), log-probs into a
//! differentiable PPO-clip loss with the GRPO or Dr. GRPO aggregation ([`loss`]), and applies
//! the gradients with AdamW, global grad-norm clipping ([`optim`]) and a learning-rate schedule
//! ([`schedule`]). [`trainer`] runs the policy-iteration loop over an `aha_model::Model`.
#![deny(missing_docs)]

pub mod advantage;
mod error;
pub mod loss;
pub mod optim;
pub mod schedule;
pub mod trainer;

pub use advantage::{AdvantageKind, GRPO_STD_EPS, group_advantages};
pub use error::{Error, Result};
pub use loss::{LossConfig, LossStats, PolicyLoss, policy_loss};
pub use optim::{AdamW, AdamWConfig, clip_grad_norm};
pub use schedule::LrSchedule;
pub use trainer::{
    METRICS_SCHEMA_VERSION, Rollout, StepMetrics, StepOutput, Trainer, TrainerConfig, TrainerState,
    append_jsonl,
};
