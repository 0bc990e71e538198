//! `aha-analyse`: the study's training-dynamics analysis of any R1-Zero-like RL run.
//!
//! Where it sits: an RL engine (verl, TRL, OpenRLHF, oat, or `aha train`) has written its
//! rollouts; [`input`] reads them (verl's `rollout_data_dir`, aha's rollout directories written by
//! the Python package's recorders, generic JSONL), [`analyse()`] re-grades every sample with
//! `aha_verify::grade`, counts reflection keywords and classifies SSR with aha-reflect, and
//! folds them per step with the task-metric definitions `aha train` uses ([`metrics`]), streaming
//! and in parallel; [`claims()`] turns the per-step curves into the study's three claims.
//!
//! Pure: no async runtime, network or ML framework; token counts come from the input or from a
//! counter the caller passes in.
#![deny(missing_docs)]

pub mod analyse;
#[cfg(feature = "clap")]
pub mod args;
pub mod claims;
mod error;
pub mod input;
pub mod metrics;

pub use analyse::{
    Analysis, AnswerChoice, Measures, MetricsLine, NoProgress, Progress, Settings, Skipped,
    Summary, TaskChoice, TokenCounter, analyse,
};
pub use claims::{ClaimPoint, Claims, claims, ema, pearson};
pub use error::{Error, Result};
pub use input::{Discovered, Format, InputFile, ROLLOUT_SCHEMA_VERSION, Record, discover};
pub use metrics::{
    EvalMetrics, Graded, SSR_CATEGORIES, TaskAccumulator, TaskMetrics, eval_metrics, task_metrics,
};
