//! Tokenize text with a GGUF model's tokenizer and print the ids, e.g. to compare by hand with
//! llama.cpp's `llama-tokenize --ids --no-bos`:
//!
//! ```text
//! cargo run --release -p aha-tokenizer --example tokenize -- MODEL.gguf "some text"
//! cargo run --release -p aha-tokenizer --example tokenize -- MODEL.gguf @prompt.txt
//! ```
//!
//! Prints the load time (metadata read and tokenizer build separately) to stderr.

use std::time::Instant;

use aha_tokenizer::Tokenizer;
use candle_core::quantized::gguf_file;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(text)) = (args.next(), args.next()) else {
        eprintln!("usage: tokenize MODEL.gguf TEXT|@FILE");
        std::process::exit(2);
    };
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)?,
        None => text,
    };
    let t0 = Instant::now();
    let mut file = std::io::BufReader::new(std::fs::File::open(&model)?);
    let content = gguf_file::Content::read(&mut file)?;
    let t1 = Instant::now();
    let tok = Tokenizer::from_gguf(&content)?;
    let t2 = Instant::now();
    let ids = tok.encode(&text, false)?;
    let t3 = Instant::now();
    eprintln!(
        "read metadata {:?}, build tokenizer {:?}, encode {:?} ({} bytes -> {} ids)",
        t1 - t0,
        t2 - t1,
        t3 - t2,
        text.len(),
        ids.len()
    );
    println!("{ids:?}");
    Ok(())
}
