//! `aha.Reflection`: the Python view of a keyword analysis, and the detector cache.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use aha_reflect::{KeywordDetector, KeywordReport, Keywords, MatchMode};

use crate::convert::type_name;

/// One counted keyword occurrence.
#[pyclass(module = "aha", frozen, eq, get_all)]
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The keyword (lower-case, as listed).
    keyword: String,
    /// Start, in characters of the response.
    start: usize,
    /// End (exclusive), in characters of the response.
    end: usize,
    /// Whether the occurrence lies inside `<think>…</think>`.
    in_think: bool,
}

#[pymethods]
impl Hit {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let keyword = self.keyword.as_str().into_pyobject(py)?.repr()?;
        Ok(format!(
            "Hit(keyword={}, start={}, end={}, in_think={})",
            keyword,
            self.start,
            self.end,
            if self.in_think { "True" } else { "False" }
        ))
    }
}

/// Self-reflection keyword analysis of one response (`aha.reflect`).
#[pyclass(module = "aha", frozen, eq, get_all)]
#[derive(Debug, Clone, PartialEq)]
pub struct Reflection {
    /// Number of counted keyword occurrences (the study's `n_reflection`).
    total: usize,
    /// Count per keyword; keywords that did not occur are left out.
    per_keyword: BTreeMap<String, usize>,
    /// The occurrences, by start position.
    hits: Vec<Hit>,
    /// Occurrences per 1,000 characters.
    per_1k_chars: f64,
    /// Occurrences per 1,000 tokens, when `n_tokens` was given.
    per_1k_tokens: Option<f64>,
    /// Length of the response in characters.
    chars: usize,
    /// How many hits lie inside `<think>…</think>`.
    in_think: usize,
    /// The keyword list's name (a preset name, `"custom"` or the file name).
    keywords: String,
    /// `"substring"` or `"word"`.
    r#match: &'static str,
}

impl Reflection {
    /// Wraps a report made with keyword list `keywords` in mode `mode`.
    pub fn new(keywords: &str, mode: MatchMode, r: KeywordReport) -> Reflection {
        Reflection {
            total: r.total,
            per_keyword: r.per_keyword,
            hits: r
                .hits
                .into_iter()
                .map(|h| Hit {
                    keyword: h.keyword,
                    start: h.start,
                    end: h.end,
                    in_think: h.in_think,
                })
                .collect(),
            per_1k_chars: r.per_1k_chars,
            per_1k_tokens: r.per_1k_tokens,
            chars: r.chars,
            in_think: r.in_think,
            keywords: keywords.to_string(),
            r#match: mode.as_str(),
        }
    }
}

#[pymethods]
impl Reflection {
    /// `total > 0`: the study's `has_reflection`.
    #[getter]
    fn has_reflection(&self) -> bool {
        self.total > 0
    }

    /// The analysis as a plain dict (hits as dicts).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("total", self.total)?;
        d.set_item("has_reflection", self.has_reflection())?;
        d.set_item("per_keyword", &self.per_keyword)?;
        let hits = self
            .hits
            .iter()
            .map(|h| {
                let hd = PyDict::new(py);
                hd.set_item("keyword", &h.keyword)?;
                hd.set_item("start", h.start)?;
                hd.set_item("end", h.end)?;
                hd.set_item("in_think", h.in_think)?;
                Ok(hd)
            })
            .collect::<PyResult<Vec<_>>>()?;
        d.set_item("hits", hits)?;
        d.set_item("per_1k_chars", self.per_1k_chars)?;
        d.set_item("per_1k_tokens", self.per_1k_tokens)?;
        d.set_item("chars", self.chars)?;
        d.set_item("in_think", self.in_think)?;
        d.set_item("keywords", &self.keywords)?;
        d.set_item("match", self.r#match)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let per_keyword = (&self.per_keyword).into_pyobject(py)?.repr()?;
        let keywords = self.keywords.as_str().into_pyobject(py)?.repr()?;
        Ok(format!(
            "Reflection(total={}, per_keyword={}, keywords={}, match='{}')",
            self.total, per_keyword, keywords, self.r#match
        ))
    }
}

type Cache = Mutex<HashMap<(String, MatchMode), Arc<KeywordDetector>>>;

/// Compiled detectors for presets, so repeated calls do not rebuild the automaton.
static PRESET_DETECTORS: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();

/// The detector for `keywords` (preset name, list of words, or a `pathlib.Path` to a keyword
/// file; default `"paper15"`) in `mode` (`"substring"` or `"word"`).
pub fn detector(keywords: Option<&Bound<'_, PyAny>>, mode: &str) -> PyResult<Arc<KeywordDetector>> {
    let mode = match mode {
        "substring" => MatchMode::Substring,
        "word" => MatchMode::Word,
        other => {
            return Err(PyValueError::new_err(format!(
                "match must be 'substring' or 'word', got '{other}'"
            )));
        }
    };
    let preset = match keywords {
        None => Some("paper15".to_string()),
        Some(k) if k.is_instance_of::<PyString>() => Some(k.extract::<String>()?),
        Some(_) => None,
    };
    if let Some(name) = preset {
        let cache = PRESET_DETECTORS.get_or_init(Default::default);
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = map.get(&(name.clone(), mode)) {
            return Ok(d.clone());
        }
        let kw = Keywords::preset(&name).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let d = Arc::new(build(&kw, mode)?);
        map.insert((name, mode), d.clone());
        return Ok(d);
    }
    let k = keywords.unwrap_or_else(|| unreachable!("None is the default preset"));
    let kw = if k.hasattr("__fspath__")? {
        let path: PathBuf = k.extract()?;
        Keywords::from_file(&path).map_err(|e| PyValueError::new_err(e.to_string()))?
    } else if let Ok(words) = k.extract::<Vec<String>>() {
        Keywords::from_words("custom", &words).map_err(|e| PyValueError::new_err(e.to_string()))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "keywords must be a preset name, a list of words or a path, got {}",
            type_name(k)
        )));
    };
    Ok(Arc::new(build(&kw, mode)?))
}

fn build(kw: &Keywords, mode: MatchMode) -> PyResult<KeywordDetector> {
    KeywordDetector::new(kw, mode).map_err(|e| PyValueError::new_err(e.to_string()))
}
