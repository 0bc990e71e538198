//! SSR classification on hand-labelled responses (`fixtures/ssr_cases.jsonl`, `label` written
//! by hand per the rules in the crate docs) and golden full reports (`fixtures/ssr_golden.jsonl`;
//! rewrite with `UPDATE_GOLDEN=1` and review the diff).

use std::path::PathBuf;

use aha_reflect::{KeywordDetector, Keywords, MatchMode, SsrCategory, classify_ssr};
use aha_verify::MathOptions;

#[derive(serde::Deserialize)]
struct Case {
    id: String,
    label: String,
    gold: String,
    response: String,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn hand_labels_and_golden_reports() {
    let text = std::fs::read_to_string(fixtures().join("ssr_cases.jsonl")).unwrap();
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(cases.len() >= 40);
    let detector =
        KeywordDetector::new(&Keywords::preset("paper15").unwrap(), MatchMode::Substring).unwrap();
    let opts = MathOptions::default();

    let mut seen = std::collections::BTreeSet::new();
    let mut wrong = Vec::new();
    let mut golden = String::new();
    for c in &cases {
        let r = classify_ssr(&c.response, &c.gold, &detector, &opts);
        if r.category.as_str() != c.label {
            wrong.push(format!(
                "{}: labelled {}, got {} (prior {:?} {:?}, final {:?} {:?})",
                c.id,
                c.label,
                r.category.as_str(),
                r.prior_answer,
                r.prior_verdict,
                r.final_answer,
                r.final_verdict
            ));
        }
        seen.insert(r.category);
        golden
            .push_str(&serde_json::to_string(&serde_json::json!({"id": c.id, "ssr": r})).unwrap());
        golden.push('\n');
    }
    assert!(
        wrong.is_empty(),
        "hand labels disagree:\n{}",
        wrong.join("\n")
    );
    for cat in SsrCategory::ALL {
        assert!(seen.contains(&cat), "no fixture for {}", cat.as_str());
    }

    let path = fixtures().join("ssr_golden.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &golden).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .expect("fixtures/ssr_golden.jsonl missing: run with UPDATE_GOLDEN=1 and review it");
    for (i, (w, g)) in want.lines().zip(golden.lines()).enumerate() {
        assert_eq!(
            w,
            g,
            "golden line {}: expected (above) vs actual (below)",
            i + 1
        );
    }
    assert_eq!(want.lines().count(), golden.lines().count());
}

#[test]
fn ssr_serialises_with_arrow_names() {
    let names: Vec<String> = SsrCategory::ALL
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "\"C->C\"",
            "\"W->C\"",
            "\"C->W\"",
            "\"W->W\"",
            "\"none\"",
            "\"no_prior_answer\"",
            "\"gold_unparseable\""
        ]
    );
}
