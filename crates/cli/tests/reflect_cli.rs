//! `aha reflect` end to end: records in order, error records for malformed lines, the summary
//! JSON, keyword files and word mode, and the LLM judge against an in-process OpenAI-compatible
//! stub on 127.0.0.1:0 (cross detection, reply cache reused by a rerun, retries).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

mod common;
use common::*;

const INPUT: &str = r#"{"id": "q1", "question": "What is 2+3?", "gold": "5", "temperature": 0.6, "response": "2 + 3 = \\boxed{6}. Wait, let me recheck: 2 + 3 = 5. So \\boxed{5}."}
{"id": "q1", "question": "What is 2+3?", "gold": "5", "temperature": 0.6, "response": "2 + 3 = \\boxed{5}."}
{"id": "q2", "question": "What is 3^2?", "gold": "9", "temperature": 0.6, "response": "3^2 = \\boxed{9}. Let me double-check and rethink again: 3*3 = 6, so \\boxed{6}."}
{"id": "q2", "question": "What is 3^2?", "response": 42}
{"id": "q2", "question": "What is 3^2?", "gold": "9", "temperature": 0.6, "response": "Rethinking: 3 times 3 is \\boxed{9}."}
"#;

#[test]
fn records_in_order_with_ssr_and_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, INPUT).unwrap();
    let out = dir.path().join("out.jsonl");
    let (code, stdout, stderr) = aha(&[
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--summary",
    ]);
    assert_eq!(code, 1, "one malformed line → exit 1; stderr: {stderr}");
    assert!(stderr.contains("in.jsonl:4: field `response`"), "{stderr}");
    let recs = lines(&out);
    assert_eq!(recs.len(), 5);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["schema_version"], 1);
        assert_eq!(r["line"], i + 1);
    }
    // Line 1: one paper15 keyword (recheck; "wait" is not in paper15), W->C.
    assert_eq!(recs[0]["keyword_count"], 1);
    assert_eq!(recs[0]["keywords"], json!({"recheck": 1}));
    assert_eq!(recs[0]["keyword_set"], "paper15@v1");
    assert_eq!(recs[0]["has_reflection"], true);
    assert_eq!(recs[0]["ssr"]["category"], "W->C");
    // "2 + 3 = " (8) + "\\boxed{6}" (9) + ". " (2) + "Wait, " (6) + "let me " (7) = 32
    assert_eq!(recs[0]["hits"][0]["start"], 32);
    assert_eq!(recs[0]["correct"], true);
    // Line 2: no reflection.
    assert_eq!(recs[1]["keyword_count"], 0);
    assert_eq!(recs[1]["ssr"]["category"], "none");
    // Line 3: double-check + rethink + think again (overlapping "rethink again"), C->W.
    assert_eq!(recs[2]["keyword_count"], 3);
    assert_eq!(recs[2]["ssr"]["category"], "C->W");
    assert_eq!(recs[2]["correct"], false);
    assert!(
        recs[3]["error"]
            .as_str()
            .unwrap()
            .contains("field `response`")
    );
    // Line 5: "Rethinking" counts in substring mode, before any answer.
    assert_eq!(recs[4]["keyword_count"], 1);
    assert_eq!(recs[4]["ssr"]["category"], "no_prior_answer");

    assert!(stdout.contains("reflection@k questions: 2"), "{stdout}");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out.jsonl.summary.json")).unwrap(),
    )
    .unwrap();
    let g = &summary["overall"];
    assert_eq!(g["responses"], 4);
    assert_eq!(g["questions"], 2);
    assert_eq!(g["reflective_responses"], 3);
    assert_eq!(g["passed_questions"], 2);
    assert_eq!(g["ssr"]["W->C"], 1);
    assert_eq!(g["ssr"]["C->W"], 1);
    assert_eq!(summary["by_temperature"][0]["temperature"], 0.6);
}

#[test]
fn keyword_file_and_word_mode() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, INPUT).unwrap();
    let kw = dir.path().join("kw.txt");
    std::fs::write(&kw, "# mine\nrethink\nWait\n").unwrap();
    let out = dir.path().join("out.jsonl");
    let (code, _, stderr) = aha(&[
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--keywords",
        kw.to_str().unwrap(),
        "--match",
        "word",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let recs = lines(&out);
    assert_eq!(recs[0]["keywords"], json!({"wait": 1}));
    assert_eq!(recs[2]["keywords"], json!({"rethink": 1}));
    // Word mode: "Rethinking" is not "rethink".
    assert_eq!(recs[4]["keyword_count"], 0);

    let (code, _, stderr) = aha(&[
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--keywords",
        "nope",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("neither a preset"), "{stderr}");
}

#[derive(Default)]
struct Judge {
    calls: AtomicUsize,
    fail_first: AtomicUsize,
}

/// Replies "… 2." when the judged response mentions "recheck", otherwise "… 1.".
async fn judge(State(s): State<Arc<Judge>>, Json(body): Json<Value>) -> Response {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    if n < s.fail_first.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    assert_eq!(body["temperature"], 0.0);
    let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
    if let Some(output) = prompt.split("Output:\n").nth(1) {
        // The answering-ability judge: the study's budget and a leading integer.
        assert_eq!(body["max_tokens"], 100);
        let reply = if output.contains("boxed") { "1" } else { "0" };
        return Json(json!({"choices": [{"message": {"role": "assistant", "content": reply}}]}))
            .into_response();
    }
    assert_eq!(body["max_tokens"], 300);
    let response = prompt.split("Response:\n").nth(1).unwrap_or_default();
    let reply = if response.contains("recheck") {
        "The response demonstrates self-reflection. 2."
    } else {
        "The response provides a direct solution without self-reflection. 1."
    };
    Json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}))
        .into_response()
}

fn start_judge(state: Arc<Judge>) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(judge))
        .with_state(state);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{}/v1", rx.recv().unwrap())
}

#[test]
fn judge_cross_detection_cache_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, INPUT).unwrap();
    let out = dir.path().join("out.jsonl");
    let cache = dir.path().join("cache.jsonl");
    let state = Arc::new(Judge::default());
    state.fail_first.store(2, Ordering::SeqCst);
    let url = start_judge(state.clone());
    let args = [
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--summary-out",
        dir.path()
            .join("s.json")
            .to_str()
            .unwrap()
            .to_string()
            .leak(),
        "--judge-url",
        url.as_str(),
        "--judge-model",
        "stub",
        "--judge-cache",
        cache.to_str().unwrap(),
        "--judge-key-env",
        "AHA_TEST_NO_SUCH_KEY",
        "--judge-concurrency",
        "2",
    ];
    let (code, _, stderr) = aha(&args);
    assert_eq!(code, 1, "{stderr}");
    // 4 good lines + 2 failed attempts that were retried.
    assert_eq!(state.calls.load(Ordering::SeqCst), 6);
    let recs = lines(&out);
    assert_eq!(recs[0]["judge"]["reflection"], true);
    assert_eq!(recs[0]["judge"]["category"], 2);
    assert_eq!(recs[0]["judge"]["cross"], true);
    assert_eq!(recs[1]["judge"]["reflection"], false);
    // Keywords say yes, the judge says no: not cross.
    assert_eq!(recs[2]["judge"]["category"], 1);
    assert_eq!(recs[2]["judge"]["cross"], false);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(s["overall"]["judge"]["judge_responses"], 1);
    assert_eq!(s["overall"]["judge"]["cross_questions"], 1);
    assert_eq!(s["overall"]["judge"]["strict_responses"], 1);
    assert_eq!(s["overall"]["judge"]["parse_disagreements"], 0);
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 4);

    // A rerun costs nothing: every reply comes from the cache.
    let (code, _, stderr) = aha(&args);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(state.calls.load(Ordering::SeqCst), 6);
    assert!(stderr.contains("4 cached, 0 to send"), "{stderr}");
    assert_eq!(lines(&out), recs);
}

#[test]
fn invalid_utf8_line_is_an_error_record_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut bytes = b"{\"response\": \"I must recheck.\"}\n{\"response\": \"\xff\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"response\": \"Double-check!\", \"n_tokens\": 4}\n");
    std::fs::write(&input, bytes).unwrap();
    let out = dir.path().join("out.jsonl");
    let (code, _, stderr) = aha(&[
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("in.jsonl:2: invalid UTF-8"), "{stderr}");
    let recs = lines(&out);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["keyword_count"], 1);
    assert_eq!(recs[0]["question_id"], "line-1");
    assert!(recs[0].get("ssr").is_none());
    assert_eq!(recs[2]["keyword_count"], 1);
    assert_eq!(recs[2]["per_1k_tokens"], 250.0);
}

#[test]
fn tokenizer_gives_rates_per_1k_tokens() {
    let tok_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tokenizer/tests/fixtures/tiny-hf/tokenizer.json");
    if !tok_path.exists() {
        eprintln!("notice: tokenizer fixture absent; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let text = "hello recheck hello";
    std::fs::write(&input, format!("{}\n", json!({"response": text}))).unwrap();
    let out = dir.path().join("out.jsonl");
    let (code, _, stderr) = aha(&[
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--tokenizer",
        tok_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let n = aha_tokenizer::Tokenizer::from_tokenizer_json(&tok_path)
        .unwrap()
        .encode_plain(text, false)
        .unwrap()
        .len();
    assert!(n > 0);
    let recs = lines(&out);
    assert_eq!(recs[0]["per_1k_tokens"], 1000.0 / n as f64);
}

#[test]
fn answering_judge_gives_the_studys_answering_rate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        [
            json!({"question": "1+1?", "prompt": "Question: 1+1?\nAnswer:", "response": "\\boxed{2}"}),
            json!({"question": "1+1?", "response": "Question: what is 2+2? Question: what is 3+3?"}),
        ]
        .map(|v| v.to_string() + "\n")
        .concat(),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let summary = dir.path().join("s.json");
    let cache = dir.path().join("cache.jsonl");
    let state = Arc::new(Judge::default());
    let url = start_judge(state.clone());
    let (code, _, stderr) = aha(&[
        "reflect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--summary-out",
        summary.to_str().unwrap(),
        "--judge-url",
        &url,
        "--judge-answering",
        "--judge-cache",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(state.calls.load(Ordering::SeqCst), 4);
    let recs = lines(&out);
    assert_eq!(recs[0]["answering"]["verdict"], "answering");
    assert_eq!(recs[1]["answering"]["verdict"], "completion");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["overall"]["llm_answer_rate"], 0.5);
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 4);
}
