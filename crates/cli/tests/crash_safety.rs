//! Crash safety of `aha probe` and `aha demo`, end to end on tiny self-made models:
//!
//! - killed with SIGKILL at pseudo-random points (fixed seeds, two kills per seed) and rerun
//!   with the same command, each ends with the same outputs as an uninterrupted run (timings
//!   and the output directory's own path aside) and no temporary file left;
//! - with a file-size limit (`prlimit --fsize`, SIGXFSZ ignored, so writes fail with EFBIG as
//!   they would with ENOSPC on a full disk) each stops with an error naming the file (the OS
//!   text said once), leaves no
//!   temporary file, every file it wrote readable (every JSONL line complete, every JSON file
//!   parseable), and a rerun without the limit ends with the uninterrupted run's outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::*;

/// Seeds of the kill points.
const SEEDS: [u64; 4] = [1, 2, 3, 4];
/// Fields that hold wall-clock timings: they differ between any two runs.
const TIMING: &[&str] = &["wall_s", "step_time_s", "tokens_per_s"];

/// SplitMix64: the kill points' pseudo-random sequence.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `aha args` to the end; fails the test with its stderr unless it succeeds. Returns the
/// wall time.
fn run_ok(args: &[String]) -> Duration {
    let start = Instant::now();
    let (code, _, stderr) = aha(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "aha {args:?}: {stderr}");
    start.elapsed()
}

/// Starts `aha args` and kills it with SIGKILL after `after` unless it has finished by then;
/// `true` when it was killed.
fn run_killed(args: &[String], after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aha"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + after;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "aha {args:?} failed on its own: {status}");
            return false;
        }
        if Instant::now() >= deadline {
            // `Child::kill` is SIGKILL on Unix: no handler, no cleanup, as in a power cut.
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `aha args` with every file it writes limited to `bytes` (SIGXFSZ ignored, so a write
/// past the limit fails with EFBIG as a full disk fails with ENOSPC); returns code and stderr.
fn run_with_file_limit(args: &[String], bytes: u64) -> (i32, String) {
    let prlimit = Command::new("prlimit").arg("--version").output();
    assert!(
        prlimit.is_ok_and(|o| o.status.success()),
        "the full-disk tests need prlimit (util-linux)"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=\"$0\" \"$@\"")
        .arg(bytes.to_string())
        .arg(env!("CARGO_BIN_EXE_aha"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file's content with what legitimately differs between runs taken out.
#[derive(Debug, PartialEq)]
enum Content {
    Json(Value),
    /// JSONL lines, normalised and sorted (a resumed run may append in another order).
    Lines(Vec<String>),
    /// A safetensors file: header (as JSON, key order aside) and data.
    Tensors(Value, Vec<u8>),
    Bytes(Vec<u8>),
    /// Compared by presence only: the HTML report charts the (timed) phases.
    Present,
}

/// Drops timing fields and writes the run directory's own path as `<OUT>`.
fn normalise(v: &mut Value, out: &str) {
    match v {
        Value::Object(o) => {
            for k in TIMING {
                o.remove(*k);
            }
            o.values_mut().for_each(|x| normalise(x, out));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, out)),
        Value::String(s) if s.contains(out) => *s = s.replace(out, "<OUT>"),
        _ => {}
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every file of a finished run directory, normalised. No temporary may be left.
fn snapshot(dir: &Path) -> BTreeMap<String, Content> {
    let root = dir.to_str().unwrap();
    let mut snap = BTreeMap::new();
    for p in files(dir) {
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        // A kill in the middle of an atomic write can leave its temporary (never read: the
        // target is the old or the new file); the resume removes it.
        assert!(
            !rel.ends_with(".tmp"),
            "a temporary is left after the run: {rel}"
        );
        let bytes = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let content = if name.ends_with(".jsonl") {
            let mut lines: Vec<String> = parse_lines(&p, &bytes)
                .into_iter()
                .map(|mut v| {
                    normalise(&mut v, root);
                    v.to_string()
                })
                .collect();
            lines.sort();
            Content::Lines(lines)
        } else if name.ends_with(".json") {
            let mut v: Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            normalise(&mut v, root);
            if name == "final.json" {
                // A training run's summary describes the call that wrote it (aha_train's
                // `RunSummary`): where it resumed from and the last line it wrote itself.
                if let Some(o) = v.as_object_mut() {
                    o.remove("resumed_from");
                    o.remove("last");
                }
            }
            Content::Json(v)
        } else if name.ends_with(".safetensors") {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
            Content::Tensors(header, bytes[8 + n..].to_vec())
        } else if name.ends_with(".html") {
            Content::Present
        } else {
            Content::Bytes(bytes)
        };
        snap.insert(rel, content);
    }
    snap
}

/// The lines of a JSONL file; each must be complete (the file ends with a newline) and parse.
fn parse_lines(path: &Path, bytes: &[u8]) -> Vec<Value> {
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "{}: the last line is incomplete",
        path.display()
    );
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// Checks that an interrupted run left only readable files: no temporary, complete JSONL
/// lines, parseable JSON, safetensors whose header parses and whose data is all there.
fn assert_readable(dir: &Path) {
    for p in files(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "a temporary is left: {}",
            p.display()
        );
        let bytes = std::fs::read(&p).unwrap();
        if name.ends_with(".jsonl") {
            parse_lines(&p, &bytes);
        } else if name.ends_with(".json") {
            serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        } else if name.ends_with(".safetensors") {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
            let end = header
                .as_object()
                .unwrap()
                .values()
                .filter_map(|t| t["data_offsets"][1].as_u64())
                .max()
                .unwrap_or(0) as usize;
            assert_eq!(bytes.len(), 8 + n + end, "{}: cut short", p.display());
        }
    }
}

/// For each seed: two SIGKILLs (the first in `[0.1, 0.8]`, the second in `[0, 1.2]` × the
/// reference time), then a run to
/// the end; the outputs must equal `reference`'s. Returns how many kills landed mid-run.
fn kill_and_resume(
    work: &Path,
    args: &dyn Fn(&Path) -> Vec<String>,
    reference: &BTreeMap<String, Content>,
    took: Duration,
) -> usize {
    let mut landed = 0;
    for seed in SEEDS {
        let out = work.join(format!("killed-{seed}"));
        let mut state = seed;
        for kill in 0..2 {
            // The first kill falls inside the reference run's time, so it lands unless this run
            // is much faster than the reference; the second may fall anywhere, past the end too
            // (the resumed run has less left to do).
            let (lo, span) = if kill == 0 { (0.1, 0.7) } else { (0.0, 1.2) };
            let at = took.mul_f64(lo + span * (next(&mut state) % 1000) as f64 / 1000.0);
            if run_killed(&args(&out), at) {
                landed += 1;
                // Whatever the kill interrupted, what is on disk is readable (temporaries aside:
                // a kill can leave one, and the rerun replaces it).
                for p in files(&out) {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    if name.ends_with(".jsonl") {
                        // A torn last line is allowed after a kill: readers drop it.
                        let text = std::fs::read_to_string(&p).unwrap();
                        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
                        for l in complete.lines().filter(|l| !l.trim().is_empty()) {
                            serde_json::from_str::<Value>(l)
                                .unwrap_or_else(|e| panic!("{}: {e}: {l}", p.display()));
                        }
                    } else if name.ends_with(".json") {
                        serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap())
                            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    }
                }
            }
        }
        run_ok(&args(&out));
        let got = snapshot(&out);
        let names = |s: &BTreeMap<String, Content>| s.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&got), names(reference), "seed {seed}: other files");
        for (name, content) in reference {
            assert!(
                got[name] == *content,
                "seed {seed}: {name} differs from the uninterrupted run's:\n{:.3000}\n{:.3000}",
                format!("{content:?}"),
                format!("{:?}", got[name])
            );
        }
    }
    landed
}

/// After a run stopped by a file-size limit: a non-zero exit, an error naming a file of the
/// run directory (never a temporary), readable files, and a rerun that ends as `reference`.
fn full_disk_then_resume(
    out: &Path,
    args: &dyn Fn(&Path) -> Vec<String>,
    limit: u64,
    reference: &BTreeMap<String, Content>,
) {
    let (code, stderr) = run_with_file_limit(&args(out), limit);
    assert_ne!(code, 0, "limit {limit}: the run did not fail: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("File too large"))
        .unwrap_or_else(|| panic!("limit {limit}: no write error reported: {stderr}"));
    // Each cause once: the OS text is not repeated by the error chain.
    assert_eq!(
        line.matches("File too large").count(),
        1,
        "limit {limit}: a cause is said twice: {line}"
    );
    // A file inside the run directory (the one being written; a checkpoint's is its staging
    // copy), never just the directory.
    let named = line
        .split(out.to_str().unwrap())
        .skip(1)
        .filter(|rest| rest.starts_with('/'))
        .map(|rest| rest.split(':').next().unwrap_or(""))
        .collect::<Vec<_>>();
    assert!(
        named.iter().any(|f| f.len() > 1),
        "limit {limit}: the error does not name the file: {line}"
    );
    assert_readable(out);
    run_ok(&args(out));
    assert!(
        snapshot(out) == *reference,
        "limit {limit}: the rerun after the full disk differs from the uninterrupted run"
    );
}

fn probe_args(model: &Path, data: &Path) -> impl Fn(&Path) -> Vec<String> {
    let (model, data) = (model.to_path_buf(), data.to_path_buf());
    move |out: &Path| {
        let mut a: Vec<String> = ["probe", "--model"].map(String::from).to_vec();
        a.push(model.to_string_lossy().into_owned());
        a.push("--data".into());
        a.push(data.to_string_lossy().into_owned());
        for x in [
            "--template",
            "chat",
            "--template",
            "qwen-math",
            "--temperatures",
            "0.6,1.0",
            "-n",
            "4",
            "--max-tokens",
            "24",
            "--batch",
            "2",
            "--out",
        ] {
            a.push(x.into());
        }
        a.push(out.to_string_lossy().into_owned());
        a
    }
}

fn probe_setup(dir: &Path) -> (PathBuf, PathBuf) {
    let model = tiny_model(dir, TINY_HF, 5);
    let data = dir.join("data.jsonl");
    std::fs::write(
        &data,
        "{\"id\":\"a\",\"problem\":\"1 + 1?\",\"answer\":\"2\"}\n\
         {\"id\":\"b\",\"problem\":\"2 * 3?\",\"answer\":\"6\"}\n\
         {\"id\":\"c\",\"problem\":\"4 - 1?\",\"answer\":\"3\"}\n\
         {\"id\":\"d\",\"problem\":\"9 / 3?\",\"answer\":\"3\"}\n",
    )
    .unwrap();
    (model, data)
}

#[test]
fn a_probe_killed_anywhere_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = probe_setup(dir.path());
    let args = probe_args(&model, &data);
    let reference_dir = dir.path().join("reference");
    let took = run_ok(&args(&reference_dir));
    let reference = snapshot(&reference_dir);
    assert!(reference.contains_key("responses.jsonl") && reference.contains_key("summary.json"));
    let landed = kill_and_resume(dir.path(), &args, &reference, took);
    // Most kill points fall inside the run (the rest after its end): the test kills for real.
    // Timing on a loaded machine varies: half the seeds' kills landing is proof enough.
    assert!(
        landed >= SEEDS.len() / 2,
        "only {landed} kills landed mid-run"
    );
    println!(
        "probe: {landed} of {} kills landed mid-run",
        2 * SEEDS.len()
    );
}

#[test]
fn a_demo_killed_anywhere_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        ["demo", "--quick", "--no-progress", "--out"]
            .map(String::from)
            .into_iter()
            .chain([out.to_string_lossy().into_owned()])
            .collect()
    };
    let reference_dir = dir.path().join("reference");
    let took = run_ok(&args(&reference_dir));
    let reference = snapshot(&reference_dir);
    assert!(reference.contains_key("summary.json"));
    let landed = kill_and_resume(dir.path(), &args, &reference, took);
    // Timing on a loaded machine varies: half the seeds' kills landing is proof enough.
    assert!(
        landed >= SEEDS.len() / 2,
        "only {landed} kills landed mid-run"
    );
    println!("demo: {landed} of {} kills landed mid-run", 2 * SEEDS.len());
}

/// The size of `name` in a finished run.
fn size(dir: &Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).unwrap().len()
}

#[test]
fn a_probe_on_a_full_disk_names_the_file_and_keeps_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = probe_setup(dir.path());
    let args = probe_args(&model, &data);
    let reference_dir = dir.path().join("reference");
    run_ok(&args(&reference_dir));
    let reference = snapshot(&reference_dir);
    // Mid-way through the responses, then at the largest file (written last or near it).
    let largest = files(&reference_dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .max()
        .unwrap();
    for (i, limit) in [size(&reference_dir, "responses.jsonl") / 2, largest - 1]
        .into_iter()
        .enumerate()
    {
        full_disk_then_resume(
            &dir.path().join(format!("full-{i}")),
            &args,
            limit,
            &reference,
        );
    }
}

#[test]
fn a_demo_on_a_full_disk_names_the_file_and_keeps_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        ["demo", "--quick", "--no-progress", "--out"]
            .map(String::from)
            .into_iter()
            .chain([out.to_string_lossy().into_owned()])
            .collect()
    };
    let reference_dir = dir.path().join("reference");
    run_ok(&args(&reference_dir));
    let reference = snapshot(&reference_dir);
    // A limit stops the first write of a larger file: the world's corpus (written first), the
    // first RL checkpoint's optimizer state (the next larger file), the report (written last).
    let limits = [
        size(&reference_dir, "world/corpus.jsonl") / 2,
        size(
            &reference_dir,
            "grpo/checkpoints/step-2/optimizer.safetensors",
        ) - 1,
        // (The report's size varies with the timings it charts: half of it is safely inside.)
        size(&reference_dir, "report.html") / 2,
    ];
    for (i, limit) in limits.into_iter().enumerate() {
        full_disk_then_resume(
            &dir.path().join(format!("full-{i}")),
            &args,
            limit,
            &reference,
        );
    }
}
