//! The official YAML test suite (tests/yaml-test-suite, MIT): every invalid
//! stream is refused with a located error and nothing on stdout; every valid
//! one passes through byte for byte (nothing in them is a Polyaxon workload).

mod common;

use common::*;

#[test]
fn all_402_cases_are_classified_and_valid_ones_pass_through_exactly() {
    let dir = root().join("tests/yaml-test-suite/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 402);
    let mut failures = Vec::new();
    for case in &cases {
        let id = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(case.join("in.yaml")).unwrap();
        let invalid = case.join("error").exists();
        let r = run(&[], &input);
        if invalid {
            // A position inside the input: "line L column C", 1-based.
            let lines = input.split(|b| *b == b'\n').count();
            let located = r.stderr.split(" line ").skip(1).any(|rest| {
                let mut words = rest.split(' ');
                let line = words.next().and_then(|w| w.parse::<usize>().ok());
                let column = (words.next() == Some("column"))
                    .then(|| words.next())
                    .flatten()
                    .and_then(|w| w.trim_end_matches([':', ',', ')']).parse::<usize>().ok());
                matches!((line, column), (Some(l), Some(c)) if (1..=lines).contains(&l) && c >= 1)
            });
            if r.code != 1 || !r.stdout.is_empty() || !located {
                failures.push(format!(
                    "{id}: invalid, got exit {} stdout {}B: {}",
                    r.code,
                    r.stdout.len(),
                    r.stderr.trim()
                ));
            }
        } else if r.code != 0 || r.stdout != input {
            failures.push(format!(
                "{id}: valid, got exit {}: {}",
                r.code,
                r.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
