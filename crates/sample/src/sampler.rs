//! Samplers: one trait, so the sweep does not care whether a model runs in-process or behind an
//! OpenAI-compatible server.

use aha_data::Prompt;
use aha_openai::{ChatMessage, ChatRequest, Client, CompletionRequest, Sampling};

use crate::error::{Error, Result};

/// Sampling settings shared by every sample of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature (0 = greedy).
    pub temperature: f64,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Most new tokens per sample.
    pub max_tokens: u32,
    /// Stop strings (besides the model's end-of-sequence token).
    pub stop: Vec<String>,
    /// Keep a matched `</answer>` stop string at the end of the text (the answer-tag extraction
    /// and the R1 format check need it; OpenAI-compatible servers strip stop strings).
    pub include_stop: bool,
}

/// A prompt to sample `seeds.len()` times.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleJob {
    /// The rendered prompt.
    pub prompt: Prompt,
    /// Sampling settings.
    pub params: SamplingParams,
    /// One entry per wanted sample: its seed (`None`: the sampler's own randomness). Seeds are
    /// per sample so that a resumed run draws the same samples an uninterrupted one would.
    pub seeds: Vec<Option<u64>>,
}

/// One sampled continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The generated text (without the prompt).
    pub text: String,
    /// Why generation ended: `stop` (end of sequence or stop string), `length` (token limit), or
    /// what the backend said.
    pub finish_reason: String,
    /// Generated tokens, when the backend reports them.
    pub num_tokens: Option<u64>,
}

/// A batch sampler.
pub trait Sampler {
    /// A short description for logs and `config.json` (e.g. `openai:Qwen2.5-Math-1.5B`).
    fn describe(&self) -> String;

    /// Samples every job; the result has one entry per job, in order, each with one result per
    /// seed. A failed sample does not fail the others, so finished work can be kept.
    /// `on_sample` is called once per finished sample (for progress bars).
    fn sample(
        &self,
        jobs: &[SampleJob],
        on_sample: &mut dyn FnMut(),
    ) -> Vec<Vec<Result<Completion>>>;
}

/// Samples from an OpenAI-compatible server (vLLM, SGLang, llama.cpp's server, `aha serve-model`):
/// `/v1/completions` for raw-text prompts, `/v1/chat/completions` for chat prompts.
///
/// Each sample is its own request with `n = 1`: the `usage` of an `n > 1` response only gives
/// the total token count of all choices, and one request per seed keeps samples reproducible
/// one by one. Servers with prefix caching share the prompt's work anyway.
#[derive(Debug)]
pub struct OpenAiSampler {
    client: Client,
    model: String,
}

impl OpenAiSampler {
    /// A sampler sending requests for `model` through `client` (whose config sets concurrency,
    /// retries and timeouts).
    pub fn new(client: Client, model: impl Into<String>) -> OpenAiSampler {
        OpenAiSampler {
            client,
            model: model.into(),
        }
    }
}

/// Where a flattened request's result goes: (job index, sample index within the job).
type Slot = (usize, usize);

impl Sampler for OpenAiSampler {
    fn describe(&self) -> String {
        format!("openai:{}", self.model)
    }

    fn sample(
        &self,
        jobs: &[SampleJob],
        on_sample: &mut dyn FnMut(),
    ) -> Vec<Vec<Result<Completion>>> {
        let mut text_reqs = Vec::new();
        let mut text_slots: Vec<Slot> = Vec::new();
        let mut chat_reqs = Vec::new();
        let mut chat_slots: Vec<Slot> = Vec::new();
        for (j, job) in jobs.iter().enumerate() {
            let p = &job.params;
            let stop = (!p.stop.is_empty()).then(|| p.stop.clone());
            let sampling = |seed: Option<u64>| Sampling {
                n: Some(1),
                temperature: Some(p.temperature),
                top_p: Some(p.top_p),
                max_tokens: Some(p.max_tokens),
                stop: stop.clone(),
                seed,
            };
            for (s, seed) in job.seeds.iter().enumerate() {
                match &job.prompt {
                    Prompt::Text(text) => {
                        text_reqs.push(CompletionRequest {
                            model: self.model.clone(),
                            prompt: text.clone(),
                            sampling: sampling(*seed),
                            ..Default::default()
                        });
                        text_slots.push((j, s));
                    }
                    Prompt::Chat { user } => {
                        chat_reqs.push(ChatRequest {
                            model: self.model.clone(),
                            messages: vec![ChatMessage::user(user.clone())],
                            sampling: sampling(*seed),
                        });
                        chat_slots.push((j, s));
                    }
                }
            }
        }

        let mut out: Vec<Vec<Option<Result<Completion>>>> = jobs
            .iter()
            .map(|j| j.seeds.iter().map(|_| None).collect())
            .collect();
        if !text_reqs.is_empty() {
            let results = self.client.completions_many(&text_reqs, |_, _| on_sample());
            for ((j, s), r) in text_slots.into_iter().zip(results) {
                out[j][s] = Some(
                    r.map_err(|e| Error::Sampler(e.to_string()))
                        .and_then(|resp| {
                            let choice = resp.choices.into_iter().next().ok_or_else(|| {
                                Error::Sampler("the server answered with no choices".into())
                            })?;
                            Ok(Completion {
                                text: choice.text,
                                finish_reason: choice
                                    .finish_reason
                                    .unwrap_or_else(|| "unknown".into()),
                                num_tokens: resp.usage.map(|u| u.completion_tokens),
                            })
                        }),
                );
            }
        }
        if !chat_reqs.is_empty() {
            let results = self.client.chat_many(&chat_reqs, |_, _| on_sample());
            for ((j, s), r) in chat_slots.into_iter().zip(results) {
                out[j][s] = Some(
                    r.map_err(|e| Error::Sampler(e.to_string()))
                        .and_then(|resp| {
                            let choice = resp.choices.into_iter().next().ok_or_else(|| {
                                Error::Sampler("the server answered with no choices".into())
                            })?;
                            Ok(Completion {
                                text: choice.message.content.unwrap_or_default(),
                                finish_reason: choice
                                    .finish_reason
                                    .unwrap_or_else(|| "unknown".into()),
                                num_tokens: resp.usage.map(|u| u.completion_tokens),
                            })
                        }),
                );
            }
        }
        out.into_iter()
            .zip(jobs)
            .map(|(samples, job)| {
                samples
                    .into_iter()
                    .map(|c| {
                        let mut c = c.unwrap_or_else(|| {
                            Err(Error::Sampler("a request got no result".into()))
                        })?;
                        if job.params.include_stop {
                            restore_answer_stop(&mut c, &job.params.stop);
                        }
                        Ok(c)
                    })
                    .collect()
            })
            .collect()
    }
}

/// Servers strip the matched stop string. When a sample stopped with an `<answer>` still open
/// and `</answer>` is a stop string, that stop is what ended it (an end-of-sequence token would
/// leave the tag open only by the model's choice, which the tag check below cannot tell apart,
/// so only the unambiguous case — `</answer>` as the sole stop string — is restored).
fn restore_answer_stop(c: &mut Completion, stop: &[String]) {
    const CLOSE: &str = "</answer>";
    if c.finish_reason != "stop" || stop.len() != 1 || stop[0] != CLOSE {
        return;
    }
    let open = c.text.rfind("<answer>");
    let close = c.text.rfind(CLOSE);
    if let Some(o) = open
        && close.is_none_or(|cl| cl < o)
    {
        c.text.push_str(CLOSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(text: &str, finish: &str) -> Completion {
        Completion {
            text: text.into(),
            finish_reason: finish.into(),
            num_tokens: None,
        }
    }

    #[test]
    fn answer_stop_is_restored_only_when_open() {
        let stop = vec!["</answer>".to_string()];
        let mut c = comp("think </think> <answer> 5 ", "stop");
        restore_answer_stop(&mut c, &stop);
        assert_eq!(c.text, "think </think> <answer> 5 </answer>");
        let mut c = comp("<answer> 5 </answer> done", "stop");
        restore_answer_stop(&mut c, &stop);
        assert_eq!(c.text, "<answer> 5 </answer> done");
        let mut c = comp("<answer> 5", "length");
        restore_answer_stop(&mut c, &stop);
        assert_eq!(c.text, "<answer> 5");
        let mut c = comp("no tag", "stop");
        restore_answer_stop(&mut c, &stop);
        assert_eq!(c.text, "no tag");
    }
}
