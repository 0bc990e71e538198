//! Criterion benchmarks of the verifier on typical and pathological answer pairs.
//! Throughput against math-verify is measured by `bench/verify/run.sh`.

use std::hint::black_box;

use aha_verify::{MathOptions, grade_answer, grade_math};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let opts = MathOptions::default();
    let pairs: &[(&str, &str, &str)] = &[
        ("integer", "42", "42"),
        ("fraction", "\\frac{1}{2}", "0.5"),
        ("radical", "\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt2}"),
        (
            "interval",
            "(-\\infty, 3] \\cup (5, \\infty)",
            "x \\le 3 \\text{ or } x > 5",
        ),
        ("polynomial", "(x+1)^3", "x^3+3x^2+3x+1"),
        ("tiny", "\\frac{1}{2004!}", "\\frac{1}{2006!}"),
        ("tower", "2003^{2002^{2001}}", "2003^{2002^{2001}} + 1"),
    ];
    for (name, gold, pred) in pairs {
        c.bench_function(&format!("grade_answer/{name}"), |b| {
            b.iter(|| grade_answer(black_box(pred), black_box(gold), &opts))
        });
    }
    let response = format!(
        "{}Therefore the final answer is $\\boxed{{\\frac{{3}}{{4}}}}$.",
        "Let me think step by step about the problem. ".repeat(40)
    );
    c.bench_function("grade_math/2kB_response", |b| {
        b.iter(|| grade_math(black_box(&response), black_box("0.75"), &opts))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
