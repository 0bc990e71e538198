//! Grading and reflection analysis of a run directory: `graded.jsonl` (one line per sample) and
//! `summary.json`, plus the terminal tables.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aha_data::{Problem, Template};
use aha_reflect::aggregate::{ResponseRecord, Summary, summarize};
use aha_reflect::judge::{self, JudgeCache, JudgePrompt, JudgeVerdict};
use aha_reflect::{KeywordDetector, classify_with_report};
use aha_verify::{GradeOptions, RewardScheme, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::store::{ProbeConfig, ResponseLine, read_responses};
use aha_rundir::write_atomic;
use aha_sample::OpenAiJudge;

/// Version of the `graded.jsonl` line layout.
pub const GRADED_SCHEMA_VERSION: u32 = 1;
/// Version of the `summary.json` layout.
pub const PROBE_SUMMARY_SCHEMA_VERSION: u32 = 1;

/// The LLM judge of self-reflection (the study's prompt and parse), behind an
/// OpenAI-compatible endpoint, with a reply cache so re-analysing costs nothing.
#[derive(Debug)]
pub struct JudgeSettings {
    /// The judge model and its endpoint.
    pub judge: OpenAiJudge,
    /// The reply cache file (JSONL, append-only).
    pub cache: PathBuf,
}

/// Everything the summary holds for one template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSummary {
    /// The template name.
    pub template: String,
    /// How its answers were extracted (`boxed`, `answer_tag`; `countdown` for Countdown).
    pub answer_format: String,
    /// Pass@k, reflection@k, keyword and SSR tables, overall and per temperature.
    pub summary: Summary,
    /// Response lengths per temperature, ascending.
    pub lengths: Vec<LengthRow>,
}

/// Response lengths of one temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthRow {
    /// The temperature.
    pub temperature: f64,
    /// Responses.
    pub responses: usize,
    /// Mean generated tokens over responses with a token count (`None`: the sampler gave none).
    pub mean_tokens: Option<f64>,
    /// Mean length in characters.
    pub mean_chars: f64,
    /// Responses cut by the token limit (`finish_reason` = `length`).
    pub truncated: usize,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// [`PROBE_SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The run's configuration.
    pub config: ProbeConfig,
    /// The judge model, when the judge ran.
    pub judge_model: Option<String>,
    /// Responses the judge failed on (they count as not judged).
    pub judge_failures: usize,
    /// One entry per template, in sweep order.
    pub templates: Vec<TemplateSummary>,
}

/// Grades and analyses `dir/responses.jsonl`; writes `dir/graded.jsonl` and `dir/summary.json`
/// (each atomically) and returns the summary.
pub fn analyse(
    dir: &Path,
    config: &ProbeConfig,
    problems: &[Problem],
    templates: &[Template],
    detector: &KeywordDetector,
    judge: Option<&JudgeSettings>,
    progress: bool,
) -> Result<ProbeSummary> {
    let path = dir.join("responses.jsonl");
    let mut lines = read_responses(&path)?;
    // Stable order regardless of how batches finished: template, temperature, question, sample.
    let t_order: HashMap<&str, usize> = config
        .templates
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let q_order: HashMap<&str, usize> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id.as_str(), p)).collect();
    let by_name: HashMap<&str, &Template> = templates.iter().map(|t| (t.name(), t)).collect();
    for (i, l) in lines.iter().enumerate() {
        let bad = |field: &str, v: &str| Error::Line {
            path: path.clone(),
            line: i + 1,
            message: format!("field \"{field}\": {v:?} is not part of this probe"),
        };
        if !by_id.contains_key(l.question_id.as_str()) {
            return Err(bad("question_id", &l.question_id));
        }
        if !by_name.contains_key(l.template.as_str()) {
            return Err(bad("template", &l.template));
        }
    }
    lines.sort_by(|a, b| {
        (t_order[a.template.as_str()])
            .cmp(&t_order[b.template.as_str()])
            .then(a.temperature.total_cmp(&b.temperature))
            .then(q_order[a.question_id.as_str()].cmp(&q_order[b.question_id.as_str()]))
            .then(a.sample_index.cmp(&b.sample_index))
    });

    let judged = match judge {
        Some(j) => Some(run_judge(j, &lines, &by_id, progress)?),
        None => None,
    };

    let bar = if progress {
        ProgressBar::new(lines.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("grading {bar:40} {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut graded_out = Vec::new();
    let mut records: BTreeMap<usize, Vec<ResponseRecord>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let problem = by_id[l.question_id.as_str()];
        let template = by_name[l.template.as_str()];
        // Only the format the template asks for counts, as in the study.
        let opts = GradeOptions::math(template.answer_format().math_options(RewardScheme::Binary));
        let gold = &problem.gold;
        let grade = aha_verify::grade(gold.task(), &l.response, gold, &opts).grade;
        let report = match l.num_tokens.and_then(|n| usize::try_from(n).ok()) {
            Some(n) => detector.analyze_with_tokens(&l.response, n),
            None => detector.analyze(&l.response),
        };
        let ssr = problem
            .gold
            .answers()
            .first()
            .map(|g| classify_with_report(&l.response, &report, g, &opts.math).category);
        let verdict: Option<&JudgeVerdict> = judged.as_ref().and_then(|v| v[i].as_ref());
        let mut line = json!({
            "schema_version": GRADED_SCHEMA_VERSION,
            "question_id": l.question_id,
            "template": l.template,
            "temperature": l.temperature,
            "sample_index": l.sample_index,
            "verdict": grade.verdict,
            "reward": grade.reward,
            "extracted": grade.extracted.as_ref().map(|e| e.text.as_str()),
            "formatted": grade.formatted,
            "finish_reason": l.finish_reason,
            "num_tokens": l.num_tokens,
            "chars": l.response.chars().count(),
            "keyword_count": report.total,
            "keywords": report.per_keyword,
            "has_reflection": report.total > 0,
            "ssr": ssr.map(|c| c.as_str()),
        });
        if let (Some(v), Value::Object(m)) = (verdict, &mut line) {
            m.insert("judge".into(), json!(v));
        }
        graded_out.push(line);
        records
            .entry(t_order[l.template.as_str()])
            .or_default()
            .push(ResponseRecord {
                question_id: l.question_id.clone(),
                temperature: Some(l.temperature),
                keyword_count: report.total,
                per_keyword: report.per_keyword.clone(),
                correct: (grade.verdict != Verdict::GoldUnparseable)
                    .then_some(grade.verdict.is_correct()),
                answered: Some(grade.extracted.is_some()),
                answer: grade.extracted.as_ref().map(|e| e.text.clone()),
                ssr,
                judge_reflection: verdict.map(|v| v.study_reflection),
                judge_category: verdict.map(|v| v.category),
                answering: None,
            });
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut text = String::new();
    for g in &graded_out {
        let _ = writeln!(text, "{g}");
    }
    write_atomic(&dir.join("graded.jsonl"), text.as_bytes())?;

    let templates_out = templates
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            let recs = records.remove(&ti).unwrap_or_default();
            let ls: Vec<&ResponseLine> = lines.iter().filter(|l| l.template == t.name()).collect();
            TemplateSummary {
                template: t.name().to_string(),
                answer_format: if matches!(t, Template::Countdown) {
                    "countdown".into()
                } else {
                    t.answer_format().as_str().into()
                },
                summary: summarize(&recs, detector.keywords(), detector.mode()),
                lengths: length_rows(&ls),
            }
        })
        .collect();
    let summary = ProbeSummary {
        schema_version: PROBE_SUMMARY_SCHEMA_VERSION,
        config: config.clone(),
        judge_model: judge.map(|j| j.judge.model.clone()),
        judge_failures: judged
            .as_ref()
            .map_or(0, |v| v.iter().filter(|x| x.is_none()).count()),
        templates: templates_out,
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::Config(e.to_string()))?;
    write_atomic(&dir.join("summary.json"), format!("{json}\n").as_bytes())?;
    Ok(summary)
}

fn length_rows(lines: &[&ResponseLine]) -> Vec<LengthRow> {
    let mut temps: Vec<f64> = lines.iter().map(|l| l.temperature).collect();
    temps.sort_by(f64::total_cmp);
    temps.dedup();
    temps
        .into_iter()
        .map(|t| {
            let ls: Vec<&&ResponseLine> = lines.iter().filter(|l| l.temperature == t).collect();
            let toks: Vec<u64> = ls.iter().filter_map(|l| l.num_tokens).collect();
            let chars: usize = ls.iter().map(|l| l.response.chars().count()).sum();
            LengthRow {
                temperature: t,
                responses: ls.len(),
                mean_tokens: (!toks.is_empty())
                    .then(|| toks.iter().sum::<u64>() as f64 / toks.len() as f64),
                mean_chars: if ls.is_empty() {
                    0.0
                } else {
                    chars as f64 / ls.len() as f64
                },
                truncated: ls.iter().filter(|l| l.finish_reason == "length").count(),
            }
        })
        .collect()
}

/// Judges every line (cached replies first); `None` where the judge failed.
fn run_judge(
    j: &JudgeSettings,
    lines: &[ResponseLine],
    by_id: &HashMap<&str, &Problem>,
    progress: bool,
) -> Result<Vec<Option<JudgeVerdict>>> {
    let mut cache = JudgeCache::open(&j.cache)?;
    let prompts: Vec<JudgePrompt> = lines
        .iter()
        .map(|l| JudgePrompt {
            text: judge::judge_prompt(&by_id[l.question_id.as_str()].question, &l.response),
            max_tokens: judge::STUDY_JUDGE_MAX_TOKENS,
        })
        .collect();
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("judge {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let replies = judge::ask_cached(
        &j.judge,
        &j.judge.model,
        &mut cache,
        &prompts,
        &mut |n| {
            if progress && n > 0 {
                bar.set_length(n as u64);
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
        },
        &mut || bar.inc(1),
    )?;
    bar.finish_and_clear();
    let mut failures = 0;
    let out = replies
        .replies
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(reply) => Some(JudgeVerdict::parse(reply)),
            Err(e) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("judge failed on {}: {e}", lines[i].question_id);
                }
                None
            }
        })
        .collect();
    Ok(out)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.1}%", 100.0 * v))
}

impl ProbeSummary {
    /// The terminal tables: per template, one row per temperature, then the keyword and SSR
    /// tables of all its responses.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for t in &self.templates {
            let _ = writeln!(
                s,
                "\ntemplate {} ({} answers), keywords {}",
                t.template, t.answer_format, t.summary.keywords
            );
            let judge = t.summary.overall.judge.is_some();
            let _ = write!(
                s,
                "{:>5} {:>5} {:>4} {:>7} {:>8} {:>9} {:>8}",
                "T", "resp", "q", "acc", "pass@k", "pass@k_ub", "refl@k"
            );
            if judge {
                let _ = write!(s, " {:>8} {:>8}", "judge@k", "cross@k");
            }
            let _ = writeln!(
                s,
                " {:>8} {:>8} {:>8} {:>6} {:>6}",
                "answered", "tokens", "chars", "trunc", "kw"
            );
            for (g, len) in t.summary.by_temperature.iter().zip(&t.lengths) {
                let q = g.questions.max(1) as f64;
                let _ = write!(
                    s,
                    "{:>5} {:>5} {:>4} {:>7} {:>8} {:>9} {:>8}",
                    aha_data::py_float_str(len.temperature),
                    g.responses,
                    g.questions,
                    pct(g.accuracy),
                    pct(g.pass_any),
                    pct(g.pass_at_k.get(&g.k_max).copied()),
                    pct(Some(g.question_reflection_rate)),
                );
                if let Some(j) = &g.judge {
                    let _ = write!(
                        s,
                        " {:>8} {:>8}",
                        pct(Some(j.judge_questions as f64 / q)),
                        pct(Some(j.cross_questions as f64 / q))
                    );
                } else if judge {
                    let _ = write!(s, " {:>8} {:>8}", "-", "-");
                }
                let kw: usize = g.keyword_table.iter().map(|r| r.occurrences).sum();
                let _ = writeln!(
                    s,
                    " {:>8} {:>8} {:>8.0} {:>6} {:>6}",
                    pct(g.answer_rate),
                    len.mean_tokens
                        .map_or_else(|| "-".into(), |m| format!("{m:.0}")),
                    len.mean_chars,
                    len.truncated,
                    kw
                );
            }
            let o = &t.summary.overall;
            let rows: Vec<String> = o
                .keyword_table
                .iter()
                .filter(|r| r.occurrences > 0)
                .map(|r| format!("{} {} ({} resp.)", r.keyword, r.occurrences, r.responses))
                .collect();
            let _ = writeln!(
                s,
                "keyword occurrences: {}",
                if rows.is_empty() {
                    "none".into()
                } else {
                    rows.join(", ")
                }
            );
            if !o.ssr.is_empty() {
                let total: usize = o.ssr.values().sum();
                let cells: Vec<String> = o
                    .ssr
                    .iter()
                    .map(|(c, n)| format!("{c} {n} ({:.1}%)", 100.0 * *n as f64 / total as f64))
                    .collect();
                let _ = writeln!(s, "SSR: {}", cells.join(", "));
            }
        }
        if self.judge_failures > 0 {
            let _ = writeln!(
                s,
                "judge failed on {} responses (not judged)",
                self.judge_failures
            );
        }
        s
    }
}
