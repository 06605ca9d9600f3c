//! polyrepo-render: a Helm post-renderer that sets Polyaxon's `repos` volume
//! and keeps every pod that shares a single-node volume on one node.
//!
//! Data flow, one module per step:
//! [`yaml`] (bytes ↔ documents, exact: one event driver, two sinks) →
//! [`config`] → `inventory` (what
//! the stream holds) → `plan` (what to change and why, by the rules of
//! `schedule`: `data`: where a volume reaches, `pods`: how many pods share
//! it, `constraints`: where a pod may run, `groups`: which pods must share
//! a node, `runtime`: the pods Polyaxon creates at run time) → `patch`
//! (which edits, through `patch::edit` and `patch::emit`;
//! `patch::deanchor` where an edit meets bytes an alias shares) → `verify`
//! and `schedule::placement` (the output read back: only planned changes,
//! and pods that can be placed) → output and [`report`]. `k8s` names the
//! Kubernetes vocabulary they share. The ways in other than Helm's
//! post-renderer ([`modes`]: Argo CD, the KRM function, kustomize and Flux
//! patches) call this pipeline through its public surface.
//! Each step has its own error type; this file alone turns them into a
//! [`Failure`]. `tests/architecture.rs` keeps the module graph acyclic.

#![warn(missing_docs)]

/// Declares a layer's error type: a message that already names its place
/// (document, template, line, column), implementing `std::error::Error`.
/// The layer's helpers build it from their messages with `?` / `.into()`.
macro_rules! message_error {
    ($(#[$meta:meta])* pub $name:ident) => {
        message_error!(@ $(#[$meta])* (pub) $name);
    };
    ($(#[$meta:meta])* $name:ident) => {
        message_error!(@ $(#[$meta])* (pub(crate)) $name);
    };
    (@ $(#[$meta:meta])* ($($vis:tt)*) $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $($vis)* struct $name(pub(crate) String);

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

pub mod config;
pub mod files;
pub(crate) mod inventory;
pub mod k8s;
pub mod modes;
pub mod pages;
pub(crate) mod parallel;
pub(crate) mod patch;
pub(crate) mod plan;
pub mod report;
pub(crate) mod schedule;
pub(crate) mod shared;
pub(crate) mod verify;
pub mod yaml;

pub use modes::{argocd, krm, kustomize};
pub use patch::{edit, emit};
use schedule::{placement, runtime};

use config::Settings;
use report::Report;

/// Why a run failed, with the exit code it maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The input is invalid or cannot be made safe (exit 1).
    Input(Detail),
    /// Usage or configuration error (exit 2).
    Config(Detail),
    /// polyrepo-render caught itself about to write something wrong (exit 1).
    Internal(Detail),
}

/// What a [`Failure`] says, and what in the stream it is about when that
/// is known (for the JSON report).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detail {
    /// The message: what is wrong, where, and what to do.
    pub message: String,
    /// The objects it is about.
    pub objects: Vec<report::ObjectRef>,
    /// Where in the stream, when it is not about one object.
    pub position: Option<report::Position>,
    /// True when it is a refusal: no placement of the objects' pods can be
    /// safe.
    pub refused: bool,
}

impl From<String> for Detail {
    fn from(message: String) -> Self {
        Detail {
            message,
            ..Detail::default()
        }
    }
}

impl std::ops::Deref for Detail {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// An invalid input, or one that cannot be made safe (exit 1).
    pub fn input(message: impl Into<String>) -> Failure {
        Failure::Input(Detail::from(message.into()))
    }

    /// A usage or configuration error (exit 2).
    pub fn config(message: impl Into<String>) -> Failure {
        Failure::Config(Detail::from(message.into()))
    }

    /// polyrepo-render caught itself about to write something wrong (exit 1).
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::Internal(Detail::from(message.into()))
    }

    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Input(_) | Failure::Internal(_) => 1,
            Failure::Config(_) => 2,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.detail().message
    }

    /// The message and what it is about.
    pub fn detail(&self) -> &Detail {
        match self {
            Failure::Input(d) | Failure::Config(d) | Failure::Internal(d) => d,
        }
    }

    /// Records this failure as the report's error, with what it is about.
    pub fn record(&self, report: &mut Report) {
        report.error(self.message(), self.exit_code());
        let d = self.detail();
        if let Some(r) = report.records.last_mut() {
            r.objects = d.objects.clone();
            r.position = d.position.clone();
            if d.refused {
                r.decision = Some(report::Decision {
                    action: report::Action::Refuse,
                    node: None,
                    with: None,
                    reason: r.message.clone(),
                });
            }
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

    /// Writes the output: the input with the edits applied, streamed; a
    /// spilled stream's pages are given back behind the writing
    /// ([`pages::release`]).
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut behind = pages::Behind::new(self.text.as_bytes());
        let edits = self.changed.iter().flat_map(|(_, e)| e);
        edit::write_all(self.text, edits, out, pages::RELEASE_EVERY, |upto| {
            behind.passed(upto)
        })
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
    /// One pass that builds every document's tree and keeps them all: the
    /// fewest instructions on a small input, but its memory grows with the
    /// stream (a Helm render's trees cost about a hundred more page faults
    /// than the reading on demand, which outweighs the instructions saved).
    OnePass,
    /// A validating event pass (on several threads above 1 MB,
    /// `parallel::MIN_PARALLEL_BYTES`) that builds a tree only for each
    /// document that can matter, reads it there and drops it; the patch
    /// parses again only the documents it changes.
    OnDemand,
    /// What the post-renderer uses: `OnDemand`, at every size.
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
    // `Auto` reads on demand (see [`Strategy::OnePass`] for why).
    let one_pass = strategy == Strategy::OnePass;
    let (built, infos, read) = if one_pass {
        let (docs, infos) = yaml::tree::parse_described(text)?;
        (Some(docs), infos, Vec::new())
    } else {
        // One validating pass that keeps only the documents that can
        // matter, and reads the inventory's while their trees exist.
        let threads = parallel::threads_for(text.len());
        let keep = |t: &str, i: &yaml::DocInfo| inventory::may_matter(t, i);
        let reader = inventory::Reader { settings };
        let (infos, read) = yaml::scan::scan_parallel(text, threads, &keep, &reader)?;
        (None, infos, read)
    };
    let trees = match &built {
        Some(docs) => yaml::tree::Trees::Built(docs),
        None => yaml::tree::Trees::OnDemand,
    };
    let inv = inventory::read(text, &infos, trees, settings, read)?;
    let mut infos = infos;
    inventory::forget_labels(&mut infos);
    let plan = plan::plan(&inv, settings).map_err(|e| plan_failure(e, &inv, &infos))?;
    let patched = patch::patch(text, &infos, trees, &inv, &plan)
        .map_err(|e| patch_failure(e, &inv, &infos))?;
    // Where the patched pods may run: checked before anything is written.
    let reread: std::collections::HashMap<usize, &inventory::PodSummary> =
        patched.pods.iter().map(|(i, p)| (*i, p)).collect();
    placement::check(&inv, settings, &|i| {
        reread.get(&i).copied().unwrap_or(&inv.workloads[i].pod)
    })
    .map_err(bug)?;
    let plans: std::collections::HashMap<usize, &plan::WorkloadPlan> =
        plan.workloads.iter().map(|wp| (wp.workload, wp)).collect();
    let mut changed: Vec<(Changed, Vec<edit::Edit>)> = Vec::with_capacity(patched.docs.len());
    for mut dp in patched.docs {
        let info = &infos[dp.doc];
        let label = info.label();
        let mut objects = Vec::with_capacity(dp.changes.len());
        for c in dp.changes.drain(..) {
            let w = &inv.workloads[c.workload];
            objects.push(w.id());
            let wp = plans.get(&c.workload).copied();
            let decision = decision(wp);
            report.changed(
                &format!("{label}: {}", c.line(w, wp)),
                w.object_ref(&infos),
                c.edits,
                decision,
            );
        }
        if let Some((line, keys)) = dp.config.take() {
            let changes: Vec<&runtime::KeyChange> = plan
                .runtime_keys
                .iter()
                .filter(|c| inv.runtime_keys[c.at].doc == dp.doc)
                .collect();
            let name = changes
                .first()
                .map_or_else(String::new, |c| inv.runtime_keys[c.at].map.clone());
            let id = format!("ConfigMap/{}", yaml::source::shown(&name));
            let why: Vec<&str> = changes.iter().map(|c| c.why.as_str()).collect();
            let (action, node, with) = match changes.first().map(|c| &c.need) {
                Some(runtime::Need::Pin(n)) => (report::Action::Pin, Some(node_text(n)), None),
                Some(runtime::Need::Follow(co)) => {
                    (report::Action::CoLocate, None, Some(co.to_string()))
                }
                None => (report::Action::None, None, None),
            };
            report.changed(
                &format!(
                    "{label}: {id}: {}; why: {}",
                    keys.join("; "),
                    why.join("; ")
                ),
                report::ObjectRef {
                    kind: "ConfigMap".into(),
                    name,
                    namespace: None,
                    document: info.index,
                    template: info.template().map(str::to_string),
                    line,
                },
                keys,
                report::Decision {
                    action,
                    node,
                    with,
                    reason: why.join("; "),
                },
            );
            objects.push(id);
        }
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
        let objects = w
            .workloads
            .iter()
            .map(|&i| inv.workloads[i].object_ref(&infos))
            .collect();
        report.warn(w, &settings.acknowledge, objects);
    }
    drop((reread, plans));
    // What the steps after the pass read again (documents kept, changed
    // and checked) is given back until the output is written.
    pages::release(text.as_bytes());
    let summaries = (inv, plan, infos, patched.pods, patched.warnings);
    parallel::drop_behind(text.len(), summaries);
    Ok(Rendered { text, changed })
}

// Every layer's error becomes the user-facing failure here, and only here.

impl From<yaml::SyntaxError> for Failure {
    fn from(e: yaml::SyntaxError) -> Self {
        Failure::Input(Detail {
            message: e.to_string(),
            position: Some(report::Position {
                document: e.doc,
                template: e.template.clone(),
                line: e.line,
                column: e.col,
            }),
            ..Detail::default()
        })
    }
}

impl From<inventory::InputError> for Failure {
    fn from(e: inventory::InputError) -> Self {
        Failure::Input(Detail {
            message: e.message,
            objects: e.object.map(|o| *o).into_iter().collect(),
            ..Detail::default()
        })
    }
}

/// A node as the JSON report names it: `kubernetes.io/hostname=NAME` or
/// `metadata.name=NAME`.
fn node_text(node: &k8s::NodeId) -> String {
    match node {
        k8s::NodeId::Hostname(h) => format!("{}={h}", k8s::HOSTNAME),
        k8s::NodeId::Name(n) => format!("metadata.name={n}"),
    }
}

/// The scheduling decision behind a workload's change, from its plan.
fn decision(wp: Option<&plan::WorkloadPlan>) -> report::Decision {
    use report::{Action, Decision};
    let why = wp.map_or(String::new(), |wp| {
        wp.why
            .iter()
            .map(|w| w.strip_prefix("why: ").unwrap_or(w))
            .collect::<Vec<_>>()
            .join("; ")
    });
    let reason = |why: String| {
        if why.is_empty() {
            "no scheduling constraint was added".into()
        } else {
            why
        }
    };
    match wp {
        Some(plan::WorkloadPlan {
            pin: Some(node), ..
        }) => Decision {
            action: Action::Pin,
            node: Some(node_text(node)),
            with: None,
            reason: reason(why),
        },
        Some(plan::WorkloadPlan {
            colocate: Some(co), ..
        }) => Decision {
            action: Action::CoLocate,
            node: None,
            with: Some(co.to_string()),
            reason: reason(why),
        },
        _ => Decision {
            action: Action::None,
            node: None,
            with: None,
            reason: reason(why),
        },
    }
}

/// A plan's failure, naming the workloads a refusal is about.
fn plan_failure(
    e: plan::PlanError,
    inv: &inventory::Inventory,
    infos: &[yaml::DocInfo],
) -> Failure {
    match e {
        plan::PlanError::Config(c) => Failure::config(c.0),
        plan::PlanError::Unsafe(message, workloads) => Failure::Input(Detail {
            objects: {
                // The workloads the message names (`Kind/name` as a whole
                // word), else every workload of the group.
                let named = |i: &usize| report::names(&message, &inv.workloads[*i].id()).is_some();
                let some: Vec<usize> = workloads.iter().copied().filter(named).collect();
                let chosen = if some.is_empty() { workloads } else { some };
                chosen
                    .iter()
                    .map(|&i| inv.workloads[i].object_ref(infos))
                    .collect()
            },
            message,
            position: None,
            refused: true,
        }),
    }
}

/// A patch's failure, naming the workload it is about.
fn patch_failure(
    e: patch::PatchError,
    inv: &inventory::Inventory,
    infos: &[yaml::DocInfo],
) -> Failure {
    match e {
        patch::PatchError::Input(s) => Failure::input(s),
        patch::PatchError::Internal(s) => bug(s),
        patch::PatchError::Of(w, e) => {
            let mut f = patch_failure(*e, inv, infos);
            let object = inv.workloads[w].object_ref(infos);
            match &mut f {
                Failure::Input(d) | Failure::Config(d) | Failure::Internal(d) => {
                    d.objects.push(object)
                }
            }
            f
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure::config(e.0)
    }
}

/// A check after planning failed: the plan promised what the output does
/// not hold, which only a bug in polyrepo-render can cause.
fn bug(e: impl std::fmt::Display) -> Failure {
    Failure::internal(format!(
        "{e}. This is a bug in polyrepo-render; nothing was written"
    ))
}

/// `--strict` (or `POLYREPO_STRICT`): the failure a report's warnings make.
pub fn strict_check(report: &Report) -> Result<(), Failure> {
    let warnings = report.warnings();
    if warnings > 0 {
        return Err(Failure::input(format!(
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
            let inv = inventory::read(text, &infos, trees, settings, Vec::new())?;
            let plan =
                plan::plan(&inv, settings).map_err(|e| super::plan_failure(e, &inv, &infos))?;
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
            inventory::read(self.text, &self.infos, trees, self.settings, Vec::new())
                .map_or(0, |i| i.workloads.len())
        }

        /// The planning stage: how many workloads it changes.
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
