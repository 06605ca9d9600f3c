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

/// Advice: a warning about a choice the user may make knowingly. Each has
/// a code the config's `acknowledge:` list names to turn it into a note,
/// which `--strict` lets pass. A warning without a code is a problem: it
/// goes away only when its cause is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Advice {
    /// Host data whose node nothing names stays on whichever node the first
    /// pod lands on.
    HostDataUnpinned,
    /// The repos, on single-node data, are used by one pod: losing that
    /// node loses them.
    ReposOnOneNode,
    /// A claim whose PersistentVolumeClaim is not in the stream is taken
    /// for ReadWriteOnce.
    ClaimModeAssumed,
    /// A group is co-located through an added label the running pods lack:
    /// the first upgrade with it may start a pod away from the data.
    ColocationNewLabel,
    /// A pin beside other node labels holds only where that node has them.
    PinNeedsNodeLabels,
    /// A Job that is not a Helm hook changes, and a Job's pod template
    /// cannot change once it exists.
    JobTemplateImmutable,
}

impl Advice {
    /// Every advice, in the order the README lists them.
    pub const ALL: [Advice; 6] = [
        Advice::HostDataUnpinned,
        Advice::ReposOnOneNode,
        Advice::ClaimModeAssumed,
        Advice::ColocationNewLabel,
        Advice::PinNeedsNodeLabels,
        Advice::JobTemplateImmutable,
    ];

    /// The code the config's `acknowledge:` list uses.
    pub fn code(self) -> &'static str {
        match self {
            Advice::HostDataUnpinned => "host-data-unpinned",
            Advice::ReposOnOneNode => "repos-on-one-node",
            Advice::ClaimModeAssumed => "claim-mode-assumed",
            Advice::ColocationNewLabel => "colocation-new-label",
            Advice::PinNeedsNodeLabels => "pin-needs-node-labels",
            Advice::JobTemplateImmutable => "job-template-immutable",
        }
    }

    /// The advice a code names.
    pub fn parse(code: &str) -> Option<Advice> {
        Advice::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// A warning: a problem, or [`Advice`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Warning {
    /// What kind of advice, if it is advice.
    pub advice: Option<Advice>,
    /// What to tell the user.
    pub text: String,
}

impl Warning {
    /// A problem: it goes away only when its cause is fixed.
    pub fn problem(text: impl Into<String>) -> Warning {
        Warning {
            advice: None,
            text: text.into(),
        }
    }

    /// Advice the config may acknowledge.
    pub fn advice(advice: Advice, text: impl Into<String>) -> Warning {
        Warning {
            advice: Some(advice),
            text: text.into(),
        }
    }
}

impl std::ops::Deref for Warning {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl Report {
    /// Records a note: acknowledged advice, which `--strict` lets pass.
    pub fn note(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.lines
            .push(format!("note: {}", one_record(&line, false)));
    }

    /// Records `w`: a warning, or a note when the config acknowledges its
    /// advice. Advice says how to acknowledge it.
    pub fn warn(&mut self, w: &Warning, acknowledged: &[Advice]) {
        match w.advice {
            Some(a) if acknowledged.contains(&a) => {
                self.note(format!("{} (acknowledged: {})", w.text, a.code()))
            }
            Some(a) => self.warning(format!(
                "{} [advice {}: or acknowledge it in the config with `acknowledge: [{}]`]",
                w.text,
                a.code(),
                a.code()
            )),
            None => self.warning(w.text.clone()),
        }
    }
}
