//! `aha demo`: the whole R1-Zero study end to end on a CPU, in minutes, with no network and no
//! downloaded weights.
//!
//! 1. A micro world ([`world`]): multi-step sums with worked steps and a boxed answer, and a
//!    corpus of worked solutions by an imperfect solver whose reflections are sometimes real
//!    (`W->C`) and sometimes superficial (`W->W`, `C->W`), with a word-level tokenizer
//!    ([`vocab`]).
//! 2. A tiny Llama-family base model pre-trained on the corpus ([`pretrain`], `aha_train::sft`).
//! 3. The epoch-0 probe of the base model (`aha_probe`): pass@k, reflection@k, SSR.
//! 4. GRPO and Dr. GRPO from the same base ([`rl`]), then the same probe of both RL models.
//! 5. The report (`aha_report`) and a summary table ([`pipeline::DemoSummary`]).
//!
//! Where it sits: above every other library crate; `aha demo` only parses flags and prints.
#![deny(missing_docs)]

pub mod config;
mod error;
pub mod grade;
pub mod pipeline;
pub mod pretrain;
pub mod rl;
pub mod vocab;
pub mod world;

pub use config::DemoConfig;
pub use error::{Error, Result};
pub use pipeline::{DemoSummary, RunOptions, run};
