//! The strict R1 format check (`<think>…</think><answer>…</answer>`) on arbitrary text, with
//! and without a pre-filled `<think>`.
//!
//! Properties: no panic, bounded time (libFuzzer's `-timeout`).
#![no_main]

use aha_verify::r1_format_ok;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = r1_format_ok(&text, false);
    let _ = r1_format_ok(&text, true);
});
