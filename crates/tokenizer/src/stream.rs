//! Incremental decoding for streaming output: a token may end in the middle of a UTF-8 char
//! (byte-fallback tokens, byte-level BPE pieces of emoji and CJK), so text is released only up
//! to the last complete char.

use crate::Tokenizer;

/// Turns ids into text one token at a time; made by [`Tokenizer::stream_decoder`].
///
/// The concatenation of everything [`StreamDecoder::push`] returns plus
/// [`StreamDecoder::finish`] equals [`Tokenizer::decode`] (or `decode_skip_special`) of all ids.
pub struct StreamDecoder<'t> {
    tok: &'t Tokenizer,
    skip_special: bool,
    pending: Vec<u8>,
}

impl<'t> StreamDecoder<'t> {
    pub(crate) fn new(tok: &'t Tokenizer, skip_special: bool) -> StreamDecoder<'t> {
        StreamDecoder {
            tok,
            skip_special,
            pending: Vec::new(),
        }
    }

    /// Adds one token; returns the text that became complete (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        self.tok
            .append_token_bytes(id, self.skip_special, &mut self.pending);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    // Invariant: the first `good` bytes were just validated as UTF-8.
                    out.push_str(std::str::from_utf8(&self.pending[..good]).unwrap_or_default());
                    match e.error_len() {
                        // An invalid sequence can never complete: replace it, as decode() does.
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..good + bad);
                        }
                        // An incomplete char at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..good);
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// Ends the stream: bytes of a char that never completed come out as U+FFFD.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}
