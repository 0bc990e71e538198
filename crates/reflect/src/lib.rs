//! Self-reflection detection and superficial-self-reflection (SSR) analysis.
//!
//! Where it sits: responses (from any sampler) come in as text; this crate says whether and where
//! they reflect ([`KeywordDetector`]), builds and parses the study's LLM-judge prompt
//! ([`judge`]; the HTTP call itself lives in `aha-openai`, wired by the CLI), and aggregates
//! per-response results into the study's figures ([`aggregate`]). It is pure: no async, no HTTP,
//! no ML dependencies.
//!
//! - Counting semantics (exactly the study's `sum(text.lower().count(k) for k in keywords)` in
//!   [`MatchMode::Substring`], one overlapping Aho-Corasick pass): see [`detect`].
//! - SSR classification rules (aha's own extension, not upstream): see [`ssr`].
//! - Judge prompt, the study's and the strict reply parse, and the reply cache: see [`judge`].
//! - reflection@k, pass@k (any-of-k and unbiased), maj@k and the tables: see [`aggregate`].
#![deny(missing_docs)]

pub mod aggregate;
pub mod detect;
mod error;
pub mod judge;
mod keywords;
pub mod ssr;

pub use detect::{Hit, KeywordDetector, KeywordReport, MatchMode, think_regions};
pub use error::{Error, Result};
pub use keywords::{Keywords, PRESET_VERSION, PRESETS};
pub use ssr::{SsrCategory, SsrReport, SsrStep, classify_ssr, classify_with_report};
