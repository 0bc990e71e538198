//! One module per subcommand.

pub mod demo;
pub mod generate;
pub mod probe;
pub mod reflect;
pub mod report;
pub mod serve;
pub mod serve_reward;
pub mod sft;
pub mod train;
pub mod verify;

use std::path::PathBuf;

/// Keyword matching mode (`--match`) of `aha reflect` and `aha train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Match {
    /// The study's rule: lower-cased substrings, Python `str.count` semantics.
    Substring,
    /// Word boundaries (fewer false positives; not comparable with published numbers).
    Word,
}

impl From<Match> for aha_reflect::MatchMode {
    fn from(m: Match) -> Self {
        match m {
            Match::Substring => aha_reflect::MatchMode::Substring,
            Match::Word => aha_reflect::MatchMode::Word,
        }
    }
}

/// The dataset flags `aha probe` and `aha train` share.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Problems: JSON, JSONL, Parquet, Arrow IPC file or `save_to_disk` directory.
    #[arg(long)]
    pub data: PathBuf,
    /// Split of a `save_to_disk` DatasetDict.
    #[arg(long)]
    pub split: Option<String>,
    /// Question field (default: auto-detected).
    #[arg(long)]
    pub question_field: Option<String>,
    /// Answer field (default: auto-detected).
    #[arg(long)]
    pub answer_field: Option<String>,
    /// Id field (default: auto-detected, else the row index).
    #[arg(long)]
    pub id_field: Option<String>,
}

/// The model flags `aha train`, `aha sft` and `aha serve` share.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// The model: a GGUF file, a Hugging Face directory (config.json + safetensors +
    /// tokenizer.json), or a .safetensors file written by aha (tokenizer.json beside it, or
    /// --tokenizer). Training dequantizes GGUF weights to f32.
    #[arg(long)]
    pub model: PathBuf,
    /// Tokenizer: a GGUF file or a tokenizer.json (default: the model's own).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// CPU kernels of quantized weights.
    #[command(flatten)]
    pub kernels: KernelArgs,
}

/// The CPU-kernel flag of every command that runs quantized weights (docs/cpu-kernels.md).
#[derive(Debug, Clone, clap::Args)]
pub struct KernelArgs {
    /// CPU kernels for quantized weights: auto (the fastest this CPU runs), avx512-vnni,
    /// avx-vnni, avx2, portable (every one gives the same numbers), or candle (candle's own
    /// kernels, for comparisons).
    #[arg(long, default_value = "auto", value_parser = parse_kernels)]
    pub cpu_kernels: aha_model::CpuKernels,
}

impl KernelArgs {
    /// The model load options these flags ask for.
    pub fn load_options(&self) -> aha_model::LoadOptions {
        aha_model::LoadOptions {
            cpu_kernels: self.cpu_kernels,
            ..aha_model::LoadOptions::default()
        }
    }
}

fn parse_kernels(s: &str) -> Result<aha_model::CpuKernels, String> {
    s.parse().map_err(|e: aha_model::Error| e.to_string())
}
