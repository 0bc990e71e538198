//! Turning what an engine sends into the response text that gets graded.

use aho_corasick::AhoCorasick;

use crate::error::{Error, Result};

/// Strips prompts and special tokens from engine-supplied text.
#[derive(Debug, Clone)]
pub struct ResponseText {
    /// `None` when there are no markers to remove.
    markers: Option<AhoCorasick>,
}

/// A response ready for grading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// The response without prompt and special tokens.
    pub text: String,
    /// Whether the prompt was found at the start of the query and removed (always `true` when
    /// no prompt was given). `false` means the whole query was graded: engines should check this
    /// (`prompt_matched` in OpenRLHF's `extra_logs`), since the prompt may contain numbers.
    pub prompt_matched: bool,
}

impl ResponseText {
    /// Builds the stripper for a list of markers (see [`crate::DEFAULT_STOP_MARKERS`]).
    pub fn new(markers: &[String]) -> Result<ResponseText> {
        if markers.is_empty() {
            return Ok(ResponseText { markers: None });
        }
        let ac =
            AhoCorasick::new(markers).map_err(|e| Error::Config(format!("stop markers: {e}")))?;
        Ok(ResponseText { markers: Some(ac) })
    }

    /// Removes every stop marker from `text`.
    pub fn strip_markers(&self, text: &str) -> String {
        match &self.markers {
            Some(ac) => {
                let mut out = String::with_capacity(text.len());
                // The closure appends nothing: every match is replaced by the empty string.
                ac.replace_all_with(text, &mut out, |_, _, _| true);
                out
            }
            None => text.to_owned(),
        }
    }

    /// OpenRLHF's `query` is prompt + response decoded together; the graded response is the
    /// query minus its prompt prefix and minus stop markers. When the query does not start with
    /// the prompt (a tokenizer round trip can change whitespace), the whole query is graded and
    /// `prompt_matched` is `false`.
    pub fn from_query(&self, query: &str, prompt: Option<&str>) -> Cleaned {
        let (rest, prompt_matched) = match prompt {
            Some(p) => match query.strip_prefix(p) {
                Some(rest) => (rest, true),
                None => (query, false),
            },
            None => (query, true),
        };
        Cleaned {
            text: self.strip_markers(rest),
            prompt_matched,
        }
    }
}

/// Whether a prompt pre-fills the opening `<think>` tag (R1 templates end with it), so the
/// response is expected to start inside the thinking block.
pub fn prompt_prefills_think(prompt: &str) -> bool {
    prompt.trim_end().ends_with("<think>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripper() -> ResponseText {
        let markers: Vec<String> = crate::DEFAULT_STOP_MARKERS
            .iter()
            .map(|s| s.to_string())
            .collect();
        ResponseText::new(&markers).unwrap()
    }

    #[test]
    fn removes_prompt_prefix_and_markers() {
        let c = stripper().from_query(
            "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\nIt is \\boxed{2}.<|im_end|><|endoftext|>",
            Some("<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"),
        );
        assert_eq!(c.text, "It is \\boxed{2}.");
        assert!(c.prompt_matched);
    }

    #[test]
    fn unmatched_prompt_grades_whole_query() {
        let c = stripper().from_query("Q: 3? A: 4</s>", Some("Q: 5?"));
        assert_eq!(c.text, "Q: 3? A: 4");
        assert!(!c.prompt_matched);
    }

    #[test]
    fn detects_prefilled_think() {
        assert!(prompt_prefills_think("Assistant: <think>\n"));
        assert!(!prompt_prefills_think("Assistant:"));
    }

    proptest::proptest! {
        /// prompt + response + stop markers, split again, gives back the response exactly.
        #[test]
        fn query_minus_prompt_and_markers_is_the_response(
            prompt in ".{0,40}",
            response in "[^<]{0,80}",
            marker in proptest::sample::select(crate::DEFAULT_STOP_MARKERS),
        ) {
            let query = format!("{prompt}{response}{marker}{marker}");
            let c = stripper().from_query(&query, Some(&prompt));
            proptest::prop_assert!(c.prompt_matched);
            proptest::prop_assert_eq!(c.text, response);
        }
    }
}
