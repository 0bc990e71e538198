//! `aha`: the composition root. Each subcommand lives in `cmd/<name>.rs` and wires library
//! crates together; libraries never read flags, files or environment variables themselves.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Study and run R1-Zero-like reinforcement learning of language models.
#[derive(Debug, Parser)]
#[command(name = "aha", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Grade responses against reference answers (math, Countdown); one JSON line per input line.
    Verify(cmd::verify::Args),
    /// Detect self-reflection and classify superficial self-reflection in responses.
    Reflect(cmd::reflect::Args),
    /// Generate a continuation with the embedded model.
    Generate(cmd::generate::Args),
    /// Serve rewards over HTTP to RL engines (OpenRLHF, oat, verl and aha's own API).
    ServeReward(cmd::serve_reward::Args),
    /// Serve the embedded model over an OpenAI-compatible API (/v1/completions,
    /// /v1/chat/completions, /v1/models), batching concurrent requests. Alias: `serve`.
    #[command(visible_alias = "serve")]
    ServeModel(cmd::serve_model::Args),
    /// The epoch-0 probe: sample a dataset under templates x temperatures (resumable), then
    /// grade and analyse self-reflection.
    Probe(Box<cmd::probe::Args>),
    /// One self-contained HTML report (inline SVG figures) from probe and training outputs.
    Report(cmd::report::Args),
    /// The study's per-step analysis of a run made by verl, TRL, OpenRLHF, oat or aha:
    /// metrics.jsonl and summary.json (with the study's claims) for `aha report`.
    Analyse(cmd::analyse::Args),
    /// The whole study end to end on a CPU in minutes: a micro world, a tiny base model
    /// pre-trained on it, the epoch-0 probe, GRPO and Dr. GRPO, and the report.
    Demo(cmd::demo::Args),
    /// R1-Zero-like RL (GRPO / Dr. GRPO) of the embedded model on a dataset: metrics.jsonl,
    /// samples.jsonl, checkpoints (resumable with --resume), final weights.
    Train(Box<cmd::train::Args>),
    /// Supervised fine-tuning / LM pre-training of the embedded model on (prompt, response) traces.
    Sft(cmd::sft::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Keep freed tensor buffers for reuse (glibc): fewer page faults in every model command.
    aha_model::tune_allocator();
    let result = match cli.command {
        Command::Verify(args) => cmd::verify::run(args),
        Command::Reflect(args) => cmd::reflect::run(args),
        Command::Generate(args) => cmd::generate::run(args),
        Command::ServeReward(args) => cmd::serve_reward::run(args),
        Command::ServeModel(args) => cmd::serve_model::run(args),
        Command::Probe(args) => cmd::probe::run(*args),
        Command::Report(args) => cmd::report::run(args),
        Command::Analyse(args) => cmd::analyse::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Train(args) => cmd::train::run(*args),
        Command::Sft(args) => cmd::sft::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (e.g. `| head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("aha: error: {}", error_text(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-separated, each said once. Most of aha's errors show their
/// source's text in their own message (`path: File too large (os error 27)`) so that they read
/// whole on their own, and also return it as their `source()`; anyhow's `{:#}` would then print
/// the OS text twice. A cause whose text is already in the message is skipped.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let os = std::io::Error::from_raw_os_error(27);
        let rundir = aha_rundir::Error::Io {
            path: "/run/probe/responses.jsonl".into(),
            source: os,
        };
        let err = anyhow::Error::new(rundir).context("probe");
        let text = error_text(&err);
        let os_text = std::io::Error::from_raw_os_error(27).to_string();
        assert_eq!(text.matches(&os_text).count(), 1, "{text}");
        assert_eq!(
            text,
            format!("probe: /run/probe/responses.jsonl: {os_text}")
        );
        // A cause its parent does not repeat is still printed.
        let err = anyhow::Error::new(std::io::Error::other("disk gone")).context("writing x");
        assert_eq!(error_text(&err), "writing x: disk gone");
    }
}
