//! The crate's one error type.

/// Why sampling failed. A wrong model answer is a verdict elsewhere, never an error here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A sampler failed (after its own retries): loading, tokenizing or generating.
    #[error("sampling failed: {0}")]
    Sampler(String),
    /// Creating the OpenAI-compatible client failed.
    #[error(transparent)]
    OpenAi(#[from] aha_openai::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
