//! aha's own autograd-safe candle decoder (Llama/Qwen2/Gemma3): load, sample, score, train.
#![deny(missing_docs)]
