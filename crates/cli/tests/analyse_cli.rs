//! `aha analyse` on verl's own dump (crates/analyse/tests/fixtures), then `aha report` on the
//! result: the files, the file:line of a malformed line, and the claims table.

use std::path::Path;
use std::process::Command;

fn aha() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aha"))
}

#[test]
fn analyse_a_verl_dump_then_report_it() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../analyse/tests/fixtures/verl");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    for s in ["1", "2", "3"] {
        std::fs::copy(
            fixtures.join(format!("rollout/{s}.jsonl")),
            dump.join(format!("{s}.jsonl")),
        )
        .unwrap();
    }
    let mut two = std::fs::read_to_string(dump.join("2.jsonl")).unwrap();
    two.push_str("{broken\n");
    std::fs::write(dump.join("2.jsonl"), two).unwrap();
    let out = dir.path().join("analysis");
    let o = aha()
        .arg("analyse")
        .arg(&dump)
        .arg("--eval")
        .arg(fixtures.join("validation"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("2.jsonl:5: "),
        "the malformed line is named: {err}"
    );
    assert!(err.contains("3 step(s), 12 sample(s)"), "{err}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4); // steps 0 (eval only), 1, 2, 3
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["skipped_lines"], 1);
    assert_eq!(summary["agreement"]["rate"], 1.0);

    let page = dir.path().join("report.html");
    let o = aha()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("imported verl run"));
    assert!(html.contains("id=\"tab-claims\""));
    assert!(html.contains("id=\"fig-train-length-reflection\""));
    assert!(html.contains("id=\"fig-train-length-chars\""));
    // A bad flag is an error, not a panic.
    let o = aha()
        .args(["analyse", "--out"])
        .arg(&out)
        .arg(&dump)
        .args(["--ema", "1.5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
