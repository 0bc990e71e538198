//! One HTTP/1.1 accept loop with connection limits, shared by aha's two servers
//! (`aha-reward-server` and `aha-model-server`).
//!
//! Each connection is one file descriptor and one task, so a client that opens connections and
//! sends nothing (or trickles a request a byte at a time: slowloris) could otherwise hold every
//! descriptor the process has and lock everyone else out; a client that announces a body and
//! never sends it could hold a connection for ever. [`serve`] runs an axum `Router` under the
//! limits of [`Limits`], and [`read_body`] (called from each server's body middleware) enforces
//! the body limits and tells the accept loop that the request is being worked on:
//!
//! | limit (field / flag of both servers) | default | what happens at the limit |
//! |---|---|---|
//! | `max_connections` / `--max-connections` | 512 | a new connection evicts the longest-idle one: first connections that never completed a request, then idle keep-alive ones, then ones still sending a body; never one being worked on. When all are being worked on: an immediate `503` with `retry-after: 1`, and close. Running out of descriptors (EMFILE) below the limit evicts the same way. |
//! | `header_timeout` / `--header-timeout-ms` | 30 s | request head not complete in time (or keep-alive idle that long): connection closed |
//! | `body_timeout` / `--body-timeout-ms` | 60 s | body not complete in time after its head: [`Error::BodyTimeout`] (the servers answer `408`), connection closed |
//! | `max_header_bytes` / `--max-header-bytes` | 64 KiB (≥ 8192) | `431` |
//! | `max_body_bytes` / `--max-body-bytes` | 16 MiB | [`Error::BodyTooLarge`] (the servers answer `413`), at once when `content-length` says so |
//!
//! The library reads no flags or environment variables: each server maps its configuration
//! onto [`Limits`].
//!
//! With the `test-support` feature, `test_support` holds the attacks of both servers' abuse
//! tests (`tests/abuse.rs`): the server in a child process at `ulimit -n 1024`, a well-behaved
//! client whose p50/p99 is checked and printed during each attack, slowloris, oversized heads,
//! short bodies, pipelined garbage, clients leaving mid-request and a reconnect flood.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "clap")]
pub mod args;
mod conn;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use http_body_util::BodyExt;

pub use conn::{ConnStats, serve};

/// The smallest `max_header_bytes` (hyper's smallest read buffer).
pub const MIN_HEADER_BYTES: usize = 8192;

/// What can go wrong: an unusable [`Limits`], or a request body that breaks them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A limit is unusable (zero, or below its minimum).
    #[error("invalid limits: {0}")]
    Config(String),
    /// The body is larger than `max_body_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within `body_timeout` of the request head (e.g. a body
    /// announced larger than it is).
    #[error("request body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// The configured timeout in milliseconds.
        timeout_ms: u64,
    },
    /// The connection failed while the body was being read (e.g. a malformed chunk).
    #[error("reading the request body: {0}")]
    BodyRead(String),
}

/// Connection and request-size limits of one server (see the [crate docs](crate) for what
/// each limit answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most open connections. At the limit a new connection evicts the longest-idle one
    /// (connections that never finished a request first); when all are being worked on it
    /// gets an immediate 503 and is closed. Keep it below the descriptor limit (`ulimit -n`).
    pub max_connections: usize,
    /// Time a connection has to deliver a request head once it is ready for one; also the
    /// keep-alive idle timeout. A late head closes the connection.
    pub header_timeout: Duration,
    /// Time the whole body has to arrive after its head (late → [`Error::BodyTimeout`],
    /// connection closed).
    pub body_timeout: Duration,
    /// Largest request head (request line and headers) in bytes (larger → 431); at least
    /// [`MIN_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// Largest request body in bytes (larger → [`Error::BodyTooLarge`]).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks that the limits are usable.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_connections == 0 {
            return Err(Error::Config("max_connections must be at least 1".into()));
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err(Error::Config(
                "header and body timeouts must be positive".into(),
            ));
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(Error::Config(format!(
                "max_header_bytes must be at least {MIN_HEADER_BYTES}"
            )));
        }
        if self.max_body_bytes == 0 {
            return Err(Error::Config("max_body_bytes must be at least 1".into()));
        }
        Ok(())
    }
}

/// Reads the whole body of `req` within `body_timeout` and at most `max_body_bytes` (refused at
/// once when `content-length` announces more), then marks the connection as being worked on,
/// so the connection limit never evicts it before its answer is ready. Returns the request with
/// the body in memory.
///
/// Call it from the server's middleware before any handler runs; map a
/// [`Error::BodyTimeout`] answer through [`close_connection`] (the rest of the body may still be
/// on its way and must not be read as the next request).
pub async fn read_body(req: Request, limits: &Limits) -> Result<Request, Error> {
    let (parts, body) = req.into_parts();
    let limit = limits.max_body_bytes;
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(Error::BodyTooLarge { limit });
    }
    let read = async {
        let mut body = body;
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::BodyRead(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(Error::BodyTooLarge { limit });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf)
    };
    let bytes = match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(read) => read?,
        Err(_) => {
            return Err(Error::BodyTimeout {
                timeout_ms: millis(limits.body_timeout),
            });
        }
    };
    if let Some(c) = parts.extensions.get::<conn::ConnInfo>() {
        c.slot.working(&c.clock);
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Adds `connection: close` to `response`, so hyper closes the connection after it.
pub fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// A duration in whole milliseconds (for messages and `/healthz`).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_unusable_limit() {
        assert!(Limits::default().validate().is_ok());
        let bad = |l: Limits| match l.validate() {
            Err(Error::Config(m)) => m,
            other => panic!("{other:?}"),
        };
        let d = Limits::default;
        assert!(
            bad(Limits {
                max_connections: 0,
                ..d()
            })
            .contains("max_connections")
        );
        assert!(
            bad(Limits {
                body_timeout: Duration::ZERO,
                ..d()
            })
            .contains("timeouts")
        );
        assert!(
            bad(Limits {
                max_header_bytes: MIN_HEADER_BYTES - 1,
                ..d()
            })
            .contains("max_header_bytes")
        );
        assert!(
            bad(Limits {
                max_body_bytes: 0,
                ..d()
            })
            .contains("max_body_bytes")
        );
    }

    // Late bodies (408) are covered end to end by both servers' `tests/abuse.rs`.
    #[tokio::test]
    async fn read_body_refuses_oversize_bodies_announced_or_sent() {
        let limits = Limits {
            max_body_bytes: 10,
            body_timeout: Duration::from_millis(50),
            ..Limits::default()
        };
        let announced = Request::builder()
            .header(header::CONTENT_LENGTH, "11")
            .body(axum::body::Body::from("x"))
            .unwrap();
        assert!(matches!(
            read_body(announced, &limits).await,
            Err(Error::BodyTooLarge { limit: 10 })
        ));
        let sent = Request::builder()
            .body(axum::body::Body::from("0123456789a"))
            .unwrap();
        assert!(matches!(
            read_body(sent, &limits).await,
            Err(Error::BodyTooLarge { limit: 10 })
        ));
        let ok = Request::builder()
            .body(axum::body::Body::from("0123456789"))
            .unwrap();
        let body = read_body(ok, &limits).await.unwrap().into_body();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"0123456789");
    }
}
