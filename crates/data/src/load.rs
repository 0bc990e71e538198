//! Reading dataset files into [`Problem`]s: format detection, field mapping, error collection.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::columnar;
use crate::error::{Error, Location, Result, RowError};
use crate::problem::{Gold, Problem, py_float_str};

/// Field names tried, in order, for the question when none is mapped.
pub const QUESTION_FIELDS: &[&str] = &["problem", "question", "prompt"];
/// Field names tried, in order, for the answer when none is mapped (after Countdown's
/// `target`+`nums`, before a `solution`'s last `\boxed{}`).
pub const ANSWER_FIELDS: &[&str] = &[
    "answer",
    "final_answer",
    "gt_answer",
    "ground_truth_answer",
    "target",
];
/// Field names tried, in order, for the id when none is mapped.
pub const ID_FIELDS: &[&str] = &["unique_id", "id", "idx"];

/// A file format this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A JSON array of objects (`.json`; a `.json` file that does not start with `[` is read as
    /// JSONL).
    Json,
    /// One JSON object per line (`.jsonl`, `.ndjson`); blank lines are skipped.
    Jsonl,
    /// Apache Parquet (`.parquet`).
    Parquet,
    /// Arrow IPC, stream format as written by Hugging Face `save_to_disk`, or file format
    /// (`.arrow`, `.ipc`, `.feather`).
    Arrow,
}

impl Format {
    /// The format a file name implies, from its extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" | "pq" => Format::Parquet,
            "arrow" | "ipc" | "feather" => Format::Arrow,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    /// `json`, `jsonl` (or `ndjson`), `parquet`, `arrow`.
    fn from_str(s: &str) -> Result<Format> {
        Format::from_path(Path::new(&format!("x.{s}"))).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown format \"{s}\"; expected json, jsonl, parquet or arrow"
            ))
        })
    }
}

/// Which fields of a row hold the question, the answer and the id. `None` = auto-detect.
///
/// A name may be a dotted path into nested objects, e.g. `reward_model.ground_truth`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    /// The question field (a string, or a chat message list whose last user message is taken).
    pub question: Option<String>,
    /// The answer field, used as is: a string, a number, a list (any of), or a
    /// `{target, numbers}` object (Countdown).
    pub answer: Option<String>,
    /// The id field (a string or an integer).
    pub id: Option<String>,
}

/// How to load a dataset.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The format; `None` = from the extension (or the directory layout).
    pub format: Option<Format>,
    /// The split of a `save_to_disk` `DatasetDict` directory (optional when it has one split).
    pub split: Option<String>,
    /// Field mapping.
    pub fields: FieldMap,
    /// Skip bad rows (they are reported in [`Dataset::skipped`]) instead of failing.
    pub lenient: bool,
}

/// A loaded dataset.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
    /// Rows skipped in lenient mode, with the reason.
    pub skipped: Vec<RowError>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

impl Dataset {
    /// Fails on the first id that occurs twice, naming both rows. Resumable sweeps key their
    /// records on the problem id, so duplicates would silently merge two questions.
    pub fn check_unique_ids(&self) -> Result<()> {
        let mut seen = std::collections::HashMap::with_capacity(self.problems.len());
        for (i, p) in self.problems.iter().enumerate() {
            if let Some(first) = seen.insert(p.id.as_str(), i) {
                return Err(Error::Invalid(format!(
                    "duplicate problem id \"{}\" (problems {first} and {i}); map a unique id field or \
                     leave ids to the row index",
                    p.id
                )));
            }
        }
        Ok(())
    }
}

/// One row before mapping: where it is, and its JSON (or why it is not JSON).
struct RawRow {
    location: Location,
    value: std::result::Result<Value, String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads a dataset file or `save_to_disk` directory.
///
/// Auto-detection (when [`FieldMap`] leaves a field out), tried in order:
/// - question: `problem`, `question`, `prompt` (a chat list gives its last user message);
/// - answer: Countdown `target` (integer) + `nums`/`numbers`, or `reward_model.ground_truth`
///   `{target, numbers}`; then `answer`, `final_answer`, `gt_answer`, `ground_truth_answer`,
///   `target`; then the last `\boxed{}` of `solution`. A GSM8K answer (`... #### 1,600`) gives
///   the text after its last `####` with thousands separators removed (`1600`). A float answer
///   (AMC's `142.0`) is rendered as Python's `str()` would (`"142.0"`, what the upstream code
///   compared against) and, when integral, also stored as the integer `meta["answer_int"]`.
///   A list of answers becomes [`Gold::AnyOf`], its strings verbatim.
/// - id: `unique_id`, `id`, `idx`, else the 0-based row index.
///
/// Every other field goes to [`Problem::meta`].
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    load_many(std::slice::from_ref(&path.to_path_buf()), opts)
}

/// Loads several files (or `save_to_disk` directories) as one dataset, as [`load`] does one:
/// e.g. the Parquet shards of a Hugging Face split. Rows are numbered across the files, so
/// default ids (the row index) stay unique.
pub fn load_many(paths: &[PathBuf], opts: &LoadOptions) -> Result<Dataset> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(resolve_files(path, opts)?);
    }
    let mut ds = Dataset {
        files: files.clone(),
        ..Dataset::default()
    };
    let mut errors = Vec::new();
    let mut next_row = 0usize;
    for file in &files {
        let format = match opts.format {
            Some(f) => f,
            None => Format::from_path(file).ok_or_else(|| Error::Format {
                path: file.clone(),
                message: "unknown extension; expected .json, .jsonl, .parquet or .arrow".into(),
            })?,
        };
        let rows = read_rows(file, format)?;
        for raw in rows {
            let index = next_row + raw.location.row();
            let result = raw
                .value
                .map_err(|m| (None, m))
                .and_then(|v| to_problem(v, index, &opts.fields));
            match result {
                Ok(p) => ds.problems.push(p),
                Err((field, message)) => errors.push(RowError {
                    path: file.clone(),
                    location: raw.location,
                    field,
                    message,
                }),
            }
        }
        next_row = ds.problems.len() + errors.len();
    }
    if opts.lenient {
        ds.skipped = errors;
    } else if !errors.is_empty() {
        return Err(Error::Rows(errors));
    }
    Ok(ds)
}

/// The data files behind `path`: itself, or the shards of a `save_to_disk` directory.
fn resolve_files(path: &Path, opts: &LoadOptions) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        if let Some(split) = &opts.split {
            return Err(Error::Invalid(format!(
                "{}: a split (\"{split}\") only applies to a save_to_disk DatasetDict directory",
                path.display()
            )));
        }
        if !path.exists() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let dict = path.join("dataset_dict.json");
    if dict.is_file() {
        let text = std::fs::read_to_string(&dict).map_err(io(&dict))?;
        let splits: Vec<String> = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| serde_json::from_value(v.get("splits")?.clone()).ok())
            .ok_or_else(|| Error::Malformed {
                path: dict.clone(),
                message: "expected {\"splits\": [..]}".into(),
            })?;
        let split = match (&opts.split, splits.as_slice()) {
            (Some(s), _) if splits.contains(s) => s.clone(),
            (None, [only]) => only.clone(),
            (s, _) => {
                return Err(Error::Invalid(format!(
                    "{}: {} a split; available: {}",
                    path.display(),
                    match s {
                        Some(s) => format!("no split \"{s}\";"),
                        None => "a DatasetDict needs".into(),
                    },
                    splits.join(", ")
                )));
            }
        };
        return resolve_files(
            &path.join(split),
            &LoadOptions {
                split: None,
                ..opts.clone()
            },
        );
    }
    if let Some(split) = &opts.split {
        return Err(Error::Invalid(format!(
            "{}: a split (\"{split}\") only applies to a directory with dataset_dict.json",
            path.display()
        )));
    }
    // A save_to_disk Dataset: state.json lists the shards in order.
    let state = path.join("state.json");
    if state.is_file() {
        let text = std::fs::read_to_string(&state).map_err(io(&state))?;
        let names: Option<Vec<String>> = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
            v.get("_data_files")?
                .as_array()?
                .iter()
                .map(|f| f.get("filename")?.as_str().map(str::to_owned))
                .collect()
        });
        if let Some(names) = names.filter(|n| !n.is_empty()) {
            return Ok(names.iter().map(|n| path.join(n)).collect());
        }
    }
    let mut shards: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(Format::from_path(p), Some(Format::Arrow | Format::Parquet)))
        .collect();
    shards.sort();
    if shards.is_empty() {
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: "directory holds no dataset_dict.json, state.json, .arrow or .parquet file"
                .into(),
        });
    }
    Ok(shards)
}

fn read_rows(path: &Path, format: Format) -> Result<Vec<RawRow>> {
    let columnar = |rows: Vec<Map<String, Value>>| {
        rows.into_iter()
            .enumerate()
            .map(|(i, m)| RawRow {
                location: Location::Row(i),
                value: Ok(Value::Object(m)),
            })
            .collect()
    };
    match format {
        Format::Parquet => Ok(columnar(columnar::read_parquet(path)?)),
        Format::Arrow => Ok(columnar(columnar::read_arrow(path)?)),
        Format::Json | Format::Jsonl => {
            let bytes = std::fs::read(path).map_err(io(path))?;
            let text = String::from_utf8(bytes).map_err(|e| Error::Malformed {
                path: path.to_path_buf(),
                message: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            })?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            if format == Format::Json && text.trim_start().starts_with('[') {
                return json_array_rows(path, text);
            }
            let rows = jsonl_rows(text);
            // A pretty-printed single object is neither rows nor JSONL: say so once instead of
            // reporting every one of its lines as invalid JSON.
            if rows.len() > 1
                && rows[0].value.is_err()
                && serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
            {
                return Err(Error::Malformed {
                    path: path.to_path_buf(),
                    message: "one multi-line JSON object; expected a JSON array of rows or one \
                              object per line (JSONL)"
                        .into(),
                });
            }
            Ok(rows)
        }
    }
}

fn jsonl_rows(text: &str) -> Vec<RawRow> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = Location::Line {
            line: i + 1,
            row: rows.len(),
        };
        let value = serde_json::from_str::<Value>(line).map_err(|e| format!("invalid JSON: {e}"));
        rows.push(RawRow { location, value });
    }
    rows
}

fn json_array_rows(path: &Path, text: &str) -> Result<Vec<RawRow>> {
    // Borrowed raw values point into `text`, so each element's line is known for errors.
    let raws: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(text).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            message: format!("not a JSON array of rows: {e}"),
        })?;
    let base = text.as_ptr() as usize;
    let (mut line, mut scanned) = (1usize, 0usize);
    let mut rows = Vec::with_capacity(raws.len());
    for (row, raw) in raws.into_iter().enumerate() {
        let offset = (raw.get().as_ptr() as usize)
            .saturating_sub(base)
            .min(text.len());
        if offset >= scanned {
            line += text.as_bytes()[scanned..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            scanned = offset;
        }
        let value =
            serde_json::from_str::<Value>(raw.get()).map_err(|e| format!("invalid JSON: {e}"));
        rows.push(RawRow {
            location: Location::Line { line, row },
            value,
        });
    }
    Ok(rows)
}

type FieldError = (Option<String>, String);

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    (Some(field.to_owned()), message.into())
}

/// Looks up a dotted path; JSON null counts as absent.
fn get<'a>(row: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = row.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    (!v.is_null()).then_some(v)
}

fn to_problem(
    value: Value,
    index: usize,
    fields: &FieldMap,
) -> std::result::Result<Problem, FieldError> {
    let Value::Object(mut row) = value else {
        return Err((
            None,
            format!("expected a JSON object, got {}", kind(&value)),
        ));
    };
    let (qkey, question) = question_of(&row, fields)?;
    let mut meta_extra = Map::new();
    let (akey, gold) = gold_of(&row, fields, &mut meta_extra)?;
    let (ikey, id) = match &fields.id {
        Some(f) => {
            let v = get(&row, f).ok_or_else(|| err(f, "missing"))?;
            (Some(f.clone()), id_string(f, v)?)
        }
        None => match ID_FIELDS.iter().find_map(|f| get(&row, f).map(|v| (*f, v))) {
            Some((f, v)) => (Some(f.to_owned()), id_string(f, v)?),
            None => (None, index.to_string()),
        },
    };
    for key in [Some(qkey), akey, ikey].into_iter().flatten() {
        row.remove(&key);
    }
    row.extend(meta_extra);
    Ok(Problem {
        id,
        question,
        gold,
        meta: row,
    })
}

fn id_string(field: &str, v: &Value) -> std::result::Result<String, FieldError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(err(
            field,
            format!("expected a string or an integer id, got {}", kind(other)),
        )),
    }
}

fn question_of(
    row: &Map<String, Value>,
    fields: &FieldMap,
) -> std::result::Result<(String, String), FieldError> {
    let (field, v) = match &fields.question {
        Some(f) => (f.as_str(), get(row, f).ok_or_else(|| err(f, "missing"))?),
        None => QUESTION_FIELDS
            .iter()
            .find_map(|f| get(row, f).map(|v| (*f, v)))
            .ok_or_else(|| {
                err(
                    QUESTION_FIELDS[0],
                    format!("no question field (tried {})", QUESTION_FIELDS.join(", ")),
                )
            })?,
    };
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Array(messages) => user_content(messages).map_err(|m| err(field, m))?,
        other => {
            return Err(err(
                field,
                format!(
                    "expected a string or a chat message list, got {}",
                    kind(other)
                ),
            ));
        }
    };
    Ok((field.to_owned(), text))
}

/// The content of the last `role: user` message of a chat list.
fn user_content(messages: &[Value]) -> std::result::Result<String, String> {
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .ok_or("chat message list has no user message")?;
    match user.get("content") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "user message content: expected a string, got {}",
            kind(other)
        )),
        None => Err("user message has no content".into()),
    }
}

fn gold_of(
    row: &Map<String, Value>,
    fields: &FieldMap,
    meta: &mut Map<String, Value>,
) -> std::result::Result<(Option<String>, Gold), FieldError> {
    if let Some(f) = &fields.answer {
        let v = get(row, f).ok_or_else(|| err(f, "missing"))?;
        return Ok((Some(f.clone()), value_gold(f, v, meta)?));
    }
    // Countdown (TinyZero parquet): integer target + numbers list.
    if let (Some(t), Some(nums)) = (
        get(row, "target").and_then(Value::as_i64),
        get(row, "nums").or_else(|| get(row, "numbers")),
    ) && nums.is_array()
    {
        let numbers = int_list("nums", nums)?;
        return Ok((None, Gold::Countdown { target: t, numbers }));
    }
    if let Some(gt @ Value::Object(_)) = get(row, "reward_model.ground_truth")
        && let Some(g) = countdown_object(gt)?
    {
        return Ok((None, g));
    }
    for f in ANSWER_FIELDS {
        if let Some(v) = get(row, f) {
            let gold = match v {
                Value::String(s) if *f == "answer" && s.contains("####") => {
                    Gold::Answer(gsm8k_answer(s))
                }
                // CountDownZero's gt_answer is the {target, numbers} object as a JSON string.
                Value::String(s) if s.trim_start().starts_with('{') => {
                    match serde_json::from_str::<Value>(s)
                        .ok()
                        .and_then(|o| countdown_object(&o).ok().flatten())
                    {
                        Some(g) => g,
                        None => value_gold(f, v, meta)?,
                    }
                }
                _ => value_gold(f, v, meta)?,
            };
            return Ok((Some((*f).to_owned()), gold));
        }
    }
    if let Some(v) = get(row, "solution") {
        let Value::String(s) = v else {
            return Err(err(
                "solution",
                format!("expected a string, got {}", kind(v)),
            ));
        };
        return match last_boxed(s) {
            Some(b) => Ok((None, Gold::Answer(b.to_owned()))),
            None => Err(err("solution", "no \\boxed{} answer in the solution")),
        };
    }
    Err(err(
        ANSWER_FIELDS[0],
        format!(
            "no answer field (tried {}, solution)",
            ANSWER_FIELDS.join(", ")
        ),
    ))
}

fn int_list(field: &str, v: &Value) -> std::result::Result<Vec<i64>, FieldError> {
    v.as_array()
        .ok_or_else(|| {
            err(
                field,
                format!("expected a list of integers, got {}", kind(v)),
            )
        })?
        .iter()
        .map(|n| {
            n.as_i64()
                .ok_or_else(|| err(field, format!("expected integers, found {} in it", kind(n))))
        })
        .collect()
}

/// `{target, numbers}` as a Countdown gold; `Ok(None)` when the object has another shape.
fn countdown_object(v: &Value) -> std::result::Result<Option<Gold>, FieldError> {
    let (Some(t), Some(nums)) = (v.get("target"), v.get("numbers")) else {
        return Ok(None);
    };
    let target = t
        .as_i64()
        .ok_or_else(|| err("target", format!("expected an integer, got {}", kind(t))))?;
    Ok(Some(Gold::Countdown {
        target,
        numbers: int_list("numbers", nums)?,
    }))
}

/// A gold answer from a value by its shape alone.
fn value_gold(
    field: &str,
    v: &Value,
    meta: &mut Map<String, Value>,
) -> std::result::Result<Gold, FieldError> {
    match v {
        Value::String(s) => Ok(Gold::Answer(s.clone())),
        Value::Number(n) => Ok(Gold::Answer(number_answer(n, meta))),
        Value::Array(items) => items
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(number_answer(n, &mut Map::new())),
                other => Err(err(
                    field,
                    format!("expected a list of strings, found {} in it", kind(other)),
                )),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Gold::AnyOf),
        Value::Object(_) => countdown_object(v)?.ok_or_else(|| {
            err(
                field,
                "expected a string, number, list or {target, numbers}, got object",
            )
        }),
        other => Err(err(
            field,
            format!("expected a string, number or list, got {}", kind(other)),
        )),
    }
}

/// Integers as written; floats as Python's `str()` (plus `answer_int` when integral).
fn number_answer(n: &serde_json::Number, meta: &mut Map<String, Value>) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let x = n.as_f64().unwrap_or(f64::NAN);
    // An integral f64 inside i64's range converts exactly (-2^63 <= x < 2^63).
    if x.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x) {
        meta.insert("answer_int".into(), Value::from(x as i64));
    }
    py_float_str(x)
}

/// The final answer of a GSM8K solution: the text after its last `####`, trimmed, with
/// thousands separators removed from a plain number (`1,600` → `1600`; GSM8K's reference
/// answers are plain numbers, and `1,600` would otherwise read as a tuple to a grader).
pub fn gsm8k_answer(solution: &str) -> String {
    let tail = solution.rsplit("####").next().unwrap_or(solution).trim();
    let unsigned = tail.strip_prefix('-').unwrap_or(tail);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let groups: Vec<&str> = int.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && frac.bytes().all(|b| b.is_ascii_digit());
    if grouped {
        tail.replace(',', "")
    } else {
        tail.to_owned()
    }
}

/// The content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced;
/// `\boxed 5` (no braces) gives `5`. `None` when there is none or it is unclosed.
///
/// ```
/// use aha_data::last_boxed;
/// assert_eq!(last_boxed(r"so $\boxed{\frac{1}{2}}$ and \boxed{3}"), Some("3"));
/// assert_eq!(last_boxed(r"\boxed{\frac{1}{2}}"), Some(r"\frac{1}{2}"));
/// assert_eq!(last_boxed(r"\boxed 7."), Some("7"));
/// assert_eq!(last_boxed("no box"), None);
/// ```
pub fn last_boxed(text: &str) -> Option<&str> {
    let (start, name) = ["\\boxed", "\\fbox"]
        .iter()
        .filter_map(|n| text.rfind(n).map(|i| (i, *n)))
        .max_by_key(|(i, _)| *i)?;
    let rest = &text[start + name.len()..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut depth = 1usize;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&inner[..i]);
                    }
                }
                _ => {}
            }
        }
        None
    } else if let Some(spaced) = rest.strip_prefix(' ') {
        // `\boxed 5`: up to the next `$` or whitespace, minus a sentence-final period.
        let end = spaced
            .find(|c: char| c == '$' || c.is_whitespace())
            .unwrap_or(spaced.len());
        let ans = spaced[..end].trim_end_matches('.');
        (!ans.is_empty()).then_some(ans)
    } else {
        None
    }
}
