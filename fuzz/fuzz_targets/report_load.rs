//! The report's run loader (`aha_report::load_dir`) on run directories with arbitrary files:
//! a probe run (`summary.json`, `graded.jsonl`, `responses.jsonl`, `config.json`) or a training
//! run (`metrics.jsonl`, `samples.jsonl`, `config.json`). The input is the files' contents
//! separated by `\n--8<--\n`, in the order of `FILES`, and the first byte picks the layout.
//!
//! Properties: no panic, bounded time.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PROBE: &[&str] = &[
    "summary.json",
    "graded.jsonl",
    "responses.jsonl",
    "config.json",
];
const TRAIN: &[&str] = &[
    "metrics.jsonl",
    "samples.jsonl",
    "config.json",
    "summary.json",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let names = if pick % 2 == 0 { PROBE } else { TRAIN };
    let dir = aha_fuzz::fresh_dir("run");
    let text = String::from_utf8_lossy(body);
    for (name, content) in names.iter().zip(text.split("\n--8<--\n")) {
        std::fs::write(dir.join(name), content).expect("writing a run file");
    }
    let _ = aha_report::load_dir(&dir);
});
