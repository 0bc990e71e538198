//! End to end against an in-process OpenAI-compatible stub (see `stub/mod.rs` for its answers):
//! exact summary numbers, both endpoints, the judge, resume after a failed run with a torn last
//! line, and the config-mismatch refusal.

mod stub;

use std::collections::HashSet;
use std::path::Path;

use aha_data::{LoadOptions, Problem, Template, load};
use aha_openai::{Client, ClientConfig};
use aha_probe::{
    Error, JudgeSettings, ProbeConfig, ProbeSummary, SweepOptions, analyse, read_responses,
    run_sweep,
};
use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use aha_sample::OpenAiSampler;
use serde_json::Value;

fn problems(dir: &Path) -> Vec<Problem> {
    let path = dir.join("data.jsonl");
    std::fs::write(&path, stub::dataset_jsonl()).unwrap();
    load(&path, &LoadOptions::default()).unwrap().problems
}

fn config(templates: &[&str], n: u32) -> ProbeConfig {
    ProbeConfig {
        schema_version: aha_probe::CONFIG_SCHEMA_VERSION,
        sampler: "openai:stub-model".into(),
        data: "data.jsonl".into(),
        split: None,
        question_field: None,
        answer_field: None,
        questions: 3,
        limit: None,
        templates: templates.iter().map(|s| s.to_string()).collect(),
        temperatures: vec![0.5, 1.0],
        n,
        max_tokens: 16,
        top_p: 0.9,
        seed: Some(7),
    }
}

fn sampler(url: &str) -> OpenAiSampler {
    let mut cfg = ClientConfig::new(url);
    cfg.concurrency = 1;
    cfg.max_retries = 0;
    OpenAiSampler::new(Client::new(cfg).unwrap(), "stub-model")
}

fn templates(names: &[&str]) -> Vec<Template> {
    names
        .iter()
        .map(|n| Template::from_name(n).unwrap())
        .collect()
}

fn detector() -> KeywordDetector {
    KeywordDetector::new(&Keywords::preset("paper15").unwrap(), MatchMode::Substring).unwrap()
}

fn quiet(batch: usize) -> SweepOptions {
    SweepOptions {
        batch_samples: batch,
        progress: false,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn end_to_end_exact_summary_on_both_endpoints_with_judge() {
    let dir = tempfile::tempdir().unwrap();
    let ps = problems(dir.path());
    let stub = stub::start(None);
    let names = ["qwen-math", "chat"];
    let cfg = config(&names, 2);
    let ts = templates(&names);
    let out = dir.path().join("run");
    let rep = run_sweep(&out, &cfg, &ps, &ts, &sampler(&stub.url), &quiet(5)).unwrap();
    assert_eq!((rep.total, rep.resumed, rep.sampled), (24, 0, 24));

    // Raw templates go to /v1/completions, `chat` to /v1/chat/completions, one sample each.
    let reqs = stub.state.sampling_requests();
    assert_eq!(reqs.iter().filter(|(e, _)| e == "completions").count(), 12);
    assert_eq!(reqs.iter().filter(|(e, _)| e == "chat").count(), 12);
    for (_, b) in &reqs {
        assert_eq!(b["n"], 1);
        assert_eq!(b["top_p"], 0.9);
        assert_eq!(b["max_tokens"], 16);
        assert_eq!(b["model"], "stub-model");
    }
    let completion_prompt = reqs.iter().find(|(e, _)| e == "completions").unwrap();
    assert!(
        completion_prompt.1["prompt"]
            .as_str()
            .unwrap()
            .ends_with("<|im_end|>\n<|im_start|>assistant\n")
    );
    // Per-sample seeds: all distinct within one template's 12 samples.
    let seeds: HashSet<u64> = reqs
        .iter()
        .filter(|(e, _)| e == "completions")
        .map(|(_, b)| b["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds.len(), 12);

    let judge = JudgeSettings {
        judge: aha_sample::OpenAiJudge {
            client: Client::new(ClientConfig::new(&stub.url)).unwrap(),
            model: "judge".into(),
        },
        cache: out.join("judge-cache.jsonl"),
    };
    let s = analyse(&out, &cfg, &ps, &ts, &detector(), Some(&judge), false).unwrap();
    assert_eq!(s.templates.len(), 2);
    assert_eq!(s.judge_failures, 0);
    for t in &s.templates {
        assert_eq!(t.answer_format, "boxed");
        let [t05, t10] = &t.summary.by_temperature[..] else {
            panic!("two temperatures expected");
        };
        // T = 0.5: q1 right ×2, q2 W->C ×2 (right), q3 truncated without an answer ×2.
        assert_eq!((t05.responses, t05.questions, t05.k_max), (6, 3, 2));
        assert!(close(t05.accuracy.unwrap(), 4.0 / 6.0));
        assert_eq!(t05.passed_questions, 2);
        assert!(close(t05.pass_any.unwrap(), 2.0 / 3.0));
        assert!(close(t05.pass_at_k[&1], 2.0 / 3.0));
        assert!(close(t05.pass_at_k[&2], 2.0 / 3.0));
        assert_eq!((t05.reflective_responses, t05.reflective_questions), (2, 1));
        assert!(close(t05.answer_rate.unwrap(), 4.0 / 6.0));
        assert_eq!(t05.ssr.get("W->C"), Some(&2));
        assert_eq!(t05.ssr.get("none"), Some(&4));
        let j = t05.judge.as_ref().unwrap();
        assert_eq!((j.judge_responses, j.judge_questions), (2, 1));
        assert_eq!((j.cross_responses, j.cross_questions), (2, 1));
        // T = 1.0: only q1 right; q1 reflects before answering, q3 breaks a right answer.
        assert!(close(t10.accuracy.unwrap(), 2.0 / 6.0));
        assert!(close(t10.pass_any.unwrap(), 1.0 / 3.0));
        assert_eq!((t10.reflective_responses, t10.reflective_questions), (4, 2));
        assert_eq!(t10.answer_rate, Some(1.0));
        assert_eq!(t10.ssr.get("no_prior_answer"), Some(&2));
        assert_eq!(t10.ssr.get("C->W"), Some(&2));
        assert_eq!(t10.ssr.get("none"), Some(&2));
        assert_eq!(t10.judge.as_ref().unwrap().judge_responses, 0);
        let kw = |g: &aha_reflect::aggregate::GroupSummary, k: &str| {
            g.keyword_table
                .iter()
                .find(|r| r.keyword == k)
                .map(|r| (r.occurrences, r.responses))
                .unwrap()
        };
        assert_eq!(kw(t10, "recheck"), (4, 4));
        assert_eq!(kw(t10, "rethink"), (2, 2));
        assert_eq!(kw(t05, "recheck"), (2, 2));
        // Lengths: tokens (8·2 + 20·2 + 16·2) / 6 and (12·2 + 8·2 + 20·2) / 6.
        assert!(close(t.lengths[0].mean_tokens.unwrap(), 88.0 / 6.0));
        assert!(close(t.lengths[1].mean_tokens.unwrap(), 80.0 / 6.0));
        assert_eq!((t.lengths[0].truncated, t.lengths[1].truncated), (2, 0));
    }

    // graded.jsonl: one line per sample, schema'd, in sweep order.
    let graded: Vec<Value> = std::fs::read_to_string(out.join("graded.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(graded.len(), 24);
    assert_eq!(graded[0]["schema_version"], 1);
    assert_eq!(graded[0]["template"], "qwen-math");
    assert_eq!(graded[0]["question_id"], "q1");
    assert_eq!(graded[0]["verdict"], "correct");
    assert_eq!(graded[4]["question_id"], "q3");
    assert_eq!(graded[4]["verdict"], "no_answer");
    assert_eq!(graded[4]["finish_reason"], "length");

    // summary.json round-trips and the table shows the per-temperature rows.
    let back: ProbeSummary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(back, s);
    let table = s.render_text();
    assert!(table.contains("template chat"), "{table}");
    assert!(table.contains("cross@k"), "{table}");
    assert!(table.contains("W->C 2"), "{table}");

    // Re-analysing uses the judge cache: no new judge request.
    let before = stub.state.requests.lock().unwrap().len();
    analyse(&out, &cfg, &ps, &ts, &detector(), Some(&judge), false).unwrap();
    assert_eq!(stub.state.requests.lock().unwrap().len(), before);
}

#[test]
fn resume_after_failure_and_torn_line_gives_each_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let ps = problems(dir.path());
    let names = ["qwen-math"];
    let cfg = config(&names, 2);
    let ts = templates(&names);

    // Reference: one uninterrupted run.
    let whole = dir.path().join("whole");
    let full = stub::start(None);
    run_sweep(&whole, &cfg, &ps, &ts, &sampler(&full.url), &quiet(4)).unwrap();
    let want = analyse(&whole, &cfg, &ps, &ts, &detector(), None, false).unwrap();

    // The server dies after 5 requests: the first batch of 4 and 1 of the second are kept.
    let out = dir.path().join("run");
    let dying = stub::start(Some(5));
    let err = run_sweep(&out, &cfg, &ps, &ts, &sampler(&dying.url), &quiet(4)).unwrap_err();
    assert!(matches!(err, Error::Sampler(_)), "{err}");
    assert!(err.to_string().contains("budget spent"), "{err}");
    let path = out.join("responses.jsonl");
    assert_eq!(read_responses(&path).unwrap().len(), 5);

    // A crash in the middle of a write leaves a torn last line.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"schema_version":1,"question_id":"q3","templ"#);
    std::fs::write(&path, &bytes).unwrap();

    // The rerun (another server, another port) draws only the 7 missing samples.
    let back = stub::start(None);
    let rep = run_sweep(&out, &cfg, &ps, &ts, &sampler(&back.url), &quiet(4)).unwrap();
    assert_eq!((rep.total, rep.resumed, rep.sampled), (12, 5, 7));
    assert_eq!(back.state.sampling_requests().len(), 7);
    let lines = read_responses(&path).unwrap();
    assert_eq!(lines.len(), 12);
    let keys: HashSet<_> = lines.iter().map(|l| l.key()).collect();
    assert_eq!(keys.len(), 12, "a sample was written twice");
    assert!(std::fs::read_to_string(&path).unwrap().ends_with('\n'));

    // Same seeds as the uninterrupted run, and the same summary.
    let seeds = |reqs: Vec<(String, Value)>| -> HashSet<u64> {
        reqs.iter()
            .map(|(_, b)| b["seed"].as_u64().unwrap())
            .collect()
    };
    let mut resumed_seeds = seeds(dying.state.sampling_requests()[..5].to_vec());
    resumed_seeds.extend(seeds(back.state.sampling_requests()));
    assert_eq!(resumed_seeds, seeds(full.state.sampling_requests()));
    let got = analyse(&out, &cfg, &ps, &ts, &detector(), None, false).unwrap();
    assert_eq!(got, want);

    // A finished run samples nothing more.
    let rep = run_sweep(&out, &cfg, &ps, &ts, &sampler(&back.url), &quiet(4)).unwrap();
    assert_eq!((rep.resumed, rep.sampled), (12, 0));
}

#[test]
fn a_different_config_is_refused_naming_the_fields() {
    let dir = tempfile::tempdir().unwrap();
    let ps = problems(dir.path());
    let stub = stub::start(None);
    let names = ["qwen-math"];
    let ts = templates(&names);
    let out = dir.path().join("run");
    run_sweep(
        &out,
        &config(&names, 1),
        &ps,
        &ts,
        &sampler(&stub.url),
        &quiet(8),
    )
    .unwrap();
    let mut other = config(&names, 2);
    other.top_p = 1.0;
    let err = run_sweep(&out, &other, &ps, &ts, &sampler(&stub.url), &quiet(8)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::RunDir(aha_rundir::Error::ConfigMismatch { .. })),
        "{msg}"
    );
    assert!(msg.contains("n: 1 -> 2"), "{msg}");
    assert!(msg.contains("top_p: 0.9 -> 1.0"), "{msg}");
    assert!(!msg.contains("temperatures"), "{msg}");
    // Nothing was sampled for the refused run.
    assert_eq!(
        read_responses(&out.join("responses.jsonl")).unwrap().len(),
        6
    );
}

#[test]
fn a_corrupt_complete_line_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ps = problems(dir.path());
    let stub = stub::start(None);
    let names = ["qwen-math"];
    let ts = templates(&names);
    let out = dir.path().join("run");
    let cfg = config(&names, 1);
    run_sweep(&out, &cfg, &ps, &ts, &sampler(&stub.url), &quiet(8)).unwrap();
    let path = out.join("responses.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[1] = lines[1].replace("\"sample_index\":0", "\"sample_index\":\"zero\"");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = run_sweep(&out, &cfg, &ps, &ts, &sampler(&stub.url), &quiet(8)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("responses.jsonl:2:"), "{msg}");
    assert!(
        msg.contains("sample_index") || msg.contains("invalid type"),
        "{msg}"
    );

    // A duplicated line is refused too (the store never holds a sample twice).
    lines[1] = lines[0].clone();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let msg = run_sweep(&out, &cfg, &ps, &ts, &sampler(&stub.url), &quiet(8))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("responses.jsonl:2: duplicate sample"), "{msg}");
}

#[test]
fn greedy_takes_one_sample_and_seeds_are_stable() {
    let mut cfg = config(&["qwen-math"], 4);
    cfg.temperatures = vec![0.0, 1.0];
    assert_eq!(cfg.samples_at(0.0), 1);
    assert_eq!(cfg.samples_at(1.0), 4);
    let a = aha_probe::sample_seed(7, "r1", "q1", 0.5, 0);
    assert_eq!(a, aha_probe::sample_seed(7, "r1", "q1", 0.5, 0));
    assert_ne!(a, aha_probe::sample_seed(7, "r1", "q1", 0.5, 1));
    assert_ne!(a, aha_probe::sample_seed(8, "r1", "q1", 0.5, 0));
    assert_ne!(a, aha_probe::sample_seed(7, "r1", "q10", 0.5, 0));
    assert!(a < 1 << 31);
    cfg.temperatures = vec![0.5, 0.5];
    assert!(
        cfg.validate()
            .unwrap_err()
            .to_string()
            .contains("listed twice")
    );
}

#[test]
fn a_second_writer_into_the_same_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ps = problems(dir.path());
    let stub = stub::start(None);
    let names = ["qwen-math"];
    let ts = templates(&names);
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    let held = aha_probe::ResponseWriter::open(&out.join("responses.jsonl")).unwrap();
    held.try_lock().unwrap();
    let err = run_sweep(
        &out,
        &config(&names, 1),
        &ps,
        &ts,
        &sampler(&stub.url),
        &quiet(8),
    )
    .unwrap_err();
    assert!(err.to_string().contains("another process"), "{err}");
    assert!(stub.state.sampling_requests().is_empty());
    drop(held);
    run_sweep(
        &out,
        &config(&names, 1),
        &ps,
        &ts,
        &sampler(&stub.url),
        &quiet(8),
    )
    .unwrap();
}

#[test]
fn a_template_that_cannot_render_fails_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let ps = problems(dir.path());
    let stub = stub::start(None);
    // Countdown needs target and numbers; these are math problems.
    let names = ["qwen-math", "countdown"];
    let ts = templates(&names);
    let err = run_sweep(
        &dir.path().join("run"),
        &config(&names, 1),
        &ps,
        &ts,
        &sampler(&stub.url),
        &quiet(8),
    )
    .unwrap_err();
    assert!(err.to_string().contains("problem q1"), "{err}");
    assert!(
        err.to_string().contains("needs a Countdown problem"),
        "{err}"
    );
    assert!(stub.state.sampling_requests().is_empty());
}
