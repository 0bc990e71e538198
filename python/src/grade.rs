//! The GIL-free core: grading with Rust-owned inputs, so `verify_batch` can run on all cores
//! while other Python threads keep going. The grading itself is aha-verify's one contract
//! ([`aha_verify::grade`]); this module only carries a reference that could not be read from
//! Python as a verdict rather than an exception.

pub use aha_verify::{GradeOptions as Options, Outcome, Task};

/// A reference converted from Python: the contract's gold, or why it could not be read (a
/// malformed Countdown reference is a verdict, `gold_unparseable`, not an exception).
pub type Gold = Result<aha_verify::Gold, String>;

/// Grades one response. Never fails: bad input is a verdict.
pub fn grade(task: Task, response: &str, gold: &Gold, opts: &Options) -> Outcome {
    match gold {
        Ok(g) => aha_verify::grade(task, response, g, opts),
        Err(why) => Outcome::unusable_gold(why.clone(), opts),
    }
}

/// Converts a byte offset in `text` to a character offset (Python strings index characters).
pub fn char_offset(text: &str, byte: usize) -> usize {
    let byte = byte.min(text.len());
    // `is_char_boundary` holds for the verifier's offsets; fall back to a lossy count otherwise.
    text.get(..byte)
        .map(|s| s.chars().count())
        .unwrap_or_else(|| text.char_indices().take_while(|(i, _)| *i < byte).count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aha_verify::Verdict;

    #[test]
    fn an_unreadable_reference_is_a_verdict_with_its_reason() {
        let out = grade(
            Task::Countdown,
            "<answer>1</answer>",
            &Err("Countdown reference: bad".to_string()),
            &Options::default(),
        );
        assert_eq!(out.grade.verdict, Verdict::GoldUnparseable);
        assert_eq!(out.grade.reward, 0.0);
        assert_eq!(out.detail.as_deref(), Some("Countdown reference: bad"));
    }

    #[test]
    fn char_offsets_count_characters_not_bytes() {
        let s = "é\\boxed{5}";
        assert_eq!(char_offset(s, 2), 1);
        assert_eq!(char_offset(s, s.len()), s.chars().count());
        assert_eq!(char_offset(s, 1), 1); // inside a character: counts characters before it
    }
}
