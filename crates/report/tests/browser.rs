//! The report rendered by a real browser: headless Chromium (Debian's `chromium`; override with
//! `AHA_CHROMIUM`) screenshots the page, and the test checks the PNG has the requested size and
//! is far from blank. Without a Chromium the test prints a notice and returns, unless
//! `AHA_REQUIRE_CHROMIUM` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AHA_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// Screenshots `page` and returns the PNG bytes; kills the browser after two minutes.
fn screenshot(browser: &Path, page: &Path, png: &Path, dark: bool) -> Vec<u8> {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(browser)
        // Flags that work on a bare CI machine: no sandbox (root), no GPU, and nothing that
        // reaches the network or waits for first-run dialogs.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        // makes `prefers-color-scheme: dark` match
        .args(dark.then_some("--force-dark-mode"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read(png).expect("screenshot written")
}

/// Width and height from the PNG header (signature, then the IHDR chunk).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG"
    );
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn chromium_renders_the_report() {
    let Some(browser) = chromium() else {
        // CI sets AHA_REQUIRE_CHROMIUM=1 so that a missing browser fails instead of skipping.
        assert!(
            std::env::var_os("AHA_REQUIRE_CHROMIUM").is_none(),
            "AHA_REQUIRE_CHROMIUM is set but no chromium was found (set AHA_CHROMIUM)"
        );
        eprintln!("notice: no chromium found (set AHA_CHROMIUM); skipping the browser test");
        return;
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let runs: Vec<_> = ["probe", "grpo", "dr-grpo"]
        .iter()
        .map(|n| aha_report::load_dir(&fixtures.join(n)).expect("fixture"))
        .collect();
    let report = aha_report::build(&runs).expect("report");
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &report.html).expect("write page");
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").expect("write blank");

    let shot = screenshot(&browser, &page, &dir.path().join("report.png"), false);
    let empty = screenshot(&browser, &blank, &dir.path().join("blank.png"), false);
    let dark = screenshot(&browser, &page, &dir.path().join("dark.png"), true);
    assert_eq!(png_size(&shot), (WIDTH, HEIGHT));
    assert_eq!(png_size(&empty), (WIDTH, HEIGHT));
    // A blank page compresses to a few KB; charts, text and tables do not (the fixture report
    // measured ~19 KB blank vs ~370 KB rendered at 1400x3000).
    assert!(
        shot.len() > 5 * empty.len(),
        "screenshot looks blank: {} bytes vs {} for an empty page",
        shot.len(),
        empty.len()
    );
    assert_eq!(png_size(&dark), (WIDTH, HEIGHT));
    assert!(dark.len() > 5 * empty.len(), "dark screenshot looks blank");
    assert_ne!(dark, shot, "the dark colour scheme changes the page");
    // AHA_REPORT_SCREENSHOT=path.png keeps the screenshots (path.png and path-dark.png) to look at.
    if let Ok(keep) = std::env::var("AHA_REPORT_SCREENSHOT") {
        std::fs::write(&keep, &shot).expect("keep screenshot");
        let dark_path = match keep.strip_suffix(".png") {
            Some(stem) => format!("{stem}-dark.png"),
            None => format!("{keep}-dark"),
        };
        std::fs::write(dark_path, &dark).expect("keep dark screenshot");
    }
}

/// The report of a run imported with `aha analyse` (verl's own dump, written by verl's
/// `_write_generations`: crates/analyse/tests/fixtures/verl) renders in Chromium with its claims
/// table and the length + reflection figure. `AHA_REPORT_SCREENSHOT_IMPORTED=path.png` keeps the
/// screenshot to look at.
#[test]
fn chromium_renders_the_report_of_an_imported_run() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("AHA_REQUIRE_CHROMIUM").is_none(),
            "AHA_REQUIRE_CHROMIUM is set but no chromium was found (set AHA_CHROMIUM)"
        );
        eprintln!("notice: no chromium found (set AHA_CHROMIUM); skipping the browser test");
        return;
    };
    let verl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../analyse/tests/fixtures/verl");
    let dir = tempfile::tempdir().expect("tempdir");
    let analysis = dir.path().join("analysis");
    let input = aha_analyse::discover(&verl.join("rollout"), None, false).expect("verl dump");
    let eval = aha_analyse::discover(&verl.join("validation"), None, true).expect("verl eval");
    let mut settings =
        aha_analyse::Settings::new(aha_reflect::Keywords::preset("paper15").expect("preset"));
    settings.ema = 0.5;
    aha_analyse::analyse(
        &[input],
        &[eval],
        &settings,
        None,
        &analysis,
        &mut aha_analyse::NoProgress,
    )
    .expect("analyse");
    let run = aha_report::load_dir(&analysis).expect("load the analysis");
    let report = aha_report::build(&[run]).expect("report");
    for id in [
        "tab-claims",
        "fig-train-length-reflection",
        "fig-train-length-chars",
    ] {
        assert!(
            report.html.contains(&format!("id=\"{id}\"")),
            "{id} missing"
        );
    }
    let page = dir.path().join("imported.html");
    std::fs::write(&page, &report.html).expect("write page");
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").expect("write blank");
    let shot = screenshot(&browser, &page, &dir.path().join("imported.png"), false);
    let empty = screenshot(&browser, &blank, &dir.path().join("blank.png"), false);
    assert_eq!(png_size(&shot), (WIDTH, HEIGHT));
    assert!(
        shot.len() > 5 * empty.len(),
        "screenshot looks blank: {} bytes vs {} for an empty page",
        shot.len(),
        empty.len()
    );
    if let Ok(keep) = std::env::var("AHA_REPORT_SCREENSHOT_IMPORTED") {
        std::fs::write(&keep, &shot).expect("keep screenshot");
    }
}
