//! `aha report`: one self-contained HTML page (inline SVG, no scripts) from probe directories
//! (`summary.json`) and training runs (`metrics.jsonl`), optionally each figure as an SVG file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `aha report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Probe output directories and/or training run directories (several runs are overlaid).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Also write each figure as `<figure id>.svg` into this directory (created if missing).
    #[arg(long)]
    pub svg_dir: Option<PathBuf>,
    /// EMA weight of the smoothed per-step curves, drawn over the faint raw ones for runs of
    /// more than 30 steps (0: raw only).
    #[arg(long, default_value_t = 0.9)]
    pub ema: f64,
}

/// Runs `aha report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runs = args
        .dirs
        .iter()
        .map(|d| aha_report::load_dir(d))
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(
        (0.0..1.0).contains(&args.ema),
        "--ema must be in [0, 1), got {}",
        args.ema
    );
    let report = aha_report::build_with(&runs, &aha_report::Options { ema: args.ema })?;
    std::fs::write(&args.out, &report.html)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(dir) = &args.svg_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for f in &report.figures {
            let path = dir.join(format!("{}.svg", f.id));
            std::fs::write(&path, &f.svg).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    eprintln!(
        "aha report: {} run(s), {} figure(s) -> {}{}",
        runs.len(),
        report.figures.len(),
        args.out.display(),
        args.svg_dir
            .as_ref()
            .map_or(String::new(), |d| format!(" (SVGs in {})", d.display()))
    );
    Ok(ExitCode::SUCCESS)
}
