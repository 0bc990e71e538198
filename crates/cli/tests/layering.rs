//! The dependency direction is part of the design (docs/architecture.md, "Layering rules"): the
//! pure crates that grade and analyse must stay free of async runtimes, HTTP stacks and ML
//! frameworks, so that they build fast, run anywhere (Python wheel, reward server threads) and
//! never hang on a runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Crates that must not pull in any of [`FORBIDDEN`], even transitively (normal dependencies).
const PURE: &[&str] = &[
    "aha-verify",
    "aha-rundir",
    "aha-reflect",
    "aha-data",
    "aha-report",
    "aha-analyse",
];

/// Async runtimes, HTTP stacks, ML frameworks and binding layers.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "axum",
    "candle-core",
    "candle-nn",
    "tokenizers",
    "pyo3",
];

/// Internal edges each workspace crate may have (normal dependencies only).
fn allowed_internal() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("aha-verify", &[][..]),
        ("aha-rundir", &[][..]),
        ("aha-data", &["aha-verify"][..]),
        ("aha-reflect", &["aha-verify"][..]),
        (
            "aha-analyse",
            &["aha-verify", "aha-reflect", "aha-rundir"][..],
        ),
        ("aha-tokenizer", &[][..]),
        ("aha-model", &["aha-tokenizer"][..]),
        (
            "aha-train",
            &[
                "aha-model",
                "aha-tokenizer",
                "aha-data",
                "aha-verify",
                "aha-reflect",
                "aha-analyse",
                "aha-rundir",
            ][..],
        ),
        ("aha-openai", &[][..]),
        ("aha-hub", &[][..]),
        ("aha-http-limits", &[][..]),
        (
            "aha-reward-server",
            &["aha-verify", "aha-reflect", "aha-http-limits"][..],
        ),
        (
            "aha-model-server",
            &[
                "aha-openai",
                "aha-sample",
                "aha-tokenizer",
                "aha-http-limits",
            ][..],
        ),
        ("aha-python", &["aha-verify", "aha-reflect"][..]),
        ("aha-report", &["aha-reflect", "aha-analyse"][..]),
        (
            "aha-demo",
            &[
                "aha-verify",
                "aha-reflect",
                "aha-data",
                "aha-model",
                "aha-tokenizer",
                "aha-train",
                "aha-probe",
                "aha-sample",
                "aha-report",
                "aha-rundir",
            ][..],
        ),
        (
            "aha-sample",
            &[
                "aha-data",
                "aha-openai",
                "aha-reflect",
                "aha-model",
                "aha-tokenizer",
            ][..],
        ),
        (
            "aha-probe",
            &[
                "aha-data",
                "aha-sample",
                "aha-verify",
                "aha-reflect",
                "aha-rundir",
            ][..],
        ),
    ])
}

struct Graph {
    /// package id -> package name
    names: BTreeMap<String, String>,
    /// package id -> ids of its normal (non-dev, non-build) dependencies
    normal_deps: BTreeMap<String, Vec<String>>,
    workspace: BTreeSet<String>,
}

fn metadata() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let mut names = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        names.insert(
            p["id"].as_str().expect("id").to_string(),
            p["name"].as_str().expect("name").to_string(),
        );
    }
    let workspace = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|v| v.as_str().expect("member id").to_string())
        .collect();
    let mut normal_deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let id = node["id"].as_str().expect("node id").to_string();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .map(|d| d["pkg"].as_str().expect("dep pkg").to_string())
            .collect();
        normal_deps.insert(id, deps);
    }
    Graph {
        names,
        normal_deps,
        workspace,
    }
}

fn id_of(g: &Graph, name: &str) -> Option<String> {
    g.workspace
        .iter()
        .find(|id| g.names.get(*id).map(String::as_str) == Some(name))
        .cloned()
}

#[test]
fn pure_crates_have_no_async_or_ml_dependencies() {
    let g = metadata();
    for pure in PURE {
        let Some(root) = id_of(&g, pure) else {
            panic!("workspace crate {pure} not found");
        };
        let mut seen = BTreeSet::new();
        let mut stack = vec![(root, vec![pure.to_string()])];
        while let Some((id, path)) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            for dep in g.normal_deps.get(&id).into_iter().flatten() {
                let name = &g.names[dep];
                let mut p = path.clone();
                p.push(name.clone());
                assert!(
                    !FORBIDDEN.contains(&name.as_str()),
                    "pure crate {pure} depends on {name}: {}",
                    p.join(" -> ")
                );
                stack.push((dep.clone(), p));
            }
        }
    }
}

#[test]
fn internal_dependencies_follow_the_data_flow() {
    let g = metadata();
    let allowed = allowed_internal();
    for id in &g.workspace {
        let name = g.names[id].as_str();
        if name == "aha" {
            continue; // the composition root may depend on everything
        }
        let internal: Vec<&str> = g.normal_deps[id]
            .iter()
            .filter(|d| g.workspace.contains(*d))
            .map(|d| g.names[d].as_str())
            .collect();
        let Some(ok) = allowed.get(name) else {
            panic!(
                "workspace crate {name} is not in the layering table of crates/cli/tests/layering.rs; \
                 add it with its allowed internal dependencies"
            );
        };
        for dep in internal {
            assert!(
                ok.contains(&dep),
                "{name} may not depend on {dep} (allowed: {ok:?}); update the layering table deliberately"
            );
        }
    }
}

/// Most lines `crates/cli/src` may hold (issue 18: "at most ~1,500"). A subcommand that needs
/// more is doing a library's work: move it to the library and call it.
const CLI_MAX_LINES: usize = 1_500;

/// What the binary must not contain: it only composes flags → config → library call
/// (docs/architecture.md). An HTTP handler belongs in a server crate, judge calls in
/// aha-reflect's runner, a JSON record in a typed struct of the library that owns it.
const CLI_FORBIDDEN: &[(&str, &str)] = &[
    (
        "json!",
        "a hand-built JSON record (use the owning library's typed record)",
    ),
    (
        "serde_json::Value",
        "an untyped JSON record (use the owning library's typed record)",
    ),
    (
        "axum",
        "an HTTP handler (it belongs in aha-reward-server or aha-model-server)",
    ),
    (
        "hyper",
        "an HTTP handler (it belongs in aha-reward-server or aha-model-server)",
    ),
    (
        "StatusCode",
        "an HTTP status (a server crate's error maps onto statuses)",
    ),
    (
        "ask_cached",
        "a judge call (aha-reflect's runner asks the judge)",
    ),
    (
        "JudgeBackend",
        "a judge backend (aha-sample's OpenAiJudge is the one)",
    ),
];

fn cli_sources() -> Vec<(std::path::PathBuf, String)> {
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read crates/cli/src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source file");
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_binary_only_composes() {
    let files = cli_sources();
    let lines: usize = files.iter().map(|(_, text)| text.lines().count()).sum();
    assert!(
        lines <= CLI_MAX_LINES,
        "crates/cli/src has {lines} lines, more than {CLI_MAX_LINES}: move library logic out of the binary"
    );
    for (path, text) in &files {
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (pattern, why) in CLI_FORBIDDEN {
                assert!(
                    !code.contains(pattern),
                    "{}:{}: `{pattern}` in the binary: {why}",
                    path.display(),
                    i + 1
                );
            }
        }
    }
}
