//! Wire formats of the three protocols, and decoding with error messages that name the field.
//!
//! Unknown fields are ignored in the OpenRLHF and oat bodies (engines add fields over time) and
//! rejected in aha's own `/v1/verify` (a typo there should not silently change a result).

use std::collections::BTreeMap;

use aha_verify::{Extracted, Verdict};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Task;
use crate::error::{Error, Result};
use crate::scorer::{Gold, Scored};

/// Version of the `/v1/verify` response layout.
pub const SCHEMA_VERSION: u32 = 1;

/// OpenRLHF's remote reward request (`--remote_rm_url` / `--reward.remote_url`).
#[derive(Debug, Deserialize)]
pub(crate) struct OpenRlhfRequest {
    /// Prompt + response, decoded without skipping special tokens.
    pub query: Vec<String>,
    /// The prompts, one per query (optional; without them the whole query is graded).
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
    /// The gold labels, one per query (`--data.label_key`).
    #[serde(default)]
    pub labels: Option<Vec<Value>>,
}

/// OpenRLHF's expected response.
#[derive(Debug, Serialize)]
pub(crate) struct OpenRlhfResponse {
    pub rewards: Vec<f64>,
    pub scores: Vec<f64>,
    pub extra_logs: BTreeMap<&'static str, Vec<f64>>,
}

/// oat's remote oracle request (`POST /get_feedback`, msgpack).
#[derive(Debug, Deserialize)]
pub(crate) struct OatRequest {
    pub batch_prompt: Vec<String>,
    /// Responses to score (reward oracle); empty for preference queries.
    #[serde(default)]
    pub batch_response: Vec<String>,
    /// Pairs `[a, b]` to compare (preference oracle); empty for reward queries.
    #[serde(default)]
    pub batch_candidates: Vec<Vec<String>>,
    /// aha's extension: the gold answers, one per prompt. oat's stock client does not send
    /// references (its `RemoteRMOracle.get_reward` drops them), and a rule-based oracle cannot
    /// grade without them.
    #[serde(default)]
    pub batch_reference: Option<Vec<Value>>,
}

/// oat's remote oracle response.
#[derive(Debug, Serialize)]
pub(crate) struct OatResponse {
    pub batch_score: Vec<f64>,
    pub batch_first_win_prob: Vec<f64>,
}

/// `POST /v1/verify` request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    pub items: Vec<VerifyItem>,
}

/// One item of `/v1/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyItem {
    /// The response only (stop markers are removed; no prompt stripping).
    pub response: String,
    /// Math: the answer as a string or number, or a list of them (any-of). Countdown:
    /// `{"target":…, "numbers"|"nums":[…]}`, as an object or a JSON string.
    pub gold: Value,
    /// Overrides the server's `--task` for this item.
    #[serde(default)]
    pub task: Option<Task>,
    /// The prompt pre-filled `<think>` (for the strict R1 format check).
    #[serde(default)]
    pub prefilled_think: bool,
}

/// `POST /v1/verify` response.
#[derive(Debug, Serialize)]
pub(crate) struct VerifyResponse<'a> {
    pub schema_version: u32,
    pub results: Vec<VerifyResult<'a>>,
}

/// One result of `/v1/verify`.
#[derive(Debug, Serialize)]
pub(crate) struct VerifyResult<'a> {
    pub task: Task,
    pub verdict: Verdict,
    pub correct: bool,
    pub reward: f64,
    pub score: f64,
    pub formatted: bool,
    pub r1_format: bool,
    pub extracted: Option<&'a Extracted>,
    pub response_chars: usize,
    pub reflection: Reflection<'a>,
}

/// Reflection statistics of one response.
#[derive(Debug, Serialize)]
pub(crate) struct Reflection<'a> {
    pub total: usize,
    pub in_think: usize,
    pub per_1k_chars: f64,
    pub per_keyword: &'a BTreeMap<String, usize>,
}

impl<'a> VerifyResult<'a> {
    pub(crate) fn new(task: Task, s: &'a Scored) -> VerifyResult<'a> {
        VerifyResult {
            task,
            verdict: s.grade.verdict,
            correct: s.grade.verdict.is_correct(),
            reward: s.grade.reward,
            score: s.score(),
            formatted: s.grade.formatted,
            r1_format: s.r1_format,
            extracted: s.grade.extracted.as_ref(),
            response_chars: s.response_chars,
            reflection: Reflection {
                total: s.reflection.total,
                in_think: s.reflection.in_think,
                per_1k_chars: s.reflection.per_1k_chars,
                per_keyword: &s.reflection.per_keyword,
            },
        }
    }
}

/// Numeric verdict code in OpenRLHF's `extra_logs` (wandb logs numbers only):
/// 0 correct, 1 incorrect, 2 no answer, 3 unparseable gold.
pub fn verdict_code(verdict: Verdict) -> f64 {
    f64::from(verdict.code())
}

fn path_name(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." { "body".to_owned() } else { p }
}

/// Explains a decode failure on a body that is not UTF-8 (serde only says "invalid unicode").
fn utf8_hint(body: &[u8], message: String) -> String {
    match std::str::from_utf8(body) {
        Ok(_) => message,
        Err(e) => format!(
            "{message} (the body is not valid UTF-8 at byte {})",
            e.valid_up_to()
        ),
    }
}

/// Decodes a JSON body; errors name the field path (`labels[2]`).
pub(crate) fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| Error::field(path_name(e.path()), utf8_hint(body, e.inner().to_string())))?;
    de.end()
        .map_err(|e| Error::field("body", format!("trailing data after the JSON value: {e}")))?;
    Ok(value)
}

/// Decodes a msgpack body; errors name the field path.
pub(crate) fn from_msgpack<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let mut de = rmp_serde::Deserializer::from_read_ref(body);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| Error::field(path_name(e.path()), e.inner().to_string()))
}

/// Encodes a msgpack response with named fields (msgspec/`msgpack.unpackb` give a dict).
pub(crate) fn to_msgpack<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| Error::Internal(format!("encoding msgpack: {e}")))
}

/// Reads one gold label for `task` with the contract's reader ([`Gold::from_json`]); `field`
/// names it in errors (e.g. `labels[3]`, then `labels[3][1]` for a bad list item).
///
/// `null` and `[]` mean "no reference" and grade as `gold_unparseable`, as in the Python wheel,
/// rather than failing the whole batch.
pub(crate) fn gold(value: &Value, task: Task, field: impl FnOnce() -> String) -> Result<Gold> {
    Gold::from_json(value, task).map_err(|e| match e {
        aha_verify::Error::Gold { at, reason } => Error::field(format!("{}{at}", field()), reason),
        other => Error::field(field(), other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_field() {
        let err = from_json::<OpenRlhfRequest>(br#"{"query": ["a", 3]}"#).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("query[1]"), "{err}");
        let err = from_json::<OpenRlhfRequest>(br#"{"prompts": []}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `query`"), "{err}");
        let err = from_json::<VerifyRequest>(
            br#"{"items": [{"response": "x", "gold": "1", "tsk": "math"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("items[0]"), "{err}");
        assert!(err.to_string().contains("tsk"), "{err}");
    }

    #[test]
    fn non_utf8_is_reported_as_such() {
        let err = from_json::<OpenRlhfRequest>(b"{\"query\": [\"\xff\"]}").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("query[0]") && msg.contains("not valid UTF-8 at byte 12"),
            "{msg}"
        );
    }

    #[test]
    fn countdown_gold_forms() {
        let f = || "labels[0]".to_string();
        let want = Gold::Countdown {
            target: 24,
            numbers: vec![3, 8],
        };
        let s = Value::String(r#"{"target": 24, "numbers": [3, 8]}"#.into());
        assert_eq!(gold(&s, Task::Countdown, f).unwrap(), want);
        let o = serde_json::json!({"target": 24, "numbers": [3, 8]});
        assert_eq!(gold(&o, Task::Countdown, f).unwrap(), want);
        let err = gold(&Value::String("24".into()), Task::Countdown, f).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid request: labels[0]: a Countdown gold"),
            "{err}"
        );
        let nums = serde_json::json!({"target": 24, "nums": [3, 8], "id": 5});
        assert_eq!(gold(&nums, Task::Countdown, f).unwrap(), want);
        let nums = Value::String(r#"{"nums": [3, 8], "target": 24}"#.into());
        assert_eq!(gold(&nums, Task::Countdown, f).unwrap(), want);
        assert!(gold(&serde_json::json!({"target": 24}), Task::Countdown, f).is_err());
    }

    #[test]
    fn math_gold_forms() {
        let f = || "labels[0]".to_string();
        let math = |v: serde_json::Value| gold(&v, Task::Math, f);
        assert_eq!(
            math(serde_json::json!(7)).unwrap(),
            Gold::Answer("7".into())
        );
        assert_eq!(
            math(serde_json::json!(["2", -2])).unwrap(),
            Gold::AnyOf(vec!["2".into(), "-2".into()])
        );
        assert_eq!(math(Value::Null).unwrap(), Gold::AnyOf(Vec::new()));
        assert_eq!(
            math(serde_json::json!([])).unwrap(),
            Gold::AnyOf(Vec::new())
        );
        let err = math(serde_json::json!(["2", ["3"]])).unwrap_err();
        assert!(err.to_string().contains("labels[0][1]"), "{err}");
        assert!(math(serde_json::json!({"a": 1})).is_err());
        assert!(math(serde_json::json!(true)).is_err());
    }

    proptest::proptest! {
        /// Decoding arbitrary bytes, or a valid body with one byte changed, returns a value or
        /// an error: it never panics.
        #[test]
        fn decoding_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            pos in 0usize..60,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let _ = from_json::<OpenRlhfRequest>(&bytes);
            let _ = from_json::<VerifyRequest>(&bytes);
            let _ = from_msgpack::<OatRequest>(&bytes);
            let mut body = br#"{"query": ["a \boxed{1}"], "prompts": ["a"], "labels": ["1"]}"#.to_vec();
            let i = pos % body.len();
            body[i] = byte;
            if let Err(e) = from_json::<OpenRlhfRequest>(&body) {
                proptest::prop_assert_eq!(e.status(), 400);
            }
        }

        /// Any string as a Countdown label is either a valid gold or a 400 naming the field.
        #[test]
        fn countdown_labels_never_panic(label in ".{0,40}") {
            match gold(&Value::String(label), Task::Countdown, || "labels[0]".into()) {
                Ok(Gold::Countdown { .. }) => {}
                Ok(other) => proptest::prop_assert!(false, "math gold {other:?} for countdown"),
                Err(e) => proptest::prop_assert!(e.to_string().contains("labels[0]")),
            }
        }
    }
}
