//! `aha analyse`: flags ([`aha_analyse::args::AnalyseArgs`]) → [`aha_analyse::Settings`] →
//! [`aha_analyse::analyse()`]; the study's per-step analysis of a run made by verl, TRL,
//! OpenRLHF, oat or aha (docs/pipeline.md, "Rollouts from any engine"). The binary adds the
//! token counter (a tokenizer) and the progress bar.

use std::process::ExitCode;

/// Arguments of `aha analyse`: the library's own flags.
pub use aha_analyse::args::AnalyseArgs as Args;

struct Bar(indicatif::ProgressBar);

impl aha_analyse::Progress for Bar {
    fn start(&mut self, bytes: u64, files: usize) {
        self.0.set_length(bytes);
        self.0.set_message(format!("{files} file(s)"));
    }
    fn advance(&mut self, bytes: u64) {
        self.0.inc(bytes);
    }
}

/// Runs `aha analyse`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (inputs, evals) = args.discover()?;
    let settings = args.settings()?;
    let tokenizer = args.tokenizer.as_deref().map(super::tokenizer_file);
    let tokenizer = tokenizer.transpose()?;
    let counter = tokenizer
        .as_ref()
        .map(|t| move |text: &str| -> usize { t.encode(text, false).map_or(0, |ids| ids.len()) });
    let template =
        "{spinner} analysing {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    let bar = super::bar(0, template);
    let started = std::time::Instant::now();
    let analysis = aha_analyse::analyse(
        &inputs,
        &evals,
        &settings,
        counter.as_ref().map(|c| c as &aha_analyse::TokenCounter),
        &args.out,
        &mut Bar(bar.clone()),
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    for note in analysis.summary.skip_notes() {
        eprintln!("aha analyse: {note}");
    }
    eprintln!(
        "aha analyse: {}",
        analysis.summary.describe(&args.out, secs)
    );
    Ok(ExitCode::SUCCESS)
}
