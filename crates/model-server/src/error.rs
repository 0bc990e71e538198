//! The crate's one error type, and its one mapping onto HTTP statuses and OpenAI's error body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the model server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request names a model this server does not serve.
    #[error("model `{requested}` is not served here (this is `{served}`)")]
    ModelNotServed {
        /// The name in the request.
        requested: String,
        /// The name this server answers to.
        served: String,
    },
    /// A request field is out of range or unreadable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field (`n`, `max_tokens`, `prompt`, `messages`, ...).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request body is larger than `max_body_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The request body did not arrive within `body_timeout` of its head.
    #[error("request body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// The configured timeout in milliseconds.
        timeout_ms: u64,
    },
    /// The server configuration is unusable (a zero limit, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The model thread is gone (it failed or the server is shutting down).
    #[error("the model thread has stopped")]
    ModelStopped,
    /// Sampling failed inside the model.
    #[error("generation failed: {0}")]
    Generation(String),
    /// The listening socket could not be opened.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other I/O failure of the server itself (runtime start, accept loop).
    #[error("{context}: {source}")]
    Io {
        /// What the server was doing.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The HTTP status a client sees.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::ModelNotServed { .. } => StatusCode::NOT_FOUND,
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::ModelStopped => StatusCode::SERVICE_UNAVAILABLE,
            Error::Generation(_) | Error::Config(_) | Error::Bind { .. } | Error::Io { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<aha_http_limits::Error> for Error {
    fn from(e: aha_http_limits::Error) -> Error {
        use aha_http_limits::Error as Limit;
        match e {
            Limit::BodyTooLarge { limit } => Error::BodyTooLarge { limit },
            Limit::BodyTimeout { timeout_ms } => Error::BodyTimeout { timeout_ms },
            Limit::BodyRead(reason) => Error::invalid("body", reason),
            other => Error::Config(other.to_string()),
        }
    }
}

impl IntoResponse for Error {
    /// OpenAI's error body: `{"error": {"message", "type"}}`, so OpenAI clients show the message.
    fn into_response(self) -> Response {
        let status = self.status();
        let kind = if status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        let body = serde_json::json!({"error": {"message": self.to_string(), "type": kind}});
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_kind_of_failure() {
        let not_served = Error::ModelNotServed {
            requested: "a".into(),
            served: "b".into(),
        };
        assert_eq!(not_served.status(), StatusCode::NOT_FOUND);
        assert_eq!(Error::invalid("n", "0").status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            Error::ModelStopped.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Error::Generation("x".into()).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(Error::invalid("n", "0").to_string(), "n: 0");
        assert_eq!(
            Error::from(aha_http_limits::Error::BodyTimeout { timeout_ms: 5 }).status(),
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(
            Error::from(aha_http_limits::Error::BodyTooLarge { limit: 5 }).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
