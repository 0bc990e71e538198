//! The lines a run writes: `metrics.jsonl`, `samples.jsonl` and the checkpoint run state.

use aha_model::FinishReason;
use serde::{Deserialize, Serialize};

use crate::task::{EvalMetrics, TaskMetrics};
use crate::trainer::StepMetrics;

/// One `metrics.jsonl` line (docs/pipeline.md): the trainer's fields, the task's, and `eval` on
/// evaluation steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    /// The run's name.
    pub run: String,
    /// Step, reward, length, loss and optimizer fields.
    #[serde(flatten)]
    pub trainer: StepMetrics,
    /// Accuracy, outcome composition, lengths by outcome, reflection, SSR.
    #[serde(flatten)]
    pub task: TaskMetrics,
    /// Greedy eval before this step's update (eval steps only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eval: Option<EvalMetrics>,
}

/// One `samples.jsonl` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// Always [`super::RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Policy step.
    pub step: usize,
    /// The problem's id.
    pub question_id: String,
    /// Index of the sample within its group.
    pub sample_index: usize,
    /// The response text (stop rule applied, special tokens left out).
    pub response: String,
    /// Reward.
    pub reward: f64,
    /// Group advantage.
    pub advantage: f64,
    /// Verdict (`correct`, `incorrect`, `no_answer`, `gold_unparseable`).
    pub verdict: String,
    /// Extracted answer.
    pub extracted: Option<String>,
    /// `stop` or `length`.
    pub finish_reason: FinishReason,
    /// Response tokens.
    pub num_tokens: usize,
    /// Reflection keyword occurrences.
    pub reflection_count: usize,
    /// SSR category (math golds).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ssr: Option<String>,
}

/// The run state stored in a checkpoint besides the trainer's (`run_state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Always [`super::RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Policy steps completed.
    pub step: usize,
    /// Prompts consumed so far (`step × prompts_per_step`): the position in the prompt order.
    pub prompt_cursor: usize,
    /// The seed of the prompt order and sampling.
    pub seed: u64,
}
