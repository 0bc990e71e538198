//! Throughput of `aha_analyse::analyse` on a run directory, with keywords and SSR (the CLI's
//! defaults): MB/s and peak resident memory (Linux `VmHWM`).
//!
//! ```text
//! python3 scripts/synth-verl-run.py /tmp/synth --steps 250
//! cargo run --release -p aha-analyse --example throughput -- /tmp/synth /tmp/synth-out [THREADS]
//! ```

use std::path::Path;
use std::time::Instant;

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: throughput INPUT OUT [THREADS]");
        std::process::exit(2);
    }
    let input = aha_analyse::discover(Path::new(&args[1]), None, false)?;
    let mut settings = aha_analyse::Settings::new(aha_reflect::Keywords::preset("paper15")?);
    settings.threads = args.get(3).map(|t| t.parse()).transpose()?;
    let out = Path::new(&args[2]);
    // A fresh analysis: drop the state of an earlier one.
    let _ = std::fs::remove_file(out.join("analyse-state.json"));
    let t = Instant::now();
    let a = aha_analyse::analyse(
        &[input],
        &[],
        &settings,
        None,
        out,
        &mut aha_analyse::NoProgress,
    )?;
    let secs = t.elapsed().as_secs_f64();
    let mb = a.summary.bytes_read as f64 / 1e6;
    println!(
        "{} steps, {} samples, {:.0} MB in {:.1} s: {:.0} MB/s; peak RSS {:.0} MB; threads {:?}",
        a.summary.steps,
        a.summary.samples,
        mb,
        secs,
        mb / secs,
        peak_rss_mb().unwrap_or(f64::NAN),
        settings.threads
    );
    println!("claims: {}", serde_json::to_string(&a.summary.claims)?);
    Ok(())
}
