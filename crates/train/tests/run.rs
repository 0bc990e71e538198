//! Whole RL runs (`aha_train::run`) on a tiny random model with the word-level tokenizer of
//! `tests/fixtures/boxed-words` (each `\boxed{d}` is one token): the task "answer 5" has reward
//! variance from the first step, the reward rises, every documented metrics field is written, and
//! a run interrupted after a checkpoint and resumed writes the same files as an uninterrupted one.

use std::path::{Path, PathBuf};

use aha_data::{Gold, Problem};
use aha_model::candle_core::Device;
use aha_model::{Arch, Model, ModelConfig, WeightKind};
use aha_tokenizer::Tokenizer;
use aha_train::{
    LrSchedule, MetricsLine, RewardConfig, RewardKind, RunConfig, RunEvent, RunInputs, SampleLine,
    run,
};
use serde_json::Value;

type R = Result<(), Box<dyn std::error::Error>>;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boxed-words/tokenizer.json")
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_tokenizer_json(&fixture()).unwrap()
}

fn tiny(tok: &Tokenizer) -> Model {
    let cfg = ModelConfig {
        vocab_size: tok.vocab_size(),
        eos_token_ids: tok.eos_ids().to_vec(),
        ..ModelConfig::tiny(Arch::Qwen2)
    };
    Model::tiny(&cfg, 7, &Device::Cpu).unwrap()
}

fn problems(words: &[&str]) -> Vec<Problem> {
    words
        .iter()
        .map(|w| Problem {
            id: (*w).to_string(),
            question: (*w).to_string(),
            gold: Gold::Answer("5".into()),
            meta: Default::default(),
        })
        .collect()
}

/// A template file `Q {question} A` (boxed answers) in `dir`.
fn template(dir: &Path) -> String {
    let p = dir.join("qa.txt");
    std::fs::write(&p, "Q {question} A").unwrap();
    p.display().to_string()
}

fn config(dir: &Path, steps: usize) -> RunConfig {
    let mut c = RunConfig {
        steps,
        prompts_per_step: 2,
        group_size: 8,
        template: template(dir),
        reward: RewardConfig {
            kind: RewardKind::Math,
            // Every 3-token response is cut by the budget: grade them all.
            truncated: None,
        },
        lr: LrSchedule::Constant {
            lr: 3e-2,
            warmup: 0,
        },
        mini_batches: 2,
        save_every: 2,
        seed: 5,
        ..RunConfig::default()
    };
    c.sampling.max_tokens = 3;
    c.eval.every = 4;
    c.samples.every = 3;
    c
}

fn lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metrics lines as JSON without the timing fields.
fn untimed(path: &Path) -> Vec<Value> {
    lines::<Value>(path)
        .into_iter()
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            o.remove("step_time_s");
            o.remove("tokens_per_s");
            v
        })
        .collect()
}

#[test]
fn reward_rises_and_every_documented_field_is_written() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("run");
    let tok = tokenizer();
    let model = tiny(&tok);
    let train = problems(&["one", "two", "three"]);
    let eval = problems(&["one", "two"]);
    let mut cfg = config(dir.path(), 24);
    cfg.save_every = 10;
    let mut steps_seen = Vec::new();
    let mut checkpoints = Vec::new();
    let summary = run(
        RunInputs {
            policy: &model,
            reference: None,
            tokenizer: &tok,
            train: &train,
            eval: &eval,
        },
        &cfg,
        &out,
        false,
        &mut |e| match e {
            RunEvent::Step(l) => steps_seen.push(l.trainer.step),
            RunEvent::Checkpoint { step, .. } => checkpoints.push(*step),
            _ => {}
        },
    )?;
    assert_eq!(steps_seen, (0..24).collect::<Vec<_>>());
    assert_eq!(checkpoints, vec![10, 20, 24]);
    let m: Vec<MetricsLine> = lines(&out.join("metrics.jsonl"));
    assert_eq!(m.len(), 24);
    let rewards: Vec<f64> = m.iter().map(|l| l.trainer.reward_mean).collect();
    let first = rewards[..3].iter().sum::<f64>() / 3.0;
    let last = rewards[19..].iter().sum::<f64>() / 5.0;
    assert!(last > first + 0.3 && last > 0.6, "reward {rewards:.2?}");
    // Binary math reward: reward mean = accuracy.
    for l in &m {
        assert!((l.trainer.reward_mean - l.task.accuracy).abs() < 1e-12);
        let parts = l.task.frac_correct + l.task.frac_formatted_wrong + l.task.frac_unformatted;
        assert!((parts - 1.0).abs() < 1e-12);
        assert_eq!(l.run, "dr_grpo");
        assert_eq!(l.trainer.truncated_rate + 0.0, l.trainer.truncated_rate);
    }
    // Eval before the update of steps 0, 4, 8, …, and after the last step.
    let eval_steps: Vec<usize> = m
        .iter()
        .filter(|l| l.eval.is_some())
        .map(|l| l.trainer.step)
        .collect();
    assert_eq!(eval_steps, vec![0, 4, 8, 12, 16, 20]);
    let fin = summary.final_eval.as_ref().unwrap();
    assert_eq!(fin.n, 2);
    assert!(fin.accuracy >= m[0].eval.as_ref().unwrap().accuracy);

    // Every field of docs/pipeline.md's example line (ssr only for math golds, len_truncated and
    // len_correct/incorrect when such responses exist).
    let raw: Vec<Value> = lines(&out.join("metrics.jsonl"));
    for key in [
        "schema_version",
        "run",
        "algorithm",
        "step",
        "reward_mean",
        "reward_std",
        "accuracy",
        "frac_correct",
        "frac_formatted_wrong",
        "frac_unformatted",
        "format_rate",
        "len_mean",
        "len_truncated",
        "truncated_rate",
        "reflection_count_mean",
        "reflection_rate",
        "ssr",
        "loss",
        "clip_frac",
        "approx_kl",
        "entropy",
        "grad_norm",
        "lr",
        "tokens_per_s",
        "step_time_s",
    ] {
        assert!(
            raw[0].get(key).is_some(),
            "metrics line 0 lacks {key}: {}",
            raw[0]
        );
    }
    for key in ["accuracy", "len_mean"] {
        assert!(raw[0]["eval"].get(key).is_some(), "eval lacks {key}");
    }
    assert!(raw.iter().any(|l| l.get("len_correct").is_some()));
    assert!(raw.iter().any(|l| l.get("len_incorrect").is_some()));
    let ssr = raw[0]["ssr"].as_object().unwrap();
    assert_eq!(ssr.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 16);

    // Samples every 3rd step, all 16 rollouts, consistent with the metrics.
    let s: Vec<SampleLine> = lines(&out.join("samples.jsonl"));
    assert_eq!(s.len(), 8 * 16);
    assert_eq!(s[0].step, 0);
    assert_eq!(s[16].step, 3);
    for x in &s {
        assert_eq!(x.reward, f64::from(u8::from(x.verdict == "correct")));
        assert!(x.num_tokens <= 3);
    }
    let step0_mean = s[..16].iter().map(|x| x.reward).sum::<f64>() / 16.0;
    assert!((step0_mean - m[0].trainer.reward_mean).abs() < 1e-12);

    // Config, checkpoints (only the newest kept), final weights loadable and equal to the policy.
    let saved = RunConfig::from_file(&out.join("config.json"))?;
    assert_eq!(saved, cfg);
    let ckpts: Vec<String> = std::fs::read_dir(out.join("checkpoints"))?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ckpts, vec!["step-24"]);
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "trainer.json",
        "run_state.json",
        "config.json",
    ] {
        assert!(out.join("checkpoints/step-24").join(f).is_file(), "{f}");
    }
    let back = Model::load(&summary.weights, WeightKind::F32, &Device::Cpu)?;
    for ((n, a), (_, b)) in model.named_vars().iter().zip(back.named_vars()) {
        let d = (a.as_tensor() - b.as_tensor())?
            .abs()?
            .sum_all()?
            .to_scalar::<f32>()?;
        assert_eq!(d, 0.0, "{n}");
    }
    assert!(out.join("final.json").is_file());
    Ok(())
}

#[test]
fn an_interrupted_run_resumed_from_its_checkpoint_equals_an_uninterrupted_one() -> R {
    let dir = tempfile::tempdir()?;
    let tok = tokenizer();
    let train = problems(&["one", "two", "three"]);
    let eval = problems(&["one"]);
    let mut cfg = config(dir.path(), 7);
    cfg.keep_checkpoints = 3;
    let go = |out: &Path, steps: usize, resume: bool, model: &Model| {
        let mut c = cfg.clone();
        c.steps = steps;
        run(
            RunInputs {
                policy: model,
                reference: None,
                tokenizer: &tok,
                train: &train,
                eval: &eval,
            },
            &c,
            out,
            resume,
            &mut |_| {},
        )
    };
    let full = dir.path().join("full");
    let full_model = tiny(&tok);
    go(&full, 7, false, &full_model)?;

    // "Killed" during step 5 (0-based 4): lines of steps 0..=3 written, checkpoint step-4
    // committed, a torn line of step 4, and a half-written checkpoint directory.
    let cut = dir.path().join("cut");
    go(&cut, 4, false, &tiny(&tok))?;
    let mut m = std::fs::OpenOptions::new()
        .append(true)
        .open(cut.join("metrics.jsonl"))?;
    std::io::Write::write_all(&mut m, b"{\"run\":\"dr_grpo\",\"step\":4,\"rew")?;
    std::fs::create_dir_all(cut.join("checkpoints/step-5.tmp"))?;
    std::fs::remove_file(cut.join("final.json"))?;
    // Also drop the last committed checkpoint, so the resume starts from step-2 and has to
    // discard the lines of steps 2 and 3.
    std::fs::remove_dir_all(cut.join("checkpoints/step-4"))?;

    // A fresh random model: the checkpoint's weights replace it.
    let resumed_model = tiny(&tok);
    let summary = go(&cut, 7, true, &resumed_model)?;
    assert_eq!(summary.resumed_from, 2);
    assert_eq!(
        untimed(&cut.join("metrics.jsonl")),
        untimed(&full.join("metrics.jsonl"))
    );
    assert_eq!(
        std::fs::read_to_string(cut.join("samples.jsonl"))?,
        std::fs::read_to_string(full.join("samples.jsonl"))?
    );
    assert!(!cut.join("checkpoints/step-5.tmp").exists());
    for ((n, a), (_, b)) in full_model
        .named_vars()
        .iter()
        .zip(resumed_model.named_vars())
    {
        let d = (a.as_tensor() - b.as_tensor())?
            .abs()?
            .sum_all()?
            .to_scalar::<f32>()?;
        assert_eq!(d, 0.0, "{n}");
    }
    Ok(())
}

#[test]
fn output_directory_rules_are_enforced() -> R {
    let dir = tempfile::tempdir()?;
    let tok = tokenizer();
    let model = tiny(&tok);
    let train = problems(&["one"]);
    let out = dir.path().join("o");
    let cfg = config(dir.path(), 1);
    let inputs = RunInputs {
        policy: &model,
        reference: None,
        tokenizer: &tok,
        train: &train,
        eval: &[],
    };
    run(inputs, &cfg, &out, false, &mut |_| {})?;
    let err = run(inputs, &cfg, &out, false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty") && err.contains("resume"), "{err}");
    let mut other = cfg.clone();
    other.lr = LrSchedule::Constant {
        lr: 1e-3,
        warmup: 0,
    };
    other.group_size = 4;
    let err = run(inputs, &other, &out, true, &mut |_| {})
        .unwrap_err()
        .to_string();
    // Every differing field is named, as a dotted path with both values.
    assert!(
        err.contains("group_size: ") && err.contains("lr.lr: ") && err.contains(" -> 4"),
        "{err}"
    );
    // A Countdown reward on math golds names the problem.
    let mut cd = cfg.clone();
    cd.reward.kind = RewardKind::Countdown;
    let err = run(inputs, &cd, &dir.path().join("cd"), false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("problem one"), "{err}");
    Ok(())
}

#[test]
fn a_kl_term_needs_a_reference_and_is_logged() -> R {
    let dir = tempfile::tempdir()?;
    let tok = tokenizer();
    let model = tiny(&tok);
    let reference = tiny(&tok);
    let train = problems(&["one", "two"]);
    let mut cfg = config(dir.path(), 3);
    cfg.loss.beta = 0.1;
    cfg.mini_batches = 1;
    let without = RunInputs {
        policy: &model,
        reference: None,
        tokenizer: &tok,
        train: &train,
        eval: &[],
    };
    let err = run(without, &cfg, &dir.path().join("a"), false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("reference"), "{err}");
    let with = RunInputs {
        reference: Some(&reference),
        ..without
    };
    run(with, &cfg, &dir.path().join("b"), false, &mut |_| {})?;
    let m: Vec<MetricsLine> = lines(&dir.path().join("b/metrics.jsonl"));
    // Step 0 (one mini-batch) scores with the reference's own weights: the k3 KL is 0 up to the
    // train/infer kernels' rounding, and positive once the policy has moved.
    assert!(
        m[0].trainer.kl_ref.unwrap().abs() < 1e-6,
        "{:?}",
        m[0].trainer.kl_ref
    );
    assert!(
        m[2].trainer.kl_ref.unwrap() > 0.0,
        "{:?}",
        m[2].trainer.kl_ref
    );
    Ok(())
}
