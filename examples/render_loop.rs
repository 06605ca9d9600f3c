//! Renders one stream N times in-process, for counting instructions
//! (`scripts/instructions.sh` runs it under callgrind): no start-up, no I/O
//! but reading the files once, so the count is the pipeline's own.
//!
//!     cargo run --release --example render_loop -- STREAM CONFIG [N] [one-pass|on-demand]

use polyrepo_render::report::Report;
use polyrepo_render::{Strategy, config, render_with};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [stream, cfg, rest @ ..] = args.as_slice() else {
        eprintln!("usage: render_loop STREAM CONFIG [N] [one-pass|on-demand]");
        std::process::exit(2);
    };
    let n: usize = rest
        .first()
        .map_or(20, |s| s.parse().expect("N is a number"));
    let strategy = match rest.get(1).map(String::as_str) {
        None | Some("one-pass") => Strategy::OnePass,
        Some("on-demand") => Strategy::OnDemand,
        Some(other) => panic!("unknown strategy {other}"),
    };
    let input = std::fs::read(stream).expect("read the stream");
    let settings = config::load(Some(Path::new(cfg)), &[], None).expect("load the config");
    let mut bytes = 0;
    for _ in 0..n {
        let rendered = render_with(&input, &settings, &mut Report::default(), strategy)
            .expect("the stream renders");
        bytes += rendered.to_vec().len();
    }
    println!("{n} renders, {bytes} bytes out");
}
