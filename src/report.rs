//! The human-readable account of a run: one line per change, per warning,
//! and the error when there is one. It goes to stderr and, because Helm 4
//! hides a post-renderer's stderr, optionally to a file (`--report`).

use crate::yaml::source::shown;
use std::io::Write;

/// Lines of the report, in the order they happened.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    /// The lines, each without its trailing newline.
    pub lines: Vec<String>,
}

/// A message as a report line: every control character escaped (names
/// from the input may hold any), except the line breaks of a message of
/// several lines (an error's detail), kept when `lines` is true.
fn one_record(message: &str, lines: bool) -> String {
    if !lines {
        return shown(message).into_owned();
    }
    message
        .split('\n')
        .map(|l| shown(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Report {
    /// Records a change (one line: control characters escaped).
    pub fn change(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.lines
            .push(format!("changed {}", one_record(&line, false)));
    }

    /// Records a warning (one line: control characters escaped).
    pub fn warning(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.lines
            .push(format!("warning: {}", one_record(&line, false)));
    }

    /// Records the error that stopped the run (its own line breaks kept,
    /// other control characters escaped).
    pub fn error(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.lines
            .push(format!("error: {}", one_record(&line, true)));
    }

    /// This report with `line` recorded as its error.
    pub fn with_error(mut self, line: &str) -> Self {
        self.error(line);
        self
    }

    /// The report as text: each record on a line of its own prefixed with
    /// the tool's name; the further lines of a record of several lines
    /// indented, so that no text inside a record can pass for a record.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str("polyrepo-render: ");
            for (i, part) in l.split('\n').enumerate() {
                if i > 0 {
                    s.push('\n');
                    if !part.is_empty() {
                        s.push_str("    ");
                    }
                }
                s.push_str(&shown(part));
            }
            s.push('\n');
        }
        s
    }

    /// Writes the report to stderr.
    pub fn to_stderr(&self) {
        let _ = std::io::stderr().write_all(self.text().as_bytes());
    }
}
