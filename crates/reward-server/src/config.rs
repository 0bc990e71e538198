//! Server limits and defaults. Built by the caller (the `aha` binary maps its flags onto it);
//! the library reads no flags, files or environment variables.

use std::time::Duration;

pub use aha_verify::isolate::DEFAULT_STOP_MARKERS;

use crate::error::{Error, Result};

/// Which rule-based task a sample is graded as: the grading contract's task (`math`,
/// `math_answer`, `countdown`).
pub use aha_verify::Task;

/// The smallest `max_header_bytes` (hyper's smallest read buffer).
pub use aha_http_limits::MIN_HEADER_BYTES;

/// Limits and defaults of one server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Task used for OpenRLHF and oat requests, and for `/v1/verify` items without `task`.
    pub task: Task,
    /// Largest accepted request body in bytes (larger → 413).
    pub max_body_bytes: usize,
    /// Most samples in one request (more → 413).
    pub max_batch: usize,
    /// Per-request deadline, from the moment the body has been read (busy → 503, slow → 504).
    pub deadline: Duration,
    /// Grading jobs that may run at once (size of the bounded blocking pool).
    pub workers: usize,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub shutdown_grace: Duration,
    /// Strings removed from responses before grading (see [`DEFAULT_STOP_MARKERS`]).
    pub stop_markers: Vec<String>,
    /// Most open connections. At the limit a new connection evicts the longest-idle one
    /// (connections that never finished a request first); when all are busy it gets an
    /// immediate 503 and is closed. Keep it below the process's descriptor limit (`ulimit -n`).
    pub max_connections: usize,
    /// Time a connection has to deliver a request head once it is ready for one; also the
    /// keep-alive idle timeout. A late head closes the connection.
    pub header_timeout: Duration,
    /// Time the whole body has to arrive after its head (late → 408, connection closed).
    pub body_timeout: Duration,
    /// Largest request head (request line and headers) in bytes (larger → 431); at least 8192.
    pub max_header_bytes: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            task: Task::Math,
            max_body_bytes: 16 * 1024 * 1024,
            max_batch: 4096,
            deadline: Duration::from_secs(10),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            shutdown_grace: Duration::from_secs(30),
            stop_markers: DEFAULT_STOP_MARKERS.iter().map(|s| s.to_string()).collect(),
            max_connections: 512,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
        }
    }
}

impl ServeConfig {
    /// Checks that the limits are usable.
    pub fn validate(&self) -> Result<()> {
        if self.workers == 0 {
            return Err(Error::Config("workers must be at least 1".into()));
        }
        if self.max_batch == 0 {
            return Err(Error::Config("max_batch must be at least 1".into()));
        }
        if self.deadline.is_zero() {
            return Err(Error::Config("deadline must be positive".into()));
        }
        self.limits()
            .validate()
            .map_err(|e| Error::Config(e.to_string()))?;
        if self.stop_markers.iter().any(|m| m.is_empty()) {
            return Err(Error::Config(
                "stop markers must not be empty strings".into(),
            ));
        }
        Ok(())
    }

    /// The connection and size limits, for the shared accept loop (`aha-http-limits`).
    pub(crate) fn limits(&self) -> aha_http_limits::Limits {
        aha_http_limits::Limits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// The deadline in whole milliseconds (for messages).
    pub(crate) fn deadline_ms(&self) -> u64 {
        millis(self.deadline)
    }
}

/// A duration in whole milliseconds (for messages).
pub(crate) use aha_http_limits::millis;
