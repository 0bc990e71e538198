//! The crate's one error type.

use std::time::Duration;

/// Everything that can go wrong talking to an OpenAI-compatible server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (bad URL, zero concurrency, …).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The async runtime or HTTP client could not be created.
    #[error("cannot start HTTP client: {0}")]
    Setup(String),
    /// The request could not be sent or the connection broke (retried).
    #[error("{url}: transport error: {message}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// No complete answer within the timeout (retried).
    #[error("{url}: no answer within {after:?}")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (the server's error message).
        body: String,
    },
    /// The answer was not the JSON expected.
    #[error("{url}: unexpected response ({message}): {body}")]
    Decode {
        /// The endpoint.
        url: String,
        /// The decoding error.
        message: String,
        /// The start of the response body.
        body: String,
    },
    /// A retryable failure persisted through every attempt.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// A request task died unexpectedly (a bug; reported instead of panicking the caller).
    #[error("request task failed: {0}")]
    Task(String),
}

impl Error {
    /// Whether another attempt may succeed (transport errors, timeouts, 408, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
