//! Per-token log-probabilities of given responses: [`Model::score`].

use candle_core::{D, DType, Tensor};

use crate::attention::AttentionPath;
use crate::decoder::Model;
use crate::error::{Error, Result};
use crate::head::{DEFAULT_HEAD_CHUNK_ROWS, HeadTransform, chunked_logprobs};
use crate::layers::Mode;

/// How [`Model::score_with`] applies the LM head and log-softmax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreHead {
    /// All scored rows at once, as plain tensor ops (autograd through candle's own ops): holds
    /// the whole `(rows, vocab)` logit matrix and its intermediates. The reference for
    /// `Chunked`.
    Full,
    /// This many rows at a time, with a hand-written backward that recomputes each chunk's
    /// logits (`crates/model/src/head.rs`); the default of [`Model::score`].
    Chunked(usize),
}

/// Log-probabilities of a batch of responses, right-padded to the longest response.
#[derive(Debug, Clone)]
pub struct Scores {
    /// `(B, R)`: log p(response token j | prompt, earlier response tokens); 0 at padding.
    /// Carries gradients when scored in [`Mode::Train`].
    pub logprobs: Tensor,
    /// `(B, R)` f32: 1 for real response tokens, 0 for padding.
    pub mask: Tensor,
    /// Length of each response.
    pub lengths: Vec<usize>,
}

impl Scores {
    /// The log-probabilities per sequence, without padding.
    pub fn to_vecs(&self) -> Result<Vec<Vec<f32>>> {
        let rows = self.logprobs.to_vec2::<f32>()?;
        Ok(rows
            .into_iter()
            .zip(&self.lengths)
            .map(|(mut r, &n)| {
                r.truncate(n);
                r
            })
            .collect())
    }
}

impl Model {
    /// Scores `(prompt, response)` pairs in one batched forward pass.
    ///
    /// Logits are divided by `temperature` before the softmax (0 is read as 1, matching what
    /// greedy sampling reports). In [`Mode::Train`] the result keeps the autograd graph for a
    /// policy-gradient loss; in [`Mode::Infer`] it is detached (reference / old-policy scores).
    ///
    /// On the CPU with a dense head (trainable models) the LM head and log-softmax run in
    /// chunks of [`DEFAULT_HEAD_CHUNK_ROWS`] rows ([`ScoreHead::Chunked`]): the `(rows, vocab)`
    /// logits are never held at once, in the forward or the backward.
    pub fn score(
        &self,
        pairs: &[(&[u32], &[u32])],
        temperature: f64,
        mode: Mode,
    ) -> Result<Scores> {
        self.score_with(
            pairs,
            temperature,
            mode,
            ScoreHead::Chunked(DEFAULT_HEAD_CHUNK_ROWS),
        )
    }

    /// [`Model::score`] with an explicit choice of how the LM head runs. `Chunked` falls back
    /// to `Full` where it does not apply (quantized or biased heads, non-CPU devices, non-f32
    /// hidden states).
    pub fn score_with(
        &self,
        pairs: &[(&[u32], &[u32])],
        temperature: f64,
        mode: Mode,
        head: ScoreHead,
    ) -> Result<Scores> {
        self.score_with_attention(pairs, temperature, mode, head, AttentionPath::Fused)
    }

    /// [`Model::score_with`] with an explicit choice of attention: [`AttentionPath::Fused`]
    /// (the default of the other scoring methods) keeps no `(B, H, T, T)` scores for the
    /// backward; [`AttentionPath::Plain`] is the tensor expression it is tested against.
    pub fn score_with_attention(
        &self,
        pairs: &[(&[u32], &[u32])],
        temperature: f64,
        mode: Mode,
        head: ScoreHead,
        attention: AttentionPath,
    ) -> Result<Scores> {
        if !temperature.is_finite() || temperature < 0.0 {
            return Err(Error::invalid(
                "temperature",
                format!("{temperature} (must be ≥ 0)"),
            ));
        }
        let temperature = if temperature == 0.0 { 1.0 } else { temperature };
        let vocab = self.config().vocab_size;
        for (i, (p, r)) in pairs.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::invalid(
                    "prompt",
                    format!("prompt {i} is empty (add a BOS token)"),
                ));
            }
            if let Some(&t) = p.iter().chain(r.iter()).find(|&&t| t as usize >= vocab) {
                return Err(Error::invalid(
                    "tokens",
                    format!("pair {i} has token {t} ≥ vocabulary size {vocab}"),
                ));
            }
        }
        let batch = pairs.len();
        let lengths: Vec<usize> = pairs.iter().map(|(_, r)| r.len()).collect();
        let resp_width = lengths.iter().copied().max().unwrap_or(0);
        let device = self.device();
        if batch == 0 || resp_width == 0 {
            let zeros = Tensor::zeros((batch, resp_width), candle_core::DType::F32, device)?;
            return Ok(Scores {
                logprobs: zeros.clone(),
                mask: zeros,
                lengths,
            });
        }
        // The last response token is never an input: nothing is predicted after it.
        let width = pairs
            .iter()
            .map(|(p, r)| p.len() + r.len().saturating_sub(1))
            .max()
            .unwrap_or(1);
        let mut ids = Vec::with_capacity(batch * width);
        let mut rows = Vec::with_capacity(batch * resp_width);
        let mut targets = Vec::with_capacity(batch * resp_width);
        let mut mask = Vec::with_capacity(batch * resp_width);
        for (b, (p, r)) in pairs.iter().enumerate() {
            let seq: Vec<u32> = p.iter().chain(r.iter()).copied().take(width).collect();
            let n = seq.len();
            // Right padding: real tokens never attend to it, so only the causal mask is needed.
            ids.extend(seq.into_iter().chain(std::iter::repeat_n(0, width - n)));
            for j in 0..resp_width {
                let real = j < r.len();
                rows.push((b * width + if real { p.len() - 1 + j } else { 0 }) as u32);
                targets.push(if real { r[j] } else { 0 });
                mask.push(if real { 1f32 } else { 0.0 });
            }
        }
        let input = Tensor::from_vec(ids, (batch, width), device)?;
        let pos: Vec<i64> = (0..batch).flat_map(|_| 0..width as i64).collect();
        let hidden = self.forward_hidden_with(&input, &pos, None, mode, attention)?;
        let hidden = hidden.reshape((batch * width, self.config().hidden_size))?;
        let rows = Tensor::from_vec(rows, batch * resp_width, device)?;
        let mask_t = Tensor::from_vec(mask, (batch, resp_width), device)?;
        let chunked = match head {
            ScoreHead::Chunked(chunk) if device.is_cpu() && hidden.dtype() == DType::F32 => {
                self.dense_head_weight().map(|w| (w, chunk.max(1)))
            }
            _ => None,
        };
        if let Some((weight, chunk)) = chunked {
            let transform = HeadTransform {
                temperature: temperature as f32,
                softcap: self.config().final_logit_softcapping.map(|c| c as f32),
            };
            let lp = chunked_logprobs(
                &hidden.index_select(&rows, 0)?,
                weight,
                &targets,
                transform,
                chunk,
                mode == Mode::Train,
                self.fixed_order_f32(),
            )?;
            let lp = lp.reshape((batch, resp_width))?.mul(&mask_t)?;
            let lp = if mode == Mode::Infer { lp.detach() } else { lp };
            return Ok(Scores {
                logprobs: lp,
                mask: mask_t,
                lengths,
            });
        }
        // Only response positions reach the LM head: the vocabulary projection dominates memory.
        let logits = self.logits(&hidden.index_select(&rows, 0)?)?;
        // (rows, vocab) is the largest tensor of a training step: do not copy it for T = 1.
        let logits = if temperature == 1.0 {
            logits
        } else {
            (logits / temperature)?
        };
        // log-sum-exp with a detached max: the gradient of lse does not depend on the shift.
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let lse = (logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + &max)?;
        let targets = Tensor::from_vec(targets, (batch * resp_width, 1), device)?;
        let picked = logits.gather(&targets, 1)?;
        let mask = mask_t;
        let lp = (picked - lse)?.reshape((batch, resp_width))?.mul(&mask)?;
        let lp = if mode == Mode::Infer { lp.detach() } else { lp };
        Ok(Scores {
            logprobs: lp,
            mask,
            lengths,
        })
    }
}
