//! The embedded sampler on a tiny random model saved to a temp `.safetensors` file with the tiny
//! `tokenizer.json` of `crates/tokenizer/tests/fixtures/tiny-hf` beside it: a sweep writes
//! `responses.jsonl` and a summary, and a run stopped mid-way and continued (with other batch
//! sizes) holds every sample exactly once with the same text as an uninterrupted run.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use aha_data::{LoadOptions, Problem, Template, load};
use aha_model::candle_core::Device;
use aha_model::{Arch, Model, ModelConfig};
use aha_probe::{ProbeConfig, SweepOptions, analyse, read_responses, run_sweep};
use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use aha_sample::{Completion, EmbeddedSampler, Error, SampleJob, Sampler};
use aha_tokenizer::Tokenizer;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MAX_TOKENS: u32 = 6;

fn tokenizer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenizer/tests/fixtures/tiny-hf")
}

/// Writes `model.safetensors` (random Qwen2, untied output so not self-repeating, with the tokenizer's vocabulary) and the tokenizer
/// files into `dir`; returns the model path.
fn tiny_model(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        std::fs::copy(tokenizer_dir().join(f), dir.join(f))?;
    }
    let tok = Tokenizer::from_tokenizer_json(&dir.join("tokenizer.json"))?;
    let cfg = ModelConfig {
        vocab_size: tok.vocab_size(),
        eos_token_ids: tok.eos_ids().to_vec(),
        ..ModelConfig::tiny(Arch::Qwen2)
    };
    let path = dir.join("model.safetensors");
    Model::tiny(&cfg, 5, &Device::Cpu)?.save(&path)?;
    Ok(path)
}

fn problems(dir: &Path) -> Vec<Problem> {
    let path = dir.join("data.jsonl");
    let rows = [
        r#"{"id":"a","problem":"What is 1 + 1?","answer":"2"}"#,
        r#"{"id":"b","problem":"What is 2 * 3?","answer":"6"}"#,
        r#"{"id":"c","problem":"Solve x + 4 = 9.","answer":"5"}"#,
    ];
    std::fs::write(&path, rows.join("\n")).unwrap();
    load(&path, &LoadOptions::default()).unwrap().problems
}

fn config(sampler: &str, templates: &[&str]) -> ProbeConfig {
    ProbeConfig {
        schema_version: aha_probe::CONFIG_SCHEMA_VERSION,
        sampler: sampler.into(),
        data: "data.jsonl".into(),
        split: None,
        question_field: None,
        answer_field: None,
        questions: 3,
        limit: None,
        templates: templates.iter().map(|s| s.to_string()).collect(),
        temperatures: vec![0.7, 1.0],
        n: 2,
        max_tokens: MAX_TOKENS,
        top_p: 0.95,
        seed: Some(3),
    }
}

fn templates(names: &[&str]) -> Vec<Template> {
    names
        .iter()
        .map(|n| Template::from_name(n).unwrap())
        .collect()
}

fn quiet(batch: usize) -> SweepOptions {
    SweepOptions {
        batch_samples: batch,
        progress: false,
    }
}

/// (template, question, temperature, index) → response text.
fn texts(path: &Path) -> BTreeMap<(String, String, u64, u32), String> {
    read_responses(path)
        .unwrap()
        .into_iter()
        .map(|l| (l.key(), l.response))
        .collect()
}

#[test]
fn embedded_probe_writes_responses_and_summary() -> TestResult {
    let dir = tempfile::tempdir()?;
    let model = tiny_model(dir.path())?;
    let ps = problems(dir.path());
    let sampler = EmbeddedSampler::load(&model, None)?.with_max_batch(4);
    assert_eq!(sampler.describe(), "embedded:model.safetensors");
    let names = ["qwen-math", "chat"];
    let cfg = config(&sampler.describe(), &names);
    let ts = templates(&names);
    let out = dir.path().join("run");
    let rep = run_sweep(&out, &cfg, &ps, &ts, &sampler, &quiet(5))?;
    // 3 questions × 2 temperatures × 2 samples × 2 templates.
    assert_eq!((rep.total, rep.resumed, rep.sampled), (24, 0, 24));
    let lines = read_responses(&out.join("responses.jsonl"))?;
    assert_eq!(lines.len(), 24);
    let eos = Tokenizer::from_tokenizer_json(&dir.path().join("tokenizer.json"))?;
    for l in &lines {
        let n = l.num_tokens.expect("the embedded sampler counts tokens");
        assert!((1..=u64::from(MAX_TOKENS)).contains(&n), "{l:?}");
        match l.finish_reason.as_str() {
            "length" => assert_eq!(n, u64::from(MAX_TOKENS), "{l:?}"),
            "stop" => {}
            other => panic!("finish reason {other}"),
        }
        // Control tokens (the end-of-turn token that stopped it) are not part of the text.
        for id in eos.eos_ids() {
            let piece = eos.id_to_piece(*id).unwrap_or_default();
            assert!(!l.response.contains(piece), "{l:?}");
        }
        assert!(l.seed.is_some());
    }
    // Seeded samples of one prompt differ (6 tokens of a 266-token vocabulary at T ≥ 0.7).
    let distinct: HashSet<&str> = lines.iter().map(|l| l.response.as_str()).collect();
    assert!(
        distinct.len() > 12,
        "{} distinct of 24: {lines:#?}",
        distinct.len()
    );

    let detector = KeywordDetector::new(&Keywords::preset("paper15")?, MatchMode::Substring)?;
    let s = analyse(&out, &cfg, &ps, &ts, &detector, None, false)?;
    assert_eq!(s.templates.len(), 2);
    assert!(out.join("summary.json").is_file());
    assert!(out.join("graded.jsonl").is_file());

    // The same settings in another directory draw the very same texts.
    let again = dir.path().join("again");
    let other = EmbeddedSampler::load(&model, None)?.with_max_batch(16);
    run_sweep(&again, &cfg, &ps, &ts, &other, &quiet(24))?;
    assert_eq!(
        texts(&again.join("responses.jsonl")),
        texts(&out.join("responses.jsonl"))
    );
    Ok(())
}

/// Passes the first `budget` samples through and fails the rest, as a killed process would
/// leave them undrawn.
struct Dying<'a> {
    inner: &'a EmbeddedSampler,
    budget: Cell<usize>,
}

impl Sampler for Dying<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn sample(
        &self,
        jobs: &[SampleJob],
        on_sample: &mut dyn FnMut(),
    ) -> Vec<Vec<aha_sample::Result<Completion>>> {
        let mut done = self.inner.sample(jobs, on_sample);
        for samples in &mut done {
            for s in samples.iter_mut() {
                if self.budget.get() == 0 {
                    *s = Err(Error::Sampler("killed".into()));
                } else {
                    self.budget.set(self.budget.get() - 1);
                }
            }
        }
        done
    }
}

#[test]
fn an_interrupted_embedded_run_continues_with_identical_samples() -> TestResult {
    let dir = tempfile::tempdir()?;
    let model = tiny_model(dir.path())?;
    let ps = problems(dir.path());
    let names = ["qwen-math"];
    let ts = templates(&names);
    let whole_sampler = EmbeddedSampler::load(&model, None)?.with_max_batch(12);
    let cfg = config(&whole_sampler.describe(), &names);

    let whole = dir.path().join("whole");
    run_sweep(&whole, &cfg, &ps, &ts, &whole_sampler, &quiet(12))?;
    let want = texts(&whole.join("responses.jsonl"));
    assert_eq!(want.len(), 12);

    // Killed after 5 samples (batches of 4: one whole batch and one sample of the next kept).
    let out = dir.path().join("run");
    let small = EmbeddedSampler::load(&model, None)?.with_max_batch(3);
    let dying = Dying {
        inner: &small,
        budget: Cell::new(5),
    };
    let err = run_sweep(&out, &cfg, &ps, &ts, &dying, &quiet(4)).unwrap_err();
    assert!(err.to_string().contains("killed"), "{err}");
    let path = out.join("responses.jsonl");
    assert_eq!(read_responses(&path)?.len(), 5);

    // The rerun, with other batch sizes, draws only the 7 missing samples.
    let rep = run_sweep(&out, &cfg, &ps, &ts, &small, &quiet(5))?;
    assert_eq!((rep.total, rep.resumed, rep.sampled), (12, 5, 7));
    let lines = read_responses(&path)?;
    assert_eq!(lines.len(), 12);
    let keys: HashSet<_> = lines.iter().map(|l| l.key()).collect();
    assert_eq!(keys.len(), 12, "a sample was written twice");
    assert_eq!(texts(&path), want);

    let rep = run_sweep(&out, &cfg, &ps, &ts, &small, &quiet(5))?;
    assert_eq!((rep.resumed, rep.sampled), (12, 0));
    Ok(())
}

#[test]
fn a_missing_tokenizer_is_an_error_naming_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let model = tiny_model(dir.path())?;
    std::fs::remove_file(dir.path().join("tokenizer.json"))?;
    let err = EmbeddedSampler::load(&model, None).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    Ok(())
}
