//! Batched sampling with a KV cache: [`Model::generate`].

use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::decoder::Model;
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::layers::Mode;
use crate::sampling::{SamplingParams, sample_token};

/// Why a sequence stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop token or stop string was produced.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// One generated continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Sampled token ids; a stop token, when one ended the sequence, is the last one.
    pub tokens: Vec<u32>,
    /// Log-probability of each sampled token at the sampling temperature (see
    /// [`crate::sampling::sample_token`]).
    pub logprobs: Vec<f32>,
    /// Why the sequence ended.
    pub finish_reason: FinishReason,
    /// The stop string that ended it, if any (the tokens include the text up to and including
    /// the token that completed it).
    pub stop_string: Option<String>,
}

impl Completion {
    /// The response text as an OpenAI-compatible server returns it: decoded by `decode` (the
    /// tokenizer's decoding without special tokens), without the end-of-sequence token that
    /// ended it, and cut at the stop string that ended it (kept at the end when `include_stop`:
    /// the R1 template's `</answer>`). The one decoding of a completion that the probe, RL
    /// rollouts and the model server share.
    pub fn response_text(&self, decode: &dyn Detokenize, include_stop: bool) -> String {
        let mut tokens = self.tokens.as_slice();
        if self.finish_reason == FinishReason::Stop
            && self.stop_string.is_none()
            && let Some((_, rest)) = tokens.split_last()
        {
            tokens = rest;
        }
        let mut text = decode.detokenize(tokens);
        if let Some(stop) = &self.stop_string
            && let Some(at) = text.find(stop.as_str())
        {
            text.truncate(if include_stop { at + stop.len() } else { at });
        }
        text
    }
}

/// Turns token ids into text; needed for stop strings. Any `Fn(&[u32]) -> String` is one.
pub trait Detokenize {
    /// The text of `tokens` (lossy on invalid UTF-8).
    fn detokenize(&self, tokens: &[u32]) -> String;
}

impl<F: Fn(&[u32]) -> String> Detokenize for F {
    fn detokenize(&self, tokens: &[u32]) -> String {
        self(tokens)
    }
}

/// State of one sequence still being generated.
struct Live {
    index: usize,
    next_pos: i64,
    rng: ChaCha20Rng,
}

impl Model {
    /// Samples a continuation of every prompt, all sequences in one batch.
    ///
    /// Prompts may differ in length (they are left-padded and masked). Each step runs one
    /// forward over the sequences still live; finished ones leave the batch. `decoder` is needed
    /// only when `params.stop_strings` is non-empty. `on_token(i, token)` is called for every
    /// sampled token of prompt `i`, in order (for streaming).
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        params: &SamplingParams,
        decoder: Option<&dyn Detokenize>,
        on_token: &mut dyn FnMut(usize, u32),
    ) -> Result<Vec<Completion>> {
        self.generate_inner(prompts, params, None, decoder, on_token)
    }

    /// Like [`Model::generate`], but sequence `i` draws from its own seed `seeds[i]` (stream 0
    /// of a ChaCha20 generator seeded with it) instead of stream `i` of `params.seed`.
    ///
    /// A sequence's tokens then depend only on its prompt, its seed and `params`, not on its
    /// position in the batch or on which other sequences share it, so a resumed run can redraw
    /// exactly the samples it is missing. `seeds` must have one entry per prompt.
    pub fn generate_seeded(
        &self,
        prompts: &[Vec<u32>],
        seeds: &[u64],
        params: &SamplingParams,
        decoder: Option<&dyn Detokenize>,
        on_token: &mut dyn FnMut(usize, u32),
    ) -> Result<Vec<Completion>> {
        if seeds.len() != prompts.len() {
            return Err(Error::invalid(
                "seeds",
                format!("{} seeds for {} prompts", seeds.len(), prompts.len()),
            ));
        }
        self.generate_inner(prompts, params, Some(seeds), decoder, on_token)
    }

    fn generate_inner(
        &self,
        prompts: &[Vec<u32>],
        params: &SamplingParams,
        seeds: Option<&[u64]>,
        decoder: Option<&dyn Detokenize>,
        on_token: &mut dyn FnMut(usize, u32),
    ) -> Result<Vec<Completion>> {
        params.validate()?;
        let vocab = self.config().vocab_size;
        for (i, p) in prompts.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::invalid(
                    "prompt",
                    format!("prompt {i} is empty (add a BOS token)"),
                ));
            }
            if let Some(&t) = p.iter().find(|&&t| t as usize >= vocab) {
                return Err(Error::invalid(
                    "prompt",
                    format!("prompt {i} has token {t} ≥ vocabulary size {vocab}"),
                ));
            }
        }
        if !params.stop_strings.is_empty() && decoder.is_none() {
            return Err(Error::invalid(
                "stop_strings",
                "stop strings need a detokenizer",
            ));
        }
        let mut stop_ids = params.stop_token_ids.clone();
        if !params.ignore_eos {
            stop_ids.extend(self.config().eos_token_ids.iter().copied());
        }
        // A stop string of n bytes lies within the last n + 4 tokens (tokens that are partial
        // UTF-8 decode to nothing on their own).
        let stop_window = params
            .stop_strings
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            + 4;

        let mut out: Vec<Completion> = prompts
            .iter()
            .map(|_| Completion {
                tokens: Vec::new(),
                logprobs: Vec::new(),
                finish_reason: FinishReason::Length,
                stop_string: None,
            })
            .collect();
        if prompts.is_empty() || params.max_new_tokens == 0 {
            return Ok(out);
        }

        let batch = prompts.len();
        let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * width);
        let mut pos = Vec::with_capacity(batch * width);
        for p in prompts {
            let pad = width - p.len();
            ids.extend(std::iter::repeat_n(0u32, pad).chain(p.iter().copied()));
            pos.extend(std::iter::repeat_n(-1i64, pad).chain(0..p.len() as i64));
        }
        let mut live: Vec<Live> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let rng = match seeds {
                    Some(seeds) => ChaCha20Rng::seed_from_u64(seeds[i]),
                    None => {
                        let mut rng = ChaCha20Rng::seed_from_u64(params.seed);
                        rng.set_stream(i as u64);
                        rng
                    }
                };
                Live {
                    index: i,
                    next_pos: p.len() as i64,
                    rng,
                }
            })
            .collect();
        let mut cache = KvCache::with_dtype(
            self.config().num_layers,
            width + params.max_new_tokens,
            self.kv_cache_dtype(),
        );
        let input = Tensor::from_vec(ids, (batch, width), self.device())?;
        let hidden = self.forward_hidden(&input, &pos, Some(&mut cache), Mode::Infer)?;
        let mut logits = self.last_logits(&hidden)?;

        loop {
            let mut keep = Vec::with_capacity(live.len());
            let mut next_tokens = Vec::with_capacity(live.len());
            // One vocabulary-wide softmax per row: rows are independent (each has its own
            // generator), so they are sampled in parallel with identical results.
            let mut work: Vec<(&mut Live, &[f32], (u32, f32))> = live
                .iter_mut()
                .zip(&logits)
                .map(|(seq, row)| (seq, row.as_slice(), (0, 0.0)))
                .collect();
            crate::par::for_each_mut(&mut work, |_, (seq, row, pick)| {
                *pick = sample_token(row, params, &mut seq.rng);
            });
            let picks: Vec<(u32, f32)> = work.into_iter().map(|w| w.2).collect();
            for (row, (seq, (tok, lp))) in live.iter().zip(picks).enumerate() {
                let c = &mut out[seq.index];
                c.tokens.push(tok);
                c.logprobs.push(lp);
                on_token(seq.index, tok);
                let mut done = false;
                if stop_ids.contains(&tok) {
                    c.finish_reason = FinishReason::Stop;
                    done = true;
                } else if let Some(dec) = decoder.filter(|_| !params.stop_strings.is_empty()) {
                    let tail = &c.tokens[c.tokens.len().saturating_sub(stop_window)..];
                    let text = dec.detokenize(tail);
                    if let Some(s) = params
                        .stop_strings
                        .iter()
                        .find(|s| text.contains(s.as_str()))
                    {
                        c.finish_reason = FinishReason::Stop;
                        c.stop_string = Some(s.clone());
                        done = true;
                    }
                }
                if !done && c.tokens.len() >= params.max_new_tokens {
                    done = true;
                }
                if !done {
                    keep.push(row);
                    next_tokens.push(tok);
                }
            }
            if keep.is_empty() {
                break;
            }
            if keep.len() < live.len() {
                cache.retain(&keep, self.device())?;
                let mut old: Vec<Option<Live>> = live.into_iter().map(Some).collect();
                live = keep.iter().filter_map(|&r| old[r].take()).collect();
            }
            let q_pos: Vec<i64> = live.iter().map(|s| s.next_pos).collect();
            for s in &mut live {
                s.next_pos += 1;
            }
            let input = Tensor::from_vec(next_tokens, (live.len(), 1), self.device())?;
            let hidden = self.forward_hidden(&input, &q_pos, Some(&mut cache), Mode::Infer)?;
            logits = self.last_logits(&hidden)?;
        }
        Ok(out)
    }

    /// Logits of the last position of every row, as plain vectors.
    fn last_logits(&self, hidden: &Tensor) -> Result<Vec<Vec<f32>>> {
        let (_, t, _) = hidden.dims3()?;
        let last = hidden.narrow(1, t - 1, 1)?.squeeze(1)?;
        Ok(self.logits(&last)?.to_vec2::<f32>()?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::config::{Arch, ModelConfig};

    fn params() -> SamplingParams {
        SamplingParams {
            max_new_tokens: 12,
            temperature: 1.0,
            ignore_eos: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_seeded_sequence_is_the_same_alone_and_in_any_batch() -> Result<()> {
        let model = Model::tiny(&ModelConfig::tiny(Arch::Llama), 11, &Device::Cpu)?;
        let prompts = vec![vec![1, 5, 9], vec![1, 17, 33, 12, 40, 8], vec![1, 44]];
        let seeds = [101, 202, 303];
        let batch = model.generate_seeded(&prompts, &seeds, &params(), None, &mut |_, _| {})?;
        for i in 0..prompts.len() {
            let alone = model.generate_seeded(
                &prompts[i..=i],
                &seeds[i..=i],
                &params(),
                None,
                &mut |_, _| {},
            )?;
            assert_eq!(alone[0].tokens, batch[i].tokens, "sequence {i}");
        }
        // Reordered batch: each sequence follows its seed, not its row.
        let rev: Vec<Vec<u32>> = prompts.iter().rev().cloned().collect();
        let rev_seeds: Vec<u64> = seeds.iter().rev().copied().collect();
        let r = model.generate_seeded(&rev, &rev_seeds, &params(), None, &mut |_, _| {})?;
        assert_eq!(r[0].tokens, batch[2].tokens);
        assert_eq!(r[2].tokens, batch[0].tokens);
        // The same prompt twice with two seeds gives two different samples (12 tokens from a
        // 64-token vocabulary at temperature 1 coinciding is vanishingly unlikely).
        let twice = vec![prompts[0].clone(), prompts[0].clone()];
        let t = model.generate_seeded(&twice, &[1, 2], &params(), None, &mut |_, _| {})?;
        assert_ne!(t[0].tokens, t[1].tokens);
        Ok(())
    }

    #[test]
    fn seed_count_must_match_prompts() -> Result<()> {
        let model = Model::tiny(&ModelConfig::tiny(Arch::Llama), 11, &Device::Cpu)?;
        let err = model
            .generate_seeded(&[vec![1]], &[1, 2], &params(), None, &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("seeds"), "{err}");
        Ok(())
    }
}
