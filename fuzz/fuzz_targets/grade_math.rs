//! The math path through the grading contract: extract → parse → equivalence, with an arbitrary
//! response, an arbitrary gold (one answer or a list) and every option combination.
//!
//! Properties: no panic; the outcome is consistent (a correct verdict has a reward and an
//! extracted answer); equivalence of two plain decimal numbers is symmetric and agrees with
//! their values when the policies that make it one-sided are off.
#![no_main]

use aha_verify::{
    BoxPolicy, EquationChain, Gold, GradeOptions, MathOptions, PercentPolicy, RewardScheme, Task,
    Verdict, answers_equal, grade,
};
use libfuzzer_sys::fuzz_target;

/// The input: 5 option bytes (flags low, flags high, decimal digits, precision with 0xff for
/// none, percent policy), then `response \0 gold [\0 gold …]` (UTF-8, lossy). All-zero option
/// bytes but `decimal_digits` = 5 and precision 0xff are the default policies, so golden pairs
/// make seeds as `00 00 05 ff 00 pred \0 gold`.
#[derive(Debug)]
struct Input {
    flags: u16,
    decimal_digits: u8,
    precision: Option<u8>,
    percent: u8,
    answer_task: bool,
    response: String,
    gold: Vec<String>,
}

fn input(data: &[u8]) -> Option<Input> {
    let (head, rest) = data.split_at_checked(5)?;
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let response = parts.next().unwrap_or_default().to_owned();
    let gold = parts.take(4).map(str::to_owned).collect();
    let flags = u16::from_le_bytes([head[0], head[1]]);
    Some(Input {
        flags,
        decimal_digits: head[2],
        precision: (head[3] != 0xff).then_some(head[3]),
        percent: head[4],
        answer_task: flags & (1 << 13) != 0,
        response,
        gold,
    })
}

fn options(i: &Input) -> MathOptions {
    let bit = |n: u32| i.flags & (1 << n) != 0;
    MathOptions {
        boxed: !bit(0),
        answer_tag: !bit(1),
        answer_is: !bit(2),
        last_number: bit(3),
        percent: match i.percent % 3 {
            0 => PercentPolicy::Either,
            1 => PercentPolicy::Drop,
            _ => PercentPolicy::Hundredth,
        },
        require_reduced_fractions: bit(4),
        strict_brackets: !bit(5),
        rounded_reference: !bit(6),
        relation_interval: !bit(7),
        decimal_digits: u32::from(i.decimal_digits % 20),
        precision: i.precision.map(|p| u32::from(p % 20)),
        boxes: if bit(8) {
            BoxPolicy::All
        } else {
            BoxPolicy::Last
        },
        lenient: bit(9),
        decimal_comma: bit(10),
        equation_chain: if bit(11) {
            EquationChain::Last
        } else {
            EquationChain::Checked
        },
        reward: if bit(12) {
            RewardScheme::SimpleRl
        } else {
            RewardScheme::Binary
        },
        ..MathOptions::default()
    }
}

/// `-12`, `3.5`, `0.25`: a number every policy reads the same way both sides.
fn plain_number(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = t.split_once('.').unwrap_or((t, "1"));
    !int.is_empty()
        && int.len() <= 12
        && frac.len() <= 6
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let math = options(&input);
    let task = if input.answer_task {
        Task::MathAnswer
    } else {
        Task::Math
    };
    let gold = match input.gold.as_slice() {
        [one] => Gold::Answer(one.clone()),
        many => Gold::AnyOf(many.iter().take(4).cloned().collect()),
    };
    let out = grade(
        task,
        &input.response,
        &gold,
        &GradeOptions::math(math.clone()),
    );
    if out.grade.verdict == Verdict::Correct {
        assert!(out.gold_index.is_some(), "{out:?}");
    }
    assert!(out.grade.reward.is_finite(), "{out:?}");

    // Symmetry on plain numbers, with the one-sided policies off.
    if let [a] = input.gold.as_slice() {
        let b = input.response.as_str();
        if plain_number(a) && plain_number(b) {
            let sym = MathOptions {
                rounded_reference: false,
                decimal_digits: 0,
                precision: None,
                percent: PercentPolicy::Either,
                ..math
            };
            let ab = answers_equal(a, b, &sym).ok();
            let ba = answers_equal(b, a, &sym).ok();
            assert_eq!(ab, ba, "{a:?} vs {b:?} is not symmetric");
        }
    }
});
