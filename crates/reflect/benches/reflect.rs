//! Throughput of keyword analysis and of keyword + SSR analysis, per core (single thread).
//!
//! Corpus: the solutions of MATH train (`math/math_train.jsonl` under `AHA_DATA_DIR`, a copy of
//! the MATH dataset the user provides; the repository does not ship it), each followed by a
//! reflection paragraph so SSR has work to do; without it, the SSR fixtures repeated. Run:
//! `cargo bench -p aha-reflect --bench reflect -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use aha_reflect::{KeywordDetector, Keywords, MatchMode, classify_with_report};
use aha_verify::{MathOptions, extract_answer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// (response, gold) pairs.
fn corpus() -> Vec<(String, String)> {
    let dir = std::env::var_os("AHA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"));
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
    eprintln!("notice: no math/math_train.jsonl under AHA_DATA_DIR; benchmarking the SSR fixtures");
    let text = include_str!("../tests/fixtures/ssr_cases.jsonl");
    let cases: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some((
                v["response"].as_str()?.to_string(),
                v["gold"].as_str()?.to_string(),
            ))
        })
        .collect();
    cases
        .iter()
        .cycle()
        .take(cases.len() * 200)
        .cloned()
        .collect()
}

/// The peer: the study's own Python expression on the same texts, timed in the same run
/// (best of 3), next to aha's count on one core. Prints both and their ratio.
fn python_peer(corpus: &[(String, String)], kw: &Keywords, sub: &KeywordDetector) {
    const PY: &str = r#"
import json, sys, time
kws = json.loads(sys.argv[1])
texts = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
best = None
for _ in range(3):
    t = time.perf_counter()
    total = sum(sum(x.lower().count(k) for k in kws) for x in texts)
    d = time.perf_counter() - t
    best = d if best is None else min(best, d)
print(total, best)
"#;
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("texts.jsonl");
    let Ok(file) = std::fs::File::create(&path) else {
        return;
    };
    let mut f = std::io::BufWriter::new(file);
    for (r, _) in corpus {
        let _ = serde_json::to_writer(&mut f, r);
        let _ = f.write_all(b"\n");
    }
    drop(f);
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(serde_json::json!(kw.words()).to_string())
        .arg(&path)
        .output();
    let Ok(out) = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) else {
        eprintln!("notice: python3 not available; no peer figure");
        return;
    };
    let mut it = out.split_whitespace();
    let (Some(Ok(py_total)), Some(Ok(py_secs))) = (
        it.next().map(str::parse::<usize>),
        it.next().map(str::parse::<f64>),
    ) else {
        eprintln!("notice: python3 peer failed: {out}");
        return;
    };
    let mut best = f64::INFINITY;
    let mut total = 0;
    for _ in 0..3 {
        let t = Instant::now();
        total = corpus
            .iter()
            .map(|(r, _)| sub.count(black_box(r)))
            .sum::<usize>();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mb = corpus.iter().map(|(r, _)| r.len()).sum::<usize>() as f64 / 1e6;
    assert_eq!(
        total, py_total,
        "aha and Python disagree on the corpus total"
    );
    eprintln!(
        "peer: python3 sum(text.lower().count(k)) {:.1} MB/s, aha count {:.1} MB/s, ratio {:.1}x \
         ({mb:.1} MB, {total} keyword occurrences, best of 3 each)",
        mb / py_secs,
        mb / best,
        py_secs / best
    );
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let bytes: u64 = corpus.iter().map(|(r, _)| r.len() as u64).sum();
    let kw = Keywords::preset("paper15").expect("preset");
    let sub = KeywordDetector::new(&kw, MatchMode::Substring).expect("detector");
    python_peer(&corpus, &kw, &sub);
    let word = KeywordDetector::new(&kw, MatchMode::Word).expect("detector");
    let opts = MathOptions::default();

    let mut g = c.benchmark_group("reflect");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("keywords_count_paper15_substring", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(r, _)| sub.count(black_box(r)))
                .sum::<usize>()
        })
    });
    g.bench_function("keywords_analyze_paper15_substring", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(r, _)| sub.analyze(black_box(r)).total)
                .sum::<usize>()
        })
    });
    g.bench_function("keywords_analyze_paper15_word", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|(r, _)| word.analyze(black_box(r)).total)
                .sum::<usize>()
        })
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
