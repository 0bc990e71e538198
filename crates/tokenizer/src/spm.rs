//! SentencePiece-style BPE over scored pieces (GGUF `tokenizer.ggml.model = "llama"`, Gemma).
//!
//! Written by hand because no crate implements this GGUF flavour directly: the `tokenizers`
//! crate would need merges derived from all 262k scores (~1 s to build, see docs/candle-notes.md),
//! while this algorithm works from the scores as they are and builds in milliseconds.
//!
//! The algorithm (as llama.cpp's `llm_tokenizer_spm` describes it): spaces become `▁`, the text
//! starts as one symbol per UTF-8 char; repeatedly merge the adjacent pair whose concatenation is
//! a vocabulary piece with the highest score (ties: leftmost); symbols that end up not being
//! pieces are emitted as `<0xAB>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::vocab::Vocab;

/// Scores and byte-fallback table of a SentencePiece vocabulary.
#[derive(Clone)]
pub(crate) struct Spm {
    scores: Vec<f32>,
    /// Token id of each byte's `<0xAB>` piece, when the vocabulary has it.
    byte_ids: [Option<u32>; 256],
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of symbols `left` and its successor, with the piece's score.
struct Bigram {
    score: f32,
    left: usize,
    /// Combined byte length when queued; a mismatch later means a side has changed.
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

impl Spm {
    /// `scores` must have one entry per vocabulary piece.
    pub(crate) fn new(vocab: &Vocab, scores: Vec<f32>) -> Result<Spm> {
        if scores.len() != vocab.len() {
            return Err(Error::BadKey {
                key: "tokenizer.ggml.scores".into(),
                reason: format!("{} scores for {} tokens", scores.len(), vocab.len()),
            });
        }
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = vocab.id(&format!("<0x{b:02X}>"));
        }
        Ok(Spm { scores, byte_ids })
    }

    /// Appends the ids of `text` (one fragment without special tokens). Spaces are escaped to
    /// `▁` here; `add_space_prefix` is the caller's business.
    pub(crate) fn encode_into(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let text = text.replace(' ', "\u{2581}");
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
        }
        let n = symbols.len();
        for (i, s) in symbols.iter_mut().enumerate() {
            s.next = (i + 1 < n).then_some(i + 1);
        }
        let mut heap = BinaryHeap::new();
        for i in 1..n {
            self.push_bigram(vocab, &text, &symbols, i - 1, &mut heap);
        }
        while let Some(b) = heap.pop() {
            let left = symbols[b.left];
            let Some(r) = left.next else { continue };
            let right = symbols[r];
            // Stale: one side was merged away or grew since this pair was queued.
            if left.len == 0 || right.len == 0 || left.len + right.len != b.size {
                continue;
            }
            symbols[b.left].len += right.len;
            symbols[b.left].next = right.next;
            symbols[r].len = 0;
            if let Some(nn) = right.next {
                symbols[nn].prev = Some(b.left);
            }
            if let Some(p) = symbols[b.left].prev {
                self.push_bigram(vocab, &text, &symbols, p, &mut heap);
            }
            self.push_bigram(vocab, &text, &symbols, b.left, &mut heap);
        }
        let mut at = if n > 0 { Some(0) } else { None };
        while let Some(i) = at {
            let s = symbols[i];
            let piece = &text[s.start..s.start + s.len];
            match vocab.id(piece) {
                Some(id) => out.push(id),
                None => {
                    for &byte in piece.as_bytes() {
                        let id = self.byte_ids[byte as usize].ok_or_else(|| Error::Encode {
                            reason: format!(
                                "{piece:?} is not in the vocabulary and there is no byte token <0x{byte:02X}>"
                            ),
                        })?;
                        out.push(id);
                    }
                }
            }
            at = s.next;
        }
        Ok(())
    }

    fn push_bigram(
        &self,
        vocab: &Vocab,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        heap: &mut BinaryHeap<Bigram>,
    ) {
        let l = symbols[left];
        let Some(r) = l.next else { return };
        let size = l.len + symbols[r].len;
        let joined = &text[l.start..l.start + size];
        if let Some(id) = vocab.id(joined) {
            heap.push(Bigram {
                score: self.scores[id as usize],
                left,
                size,
            });
        }
    }
}
