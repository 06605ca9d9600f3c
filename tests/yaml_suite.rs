//! The official YAML test suite (tests/yaml-test-suite, MIT): every invalid
//! stream is refused with a located error and nothing on stdout; every valid
//! one passes through byte for byte (nothing in them is a Polyaxon workload),
//! except the valid YAML 1.2 that Kubernetes reads otherwise, refused with
//! that reason: a document after `...` without `---` (go-yaml, like the
//! oracle's libyaml, refuses it) and a line starting with `---` that is not
//! a document marker (Helm and Kubernetes cut manifests there).

mod common;
mod oracle;

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
    let mut reads_otherwise = Vec::new();
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
        } else if r.code == 1
            && r.stdout.is_empty()
            && r.stderr.contains("Kubernetes")
            && kubernetes_reads_otherwise(&input)
        {
            reads_otherwise.push(id.clone());
        } else if r.code != 0 || r.stdout != input {
            failures.push(format!(
                "{id}: valid, got exit {}: {}",
                r.code,
                r.stderr.trim()
            ));
        }
    }
    assert_eq!(reads_otherwise, ["7Z25", "82AN", "EXG3", "M7A3"]);
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Judged without the tool: libyaml (go-yaml's ancestor) cannot read it, or
/// a line starts with `---` without being a document marker (`---` then a
/// blank or the end of the line), where Helm's and Kubernetes' splitters cut.
fn kubernetes_reads_otherwise(input: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    oracle::read(text).is_err()
        || text.split(['\n', '\r']).any(|l| {
            l.starts_with("---") && !matches!(l.as_bytes().get(3), None | Some(b' ' | b'\t'))
        })
}
