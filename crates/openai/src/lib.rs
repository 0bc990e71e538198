//! A small synchronous client for OpenAI-compatible `/v1/chat/completions` and
//! `/v1/completions` endpoints (OpenAI, vLLM, SGLang, llama.cpp's server, …).
//!
//! Where it sits: used by the `aha` CLI for the LLM judge of `aha reflect` and for sampling from
//! remote models. Callers stay synchronous: the [`Client`] owns a tokio runtime and runs a
//! batch of requests concurrently inside one blocking call ([`Client::chat_many`]), bounded by
//! [`ClientConfig::concurrency`]. Every request has a timeout; transport errors, timeouts, 408,
//! 429 and 5xx answers are retried with exponential backoff (honouring `Retry-After`); other
//! statuses fail at once with the server's message.
//!
//! Do not call the blocking methods from inside an async runtime (tokio forbids nested
//! `block_on`).
//!
//! ```no_run
//! use aha_openai::{ChatMessage, ChatRequest, Client, ClientConfig, Sampling};
//! let mut cfg = ClientConfig::new("http://127.0.0.1:8000/v1");
//! cfg.api_key = std::env::var("OPENAI_API_KEY").ok();
//! let client = Client::new(cfg)?;
//! let reqs: Vec<ChatRequest> = ["1+1?", "2+2?"]
//!     .iter()
//!     .map(|q| ChatRequest {
//!         model: "gpt-4o-mini-2024-07-18".into(),
//!         messages: vec![ChatMessage::user(*q)],
//!         sampling: Sampling { temperature: Some(0.0), max_tokens: Some(300), ..Default::default() },
//!     })
//!     .collect();
//! for r in client.chat_many(&reqs, |i, _| eprintln!("request {i} done")) {
//!     println!("{}", r?.first_text());
//! }
//! # Ok::<(), aha_openai::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

mod client;
mod error;
mod types;

pub use client::{Client, ClientConfig};
pub use error::{Error, Result};
pub use types::{
    ChatChoice, ChatMessage, ChatRequest, ChatResponse, CompletionChoice, CompletionRequest,
    CompletionResponse, Sampling, Usage,
};
