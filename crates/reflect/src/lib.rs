//! Self-reflection detection and superficial-self-reflection (SSR) analysis.
//!
//! Where it sits: responses (from any sampler) come in as text; this crate says whether and where
//! they reflect ([`KeywordDetector`]), builds and parses the study's LLM-judge prompt
//! ([`judge`]; the HTTP call itself lives in `aha-openai`, wired by the CLI), and aggregates
//! per-response results into the study's figures ([`aggregate`]). It is pure: no async, no HTTP,
//! no ML dependencies.
#![deny(missing_docs)]

pub mod aggregate;
mod detect;
mod error;
pub mod judge;
mod keywords;
mod ssr;

pub use detect::{Hit, KeywordDetector, KeywordReport, MatchMode, think_regions};
pub use error::{Error, Result};
pub use keywords::{Keywords, PRESETS};
pub use ssr::{SsrCategory, SsrReport, SsrStep, classify_ssr, classify_with_report};
