//! `aha probe`: the study's epoch-0 experiment on a model run in-process (`--model PATH`) or
//! behind an OpenAI-compatible server (`--server URL`): sample every question of a dataset under
//! each template and temperature (resumable), then grade and analyse into `DIR/graded.jsonl`, `DIR/summary.json` and a terminal table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aha_data::Template;
use aha_probe::{JudgeSettings, ProbeConfig, SweepOptions};
use aha_reflect::judge::STUDY_JUDGE_MODEL;
use aha_reflect::{KeywordDetector, Keywords};
use aha_sample::{EmbeddedSampler, OpenAiSampler, Sampler};
use anyhow::Context;

pub use super::Match;

/// Arguments of `aha probe`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("backend").required(true).args(["server", "model"])))]
pub struct Args {
    /// OpenAI-compatible base URL of the model server (vLLM, SGLang, llama.cpp server), e.g.
    /// http://127.0.0.1:8000/v1.
    #[arg(long, requires = "model_name")]
    pub server: Option<String>,
    /// The model name the server knows the model by.
    #[arg(long)]
    pub model_name: Option<String>,
    /// Run the model in-process: a GGUF file, a Hugging Face directory, a `.safetensors` file
    /// written by aha (tokenizer.json beside it), or hf:ORG/NAME[/FILE.gguf] (docs/hub.md).
    #[arg(long, conflicts_with_all = ["server", "model_name"])]
    pub model: Option<PathBuf>,
    /// Tokenizer for --model (GGUF or tokenizer.json; default: the model's own).
    #[arg(long, requires = "model")]
    pub tokenizer: Option<PathBuf>,
    /// CPU kernels of quantized weights (with --model).
    #[command(flatten)]
    pub kernels: super::KernelArgs,
    /// Environment variable holding the server's API key (unset: no key is sent).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// The problems (--data, --split, --question-field, --answer-field, --id-field).
    #[command(flatten)]
    pub dataset: super::DataArgs,
    /// Prompt template: r1, r1-blog, qwen-math, qwen-math-blog, none, countdown, chat, or a file
    /// with {question}. Repeat for several templates.
    #[arg(long = "template", required = true)]
    pub templates: Vec<String>,
    /// Sampling temperatures (0 = greedy, one sample).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0"
    )]
    pub temperatures: Vec<f64>,
    /// Samples per question and temperature.
    #[arg(short = 'n', long = "samples", default_value_t = 8)]
    pub n: u32,
    /// Token budget per sample.
    #[arg(long, default_value_t = 1500)]
    pub max_tokens: u32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f64,
    /// Use only the first Q questions.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Base seed of the per-sample seeds sent to the server.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Send no seeds (for servers that reject them).
    #[arg(long, conflicts_with = "seed")]
    pub no_seed: bool,
    /// Run directory (config.json, responses.jsonl, graded.jsonl, summary.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Samples per batch; each batch is appended and fsynced before the next starts.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Requests in flight at once (with --model: sequences per forward batch).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds per request attempt.
    #[arg(long, default_value_t = 600)]
    pub timeout_s: u64,
    /// Retries per request (transport errors, timeouts, 429, 5xx).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Keyword preset (paper15, blog, ...) or a file with one keyword per line.
    #[arg(long, default_value = "paper15")]
    pub keywords: String,
    /// Keyword matching mode.
    #[arg(long = "match", value_enum, default_value_t = Match::Substring)]
    pub match_mode: Match,
    /// OpenAI-compatible base URL of the LLM judge (enables judge and cross reflection@k).
    #[arg(long)]
    pub judge_url: Option<String>,
    /// Judge model.
    #[arg(long, default_value = STUDY_JUDGE_MODEL)]
    pub judge_model: String,
    /// Environment variable holding the judge's API key.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub judge_key_env: String,
    /// Judge requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub judge_concurrency: usize,
}

/// Runs `aha probe`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let data = args.dataset.load(&args.dataset.data)?;
    let ds = match args.limit {
        Some(q) => data.dataset.limited(q),
        None => data.dataset,
    };
    ds.check_unique_ids()?;
    if let Some(m) = &args.model {
        args.model = Some(super::resolve_model(m)?);
    }
    anyhow::ensure!(
        !ds.problems.is_empty(),
        "{}: no problems to probe",
        args.dataset.data.display()
    );
    let templates = (args.templates.iter())
        .map(|t| Template::resolve(t))
        .collect::<Result<Vec<_>, _>>()?;

    let sampler: Box<dyn Sampler> = match (&args.server, &args.model) {
        (Some(server), _) => {
            let timeout = Some(Duration::from_secs(args.timeout_s));
            let client = super::openai_client(
                server,
                &args.api_key_env,
                args.concurrency,
                timeout,
                args.retries,
            )?;
            Box::new(OpenAiSampler::new(
                client,
                args.model_name.as_deref().unwrap_or_default(),
            ))
        }
        (None, Some(model)) => {
            let loaded = Instant::now();
            let opts = args.kernels.load_options();
            let s = EmbeddedSampler::load_with(model, args.tokenizer.as_deref(), &opts)?
                .with_max_batch(args.concurrency);
            let secs = loaded.elapsed().as_secs_f64();
            eprintln!("aha probe: loaded {} ({secs:.1} s)", model.display());
            Box::new(s)
        }
        (None, None) => anyhow::bail!("give --server URL or --model PATH"),
    };

    let config = ProbeConfig {
        schema_version: aha_probe::CONFIG_SCHEMA_VERSION,
        sampler: sampler.describe(),
        data: data.source,
        split: args.dataset.split.clone(),
        question_field: args.dataset.question_field.clone(),
        answer_field: args.dataset.answer_field.clone(),
        questions: ds.problems.len(),
        limit: args.limit,
        templates: templates.iter().map(|t| t.name().to_string()).collect(),
        temperatures: args.temperatures.clone(),
        n: args.n,
        max_tokens: args.max_tokens,
        top_p: args.top_p,
        seed: (!args.no_seed).then_some(args.seed),
    };
    let sweep = SweepOptions {
        batch_samples: args.batch,
        progress: true,
    };
    let responses = args.out.join("responses.jsonl");
    let report = aha_probe::run_sweep(
        &args.out,
        &config,
        &ds.problems,
        &templates,
        sampler.as_ref(),
        &sweep,
    )
    .with_context(|| {
        format!(
            "probe stopped; rerun the same command to continue from {}",
            responses.display()
        )
    })?;
    eprintln!(
        "aha probe: {} samples ({} resumed, {} drawn now) in {}",
        report.total,
        report.resumed,
        report.sampled,
        responses.display()
    );

    let keywords = Keywords::from_spec(&args.keywords)?;
    let detector = KeywordDetector::new(&keywords, args.match_mode)?;
    let judge = match &args.judge_url {
        Some(url) => {
            let (n, retries) = (args.judge_concurrency, args.retries);
            Some(JudgeSettings {
                judge: aha_sample::OpenAiJudge {
                    client: super::openai_client(url, &args.judge_key_env, n, None, retries)?,
                    model: args.judge_model.clone(),
                },
                cache: args.out.join("judge-cache.jsonl"),
            })
        }
        None => None,
    };
    let summary = aha_probe::analyse(
        &args.out,
        &config,
        &ds.problems,
        &templates,
        &detector,
        judge.as_ref(),
        true,
    )?;
    print!("{}", summary.render_text());
    eprintln!(
        "aha probe: wrote {} and {} ({:.1} s)",
        args.out.join("graded.jsonl").display(),
        args.out.join("summary.json").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
