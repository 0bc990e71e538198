//! Prometheus metrics of the service, served at `GET /metrics`.
//!
//! Uses `prometheus-client` (the Prometheus project's own Rust client) rather than a
//! hand-written exposition. The text is OpenMetrics, which Prometheus scrapes natively.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `aha_serve_requests_total` | counter | `route`, `status` |
//! | `aha_serve_request_duration_seconds` | histogram | `route` |
//! | `aha_serve_samples_total` | counter | `route` |
//! | `aha_serve_verdicts_total` | counter | `task`, `verdict` |
//! | `aha_serve_errors_total` | counter | `kind` (see [`crate::Error::kind`]) |
//! | `aha_serve_in_flight_requests` | gauge | — |
//! | `aha_serve_busy_workers` | gauge | — (sampled at scrape time) |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::Task;
use crate::error::{Error, Result};

/// Content type of the exposition.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request latency buckets in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    task: &'static str,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// All metrics of one server.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    samples: Family<RouteLabels, Counter>,
    verdicts: Family<VerdictLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    in_flight: Gauge,
    busy_workers: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("aha_serve");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let samples = Family::<RouteLabels, Counter>::default();
        let verdicts = Family::<VerdictLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let in_flight = Gauge::default();
        let busy_workers = Gauge::default();
        registry.register(
            "requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request start to response, by route",
            latency.clone(),
        );
        registry.register("samples", "Samples graded, by route", samples.clone());
        registry.register(
            "verdicts",
            "Verdicts given, by task and verdict",
            verdicts.clone(),
        );
        registry.register("errors", "Error responses, by error kind", errors.clone());
        registry.register(
            "in_flight_requests",
            "Requests being answered right now",
            in_flight.clone(),
        );
        registry.register(
            "busy_workers",
            "Grading jobs running (at scrape time)",
            busy_workers.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            samples,
            verdicts,
            errors,
            in_flight,
            busy_workers,
        }
    }

    pub(crate) fn request_started(&self) {
        self.in_flight.inc();
    }

    pub(crate) fn request_finished(&self, route: &'static str, status: u16, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    pub(crate) fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&ErrorLabels { kind }).inc();
    }

    pub(crate) fn graded(&self, route: &'static str, task: Task, verdict: &'static str) {
        self.verdicts
            .get_or_create(&VerdictLabels {
                task: task.as_str(),
                verdict,
            })
            .inc();
        self.samples.get_or_create(&RouteLabels { route }).inc();
    }

    /// Renders the exposition text.
    pub(crate) fn render(&self, busy_workers: usize) -> Result<String> {
        self.busy_workers
            .set(i64::try_from(busy_workers).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| Error::Internal(format!("rendering metrics: {e}")))?;
        Ok(out)
    }
}
