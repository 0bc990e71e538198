//! `aha reflect`: flags → [`aha_reflect::lines`] (reading, keywords, SSR, typed records) and the
//! judge runner ([`aha_reflect::lines::judge_lines`] over [`aha_sample::OpenAiJudge`]), then the
//! study's aggregate tables. See [`aha_reflect::lines`] for the input fields. A malformed line yields an
//! error record naming line and field; the run goes on and exits 1.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aha_reflect::judge::{self, JudgeCache};
use aha_reflect::{KeywordDetector, Keywords, lines};
use aha_verify::MathOptions;
use anyhow::Context;

pub use super::Match;

/// Arguments of `aha reflect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL input: `response` plus optional `id`/`question_id`, `gold`, `question`,
    /// `correct`/`reward`, `temperature`, `n_tokens`.
    #[arg(long)]
    pub input: PathBuf,
    /// Keyword preset (paper15, blog, blog-qwen, blog-deepseek, blog-llama, blog-microsoft,
    /// simplerl) or a file with one keyword per line.
    #[arg(long, default_value = "paper15")]
    pub keywords: String,
    /// Keyword matching mode.
    #[arg(long = "match", value_enum, default_value_t = Match::Substring)]
    pub match_mode: Match,
    /// Write the per-response records here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Print the aggregate tables (to stdout, or stderr when records go to stdout).
    #[arg(long)]
    pub summary: bool,
    /// Write the aggregate as JSON here (default with --summary and --output: OUTPUT.summary.json).
    #[arg(long)]
    pub summary_out: Option<PathBuf>,
    /// Tokenizer (GGUF model file or tokenizer.json) to count tokens for `per_1k_tokens` on
    /// lines without `n_tokens`.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// OpenAI-compatible base URL of the LLM judge, e.g. http://127.0.0.1:8000/v1.
    #[arg(long)]
    pub judge_url: Option<String>,
    /// Judge model name.
    #[arg(long, default_value = judge::STUDY_JUDGE_MODEL)]
    pub judge_model: String,
    /// Environment variable holding the judge's API key (unset: no key is sent).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub judge_key_env: String,
    /// Judge reply cache (append-only JSONL; reruns reuse it).
    #[arg(long, default_value = "aha-judge-cache.jsonl")]
    pub judge_cache: PathBuf,
    /// Also ask the study's answering-ability question (paper Fig. 3-left) about each line, using
    /// its `prompt` (the templated model input) or else its `question`.
    #[arg(long, requires = "judge_url")]
    pub judge_answering: bool,
    /// Judge requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub judge_concurrency: usize,
    /// Seconds per judge request attempt.
    #[arg(long, default_value_t = 120)]
    pub judge_timeout_s: u64,
    /// Retries per judge request (transport errors, timeouts, 429, 5xx).
    #[arg(long, default_value_t = 5)]
    pub judge_retries: u32,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let keywords = Keywords::from_spec(&args.keywords)?;
    let detector = KeywordDetector::new(&keywords, args.match_mode)?;
    let opts = MathOptions::default();
    let tokenizer = args
        .tokenizer
        .as_deref()
        .map(super::tokenizer_file)
        .transpose()?;
    let count = |t: &str| -> Result<usize, String> {
        let tok = tokenizer.as_ref().ok_or("no tokenizer")?;
        tok.encode_plain(t, false)
            .map(|ids| ids.len())
            .map_err(|e| e.to_string())
    };
    let count = tokenizer
        .is_some()
        .then_some(&count as &dyn Fn(&str) -> Result<usize, String>);

    let file = File::open(&args.input)
        .with_context(|| format!("cannot open input {}", args.input.display()))?;
    let raw = lines::read_raw_lines(BufReader::new(file))
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let name = args.input.display().to_string();
    let template = "{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})";
    let bar = super::lines_bar(raw.len() as u64, template);
    bar.set_message("analysing");
    let mut rows: Vec<lines::Row> = Vec::with_capacity(raw.len());
    for (i, bytes) in raw.iter().enumerate() {
        rows.push(lines::analyse_line(
            bytes,
            i + 1,
            &name,
            count,
            &detector,
            &opts,
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut failures = rows.iter().filter(|r| r.is_err()).count();
    if let Some(url) = &args.judge_url {
        failures += run_judge(&args, url, &mut rows)?;
    }

    let mut out = super::output(args.output.as_deref())?;
    lines::write_records(&rows, &keywords.label(), &mut out, &mut |e| {
        eprintln!("aha reflect: {e}")
    })?;
    drop(out);

    let summary_out = args.summary_out.clone().or_else(|| {
        let mut s = args.output.clone()?.into_os_string();
        s.push(".summary.json");
        args.summary.then(|| PathBuf::from(s))
    });
    if args.summary || summary_out.is_some() {
        let summary = lines::summarize_rows(&rows, &keywords, args.match_mode);
        if args.summary {
            let text = summary.render_text();
            if args.output.is_some() {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
        }
        if let Some(p) = summary_out {
            let f = File::create(&p)
                .with_context(|| format!("cannot create summary {}", p.display()))?;
            serde_json::to_writer_pretty(BufWriter::new(f), &summary)?;
        }
    }
    Ok(ExitCode::from(u8::from(failures > 0)))
}

/// Judges every good line ([`lines::judge_lines`] over the OpenAI client), storing replies in
/// the rows. Returns the number of lines whose judging failed.
fn run_judge(args: &Args, url: &str, rows: &mut [lines::Row]) -> anyhow::Result<usize> {
    let mut cache = JudgeCache::open(&args.judge_cache)?;
    let timeout = Some(Duration::from_secs(args.judge_timeout_s));
    let client = super::openai_client(
        url,
        &args.judge_key_env,
        args.judge_concurrency,
        timeout,
        args.judge_retries,
    )?;
    let key = std::env::var(&args.judge_key_env).unwrap_or_default();
    if url.starts_with("https://") && key.is_empty() {
        eprintln!(
            "aha reflect: warning: ${} is not set; sending judge requests without an API key",
            args.judge_key_env
        );
    }
    let backend = aha_sample::OpenAiJudge {
        client,
        model: args.judge_model.clone(),
    };
    let bar = indicatif::ProgressBar::hidden();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("judge {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    let failures = lines::judge_lines(
        rows,
        args.judge_answering,
        &backend,
        &args.judge_model,
        &mut cache,
        &mut |cached, asked| {
            eprintln!("aha reflect: judge: {cached} cached, {asked} to send to {url}");
            bar.set_length(asked as u64);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        },
        &mut || bar.inc(1),
    )
    .context("cannot write the judge cache")?;
    bar.finish_and_clear();
    for (i, e) in &failures {
        eprintln!("aha reflect: line {}: {e}", i + 1);
    }
    Ok(failures.len())
}
