//! Reading references as engines and data files send them: `Gold::from_json` on arbitrary JSON,
//! for every task, then grading a fixed response against what was read.
//!
//! Properties: no panic; a gold that was read grades without panicking; an error names a path
//! that starts where the value does (`""` or `[i]`/`.field`).
#![no_main]

use aha_verify::{Gold, GradeOptions, Task, grade};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let o = GradeOptions::default();
    for task in [Task::Math, Task::MathAnswer, Task::Countdown] {
        match Gold::from_json(&value, task) {
            Ok(gold) => {
                for response in ["\\boxed{1}", "<answer>1 + 2</answer>", ""] {
                    let _ = grade(task, response, &gold, &o);
                }
                // What was read survives a serde round trip.
                let text = serde_json::to_string(&gold).expect("serialising a gold");
                let back: Gold = serde_json::from_str(&text).expect("reading a gold back");
                assert_eq!(back.answers(), gold.answers());
            }
            Err(aha_verify::Error::Gold { at, .. }) => {
                assert!(
                    at.is_empty() || at.starts_with('[') || at.starts_with('.'),
                    "{at:?}"
                );
            }
            Err(other) => panic!("unexpected error kind: {other}"),
        }
    }
});
