//! Python → Rust conversions of references and keyword options, done while holding the GIL so
//! the grading itself can run without it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use aha_verify::{MathOptions, PercentPolicy, RewardScheme};

use crate::grade::{CountdownGold, Gold, Options, Task, countdown_gold_from_json};

/// Converts one Python reference for `task`.
///
/// Math: a string, a number (`str()` of it), or a list/tuple/array of those (any-of);
/// `None` = no reference (graded `gold_unparseable`). Countdown: a dict with `target` and
/// `numbers` (or `nums`), or the same as JSON text; a malformed one becomes a verdict too.
pub fn gold(task: Task, obj: &Bound<'_, PyAny>) -> PyResult<Gold> {
    if task == Task::Countdown {
        return Ok(Gold::Countdown(countdown_gold(obj)));
    }
    if obj.is_none() {
        return Ok(Gold::Math(Vec::new()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Gold::Math(vec![s.to_cow()?.into_owned()]));
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
        return Ok(Gold::Math(out));
    }
    Ok(Gold::Math(vec![scalar_text(obj)?]))
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

fn countdown_gold(obj: &Bound<'_, PyAny>) -> Result<CountdownGold, String> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow().map_err(|e| e.to_string())?;
        return countdown_gold_from_json(&text);
    }
    let Ok(d) = obj.cast::<PyDict>() else {
        return Err(format!(
            "a Countdown reference must be a dict or JSON text with `target` and `numbers`, got {}",
            type_name(obj)
        ));
    };
    let target = d
        .get_item("target")
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "Countdown reference has no key `target`".to_string())?;
    let target: i64 = target
        .extract()
        .map_err(|_| "Countdown reference key `target` must be an integer".to_string())?;
    let (field, numbers) = match d.get_item("numbers").map_err(|e| e.to_string())? {
        Some(n) => ("numbers", n),
        None => match d.get_item("nums").map_err(|e| e.to_string())? {
            Some(n) => ("nums", n),
            None => return Err("Countdown reference has no key `numbers` (or `nums`)".to_string()),
        },
    };
    let iter = numbers
        .try_iter()
        .map_err(|_| format!("Countdown reference key `{field}` must be a list of integers"))?;
    let mut out = Vec::new();
    for (i, n) in iter.enumerate() {
        let n = n.map_err(|e| e.to_string())?;
        out.push(
            n.extract::<i64>().map_err(|_| {
                format!("Countdown reference key `{field}`[{i}] must be an integer")
            })?,
        );
    }
    Ok(CountdownGold {
        target,
        numbers: out,
    })
}

/// Parses `task=`.
pub fn task(name: &str) -> PyResult<Task> {
    Task::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!("unknown task '{name}' (known: {})", Task::NAMES))
    })
}

/// The keyword options `verify` accepts, for error messages and the stubs.
const OPTION_NAMES: &str = "boxed, answer_tag, answer_is, last_number, percent, \
require_reduced_fractions, strict_brackets, rounded_reference, relation_interval, reward, \
budget_steps, max_answer_bytes, strict";

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
