//! The crate's one error type, and its one mapping onto HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the reward service.
///
/// A wrong model answer is never an error: it is a [`aha_verify::Verdict`]. Errors are about the
/// request (shape, size), the server's capacity (busy, deadline) or its own setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not what the protocol expects; `field` is a path into the body such as
    /// `labels[2]` (`body` for the body as a whole).
    #[error("invalid request: {field}: {message}")]
    InvalidField {
        /// Path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The body is larger than `--max-body-bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within `--body-timeout-ms` of the request head (e.g. a body
    /// announced larger than it is).
    #[error("request body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// The configured timeout in milliseconds.
        timeout_ms: u64,
    },
    /// A batch has more samples than `--max-batch`.
    #[error("{field}: batch of {len} samples exceeds the limit of {max}")]
    BatchTooLarge {
        /// The list that is too long.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// No grading worker became free before the request's deadline.
    #[error("server busy: no grading worker became free within the {deadline_ms} ms deadline")]
    Overloaded {
        /// The per-request deadline in milliseconds.
        deadline_ms: u64,
    },
    /// Grading started but did not finish before the request's deadline.
    #[error("grading did not finish within the {deadline_ms} ms deadline")]
    DeadlineExceeded {
        /// The per-request deadline in milliseconds.
        deadline_ms: u64,
    },
    /// No route at this path.
    #[error("no such endpoint: {method} {path}")]
    NotFound {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// A grading worker panicked: a bug in a grader, reported instead of crashing the server.
    #[error("internal error: {0}")]
    Internal(String),
    /// The server configuration is unusable (e.g. zero workers).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The reflection keywords could not be read or built (`context` says which step).
    #[error("{context}")]
    Keywords {
        /// What was being done: reading a keyword file, building the detector.
        context: String,
        /// The cause.
        #[source]
        source: aha_reflect::Error,
    },
    /// Binding, accepting or the runtime failed (the cause is the error's `source`).
    #[error("{context}")]
    Io {
        /// What the server was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<aha_http_limits::Error> for Error {
    fn from(e: aha_http_limits::Error) -> Error {
        use aha_http_limits::Error as Limit;
        match e {
            Limit::BodyTooLarge { limit } => Error::BodyTooLarge { limit },
            Limit::BodyTimeout { timeout_ms } => Error::BodyTimeout { timeout_ms },
            Limit::BodyRead(message) => Error::field("body", message),
            other => Error::Config(other.to_string()),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidField`].
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Stable machine-readable name of the variant (the `kind` in error bodies and the
    /// `kind` label of `aha_serve_errors_total`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidField { .. } => "invalid_request",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::BodyTimeout { .. } => "body_timeout",
            Error::BatchTooLarge { .. } => "batch_too_large",
            Error::Overloaded { .. } => "overloaded",
            Error::DeadlineExceeded { .. } => "deadline_exceeded",
            Error::NotFound { .. } => "not_found",
            Error::Internal(_) => "internal",
            Error::Config(_) | Error::Keywords { .. } => "config",
            Error::Io { .. } => "io",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidField { .. } => StatusCode::BAD_REQUEST,
            Error::BodyTooLarge { .. } | Error::BatchTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Error::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::DeadlineExceeded { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Internal(_) | Error::Config(_) | Error::Keywords { .. } | Error::Io { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// Marker put into the extensions of every error response, so the metrics middleware can count
/// errors by kind without re-parsing bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorKind(pub(crate) &'static str);

/// The one place where errors become HTTP responses: `{"error": {"kind": …, "message": …}}`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let body = serde_json::json!({ "error": { "kind": kind, "message": self.to_string() } });
        let mut response = (self.status(), axum::Json(body)).into_response();
        response.extensions_mut().insert(ErrorKind(kind));
        response
    }
}
