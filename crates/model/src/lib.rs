//! aha's own autograd-safe candle decoder (Llama/Qwen2/Gemma3): load, sample, score, train.
//!
//! Where it sits: below the trainer and the samplers, above candle. It never reads flags or
//! environment variables; callers pass paths, devices and parameters in.
//!
//! Why not candle-transformers' models: their fused norm/softmax/rope ops have no backward and
//! their KV caches detach the graph, so most weights never get a gradient (docs/candle-notes.md, pitfall 1).
//! This crate's [`Model`] runs one code path for training ([`Mode::Train`], only differentiable
//! ops) and a fused one for sampling ([`Mode::Infer`]).
//!
//! Quantized models run Q8_0, Q4_1 and Q5_0 matrices through aha's own batched kernel (weights
//! repacked at load so each loaded weight vector serves several sequences; Q4_1 and Q5_0 files
//! run as stored, other types are requantized to Q8_0), on AVX-512 VNNI, AVX-VNNI, AVX2 or
//! portable code. The path is a load option ([`LoadOptions::cpu_kernels`], default: the fastest
//! this CPU runs); every packed path gives the same bits, so a seeded run gives the same tokens
//! on any CPU. [`CpuKernels::Candle`] keeps candle's own kernels for comparisons.
//!
//! ```no_run
//! use aha_model::candle_core::Device;
//! use aha_model::candle_nn::{AdamW, Optimizer, ParamsAdamW};
//! use aha_model::{Mode, Model, SamplingParams, WeightKind};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::path::Path::new("SmolLM2-135M-Instruct.Q4_1.gguf");
//! // Sampling: quantized weights, many prompts at once (token ids from aha-tokenizer).
//! let fast = Model::load(path, WeightKind::Quantized, &Device::Cpu)?;
//! let prompts = vec![vec![1, 9690, 198], vec![1, 4093]];
//! let params = SamplingParams { max_new_tokens: 64, temperature: 0.7, seed: 1, ..Default::default() };
//! let completions = fast.generate(&prompts, &params, None, &mut |_, _| {})?;
//!
//! // Training: f32 Vars; score the sampled responses with gradients and step.
//! let policy = Model::load(path, WeightKind::F32, &Device::Cpu)?;
//! let pairs: Vec<(&[u32], &[u32])> =
//!     prompts.iter().zip(&completions).map(|(p, c)| (p.as_slice(), c.tokens.as_slice())).collect();
//! let scores = policy.score(&pairs, 0.7, Mode::Train)?;
//! let loss = (scores.logprobs.sum_all()? / scores.mask.sum_all()?.to_scalar::<f32>()? as f64)?.neg()?;
//! let mut opt = AdamW::new(policy.vars(), ParamsAdamW::default())?;
//! opt.backward_step(&loss)?;
//! policy.save("policy.safetensors".as_ref())?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod attention;
pub mod checkpoint;
pub mod config;
pub mod cpu;
mod custom_op;
mod decode_attn;
mod decoder;
pub mod error;
mod fastmath;
mod fixed_matmul;
mod gated;
pub mod generate;
mod gguf;
mod head;
#[doc(hidden)]
pub use gguf::read_config as read_gguf_config;
mod hugebuf;
pub mod kv_cache;
mod layers;
mod par;
mod qgemm;
mod rmsnorm;
mod rotary;
pub mod sampling;
pub mod score;
mod tiny;

pub use attention::AttentionPath;
pub use checkpoint::AHA_FORMAT;
pub use config::{Activation, Arch, ModelConfig, RopeScaling};
pub use cpu::{CpuKernels, LoadOptions};
pub use decoder::{Model, WeightKind};
pub use error::{Error, Result};
pub use generate::{Completion, Detokenize, FinishReason};
pub use kv_cache::KvCache;
pub use layers::Mode;
pub use sampling::SamplingParams;

/// Tunes the C allocator for tensor workloads; call once at start-up, before heavy work.
///
/// candle allocates a fresh buffer for every op's output. With glibc's defaults, buffers above
/// its adaptive threshold are `mmap`ed and returned on free, and the heap top is trimmed
/// eagerly, so a training step keeps faulting in and zeroing fresh pages (about a sixth of
/// SmolLM2's update step on 2 cores). This fixes the threshold at glibc's maximum (32 MiB) and
/// stops trimming, so freed memory is reused. It changes no results. A no-op elsewhere.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
pub use head::DEFAULT_HEAD_CHUNK_ROWS;
pub use score::{ScoreHead, Scores};

/// Re-export of the tensor library this crate is built on, so callers use the same version.
pub use candle_core;
/// Re-export of candle-nn (optimizers, ops).
pub use candle_nn;
