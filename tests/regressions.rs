//! Inputs the fuzzer (scripts/fuzz.sh) once broke, kept as regression tests.
//! Each file is a raw fuzz input: one byte choosing the configuration (as in
//! fuzz/fuzz_targets/render.rs), then the stream. The invariants are the
//! fuzz target's: no internal error, both reading strategies agree, and a
//! second run on the output changes nothing.

mod common;

use polyrepo_render::report::Report;
use polyrepo_render::{Failure, Strategy, render_with};

include!("../fuzz/settings.rs");

#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = common::root().join("tests/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let (sel, input) = data.split_first().unwrap();
        let s = settings(*sel);
        let run =
            |strategy| render_with(input, &s, &mut Report::default(), strategy).map(|r| r.to_vec());
        let (one, lazy) = (run(Strategy::OnePass), run(Strategy::OnDemand));
        assert_eq!(one, lazy, "{}: strategies disagree", f.display());
        assert!(
            !matches!(one, Err(Failure::Internal(_))),
            "{}: {one:?}",
            f.display()
        );
        if let Ok(out) = one {
            let again = render_with(&out, &s, &mut Report::default(), Strategy::OnePass)
                .unwrap()
                .to_vec();
            assert!(again == out, "{}: not idempotent", f.display());
        }
    }
}
