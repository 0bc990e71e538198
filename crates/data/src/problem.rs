//! The unit every sampler, grader and analysis works on: one question with its gold answer.

use serde::{Deserialize, Serialize};

/// The gold answer of a problem: the grading contract's reference type, owned by aha-verify so
/// that data files, engines and graders read references one way.
pub use aha_verify::Gold;

/// One question of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable id: the file's `unique_id`/`id`/`idx` (or the mapped id field), else the 0-based row
    /// index, as a string.
    pub id: String,
    /// The question text, untemplated.
    pub question: String,
    /// The gold answer.
    pub gold: Gold,
    /// Every other field of the row, unchanged (subject, level, solution, ...), plus
    /// `answer_int` when a float answer was integral (see [`crate::load()`]).
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// Renders an `f64` exactly as Python's `str()`/`repr()` does (shortest round-trip digits,
/// positional for exponents -4..16, otherwise `1e+16` style), so that float answers read from
/// Arrow/JSON files match what the upstream Python code compared against (`"142.0"`).
///
/// ```
/// use aha_data::py_float_str;
/// assert_eq!(py_float_str(142.0), "142.0");
/// assert_eq!(py_float_str(0.5), "0.5");
/// assert_eq!(py_float_str(1e16), "1e+16");
/// assert_eq!(py_float_str(1e-5), "1e-05");
/// assert_eq!(py_float_str(0.0001), "0.0001");
/// ```
pub fn py_float_str(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Python's repr: "1.42e2".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp < 0 {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        } else if exp + 1 >= n {
            format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
        } else {
            let (a, b) = digits.split_at((exp + 1) as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        // Expected values from CPython 3 `repr(float)`.
        for (x, want) in [
            (142.0, "142.0"),
            (27.0, "27.0"),
            (-3.25, "-3.25"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1.2e-5, "1.2e-05"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(py_float_str(x), want, "{x:?}");
        }
    }

    #[test]
    fn gold_serialises_untagged() {
        let g = Gold::Countdown {
            target: 98,
            numbers: vec![44, 19, 35],
        };
        let s = serde_json::to_string(&g).unwrap();
        assert_eq!(s, r#"{"target":98,"numbers":[44,19,35]}"#);
        assert_eq!(serde_json::from_str::<Gold>(&s).unwrap(), g);
        let any: Gold = serde_json::from_str(r#"["9.6","9.60"]"#).unwrap();
        assert_eq!(any.answers(), ["9.6", "9.60"]);
        let one: Gold = serde_json::from_str(r#""\\frac12""#).unwrap();
        assert_eq!(one, Gold::Answer("\\frac12".into()));
    }
}
