//! Regression for a crash the `data_load` fuzz target found (issue 17): a malformed Arrow IPC
//! file made `arrow-buffer` panic ("slice offset ... cannot exceed the existing length") inside
//! the loader. A damaged dataset file must be an error naming the file, never a panic.
//!
//! Every single-byte corruption (set to 0xff, or to 0x00) of the committed Arrow stream, Arrow
//! file-format and Parquet fixtures is loaded; each load must return (a dataset or an error).

use std::path::{Path, PathBuf};

use aha_data::{LoadOptions, load};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn every_corruption(src: &Path, ext: &str) -> usize {
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("input.{ext}"));
    let mut errors = 0;
    // Header and footer regions hold the offsets and lengths; step through the middle.
    let step = (bytes.len() / 400).max(1);
    let positions = (0..bytes.len()).filter(|i| i % step == 0 || *i < 256 || bytes.len() - i < 256);
    for i in positions {
        for value in [0xff_u8, 0x00] {
            if bytes[i] == value {
                continue;
            }
            let mut b = bytes.clone();
            b[i] = value;
            std::fs::write(&path, &b).unwrap();
            let got = std::panic::catch_unwind(|| load(&path, &LoadOptions::default()));
            match got {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    errors += 1;
                    assert!(
                        e.to_string().contains("input."),
                        "error must name the file: {e}"
                    );
                }
                Err(_) => panic!(
                    "{}: byte {i} set to {value:#x} panics the loader",
                    src.display()
                ),
            }
        }
    }
    errors
}

#[test]
fn corrupt_arrow_and_parquet_files_are_errors_not_panics() {
    let stream = fixture("evalsuite/amc/data-00000-of-00001.arrow");
    assert!(every_corruption(&stream, "arrow") > 0);
    assert!(every_corruption(&fixture("file_format.arrow"), "arrow") > 0);
    assert!(every_corruption(&fixture("countdown.parquet"), "parquet") > 0);
}
