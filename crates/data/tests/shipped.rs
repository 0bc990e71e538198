//! Every data set shipped in the repository's `data/` folder loads with auto-detected fields and
//! the row count its table gives, and its short name resolves to it.

use std::path::PathBuf;

use aha_data::{DataSource, Gold, LoadOptions, SHIPPED, load, resolve_data};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

#[test]
fn every_shipped_set_loads_by_its_short_name() {
    let dir = data_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("data/README.md");
    for s in SHIPPED {
        let DataSource::Path(path) = resolve_data(s.name, &dir).unwrap() else {
            panic!("{} did not resolve to a path", s.name)
        };
        assert_eq!(path, dir.join(s.file));
        let ds = load(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(ds.problems.len(), s.rows, "{}", s.name);
        ds.check_unique_ids().unwrap();
        assert!(
            ds.problems.iter().all(|p| !p.question.trim().is_empty()),
            "{}: empty question",
            s.name
        );
        let rows = format!("{}", s.rows);
        let row_text = format!("| `{}` | `{}` |", s.name, s.file);
        let line = readme
            .lines()
            .find(|l| l.starts_with(&row_text))
            .unwrap_or_else(|| panic!("data/README.md has no row for {}", s.name));
        let with_comma = if s.rows >= 1000 {
            format!("{},{:03}", s.rows / 1000, s.rows % 1000)
        } else {
            rows
        };
        assert!(line.contains(&format!("| {with_comma} |")), "{line}");
    }
}

#[test]
fn countdown_and_list_answers_are_detected() {
    let dir = data_dir();
    let ds = load(&dir.join("countdown/test.parquet"), &LoadOptions::default()).unwrap();
    assert!(matches!(ds.problems[0].gold, Gold::Countdown { .. }));
    let ds = load(
        &dir.join("benchmarks/olympiadbench.jsonl"),
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(matches!(ds.problems[0].gold, Gold::AnyOf(_)));
}
