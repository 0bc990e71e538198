//! The dataset loaders (JSON, JSONL, Parquet, Arrow IPC stream) on arbitrary file contents.
//! The first byte picks the format; the rest is the file.
//!
//! Properties: no panic, no unbounded allocation (libFuzzer's `-rss_limit_mb`), bounded time;
//! a loaded dataset has ids that are unique or reported so.
#![no_main]

use aha_data::{Format, LoadOptions, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (format, ext) = match pick % 4 {
        0 => (Format::Json, "json"),
        1 => (Format::Jsonl, "jsonl"),
        2 => (Format::Parquet, "parquet"),
        _ => (Format::Arrow, "arrow"),
    };
    let dir = aha_fuzz::fresh_dir("data");
    let path = dir.join(format!("input.{ext}"));
    std::fs::write(&path, body).expect("writing the input file");
    // aha-data turns a panic inside arrow/parquet into an error naming the file (its readers run
    // under catch_unwind). libfuzzer-sys's panic hook aborts before any unwind can be caught,
    // so load under a quiet hook: a panic that escapes aha-data's guard still reaches
    // libfuzzer-sys's own catch and is reported as a crash.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for lenient in [false, true] {
        let opts = LoadOptions {
            format: Some(format),
            lenient,
            ..LoadOptions::default()
        };
        if let Ok(ds) = load(&path, &opts) {
            let _ = ds.check_unique_ids();
        }
    }
    std::panic::set_hook(hook);
});
