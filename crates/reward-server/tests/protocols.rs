//! Each endpoint on a real server (127.0.0.1, port 0) with the real grader.

mod common;

use std::sync::Arc;

use aha_reward_server::{ServeConfig, Task, Template};
use aha_verify::RewardScheme;
use anyhow::Result;
use common::{Conn, real_scorer, start, start_default};
use serde_json::json;

const PROMPT: &str =
    "<|im_start|>user\nExample: \\boxed{42}. What is 6 times 7?<|im_end|>\n<|im_start|>assistant\n";

fn query(response: &str) -> String {
    format!("{PROMPT}{response}<|im_end|><|endoftext|>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrlhf_single_sample() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let response = "Let me recheck: 6*7 = 42. So \\boxed{42}";
    let body = json!({"query": [query(response)], "prompts": [PROMPT], "labels": ["42"]});
    for path in ["/get_reward", "/"] {
        let r = c.post_json(path, &body).await?;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json()?;
        assert_eq!(v["rewards"], json!([1.0]));
        assert_eq!(v["scores"], json!([1.0]));
        let logs = &v["extra_logs"];
        assert_eq!(logs["verdict"], json!([0.0]));
        assert_eq!(logs["correct"], json!([1.0]));
        assert_eq!(logs["formatted"], json!([1.0]));
        assert_eq!(logs["gold_unparseable"], json!([0.0]));
        assert_eq!(logs["reflection_keywords"], json!([1.0]));
        assert_eq!(logs["prompt_matched"], json!([1.0]));
        // The prompt and both special tokens are gone: only the response is counted.
        assert_eq!(
            logs["response_chars"],
            json!([response.chars().count() as f64])
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrlhf_batch_verdicts_and_prompt_stripping() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let responses = [
        "6 \\times 7 = \\boxed{42}",
        "I think it is \\boxed{41}",
        // No answer in the response: the prompt's \boxed{42} must not be graded.
        "It is forty-two.",
        "\\boxed{\\frac{84}{2}}",
    ];
    let body = json!({
        "query": responses.iter().map(|r| query(r)).collect::<Vec<_>>(),
        "prompts": [PROMPT, PROMPT, PROMPT, PROMPT],
        "labels": ["42", "42", "42", "42"],
    });
    let v = c.post_json("/get_reward", &body).await?.json()?;
    assert_eq!(v["rewards"], json!([1.0, 0.0, 0.0, 1.0]));
    assert_eq!(v["scores"], json!([1.0, 0.0, 0.0, 1.0]));
    assert_eq!(v["extra_logs"]["verdict"], json!([0.0, 1.0, 2.0, 0.0]));
    assert_eq!(v["extra_logs"]["formatted"], json!([1.0, 1.0, 0.0, 1.0]));

    // A query whose response cannot be told apart from its prompt is not graded at all (it might
    // be prompt text), and says so.
    let body = json!({"query": ["\\boxed{42}"], "prompts": ["something else"], "labels": ["42"]});
    let v = c.post_json("/get_reward", &body).await?.json()?;
    assert_eq!(v["extra_logs"]["prompt_matched"], json!([0.0]));
    assert_eq!(v["extra_logs"]["no_answer"], json!([1.0]));
    assert_eq!(v["rewards"], json!([0.0]));
    Ok(())
}

/// A few-shot prompt long enough for OpenRLHF to left-truncate: its worked example ends in
/// `\boxed{2}`, the answer the question below also has.
const FEW_SHOT: &str = "<|im_start|>system\nPut the final answer in \\boxed{}.<|im_end|>\n\
    <|im_start|>user\nExample: what is 1 + 1? Answer: 1 + 1 = \\boxed{2}.\n\
    Now: what is the positive root of x^2 = 4, to be given as a whole number?<|im_end|>\n\
    <|im_start|>assistant\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrlhf_truncated_prompt_never_rewards_its_few_shot_answer() -> Result<()> {
    let scorer = real_scorer(Template::QwenMath, RewardScheme::SimpleRl)?;
    let server = start(ServeConfig::default(), Arc::new(scorer)).await?;
    let mut c = Conn::open(server.addr).await?;
    // What OpenRLHF sends after cutting the prompt's first tokens: the query starts inside the
    // prompt, before the example's box (left padding and all), and `prompts` still holds the
    // whole prompt. Grading the query would find the example's `\boxed{2}`.
    let kept = &FEW_SHOT[FEW_SHOT.find("Example:").expect("example in prompt")..];
    let no_answer = "I am not sure what the root is.";
    let body = json!({
        "query": [
            format!("<|endoftext|><|endoftext|>{kept}{no_answer}<|im_end|>"),
            format!("{kept}x = \\boxed{{2}}<|im_end|><|endoftext|>"),
            // Cut right at the example's box.
            format!("{}{no_answer}<|im_end|>", &FEW_SHOT[FEW_SHOT.find("\\boxed{2}").expect("box")..]),
            // The whole prompt, but changed by a tokenizer round trip: nothing can be graded.
            format!("{}{no_answer}", FEW_SHOT.replace("Example:", "Example :")),
        ],
        "prompts": [FEW_SHOT, FEW_SHOT, FEW_SHOT, FEW_SHOT],
        "labels": ["2", "2", "2", "2"],
    });
    let r = c.post_json("/get_reward", &body).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json()?;
    assert_eq!(v["rewards"], json!([-1.0, 1.0, -1.0, -1.0]));
    assert_eq!(v["scores"], json!([0.0, 1.0, 0.0, 0.0]));
    let logs = &v["extra_logs"];
    assert_eq!(logs["verdict"], json!([2.0, 0.0, 2.0, 2.0]));
    assert_eq!(logs["no_answer"], json!([1.0, 0.0, 1.0, 1.0]));
    assert_eq!(logs["prompt_matched"], json!([1.0, 1.0, 1.0, 0.0]));
    assert_eq!(
        logs["response_chars"],
        json!([no_answer.len() as f64, 13.0, no_answer.len() as f64, 0.0])
    );
    // The same names as the Python wheel's `reward_func`.
    let names: Vec<&str> = logs
        .as_object()
        .expect("extra_logs is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = aha_verify::isolate::EXTRA_LOG_NAMES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrlhf_list_golds_are_any_of() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let prompt = "Solve x^2 = 4.";
    let body = json!({
        "query": [
            format!("{prompt} \\boxed{{-2}}"),
            format!("{prompt} \\boxed{{2}}"),
            format!("{prompt} \\boxed{{3}}"),
            format!("{prompt} \\boxed{{4}}"),
            format!("{prompt} \\boxed{{4}}"),
        ],
        "prompts": [prompt, prompt, prompt, prompt, prompt],
        "labels": [["2", "-2"], ["2", "-2"], ["2", "-2"], [4], []],
    });
    let r = c.post_json("/get_reward", &body).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json()?;
    assert_eq!(v["rewards"], json!([1.0, 1.0, 0.0, 1.0, 0.0]));
    assert_eq!(v["extra_logs"]["verdict"], json!([0.0, 0.0, 1.0, 0.0, 3.0]));
    // A list holding something that is not an answer is refused, naming the entry.
    let body = json!({"query": ["\\boxed{2}"], "labels": [["2", {"x": 1}]]});
    let r = c.post_json("/get_reward", &body).await?;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("labels[0][1]"), "{}", r.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrlhf_simplerl_scheme_and_r1_template() -> Result<()> {
    let scorer = real_scorer(Template::R1, RewardScheme::SimpleRl)?;
    let server = start(ServeConfig::default(), Arc::new(scorer)).await?;
    let mut c = Conn::open(server.addr).await?;
    let prompt = "User: what is 2+2? Assistant: <think>";
    let body = json!({
        "query": [
            format!("{prompt} 2+2=4 </think> <answer> 4 </answer></s>"),
            format!("{prompt} hmm </think> <answer> 5 </answer>"),
            // r1 reads the answer tag only: a box is not an answer here.
            format!("{prompt} \\boxed{{4}}"),
        ],
        "prompts": [prompt, prompt, prompt],
        "labels": ["4", "4", "4"],
    });
    let v = c.post_json("/get_reward", &body).await?.json()?;
    assert_eq!(v["rewards"], json!([1.0, -0.5, -1.0]));
    assert_eq!(v["scores"], json!([1.0, 0.0, 0.0]));
    assert_eq!(v["extra_logs"]["r1_format"], json!([1.0, 1.0, 0.0]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrlhf_countdown() -> Result<()> {
    let config = ServeConfig {
        task: Task::Countdown,
        ..ServeConfig::default()
    };
    let scorer = real_scorer(Template::R1, RewardScheme::Binary)?;
    let server = start(config, Arc::new(scorer)).await?;
    let mut c = Conn::open(server.addr).await?;
    let label = r#"{"target": 9, "numbers": [1, 2, 3]}"#;
    // TinyZero's `nums`, as an object: the form the Python wheel and `aha verify` read too.
    let nums = json!({"target": 9, "nums": [1, 2, 3]});
    let body = json!({
        "query": [
            "<think>ok</think>\n<answer>(1 + 2) * 3</answer>",
            "<think>ok</think>\n<answer>1 + 2 + 3</answer>",
            "<think>no idea</think>",
            "<think>ok</think>\n<answer>3 * (2 + 1)</answer>",
        ],
        "labels": [label, label, label, nums],
    });
    let v = c.post_json("/get_reward", &body).await?.json()?;
    assert_eq!(v["rewards"], json!([1.0, 0.1, 0.0, 1.0]));
    assert_eq!(v["scores"], json!([1.0, 0.0, 0.0, 1.0]));
    assert_eq!(v["extra_logs"]["verdict"], json!([0.0, 1.0, 2.0, 0.0]));
    Ok(())
}

#[derive(serde::Serialize)]
struct OatRequest<'a> {
    batch_prompt: Vec<&'a str>,
    batch_response: Vec<&'a str>,
    batch_candidates: Vec<[&'a str; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_reference: Option<Vec<&'a str>>,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct OatResponse {
    batch_score: Vec<f64>,
    batch_first_win_prob: Vec<f64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oat_msgpack_round_trip() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let (right, wrong) = ("so \\boxed{7}", "so \\boxed{8}");

    // Reward queries: one score per response.
    let req = OatRequest {
        batch_prompt: vec!["3+4?", "3+4?"],
        batch_response: vec![right, wrong],
        batch_candidates: vec![],
        batch_reference: Some(vec!["7", "7"]),
    };
    let r = c
        .request(
            "POST",
            "/get_feedback",
            "application/msgpack",
            rmp_serde::to_vec_named(&req)?,
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type, "application/msgpack");
    let got: OatResponse = rmp_serde::from_slice(&r.body)?;
    assert_eq!(
        got,
        OatResponse {
            batch_score: vec![1.0, 0.0],
            batch_first_win_prob: vec![]
        }
    );

    // Preference queries: 1 / 0 / 0.5 by reward comparison.
    let req = OatRequest {
        batch_prompt: vec!["3+4?"; 3],
        batch_response: vec![],
        batch_candidates: vec![[right, wrong], [wrong, right], [wrong, wrong]],
        batch_reference: Some(vec!["7"; 3]),
    };
    let r = c
        .request(
            "POST",
            "/get_feedback",
            "application/msgpack",
            rmp_serde::to_vec_named(&req)?,
        )
        .await?;
    let got: OatResponse = rmp_serde::from_slice(&r.body)?;
    assert_eq!(got.batch_first_win_prob, vec![1.0, 0.0, 0.5]);
    assert!(got.batch_score.is_empty());

    // oat's stock client sends no references: a clear 400, not zeros.
    let req = OatRequest {
        batch_prompt: vec!["3+4?"],
        batch_response: vec![right],
        batch_candidates: vec![],
        batch_reference: None,
    };
    let r = c
        .request(
            "POST",
            "/get_feedback",
            "application/msgpack",
            rmp_serde::to_vec_named(&req)?,
        )
        .await?;
    assert_eq!(r.status, 400);
    assert!(
        r.json()?["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("batch_reference")
    );

    // Garbage instead of msgpack.
    let r = c
        .request(
            "POST",
            "/get_feedback",
            "application/msgpack",
            &b"\xc1\xc1"[..],
        )
        .await?;
    assert_eq!(r.status, 400, "{}", r.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_verify_details() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let body = json!({"items": [
        {"response": "Wait, let me recheck. Then re-evaluate: \\boxed{\\frac{1}{2}}<|im_end|>", "gold": "0.5"},
        {"response": "<think>a</think>\n<answer>(1 + 2) * 3</answer>", "task": "countdown",
         "gold": {"target": 9, "numbers": [3, 2, 1]}},
        {"response": "no answer here", "gold": "3"},
    ]});
    let r = c.post_json("/v1/verify", &body).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json()?;
    assert_eq!(v["schema_version"], json!(1));
    let res = v["results"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    assert_eq!(res.len(), 3);
    assert_eq!(res[0]["verdict"], "correct");
    assert_eq!(res[0]["task"], "math");
    assert_eq!(res[0]["extracted"]["text"], "\\frac{1}{2}");
    assert_eq!(res[0]["extracted"]["source"], "boxed");
    assert_eq!(res[0]["reflection"]["total"], 2);
    assert_eq!(
        res[0]["reflection"]["per_keyword"],
        json!({"re-evaluate": 1, "recheck": 1})
    );
    // The stop marker is not part of the graded response.
    let graded = "Wait, let me recheck. Then re-evaluate: \\boxed{\\frac{1}{2}}";
    assert_eq!(res[0]["response_chars"], graded.chars().count());
    assert_eq!(res[1]["task"], "countdown");
    assert_eq!(
        (res[1]["verdict"].as_str(), res[1]["reward"].as_f64()),
        (Some("correct"), Some(1.0))
    );
    assert_eq!(res[2]["verdict"], "no_answer");
    assert_eq!(res[2]["extracted"], serde_json::Value::Null);
    assert_eq!(res[2]["formatted"], false);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    let h = c.get("/healthz").await?;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()?["status"], "ok");
    assert_eq!(h.json()?["task"], "math");

    let ok = json!({"query": ["\\boxed{1}", "\\boxed{2}"], "labels": ["1", "1"]});
    for _ in 0..3 {
        assert_eq!(c.post_json("/get_reward", &ok).await?.status, 200);
    }
    let bad = json!({"query": ["\\boxed{1}"], "labels": []});
    assert_eq!(c.post_json("/get_reward", &bad).await?.status, 400);
    assert_eq!(c.get("/nope").await?.status, 404);

    let m = c.get("/metrics").await?;
    assert_eq!(m.status, 200);
    assert!(
        m.content_type.starts_with("application/openmetrics-text"),
        "{}",
        m.content_type
    );
    let text = m.text();
    for line in [
        "aha_serve_requests_total{route=\"/get_reward\",status=\"200\"} 3",
        "aha_serve_requests_total{route=\"/get_reward\",status=\"400\"} 1",
        "aha_serve_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "aha_serve_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "aha_serve_verdicts_total{task=\"math\",verdict=\"correct\"} 3",
        "aha_serve_verdicts_total{task=\"math\",verdict=\"incorrect\"} 3",
        "aha_serve_samples_total{route=\"/get_reward\"} 6",
        "aha_serve_errors_total{kind=\"invalid_request\"} 1",
        "aha_serve_errors_total{kind=\"not_found\"} 1",
        "aha_serve_request_duration_seconds_count{route=\"/get_reward\"} 4",
        "aha_serve_request_duration_seconds_bucket{le=\"10.0\",route=\"/get_reward\"} 4",
        // The /metrics request itself is still in flight while it renders.
        "aha_serve_in_flight_requests 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batch_is_split_across_workers_and_kept_in_order() -> Result<()> {
    let server = start_default().await?;
    let mut c = Conn::open(server.addr).await?;
    // > 64 KiB of body: decoded on the pool, graded in several parallel chunks.
    let n: usize = 1500;
    let pad = "Let me think about it step by step. ".repeat(2);
    let queries: Vec<String> = (0..n).map(|i| format!("{pad}\\boxed{{{i}}}")).collect();
    let labels: Vec<String> = (0..n)
        .map(|i| {
            if i.is_multiple_of(5) {
                "x".into()
            } else {
                i.to_string()
            }
        })
        .collect();
    let body = json!({"query": queries, "labels": labels});
    assert!(serde_json::to_vec(&body)?.len() > 64 * 1024);
    let v = c.post_json("/get_reward", &body).await?.json()?;
    let want: Vec<f64> = (0..n)
        .map(|i| if i.is_multiple_of(5) { 0.0 } else { 1.0 })
        .collect();
    assert_eq!(v["rewards"], json!(want));
    Ok(())
}
