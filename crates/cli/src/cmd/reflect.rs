//! `aha reflect`: flags → [`aha_reflect::lines`] (keywords, SSR, typed records) and the judge
//! runner ([`aha_reflect::judge::ask_cached`] over [`aha_sample::OpenAiJudge`]), then the study's
//! aggregate tables. See [`aha_reflect::lines`] for the input fields. A malformed line yields an
//! error record naming line and field; the run goes on and exits 1.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aha_openai::{Client, ClientConfig};
use aha_reflect::aggregate::{ResponseRecord, summarize};
use aha_reflect::judge::{self, JudgeCache};
use aha_reflect::lines::{InputLine, LineAnalysis, RECORD_SCHEMA_VERSION, judge_lines};
use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use aha_verify::MathOptions;
use anyhow::Context;
use serde_json::json;

/// Files with more lines than this get a progress bar.
const PROGRESS_MIN_LINES: usize = 1_000;

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
    let mode = MatchMode::from(args.match_mode);
    let detector = KeywordDetector::new(&keywords, mode)?;
    let keyword_set = keywords.label();
    let opts = MathOptions::default();
    let tokenizer = match &args.tokenizer {
        None => None,
        Some(p) if p.extension().is_some_and(|e| e == "gguf") => {
            Some(aha_tokenizer::Tokenizer::from_gguf_file(p)?)
        }
        Some(p) => Some(aha_tokenizer::Tokenizer::from_tokenizer_json(p)?),
    };

    let file = File::open(&args.input)
        .with_context(|| format!("cannot open input {}", args.input.display()))?;
    let mut rows: Vec<Result<LineAnalysis, String>> = Vec::new();
    // Lines are read as bytes so that one line of invalid UTF-8 is an error record, not the end
    // of the run.
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let mut reader = BufReader::new(file);
    loop {
        let mut buf = Vec::new();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", args.input.display()))?;
        if n == 0 {
            break;
        }
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        raw.push(buf);
    }
    let bar = progress(raw.len(), "analysing");
    for (i, bytes) in raw.iter().enumerate() {
        let n = i + 1;
        let parsed = match std::str::from_utf8(bytes) {
            Err(e) => Err(format!("invalid UTF-8: {e}")),
            Ok(t) if t.trim().is_empty() => Err("empty line".to_string()),
            Ok(t) => InputLine::parse(t, n).and_then(|mut line| {
                if let (None, Some(tok)) = (line.n_tokens, &tokenizer) {
                    let ids = tok
                        .encode_plain(&line.response, false)
                        .map_err(|e| format!("field `response`: cannot tokenize: {e}"))?;
                    line.n_tokens = Some(ids.len());
                }
                Ok(line)
            }),
        };
        rows.push(
            parsed
                .map(|line| LineAnalysis::new(line, &detector, &opts))
                .map_err(|e| format!("{}:{n}: {e}", args.input.display())),
        );
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut failures = rows.iter().filter(|r| r.is_err()).count();
    if let Some(url) = &args.judge_url {
        failures += run_judge(&args, url, &mut rows)?;
    }

    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("cannot create output {}", p.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for (i, row) in rows.iter().enumerate() {
        let record = match row {
            Ok(a) => serde_json::to_value(a.record(i + 1, &keyword_set))?,
            Err(e) => {
                eprintln!("aha reflect: {e}");
                json!({"schema_version": RECORD_SCHEMA_VERSION, "line": i + 1, "error": e})
            }
        };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);

    let summary_out = args.summary_out.clone().or_else(|| {
        (args.summary)
            .then(|| {
                args.output
                    .as_ref()
                    .map(|o| with_suffix(o, ".summary.json"))
            })
            .flatten()
    });
    if args.summary || summary_out.is_some() {
        let records: Vec<ResponseRecord> = rows
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(LineAnalysis::response_record)
            .collect();
        let summary = summarize(&records, &keywords, mode);
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
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn progress(len: usize, what: &'static str) -> indicatif::ProgressBar {
    if len < PROGRESS_MIN_LINES {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// Judges every good line ([`aha_reflect::lines::judge_lines`] over the OpenAI client), storing
/// replies in the rows. Returns the number of lines whose judging failed.
fn run_judge(
    args: &Args,
    url: &str,
    rows: &mut [Result<LineAnalysis, String>],
) -> anyhow::Result<usize> {
    let mut cache = JudgeCache::open(&args.judge_cache)?;
    let mut cfg = ClientConfig::new(url);
    cfg.api_key = std::env::var(&args.judge_key_env)
        .ok()
        .filter(|k| !k.is_empty());
    if cfg.api_key.is_none() && url.starts_with("https://") {
        eprintln!(
            "aha reflect: warning: ${} is not set; sending judge requests without an API key",
            args.judge_key_env
        );
    }
    cfg.concurrency = args.judge_concurrency;
    cfg.timeout = Duration::from_secs(args.judge_timeout_s);
    cfg.max_retries = args.judge_retries;
    let backend = aha_sample::OpenAiJudge {
        client: Client::new(cfg)?,
        model: args.judge_model.clone(),
    };
    let bar = indicatif::ProgressBar::hidden();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("judge {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    let failures = judge_lines(
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
