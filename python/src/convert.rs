//! Python → Rust conversions of references and keyword options, done while holding the GIL so
//! the grading itself can run without it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use aha_verify::{BoxPolicy, EquationChain, MathOptions, PercentPolicy, RewardScheme};

use aha_verify::Gold as Reference;
use serde_json::Value;

use crate::grade::{Gold, Options, Task};

/// Converts one Python reference for `task`.
///
/// Math: a string, a number (`str()` of it), or a list/tuple/array of those (any-of);
/// `None` = no reference (graded `gold_unparseable`). Countdown: a dict with `target` and
/// `numbers` (or `nums`), or the same as JSON text; a malformed one becomes a verdict too.
pub fn gold(task: Task, obj: &Bound<'_, PyAny>) -> PyResult<Gold> {
    if task == Task::Countdown {
        return Ok(countdown_gold(obj));
    }
    if obj.is_none() {
        return Ok(Ok(Reference::AnyOf(Vec::new())));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Ok(Reference::Answer(s.to_cow()?.into_owned())));
    }
    if obj.is_instance_of::<PyDict>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "a math reference must be a str, a number or a list of them (any-of), got {}",
            type_name(obj)
        )));
    }
    // A parquet list column arrives as a numpy array: accept any iterable, not just lists.
    if let Ok(iter) = obj.try_iter() {
        let mut out = Vec::new();
        for (i, item) in iter.enumerate() {
            let item = item?;
            out.push(scalar_text(&item).map_err(|e| {
                PyTypeError::new_err(format!("reference list item {i}: {}", e.value(obj.py())))
            })?);
        }
        return Ok(Ok(Reference::AnyOf(out)));
    }
    Ok(Ok(Reference::Answer(scalar_text(obj)?)))
}

/// A reference scalar as text: strings as they are, numbers (incl. numpy scalars) via `str()`.
fn scalar_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let is_number = obj.hasattr("__index__")? || obj.hasattr("__float__")?;
    if is_number && !obj.is_none() {
        return Ok(obj.str()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!(
        "a math reference must be a str or a number, got {}",
        type_name(obj)
    )))
}

/// A Countdown reference, read by the contract's reader ([`Reference::from_json`]) after a
/// plain Python → JSON conversion, so that the wheel accepts exactly what the server does.
fn countdown_gold(obj: &Bound<'_, PyAny>) -> Gold {
    let value = to_json(obj, 0).map_err(|e| format!("Countdown reference: {e}"))?;
    Reference::from_json(&value, Task::Countdown).map_err(|e| match e {
        aha_verify::Error::Gold { at, reason } => format!("Countdown reference{at}: {reason}"),
        other => format!("Countdown reference: {other}"),
    })
}

/// Nesting depth beyond which a Python value is not converted (a reference is shallow).
const MAX_DEPTH: usize = 8;

/// Converts a Python value to JSON: str, bool, int (numpy integers too), float, None, dicts
/// with str keys and iterables. Anything else is an error naming its type.
fn to_json(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(
            s.to_cow().map_err(|e| e.to_string())?.into_owned(),
        ));
    }
    if let Ok(b) = obj.extract::<bool>()
        && obj.is_instance_of::<pyo3::types::PyBool>()
    {
        return Ok(Value::Bool(b));
    }
    // Containers first: a numpy array also has `__index__` and `__float__`.
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key: String = k
                .extract()
                .map_err(|_| format!("dict key {} is not a str", repr(&k)))?;
            map.insert(key, to_json(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if !obj.is_instance_of::<PyBytes>()
        && let Ok(iter) = obj.try_iter()
    {
        return iter
            .map(|item| to_json(&item.map_err(|e| e.to_string())?, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if obj.hasattr("__index__").unwrap_or(false) {
        return obj
            .extract::<i64>()
            .map(Value::from)
            .map_err(|_| format!("integer {} does not fit in 64 bits", repr(obj)));
    }
    if obj.hasattr("__float__").unwrap_or(false) && !obj.is_instance_of::<PyBytes>() {
        let x = obj.extract::<f64>().map_err(|e| e.to_string())?;
        return Ok(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number));
    }
    Err(format!("cannot read a {}", type_name(obj)))
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map(|r| r.to_string()).unwrap_or_default()
}

/// Parses `task=`.
pub fn task(name: &str) -> PyResult<Task> {
    Task::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown task '{name}' (known: {})",
            Task::NAMES.join(", ")
        ))
    })
}

/// The keyword options `verify` accepts, for error messages and the stubs.
const OPTION_NAMES: &str = "boxed, answer_tag, answer_is, last_number, percent, \
require_reduced_fractions, strict_brackets, rounded_reference, relation_interval, decimal_digits, \
precision, boxes, lenient, decimal_comma, equation_chain, reward, budget_steps, \
max_answer_bytes, strict";

/// Builds grading options from `**options`; unknown names and bad values raise.
pub fn options(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut o = Options::default();
    let Some(kwargs) = kwargs else {
        return Ok(o);
    };
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        let m: &mut MathOptions = &mut o.math;
        match key.as_str() {
            "boxed" => m.boxed = flag(&key, &v)?,
            "answer_tag" => m.answer_tag = flag(&key, &v)?,
            "answer_is" => m.answer_is = flag(&key, &v)?,
            "last_number" => m.last_number = flag(&key, &v)?,
            "require_reduced_fractions" => m.require_reduced_fractions = flag(&key, &v)?,
            "strict_brackets" => m.strict_brackets = flag(&key, &v)?,
            "rounded_reference" => m.rounded_reference = flag(&key, &v)?,
            "relation_interval" => m.relation_interval = flag(&key, &v)?,
            "lenient" => m.lenient = flag(&key, &v)?,
            "decimal_comma" => m.decimal_comma = flag(&key, &v)?,
            "decimal_digits" => {
                m.decimal_digits = match v.extract::<u32>() {
                    Ok(n) => n,
                    Err(_) => {
                        return Err(PyValueError::new_err(format!(
                            "option `decimal_digits` must be an integer >= 0, got {}",
                            v.repr().map(|r| r.to_string()).unwrap_or_default()
                        )));
                    }
                }
            }
            "precision" => {
                m.precision = if v.is_none() {
                    None
                } else {
                    Some(u32::try_from(positive(&key, &v)?).map_err(|_| {
                        PyValueError::new_err("option `precision` is too large".to_string())
                    })?)
                }
            }
            "boxes" => {
                let name = word(&key, &v)?;
                m.boxes = BoxPolicy::parse(&name).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "option `boxes` must be one of {:?}, got '{name}'",
                        BoxPolicy::NAMES
                    ))
                })?
            }
            "equation_chain" => {
                let name = word(&key, &v)?;
                m.equation_chain = EquationChain::parse(&name).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "option `equation_chain` must be one of {:?}, got '{name}'",
                        EquationChain::NAMES
                    ))
                })?
            }
            "budget_steps" => m.budget_steps = positive(&key, &v)?,
            "max_answer_bytes" => {
                m.max_answer_bytes = usize::try_from(positive(&key, &v)?).map_err(|_| {
                    PyValueError::new_err("option `max_answer_bytes` is too large".to_string())
                })?
            }
            "percent" => {
                m.percent = match word(&key, &v)?.as_str() {
                    "either" => PercentPolicy::Either,
                    "drop" => PercentPolicy::Drop,
                    "hundredth" => PercentPolicy::Hundredth,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "option `percent` must be 'either', 'drop' or 'hundredth', got '{other}'"
                        )));
                    }
                }
            }
            "reward" => {
                let name = word(&key, &v)?;
                m.reward = RewardScheme::parse(&name).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "option `reward` must be one of {:?}, got '{name}'",
                        RewardScheme::NAMES
                    ))
                })?
            }
            "strict" => o.countdown.strict = flag(&key, &v)?,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "unknown option `{key}` (known: {OPTION_NAMES})"
                )));
            }
        }
    }
    Ok(o)
}

fn flag(key: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.extract::<bool>().map_err(|_| {
        PyTypeError::new_err(format!(
            "option `{key}` must be a bool, got {}",
            type_name(v)
        ))
    })
}

fn positive(key: &str, v: &Bound<'_, PyAny>) -> PyResult<u64> {
    match v.extract::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "option `{key}` must be a positive integer, got {}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

fn word(key: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.extract::<String>().map_err(|_| {
        PyTypeError::new_err(format!(
            "option `{key}` must be a str, got {}",
            type_name(v)
        ))
    })
}

/// The Python type name of `obj`, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_string())
}
