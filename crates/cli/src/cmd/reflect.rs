//! `aha reflect`: self-reflection keywords, SSR classes and (optionally) the LLM judge for a JSONL
//! file of responses, plus the study's aggregate tables.
//!
//! Input: one JSON object per line with `response` (alias `output`) and optionally `id` /
//! `question_id` (string or number; the k responses of a question share it), `gold` (string or
//! number: enables grading and SSR), `question` (needed by the judge), `prompt` (the templated
//! model input, for `--judge-answering`), `correct` (bool) or
//! `reward` (number; correct iff == 1, the study's rule), `temperature`, `n_tokens`.
//! Output: one JSON line per input line, in order, with `schema_version`, `line`,
//! `keyword_count`, `keywords`, `has_reflection`, `hits`, rates, and `ssr` when `gold` is given.
//! A malformed line yields an error record naming line and field; the run goes on and exits 1.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aha_openai::{ChatMessage, ChatRequest, Client, ClientConfig, Sampling};
use aha_reflect::aggregate::{ResponseRecord, summarize};
use aha_reflect::judge::{self, JudgeCache, JudgeVerdict};
use aha_reflect::{
    KeywordDetector, KeywordReport, Keywords, MatchMode, PRESETS, SsrReport, classify_with_report,
};
use aha_verify::{MathOptions, Reference, Verdict, extract_answer};
use anyhow::Context;
use serde_json::{Map, Value, json};

/// Output schema version of `aha reflect` records.
const SCHEMA_VERSION: u32 = 1;

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

/// One parsed input line.
#[derive(Debug, Default)]
struct Line {
    response: String,
    id: Option<Value>,
    question_id: String,
    gold: Option<String>,
    question: Option<String>,
    prompt: Option<String>,
    correct: Option<bool>,
    temperature: Option<f64>,
    n_tokens: Option<usize>,
}

/// The analysis of one good line.
struct Analysed {
    line: Line,
    report: KeywordReport,
    verdict: Option<Verdict>,
    answer: Option<String>,
    ssr: Option<SsrReport>,
    judge: Option<Result<String, String>>,
    answering: Option<Result<String, String>>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let keywords = load_keywords(&args.keywords)?;
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
    let mut rows: Vec<Result<Analysed, String>> = Vec::new();
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
            Ok(t) => parse_line(t, n).and_then(|mut line| {
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
                .map(|line| analyse(line, &detector, &opts))
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
            Ok(a) => record(i + 1, a, &keyword_set),
            Err(e) => {
                eprintln!("aha reflect: {e}");
                json!({"schema_version": SCHEMA_VERSION, "line": i + 1, "error": e})
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
            .map(response_record)
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

fn load_keywords(spec: &str) -> anyhow::Result<Keywords> {
    if PRESETS.contains(&spec) {
        return Ok(Keywords::preset(spec)?);
    }
    let path = Path::new(spec);
    if path.exists() {
        return Ok(Keywords::from_file(path)?);
    }
    anyhow::bail!(
        "--keywords `{spec}` is neither a preset ({}) nor an existing file",
        PRESETS.join(", ")
    )
}

/// Parses one input line; errors name the field.
fn parse_line(text: &str, n: usize) -> Result<Line, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "expected a JSON object".to_string())?;
    let response = match obj.get("response").or_else(|| obj.get("output")) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("field `response`: expected a string".into()),
        None => return Err("field `response`: missing".into()),
    };
    let id = obj.get("id").cloned();
    let question_id = match obj.get("question_id").or(id.as_ref()) {
        None => format!("line-{n}"),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(x)) => x.to_string(),
        Some(_) => {
            let f = if obj.contains_key("question_id") {
                "question_id"
            } else {
                "id"
            };
            return Err(format!("field `{f}`: expected a string or number"));
        }
    };
    let gold = match obj.get("gold") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(x)) => Some(x.to_string()),
        Some(_) => return Err("field `gold`: expected a string or number".into()),
    };
    let question = opt_str(obj, "question")?;
    let prompt = opt_str(obj, "prompt")?;
    let correct = match (obj.get("correct"), obj.get("reward")) {
        (Some(Value::Bool(b)), _) => Some(*b),
        (Some(Value::Null) | None, Some(Value::Number(r))) => r.as_f64().map(|r| r == 1.0),
        (Some(Value::Null) | None, None | Some(Value::Null)) => None,
        (Some(_), _) => return Err("field `correct`: expected true or false".into()),
        (_, Some(_)) => return Err("field `reward`: expected a number".into()),
    };
    let temperature = match obj.get("temperature") {
        None | Some(Value::Null) => None,
        Some(Value::Number(t)) => t.as_f64().filter(|t| t.is_finite() && *t >= 0.0),
        Some(_) => None,
    };
    if obj.get("temperature").is_some_and(|t| !t.is_null()) && temperature.is_none() {
        return Err("field `temperature`: expected a number ≥ 0".into());
    }
    let n_tokens = match obj.get("n_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| "field `n_tokens`: expected a non-negative integer".to_string())?
                as usize,
        ),
    };
    Ok(Line {
        response,
        id,
        question_id,
        gold,
        question,
        prompt,
        correct,
        temperature,
        n_tokens,
    })
}

fn opt_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("field `{field}`: expected a string")),
    }
}

fn analyse(line: Line, detector: &KeywordDetector, opts: &MathOptions) -> Analysed {
    let report = match line.n_tokens {
        Some(n) => detector.analyze_with_tokens(&line.response, n),
        None => detector.analyze(&line.response),
    };
    let (verdict, answer, ssr) = match &line.gold {
        Some(gold) => {
            let s = classify_with_report(&line.response, &report, gold, opts);
            // The SSR report grades the final answer; without one, ask the verifier whether
            // the gold itself is readable so such lines are not counted as wrong.
            let verdict = if s.final_answer.is_none() && !Reference::new(gold, opts).is_readable() {
                Verdict::GoldUnparseable
            } else {
                s.final_verdict
            };
            (Some(verdict), s.final_answer.clone(), Some(s))
        }
        None => (
            None,
            extract_answer(&line.response, opts).map(|e| e.text),
            None,
        ),
    };
    Analysed {
        line,
        report,
        verdict,
        answer,
        ssr,
        judge: None,
        answering: None,
    }
}

fn correct_of(a: &Analysed) -> Option<bool> {
    a.line.correct.or(match a.verdict {
        Some(Verdict::GoldUnparseable) | None => None,
        Some(v) => Some(v.is_correct()),
    })
}

fn record(n: usize, a: &Analysed, keyword_set: &str) -> Value {
    let r = &a.report;
    let mut m = Map::new();
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    m.insert("line".into(), json!(n));
    if let Some(id) = &a.line.id {
        m.insert("id".into(), id.clone());
    }
    m.insert("question_id".into(), json!(a.line.question_id));
    m.insert("keyword_set".into(), json!(keyword_set));
    m.insert("keyword_count".into(), json!(r.total));
    m.insert("keywords".into(), json!(r.per_keyword));
    m.insert("has_reflection".into(), json!(r.has_reflection()));
    m.insert("in_think".into(), json!(r.in_think));
    m.insert("per_1k_chars".into(), json!(r.per_1k_chars));
    if let Some(t) = r.per_1k_tokens {
        m.insert("per_1k_tokens".into(), json!(t));
    }
    m.insert("hits".into(), json!(r.hits));
    if let Some(c) = correct_of(a) {
        m.insert("correct".into(), json!(c));
    }
    if let Some(v) = a.verdict {
        m.insert("verdict".into(), json!(v));
    }
    if let Some(s) = &a.ssr {
        m.insert("ssr".into(), json!(s));
    }
    match &a.judge {
        Some(Ok(reply)) => {
            let v = JudgeVerdict::parse(reply);
            m.insert(
                "judge".into(),
                json!({
                    "reply": reply,
                    "reflection": v.study_reflection,
                    "category": v.category.map(|c| c.number()),
                    "cross": v.study_reflection && r.has_reflection(),
                }),
            );
        }
        Some(Err(e)) => {
            m.insert("judge_error".into(), json!(e));
        }
        None => {}
    }
    match &a.answering {
        Some(Ok(reply)) => {
            m.insert(
                "answering".into(),
                json!({"reply": reply, "verdict": judge::Answering::parse(reply)}),
            );
        }
        Some(Err(e)) => {
            m.insert("answering_error".into(), json!(e));
        }
        None => {}
    }
    Value::Object(m)
}

fn response_record(a: &Analysed) -> ResponseRecord {
    ResponseRecord {
        question_id: a.line.question_id.clone(),
        temperature: a.line.temperature,
        keyword_count: a.report.total,
        per_keyword: a.report.per_keyword.clone(),
        correct: correct_of(a),
        answered: Some(a.answer.is_some()),
        answer: a.answer.clone(),
        ssr: a.ssr.as_ref().map(|s| s.category),
        judge_reflection: match &a.judge {
            Some(Ok(reply)) => Some(JudgeVerdict::parse(reply).study_reflection),
            _ => None,
        },
        judge_category: match &a.judge {
            Some(Ok(reply)) => Some(JudgeVerdict::parse(reply).category),
            _ => None,
        },
        answering: match &a.answering {
            Some(Ok(reply)) => Some(judge::Answering::parse(reply)),
            _ => None,
        },
    }
}

/// Which judge a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JudgeKind {
    /// The 4-category self-reflection judge.
    Reflection,
    /// The answering-ability judge (`--judge-answering`).
    Answering,
}

/// The slot of a row that a judge's reply goes into.
fn slot(a: &mut Analysed, kind: JudgeKind) -> &mut Option<Result<String, String>> {
    match kind {
        JudgeKind::Reflection => &mut a.judge,
        JudgeKind::Answering => &mut a.answering,
    }
}

/// Judges every good line (cache first), storing replies in the rows. Returns the number of
/// lines whose judging failed.
fn run_judge(
    args: &Args,
    url: &str,
    rows: &mut [Result<Analysed, String>],
) -> anyhow::Result<usize> {
    let mut cache = JudgeCache::open(&args.judge_cache)?;
    // (row, kind, cache key, request)
    let mut pending: Vec<(usize, JudgeKind, String, ChatRequest)> = Vec::new();
    let mut failures = 0;
    let mut hits = 0;
    for (i, row) in rows.iter_mut().enumerate() {
        let Ok(a) = row else { continue };
        let mut wanted = vec![(
            JudgeKind::Reflection,
            a.line
                .question
                .as_ref()
                .map(|q| judge::judge_prompt(q, &a.line.response))
                .ok_or("field `question`: missing (the judge needs it)"),
            judge::STUDY_JUDGE_MAX_TOKENS,
        )];
        if args.judge_answering {
            wanted.push((
                JudgeKind::Answering,
                a.line
                    .prompt
                    .as_ref()
                    .or(a.line.question.as_ref())
                    .map(|p| judge::answering_prompt(p, &a.line.response))
                    .ok_or(
                        "fields `prompt` and `question`: missing (the answering judge needs one)",
                    ),
                judge::STUDY_ANSWERING_MAX_TOKENS,
            ));
        }
        for (kind, prompt, max_tokens) in wanted {
            let prompt = match prompt {
                Ok(p) => p,
                Err(e) => {
                    *slot(a, kind) = Some(Err(e.to_string()));
                    failures += 1;
                    continue;
                }
            };
            let key = judge::cache_key(&args.judge_model, &prompt);
            if let Some(reply) = cache.get(&key) {
                *slot(a, kind) = Some(Ok(reply.to_string()));
                hits += 1;
                continue;
            }
            pending.push((
                i,
                kind,
                key,
                ChatRequest {
                    model: args.judge_model.clone(),
                    messages: vec![ChatMessage::user(prompt)],
                    sampling: Sampling {
                        temperature: Some(judge::STUDY_JUDGE_TEMPERATURE),
                        max_tokens: Some(max_tokens),
                        ..Default::default()
                    },
                },
            ));
        }
    }
    eprintln!(
        "aha reflect: judge: {hits} cached, {} to send to {url}",
        pending.len()
    );
    if pending.is_empty() {
        return Ok(failures);
    }
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
    let client = Client::new(cfg)?;
    let reqs: Vec<ChatRequest> = pending.iter().map(|(_, _, _, r)| r.clone()).collect();
    let bar = indicatif::ProgressBar::new(reqs.len() as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("judge {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    let mut cache_error = None;
    let results = client.chat_many(&reqs, |j, res| {
        bar.inc(1);
        if let Ok(resp) = res
            && cache_error.is_none()
            && let Err(e) = cache.insert(&pending[j].2, &args.judge_model, resp.first_text())
        {
            cache_error = Some(e);
        }
    });
    bar.finish_and_clear();
    if let Some(e) = cache_error {
        return Err(e).context("cannot write the judge cache");
    }
    for ((i, kind, _, _), res) in pending.iter().zip(results) {
        if let Ok(a) = &mut rows[*i] {
            *slot(a, *kind) = Some(match res {
                Ok(resp) => Ok(resp.first_text().to_string()),
                Err(e) => {
                    failures += 1;
                    eprintln!("aha reflect: line {}: judge: {e}", i + 1);
                    Err(e.to_string())
                }
            });
        }
    }
    Ok(failures)
}
