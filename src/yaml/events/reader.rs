//! Where the driver's events come from: the fast reader ([`super::fast`])
//! for each document it reads, the parser for the others, with the spans
//! the parser gives (byte offsets here) and its errors.
//!
//! Documents are taken in order, each from its `---` line. When the fast
//! reader declines one, the parser reads the text from that `---` line on,
//! in the state it would be in had it read the whole text: nothing before
//! carries over from one document to the next (no anchors, no tag
//! directives), neither from the documents read fast (the fast reader
//! reads none) nor from those the parser handed back after. The parser hands
//! back after the document it was started for when that one ends at a
//! `---` line and holds no `&` or `%` (nothing it could carry over),
//! and the fast reader has not declined [`GIVE_UP`] documents in a row;
//! otherwise it reads on to the end.

use super::fast::{self, Ev, Stop};
use crate::yaml::spans::Offsets;
use saphyr_parser::{Event, Parser, StrInput};

/// A parser error: byte offset, 1-based line, 0-based column, message.
pub(super) type ParseError = (usize, usize, usize, String);

/// The parser reading from `base` on.
struct Slow<'a> {
    parser: Parser<'a, StrInput<'a>>,
    off: Offsets<'a>,
    base: usize,
    base_line: usize,
    /// Reading fast may resume after this document.
    may_resume: bool,
    /// The first document's text is ASCII up to this offset (relative):
    /// character indices below it are byte offsets.
    ascii_to: usize,
}

/// The events of a text, in order.
pub(super) struct Events<'a> {
    text: &'a str,
    /// Events read ahead (a document read fast), taken from `head` on.
    queue: Vec<Ev<'a>>,
    head: usize,
    /// Where the next document starts (when reading fast).
    at: Stop,
    /// A document read fast waits for its end.
    open: bool,
    slow: Option<Slow<'a>>,
    done: bool,
    /// Documents the fast reader declined in a row.
    declined: usize,
}

/// After this many documents in a row that the fast reader declines, the
/// parser reads the rest of the text: a stream of such documents costs
/// what it costs the parser alone, not one parser started per document.
const GIVE_UP: usize = 16;

impl<'a> Events<'a> {
    /// Events of `text`; with `fast` false, all from the parser.
    pub(super) fn new(text: &'a str, fast: bool) -> Self {
        let mut e = Events {
            text,
            queue: Vec::new(),
            head: 0,
            at: Stop { pos: 0, line: 1 },
            open: false,
            slow: None,
            done: false,
            declined: 0,
        };
        if !fast {
            e.declined = GIVE_UP;
            e.start_slow(0, 1);
        }
        e
    }

    fn start_slow(&mut self, base: usize, base_line: usize) {
        let may_resume = self.declined < GIVE_UP;
        let rest = &self.text[base..];
        let b = rest.as_bytes();
        let (off, ascii_to) = if may_resume {
            // Mostly this document's offsets are asked for: ASCII up to the
            // next marker is checked, not the whole rest.
            let next = memchr::memmem::find_iter(b, b"\n---")
                .map(|i| i + 1)
                .find(|&i| fast::is_marker(&b[i..]))
                .unwrap_or(b.len());
            let ascii = if b[..next].is_ascii() { next } else { 0 };
            (Offsets::walking(rest), ascii)
        } else {
            (Offsets::new(rest), 0)
        };
        self.slow = Some(Slow {
            parser: Parser::new_from_str(rest),
            off,
            base,
            base_line,
            may_resume,
            ascii_to,
        });
    }

    /// The next event, an error, or None after the stream's end.
    pub(super) fn next(&mut self) -> Option<Result<Ev<'a>, ParseError>> {
        loop {
            if let Some(e) = self.queue.get_mut(self.head) {
                self.head += 1;
                let taken = std::mem::replace(&mut e.event, Event::Nothing);
                return Some(Ok(Ev { event: taken, ..*e }));
            }
            if let Some(s) = &mut self.slow {
                let byte = |s: &mut Slow<'a>, i: usize| {
                    s.base + if i <= s.ascii_to { i } else { s.off.byte(i) }
                };
                let (event, span) = match s.parser.next_event()? {
                    Ok(e) => e,
                    Err(e) => {
                        let m = *e.marker();
                        let pos = byte(s, m.index());
                        let line = s.base_line + m.line() - 1;
                        return Some(Err((pos, line, m.col(), e.info().to_string())));
                    }
                };
                let ev = Ev {
                    start: byte(s, span.start.index()),
                    end: byte(s, span.end.index()),
                    line: s.base_line + span.start.line() - 1,
                    col: span.start.col(),
                    event,
                };
                // A document ending at the next one's `---` line, which
                // leaves nothing for the next to inherit (no anchor, no
                // directive): the next is read fast.
                let b = self.text.as_bytes();
                if matches!(ev.event, Event::DocumentEnd)
                    && s.may_resume
                    && ev.start > s.base
                    && b[ev.start - 1] == b'\n'
                    && fast::is_marker(&b[ev.start..])
                    && !b[s.base..ev.start].iter().any(|&c| c == b'&' || c == b'%')
                {
                    self.at = Stop {
                        pos: ev.start,
                        line: ev.line,
                    };
                    self.slow = None;
                    self.open = false;
                }
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            let Stop { pos, line } = self.at;
            let end = |event, to| Ev {
                event,
                start: pos,
                end: to,
                line,
                col: 0,
            };
            self.queue.clear();
            self.head = 0;
            if pos >= self.text.len() {
                if self.open {
                    self.queue.push(end(Event::DocumentEnd, pos));
                }
                self.queue.push(end(Event::StreamEnd, pos));
                self.done = true;
                continue;
            }
            if self.open {
                // At the next document's `---`.
                self.queue.push(end(Event::DocumentEnd, pos + 3));
                self.open = false;
            }
            let mark = self.queue.len();
            match fast::document(self.text, pos, line, &mut self.queue) {
                Some(stop) => {
                    self.declined = 0;
                    self.at = stop;
                    self.open = true;
                }
                None => {
                    self.queue.truncate(mark);
                    self.declined += 1;
                    self.start_slow(pos, line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fast reader's events are the parser's: the same events, spans
    //! and errors, whatever the text (the parser alone is the oracle).

    use super::{Events, GIVE_UP};
    use proptest::prelude::*;
    use saphyr_parser::Event;

    /// Every event of `text` but the stream's start (which the driver
    /// skips, and which the fast reader does not give), and the error
    /// that ends it.
    fn events(text: &str, fast: bool) -> Vec<String> {
        let mut e = Events::new(text, fast);
        let mut out = Vec::new();
        while let Some(r) = e.next() {
            match r {
                Ok(ev) if matches!(ev.event, Event::StreamStart) => {}
                Ok(ev) => out.push(format!("{ev:?}")),
                Err(err) => {
                    out.push(format!("error {err:?}"));
                    break;
                }
            }
        }
        out
    }

    fn same(text: &str) -> Result<(), String> {
        let (fast, slow) = (events(text, true), events(text, false));
        if fast == slow {
            return Ok(());
        }
        let at = fast.iter().zip(&slow).take_while(|(a, b)| a == b).count();
        Err(format!(
            "{text:?}\nread otherwise at event {at}:\n  fast:   {:?}\n  parser: {:?}",
            fast.get(at),
            slow.get(at)
        ))
    }

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }

    fn fixtures() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let mut paths = Vec::new();
        files(&root.join("fixtures"), &mut paths);
        files(&root.join("yaml-test-suite/cases"), &mut paths);
        paths.sort();
        paths
            .iter()
            .filter_map(|p| String::from_utf8(std::fs::read(p).unwrap()).ok())
            .collect()
    }

    #[test]
    fn every_capture_and_yaml_suite_case_reads_as_the_parser_reads_it() {
        let all = fixtures();
        assert!(all.len() > 400, "{} texts", all.len());
        let mut fast_docs = 0;
        for text in &all {
            same(text).unwrap();
            fast_docs += events(text, true).len();
        }
        // And as one stream, documents of all kinds one after another.
        let joined: String = all
            .iter()
            .filter(|t| t.starts_with("---\n") && same(&format!("{t}\n")).is_ok())
            .map(|t| format!("{}\n", t.trim_end()))
            .collect();
        same(&joined).unwrap();
        assert!(fast_docs > 0);
    }

    #[test]
    fn texts_once_read_otherwise_read_as_the_parser_reads_them() {
        for (text, fast) in [
            // A last line without a break: the parser counts one.
            ("---\nk: v  ", true),
            // `-` alone ends a line: not a plain scalar (the parser's error).
            ("---\nk: -\n---\nk: v\n", false),
            // A less indented comment ends a block scalar; its span ends
            // at the comment.
            ("---\na: |\n    x\n   # c\nb: 1\n", true),
            // Blank lines wider than the content are content.
            (
                "---\na: |\n  x\n    \n  y\n    \nb:\n    {}\nc:\n  null\n",
                true,
            ),
            // After a comment or blank last line without a break, what is
            // indented more than it closes on it (found by helper-10).
            ("---\na:\n  b: 1\n#", true),
            ("---\na:\n  b:\n  - x\n#", true),
            ("---\na:\n  b:\n    c: 1\n#cc", true),
            ("---\na:\n  b:\n    c: 1\n   ", true),
            ("---\na:\n  b: 1\n\n\n#", true),
            // A block scalar on a last line without a break: the parser's.
            ("---\na:\n   b: |+\n     x\n\n #", true),
            ("---\na:\n  b: |\n    # x", false),
            // Reading fast resumes after a first document read by the
            // parser: one after a comment, one without a marker.
            ("# c\n---\na: {b: 1}\n---\nc: 2\n", false),
            ("a: {b: 1}\n---\nc: 2\n", false),
            // Empty documents: a null where the next marker or the end is.
            ("---\n# c\n\n---\na: 1\n", true),
            ("---\n  \n", true),
            ("---\n# c", true),
        ] {
            same(text).unwrap();
            let read = super::fast::document(text, 0, 1, &mut Vec::new()).is_some();
            assert_eq!(read, fast, "{text:?}");
        }
    }

    #[test]
    fn reading_fast_resumes_after_a_document_the_parser_read() {
        for (text, resumes) in [
            ("---\na: {b: 1}\n---\nc: 2\n", true),
            // A first document after a comment, or without a marker.
            ("# c\n---\na: {b: 1}\n---\nc: 2\n", true),
            ("a: {b: 1}\n---\nc: 2\n", true),
            // Not after an anchor, a directive or `...`.
            ("---\na: &x {b: 1}\n---\nc: 2\n", false),
            ("%YAML 1.1\n---\na: 1\n---\nc: 2\n", false),
            ("---\na: {b: 1}\n...\n---\nc: 2\n", false),
        ] {
            same(text).unwrap();
            let mut e = Events::new(text, true);
            while let Some(Ok(_)) = e.next() {}
            assert_eq!(e.slow.is_none(), resumes, "{text:?}");
        }
    }

    #[test]
    fn after_a_long_run_of_declined_documents_the_parser_reads_on() {
        let declined = "---\n{a: 1}\n".repeat(GIVE_UP + 4);
        let text = format!("---\nb: 2\n{declined}---\nc: [3]\n---\ne: 5\n");
        same(&text).unwrap();
        let mut e = Events::new(&text, true);
        let mut slow_from = None;
        while let Some(Ok(ev)) = e.next() {
            if slow_from.is_none() && e.slow.is_some() {
                slow_from = Some(ev.line);
            }
        }
        assert_eq!(
            slow_from,
            Some(3),
            "the parser from the first declined document"
        );
        assert!(e.slow.is_some(), "and on to the end");
    }

    #[test]
    fn the_fast_reader_reads_the_captures() {
        // Most documents of a Helm capture are read fast: the point of it.
        let text = include_str!("../../../tests/fixtures/polyaxon-0.6.1/helm3-replicas.yaml");
        let mut out = Vec::new();
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices("\n---\n").map(|(i, _)| i + 1))
            .collect();
        let read = starts
            .iter()
            .filter(|&&s| super::fast::document(text, s, 1, &mut out).is_some())
            .count();
        assert!(read * 10 >= starts.len() * 8, "{read} of {}", starts.len());
    }

    /// Lines of the kinds the fast reader decides on, and of kinds next to
    /// them that it must leave to the parser.
    const LINES: &[&str] = &[
        "k: v",
        "k:",
        "k: ",
        "key.a/b-c: v",
        "k: v # c",
        "k: v#c",
        "k: 'a''b'",
        "k: \"a\\\"b\\n\"",
        "k: \"a\\x41\"",
        "k: \"open",
        "k: 'open",
        "k: |",
        "k: |-",
        "k: |+",
        "k: |2",
        "k: >",
        "k: | # c",
        "k: {}",
        "k: []",
        "k: [a, \"b\", 'c']",
        "k: [a,b]",
        "k: [a, ]",
        "k: {a: b}",
        "k: [",
        "- a",
        "- k: v",
        "- k:",
        "-",
        "- ",
        "- - a",
        "- |",
        "- \"q\"",
        "- -c",
        "text",
        "text more",
        "# c",
        "",
        "  ",
        "      ",
        "k: a: b",
        "k: a:",
        "k: -",
        "k: - a",
        "k: &a v",
        "k: *a",
        "k: !t v",
        "&a k: v",
        "? k",
        ": v",
        "k: v  ",
        "k: 'v'  # c",
        "k: \"v\" x",
        "k: %v",
        "k: @v",
        "k: `v",
        "...",
        "---",
        "--- x",
        "----",
        "%YAML 1.2",
        "\"k\": v",
        "k : v",
        "-k: v",
        "k:v",
        "k: ~",
        "k: null",
        "k: {}  # c",
        "k: []x",
        "k:\tv",
        "k: é",
        "k: v\r",
        "<<: v",
    ];

    fn doc() -> impl Strategy<Value = String> {
        prop::collection::vec((0usize..8, 0..LINES.len()), 1..14).prop_map(|lines| {
            let mut s = String::new();
            for (ind, k) in lines {
                s.push_str(&" ".repeat(ind));
                s.push_str(LINES[k]);
                s.push('\n');
            }
            s
        })
    }

    /// Between documents: a marker, sometimes with more on its line.
    const MARKERS: &[&str] = &[
        "---\n",
        "---\n",
        "---\n",
        "--- \n",
        "...\n---\n",
        "--- |\n x\n",
        "",
    ];

    /// `PROPTEST_CASES` overrides the number of cases (a long hunt).
    fn cases(default: u32) -> ProptestConfig {
        let n = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok());
        ProptestConfig::with_cases(n.unwrap_or(default))
    }

    proptest! {
        #![proptest_config(cases(3000))]

        #[test]
        fn random_documents_read_as_the_parser_reads_them(
            docs in prop::collection::vec((0..MARKERS.len(), doc()), 1..4),
            cut in any::<bool>(),
        ) {
            let mut text = String::new();
            for (m, d) in docs {
                text.push_str(MARKERS[m]);
                text.push_str(&d);
            }
            if cut {
                text.pop(); // the last line without a break
            }
            prop_assert!(same(&text).is_ok(), "{}", same(&text).unwrap_err());
        }
    }

    proptest! {
        #![proptest_config(cases(300))]

        #[test]
        fn captures_changed_here_and_there_read_as_the_parser_reads_them(
            which in 0usize..8,
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12), 1..5),
        ) {
            let all = [
                include_str!("../../../tests/fixtures/polyaxon-0.6.1/helm3-replicas.yaml"),
                include_str!("../../../tests/fixtures/polyaxon-0.6.1/helm4-default.yaml"),
                include_str!("../../../tests/fixtures/polyaxon-0.5.6/helm3-default.yaml"),
                include_str!("../../../tests/fixtures/polyaxon-0.4.4/helm3-default.yaml"),
            ];
            let mut text = all[which % all.len()].as_bytes().to_vec();
            for (at, what) in edits {
                let i = at.index(text.len());
                let ins: &[u8] = match what {
                    0 => b" ",
                    1 => b"\n",
                    2 => b":",
                    3 => b"#",
                    4 => b"'",
                    5 => b"\"",
                    6 => b"- ",
                    7 => b"&a ",
                    8 => b"\t",
                    9 => b"|",
                    _ => b"",
                };
                if ins.is_empty() {
                    text.remove(i);
                } else {
                    text.splice(i..i, ins.iter().copied());
                }
            }
            if let Ok(t) = String::from_utf8(text) {
                prop_assert!(same(&t).is_ok(), "{}", same(&t).unwrap_err());
            }
        }
    }
}
