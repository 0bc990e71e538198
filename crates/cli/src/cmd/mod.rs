//! One module per subcommand.

pub mod analyse;
pub mod demo;
pub mod generate;
pub mod probe;
pub mod reflect;
pub mod report;
pub mod serve_model;
pub mod serve_reward;
pub mod sft;
pub mod train;
pub mod verify;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::Context;

/// Keyword matching mode (`--match`) of `aha reflect`, `aha probe`, `aha train` and
/// `aha serve-reward`.
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

/// `--data`'s help: the accepted forms and every shipped short name (from `aha_data::SHIPPED`).
static DATA_HELP: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<String> = aha_data::SHIPPED
        .iter()
        .map(|s| format!("{} ({}; {} problems)", s.name, s.about, s.rows))
        .collect();
    format!(
        "Problems: a JSON, JSONL, Parquet or Arrow IPC file or `save_to_disk` directory; a data set \
         shipped in the repository's data/ by name: {}; or a Hugging Face dataset \
         hf:ORG/NAME[:SPLIT] (its Parquet files, cached as huggingface_hub caches them; docs/hub.md)",
        names.join(", ")
    )
});

/// The dataset flags `aha probe` and `aha train` share.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    // The help lists the shipped names: DATA_HELP.
    #[arg(long, help = DATA_HELP.as_str())]
    pub data: PathBuf,
    /// Split of a `save_to_disk` DatasetDict, or of an hf: dataset (SPLIT or CONFIG/SPLIT).
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
    /// Where the shipped data sets are (default: $AHA_DATA_DIR, else the clone's data/ folder
    /// this binary was built from).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// Resolves `spec` (a path, a shipped name, or `hf:ORG/NAME[:SPLIT]`) and loads it with the
    /// field flags; returns the problems and how to record the source (a canonical path, or the
    /// `hf:` name).
    pub fn load(&self, spec: &Path) -> anyhow::Result<(aha_data::Dataset, String)> {
        let fields = aha_data::FieldMap {
            question: self.question_field.clone(),
            answer: self.answer_field.clone(),
            id: self.id_field.clone(),
        };
        let source = match spec.to_str() {
            Some(s) => aha_data::resolve_data(s, &data_dir(self.data_dir.as_deref()))?,
            None => aha_data::DataSource::Path(spec.to_path_buf()),
        };
        let (ds, shown) = match source {
            aha_data::DataSource::Path(path) => {
                let opts = aha_data::LoadOptions {
                    split: self.split.clone(),
                    fields,
                    ..aha_data::LoadOptions::default()
                };
                let ds = aha_data::load(&path, &opts)?;
                let shown = std::fs::canonicalize(&path).unwrap_or(path);
                (ds, shown.display().to_string())
            }
            aha_data::DataSource::Hub { repo, split } => {
                let split = split.or_else(|| self.split.clone());
                let files = hub()?
                    .dataset(&repo, split.as_deref())
                    .with_context(|| format!("dataset hf:{repo}"))?;
                let shown = match &split {
                    Some(s) => format!("hf:{repo}:{s}"),
                    None => format!("hf:{repo}"),
                };
                eprintln!(
                    "aha: {shown}: {} Parquet file(s) in {}",
                    files.len(),
                    files[0]
                        .parent()
                        .map_or(String::new(), |p| p.display().to_string())
                );
                let opts = aha_data::LoadOptions {
                    fields,
                    ..aha_data::LoadOptions::default()
                };
                (aha_data::load_many(&files, &opts)?, shown)
            }
        };
        Ok((ds, shown))
    }
}

/// The folder of the shipped data sets: `--data-dir`, else `$AHA_DATA_DIR`, else the clone's
/// `data/` as located at build time (so `cargo run` and `cargo install --path crates/cli` work
/// from a clone with no setup; data/README.md).
pub fn data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(d) = flag {
        return d.to_path_buf();
    }
    match std::env::var_os("AHA_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"),
    }
}

/// The hub client, configured from the environment the way `huggingface_hub` is: `HF_ENDPOINT`,
/// `HF_HUB_CACHE` / `HF_HOME` / `XDG_CACHE_HOME`, `HF_TOKEN` (else the token file
/// `HF_TOKEN_PATH` or `$HF_HOME/token`), `HF_HUB_OFFLINE`, `HF_HUB_DISABLE_PROGRESS_BARS`.
pub fn hub() -> anyhow::Result<aha_hub::Hub> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let path = |k: &str| var(k).map(PathBuf::from);
    let cache = aha_hub::default_cache_dir(
        path("HF_HUB_CACHE"),
        path("HF_HOME"),
        path("XDG_CACHE_HOME"),
        path("HOME"),
    )
    .context("no Hugging Face cache folder: set HF_HUB_CACHE or HF_HOME")?;
    let hf_home = path("HF_HOME").or_else(|| cache.parent().map(Path::to_path_buf));
    let token = var("HF_TOKEN").or_else(|| {
        let file = path("HF_TOKEN_PATH").or_else(|| hf_home.map(|h| h.join("token")))?;
        std::fs::read_to_string(file)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    });
    let flag = |k: &str| var(k).is_some_and(|v| aha_hub::flag_is_set(&v));
    let opts = aha_hub::HubOptions {
        endpoint: var("HF_ENDPOINT").unwrap_or_else(|| aha_hub::DEFAULT_ENDPOINT.to_string()),
        token,
        offline: flag("HF_HUB_OFFLINE"),
        progress: std::io::stderr().is_terminal() && !flag("HF_HUB_DISABLE_PROGRESS_BARS"),
        ..aha_hub::HubOptions::new(cache)
    };
    Ok(aha_hub::Hub::new(opts)?)
}

/// A `--model` value: `hf:ORG/NAME[/FILE.gguf][@REV]` is downloaded (once) and becomes the
/// cached snapshot folder or GGUF file; anything else is a path, returned as it is.
pub fn resolve_model(model: &Path) -> anyhow::Result<PathBuf> {
    let Some(name) = model.to_str().and_then(|s| s.strip_prefix("hf:")) else {
        return Ok(model.to_path_buf());
    };
    let parsed: aha_hub::ModelName = name.parse()?;
    let files = hub()?
        .model(&parsed)
        .with_context(|| format!("model hf:{name}"))?;
    eprintln!("aha: hf:{name} -> {}", files.path().display());
    Ok(files.path().to_path_buf())
}

/// The model flags `aha train`, `aha sft` and `aha serve-model` share.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// The model: a GGUF file, a Hugging Face directory (config.json + safetensors +
    /// tokenizer.json), a .safetensors file written by aha (tokenizer.json beside it, or
    /// --tokenizer), or hf:ORG/NAME[/FILE.gguf] from the Hugging Face hub (docs/hub.md).
    /// Training dequantizes GGUF weights to f32.
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
