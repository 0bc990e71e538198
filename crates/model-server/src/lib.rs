//! `aha serve-model`: an OpenAI-compatible HTTP server for the embedded model (`/v1/models`,
//! `/v1/completions`, `/v1/chat/completions`), so that `aha probe --server` and any OpenAI
//! client can sample from it. (The reward service, `aha serve-reward`, is `aha-reward-server`.)
//!
//! Connections go through the accept loop and limits shared with `aha serve-reward`
//! (`aha-http-limits`: connection limit with eviction of idle and trickling clients, header
//! and body timeouts, head and body size limits), so slow or hostile clients cannot lock out
//! well-behaved ones; [`Config::limits`] holds them, `GET /healthz` reports them with what they
//! did, and `tests/abuse.rs` runs the attacks at `ulimit -n 1024`:
//!
//! | limit ([`Limits`] field / `aha serve-model` flag) | default | response |
//! |---|---|---|
//! | `max_connections` / `--max-connections` | 512 | evicts the longest-idle connection (never-served first, then idle keep-alive, then slow body senders); `503` + close when all are working |
//! | `header_timeout` / `--header-timeout-ms` | 30 s | connection closed (request head late, or keep-alive idle) |
//! | `body_timeout` / `--body-timeout-ms` | 60 s | `408` + close |
//! | `max_header_bytes` / `--max-header-bytes` | 64 KiB | `431` |
//! | `max_body_bytes` / `--max-body-bytes` | 16 MiB | `413` (at once when `content-length` says so) |
//!
//! One worker thread owns the model. Requests arriving while it is busy queue up; when it is
//! free it takes every queued request at once and samples all requests with equal settings in
//! shared forward batches, so concurrent clients are batched.
//!
//! The library reads no flags or environment variables: the binary builds a [`Config`] (from the
//! flags of `args::ServeArgs`, behind the `clap` feature).
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

#[cfg(feature = "clap")]
pub mod args;
mod error;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aha_http_limits::ConnStats;
use aha_openai::{
    ChatChoice, ChatMessage, ChatRequest, ChatResponse, CompletionChoice, CompletionRequest,
    CompletionResponse, Sampling, Usage,
};
use aha_sample::{Completion, EmbeddedSampler, SamplingParams};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::oneshot;

pub use aha_http_limits::{Limits, MIN_HEADER_BYTES};
pub use error::{Error, Result};

/// Limits and names of one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The name clients use in `model`; other names get 404.
    pub model_name: String,
    /// Largest `max_tokens` a request may ask for (also the default).
    pub max_tokens: u32,
    /// Most samples (`n`) per request.
    pub max_n: u32,
    /// How long to wait after a request for others to join its batch (clients sending many
    /// requests at once send them a little apart).
    pub batch_wait: Duration,
    /// Connection and request-size limits (the accept loop shared with `aha serve-reward`).
    pub limits: Limits,
}

impl Config {
    /// The CLI's defaults for a model served as `model_name`.
    pub fn new(model_name: impl Into<String>) -> Config {
        Config {
            model_name: model_name.into(),
            max_tokens: 2048,
            max_n: 64,
            batch_wait: Duration::from_millis(10),
            limits: Limits::default(),
        }
    }

    /// Checks that the limits are usable.
    pub fn validate(&self) -> Result<()> {
        self.limits
            .validate()
            .map_err(|e| Error::Config(e.to_string()))
    }
}

/// One request's work for the model thread: one prompt, `seeds.len()` samples.
struct Work {
    prompt: Vec<u32>,
    seeds: Vec<u64>,
    params: SamplingParams,
    reply: oneshot::Sender<std::result::Result<Vec<Completion>, String>>,
}

struct AppState {
    config: Config,
    tokenizer: aha_tokenizer::Tokenizer,
    work: mpsc::Sender<Work>,
    /// What the connection limits did (shared with the accept loop).
    conns: Arc<ConnStats>,
}

/// The server's routes over `sampler`, which moves to a model thread of its own (it stops when
/// the router and every clone of it are dropped). Without [`serve`]'s accept loop only the
/// body limits apply.
pub fn router(sampler: EmbeddedSampler, config: Config) -> Router {
    router_with_stats(sampler, config, Arc::default())
}

fn router_with_stats(sampler: EmbeddedSampler, config: Config, conns: Arc<ConnStats>) -> Router {
    let (tx, rx) = mpsc::channel::<Work>();
    // The body middleware enforces the limit (with 413); axum's own extractor limit (2 MiB by
    // default) must not cut in below it.
    let body_limit = config.limits.max_body_bytes;
    let wait = config.batch_wait;
    let state = Arc::new(AppState {
        config,
        tokenizer: sampler.tokenizer().clone(),
        work: tx,
        conns,
    });
    std::thread::spawn(move || model_loop(&sampler, &rx, wait));
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/healthz", get(healthz))
        .layer(middleware::from_fn_with_state(state.clone(), read_body))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Reads the whole body within the body limits before any handler runs (408 late, 413 too
/// large) and marks the connection as working, so the connection limit never evicts a client
/// waiting for the model.
async fn read_body(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match aha_http_limits::read_body(req, &state.config.limits).await {
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

/// Serves `sampler` on `listener` with the limits of `config` until `shutdown` resolves; then
/// stops accepting and returns when the open connections have finished their current request.
/// Must run inside a tokio runtime.
pub async fn serve(
    sampler: EmbeddedSampler,
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    config.validate()?;
    let limits = config.limits.clone();
    let conns = Arc::new(ConnStats::default());
    let app = router_with_stats(sampler, config, conns.clone());
    aha_http_limits::serve(listener, app, &limits, conns, shutdown).await;
    Ok(())
}

/// Serves `sampler` on `addr` until the process ends, on a runtime of its own; `on_bound` gets
/// the bound address (port 0 picks a free one) before the first request is accepted.
pub fn serve_blocking(
    sampler: EmbeddedSampler,
    config: Config,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<()> {
    config.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime",
            source,
        })?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Io {
            context: "reading the bound address",
            source,
        })?;
        on_bound(local);
        serve(sampler, config, listener, std::future::pending()).await
    })
}

/// The model thread: waits for work, gathers what arrives within `wait`, then samples requests
/// with equal settings together, one forward batch's worth of requests at a time. No continuous
/// batching: a request arriving while a batch runs waits for it to finish.
fn model_loop(sampler: &EmbeddedSampler, rx: &mpsc::Receiver<Work>, wait: Duration) {
    while let Ok(first) = rx.recv() {
        let mut queue = vec![first];
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(w) => queue.push(w),
                Err(_) => break,
            }
        }
        queue.extend(rx.try_iter());
        while !queue.is_empty() {
            let params = queue[0].params.clone();
            let (group, rest): (Vec<Work>, Vec<Work>) =
                queue.into_iter().partition(|w| w.params == params);
            queue = rest;
            let mut group = group.into_iter().peekable();
            while group.peek().is_some() {
                // Requests whose client has gone away (the handler dropped its receiver) are
                // dropped before each forward batch: sampling them would delay everyone queued
                // behind them, e.g. a burst of clients that send a request and leave.
                let mut chunk = Vec::new();
                let mut seqs = 0;
                while seqs < sampler.max_batch() {
                    let Some(w) = group.next() else { break };
                    if !w.reply.is_closed() {
                        seqs += w.seeds.len();
                        chunk.push(w);
                    }
                }
                if !chunk.is_empty() {
                    sample_chunk(sampler, chunk, &params);
                }
            }
        }
    }
}

/// Samples every request of `chunk` (all with `params`) in shared forward batches and answers
/// each.
fn sample_chunk(sampler: &EmbeddedSampler, chunk: Vec<Work>, params: &SamplingParams) {
    let mut prompts = Vec::new();
    let mut seeds = Vec::new();
    for w in &chunk {
        prompts.extend(std::iter::repeat_n(w.prompt.clone(), w.seeds.len()));
        seeds.extend(w.seeds.iter().copied());
    }
    match sampler.generate(&prompts, &seeds, params) {
        Ok(done) => {
            let mut done = done.into_iter();
            for w in chunk {
                let mine: Vec<Completion> = done.by_ref().take(w.seeds.len()).collect();
                // A client that went away no longer wants its answer.
                let _ = w.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            for w in chunk {
                let _ = w.reply.send(Err(e.to_string()));
            }
        }
    }
}

async fn models(State(state): State<Arc<AppState>>) -> Response {
    Json(serde_json::json!({
        "object": "list",
        "data": [{"id": state.config.model_name, "object": "model", "owned_by": "aha"}],
    }))
    .into_response()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let l = &state.config.limits;
    let c = &state.conns;
    Json(serde_json::json!({
        "status": "ok",
        "model": state.config.model_name,
        "max_connections": l.max_connections,
        "open_connections": c.open(),
        "evicted_connections": c.evicted(),
        "shed_connections": c.shed(),
        "header_timeout_ms": aha_http_limits::millis(l.header_timeout),
        "body_timeout_ms": aha_http_limits::millis(l.body_timeout),
        "max_header_bytes": l.max_header_bytes,
        "max_body_bytes": l.max_body_bytes,
    }))
    .into_response()
}

/// Validated settings of a request, shared by both endpoints.
struct Settings {
    params: SamplingParams,
    seeds: Vec<u64>,
}

/// Checks a request's model and sampling fields against the server's limits.
fn settings(config: &Config, model: &str, s: &Sampling) -> Result<Settings> {
    if model != config.model_name {
        return Err(Error::ModelNotServed {
            requested: model.to_string(),
            served: config.model_name.clone(),
        });
    }
    let n = s.n.unwrap_or(1);
    if n == 0 || n > config.max_n {
        return Err(Error::invalid(
            "n",
            format!("{n} (must be 1..={})", config.max_n),
        ));
    }
    let max_tokens = s.max_tokens.unwrap_or(config.max_tokens);
    if max_tokens > config.max_tokens {
        return Err(Error::invalid(
            "max_tokens",
            format!("{max_tokens} (at most {})", config.max_tokens),
        ));
    }
    let temperature = s.temperature.unwrap_or(1.0);
    if !temperature.is_finite() || temperature < 0.0 {
        return Err(Error::invalid(
            "temperature",
            format!("{temperature} (must be ≥ 0)"),
        ));
    }
    let top_p = s.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(Error::invalid(
            "top_p",
            format!("{top_p} (must be in (0, 1])"),
        ));
    }
    let stop = s.stop.clone().unwrap_or_default();
    if stop.iter().any(String::is_empty) {
        return Err(Error::invalid("stop", "empty stop string"));
    }
    // Sample i of a seeded request draws from seed + i, so n = 1 requests with consecutive
    // seeds reproduce one n > 1 request; unseeded requests take the clock.
    let base = s.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    Ok(Settings {
        params: SamplingParams {
            temperature,
            top_p,
            max_tokens,
            stop,
            include_stop: false,
        },
        seeds: (0..u64::from(n)).map(|i| base.wrapping_add(i)).collect(),
    })
}

async fn submit(state: &AppState, prompt: Vec<u32>, s: Settings) -> Result<Vec<Completion>> {
    if prompt.is_empty() {
        return Err(Error::invalid("prompt", "empty"));
    }
    let (reply, rx) = oneshot::channel();
    let work = Work {
        prompt,
        seeds: s.seeds,
        params: s.params,
        reply,
    };
    state.work.send(work).map_err(|_| Error::ModelStopped)?;
    match rx.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(Error::Generation(e)),
        Err(_) => Err(Error::ModelStopped),
    }
}

fn usage(prompt_tokens: usize, done: &[Completion]) -> Usage {
    let completion_tokens: u64 = done.iter().filter_map(|c| c.num_tokens).sum();
    Usage {
        prompt_tokens: prompt_tokens as u64,
        completion_tokens,
        total_tokens: prompt_tokens as u64 + completion_tokens,
    }
}

async fn completions(
    State(state): State<Arc<AppState>>,
    Json(req): Json<CompletionRequest>,
) -> Result<Json<CompletionResponse>> {
    let s = settings(&state.config, &req.model, &req.sampling)?;
    let tok = &state.tokenizer;
    let prompt = tok
        .encode(&req.prompt, tok.add_bos_default())
        .map_err(|e| Error::invalid("prompt", e.to_string()))?;
    let prompt_tokens = prompt.len();
    let done = submit(&state, prompt, s).await?;
    let usage = usage(prompt_tokens, &done);
    Ok(Json(CompletionResponse {
        id: Some(format!("cmpl-{}", unique())),
        model: Some(state.config.model_name.clone()),
        choices: done
            .into_iter()
            .enumerate()
            .map(|(i, c)| CompletionChoice {
                index: i as u32,
                text: c.text,
                finish_reason: Some(c.finish_reason),
                logprobs: None,
            })
            .collect(),
        usage: Some(usage),
    }))
}

async fn chat(
    State(state): State<Arc<AppState>>,
    Json(req): Json<ChatRequest>,
) -> Result<Json<ChatResponse>> {
    let s = settings(&state.config, &req.model, &req.sampling)?;
    let messages: Vec<aha_tokenizer::ChatMessage> = req
        .messages
        .iter()
        .map(|m| aha_tokenizer::ChatMessage::new(&m.role, m.content.clone().unwrap_or_default()))
        .collect();
    let prompt = state
        .tokenizer
        .encode_chat(&messages, true)
        .map_err(|e| Error::invalid("messages", e.to_string()))?;
    let prompt_tokens = prompt.len();
    let done = submit(&state, prompt, s).await?;
    let usage = usage(prompt_tokens, &done);
    Ok(Json(ChatResponse {
        id: Some(format!("chatcmpl-{}", unique())),
        model: Some(state.config.model_name.clone()),
        choices: done
            .into_iter()
            .enumerate()
            .map(|(i, c)| ChatChoice {
                index: i as u32,
                message: ChatMessage {
                    role: "assistant".into(),
                    content: Some(c.text),
                },
                finish_reason: Some(c.finish_reason),
            })
            .collect(),
        usage: Some(usage),
    }))
}

/// A response id: the clock in nanoseconds (unique enough for logs; clients ignore it).
fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            max_n: 4,
            max_tokens: 100,
            ..Config::new("m")
        }
    }

    #[test]
    fn settings_check_each_field_and_name_it() {
        let ok = settings(&config(), "m", &Sampling::default()).map(|s| s.seeds.len());
        assert!(matches!(ok, Ok(1)));
        let bad = |s: Sampling| match settings(&config(), "m", &s) {
            Err(e @ Error::Invalid { .. }) => e.to_string(),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted"),
        };
        let field = |s: Sampling| bad(s).split(':').next().map(str::to_owned);
        let with = |f: &dyn Fn(&mut Sampling)| {
            let mut s = Sampling::default();
            f(&mut s);
            s
        };
        assert_eq!(field(with(&|s| s.n = Some(5))).as_deref(), Some("n"));
        assert_eq!(field(with(&|s| s.n = Some(0))).as_deref(), Some("n"));
        assert_eq!(
            field(with(&|s| s.max_tokens = Some(101))).as_deref(),
            Some("max_tokens")
        );
        assert_eq!(
            field(with(&|s| s.temperature = Some(f64::NAN))).as_deref(),
            Some("temperature")
        );
        assert_eq!(
            field(with(&|s| s.top_p = Some(0.0))).as_deref(),
            Some("top_p")
        );
        assert_eq!(
            field(with(&|s| s.stop = Some(vec![String::new()]))).as_deref(),
            Some("stop")
        );
        assert!(matches!(
            settings(&config(), "other", &Sampling::default()),
            Err(Error::ModelNotServed { .. })
        ));
    }

    #[test]
    fn seeded_samples_draw_from_consecutive_seeds() {
        let s = Sampling {
            n: Some(3),
            seed: Some(7),
            ..Sampling::default()
        };
        let got = settings(&config(), "m", &s).map(|s| s.seeds);
        assert!(matches!(got.as_deref(), Ok([7, 8, 9])));
    }
}
