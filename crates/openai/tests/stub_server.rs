//! The client against an in-process axum stub on 127.0.0.1:0: round trips, bounded
//! concurrency, retries (5xx, 429 with Retry-After), non-retryable statuses, timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aha_openai::{
    ChatMessage, ChatRequest, Client, ClientConfig, CompletionRequest, Error, Sampling,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
struct Stub {
    /// Requests seen.
    calls: AtomicUsize,
    /// Fail this many requests first (with `fail_status`).
    fail_first: AtomicUsize,
    fail_status: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

async fn chat(State(s): State<Arc<Stub>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let resp = chat_inner(&s, n, &headers, &body).await;
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    resp
}

async fn chat_inner(s: &Stub, n: usize, headers: &HeaderMap, body: &Value) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    if model == "slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if model == "bad-request" {
        return (
            StatusCode::BAD_REQUEST,
            "{\"error\":{\"message\":\"unknown model\"}}",
        )
            .into_response();
    }
    if model == "not-json" {
        return (StatusCode::OK, "<html>proxy error</html>").into_response();
    }
    if n < s.fail_first.load(Ordering::SeqCst) {
        let status = StatusCode::from_u16(s.fail_status.load(Ordering::SeqCst) as u16).unwrap();
        let mut r = (status, "try later").into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert("retry-after", "0.05".parse().unwrap());
        }
        return r;
    }
    if model == "concurrency" {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
    let k = body["n"].as_u64().unwrap_or(1);
    let choices: Vec<Value> = (0..k)
        .map(|i| {
            json!({"index": i, "message": {"role": "assistant",
                "content": format!("{prompt}|{i}|{auth}|t={}|top_p={}|max={}|stop={}|seed={}",
                    body["temperature"], body["top_p"], body["max_tokens"], body["stop"], body["seed"])},
                "finish_reason": "stop"})
        })
        .collect();
    Json(
        json!({"id": "x", "model": model, "choices": choices, "extra_field": 1,
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
    )
    .into_response()
}

async fn completions(State(s): State<Arc<Stub>>, Json(body): Json<Value>) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let prompt = body["prompt"].as_str().unwrap_or_default();
    Json(json!({"choices": [{"index": 0, "text": format!("{prompt} world"), "finish_reason": "length",
        "logprobs": null}]}))
    .into_response()
}

/// Starts the stub on its own runtime thread; returns its base URL and state.
fn start() -> (String, Arc<Stub>) {
    let state = Arc::new(Stub::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .with_state(state.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}/v1"), state)
}

fn config(url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url);
    c.backoff_initial = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(100);
    c.max_retries = 3;
    c.timeout = Duration::from_secs(10);
    c
}

fn req(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![ChatMessage::user(text)],
        ..Default::default()
    }
}

#[test]
fn chat_round_trip_sends_every_parameter() {
    let (url, state) = start();
    let mut cfg = config(&url);
    cfg.api_key = Some("sk-test".into());
    let client = Client::new(cfg).unwrap();
    let r = client
        .chat(&ChatRequest {
            sampling: Sampling {
                n: Some(2),
                temperature: Some(0.5),
                top_p: Some(0.9),
                max_tokens: Some(300),
                stop: Some(vec!["</answer>".into()]),
                seed: Some(7),
            },
            ..req("m", "hello")
        })
        .unwrap();
    assert_eq!(r.choices.len(), 2);
    assert_eq!(
        r.first_text(),
        "hello|0|Bearer sk-test|t=0.5|top_p=0.9|max=300|stop=[\"</answer>\"]|seed=7"
    );
    assert_eq!(
        r.choices[1]
            .message
            .content
            .as_deref()
            .unwrap()
            .split('|')
            .nth(1),
        Some("1")
    );
    assert_eq!(r.usage.unwrap().total_tokens, 7);
    // Unset parameters are not sent at all (server defaults apply), nor is a key.
    let client = Client::new(config(&url)).unwrap();
    let r = client.chat(&req("m", "x")).unwrap();
    assert_eq!(
        r.first_text(),
        "x|0|none|t=null|top_p=null|max=null|stop=null|seed=null"
    );
    assert_eq!(state.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn completions_endpoint() {
    let (url, _) = start();
    let client = Client::new(config(&format!("{url}/chat/completions"))).unwrap();
    let r = client
        .completions(&CompletionRequest {
            model: "m".into(),
            prompt: "hello".into(),
            sampling: Sampling {
                max_tokens: Some(1),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.choices[0].text, "hello world");
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
}

#[test]
fn retries_server_errors_then_succeeds() {
    let (url, state) = start();
    state.fail_first.store(2, Ordering::SeqCst);
    state.fail_status.store(503, Ordering::SeqCst);
    let client = Client::new(config(&url)).unwrap();
    let r = client.chat(&req("m", "a")).unwrap();
    assert!(r.first_text().starts_with("a|0"));
    assert_eq!(state.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn retries_429_honouring_retry_after() {
    let (url, state) = start();
    state.fail_first.store(1, Ordering::SeqCst);
    state.fail_status.store(429, Ordering::SeqCst);
    let client = Client::new(config(&url)).unwrap();
    let t = Instant::now();
    client.chat(&req("m", "a")).unwrap();
    // Retry-After 0.05 s beats the 10 ms backoff.
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(state.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn gives_up_after_max_retries() {
    let (url, state) = start();
    state.fail_first.store(100, Ordering::SeqCst);
    state.fail_status.store(500, Ordering::SeqCst);
    let client = Client::new(config(&url)).unwrap();
    let e = client.chat(&req("m", "a")).unwrap_err();
    match &e {
        Error::RetriesExhausted { attempts, last } => {
            assert_eq!(*attempts, 4);
            assert!(
                matches!(**last, Error::Status { status: 500, .. }),
                "{last}"
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(state.calls.load(Ordering::SeqCst), 4);
    assert!(e.to_string().contains("HTTP 500"), "{e}");
}

#[test]
fn client_errors_are_not_retried_and_carry_the_message() {
    let (url, state) = start();
    let client = Client::new(config(&url)).unwrap();
    let e = client.chat(&req("bad-request", "a")).unwrap_err();
    assert!(matches!(e, Error::Status { status: 400, .. }), "{e}");
    assert!(e.to_string().contains("unknown model"), "{e}");
    assert_eq!(state.calls.load(Ordering::SeqCst), 1);
    let e = client.chat(&req("not-json", "a")).unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e}");
    assert!(e.to_string().contains("proxy error"), "{e}");
}

#[test]
fn timeouts_are_retried_then_reported() {
    let (url, state) = start();
    let mut cfg = config(&url);
    cfg.timeout = Duration::from_millis(200);
    cfg.max_retries = 1;
    let client = Client::new(cfg).unwrap();
    let t = Instant::now();
    let e = client.chat(&req("slow", "a")).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    match e {
        Error::RetriesExhausted { attempts: 2, last } => {
            assert!(matches!(*last, Error::Timeout { .. }), "{last}")
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(state.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn connection_refused_is_a_transport_error() {
    // Bind then drop a listener to get a port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config(&format!("http://127.0.0.1:{port}/v1"));
    cfg.max_retries = 0;
    let client = Client::new(cfg).unwrap();
    let e = client.chat(&req("m", "a")).unwrap_err();
    match e {
        Error::RetriesExhausted { attempts: 1, last } => {
            assert!(matches!(*last, Error::Transport { .. }), "{last}")
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn many_keeps_order_bounds_concurrency_and_reports_each() {
    let (url, state) = start();
    state.fail_first.store(3, Ordering::SeqCst);
    state.fail_status.store(502, Ordering::SeqCst);
    let mut cfg = config(&url);
    cfg.concurrency = 4;
    let client = Client::new(cfg).unwrap();
    let reqs: Vec<ChatRequest> = (0..20)
        .map(|i| req("concurrency", &format!("q{i}")))
        .collect();
    let mut seen = Vec::new();
    let out = client.chat_many(&reqs, |i, r| {
        assert!(r.is_ok());
        seen.push(i);
    });
    assert_eq!(out.len(), 20);
    for (i, r) in out.iter().enumerate() {
        let text = r.as_ref().unwrap().first_text().to_string();
        assert!(text.starts_with(&format!("q{i}|")), "{text}");
    }
    seen.sort();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    let max = state.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&max), "max in flight {max}");
    assert_eq!(state.calls.load(Ordering::SeqCst), 23);
}
