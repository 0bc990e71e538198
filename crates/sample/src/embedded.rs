//! The embedded sampler: an `aha-model` decoder and an `aha-tokenizer` tokenizer in this process.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aha_data::Prompt;
use aha_model::candle_core::Device;
use aha_model::{FinishReason, LoadOptions, Model, WeightKind};
use aha_tokenizer::{ChatMessage, Tokenizer};

use crate::error::{Error, Result};
use crate::sampler::{Completion, SampleJob, Sampler, SamplingParams};

/// Samples from a model loaded in this process, many sequences per forward pass.
///
/// Every sample is drawn with its own seed ([`Model::generate_seeded`]), so a sample's text
/// depends only on its prompt, seed and settings, never on which other samples share its batch:
/// a resumed sweep redraws exactly what an uninterrupted one would have.
#[derive(Debug)]
pub struct EmbeddedSampler {
    model: Model,
    tokenizer: Tokenizer,
    name: String,
    max_batch: usize,
}

impl EmbeddedSampler {
    /// A sampler over `model` and its `tokenizer`; `name` appears in [`Sampler::describe`].
    pub fn new(model: Model, tokenizer: Tokenizer, name: impl Into<String>) -> EmbeddedSampler {
        EmbeddedSampler {
            model,
            tokenizer,
            name: name.into(),
            max_batch: 16,
        }
    }

    /// Loads a model on the CPU with quantized weights (for speed) and its tokenizer.
    ///
    /// `path` is a GGUF file (tokenizer from its metadata), a Hugging Face directory
    /// (`tokenizer.json` inside) or a `.safetensors` file written by `Model::save`
    /// (`tokenizer.json` beside it). `tokenizer` overrides where the tokenizer comes from: a
    /// GGUF file or a `tokenizer.json`.
    pub fn load(path: &Path, tokenizer: Option<&Path>) -> Result<EmbeddedSampler> {
        Self::load_with(path, tokenizer, &LoadOptions::default())
    }

    /// [`EmbeddedSampler::load`] with explicit model options (the CPU kernels).
    pub fn load_with(
        path: &Path,
        tokenizer: Option<&Path>,
        options: &LoadOptions,
    ) -> Result<EmbeddedSampler> {
        let model = Model::load_with(path, WeightKind::Quantized, &Device::Cpu, options)
            .map_err(|e| Error::Sampler(format!("loading {}: {e}", path.display())))?;
        let (tok, _) = Tokenizer::for_model(path, tokenizer)
            .map_err(|e| Error::Sampler(format!("tokenizer of {}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(EmbeddedSampler::new(model, tok, name))
    }

    /// Sets the most sequences sampled in one forward batch (at least 1; default 16). Larger
    /// batches are faster per sample but the KV cache grows with batch × tokens.
    pub fn with_max_batch(mut self, max_batch: usize) -> EmbeddedSampler {
        self.max_batch = max_batch.max(1);
        self
    }

    /// The most sequences sampled in one forward batch ([`EmbeddedSampler::with_max_batch`]).
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The tokenizer (e.g. to count prompt tokens).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of a rendered prompt: raw text as is (special tokens written in it are
    /// recognised, as llama.cpp's server does), a chat prompt through the model's chat template.
    fn encode(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let ids = match prompt {
            Prompt::Text(text) => self
                .tokenizer
                .encode(text, self.tokenizer.add_bos_default()),
            Prompt::Chat { user } => self
                .tokenizer
                .encode_chat(&[ChatMessage::user(user.clone())], true),
        }
        .map_err(|e| Error::Sampler(format!("tokenizing the prompt: {e}")))?;
        if ids.is_empty() {
            return Err(Error::Sampler(
                "the prompt is empty and the model has no BOS token".into(),
            ));
        }
        Ok(ids)
    }

    /// Samples one continuation per prompt, `prompts[i]` (token ids) with seed `seeds[i]`, in
    /// forward batches of at most the configured size. For callers that tokenize themselves
    /// (e.g. `aha serve-model` with multi-message chats).
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        seeds: &[u64],
        params: &SamplingParams,
    ) -> Result<Vec<Completion>> {
        if prompts.len() != seeds.len() {
            return Err(Error::Sampler(format!(
                "{} seeds for {} prompts",
                seeds.len(),
                prompts.len()
            )));
        }
        let mp = self.model_params(params);
        let detok = |ids: &[u32]| self.tokenizer.decode_skip_special(ids);
        let decoder: Option<&dyn aha_model::Detokenize> =
            (!mp.stop_strings.is_empty()).then_some(&detok);
        let mut out = Vec::with_capacity(prompts.len());
        for (ids, seeds) in prompts
            .chunks(self.max_batch)
            .zip(seeds.chunks(self.max_batch))
        {
            let done = self
                .model
                .generate_seeded(ids, seeds, &mp, decoder, &mut |_, _| {})
                .map_err(|e| Error::Sampler(e.to_string()))?;
            out.extend(done.iter().map(|c| self.finish(c, params.include_stop)));
        }
        Ok(out)
    }

    fn model_params(&self, p: &SamplingParams) -> aha_model::SamplingParams {
        aha_model::SamplingParams {
            max_new_tokens: p.max_tokens as usize,
            temperature: p.temperature,
            top_p: p.top_p,
            top_k: 0,
            seed: 0,
            // The tokenizer knows end-of-turn ids (`<|im_end|>`, `<end_of_turn>`) that a GGUF's
            // single eos id misses; the model's own eos ids are added by `generate`.
            stop_token_ids: self.tokenizer.eos_ids().to_vec(),
            stop_strings: p.stop.clone(),
            ignore_eos: false,
        }
    }

    /// A finished sequence as a sampler returns it (see [`aha_model::Completion::response_text`]).
    fn finish(&self, c: &aha_model::Completion, include_stop: bool) -> Completion {
        let text = c.response_text(
            &|t: &[u32]| self.tokenizer.decode_skip_special(t),
            include_stop,
        );
        Completion {
            text,
            finish_reason: match c.finish_reason {
                FinishReason::Stop => "stop".into(),
                FinishReason::Length => "length".into(),
            },
            num_tokens: Some(c.tokens.len() as u64),
        }
    }
}

/// The text of an error without the `sampling failed:` prefix, to copy it into every sample it
/// failed (the error type is not `Clone`).
fn message(e: &Error) -> String {
    match e {
        Error::Sampler(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A sample waiting for its batch: (job index, sample index, seed).
type Pending = (usize, usize, u64);

impl Sampler for EmbeddedSampler {
    fn describe(&self) -> String {
        format!("embedded:{}", self.name)
    }

    fn sample(
        &self,
        jobs: &[SampleJob],
        on_sample: &mut dyn FnMut(),
    ) -> Vec<Vec<Result<Completion>>> {
        let mut out: Vec<Vec<Option<Result<Completion>>>> = jobs
            .iter()
            .map(|j| j.seeds.iter().map(|_| None).collect())
            .collect();
        // Unseeded samples still need distinct streams: the clock, mixed with the position.
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut prompts: Vec<Option<Vec<u32>>> = Vec::with_capacity(jobs.len());
        for (j, job) in jobs.iter().enumerate() {
            match self.encode(&job.prompt) {
                Ok(ids) => prompts.push(Some(ids)),
                Err(e) => {
                    for slot in &mut out[j] {
                        *slot = Some(Err(Error::Sampler(message(&e))));
                        on_sample();
                    }
                    prompts.push(None);
                }
            }
        }
        // One `generate` call needs one set of settings: group jobs with equal parameters.
        let mut groups: Vec<(&SamplingParams, Vec<Pending>)> = Vec::new();
        for (j, job) in jobs.iter().enumerate() {
            if prompts[j].is_none() {
                continue;
            }
            let pending = job.seeds.iter().enumerate().map(|(s, seed)| {
                let seed = seed.unwrap_or_else(|| {
                    clock ^ ((j as u64) << 32 | s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                });
                (j, s, seed)
            });
            match groups.iter_mut().find(|(p, _)| **p == job.params) {
                Some((_, list)) => list.extend(pending),
                None => groups.push((&job.params, pending.collect())),
            }
        }
        for (params, pending) in groups {
            for chunk in pending.chunks(self.max_batch) {
                let ids: Vec<Vec<u32>> = chunk
                    .iter()
                    .map(|&(j, _, _)| prompts[j].clone().unwrap_or_default())
                    .collect();
                let seeds: Vec<u64> = chunk.iter().map(|&(_, _, seed)| seed).collect();
                match self.generate(&ids, &seeds, params) {
                    Ok(completions) => {
                        for (&(j, s, _), c) in chunk.iter().zip(completions) {
                            out[j][s] = Some(Ok(c));
                            on_sample();
                        }
                    }
                    Err(e) => {
                        for &(j, s, _) in chunk {
                            out[j][s] = Some(Err(Error::Sampler(message(&e))));
                            on_sample();
                        }
                    }
                }
            }
        }
        out.into_iter()
            .map(|samples| {
                samples
                    .into_iter()
                    .map(|c| {
                        c.unwrap_or_else(|| Err(Error::Sampler("a sample got no result".into())))
                    })
                    .collect()
            })
            .collect()
    }
}
