//! Renders the report from fixture outputs (a probe directory written by `aha probe` against a
//! stub server, and two training runs in the docs/pipeline.md `metrics.jsonl` schema).

use std::path::{Path, PathBuf};

use aha_report::{Error, Run, build, escape_html, highlight_keywords, load_dir};
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load_all() -> Vec<Run> {
    ["probe", "grpo", "dr-grpo"]
        .iter()
        .map(|n| load_dir(&fixture(n)).expect("fixture loads"))
        .collect()
}

/// The `data-series` attribute of element `id`, decoded.
fn series_of(html: &str, id: &str) -> Option<Vec<String>> {
    let start = html.find(&format!("id=\"{id}\" data-series=\""))?;
    let rest = &html[start..];
    let rest = &rest[rest.find("data-series=\"")? + 13..];
    let raw = &rest[..rest.find('"')?];
    let json = raw
        .replace("&quot;", "\"")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&");
    serde_json::from_str(&json).ok()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_expected_figure_is_present_with_its_series() {
    let report = build(&load_all()).expect("report builds");
    let t = ["qwen-math", "none"];
    let per = |suffixes: &[&str]| -> Vec<String> {
        t.iter()
            .flat_map(|t| suffixes.iter().map(move |s| format!("{t} {s}")))
            .collect()
    };
    let runs = ["grpo", "dr-grpo"];
    let per_run = |suffixes: &[&str]| -> Vec<String> {
        runs.iter()
            .flat_map(|r| suffixes.iter().map(move |s| format!("{r} {s}")))
            .collect()
    };
    let expected: Vec<(&str, Vec<String>)> = vec![
        (
            "fig-probe-reflection-k",
            per(&["keyword", "judge", "cross"]),
        ),
        ("fig-probe-pass-k", per(&["pass@k", "accuracy"])),
        // the fixture has no answering-ability judge, so only the extraction rate
        ("fig-probe-answering", per(&["answered"])),
        ("fig-probe-keywords", strs(&t)),
        (
            "fig-probe-keywords-correctness",
            per(&["correct", "incorrect"]),
        ),
        ("fig-probe-ssr", strs(&t)),
        // length (left axis) and reflection count (right axis) together, as the study draws them
        (
            "fig-train-length-reflection",
            runs.iter()
                .map(|r| format!("{r} length (tokens)"))
                .chain(runs.iter().map(|r| format!("{r} reflections / response")))
                .collect(),
        ),
        ("fig-train-reward", per_run(&["mean", "std", "eval mean"])),
        ("fig-train-accuracy", per_run(&["train", "eval"])),
        (
            "fig-train-length",
            per_run(&["all", "correct", "incorrect", "truncated"]),
        ),
        (
            "fig-train-eval-length",
            per_run(&["all", "correct", "incorrect"]),
        ),
        ("fig-train-reflection", strs(&runs)),
        ("fig-train-reflection-rate", per_run(&["train", "eval"])),
        ("fig-train-ssr", per_run(&["C->C", "W->C", "C->W", "W->W"])),
        (
            "fig-train-outcomes",
            per_run(&["correct", "formatted-but-wrong", "unformatted"]),
        ),
        // the fixtures' eval has no truncated_rate
        (
            "fig-train-format",
            per_run(&["format", "truncated", "eval format"]),
        ),
        ("fig-train-loss", strs(&runs)),
        // no reference model (beta = 0) in the fixtures: no `ref` series
        ("fig-train-kl", per_run(&["approx"])),
        ("fig-train-entropy", strs(&runs)),
        ("fig-train-clip", strs(&runs)),
        ("fig-train-grad-norm", strs(&runs)),
        ("fig-train-lr", strs(&runs)),
        ("fig-train-throughput", strs(&runs)),
        ("fig-train-step-time", strs(&runs)),
        (
            "fig-ssr-before-after",
            strs(&[
                "qwen-math (probe)",
                "none (probe)",
                "grpo: first steps 1–2",
                "grpo: last steps 9–10",
                "dr-grpo: first steps 1–2",
                "dr-grpo: last steps 9–10",
                "grpo: eval at step 10",
            ]),
        ),
    ];
    let ids: Vec<&str> = report.figures.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, expected.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    for (id, series) in &expected {
        assert_eq!(series_of(&report.html, id).as_ref(), Some(series), "{id}");
        let fig = report.figures.iter().find(|f| f.id == *id).expect("figure");
        assert!(fig.svg.starts_with("<svg"), "{id} is a standalone SVG");
        // Text renders without font crates: the caption is an SVG <text> element.
        assert!(fig.svg.contains("<text"), "{id} has text");
        for s in series {
            assert!(fig.svg.contains(&escape_html(s)), "{id}: legend names {s}");
        }
        assert!(report.html.contains(&fig.svg), "{id} is inlined");
    }
}

#[test]
fn the_page_is_self_contained_and_has_both_colour_schemes() {
    let html = build(&load_all()).expect("report builds").html;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.to_lowercase().contains("<script"), "no scripts");
    assert!(!html.contains("src="), "no external resources");
    assert!(!html.contains("href="), "no links to load");
    assert!(html.contains("prefers-color-scheme: dark"));
    for id in [
        "tab-configs",
        "tab-probe-summary",
        "tab-train-summary",
        "tab-ssr-before-after",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
}

#[test]
fn tables_show_the_summary_numbers_and_configs() {
    let html = build(&load_all()).expect("report builds").html;
    // summary.json, template qwen-math, T = 0: 2 of 3 questions correct and keyword-reflective,
    // 1 of 3 judge-reflective, none both.
    assert!(
        html.contains("<td>qwen-math</td><td>0</td><td>3</td><td>3</td><td>66.7%</td><td>66.7%</td><td>66.7%</td><td>33.3%</td><td>0.0%</td>"),
        "probe row for T=0"
    );
    // grpo: 10 steps, last accuracy 0.2 + 0.04 * 10 = 0.6; best eval 0.6 - 0.03 at step 10.
    assert!(html.contains(
        "<td>grpo</td><td>grpo</td><td>10</td><td>10</td><td>0.600</td><td>0.600</td><td>0.570</td>"
    ));
    // configs side by side: group_size of both training runs, the probe has none
    assert!(html.contains("<tr><th>group_size</th><td></td><td>8</td><td>8</td></tr>"));
}

#[test]
fn the_ssr_table_compares_probe_first_and_last_steps_and_eval() {
    let html = build(&load_all()).expect("report builds").html;
    // grpo, steps 1–2 pooled (README: W->C = step, W->W = 10 − step, 64 responses a step):
    // C->C 6, W->C 3, C->W 2, W->W 17, no_prior_answer 16, none 84; W->C share 3 / 20 = 15%.
    assert!(
        html.contains(
            "<tr><td>grpo: first steps 1–2</td><td>128</td>\
             <td>6 <span class=\"meta\">(4.7%)</span></td>\
             <td>3 <span class=\"meta\">(2.3%)</span></td>\
             <td>2 <span class=\"meta\">(1.6%)</span></td>\
             <td>17 <span class=\"meta\">(13.3%)</span></td>\
             <td>16 <span class=\"meta\">(12.5%)</span></td>\
             <td>84 <span class=\"meta\">(65.6%)</span></td><td>15.0%</td></tr>"
        ),
        "grpo first steps row"
    );
    // steps 9–10: W->C 19, W->W 1: 95% of the wrong-first reflections end correct.
    assert!(html.contains("<tr><td>grpo: last steps 9–10</td><td>128</td>"));
    assert!(html.contains(
        "<td>19 <span class=\"meta\">(14.8%)</span></td><td>2 <span class=\"meta\">(1.6%)</span></td>\
         <td>1 <span class=\"meta\">(0.8%)</span></td>"
    ));
    assert!(html.contains("<td>95.0%</td></tr>"));
    // dr-grpo steps 9–10: W->C = 4 + 5 = 9, W->W = 6 + 5 = 11: 45%.
    assert!(html.contains("<tr><td>dr-grpo: last steps 9–10</td><td>128</td>"));
    assert!(html.contains("<td>45.0%</td></tr>"));
    // grpo's step-10 eval: 32 responses, W->C 6 of W->* 8.
    assert!(html.contains("<tr><td>grpo: eval at step 10</td><td>32</td><td>4 <span class=\"meta\">(12.5%)</span></td><td>6 <span class=\"meta\">(18.8%)</span></td>"));
    assert!(html.contains("<td>75.0%</td></tr>"));
    // the probe's epoch-0 counts come from summary.json (qwen-math overall)
    assert!(html.contains("<tr><td>qwen-math (probe)</td>"));
}

#[test]
fn a_probe_alone_has_no_before_after_section() {
    let probe = load_dir(&fixture("probe")).expect("probe");
    let html = build(&[probe]).expect("report").html;
    assert!(!html.contains("id=\"before-after\""));
    assert!(!html.contains("fig-ssr-before-after"));
}

#[test]
fn sample_responses_are_escaped_and_keywords_highlighted() {
    let html = build(&load_all()).expect("report builds").html;
    // probe fixture response: "... let me double-check <b>this</b> & that ..."
    assert!(html.contains("let me <mark>double-check</mark> &lt;b&gt;this&lt;/b&gt; &amp; that"));
    assert!(!html.contains("<b>this</b>"));
    // training sample with markup, and a reflection keyword from the paper's set
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Wait, let me <mark>recheck</mark>: 2*3=6."));
}

#[test]
fn highlighting_prefers_the_earliest_longest_match() {
    assert_eq!(
        highlight_keywords("Re-check & RECHECK again", &["recheck", "check again"]),
        "Re-check &amp; <mark>RECHECK</mark> again"
    );
    assert_eq!(
        highlight_keywords("then check again", &["check", "check again"]),
        "then <mark>check again</mark>"
    );
    assert_eq!(highlight_keywords("a<b", &[""]), "a&lt;b");
}

fn unescape(s: &str) -> String {
    s.replace("<mark>", "")
        .replace("</mark>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

proptest! {
    #[test]
    fn highlighting_keeps_the_text_and_emits_no_raw_markup(
        text in "[a-zA-Zé<>&\"' ]{0,60}",
        kws in proptest::collection::vec("[a-z<&]{1,4}", 0..4),
    ) {
        let out = highlight_keywords(&text, &kws);
        prop_assert_eq!(unescape(&out), text);
        let stripped = out.replace("<mark>", "").replace("</mark>", "");
        prop_assert!(!stripped.contains('<') && !stripped.contains('>') && !stripped.contains('"'));
    }
}

#[test]
fn a_bad_metrics_line_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("metrics.jsonl"),
        "{\"schema_version\":1,\"step\":1,\"reward_mean\":0.5}\n\n{\"schema_version\":1,\"step\":2,\"reward_mean\":\"high\"}\n",
    )
    .expect("write");
    let err = load_dir(dir.path()).expect_err("bad line");
    let msg = err.to_string();
    assert!(matches!(err, Error::Parse { line: 3, .. }), "{msg}");
    assert!(
        msg.contains("metrics.jsonl:3") && msg.contains("reward_mean"),
        "{msg}"
    );
}

#[test]
fn a_bad_summary_names_the_field_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(fixture("probe/summary.json")).expect("fixture");
    let bad = text.replacen(
        "\"questions\": 3,\n          \"k_min\"",
        "\"questions\": \"three\",\n          \"k_min\"",
        1,
    );
    assert_ne!(bad, text, "fixture layout changed");
    std::fs::write(dir.path().join("summary.json"), bad).expect("write");
    let msg = load_dir(dir.path()).expect_err("bad summary").to_string();
    assert!(
        msg.contains("summary.json") && msg.contains("templates[0].summary.overall.questions"),
        "{msg}"
    );
}

#[test]
fn an_unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("metrics.jsonl"),
        "{\"schema_version\":1,\"step\":1}\n{\"schema_version\":2,\"step\":2}\n",
    )
    .expect("write");
    let err = load_dir(dir.path()).expect_err("v2");
    assert!(
        matches!(
            err,
            Error::Schema {
                line: 2,
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_and_empty_directories_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(load_dir(dir.path()), Err(Error::UnknownDir(_))));
    std::fs::write(dir.path().join("metrics.jsonl"), "\n").expect("write");
    assert!(matches!(load_dir(dir.path()), Err(Error::EmptyMetrics(_))));
}

#[test]
fn several_probe_runs_get_run_qualified_series() {
    let probe = load_dir(&fixture("probe")).expect("probe");
    let mut other = probe.clone();
    if let Run::Probe(p) = &mut other {
        p.name = "other".into();
    }
    let report = build(&[probe, other]).expect("report");
    let s = series_of(&report.html, "fig-probe-ssr").expect("ssr");
    assert_eq!(
        s,
        strs(&[
            "probe/qwen-math",
            "probe/none",
            "other/qwen-math",
            "other/none"
        ])
    );
    assert!(
        !report.html.contains("id=\"training\""),
        "no training section without runs"
    );
}

#[test]
fn training_runs_sharing_a_name_are_told_apart() {
    let a = load_dir(&fixture("grpo")).expect("grpo");
    let mut b = a.clone();
    if let Run::Train(t) = &mut b {
        t.dir = PathBuf::from("elsewhere");
    }
    let report = build(&[a, b]).expect("report");
    let s = series_of(&report.html, "fig-train-entropy").expect("entropy");
    let first = format!("grpo ({})", fixture("grpo").display());
    assert_eq!(s, vec![first, "grpo (elsewhere)".to_string()]);
}

#[test]
fn axis_ticks_are_short_and_distinct() {
    use aha_report::chart::tick;
    assert_eq!(tick(&2.0), "2");
    assert_eq!(tick(&-3.0), "-3");
    assert_eq!(tick(&0.0), "0");
    assert_eq!(tick(&0.25), "0.25");
    assert_eq!(tick(&123.456), "123.5");
    // neighbouring ticks of a narrow range (a flat loss at 0.01 padded by 10%)
    assert_eq!(tick(&0.0105), "0.0105");
    assert_eq!(tick(&0.0095), "0.0095");
    // learning rates
    assert_eq!(tick(&1e-5), "1e-5");
    assert_eq!(tick(&1.05e-5), "1.05e-5");
    assert_eq!(tick(&250000.0), "250000");
    assert_eq!(tick(&2.5e6), "2.5e6");
    assert_eq!(tick(&(2.5e7 + 0.5)), "2.5e7");
}

#[test]
fn several_runs_of_one_metric_share_its_colour_and_differ_in_dash() {
    let report = build(&load_all()).expect("report builds");
    let svg = |id: &str| {
        report
            .figures
            .iter()
            .find(|f| f.id == id)
            .expect("figure")
            .svg
            .clone()
    };
    // Length (4 metrics): a colour per metric, dr-grpo dashed (many short polylines) and
    // grpo solid; entropy (1 metric): a solid line per run, blue for grpo, orange for dr-grpo.
    let strokes = |svg: &str, colour: &str| svg.matches(&format!("stroke=\"{colour}\"")).count();
    let (blue, orange) = ("#1F77B4", "#FF7F0E");
    let length = svg("fig-train-length");
    let entropy = svg("fig-train-entropy");
    // line + legend swatch each, as polylines
    assert_eq!(strokes(&entropy, blue), 2);
    assert_eq!(strokes(&entropy, orange), 2);
    // blue = "all" of both runs: grpo's one solid line, dr-grpo's dashes, legend swatches
    assert!(strokes(&length, blue) > 10, "{}", strokes(&length, blue));
}

/// The grpo fixture copied into a temp dir with `config.json` replaced by `config`.
fn grpo_with_config(config: &str) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["metrics.jsonl", "samples.jsonl"] {
        std::fs::copy(fixture("grpo").join(f), dir.path().join(f)).expect("copy");
    }
    std::fs::write(dir.path().join("config.json"), config).expect("config");
    let run = load_dir(dir.path()).expect("run loads");
    (dir, run)
}

#[test]
fn samples_highlight_the_keywords_the_run_counted() {
    // paper15 has `recheck` but not `wait`; simplerl has both.
    let (_d, run) =
        grpo_with_config(r#"{"schema_version": 1, "reflection": {"keywords": "simplerl"}}"#);
    let html = build(&[run]).expect("report").html;
    assert!(
        html.contains("<mark>Wait</mark>, let me <mark>recheck</mark>: 2*3=6."),
        "simplerl's `wait` is highlighted"
    );
    assert!(html.contains("highlighted keywords: simplerl@v1"));
    // An `aha analyse` import records the label with its version.
    let (_d, run) = grpo_with_config(r#"{"keywords": "simplerl@v1", "engine": "verl"}"#);
    let html = build(&[run]).expect("report").html;
    assert!(html.contains("<mark>Wait</mark>, let me <mark>recheck</mark>"));
    // A run that does not say falls back to paper15 and the page says so.
    let html = build(&load_all()).expect("report").html;
    assert!(html.contains("Wait, let me <mark>recheck</mark>"));
    assert!(html.contains("paper15 (the run does not record its keywords)"));
}

#[test]
fn a_keyword_file_that_is_gone_falls_back_to_paper15_and_says_why() {
    let (_d, run) = grpo_with_config(
        r#"{"reflection": {"keywords": "/nonexistent/my-keywords.txt", "mode": "word"}}"#,
    );
    let Run::Train(t) = &run else {
        panic!("a training run")
    };
    let (k, label) = aha_report::run_keywords(&t.config).expect("fallback");
    assert_eq!(k.name(), "paper15");
    assert!(
        label.starts_with(
            "paper15 (the run's keywords /nonexistent/my-keywords.txt could not be read"
        ),
        "{label}"
    );
    let html = build(&[run]).expect("report").html;
    assert!(html.contains("Wait, let me <mark>recheck</mark>"));
}
