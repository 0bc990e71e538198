//! `aha serve`: an OpenAI-compatible HTTP server for the embedded model (`/v1/models`,
//! `/v1/completions`, `/v1/chat/completions`), so that `aha probe --server` and any OpenAI client
//! can sample from it.
//!
//! One worker thread owns the model. Requests arriving while it is busy queue up; when it is
//! free it takes every queued request at once and samples all requests with equal settings in
//! shared forward batches, so concurrent clients are batched.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aha_openai::{
    ChatChoice, ChatMessage, ChatRequest, ChatResponse, CompletionChoice, CompletionRequest,
    CompletionResponse, Usage,
};
use aha_probe::{Completion, EmbeddedSampler, SamplingParams};
use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::oneshot;

/// Arguments of `aha serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (--model, --tokenizer).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The name clients use in `model` (default: the model file's name); other names get 404.
    #[arg(long)]
    pub model_name: Option<String>,
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout
    /// as `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Most sequences in one forward batch.
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Largest `max_tokens` a request may ask for (also the default).
    #[arg(long, default_value_t = 2048)]
    pub max_tokens: u32,
    /// Most samples (`n`) per request.
    #[arg(long, default_value_t = 64)]
    pub max_n: u32,
    /// Milliseconds to wait after a request for others to join its batch (clients sending many
    /// requests at once send them a little apart).
    #[arg(long, default_value_t = 10)]
    pub batch_wait_ms: u64,
}

/// One request's work for the model thread: one prompt, `seeds.len()` samples.
struct Work {
    prompt: Vec<u32>,
    seeds: Vec<u64>,
    params: SamplingParams,
    reply: oneshot::Sender<Result<Vec<Completion>, String>>,
}

struct AppState {
    name: String,
    tokenizer: aha_tokenizer::Tokenizer,
    max_tokens: u32,
    max_n: u32,
    work: mpsc::Sender<Work>,
}

/// Runs `aha serve`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.model.model = super::resolve_model(&args.model.model)?;
    let sampler = EmbeddedSampler::load_with(
        &args.model.model,
        args.model.tokenizer.as_deref(),
        &args.model.kernels.load_options(),
    )?
    .with_max_batch(args.max_batch);
    let name = args.model_name.clone().unwrap_or_else(|| {
        args.model
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| args.model.model.display().to_string())
    });
    let (tx, rx) = mpsc::channel::<Work>();
    let state = Arc::new(AppState {
        name,
        tokenizer: sampler.tokenizer().clone(),
        max_tokens: args.max_tokens,
        max_n: args.max_n,
        work: tx,
    });
    let wait = Duration::from_millis(args.batch_wait_ms);
    std::thread::spawn(move || model_loop(&sampler, &rx, wait));

    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let local = listener.local_addr()?;
        println!("listening on http://{local}");
        use std::io::Write;
        std::io::stdout().flush()?;
        axum::serve(listener, app).await.context("serving")?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The model thread: waits for work, gathers what arrives within `wait`, then samples requests
/// with equal settings together. No continuous batching: a request arriving while a batch runs
/// waits for it to finish.
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
            let mut prompts = Vec::new();
            let mut seeds = Vec::new();
            for w in &group {
                prompts.extend(std::iter::repeat_n(w.prompt.clone(), w.seeds.len()));
                seeds.extend(w.seeds.iter().copied());
            }
            match sampler.generate(&prompts, &seeds, &params) {
                Ok(done) => {
                    let mut done = done.into_iter();
                    for w in group {
                        let mine: Vec<Completion> = done.by_ref().take(w.seeds.len()).collect();
                        // A client that went away no longer wants its answer.
                        let _ = w.reply.send(Ok(mine));
                    }
                }
                Err(e) => {
                    for w in group {
                        let _ = w.reply.send(Err(e.to_string()));
                    }
                }
            }
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "error": {"message": message.into(), "type": "invalid_request_error"}
    });
    (status, Json(body)).into_response()
}

/// [`error`], boxed: a `Response` is large for the `Err` side of a `Result`.
fn reject(status: StatusCode, message: impl Into<String>) -> Box<Response> {
    Box::new(error(status, message))
}

async fn models(State(state): State<Arc<AppState>>) -> Response {
    Json(serde_json::json!({
        "object": "list",
        "data": [{"id": state.name, "object": "model", "owned_by": "aha"}],
    }))
    .into_response()
}

/// Validated settings of a request, shared by both endpoints.
struct Settings {
    params: SamplingParams,
    seeds: Vec<u64>,
}

#[allow(clippy::too_many_arguments)]
fn settings(
    state: &AppState,
    model: &str,
    n: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
    stop: Option<Vec<String>>,
    seed: Option<u64>,
) -> Result<Settings, Box<Response>> {
    if model != state.name {
        return Err(reject(
            StatusCode::NOT_FOUND,
            format!(
                "model `{model}` is not served here (this is `{}`)",
                state.name
            ),
        ));
    }
    let n = n.unwrap_or(1);
    if n == 0 || n > state.max_n {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            format!("n: {n} (must be 1..={})", state.max_n),
        ));
    }
    let max_tokens = max_tokens.unwrap_or(state.max_tokens);
    if max_tokens > state.max_tokens {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            format!("max_tokens: {max_tokens} (at most {})", state.max_tokens),
        ));
    }
    let temperature = temperature.unwrap_or(1.0);
    if !temperature.is_finite() || temperature < 0.0 {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            format!("temperature: {temperature} (must be ≥ 0)"),
        ));
    }
    let top_p = top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            format!("top_p: {top_p} (must be in (0, 1])"),
        ));
    }
    let stop = stop.unwrap_or_default();
    if stop.iter().any(String::is_empty) {
        return Err(reject(StatusCode::BAD_REQUEST, "stop: empty stop string"));
    }
    // Sample i of a seeded request draws from seed + i, so n = 1 requests with consecutive
    // seeds reproduce one n > 1 request; unseeded requests take the clock.
    let base = seed.unwrap_or_else(|| {
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

async fn submit(
    state: &AppState,
    prompt: Vec<u32>,
    s: Settings,
) -> Result<Vec<Completion>, Box<Response>> {
    if prompt.is_empty() {
        return Err(reject(StatusCode::BAD_REQUEST, "prompt: empty"));
    }
    let (reply, rx) = oneshot::channel();
    let work = Work {
        prompt,
        seeds: s.seeds,
        params: s.params,
        reply,
    };
    if state.work.send(work).is_err() {
        return Err(reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model thread has stopped",
        ));
    }
    match rx.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(reject(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(_) => Err(reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model thread has stopped",
        )),
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
) -> Response {
    let s = match settings(
        &state,
        &req.model,
        req.n,
        req.temperature,
        req.top_p,
        req.max_tokens,
        req.stop,
        req.seed,
    ) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let tok = &state.tokenizer;
    let prompt = match tok.encode(&req.prompt, tok.add_bos_default()) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("prompt: {e}")),
    };
    let prompt_tokens = prompt.len();
    let done = match submit(&state, prompt, s).await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let usage = usage(prompt_tokens, &done);
    Json(CompletionResponse {
        id: Some(format!("cmpl-{}", unique())),
        model: Some(state.name.clone()),
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
    })
    .into_response()
}

async fn chat(State(state): State<Arc<AppState>>, Json(req): Json<ChatRequest>) -> Response {
    let s = match settings(
        &state,
        &req.model,
        req.n,
        req.temperature,
        req.top_p,
        req.max_tokens,
        req.stop,
        req.seed,
    ) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let messages: Vec<aha_tokenizer::ChatMessage> = req
        .messages
        .iter()
        .map(|m| aha_tokenizer::ChatMessage::new(&m.role, m.content.clone().unwrap_or_default()))
        .collect();
    let prompt = match state.tokenizer.encode_chat(&messages, true) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("messages: {e}")),
    };
    let prompt_tokens = prompt.len();
    let done = match submit(&state, prompt, s).await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let usage = usage(prompt_tokens, &done);
    Json(ChatResponse {
        id: Some(format!("chatcmpl-{}", unique())),
        model: Some(state.name.clone()),
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
    })
    .into_response()
}

/// A response id: the clock in nanoseconds (unique enough for logs; clients ignore it).
fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
