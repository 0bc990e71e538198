//! Rules of the repository that a grep can check (docs/architecture.md):
//! - library crates take options as arguments: no environment variable is read in any crate's
//!   `src/` but the binary's (benches, examples and tests may read them);
//! - the repository stands alone: no source file, doc or script outside the tests, benches and
//!   examples refers to a `../shared` folder beside the clone (tests may read it for extra
//!   coverage and must pass without it).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if name != "target" && name != ".git" && name != "node_modules" {
                files(&p, exts, out);
            }
        } else if p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)) {
            out.push(p);
        }
    }
}

/// Lines of `text` that are code, not comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

#[test]
fn library_crates_read_no_environment_variables() {
    let root = root();
    let mut srcs = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        if entry.file_name() != "cli" {
            files(&entry.path().join("src"), &["rs"], &mut srcs);
        }
    }
    files(&root.join("python/src"), &["rs"], &mut srcs);
    assert!(srcs.len() > 50, "found only {} sources", srcs.len());
    let mut offenders = Vec::new();
    for f in &srcs {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in code_lines(&text) {
            if ["env::var(", "env::var_os(", "env::vars("]
                .iter()
                .any(|p| line.contains(p))
            {
                offenders.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "library code must take options as arguments (only the binary reads the environment):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn nothing_outside_tests_depends_on_a_shared_folder_beside_the_clone() {
    let root = root();
    let mut all = Vec::new();
    for dir in [
        "crates", "python", "docs", "scripts", "examples", "data", ".ci",
    ] {
        files(
            &root.join(dir),
            &["rs", "py", "md", "sh", "toml", "json", "txt"],
            &mut all,
        );
    }
    files(&root, &["md"], &mut all);
    files(&root.join(".ci"), &["run"], &mut all);
    let exempt = |p: &Path| {
        p.components().any(|c| {
            let c = c.as_os_str();
            c == "tests" || c == "benches" || c == "examples" || c == "results"
        })
    };
    let mut offenders = Vec::new();
    for f in all.iter().filter(|f| !exempt(f)) {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if line.contains("../shared") || line.contains("shared/data/") {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a user's clone has no ../shared folder:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_citation_of_notes_kept_outside_the_repository() {
    // The study's background notes live beside the clone, not in it; what the code relies on
    // is in docs/ (study.md, candle-notes.md, architecture.md). Spelled in pieces so this file
    // does not match itself.
    let names = [
        ["study", "-spec"].concat(),
        ["stack", "-notes"].concat(),
        ["ecosystem", ".md"].concat(),
        ["baselines", ".md"].concat(),
        ["docs/", "style.md"].concat(),
    ];
    let root = root();
    let mut all = Vec::new();
    for dir in [
        "crates", "python", "docs", "scripts", "examples", "data", "bench", "fuzz",
    ] {
        files(
            &root.join(dir),
            &["rs", "py", "md", "sh", "toml", "jsonl", "json"],
            &mut all,
        );
    }
    files(&root, &["md", "toml"], &mut all);
    let mut offenders = Vec::new();
    for f in &all {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if names.iter().any(|n| line.contains(n.as_str())) {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "cite docs/ in this repository instead:\n{}",
        offenders.join("\n")
    );
}
