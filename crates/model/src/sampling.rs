//! Choosing the next token from a row of logits: greedy, temperature, top-k, top-p.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How to sample continuations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// Most tokens to generate per sequence.
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 means greedy (arg-max).
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of top tokens whose probability reaches this
    /// (1 = off).
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens (0 = off). Applied before `top_p`.
    pub top_k: usize,
    /// Seed of the per-sequence ChaCha20 streams: sequence `i` of a call always draws from
    /// stream `i`, so results do not depend on which other sequences share the batch.
    pub seed: u64,
    /// Extra token ids that end a sequence (the sampled stop token is kept in the output).
    pub stop_token_ids: Vec<u32>,
    /// Strings that end a sequence once the generated text contains them (needs a decoder).
    pub stop_strings: Vec<String>,
    /// Do not stop at the model's own end-of-sequence ids.
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            max_new_tokens: 256,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
            stop_token_ids: Vec::new(),
            stop_strings: Vec::new(),
            ignore_eos: false,
        }
    }
}

impl SamplingParams {
    /// Rejects out-of-range values with a message naming the field.
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::invalid(
                "temperature",
                format!("{} (must be ≥ 0)", self.temperature),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::invalid(
                "top_p",
                format!("{} (must be in (0, 1])", self.top_p),
            ));
        }
        if self.stop_strings.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "stop_strings",
                "an empty stop string would stop immediately",
            ));
        }
        Ok(())
    }
}

/// Picks a token from `logits` and returns it with its log-probability.
///
/// The log-probability is that of the full temperature-scaled distribution (before top-k/top-p
/// truncation), i.e. exactly what [`crate::Model::score`] computes at the same temperature;
/// greedy decoding (temperature 0) reports it at temperature 1.
pub fn sample_token<R: Rng>(logits: &[f32], params: &SamplingParams, rng: &mut R) -> (u32, f32) {
    #[cfg(target_arch = "x86_64")]
    if crate::fastmath::avx2_fma() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { sample_avx2(logits, params, rng) };
    }
    sample_inner(logits, params, rng)
}

/// [`sample_inner`] compiled for AVX2 + FMA (the vocabulary-wide exp and sums vectorise).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sample_avx2<R: Rng>(logits: &[f32], params: &SamplingParams, rng: &mut R) -> (u32, f32) {
    sample_inner(logits, params, rng)
}

/// Tokens per block of the running sums that locate a draw without a vocabulary-long scan.
const BLOCK: usize = 256;

/// The weights `exp(scaled − max)` of block `bi` of the vocabulary into `w`; returns how many
/// (the last block may be short). A function, not a closure, so that it is inlined into (and
/// vectorised with) the AVX2 compilation of the sampler.
#[inline(always)]
fn block_weights(logits: &[f32], bi: usize, inv_t: f32, max: f32, w: &mut [f32; BLOCK]) -> usize {
    let chunk = &logits[bi * BLOCK..((bi + 1) * BLOCK).min(logits.len())];
    for (wi, &l) in w.iter_mut().zip(chunk) {
        let x = if l.is_nan() {
            f32::NEG_INFINITY
        } else {
            l * inv_t
        };
        *wi = crate::fastmath::exp(x - max);
    }
    chunk.len()
}

#[inline(always)]
fn sample_inner<R: Rng>(logits: &[f32], params: &SamplingParams, rng: &mut R) -> (u32, f32) {
    use crate::fastmath::{exp, sum};
    let greedy = params.temperature == 0.0;
    let inv_t = if greedy {
        1.0
    } else {
        (1.0 / params.temperature) as f32
    };
    // NaN logits would poison every comparison; treat them as impossible. Scaled values are
    // recomputed where needed rather than stored: at a 262k vocabulary and batch 32 each stored
    // copy is 33 MB of memory traffic per step.
    let scaled_at = |l: f32| {
        if l.is_nan() {
            f32::NEG_INFINITY
        } else {
            l * inv_t
        }
    };
    // 16 lane-wise maxima (vectorisable; a single running max is a sequential chain).
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = logits.chunks_exact(16);
    let mut max = f32::NEG_INFINITY;
    for &l in chunks.remainder() {
        max = max.max(scaled_at(l));
    }
    for c in chunks {
        for (m, &l) in lanes.iter_mut().zip(c) {
            *m = m.max(scaled_at(l));
        }
    }
    for m in lanes {
        max = max.max(m);
    }
    let first_max = || {
        // First maximum, as in llama.cpp and torch.argmax.
        let mut best = 0;
        let mut best_v = f32::NEG_INFINITY;
        for (t, &l) in logits.iter().enumerate() {
            let v = scaled_at(l);
            if v > best_v || t == 0 {
                (best, best_v) = (t, v);
            }
        }
        best
    };
    if !max.is_finite() {
        // Every logit −∞ (or +∞ present): no distribution to speak of; take the first maximum.
        let lp = if max == f32::INFINITY {
            0.0
        } else {
            f32::NEG_INFINITY
        };
        return (first_max() as u32, lp);
    }
    let block_weights = |bi: usize, w: &mut [f32; BLOCK]| block_weights(logits, bi, inv_t, max, w);
    // Block sums in f64 keep the normaliser accurate over a 250k vocabulary; they also locate a
    // draw without a vocabulary-long scan.
    // A plain loop, not an iterator chain: `collect` is not inlined into the AVX2 compilation
    // and the exps inside it would stay scalar.
    let mut w = [0f32; BLOCK];
    let nblocks = logits.len().div_ceil(BLOCK);
    let mut blocks: Vec<f64> = Vec::with_capacity(nblocks);
    for bi in 0..nblocks {
        let n = block_weights(bi, &mut w);
        blocks.push(f64::from(sum(&w[..n])));
    }
    let total: f64 = blocks.iter().sum();
    let lse = f64::from(max) + total.ln();
    let logprob = |t: usize| (f64::from(scaled_at(logits[t])) - lse) as f32;
    if greedy {
        let best = first_max();
        return (best as u32, logprob(best));
    }
    let chosen = if params.top_k > 0 && params.top_k < logits.len() || params.top_p < 1.0 {
        // Truncation sorts and renormalises over candidates: here the full vectors are needed.
        let scaled: Vec<f32> = logits.iter().map(|&l| scaled_at(l)).collect();
        let weights: Vec<f32> = scaled.iter().map(|&x| exp(x - max)).collect();
        let cands = truncate(&scaled, &weights, params.top_k, params.top_p)
            .unwrap_or_else(|| (0..logits.len()).collect());
        let mass: f64 = cands.iter().map(|&t| f64::from(weights[t])).sum();
        let u = rng.random::<f64>() * mass;
        let mut acc = 0.0;
        let mut pick = None;
        for &t in &cands {
            acc += f64::from(weights[t]);
            if acc > u {
                pick = Some(t);
                break;
            }
        }
        pick.unwrap_or_else(|| cands.last().copied().unwrap_or_else(first_max))
    } else {
        // Find the block holding the draw from the block sums, then the token inside it.
        let u = rng.random::<f64>() * total;
        let mut acc = 0.0;
        let mut pick = None;
        for (bi, &bs) in blocks.iter().enumerate() {
            if acc + bs > u {
                let n = block_weights(bi, &mut w);
                for (t, &wt) in w[..n].iter().enumerate() {
                    acc += f64::from(wt);
                    if acc > u {
                        pick = Some(bi * BLOCK + t);
                        break;
                    }
                }
                if pick.is_some() {
                    break;
                }
            } else {
                acc += bs;
            }
        }
        // Rounding left u just above the accumulated mass: take the last possible token.
        pick.unwrap_or_else(|| {
            let Some(bi) = blocks.iter().rposition(|&bs| bs > 0.0) else {
                return first_max();
            };
            let n = block_weights(bi, &mut w);
            w[..n]
                .iter()
                .rposition(|&wt| wt > 0.0)
                .map_or_else(first_max, |t| bi * BLOCK + t)
        })
    };
    (chosen as u32, logprob(chosen))
}

/// The tokens that survive top-k then top-p, most likely first; `None` when nothing is cut.
/// `weights` are the unnormalised probabilities `exp(scaled − max)`.
fn truncate(scaled: &[f32], weights: &[f32], top_k: usize, top_p: f64) -> Option<Vec<usize>> {
    let v = scaled.len();
    let k_active = top_k > 0 && top_k < v;
    if !k_active && top_p >= 1.0 {
        return None;
    }
    let desc = |a: &usize, b: &usize| scaled[*b].total_cmp(&scaled[*a]).then(a.cmp(b));
    let prefix_sorted = |n: usize| -> Vec<usize> {
        let mut idx: Vec<usize> = (0..v).collect();
        if n < v {
            idx.select_nth_unstable_by(n - 1, desc);
            idx.truncate(n);
        }
        idx.sort_unstable_by(desc);
        idx
    };
    let all: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let mut cands = if k_active {
        prefix_sorted(top_k)
    } else {
        // Usually the nucleus is small: try the top 256 before sorting the whole vocabulary.
        let head = prefix_sorted(256.min(v));
        let mass: f64 = head.iter().map(|&t| f64::from(weights[t])).sum();
        if mass >= top_p * all {
            head
        } else {
            prefix_sorted(v)
        }
    };
    if top_p < 1.0 {
        // Renormalise over the candidates (top-k first, as transformers does).
        let total: f64 = cands.iter().map(|&t| f64::from(weights[t])).sum();
        let mut acc = 0.0;
        let mut keep = cands.len();
        for (n, &t) in cands.iter().enumerate() {
            acc += f64::from(weights[t]) / total;
            if acc >= top_p {
                keep = n + 1;
                break;
            }
        }
        cands.truncate(keep);
    }
    Some(cands)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn params(t: f64, k: usize, p: f64) -> SamplingParams {
        SamplingParams {
            temperature: t,
            top_k: k,
            top_p: p,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn greedy_takes_first_maximum_and_reports_t1_logprob() {
        let logits = [1.0f32, 3.0, 3.0, 0.0];
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let (t, lp) = sample_token(&logits, &params(0.0, 0, 1.0), &mut rng);
        assert_eq!(t, 1);
        // log(e^3 / (e^1 + 2e^3 + e^0)), computed by hand.
        let expected = 3.0 - (1f64.exp() + 2.0 * 3f64.exp() + 1.0).ln();
        assert!(
            (f64::from(lp) - expected).abs() < 1e-6,
            "{lp} vs {expected}"
        );
    }

    #[test]
    fn top_k_one_is_greedy_but_logprob_is_at_temperature() {
        let logits = [0.0f32, 2.0, 1.0];
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for _ in 0..20 {
            let (t, lp) = sample_token(&logits, &params(2.0, 1, 1.0), &mut rng);
            assert_eq!(t, 1);
            // At T=2 the scaled logits are 0, 1, 0.5.
            let expected = 1.0 - (1.0 + 1f64.exp() + 0.5f64.exp()).ln();
            assert!((f64::from(lp) - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn top_p_keeps_smallest_nucleus() {
        // probabilities 0.5, 0.375, 0.125 (exact in binary; logits are their logs)
        let probs = [0.5f32, 0.375, 0.125];
        let scaled: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        assert_eq!(truncate(&scaled, &probs, 0, 0.5), Some(vec![0]));
        assert_eq!(truncate(&scaled, &probs, 0, 0.875), Some(vec![0, 1]));
        assert_eq!(truncate(&scaled, &probs, 0, 0.876), Some(vec![0, 1, 2]));
        assert_eq!(truncate(&scaled, &probs, 2, 1.0), Some(vec![0, 1]));
        // top-k 2 renormalises to 4/7 and 3/7, so top-p 0.55 keeps one token and 0.6 two.
        assert_eq!(truncate(&scaled, &probs, 2, 0.55), Some(vec![0]));
        assert_eq!(truncate(&scaled, &probs, 2, 0.6), Some(vec![0, 1]));
        assert_eq!(truncate(&scaled, &probs, 0, 1.0), None);
    }

    #[test]
    fn sampling_frequencies_follow_probabilities() {
        let logits: Vec<f32> = [0.6f32, 0.3, 0.1].iter().map(|p| p.ln()).collect();
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let mut counts = [0usize; 3];
        let n = 20_000;
        for _ in 0..n {
            counts[sample_token(&logits, &params(1.0, 0, 1.0), &mut rng).0 as usize] += 1;
        }
        for (c, p) in counts.iter().zip([0.6, 0.3, 0.1]) {
            let f = *c as f64 / n as f64;
            assert!((f - p).abs() < 0.02, "frequency {f} vs {p}");
        }
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let draw = |seed| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            (0..30)
                .map(|_| sample_token(&logits, &params(1.0, 0, 0.9), &mut rng).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn invalid_params_are_named() {
        let e = params(-1.0, 0, 1.0).validate().unwrap_err().to_string();
        assert!(e.contains("temperature"), "{e}");
        let e = params(1.0, 0, 0.0).validate().unwrap_err().to_string();
        assert!(e.contains("top_p"), "{e}");
    }
}
