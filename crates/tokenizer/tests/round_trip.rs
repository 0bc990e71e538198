//! What the `tokenizer_bpe` fuzz target found (issue 17): SmolLM2's byte-level BPE loses the
//! control character U+0016 in `(3, \in\x16\0y)`. It is the vocabulary, not the encoder: the
//! GGUF's vocabulary has no token for six ASCII control bytes, and such a byte is dropped, as
//! llama.cpp's BPE tokenizer drops a byte whose single-byte token is missing (ids stay equal to
//! llama.cpp's, which `llamacpp_ids.rs` checks). Every other ASCII character round-trips, with
//! control tokens parsed or as plain text.

use std::path::PathBuf;

use aha_tokenizer::Tokenizer;

fn model_path(file: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AHA_MODELS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aha/models")))?;
    let path = dir.join(file);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("AHA_REQUIRE_MODELS").map_or(true, |v| v != "1"),
        "{} is missing and AHA_REQUIRE_MODELS=1: run scripts/fetch-models.sh",
        path.display()
    );
    eprintln!("notice: {} not found, skipping", path.display());
    None
}

#[test]
fn bpe_round_trips_every_byte_its_vocabulary_has() {
    let Some(path) = model_path("SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let t = Tokenizer::from_gguf_file(&path).unwrap();
    let lost: Vec<u32> = (0u32..0x80)
        .filter(|&c| {
            let s = format!("a{}b", char::from_u32(c).unwrap());
            let plain = t.encode_plain(&s, false).unwrap();
            let parsed = t.encode(&s, false).unwrap();
            let (a, b) = (t.decode(&plain), t.decode(&parsed));
            assert_eq!(a, b, "{c:#x}: plain and parsed encodings decode alike");
            if a == s {
                false
            } else {
                assert_eq!(
                    a, "ab",
                    "{c:#x}: a missing byte is dropped, nothing else changes"
                );
                true
            }
        })
        .collect();
    assert_eq!(lost, [0x04, 0x06, 0x13, 0x14, 0x16, 0x1d]);
    // The fuzzer's input: everything but the unrepresentable U+0016 survives.
    let s = "(3, \\in\u{16}\u{0}y)";
    assert_eq!(
        t.decode(&t.encode_plain(s, false).unwrap()),
        "(3, \\in\u{0}y)"
    );
}

#[test]
fn bpe_text_round_trips_unless_it_holds_a_byte_without_token() {
    let Some(path) = model_path("SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let t = Tokenizer::from_gguf_file(&path).unwrap();
    let missing = t.bytes_without_token();
    eprintln!("bytes without a token: {missing:02x?}");
    // The ASCII ones are exactly those the test above finds dropped.
    let ascii: Vec<u8> = missing.iter().copied().filter(|b| *b < 0x80).collect();
    assert_eq!(ascii, [0x04, 0x06, 0x13, 0x14, 0x16, 0x1d]);
    // Every character in a sweep of the code space (every plane, step 97) round-trips exactly
    // when none of its UTF-8 bytes lacks a token; the fuzzer found U+85EFB (bytes f2 85 bb bb).
    let mut held = 0;
    for cp in (0x80u32..0x11_0000).step_by(97).chain([0x85efb]) {
        let Some(c) = char::from_u32(cp) else {
            continue;
        };
        let s = format!("a{c}b");
        let ok = t.decode(&t.encode_plain(&s, false).unwrap()) == s;
        let mut buf = [0u8; 4];
        let lacks = c
            .encode_utf8(&mut buf)
            .bytes()
            .any(|b| missing.contains(&b));
        if !lacks {
            assert!(ok, "U+{cp:04X} has every byte yet does not round-trip");
            held += 1;
        }
    }
    assert!(held > 5_000, "{held}");
}
