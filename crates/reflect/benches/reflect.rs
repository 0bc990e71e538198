//! Throughput of keyword analysis and of keyword + SSR analysis, per core (single thread).
//!
//! Corpus: the solutions of MATH train (`../shared/data/math/math_train.jsonl`, or
//! `AHA_SHARED_DATA`), each followed by a reflection paragraph so SSR has work to do; without
//! the data, the SSR fixtures repeated. Run:
//! `cargo bench -p aha-reflect --bench reflect -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::path::PathBuf;

use aha_reflect::{KeywordDetector, Keywords, MatchMode, classify_with_report};
use aha_verify::{MathOptions, extract_answer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// (response, gold) pairs.
fn corpus() -> Vec<(String, String)> {
    let dir = std::env::var_os("AHA_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let opts = MathOptions::default();
    let tail = [
        "\n\nLet me recheck this result once more by substituting back. It holds.",
        "\n\nWait, let me re-evaluate the second step; I think I double-counted. Let me reconsider.",
        "",
        "\n\nTo double-check, we go over the steps again and verify again the arithmetic.",
    ];
    if let Ok(text) = std::fs::read_to_string(dir.join("math/math_train.jsonl")) {
        return text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                let sol = v["solution"].as_str()?;
                let gold = extract_answer(sol, &opts)?.text;
                Some((format!("{sol}{}", tail[i % tail.len()]), gold))
            })
            .collect();
    }
    eprintln!("notice: shared data absent; benchmarking the SSR fixtures");
    let text = include_str!("../tests/fixtures/ssr_cases.jsonl");
    let cases: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some((v["response"].as_str()?.to_string(), v["gold"].as_str()?.to_string()))
        })
        .collect();
    cases.iter().cycle().take(cases.len() * 200).cloned().collect()
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let bytes: u64 = corpus.iter().map(|(r, _)| r.len() as u64).sum();
    let kw = Keywords::preset("paper15").expect("preset");
    let sub = KeywordDetector::new(&kw, MatchMode::Substring).expect("detector");
    let word = KeywordDetector::new(&kw, MatchMode::Word).expect("detector");
    let opts = MathOptions::default();

    let mut g = c.benchmark_group("reflect");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("keywords_count_paper15_substring", |b| {
        b.iter(|| corpus.iter().map(|(r, _)| sub.count(black_box(r))).sum::<usize>())
    });
    g.bench_function("keywords_analyze_paper15_substring", |b| {
        b.iter(|| corpus.iter().map(|(r, _)| sub.analyze(black_box(r)).total).sum::<usize>())
    });
    g.bench_function("keywords_analyze_paper15_word", |b| {
        b.iter(|| corpus.iter().map(|(r, _)| word.analyze(black_box(r)).total).sum::<usize>())
    });
    g.bench_function("keywords_plus_ssr_paper15", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(r, gold)| {
                    let rep = sub.analyze(black_box(r));
                    classify_with_report(r, &rep, gold, &opts).reflections
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
