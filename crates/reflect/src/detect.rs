//! Keyword detection with the study's exact counting semantics.
//!
//! The study computes `sum(text.lower().count(k) for k in keywords)`: each keyword is counted
//! *independently*, left to right, without overlapping *itself*, while different keywords may
//! overlap each other ("rethink again" counts both `rethink` and `think again`). A single
//! leftmost-longest Aho-Corasick pass would drop one of two overlapping keywords, so the
//! automaton here runs in overlapping mode (every occurrence of every keyword) and a per-keyword
//! "end of the last counted occurrence" filter re-creates `str.count`'s non-overlap rule: an
//! occurrence counts iff it starts at or after the end of the previous counted occurrence of the
//! *same* keyword. Occurrences of one keyword arrive in increasing start order (same length,
//! reported by end), so this greedy filter is exactly `str.count`'s scan.
//!
//! Lower-casing follows Python's `str.lower()`: full Unicode lower-case mapping, one character
//! may become several (`İ` → `i̇`), and Σ becomes ς at the end of a word. Rust's
//! `str::to_lowercase` implements the same rules (Unicode versions can differ for characters
//! added after Python 3.11's Unicode 14). Pure-ASCII text takes a fast path.

use std::collections::BTreeMap;

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};

use crate::{Error, Keywords, Result};

/// How a keyword must sit in the text to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// The study's rule: any substring of the lower-cased text (`rethinking` contains `rethink`).
    #[default]
    Substring,
    /// Word boundaries: where a keyword begins (ends) with a word character (alphanumeric or
    /// `_`), the character before (after) it must not be one. Fewer false positives
    /// (`rethinking` no longer counts); not comparable with the published numbers.
    Word,
}

impl MatchMode {
    /// `"substring"` or `"word"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Substring => "substring",
            MatchMode::Word => "word",
        }
    }
}

/// One counted keyword occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// The keyword (lower-case, as in the list).
    pub keyword: String,
    /// Start, in characters (Unicode scalar values) of the original text.
    pub start: usize,
    /// End (exclusive), in characters of the original text.
    pub end: usize,
    /// Start, in bytes of the original text (for slicing in Rust).
    pub byte_start: usize,
    /// End (exclusive), in bytes of the original text.
    pub byte_end: usize,
    /// Whether the occurrence lies inside a `<think>…</think>` region (see [`think_regions`]).
    pub in_think: bool,
}

/// Keyword analysis of one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordReport {
    /// Number of counted occurrences of all keywords: the study's `n_reflection`.
    pub total: usize,
    /// Count per keyword; keywords that did not occur are left out.
    pub per_keyword: BTreeMap<String, usize>,
    /// The counted occurrences, by start position (`hits.len() == total`).
    pub hits: Vec<Hit>,
    /// Occurrences per 1,000 characters of the original text (0 for an empty text).
    pub per_1k_chars: f64,
    /// Occurrences per 1,000 tokens, when a token count was given.
    pub per_1k_tokens: Option<f64>,
    /// Length of the text in characters.
    pub chars: usize,
    /// How many of the hits lie inside `<think>…</think>`.
    pub in_think: usize,
}

impl KeywordReport {
    /// `total > 0`: the study's `has_reflection`.
    pub fn has_reflection(&self) -> bool {
        self.total > 0
    }
}

/// A compiled keyword matcher. Cheap to share between threads (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct KeywordDetector {
    keywords: Keywords,
    mode: MatchMode,
    ac: AhoCorasick,
    /// Per keyword: whether its first / last character is a word character (word mode).
    word_edges: Vec<(bool, bool)>,
}

/// The lower-cased haystack plus, for non-ASCII text, the way back to original offsets.
struct Lowered<'a> {
    text: std::borrow::Cow<'a, str>,
    /// `None` for ASCII text (lowered offsets are original char and byte offsets). Otherwise, for
    /// each byte of the lowered text, the index of the original character it came from.
    orig_char: Option<Vec<u32>>,
    /// Byte offset of each original character (plus one past the end), for non-ASCII text.
    char_bytes: Vec<usize>,
}

impl KeywordDetector {
    /// Compiles `keywords` for `mode`.
    ///
    /// ```
    /// use aha_reflect::{KeywordDetector, Keywords, MatchMode};
    /// let d = KeywordDetector::new(&Keywords::preset("paper15")?, MatchMode::Substring)?;
    /// // "rethink again" holds no paper-15 keyword twice, but "Re-evaluate, rethinking" holds two.
    /// assert_eq!(d.analyze("Let me Re-evaluate, rethinking it.").total, 2);
    /// # Ok::<(), aha_reflect::Error>(())
    /// ```
    pub fn new(keywords: &Keywords, mode: MatchMode) -> Result<KeywordDetector> {
        let ac = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(keywords.words())
            .map_err(|e| Error::Automaton(e.to_string()))?;
        let word_edges = keywords
            .words()
            .iter()
            .map(|w| {
                (
                    w.chars().next().is_some_and(is_word_char),
                    w.chars().next_back().is_some_and(is_word_char),
                )
            })
            .collect();
        Ok(KeywordDetector {
            keywords: keywords.clone(),
            mode,
            ac,
            word_edges,
        })
    }

    /// The keyword list.
    pub fn keywords(&self) -> &Keywords {
        &self.keywords
    }

    /// The match mode.
    pub fn mode(&self) -> MatchMode {
        self.mode
    }

    /// Analyses one response.
    pub fn analyze(&self, text: &str) -> KeywordReport {
        self.analyze_inner(text, None)
    }

    /// Analyses one response whose length in tokens is known (fills `per_1k_tokens`).
    pub fn analyze_with_tokens(&self, text: &str, n_tokens: usize) -> KeywordReport {
        self.analyze_inner(text, Some(n_tokens))
    }

    /// Only the total count: the study's `n_reflection`, without positions.
    pub fn count(&self, text: &str) -> usize {
        let low = lower(text);
        let mut total = 0;
        self.scan(&low.text, |_, _, _| total += 1);
        total
    }

    /// Calls `f(pattern, start, end)` (byte offsets in `hay`) for every counted occurrence,
    /// in order of end position.
    fn scan(&self, hay: &str, mut f: impl FnMut(usize, usize, usize)) {
        let mut last_end = vec![0usize; self.keywords.words().len()];
        let bytes = hay.as_bytes();
        for m in self.ac.find_overlapping_iter(hay) {
            let p = m.pattern().as_usize();
            let (s, e) = (m.start(), m.end());
            if s < last_end[p] {
                continue; // overlaps the previous counted occurrence of the same keyword
            }
            if self.mode == MatchMode::Word {
                let (first_word, last_word) = self.word_edges[p];
                if first_word && prev_char(bytes, hay, s).is_some_and(is_word_char) {
                    continue;
                }
                if last_word && hay[e..].chars().next().is_some_and(is_word_char) {
                    continue;
                }
            }
            last_end[p] = e;
            f(p, s, e);
        }
    }

    fn analyze_inner(&self, text: &str, n_tokens: Option<usize>) -> KeywordReport {
        let low = lower(text);
        let regions = think_regions(text);
        let words = self.keywords.words();
        let mut counts = vec![0usize; words.len()];
        let mut hits = Vec::new();
        self.scan(&low.text, |p, s, e| {
            counts[p] += 1;
            let (start, end, byte_start, byte_end) = match &low.orig_char {
                None => (s, e, s, e),
                Some(map) => {
                    let cs = map[s] as usize;
                    let ce = map[e - 1] as usize + 1;
                    (cs, ce, low.char_bytes[cs], low.char_bytes[ce])
                }
            };
            hits.push(Hit {
                keyword: words[p].clone(),
                start,
                end,
                byte_start,
                byte_end,
                in_think: regions.iter().any(|r| r.contains(&byte_start)),
            });
        });
        hits.sort_by_key(|h| (h.start, h.end));
        let chars = match &low.orig_char {
            None => text.len(),
            Some(_) => low.char_bytes.len() - 1,
        };
        let total = hits.len();
        let per_keyword = words
            .iter()
            .zip(&counts)
            .filter(|(_, c)| **c > 0)
            .map(|(w, c)| (w.clone(), *c))
            .collect();
        KeywordReport {
            total,
            per_keyword,
            in_think: hits.iter().filter(|h| h.in_think).count(),
            hits,
            per_1k_chars: rate(total, chars),
            per_1k_tokens: n_tokens.map(|n| rate(total, n)),
            chars,
        }
    }
}

fn rate(count: usize, len: usize) -> f64 {
    if len == 0 {
        0.0
    } else {
        count as f64 * 1000.0 / len as f64
    }
}

/// `\w` as regex crates define it for Unicode text: alphanumeric or underscore.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn prev_char(bytes: &[u8], hay: &str, at: usize) -> Option<char> {
    match at.checked_sub(1).map(|i| bytes[i]) {
        None => None,
        Some(b) if b.is_ascii() => Some(b as char),
        Some(_) => hay[..at].chars().next_back(),
    }
}

/// Python's `str.lower()`, remembering where each lowered byte came from.
fn lower(text: &str) -> Lowered<'_> {
    if text.is_ascii() {
        let needs = text.bytes().any(|b| b.is_ascii_uppercase());
        return Lowered {
            text: if needs {
                std::borrow::Cow::Owned(text.to_ascii_lowercase())
            } else {
                std::borrow::Cow::Borrowed(text)
            },
            orig_char: None,
            char_bytes: Vec::new(),
        };
    }
    // `str::to_lowercase` applies the context-dependent final-sigma rule as Python does; the
    // per-character mapping used for offsets has the same byte lengths (σ and ς are both 2).
    let lowered = text.to_lowercase();
    let mut orig_char = Vec::with_capacity(lowered.len());
    let mut char_bytes = Vec::with_capacity(text.len() + 1);
    for (ci, (bi, c)) in text.char_indices().enumerate() {
        char_bytes.push(bi);
        let n: usize = c.to_lowercase().map(char::len_utf8).sum();
        orig_char.extend(std::iter::repeat_n(ci as u32, n));
    }
    char_bytes.push(text.len());
    if orig_char.len() != lowered.len() {
        // Not expected with any Unicode version; rebuild the lowered text char by char so the
        // offsets stay consistent (only the final-sigma refinement is lost).
        let per_char: String = text.chars().flat_map(char::to_lowercase).collect();
        return Lowered {
            text: std::borrow::Cow::Owned(per_char),
            orig_char: Some(orig_char),
            char_bytes,
        };
    }
    Lowered {
        text: std::borrow::Cow::Owned(lowered),
        orig_char: Some(orig_char),
        char_bytes,
    }
}

/// Byte ranges of the original text that count as "inside `<think>…</think>`".
///
/// Rules: a `<think>` opens a region that the next `</think>` closes; an unclosed `<think>`
/// runs to the end of the text (a truncated response). A `</think>` seen before any `<think>`
/// closes a region that starts at 0: the R1 template prefills `<think>` in the prompt, so the
/// response itself begins inside the thinking part. Tags are case-sensitive.
pub fn think_regions(text: &str) -> Vec<std::ops::Range<usize>> {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    let mut out = Vec::new();
    let mut pos = 0;
    let mut open_at: Option<usize> = None;
    let mut first = true;
    loop {
        let next_open = find_tag(text, pos, OPEN);
        let next_close = find_tag(text, pos, CLOSE);
        match open_at {
            None => match (next_open, next_close) {
                (Some(o), c) if c.is_none_or(|c| o < c) => {
                    open_at = Some(o + OPEN.len());
                    pos = o + OPEN.len();
                }
                (_, Some(c)) => {
                    if first {
                        out.push(0..c);
                    }
                    pos = c + CLOSE.len();
                }
                _ => break,
            },
            Some(start) => match next_close {
                Some(c) => {
                    out.push(start..c);
                    open_at = None;
                    pos = c + CLOSE.len();
                }
                None => {
                    out.push(start..text.len());
                    break;
                }
            },
        }
        first = false;
    }
    out
}

/// The first `tag` (which starts with `<`) at or after `pos`: a memchr walk over the `<`s, much
/// faster than a substring search over a long response with few tags (`aha analyse`'s
/// throughput).
fn find_tag(text: &str, pos: usize, tag: &str) -> Option<usize> {
    let mut at = pos;
    while let Some(i) = text[at..].find('<') {
        let p = at + i;
        if text[p..].starts_with(tag) {
            return Some(p);
        }
        at = p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(words: &[&str], mode: MatchMode) -> KeywordDetector {
        KeywordDetector::new(&Keywords::from_words("t", words).unwrap(), mode).unwrap()
    }

    /// Python reference, by hand: sum(text.lower().count(k) for k in keywords).
    #[test]
    fn overlapping_keywords_each_counted_like_str_count() {
        let d = det(
            &["rethink", "think again", "re-evaluate", "reevaluate"],
            MatchMode::Substring,
        );
        // "rethink again": rethink 1 + think again 1 = 2
        assert_eq!(d.analyze("Let me rethink again.").total, 2);
        // re-evaluate and reevaluate do not overlap each other as strings.
        assert_eq!(d.analyze("Re-Evaluate; REEVALUATE").total, 2);
        // self-overlap: "aaa".count("aa") == 1
        let d2 = det(&["aa", "a"], MatchMode::Substring);
        assert_eq!(d2.analyze("aaaa a").per_keyword["aa"], 2);
        assert_eq!(d2.analyze("aaa").per_keyword["aa"], 1);
        assert_eq!(d2.analyze("aaa").per_keyword["a"], 3);
        assert_eq!(d2.analyze("aaa").total, 4);
    }

    #[test]
    fn word_mode_needs_boundaries() {
        let d = det(&["rethink", "re-evaluate"], MatchMode::Word);
        assert_eq!(
            d.analyze("rethinking, rethink. re-evaluated re-evaluate")
                .total,
            2
        );
        let s = det(&["rethink", "re-evaluate"], MatchMode::Substring);
        assert_eq!(
            s.analyze("rethinking, rethink. re-evaluated re-evaluate")
                .total,
            4
        );
    }

    #[test]
    fn unicode_lowering_and_char_offsets() {
        let d = det(&["check again"], MatchMode::Substring);
        // KELVIN SIGN lower-cases to ASCII 'k' in Python and Rust alike.
        let r = d.analyze("ü: chec\u{212A} AGAIN");
        assert_eq!(r.total, 1);
        assert_eq!((r.hits[0].start, r.hits[0].end), (3, 14));
        assert_eq!(r.hits[0].byte_start, 4);
        assert_eq!(
            &"ü: chec\u{212A} AGAIN"[r.hits[0].byte_start..r.hits[0].byte_end],
            "chec\u{212A} AGAIN"
        );
        // 'İ' lowers to two characters, shifting lowered offsets but not original ones.
        let r = d.analyze("İİ check again");
        assert_eq!((r.hits[0].start, r.hits[0].end), (3, 14));
        assert_eq!(r.chars, 14);
    }

    #[test]
    fn think_regions_rules() {
        assert_eq!(think_regions("<think>ab</think>cd"), vec![7..9]);
        assert_eq!(think_regions("ab</think>cd"), vec![0..2]);
        assert_eq!(think_regions("x<think>ab"), vec![8..10]);
        assert_eq!(
            think_regions("no tags"),
            Vec::<std::ops::Range<usize>>::new()
        );
        let d = det(&["recheck"], MatchMode::Substring);
        let r = d.analyze("recheck</think> recheck <think>recheck");
        assert_eq!(
            r.hits.iter().map(|h| h.in_think).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert_eq!(r.in_think, 2);
    }

    #[test]
    fn detector_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeywordDetector>();
        let d = det(&["recheck"], MatchMode::Substring);
        let counts: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|i| {
                    let d = &d;
                    s.spawn(move || d.count(&"recheck ".repeat(i + 1)))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counts, [1, 2]);
    }

    #[test]
    fn rates() {
        let d = det(&["wait"], MatchMode::Substring);
        let r = d.analyze_with_tokens("wait wait", 4);
        assert_eq!(r.chars, 9);
        assert!((r.per_1k_chars - 2000.0 / 9.0).abs() < 1e-12);
        assert_eq!(r.per_1k_tokens, Some(500.0));
        assert_eq!(d.analyze("").per_1k_chars, 0.0);
    }
}
