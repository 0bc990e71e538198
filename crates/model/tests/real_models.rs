//! Real models (SmolLM2-135M-Instruct Q4_1, Gemma-3-270M base Q4_K_M) fetched by
//! `scripts/fetch-models.sh`. Each test skips with a notice when its GGUF is absent, unless
//! `AHA_REQUIRE_MODELS=1` (then it fails).

use std::path::PathBuf;

use aha_model::candle_core::Device;
use aha_model::{CpuKernels, LoadOptions, Model, SamplingParams, WeightKind};
use aha_tokenizer::{ChatMessage, Tokenizer};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn model_path(file: &str) -> Result<Option<PathBuf>, String> {
    let dir = std::env::var_os("AHA_MODELS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aha/models")));
    let path = dir.map(|d| d.join(file));
    match path {
        Some(p) if p.is_file() => Ok(Some(p)),
        _ if std::env::var("AHA_REQUIRE_MODELS").as_deref() == Ok("1") => Err(format!(
            "{file} not found and AHA_REQUIRE_MODELS=1 (run scripts/fetch-models.sh)"
        )),
        _ => {
            eprintln!("notice: {file} not found; skipping (run scripts/fetch-models.sh)");
            Ok(None)
        }
    }
}

fn greedy(max: usize) -> SamplingParams {
    SamplingParams {
        max_new_tokens: max,
        temperature: 0.0,
        ..SamplingParams::default()
    }
}

#[test]
fn smollm2_answers_arithmetic_and_paths_agree() -> TestResult {
    let Some(path) = model_path("SmolLM2-135M-Instruct.Q4_1.gguf")? else {
        return Ok(());
    };
    let tok = Tokenizer::from_gguf_file(&path)?;
    let prompt = tok.encode_chat(&[ChatMessage::user("What is 3 + 5?")], true)?;
    let mut params = greedy(40);
    params.stop_token_ids = tok.eos_ids().to_vec();

    // The model's own greedy answer to "What is 3 + 5?" is wrong: llama.cpp (llama-completion
    // --temp 0, same file, same ChatML prompt) and aha's exact f32 path both start "To add 3 and
    // 5, we can use the concept of", and llama.cpp goes on with "\"3 + 3 = 6\" in
    // mathematics." Correctness is checked on a word problem the model does solve, on the exact
    // weights; llama.cpp answers it "Tom has 3 apples and 5 more apples, so he has 3 + 5 = 8
    // apples."
    let f32m = Model::load(&path, WeightKind::F32, &Device::Cpu)?;
    assert_eq!(f32m.num_params(), 134_515_008);
    let word = tok.encode_chat(
        &[ChatMessage::user(
            "Tom has 3 apples and buys 5 more. How many apples does he have now?",
        )],
        true,
    )?;
    let a = f32m
        .generate(std::slice::from_ref(&word), &params, None, &mut |_, _| {})?
        .remove(0);
    let text = tok.decode_skip_special(&a.tokens);
    assert!(text.contains("3 + 5 = 8"), "SmolLM2 answered {text:?}");

    // Every packed CPU path this machine runs, each chosen explicitly: they must give the same
    // tokens (the same bits, in fact), whichever path `auto` would pick here.
    let mut first: Option<(CpuKernels, Vec<u32>)> = None;
    for kernels in CpuKernels::PACKED {
        if !kernels.supported() {
            eprintln!("notice: this CPU lacks {kernels}; that path is not run here");
            continue;
        }
        let options = LoadOptions {
            cpu_kernels: kernels,
            ..LoadOptions::default()
        };
        let quant = Model::load_with(&path, WeightKind::Quantized, &Device::Cpu, &options)?;
        assert_eq!(quant.cpu_kernels(), kernels);
        let q = quant
            .generate(std::slice::from_ref(&prompt), &params, None, &mut |_, _| {})?
            .remove(0);
        let text = tok.decode_skip_special(&q.tokens);
        // aha's packed kernel runs the Q4_1 weights as stored with 8-bit activations, as
        // llama.cpp does; its greedy text is llama.cpp's (golden from llama-completion 0c1e570)
        // up to the first near-tie: after `concept of "` llama.cpp takes `3`, the f32 path
        // `comma`, and aha's quantized path `3` or `combinatorics` depending on the f32
        // summation order of its attention, so only the text before it is asserted.
        assert!(
            text.starts_with("To add 3 and 5, we can use the concept of \""),
            "quantized SmolLM2 ({kernels}) diverged from llama.cpp: {text:?}"
        );
        match &first {
            None => first = Some((kernels, q.tokens)),
            Some((k0, t0)) => assert_eq!(
                &q.tokens,
                t0,
                "{kernels} gave {text:?}, {k0} {:?}",
                tok.decode(t0)
            ),
        }
    }
    let quant = Model::load(&path, WeightKind::Quantized, &Device::Cpu)?;

    // The f32 (trainable) path picks the same greedy tokens for the first steps.
    let short = greedy(8);
    let a = quant
        .generate(std::slice::from_ref(&prompt), &short, None, &mut |_, _| {})?
        .remove(0);
    let b = f32m
        .generate(std::slice::from_ref(&prompt), &short, None, &mut |_, _| {})?
        .remove(0);
    assert_eq!(
        a.tokens,
        b.tokens,
        "quantized {:?} vs f32 {:?}",
        tok.decode(&a.tokens),
        tok.decode(&b.tokens)
    );
    Ok(())
}

#[test]
fn gemma3_base_knows_the_capital_of_france() -> TestResult {
    let Some(path) = model_path("gemma-3-270m-q4_k_m.gguf")? else {
        return Ok(());
    };
    let tok = Tokenizer::from_gguf_file(&path)?;
    // A base model: a Q/A frame makes the greedy answer short and checkable. (On the plain
    // "The capital of France is" both aha-f32 and llama.cpp continue " the capital of the
    // country of France.")
    let prompt = tok.encode(
        "Q: What is the capital of France?\nA:",
        tok.add_bos_default(),
    )?;
    let mut runs: Vec<(WeightKind, CpuKernels)> = CpuKernels::PACKED
        .into_iter()
        .filter(|k| k.supported())
        .map(|k| (WeightKind::Quantized, k))
        .collect();
    runs.push((WeightKind::F32, CpuKernels::Auto));
    let mut quantized: Option<Vec<u32>> = None;
    for (kind, cpu_kernels) in runs {
        let options = LoadOptions {
            cpu_kernels,
            ..LoadOptions::default()
        };
        let model = Model::load_with(&path, kind, &Device::Cpu, &options)?;
        let c = model
            .generate(
                std::slice::from_ref(&prompt),
                &greedy(10),
                None,
                &mut |_, _| {},
            )?
            .remove(0);
        let text = tok.decode_skip_special(&c.tokens);
        assert!(
            text.contains("Paris"),
            "Gemma ({kind:?}, {cpu_kernels}) continued {text:?}"
        );
        if kind == WeightKind::Quantized {
            // Every packed path gives the same tokens.
            match &quantized {
                None => quantized = Some(c.tokens),
                Some(t0) => assert_eq!(&c.tokens, t0, "{cpu_kernels}: {text:?}"),
            }
        }
    }
    Ok(())
}
