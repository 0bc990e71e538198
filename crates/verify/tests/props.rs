//! Property tests: the extractor and parser never panic, stay within a generous time bound on
//! arbitrary and pathological input, and equivalence is reflexive and symmetric on numbers.
//! (Speed targets live in the benches; the bound here only catches runaway work.)

use std::time::{Duration, Instant};

use aha_verify::{
    BoxPolicy, EquationChain, MathOptions, Verdict, extract_answer, grade_answer, grade_math,
    parse_answer,
};
use proptest::prelude::*;

/// Generous per-call bound for unoptimised test builds on a shared, noisy machine (release
/// builds take well under 1 ms on the pathological cases; see `benches/verify.rs`).
const BOUND: Duration = Duration::from_millis(1000);

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn mathy() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "\\frac",
        "\\sqrt",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "^",
        "_",
        "\\pi",
        "x",
        "e",
        "i",
        "1",
        "2",
        "99",
        "0.5",
        "+",
        "-",
        "*",
        "/",
        "!",
        ",",
        "=",
        "<",
        "\\le",
        "\\pm",
        "\\infty",
        "\\cup",
        "\\text{cm}",
        "\\%",
        "^\\circ",
        "\\left(",
        "\\right)",
        "\\{",
        "\\}",
        "&",
        "\\\\",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        " ",
        "\\boxed{",
        "<answer>",
        "</answer>",
        "$",
        "\\sin",
        "\\log_2",
        "10^{",
        "2003",
        "**",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn grading_arbitrary_math_never_panics_and_is_bounded(a in mathy(), b in mathy()) {
        let opts = MathOptions::default();
        let (_, t) = timed(|| grade_answer(&a, &b, &opts));
        prop_assert!(t < BOUND, "grade_answer({a:?}, {b:?}) took {t:?}");
        let (_, t) = timed(|| grade_math(&a, &b, &opts));
        prop_assert!(t < BOUND, "grade_math({a:?}, {b:?}) took {t:?}");
    }

    #[test]
    fn every_policy_never_panics_and_is_bounded(a in mathy(), b in mathy(), s in "\\PC{0,120}", k in 0u32..8) {
        // The non-default policies: all boxes, lenient extraction, decimal commas, rounding
        // precision, unchecked equation chains, strict decimals.
        let opts = MathOptions {
            boxes: BoxPolicy::All,
            lenient: true,
            decimal_comma: true,
            precision: Some(k),
            equation_chain: EquationChain::Last,
            decimal_digits: k,
            ..MathOptions::default()
        };
        for (r, g) in [(&a, &b), (&s, &b), (&a, &s)] {
            let (_, t) = timed(|| grade_math(r, g, &opts));
            prop_assert!(t < BOUND, "grade_math({r:?}, {g:?}) took {t:?}");
            let (_, t) = timed(|| grade_answer(r, g, &opts));
            prop_assert!(t < BOUND, "grade_answer({r:?}, {g:?}) took {t:?}");
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(s in "\\PC{0,200}", g in "\\PC{0,50}") {
        let opts = MathOptions::default();
        let _ = parse_answer(&s);
        let _ = extract_answer(&s, &opts);
        let (_, t) = timed(|| grade_math(&s, &g, &opts));
        prop_assert!(t < BOUND);
    }

    #[test]
    fn boxed_answer_is_extracted_from_any_text(pre in "[a-z .,]{0,80}", x in "[0-9a-z+]{1,12}", post in "[a-z .,]{0,80}") {
        let r = format!("{pre}\\boxed{{{{{x}}}}}{post}");
        let e = extract_answer(&r, &MathOptions::default()).expect("box found");
        prop_assert_eq!(e.text, format!("{{{x}}}"));
        prop_assert_eq!(&r[e.start..e.end], format!("{{{x}}}"));
    }

    #[test]
    fn equality_is_reflexive_and_symmetric_on_rationals(a in -10_000i64..10_000, b in 1i64..1_000, c in -10_000i64..10_000, d in 1i64..1_000) {
        let opts = MathOptions::default();
        let x = format!("\\frac{{{a}}}{{{b}}}");
        let y = format!("{c}/{d}");
        prop_assert_eq!(grade_answer(&x, &x, &opts).verdict, Verdict::Correct);
        let xy = grade_answer(&x, &y, &opts).verdict;
        let yx = grade_answer(&y, &x, &opts).verdict;
        prop_assert_eq!(xy, yx);
        // Exact: equal iff a*d == c*b.
        prop_assert_eq!(xy == Verdict::Correct, a * d == c * b);
    }
}

#[test]
fn pathological_inputs_are_bounded() {
    let opts = MathOptions::default();
    let nested = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let braces = format!("\\boxed{{{}1{}}}", "{".repeat(10_000), "}".repeat(10_000));
    let huge = "1".repeat(1 << 20);
    let long_response = format!("{}\\boxed{{6}}", "word ".repeat(200_000));
    let cases: Vec<(String, &str)> = vec![
        ("2003^{2002^{2001}}".into(), "1"),
        ("10^{10^{10^{10}}}".into(), "10^{10^{10^{10}}}+1"),
        ("(x+1)^{1000000}".into(), "1"),
        ("(x+y+z+1)^{24}".into(), "1"),
        ("100000!".into(), "1"),
        ("\\frac{1}{2^{99999999}}".into(), "0"),
        (
            "\\sqrt{123456789012345678901234567890123456789}".into(),
            "1",
        ),
        (nested, "1"),
        (braces, "1"),
        (huge, "1"),
        (long_response, "5"),
        ("\\pm\\pm\\pm\\pm\\pm\\pm 1".into(), "1"),
        (format!("0.{}1", "0".repeat(9_000)), "1"),
        ("7".repeat(9_000), "1"),
        ("\\frac{1}{2004!} + \\frac{1}{2006!}".into(), "0"),
        // Found by the gold_json fuzz target: the numeric fallback multiplied 3.1e21 terms.
        (
            "\\binom{10}{3111111111111111111111%%%%%%%%%%_nk011%%%%%%%%%%_nk022%%%%%%%%%%%%%'%%%%%}"
                .into(),
            "1",
        ),
        ("\\binom{10}{3111111111111111111111x}".into(), "\\binom{10}{3}"),
        // Found by the fuzz targets: sums and products of 20,000-bit fractions, one budget step
        // each, took seconds.
        (
            "3/486^3222rac111111+++6103/286^3222rac111111100006.1711787+111100006.1711787++38281"
                .into(),
            "1",
        ),
        (
            "(a+5)(b+63.710584329735)^12^20X(xz+1)^12".into(),
            "(a+5)(b+63.710584329735)^{240}X(xz+1)^{12}+1",
        ),
        (
            format!("{}x{}", "\\sqrt{".repeat(200), "}".repeat(200)),
            "1",
        ),
    ];
    let mut slowest = Duration::ZERO;
    for (pred, gold) in &cases {
        for (a, b) in [(pred.as_str(), *gold), (*gold, pred.as_str())] {
            let (g, t) = timed(|| grade_math(a, b, &opts));
            slowest = slowest.max(t);
            assert!(t < BOUND, "{}… took {t:?}", &a[..a.len().min(40)]);
            assert_ne!(g.verdict, Verdict::Correct, "{}…", &a[..a.len().min(40)]);
            let (_, t) = timed(|| grade_answer(a, b, &opts));
            assert!(t < BOUND, "{}… took {t:?}", &a[..a.len().min(40)]);
        }
    }
    eprintln!("slowest pathological case: {slowest:?}");
    // Moderate nesting (50 levels) is still read.
    let deep = format!("{}x{}", "(".repeat(50), ")".repeat(50));
    assert_eq!(grade_answer(&deep, "x", &opts).verdict, Verdict::Correct);
    // The long response with a real box is still graded correctly.
    let r = format!("{}\\boxed{{5}}", "word ".repeat(200_000));
    assert_eq!(grade_math(&r, "5", &opts).verdict, Verdict::Correct);
}
