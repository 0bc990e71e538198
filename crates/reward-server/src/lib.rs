//! Reward HTTP service (OpenRLHF, oat and aha's own API) over `aha-verify` and `aha-reflect`.
//!
//! Where it sits: engines that run RL on a cluster (OpenRLHF, verl, oat) call this service for
//! rule-based rewards instead of grading in-process. It depends on the pure crates `aha-verify`
//! (correctness) and `aha-reflect` (reflection keywords) and must not depend on the model or the
//! trainer. The `aha serve-reward` command builds a [`ServeConfig`] and an [`AhaScorer`] from its
//! flags (`args::ServeArgs`, behind the `clap` feature) and calls [`serve_until_signal`].
//!
//! # Endpoints
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /get_reward`, `POST /` | OpenRLHF JSON `{"query": [..], "prompts": [..], "labels": [..]}` | `{"rewards": [..], "scores": [..], "extra_logs": {..}}` |
//! | `POST /get_feedback` | oat msgpack `{batch_prompt, batch_response, batch_candidates, batch_reference}` | msgpack `{batch_score, batch_first_win_prob}` |
//! | `POST /v1/verify` | JSON `{"items": [{"response", "gold", "task"?, "prefilled_think"?}]}` | JSON `{"schema_version": 1, "results": [..]}` |
//! | `GET /healthz` | — | JSON status and limits |
//! | `GET /metrics` | — | Prometheus (OpenMetrics) text, see [`metrics`](crate#metrics) |
//!
//! **OpenRLHF.** The graded response is cut out of `query` by aha's one response-isolation
//! rule ([`Isolator`], shared with the Python wheel): text that came from `prompts[i]` is never
//! graded, also when the engine left-truncated a long prompt, and stop markers
//! ([`DEFAULT_STOP_MARKERS`]) are removed anywhere. A query whose response cannot be told
//! apart from its prompt is graded as having no answer, with `prompt_matched` = 0. The gold is
//! `labels[i]`: a string or number, a list of them (any acceptable answer is correct), or for
//! Countdown `{"target": N, "numbers"|"nums": [..]}` as an object or a JSON string; `null` or
//! `[]` grade as `gold_unparseable`. `rewards` follow the reward scheme; `scores` are 1 for a
//! correct answer and 0 otherwise. `extra_logs` has one number per sample under the names of
//! [`aha_verify::isolate::EXTRA_LOG_NAMES`] (the same as the wheel's `reward_func`): `verdict`
//! ([`verdict_code`]: 0 correct, 1 incorrect, 2 no answer, 3 unparseable gold), `correct`,
//! `formatted`, `no_answer`, `gold_unparseable`, `prompt_matched`, `r1_format` (0/1 each),
//! `response_chars` and `reflection_keywords`.
//!
//! **oat.** `batch_score` are rewards; for candidate pairs `batch_first_win_prob` is 1, 0 or
//! 0.5 (a's reward higher, lower, equal: the Bradley–Terry probability for deterministic
//! rewards). Gold answers travel in `batch_reference`, an aha extension: oat's stock client
//! drops references, and a rule-based oracle cannot grade without them.
//!
//! # Robustness
//!
//! Grading runs on a bounded blocking pool (`workers` jobs at once), never on the async
//! threads. Every request has a deadline: waiting for a worker past it gives 503, grading past
//! it 504. Bodies over `max_body_bytes` get 413, batches over `max_batch` 413, malformed bodies
//! 400 with the path of the offending field. All errors go through one
//! [`IntoResponse`](axum::response::IntoResponse) impl on [`Error`]. Shutdown stops accepting,
//! finishes in-flight requests, and gives up after `shutdown_grace`.
//!
//! Connections are limited too, by the accept loop shared with `aha serve-model`
//! (`aha-http-limits`), so slow or hostile clients cannot lock out well-behaved ones (`tests/abuse.rs` runs the attacks at `ulimit -n 1024`):
//!
//! | limit (`ServeConfig` / `aha serve-reward` flag) | default | response |
//! |---|---|---|
//! | `max_connections` / `--max-connections` | 512 | evicts the longest-idle connection (never-served first, then idle keep-alive, then slow body senders); `503` + close when all are working |
//! | `header_timeout` / `--header-timeout-ms` | 30 s | connection closed (request head late, or keep-alive idle) |
//! | `body_timeout` / `--body-timeout-ms` | 60 s | `408` `body_timeout` + close |
//! | `max_header_bytes` / `--max-header-bytes` | 64 KiB | `431` |
//! | `max_body_bytes` / `--max-body-bytes` | 16 MiB | `413` (at once when `content-length` says so) |
//! | `max_batch` / `--max-batch` | 4096 | `413` |
//! | `deadline` / `--deadline-ms` (per-request work budget) | 10 s | `503` waiting, `504` grading |
//!
//! Running out of file descriptors below `max_connections` evicts in the same order instead of
//! stalling the accept loop. `/healthz` reports the limits and `open_connections`,
//! `evicted_connections` and `shed_connections`.
//!
//! # Metrics
//!
//! `aha_serve_requests_total{route,status}`, `aha_serve_request_duration_seconds{route}`
//! (histogram), `aha_serve_samples_total{route}`, `aha_serve_verdicts_total{task,verdict}`,
//! `aha_serve_errors_total{kind}`, `aha_serve_in_flight_requests`, `aha_serve_busy_workers`.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "clap")]
pub mod args;
mod config;
mod error;
mod metrics;
mod pool;
mod routes;
mod scorer;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use aha_verify::isolate::{Isolated, Isolator, PromptMatch, prompt_prefills_think};
pub use config::{DEFAULT_STOP_MARKERS, MIN_HEADER_BYTES, ServeConfig, Task};
pub use error::{Error, Result};
pub use scorer::{AhaScorer, Gold, Sample, Scored, Scorer, Template};
pub use wire::{SCHEMA_VERSION, verdict_code};

/// A configured reward service, ready to be served on a listener.
#[derive(Clone)]
pub struct RewardService {
    app: Arc<routes::App>,
}

impl std::fmt::Debug for RewardService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardService")
            .field("config", &self.app.config)
            .finish_non_exhaustive()
    }
}

impl RewardService {
    /// Builds the service; fails on an unusable configuration.
    pub fn new(config: ServeConfig, scorer: Arc<dyn Scorer>) -> Result<RewardService> {
        config.validate()?;
        let text = Isolator::new(&config.stop_markers).map_err(|e| Error::Config(e.to_string()))?;
        let pool = pool::Pool::new(config.workers, config.deadline_ms());
        Ok(RewardService {
            app: Arc::new(routes::App {
                config,
                scorer,
                metrics: metrics::Metrics::new(),
                pool,
                text,
                conns: Arc::default(),
            }),
        })
    }

    /// The axum router (for embedding the service in another server).
    pub fn router(&self) -> axum::Router {
        routes::router(self.app.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting connections and
    /// waits for in-flight requests, at most `shutdown_grace`.
    ///
    /// Must run inside a multi-threaded tokio runtime (grading uses its blocking pool).
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let grace = self.app.config.shutdown_grace;
        let router = self.router();
        let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = fired_tx.send(());
        };
        let app = self.app.clone();
        let server = async move {
            let limits = app.config.limits();
            aha_http_limits::serve(listener, router, &limits, app.conns.clone(), signal).await;
            Ok::<(), std::io::Error>(())
        };
        let give_up = async move {
            if fired_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                // The server ended without a shutdown signal; the select below returns first.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = server => served.map_err(|source| Error::Io {
                context: "serving".into(),
                source,
            }),
            () = give_up => Err(Error::Io {
                context: format!(
                    "shutdown: in-flight requests still running after the {} s grace period",
                    grace.as_secs_f64()
                ),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            }),
        }
    }
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first polled, so a
/// signal that arrives right after the address has been announced still shuts down gracefully.
/// Must be called inside a tokio runtime.
#[cfg(unix)]
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|source| Error::Io {
            context: format!("installing the {name} handler"),
            source,
        })
    };
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

/// A future that resolves on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        // If the handler cannot be installed, only killing the process stops the server.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// Runs the service on its own tokio runtime: binds `addr`, calls `on_bound` with the bound
/// address (port 0 picks a free port), and serves until Ctrl-C or SIGTERM.
pub fn serve_until_signal(
    config: ServeConfig,
    scorer: Arc<dyn Scorer>,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<()> {
    let service = RewardService::new(config, scorer)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Grading jobs are bounded by the pool's permits; the margin covers tokio's own use.
        .max_blocking_threads(service.app.config.workers + 4)
        .thread_name("aha-reward-server")
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr).await.map_err(|source| Error::Io {
            context: format!("binding {addr}"),
            source,
        })?;
        let bound = listener.local_addr().map_err(|source| Error::Io {
            context: "reading the bound address".into(),
            source,
        })?;
        let signal = shutdown_signal()?;
        on_bound(bound);
        service.serve(listener, signal).await
    })
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    use crate::{Error, RewardService, Scored};

    /// Which decoder [`RewardService::decode_and_score`] runs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Wire {
        /// `POST /get_reward` (OpenRLHF JSON).
        OpenRlhf,
        /// `POST /get_feedback` (oat msgpack).
        Oat,
        /// `POST /v1/verify` (aha's JSON).
        Verify,
    }

    impl RewardService {
        /// Decodes `body` as the route's handler does, then scores every sample on this thread
        /// (no pool, no deadline): the handlers' work without the HTTP layer.
        pub fn decode_and_score(
            &self,
            wire: Wire,
            body: &[u8],
        ) -> std::result::Result<Vec<Scored>, Error> {
            let app = &self.app;
            let samples = match wire {
                Wire::OpenRlhf => crate::routes::openrlhf_samples(app, body)?.0,
                Wire::Oat => crate::routes::oat_samples(app, body)?.samples,
                Wire::Verify => crate::routes::verify_samples(app, body)?.0,
            };
            Ok(samples.iter().map(|s| app.scorer.score(s)).collect())
        }
    }
}
