//! The human-readable account of a run: one line per change, per warning,
//! and the error when there is one. It goes to stderr and, because Helm 4
//! hides a post-renderer's stderr, optionally to a file (`--report`).

use std::io::Write;
use std::path::Path;

/// Lines of the report, in the order they happened.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    /// The lines, each without its trailing newline.
    pub lines: Vec<String>,
}

impl Report {
    /// Records a change.
    pub fn change(&mut self, line: impl Into<String>) {
        self.lines.push(format!("changed {}", line.into()));
    }

    /// Records a warning.
    pub fn warning(&mut self, line: impl Into<String>) {
        self.lines.push(format!("warning: {}", line.into()));
    }

    /// Records the error that stopped the run.
    pub fn error(&mut self, line: impl Into<String>) {
        self.lines.push(format!("error: {}", line.into()));
    }

    /// The report as text, each line prefixed with the tool's name.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str("polyrepo-render: ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// Writes the report to stderr.
    pub fn to_stderr(&self) {
        let _ = std::io::stderr().write_all(self.text().as_bytes());
    }

    /// Writes the report to a file (relative to the working directory).
    pub fn to_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.text())
    }
}
