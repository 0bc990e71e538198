//! Countdown grading on an arbitrary response, target and numbers, lenient and strict.
//!
//! Properties: no panic; the reward is TinyZero's 0, 0.1 or 1, and 1 exactly when correct; the
//! contract's `grade` gives the same grade as `grade_countdown`.
#![no_main]

use aha_verify::{CountdownOptions, Gold, GradeOptions, Task, Verdict, grade, grade_countdown};
use libfuzzer_sys::fuzz_target;

/// The input: one byte (odd = strict), then `target,n1,n2,… \0 response` (UTF-8, lossy);
/// numbers that do not parse are left out.
#[derive(Debug)]
struct Input {
    strict: bool,
    target: i64,
    numbers: Vec<i64>,
    response: String,
}

fn input(data: &[u8]) -> Option<Input> {
    let (&mode, rest) = data.split_first()?;
    let text = String::from_utf8_lossy(rest);
    let (spec, response) = text.split_once('\0')?;
    let mut nums = spec.split(',').filter_map(|n| n.trim().parse::<i64>().ok());
    Some(Input {
        strict: mode % 2 == 1,
        target: nums.next()?,
        numbers: nums.collect(),
        response: response.to_owned(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let opts = CountdownOptions {
        strict: input.strict,
    };
    let numbers: Vec<i64> = input.numbers.iter().copied().take(8).collect();
    let g = grade_countdown(&input.response, input.target, &numbers, &opts);
    assert!(
        [0.0, 0.1, 1.0].contains(&g.reward),
        "reward {} for {:?}",
        g.reward,
        input
    );
    assert_eq!(g.reward == 1.0, g.verdict == Verdict::Correct, "{g:?}");
    let gold = Gold::Countdown {
        target: input.target,
        numbers,
    };
    let o = GradeOptions {
        countdown: opts,
        ..GradeOptions::default()
    };
    assert_eq!(grade(Task::Countdown, &input.response, &gold, &o).grade, g);
});
