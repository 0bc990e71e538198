//! Self-reflection detection and superficial-self-reflection (SSR) analysis.
//!
//! Where it sits: responses (from any sampler) come in as text; this crate says whether and where
//! they reflect ([`KeywordDetector`]), builds and parses the study's LLM-judge prompt
//! ([`judge`]; the HTTP call itself is a [`judge::JudgeBackend`] implemented over `aha-openai` in
//! `aha-probe`), and aggregates
//! per-response results into the study's figures ([`aggregate`]). It is pure: no async, no HTTP,
//! no ML dependencies.
//!
//! - Counting semantics (exactly the study's `sum(text.lower().count(k) for k in keywords)` in
//!   [`MatchMode::Substring`], one overlapping Aho-Corasick pass): see [`detect`].
//! - SSR classification rules (aha's own extension, not upstream): see [`ssr`].
//! - Judge prompt, the study's and the strict reply parse, and the reply cache: see [`judge`].
//! - reflection@k, pass@k (any-of-k and unbiased), maj@k and the tables: see [`aggregate`].
//! - A file of responses analysed line by line, with typed output records (`aha reflect`): see
//!   [`lines`].
#![deny(missing_docs)]

pub mod aggregate;
pub mod detect;
mod error;
pub mod judge;
mod keywords;
pub mod lines;
pub mod ssr;

pub use detect::{Hit, KeywordDetector, KeywordReport, MatchMode, think_regions};
pub use error::{Error, Result};
pub use keywords::{Keywords, PRESET_VERSION, PRESETS};
pub use ssr::{SsrCategory, SsrReport, SsrStep, classify_ssr, classify_with_report};
