//! Finding the final answer in a response.
//!
//! Priority: the last `\boxed{…}`/`\fbox{…}` (brace-matched, also the `\boxed 5` space form; or
//! every box as one list under [`BoxPolicy::All`]), then the last `<answer>…</answer>`, then
//! "(the final) answer is …", then (only if enabled) the last number. With `lenient` (for
//! evaluating instruct models) the fallbacks after the tag are: the text after the last "answer
//! is" or "answer:" up to the end of its clause, then the last math span or the last number,
//! whichever ends later.
//! Everything after the first stop marker (`<|im_end|>`, `<|endoftext|>`, `</s>`) is ignored.
//! All scans are linear in the response length.

use crate::{AnswerSource, BoxPolicy, Extracted, MathOptions};

/// Stop markers: text after the first of these is not part of the response.
pub const STOP_MARKERS: [&str; 3] = ["<|im_end|>", "<|endoftext|>", "</s>"];

/// The response up to the first stop marker.
pub fn cut_at_stop(response: &str) -> &str {
    // One pass over the `<`s (found with memchr by `str::find(char)`): every marker starts
    // with `<`, so the first `<` that opens a marker is the earliest marker. Searching for each
    // marker separately scanned the whole response three times, and it runs several times per
    // graded sample (`aha analyse`'s throughput).
    let mut pos = 0;
    while let Some(i) = response[pos..].find('<') {
        let at = pos + i;
        if STOP_MARKERS.iter().any(|m| response[at..].starts_with(m)) {
            return &response[..at];
        }
        pos = at + 1;
    }
    response
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
    if opts.boxed {
        if opts.boxes == BoxPolicy::All
            && let Some(joined) = all_boxed(text)
        {
            return Some(joined);
        }
        if let Some((s, e)) = last_boxed(text) {
            return Some(make(text, s, e, AnswerSource::Boxed));
        }
    }
    if opts.answer_tag
        && let Some((s, e)) = last_answer_tag(text)
    {
        return Some(make(text, s, e, AnswerSource::AnswerTag));
    }
    if opts.lenient {
        return lenient_answer(text);
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

/// Every well-formed box of `text`, in order, as one comma list (boxes with the same trimmed
/// text once); `None` when there is no box. `start..end` spans from the first box's contents to
/// the last one's, so `text` is the joined contents rather than that slice when there are several.
pub fn all_boxed(text: &str) -> Option<Extracted> {
    let mut ranges = Vec::new();
    let mut end = text.len();
    while let Some((s, e)) = last_boxed(&text[..end]) {
        ranges.push((s, e));
        // The box command starts before its contents; search before it next time.
        end = text[..s].rfind("\\boxed").max(text[..s].rfind("\\fbox"))?;
    }
    ranges.reverse();
    let (first, last) = (*ranges.first()?, *ranges.last()?);
    let mut parts: Vec<&str> = Vec::new();
    for &(s, e) in &ranges {
        let part = text[s..e].trim();
        if !part.is_empty() && !parts.contains(&part) {
            parts.push(part);
        }
    }
    Some(Extracted {
        text: parts.join(", "),
        source: AnswerSource::Boxed,
        start: first.0,
        end: last.1,
    })
}

/// The lenient fallbacks (no box, no tag): "answer is"/"answer:", then the later of the last
/// math span and the last number.
fn lenient_answer(text: &str) -> Option<Extracted> {
    if let Some((s, e)) = answer_marker(text) {
        return Some(make(text, s, e, AnswerSource::AnswerIs));
    }
    let span = last_math_span(text);
    // The last number that does not number a list item.
    let mut hay = text.len();
    let number = loop {
        match last_number(&text[..hay]) {
            Some((s, e)) if is_list_marker(text, s, e) => hay = s,
            other => break other,
        }
    };
    match (span, number) {
        (Some((s, e)), Some((_, ne))) if ne <= e => Some(make(text, s, e, AnswerSource::MathSpan)),
        (_, Some((s, e))) => Some(make(text, s, e, AnswerSource::LastNumber)),
        (Some((s, e)), None) => Some(make(text, s, e, AnswerSource::MathSpan)),
        (None, None) => None,
    }
}

/// Byte range of the answer after the last "answer is" or "answer:" (case-insensitive: "The
/// final answer is", "Final Answer:", "**Answer:**"). A math span right after the marker is
/// taken whole; otherwise the text runs to the end of its line or sentence and stops at the
/// first clause that goes on in words (", so the total is 10"), so a number followed by
/// another answer in the same sentence is not read as a list.
pub fn answer_marker(text: &str) -> Option<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let is = lower.rfind("answer is").map(|i| i + "answer is".len());
    let colon = lower.rfind("answer:").map(|i| i + "answer:".len());
    let mut start = is.max(colon)?;
    let bytes = text.as_bytes();
    while start < bytes.len() && matches!(bytes[start], b' ' | b':' | b'\t' | b'*') {
        start += 1;
    }
    if let Some((s, e, _)) = math_span_at(text, start) {
        return trim_range(text, s, e);
    }
    let (s, e) = answer_is_from(text, start)?;
    let e = clause_end(text, s, e);
    trim_range(text, s, e)
}

/// End of the first clause of `text[s..e]`: a `,` or `;` outside brackets followed by a word
/// of two or more letters ends it (`5, so the total is 10` → `5`; `2, 3` and `x = 1, y = 2`
/// stay whole).
fn clause_end(text: &str, s: usize, e: usize) -> usize {
    let b = text.as_bytes();
    let mut depth = 0i32;
    let mut i = s;
    while i < e {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' | b';' if depth <= 0 => {
                let mut j = i + 1;
                while j < e && b[j] == b' ' {
                    j += 1;
                }
                let mut k = j;
                while k < e && b[k].is_ascii_alphabetic() {
                    k += 1;
                }
                if k - j >= 2 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    e
}

/// The math span (`$$…$$`, `$…$`, `\\[…\\]`, `\\(…\\)`) that starts at `at`: the byte range of
/// its contents and the byte just past its closing delimiter.
fn math_span_at(text: &str, at: usize) -> Option<(usize, usize, usize)> {
    let rest = &text[at..];
    for (open, close) in [("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")] {
        if let Some(after) = rest.strip_prefix(open) {
            let inner = at + open.len();
            let len = after.find(close)?;
            return Some((inner, inner + len, inner + len + close.len()));
        }
    }
    None
}

/// Byte range of the (trimmed) contents of the last complete, non-empty math span of `text`.
pub fn last_math_span(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut last = None;
    while i < b.len() {
        let opens = b[i] == b'$' || (b[i] == b'\\' && matches!(b.get(i + 1), Some(b'[' | b'(')));
        if opens && let Some((s, e, next)) = math_span_at(text, i) {
            if let Some(r) = trim_range(text, s, e) {
                last = Some(r);
            }
            i = next;
            continue;
        }
        i += 1;
    }
    last
}

/// A number that starts a line and is followed by `.` or `)` and a space (`3. Check`) numbers
/// a list item; it is not an answer.
fn is_list_marker(text: &str, s: usize, e: usize) -> bool {
    let line_start = text[..s].trim_end_matches([' ', '\t']).is_empty()
        || text[..s].trim_end_matches([' ', '\t']).ends_with('\n');
    let after = &text[e..];
    line_start && (after.starts_with(". ") || after.starts_with(") ") || after.starts_with(".\n"))
}

/// Byte range of the contents of the last well-formed `\boxed{…}`, `\fbox{…}` or `\boxed x`
/// in `text`. An unbalanced last box is skipped in favour of the one before it.
pub fn last_boxed(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut search_end = text.len();
    loop {
        // The last `\boxed` or `\fbox`: one backward pass over the backslashes (memrchr)
        // rather than a substring search per command over the whole text.
        let mut back = search_end;
        let (idx, len) = loop {
            let at = text[..back].rfind('\\')?;
            let rest = &text[at..search_end];
            if rest.starts_with("\\boxed") {
                break (at, 6);
            }
            if rest.starts_with("\\fbox") {
                break (at, 5);
            }
            back = at;
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
    answer_is_from(text, start)
}

/// The answer starting at `start`: to the end of the line or sentence, without a trailing
/// period and one pair of `$` wrappers.
fn answer_is_from(text: &str, start: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
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
