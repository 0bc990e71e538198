//! `aha serve-model` (alias `aha serve`): flags → [`aha_model_server::Config`] (the server flags
//! are aha-model-server's own, [`aha_model_server::args::ServeArgs`]) → load the model → serve.

use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `aha serve-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (--model, --tokenizer).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The server (--model-name, --addr, --max-batch, limits).
    #[command(flatten)]
    pub server: aha_model_server::args::ServeArgs,
}

/// Runs `aha serve-model`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
    let config = args.server.config(&args.model.model);
    // Bad limits are the user's mistake: say so before the model is loaded.
    config.validate().context("aha serve-model")?;
    let sampler = aha_sample::EmbeddedSampler::load_with(
        &args.model.model,
        args.model.tokenizer.as_deref(),
        &args.model.kernels.load_options(),
    )?
    .with_max_batch(args.server.max_batch);
    aha_model_server::serve_blocking(sampler, config, args.server.addr, |local| {
        use std::io::Write;
        println!("listening on http://{local}");
        let _ = std::io::stdout().flush();
    })
    .context("aha serve-model")?;
    Ok(ExitCode::SUCCESS)
}
