//! The server flags of `aha serve-model` (behind the `clap` feature) and the [`Config`] they
//! build ([`ServeArgs::config`]). The model flags (`--model`, `--tokenizer`, `--cpu-kernels`)
//! stay with the binary, which loads the model; the flags of the server live here, next to the
//! limits they set.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use aha_http_limits::args::ConnectionArgs;

use crate::Config;

/// The server flags of `aha serve-model`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
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
    /// The connection limits, as `aha serve-reward` takes them.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

impl ServeArgs {
    /// The server's config for the model at `model`, served as `--model-name` or else under its
    /// file name.
    pub fn config(&self, model: &Path) -> Config {
        let name = self.model_name.clone().unwrap_or_else(|| {
            model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| model.display().to_string())
        });
        Config {
            max_tokens: self.max_tokens,
            max_n: self.max_n,
            batch_wait: Duration::from_millis(self.batch_wait_ms),
            limits: self.connection.limits(self.max_body_bytes),
            ..Config::new(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aha_http_limits::args::parse_group;

    #[test]
    fn defaults_are_the_library_defaults() {
        let args: ServeArgs = parse_group(&["aha"]).expect("parse");
        let config = args.config(Path::new("/models/tiny.gguf"));
        let default = Config::new("tiny.gguf");
        assert_eq!(config.model_name, default.model_name);
        assert_eq!(
            (config.max_tokens, config.max_n),
            (default.max_tokens, default.max_n)
        );
        assert_eq!(config.batch_wait, default.batch_wait);
        assert_eq!(config.limits, default.limits);
    }

    #[test]
    fn flags_set_name_and_limits() {
        let argv = ["aha", "--model-name", "m", "--max-connections", "3"];
        let args: ServeArgs = parse_group(&argv).expect("parse");
        let config = args.config(Path::new("/models/tiny.gguf"));
        assert_eq!(config.model_name, "m");
        assert_eq!(config.limits.max_connections, 3);
    }
}
