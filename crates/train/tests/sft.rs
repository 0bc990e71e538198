//! Supervised fine-tuning on a tiny random model: the loss is the token-mean NLL of the
//! response tokens, it falls, and pre-training (BOS-only prompt) makes greedy decoding
//! reproduce the trained text.

use aha_model::{Arch, Mode, Model, ModelConfig, SamplingParams};
use aha_train::{LrSchedule, SftConfig, SftExample, SftTrainer, eval_loss, sft};
use candle_core::Device;

type R = Result<(), Box<dyn std::error::Error>>;

fn tiny(seed: u64) -> Result<Model, aha_model::Error> {
    Model::tiny(&ModelConfig::tiny(Arch::Llama), seed, &Device::Cpu)
}

fn cfg(lr: f64, epochs: usize, batch_size: usize) -> SftConfig {
    SftConfig {
        batch_size,
        epochs,
        schedule: LrSchedule::Constant { lr, warmup: 0 },
        ..SftConfig::default()
    }
}

#[test]
fn step_loss_is_the_token_mean_nll_of_the_responses_only() -> R {
    let model = tiny(3)?;
    let batch = vec![
        SftExample {
            prompt: vec![1, 10, 11],
            response: vec![20, 21, 22],
        },
        SftExample {
            prompt: vec![1],
            response: vec![30],
        },
    ];
    // Hand-derived reference: score each pair alone and average the 4 token log-probs.
    let mut sum = 0.0f64;
    for e in &batch {
        let s = model.score(&[(&e.prompt, &e.response)], 1.0, Mode::Infer)?;
        sum += s.to_vecs()?[0].iter().map(|&x| f64::from(x)).sum::<f64>();
    }
    let expected = -sum / 4.0;
    let (eval, tokens) = eval_loss(&model, &batch, 1)?;
    assert_eq!(tokens, 4);
    assert!((eval - expected).abs() < 1e-4, "{eval} vs {expected}");
    let mut t = SftTrainer::new(&model, cfg(1e-2, 1, 2))?;
    let m = t.step(&batch, 0)?;
    assert_eq!((m.tokens, m.examples, m.step, m.epoch), (4, 2, 0, 0));
    assert!((m.loss - expected).abs() < 1e-4, "{} vs {expected}", m.loss);
    assert!(m.grad_norm > 0.0 && m.lr == 1e-2);
    // The update moved the weights towards the data.
    let (after, _) = t.eval_loss(&batch)?;
    assert!(after < expected, "{after} !< {expected}");
    assert_eq!(t.steps_done(), 1);
    Ok(())
}

#[test]
fn pretraining_from_bos_makes_greedy_decoding_reproduce_the_text() -> R {
    let model = tiny(5)?;
    let text: Vec<u32> = vec![40, 41, 42, 43, 44, 45];
    let data = vec![
        SftExample {
            prompt: vec![1],
            response: text.clone(),
        };
        4
    ];
    let mut losses = Vec::new();
    let m = sft(&model, &data, &cfg(3e-2, 40, 4), &mut |m| {
        losses.push(m.loss)
    })?;
    assert_eq!(m.len(), 40);
    assert_eq!(losses.len(), 40);
    assert!(
        losses[39] < 0.2 * losses[0],
        "loss {} → {}",
        losses[0],
        losses[39]
    );
    let params = SamplingParams {
        max_new_tokens: text.len(),
        temperature: 0.0,
        ignore_eos: true,
        ..SamplingParams::default()
    };
    let out = model.generate(&[vec![1]], &params, None, &mut |_, _| {})?;
    assert_eq!(out[0].tokens, text);
    Ok(())
}

#[test]
fn bad_input_is_an_error_naming_the_field() -> R {
    let model = tiny(3)?;
    let mut t = SftTrainer::new(&model, cfg(1e-2, 1, 2))?;
    let empty_prompt = [SftExample {
        prompt: vec![],
        response: vec![3],
    }];
    assert!(
        t.step(&empty_prompt, 0)
            .unwrap_err()
            .to_string()
            .contains("prompt")
    );
    let no_tokens = [SftExample {
        prompt: vec![1],
        response: vec![],
    }];
    assert!(
        t.step(&no_tokens, 0)
            .unwrap_err()
            .to_string()
            .contains("response tokens")
    );
    let mut bad = cfg(1e-2, 1, 2);
    bad.batch_size = 0;
    assert!(
        SftTrainer::new(&model, bad)
            .unwrap_err()
            .to_string()
            .contains("batch_size")
    );
    assert!(sft(&model, &[], &cfg(1e-2, 1, 1), &mut |_| {}).is_err());
    Ok(())
}

#[test]
fn max_steps_stops_early_and_runs_are_reproducible() -> R {
    let data: Vec<SftExample> = (0..6)
        .map(|i| SftExample {
            prompt: vec![1, 10 + i],
            response: vec![20 + i, 30 + i],
        })
        .collect();
    let mut c = cfg(1e-2, 3, 2);
    c.max_steps = Some(4);
    let a = sft(&tiny(9)?, &data, &c, &mut |_| {})?;
    let b = sft(&tiny(9)?, &data, &c, &mut |_| {})?;
    assert_eq!(a.len(), 4);
    let key = |v: &[aha_train::SftStepMetrics]| -> Vec<(f64, f64)> {
        v.iter().map(|m| (m.loss, m.grad_norm)).collect()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(a[3].epoch, 1);
    Ok(())
}
