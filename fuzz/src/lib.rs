//! Helpers shared by the fuzz targets: a scratch directory per process for the loaders that
//! read paths, and the test models' location.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A scratch directory of this fuzzing process (removed and recreated per input by callers
/// that need an empty one). Under `$AHA_FUZZ_SCRATCH`, else the system temp dir.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("AHA_FUZZ_SCRATCH")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("aha-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the fuzz scratch directory");
        dir
    })
}

/// An empty directory `name` inside [`scratch`].
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a fuzz scratch subdirectory");
    dir
}

/// A test model by file name: `$AHA_MODELS_DIR`, else `~/.cache/aha/models`
/// (`scripts/fetch-models.sh` puts them there).
pub fn model(name: &str) -> PathBuf {
    let dir = std::env::var_os("AHA_MODELS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aha/models")))
        .expect("set AHA_MODELS_DIR or HOME");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-models.sh",
        path.display()
    );
    path
}

/// Text from arbitrary bytes, cut to at most `max` bytes on a character boundary.
pub fn text(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
