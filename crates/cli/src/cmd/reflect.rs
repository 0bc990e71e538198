//! `aha reflect` (being written; see the issue tracker).

use std::process::ExitCode;

/// Arguments of `aha reflect`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`aha reflect` is not available yet")
}
