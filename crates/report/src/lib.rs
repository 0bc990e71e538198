//! `aha-report`: one self-contained HTML page (inline SVG charts, no scripts, light and dark
//! mode) from probe and training output directories, plus each figure as its own SVG.
//!
//! Pure: no async runtime, network or ML framework; it reads files and returns strings.
#![deny(missing_docs)]

pub mod chart;
mod error;
mod html;
pub mod load;

pub use error::{Error, Result};
pub use html::{
    Figure, Options, Report, build, build_with, escape_html, highlight_keywords, run_keywords,
};
pub use load::{Run, load_dir};
