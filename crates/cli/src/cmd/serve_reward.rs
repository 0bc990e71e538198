//! `aha serve-reward`: the reward HTTP service (OpenRLHF, oat and aha's own API). Flags, config
//! and grader are aha-reward-server's own ([`aha_reward_server::args::ServeArgs`]); this module
//! serves until a signal and prints.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

/// Arguments of `aha serve-reward`: the library's own flags.
pub use aha_reward_server::args::ServeArgs as Args;

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let setup = args.setup()?;
    let summary = setup.summary;
    let scorer = Arc::new(setup.scorer);
    aha_reward_server::serve_until_signal(setup.config, scorer, args.addr, |bound| {
        // Tests and scripts read this line to learn the port when --addr ends in :0.
        println!("listening on http://{bound}");
        let _ = std::io::stdout().flush();
        eprintln!("aha serve-reward: {summary}");
    })
    .context("reward server")?;
    eprintln!("aha serve-reward: stopped");
    Ok(ExitCode::SUCCESS)
}
