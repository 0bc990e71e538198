//! `--data` by short name (the sets shipped in data/) and by Hugging Face name, `--model` by
//! Hugging Face name: resolved from a cache laid out as huggingface_hub lays it out, offline
//! (HF_HUB_OFFLINE), so nothing reaches the network. (The download side is tested in aha-hub
//! against a fake hub on 127.0.0.1.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn aha_env(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aha"));
    cmd.args(args)
        .env_remove("AHA_DATA_DIR")
        .env("HF_HUB_OFFLINE", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Puts `files` (name, bytes) into `cache` as huggingface_hub does: blobs named by ETag,
/// relative symlinks in `snapshots/<commit>/`, the commit in `refs/main`.
fn prepopulate(cache: &Path, folder: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let commit = "ab".repeat(20);
    let root = cache.join(folder);
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    std::fs::create_dir_all(root.join("refs")).unwrap();
    std::fs::write(root.join("refs/main"), &commit).unwrap();
    for (i, (path, bytes)) in files.iter().enumerate() {
        let etag = format!("{i:040x}");
        std::fs::write(root.join("blobs").join(&etag), bytes).unwrap();
        let pointer = root.join("snapshots").join(&commit).join(path);
        std::fs::create_dir_all(pointer.parent().unwrap()).unwrap();
        let depth = path.split('/').count() + 1;
        let target: PathBuf = std::iter::repeat_n("..", depth)
            .chain(["blobs", &etag])
            .collect();
        std::os::unix::fs::symlink(target, pointer).unwrap();
    }
    root.join("snapshots").join(commit)
}

fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

#[test]
fn help_lists_every_shipped_name() {
    for cmd in ["probe", "train"] {
        let (code, out, _) = aha_env(&[cmd, "--help"], &[]);
        assert_eq!(code, 0);
        for s in aha_data::SHIPPED {
            assert!(out.contains(&format!("{} (", s.name)), "{cmd}: {}", s.name);
        }
        assert!(out.contains("hf:ORG/NAME[:SPLIT]"));
    }
}

#[test]
fn an_unknown_name_lists_the_shipped_ones() {
    let (code, _, err) = aha_env(
        &[
            "probe",
            "--server",
            "http://127.0.0.1:9/v1",
            "--model-name",
            "m",
            "--template",
            "qwen-math",
            "--data",
            "math5000",
            "--out",
            "unused",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no shipped data set of that name")
            && err.contains(&aha_data::shipped_names()),
        "{err}"
    );
}

/// `aha train` loads --data before it opens the model: a missing model after a good data set
/// shows the data resolved.
fn train_data(data: &str, env: &[(&str, &Path)]) -> String {
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) = aha_env(
        &[
            "train",
            "--model",
            "/nonexistent/m.gguf",
            "--data",
            data,
            "--out",
            out.path().to_str().unwrap(),
        ],
        env,
    );
    assert_eq!(code, 2, "{err}");
    err
}

#[test]
fn short_names_and_hub_datasets_resolve() {
    let err = train_data("countdown", &[]);
    assert!(err.contains("/nonexistent/m.gguf"), "{err}");

    // --data-dir / AHA_DATA_DIR move the folder; a folder without the file says so.
    let empty = tempfile::tempdir().unwrap();
    let err = train_data("aime24", &[("AHA_DATA_DIR", empty.path())]);
    assert!(
        err.contains("shipped as data/benchmarks/aime24.jsonl"),
        "{err}"
    );

    // hf:ORG/NAME:SPLIT from a huggingface_hub cache, offline.
    let cache = tempfile::tempdir().unwrap();
    let parquet = std::fs::read(repo_data().join("countdown/test.parquet")).unwrap();
    prepopulate(
        cache.path(),
        "datasets--someone--countdown",
        &[
            ("README.md", b"# countdown".to_vec()),
            ("data/test-00000-of-00001.parquet", parquet),
        ],
    );
    let err = train_data(
        "hf:someone/countdown:test",
        &[("HF_HUB_CACHE", cache.path())],
    );
    assert!(
        err.contains("aha: hf:someone/countdown:test: 1 Parquet file(s)")
            && err.contains("/nonexistent/m.gguf"),
        "{err}"
    );
    let err = train_data("hf:someone/other", &[("HF_HUB_CACHE", cache.path())]);
    assert!(
        err.contains("not in the cache") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
    // HF_HOME/hub is the cache when HF_HUB_CACHE is not set.
    let home = tempfile::tempdir().unwrap();
    std::fs::rename(cache.path().join("datasets--someone--countdown"), {
        std::fs::create_dir_all(home.path().join("hub")).unwrap();
        home.path().join("hub/datasets--someone--countdown")
    })
    .unwrap();
    let err = train_data("hf:someone/countdown", &[("HF_HOME", home.path())]);
    assert!(err.contains("1 Parquet file(s)"), "{err}");
}

#[test]
fn hub_models_resolve_from_the_cache_offline() {
    let staging = tempfile::tempdir().unwrap();
    common::tiny_model(staging.path(), common::TINY_HF, 7);
    let files: Vec<(&str, Vec<u8>)> = [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ]
    .into_iter()
    .map(|f| (f, std::fs::read(staging.path().join(f)).unwrap()))
    .collect();
    let cache = tempfile::tempdir().unwrap();
    prepopulate(cache.path(), "models--someone--tiny", &files);
    let env = [("HF_HUB_CACHE", cache.path())];
    let (code, out, err) = aha_env(
        &[
            "generate",
            "--model",
            "hf:someone/tiny/model.safetensors",
            "--prompt",
            "hi",
            "--max-tokens",
            "2",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("aha: hf:someone/tiny/model.safetensors -> "),
        "{err}"
    );
    let _ = out;
    // Not cached, offline: a clear error, no download attempt.
    let (code, _, err) = aha_env(
        &["generate", "--model", "hf:someone/absent", "--prompt", "hi"],
        &env,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("someone/absent@main: the file list is not in the cache"),
        "{err}"
    );
}
