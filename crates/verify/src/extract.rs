//! Finding the final answer in a response.
//!
//! Priority: the last `\boxed{…}`/`\fbox{…}` (brace-matched, also the `\boxed 5` space form), then
//! the last `<answer>…</answer>`, then "(the final) answer is …", then (only if enabled) the last number.
//! Everything after the first stop marker (`<|im_end|>`, `<|endoftext|>`, `</s>`) is ignored.
//! All scans are linear in the response length.

use crate::{AnswerSource, Extracted, MathOptions};

/// Stop markers: text after the first of these is not part of the response.
pub const STOP_MARKERS: [&str; 3] = ["<|im_end|>", "<|endoftext|>", "</s>"];

/// The response up to the first stop marker.
pub fn cut_at_stop(response: &str) -> &str {
    let end = STOP_MARKERS
        .iter()
        .filter_map(|m| response.find(m))
        .min()
        .unwrap_or(response.len());
    &response[..end]
}

/// Extracts the final answer of `response` according to `opts`; `None` when there is none.
///
/// ```
/// use aha_verify::{extract_answer, AnswerSource, MathOptions};
/// let r = "First \\boxed{1}, then $\\boxed{\\frac{a}{b_{1}}}$.<|im_end|>\\boxed{9}";
/// let e = extract_answer(r, &MathOptions::default()).unwrap();
/// assert_eq!(e.text, "\\frac{a}{b_{1}}");
/// assert_eq!(e.source, AnswerSource::Boxed);
/// assert_eq!(&r[e.start..e.end], e.text);
/// ```
pub fn extract_answer(response: &str, opts: &MathOptions) -> Option<Extracted> {
    let text = cut_at_stop(response);
    if opts.boxed
        && let Some((s, e)) = last_boxed(text)
    {
        return Some(make(text, s, e, AnswerSource::Boxed));
    }
    if opts.answer_tag
        && let Some((s, e)) = last_answer_tag(text)
    {
        return Some(make(text, s, e, AnswerSource::AnswerTag));
    }
    if opts.answer_is
        && let Some((s, e)) = answer_is(text)
    {
        return Some(make(text, s, e, AnswerSource::AnswerIs));
    }
    if opts.last_number
        && let Some((s, e)) = last_number(text)
    {
        return Some(make(text, s, e, AnswerSource::LastNumber));
    }
    None
}

fn make(text: &str, start: usize, end: usize, source: AnswerSource) -> Extracted {
    Extracted {
        text: text[start..end].to_string(),
        source,
        start,
        end,
    }
}

/// Byte range of the contents of the last well-formed `\boxed{…}`, `\fbox{…}` or `\boxed x`
/// in `text`. An unbalanced last box is skipped in favour of the one before it.
pub fn last_boxed(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut search_end = text.len();
    loop {
        let hay = &text[..search_end];
        let b = hay.rfind("\\boxed");
        let f = hay.rfind("\\fbox");
        let (idx, len) = match (b, f) {
            (Some(b), Some(f)) if f > b => (f, 5),
            (Some(b), _) => (b, 6),
            (None, Some(f)) => (f, 5),
            (None, None) => return None,
        };
        let mut i = idx + len;
        // `\boxed{` possibly after spaces.
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            if let Some(close) = matching_brace(bytes, i) {
                return Some((i + 1, close));
            }
        } else if i > idx + len {
            // Space form `\boxed 5`: the token up to whitespace or `$`.
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'$' {
                i += 1;
            }
            let mut end = i;
            while end > start && matches!(bytes[end - 1], b'.' | b',') {
                end -= 1;
            }
            if end > start {
                return Some((start, end));
            }
        }
        search_end = idx;
    }
}

/// Index of the `}` matching the `{` at `open`, honouring `\{` and `\}` escapes.
pub fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Byte range of the trimmed contents of the last `<answer>…</answer>`.
pub fn last_answer_tag(text: &str) -> Option<(usize, usize)> {
    let open = text.rfind("<answer>")?;
    let start = open + "<answer>".len();
    let close = text[start..].find("</answer>")? + start;
    trim_range(text, start, close)
}

fn trim_range(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let inner = &text[start..end];
    let lead = inner.len() - inner.trim_start().len();
    let trimmed = inner.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some((start + lead, start + lead + trimmed.len()))
}

/// Byte range of the answer after the last "answer is" (case-insensitive; covers "the answer
/// is" and "the final answer is"): up to the end of the line or of the sentence, without a
/// trailing period and without `$` wrappers.
pub fn answer_is(text: &str) -> Option<(usize, usize)> {
    const KEY: &[u8] = b"answer is";
    let bytes = text.as_bytes();
    let mut found = None;
    if bytes.len() >= KEY.len() {
        for i in (0..=bytes.len() - KEY.len()).rev() {
            if bytes[i..i + KEY.len()].eq_ignore_ascii_case(KEY) {
                found = Some(i + KEY.len());
                break;
            }
        }
    }
    let mut start = found?;
    while start < bytes.len() && matches!(bytes[start], b' ' | b':' | b'\t') {
        start += 1;
    }
    let mut end = start;
    let mut dollar = false;
    while end < bytes.len() {
        let c = bytes[end];
        if c == b'\n' {
            break;
        }
        if c == b'$' {
            dollar = !dollar;
        }
        // A period ends the sentence unless it is a decimal point or inside `$…$`.
        if c == b'.' && !dollar && !(end + 1 < bytes.len() && bytes[end + 1].is_ascii_digit()) {
            break;
        }
        end += 1;
    }
    let (mut s, mut e) = trim_range(text, start, end)?;
    // Strip one pair of `$…$` / `$$…$$`.
    while e - s >= 2 && bytes[s] == b'$' && bytes[e - 1] == b'$' {
        s += 1;
        e -= 1;
    }
    trim_range(text, s, e)
}

/// Byte range of the last number (`-1,234.5`, `3/4`) in `text`.
pub fn last_number(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    while end > 0 && !bytes[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let mut start = end;
    while start > 0 {
        let c = bytes[start - 1];
        let digit = c.is_ascii_digit();
        let inner_sep =
            matches!(c, b'.' | b',' | b'/') && start >= 2 && bytes[start - 2].is_ascii_digit();
        if !(digit || inner_sep) {
            break;
        }
        start -= 1;
    }
    if start > 0 && bytes[start - 1] == b'-' {
        start -= 1;
    }
    Some((start, end))
}
