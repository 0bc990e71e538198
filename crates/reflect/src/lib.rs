//! Self-reflection detection (keywords, LLM judge prompt) and superficial-self-reflection analysis.
#![deny(missing_docs)]
