//! `aha serve-reward`: the reward HTTP service (OpenRLHF, oat and aha's own API).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;

use aha_reflect::{KeywordDetector, Keywords};
use aha_reward_server::{AhaScorer, ServeConfig, Task, Template};
use aha_verify::{CountdownOptions, RewardScheme};

/// Arguments of `aha serve-reward`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout
    /// as `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// Task of OpenRLHF/oat requests (and of /v1/verify items without `task`).
    #[arg(long, value_enum, default_value_t = TaskArg::Math)]
    task: TaskArg,
    /// Prompt template the policy uses: `r1` reads the answer from `<answer>` tags, `qwen-math`
    /// and `none` from the last `\boxed{}`.
    #[arg(long, value_enum, default_value_t = TemplateArg::QwenMath)]
    template: TemplateArg,
    /// Grading jobs at once (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Math rewards: `binary` (1/0) or `simplerl` (1 correct, -0.5 wrong, -1 no answer;
    /// `simple_rl` is the Python package's older spelling).
    #[arg(long, value_enum, default_value_t = RewardScheme::Binary)]
    reward_scheme: RewardScheme,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Most samples per request (more → 413).
    #[arg(long, default_value_t = 4096)]
    max_batch: usize,
    /// Per-request deadline in milliseconds (no free worker in time → 503, grading too slow → 504).
    #[arg(long, default_value_t = 10_000)]
    deadline_ms: u64,
    /// Reflection keyword preset (paper15, blog, simplerl, ...).
    #[arg(long, default_value = "paper15", conflicts_with = "keywords_file")]
    keywords: String,
    /// Reflection keywords from a file (one per line, `#` comments) instead of a preset.
    #[arg(long)]
    keywords_file: Option<PathBuf>,
    /// How keywords match: `substring` (the study's rule) or `word` (word boundaries).
    #[arg(long, value_enum, default_value_t = super::Match::Substring)]
    keyword_match: super::Match,
    /// Countdown: accept only + - * / and parentheses (TinyZero also accepts `**` and `//`).
    #[arg(long)]
    countdown_strict: bool,
    /// Most open connections. At the limit a new connection evicts the longest-idle one
    /// (connections that never finished a request first); when all are busy it gets an
    /// immediate 503. Keep it below `ulimit -n`.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Milliseconds a connection has to send a complete request head; also the keep-alive idle
    /// timeout (late → connection closed).
    #[arg(long, default_value_t = 30_000)]
    header_timeout_ms: u64,
    /// Milliseconds the whole body has to arrive after its head (late → 408, connection closed).
    #[arg(long, default_value_t = 60_000)]
    body_timeout_ms: u64,
    /// Largest request head in bytes, at least 8192 (larger → 431).
    #[arg(long, default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Seconds shutdown waits for in-flight requests after SIGTERM / Ctrl-C.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_s: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TaskArg {
    Math,
    Countdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TemplateArg {
    R1,
    QwenMath,
    None,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let keywords = match &args.keywords_file {
        Some(path) => Keywords::from_file(path)
            .with_context(|| format!("reading keywords from {}", path.display()))?,
        None => Keywords::from_spec(&args.keywords)?,
    };
    let detector =
        KeywordDetector::new(&keywords, args.keyword_match).context("building keyword detector")?;
    let template = match args.template {
        TemplateArg::R1 => Template::R1,
        TemplateArg::QwenMath => Template::QwenMath,
        TemplateArg::None => Template::None,
    };
    let scheme = args.reward_scheme;
    let countdown = CountdownOptions {
        strict: args.countdown_strict,
    };
    let scorer = AhaScorer::new(template.math_options(scheme), countdown, detector);
    let task = match args.task {
        TaskArg::Math => Task::Math,
        TaskArg::Countdown => Task::Countdown,
    };
    let defaults = ServeConfig::default();
    let config = ServeConfig {
        task,
        max_body_bytes: args.max_body_bytes,
        max_batch: args.max_batch,
        deadline: Duration::from_millis(args.deadline_ms),
        workers: args.workers.unwrap_or(defaults.workers),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_s),
        max_connections: args.max_connections,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        body_timeout: Duration::from_millis(args.body_timeout_ms),
        max_header_bytes: args.max_header_bytes,
        ..defaults
    };
    let summary = format!(
        "task={} template={} workers={} reward_scheme={:?} keywords={} deadline_ms={} max_batch={} max_body_bytes={} max_connections={}",
        task.as_str(),
        template.as_str(),
        config.workers,
        scheme,
        keywords.name(),
        args.deadline_ms,
        config.max_batch,
        config.max_body_bytes,
        config.max_connections,
    );
    aha_reward_server::serve_until_signal(config, Arc::new(scorer), args.addr, |bound| {
        // Tests and scripts read this line to learn the port when --addr ends in :0.
        println!("listening on http://{bound}");
        let _ = std::io::stdout().flush();
        eprintln!("aha serve-reward: {summary}");
    })
    .context("reward server")?;
    eprintln!("aha serve-reward: stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn reward_scheme_takes_both_spellings() {
        for spelling in ["simplerl", "simple_rl"] {
            let cli = Cli::try_parse_from(["aha", "--reward-scheme", spelling])
                .unwrap_or_else(|e| panic!("{spelling}: {e}"));
            assert_eq!(cli.args.reward_scheme, RewardScheme::SimpleRl);
        }
        assert!(Cli::try_parse_from(["aha", "--reward-scheme", "simple-rl-ish"]).is_err());
    }
}
