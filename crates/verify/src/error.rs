//! The crate's one error type.

/// Why a piece of math text could not be read or evaluated.
///
/// A wrong model answer is never an error (it is a [`crate::Verdict`]); these variants describe
/// input the grader refuses to interpret, so callers can tell "unreadable" from "wrong".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is empty (after stripping wrappers such as `$…$`).
    #[error("empty answer")]
    Empty,
    /// The text is longer than the configured cap (`MathOptions::max_answer_bytes`).
    #[error("answer is {len} bytes, over the cap of {cap}")]
    TooLong {
        /// length of the text in bytes
        len: usize,
        /// the cap in bytes
        cap: usize,
    },
    /// The text is not well-formed math (or evaluates to something undefined, like `1/0`).
    #[error("cannot read at {at}: {reason}")]
    Syntax {
        /// where: a byte offset for lexer errors, a token index for parser errors
        at: usize,
        /// what was expected or found
        reason: String,
    },
    /// Brackets, braces or `\left`/`\right` pairs do not balance.
    #[error("unbalanced {what}")]
    Unbalanced {
        /// the kind of delimiter
        what: &'static str,
    },
    /// Nesting is deeper than the cap.
    #[error("nesting deeper than {cap}")]
    TooDeep {
        /// the depth cap
        cap: usize,
    },
    /// A list of stop markers cannot be used ([`crate::isolate::Isolator::new`]).
    #[error("stop markers: {reason}")]
    Markers {
        /// what is wrong with them
        reason: String,
    },
    /// A reference answer is not in a shape the contract reads ([`crate::Gold::from_json`]).
    #[error("{}{reason}", at_prefix(.at))]
    Gold {
        /// where inside the value: `""` for the value itself, `"[1]"` for a list item
        at: String,
        /// what shape was expected and what was found
        reason: String,
    },
    /// The per-call work budget ran out.
    #[error("work budget of {steps} steps exhausted")]
    Budget {
        /// the budget in steps
        steps: u64,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn at_prefix(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    }
}
