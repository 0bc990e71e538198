//! `aha serve-model` (alias `aha serve`): flags → [`aha_model_server::Config`] → serve.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

/// Arguments of `aha serve-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (--model, --tokenizer).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The name clients use in `model` (default: the model file's name); other names get 404.
    #[arg(long)]
    pub model_name: Option<String>,
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout
    /// as `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Most sequences in one forward batch.
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Largest `max_tokens` a request may ask for (also the default).
    #[arg(long, default_value_t = 2048)]
    pub max_tokens: u32,
    /// Most samples (`n`) per request.
    #[arg(long, default_value_t = 64)]
    pub max_n: u32,
    /// Milliseconds to wait after a request for others to join its batch (clients sending many
    /// requests at once send them a little apart).
    #[arg(long, default_value_t = 10)]
    pub batch_wait_ms: u64,
}

/// Runs `aha serve-model`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
    let sampler = aha_sample::EmbeddedSampler::load_with(
        &args.model.model,
        args.model.tokenizer.as_deref(),
        &args.model.kernels.load_options(),
    )?
    .with_max_batch(args.max_batch);
    let name = args.model_name.clone().unwrap_or_else(|| {
        args.model
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| args.model.model.display().to_string())
    });
    let config = aha_model_server::Config {
        max_tokens: args.max_tokens,
        max_n: args.max_n,
        batch_wait: Duration::from_millis(args.batch_wait_ms),
        ..aha_model_server::Config::new(name)
    };
    aha_model_server::serve_blocking(sampler, config, args.addr, |local| {
        use std::io::Write;
        println!("listening on http://{local}");
        let _ = std::io::stdout().flush();
    })
    .context("aha serve-model")?;
    Ok(ExitCode::SUCCESS)
}
