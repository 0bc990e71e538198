//! An in-process OpenAI-compatible stub server on 127.0.0.1:0 for the probe tests (also used by
//! `crates/cli/tests/probe_cli.rs` through `#[path]`). Its answers depend only on the question
//! in the prompt and the temperature, so the expected summary numbers can be derived by hand:
//!
//! | question | T = 0.5 | T = 1.0 |
//! |---|---|---|
//! | 1+1 (gold 2) | `\boxed{2}`, 8 tokens | "Let me recheck" before `\boxed{2}`, 12 tokens |
//! | 2+3 (gold 5) | `\boxed{6}`, "Wait, let me recheck", `\boxed{5}` (W->C), 20 tokens | `\boxed{7}`, 8 tokens |
//! | 3*3 (gold 9) | truncated, no answer, `length`, 16 tokens | `\boxed{9}`, "rethink and recheck", `\boxed{6}` (C->W), 20 tokens |
//!
//! The judge (any request for model `judge`) answers category 2 when the judged response
//! contains "Wait", else 1.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The questions of the fixture (id, question, gold).
pub const QUESTIONS: [(&str, &str, &str); 3] = [
    ("q1", "What is 1+1?", "2"),
    ("q2", "What is 2+3?", "5"),
    ("q3", "What is 3*3?", "9"),
];

/// The fixture as JSONL (`unique_id`, `problem`, `answer`).
pub fn dataset_jsonl() -> String {
    QUESTIONS
        .iter()
        .map(|(id, q, a)| format!("{}\n", json!({"unique_id": id, "problem": q, "answer": a})))
        .collect()
}

/// The stub's answer: (text, finish_reason, completion tokens).
pub fn answer(prompt: &str, temperature: f64) -> (&'static str, &'static str, u64) {
    let hot = temperature > 0.75;
    if prompt.contains("1+1") {
        if hot {
            ("1+1 is 2. Let me recheck: yes. \\boxed{2}", "stop", 12)
        } else {
            ("1+1 = \\boxed{2}.", "stop", 8)
        }
    } else if prompt.contains("2+3") {
        if hot {
            ("2+3 = \\boxed{7}.", "stop", 8)
        } else {
            (
                "2+3 = \\boxed{6}. Wait, let me recheck: 2+3 = 5, so \\boxed{5}.",
                "stop",
                20,
            )
        }
    } else if prompt.contains("3*3") {
        if hot {
            (
                "3*3 = \\boxed{9}. Let me rethink and recheck: \\boxed{6}",
                "stop",
                20,
            )
        } else {
            ("3*3 is the product of", "length", 16)
        }
    } else {
        ("I do not know.", "stop", 4)
    }
}

/// Shared state: what was asked, and how many more sampling requests succeed.
#[derive(Debug, Default)]
pub struct StubState {
    /// Successful sampling requests left; negative = unlimited. When it reaches 0, sampling
    /// requests get a 400 (not retried by the client).
    pub budget: AtomicI64,
    /// Milliseconds to wait before each sampling answer (to kill a CLI run mid-way).
    pub delay_ms: AtomicU64,
    /// Every request: (endpoint, body).
    pub requests: Mutex<Vec<(String, Value)>>,
}

impl StubState {
    /// The sampling requests seen (not the judge's).
    pub fn sampling_requests(&self) -> Vec<(String, Value)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, b)| b["model"] != "judge")
            .cloned()
            .collect()
    }
}

/// A running stub.
pub struct Stub {
    /// Base URL, e.g. `http://127.0.0.1:12345/v1`.
    pub url: String,
    /// Its state.
    pub state: Arc<StubState>,
}

/// Starts a stub on 127.0.0.1:0 (`budget`: successful sampling requests before it fails).
pub fn start(budget: Option<i64>) -> Stub {
    let state = Arc::new(StubState {
        budget: AtomicI64::new(budget.unwrap_or(-1)),
        ..Default::default()
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let st = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/v1/completions", post(completions))
                .route("/v1/chat/completions", post(chat))
                .with_state(st);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Stub {
        url: format!("http://{addr}/v1"),
        state,
    }
}

/// Takes one unit of budget; `Err` answer when spent.
async fn admit(st: &StubState, endpoint: &str, body: &Value) -> Result<(), Response> {
    st.requests
        .lock()
        .unwrap()
        .push((endpoint.to_string(), body.clone()));
    let delay = st.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let left = st.budget.load(Ordering::SeqCst);
    if left == 0 {
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "stub: request budget spent"}})),
        )
            .into_response());
    }
    if left > 0 {
        st.budget.fetch_sub(1, Ordering::SeqCst);
    }
    Ok(())
}

async fn completions(State(st): State<Arc<StubState>>, Json(body): Json<Value>) -> Response {
    if let Err(r) = admit(&st, "completions", &body).await {
        return r;
    }
    let prompt = body["prompt"].as_str().unwrap_or_default();
    let (text, finish, tokens) = answer(prompt, body["temperature"].as_f64().unwrap_or(1.0));
    Json(json!({
        "id": "cmpl-stub",
        "model": body["model"],
        "choices": [{"index": 0, "text": text, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens},
    }))
    .into_response()
}

async fn chat(State(st): State<Arc<StubState>>, Json(body): Json<Value>) -> Response {
    let user = body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if body["model"] == "judge" {
        st.requests
            .lock()
            .unwrap()
            .push(("chat".to_string(), body.clone()));
        let judged = user.rsplit("Response:\n").next().unwrap_or_default();
        let reply = if judged.contains("Wait") {
            "The model pauses and revises. Category: 2"
        } else {
            "Plain solution. Category: 1"
        };
        return Json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        }))
        .into_response();
    }
    if let Err(r) = admit(&st, "chat", &body).await {
        return r;
    }
    let (text, finish, tokens) = answer(&user, body["temperature"].as_f64().unwrap_or(1.0));
    Json(json!({
        "id": "chat-stub",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens},
    }))
    .into_response()
}
