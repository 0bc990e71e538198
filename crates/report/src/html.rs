//! The page: figures (inline SVG), tables and sample responses, in one HTML document without
//! scripts or external resources.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aha_reflect::{Keywords, SsrCategory};
use serde_json::{Map, Value};

use crate::chart::{self, BarChart, Dash, DualChart, LineChart, Series};
use crate::error::Result;
use crate::load::{Group, Metrics, ProbeRun, Run, TrainRun};

/// Sample responses shown per category and run.
const SAMPLES_PER_CATEGORY: usize = 3;

/// The SSR categories a chart or table shows, from aha-reflect's one list: every outcome but an
/// unreadable gold (which says nothing about reflection), in the study's order (docs/pipeline.md:
/// the reflective outcomes, then `none`). With `reflective_only`, without `none` (no keyword:
/// most responses, which would flatten the rest; the tables have it).
fn ssr_categories(reflective_only: bool) -> Vec<&'static str> {
    let mut cats: Vec<SsrCategory> = SsrCategory::ALL
        .into_iter()
        .filter(|c| *c != SsrCategory::GoldUnparseable)
        .filter(|c| !(reflective_only && *c == SsrCategory::None))
        .collect();
    // A stable sort: the reflective outcomes keep their order, `none` goes last.
    cats.sort_by_key(|c| *c == SsrCategory::None);
    cats.into_iter().map(SsrCategory::as_str).collect()
}

/// Series longer than this get a smoothed line over the faint raw one.
const SMOOTH_MIN_POINTS: usize = 30;

/// How the report is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// EMA weight in `[0, 1)` of the smoothed per-step curves (0: raw only); applied to series of
    /// more than 30 steps, drawn over the faint raw line.
    pub ema: f64,
}

impl Default for Options {
    fn default() -> Options {
        Options { ema: 0.9 }
    }
}

/// Each long series as a faint raw line plus its EMA (same name, colour and dash).
fn smoothed(series: Vec<Series>, ema: f64) -> Vec<Series> {
    let mut out = Vec::with_capacity(series.len() * 2);
    for s in series {
        if ema <= 0.0 || s.points.len() <= SMOOTH_MIN_POINTS {
            out.push(s);
            continue;
        }
        let ys: Vec<f64> = s.points.iter().map(|p| p.1).collect();
        let mut smooth = s.clone();
        smooth.points = s
            .points
            .iter()
            .zip(aha_analyse::ema(&ys, ema))
            .map(|(p, y)| (p.0, y))
            .collect();
        let mut raw = s;
        raw.faint = true;
        out.push(raw);
        out.push(smooth);
    }
    out
}

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
    Series::new(
        name,
        groups
            .iter()
            .filter_map(|g| Some((g.temperature?, f(g)?)))
            .collect(),
        0,
    )
}

/// `s` drawn in palette colour `color` with `dash`.
fn styled(mut s: Series, color: usize, dash: Dash) -> Series {
    s.color = color;
    s.dash = dash;
    s
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
    // A colour per model/template, a dash per measure.
    for (li, (label, groups, _)) in lines.iter().enumerate() {
        let st = |s: Series, part: usize| styled(s, li, Dash::nth(part));
        refl.push(st(
            over_t(format!("{label} keyword"), groups, |g| {
                Some(100.0 * g.question_reflection_rate)
            }),
            0,
        ));
        refl.push(st(
            over_t(format!("{label} judge"), groups, |g| {
                pct(g.judge.as_ref()?.judge_questions, g.questions)
            }),
            1,
        ));
        refl.push(st(
            over_t(format!("{label} cross"), groups, |g| {
                pct(g.judge.as_ref()?.cross_questions, g.questions)
            }),
            2,
        ));
        pass.push(st(
            over_t(format!("{label} pass@k"), groups, |g| {
                g.pass_any.map(|v| 100.0 * v)
            }),
            0,
        ));
        pass.push(st(
            over_t(format!("{label} accuracy"), groups, |g| {
                g.accuracy.map(|v| 100.0 * v)
            }),
            1,
        ));
        answering.push(st(
            over_t(format!("{label} answered"), groups, |g| {
                g.answer_rate.map(|v| 100.0 * v)
            }),
            0,
        ));
        answering.push(st(
            over_t(format!("{label} llm-answering"), groups, |g| {
                g.llm_answer_rate.map(|v| 100.0 * v)
            }),
            1,
        ));
        kw_correct.push(st(
            over_t(format!("{label} correct"), groups, |g| {
                Some(g.reflection_vs_correctness.as_ref()?.occurrences_in_correct as f64)
            }),
            0,
        ));
        kw_correct.push(st(
            over_t(format!("{label} incorrect"), groups, |g| {
                Some(
                    g.reflection_vs_correctness
                        .as_ref()?
                        .occurrences_in_incorrect as f64,
                )
            }),
            1,
        ));
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
            let vals = ssr_categories(false)
                .into_iter()
                .map(|c| o.ssr.get(c).copied().unwrap_or(0) as f64)
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
            categories: ssr_categories(false)
                .into_iter()
                .map(String::from)
                .collect(),
            groups: ssr_groups,
            log_y: true,
        },
    )?);
    Ok(figs)
}

fn over_step(name: String, m: &[Metrics], f: impl Fn(&Metrics) -> Option<f64>) -> Series {
    Series::new(
        name,
        m.iter()
            .filter_map(|x| Some((x.step as f64, f(x)?)))
            .filter(|(_, y)| y.is_finite())
            .collect(),
        0,
    )
}

/// Share of the responses counted in `ssr` that fall in `category`, in percent.
fn ssr_pct(ssr: &BTreeMap<String, f64>, category: &str) -> Option<f64> {
    let total: f64 = ssr.values().sum();
    (total > 0.0).then(|| 100.0 * ssr.get(category).copied().unwrap_or(0.0) / total)
}

fn train_figures(runs: &[&TrainRun], opts: &Options) -> Result<Vec<Figure>> {
    use SsrCategory::{
        CorrectToCorrect as CC, CorrectToWrong as CW, WrongToCorrect as WC, WrongToWrong as WW,
    };
    type Get = fn(&Metrics) -> Option<f64>;
    let per_run = |parts: &[(&str, Get)]| -> Vec<Series> {
        // One metric: a colour per run. Several: a colour per metric and a dash per run, so
        // that "correct" looks the same in every run and each run keeps its stroke.
        let has_points = |f: &Get| {
            runs.iter()
                .any(|r| r.metrics.iter().any(|m| f(m).is_some()))
        };
        let multi = parts.iter().filter(|(_, f)| has_points(f)).count() > 1;
        runs.iter()
            .enumerate()
            .flat_map(|(ri, r)| {
                parts.iter().enumerate().map(move |(pi, (suffix, f))| {
                    let name = if suffix.is_empty() {
                        r.name.clone()
                    } else {
                        format!("{} {suffix}", r.name)
                    };
                    let s = over_step(name, &r.metrics, f);
                    if multi {
                        styled(s, pi, Dash::nth(ri))
                    } else {
                        styled(s, ri, Dash::Solid)
                    }
                })
            })
            .collect()
    };
    let s = "step";
    let mut figs = Vec::new();
    let ema = opts.ema;
    // The study's figure: length and reflection count on one chart, two axes.
    figs.extend(length_reflection_figure(runs, ema)?);
    let mut line = |id: &str, title: &str, y: &str, series: Vec<Series>| -> Result<()> {
        figs.extend(line_figure(id, title, s, y, smoothed(series, ema))?);
        Ok(())
    };
    line(
        "fig-train-reward",
        "Reward vs step (mean and std over the rollout batch)",
        "reward",
        per_run(&[
            ("mean", |m| m.reward_mean),
            ("std", |m| m.reward_std),
            ("eval mean", |m| m.eval.as_ref()?.reward_mean),
        ]),
    )?;
    line(
        "fig-train-accuracy",
        "Accuracy vs step (train rollouts; eval = greedy held-out)",
        "accuracy",
        per_run(&[
            ("train", |m| m.accuracy),
            ("eval", |m| m.eval.as_ref()?.accuracy),
        ]),
    )?;
    line(
        "fig-train-length",
        "Response length vs step (train rollouts)",
        "tokens",
        per_run(&[
            ("all", |m| m.len_mean),
            ("correct", |m| m.len_correct),
            ("incorrect", |m| m.len_incorrect),
            ("truncated", |m| m.len_truncated),
        ]),
    )?;
    line(
        "fig-train-length-chars",
        "Response length in characters vs step, by outcome (as the study plots it)",
        "characters",
        per_run(&[
            ("all", |m| m.chars_mean),
            ("correct", |m| m.chars_correct),
            ("incorrect", |m| m.chars_incorrect),
            ("truncated", |m| m.chars_truncated),
        ]),
    )?;
    line(
        "fig-train-agreement",
        "Engine reward vs aha's verdict: agreement per step (imported runs)",
        "fraction of re-graded responses",
        per_run(&[("", |m| m.engine_agreement)]),
    )?;
    line(
        "fig-train-eval-length",
        "Response length vs step (greedy eval)",
        "tokens",
        per_run(&[
            ("all", |m| m.eval.as_ref()?.len_mean),
            ("correct", |m| m.eval.as_ref()?.len_correct),
            ("incorrect", |m| m.eval.as_ref()?.len_incorrect),
        ]),
    )?;
    line(
        "fig-train-reflection",
        "Reflection keywords per response vs step",
        "keywords / response",
        per_run(&[("", |m| m.reflection_count_mean)]),
    )?;
    line(
        "fig-train-reflection-rate",
        "Responses with a reflection keyword vs step",
        "fraction of responses",
        per_run(&[
            ("train", |m| m.reflection_rate),
            ("eval", |m| m.eval.as_ref()?.reflection_rate),
        ]),
    )?;
    line(
        "fig-train-ssr",
        "Self-reflection outcomes (SSR) vs step",
        "% of responses",
        per_run(&[
            (CC.as_str(), |m| ssr_pct(m.ssr.as_ref()?, CC.as_str())),
            (WC.as_str(), |m| ssr_pct(m.ssr.as_ref()?, WC.as_str())),
            (CW.as_str(), |m| ssr_pct(m.ssr.as_ref()?, CW.as_str())),
            (WW.as_str(), |m| ssr_pct(m.ssr.as_ref()?, WW.as_str())),
        ]),
    )?;
    line(
        "fig-train-outcomes",
        "Outcome composition vs step",
        "fraction of responses",
        per_run(&[
            ("correct", |m| m.frac_correct),
            ("formatted-but-wrong", |m| m.frac_formatted_wrong),
            ("unformatted", |m| m.frac_unformatted),
        ]),
    )?;
    line(
        "fig-train-format",
        "Format rate and truncation rate vs step",
        "fraction of responses",
        per_run(&[
            ("format", |m| m.format_rate),
            ("truncated", |m| m.truncated_rate),
            ("eval format", |m| m.eval.as_ref()?.format_rate),
            ("eval truncated", |m| m.eval.as_ref()?.truncated_rate),
        ]),
    )?;
    line(
        "fig-train-loss",
        "Policy loss vs step",
        "loss",
        per_run(&[("", |m| m.loss)]),
    )?;
    line(
        "fig-train-kl",
        "KL vs step (approx. KL to the rollout policy; k3 KL to the reference when beta > 0)",
        "KL",
        per_run(&[("approx", |m| m.approx_kl), ("ref", |m| m.kl_ref)]),
    )?;
    line(
        "fig-train-entropy",
        "Entropy vs step",
        "nats / token",
        per_run(&[("", |m| m.entropy)]),
    )?;
    line(
        "fig-train-clip",
        "Clip fraction vs step",
        "fraction",
        per_run(&[("", |m| m.clip_frac)]),
    )?;
    line(
        "fig-train-grad-norm",
        "Gradient norm (before clipping) vs step",
        "norm",
        per_run(&[("", |m| m.grad_norm)]),
    )?;
    line(
        "fig-train-lr",
        "Learning rate vs step",
        "lr",
        per_run(&[("", |m| m.lr)]),
    )?;
    line(
        "fig-train-throughput",
        "Generated tokens per second vs step",
        "tokens / s",
        per_run(&[("", |m| m.tokens_per_s)]),
    )?;
    line(
        "fig-train-step-time",
        "Wall time per policy step",
        "seconds",
        per_run(&[("", |m| m.step_time_s)]),
    )?;
    Ok(figs)
}

/// Mean length per step: characters where the run has them (the study's unit), else tokens.
fn length_of(r: &TrainRun) -> (&'static str, fn(&Metrics) -> Option<f64>) {
    if r.metrics.iter().any(|m| m.chars_mean.is_some()) {
        ("characters", |m| m.chars_mean)
    } else {
        ("tokens", |m| m.len_mean)
    }
}

fn length_reflection_figure(runs: &[&TrainRun], ema: f64) -> Result<Option<Figure>> {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut units = Vec::new();
    for (ri, r) in runs.iter().enumerate() {
        let (unit, len) = length_of(r);
        units.push(unit);
        let dash = Dash::nth(ri);
        let mut l = over_step(format!("{} length ({unit})", r.name), &r.metrics, len);
        (l.color, l.dash) = (0, dash);
        let mut k = over_step(
            format!("{} reflections / response", r.name),
            &r.metrics,
            |m| m.reflection_count_mean,
        );
        (k.color, k.dash) = (3, dash);
        left.extend(smoothed(vec![l], ema));
        right.extend(smoothed(vec![k], ema));
    }
    left.retain(|s| !s.points.is_empty());
    right.retain(|s| !s.points.is_empty());
    if left.is_empty() || right.is_empty() {
        return Ok(None);
    }
    units.dedup();
    let id = "fig-train-length-reflection";
    let title = "Response length (left) and reflection keywords per response (right) vs step";
    let chart = DualChart {
        title: title.into(),
        x_label: "step".into(),
        y_label: format!("length ({})", units.join(" / ")),
        y2_label: "keywords / response".into(),
        left,
        right,
    };
    let svg = chart::dual_svg(id, &chart)?;
    Ok(Some(Figure {
        id: id.into(),
        title: title.into(),
        series: chart
            .left
            .iter()
            .chain(&chart.right)
            .filter(|s| !s.faint)
            .map(|s| s.name.clone())
            .collect(),
        svg,
    }))
}

/// The study's claims of one run, from its per-step metrics (`aha_analyse::claims`).
fn run_claims(r: &TrainRun, ema: f64) -> aha_analyse::Claims {
    let (unit, len) = length_of(r);
    let points: Vec<aha_analyse::ClaimPoint> = r
        .metrics
        .iter()
        .map(|m| aha_analyse::ClaimPoint {
            step: m.step as f64,
            length: len(m),
            reflection: m.reflection_count_mean,
            wc: m
                .ssr
                .as_ref()
                .map(|s| s.get("W->C").copied().unwrap_or(0.0)),
            ww: m
                .ssr
                .as_ref()
                .map(|s| s.get("W->W").copied().unwrap_or(0.0)),
        })
        .collect();
    aha_analyse::claims(&points, ema, unit)
}

fn claims_table(out: &mut String, runs: &[&TrainRun], ema: f64) {
    out.push_str(
        "<table id=\"tab-claims\"><thead><tr><th>run</th><th>claim</th><th>numbers</th>\
         <th>holds?</th></tr></thead><tbody>",
    );
    let yes = |b: bool| if b { "yes" } else { "no" };
    for r in runs {
        let c = run_claims(r, ema);
        let name = escape_html(&r.name);
        let row = |out: &mut String, claim: &str, nums: String, verdict: &str| {
            let _ = write!(
                out,
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
                escape_html(claim),
                escape_html(&nums)
            );
        };
        match &c.length_dip {
            Some(d) => row(
                out,
                "response length first falls, then rises",
                format!(
                    "EMA {ema} of {}: {:.1} at start → min {:.1} at step {} ({:.1}% lower) → {:.1} at end ({:.1}% above the min)",
                    c.length_unit,
                    d.start,
                    d.min,
                    d.min_step,
                    100.0 * d.fall,
                    d.end,
                    100.0 * d.rise
                ),
                yes(d.falls_then_rises),
            ),
            None => row(
                out,
                "response length first falls, then rises",
                "fewer than 3 steps with lengths".into(),
                "–",
            ),
        }
        match &c.reflection_tracks_length {
            Some(t) => row(
                out,
                "reflection count tracks length",
                format!(
                    "Pearson r = {:.3} over {} steps (tracks at r ≥ {})",
                    t.pearson_r,
                    t.steps,
                    aha_analyse::claims::TRACKS_R
                ),
                yes(t.tracks),
            ),
            None => row(
                out,
                "reflection count tracks length",
                "too few steps, or a constant series".into(),
                "–",
            ),
        }
        match &c.wc_share {
            Some(w) => row(
                out,
                "the W->C share of reflections on wrong answers grows",
                format!(
                    "first {k} step(s): {:.1}% of {} → last {k} step(s): {:.1}% of {}",
                    100.0 * w.first,
                    w.first_n,
                    100.0 * w.last,
                    w.last_n,
                    k = w.window_steps
                ),
                yes(w.grows),
            ),
            None => row(
                out,
                "the W->C share of reflections on wrong answers grows",
                "no SSR counts".into(),
                "–",
            ),
        }
    }
    out.push_str("</tbody></table>");
}

/// Share of a training run's steps pooled for its "first steps" and "last steps" SSR rows
/// (at least one step each): single steps hold few reflective responses, so one step alone
/// would be mostly noise.
const SSR_WINDOW: f64 = 0.2;

/// One row of the SSR before-vs-after comparison.
struct SsrRow {
    /// What was counted (`probe/qwen-math (probe)`, `grpo: last steps 9–10`, …).
    label: String,
    /// Category counts.
    counts: BTreeMap<String, f64>,
}

/// Sums the `ssr` counts of `metrics` (steps without counts add nothing); `None` when no step
/// has counts.
fn pooled_ssr(metrics: &[Metrics]) -> Option<BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    let mut any = false;
    for m in metrics {
        if let Some(ssr) = &m.ssr {
            any = true;
            for (k, v) in ssr {
                *out.entry(k.clone()).or_default() += v;
            }
        }
    }
    any.then_some(out)
}

fn step_range(m: &[Metrics]) -> String {
    match (m.first(), m.last()) {
        (Some(a), Some(b)) if a.step != b.step => format!("{}–{}", a.step, b.step),
        (Some(a), _) => a.step.to_string(),
        _ => String::new(),
    }
}

/// Before RL: each probe template (the epoch-0 probe; a probe of a trained model is listed the
/// same way) and each run's first steps; after RL: each run's
/// last steps and its last eval with SSR counts.
fn ssr_rows(probes: &[&ProbeRun], runs: &[&TrainRun]) -> Vec<SsrRow> {
    let mut rows = Vec::new();
    for (label, _, overall) in probe_lines(probes) {
        if !overall.ssr.is_empty() {
            rows.push(SsrRow {
                label: format!("{label} (probe)"),
                counts: overall
                    .ssr
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as f64))
                    .collect(),
            });
        }
    }
    for r in runs {
        let with: Vec<Metrics> = r
            .metrics
            .iter()
            .filter(|m| m.ssr.is_some())
            .cloned()
            .collect();
        let k = ((with.len() as f64 * SSR_WINDOW).ceil() as usize).max(1);
        if with.is_empty() {
            continue;
        }
        let first = &with[..k.min(with.len())];
        let last = &with[with.len().saturating_sub(k)..];
        for (which, part) in [("first", first), ("last", last)] {
            if let Some(counts) = pooled_ssr(part) {
                rows.push(SsrRow {
                    label: format!("{}: {which} steps {}", r.name, step_range(part)),
                    counts,
                });
            }
        }
    }
    for r in runs {
        let last_eval = r
            .metrics
            .iter()
            .rev()
            .find_map(|m| Some((m.step, m.eval.as_ref()?.ssr.as_ref()?)));
        if let Some((step, counts)) = last_eval {
            rows.push(SsrRow {
                label: format!("{}: eval at step {step}", r.name),
                counts: counts.clone(),
            });
        }
    }
    rows
}

fn ssr_figure(rows: &[SsrRow]) -> Result<Option<Figure>> {
    let groups = rows
        .iter()
        .map(|r| {
            let vals = ssr_categories(true)
                .into_iter()
                .map(|c| ssr_pct(&r.counts, c).unwrap_or(0.0))
                .collect();
            (r.label.clone(), vals)
        })
        .collect();
    bar_figure(
        "fig-ssr-before-after",
        "Self-reflection outcomes before vs after RL (% of responses)",
        BarChart {
            title: "SSR before vs after RL (% of responses)".into(),
            y_label: "% of responses".into(),
            categories: ssr_categories(true).into_iter().map(String::from).collect(),
            groups,
            log_y: false,
        },
    )
}

fn ssr_table(out: &mut String, rows: &[SsrRow]) {
    out.push_str(
        "<table id=\"tab-ssr-before-after\"><thead><tr><th>responses counted</th><th>total</th>",
    );
    for c in ssr_categories(false) {
        let _ = write!(out, "<th>{}</th>", escape_html(c));
    }
    out.push_str("<th>W->C share of W->*</th></tr></thead><tbody>");
    for r in rows {
        let total: f64 = r.counts.values().sum();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{total}</td>",
            escape_html(&r.label)
        );
        for c in ssr_categories(false) {
            let n = r.counts.get(c).copied().unwrap_or(0.0);
            let share = if total > 0.0 { 100.0 * n / total } else { 0.0 };
            let _ = write!(
                out,
                "<td>{n} <span class=\"meta\">({share:.1}%)</span></td>"
            );
        }
        // Of the responses that reflected on a wrong answer, how many fixed it: the study's
        // measure of effective (vs superficial) self-reflection.
        let wc = r.counts.get("W->C").copied().unwrap_or(0.0);
        let ww = r.counts.get("W->W").copied().unwrap_or(0.0);
        let eff = if wc + ww > 0.0 {
            format!("{:.1}%", 100.0 * wc / (wc + ww))
        } else {
            "–".into()
        };
        let _ = write!(out, "<td>{eff}</td></tr>");
    }
    out.push_str("</tbody></table>");
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
    let category = |s: &crate::load::ProbeSample| match s.ssr.as_deref() {
        Some(c) if c != "none" => format!("SSR {c}"),
        _ => format!("{} without reflection", s.verdict),
    };
    // First one sample per question (the n samples of one question at one temperature are
    // often near-identical), then fill up with the rest.
    for distinct in [true, false] {
        for s in &p.samples {
            let v = by_cat.entry(category(s)).or_default();
            let taken = v.iter().any(|t| std::ptr::eq(*t, s));
            let same_q = v.iter().any(|t| t.question_id == s.question_id);
            if v.len() < SAMPLES_PER_CATEGORY && !taken && !(distinct && same_q) {
                v.push(s);
            }
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

/// The reflection keywords a training run counted, and their label: its `config.json`'s
/// `reflection.keywords` (`aha train`), else the `keywords` setting of an `aha analyse` import
/// (a label such as `paper15@v1`, or a file). A run that records neither (written before the
/// setting existed, or by a tool that does not say), or whose keyword file is no longer
/// readable, is highlighted with `paper15`, aha's default and the study's list, and the label
/// says so.
pub fn run_keywords(config: &Map<String, Value>) -> Result<(Keywords, String)> {
    let recorded = config
        .get("reflection")
        .and_then(|r| r.get("keywords"))
        .or_else(|| config.get("keywords"))
        .and_then(Value::as_str);
    // A preset's label carries its version (`paper15@v1`); the spec is the name.
    let spec = recorded.map(|k| match k.split_once("@v") {
        Some((name, _)) if aha_reflect::PRESETS.contains(&name) => name,
        _ => k,
    });
    Ok(match spec.map(|s| (s, Keywords::from_spec(s))) {
        Some((_, Ok(k))) => {
            let label = k.label();
            (k, label)
        }
        Some((s, Err(e))) => (
            Keywords::preset("paper15")?,
            format!("paper15 (the run's keywords {s} could not be read: {e})"),
        ),
        None => (
            Keywords::preset("paper15")?,
            "paper15 (the run does not record its keywords)".into(),
        ),
    })
}

fn train_samples(out: &mut String, r: &TrainRun) -> Result<()> {
    let (keywords, label) = run_keywords(&r.config)?;
    let words = keywords.words();
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
    let _ = write!(
        out,
        "<h3>{}</h3><p class=\"meta\">highlighted keywords: {}</p>",
        escape_html(&r.name),
        escape_html(&label)
    );
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
    Ok(())
}

const CSS: &str = "
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#666;--line:#ddd;--mark:#ffe066}
@media (prefers-color-scheme: dark){:root{--bg:#15171a;--fg:#e6e6e6;--muted:#9a9a9a;--line:#333;--mark:#7a5d00}
 figure.chart svg{filter:invert(0.9) hue-rotate(180deg)}}
body{background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1720px;padding:0 1rem}
h1,h2,h3{font-weight:600} .meta{color:var(--muted);font-size:.85em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,600px),1fr));gap:12px}
.figs.wide{grid-template-columns:minmax(0,1100px)}
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

/// Builds the report from loaded runs (probe figures, then training figures) with the default
/// [`Options`].
pub fn build(runs: &[Run]) -> Result<Report> {
    build_with(runs, &Options::default())
}

/// [`build`] with explicit options.
pub fn build_with(runs: &[Run], opts: &Options) -> Result<Report> {
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
        train_figures(&trains, opts)?
    };
    let ssr = ssr_rows(&probes, &trains);
    // Only a comparison when there is something to compare: training runs, or several probes.
    let ssr = if trains.is_empty() { Vec::new() } else { ssr };
    let ssr_figs: Vec<Figure> = ssr_figure(&ssr)?.into_iter().collect();

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
            Run::Train(t) => match t.analysis.as_ref().and_then(|a| a.get("engine")?.as_str()) {
                Some(engine) => format!("{} (imported {engine} run, {})", t.name, t.dir.display()),
                None => format!("{} (training, {})", t.name, t.dir.display()),
            },
        })
        .collect();
    h.push_str(&escape_html(&names.join("; ")));
    h.push_str("</p>");
    let figs_html = |h: &mut String, figs: &[Figure], class: &str| {
        let _ = write!(h, "<div class=\"{class}\">");
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
        h.push_str(
            "<section id=\"probe\"><h2>Probes (epoch 0, and any probe of a trained model)</h2>",
        );
        figs_html(&mut h, &probe_figs, "figs");
        h.push_str("<h3>Summary</h3>");
        probe_table(&mut h, &probes);
        h.push_str("</section>");
    }
    if !trains.is_empty() {
        h.push_str("<section id=\"training\"><h2>Training</h2>");
        figs_html(&mut h, &train_figs, "figs");
        h.push_str("<h3>Summary</h3>");
        train_table(&mut h, &trains);
        h.push_str(
            "<h3>The study's claims</h3><p class=\"meta\">From each run's per-step curves \
             (aha_analyse::claims): the W->C share pools the first and last 20% of steps.</p>",
        );
        claims_table(&mut h, &trains, opts.ema);
        h.push_str("</section>");
    }
    if !ssr.is_empty() {
        h.push_str(
            "<section id=\"before-after\"><h2>Self-reflection before vs after RL</h2>\
             <p class=\"meta\">SSR categories (docs/pipeline.md): the answer before the reflection \
             → the final answer (C = correct, W = wrong). Probe rows (the epoch-0 probe, and any probe of a \
             trained model), then each run's first \
             and last steps (the first and last 20% of steps pooled) and its last eval.</p>",
        );
        figs_html(&mut h, &ssr_figs, "figs wide");
        ssr_table(&mut h, &ssr);
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
    for t in trains.iter().filter(|t| !t.samples.is_empty()) {
        train_samples(&mut h, t)?;
    }
    h.push_str("</section></body></html>\n");
    let mut figures = probe_figs;
    figures.extend(train_figs);
    figures.extend(ssr_figs);
    Ok(Report { figures, html: h })
}
