//! `aha serve-reward` (being written; see the issue tracker).

use std::process::ExitCode;

/// Arguments of `aha serve-reward`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`aha serve-reward` is not available yet")
}
