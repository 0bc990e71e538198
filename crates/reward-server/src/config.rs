//! Server limits and defaults. Built by the caller (the `aha` binary maps its flags onto it);
//! the library reads no flags, files or environment variables.

use std::time::Duration;

pub use aha_verify::isolate::DEFAULT_STOP_MARKERS;

use crate::error::{Error, Result};

/// Which rule-based task a sample is graded as: the grading contract's task (`math`,
/// `math_answer`, `countdown`).
pub use aha_verify::Task;

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
        if self.max_body_bytes == 0 {
            return Err(Error::Config("max_body_bytes must be at least 1".into()));
        }
        if self.deadline.is_zero() {
            return Err(Error::Config("deadline must be positive".into()));
        }
        if self.stop_markers.iter().any(|m| m.is_empty()) {
            return Err(Error::Config(
                "stop markers must not be empty strings".into(),
            ));
        }
        Ok(())
    }

    /// The deadline in whole milliseconds (for messages).
    pub(crate) fn deadline_ms(&self) -> u64 {
        u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX)
    }
}
