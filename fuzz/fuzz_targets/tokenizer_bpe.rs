//! Byte-level BPE (SmolLM2-135M's GGUF metadata): `decode(encode(s)) == s` for arbitrary text,
//! with control tokens parsed and as plain text, once the ASCII bytes the vocabulary has no token
//! for are taken out (they are dropped, as llama.cpp drops them; see
//! crates/tokenizer/tests/round_trip.rs).
#![no_main]

use std::sync::OnceLock;

use aha_tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;

fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        Tokenizer::from_gguf_file(&aha_fuzz::model("SmolLM2-135M-Instruct.Q4_1.gguf"))
            .expect("the BPE test model's tokenizer")
    })
}

fuzz_target!(|data: &[u8]| {
    let t = tok();
    // Bytes without a vocabulary token are dropped by design: leave them out of the input.
    let s: String = aha_fuzz::text(data, 4096)
        .chars()
        .filter(|c| !matches!(*c as u32, 0x04 | 0x06 | 0x13 | 0x14 | 0x16 | 0x1d))
        .collect();
    let ids = t.encode(&s, false).expect("encoding text");
    assert_eq!(t.decode(&ids), s, "decode(encode(s)) != s");
    let plain = t.encode_plain(&s, false).expect("encoding plain text");
    assert_eq!(t.decode(&plain), s, "decode(encode_plain(s)) != s");
});
