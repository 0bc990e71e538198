//! Regression for the `data_load` fuzz target's allocation finding (issue 17): a 1,173-byte
//! Arrow IPC file whose footer declares a 1.4 GB record-batch body made arrow-ipc 60.1 allocate
//! and zero 1.4 GB before it found the file too short. And a batch that declares more rows than
//! its body holds (a Null column has no buffers) made the conversion to rows allocate one row
//! per declared row. Each must be a quick error naming the file, the batch and the field,
//! allocating next to nothing.
//!
//! The binary counts its own heap: a global allocator keeps the peak of live bytes. Its cases
//! run in one test function, one after another, so no other test's allocations mix in.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aha_data::{LoadOptions, load};
use arrow_array::{ArrayRef, NullArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new) };
        if !q.is_null() {
            if new >= layout.size() {
                let now =
                    LIVE.fetch_add(new - layout.size(), Ordering::Relaxed) + new - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a malformed file may make the loader allocate on top of what was live before.
const BOUND: usize = 16 << 20;

/// Loads `path` and returns the error and the bytes allocated at the peak, above the start.
fn load_err(path: &Path) -> (String, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let got = load(path, &LoadOptions::default());
    let peak = PEAK.load(Ordering::Relaxed) - base;
    match got {
        Ok(ds) => panic!("{} loaded {} problems", path.display(), ds.problems.len()),
        Err(e) => (e.to_string(), peak),
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// An Arrow IPC stream of `rows` rows: a Null column and, when `question`, a string column.
fn null_stream(rows: usize, question: bool) -> Vec<u8> {
    let mut fields = vec![Field::new("nothing", DataType::Null, true)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(NullArray::new(rows))];
    if question {
        fields.push(Field::new("question", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(vec!["q"; rows])));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

/// Replaces every little-endian i64 `from` in `bytes` by `to` (the row count sits in the batch
/// header and in the Null column's field node).
fn patch_i64(bytes: &mut [u8], from: i64, to: i64) -> usize {
    let (from, to) = (from.to_le_bytes(), to.to_le_bytes());
    let mut hits = 0;
    for i in 0..bytes.len().saturating_sub(7) {
        if bytes[i..i + 8] == from {
            bytes[i..i + 8].copy_from_slice(&to);
            hits += 1;
        }
    }
    hits
}

#[test]
fn declared_sizes_beyond_the_file_are_errors_without_the_allocation() {
    // The fuzz input: the footer's record batch declares a body of 0x55555555 bytes.
    let path = fixture("fuzz/footer_body_1_4_gb.arrow");
    let started = std::time::Instant::now();
    let (err, peak) = load_err(&path);
    assert!(err.contains("footer_body_1_4_gb.arrow"), "{err}");
    assert!(err.contains("recordBatches[0]"), "{err}");
    assert!(err.contains("\"bodyLength\""), "{err}");
    assert!(peak < BOUND, "peak allocation {peak} bytes: {err}");
    // Before the fix this took 2.1 s alone (zeroing 1.4 GB); the check is a loose backstop.
    assert!(started.elapsed().as_secs() < 2, "{:?}", started.elapsed());

    let dir = tempfile::tempdir().unwrap();
    // A Null column declaring 2^40 rows: arrow accepts it (Null arrays hold no buffers), and
    // the rows would have been allocated one by one.
    let mut bytes = null_stream(77_777, false);
    // The batch's length, and the node's length and null count.
    assert!(patch_i64(&mut bytes, 77_777, 1 << 40) >= 2);
    let path = dir.path().join("null_rows.arrow");
    std::fs::write(&path, &bytes).unwrap();
    let (err, peak) = load_err(&path);
    assert!(err.contains("null_rows.arrow"), "{err}");
    assert!(err.contains("record batch 0"), "{err}");
    assert!(
        err.contains("field \"length\" declares 1099511627776 rows"),
        "{err}"
    );
    assert!(peak < BOUND, "peak allocation {peak} bytes: {err}");

    // A batch with a string column but one field node declaring more values than the body.
    // Only the Null column's node (length 3, null count 3) is patched; the batch says 3 rows.
    let mut bytes = null_stream(3, true);
    let at = (0..bytes.len() - 16)
        .find(|&i| bytes[i..i + 16] == [3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0])
        .expect("the Null column's node: length 3, null count 3");
    bytes[at..at + 16].copy_from_slice(&[[0, 0, 0, 0, 0, 1, 0, 0]; 2].concat());
    let path = dir.path().join("node_values.arrow");
    std::fs::write(&path, &bytes).unwrap();
    let (err, peak) = load_err(&path);
    assert!(err.contains("node_values.arrow"), "{err}");
    assert!(
        err.contains("field \"nodes[0].length\" (column \"nothing\") declares"),
        "{err}"
    );
    assert!(peak < BOUND, "peak allocation {peak} bytes: {err}");

    // A Null column of a few rows beside real data passes the scan as before: the dataset has
    // no answer column, so it fails on the rows' fields.
    let path = dir.path().join("ok.arrow");
    std::fs::write(&path, null_stream(3, true)).unwrap();
    let (err, _) = load_err(&path);
    assert!(!err.contains("Arrow IPC"), "{err}");
    assert!(err.contains("answer"), "{err}");
}
