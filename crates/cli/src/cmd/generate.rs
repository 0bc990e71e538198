//! `aha generate`: sample a continuation of one prompt with aha's own decoder, streaming it to
//! stdout (or, with `--json`, one [`aha_sample::GenerationRecord`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aha_model::candle_core::Device;
use aha_model::{Model, SamplingParams, WeightKind};
use anyhow::Context;

/// Arguments of `aha generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a GGUF file, a Hugging Face directory (config.json + *.safetensors +
    /// tokenizer.json), a .safetensors file saved by aha (then pass --tokenizer), or
    /// hf:ORG/NAME[/FILE.gguf] from the Hugging Face hub (docs/hub.md).
    #[arg(long)]
    model: PathBuf,
    /// The prompt text.
    #[arg(long)]
    prompt: String,
    /// Tokenizer source when the model file has none: a GGUF file or a tokenizer.json.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Wrap the prompt as a user turn in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// CPU kernels of quantized weights.
    #[command(flatten)]
    kernels: super::KernelArgs,
    /// System message (with --chat).
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Sampling temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus sampling threshold (1 = off).
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Sample only among the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Random seed (sampling is reproducible for a given seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when the generated text contains this string (repeatable).
    #[arg(long = "stop")]
    stop: Vec<String>,
    /// Use f32 weights (the trainable path) instead of quantized inference weights.
    #[arg(long)]
    f32: bool,
    /// Print one JSON line (tokens, log-probs, finish reason) instead of streaming text.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model = super::resolve_model(&args.model)?;
    let device = Device::cuda_if_available(0).context("selecting the device")?;
    let kind = if args.f32 {
        WeightKind::F32
    } else {
        WeightKind::Quantized
    };
    let started = Instant::now();
    let model = Model::load_with(&args.model, kind, &device, &args.kernels.load_options())
        .with_context(|| format!("loading {}", args.model.display()))?;
    let (tok, _) = super::load_tokenizer(&args.model, args.tokenizer.as_deref())?;
    let load_s = started.elapsed().as_secs_f64();

    let prompt = aha_sample::prompt_tokens(&tok, &args.prompt, args.chat, args.system.as_deref())?;
    let params = SamplingParams {
        max_new_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        seed: args.seed,
        stop_token_ids: tok.eos_ids().to_vec(),
        stop_strings: args.stop.clone(),
        ignore_eos: false,
    };
    let decode = |ids: &[u32]| tok.decode_skip_special(ids);
    let mut stream = tok.stream_decoder(true);
    let mut stdout = std::io::stdout().lock();
    let mut write_err: Option<std::io::Error> = None;
    let gen_started = Instant::now();
    let mut completions = model.generate(
        std::slice::from_ref(&prompt),
        &params,
        Some(&decode),
        &mut |_, id| {
            if args.json || write_err.is_some() {
                return;
            }
            let piece = stream.push(id);
            if let Err(e) = stdout
                .write_all(piece.as_bytes())
                .and_then(|()| stdout.flush())
            {
                write_err = Some(e);
            }
        },
    )?;
    if let Some(e) = write_err {
        return Err(e).context("writing to stdout");
    }
    let gen_s = gen_started.elapsed().as_secs_f64();
    let c = completions
        .pop()
        .context("the model returned no completion")?;
    if args.json {
        let record = aha_sample::GenerationRecord::new(&args.model, prompt.len(), &c, &tok);
        writeln!(stdout, "{}", serde_json::to_string(&record)?)?;
    } else {
        writeln!(stdout, "{}", stream.finish())?;
    }
    eprintln!(
        "[{} prompt + {} generated tokens, {:.1} tok/s, finish: {:?}, load {load_s:.2}s]",
        prompt.len(),
        c.tokens.len(),
        c.tokens.len() as f64 / gen_s.max(1e-9),
        c.finish_reason
    );
    Ok(ExitCode::SUCCESS)
}
