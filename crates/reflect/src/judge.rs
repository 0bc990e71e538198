//! The study's LLM judge: prompt text, output parsing and an on-disk cache.
//!
//! The paper (App. E; `understand-r1-zero` `analysis/sr_detection.py`) asks GPT-4o-mini
//! (temperature 0, max 300 tokens) to put each response into one of four categories and counts
//! category 2 ("self-reflection") by testing whether `"2"` occurs in the last three characters of
//! the reply. The prompt below is aha's own wording of that instruction (the study's exact
//! example lines are quoted verbatim, since the parse depends on that output shape). The HTTP
//! call is not here: the CLI sends [`judge_prompt`] through `aha-openai` and stores replies in a
//! [`JudgeCache`].

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Version of [`judge_prompt`]'s text; part of every cache key, so a reworded prompt never
/// reuses stale replies.
pub const JUDGE_PROMPT_VERSION: u32 = 1;

/// The study's judge model.
pub const STUDY_JUDGE_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The study's judge temperature.
pub const STUDY_JUDGE_TEMPERATURE: f64 = 0.0;
/// The study's judge reply budget (tokens).
pub const STUDY_JUDGE_MAX_TOKENS: u32 = 300;

/// The judge's four categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeCategory {
    /// 0: off-topic, nonsensical, incoherent, overly repetitive or without logic.
    OffTopic,
    /// 1: attempts an answer without self-reflection.
    NoReflection,
    /// 2: shows self-reflection, explicit or implicit, whatever its correctness.
    Reflection,
    /// 3: only Python code for calculation, without reflection.
    CodeOnly,
}

impl JudgeCategory {
    /// The category's number in the prompt (0-3).
    pub fn number(self) -> u8 {
        match self {
            JudgeCategory::OffTopic => 0,
            JudgeCategory::NoReflection => 1,
            JudgeCategory::Reflection => 2,
            JudgeCategory::CodeOnly => 3,
        }
    }

    fn from_digit(d: char) -> Option<JudgeCategory> {
        Some(match d {
            '0' => JudgeCategory::OffTopic,
            '1' => JudgeCategory::NoReflection,
            '2' => JudgeCategory::Reflection,
            '3' => JudgeCategory::CodeOnly,
            _ => return None,
        })
    }
}

/// The parsed reply of the judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeVerdict {
    /// The study's parse: `"2" in reply[-3:]` (last three characters).
    pub study_reflection: bool,
    /// The strict parse: the category number the reply ends with, if it ends with one.
    pub category: Option<JudgeCategory>,
}

impl JudgeVerdict {
    /// Parses a judge reply both ways.
    pub fn parse(reply: &str) -> JudgeVerdict {
        JudgeVerdict {
            study_reflection: parse_study(reply),
            category: parse_strict(reply),
        }
    }
}

/// The study's judge prompt for one (question, response) pair: a single user message.
///
/// ```
/// let p = aha_reflect::judge::judge_prompt("What is 1+1?", "2. Wait, recheck: 2.");
/// assert!(p.contains("What is 1+1?") && p.contains("Wait, recheck"));
/// assert!(p.contains("The response demonstrates self-reflection. 2."));
/// ```
pub fn judge_prompt(question: &str, response: &str) -> String {
    // Written from the paper's description (App. E); the four example lines are the study's.
    format!(
        "You are given a math question and a response written by a language model. First decide \
whether the response actually attempts to solve the question, then put it into exactly one of \
these categories:\n\
0 - The response is off-topic, nonsensical, incoherent, overly repetitive, or lacks logical \
reasoning.\n\
1 - The response attempts to answer the question but shows no self-reflection.\n\
2 - The response shows self-reflection at any level, whether explicit (keywords such as \
\"recheck\", \"rethink\", \"reassess\", \"reevaluate\", \"re-evaluate\", \"reevaluation\", \
\"re-examine\", \"reexamine\", \"reconsider\", \"reanalyze\", \"double-check\", \"check again\", \
\"think again\", \"verify again\", \"go over the steps\", etc.) or implicit (revisiting its own \
solution, questioning an assumption, or trying an alternative approach). If any self-reflection \
is present, choose 2, no matter whether the final answer is correct.\n\
3 - The response consists only of Python code for calculation, without any self-reflection.\n\n\
Reply with a very brief explanation followed by the single category number at the very end, \
like one of these:\n\
- `The response is off-topic and does not attempt to answer the question. 0.`\n\
- `The response provides a direct solution without self-reflection. 1.`\n\
- `The response demonstrates self-reflection. 2.`\n\
- `The response consists solely of Python code without any self-reflection. 3.`\n\n\
Question:\n{question}\n\nResponse:\n{response}\n"
    )
}

/// The study's parse (`keyword_count.py`): `"2" in judge_text[-3:]`, counting characters as
/// Python does (Unicode scalar values).
pub fn parse_study(reply: &str) -> bool {
    reply.chars().rev().take(3).any(|c| c == '2')
}

/// Strict parse: the reply, with trailing whitespace and closing punctuation (`.`, `)`, `*`,
/// `` ` ``, `"`, `'`, `]`) stripped, must end in a single category digit 0-3 not preceded by
/// another digit (`"… 12."` is no category). Unlike the study's parse, `"… 2 out of 3"` or a
/// reply truncated mid-sentence gives `None`.
pub fn parse_strict(reply: &str) -> Option<JudgeCategory> {
    let t = reply.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '.' | ')' | '*' | '`' | '"' | '\'' | ']')
    });
    let mut it = t.chars().rev();
    let last = it.next()?;
    if it.next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    JudgeCategory::from_digit(last)
}

/// The study's answering-ability reply budget (tokens; `answering_ability.py`).
pub const STUDY_ANSWERING_MAX_TOKENS: u32 = 100;

/// What the answering-ability judge says about one output (paper Fig. 3-left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answering {
    /// The reply starts with `1`: the output attempts to answer the question.
    Answering,
    /// The reply starts with `0`: irrelevant text, random talk, hallucination or a continuation
    /// of the question (the study's "question_completion").
    Completion,
    /// The reply starts with anything else.
    Other,
}

impl Answering {
    /// The study's parse (`answering_ability.py`): `startswith("0")` / `startswith("1")` on the
    /// raw reply, no trimming.
    pub fn parse(reply: &str) -> Answering {
        if reply.starts_with('1') {
            Answering::Answering
        } else if reply.starts_with('0') {
            Answering::Completion
        } else {
            Answering::Other
        }
    }
}

/// The answering-ability prompt for one (model input, model output) pair: the study gives the
/// judge the templated prompt the model saw and one output, and wants a single leading integer.
/// aha's own wording of paper App. E's second prompt.
///
/// ```
/// use aha_reflect::judge::{Answering, answering_prompt};
/// let p = answering_prompt("Question: 1+1?\nAnswer:", "2");
/// assert!(p.contains("Question: 1+1?") && p.ends_with("2\n"));
/// assert_eq!(Answering::parse("1"), Answering::Answering);
/// assert_eq!(Answering::parse(" 1"), Answering::Other);
/// ```
pub fn answering_prompt(model_input: &str, model_output: &str) -> String {
    format!(
        "Below are the input given to a language model and the model's output. Decide whether the \
output attempts to answer the question in the input (reply 1), or is irrelevant, random talk, a \
continuation of the question or a hallucination (reply 0). Start your reply with the single \
integer 0 or 1.\n\n\
Input:\n{model_input}\n\nOutput:\n{model_output}\n"
    )
}

/// Cache key of one judge request: hex SHA-256 over the prompt version, the model and the prompt.
pub fn cache_key(model: &str, prompt: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("aha-judge-v{JUDGE_PROMPT_VERSION}\0").as_bytes());
    h.update(model.as_bytes());
    h.update([0u8]);
    h.update(prompt.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One line of the judge cache file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Format version of the line.
    pub schema_version: u32,
    /// [`cache_key`] of the request.
    pub key: String,
    /// The judge model.
    pub model: String,
    /// The judge's reply text.
    pub reply: String,
}

/// Current [`CacheEntry::schema_version`].
pub const CACHE_SCHEMA_VERSION: u32 = 1;

/// An append-only JSONL cache of judge replies, so a rerun costs nothing.
///
/// Each new reply is appended and flushed at once, so an interrupted run keeps what it paid for.
/// A malformed *last* line (a write cut short by a crash) is ignored; a malformed line elsewhere
/// is an error naming the line.
#[derive(Debug)]
pub struct JudgeCache {
    path: PathBuf,
    entries: HashMap<String, String>,
    file: std::fs::File,
}

impl JudgeCache {
    /// Opens (creating if needed) the cache at `path` and loads its entries.
    pub fn open(path: &Path) -> Result<JudgeCache> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut entries = HashMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<CacheEntry>(line) {
                    Ok(e) => {
                        entries.insert(e.key, e.reply);
                    }
                    Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
                    Err(e) => {
                        return Err(Error::Cache {
                            path: path.to_path_buf(),
                            line: i + 1,
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        // A torn last line (no newline) is cut off, so the next entry starts on a fresh line.
        if path.exists() {
            let bytes = std::fs::read(path).map_err(io)?;
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(keep as u64))
                    .map_err(io)?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(JudgeCache {
            path: path.to_path_buf(),
            entries,
            file,
        })
    }

    /// The cached reply for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Number of cached replies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records a reply (appends one line and flushes).
    pub fn insert(&mut self, key: &str, model: &str, reply: &str) -> Result<()> {
        let entry = CacheEntry {
            schema_version: CACHE_SCHEMA_VERSION,
            key: key.to_string(),
            model: model.to_string(),
            reply: reply.to_string(),
        };
        let mut line = serde_json::to_string(&entry).map_err(|e| Error::Cache {
            path: self.path.clone(),
            line: 0,
            reason: e.to_string(),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })?;
        self.entries.insert(entry.key, entry.reply);
        Ok(())
    }
}

/// One question for the judge: a prompt sent as one user message, with its reply budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgePrompt {
    /// The prompt ([`judge_prompt`] or [`answering_prompt`]).
    pub text: String,
    /// Most reply tokens ([`STUDY_JUDGE_MAX_TOKENS`] or [`STUDY_ANSWERING_MAX_TOKENS`]).
    pub max_tokens: u32,
}

/// Whatever answers judge prompts: in practice an OpenAI-compatible client (implemented where
/// the HTTP client lives, so this crate stays free of it).
pub trait JudgeBackend {
    /// Asks every prompt of `prompts` (at [`STUDY_JUDGE_TEMPERATURE`]), calling `done(i, reply)`
    /// as each reply arrives, and returns the replies in order (`Err`: why that one failed).
    fn ask_many(
        &self,
        prompts: &[JudgePrompt],
        done: &mut dyn FnMut(usize, &std::result::Result<String, String>),
    ) -> Vec<std::result::Result<String, String>>;
}

/// The replies of one [`ask_cached`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeReplies {
    /// One per prompt, in order: the reply (cached or fresh), or why asking failed.
    pub replies: Vec<std::result::Result<String, String>>,
    /// How many came from the cache.
    pub cached: usize,
}

/// The one judge runner (the probe's analysis and `aha reflect` both use it): replies already in
/// `cache` are reused, the rest are asked of `backend` and cached as they arrive, so an
/// interrupted run keeps what it paid for. `on_asked(n)` is called once with the number of
/// prompts that go to the backend, and `on_reply()` after each of their replies (progress bars).
///
/// Fails only when the cache cannot be written.
pub fn ask_cached(
    backend: &dyn JudgeBackend,
    model: &str,
    cache: &mut JudgeCache,
    prompts: &[JudgePrompt],
    on_asked: &mut dyn FnMut(usize),
    on_reply: &mut dyn FnMut(),
) -> Result<JudgeReplies> {
    let mut replies: Vec<std::result::Result<String, String>> = Vec::with_capacity(prompts.len());
    let mut pending: Vec<(usize, String)> = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        let key = cache_key(model, &p.text);
        match cache.get(&key) {
            Some(reply) => replies.push(Ok(reply.to_string())),
            None => {
                replies.push(Err(String::new()));
                pending.push((i, key));
            }
        }
    }
    let cached = prompts.len() - pending.len();
    on_asked(pending.len());
    if pending.is_empty() {
        return Ok(JudgeReplies { replies, cached });
    }
    let asked: Vec<JudgePrompt> = pending.iter().map(|(i, _)| prompts[*i].clone()).collect();
    let mut cache_error = None;
    let fresh = backend.ask_many(&asked, &mut |j, reply| {
        on_reply();
        if let Ok(text) = reply
            && cache_error.is_none()
            && let Err(e) = cache.insert(&pending[j].1, model, text)
        {
            cache_error = Some(e);
        }
    });
    if let Some(e) = cache_error {
        return Err(e);
    }
    for ((i, _), reply) in pending.iter().zip(fresh) {
        replies[*i] = reply;
    }
    Ok(JudgeReplies { replies, cached })
}

#[cfg(test)]
mod tests {
    struct Echo(std::cell::Cell<usize>);
    impl JudgeBackend for Echo {
        fn ask_many(
            &self,
            prompts: &[JudgePrompt],
            done: &mut dyn FnMut(usize, &std::result::Result<String, String>),
        ) -> Vec<std::result::Result<String, String>> {
            self.0.set(self.0.get() + prompts.len());
            let out: Vec<_> = prompts
                .iter()
                .map(|p| {
                    if p.text.contains("fail") {
                        Err("boom".to_string())
                    } else {
                        Ok(format!("re: {}", p.text))
                    }
                })
                .collect();
            for (i, r) in out.iter().enumerate() {
                done(i, r);
            }
            out
        }
    }

    #[test]
    fn ask_cached_asks_only_what_the_cache_lacks_and_keeps_failures_uncached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.jsonl");
        let p = |t: &str| JudgePrompt {
            text: t.into(),
            max_tokens: 8,
        };
        let prompts = [p("a"), p("fail"), p("b")];
        let backend = Echo(std::cell::Cell::new(0));
        let mut cache = JudgeCache::open(&path).unwrap();
        let (mut asked, mut replied) = (0, 0);
        let r = ask_cached(
            &backend,
            "m",
            &mut cache,
            &prompts,
            &mut |n| asked = n,
            &mut || replied += 1,
        )
        .unwrap();
        assert_eq!((asked, replied, r.cached), (3, 3, 0));
        assert_eq!(r.replies[0], Ok("re: a".to_string()));
        assert_eq!(r.replies[1], Err("boom".to_string()));
        // Reopened: the two good replies are cached; only the failure is asked again.
        let mut cache = JudgeCache::open(&path).unwrap();
        let r = ask_cached(&backend, "m", &mut cache, &prompts, &mut |_| {}, &mut || {}).unwrap();
        assert_eq!((r.cached, backend.0.get()), (2, 4));
        assert_eq!(r.replies[2], Ok("re: b".to_string()));
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn study_examples_parse() {
        let cases = [
            (
                "The response is off-topic and does not attempt to answer the question. 0.",
                0,
                false,
            ),
            (
                "The response provides a direct solution without self-reflection. 1.",
                1,
                false,
            ),
            ("The response demonstrates self-reflection. 2.", 2, true),
            (
                "The response consists solely of Python code without any self-reflection. 3.",
                3,
                false,
            ),
        ];
        for (text, n, refl) in cases {
            let v = JudgeVerdict::parse(text);
            assert_eq!(v.study_reflection, refl, "{text}");
            assert_eq!(v.category.map(JudgeCategory::number), Some(n), "{text}");
        }
    }

    #[test]
    fn study_and_strict_parses_differ_where_expected() {
        // The study's parse sees a "2" in "x2." though the category is 1.
        assert!(parse_study("answer is x2."));
        assert_eq!(parse_strict("No reflection, answer 12."), None);
        // Bold or quoted category numbers still parse strictly.
        assert_eq!(
            parse_strict("Reflection: **2**"),
            Some(JudgeCategory::Reflection)
        );
        assert_eq!(
            parse_strict("category (2)\n"),
            Some(JudgeCategory::Reflection)
        );
        // The study misses a "2" followed by 3+ characters; strict does not accept it either.
        assert!(!parse_study("2. That's it"));
        assert_eq!(parse_strict("2. That's it"), None);
        assert_eq!(parse_strict(""), None);
        assert_eq!(parse_strict("4."), None);
    }

    #[test]
    fn answering_parse_is_the_studys_startswith() {
        assert_eq!(Answering::parse("1. It answers."), Answering::Answering);
        assert_eq!(Answering::parse("0"), Answering::Completion);
        assert_eq!(Answering::parse("The output is 1"), Answering::Other);
        assert_eq!(Answering::parse(""), Answering::Other);
        assert_ne!(answering_prompt("a", "b"), judge_prompt("a", "b"));
    }

    #[test]
    fn cache_keys_depend_on_model_and_prompt() {
        let a = cache_key("m", "p");
        assert_eq!(a.len(), 64);
        assert_ne!(a, cache_key("m2", "p"));
        assert_ne!(a, cache_key("m", "p2"));
        // No ambiguity from concatenation.
        assert_ne!(cache_key("ab", "c"), cache_key("a", "bc"));
        assert_eq!(a, cache_key("m", "p"));
    }

    #[test]
    fn cache_round_trip_and_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        {
            let mut c = JudgeCache::open(&path).unwrap();
            c.insert("k1", "m", "… 2.").unwrap();
        }
        // Simulate a crash mid-write.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"schema_version\":1,\"key\":\"k2")
            .unwrap();
        let mut c = JudgeCache::open(&path).unwrap();
        assert_eq!(c.get("k1"), Some("… 2."));
        assert_eq!(c.get("k2"), None);
        c.insert("k3", "m", "1.").unwrap();
        drop(c);
        let c = JudgeCache::open(&path).unwrap();
        assert_eq!(c.len(), 2);
        // A malformed line in the middle is an error naming the line.
        std::fs::write(
            &path,
            "garbage\n{\"schema_version\":1,\"key\":\"a\",\"model\":\"m\",\"reply\":\"r\"}\n",
        )
        .unwrap();
        let e = JudgeCache::open(&path).unwrap_err().to_string();
        assert!(e.contains("c.jsonl:1"), "{e}");
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_agree_on_study_shape(s in "\\PC{0,40}", n in 0u8..4) {
            let _ = JudgeVerdict::parse(&s);
            let reply = format!("{s} {n}.");
            prop_assert_eq!(parse_strict(&reply).map(JudgeCategory::number), Some(n));
            prop_assert_eq!(parse_study(&reply), n == 2);
        }
    }
}
