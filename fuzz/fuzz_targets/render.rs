//! The whole stdin → stdout path, under three configurations. Invariants:
//! never a panic, never an internal error (the verifier catching a bad
//! edit); on success the output parses, and running again on the output
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyrepo_render::{Failure, Strategy};
use polyrepo_render::report::Report;

include!("../settings.rs");

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else { return };
    let s = settings(sel);
    let run = |strategy| {
        polyrepo_render::render_with(input, &s, &mut Report::default(), strategy).map(|r| r.to_vec())
    };
    let (one, lazy) = (run(Strategy::OnePass), run(Strategy::OnDemand));
    // Both ways of reading the stream agree, on success and on failure.
    match (&one, &lazy) {
        (Ok(a), Ok(b)) => assert!(a == b, "strategies disagree"),
        (Err(a), Err(b)) => assert_eq!(a, b, "strategies fail differently"),
        _ => panic!("one strategy failed: {one:?} vs {lazy:?}"),
    }
    let out = match one {
        Ok(out) => out,
        Err(Failure::Internal(e)) => panic!("internal error: {e}"),
        Err(_) => return,
    };
    if out == input {
        return;
    }
    let text = std::str::from_utf8(&out).expect("output is UTF-8");
    polyrepo_render::yaml::parse(text).expect("output parses");
    let again = polyrepo_render::run(&out, &s, &mut Report::default()).expect("output is accepted again");
    assert!(again == out, "not idempotent");
});
