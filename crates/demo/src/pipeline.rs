//! The demo's phases, in order, each resumable: world → pre-training → epoch-0 probe → GRPO →
//! Dr. GRPO → probes of the RL models → report → summary.
//!
//! A phase that finished leaves `DIR/phases/<name>.json` (with its wall time); a rerun into the
//! same directory with the same configuration skips finished phases and redoes an unfinished
//! one from its start (probes continue their own append-only `responses.jsonl`). A different
//! configuration is refused ([`crate::config::check_or_write`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use aha_data::{Gold, Problem, Template};
use aha_model::Model;
use aha_probe::{ProbeConfig, ProbeSummary, SweepOptions};
use aha_sample::{EmbeddedSampler, Sampler};
use aha_tokenizer::Tokenizer;
use aha_train::AdvantageKind;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{DemoConfig, check_or_write};
use crate::error::{Error, Result};
use crate::grade::Grader;
use crate::pretrain::{document, init_model, pretrain};
use crate::rl;
use crate::vocab;
use crate::world::{Question, Solution, World, rng_for};

/// The `schema_version` of `summary.json` and the `phases/*.json` markers.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// How to run (not part of the configuration: it does not change results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Show progress bars on stderr.
    pub progress: bool,
}

/// A finished phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Always [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Phase name.
    pub phase: String,
    /// Wall time of the run that completed it.
    pub wall_s: f64,
}

/// One model's row of the final table, read from its probe at the highest temperature and
/// greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// `base`, `grpo` or `dr_grpo`.
    pub model: String,
    /// The temperature the sampled columns are from.
    pub temperature: f64,
    /// Accuracy of samples at `temperature`.
    pub accuracy: Option<f64>,
    /// Greedy accuracy (temperature 0), when the probe has it.
    pub greedy_accuracy: Option<f64>,
    /// pass@k (any of the k samples) at `temperature`.
    pub pass_any: Option<f64>,
    /// Fraction of responses with a reflection keyword at `temperature`.
    pub reflection_rate: f64,
    /// SSR category → responses at `temperature`.
    pub ssr: BTreeMap<String, usize>,
    /// Mean response length in tokens at `temperature`.
    pub mean_tokens: Option<f64>,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoSummary {
    /// Always [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Wall time per phase (of the run that completed it).
    pub phases: Vec<PhaseRecord>,
    /// Corpus statistics: SSR category → documents, and the fraction of correct documents.
    pub corpus_ssr: BTreeMap<String, usize>,
    /// Fraction of corpus documents whose final answer is right.
    pub corpus_accuracy: f64,
    /// Final pre-training loss (nats/token).
    pub pretrain_loss: Option<f64>,
    /// base, grpo, dr_grpo.
    pub models: Vec<ModelRow>,
    /// Per RL run: length (tokens) of correct / incorrect responses at the first step, the
    /// minimum over steps and the last step, from `metrics.jsonl`.
    pub lengths: BTreeMap<String, LengthDynamics>,
    /// The report.
    pub report: PathBuf,
}

/// Start / min / end of a per-step series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// First step's value.
    pub start: Option<f64>,
    /// Smallest value over the run.
    pub min: Option<f64>,
    /// Last step's value.
    pub end: Option<f64>,
}

/// Length dynamics of one RL run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LengthDynamics {
    /// All responses.
    pub all: Series,
    /// Correct responses.
    pub correct: Series,
    /// Incorrect responses.
    pub incorrect: Series,
    /// Reflection rate (responses with a keyword).
    pub reflection_rate: Series,
    /// Training accuracy (rollouts).
    pub accuracy: Series,
    /// Greedy held-out accuracy at the evaluation steps.
    pub eval_accuracy: Series,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

fn phase_done(dir: &Path, name: &str) -> Result<Option<PhaseRecord>> {
    let p = dir.join("phases").join(format!("{name}.json"));
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Parse {
            path: p.clone(),
            line: e.line(),
            msg: e.to_string(),
        })
}

fn mark_done(dir: &Path, name: &str, wall_s: f64) -> Result<PhaseRecord> {
    let d = dir.join("phases");
    std::fs::create_dir_all(&d).map_err(io(&d))?;
    let rec = PhaseRecord {
        schema_version: SUMMARY_SCHEMA_VERSION,
        phase: name.to_string(),
        wall_s,
    };
    let p = d.join(format!("{name}.json"));
    aha_rundir::write_atomic(
        &p,
        serde_json::to_string(&rec).unwrap_or_default().as_bytes(),
    )?;
    Ok(rec)
}

/// The held-out questions as probe problems (`id`, `question`, `answer`).
pub fn problems(questions: &[Question], prefix: &str) -> Vec<Problem> {
    questions
        .iter()
        .enumerate()
        .map(|(i, q)| Problem {
            id: format!("{prefix}-{i:05}"),
            question: q.text(),
            gold: Gold::Answer(q.answer().to_string()),
            meta: serde_json::Map::new(),
        })
        .collect()
}

fn write_jsonl<T: Serialize>(path: &Path, rows: impl Iterator<Item = T>) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(&r).unwrap_or_default());
        text.push('\n');
    }
    aha_rundir::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// The world's data of a configuration: (corpus, train questions, held-out questions).
pub fn world_data(cfg: &DemoConfig) -> Result<(Vec<Solution>, Vec<Question>, Vec<Question>)> {
    let world = World::new(cfg.world.clone())?;
    let eval = world.questions(
        cfg.eval_questions,
        &mut rng_for(cfg.seed, 1),
        &HashSet::new(),
    )?;
    let held: HashSet<String> = eval.iter().map(Question::text).collect();
    let train = world.questions(cfg.train_questions, &mut rng_for(cfg.seed, 2), &held)?;
    // Corpus questions come from the training distribution, never the held-out questions.
    let mut rng = rng_for(cfg.seed, 3);
    let mut corpus = Vec::with_capacity(cfg.corpus_size);
    while corpus.len() < cfg.corpus_size {
        let q = world.question(&mut rng);
        if held.contains(&q.text()) {
            continue;
        }
        corpus.push(world.solve(&q, &mut rng));
    }
    Ok((corpus, train, eval))
}

/// Samples and analyses one model on the held-out problems into `dir` (aha-probe's layout).
fn probe(
    dir: &Path,
    model: Model,
    tok: Tokenizer,
    name: &str,
    problems: &[Problem],
    cfg: &DemoConfig,
    progress: bool,
) -> Result<ProbeSummary> {
    let (spec, seed) = (&cfg.probe, cfg.seed);
    let sampler = EmbeddedSampler::new(model, tok, name).with_max_batch(128);
    let templates = vec![Template::None];
    let config = ProbeConfig {
        schema_version: aha_probe::CONFIG_SCHEMA_VERSION,
        sampler: sampler.describe(),
        data: "world/eval.jsonl".into(),
        split: None,
        question_field: None,
        answer_field: None,
        questions: problems.len(),
        limit: None,
        templates: vec!["none".into()],
        temperatures: spec.temperatures.clone(),
        n: spec.n,
        max_tokens: spec.max_tokens,
        top_p: 1.0,
        seed: Some(seed),
    };
    aha_probe::run_sweep(
        dir,
        &config,
        problems,
        &templates,
        &sampler,
        &SweepOptions {
            batch_samples: 256,
            progress,
        },
    )?;
    let grader = Grader::new()?;
    Ok(aha_probe::analyse(
        dir,
        &config,
        problems,
        &templates,
        grader.detector(),
        None,
        false,
    )?)
}

fn row(name: &str, s: &ProbeSummary) -> ModelRow {
    let Some(t) = s.templates.first() else {
        return ModelRow {
            model: name.into(),
            temperature: 0.0,
            accuracy: None,
            greedy_accuracy: None,
            pass_any: None,
            reflection_rate: 0.0,
            ssr: BTreeMap::new(),
            mean_tokens: None,
        };
    };
    let groups = &t.summary.by_temperature;
    let hot = groups.iter().max_by(|a, b| {
        a.temperature
            .unwrap_or(0.0)
            .total_cmp(&b.temperature.unwrap_or(0.0))
    });
    let temperature = hot.and_then(|g| g.temperature).unwrap_or(0.0);
    let greedy = groups
        .iter()
        .find(|g| g.temperature == Some(0.0))
        .and_then(|g| g.accuracy);
    ModelRow {
        model: name.into(),
        temperature,
        accuracy: hot.and_then(|g| g.accuracy),
        greedy_accuracy: greedy,
        pass_any: hot.and_then(|g| g.pass_any),
        reflection_rate: hot.map_or(0.0, |g| g.response_reflection_rate),
        ssr: hot.map(|g| g.ssr.clone()).unwrap_or_default(),
        mean_tokens: t
            .lengths
            .iter()
            .find(|l| l.temperature == temperature)
            .and_then(|l| l.mean_tokens),
    }
}

fn series(values: &[Option<f64>]) -> Series {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    Series {
        start: present.first().copied(),
        min: present.iter().copied().reduce(f64::min),
        end: present.last().copied(),
    }
}

/// Length, reflection and accuracy dynamics of an RL run from its `metrics.jsonl`.
pub fn dynamics(metrics: &Path) -> Result<LengthDynamics> {
    let text = std::fs::read_to_string(metrics).map_err(io(metrics))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::Parse {
            path: metrics.to_path_buf(),
            line: i + 1,
            msg: e.to_string(),
        })?;
        rows.push(v);
    }
    let col = |f: &dyn Fn(&serde_json::Value) -> Option<f64>| -> Series {
        series(&rows.iter().map(f).collect::<Vec<_>>())
    };
    Ok(LengthDynamics {
        all: col(&|v| v["len_mean"].as_f64()),
        correct: col(&|v| v["len_correct"].as_f64()),
        incorrect: col(&|v| v["len_incorrect"].as_f64()),
        reflection_rate: col(&|v| v["reflection_rate"].as_f64()),
        accuracy: col(&|v| v["accuracy"].as_f64()),
        eval_accuracy: col(&|v| v["eval"]["accuracy"].as_f64()),
    })
}

/// Runs (or resumes) the whole demo into `dir`; `log` receives one line per phase event.
pub fn run(
    cfg: &DemoConfig,
    dir: &Path,
    opts: RunOptions,
    log: &mut dyn FnMut(&str),
) -> Result<DemoSummary> {
    cfg.validate()?;
    let resumed = check_or_write(dir, cfg)?;
    if resumed {
        log(&format!(
            "resuming the run in {} (same configuration)",
            dir.display()
        ));
    }
    let mut phases = Vec::new();

    // World: cheap and deterministic, so it is recomputed every time; its files are written once.
    let t = Instant::now();
    let (corpus, train, eval) = world_data(cfg)?;
    let world_dir = dir.join("world");
    std::fs::create_dir_all(&world_dir).map_err(io(&world_dir))?;
    let eval_problems = problems(&eval, "eval");
    let train_problems = problems(&train, "train");
    let mut corpus_ssr: BTreeMap<String, usize> = BTreeMap::new();
    let mut corpus_correct = 0usize;
    for s in &corpus {
        *corpus_ssr
            .entry(s.intended_ssr().as_str().to_string())
            .or_insert(0) += 1;
        corpus_correct += usize::from(s.is_correct());
    }
    if phase_done(dir, "world")?.is_none() {
        write_jsonl(
            &world_dir.join("eval.jsonl"),
            eval_problems.iter().map(
                |p| json!({"id": p.id, "question": p.question, "answer": p.gold.answers()[0]}),
            ),
        )?;
        write_jsonl(
            &world_dir.join("train.jsonl"),
            problems(&train, "train").iter().map(
                |p| json!({"id": p.id, "question": p.question, "answer": p.gold.answers()[0]}),
            ),
        )?;
        write_jsonl(
            &world_dir.join("corpus.jsonl"),
            corpus.iter().map(|s| {
                json!({"schema_version": 1, "question": s.question.text(),
                       "response": s.response(), "gold": s.question.answer().to_string(),
                       "intended_ssr": s.intended_ssr().as_str(), "correct": s.is_correct()})
            }),
        )?;
        phases.push(mark_done(dir, "world", t.elapsed().as_secs_f64())?);
    } else if let Some(r) = phase_done(dir, "world")? {
        phases.push(r);
    }
    log(&format!(
        "world: {} corpus documents ({:.0}% correct; reflections {:?}), {} train / {} held-out questions",
        corpus.len(),
        100.0 * corpus_correct as f64 / corpus.len().max(1) as f64,
        corpus_ssr,
        train.len(),
        eval.len()
    ));

    // Pre-training.
    let base_dir = dir.join("base");
    let base_path = base_dir.join("model.safetensors");
    let tok = vocab::write_and_load(&base_dir, cfg.world.max_value)?;
    let mut pretrain_loss = None;
    let loss_path = base_dir.join("pretrain.jsonl");
    if let Some(r) = phase_done(dir, "pretrain")? {
        phases.push(r);
    } else {
        let t = Instant::now();
        let docs = corpus
            .iter()
            .map(|s| document(&tok, s))
            .collect::<Result<Vec<_>>>()?;
        let model = init_model(&cfg.model, tok.vocab_size(), cfg.seed)?;
        log(&format!(
            "pre-training a {}-parameter model ({} layers, hidden {}) for {} steps of {} documents",
            model.num_params(),
            cfg.model.layers,
            cfg.model.hidden,
            cfg.pretrain.steps,
            cfg.pretrain.batch_size
        ));
        let bar = if opts.progress {
            let b = ProgressBar::new(cfg.pretrain.steps as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "pretrain [{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        } else {
            ProgressBar::hidden()
        };
        let mut lines = String::new();
        let metrics = pretrain(&model, &docs, &cfg.pretrain, cfg.seed, &mut |m| {
            bar.set_message(format!("loss {:.3}", m.loss));
            bar.inc(1);
            lines.push_str(&serde_json::to_string(m).unwrap_or_default());
            lines.push('\n');
        })?;
        bar.finish();
        aha_rundir::write_atomic(&loss_path, lines.as_bytes())?;
        let mut tmp = base_path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        model.save(&tmp)?;
        std::fs::rename(&tmp, &base_path).map_err(io(&base_path))?;
        pretrain_loss = metrics.last().map(|m| m.loss);
        phases.push(mark_done(dir, "pretrain", t.elapsed().as_secs_f64())?);
    }
    if pretrain_loss.is_none() && loss_path.is_file() {
        let text = std::fs::read_to_string(&loss_path).map_err(io(&loss_path))?;
        pretrain_loss = text
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["loss"].as_f64());
    }
    log(&format!(
        "base model: {} (final pre-training loss {})",
        base_path.display(),
        pretrain_loss.map_or("?".into(), |l| format!("{l:.3}"))
    ));

    // Probes and RL.
    let load = crate::pretrain::load_model;
    let mut summaries: Vec<(String, ProbeSummary)> = Vec::new();
    let probe_phase = |name: &str,
                       model_path: &Path,
                       out: &Path,
                       phases: &mut Vec<PhaseRecord>,
                       log: &mut dyn FnMut(&str)|
     -> Result<ProbeSummary> {
        let t = Instant::now();
        let done = phase_done(dir, name)?;
        let s = probe(
            out,
            load(model_path)?,
            tok.clone(),
            name,
            &eval_problems,
            cfg,
            opts.progress && done.is_none(),
        )?;
        phases.push(match done {
            Some(r) => r,
            None => mark_done(dir, name, t.elapsed().as_secs_f64())?,
        });
        log(&format!(
            "{name}: wrote {}",
            out.join("summary.json").display()
        ));
        Ok(s)
    };
    summaries.push((
        "base".into(),
        probe_phase("probe", &base_path, &dir.join("probe"), &mut phases, log)?,
    ));

    let mut lengths = BTreeMap::new();
    for kind in [AdvantageKind::Grpo, AdvantageKind::DrGrpo] {
        let name = kind.as_str();
        let rl_dir = dir.join(name);
        let model_path = rl_dir.join("model.safetensors");
        if let Some(r) = phase_done(dir, name)? {
            phases.push(r);
        } else {
            let t = Instant::now();
            log(&format!(
                "{name}: {} steps of {} questions x {} samples from the base model",
                cfg.rl.steps, cfg.rl.prompts_per_step, cfg.rl.group_size
            ));
            rl::run(
                kind,
                &cfg.rl,
                cfg.seed,
                &base_path,
                &tok,
                &train_problems,
                &eval_problems,
                &rl_dir,
                opts.progress,
            )?;
            vocab::write_and_load(&rl_dir, cfg.world.max_value)?;
            phases.push(mark_done(dir, name, t.elapsed().as_secs_f64())?);
        }
        lengths.insert(name.to_string(), dynamics(&rl_dir.join("metrics.jsonl"))?);
        let probe_name = format!("probe-{name}");
        let s = probe_phase(
            &probe_name,
            &model_path,
            &dir.join(&probe_name),
            &mut phases,
            log,
        )?;
        summaries.push((name.to_string(), s));
    }

    // Report.
    let t = Instant::now();
    let runs = ["probe", "grpo", "dr_grpo", "probe-grpo", "probe-dr_grpo"]
        .iter()
        .map(|d| aha_report::load_dir(&dir.join(d)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let report = aha_report::build(&runs)?;
    let report_path = dir.join("report.html");
    aha_rundir::write_atomic(&report_path, report.html.as_bytes())?;
    phases.push(PhaseRecord {
        schema_version: SUMMARY_SCHEMA_VERSION,
        phase: "report".into(),
        wall_s: t.elapsed().as_secs_f64(),
    });

    let summary = DemoSummary {
        schema_version: SUMMARY_SCHEMA_VERSION,
        phases,
        corpus_ssr,
        corpus_accuracy: corpus_correct as f64 / corpus.len().max(1) as f64,
        pretrain_loss,
        models: summaries.iter().map(|(n, s)| row(n, s)).collect(),
        lengths,
        report: report_path,
    };
    let path = dir.join("summary.json");
    aha_rundir::write_atomic(
        &path,
        serde_json::to_string_pretty(&summary)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(summary)
}

impl DemoSummary {
    /// The final table: base vs GRPO vs Dr. GRPO, then the RL dynamics and phase times.
    pub fn render_text(&self) -> String {
        let pct = |x: Option<f64>| x.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v));
        let num = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.1}"));
        let ssr = |m: &BTreeMap<String, usize>, k: &str| m.get(k).copied().unwrap_or(0);
        let mut s = String::new();
        let t = self.models.first().map_or(0.0, |m| m.temperature);
        s.push_str(&format!(
            "\nheld-out questions, sampled at T={t} (and greedy):\n{:<8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>5} {:>5} {:>7}\n",
            "model", "acc", "greedy", "pass@k", "reflect", "C->C", "W->C", "C->W", "W->W", "tokens"
        ));
        for m in &self.models {
            s.push_str(&format!(
                "{:<8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>5} {:>5} {:>7}\n",
                m.model,
                pct(m.accuracy),
                pct(m.greedy_accuracy),
                pct(m.pass_any),
                pct(Some(m.reflection_rate)),
                ssr(&m.ssr, "C->C"),
                ssr(&m.ssr, "W->C"),
                ssr(&m.ssr, "C->W"),
                ssr(&m.ssr, "W->W"),
                num(m.mean_tokens),
            ));
        }
        s.push_str("\nRL dynamics (rollouts; start / min / end):\n");
        for (name, d) in &self.lengths {
            let f = |x: &Series, p: bool| {
                let g = |v: Option<f64>| if p { pct(v) } else { num(v) };
                format!("{} / {} / {}", g(x.start), g(x.min), g(x.end))
            };
            s.push_str(&format!(
                "{name:<8} length all {}  correct {}  incorrect {}\n{:<8} reflection {}  accuracy {}  greedy eval {}\n",
                f(&d.all, false),
                f(&d.correct, false),
                f(&d.incorrect, false),
                "",
                f(&d.reflection_rate, true),
                f(&d.accuracy, true),
                f(&d.eval_accuracy, true),
            ));
        }
        s.push_str("\nphases (wall seconds): ");
        let parts: Vec<String> = self
            .phases
            .iter()
            .map(|p| format!("{} {:.1}", p.phase, p.wall_s))
            .collect();
        s.push_str(&parts.join(", "));
        s.push_str(&format!("\nreport: {}\n", self.report.display()));
        s
    }
}
