//! Rewards: TinyZero Countdown edge behaviour (docs/study.md, Rewards; checked against TinyZero's
//! `countdown.py`), SimpleRL values, and the strict R1 format check.

use std::time::Instant;

use aha_verify::{
    CountdownOptions, MathOptions, RewardScheme, Verdict, grade_countdown, grade_math, r1_format_ok,
};

fn cd(response: &str, target: i64, numbers: &[i64]) -> f64 {
    grade_countdown(response, target, numbers, &CountdownOptions::default()).reward
}

fn cd_strict(response: &str, target: i64, numbers: &[i64]) -> f64 {
    grade_countdown(
        response,
        target,
        numbers,
        &CountdownOptions { strict: true },
    )
    .reward
}

#[test]
fn countdown_matches_tinyzero_semantics() {
    let n = [2, 3, 4];
    assert_eq!(cd("<answer>2 * 3 * 4</answer>", 24, &n), 1.0);
    // No answer tag → 0; a trailing newline or any text after `</answer>` on a new line → 0.
    assert_eq!(cd("2 * 3 * 4", 24, &n), 0.0);
    assert_eq!(cd("<answer>2 * 3 * 4</answer>\n", 24, &n), 0.0);
    assert_eq!(cd("<answer>2 * 3 * 4</answer>\nDone.", 24, &n), 0.0);
    // Only the last line counts; on it the last answer wins.
    assert_eq!(
        cd(
            "<answer>2 * 3 * 4</answer>\n<answer>2 + 3 + 4</answer>",
            24,
            &n
        ),
        0.1
    );
    assert_eq!(
        cd(
            "<answer>2 + 3 + 4</answer> <answer>2 * 3 * 4</answer>",
            24,
            &n
        ),
        1.0
    );
    // Decimals split into two ints; `=` is not allowed; division by zero fails: all 0.1.
    assert_eq!(cd("<answer>2.0 * 3 * 4</answer>", 24, &n), 0.1);
    assert_eq!(cd("<answer>2 * 3 * 4 = 24</answer>", 24, &n), 0.1);
    assert_eq!(
        cd("<answer>2 / (3 - 3) + 4</answer>", 24, &[2, 3, 3, 4]),
        0.1
    );
    // Each number exactly once, all of them.
    assert_eq!(cd("<answer>2 * 3 * 4 * 1</answer>", 24, &n), 0.1);
    assert_eq!(cd("<answer>(3 + 3) * 4</answer>", 24, &n), 0.1);
    assert_eq!(cd("<answer>6 * 4</answer>", 24, &n), 0.1);
    // Python operators outside the prompt's four are accepted by TinyZero's eval.
    assert_eq!(cd("<answer>4 ** 3 / 2</answer>", 32, &[4, 3, 2]), 1.0);
    assert_eq!(cd("<answer>(4*3)//2*4</answer>", 24, &[4, 3, 2, 4]), 1.0);
    // Float division and the 1e-5 tolerance: 10/3*3 is 10.000000000000002 in Python.
    assert_eq!(cd("<answer>10 / 3 * 3</answer>", 10, &[10, 3, 3]), 1.0);
    assert_eq!(cd("<answer>(7 - 1) / 4</answer>", 1, &[7, 1, 4]), 0.1);
    // Unary minus and precedence as in Python: -2**2 = -4.
    assert_eq!(cd("<answer>-2**2 + 8</answer>", 4, &[2, 2, 8]), 1.0);
}

#[test]
fn countdown_strict_mode_accepts_only_four_operations() {
    let n = [4, 3, 2];
    assert_eq!(cd_strict("<answer>(4 + 3) * 2</answer>", 14, &n), 1.0);
    assert_eq!(cd_strict("<answer>4 ** 3 / 2</answer>", 32, &n), 0.1);
    assert_eq!(cd_strict("<answer>(4*3)//2</answer>", 6, &n), 0.1);
    assert_eq!(cd_strict("<answer>-4 + 3 * 2</answer>", 2, &n), 0.1);
}

#[test]
fn countdown_power_blowups_are_bounded() {
    let t = Instant::now();
    let g = grade_countdown(
        "<answer>99 ** 99 ** 99</answer>",
        1,
        &[99, 99, 99],
        &CountdownOptions::default(),
    );
    assert_eq!((g.verdict, g.reward), (Verdict::Incorrect, 0.1));
    assert_eq!(
        cd("<answer>1 ** 99999999999</answer>", 1, &[1, 99999999999]),
        1.0
    );
    assert!(t.elapsed().as_millis() < 200, "took {:?}", t.elapsed());
}

#[test]
fn simplerl_reward_values() {
    let opts = MathOptions {
        reward: RewardScheme::SimpleRl,
        ..MathOptions::default()
    };
    assert_eq!(grade_math("\\boxed{4}", "4", &opts).reward, 1.0);
    assert_eq!(grade_math("\\boxed{5}", "4", &opts).reward, -0.5);
    assert_eq!(grade_math("it is four", "4", &opts).reward, -1.0);
    // An unreadable reference is never rewarded.
    assert_eq!(grade_math("\\boxed{4}", "\\frac{4}{", &opts).reward, 0.0);
}

#[test]
fn simplerl_has_one_spelling_and_one_alias() {
    for name in ["simplerl", "simple_rl"] {
        assert_eq!(RewardScheme::parse(name), Some(RewardScheme::SimpleRl));
        let json = format!("\"{name}\"");
        let s: RewardScheme = serde_json::from_str(&json).expect("scheme name");
        assert_eq!(s, RewardScheme::SimpleRl);
    }
    assert_eq!(
        serde_json::to_string(&RewardScheme::SimpleRl).expect("serialise"),
        "\"simplerl\""
    );
    assert_eq!(RewardScheme::SimpleRl.as_str(), "simplerl");
    assert_eq!(RewardScheme::parse("binary"), Some(RewardScheme::Binary));
    assert_eq!(RewardScheme::parse("simple-rl"), None);
    assert!(
        RewardScheme::NAMES
            .iter()
            .all(|n| RewardScheme::parse(n).is_some())
    );
}

#[test]
fn last_number_fallback_is_opt_in() {
    let mut opts = MathOptions::default();
    assert_eq!(
        grade_math("so we get 1,234 apples", "1234", &opts).verdict,
        Verdict::NoAnswer
    );
    opts.last_number = true;
    let g = grade_math("so we get 1,234 apples", "1234", &opts);
    assert_eq!(g.verdict, Verdict::Correct);
    assert_eq!(g.extracted.map(|e| e.text), Some("1,234".to_string()));
}

#[test]
fn r1_format_is_strict() {
    assert!(r1_format_ok("<think>a</think>\n<answer>1</answer>", false));
    assert!(r1_format_ok(
        "  <think>a</think><answer>1</answer>\n",
        false
    ));
    assert!(r1_format_ok("a</think> <answer>1</answer>", true));
    assert!(!r1_format_ok("<think>a</think> <answer>1</answer>", true));
    assert!(!r1_format_ok("a</think> <answer>1</answer>", false));
    assert!(!r1_format_ok(
        "<think>a</think> <answer>1</answer> extra",
        false
    ));
    assert!(!r1_format_ok("<think>a</think> <answer></answer>", false));
    assert!(!r1_format_ok(
        "<think>a</think><think>b</think><answer>1</answer>",
        false
    ));
    assert!(!r1_format_ok("<answer>1</answer><think>a</think>", false));
    assert!(r1_format_ok(
        "<think>a</think><answer>1</answer><|im_end|>junk",
        false
    ));
}
