//! Python bindings for aha: the native half (`aha._aha`) of the `aha` wheel.
//!
//! Where it sits: a thin layer over `aha-verify` and `aha-reflect`. Python values are converted
//! to Rust-owned data first (module `convert`); grading and keyword analysis then run without
//! the GIL (module `grade`), in parallel for batches. The reward-function shims for TRL, verl and
//! OpenRLHF are plain Python (`pysrc/aha/rewards.py`) on top of these functions.
//!
//! Nothing here uses signals or timeouts: the verifier bounds its own work, so every function is
//! safe to call from any thread, event loop or worker process.
#![deny(missing_docs)]

mod convert;
mod grade;
mod reflection;
mod verdict;

use std::sync::{Arc, LazyLock, Mutex};

use aha_verify::isolate::{EXTRA_LOG_NAMES, Isolator};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::grade::{Gold, Options, Task};
use crate::reflection::{Reflection, detector};
use crate::verdict::Verdict;

/// Grades one response against a reference. See `aha.verify` in the stubs for the Python docs.
#[pyfunction]
#[pyo3(signature = (response, gold, task = "math", **options))]
fn verify(
    py: Python<'_>,
    response: &str,
    gold: &Bound<'_, PyAny>,
    task: &str,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Verdict> {
    let task = convert::task(task)?;
    let gold = convert::gold(task, gold)?;
    let opts = convert::options(options)?;
    let response = response.to_owned();
    let outcome = py.detach(|| grade::grade(task, &response, &gold, &opts));
    Ok(Verdict::new(&response, outcome))
}

/// Grades many responses in parallel, without the GIL.
#[pyfunction]
#[pyo3(signature = (responses, golds, task = "math", num_threads = None, **options))]
fn verify_batch(
    py: Python<'_>,
    responses: &Bound<'_, PyAny>,
    golds: &Bound<'_, PyAny>,
    task: &str,
    num_threads: Option<usize>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<Verdict>> {
    let task = convert::task(task)?;
    let opts = convert::options(options)?;
    let responses: Vec<String> = responses
        .try_iter()?
        .enumerate()
        .map(|(i, r)| {
            r?.extract::<String>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!("responses[{i}] must be a str"))
            })
        })
        .collect::<PyResult<_>>()?;
    let golds: Vec<Gold> = golds
        .try_iter()?
        .enumerate()
        .map(|(i, g)| {
            convert::gold(task, &g?).map_err(|e| {
                pyo3::exceptions::PyTypeError::new_err(format!("golds[{i}]: {}", e.value(py)))
            })
        })
        .collect::<PyResult<_>>()?;
    if responses.len() != golds.len() {
        return Err(PyValueError::new_err(format!(
            "responses and golds differ in length: {} vs {}",
            responses.len(),
            golds.len()
        )));
    }
    let outcomes = py.detach(|| run_parallel(task, &responses, &golds, &opts, num_threads))?;
    Ok(responses
        .iter()
        .zip(outcomes)
        .map(|(r, o)| Verdict::new(r, o))
        .collect())
}

fn run_parallel(
    task: Task,
    responses: &[String],
    golds: &[Gold],
    opts: &Options,
    num_threads: Option<usize>,
) -> PyResult<Vec<grade::Outcome>> {
    let work = || {
        responses
            .par_iter()
            .zip(golds.par_iter())
            .map(|(r, g)| grade::grade(task, r, g, opts))
            .collect::<Vec<_>>()
    };
    match num_threads {
        None | Some(0) => Ok(pool()?.install(work)),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyValueError::new_err(format!("cannot start {n} threads: {e}")))?;
            Ok(pool.install(work))
        }
    }
}

/// The process's worker pool, rebuilt in a forked child.
///
/// rayon's global pool does not survive `fork()` (the child inherits the pool's bookkeeping but
/// not its threads, so the first parallel call would wait forever). Python forks a lot
/// (`multiprocessing`, `datasets.map(num_proc=...)`), so the pool is keyed by process id.
fn pool() -> PyResult<Arc<rayon::ThreadPool>> {
    static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);
    let pid = std::process::id();
    // A poisoned lock only means a thread panicked while swapping the pool; the value is whole.
    let mut slot = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((owner, pool)) = slot.as_ref()
        && *owner == pid
    {
        return Ok(pool.clone());
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .build()
            .map_err(|e| PyValueError::new_err(format!("cannot start worker threads: {e}")))?,
    );
    // A pool inherited from the parent has no threads here; dropping it would signal threads that
    // do not exist, so it is leaked (once per fork).
    if let Some(inherited) = slot.replace((pid, pool.clone())) {
        std::mem::forget(inherited);
    }
    Ok(pool)
}

/// Countdown grading with explicit target and numbers.
#[pyfunction]
#[pyo3(signature = (response, target, numbers, strict = false))]
fn countdown(
    py: Python<'_>,
    response: &str,
    target: i64,
    numbers: Vec<i64>,
    strict: bool,
) -> Verdict {
    let gold: Gold = Ok(aha_verify::Gold::Countdown { target, numbers });
    let mut opts = Options::default();
    opts.countdown.strict = strict;
    let response = response.to_owned();
    let outcome = py.detach(|| grade::grade(Task::Countdown, &response, &gold, &opts));
    Verdict::new(&response, outcome)
}

/// The response in an engine's prompt + response text, with whether the prompt was found.
///
/// aha's one response-isolation rule (`aha_verify::isolate`, the reward server uses it too):
/// prompt text is never returned, also when the engine left-truncated the prompt; stop markers
/// are removed; when the response cannot be told apart from the prompt it is `""` and the flag
/// is `False`.
#[pyfunction]
#[pyo3(signature = (query, prompt = None))]
fn isolate_response(query: &str, prompt: Option<&str>) -> (String, bool) {
    static ISOLATOR: LazyLock<Isolator> = LazyLock::new(Isolator::default);
    let isolated = ISOLATOR.isolate(query, prompt);
    (isolated.text, isolated.prompt_match.is_matched())
}

/// Whether a prompt ends with `<think>`, so its response starts inside the thinking block.
#[pyfunction]
fn prompt_prefills_think(prompt: &str) -> bool {
    aha_verify::isolate::prompt_prefills_think(prompt)
}

/// Strict R1 format check (`<think>…</think>` then `<answer>…</answer>`, nothing else).
#[pyfunction]
#[pyo3(signature = (response, prefilled_think = false))]
fn r1_format_ok(response: &str, prefilled_think: bool) -> bool {
    aha_verify::r1_format_ok(response, prefilled_think)
}

/// Self-reflection keyword analysis of one response.
#[pyfunction]
#[pyo3(signature = (response, keywords = None, r#match = "substring", n_tokens = None))]
fn reflect(
    py: Python<'_>,
    response: &str,
    keywords: Option<&Bound<'_, PyAny>>,
    r#match: &str,
    n_tokens: Option<usize>,
) -> PyResult<Reflection> {
    let det = detector(keywords, r#match)?;
    let response = response.to_owned();
    let report = py.detach(|| match n_tokens {
        Some(n) => det.analyze_with_tokens(&response, n),
        None => det.analyze(&response),
    });
    Ok(Reflection::new(det.keywords().name(), det.mode(), report))
}

/// Keyword analysis of many responses in parallel, without the GIL.
#[pyfunction]
#[pyo3(signature = (responses, keywords = None, r#match = "substring"))]
fn reflect_batch(
    py: Python<'_>,
    responses: Vec<String>,
    keywords: Option<&Bound<'_, PyAny>>,
    r#match: &str,
) -> PyResult<Vec<Reflection>> {
    let det = detector(keywords, r#match)?;
    let pool = pool()?;
    let reports = py.detach(|| {
        pool.install(|| {
            responses
                .par_iter()
                .map(|r| det.analyze(r))
                .collect::<Vec<_>>()
        })
    });
    let name = det.keywords().name();
    Ok(reports
        .into_iter()
        .map(|r| Reflection::new(name, det.mode(), r))
        .collect())
}

/// Superficial-self-reflection classification of one response, as a JSON string.
#[pyfunction]
#[pyo3(signature = (response, gold, keywords = None, r#match = "substring", **options))]
fn classify_ssr_json(
    py: Python<'_>,
    response: &str,
    gold: &str,
    keywords: Option<&Bound<'_, PyAny>>,
    r#match: &str,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let det = detector(keywords, r#match)?;
    let opts = convert::options(options)?;
    let (response, gold) = (response.to_owned(), gold.to_owned());
    let report = py.detach(|| aha_reflect::classify_ssr(&response, &gold, &det, &opts.math));
    serde_json::to_string(&report)
        .map_err(|e| PyValueError::new_err(format!("cannot serialise the SSR report: {e}")))
}

/// The native module; `pysrc/aha/__init__.py` re-exports its items as `aha.*`.
#[pymodule]
fn _aha(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("KEYWORD_PRESETS", aha_reflect::PRESETS.to_vec())?;
    m.add("EXTRA_LOG_NAMES", EXTRA_LOG_NAMES.to_vec())?;
    m.add_class::<Verdict>()?;
    m.add_class::<Reflection>()?;
    m.add_class::<reflection::Hit>()?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch, m)?)?;
    m.add_function(wrap_pyfunction!(countdown, m)?)?;
    m.add_function(wrap_pyfunction!(r1_format_ok, m)?)?;
    m.add_function(wrap_pyfunction!(isolate_response, m)?)?;
    m.add_function(wrap_pyfunction!(prompt_prefills_think, m)?)?;
    m.add_function(wrap_pyfunction!(reflect, m)?)?;
    m.add_function(wrap_pyfunction!(reflect_batch, m)?)?;
    m.add_function(wrap_pyfunction!(classify_ssr_json, m)?)?;
    Ok(())
}
