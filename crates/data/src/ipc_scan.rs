//! A pre-scan of an Arrow IPC file's message headers that refuses sizes the file cannot hold.
//!
//! arrow-ipc trusts the sizes a file declares. Its file-format reader allocates and zeroes a
//! footer block's `metaDataLength + bodyLength` before reading a byte of it, so a 1 KiB file
//! whose footer declares a 1.4 GB body made it allocate 1.4 GB (found by the `data_load` fuzz
//! target; `tests/ipc_bounds.rs` keeps it fixed). And a batch may declare a row count no body
//! backs (a column of type Null has no buffers at all), which the conversion to rows in
//! `columnar` would then allocate a row for, one by one.
//!
//! This scan reads only the message headers (small flatbuffers, bounded by the file's size),
//! checks every declared extent against what the file really holds, and leaves the decoding to
//! arrow. A valid file passes unchanged: a body holds every buffer it lists, and every array but
//! a Null one takes at least a bit per value.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

/// The marker that opens an encapsulated message's length prefix since Arrow 0.15.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// The Arrow IPC file format's leading magic and padding, and its trailing footer length and
/// magic.
const FILE_HEAD: u64 = 8;
const FILE_TAIL: u64 = 10;

/// Values a batch or an array may declare beyond the 8 per body byte that its smallest buffer
/// (a bitmap) gives: room for small arrays of type Null, whose values take no bytes at all. It
/// bounds what a lying header can make the loader allocate to a few thousand rows.
const VALUE_SLACK: u64 = 1024;

fn malformed(path: &Path, message: String) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        message: format!("Arrow IPC: {message}"),
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks the message headers of the Arrow IPC file at `path` (open as `file`, positioned
/// anywhere) against its length; `file_format` tells the file format (footer with blocks) from
/// the stream format (length-prefixed messages). What the scan cannot make sense of (too short,
/// no magic) is left for arrow's reader to report.
pub(crate) fn check(path: &Path, file: &mut File, file_format: bool) -> Result<()> {
    let len = file.metadata().map_err(|e| io(path, e))?.len();
    let mut scan = Scan {
        path,
        file,
        len,
        names: Vec::new(),
    };
    if file_format {
        scan.file_format()
    } else {
        scan.stream_format()
    }
}

struct Scan<'a> {
    path: &'a Path,
    file: &'a mut File,
    /// The file's length in bytes.
    len: u64,
    /// The schema's fields in the order of a batch's field nodes (depth first), for messages.
    names: Vec<String>,
}

impl Scan<'_> {
    fn read_at(&mut self, at: u64, n: u64) -> Result<Vec<u8>> {
        // Every caller has checked `at + n <= self.len`, so the buffer is bounded by the file.
        let mut buf = vec![0; n as usize];
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| io(self.path, e))?;
        Ok(buf)
    }

    fn file_format(&mut self) -> Result<()> {
        if self.len < FILE_HEAD + FILE_TAIL {
            return Ok(());
        }
        let tail = self.read_at(self.len - FILE_TAIL, FILE_TAIL)?;
        if &tail[4..] != b"ARROW1" {
            return Ok(());
        }
        let footer_len = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let room = self.len - FILE_HEAD - FILE_TAIL;
        let footer_len = u64::try_from(footer_len)
            .ok()
            .filter(|&n| n <= room)
            .ok_or_else(|| {
                malformed(
                    self.path,
                    format!(
                        "footer: its length field ({footer_len}) does not fit the {} bytes \
                         between the file's magic numbers",
                        room
                    ),
                )
            })?;
        let footer_at = self.len - FILE_TAIL - footer_len;
        let bytes = self.read_at(footer_at, footer_len)?;
        let footer = arrow_ipc::root_as_footer(&bytes)
            .map_err(|e| malformed(self.path, format!("footer: not a valid footer: {e}")))?;
        if let Some(schema) = footer.schema() {
            self.names = field_names(schema);
        }
        for (kind, blocks) in [
            ("dictionaries", footer.dictionaries()),
            ("recordBatches", footer.recordBatches()),
        ] {
            for (i, block) in blocks.iter().flatten().enumerate() {
                self.block(kind, i, block, footer_at)?;
            }
        }
        Ok(())
    }

    /// One block of the footer: its extent must lie before the footer, and its message must
    /// fit its body.
    fn block(&mut self, kind: &str, i: usize, block: &arrow_ipc::Block, end: u64) -> Result<()> {
        let what = format!("footer: {kind}[{i}]");
        let field = |name: &str, v: i64| {
            u64::try_from(v).map_err(|_| {
                malformed(
                    self.path,
                    format!("{what}: field \"{name}\" is negative ({v})"),
                )
            })
        };
        let offset = field("offset", block.offset())?;
        let meta = field("metaDataLength", i64::from(block.metaDataLength()))?;
        let body = field("bodyLength", block.bodyLength())?;
        let stop = offset
            .checked_add(meta)
            .and_then(|n| n.checked_add(body))
            .filter(|&n| n <= end);
        if stop.is_none() {
            return Err(malformed(
                self.path,
                format!(
                    "{what}: field \"bodyLength\" ({body}) with \"offset\" ({offset}) and \
                     \"metaDataLength\" ({meta}) runs past the data, which ends at byte {end}"
                ),
            ));
        }
        let bytes = self.read_at(offset, meta)?;
        let message = parse_message(&bytes)
            .map_err(|m| malformed(self.path, format!("{what}: the message {m}")))?;
        let batch = if kind == "dictionaries" {
            message.header_as_dictionary_batch().and_then(|d| d.data())
        } else {
            message.header_as_record_batch()
        };
        let name = if kind == "dictionaries" {
            "dictionary batch"
        } else {
            "record batch"
        };
        match batch {
            Some(batch) => self.batch(&format!("{name} {i}"), batch, body),
            // arrow reports a block that holds some other message.
            None => Ok(()),
        }
    }

    fn stream_format(&mut self) -> Result<()> {
        let (mut at, mut batches, mut dictionaries) = (0u64, 0usize, 0usize);
        while self.len - at >= 4 {
            let mut prefix = 4;
            let mut word = self.read_at(at, 4)?;
            if word[..] == CONTINUATION {
                if self.len - at < 8 {
                    break;
                }
                word = self.read_at(at + 4, 4)?;
                prefix = 8;
            }
            let meta = i32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            if meta == 0 {
                break; // the end-of-stream marker
            }
            let what = format!("the message at byte {at}");
            let start = at + prefix;
            let meta = u64::try_from(meta)
                .ok()
                .filter(|&n| n <= self.len - start)
                .ok_or_else(|| {
                    malformed(
                        self.path,
                        format!(
                            "{what}: its metadata length ({meta}) runs past the end of the \
                             file ({} bytes)",
                            self.len
                        ),
                    )
                })?;
            let bytes = self.read_at(start, meta)?;
            let message = arrow_ipc::root_as_message(&bytes)
                .map_err(|e| malformed(self.path, format!("{what}: not a valid message: {e}")))?;
            let body = u64::try_from(message.bodyLength())
                .ok()
                .filter(|&n| n <= self.len - start - meta)
                .ok_or_else(|| {
                    malformed(
                        self.path,
                        format!(
                            "{what}: field \"bodyLength\" ({}) runs past the end of the file \
                             ({} bytes)",
                            message.bodyLength(),
                            self.len
                        ),
                    )
                })?;
            if let Some(schema) = message.header_as_schema() {
                self.names = field_names(schema);
            } else if let Some(batch) = message.header_as_record_batch() {
                self.batch(&format!("record batch {batches}"), batch, body)?;
                batches += 1;
            } else if let Some(dict) = message.header_as_dictionary_batch() {
                if let Some(batch) = dict.data() {
                    self.batch(&format!("dictionary batch {dictionaries}"), batch, body)?;
                }
                dictionaries += 1;
            }
            at = start + meta + body;
        }
        Ok(())
    }

    /// A record batch (or a dictionary batch's data) against the `body` bytes that follow it.
    fn batch(&self, what: &str, batch: arrow_ipc::RecordBatch<'_>, body: u64) -> Result<()> {
        let err = |m: String| malformed(self.path, format!("{what}: {m}"));
        let rows = batch.length();
        if batch.compression().is_some() && rows != 0 {
            // This build reads uncompressed bodies only (arrow-ipc without lz4/zstd; arrow
            // would fail at the first buffer), and a compressed body gives no bound on the
            // values it holds.
            return Err(err(
                "field \"compression\": compressed bodies are not supported; write the file \
                 uncompressed"
                    .into(),
            ));
        }
        let most = body.saturating_mul(8).saturating_add(VALUE_SLACK);
        if !u64::try_from(rows).is_ok_and(|n| n <= most) {
            return Err(err(format!(
                "field \"length\" declares {rows} rows, more than its body of {body} bytes can \
                 hold"
            )));
        }
        for (j, node) in batch.nodes().iter().flatten().enumerate() {
            let n = node.length();
            if !u64::try_from(n).is_ok_and(|n| n <= most) {
                let column = self
                    .names
                    .get(j)
                    .map_or_else(String::new, |c| format!(" (column \"{c}\")"));
                return Err(err(format!(
                    "field \"nodes[{j}].length\"{column} declares {n} values, more than its body \
                     of {body} bytes can hold"
                )));
            }
        }
        for (j, buffer) in batch.buffers().iter().flatten().enumerate() {
            let (offset, length) = (buffer.offset(), buffer.length());
            let end = u64::try_from(offset)
                .ok()
                .zip(u64::try_from(length).ok())
                .and_then(|(o, l)| o.checked_add(l));
            if end.is_none_or(|e| e > body) {
                return Err(err(format!(
                    "field \"buffers[{j}]\" (offset {offset}, length {length}) runs past its \
                     body of {body} bytes"
                )));
            }
        }
        Ok(())
    }
}

/// Parses an encapsulated message (length prefix, with or without the continuation marker, then
/// the flatbuffer) as arrow's file reader does.
fn parse_message(bytes: &[u8]) -> std::result::Result<arrow_ipc::Message<'_>, String> {
    let skip = if bytes.starts_with(&CONTINUATION) {
        8
    } else {
        4
    };
    let flatbuffer = bytes
        .get(skip..)
        .ok_or_else(|| format!("is shorter ({} bytes) than its length prefix", bytes.len()))?;
    arrow_ipc::root_as_message(flatbuffer).map_err(|e| format!("is not valid: {e}"))
}

/// The schema's fields, nested ones as `parent.child`, in the depth-first order in which a
/// batch lists their field nodes.
fn field_names(schema: arrow_ipc::Schema<'_>) -> Vec<String> {
    // The flatbuffer verifier bounds the nesting depth (64), so the recursion is bounded too.
    fn walk(fields: Vec<arrow_ipc::Field<'_>>, prefix: &str, out: &mut Vec<String>) {
        for field in fields {
            let name = format!("{prefix}{}", field.name().unwrap_or("?"));
            out.push(name.clone());
            let children = field.children().into_iter().flatten().collect();
            walk(children, &format!("{name}."), out);
        }
    }
    let mut out = Vec::new();
    walk(
        schema.fields().into_iter().flatten().collect(),
        "",
        &mut out,
    );
    out
}
