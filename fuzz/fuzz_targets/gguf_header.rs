//! The GGUF header and metadata reader: aha-model's configuration from a file's metadata and
//! aha-tokenizer's tokenizer from the same metadata, on arbitrary bytes.
//!
//! Properties: no panic, no unbounded allocation, bounded time.
#![no_main]

use aha_model::candle_core::quantized::gguf_file::Content;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = aha_fuzz::fresh_dir("gguf");
    let path = dir.join("model.gguf");
    std::fs::write(&path, data).expect("writing the input file");
    let _ = aha_model::read_gguf_config(&path);
    if let Ok(content) = Content::read(&mut std::io::Cursor::new(data)) {
        let _ = aha_tokenizer::Tokenizer::from_gguf(&content);
    }
});
