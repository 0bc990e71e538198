//! `aha verify`: flags → grading options, then the file graded line by line by
//! [`aha_verify::lines::grade_stream`] (input fields, grading, the typed output record). A
//! malformed line yields an error record (and a message on stderr) and the run goes on; the exit
//! code is then 1.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aha_verify::args::GradeArgs;
use anyhow::Context;

/// Arguments of `aha verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL input: `response` plus `gold` (or `answer` / `final_answer` / `solution`).
    #[arg(long)]
    pub input: PathBuf,
    /// Write the records here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The grader and its policies (--task, --answer-only, --reward, --strict, --boxes, …).
    #[command(flatten)]
    pub grading: GradeArgs,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let open =
        |p: &Path| File::open(p).with_context(|| format!("cannot open input {}", p.display()));
    let total = BufReader::new(open(&args.input)?).split(b'\n').count() as u64;
    let mut out = super::output(args.output.as_deref())?;
    let (task, opts) = (args.grading.task(), args.grading.options());
    let bar = super::lines_bar(total, "{bar:40} {pos}/{len} lines {per_sec} eta {eta}");
    let name = args.input.display().to_string();
    let input = BufReader::new(open(&args.input)?);
    let counts = aha_verify::lines::grade_stream(input, &mut out, &name, task, &opts, &mut |e| {
        bar.inc(1);
        if let Some(e) = e {
            bar.suspend(|| eprintln!("aha verify: {e}"));
        }
    })?;
    bar.finish_and_clear();
    eprintln!(
        "aha verify: {} graded, {} correct, {} malformed line(s) in {name}",
        counts.graded, counts.correct, counts.malformed
    );
    Ok(ExitCode::from(u8::from(counts.malformed > 0)))
}
