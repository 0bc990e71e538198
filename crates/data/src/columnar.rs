//! Parquet and Arrow IPC files to JSON rows.
//!
//! Rows are turned into `serde_json` objects so that one field-mapping code path serves every
//! format. The conversion is written here rather than taken from `arrow-json` because it covers
//! only the handful of types datasets use (strings, numbers, booleans, lists, structs) and
//! `arrow-json` would add a second number formatting/parsing stack to the build for nothing.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The magic bytes that open an Arrow IPC *file* (random access) as opposed to a *stream*.
const ARROW_FILE_MAGIC: &[u8; 6] = b"ARROW1";

fn malformed(path: &Path, message: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs a reader of an untrusted file, turning a panic inside arrow/parquet into an error naming
/// the file. Those crates validate most input but still `assert!` on some malformed buffer
/// offsets (found by the `data_load` fuzz target; `tests/corrupt_files.rs` keeps it fixed), and a
/// damaged dataset must never take the process down.
fn guarded<T>(path: &Path, what: &str, read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("malformed data");
        Err(malformed(path, format!("{what}: the reader failed: {why}")))
    })
}

/// Reads every row of an Arrow IPC file, stream format (HF `save_to_disk`) or file format.
pub(crate) fn read_arrow(path: &Path) -> Result<Vec<Map<String, Value>>> {
    guarded(path, "Arrow IPC", || read_arrow_unguarded(path))
}

fn read_arrow_unguarded(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let mut file = open(path)?;
    let mut magic = [0u8; 6];
    let is_file_format = file.read_exact(&mut magic).is_ok() && &magic == ARROW_FILE_MAGIC;
    // arrow's readers allocate what the headers declare before checking it against the file.
    crate::ipc_scan::check(path, &mut file, is_file_format)?;
    file.seek(SeekFrom::Start(0)).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    let arrow_err = |e: arrow_schema::ArrowError| malformed(path, format!("Arrow IPC: {e}"));
    if is_file_format {
        let reader = arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None)
            .map_err(arrow_err)?;
        for batch in reader {
            append_rows(path, &batch.map_err(arrow_err)?, &mut rows)?;
        }
    } else {
        let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None)
            .map_err(arrow_err)?;
        for batch in reader {
            append_rows(path, &batch.map_err(arrow_err)?, &mut rows)?;
        }
    }
    Ok(rows)
}

/// Reads every row of a Parquet file.
pub(crate) fn read_parquet(path: &Path) -> Result<Vec<Map<String, Value>>> {
    guarded(path, "Parquet", || read_parquet_unguarded(path))
}

fn read_parquet_unguarded(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let file = open(path)?;
    let pq_err = |e: parquet::errors::ParquetError| malformed(path, format!("Parquet: {e}"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(pq_err)?
        .build()
        .map_err(pq_err)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| malformed(path, format!("Parquet: {e}")))?;
        append_rows(path, &batch, &mut rows)?;
    }
    Ok(rows)
}

fn append_rows(path: &Path, batch: &RecordBatch, rows: &mut Vec<Map<String, Value>>) -> Result<()> {
    let schema = batch.schema();
    let start = rows.len();
    rows.extend((0..batch.num_rows()).map(|_| Map::new()));
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let values = column_values(column.as_ref())
            .map_err(|m| malformed(path, format!("column \"{}\": {m}", field.name())))?;
        for (row, v) in rows[start..].iter_mut().zip(values) {
            row.insert(field.name().clone(), v);
        }
    }
    Ok(())
}

fn float(x: f64) -> Value {
    // JSON has no NaN/inf; such a value becomes null (and then fails field checks by name).
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Every element of `a` as JSON, converted column by column: a list column converts its child
/// array once and hands out the pieces, rather than slicing the array per row.
fn column_values(a: &dyn Array) -> std::result::Result<Vec<Value>, String> {
    fn each(a: &dyn Array, f: impl Fn(usize) -> Value) -> Vec<Value> {
        (0..a.len())
            .map(|i| if a.is_null(i) { Value::Null } else { f(i) })
            .collect()
    }
    /// Cuts `child` into the lists `ranges` give (each range is taken out once).
    fn lists(
        a: &dyn Array,
        mut child: Vec<Value>,
        range: impl Fn(usize) -> (usize, usize),
    ) -> std::result::Result<Vec<Value>, String> {
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    return Ok(Value::Null);
                }
                let (s, e) = range(i);
                child
                    .get_mut(s..e)
                    .map(|items| Value::Array(items.iter_mut().map(std::mem::take).collect()))
                    .ok_or_else(|| format!("list offsets {s}..{e} out of bounds"))
            })
            .collect()
    }
    Ok(match a.data_type() {
        DataType::Null => vec![Value::Null; a.len()],
        DataType::Boolean => each(a, |i| Value::Bool(a.as_boolean().value(i))),
        DataType::Int8 => each(a, |i| a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => each(a, |i| a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => each(a, |i| a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => each(a, |i| a.as_primitive::<Int64Type>().value(i).into()),
        DataType::UInt8 => each(a, |i| a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => each(a, |i| a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => each(a, |i| a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => each(a, |i| a.as_primitive::<UInt64Type>().value(i).into()),
        DataType::Float32 => each(a, |i| {
            float(f64::from(a.as_primitive::<Float32Type>().value(i)))
        }),
        DataType::Float64 => each(a, |i| float(a.as_primitive::<Float64Type>().value(i))),
        DataType::Utf8 => each(a, |i| {
            Value::String(a.as_string::<i32>().value(i).to_owned())
        }),
        DataType::LargeUtf8 => each(a, |i| {
            Value::String(a.as_string::<i64>().value(i).to_owned())
        }),
        DataType::Utf8View => each(a, |i| Value::String(a.as_string_view().value(i).to_owned())),
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let off = l.value_offsets();
            let child = column_values(l.values().as_ref())?;
            // Offsets of a valid list array are non-negative (checked by arrow on read).
            lists(a, child, |i| (off[i] as usize, off[i + 1] as usize))?
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            let off = l.value_offsets();
            let child = column_values(l.values().as_ref())?;
            lists(a, child, |i| (off[i] as usize, off[i + 1] as usize))?
        }
        DataType::FixedSizeList(..) => {
            let l = a.as_fixed_size_list();
            let n = l.value_length() as usize;
            let child = column_values(l.values().as_ref())?;
            lists(a, child, |i| {
                let s = l.value_offset_at(i);
                (s, s + n)
            })?
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut out: Vec<Value> = each(a, |_| Value::Object(Map::new()));
            for (f, col) in fields.iter().zip(s.columns()) {
                for (o, v) in out.iter_mut().zip(column_values(col.as_ref())?) {
                    if let Value::Object(m) = o {
                        m.insert(f.name().clone(), v);
                    }
                }
            }
            out
        }
        other => return Err(format!("unsupported Arrow type {other}")),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Float64Array, StructArray};
    use arrow_schema::{Field, Fields};
    use serde_json::json;

    use super::*;

    fn nums() -> ArrayRef {
        let mut b = ListBuilder::new(Int64Builder::new());
        for row in [Some(vec![1, 2]), None, Some(vec![]), Some(vec![3, 4, 5])] {
            match row {
                Some(v) => {
                    b.values().append_slice(&v);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    }

    #[test]
    fn lists_structs_and_slices() {
        let names: ArrayRef = Arc::new({
            let mut b = StringBuilder::new();
            for s in [Some("a"), Some("b"), None, Some("d")] {
                b.append_option(s);
            }
            b.finish()
        });
        let fields = Fields::from(vec![
            Field::new("nums", nums().data_type().clone(), true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let st: ArrayRef = Arc::new(StructArray::new(fields, vec![nums(), names], None));
        let all = column_values(st.as_ref()).unwrap();
        assert_eq!(
            all,
            [
                json!({"nums": [1, 2], "name": "a"}),
                json!({"nums": null, "name": "b"}),
                json!({"nums": [], "name": null}),
                json!({"nums": [3, 4, 5], "name": "d"}),
            ]
        );
        // A slice (as a reader may hand out) keeps its own rows only.
        assert_eq!(column_values(st.slice(1, 3).as_ref()).unwrap(), all[1..]);
        assert_eq!(
            column_values(nums().slice(2, 2).as_ref()).unwrap(),
            [json!([]), json!([3, 4, 5])]
        );
        let f: ArrayRef = Arc::new(Float64Array::from(vec![Some(142.0), None, Some(f64::NAN)]));
        assert_eq!(
            column_values(f.as_ref()).unwrap(),
            [json!(142.0), json!(null), json!(null)]
        );
    }
}
