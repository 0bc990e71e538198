//! Greedy continuation of a raw prompt, quantized and f32 side by side:
//! `cargo run -p aha-model --example greedy -- MODEL.gguf "prompt" [max_tokens]`.

use std::path::PathBuf;

use aha_model::candle_core::Device;
use aha_model::{Model, SamplingParams, WeightKind};
use aha_tokenizer::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, prompt, rest @ ..] = args.as_slice() else {
        return Err("usage: greedy MODEL PROMPT [MAX_TOKENS]".into());
    };
    let max: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let path = PathBuf::from(path);
    let tok = Tokenizer::from_gguf_file(&path)?;
    let ids = tok.encode(prompt, tok.add_bos_default())?;
    let params = SamplingParams {
        max_new_tokens: max,
        temperature: 0.0,
        ..Default::default()
    };
    for kind in [WeightKind::Quantized, WeightKind::F32] {
        let model = Model::load(&path, kind, &Device::Cpu)?;
        let c = model
            .generate(std::slice::from_ref(&ids), &params, None, &mut |_, _| {})?
            .remove(0);
        println!("{kind:?}: {:?}", tok.decode(&c.tokens));
    }
    Ok(())
}
