//! Sampling behind one trait ([`Sampler`]): the embedded model in this process
//! ([`EmbeddedSampler`], many sequences per forward pass, per-sample seeds) or any
//! OpenAI-compatible server ([`OpenAiSampler`]: vLLM, SGLang, llama.cpp's server,
//! `aha serve-model`). The probe's sweep, the demo and the model server sample through it; the
//! LLM judge's OpenAI backend ([`OpenAiJudge`]) lives here too, beside the other OpenAI client
//! code, so that aha-reflect stays free of HTTP. [`prompt_tokens`] and [`GenerationRecord`] are
//! one prompt's generation as `aha generate` makes and reports it.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

mod embedded;
mod error;
mod judge;
mod record;
mod sampler;

pub use embedded::EmbeddedSampler;
pub use error::{Error, Result};
pub use judge::OpenAiJudge;
pub use record::{GENERATION_SCHEMA_VERSION, GenerationRecord, prompt_tokens};
pub use sampler::{Completion, OpenAiSampler, SampleJob, Sampler, SamplingParams};
