//! `aha generate` (being written; see the issue tracker).

use std::process::ExitCode;

/// Arguments of `aha generate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`aha generate` is not available yet")
}
