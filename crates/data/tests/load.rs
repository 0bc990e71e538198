//! Loading the in-repo fixtures: every format, auto-detection, field mapping, errors.

use std::path::PathBuf;

use aha_data::{Error, FieldMap, Format, Gold, LoadOptions, Location, load};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

#[test]
fn jsonl_autodetect() {
    let ds = load(&fixture("mini.jsonl"), &opts()).unwrap();
    let p = &ds.problems;
    assert_eq!(p.len(), 4, "the blank line is skipped");
    assert_eq!(p[0].id, "test/prealgebra/1.json");
    assert_eq!(p[0].question, "What is $1+1$?");
    assert_eq!(p[0].gold, Gold::Answer("2".into()));
    // Used fields leave meta; the rest stays.
    assert_eq!(
        p[0].meta.keys().collect::<Vec<_>>(),
        ["level", "solution", "subject"]
    );
    assert_eq!(
        (p[1].id.as_str(), &p[1].gold),
        ("7", &Gold::Answer("1600".into()))
    );
    // No id field: the 0-based row index (blank lines do not count).
    assert_eq!(p[2].id, "2");
    assert_eq!(
        p[2].gold,
        Gold::Answer(r"\frac{1}{2}".into()),
        "the LAST box"
    );
    assert_eq!(p[3].id, "1606");
    assert_eq!(p[3].gold, Gold::AnyOf(vec!["$2$".into(), "$3$".into()]));
    assert_eq!(p[3].meta["context"], json!(null));
}

#[test]
fn json_array_autodetect() {
    let ds = load(&fixture("mini.json"), &opts()).unwrap();
    let p = &ds.problems;
    assert_eq!(p.len(), 3);
    assert_eq!(
        p[0].gold,
        Gold::Answer("6".into()),
        "JSON integers stay integers"
    );
    assert!(!p[0].meta.contains_key("answer_int"));
    assert_eq!(
        p[1].question, r"What is $0.5 \cdot 3$?",
        "the user message of a chat list"
    );
    assert_eq!(p[1].gold, Gold::Answer("1.5".into()));
    assert!(!p[1].meta.contains_key("answer_int"), "1.5 is not integral");
    assert_eq!(
        p[2].gold,
        Gold::Countdown {
            target: 24,
            numbers: vec![2, 3, 4]
        },
        "CountDownZero's gt_answer JSON string"
    );
}

#[test]
fn parquet_countdown() {
    let ds = load(&fixture("countdown.parquet"), &opts()).unwrap();
    let p = &ds.problems;
    assert_eq!(p.len(), 3);
    assert_eq!(
        p[2].gold,
        Gold::Countdown {
            target: 28,
            numbers: vec![1, 5, 7, 3]
        }
    );
    assert_eq!(p[2].id, "2");
    assert!(
        p[0].question
            .contains("Using the numbers [44, 19, 35], create an equation that equals 98.")
    );
    assert_eq!(
        p[1].meta["extra_info"],
        json!({"index": 1, "split": "train"})
    );
    assert_eq!(
        p[1].meta["reward_model"]["ground_truth"]["numbers"],
        json!([63, 95, 96])
    );
}

#[test]
fn arrow_stream_datasetdict_and_floats() {
    let suite = fixture("evalsuite");
    let amc = load(
        &suite,
        &LoadOptions {
            split: Some("amc".into()),
            ..opts()
        },
    )
    .unwrap();
    let p = &amc.problems;
    assert_eq!(amc.files, [suite.join("amc/data-00000-of-00001.arrow")]);
    assert_eq!(p.len(), 3, "two record batches concatenated");
    assert_eq!(p[0].gold, Gold::Answer("142.0".into()));
    assert_eq!(p[0].meta["answer_int"], json!(142));
    assert_eq!(p[1].gold, Gold::Answer("1.5".into()));
    assert_eq!(p[2].gold, Gold::Answer("1e+16".into()), "Python str(1e16)");
    assert_eq!(p[2].meta["answer_int"], json!(10_000_000_000_000_000_i64));
    assert_eq!(p[0].meta["difficulty"], json!(1.0));
    // The .arrow file on its own, and the split directory on its own.
    let direct = load(&suite.join("minerva/data-00000-of-00001.arrow"), &opts()).unwrap();
    let dir = load(&suite.join("minerva"), &opts()).unwrap();
    assert_eq!(direct.problems, dir.problems);
    assert_eq!(
        dir.problems[1].gold,
        Gold::AnyOf(vec!["3e5".into(), "300000".into()])
    );
    assert_eq!(dir.problems[0].gold, Gold::AnyOf(vec!["9.6\n".into()]));
}

#[test]
fn arrow_file_format() {
    let ds = load(&fixture("file_format.arrow"), &opts()).unwrap();
    let p = &ds.problems;
    assert_eq!(
        (p[0].id.as_str(), p[0].question.as_str()),
        ("10", "What is 6 times 7?")
    );
    assert_eq!(p[0].gold, Gold::Answer("42".into()));
    assert_eq!(p[1].meta["level"], json!(null));
}

#[test]
fn explicit_field_mapping() {
    let fields = FieldMap {
        question: Some("solution".into()),
        answer: Some("subject".into()),
        id: Some("level".into()),
    };
    let ds = load(
        &fixture("mini.jsonl"),
        &LoadOptions {
            fields,
            lenient: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(ds.problems.len(), 1);
    let p = &ds.problems[0];
    assert_eq!(
        (p.id.as_str(), &p.gold),
        ("1", &Gold::Answer("Prealgebra".into()))
    );
    assert!(p.question.starts_with("We add"));
    // The other rows lack the mapped fields: each is named.
    let msgs: Vec<String> = ds.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "mini.jsonl:2: field \"solution\": missing",
            "mini.jsonl:4: field \"subject\": missing",
            "mini.jsonl:5: field \"solution\": missing",
        ]
    );
    // Dotted paths reach nested fields.
    let ds = load(
        &fixture("countdown.parquet"),
        &LoadOptions {
            fields: FieldMap {
                answer: Some("reward_model.ground_truth".into()),
                id: Some("extra_info.index".into()),
                ..FieldMap::default()
            },
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(ds.problems[1].id, "1");
    assert_eq!(
        ds.problems[1].gold,
        Gold::Countdown {
            target: 64,
            numbers: vec![63, 95, 96]
        }
    );
}

#[test]
fn strict_mode_lists_every_bad_row() {
    let err = load(&fixture("bad.jsonl"), &opts()).unwrap_err();
    let Error::Rows(rows) = &err else {
        panic!("expected Rows, got {err}")
    };
    let got: Vec<String> = rows.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "bad.jsonl:2: field \"problem\": expected a string or a chat message list, got number",
            "bad.jsonl:3: field \"answer\": no answer field (tried answer, final_answer, gt_answer, ground_truth_answer, target, solution)",
            "bad.jsonl:4: invalid JSON: expected ident at line 1 column 2",
            "bad.jsonl:5: expected a JSON object, got list",
            "bad.jsonl:6: field \"answer\": expected a list of strings, found object in it",
            "bad.jsonl:7: field \"solution\": no \\boxed{} answer in the solution",
            "bad.jsonl:8: field \"id\": expected a string or an integer id, got number",
        ]
    );
    assert_eq!(rows[0].location, Location::Line { line: 2, row: 1 });
    assert!(
        err.to_string()
            .starts_with("7 bad rows: bad.jsonl:2: field \"problem\"")
    );
    assert!(err.to_string().ends_with("; ... and 2 more"));
}

#[test]
fn lenient_mode_keeps_good_rows() {
    let ds = load(
        &fixture("bad.jsonl"),
        &LoadOptions {
            lenient: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(ds.problems.len(), 1);
    assert_eq!(ds.problems[0].question, "fine");
    assert_eq!(ds.skipped.len(), 7);
}

#[test]
fn json_array_errors_name_the_line() {
    let err = load(&fixture("bad.json"), &opts()).unwrap_err().to_string();
    assert_eq!(
        err,
        "2 bad rows: bad.json:3: field \"answer\": no answer field (tried answer, final_answer, gt_answer, ground_truth_answer, target, solution); \
         bad.json:7: field \"prompt\": chat message list has no user message"
    );
}

#[test]
fn whole_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.json");
    std::fs::write(
        &p,
        "[{\"problem\": \"a\", \"answer\": \"1\"},\n {\"problem\": ",
    )
    .unwrap();
    let e = load(&p, &opts()).unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("line 2"), "{e}");

    let p = dir.path().join("wrapped.json");
    std::fs::write(
        &p,
        "{\n  \"data\": [{\"problem\": \"a\", \"answer\": \"1\"}]\n}\n",
    )
    .unwrap();
    let e = load(&p, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("wrapped.json: one multi-line JSON object"),
        "{e}"
    );

    let p = dir.path().join("data.txt");
    std::fs::write(&p, "x").unwrap();
    let e = load(&p, &opts()).unwrap_err().to_string();
    assert!(e.contains("unknown extension"), "{e}");
    // ... unless the format is given.
    std::fs::write(&p, "{\"problem\": \"a\", \"answer\": \"1\"}\n").unwrap();
    let ds = load(
        &p,
        &LoadOptions {
            format: Some(Format::Jsonl),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(ds.problems.len(), 1);

    let p = dir.path().join("fake.parquet");
    std::fs::write(&p, "not parquet").unwrap();
    let e = load(&p, &opts()).unwrap_err().to_string();
    assert!(e.contains("fake.parquet: Parquet:"), "{e}");
    let p = dir.path().join("fake.arrow");
    std::fs::write(&p, "not arrow at all").unwrap();
    let e = load(&p, &opts()).unwrap_err().to_string();
    assert!(e.contains("fake.arrow: Arrow IPC:"), "{e}");

    let e = load(&dir.path().join("missing.jsonl"), &opts()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    let e = load(
        &fixture("mini.jsonl"),
        &LoadOptions {
            split: Some("train".into()),
            ..opts()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("only applies to a save_to_disk DatasetDict"),
        "{e}"
    );
}

#[test]
fn shuffle_limit_split_are_seeded() {
    let ds = load(&fixture("countdown.parquet"), &opts()).unwrap();
    let ids = |d: &aha_data::Dataset| d.problems.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    let a = ds.clone().shuffled(1);
    assert_eq!(ids(&a), ids(&ds.clone().shuffled(1)));
    let mut sorted = ids(&a);
    sorted.sort();
    assert_eq!(sorted, ["0", "1", "2"]);
    assert_eq!(ds.clone().limited(2).problems.len(), 2);
    assert_eq!(ds.get("1").map(|p| p.id.as_str()), Some("1"));

    let many: Vec<u32> = (0..100).collect();
    let (mut x, mut y) = (many.clone(), many.clone());
    aha_data::shuffle(&mut x, 42);
    aha_data::shuffle(&mut y, 43);
    assert_ne!(x, many);
    assert_ne!(x, y, "different seeds, different orders");

    let (train, test) = aha_data::train_test_split(ds.problems.clone(), 1.0 / 3.0, 5).unwrap();
    assert_eq!((train.len(), test.len()), (2, 1));
    assert!(aha_data::train_test_split(ds.problems, 1.5, 5).is_err());
}

#[test]
fn duplicate_ids_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dup.jsonl");
    std::fs::write(
        &p,
        "{\"problem\": \"a\", \"answer\": \"1\", \"id\": 5}\n{\"problem\": \"b\", \"answer\": \"2\", \"id\": \"x\"}\n{\"problem\": \"c\", \"answer\": \"3\", \"id\": \"5\"}\n",
    )
    .unwrap();
    let ds = load(&p, &opts()).unwrap();
    let e = ds.check_unique_ids().unwrap_err().to_string();
    assert!(
        e.contains("duplicate problem id \"5\" (problems 0 and 2)"),
        "{e}"
    );
    load(&fixture("mini.jsonl"), &opts())
        .unwrap()
        .check_unique_ids()
        .unwrap();
}

#[test]
fn formats_and_templates_parse_from_strings() {
    assert_eq!("jsonl".parse::<Format>().unwrap(), Format::Jsonl);
    assert_eq!("arrow".parse::<Format>().unwrap(), Format::Arrow);
    assert!(
        "csv"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("unknown format \"csv\"")
    );
    let t: aha_data::Template = "qwen-math".parse().unwrap();
    assert_eq!(t.answer_format().as_str(), "boxed");
    assert_eq!(
        aha_data::Template::R1.answer_format().as_str(),
        "answer_tag"
    );
}
