//! Reflection keyword counting and the SSR classification on arbitrary text and golds, for
//! every keyword preset and both match modes.
//!
//! Properties: no panic; `count` agrees with `analyze`; hits inside `<think>` are a subset of
//! all hits; the per-keyword counts add up to the total; hits lie inside the text.
#![no_main]

use std::sync::OnceLock;

use aha_reflect::{KeywordDetector, Keywords, MatchMode, PRESETS, classify_ssr};
use aha_verify::MathOptions;
use libfuzzer_sys::fuzz_target;

/// The input: one byte picking the preset and mode, then `response \0 gold` (UTF-8, lossy).
struct Input {
    detector: u8,
    response: String,
    gold: String,
}

fn input(data: &[u8]) -> Option<Input> {
    let (&detector, rest) = data.split_first()?;
    let text = String::from_utf8_lossy(rest);
    let (response, gold) = text.split_once('\0').unwrap_or((&text, ""));
    Some(Input {
        detector,
        response: response.to_owned(),
        gold: gold.to_owned(),
    })
}

fn detectors() -> &'static [KeywordDetector] {
    static ALL: OnceLock<Vec<KeywordDetector>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        for name in PRESETS {
            let k = Keywords::preset(name).expect("a shipped preset");
            for mode in [MatchMode::Substring, MatchMode::Word] {
                v.push(KeywordDetector::new(&k, mode).expect("a detector for a shipped preset"));
            }
        }
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let all = detectors();
    let d = &all[usize::from(input.detector) % all.len()];
    let report = d.analyze(&input.response);
    assert_eq!(d.count(&input.response), report.total);
    assert!(report.in_think <= report.total, "{report:?}");
    assert_eq!(report.per_keyword.values().sum::<usize>(), report.total);
    assert_eq!(report.hits.len(), report.total);
    let _ = classify_ssr(&input.response, &input.gold, d, &MathOptions::default());
});
