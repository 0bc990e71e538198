//! Byte-level BPE (SmolLM2-135M's GGUF metadata): `decode(encode(s)) == s` for arbitrary text,
//! with control tokens parsed and as plain text, once the characters holding a byte the vocabulary
//! has no token for are taken out (such bytes are dropped, as llama.cpp drops them; see
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

fn missing() -> &'static [bool; 256] {
    static M: OnceLock<[bool; 256]> = OnceLock::new();
    M.get_or_init(|| {
        let mut m = [false; 256];
        for b in tok().bytes_without_token() {
            m[b as usize] = true;
        }
        m
    })
}

fuzz_target!(|data: &[u8]| {
    let t = tok();
    // Bytes without a vocabulary token are dropped by design: leave out every character whose
    // UTF-8 holds one (six ASCII controls, and lead bytes such as f1/f2 of planes 4-11).
    let missing = missing();
    let s: String = aha_fuzz::text(data, 4096)
        .chars()
        .filter(|c| {
            let mut buf = [0u8; 4];
            !c.encode_utf8(&mut buf).bytes().any(|b| missing[b as usize])
        })
        .collect();
    let ids = t.encode(&s, false).expect("encoding text");
    assert_eq!(t.decode(&ids), s, "decode(encode(s)) != s");
    let plain = t.encode_plain(&s, false).expect("encoding plain text");
    assert_eq!(t.decode(&plain), s, "decode(encode_plain(s)) != s");
});
