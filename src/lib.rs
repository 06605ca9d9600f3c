//! polyrepo-render: a Helm post-renderer that sets Polyaxon's `repos` volume
//! and keeps every pod that shares a single-node volume on one node.
//!
//! Data flow, one module per step:
//! [`yaml`] (bytes ↔ documents, exact: one event driver, two sinks) →
//! [`config`] → `inventory` (what
//! the stream holds) → `plan` (what to change and why, with `data`: where a
//! volume reaches, `pods`: how many pods share it, `constraints`: where a pod
//! may run, `groups`: which pods must share a node) → `patch` (which
//! edits, through `edit` and `emit`; `deanchor` where an edit meets bytes
//! an alias shares) → `verify` and `placement` (the
//! output read back: only planned changes, and pods that can be placed) →
//! output and [`report`]. `k8s` names the Kubernetes vocabulary they share.
//! Each step has its own error type; this file alone turns them into a
//! [`Failure`]. `tests/architecture.rs` keeps the module graph acyclic.

#![warn(missing_docs)]

/// Declares a layer's error type: a message that already names its place
/// (document, template, line, column), implementing `std::error::Error`.
/// The layer's helpers build it from their messages with `?` / `.into()`.
macro_rules! message_error {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub(crate) struct $name(pub(crate) String);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::error::Error for $name {}

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<crate::yaml::node::ReadError> for $name {
            fn from(e: crate::yaml::node::ReadError) -> Self {
                $name(e.to_string())
            }
        }
    };
}

pub mod argocd;
pub mod config;
pub(crate) mod constraints;
pub(crate) mod data;
pub(crate) mod deanchor;
pub(crate) mod edit;
pub(crate) mod emit;
pub mod files;
pub(crate) mod groups;
pub(crate) mod inventory;
pub(crate) mod k8s;
pub mod krm;
pub mod kustomize;
pub(crate) mod parallel;
pub(crate) mod patch;
pub(crate) mod placement;
pub(crate) mod plan;
pub(crate) mod pods;
pub mod report;
pub(crate) mod verify;
pub mod yaml;

use config::Settings;
use report::Report;

/// Why a run failed, with the exit code it maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The input is invalid or cannot be made safe (exit 1).
    Input(String),
    /// Usage or configuration error (exit 2).
    Config(String),
    /// polyrepo-render caught itself about to write something wrong (exit 1).
    Internal(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Input(_) | Failure::Internal(_) => 1,
            Failure::Config(_) => 2,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Input(s) | Failure::Config(s) | Failure::Internal(s) => s,
        }
    }
}

/// What a successful run decided: the input and the verified edits to it.
#[derive(Debug)]
pub struct Rendered<'t> {
    text: &'t str,
    /// The changed documents, in stream order, each with its edits sorted:
    /// documents are disjoint, so these are all the edits, in order.
    changed: Vec<(Changed, Vec<edit::Edit>)>,
}

/// A changed document: where it is, what it holds, and its text before.
#[derive(Debug, Clone)]
struct Changed {
    label: String,
    objects: Vec<String>,
    start: usize,
    end: usize,
    lines_before: usize,
}

/// One changed document, before and after (see [`Rendered::documents`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentChange {
    /// `document N (template)`.
    pub label: String,
    /// The objects changed in it (`Kind/name`).
    pub objects: Vec<String>,
    /// How many lines of the input come before it.
    pub lines_before: usize,
    /// Its text in the input.
    pub before: String,
    /// Its text in the output.
    pub after: String,
}

impl Rendered<'_> {
    /// True when the output equals the input.
    pub fn unchanged(&self) -> bool {
        self.changed.iter().all(|(_, e)| e.is_empty())
    }

    /// Writes the output: the input with the edits applied, streamed.
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        edit::write_all(self.text, self.changed.iter().flat_map(|(_, e)| e), out)
    }

    /// Each changed document, before and after, in stream order.
    pub fn documents(&self) -> Vec<DocumentChange> {
        self.changed
            .iter()
            .map(|(c, own)| {
                let shifted: Vec<edit::Edit> = own
                    .iter()
                    .map(|e| edit::Edit {
                        start: e.start - c.start,
                        end: e.end - c.start,
                        text: e.text.clone(),
                    })
                    .collect();
                let before = &self.text[c.start..c.end];
                let mut after = Vec::with_capacity(before.len());
                edit::write(before, &shifted, &mut after).expect("writing to memory");
                DocumentChange {
                    label: c.label.clone(),
                    objects: c.objects.clone(),
                    lines_before: c.lines_before,
                    before: before.to_string(),
                    after: String::from_utf8(after).expect("edits of UTF-8 text are UTF-8"),
                }
            })
            .collect()
    }

    /// The output as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            self.text.len()
                + self
                    .changed
                    .iter()
                    .flat_map(|(_, e)| e)
                    .map(|e| e.text.len())
                    .sum::<usize>(),
        );
        self.write_to(&mut v).expect("writing to memory");
        v
    }
}

/// How [`render_with`] reads the stream. Both give the same result; they
/// differ in speed and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One pass that builds every document's tree: fastest on small inputs.
    OnePass,
    /// A validating event pass (on several threads), then trees only for the
    /// documents that can matter, one at a time: for large inputs.
    OnDemand,
    /// `OnePass` below 1 MB (`parallel::MIN_PARALLEL_BYTES`), `OnDemand` above.
    Auto,
}

/// Runs the whole pipeline on an input stream and returns the verified
/// edits, without writing anything.
pub fn render<'t>(
    input: &'t [u8],
    settings: &Settings,
    report: &mut Report,
) -> Result<Rendered<'t>, Failure> {
    render_with(input, settings, report, Strategy::Auto)
}

/// [`render`] with a chosen [`Strategy`].
pub fn render_with<'t>(
    input: &'t [u8],
    settings: &Settings,
    report: &mut Report,
    strategy: Strategy,
) -> Result<Rendered<'t>, Failure> {
    let text = yaml::source::decode(input)?;
    let one_pass = match strategy {
        Strategy::OnePass => true,
        Strategy::OnDemand => false,
        Strategy::Auto => text.len() < parallel::MIN_PARALLEL_BYTES,
    };
    let (built, infos) = if one_pass {
        let (docs, infos) = yaml::tree::parse_described(text)?;
        (Some(docs), infos)
    } else {
        let threads = parallel::threads_for(text.len());
        (None, yaml::summary::scan_parallel(text, threads)?)
    };
    let trees = match &built {
        Some(docs) => yaml::tree::Trees::Built(docs),
        None => yaml::tree::Trees::OnDemand,
    };
    let inv = inventory::read(text, &infos, trees, settings)?;
    let plan = plan::plan(&inv, settings)?;
    let patched = patch::patch(text, &infos, trees, &inv, &plan)?;
    // Where the patched pods may run: checked before anything is written.
    let reread: std::collections::HashMap<usize, &inventory::PodSummary> =
        patched.pods.iter().map(|(i, p)| (*i, p)).collect();
    placement::check(&inv, settings, &|i| {
        reread.get(&i).copied().unwrap_or(&inv.workloads[i].pod)
    })
    .map_err(bug)?;
    let mut changed: Vec<(Changed, Vec<edit::Edit>)> = Vec::with_capacity(patched.docs.len());
    for mut dp in patched.docs {
        let info = &infos[dp.doc];
        let label = info.label();
        for c in &dp.changes {
            report.change(format!("{label}: {c}"));
        }
        let objects = dp
            .changes
            .iter()
            .map(|c| c.split(": ").next().unwrap_or("").to_string())
            .collect();
        let region = Changed {
            label,
            objects,
            start: info.region_start,
            end: info.region_end,
            lines_before: info.line_offset,
        };
        edit::sort_checked(&mut dp.edits).map_err(bug)?;
        if let Some((last, _)) = changed.last()
            && region.start < last.end
        {
            return Err(bug(format!("{} overlaps {}", region.label, last.label)));
        }
        changed.push((region, dp.edits));
    }
    for w in plan.warnings.iter().chain(&patched.warnings) {
        report.warn(w, &settings.acknowledge);
    }
    Ok(Rendered { text, changed })
}

// Every layer's error becomes the user-facing failure here, and only here.

impl From<yaml::SyntaxError> for Failure {
    fn from(e: yaml::SyntaxError) -> Self {
        Failure::Input(e.to_string())
    }
}

impl From<inventory::InputError> for Failure {
    fn from(e: inventory::InputError) -> Self {
        Failure::Input(e.0)
    }
}

impl From<plan::PlanError> for Failure {
    fn from(e: plan::PlanError) -> Self {
        match e {
            plan::PlanError::Config(c) => Failure::Config(c.0),
            plan::PlanError::Unsafe(s) => Failure::Input(s),
        }
    }
}

impl From<patch::PatchError> for Failure {
    fn from(e: patch::PatchError) -> Self {
        match e {
            patch::PatchError::Input(s) => Failure::Input(s),
            patch::PatchError::Internal(s) => bug(s),
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure::Config(e.0)
    }
}

/// A check after planning failed: the plan promised what the output does
/// not hold, which only a bug in polyrepo-render can cause.
fn bug(e: impl std::fmt::Display) -> Failure {
    Failure::Internal(format!(
        "{e}. This is a bug in polyrepo-render; nothing was written"
    ))
}

/// `--strict` (or `POLYREPO_STRICT`): the failure a report's warnings make.
pub fn strict_check(report: &Report) -> Result<(), Failure> {
    let warnings = report
        .lines
        .iter()
        .filter(|l| l.starts_with("warning:"))
        .count();
    if warnings > 0 {
        return Err(Failure::Input(format!(
            "{warnings} warning(s) and --strict (or POLYREPO_STRICT) turns warnings into errors"
        )));
    }
    Ok(())
}

/// Runs the whole pipeline and returns the output bytes (identical to the
/// input when nothing changes).
pub fn run(input: &[u8], settings: &Settings, report: &mut Report) -> Result<Vec<u8>, Failure> {
    render(input, settings, report).map(|r| r.to_vec())
}

/// Each stage of [`render`] on its own, for the benchmarks: the input is
/// read and planned once (`Stages::new`), then any one stage can be run
/// again and again. Nothing here is needed to use the tool.
pub mod stages {
    use super::{Failure, Settings, inventory, patch, plan, yaml};

    /// A stream read, inventoried and planned.
    pub struct Stages<'t> {
        text: &'t str,
        docs: Vec<yaml::Document<'t>>,
        infos: Vec<yaml::DocInfo>,
        settings: &'t Settings,
        inv: inventory::Inventory,
        plan: plan::Plan,
    }

    impl<'t> Stages<'t> {
        /// Reads and plans `text` with `settings`.
        pub fn new(text: &'t str, settings: &'t Settings) -> Result<Self, Failure> {
            let (docs, infos) = yaml::tree::parse_described(text)?;
            let trees = yaml::tree::Trees::Built(&docs);
            let inv = inventory::read(text, &infos, trees, settings)?;
            let plan = plan::plan(&inv, settings)?;
            Ok(Stages {
                text,
                docs,
                infos,
                settings,
                inv,
                plan,
            })
        }

        /// The inventory stage: how many workloads it found.
        pub fn inventory(&self) -> usize {
            let trees = yaml::tree::Trees::Built(&self.docs);
            inventory::read(self.text, &self.infos, trees, self.settings)
                .map_or(0, |i| i.workloads.len())
        }

        /// The planning stage: how many workloads it plans for.
        pub fn plan(&self) -> usize {
            plan::plan(&self.inv, self.settings).map_or(0, |p| p.workloads.len())
        }

        /// The patching stage (edits and their verification): how many
        /// documents change.
        pub fn patch(&self) -> usize {
            let trees = yaml::tree::Trees::Built(&self.docs);
            patch::patch(self.text, &self.infos, trees, &self.inv, &self.plan)
                .map_or(0, |p| p.docs.len())
        }
    }
}
