//! The epoch-0 probe of the study: do base models already reflect before any RL?
//!
//! Where it sits: the `aha probe` subcommand loads a dataset and templates (`aha-data`), builds a
//! sampler (`aha-sample`: an OpenAI-compatible server, or the model in-process), and calls
//! [`run_sweep`] then [`analyse`]. Grading uses `aha-verify`, reflection analysis, the judge
//! runner and aggregation `aha-reflect`.
//!
//! A run directory holds:
//! - `config.json`: the settings that decide which samples are drawn ([`ProbeConfig`]); a rerun
//!   with other settings is refused, naming the differing fields;
//! - `responses.jsonl`: one line per sample ([`ResponseLine`]), append-only and fsynced per
//!   batch; a rerun skips finished samples and cuts a torn last line, so a killed run continues
//!   with no duplicate and no loss. Seeds are derived per sample ([`sample_seed`]), so a resumed
//!   seeded run draws what an uninterrupted one would have;
//! - `graded.jsonl` and `summary.json` ([`ProbeSummary`]), rewritten atomically by [`analyse`].
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

mod analyse;
mod error;
mod store;
mod sweep;

pub use analyse::{
    GRADED_SCHEMA_VERSION, JudgeSettings, LengthRow, PROBE_SUMMARY_SCHEMA_VERSION, ProbeSummary,
    TemplateSummary, analyse,
};
pub use error::{Error, Result};
pub use store::{
    CONFIG_SCHEMA_VERSION, ProbeConfig, RESPONSES_SCHEMA_VERSION, ResponseLine, ResponseWriter,
    SampleKey, check_or_write_config, read_responses, recover_responses,
};
pub use sweep::{SweepOptions, SweepReport, run_sweep, sample_seed};
