//! Byte-level BPE (SmolLM2-135M's GGUF metadata): `decode(encode(s)) == s` for arbitrary text,
//! with control tokens parsed and as plain text.
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
    let s = aha_fuzz::text(data, 4096);
    let t = tok();
    let ids = t.encode(&s, false).expect("encoding text");
    assert_eq!(t.decode(&ids), s, "decode(encode(s)) != s");
    let plain = t.encode_plain(&s, false).expect("encoding plain text");
    assert_eq!(t.decode(&plain), s, "decode(encode_plain(s)) != s");
});
