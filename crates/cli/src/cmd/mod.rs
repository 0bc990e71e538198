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

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;

/// `--match` of `aha reflect`, `probe`, `train`, `analyse` and `serve-reward`: aha-reflect's own
/// type (a `clap::ValueEnum` with its `clap` feature).
pub use aha_reflect::MatchMode as Match;

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
    /// Loads `spec` (a path, a shipped name, or `hf:ORG/NAME[:SPLIT]`) with the field flags
    /// ([`aha_data::load_data`]; hub datasets through [`hub`]).
    pub fn load(&self, spec: &Path) -> anyhow::Result<aha_data::LoadedData> {
        let opts = aha_data::LoadOptions {
            split: self.split.clone(),
            fields: aha_data::FieldMap {
                question: self.question_field.clone(),
                answer: self.answer_field.clone(),
                id: self.id_field.clone(),
            },
            ..aha_data::LoadOptions::default()
        };
        let fetch = |repo: &str, split: Option<&str>| -> anyhow::Result<Vec<PathBuf>> {
            let files = hub()?.dataset(repo, split)?;
            let name = split.map_or(format!("hf:{repo}"), |s| format!("hf:{repo}:{s}"));
            let folder = files.first().and_then(|f| f.parent());
            let folder = folder.map_or(String::new(), |p| p.display().to_string());
            eprintln!("aha: {name}: {} Parquet file(s) in {folder}", files.len());
            Ok(files)
        };
        let data_dir = data_dir(self.data_dir.as_deref());
        let fetch =
            |repo: &str, split: Option<&str>| fetch(repo, split).map_err(|e| format!("{e:#}"));
        Ok(aha_data::load_data(spec, &data_dir, &opts, fetch)?)
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

/// The hub client, configured from the environment the way `huggingface_hub` is
/// ([`aha_hub::HubOptions::from_vars`] names the variables).
pub fn hub() -> aha_hub::Result<aha_hub::Hub> {
    let terminal = std::io::stderr().is_terminal();
    aha_hub::Hub::new(aha_hub::HubOptions::from_vars(
        |k| std::env::var(k).ok(),
        terminal,
    )?)
}

/// A `--model` value: `hf:ORG/NAME[/FILE.gguf][@REV]` is downloaded (once) and becomes the
/// cached snapshot folder or GGUF file; anything else is a path, returned as it is.
pub fn resolve_model(model: &Path) -> anyhow::Result<PathBuf> {
    let path =
        aha_hub::resolve_model(model, hub).with_context(|| format!("model {}", model.display()))?;
    if path != model {
        eprintln!("aha: {} -> {}", model.display(), path.display());
    }
    Ok(path)
}

/// An OpenAI-compatible client for `url`, with the API key from the environment variable
/// `key_env` (unset or empty: no key is sent).
pub fn openai_client(
    url: &str,
    key_env: &str,
    concurrency: usize,
    timeout: Option<Duration>,
    retries: u32,
) -> anyhow::Result<aha_openai::Client> {
    let mut cfg = aha_openai::ClientConfig::new(url);
    cfg.api_key = std::env::var(key_env).ok().filter(|k| !k.is_empty());
    cfg.concurrency = concurrency;
    cfg.timeout = timeout.unwrap_or(cfg.timeout);
    cfg.max_retries = retries;
    Ok(aha_openai::Client::new(cfg)?)
}

/// Loads the tokenizer: `--tokenizer`, else the model's own (GGUF metadata, a Hugging Face
/// directory's tokenizer.json, or a tokenizer.json beside an aha .safetensors file).
pub fn load_tokenizer(
    model: &Path,
    tokenizer: Option<&Path>,
) -> anyhow::Result<(aha_tokenizer::Tokenizer, PathBuf)> {
    aha_tokenizer::Tokenizer::for_model(model, tokenizer)
        .with_context(|| format!("loading the tokenizer of {}", model.display()))
}

/// Where a file command writes its records: `--output`, else stdout (buffered either way).
pub fn output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("cannot create output {}", p.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

/// Loads a tokenizer from a file: a GGUF model's metadata, else a tokenizer.json.
pub fn tokenizer_file(path: &Path) -> anyhow::Result<aha_tokenizer::Tokenizer> {
    let tok = if path.extension().is_some_and(|e| e == "gguf") {
        aha_tokenizer::Tokenizer::from_gguf_file(path)
    } else {
        aha_tokenizer::Tokenizer::from_tokenizer_json(path)
    };
    tok.with_context(|| format!("tokenizer {}", path.display()))
}

/// Files with fewer lines than this get no progress bar (they are done before it would help).
const PROGRESS_MIN_LINES: u64 = 1_000;

/// A progress bar over the `lines` lines of an input file ([`bar`]), hidden for small files.
pub fn lines_bar(lines: u64, template: &str) -> indicatif::ProgressBar {
    if lines < PROGRESS_MIN_LINES {
        return indicatif::ProgressBar::hidden();
    }
    bar(lines, template)
}

/// A progress bar of `len` steps with `template`, drawn on stderr when it is a terminal.
pub fn bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
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
    /// Run f32 matrix products (f32 models, training, attention) in aha's fixed summation order
    /// instead of candle's gemm: a seeded run gives the same numbers on every CPU with AVX2 and
    /// FMA, at some cost in speed on large models (docs/cpu-kernels.md). `aha demo` always does.
    #[arg(long)]
    pub fixed_order_f32: bool,
}

impl KernelArgs {
    /// The model load options these flags ask for.
    pub fn load_options(&self) -> aha_model::LoadOptions {
        aha_model::LoadOptions {
            cpu_kernels: self.cpu_kernels,
            fixed_order_f32: self.fixed_order_f32,
            ..aha_model::LoadOptions::default()
        }
    }
}

fn parse_kernels(s: &str) -> Result<aha_model::CpuKernels, String> {
    s.parse().map_err(|e: aha_model::Error| e.to_string())
}
