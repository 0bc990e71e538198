//! Tokenizers built from GGUF metadata (BPE for SmolLM2/Qwen, SentencePiece for Gemma) or tokenizer.json, and chat templates.
#![deny(missing_docs)]
