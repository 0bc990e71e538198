//! Datasets and prompt templates for R1-Zero-style studies.
//!
//! - [`load`] reads JSON arrays, JSONL, Parquet and Arrow IPC files (including Hugging Face
//!   `save_to_disk` directories and `DatasetDict`s with a split) into [`Problem`]s, detecting
//!   the question, answer and id fields of the common math and Countdown datasets, or taking a
//!   [`FieldMap`]. A bad row is an error naming file, line (or row) and field; lenient mode
//!   skips bad rows and reports them.
//! - [`Template`] renders the study's prompt templates byte-exactly and says how the answer is
//!   extracted ([`AnswerFormat`]), what to stop on, and whether `<think>` is prefilled.
//! - [`resolve_data`] turns a `--data` value into a path: a file, a short name of a set shipped
//!   in the repository's `data/` ([`SHIPPED`]), or a Hugging Face dataset (`hf:ORG/NAME`).
//! - [`shuffle`], [`train_test_split`], [`Dataset::limited`]: seeded, reproducible subsets.
//!
//! The crate is pure: no async runtime, no ML framework.
//!
//! ```
//! use aha_data::{load, Gold, LoadOptions, Template, AnswerFormat};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("gsm.jsonl");
//! std::fs::write(&path, concat!(
//!     r#"{"question": "2 + 2?", "answer": "2 + 2 = 4\n#### 4", "idx": 0}"#, "\n",
//!     r#"{"question": "Big?", "answer": "so\n#### 1,600", "idx": 1}"#, "\n",
//! ))?;
//! let ds = load(&path, &LoadOptions::default())?;
//! assert_eq!(ds.problems[1].gold, Gold::Answer("1600".into()));
//!
//! let t = Template::from_name("qwen-math")?;
//! assert_eq!(t.answer_format(), AnswerFormat::Boxed);
//! let prompt = t.render(&ds.problems[0])?;
//! assert!(prompt.text().unwrap().ends_with("2 + 2?<|im_end|>\n<|im_start|>assistant\n"));
//!
//! // A bad row names the file, the line and the field.
//! std::fs::write(&path, "{\"problem\": 3, \"answer\": \"1\"}\n")?;
//! let err = load(&path, &LoadOptions::default()).unwrap_err();
//! assert!(err.to_string().contains(r#"gsm.jsonl:1: field "problem": expected a string"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod columnar;
mod error;
mod ipc_scan;
mod load;
mod names;
mod problem;
mod split;
mod template;

pub use error::{Error, Location, Result, RowError};
pub use load::{
    ANSWER_FIELDS, Dataset, FieldMap, Format, ID_FIELDS, LoadOptions, QUESTION_FIELDS,
    gsm8k_answer, last_boxed, load, load_many,
};
pub use names::{
    DataSource, HUB_PREFIX, LoadedData, SHIPPED, Shipped, load_data, resolve_data, shipped,
    shipped_names,
};
pub use problem::{Gold, Problem, py_float_str};
pub use split::{shuffle, train_test_split};
pub use template::{
    AnswerFormat, Prompt, QUESTION_PLACEHOLDER, TEMPLATE_NAMES, Template, UserTemplate,
};
