//! The vendored parser (`vendor/saphyr-parser`, saphyr-parser 0.3.4 with
//! fast paths for the ASCII runs of plain and quoted scalars) reads every
//! input exactly as the published 0.3.4 does: the same events, the same
//! spans (index, line, column), the same errors at the same place. The
//! inputs: the 402 cases of the YAML test suite, every bundled chart
//! capture, and random texts over the characters the fast paths decide on
//! (blanks, breaks, `:`, flow indicators, quotes, `\`, `#`, NUL, a BOM,
//! non-ASCII), alone and spliced into captures.

mod common;

use common::root;
use proptest::prelude::*;
use std::path::Path;

/// Every event (or the error that ends the stream) of a parser crate's
/// `Parser::new_from_str(text)`, written out with its span: one macro for
/// both crates, whose types differ.
macro_rules! events_of {
    ($krate:ident, $text:expr) => {{
        let mut parser = $krate::Parser::new_from_str($text);
        let mut out = Vec::new();
        loop {
            match parser.next_event() {
                Some(Ok((event, span))) => out.push(format!("{event:?} {span:?}")),
                Some(Err(e)) => {
                    out.push(format!("error {e:?}"));
                    break;
                }
                None => break,
            }
        }
        out
    }};
}

/// The vendored parser's events.
fn fork_events(text: &str) -> Vec<String> {
    events_of!(saphyr_parser, text)
}

/// The same, read by the published saphyr-parser 0.3.4.
fn upstream_events(text: &str) -> Vec<String> {
    events_of!(saphyr_parser_upstream, text)
}

fn same(text: &str) -> Result<(), String> {
    let (a, b) = (fork_events(text), upstream_events(text));
    if a == b {
        return Ok(());
    }
    let at = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    Err(format!(
        "the vendored parser reads {text:?} otherwise, at event {at}:\n  vendored: {:?}\n  upstream: {:?}",
        a.get(at),
        b.get(at)
    ))
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

/// The point of the fork: a scalar written as it reads is a slice of the
/// input, not a new string (the tree keeps it without an allocation).
#[test]
fn scalars_written_as_they_read_are_borrowed_from_the_input() {
    use std::borrow::Cow;
    let text = "plain: value with spaces\nq: 'it''s'\nd: \"a\\tb\"\ne: \"ok\"\nfold: a\n  b\n";
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut seen = Vec::new();
    while let Some(Ok((event, _))) = parser.next_event() {
        if let saphyr_parser::Event::Scalar(value, ..) = event {
            seen.push((value.to_string(), matches!(value, Cow::Borrowed(_))));
        }
    }
    let expect = [
        ("plain", true),
        ("value with spaces", true),
        ("q", true),
        ("it's", false),
        ("d", true),
        ("a\tb", false),
        ("e", true),
        ("ok", true),
        ("fold", true),
        ("a b", false),
    ];
    let expect: Vec<(String, bool)> = expect.iter().map(|(v, b)| (v.to_string(), *b)).collect();
    assert_eq!(seen, expect);
}

#[test]
fn the_yaml_test_suite_reads_alike() {
    let dir = root().join("tests/yaml-test-suite/cases");
    let mut n = 0;
    for case in std::fs::read_dir(&dir).unwrap() {
        let input = case.unwrap().path().join("in.yaml");
        let Ok(text) = std::fs::read_to_string(&input) else {
            continue;
        };
        same(&text).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        n += 1;
    }
    assert!(n >= 400, "{n} cases read");
}

#[test]
fn every_bundled_capture_reads_alike() {
    let mut files = Vec::new();
    yaml_files(&root().join("tests/fixtures"), &mut files);
    assert!(files.len() >= 12, "{} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        same(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// The characters the fast paths stop at or pass, and some they must not
/// misread.
const ALPHABET: &[&str] = &[
    "a", "b", "0", " ", "  ", "\t", "\n", "\r\n", "\r", ":", ": ", ",", "[", "]", "{", "}", "#",
    "'", "''", "\"", "\\", "\\\"", "\\n", "-", "- ", "?", "&a ", "*a", "!t ", "|", ">", "%", "@",
    "é", "\u{FEFF}", "\0", "\u{85}", "\u{2028}", "---", "...", "k: v", "\"x\"", "'y'",
];

fn random_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..40).prop_map(|v| v.concat())
}

fn capture() -> String {
    std::fs::read_to_string(root().join("tests/fixtures/polyaxon-0.6.1/helm3-scheduling.yaml"))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_texts_read_alike(text in random_text()) {
        if let Err(e) = same(&text) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn random_texts_in_a_mapping_and_a_flow_collection_read_alike(text in random_text()) {
        for framed in [
            format!("key: {text}\nnext: 1\n"),
            format!("k: [{text}, x]\n"),
            format!("k: {{a: {text}}}\n"),
            format!("- \"{text}\"\n- '{text}'\n"),
        ] {
            if let Err(e) = same(&framed) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_capture_with_random_text_spliced_in_reads_alike(
        at in 0usize..1_000_000,
        cut in 0usize..8,
        text in random_text(),
    ) {
        let full = capture();
        // A window around the splice keeps each case small.
        let mut at = at % full.len();
        while !full.is_char_boundary(at) {
            at -= 1;
        }
        let mut start = at.saturating_sub(600);
        while !full.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + cut + 600).min(full.len());
        while !full.is_char_boundary(end) {
            end += 1;
        }
        let mut stop = (at + cut).min(end);
        while !full.is_char_boundary(stop) {
            stop += 1;
        }
        let spliced = format!("{}{}{}", &full[start..at], text, &full[stop..end]);
        if let Err(e) = same(&spliced) {
            return Err(TestCaseError::fail(e));
        }
    }
}
