//! The bounded blocking pool that grading runs on.
//!
//! Grading is CPU work, so it never runs on the async runtime's threads (that would stall every
//! other connection). Each job takes one of `workers` permits, then runs on tokio's blocking
//! threads. The request's deadline bounds both the wait for a permit (→ 503: the server is
//! saturated) and the job itself (→ 504); a job past its deadline stops between samples, and
//! holds its permit until it stops, so abandoned work still counts against the bound.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::error::{Error, Result};
use crate::scorer::{Sample, Scored, Scorer};

/// Smallest number of samples worth a job of its own: below this the hand-off costs more than
/// the parallelism gains.
const MIN_CHUNK: usize = 16;

/// Bounded grading pool (cheap to clone: it is a shared semaphore).
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    permits: Arc<Semaphore>,
    workers: usize,
    deadline_ms: u64,
}

impl Pool {
    pub(crate) fn new(workers: usize, deadline_ms: u64) -> Pool {
        Pool {
            permits: Arc::new(Semaphore::new(workers)),
            workers,
            deadline_ms,
        }
    }

    /// Grading jobs running right now.
    pub(crate) fn busy(&self) -> usize {
        self.workers - self.permits.available_permits()
    }

    /// Runs `job` on the blocking pool, finishing by `until`.
    pub(crate) async fn run<T, F>(&self, until: Instant, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let deadline_ms = self.deadline_ms;
        let permit = match timeout_at(until, self.permits.clone().acquire_owned()).await {
            Err(_) => return Err(Error::Overloaded { deadline_ms }),
            Ok(Err(_)) => return Err(Error::Internal("grading pool is closed".into())),
            Ok(Ok(permit)) => permit,
        };
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        });
        match timeout_at(until, handle).await {
            Err(_) => Err(Error::DeadlineExceeded { deadline_ms }),
            Ok(Err(join)) => Err(Error::Internal(format!("grading worker failed: {join}"))),
            Ok(Ok(result)) => result,
        }
    }

    /// Grades `samples` in order, split into up to `workers` jobs that run in parallel.
    pub(crate) async fn grade(
        &self,
        scorer: Arc<dyn Scorer>,
        samples: Vec<Sample>,
        until: Instant,
    ) -> Result<Vec<Scored>> {
        let n = samples.len();
        let deadline_ms = self.deadline_ms;
        let chunk = MIN_CHUNK.max(n.div_ceil(self.workers));
        if n <= chunk {
            return self
                .run(until, move || {
                    grade_chunk(&*scorer, &samples, until, deadline_ms)
                })
                .await;
        }
        let samples = Arc::new(samples);
        let jobs: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(n);
                let (pool, scorer, samples) = (self.clone(), scorer.clone(), samples.clone());
                tokio::spawn(async move {
                    pool.run(until, move || {
                        grade_chunk(&*scorer, &samples[start..end], until, deadline_ms)
                    })
                    .await
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for job in jobs {
            match job.await {
                Ok(part) => out.extend(part?),
                Err(join) => return Err(Error::Internal(format!("grading task failed: {join}"))),
            }
        }
        Ok(out)
    }
}

fn grade_chunk(
    scorer: &dyn Scorer,
    samples: &[Sample],
    until: Instant,
    deadline_ms: u64,
) -> Result<Vec<Scored>> {
    let mut out = Vec::with_capacity(samples.len());
    for sample in samples {
        // Stop early once the answer can no longer be delivered: the permit frees sooner.
        if Instant::now() >= until {
            return Err(Error::DeadlineExceeded { deadline_ms });
        }
        out.push(scorer.score(sample));
    }
    Ok(out)
}
