//! `aha analyse`: flags → [`aha_analyse::Settings`] → [`aha_analyse::analyse()`]; the study's
//! per-step analysis of a run made by verl, TRL, OpenRLHF, oat or aha (docs/pipeline.md,
//! "Rollouts from any engine").

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Match;

/// Arguments of `aha analyse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: a verl dump directory (trainer.rollout_data_dir: {step}.jsonl files), an aha
    /// rollout directory (run.json + rollouts/, as the Python package's TRL recorder, oat
    /// converter and OpenRLHF hook write), or JSONL files in the generic schema.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output directory: metrics.jsonl (one line per step), summary.json (totals, engine
    /// agreement, the study's claims) and the state that makes a rerun read only new files.
    #[arg(long)]
    pub out: PathBuf,
    /// Held-out samples (verl's trainer.validation_data_dir, or generic JSONL): each step's
    /// `eval` object.
    #[arg(long)]
    pub eval: Vec<PathBuf>,
    /// Input format (default: detected from the layout).
    #[arg(long, value_parser = ["verl", "aha", "jsonl", "trl", "oat", "openrlhf", "generic"])]
    pub format: Option<String>,
    /// The grader (auto: Countdown for {"target", "numbers"} references, math otherwise).
    #[arg(long, value_enum, default_value = "auto")]
    pub task: aha_analyse::TaskChoice,
    /// Where a math response's final answer is read.
    #[arg(long, value_enum, default_value = "any")]
    pub answer_format: aha_analyse::AnswerChoice,
    /// Reflection keywords: a preset (paper15, ...) or a file with one keyword per line.
    #[arg(long, default_value = "paper15")]
    pub keywords: String,
    /// Keyword matching.
    #[arg(long = "match", value_enum, default_value = "substring")]
    pub match_mode: Match,
    /// Count tokens with this tokenizer (a tokenizer.json or GGUF file) where the input has no
    /// token counts; lengths in characters are always reported.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// A response of at least this many tokens counts as truncated (when the input says nothing
    /// about truncation).
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// An engine reward at or above this is the engine saying "correct" (for the agreement with
    /// aha's verdicts, and the verdict of samples without a reference).
    #[arg(long, default_value_t = 1.0)]
    pub engine_correct_at: f64,
    /// EMA weight for the smoothed length curve of the claims (0 = raw).
    #[arg(long, default_value_t = 0.9)]
    pub ema: f64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

struct Bar(indicatif::ProgressBar);

impl aha_analyse::Progress for Bar {
    fn start(&mut self, bytes: u64, files: usize) {
        self.0.set_length(bytes);
        self.0.set_message(format!("{files} file(s)"));
    }
    fn advance(&mut self, bytes: u64) {
        self.0.inc(bytes);
    }
}

/// Runs `aha analyse`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let format = args.format.as_deref().and_then(aha_analyse::Format::parse);
    let inputs = args
        .inputs
        .iter()
        .map(|p| aha_analyse::discover(p, format, false))
        .collect::<Result<Vec<_>, _>>()?;
    let evals = args
        .eval
        .iter()
        .map(|p| aha_analyse::discover(p, format, true))
        .collect::<Result<Vec<_>, _>>()?;
    let mut settings =
        aha_analyse::Settings::new(aha_reflect::Keywords::from_spec(&args.keywords)?);
    settings.task = args.task;
    settings.answer = args.answer_format;
    settings.match_mode = args.match_mode;
    settings.max_tokens = args.max_tokens;
    settings.engine_correct_at = args.engine_correct_at;
    settings.ema = args.ema;
    settings.threads = args.threads;
    let tokenizer = match &args.tokenizer {
        Some(p) => {
            let tok = if p.extension().is_some_and(|e| e == "gguf") {
                aha_tokenizer::Tokenizer::from_gguf_file(p)
            } else {
                aha_tokenizer::Tokenizer::from_tokenizer_json(p)
            }
            .with_context(|| format!("tokenizer {}", p.display()))?;
            settings.tokenizer = Some(p.display().to_string());
            Some(tok)
        }
        None => None,
    };
    let counter = tokenizer
        .as_ref()
        .map(|t| move |text: &str| -> usize { t.encode(text, false).map_or(0, |ids| ids.len()) });
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} analysing {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = Bar(bar.clone());
    let started = std::time::Instant::now();
    let analysis = aha_analyse::analyse(
        &inputs,
        &evals,
        &settings,
        counter.as_ref().map(|c| c as &aha_analyse::TokenCounter),
        &args.out,
        &mut progress,
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    for note in analysis.summary.skip_notes() {
        eprintln!("aha analyse: {note}");
    }
    eprintln!(
        "aha analyse: {}",
        analysis.summary.describe(&args.out, secs)
    );
    Ok(ExitCode::SUCCESS)
}
