//! Behaviour of the decoder on random-init tiny models of every family: gradients reach every
//! weight, KV-cache decoding equals a full forward, batching and seeds are reproducible.

use aha_model::candle_core::{Device, Tensor};
use aha_model::{Arch, FinishReason, Mode, Model, ModelConfig, SamplingParams};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ARCHS: [Arch; 3] = [Arch::Llama, Arch::Qwen2, Arch::Gemma3];

fn tiny(arch: Arch) -> Result<Model, aha_model::Error> {
    Model::tiny(&ModelConfig::tiny(arch), 7, &Device::Cpu)
}

/// Sampling at temperature 1 for exactly `n` tokens (EOS ignored), from `seed`.
fn sampled(n: usize, seed: u64) -> SamplingParams {
    SamplingParams {
        max_new_tokens: n,
        temperature: 1.0,
        seed,
        ignore_eos: true,
        ..SamplingParams::default()
    }
}

fn prompts() -> Vec<Vec<u32>> {
    // Ragged on purpose: exercises left padding and masks; 9 tokens cross Gemma's 4-token window.
    vec![
        vec![1, 5, 9],
        vec![1, 17, 33, 12, 40, 8, 21, 3, 60],
        vec![1, 44, 2 + 4, 19, 50],
    ]
}

#[test]
fn every_parameter_receives_a_gradient() -> TestResult {
    for arch in ARCHS {
        let model = tiny(arch)?;
        let p = prompts();
        let responses: Vec<Vec<u32>> =
            vec![vec![7, 8, 9, 10], vec![11], vec![12, 13, 14, 15, 16, 17]];
        let pairs: Vec<(&[u32], &[u32])> = p
            .iter()
            .zip(&responses)
            .map(|(a, b)| (a.as_slice(), b.as_slice()))
            .collect();
        let scores = model.score(&pairs, 1.0, Mode::Train)?;
        let loss = scores.logprobs.sum_all()?.neg()?;
        let grads = loss.backward()?;
        assert!(!model.named_vars().is_empty());
        for (name, var) in model.named_vars() {
            let g = grads
                .get(var)
                .ok_or_else(|| format!("{arch:?}: no gradient for {name}"))?;
            let norm = g.abs()?.sum_all()?.to_scalar::<f32>()?;
            assert!(
                norm > 0.0 && norm.is_finite(),
                "{arch:?}: gradient of {name} is {norm}"
            );
        }
    }
    Ok(())
}

#[test]
fn kv_cache_decoding_equals_full_forward() -> TestResult {
    for arch in ARCHS {
        let model = tiny(arch)?;
        let params = SamplingParams {
            max_new_tokens: 12,
            temperature: 0.0,
            ignore_eos: true,
            ..Default::default()
        };
        let prompts = prompts();
        let out = model.generate(&prompts, &params, None, &mut |_, _| {})?;
        let pairs: Vec<(&[u32], &[u32])> = prompts
            .iter()
            .zip(&out)
            .map(|(p, c)| (p.as_slice(), c.tokens.as_slice()))
            .collect();
        for mode in [Mode::Infer, Mode::Train] {
            let full = model.score(&pairs, 0.0, mode)?.to_vecs()?;
            for (c, f) in out.iter().zip(&full) {
                assert_eq!(c.tokens.len(), 12);
                assert_eq!(c.finish_reason, FinishReason::Length);
                for (a, b) in c.logprobs.iter().zip(f) {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{arch:?} {mode:?}: cached {a} vs full {b}"
                    );
                }
            }
        }
        // Each prompt alone gives the same greedy tokens as inside the ragged batch.
        for (p, c) in prompts.iter().zip(&out) {
            let alone = model.generate(std::slice::from_ref(p), &params, None, &mut |_, _| {})?;
            assert_eq!(
                alone[0].tokens, c.tokens,
                "{arch:?}: batch changed the result"
            );
        }
    }
    Ok(())
}

#[test]
fn sampled_logprobs_match_scoring_at_the_temperature() -> TestResult {
    let model = tiny(Arch::Gemma3)?;
    let params = SamplingParams {
        max_new_tokens: 10,
        temperature: 0.7,
        top_p: 0.9,
        seed: 11,
        ignore_eos: true,
        ..Default::default()
    };
    let prompts = prompts();
    let out = model.generate(&prompts, &params, None, &mut |_, _| {})?;
    let pairs: Vec<(&[u32], &[u32])> = prompts
        .iter()
        .zip(&out)
        .map(|(p, c)| (p.as_slice(), c.tokens.as_slice()))
        .collect();
    let full = model.score(&pairs, 0.7, Mode::Infer)?.to_vecs()?;
    for (c, f) in out.iter().zip(&full) {
        for (a, b) in c.logprobs.iter().zip(f) {
            assert!((a - b).abs() < 1e-4, "sampled {a} vs scored {b}");
        }
    }
    Ok(())
}

#[test]
fn train_and_infer_forwards_agree() -> TestResult {
    for arch in ARCHS {
        let model = tiny(arch)?;
        let ids = Tensor::new(
            &[
                [1u32, 4, 9, 16, 25, 36, 49, 3],
                [2, 3, 5, 7, 11, 13, 17, 19],
            ],
            &Device::Cpu,
        )?;
        let a = model.forward(&ids, Mode::Train)?;
        let b = model.forward(&ids, Mode::Infer)?;
        let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(
            diff < 1e-4,
            "{arch:?}: train vs infer logits differ by {diff}"
        );
    }
    Ok(())
}

#[test]
fn seeds_reproduce_and_batch_mates_do_not_matter() -> TestResult {
    let model = tiny(Arch::Llama)?;
    let params = sampled(15, 5);
    let prompts = prompts();
    let a = model.generate(&prompts, &params, None, &mut |_, _| {})?;
    let b = model.generate(&prompts, &params, None, &mut |_, _| {})?;
    assert_eq!(a, b);
    let first_only = model.generate(&prompts[..1], &params, None, &mut |_, _| {})?;
    assert_eq!(first_only[0].tokens, a[0].tokens);
    let other = SamplingParams { seed: 6, ..params };
    let c = model.generate(&prompts, &other, None, &mut |_, _| {})?;
    assert_ne!(a, c);
    Ok(())
}

#[test]
fn stop_tokens_and_stop_strings_end_sequences_early() -> TestResult {
    let model = tiny(Arch::Qwen2)?;
    let base = SamplingParams {
        max_new_tokens: 12,
        temperature: 0.0,
        ignore_eos: true,
        ..Default::default()
    };
    let prompt = vec![vec![1u32, 5, 9]];
    let free = model
        .generate(&prompt, &base, None, &mut |_, _| {})?
        .remove(0);
    // Stop token: the 4th greedy token (first occurrence).
    let stop_tok = free.tokens[3];
    let first = free.tokens.iter().position(|&t| t == stop_tok).unwrap_or(3);
    let p = SamplingParams {
        stop_token_ids: vec![stop_tok],
        ..base.clone()
    };
    let c = model.generate(&prompt, &p, None, &mut |_, _| {})?.remove(0);
    assert_eq!(c.finish_reason, FinishReason::Stop);
    assert_eq!(c.tokens, free.tokens[..=first].to_vec());

    // Stop string: a detokenizer mapping each id to two letters; stop on the text of tokens 5..7.
    let letters = |ts: &[u32]| -> String {
        ts.iter()
            .map(|&t| {
                format!(
                    "{}{}",
                    (b'a' + (t % 26) as u8) as char,
                    (b'A' + (t / 26) as u8) as char
                )
            })
            .collect()
    };
    let target = letters(&free.tokens[5..7]);
    let text = letters(&free.tokens);
    let end_char = text
        .find(&target)
        .map(|i| i + target.len())
        .ok_or("stop text not found")?;
    let expected_len = end_char.div_ceil(2);
    let p = SamplingParams {
        stop_strings: vec![target.clone()],
        ..base.clone()
    };
    let mut streamed = Vec::new();
    let c = model
        .generate(&prompt, &p, Some(&letters), &mut |i, t| {
            streamed.push((i, t))
        })?
        .remove(0);
    assert_eq!(c.finish_reason, FinishReason::Stop);
    assert_eq!(c.stop_string.as_deref(), Some(target.as_str()));
    assert_eq!(c.tokens, free.tokens[..expected_len].to_vec());
    assert_eq!(
        streamed,
        c.tokens.iter().map(|&t| (0usize, t)).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn bad_generation_inputs_are_errors_not_panics() -> TestResult {
    let model = tiny(Arch::Llama)?;
    let p = SamplingParams::default();
    let e = model
        .generate(&[vec![]], &p, None, &mut |_, _| {})
        .err()
        .ok_or("empty prompt accepted")?;
    assert!(e.to_string().contains("prompt 0 is empty"), "{e}");
    let e = model
        .generate(&[vec![1, 999]], &p, None, &mut |_, _| {})
        .err()
        .ok_or("bad token accepted")?;
    assert!(e.to_string().contains("999"), "{e}");
    let s = SamplingParams {
        stop_strings: vec!["x".into()],
        ..p.clone()
    };
    let e = model
        .generate(&[vec![1]], &s, None, &mut |_, _| {})
        .err()
        .ok_or("stop strings without decoder")?;
    assert!(e.to_string().contains("detokenizer"), "{e}");
    let zero = SamplingParams {
        max_new_tokens: 0,
        ..p
    };
    let out = model.generate(&[vec![1]], &zero, None, &mut |_, _| {})?;
    assert!(out[0].tokens.is_empty());
    Ok(())
}

#[test]
fn saved_weights_load_back_identically() -> TestResult {
    let dir = tempfile::tempdir()?;
    for arch in ARCHS {
        let model = tiny(arch)?;
        let path = dir.path().join(format!("{arch:?}.safetensors"));
        model.save(&path)?;
        let back = Model::load(&path, aha_model::WeightKind::F32, &Device::Cpu)?;
        assert_eq!(back.config(), model.config());
        let ids = Tensor::new(&[[1u32, 2, 3, 4, 5]], &Device::Cpu)?;
        let diff = (model.forward(&ids, Mode::Infer)? - back.forward(&ids, Mode::Infer)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert_eq!(diff, 0.0);
        // The quantized path runs on the same file and stays close.
        let q = Model::load(&path, aha_model::WeightKind::Quantized, &Device::Cpu)?;
        assert!(q.named_vars().is_empty());
        assert!(q.save(&path).is_err());
    }
    Ok(())
}

#[test]
fn one_adamw_step_lowers_the_policy_loss() -> TestResult {
    use aha_model::candle_nn::{AdamW, Optimizer, ParamsAdamW};
    let model = tiny(Arch::Gemma3)?;
    let prompt = vec![1u32, 5, 9];
    let response = vec![7u32, 8, 9, 10];
    let pairs = [(prompt.as_slice(), response.as_slice())];
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: 1e-2,
            ..Default::default()
        },
    )?;
    let before = model.score(&pairs, 1.0, Mode::Train)?.logprobs.sum_all()?;
    opt.backward_step(&before.neg()?)?;
    let after = model
        .score(&pairs, 1.0, Mode::Infer)?
        .logprobs
        .sum_all()?
        .to_scalar::<f32>()?;
    let before = before.to_scalar::<f32>()?;
    assert!(
        after > before,
        "log-likelihood did not rise: {before} -> {after}"
    );
    Ok(())
}

/// The quantized copy of a trainable model follows its load options: the KV-cache type, heap
/// or huge-page tiles, and the CPU path, none of which changes the sampled tokens.
#[test]
fn quantized_copy_follows_its_load_options() -> TestResult {
    use aha_model::candle_core::DType;
    use aha_model::{CpuKernels, LoadOptions, WeightKind};
    let model = tiny(Arch::Llama)?;
    let params = sampled(6, 3);
    let default = model.quantized_copy(&LoadOptions::default())?;
    assert_eq!(default.weight_kind(), WeightKind::Quantized);
    assert_eq!(default.cpu_kernels(), CpuKernels::Auto.resolve()?);
    let reference = default.generate(&prompts(), &params, None, &mut |_, _| {})?;
    let f32_cache = model.quantized_copy(&LoadOptions {
        kv_cache_f32: true,
        huge_pages: false,
        cpu_kernels: CpuKernels::Portable,
        fixed_order_f32: false,
    })?;
    assert_eq!(f32_cache.kv_cache_dtype(), DType::F32);
    assert_eq!(f32_cache.cpu_kernels(), CpuKernels::Portable);
    let heap = model.quantized_copy(&LoadOptions {
        huge_pages: false,
        cpu_kernels: CpuKernels::Portable,
        ..LoadOptions::default()
    })?;
    assert_eq!(heap.kv_cache_dtype(), default.kv_cache_dtype());
    let got = heap.generate(&prompts(), &params, None, &mut |_, _| {})?;
    for (a, b) in got.iter().zip(&reference) {
        assert_eq!(a.tokens, b.tokens);
    }
    // Only f32 models have weights to quantize again.
    assert!(default.quantized_copy(&LoadOptions::default()).is_err());
    Ok(())
}
