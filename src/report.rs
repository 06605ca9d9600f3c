//! The account of a run: one record per change, per warning, and the error
//! when there is one. It goes to stderr as text and, because Helm 4 hides a
//! post-renderer's stderr, optionally to a file (`--report`), as text or as
//! JSON for pipelines ([`Report::json`], shape documented in the README's
//! "JSON report" section).

use crate::yaml::source::shown;
use serde_json::{Value, json};
use std::io::Write;

/// The version of the JSON report's shape. Fields may be added within a
/// version; none is removed or changes meaning without a new version.
pub const JSON_VERSION: u32 = 1;

/// Records of the report, in the order they happened.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    /// The records.
    pub records: Vec<Record>,
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// An object was changed.
    Change,
    /// A problem, or advice not acknowledged.
    Warning,
    /// Advice the config acknowledges.
    Note,
    /// What stopped the run.
    Error,
    /// Anything else worth saying (e.g. a check that passed).
    Info,
}

/// An object of the stream a record is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when the object names it.
    pub namespace: Option<String>,
    /// 1-based index of its document in the stream.
    pub document: usize,
    /// The template it was rendered from, when known.
    pub template: Option<String>,
    /// 1-based line of the object in the stream.
    pub line: usize,
}

/// A place in the stream a record is about, when it is not one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// 1-based index of the document in the stream.
    pub document: usize,
    /// The template it was rendered from, when known.
    pub template: Option<String>,
    /// 1-based line in the stream.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// The scheduling decision behind a change or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What was decided.
    pub action: Action,
    /// The node pinned to (`pin`): `hostname=NAME` or `metadata.name=NAME`.
    pub node: Option<String>,
    /// The pods a `co-locate` keeps the object beside.
    pub with: Option<String>,
    /// Why.
    pub reason: String,
}

/// A scheduling decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Held to the node of its data by a required node affinity.
    Pin,
    /// Held beside the other pods of its data by a required pod affinity.
    CoLocate,
    /// Refused: no placement can be safe.
    Refuse,
    /// No scheduling constraint needed (only the volume and its copies changed).
    None,
}

impl Action {
    /// The name the JSON report uses.
    pub fn name(self) -> &'static str {
        match self {
            Action::Pin => "pin",
            Action::CoLocate => "co-locate",
            Action::Refuse => "refuse",
            Action::None => "none",
        }
    }
}

/// One record of a [`Report`].
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// What it is.
    pub level: Level,
    /// The message, control characters escaped (an error keeps its line
    /// breaks), without the level's prefix or the advice's hint.
    pub message: String,
    /// The advice a warning or note is.
    pub advice: Option<Advice>,
    /// The objects it is about.
    pub objects: Vec<ObjectRef>,
    /// Where in the stream, for an error that is not about one object.
    pub position: Option<Position>,
    /// The edits of a change, one line each.
    pub edits: Vec<String>,
    /// The scheduling decision of a change or a refusal.
    pub decision: Option<Decision>,
    /// The exit code an error makes.
    pub exit_code: Option<i32>,
    /// Settings outside the stream a warning asks for: name and JSON value.
    pub settings: Vec<(String, String)>,
}

impl Record {
    /// A record of `level` saying `message`, about nothing in particular.
    pub fn new(level: Level, message: String) -> Record {
        Record {
            level,
            message,
            advice: None,
            objects: Vec::new(),
            position: None,
            edits: Vec::new(),
            decision: None,
            exit_code: None,
            settings: Vec::new(),
        }
    }

    /// The record as one line of the text report, without the tool's name.
    pub fn line(&self) -> String {
        match (self.level, self.advice) {
            (Level::Change, _) => format!("changed {}", self.message),
            (Level::Warning, Some(a)) => format!(
                "warning: {} [advice {}: or acknowledge it in the config with `acknowledge: [{}]`]",
                self.message,
                a.code(),
                a.code()
            ),
            (Level::Warning, None) => format!("warning: {}", self.message),
            (Level::Note, Some(a)) => {
                format!("note: {} (acknowledged: {})", self.message, a.code())
            }
            (Level::Note, None) => format!("note: {}", self.message),
            (Level::Error, _) => format!("error: {}", self.message),
            (Level::Info, _) => self.message.clone(),
        }
    }
}

/// Where `message` first names `id` (a `Kind/name`) as a whole word: not
/// followed by a character a name may go on with (`Deployment/api` is not
/// named by `Deployment/api-2`).
pub fn names(message: &str, id: &str) -> Option<usize> {
    message
        .match_indices(id)
        .find(|(at, _)| {
            message[at + id.len()..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        })
        .map(|(at, _)| at)
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
        self.push(Level::Change, one_record(&line.into(), false));
    }

    /// Records a change to `object`: its edits and the decision behind them.
    pub(crate) fn changed(
        &mut self,
        line: &str,
        object: ObjectRef,
        edits: Vec<String>,
        decision: Decision,
    ) {
        let mut r = Record::new(Level::Change, one_record(line, false));
        r.objects.push(object);
        r.edits = edits.iter().map(|e| one_record(e, false)).collect();
        r.decision = Some(Decision {
            reason: one_record(&decision.reason, false),
            with: decision.with.as_deref().map(|w| one_record(w, false)),
            node: decision.node.as_deref().map(|n| one_record(n, false)),
            ..decision
        });
        self.records.push(r);
    }

    /// Records a warning (one line: control characters escaped).
    pub fn warning(&mut self, line: impl Into<String>) {
        self.push(Level::Warning, one_record(&line.into(), false));
    }

    /// Records the error that stopped the run (its own line breaks kept,
    /// other control characters escaped), with the exit code it makes.
    pub fn error(&mut self, line: impl Into<String>, exit_code: i32) {
        let mut r = Record::new(Level::Error, one_record(&line.into(), true));
        r.exit_code = Some(exit_code);
        self.records.push(r);
    }

    /// Records a line that is neither a change, a warning nor an error.
    pub fn info(&mut self, line: impl Into<String>) {
        self.push(Level::Info, one_record(&line.into(), false));
    }

    /// Records a note: acknowledged advice, which `--strict` lets pass.
    pub fn note(&mut self, line: impl Into<String>) {
        self.push(Level::Note, one_record(&line.into(), false));
    }

    fn push(&mut self, level: Level, message: String) {
        self.records.push(Record::new(level, message));
    }

    /// This report with `line` recorded as its error.
    pub fn with_error(mut self, line: &str, exit_code: i32) -> Self {
        self.error(line, exit_code);
        self
    }

    /// How many warnings (not notes) it holds.
    pub fn warnings(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.level == Level::Warning)
            .count()
    }

    /// The report as text: each record on a line of its own prefixed with
    /// the tool's name; the further lines of a record of several lines
    /// indented, so that no text inside a record can pass for a record.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for r in &self.records {
            s.push_str(&Self::record_text(r));
        }
        s
    }

    /// One record of [`Report::text`], with its line break.
    fn record_text(r: &Record) -> String {
        let mut s = String::from("polyrepo-render: ");
        for (i, part) in r.line().split('\n').enumerate() {
            if i > 0 {
                s.push('\n');
                if !part.is_empty() {
                    s.push_str("    ");
                }
            }
            s.push_str(&shown(part));
        }
        s.push('\n');
        s
    }

    /// The report as JSON (the README's "JSON report", version
    /// [`JSON_VERSION`]): what happened, grouped by kind of record, each
    /// naming its objects, in the order it happened.
    pub fn json(&self) -> Value {
        let exit_code = self
            .records
            .iter()
            .filter_map(|r| r.exit_code)
            .next()
            .unwrap_or(0);
        let of = |level: Level| -> Vec<Value> {
            self.records
                .iter()
                .filter(|r| r.level == level)
                .map(record_json)
                .collect()
        };
        let mut warnings = of(Level::Warning);
        warnings.extend(of(Level::Note));
        json!({
            "apiVersion": format!("polyrepo-render.report/v{JSON_VERSION}"),
            "kind": "Report",
            "tool": { "name": "polyrepo-render", "version": env!("CARGO_PKG_VERSION") },
            "exitCode": exit_code,
            "summary": {
                "changes": self.records.iter().filter(|r| r.level == Level::Change).count(),
                "warnings": self.warnings(),
                "notes": self.records.iter().filter(|r| r.level == Level::Note).count(),
                "errors": self.records.iter().filter(|r| r.level == Level::Error).count(),
            },
            "changes": of(Level::Change),
            "warnings": warnings,
            "errors": of(Level::Error),
            "messages": of(Level::Info),
        })
    }

    /// Writes the text report to stderr.
    pub fn to_stderr(&self) {
        // Record by record: a large stream's report (thousands of changes)
        // is never held whole.
        let mut err = std::io::BufWriter::new(std::io::stderr().lock());
        for r in &self.records {
            if err.write_all(Self::record_text(r).as_bytes()).is_err() {
                return;
            }
        }
        let _ = err.flush();
    }
}

fn object_json(o: &ObjectRef) -> Value {
    json!({
        "kind": o.kind,
        "name": o.name,
        "namespace": o.namespace,
        "document": o.document,
        "template": o.template,
        "line": o.line,
    })
}

fn record_json(r: &Record) -> Value {
    let mut v = json!({ "message": r.message });
    let m = v.as_object_mut().expect("an object");
    m.insert(
        "objects".into(),
        r.objects.iter().map(object_json).collect(),
    );
    match r.level {
        Level::Warning | Level::Note => {
            m.insert("code".into(), json!(r.advice.map(Advice::code)));
            m.insert("acknowledged".into(), json!(r.level == Level::Note));
            m.insert(
                "settings".into(),
                r.settings
                    .iter()
                    .map(|(name, value)| {
                        json!({
                            "name": name,
                            "value": serde_json::from_str::<Value>(value)
                                .unwrap_or_else(|_| json!(value)),
                        })
                    })
                    .collect(),
            );
        }
        Level::Change => {
            m.insert("edits".into(), json!(r.edits));
        }
        Level::Error => {
            m.insert("exitCode".into(), json!(r.exit_code));
            m.insert(
                "position".into(),
                r.position.as_ref().map_or(Value::Null, |p| {
                    json!({
                        "document": p.document,
                        "template": p.template,
                        "line": p.line,
                        "column": p.column,
                    })
                }),
            );
        }
        Level::Info => {}
    }
    if let Some(d) = &r.decision {
        m.insert(
            "decision".into(),
            json!({
                "action": d.action.name(),
                "node": d.node,
                "with": d.with,
                "reason": d.reason,
            }),
        );
    } else if matches!(r.level, Level::Change | Level::Error) {
        m.insert("decision".into(), Value::Null);
    }
    v
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
    /// The pods Polyaxon creates at run time must follow their data, and
    /// (Polyaxon 0.5 on) only its database can say so.
    RuntimePlacementInDatabase,
    /// Single-node data only run-time pods mount, whose node nothing names.
    RuntimeDataUnpinned,
}

impl Advice {
    /// Every advice, in the order the README lists them.
    pub const ALL: [Advice; 8] = [
        Advice::HostDataUnpinned,
        Advice::ReposOnOneNode,
        Advice::ClaimModeAssumed,
        Advice::ColocationNewLabel,
        Advice::PinNeedsNodeLabels,
        Advice::JobTemplateImmutable,
        Advice::RuntimePlacementInDatabase,
        Advice::RuntimeDataUnpinned,
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
            Advice::RuntimePlacementInDatabase => "runtime-placement-in-database",
            Advice::RuntimeDataUnpinned => "runtime-data-unpinned",
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
    /// The workloads it is about (indices into the inventory's workloads).
    pub(crate) workloads: Vec<usize>,
    /// Settings outside the stream the user must give these values (name,
    /// JSON value), for the JSON report.
    pub(crate) settings: Vec<(String, String)>,
}

impl Warning {
    /// A problem: it goes away only when its cause is fixed.
    pub fn problem(text: impl Into<String>) -> Warning {
        Warning {
            advice: None,
            text: text.into(),
            workloads: Vec::new(),
            settings: Vec::new(),
        }
    }

    /// Advice the config may acknowledge.
    pub fn advice(advice: Advice, text: impl Into<String>) -> Warning {
        Warning {
            advice: Some(advice),
            text: text.into(),
            workloads: Vec::new(),
            settings: Vec::new(),
        }
    }

    /// The same warning, about these workloads (indices into the
    /// inventory's workloads).
    pub(crate) fn about(mut self, workloads: impl IntoIterator<Item = usize>) -> Warning {
        self.workloads = workloads.into_iter().collect();
        self
    }
}

impl std::ops::Deref for Warning {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl Report {
    /// Records `w` about `objects`: a warning, or a note when the config
    /// acknowledges its advice. Advice says how to acknowledge it.
    pub(crate) fn warn(&mut self, w: &Warning, acknowledged: &[Advice], objects: Vec<ObjectRef>) {
        let level = match w.advice {
            Some(a) if acknowledged.contains(&a) => Level::Note,
            _ => Level::Warning,
        };
        let mut r = Record::new(level, one_record(&w.text, false));
        r.advice = w.advice;
        r.objects = objects;
        r.settings = w.settings.clone();
        self.records.push(r);
    }
}
