//! A whole R1-Zero-like RL run over [`aha_data::Problem`]s: [`run`].
//!
//! Per policy step `s` (0-based):
//! 1. on eval steps (`s % eval.every == 0`, so step 0 evaluates the base model), greedy
//!    responses on the held-out problems, graded → the `eval` object of line `s`;
//! 2. the next `prompts_per_step` problems of the seeded per-epoch order ([`prompt_order`]),
//!    rendered with the template and tokenized; [`Trainer::step_with`] samples `group_size`
//!    responses each, rewards them through the [`Grader`], and updates the policy;
//! 3. one `metrics.jsonl` line (trainer fields + [`crate::TaskMetrics`] + eval), `samples.jsonl` lines
//!    on sample steps;
//! 4. on checkpoint steps, `checkpoints/step-{s+1}/` (weights, optimizer, counters, run state,
//!    config), written into a temporary directory and renamed into place.
//!
//! Everything random derives from `seed` and the step number (sampling seeds inside the trainer,
//! the prompt order here), so the state of a run is its weights, optimizer and step: resuming
//! from a checkpoint and rewriting the JSONL files without the lines of later steps gives files
//! equal to an uninterrupted run's, timing fields aside.
mod config;
mod dir;
mod progress;
mod records;

pub use config::*;
use dir::*;
pub use dir::{
    CHECKPOINTS_DIR, CONFIG_FILE, FINAL_FILE, FINAL_WEIGHTS, METRICS_FILE, SAMPLES_FILE,
};
pub use progress::ProgressUpdate;
pub use records::*;

use std::path::{Path, PathBuf};

use aha_data::{Problem, Prompt, Template};
use aha_model::{Completion, FinishReason, Model, SamplingParams};
use aha_tokenizer::{ChatMessage, Tokenizer};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::task::{EvalMetrics, Graded, Grader, eval_metrics, task_metrics};
use crate::trainer::Trainer;

/// What the model, tokenizer and data of a run are.
#[derive(Debug, Clone, Copy)]
pub struct RunInputs<'a> {
    /// The policy (f32 weights, updated in place).
    pub policy: &'a Model,
    /// Frozen reference for the KL term (required iff `loss.beta > 0`).
    pub reference: Option<&'a Model>,
    /// The policy's tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Training problems.
    pub train: &'a [Problem],
    /// Held-out problems for the greedy eval (may be empty: no eval).
    pub eval: &'a [Problem],
}

/// Progress of a run, for a progress bar.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// The run starts (or resumes) at `first_step` of `steps`.
    Start {
        /// First policy step to run (0, or the resumed checkpoint's step).
        first_step: usize,
        /// Total policy steps.
        steps: usize,
    },
    /// Greedy eval progress before step `step` (`done` of `total` problems).
    Eval {
        /// The step.
        step: usize,
        /// Problems done.
        done: usize,
        /// Problems to do.
        total: usize,
    },
    /// A rollout token was sampled in step `step` (`tokens` so far of at most `budget`).
    Token {
        /// The step.
        step: usize,
        /// Tokens sampled so far in this step.
        tokens: usize,
        /// Upper bound: rollouts × budget.
        budget: usize,
    },
    /// Step finished and its line written.
    Step(&'a MetricsLine),
    /// A checkpoint was committed.
    Checkpoint {
        /// Steps it holds.
        step: usize,
        /// Its directory.
        dir: &'a Path,
    },
}

/// What a finished [`run`] reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Always [`RUN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The step the run started from (0, or the resumed checkpoint's).
    pub resumed_from: usize,
    /// Policy steps completed.
    pub steps: usize,
    /// Greedy eval after the last update (when eval is on and there are eval problems).
    pub final_eval: Option<EvalMetrics>,
    /// The final weights (`model.safetensors` in the output directory).
    pub weights: PathBuf,
    /// The last metrics line written by this call.
    pub last: Option<MetricsLine>,
}

/// The training-problem indices of policy step `step`: positions `step·P .. step·P + P` of the
/// endless sequence of per-epoch permutations of `0..n` (epoch `e` shuffled by ChaCha20 seeded
/// with `seed` on stream `e`). A pure function of its arguments, so a resumed run draws the same
/// prompts; a group is one prompt, so groups are never split.
pub fn prompt_order(n: usize, step: usize, prompts_per_step: usize, seed: u64) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut cache: Option<(usize, Vec<usize>)> = None;
    (step * prompts_per_step..(step + 1) * prompts_per_step)
        .map(|k| {
            let epoch = k / n;
            if cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut perm: Vec<usize> = (0..n).collect();
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                rng.set_stream(epoch as u64);
                perm.shuffle(&mut rng);
                cache = Some((epoch, perm));
            }
            cache.as_ref().map_or(0, |(_, p)| p[k % n])
        })
        .collect()
}

/// Runs (or resumes) an RL run into `out`; see the module docs for what is written.
///
/// Without `resume`, `out` must be missing or empty. With `resume`, a run in `out` continues from
/// its newest checkpoint (from scratch when it has none) with the same settings: a `config.json`
/// that differs in anything but `steps` and `sources` is refused, naming the fields.
pub fn run(
    inputs: RunInputs<'_>,
    cfg: &RunConfig,
    out: &Path,
    resume: bool,
    progress: &mut dyn FnMut(&RunEvent<'_>),
) -> Result<RunSummary> {
    cfg.validate()?;
    if inputs.train.is_empty() {
        return Err(Error::invalid("train", "no training problems"));
    }
    let template =
        Template::resolve(&cfg.template).map_err(|e| Error::invalid("template", e.to_string()))?;
    let grader = Grader::new(
        cfg.reward,
        &template,
        &cfg.reflection.keywords,
        cfg.reflection.mode,
    )?;
    for p in inputs.train.iter().chain(inputs.eval) {
        grader.check_gold(&p.id, &p.gold)?;
    }
    let env = Env {
        tokenizer: inputs.tokenizer,
        template: &template,
        grader: &grader,
        stop: cfg.sampling.stop.clone().unwrap_or_else(|| template.stop()),
        include_stop: template.include_stop_in_output(),
    };

    let mut tcfg = cfg.trainer_config();
    // The tokenizer knows end-of-turn ids (`<|im_end|>`) that a GGUF's single EOS id misses.
    tcfg.sampling.stop_token_ids = inputs.tokenizer.eos_ids().to_vec();
    tcfg.sampling.stop_strings = env.stop.clone();
    let start_step = prepare_dir(out, cfg, resume)?;
    let mut trainer = Trainer::new(inputs.policy, inputs.reference, tcfg)?;
    if let Some(ckpt) = start_step.as_ref().and_then(|(_, d)| d.as_deref()) {
        load_weights(inputs.policy, &ckpt.join(crate::trainer::CHECKPOINT_MODEL))?;
        trainer.restore(ckpt)?;
    }
    let first = start_step.as_ref().map_or(0, |(s, _)| *s);
    if trainer.policy_step() != first {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "trainer state says {} steps, the directory step-{first}",
                trainer.policy_step()
            ),
        ));
    }
    progress(&RunEvent::Start {
        first_step: first,
        steps: cfg.steps,
    });

    let eval_prompts = inputs
        .eval
        .iter()
        .map(|p| env.encode(p))
        .collect::<Result<Vec<_>>>()?;
    let run_name = cfg.run_name();
    let mut last = None;
    let detok = |ids: &[u32]| inputs.tokenizer.decode_skip_special(ids);
    let decoder: Option<&dyn aha_model::Detokenize> = (!env.stop.is_empty()).then_some(&detok);

    for step in first..cfg.steps {
        let eval = if cfg.eval.every > 0 && step % cfg.eval.every == 0 && !inputs.eval.is_empty() {
            Some(evaluate(
                inputs.policy,
                &env,
                inputs.eval,
                &eval_prompts,
                cfg,
                &mut |done, total| {
                    progress(&RunEvent::Eval { step, done, total });
                },
            )?)
        } else {
            None
        };
        let idx = prompt_order(inputs.train.len(), step, cfg.prompts_per_step, cfg.seed);
        let problems: Vec<&Problem> = idx.iter().map(|&i| &inputs.train[i]).collect();
        let prompts = problems
            .iter()
            .map(|p| env.encode(p))
            .collect::<Result<Vec<_>>>()?;
        let mut graded: Vec<(Graded, String)> = Vec::with_capacity(prompts.len() * cfg.group_size);
        let budget = prompts.len() * cfg.group_size * cfg.sampling.max_tokens;
        let mut tokens = 0usize;
        let output = trainer.step_with(
            &prompts,
            decoder,
            &mut |i, c| {
                let text = env.response_text(c);
                let g = env.grade(&text, problems[i], c);
                let r = g.reward;
                graded.push((g, text));
                r
            },
            &mut |_, _| {
                tokens += 1;
                if tokens.is_multiple_of(16) {
                    progress(&RunEvent::Token {
                        step,
                        tokens,
                        budget,
                    });
                }
            },
        )?;
        let only: Vec<Graded> = graded.iter().map(|(g, _)| g.clone()).collect();
        let line = MetricsLine {
            run: run_name.clone(),
            trainer: output.metrics,
            task: task_metrics(&only),
            eval,
        };
        append_line(&out.join(METRICS_FILE), &[&line])?;
        if cfg.samples.every > 0 && step % cfg.samples.every == 0 {
            let keep = if cfg.samples.per_step == 0 {
                output.rollouts.len()
            } else {
                cfg.samples.per_step
            };
            let lines: Vec<SampleLine> = output
                .rollouts
                .iter()
                .zip(&graded)
                .enumerate()
                .take(keep)
                .map(|(i, (r, (g, text)))| SampleLine {
                    schema_version: RUN_SCHEMA_VERSION,
                    step,
                    question_id: problems[r.prompt_index].id.clone(),
                    sample_index: i % cfg.group_size,
                    response: text.clone(),
                    reward: r.reward,
                    advantage: r.advantage,
                    verdict: g.verdict.as_str().to_string(),
                    extracted: g.extracted.clone(),
                    finish_reason: r.completion.finish_reason,
                    num_tokens: r.completion.tokens.len(),
                    reflection_count: g.reflection_count,
                    ssr: g.ssr.map(|s| s.as_str().to_string()),
                })
                .collect();
            let refs: Vec<&SampleLine> = lines.iter().collect();
            append_line(&out.join(SAMPLES_FILE), &refs)?;
        }
        progress(&RunEvent::Step(&line));
        last = Some(line);
        let done = step + 1;
        if done == cfg.steps || (cfg.save_every > 0 && done % cfg.save_every == 0) {
            let dir = save_checkpoint(&trainer, cfg, out, done)?;
            progress(&RunEvent::Checkpoint {
                step: done,
                dir: &dir,
            });
        }
    }

    let final_eval = if cfg.eval.every > 0 && !inputs.eval.is_empty() {
        Some(evaluate(
            inputs.policy,
            &env,
            inputs.eval,
            &eval_prompts,
            cfg,
            &mut |done, total| {
                progress(&RunEvent::Eval {
                    step: cfg.steps,
                    done,
                    total,
                });
            },
        )?)
    } else {
        None
    };
    let weights = out.join(FINAL_WEIGHTS);
    // The newest checkpoint (step `steps`, written in the loop or restored) holds exactly these
    // weights: a hard link saves a copy (540 MB for a 135M model); other filesystems get a write.
    let last_ckpt = out
        .join(CHECKPOINTS_DIR)
        .join(format!("step-{}", cfg.steps))
        .join(crate::trainer::CHECKPOINT_MODEL);
    if !link_atomic(&last_ckpt, &weights) {
        crate::sft::save_model_atomic(inputs.policy, &weights)?;
    }
    let summary = RunSummary {
        schema_version: RUN_SCHEMA_VERSION,
        resumed_from: first,
        steps: cfg.steps,
        final_eval,
        weights,
        last,
    };
    write_atomic(&out.join(FINAL_FILE), &to_json(&summary, out)?)?;
    Ok(summary)
}

/// The per-run pieces that turn problems into token ids and completions into graded text.
struct Env<'a> {
    tokenizer: &'a Tokenizer,
    template: &'a Template,
    grader: &'a Grader,
    stop: Vec<String>,
    include_stop: bool,
}

impl Env<'_> {
    fn encode(&self, p: &Problem) -> Result<Vec<u32>> {
        let prompt = self
            .template
            .render(p)
            .map_err(|e| Error::invalid("template", e.to_string()))?;
        let ids = match &prompt {
            Prompt::Text(t) => self.tokenizer.encode(t, self.tokenizer.add_bos_default()),
            Prompt::Chat { user } => self
                .tokenizer
                .encode_chat(&[ChatMessage::user(user.clone())], true),
        }
        .map_err(|e| Error::invalid("prompt", format!("problem {}: {e}", p.id)))?;
        if ids.is_empty() {
            return Err(Error::invalid(
                "prompt",
                format!(
                    "problem {}: empty prompt and the tokenizer adds no BOS",
                    p.id
                ),
            ));
        }
        Ok(ids)
    }

    /// The response text (see [`aha_model::Completion::response_text`]).
    fn response_text(&self, c: &Completion) -> String {
        c.response_text(
            &|t: &[u32]| self.tokenizer.decode_skip_special(t),
            self.include_stop,
        )
    }

    fn grade(&self, text: &str, p: &Problem, c: &Completion) -> Graded {
        self.grader.grade(
            text,
            &p.gold,
            c.finish_reason == FinishReason::Length,
            c.tokens.len(),
        )
    }
}

fn evaluate(
    model: &Model,
    env: &Env<'_>,
    problems: &[Problem],
    prompts: &[Vec<u32>],
    cfg: &RunConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalMetrics> {
    let params = SamplingParams {
        max_new_tokens: cfg.eval.max_tokens.unwrap_or(cfg.sampling.max_tokens),
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        seed: 0,
        stop_token_ids: env.tokenizer.eos_ids().to_vec(),
        stop_strings: env.stop.clone(),
        ignore_eos: false,
    };
    let detok = |ids: &[u32]| env.tokenizer.decode_skip_special(ids);
    let decoder: Option<&dyn aha_model::Detokenize> = (!env.stop.is_empty()).then_some(&detok);
    let mut graded = Vec::with_capacity(problems.len());
    for (ps, ids) in problems
        .chunks(cfg.eval.batch_size)
        .zip(prompts.chunks(cfg.eval.batch_size))
    {
        let done = model
            .generate(ids, &params, decoder, &mut |_, _| {})
            .map_err(Error::Model)?;
        for (p, c) in ps.iter().zip(&done) {
            let text = env.response_text(c);
            graded.push(env.grade(&text, p, c));
        }
        progress(graded.len(), problems.len());
    }
    Ok(eval_metrics(&graded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_order_is_a_seeded_permutation_per_epoch() {
        // 5 problems, 2 per step: steps 0..5 cover two epochs exactly.
        let all: Vec<usize> = (0..5).flat_map(|s| prompt_order(5, s, 2, 3)).collect();
        assert_eq!(all.len(), 10);
        for epoch in all.chunks(5) {
            let mut e = epoch.to_vec();
            e.sort_unstable();
            assert_eq!(e, vec![0, 1, 2, 3, 4]);
        }
        assert_ne!(all[..5], all[5..], "each epoch has its own order");
        assert_eq!(prompt_order(5, 3, 2, 3), all[6..8]);
        assert_ne!(prompt_order(50, 0, 10, 3), prompt_order(50, 0, 10, 4));
        assert!(prompt_order(0, 0, 2, 3).is_empty());
    }

    #[test]
    fn truncating_keeps_earlier_steps_and_drops_a_torn_line() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid("tmp", e.to_string()))?;
        let p = dir.path().join("m.jsonl");
        std::fs::write(
            &p,
            "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"x\"",
        )
        .map_err(|e| Error::invalid("tmp", e.to_string()))?;
        truncate_lines(&p, 2)?;
        assert_eq!(
            std::fs::read_to_string(&p).map_err(|e| Error::invalid("tmp", e.to_string()))?,
            "{\"step\":0}\n{\"step\":1}\n"
        );
        std::fs::write(&p, "{\"step\":0}\nnot json\n{\"step\":1}\n")
            .map_err(|e| Error::invalid("tmp", e.to_string()))?;
        let err = truncate_lines(&p, 5).unwrap_err().to_string();
        assert!(err.contains("m.jsonl:2"), "{err}");
        Ok(())
    }

    #[test]
    fn config_defaults_fill_a_partial_file_and_typos_are_refused() -> Result<()> {
        let cfg: RunConfig = serde_json::from_str(r#"{"steps": 3, "sampling": {"max_tokens": 9}}"#)
            .map_err(|e| Error::invalid("json", e.to_string()))?;
        assert_eq!(cfg.steps, 3);
        assert_eq!(cfg.sampling.max_tokens, 9);
        assert_eq!(cfg.sampling.temperature, 1.0);
        assert_eq!(cfg.trainer_config().loss.budget, 9);
        cfg.validate()?;
        assert!(serde_json::from_str::<RunConfig>(r#"{"stepz": 3}"#).is_err());
        let bad = RunConfig {
            group_size: 1,
            ..RunConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("group_size")
        );
        Ok(())
    }
}
