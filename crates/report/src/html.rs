//! The page: figures (inline SVG), tables and sample responses, in one HTML document without
//! scripts or external resources.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::chart::{self, BarChart, LineChart, Series};
use crate::error::Result;
use crate::load::{Group, Metrics, ProbeRun, Run, TrainRun};

/// Sample responses shown per category and run.
const SAMPLES_PER_CATEGORY: usize = 3;

/// SSR categories in the study's order (docs/pipeline.md).
const SSR_CATEGORIES: [&str; 6] = ["C->C", "W->C", "C->W", "W->W", "no_prior_answer", "none"];

/// One rendered figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Stable element id (`fig-probe-*`, `fig-train-*`); also the SVG file's stem.
    pub id: String,
    /// Caption.
    pub title: String,
    /// The series drawn, in legend order.
    pub series: Vec<String>,
    /// The standalone SVG document.
    pub svg: String,
}

/// The report: its figures and the whole page.
#[derive(Debug, Clone)]
pub struct Report {
    /// Figures in page order.
    pub figures: Vec<Figure>,
    /// The self-contained HTML page.
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
///
/// Five replacements; hand-written because a template engine for this alone is not worth a
/// dependency.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// HTML-escapes `text` and wraps every (ASCII case-insensitive) occurrence of a keyword in
/// `<mark>`; where matches overlap, the earliest (then longest) wins.
pub fn highlight_keywords<S: AsRef<str>>(text: &str, keywords: &[S]) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` are valid in `text`.
    let lower = text.to_ascii_lowercase();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for k in keywords {
        let k = k.as_ref().to_ascii_lowercase();
        if k.is_empty() {
            continue;
        }
        spans.extend(
            lower
                .match_indices(k.as_str())
                .map(|(i, m)| (i, i + m.len())),
        );
    }
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = String::with_capacity(text.len() + 16);
    let mut pos = 0;
    for (s, e) in spans {
        if s < pos {
            continue;
        }
        out.push_str(&escape_html(&text[pos..s]));
        out.push_str("<mark>");
        out.push_str(&escape_html(&text[s..e]));
        out.push_str("</mark>");
        pos = e;
    }
    out.push_str(&escape_html(&text[pos..]));
    out
}

fn line_figure(
    id: &str,
    title: &str,
    x: &str,
    y: &str,
    series: Vec<Series>,
) -> Result<Option<Figure>> {
    let series: Vec<Series> = series
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let chart = LineChart {
        title: title.to_string(),
        x_label: x.to_string(),
        y_label: y.to_string(),
        series,
    };
    let svg = chart::line_svg(id, &chart)?;
    Ok(Some(Figure {
        id: id.to_string(),
        title: title.to_string(),
        series: chart.series.into_iter().map(|s| s.name).collect(),
        svg,
    }))
}

fn bar_figure(id: &str, title: &str, chart: BarChart) -> Result<Option<Figure>> {
    if chart.categories.is_empty() || chart.groups.is_empty() {
        return Ok(None);
    }
    let svg = chart::bar_svg(id, &chart)?;
    Ok(Some(Figure {
        id: id.to_string(),
        title: title.to_string(),
        series: chart.groups.into_iter().map(|(n, _)| n).collect(),
        svg,
    }))
}

/// (label, by-temperature groups, overall group) for every template of every probe run.
fn probe_lines<'a>(probes: &[&'a ProbeRun]) -> Vec<(String, &'a [Group], &'a Group)> {
    let mut out = Vec::new();
    for p in probes {
        for t in &p.templates {
            let label = if probes.len() > 1 {
                format!("{}/{}", p.name, t.template)
            } else {
                t.template.clone()
            };
            out.push((label, &t.summary.by_temperature[..], &t.summary.overall));
        }
    }
    out
}

/// A series over temperature from a per-group value (groups without the value are skipped).
fn over_t(name: String, groups: &[Group], f: impl Fn(&Group) -> Option<f64>) -> Series {
    Series {
        name,
        points: groups
            .iter()
            .filter_map(|g| Some((g.temperature?, f(g)?)))
            .collect(),
    }
}

fn pct(count: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| 100.0 * count as f64 / of as f64)
}

fn probe_figures(probes: &[&ProbeRun]) -> Result<Vec<Figure>> {
    let lines = probe_lines(probes);
    let mut figs = Vec::new();
    let mut refl = Vec::new();
    let mut pass = Vec::new();
    let mut answering = Vec::new();
    let mut kw_correct = Vec::new();
    for (label, groups, _) in &lines {
        refl.push(over_t(format!("{label} keyword"), groups, |g| {
            Some(100.0 * g.question_reflection_rate)
        }));
        refl.push(over_t(format!("{label} judge"), groups, |g| {
            pct(g.judge.as_ref()?.judge_questions, g.questions)
        }));
        refl.push(over_t(format!("{label} cross"), groups, |g| {
            pct(g.judge.as_ref()?.cross_questions, g.questions)
        }));
        pass.push(over_t(format!("{label} pass@k"), groups, |g| {
            g.pass_any.map(|v| 100.0 * v)
        }));
        pass.push(over_t(format!("{label} accuracy"), groups, |g| {
            g.accuracy.map(|v| 100.0 * v)
        }));
        answering.push(over_t(format!("{label} answered"), groups, |g| {
            g.answer_rate.map(|v| 100.0 * v)
        }));
        answering.push(over_t(format!("{label} llm-answering"), groups, |g| {
            g.llm_answer_rate.map(|v| 100.0 * v)
        }));
        kw_correct.push(over_t(format!("{label} correct"), groups, |g| {
            Some(g.reflection_vs_correctness.as_ref()?.occurrences_in_correct as f64)
        }));
        kw_correct.push(over_t(format!("{label} incorrect"), groups, |g| {
            Some(
                g.reflection_vs_correctness
                    .as_ref()?
                    .occurrences_in_incorrect as f64,
            )
        }));
    }
    let t = "temperature";
    figs.extend(line_figure(
        "fig-probe-reflection-k",
        "Reflection@k vs temperature (% of questions)",
        t,
        "reflection@k (%)",
        refl,
    )?);
    figs.extend(line_figure(
        "fig-probe-pass-k",
        "Pass@k and accuracy vs temperature",
        t,
        "%",
        pass,
    )?);
    figs.extend(line_figure(
        "fig-probe-answering",
        "Answering rate vs temperature",
        t,
        "% of responses",
        answering,
    )?);

    // Keywords ordered by total occurrences over all templates, most frequent first.
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, overall) in &lines {
        for row in &overall.keyword_table {
            *totals.entry(row.keyword.as_str()).or_default() += row.occurrences;
        }
    }
    let mut keywords: Vec<(&str, usize)> = totals.into_iter().filter(|(_, n)| *n > 0).collect();
    keywords.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let categories: Vec<String> = keywords.iter().map(|(k, _)| k.to_string()).collect();
    let groups = lines
        .iter()
        .map(|(label, _, overall)| {
            let vals = categories
                .iter()
                .map(|k| {
                    overall
                        .keyword_table
                        .iter()
                        .find(|r| &r.keyword == k)
                        .map_or(0.0, |r| r.occurrences as f64)
                })
                .collect();
            (label.clone(), vals)
        })
        .collect();
    figs.extend(bar_figure(
        "fig-probe-keywords",
        "Keyword occurrences (log scale)",
        BarChart {
            title: "Keyword occurrences (log scale)".into(),
            y_label: "occurrences".into(),
            categories,
            groups,
            log_y: true,
        },
    )?);
    figs.extend(line_figure(
        "fig-probe-keywords-correctness",
        "Keyword occurrences in correct vs incorrect responses",
        t,
        "occurrences",
        kw_correct,
    )?);
    let ssr_groups: Vec<(String, Vec<f64>)> = lines
        .iter()
        .filter(|(_, _, o)| !o.ssr.is_empty())
        .map(|(label, _, o)| {
            let vals = SSR_CATEGORIES
                .iter()
                .map(|c| o.ssr.get(*c).copied().unwrap_or(0) as f64)
                .collect();
            (label.clone(), vals)
        })
        .collect();
    figs.extend(bar_figure(
        "fig-probe-ssr",
        "Self-reflection outcome (SSR) categories (log scale)",
        BarChart {
            title: "SSR categories (log scale)".into(),
            y_label: "responses".into(),
            categories: SSR_CATEGORIES.iter().map(|c| c.to_string()).collect(),
            groups: ssr_groups,
            log_y: true,
        },
    )?);
    Ok(figs)
}

fn over_step(name: String, m: &[Metrics], f: impl Fn(&Metrics) -> Option<f64>) -> Series {
    Series {
        name,
        points: m
            .iter()
            .filter_map(|x| Some((x.step as f64, f(x)?)))
            .filter(|(_, y)| y.is_finite())
            .collect(),
    }
}

fn train_figures(runs: &[&TrainRun]) -> Result<Vec<Figure>> {
    type Get = fn(&Metrics) -> Option<f64>;
    let per_run = |parts: &[(&str, Get)]| -> Vec<Series> {
        runs.iter()
            .flat_map(|r| {
                parts.iter().map(move |(suffix, f)| {
                    let name = if suffix.is_empty() {
                        r.name.clone()
                    } else {
                        format!("{} {suffix}", r.name)
                    };
                    over_step(name, &r.metrics, f)
                })
            })
            .collect()
    };
    let s = "step";
    let mut figs = Vec::new();
    figs.extend(line_figure(
        "fig-train-reward",
        "Mean reward vs step",
        s,
        "reward",
        per_run(&[("", |m| m.reward_mean)]),
    )?);
    figs.extend(line_figure(
        "fig-train-accuracy",
        "Accuracy vs step (train rollouts; eval = greedy held-out)",
        s,
        "accuracy",
        per_run(&[
            ("train", |m| m.accuracy),
            ("eval", |m| m.eval.as_ref()?.accuracy),
        ]),
    )?);
    figs.extend(line_figure(
        "fig-train-length",
        "Response length vs step",
        s,
        "tokens",
        per_run(&[
            ("all", |m| m.len_mean),
            ("correct", |m| m.len_correct),
            ("incorrect", |m| m.len_incorrect),
            ("truncated", |m| m.len_truncated),
        ]),
    )?);
    figs.extend(line_figure(
        "fig-train-reflection",
        "Reflection keywords per response vs step",
        s,
        "keywords / response",
        per_run(&[("", |m| m.reflection_count_mean)]),
    )?);
    figs.extend(line_figure(
        "fig-train-outcomes",
        "Outcome composition vs step",
        s,
        "fraction of responses",
        per_run(&[
            ("correct", |m| m.frac_correct),
            ("formatted-but-wrong", |m| m.frac_formatted_wrong),
            ("unformatted", |m| m.frac_unformatted),
        ]),
    )?);
    figs.extend(line_figure(
        "fig-train-kl",
        "Approximate KL vs step",
        s,
        "KL",
        per_run(&[("", |m| m.approx_kl)]),
    )?);
    figs.extend(line_figure(
        "fig-train-entropy",
        "Entropy vs step",
        s,
        "nats / token",
        per_run(&[("", |m| m.entropy)]),
    )?);
    figs.extend(line_figure(
        "fig-train-clip",
        "Clip fraction vs step",
        s,
        "fraction",
        per_run(&[("", |m| m.clip_frac)]),
    )?);
    Ok(figs)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        v => v.to_string(),
    }
}

fn config_table(out: &mut String, cols: &[(String, &Map<String, Value>)]) {
    let mut keys: Vec<&String> = cols.iter().flat_map(|(_, c)| c.keys()).collect();
    keys.sort();
    keys.dedup();
    out.push_str("<table id=\"tab-configs\"><thead><tr><th>field</th>");
    for (name, _) in cols {
        let _ = write!(out, "<th>{}</th>", escape_html(name));
    }
    out.push_str("</tr></thead><tbody>");
    for k in keys {
        let _ = write!(out, "<tr><th>{}</th>", escape_html(k));
        for (_, c) in cols {
            let v = c.get(k).map_or(String::new(), value_text);
            let _ = write!(out, "<td>{}</td>", escape_html(&v));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn probe_table(out: &mut String, probes: &[&ProbeRun]) {
    out.push_str(
        "<table id=\"tab-probe-summary\"><thead><tr><th>run</th><th>template</th><th>T</th>\
         <th>responses</th><th>questions</th><th>accuracy</th><th>pass@k</th><th>reflection@k</th>\
         <th>judge@k</th><th>cross@k</th><th>answered</th></tr></thead><tbody>",
    );
    for p in probes {
        for t in &p.templates {
            for g in t.summary.by_temperature.iter().chain([&t.summary.overall]) {
                let judge = |f: fn(&crate::load::JudgeCounts) -> usize| {
                    g.judge
                        .as_ref()
                        .and_then(|j| pct(f(j), g.questions))
                        .map_or("–".into(), |v| format!("{v:.1}%"))
                };
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape_html(&p.name),
                    escape_html(&t.template),
                    g.temperature.map_or("all".into(), |t| t.to_string()),
                    g.responses,
                    g.questions,
                    opt_pct(g.accuracy),
                    opt_pct(g.pass_any),
                    100.0 * g.question_reflection_rate,
                    judge(|j| j.judge_questions),
                    judge(|j| j.cross_questions),
                    opt_pct(g.answer_rate),
                );
            }
        }
    }
    out.push_str("</tbody></table>");
}

fn last<T>(m: &[Metrics], f: impl Fn(&Metrics) -> Option<T>) -> Option<T> {
    m.iter().rev().find_map(f)
}

fn num(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

fn train_table(out: &mut String, runs: &[&TrainRun]) {
    out.push_str(
        "<table id=\"tab-train-summary\"><thead><tr><th>run</th><th>algorithm</th><th>steps</th>\
         <th>last step</th><th>reward</th><th>accuracy</th><th>best eval accuracy</th>\
         <th>length</th><th>reflections / response</th></tr></thead><tbody>",
    );
    for r in runs {
        let m = &r.metrics;
        let best_eval = m
            .iter()
            .filter_map(|x| x.eval.as_ref()?.accuracy)
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&r.name),
            escape_html(&last(m, |x| x.algorithm.clone()).unwrap_or_default()),
            m.len(),
            m.iter().map(|x| x.step).max().unwrap_or(0),
            num(last(m, |x| x.reward_mean)),
            num(last(m, |x| x.accuracy)),
            num(best_eval),
            num(last(m, |x| x.len_mean)),
            num(last(m, |x| x.reflection_count_mean)),
        );
    }
    out.push_str("</tbody></table>");
}

fn sample_block(out: &mut String, heading: &str, meta: &str, body_html: &str) {
    let _ = write!(
        out,
        "<details class=\"sample\"><summary>{} <span class=\"meta\">{}</span></summary><pre>{}</pre></details>",
        escape_html(heading),
        escape_html(meta),
        body_html
    );
}

fn probe_samples(out: &mut String, p: &ProbeRun) {
    let mut by_cat: BTreeMap<String, Vec<&crate::load::ProbeSample>> = BTreeMap::new();
    for s in &p.samples {
        let cat = match s.ssr.as_deref() {
            Some(c) if c != "none" => format!("SSR {c}"),
            _ => format!("{} without reflection", s.verdict),
        };
        let v = by_cat.entry(cat).or_default();
        if v.len() < SAMPLES_PER_CATEGORY {
            v.push(s);
        }
    }
    let _ = write!(out, "<h3>{}</h3>", escape_html(&p.name));
    for (cat, samples) in by_cat {
        let _ = write!(out, "<h4>{}</h4>", escape_html(&cat));
        for s in samples {
            let kws: Vec<&String> = s.keywords.keys().collect();
            let meta = format!(
                "{} · T={} · #{} · {} · keywords: {}",
                s.template,
                s.temperature,
                s.sample_index,
                s.verdict,
                if kws.is_empty() {
                    "none".to_string()
                } else {
                    kws.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            sample_block(
                out,
                &format!("question {}", s.question_id),
                &meta,
                &highlight_keywords(&s.response, &kws),
            );
        }
    }
}

fn train_samples(out: &mut String, r: &TrainRun, words: &[String]) {
    let mut by_cat: BTreeMap<String, Vec<&crate::load::TrainSample>> = BTreeMap::new();
    // Latest samples first: the end of training is what a reader checks.
    let mut sorted: Vec<_> = r.samples.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.step));
    for s in sorted {
        let v = by_cat
            .entry(s.verdict.clone().unwrap_or_else(|| "unknown".into()))
            .or_default();
        if v.len() < SAMPLES_PER_CATEGORY {
            v.push(s);
        }
    }
    let _ = write!(out, "<h3>{}</h3>", escape_html(&r.name));
    for (cat, samples) in by_cat {
        let _ = write!(out, "<h4>{}</h4>", escape_html(&cat));
        for s in samples {
            let meta = format!("step {} · reward {}", s.step, num(s.reward));
            sample_block(
                out,
                &format!("question {}", s.question_id),
                &meta,
                &highlight_keywords(&s.response, words),
            );
        }
    }
}

const CSS: &str = "
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#666;--line:#ddd;--mark:#ffe066}
@media (prefers-color-scheme: dark){:root{--bg:#15171a;--fg:#e6e6e6;--muted:#9a9a9a;--line:#333;--mark:#7a5d00}
 figure.chart svg{filter:invert(0.9) hue-rotate(180deg)}}
body{background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1720px;padding:0 1rem}
h1,h2,h3{font-weight:600} .meta{color:var(--muted);font-size:.85em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,600px),1fr));gap:12px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:6px}
figure.chart svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;margin:1rem 0;font-size:.9em;display:block;overflow-x:auto}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
details.sample{border:1px solid var(--line);border-radius:4px;margin:4px 0;padding:4px 8px}
details.sample pre{white-space:pre-wrap;word-break:break-word;max-height:24em;overflow:auto}
mark{background:var(--mark);color:inherit}
";

/// The training runs, renamed `name (directory)` where two share a `run` name, so that their
/// series stay apart.
fn distinct_train_names(runs: &[Run]) -> Vec<TrainRun> {
    let trains: Vec<&TrainRun> = runs
        .iter()
        .filter_map(|r| match r {
            Run::Train(t) => Some(t),
            _ => None,
        })
        .collect();
    trains
        .iter()
        .map(|t| {
            let mut t = (*t).clone();
            if trains.iter().filter(|o| o.name == t.name).count() > 1 {
                t.name = format!("{} ({})", t.name, t.dir.display());
            }
            t
        })
        .collect()
}

/// Builds the report from loaded runs (probe figures, then training figures).
pub fn build(runs: &[Run]) -> Result<Report> {
    let probes: Vec<&ProbeRun> = runs
        .iter()
        .filter_map(|r| match r {
            Run::Probe(p) => Some(p),
            _ => None,
        })
        .collect();
    let owned = distinct_train_names(runs);
    let trains: Vec<&TrainRun> = owned.iter().collect();
    let probe_figs = if probes.is_empty() {
        Vec::new()
    } else {
        probe_figures(&probes)?
    };
    let train_figs = if trains.is_empty() {
        Vec::new()
    } else {
        train_figures(&trains)?
    };

    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <meta name=\"color-scheme\" content=\"light dark\"><title>aha report</title><style>",
    );
    h.push_str(CSS);
    h.push_str("</style></head><body><h1>aha report</h1><p class=\"meta\">Runs: ");
    let names: Vec<String> = runs
        .iter()
        .map(|r| match r {
            Run::Probe(p) => format!("{} (probe, {})", p.name, p.dir.display()),
            Run::Train(t) => format!("{} (training, {})", t.name, t.dir.display()),
        })
        .collect();
    h.push_str(&escape_html(&names.join("; ")));
    h.push_str("</p>");
    let figs_html = |h: &mut String, figs: &[Figure]| {
        h.push_str("<div class=\"figs\">");
        for f in figs {
            let series = serde_json::to_string(&f.series).unwrap_or_default();
            let _ = write!(
                h,
                // The caption is inside the SVG (so exported files carry it); aria-label names it.
                "<figure class=\"chart\" id=\"{}\" data-series=\"{}\" aria-label=\"{}\">{}</figure>",
                escape_html(&f.id),
                escape_html(&series),
                escape_html(&f.title),
                f.svg
            );
        }
        h.push_str("</div>");
    };
    if !probes.is_empty() {
        h.push_str("<section id=\"probe\"><h2>Probe (epoch 0)</h2>");
        figs_html(&mut h, &probe_figs);
        h.push_str("<h3>Summary</h3>");
        probe_table(&mut h, &probes);
        h.push_str("</section>");
    }
    if !trains.is_empty() {
        h.push_str("<section id=\"training\"><h2>Training</h2>");
        figs_html(&mut h, &train_figs);
        h.push_str("<h3>Summary</h3>");
        train_table(&mut h, &trains);
        h.push_str("</section>");
    }
    h.push_str("<section id=\"configs\"><h2>Run configurations</h2>");
    let cols: Vec<(String, &Map<String, Value>)> = runs
        .iter()
        .map(|r| match r {
            Run::Probe(p) => (p.name.clone(), &p.config),
            Run::Train(t) => (t.name.clone(), &t.config),
        })
        .collect();
    config_table(&mut h, &cols);
    h.push_str(
        "</section><section id=\"samples\"><h2>Sample responses</h2>\
        <p class=\"meta\">Reflection keywords are highlighted.</p>",
    );
    for p in &probes {
        probe_samples(&mut h, p);
    }
    if trains.iter().any(|t| !t.samples.is_empty()) {
        let words = aha_reflect::Keywords::preset("paper15")?.words().to_vec();
        for t in trains.iter().filter(|t| !t.samples.is_empty()) {
            train_samples(&mut h, t, &words);
        }
    }
    h.push_str("</section></body></html>\n");
    let mut figures = probe_figs;
    figures.extend(train_figs);
    Ok(Report { figures, html: h })
}
