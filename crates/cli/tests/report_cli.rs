//! `aha report` end to end on the aha-report fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../report/tests/fixtures")
        .join(name)
}

fn aha(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aha"))
        .arg("report")
        .args(args)
        .output()
        .expect("run aha");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn report_writes_the_page_and_one_svg_per_figure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let html = tmp.path().join("report.html");
    let svgs = tmp.path().join("figs");
    let (probe, grpo, dr) = (fixture("probe"), fixture("grpo"), fixture("dr-grpo"));
    let (code, stderr) = aha(&[
        probe.as_os_str(),
        grpo.as_os_str(),
        dr.as_os_str(),
        "--out".as_ref(),
        html.as_os_str(),
        "--svg-dir".as_ref(),
        svgs.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // 25 since the figures added for issue 16 (run analysis).
    assert!(stderr.contains("3 run(s), 25 figure(s)"), "{stderr}");
    let page = std::fs::read_to_string(&html).expect("report.html");
    let mut names: Vec<String> = std::fs::read_dir(&svgs)
        .expect("svg dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 25);
    for n in &names {
        let id = n.strip_suffix(".svg").expect("svg name");
        assert!(page.contains(&format!("id=\"{id}\"")), "{id} in page");
        let svg = std::fs::read_to_string(svgs.join(n)).expect("svg");
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{n}"
        );
        assert!(page.contains(&svg), "{n} is the inlined figure");
    }
}

#[test]
fn a_directory_without_outputs_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r.html");
    let (code, stderr) = aha(&[tmp.path().as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&tmp.path().display().to_string()) && stderr.contains("metrics.jsonl"),
        "{stderr}"
    );
    assert!(!out.exists());
}
