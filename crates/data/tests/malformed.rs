//! Property tests: arbitrary and mutated input never panics the loader or the parsers; errors
//! always name the file.

use aha_data::{LoadOptions, last_boxed, load, py_float_str};
use proptest::prelude::*;

const GOOD: &str = r#"{"problem": "What is $\\boxed{1}$?", "answer": ["1", 2.0], "id": 3, "prompt": [{"role": "user", "content": "x"}], "reward_model": {"ground_truth": {"target": 4, "numbers": [1, 3]}}}"#;

fn write_and_load(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    for lenient in [false, true] {
        match load(
            &path,
            &LoadOptions {
                lenient,
                ..LoadOptions::default()
            },
        ) {
            Ok(ds) => {
                for e in &ds.skipped {
                    prop_assert!(e.to_string().starts_with(name));
                }
            }
            Err(e) => prop_assert!(e.to_string().contains(name), "{e}"),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for name in ["x.jsonl", "x.json", "x.parquet", "x.arrow"] {
            write_and_load(name, &bytes)?;
        }
    }

    /// A valid row with one byte changed, spliced into a JSONL file and a JSON array.
    #[test]
    fn mutated_rows_never_panic(pos in 0..GOOD.len(), byte in any::<u8>(), lines in 1usize..4) {
        let mut row = GOOD.as_bytes().to_vec();
        row[pos] = byte;
        let mut jsonl = Vec::new();
        for _ in 0..lines {
            jsonl.extend_from_slice(GOOD.as_bytes());
            jsonl.push(b'\n');
        }
        jsonl.extend_from_slice(&row);
        write_and_load("m.jsonl", &jsonl)?;
        let mut arr = b"[".to_vec();
        arr.extend_from_slice(GOOD.as_bytes());
        arr.extend_from_slice(b",\n");
        arr.extend_from_slice(&row);
        arr.push(b']');
        write_and_load("m.json", &arr)?;
    }

    /// Random JSON-ish rows built from the field names the detector looks at.
    #[test]
    fn structured_rows_never_panic(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                (prop_oneof![Just("problem"), Just("question"), Just("prompt"), Just("answer"),
                             Just("final_answer"), Just("gt_answer"), Just("target"), Just("nums"),
                             Just("solution"), Just("id"), Just("idx"), Just("unique_id")],
                 prop_oneof![Just("null".to_string()), Just("1.5".to_string()), Just("-7".to_string()),
                             Just("[1,2]".to_string()), Just("[\"a\",null]".to_string()),
                             Just("{\"target\":1}".to_string()), Just("\"#### 1,000\"".to_string()),
                             Just("[{\"role\":\"user\"}]".to_string()), Just("1e400".to_string()),
                             "\"[^\"\\\\]{0,12}\"".prop_map(|s| s)]),
                0..6),
            1..5)
    ) {
        let text: String = rows
            .iter()
            .map(|fields| {
                let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}\n", body.join(", "))
            })
            .collect();
        write_and_load("s.jsonl", text.as_bytes())?;
    }

    #[test]
    fn last_boxed_never_panics(s in "\\PC{0,60}") {
        if let Some(b) = last_boxed(&s) {
            prop_assert!(s.contains(b));
        }
    }

    /// Python's repr is a round-trip format: the text parses back to the same float.
    #[test]
    fn py_float_str_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let s = py_float_str(x);
        prop_assert_eq!(s.parse::<f64>().unwrap(), x, "{}", s);
        prop_assert!(s.contains('.') || s.contains('e'), "{}", s);
    }
}
