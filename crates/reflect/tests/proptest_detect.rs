//! Property: the detector's counts equal an independent reference built on `str::matches`
//! (non-overlapping, left to right: exactly Python's `str.count`), summed per keyword, for random
//! texts assembled from keyword fragments that overlap each other in many ways.

use aha_reflect::{KeywordDetector, Keywords, MatchMode};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "re",
    "re-",
    "think",
    "rethink",
    " again",
    "check",
    "CHECK",
    "eval",
    "evaluate",
    "uate",
    "examine",
    "ex",
    "double-",
    "verify",
    "go over the steps",
    "aa",
    "a",
    " ",
    "\n",
    "İ",
    "K",
    "Σ",
    "é",
    "x",
];

fn reference(text: &str, words: &[String]) -> usize {
    let low = text.to_lowercase();
    words.iter().map(|w| low.matches(w.as_str()).count()).sum()
}

proptest! {
    #[test]
    fn counts_match_str_count(parts in prop::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let text: String = parts.iter().map(|i| FRAGMENTS[*i]).collect();
        let mut words: Vec<String> = Keywords::preset("paper15").unwrap().words().to_vec();
        words.extend(["aa", "a", "re", "again", "k again"].map(String::from));
        let kw = Keywords::from_words("t", &words).unwrap();
        let d = KeywordDetector::new(&kw, MatchMode::Substring).unwrap();
        let r = d.analyze(&text);
        prop_assert_eq!(r.total, reference(&text, kw.words()));
        prop_assert_eq!(d.count(&text), r.total);
        // Hits are sorted, map back onto the original text, and each spells its keyword.
        for h in &r.hits {
            prop_assert!(h.start < h.end && h.byte_start < h.byte_end);
            prop_assert_eq!(text[h.byte_start..h.byte_end].to_lowercase().contains(&h.keyword), true);
            prop_assert_eq!(text[..h.byte_start].chars().count(), h.start);
        }
        prop_assert!(r.hits.windows(2).all(|w| w[0].start <= w[1].start));
        // Word mode never counts more than substring mode.
        let w = KeywordDetector::new(&kw, MatchMode::Word).unwrap();
        prop_assert!(w.analyze(&text).total <= r.total);
    }
}
