//! The resumable sampling sweep: templates × temperatures × questions × samples.

use std::collections::HashSet;
use std::path::Path;

use aha_data::{Problem, Prompt, Template};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::store::{
    ProbeConfig, RESPONSES_SCHEMA_VERSION, ResponseLine, ResponseWriter, SampleKey,
    check_or_write_config, recover_responses,
};
use aha_sample::{SampleJob, Sampler, SamplingParams};

/// How the sweep runs (none of this changes which samples are drawn).
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Samples per batch handed to the sampler; each batch is appended and fsynced as a whole,
    /// so this bounds the work a crash can lose.
    pub batch_samples: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            batch_samples: 64,
            progress: true,
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Samples the configuration asks for.
    pub total: usize,
    /// Samples found in `responses.jsonl` at the start.
    pub resumed: usize,
    /// Samples drawn by this call.
    pub sampled: usize,
}

/// One prompt's missing samples.
struct Pending<'a> {
    template: &'a Template,
    prompt: Prompt,
    problem: &'a Problem,
    temperature: f64,
    indices: Vec<u32>,
}

/// Runs (or continues) the sweep into `dir`: checks or writes `config.json`, recovers
/// `responses.jsonl`, and samples what is missing, appending each batch with an fsync.
///
/// `templates` must be the templates named in `config.templates`, in the same order, and
/// `problems` the `config.questions` problems.
pub fn run_sweep(
    dir: &Path,
    config: &ProbeConfig,
    problems: &[Problem],
    templates: &[Template],
    sampler: &dyn Sampler,
    opts: &SweepOptions,
) -> Result<SweepReport> {
    config.validate()?;
    let names: Vec<&str> = templates.iter().map(Template::name).collect();
    if names
        != config
            .templates
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    {
        return Err(Error::Config(format!(
            "templates {names:?} do not match the configuration's {:?}",
            config.templates
        )));
    }
    if problems.len() != config.questions {
        return Err(Error::Config(format!(
            "{} problems given, the configuration says {}",
            problems.len(),
            config.questions
        )));
    }
    let mut ids = HashSet::new();
    if let Some(p) = problems.iter().find(|p| !ids.insert(p.id.as_str())) {
        return Err(Error::Config(format!(
            "duplicate problem id {:?}: samples are keyed on the id; map a unique id field",
            p.id
        )));
    }
    check_or_write_config(dir, config)?;
    let path = dir.join("responses.jsonl");
    // Two processes appending to one run would duplicate samples: hold an advisory lock on the
    // file for the whole sweep (the OS drops it when the process dies, so a killed run never
    // leaves a stale lock behind).
    let mut writer = ResponseWriter::open(&path)?;
    writer.try_lock()?;
    let existing = recover_responses(&path)?;

    let mut wanted: HashSet<SampleKey> = HashSet::new();
    let mut pending = Vec::new();
    let done: HashSet<SampleKey> = existing.iter().map(ResponseLine::key).collect();
    for template in templates {
        for &temperature in &config.temperatures {
            for problem in problems {
                let mut indices = Vec::new();
                for i in 0..config.samples_at(temperature) {
                    let key = (
                        template.name().to_string(),
                        problem.id.clone(),
                        temperature.to_bits(),
                        i,
                    );
                    if !done.contains(&key) {
                        indices.push(i);
                    }
                    wanted.insert(key);
                }
                if !indices.is_empty() {
                    pending.push(Pending {
                        template,
                        // Rendered before any sampling, so a template that cannot render a
                        // problem fails the run at once, not after hours of sampling.
                        prompt: template.render(problem)?,
                        problem,
                        temperature,
                        indices,
                    });
                }
            }
        }
    }
    if let Some((n, l)) = existing
        .iter()
        .enumerate()
        .find(|(_, l)| !wanted.contains(&l.key()))
    {
        return Err(Error::Line {
            path,
            line: n + 1,
            message: format!(
                "sample (question_id {:?}, template {:?}, temperature {}, sample_index {}) is not part of this configuration",
                l.question_id, l.template, l.temperature, l.sample_index
            ),
        });
    }

    let total = wanted.len();
    let resumed = existing.len();
    let bar = if opts.progress {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "sampling {bar:40} {pos}/{len} samples ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(resumed as u64);
    // The rate and ETA are about this run's samples, not the resumed ones.
    bar.reset_eta();
    if resumed > 0 {
        bar.println(format!(
            "resuming: {resumed} of {total} samples already in {}",
            path.display()
        ));
    }

    let mut sampled = 0;
    let batch = opts.batch_samples.max(1);
    let mut start = 0;
    while start < pending.len() {
        let mut end = start;
        let mut n = 0;
        while end < pending.len() && (n == 0 || n + pending[end].indices.len() <= batch) {
            n += pending[end].indices.len();
            end += 1;
        }
        let chunk = &pending[start..end];
        let jobs = chunk
            .iter()
            .map(|p| SampleJob {
                prompt: p.prompt.clone(),
                params: SamplingParams {
                    temperature: p.temperature,
                    top_p: config.top_p,
                    max_tokens: config.max_tokens,
                    stop: p.template.stop(),
                    include_stop: p.template.include_stop_in_output(),
                },
                seeds: p
                    .indices
                    .iter()
                    .map(|&i| {
                        config.seed.map(|s| {
                            sample_seed(s, p.template.name(), &p.problem.id, p.temperature, i)
                        })
                    })
                    .collect(),
            })
            .collect::<Vec<_>>();
        let results = sampler.sample(&jobs, &mut || bar.inc(1));
        let mut lines = Vec::with_capacity(n);
        let mut first_err = None;
        for ((p, job), res) in chunk.iter().zip(&jobs).zip(results) {
            if res.len() != job.seeds.len() {
                first_err.get_or_insert(Error::Sampler(format!(
                    "question {:?}: asked for {} samples, got {}",
                    p.problem.id,
                    job.seeds.len(),
                    res.len()
                )));
            }
            for ((c, &i), seed) in res.into_iter().zip(&p.indices).zip(&job.seeds) {
                match c {
                    Ok(c) => lines.push(ResponseLine {
                        schema_version: RESPONSES_SCHEMA_VERSION,
                        question_id: p.problem.id.clone(),
                        template: p.template.name().to_string(),
                        temperature: p.temperature,
                        sample_index: i,
                        response: c.text,
                        finish_reason: c.finish_reason,
                        num_tokens: c.num_tokens,
                        seed: *seed,
                    }),
                    Err(e) => {
                        first_err.get_or_insert(Error::Sampler(format!(
                            "question {:?}, template {}, temperature {}, sample {i}: {e}",
                            p.problem.id,
                            p.template.name(),
                            p.temperature
                        )));
                    }
                }
            }
        }
        // Keep what finished before reporting a failure: the rerun only redoes the rest.
        writer.append(&lines)?;
        sampled += lines.len();
        if let Some(e) = first_err {
            bar.abandon_with_message("stopped: a request failed (rerun to continue)");
            return Err(e);
        }
        start = end;
    }
    bar.finish_with_message("done");
    Ok(SweepReport {
        total,
        resumed,
        sampled,
    })
}

/// The seed of one sample, derived from the base seed and the sample's identity, so that it does
/// not depend on batching or on where a run was resumed. FNV-1a over the identity, finished with
/// the SplitMix64 mixer; written here because std's hashers are not stable across releases and
/// this is ten lines.
pub fn sample_seed(
    base: u64,
    template: &str,
    question_id: &str,
    temperature: f64,
    index: u32,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Separator so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(template.as_bytes());
    eat(question_id.as_bytes());
    eat(&temperature.to_bits().to_le_bytes());
    eat(&index.to_le_bytes());
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    // Servers take seeds as signed 64-bit or smaller; keep it in 0..2^31 for llama.cpp & co.
    (z ^ (z >> 31)) & 0x7fff_ffff
}
