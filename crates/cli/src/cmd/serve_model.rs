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
    /// Most open connections. At the limit a new connection evicts the longest-idle one
    /// (connections that never finished a request first); when all are busy it gets an
    /// immediate 503. Keep it below `ulimit -n`.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Milliseconds a connection has to send a complete request head; also the keep-alive idle
    /// timeout (late → connection closed).
    #[arg(long, default_value_t = 30_000)]
    pub header_timeout_ms: u64,
    /// Milliseconds the whole body has to arrive after its head (late → 408, connection closed).
    #[arg(long, default_value_t = 60_000)]
    pub body_timeout_ms: u64,
    /// Largest request head in bytes, at least 8192 (larger → 431).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

/// Runs `aha serve-model`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
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
        limits: aha_model_server::Limits {
            max_connections: args.max_connections,
            header_timeout: Duration::from_millis(args.header_timeout_ms),
            body_timeout: Duration::from_millis(args.body_timeout_ms),
            max_header_bytes: args.max_header_bytes,
            max_body_bytes: args.max_body_bytes,
        },
        ..aha_model_server::Config::new(name)
    };
    // Bad limits are the user's mistake: say so before the model is loaded.
    config.validate().context("aha serve-model")?;
    let sampler = aha_sample::EmbeddedSampler::load_with(
        &args.model.model,
        args.model.tokenizer.as_deref(),
        &args.model.kernels.load_options(),
    )?
    .with_max_batch(args.max_batch);
    aha_model_server::serve_blocking(sampler, config, args.addr, |local| {
        use std::io::Write;
        println!("listening on http://{local}");
        let _ = std::io::stdout().flush();
    })
    .context("aha serve-model")?;
    Ok(ExitCode::SUCCESS)
}
