//! GRPO / Dr. GRPO training maths for aha (docs/study.md, "Advantages" and "The policy loss").
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
pub mod run;
pub mod schedule;
pub mod sft;
#[cfg(feature = "clap")]
pub mod sft_args;
pub mod task;
pub mod trainer;

pub use advantage::{AdvantageKind, GRPO_STD_EPS, group_advantages};
pub use error::{Error, Result};
pub use loss::{LossConfig, LossStats, PolicyLoss, policy_loss};
pub use optim::{AdamW, AdamWConfig, clip_grad_norm};
pub use run::{
    ConfigLayers, EvalConfig, LossSettings, MetricsLine, ProgressUpdate, ReflectionConfig,
    RunConfig, RunEvent, RunInputs, RunOverrides, RunState, RunSummary, SampleLine, SamplesConfig,
    SamplingConfig, ScheduleKind, prompt_order, run,
};
pub use schedule::LrSchedule;
pub use sft::{
    SFT_SCHEMA_VERSION, SftConfig, SftExample, SftRunConfig, SftStepMetrics, SftTrainer,
    TraceFields, ensure_new_dir, epoch_batches, eval_loss, read_examples, sft, ship_tokenizer,
};
pub use task::{
    EvalMetrics, Graded, Grader, RewardConfig, RewardKind, TaskMetrics, eval_metrics, task_metrics,
};
pub use trainer::{
    Learned, METRICS_SCHEMA_VERSION, Rollout, StepMetrics, StepOutput, Trainer, TrainerConfig,
    TrainerState, append_jsonl,
};
