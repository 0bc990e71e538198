//! Per-call work budget.
//!
//! Every loop in parsing and evaluation charges steps here, so one call does a bounded amount of
//! work no matter the input: no signals, no threads, no wall clock, and safe from any thread.

use crate::error::{Error, Result};

/// A step counter that fails once `limit` steps have been charged.
#[derive(Debug, Clone)]
pub struct Budget {
    used: u64,
    limit: u64,
}

impl Budget {
    /// A fresh budget of `limit` steps.
    pub fn new(limit: u64) -> Budget {
        Budget { used: 0, limit }
    }

    /// Charges `n` steps; fails once the total exceeds the limit.
    pub fn charge(&mut self, n: u64) -> Result<()> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limit {
            Err(Error::Budget { steps: self.limit })
        } else {
            Ok(())
        }
    }

    /// Steps charged so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}
