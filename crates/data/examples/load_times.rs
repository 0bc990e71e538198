//! Loads every dataset the repository ships in `data/` (or under `AHA_DATA_DIR`, or the paths
//! given) with auto-detection and prints rows and wall time per file.
//!
//! ```sh
//! cargo run --release -p aha-data --example load_times [-- PATH...]
//! ```

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        let root = std::env::var_os("AHA_DATA_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"),
            PathBuf::from,
        );
        for sub in ["benchmarks", "math", "countdown", "oat-zero"] {
            let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            files.sort();
            paths.extend(files);
        }
        let suite = root.join("arrow-evaluation-suite");
        // Arrow IPC datasets (HF `save_to_disk` folders), when the folder has them.
        if suite.is_dir() {
            for split in ["aime", "amc", "math", "minerva", "olympiad_bench"] {
                paths.push(suite.join(split));
            }
        }
    }
    let mut total = 0.0;
    for path in paths {
        let t = Instant::now();
        let ds = aha_data::load(&path, &aha_data::LoadOptions::default())?;
        let secs = t.elapsed().as_secs_f64();
        total += secs;
        println!(
            "{:>8.1} ms  {:>6} rows  {}",
            secs * 1e3,
            ds.problems.len(),
            path.display()
        );
    }
    println!("{:>8.1} ms  total", total * 1e3);
    Ok(())
}
