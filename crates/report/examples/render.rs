//! Renders the report of run directories to an HTML file (what `aha report` does, without
//! building the whole CLI): handy to look at a layout change in a browser.
//!
//! `cargo run -p aha-report --example render -- OUT.html DIR [DIR…]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: render OUT.html DIR [DIR…]")?;
    let runs = args
        .map(|d| aha_report::load_dir(std::path::Path::new(&d)))
        .collect::<Result<Vec<_>, _>>()?;
    if runs.is_empty() {
        return Err("usage: render OUT.html DIR [DIR…]".into());
    }
    let report = aha_report::build(&runs)?;
    std::fs::write(&out, &report.html)?;
    eprintln!("{} figure(s) -> {out}", report.figures.len());
    Ok(())
}
