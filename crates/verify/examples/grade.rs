//! Grade one response from the command line:
//! `cargo run -p aha-verify --example grade -- "<response>" "<reference>"`.

use aha_verify::{MathOptions, grade_math};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [response, reference] = args.as_slice() else {
        eprintln!("usage: grade <response> <reference>");
        std::process::exit(2);
    };
    let g = grade_math(response, reference, &MathOptions::default());
    println!(
        "{} (reward {}, extracted {:?})",
        g.verdict.as_str(),
        g.reward,
        g.extracted.map(|e| e.text)
    );
}
