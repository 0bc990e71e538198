//! SentencePiece (Gemma-3-270m's GGUF metadata): `decode(encode(s)) == s` for arbitrary text,
//! with control tokens parsed and as plain text. Text that contains SentencePiece's own space
//! mark `▁` (U+2581) is left out: it decodes as a space by design, in llama.cpp too.
#![no_main]

use std::sync::OnceLock;

use aha_tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;

fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        Tokenizer::from_gguf_file(&aha_fuzz::model("gemma-3-270m-q4_k_m.gguf"))
            .expect("the SentencePiece test model's tokenizer")
    })
}

fuzz_target!(|data: &[u8]| {
    let s = aha_fuzz::text(data, 4096);
    if s.contains('\u{2581}') {
        return;
    }
    let t = tok();
    let ids = t.encode(&s, false).expect("encoding text");
    assert_eq!(t.decode(&ids), s, "decode(encode(s)) != s");
    let plain = t.encode_plain(&s, false).expect("encoding plain text");
    assert_eq!(t.decode(&plain), s, "decode(encode_plain(s)) != s");
});
