//! GPT-2 style byte-level BPE (SmolLM2, Qwen2, Llama 3): pre-tokenizer regexes chosen by the
//! GGUF `tokenizer.ggml.pre` name, the GPT-2 byte↔char map, and the merge step, which is the
//! `tokenizers` crate's BPE model.

use std::sync::OnceLock;

use fancy_regex::Regex;
use tokenizers::Model;
use tokenizers::models::bpe::{BPE, Vocab as BpeVocab};

use crate::error::{Error, Result};

/// The GPT-2 byte → char table: printable Latin-1 bytes map to themselves, the other 68 bytes
/// to U+0100.. in byte order, so every byte sequence becomes visible text.
fn byte_table() -> &'static ([char; 256], std::collections::HashMap<char, u8>) {
    static TABLE: OnceLock<([char; 256], std::collections::HashMap<char, u8>)> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..=255u8 {
            let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            let cp = if printable {
                u32::from(b)
            } else {
                let c = next;
                next += 1;
                c
            };
            // Invariant: cp is below 0x144, always a valid scalar value.
            table[b as usize] = char::from_u32(cp).unwrap_or('\u{FFFD}');
        }
        let rev = table
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        (table, rev)
    })
}

/// The char that stands for byte `b` in byte-level BPE pieces.
pub(crate) fn byte_to_char(b: u8) -> char {
    byte_table().0[b as usize]
}

/// The byte a byte-level char stands for, if it is one.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    byte_table().1.get(&c).copied()
}

/// The pre-tokenizer regexes llama.cpp uses for a `tokenizer.ggml.pre` name, applied in
/// sequence (each splits the pieces of the previous one), with whether merges are skipped for
/// words that are whole vocabulary entries (llama.cpp's `ignore_merges`).
///
/// The patterns are the facts from llama.cpp's `llm_tokenizer_bpe` (llama-vocab.cpp, vendored
/// commit 0c1e570); the case-insensitive contractions are spelled out as there.
pub(crate) fn pre_tokenizer(pre: &str) -> Result<(Vec<&'static str>, bool)> {
    const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    Ok(match pre {
        "" | "default" => (
            vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            false,
        ),
        "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" => (vec![GPT2], false),
        "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" => {
            (vec![r"\p{N}", GPT2], false)
        }
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" => (vec![QWEN2], false),
        "qwen35" => (vec![QWEN35], false),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => (vec![LLAMA3], true),
        other => {
            return Err(Error::UnsupportedPre {
                pre: other.to_string(),
            });
        }
    })
}

/// Byte-level BPE over one text fragment (no special tokens in it).
#[derive(Clone)]
pub(crate) struct ByteLevelBpe {
    regexes: Vec<Regex>,
    model: BPE,
}

impl ByteLevelBpe {
    /// Builds the BPE from id-ordered pieces and `"left right"` merge lines.
    pub(crate) fn new(pieces: &[String], merges: &[String], pre: &str) -> Result<ByteLevelBpe> {
        let (patterns, ignore_merges) = pre_tokenizer(pre)?;
        let regexes = patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| Error::BadKey {
                    key: "tokenizer.ggml.pre".into(),
                    reason: format!("regex {p:?}: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let vocab: BpeVocab = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
        let mut pairs = Vec::with_capacity(merges.len());
        for (line, m) in merges.iter().enumerate() {
            // Split at the first space after the first char, as llama.cpp does, so a merge
            // whose left part starts with a space still parses.
            let first = m.chars().next().map_or(0, char::len_utf8);
            let Some(sp) = m[first..].find(' ').map(|i| i + first) else {
                return Err(Error::BadKey {
                    key: "tokenizer.ggml.merges".into(),
                    reason: format!("entry {line}: {m:?} is not `left right`"),
                });
            };
            pairs.push((m[..sp].to_string(), m[sp + 1..].to_string()));
        }
        let model = BPE::builder()
            .vocab_and_merges(vocab, pairs)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| Error::BadKey {
                key: "tokenizer.ggml.merges".into(),
                reason: e.to_string(),
            })?;
        Ok(ByteLevelBpe { regexes, model })
    }

    /// Appends the ids of `text`.
    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut words: Vec<&str> = vec![text];
        for re in &self.regexes {
            words = split_isolated(re, &words)?;
        }
        let mut mapped = String::new();
        for w in words {
            mapped.clear();
            mapped.extend(w.bytes().map(byte_to_char));
            let toks = self.model.tokenize(&mapped).map_err(|e| Error::Encode {
                reason: format!("BPE on {w:?}: {e}"),
            })?;
            out.extend(toks.iter().map(|t| t.id));
        }
        Ok(())
    }
}

/// Splits each piece at the regex's matches, keeping matches and the text between them as
/// separate pieces (the `Isolated` behaviour of llama.cpp's `unicode_regex_split`).
fn split_isolated<'a>(re: &Regex, pieces: &[&'a str]) -> Result<Vec<&'a str>> {
    let mut out = Vec::with_capacity(pieces.len() * 2);
    for &p in pieces {
        let mut at = 0;
        for m in re.find_iter(p) {
            let m = m.map_err(|e| Error::Encode {
                reason: format!("pre-tokenizer regex: {e}"),
            })?;
            if m.start() > at {
                out.push(&p[at..m.start()]);
            }
            if m.end() > m.start() {
                out.push(m.as_str());
            }
            at = m.end();
        }
        if at < p.len() {
            out.push(&p[at..]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_with_gpt2_anchors() {
        // Hand-checked anchors of GPT-2's bytes_to_unicode: space → Ġ (U+0120), '\n' → Ċ (U+010A),
        // '!' stays, 0xAD (soft hyphen, not printable) → U+0143.
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'!'), '!');
        assert_eq!(byte_to_char(0xAD), '\u{143}');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
    }

    #[test]
    fn smollm_pre_tokenizer_isolates_digits() -> Result<()> {
        let (pats, _) = pre_tokenizer("smollm")?;
        let res: Vec<Regex> = pats.iter().map(|p| Regex::new(p).unwrap()).collect();
        let mut words = vec!["Tom has 123 apples,  ok"];
        for re in &res {
            words = split_isolated(re, &words)?;
        }
        assert_eq!(
            words,
            vec![
                "Tom", " has", " ", "1", "2", "3", " apples", ",", " ", " ok"
            ]
        );
        Ok(())
    }

    #[test]
    fn unknown_pre_is_an_error() {
        assert!(matches!(
            pre_tokenizer("no-such-pre"),
            Err(Error::UnsupportedPre { .. })
        ));
    }
}
