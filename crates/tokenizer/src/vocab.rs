//! The vocabulary shared by every backend: pieces, token kinds, the bytes each token decodes to,
//! and the split of a text at special tokens.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;

use crate::error::{Error, Result};

/// What a token is, from the GGUF `tokenizer.ggml.token_type` array (llama.cpp's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// An ordinary vocabulary piece (type 1).
    Normal,
    /// The unknown token (type 2).
    Unknown,
    /// A control token such as `<bos>`, `<|im_start|>` or `<end_of_turn>` (type 3).
    Control,
    /// A user-defined token matched verbatim in text, e.g. Gemma's runs of `\n` (type 4).
    UserDefined,
    /// A reserved, unused slot (type 5).
    Unused,
    /// A byte-fallback token `<0xAB>` (type 6).
    Byte,
}

impl TokenKind {
    /// Maps llama.cpp's `llama_token_type` numbers; anything unknown counts as normal, as
    /// llama.cpp treats undefined types.
    pub(crate) fn from_gguf(t: i64) -> TokenKind {
        match t {
            2 => TokenKind::Unknown,
            3 => TokenKind::Control,
            4 => TokenKind::UserDefined,
            5 => TokenKind::Unused,
            6 => TokenKind::Byte,
            _ => TokenKind::Normal,
        }
    }

    /// Tokens recognised verbatim in text before the model's own algorithm runs.
    pub(crate) fn is_special(self) -> bool {
        matches!(
            self,
            TokenKind::Control | TokenKind::UserDefined | TokenKind::Unknown
        )
    }
}

/// How the text of a normal piece maps to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceEncoding {
    /// GPT-2 byte-level: every char stands for one byte (see [`crate::bpe::byte_to_char`]).
    ByteLevel,
    /// SentencePiece: `▁` stands for a space, `<0xAB>` byte tokens for raw bytes.
    SentencePiece,
}

/// One piece of a text split at special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    /// Text for the model's algorithm.
    Text(&'a str),
    /// A special token found verbatim.
    Token(u32),
}

/// Names that llama.cpp treats as end-of-generation tokens when present in a vocabulary
/// (llama-vocab.cpp, vendored commit 0c1e570); `<eos>` and `</s>` are usually the eos id anyway.
pub(crate) const END_OF_TURN_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// The vocabulary: id-indexed pieces and kinds, the reverse map, decoded bytes per token and an
/// automaton over the special tokens.
#[derive(Clone)]
pub(crate) struct Vocab {
    pieces: Vec<String>,
    kinds: Vec<TokenKind>,
    piece_to_id: HashMap<String, u32>,
    /// Decoded bytes of every token, concatenated; token `i` is `bytes[offsets[i]..offsets[i+1]]`.
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    /// Special token ids in priority order (longest first); the automaton's pattern index is
    /// the position here, so it doubles as the rank.
    special_ids: Vec<u32>,
    specials: Option<AhoCorasick>,
}

impl Vocab {
    /// Builds the vocabulary. `kinds` must have one entry per piece.
    ///
    /// Tokens whose names mark an end of turn (`<|im_end|>`, `<end_of_turn>`, …) are made control
    /// tokens even when the file says otherwise, as llama.cpp does, so they are recognised in text.
    pub(crate) fn new(
        pieces: Vec<String>,
        mut kinds: Vec<TokenKind>,
        encoding: PieceEncoding,
    ) -> Result<Vocab> {
        if kinds.len() != pieces.len() {
            return Err(Error::BadKey {
                key: "tokenizer.ggml.token_type".into(),
                reason: format!("{} types for {} tokens", kinds.len(), pieces.len()),
            });
        }
        if u32::try_from(pieces.len()).is_err() {
            return Err(Error::BadKey {
                key: "tokenizer.ggml.tokens".into(),
                reason: format!("{} tokens do not fit u32 ids", pieces.len()),
            });
        }
        let mut piece_to_id = HashMap::with_capacity(pieces.len());
        for (id, p) in pieces.iter().enumerate() {
            // First occurrence wins for duplicate pieces, like llama.cpp's token_to_id map.
            piece_to_id.entry(p.clone()).or_insert(id as u32);
        }
        for name in END_OF_TURN_NAMES {
            if let Some(&id) = piece_to_id.get(*name) {
                kinds[id as usize] = TokenKind::Control;
            }
        }
        let mut bytes = Vec::with_capacity(pieces.iter().map(String::len).sum());
        let mut offsets = Vec::with_capacity(pieces.len() + 1);
        offsets.push(0);
        for (p, k) in pieces.iter().zip(&kinds) {
            decoded_piece(p, *k, encoding, &mut bytes);
            offsets.push(bytes.len());
        }

        // llama.cpp tries special tokens longest first (tokenizer_st_partition); equal lengths
        // go by id here (llama.cpp's sort is unstable there, so no order is "right").
        let mut special_ids: Vec<u32> = (0..pieces.len() as u32)
            .filter(|&i| kinds[i as usize].is_special() && !pieces[i as usize].is_empty())
            .collect();
        special_ids.sort_by(|&a, &b| {
            pieces[b as usize]
                .len()
                .cmp(&pieces[a as usize].len())
                .then(a.cmp(&b))
        });
        let specials = if special_ids.is_empty() {
            None
        } else {
            let pats: Vec<&str> = special_ids
                .iter()
                .map(|&i| pieces[i as usize].as_str())
                .collect();
            Some(AhoCorasick::new(pats).map_err(|e| Error::BadKey {
                key: "tokenizer.ggml.tokens".into(),
                reason: format!("cannot index special tokens: {e}"),
            })?)
        };
        Ok(Vocab {
            pieces,
            kinds,
            piece_to_id,
            bytes,
            offsets,
            special_ids,
            specials,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.pieces.len()
    }

    pub(crate) fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    pub(crate) fn kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    pub(crate) fn id(&self, piece: &str) -> Option<u32> {
        self.piece_to_id.get(piece).copied()
    }

    /// The bytes token `id` stands for in decoded text (control tokens: their text).
    pub(crate) fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if i >= self.pieces.len() {
            return None;
        }
        Some(&self.bytes[self.offsets[i]..self.offsets[i + 1]])
    }

    /// Splits `text` at special tokens the way llama.cpp's `tokenizer_st_partition` does: longer
    /// special tokens claim their (non-overlapping, leftmost-first) occurrences before shorter
    /// ones. With `parse_special == false` only user-defined tokens are recognised.
    pub(crate) fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let Some(ac) = &self.specials else {
            return if text.is_empty() {
                Vec::new()
            } else {
                vec![Fragment::Text(text)]
            };
        };
        // Every occurrence of every special token, then greedy acceptance in llama.cpp's order:
        // by rank (length), then left to right; an occurrence is taken if it overlaps nothing
        // taken before. This equals llama.cpp's repeated per-token splitting of the fragments.
        let mut cands: Vec<(usize, usize, usize)> = Vec::new(); // (rank, start, end)
        for m in ac.find_overlapping_iter(text) {
            let id = self.special_ids[m.pattern().as_usize()];
            if !parse_special && self.kinds[id as usize] != TokenKind::UserDefined {
                continue;
            }
            cands.push((m.pattern().as_usize(), m.start(), m.end()));
        }
        if cands.is_empty() {
            return if text.is_empty() {
                Vec::new()
            } else {
                vec![Fragment::Text(text)]
            };
        }
        cands.sort_unstable();
        let mut taken: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, rank), sorted by start
        for (rank, s, e) in cands {
            let pos = taken.partition_point(|t| t.0 < s);
            let overlaps_prev = pos > 0 && taken[pos - 1].1 > s;
            let overlaps_next = pos < taken.len() && taken[pos].0 < e;
            if !overlaps_prev && !overlaps_next {
                taken.insert(pos, (s, e, rank));
            }
        }
        let mut out = Vec::with_capacity(2 * taken.len() + 1);
        let mut at = 0;
        for (s, e, rank) in taken {
            if s > at {
                out.push(Fragment::Text(&text[at..s]));
            }
            out.push(Fragment::Token(self.special_ids[rank]));
            at = e;
        }
        if at < text.len() {
            out.push(Fragment::Text(&text[at..]));
        }
        out
    }
}

/// Appends the bytes a piece decodes to.
fn decoded_piece(piece: &str, kind: TokenKind, encoding: PieceEncoding, out: &mut Vec<u8>) {
    match kind {
        // Special tokens render as their text (llama.cpp's token_to_piece with special=true).
        TokenKind::Control | TokenKind::UserDefined | TokenKind::Unknown | TokenKind::Unused => {
            out.extend_from_slice(piece.as_bytes())
        }
        TokenKind::Byte => match parse_byte_piece(piece) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(piece.as_bytes()),
        },
        TokenKind::Normal => match encoding {
            PieceEncoding::ByteLevel => {
                for c in piece.chars() {
                    match crate::bpe::char_to_byte(c) {
                        Some(b) => out.push(b),
                        // Not a byte-level char (a malformed vocab): keep the text as is.
                        None => {
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
            }
            PieceEncoding::SentencePiece => {
                for c in piece.chars() {
                    if c == '\u{2581}' {
                        out.push(b' ');
                    } else {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        },
    }
}

/// `<0xAB>` → 0xAB.
pub(crate) fn parse_byte_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Special tokens over a small alphabet, overlapping on purpose.
    const SPECIALS: &[(&str, TokenKind)] = &[
        ("<a>", TokenKind::Control),
        ("a>", TokenKind::UserDefined),
        ("<a", TokenKind::Control),
        ("\n\n", TokenKind::UserDefined),
        ("\n\n\n", TokenKind::UserDefined),
        ("b", TokenKind::Control),
        ("ab<", TokenKind::UserDefined),
    ];

    fn vocab() -> Vocab {
        let mut pieces = vec!["a".to_string(), "<".to_string()];
        let mut kinds = vec![TokenKind::Normal; 2];
        for (p, k) in SPECIALS {
            pieces.push(p.to_string());
            kinds.push(*k);
        }
        match Vocab::new(pieces, kinds, PieceEncoding::SentencePiece) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// llama.cpp's `tokenizer_st_partition` as it is described: for each special token, longest
    /// first, split every remaining text fragment at its leftmost non-overlapping occurrences.
    fn naive<'a>(text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut order: Vec<(u32, &str, TokenKind)> = SPECIALS
            .iter()
            .enumerate()
            .map(|(i, (p, k))| (i as u32 + 2, *p, *k))
            .collect();
        order.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut frags: Vec<Fragment<'a>> = if text.is_empty() {
            vec![]
        } else {
            vec![Fragment::Text(text)]
        };
        for (id, pat, kind) in order {
            if !parse_special && kind != TokenKind::UserDefined {
                continue;
            }
            let mut next = Vec::new();
            for f in frags {
                let Fragment::Text(mut t) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(m) = t.find(pat) {
                    if m > 0 {
                        next.push(Fragment::Text(&t[..m]));
                    }
                    next.push(Fragment::Token(id));
                    t = &t[m + pat.len()..];
                }
                if !t.is_empty() {
                    next.push(Fragment::Text(t));
                }
            }
            frags = next;
        }
        frags
    }

    #[test]
    fn partition_hand_checked() {
        let v = vocab();
        // "<a>" (3 bytes, id 2) is claimed before "<a" and "a>"; then "b" (id 7) splits the rest.
        assert_eq!(
            v.partition("x<a>b\n\n\n\n", true),
            vec![
                Fragment::Text("x"),
                Fragment::Token(2),
                Fragment::Token(7),
                Fragment::Token(6),
                Fragment::Text("\n"),
            ]
        );
        // Without special parsing only user-defined tokens split: "a>" (id 3).
        assert_eq!(
            v.partition("<a>", false),
            vec![Fragment::Text("<"), Fragment::Token(3)]
        );
        assert_eq!(v.partition("", true), vec![]);
    }

    proptest! {
        #[test]
        fn partition_equals_llamacpp_splitting(text in "[ab<>\n]{0,40}", parse in any::<bool>()) {
            prop_assert_eq!(vocab().partition(&text, parse), naive(&text, parse));
        }
    }
}
