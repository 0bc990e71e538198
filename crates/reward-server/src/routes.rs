//! HTTP routes and handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use aha_verify::Verdict;
use aha_verify::isolate::{EXTRA_LOG_NAMES, Isolator, prompt_prefills_think};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::time::Instant;

use crate::config::{ServeConfig, Task};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::{self, Metrics};
use crate::pool::Pool;
use crate::scorer::{Sample, Scored, Scorer};
use crate::wire::{self, OatRequest, OatResponse, OpenRlhfRequest, OpenRlhfResponse};

/// Bodies up to this size are decoded on the async runtime (microseconds of work); larger ones
/// are decoded on the grading pool.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// Route labels for metrics: a fixed set, so unknown paths cannot blow up label cardinality.
const ROUTES: &[&str] = &[
    "/",
    "/get_reward",
    "/get_feedback",
    "/v1/verify",
    "/healthz",
    "/metrics",
];

/// Shared state of one server.
pub(crate) struct App {
    pub(crate) config: ServeConfig,
    pub(crate) scorer: Arc<dyn Scorer>,
    pub(crate) metrics: Metrics,
    pub(crate) pool: Pool,
    /// The response-isolation rule shared with the Python wheel.
    pub(crate) text: Isolator,
    /// What the connection limits did (shared with the accept loop).
    pub(crate) conns: Arc<aha_http_limits::ConnStats>,
}

type AppState = State<Arc<App>>;

pub(crate) fn router(app: Arc<App>) -> Router {
    let limit = app.config.max_body_bytes;
    Router::new()
        .route("/", post(get_reward))
        .route("/get_reward", post(get_reward))
        .route("/get_feedback", post(get_feedback))
        .route("/v1/verify", post(verify))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), read_body))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Decrements the in-flight gauge even when the client goes away mid-request (the handler
/// future is then dropped, not finished).
struct InFlight<'a> {
    metrics: &'a Metrics,
    route: &'static str,
    start: std::time::Instant,
    status: Option<u16>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        // 499 (nginx's "client closed request") when the response was never produced.
        let status = self.status.unwrap_or(499);
        self.metrics
            .request_finished(self.route, status, self.start.elapsed().as_secs_f64());
    }
}

async fn track(State(app): AppState, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| ROUTES.iter().copied().find(|r| *r == m.as_str()))
        .unwrap_or("unmatched");
    app.metrics.request_started();
    let mut guard = InFlight {
        metrics: &app.metrics,
        route,
        start: std::time::Instant::now(),
        status: None,
    };
    let response = next.run(req).await;
    if let Some(ErrorKind(kind)) = response.extensions().get::<ErrorKind>() {
        app.metrics.error(kind);
    }
    guard.status = Some(response.status().as_u16());
    response
}

/// Reads the whole body within `body_timeout` (408 when late, 413 over `max_body_bytes`) before
/// any handler runs, then marks the connection busy until the answer is ready (so the
/// connection limit never evicts it meanwhile).
async fn read_body(State(app): AppState, req: Request, next: Next) -> Response {
    match aha_http_limits::read_body(req, &app.config.limits()).await {
        Ok(req) => next.run(req).await,
        Err(e) => {
            let timed_out = matches!(e, aha_http_limits::Error::BodyTimeout { .. });
            let mut response = Error::from(e).into_response();
            if timed_out {
                // The rest of the body may still be on its way: do not read it as the next
                // request.
                aha_http_limits::close_connection(&mut response);
            }
            response
        }
    }
}

async fn not_found(req: Request) -> Error {
    Error::NotFound {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
    }
}

async fn healthz(State(app): AppState) -> Response {
    axum::Json(serde_json::json!({
        "status": "ok",
        "task": app.config.task,
        "workers": app.config.workers,
        "busy_workers": app.pool.busy(),
        "max_batch": app.config.max_batch,
        "max_body_bytes": app.config.max_body_bytes,
        "deadline_ms": app.config.deadline_ms(),
        "max_connections": app.config.max_connections,
        "open_connections": app.conns.open(),
        "evicted_connections": app.conns.evicted(),
        "shed_connections": app.conns.shed(),
        "header_timeout_ms": crate::config::millis(app.config.header_timeout),
        "body_timeout_ms": crate::config::millis(app.config.body_timeout),
        "max_header_bytes": app.config.max_header_bytes,
    }))
    .into_response()
}

async fn metrics_text(State(app): AppState) -> Result<Response> {
    let text = app.metrics.render(app.pool.busy())?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

impl App {
    /// The body, or the reason it could not be read (413 over the limit).
    fn body(&self, body: std::result::Result<Bytes, BytesRejection>) -> Result<Bytes> {
        body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::BodyTooLarge {
                    limit: self.config.max_body_bytes,
                }
            } else {
                Error::field("body", rejection.body_text())
            }
        })
    }

    /// Runs `decode` inline for small bodies and on the pool for large ones.
    async fn decode<T, F>(self: &Arc<Self>, body: Bytes, until: Instant, decode: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&App, &[u8]) -> Result<T> + Send + 'static,
    {
        if body.len() <= INLINE_DECODE_BYTES {
            decode(self, &body)
        } else {
            let app = self.clone();
            self.pool.run(until, move || decode(&app, &body)).await
        }
    }

    fn check_batch(&self, field: &'static str, len: usize) -> Result<()> {
        if len > self.config.max_batch {
            return Err(Error::BatchTooLarge {
                field,
                len,
                max: self.config.max_batch,
            });
        }
        Ok(())
    }

    fn check_len(&self, field: &str, len: usize, of: &str, want: usize) -> Result<()> {
        if len != want {
            return Err(Error::field(
                field,
                format!("has {len} entries but {of} has {want}; they must match one to one"),
            ));
        }
        Ok(())
    }

    async fn grade(
        &self,
        route: &'static str,
        samples: Vec<Sample>,
        until: Instant,
    ) -> Result<Vec<Scored>> {
        let tasks: Vec<Task> = samples.iter().map(|s| s.gold.task()).collect();
        let scored = self.pool.grade(self.scorer.clone(), samples, until).await?;
        for (task, s) in tasks.iter().zip(&scored) {
            self.metrics.graded(route, *task, s.grade.verdict.as_str());
        }
        Ok(scored)
    }
}

/// OpenRLHF samples plus whether each prompt was found in its query.
type OpenRlhfBatch = (Vec<Sample>, Vec<bool>);

pub(crate) fn openrlhf_samples(app: &App, body: &[u8]) -> Result<OpenRlhfBatch> {
    let req: OpenRlhfRequest = wire::from_json(body)?;
    let n = req.query.len();
    app.check_batch("query", n)?;
    if let Some(prompts) = &req.prompts {
        app.check_len("prompts", prompts.len(), "query", n)?;
    }
    let labels = req.labels.ok_or_else(|| {
        Error::field(
            "labels",
            "missing: rule-based rewards need the gold answers (OpenRLHF: --data.label_key / --label_key)",
        )
    })?;
    app.check_len("labels", labels.len(), "query", n)?;
    let mut samples = Vec::with_capacity(n);
    let mut matched = Vec::with_capacity(n);
    for (i, (query, label)) in req.query.iter().zip(&labels).enumerate() {
        let prompt = req.prompts.as_ref().map(|p| p[i].as_str());
        let gold = wire::gold(label, app.config.task, || format!("labels[{i}]"))?;
        let isolated = app.text.isolate(query, prompt);
        matched.push(isolated.prompt_match.is_matched());
        samples.push(Sample {
            response: isolated.text,
            task: app.config.task,
            gold,
            prefilled_think: prompt.is_some_and(prompt_prefills_think),
        });
    }
    Ok((samples, matched))
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// `POST /get_reward` and `POST /`: OpenRLHF's remote reward protocol.
async fn get_reward(
    State(app): AppState,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let until = Instant::now() + app.config.deadline;
    let body = app.body(body)?;
    let (samples, matched) = app.decode(body, until, openrlhf_samples).await?;
    let scored = app.grade("/get_reward", samples, until).await?;
    let column = |f: &dyn Fn(&Scored) -> f64| scored.iter().map(f).collect::<Vec<f64>>();
    let is = |v: Verdict| move |s: &Scored| flag(s.grade.verdict == v);
    let mut extra_logs = BTreeMap::new();
    for name in EXTRA_LOG_NAMES {
        let values = match name {
            "verdict" => column(&|s| wire::verdict_code(s.grade.verdict)),
            "correct" => column(&is(Verdict::Correct)),
            "formatted" => column(&|s| flag(s.grade.formatted)),
            "no_answer" => column(&is(Verdict::NoAnswer)),
            "gold_unparseable" => column(&is(Verdict::GoldUnparseable)),
            "prompt_matched" => matched.iter().map(|m| flag(*m)).collect(),
            "r1_format" => column(&|s| flag(s.r1_format)),
            "response_chars" => column(&|s| s.response_chars as f64),
            "reflection_keywords" => column(&|s| s.reflection.total as f64),
            // Every name is handled above; a new one shows up in the protocol test as missing.
            _ => continue,
        };
        extra_logs.insert(name, values);
    }
    let response = OpenRlhfResponse {
        rewards: column(&|s| s.grade.reward),
        scores: column(&|s| s.score()),
        extra_logs,
    };
    Ok(axum::Json(response).into_response())
}

/// oat samples: the responses to score, then the candidate pairs flattened `a0, b0, a1, b1, …`.
pub(crate) struct OatBatch {
    pub(crate) samples: Vec<Sample>,
    responses: usize,
}

pub(crate) fn oat_samples(app: &App, body: &[u8]) -> Result<OatBatch> {
    let req: OatRequest = wire::from_msgpack(body)?;
    let n = req.batch_prompt.len();
    app.check_batch("batch_prompt", n)?;
    if !req.batch_response.is_empty() {
        app.check_len(
            "batch_response",
            req.batch_response.len(),
            "batch_prompt",
            n,
        )?;
    }
    if !req.batch_candidates.is_empty() {
        app.check_len(
            "batch_candidates",
            req.batch_candidates.len(),
            "batch_prompt",
            n,
        )?;
        if let Some(i) = req.batch_candidates.iter().position(|c| c.len() != 2) {
            return Err(Error::field(
                format!("batch_candidates[{i}]"),
                format!(
                    "must be a pair [a, b], got {} entries",
                    req.batch_candidates[i].len()
                ),
            ));
        }
    }
    let references = req.batch_reference.ok_or_else(|| {
        Error::field(
            "batch_reference",
            "missing: a rule-based oracle needs the gold answers, one per prompt (oat's stock \
             RemoteRMOracle drops `references`; send them as `batch_reference`)",
        )
    })?;
    app.check_len("batch_reference", references.len(), "batch_prompt", n)?;
    let golds = references
        .iter()
        .enumerate()
        .map(|(i, r)| wire::gold(r, app.config.task, || format!("batch_reference[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    let mut samples = Vec::with_capacity(req.batch_response.len() + 2 * req.batch_candidates.len());
    let sample = |i: usize, response: &str| Sample {
        response: app.text.strip_markers(response),
        task: app.config.task,
        gold: golds[i].clone(),
        prefilled_think: prompt_prefills_think(&req.batch_prompt[i]),
    };
    for (i, r) in req.batch_response.iter().enumerate() {
        samples.push(sample(i, r));
    }
    for (i, pair) in req.batch_candidates.iter().enumerate() {
        samples.push(sample(i, &pair[0]));
        samples.push(sample(i, &pair[1]));
    }
    Ok(OatBatch {
        responses: req.batch_response.len(),
        samples,
    })
}

/// `POST /get_feedback`: oat's remote oracle protocol (msgpack).
///
/// `batch_score` is the reward of each response. For candidate pairs, `batch_first_win_prob` is
/// the Bradley–Terry probability in the limit of deterministic rewards: 1 when `a`'s reward is
/// higher, 0 when lower, 0.5 on a tie.
async fn get_feedback(
    State(app): AppState,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let until = Instant::now() + app.config.deadline;
    let body = app.body(body)?;
    let batch = app.decode(body, until, oat_samples).await?;
    let responses = batch.responses;
    let scored = app.grade("/get_feedback", batch.samples, until).await?;
    let (scores, pairs) = scored.split_at(responses);
    let response = OatResponse {
        batch_score: scores.iter().map(|s| s.grade.reward).collect(),
        batch_first_win_prob: pairs
            .chunks_exact(2)
            .map(|ab| {
                let (a, b) = (ab[0].grade.reward, ab[1].grade.reward);
                if a > b {
                    1.0
                } else if a < b {
                    0.0
                } else {
                    0.5
                }
            })
            .collect(),
    };
    let bytes = wire::to_msgpack(&response)?;
    Ok(([(header::CONTENT_TYPE, "application/msgpack")], bytes).into_response())
}

pub(crate) fn verify_samples(app: &App, body: &[u8]) -> Result<(Vec<Sample>, Vec<Task>)> {
    let req: wire::VerifyRequest = wire::from_json(body)?;
    app.check_batch("items", req.items.len())?;
    let mut samples = Vec::with_capacity(req.items.len());
    let mut tasks = Vec::with_capacity(req.items.len());
    for (i, item) in req.items.iter().enumerate() {
        let task = item.task.unwrap_or(app.config.task);
        let gold = wire::gold(&item.gold, task, || format!("items[{i}].gold"))?;
        samples.push(Sample {
            response: app.text.strip_markers(&item.response),
            task,
            gold,
            prefilled_think: item.prefilled_think,
        });
        tasks.push(task);
    }
    Ok((samples, tasks))
}

/// `POST /v1/verify`: aha's own batch API.
async fn verify(
    State(app): AppState,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let until = Instant::now() + app.config.deadline;
    let body = app.body(body)?;
    let (samples, tasks) = app.decode(body, until, verify_samples).await?;
    let scored = app.grade("/v1/verify", samples, until).await?;
    let response = wire::VerifyResponse {
        schema_version: wire::SCHEMA_VERSION,
        results: tasks
            .iter()
            .zip(&scored)
            .map(|(task, s)| wire::VerifyResult::new(*task, s))
            .collect(),
    };
    Ok(axum::Json(response).into_response())
}
