//! The performance floor for a post-renderer that must validate every
//! document: read stdin, parse every document with serde_yaml into a
//! `Value`, write the input back unchanged. Used by scripts/bench.sh.
//!
//!     cargo build --release --example parse_baseline

use serde::Deserialize;
use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .expect("read stdin");
    let mut docs = 0usize;
    for doc in serde_yaml::Deserializer::from_slice(&input) {
        match serde_yaml::Value::deserialize(doc) {
            Ok(v) => {
                std::hint::black_box(&v);
                docs += 1;
            }
            Err(e) => {
                eprintln!("parse_baseline: document {}: {e}", docs + 1);
                std::process::exit(1);
            }
        }
    }
    std::io::stdout().write_all(&input).expect("write stdout");
}
