//! `aha demo`: the whole study end to end on a CPU (aha-demo); this module only maps flags to
//! the library and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `aha demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (a rerun with the same settings resumes it; other settings are refused).
    #[arg(long, default_value = "aha-demo")]
    pub out: PathBuf,
    /// The scaled-down configuration (seconds, for tests; its numbers mean nothing).
    #[arg(long)]
    pub quick: bool,
    /// Master seed (world, initial weights, data order, sampling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

/// Runs `aha demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = if args.quick {
        aha_demo::DemoConfig::quick(args.seed)
    } else {
        aha_demo::DemoConfig::full(args.seed)
    };
    eprintln!(
        "aha demo: configuration (saved as {}):\n{}",
        args.out.join("config.json").display(),
        serde_json::to_string_pretty(&cfg.to_json())?
    );
    let opts = aha_demo::RunOptions {
        progress: !args.no_progress,
    };
    let summary = aha_demo::run(&cfg, &args.out, opts, &mut |line| {
        eprintln!("aha demo: {line}")
    })
    .with_context(|| format!("demo into {}", args.out.display()))?;
    print!("{}", summary.render_text());
    Ok(ExitCode::SUCCESS)
}
