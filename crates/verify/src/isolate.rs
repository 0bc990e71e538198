//! Isolating the response in text an engine sends as prompt + response (OpenRLHF's `query`).
//!
//! The rule, shared by the reward server and the Python wheel: **never grade text that came from
//! the prompt.** A prompt may hold few-shot answers (`\boxed{2}`), so grading any of it can
//! reward a response that has no answer at all.
//!
//! What the query may look like, and what is done:
//! - leading padding, BOS and chat markers (`<|endoftext|>`, `<s>`, `<|begin_of_text|>`), white
//!   space and U+FFFD (a character cut in half by token truncation) before the prompt: skipped;
//! - the whole prompt (or all of it but leading markers the query lacks), then the response:
//!   [`PromptMatch::Whole`];
//! - only a tail of the prompt (the engine left-truncated a long prompt), then the response:
//!   [`PromptMatch::Truncated`], found as the longest suffix of the prompt that is a prefix of the
//!   query (KMP, linear in the prompt's length);
//! - anything else, or a tail too short or too ambiguous to be sure of: [`PromptMatch::Unmatched`]
//!   and an empty response, so the sample is graded `no_answer`;
//! - end-of-sequence, end-of-turn and padding markers anywhere in the response: removed
//!   ([`DEFAULT_STOP_MARKERS`]).

use aho_corasick::AhoCorasick;

use crate::error::{Error, Result};

/// End-of-sequence, end-of-turn and padding tokens of the common chat templates (Qwen/ChatML,
/// Llama 2/3, Gemma, Mistral, DeepSeek, Phi), removed from responses before grading. OpenRLHF
/// decodes `query` with `skip_special_tokens=False`, so they arrive in the text.
pub const DEFAULT_STOP_MARKERS: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
    "</s>",
    "<end_of_turn>",
    "<eos>",
    "<pad>",
    "<|end|>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
];

/// The per-sample columns both OpenRLHF paths (the server's `/get_reward` and the wheel's
/// `reward_func`) report in `extra_logs`, one number per sample: `verdict` (0 correct,
/// 1 incorrect, 2 no answer, 3 unreadable gold), `correct`, `formatted`, `no_answer`,
/// `gold_unparseable`, `prompt_matched`, `r1_format` (0/1 each), `response_chars` and
/// `reflection_keywords`.
pub const EXTRA_LOG_NAMES: [&str; 9] = [
    "verdict",
    "correct",
    "formatted",
    "no_answer",
    "gold_unparseable",
    "prompt_matched",
    "r1_format",
    "response_chars",
    "reflection_keywords",
];

/// A kept prompt tail shorter than this many bytes is not trusted (unless it is the whole
/// prompt): a few bytes can match by chance, and then prompt text would be graded. Real
/// truncation keeps hundreds of tokens.
pub const MIN_TAIL_BYTES: usize = 32;

/// The longest text taken for one leading special token (`<|begin_of_text|>` and friends).
const MAX_MARKER_BYTES: usize = 64;

/// How the prompt was found in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptMatch {
    /// No prompt was given: the whole text is the response.
    NoPrompt,
    /// The query starts with the whole prompt (after leading markers).
    Whole,
    /// The query starts with the last `kept_bytes` bytes of the prompt (left truncation).
    Truncated {
        /// Bytes of the prompt's tail found at the start of the query.
        kept_bytes: usize,
    },
    /// The response could not be told apart from the prompt: nothing is graded.
    Unmatched,
}

impl PromptMatch {
    /// Whether the response was isolated (`prompt_matched` = 1 in the logs). `false` only for
    /// [`PromptMatch::Unmatched`].
    pub fn is_matched(self) -> bool {
        self != PromptMatch::Unmatched
    }
}

/// A response cut out of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolated {
    /// The response without prompt text and stop markers; empty when unmatched.
    pub text: String,
    /// How the prompt was found.
    pub prompt_match: PromptMatch,
}

/// Where the response starts in `query`, a prompt + response text, and how the prompt was
/// found; `None` when the response cannot be isolated with certainty (see the module docs).
///
/// ```
/// use aha_verify::isolate::{PromptMatch, response_start};
/// let prompt = "Q: 1+1? A: \\boxed{2}\nQ: what is 40 plus two, in digits? A:";
/// assert_eq!(response_start(&format!("<s>{prompt} 42"), prompt), (Some(3 + prompt.len()), PromptMatch::Whole));
/// // Left-truncated: the query starts inside the prompt, after the few-shot answer.
/// let query = "\nQ: what is 40 plus two, in digits? A: no idea";
/// let (start, m) = response_start(query, prompt);
/// assert_eq!(&query[start.unwrap()..], " no idea");
/// assert!(matches!(m, PromptMatch::Truncated { .. }));
/// // Not the prompt at all: nothing is graded.
/// assert_eq!(response_start("Q: 1+1? A: \\boxed{2}", "Compute 3+4."), (None, PromptMatch::Unmatched));
/// ```
pub fn response_start(query: &str, prompt: &str) -> (Option<usize>, PromptMatch) {
    let q0 = leading_items(query).last().unwrap_or(0);
    let q = &query[q0..];
    if q.starts_with(prompt) {
        return (Some(q0 + prompt.len()), PromptMatch::Whole);
    }
    // The longest tail of the prompt that starts the query: never shorter than the prompt text
    // really there, so cutting it off never leaves prompt text behind (it may cut more).
    let kept = longest_suffix_prefix(prompt.as_bytes(), q.as_bytes());
    let cut = prompt.len() - kept;
    if leading_items(prompt).any(|b| b == cut) {
        // Only leading markers of the prompt are missing (a BOS the query lacks).
        return (Some(q0 + kept), PromptMatch::Whole);
    }
    // A kept tail that is also the prompt's head cannot tell a truncated prompt from an intact
    // prompt that the tokenizer round trip changed later on: then the text after it may be
    // prompt text.
    let certain = kept >= MIN_TAIL_BYTES
        && prompt.is_char_boundary(cut)
        && q.is_char_boundary(kept)
        && !prompt.as_bytes().starts_with(&prompt.as_bytes()[cut..]);
    if certain {
        (Some(q0 + kept), PromptMatch::Truncated { kept_bytes: kept })
    } else {
        (None, PromptMatch::Unmatched)
    }
}

/// The byte offsets at the start of `text` (0 first) after each item of its leading run of white
/// space, U+FFFD and special-token-shaped markers (`<…>` with no white space or `<` inside, at
/// most [`MAX_MARKER_BYTES`]). Such a run cannot hold an answer, so skipping it never hides one.
fn leading_items(text: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::successors(Some(0), move |&at| {
        let rest = &text[at..];
        let c = rest.chars().next()?;
        if c.is_whitespace() || c == '\u{fffd}' {
            Some(at + c.len_utf8())
        } else if c == '<' {
            marker_len(rest).map(|len| at + len)
        } else {
            None
        }
    })
}

/// Length of a special-token-shaped marker at the start of `text` (which starts with `<`).
fn marker_len(text: &str) -> Option<usize> {
    for (i, c) in text.char_indices().skip(1) {
        if i >= MAX_MARKER_BYTES || c.is_whitespace() || c == '<' {
            return None;
        }
        if c == '>' {
            // `<>` is not a token.
            return (i > 1).then_some(i + 1);
        }
    }
    None
}

/// The length of the longest suffix of `text` that is a prefix of `pattern`.
///
/// KMP: the failure function of `pattern` (only its first `text.len()` bytes can matter), then
/// one pass over `text`; O(|text|) time and memory whatever the inputs.
fn longest_suffix_prefix(text: &[u8], pattern: &[u8]) -> usize {
    let pattern = &pattern[..pattern.len().min(text.len())];
    if pattern.is_empty() {
        return 0;
    }
    // fail[i]: length of the longest proper border of pattern[..=i].
    let mut fail = vec![0usize; pattern.len()];
    let mut k = 0;
    for i in 1..pattern.len() {
        while k > 0 && pattern[i] != pattern[k] {
            k = fail[k - 1];
        }
        if pattern[i] == pattern[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut k = 0;
    for &b in text {
        if k == pattern.len() {
            k = fail[k - 1];
        }
        while k > 0 && b != pattern[k] {
            k = fail[k - 1];
        }
        if b == pattern[k] {
            k += 1;
        }
    }
    k
}

/// Cuts responses out of engine text: prompt isolation plus stop-marker removal.
#[derive(Debug, Clone)]
pub struct Isolator {
    /// `None` when there are no markers to remove.
    markers: Option<AhoCorasick>,
}

impl Default for Isolator {
    /// An isolator removing [`DEFAULT_STOP_MARKERS`].
    fn default() -> Self {
        // The default markers are short, fixed and non-empty: building cannot fail.
        Isolator::new(DEFAULT_STOP_MARKERS).unwrap_or(Isolator { markers: None })
    }
}

impl Isolator {
    /// An isolator removing `markers` (none may be empty).
    pub fn new<S: AsRef<str>>(markers: &[S]) -> Result<Isolator> {
        if markers.is_empty() {
            return Ok(Isolator { markers: None });
        }
        if markers.iter().any(|m| m.as_ref().is_empty()) {
            return Err(Error::Markers {
                reason: "a stop marker is the empty string".into(),
            });
        }
        let ac =
            AhoCorasick::new(markers.iter().map(|m| m.as_ref())).map_err(|e| Error::Markers {
                reason: e.to_string(),
            })?;
        Ok(Isolator { markers: Some(ac) })
    }

    /// `text` with every stop marker removed.
    pub fn strip_markers(&self, text: &str) -> String {
        match &self.markers {
            Some(ac) => {
                let mut out = String::with_capacity(text.len());
                // Every match is replaced by nothing; the closure only says "keep going".
                ac.replace_all_with(text, &mut out, |_, _, _| true);
                out
            }
            None => text.to_owned(),
        }
    }

    /// The response in `query` (prompt + response) without prompt text and stop markers. With
    /// no prompt the whole query is the response; when the prompt cannot be found with certainty
    /// the response is empty (graded `no_answer`) and [`PromptMatch::Unmatched`] says why.
    ///
    /// ```
    /// use aha_verify::isolate::{Isolator, PromptMatch};
    /// let iso = Isolator::default();
    /// let r = iso.isolate("<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n\\boxed{2}<|im_end|>",
    ///                     Some("<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"));
    /// assert_eq!((r.text.as_str(), r.prompt_match), ("\\boxed{2}", PromptMatch::Whole));
    /// ```
    pub fn isolate(&self, query: &str, prompt: Option<&str>) -> Isolated {
        let Some(prompt) = prompt else {
            return Isolated {
                text: self.strip_markers(query),
                prompt_match: PromptMatch::NoPrompt,
            };
        };
        match response_start(query, prompt) {
            (Some(start), prompt_match) => Isolated {
                text: self.strip_markers(&query[start..]),
                prompt_match,
            },
            (None, prompt_match) => Isolated {
                text: String::new(),
                prompt_match,
            },
        }
    }
}

/// Whether a prompt pre-fills the opening `<think>` tag (R1 templates end with it), so the
/// response is expected to start inside the thinking block.
pub fn prompt_prefills_think(prompt: &str) -> bool {
    prompt.trim_end().ends_with("<think>")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FEW_SHOT: &str = "Solve. Put the answer in \\boxed{}.\n\
        Q: What is 1 + 1?\nA: 1 + 1 = 2, so \\boxed{2}.\n\
        Q: What is the smallest prime greater than twenty?\nA:";

    const PROMPT_BOS: &[&str] = &["", "<s>", "<|begin_of_text|>"];
    const QUERY_LEAD: &[&str] = &["", "<s>", "<|endoftext|><|endoftext|>", " "];

    fn naive_longest(text: &[u8], pattern: &[u8]) -> usize {
        (0..=text.len().min(pattern.len()))
            .rev()
            .find(|&k| pattern.starts_with(&text[text.len() - k..]))
            .unwrap_or(0)
    }

    #[test]
    fn whole_prompt_after_bos_and_padding() {
        let iso = Isolator::default();
        for lead in [
            "",
            "<s>",
            "<|endoftext|><|endoftext|><|begin_of_text|>",
            " \n",
        ] {
            let q = format!("{lead}{FEW_SHOT} It is 23.</s>");
            let r = iso.isolate(&q, Some(FEW_SHOT));
            assert_eq!(r.prompt_match, PromptMatch::Whole, "{lead:?}");
            assert_eq!(r.text, " It is 23.");
        }
        // The prompt carries a BOS the query lacks.
        let r = iso.isolate(&format!("{FEW_SHOT} 23"), Some(&format!("<s>{FEW_SHOT}")));
        assert_eq!(
            (r.text.as_str(), r.prompt_match),
            (" 23", PromptMatch::Whole)
        );
    }

    #[test]
    fn truncated_prompt_never_grades_its_few_shot_answer() {
        let iso = Isolator::default();
        let cut = FEW_SHOT.find("Q: What is the smallest").unwrap();
        for lead in ["", "<|endoftext|>", "\u{fffd}"] {
            let q = format!("{lead}{} I am not sure.<|im_end|>", &FEW_SHOT[cut..]);
            let r = iso.isolate(&q, Some(FEW_SHOT));
            assert_eq!(r.text, " I am not sure.", "{lead:?}");
            assert_eq!(
                r.prompt_match,
                PromptMatch::Truncated {
                    kept_bytes: FEW_SHOT.len() - cut
                }
            );
        }
        // Truncated inside the few-shot answer: the rest of the prompt still is not graded.
        let cut = FEW_SHOT.find("2}.").unwrap();
        let r = iso.isolate(&format!("{} no idea", &FEW_SHOT[cut..]), Some(FEW_SHOT));
        assert_eq!(r.text, " no idea");
    }

    #[test]
    fn unmatched_or_uncertain_prompt_grades_nothing() {
        let iso = Isolator::default();
        // The tokenizer round trip changed the prompt: not found.
        let q = format!("{} \\boxed{{3}}", FEW_SHOT.replace("Q:", "Q :"));
        let r = iso.isolate(&q, Some(FEW_SHOT));
        assert_eq!(
            (r.text.as_str(), r.prompt_match),
            ("", PromptMatch::Unmatched)
        );
        // A short tail could match by chance.
        let r = iso.isolate("A: \\boxed{2}", Some(FEW_SHOT));
        assert_eq!(r.prompt_match, PromptMatch::Unmatched);
        // A tail that is also the prompt's head is ambiguous.
        let head = "Answer the question below with care and show work.\n";
        let prompt = format!("{head}Q: 1+1? A: \\boxed{{2}}\n{head}");
        let q = format!("{head}Q: 1+1? A: \\boxed{{2}}\n{} x", head.trim_end());
        assert_eq!(response_start(&q, &prompt), (None, PromptMatch::Unmatched));
    }

    #[test]
    fn no_prompt_grades_the_whole_query_without_markers() {
        let r = Isolator::default().isolate("<|im_start|>x \\boxed{1}<|im_end|><pad>", None);
        assert_eq!(r.text, "<|im_start|>x \\boxed{1}");
        assert_eq!(r.prompt_match, PromptMatch::NoPrompt);
        assert!(r.prompt_match.is_matched());
        assert!(!PromptMatch::Unmatched.is_matched());
    }

    #[test]
    fn markers_and_empty_prompts() {
        assert!(matches!(
            Isolator::new(&["</s>", ""]),
            Err(Error::Markers { .. })
        ));
        let none = Isolator::new::<&str>(&[]).unwrap();
        assert_eq!(none.strip_markers("a</s>"), "a</s>");
        assert_eq!(
            response_start("<s> x", "<s>"),
            (Some(4), PromptMatch::Whole)
        );
        let items: Vec<usize> = leading_items("<|a|> <b>\u{fffd}<> x").collect();
        assert_eq!(items, [0, 5, 6, 9, 12]);
        assert_eq!(leading_items("< b>").collect::<Vec<_>>(), [0]);
        // A query cut inside the prompt's leading marker-shaped text: its rest is prompt text.
        assert_eq!(
            response_start("a>a> x", "<a>a>"),
            (None, PromptMatch::Unmatched)
        );
    }

    #[test]
    fn detects_prefilled_think() {
        assert!(prompt_prefills_think("Assistant: <think>\n"));
        assert!(!prompt_prefills_think("Assistant:"));
    }

    #[test]
    fn megabyte_inputs_take_linear_time() {
        // Worst cases for a naive scan: long runs of one byte in both prompt and query.
        let prompt = "a".repeat(1 << 20) + "b";
        let query = "a".repeat(1 << 20) + "c";
        let t = std::time::Instant::now();
        assert_eq!(response_start(&query, &prompt).1, PromptMatch::Unmatched);
        let query = format!("{} \\boxed{{1}}", &prompt[1000..]);
        let (start, m) = response_start(&query, &prompt);
        assert_eq!(&query[start.unwrap()..], " \\boxed{1}");
        assert!(matches!(m, PromptMatch::Truncated { .. }));
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    proptest::proptest! {
        /// A query holding the whole prompt, whatever BOS or padding the query or the prompt
        /// starts with, gives back exactly the response.
        #[test]
        fn whole_prompt_gives_the_response(
            body in "[a-c \\\\{}|]{0,80}",
            prompt_bos in proptest::sample::select(PROMPT_BOS),
            query_lead in proptest::sample::select(QUERY_LEAD),
            response in "[a-z0-9][^<]{0,40}",
        ) {
            let prompt = format!("{prompt_bos}{body}");
            let query = format!("{query_lead}{prompt}{response}</s>");
            let r = Isolator::default().isolate(&query, Some(&prompt));
            proptest::prop_assert_eq!(r.prompt_match, PromptMatch::Whole);
            proptest::prop_assert_eq!(&r.text, &response);
            let query = format!("{query_lead}{body}{response}");
            let r = Isolator::default().isolate(&query, Some(&prompt));
            proptest::prop_assert_eq!(r.prompt_match, PromptMatch::Whole);
            proptest::prop_assert_eq!(r.text, response);
        }

        /// The KMP scan agrees with the quadratic definition.
        #[test]
        fn kmp_matches_naive(text in "[ab]{0,30}", pattern in "[ab]{0,30}") {
            proptest::prop_assert_eq!(
                longest_suffix_prefix(text.as_bytes(), pattern.as_bytes()),
                naive_longest(text.as_bytes(), pattern.as_bytes())
            );
        }

        /// Whatever part of the prompt the query keeps, the graded text never includes prompt
        /// text: it is the response exactly, or nothing.
        #[test]
        fn graded_text_is_the_response_or_nothing(
            prompt in "[a-c \\\\{}<>|]{0,80}",
            cut in 0usize..100,
            response in "[^<]{0,40}",
            marker in proptest::sample::select(DEFAULT_STOP_MARKERS),
        ) {
            let cut = cut.min(prompt.len());
            let query = format!("{}{response}{marker}", &prompt[cut..]);
            let r = Isolator::default().isolate(&query, Some(&prompt));
            if r.prompt_match.is_matched() {
                // Longer matches may eat the start of the response, never add prompt text.
                proptest::prop_assert!(response.ends_with(&r.text), "{:?} vs {:?}", r.text, response);
            } else {
                proptest::prop_assert_eq!(r.text, "");
            }
        }
    }
}
