//! Loads every file of the shared data folder with auto-detection and checks it against the
//! folder's README (row counts) and the study's data files (template texts). Skips with a notice
//! when the folder is absent: nothing in the crate needs it at run time.

use std::path::PathBuf;

use aha_data::{Gold, LoadOptions, Problem, Template, load};

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    );
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: shared data not found at {}; skipping (set AHA_SHARED_DATA)",
            dir.display()
        );
        None
    }
}

fn load_ok(dir: &std::path::Path, rel: &str) -> Vec<Problem> {
    let ds = load(&dir.join(rel), &LoadOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(ds.skipped.is_empty());
    ds.problems
}

/// (path, rows from the README).
const FILES: &[(&str, usize)] = &[
    ("benchmarks/math500.jsonl", 500),
    ("benchmarks/aime24.jsonl", 30),
    ("benchmarks/amc23.jsonl", 40),
    ("benchmarks/minerva_math.jsonl", 272),
    ("benchmarks/olympiadbench.jsonl", 675),
    ("benchmarks/gsm8k.jsonl", 1319),
    ("math/math_train.jsonl", 7500),
    ("math/math_test.jsonl", 5000),
    ("math/math_l3to5_8k.json", 8523),
    ("countdown/train.parquet", 8001),
    ("countdown/test.parquet", 2001),
    ("arrow-evaluation-suite/aime/data-00000-of-00001.arrow", 30),
    ("arrow-evaluation-suite/amc/data-00000-of-00001.arrow", 83),
    ("arrow-evaluation-suite/math/data-00000-of-00001.arrow", 500),
    (
        "arrow-evaluation-suite/minerva/data-00000-of-00001.arrow",
        272,
    ),
    (
        "arrow-evaluation-suite/olympiad_bench/data-00000-of-00001.arrow",
        675,
    ),
    ("oat-zero/math_train_500.json", 500),
    ("oat-zero/math_train_500_r1.json", 500),
];

#[test]
fn every_shared_file_loads_with_readme_row_counts() {
    let Some(dir) = shared() else { return };
    for (rel, rows) in FILES {
        let t = std::time::Instant::now();
        let ps = load_ok(&dir, rel);
        eprintln!("{rel}: {} rows in {:.1?}", ps.len(), t.elapsed());
        assert_eq!(ps.len(), *rows, "{rel}");
        let mut ids: Vec<&str> = ps.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), *rows, "{rel}: ids are not unique");
        let mut empty_gold = Vec::new();
        for p in &ps {
            assert!(
                !p.question.trim().is_empty(),
                "{rel} {}: empty question",
                p.id
            );
            match &p.gold {
                Gold::Answer(a) if a.trim().is_empty() => empty_gold.push(p.id.as_str()),
                Gold::Answer(_) => {}
                Gold::AnyOf(v) => assert!(!v.is_empty(), "{rel} {}", p.id),
                Gold::Countdown { numbers, .. } => assert!(numbers.len() >= 3, "{rel}"),
            }
        }
        // Two MATH train solutions really end in an empty `\boxed{}`: loaded as is (a grader
        // reports it as an unparseable gold), not silently dropped.
        let known: &[&str] = match *rel {
            "math/math_train.jsonl" => &[
                "train/number_theory/7115.json",
                "train/number_theory/7117.json",
            ],
            // The same two questions in LIMR's copy, with an empty `answer`.
            "math/math_l3to5_8k.json" => &[
                "73da0863-47b8-45fc-bd89-d190cf570aa9",
                "2705e82d-a4ad-4349-a256-657ad33899f9",
            ],
            _ => &[],
        };
        assert_eq!(empty_gold, known, "{rel}: empty gold answers");
    }
}

#[test]
fn datasetdict_directory_and_split() {
    let Some(dir) = shared() else { return };
    let suite = dir.join("arrow-evaluation-suite");
    let opts = |split: Option<&str>| LoadOptions {
        split: split.map(String::from),
        ..LoadOptions::default()
    };
    let amc = load(&suite, &opts(Some("amc"))).unwrap();
    assert_eq!(amc.problems.len(), 83);
    let err = load(&suite, &opts(None)).unwrap_err().to_string();
    assert!(
        err.contains("aime, amc, math, minerva, olympiad_bench"),
        "{err}"
    );
    let err = load(&suite, &opts(Some("test"))).unwrap_err().to_string();
    assert!(err.contains("no split \"test\""), "{err}");
    // A save_to_disk Dataset directory (state.json) without naming the .arrow file.
    assert_eq!(
        load(&suite.join("math"), &opts(None))
            .unwrap()
            .problems
            .len(),
        500
    );
}

#[test]
fn answers_are_detected_per_dataset() {
    let Some(dir) = shared() else { return };
    // MATH500 JSONL: `answer` wins over the solution; id from unique_id.
    let m = load_ok(&dir, "benchmarks/math500.jsonl");
    assert_eq!(m[0].id, "test/precalculus/807.json");
    assert_eq!(
        m[0].gold,
        Gold::Answer(r"\left( 3, \frac{\pi}{2} \right)".into())
    );
    assert!(m[0].meta.contains_key("solution") && !m[0].meta.contains_key("answer"));
    // MATH train: last \boxed{} of the solution.
    let t = load_ok(&dir, "math/math_test.jsonl");
    assert_eq!(t[0].id, "test/algebra/1.json");
    assert_eq!(t[0].gold, Gold::Answer("2".into()));
    // GSM8K: after ####, thousands separators dropped.
    let g = load_ok(&dir, "benchmarks/gsm8k.jsonl");
    assert_eq!(
        (g[0].id.as_str(), &g[0].gold),
        ("0", &Gold::Answer("18".into()))
    );
    assert!(g.iter().all(|p| match &p.gold {
        Gold::Answer(a) => !a.contains(',') && !a.contains('#'),
        _ => false,
    }));
    // AMC (Arrow, f64 answers): Python str() plus the integer.
    let amc = load_ok(&dir, "arrow-evaluation-suite/amc/data-00000-of-00001.arrow");
    assert_eq!(amc[0].gold, Gold::Answer("142.0".into()));
    assert_eq!(amc[0].meta["answer_int"], 142);
    assert_eq!(amc[0].id, "0");
    let amc23 = load_ok(&dir, "benchmarks/amc23.jsonl");
    assert_eq!(amc23[0].gold, Gold::Answer("27.0".into()));
    assert_eq!(amc23[0].meta["answer_int"], 27);
    // AIME keeps leading zeros.
    let aime = load_ok(
        &dir,
        "arrow-evaluation-suite/aime/data-00000-of-00001.arrow",
    );
    assert!(aime.iter().any(|p| p.gold == Gold::Answer("025".into())));
    // Minerva (Arrow list<str>): any-of, verbatim (trailing newlines kept).
    let mv = load_ok(
        &dir,
        "arrow-evaluation-suite/minerva/data-00000-of-00001.arrow",
    );
    assert_eq!(mv[0].gold, Gold::AnyOf(vec!["9.6\n".into()]));
    let sizes = |n: usize| mv.iter().filter(|p| p.gold.answers().len() == n).count();
    // As in the paper's evaluation files (docs/study.md, "Evaluation and training sets").
    assert_eq!((sizes(1), sizes(2), sizes(3)), (197, 71, 4));
    // OlympiadBench JSONL: final_answer list; question from `question`.
    let ob = load_ok(&dir, "benchmarks/olympiadbench.jsonl");
    assert_eq!(ob[0].id, "1606");
    assert!(matches!(&ob[0].gold, Gold::AnyOf(v) if v.len() == 1));
    // LIMR JSON array: question from `prompt`.
    let l = load_ok(&dir, "math/math_l3to5_8k.json");
    assert_eq!(l[0].id, "d10e806e-da93-43fd-a9dd-c5018f143037");
    assert_eq!(l[0].gold, Gold::Answer("118".into()));
    assert!(
        l[0].question
            .starts_with("Let $a$ and $b$ be the two real values")
    );
    // Countdown parquet: target + nums; question from the chat list's user message.
    let cd = load_ok(&dir, "countdown/train.parquet");
    assert_eq!(
        cd[0].gold,
        Gold::Countdown {
            target: 98,
            numbers: vec![44, 19, 35]
        }
    );
    assert!(cd[0].question.contains("Using the numbers [44, 19, 35]"));
    assert_eq!(cd[0].meta["reward_model"]["ground_truth"]["target"], 98);
}

/// The blog-era templates are byte-identical to the `input` field of the study's data files.
#[test]
fn blog_templates_match_the_oat_zero_inputs() {
    let Some(dir) = shared() else { return };
    for (rel, template) in [
        ("oat-zero/math_train_500.json", Template::QwenMathBlog),
        ("oat-zero/math_train_500_r1.json", Template::R1Blog),
    ] {
        let ps = load_ok(&dir, rel);
        for p in &ps {
            let want = p.meta["input"].as_str().unwrap();
            let got = template.render(p).unwrap();
            assert_eq!(got.text(), Some(want), "{rel} {}", p.id);
        }
    }
}

/// The Countdown template reproduces TinyZero's prompt of every row from target and numbers.
#[test]
fn countdown_template_matches_tinyzero_prompts() {
    let Some(dir) = shared() else { return };
    for rel in ["countdown/train.parquet", "countdown/test.parquet"] {
        for p in load_ok(&dir, rel) {
            let got = Template::Countdown.render(&p).unwrap();
            assert_eq!(got.text(), Some(p.question.as_str()), "{rel} {}", p.id);
        }
    }
}
