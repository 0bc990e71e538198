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

/// Reads every row of an Arrow IPC file, stream format (HF `save_to_disk`) or file format.
pub(crate) fn read_arrow(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let mut file = open(path)?;
    let mut magic = [0u8; 6];
    let is_file_format = file.read_exact(&mut magic).is_ok() && &magic == ARROW_FILE_MAGIC;
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
        for (i, row) in rows[start..].iter_mut().enumerate() {
            let v = value(column.as_ref(), i)
                .map_err(|m| malformed(path, format!("column \"{}\": {m}", field.name())))?;
            row.insert(field.name().clone(), v);
        }
    }
    Ok(())
}

fn float(x: f64) -> Value {
    // JSON has no NaN/inf; such a value becomes null (and then fails field checks by name).
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// The JSON value of element `i` of `a`.
fn value(a: &dyn Array, i: usize) -> std::result::Result<Value, String> {
    if a.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match a.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::String(a.as_string::<i32>().value(i).to_owned()),
        DataType::LargeUtf8 => Value::String(a.as_string::<i64>().value(i).to_owned()),
        DataType::Utf8View => Value::String(a.as_string_view().value(i).to_owned()),
        DataType::List(_) => list(a.as_list::<i32>().value(i).as_ref())?,
        DataType::LargeList(_) => list(a.as_list::<i64>().value(i).as_ref())?,
        DataType::FixedSizeList(..) => list(a.as_fixed_size_list().value(i).as_ref())?,
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut m = Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                m.insert(f.name().clone(), value(col.as_ref(), i)?);
            }
            Value::Object(m)
        }
        other => return Err(format!("unsupported Arrow type {other}")),
    })
}

fn list(a: &dyn Array) -> std::result::Result<Value, String> {
    (0..a.len())
        .map(|j| value(a, j))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Value::Array)
}
