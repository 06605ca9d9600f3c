//! polyrepo-render: a Helm post-renderer that sets Polyaxon's `repos` volume
//! and keeps every pod that shares a single-node volume on one node.
//!
//! Data flow, one module per step:
//! [`stream`] (bytes ↔ documents, exact) → [`config`] → [`inventory`] (what
//! the stream holds) → [`plan`] (what to change and why, with `data`: where a
//! volume reaches, `pods`: how many pods share it, `constraints`: where a pod
//! may run, `groups`: which pods must share a node) → [`patch`] (which
//! edits, through [`edit`] and [`emit`]) → [`verify`] and `placement` (the
//! output read back: only planned changes, and pods that can be placed) →
//! output and [`report`]. [`k8s`] names the Kubernetes vocabulary they share.

#![warn(missing_docs)]

pub mod argocd;
pub mod config;
pub(crate) mod constraints;
pub(crate) mod data;
pub mod edit;
pub mod emit;
pub(crate) mod groups;
pub mod inventory;
pub mod k8s;
pub mod node;
pub mod parallel;
pub mod patch;
pub(crate) mod placement;
pub mod plan;
pub(crate) mod pods;
pub mod report;
pub mod stream;
pub mod verify;
pub mod yaml11;

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
    edits: Vec<edit::Edit>,
}

impl Rendered<'_> {
    /// True when the output equals the input.
    pub fn unchanged(&self) -> bool {
        self.edits.is_empty()
    }

    /// Writes the output: the input with the edits applied, streamed.
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        edit::write(self.text, &self.edits, out)
    }

    /// The output as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            self.text.len() + self.edits.iter().map(|e| e.text.len()).sum::<usize>(),
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
    /// `OnePass` below [`parallel::MIN_PARALLEL_BYTES`], `OnDemand` above.
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
    let text = stream::decode(input).map_err(|e| Failure::Input(e.to_string()))?;
    let syntax = |e: stream::SyntaxError| Failure::Input(e.to_string());
    let one_pass = match strategy {
        Strategy::OnePass => true,
        Strategy::OnDemand => false,
        Strategy::Auto => text.len() < parallel::MIN_PARALLEL_BYTES,
    };
    let built = if one_pass {
        Some(stream::parse(text).map_err(syntax)?.docs)
    } else {
        None
    };
    let (infos, trees) = match &built {
        Some(docs) => (stream::describe(text, docs), stream::Trees::Built(docs)),
        None => {
            let threads = parallel::threads_for(text.len());
            (
                stream::scan_parallel(text, threads).map_err(syntax)?,
                stream::Trees::OnDemand,
            )
        }
    };
    let inv = inventory::read(text, &infos, trees, settings).map_err(|e| Failure::Input(e.0))?;
    let plan = plan::plan(&inv, settings).map_err(|e| match e {
        plan::PlanError::Config(c) => Failure::Config(c.0),
        plan::PlanError::Unsafe(s) => Failure::Input(s),
    })?;
    let patched = patch::patch(text, &infos, trees, &inv, &plan).map_err(|e| match e {
        patch::PatchError::Input(s) => Failure::Input(s),
        patch::PatchError::Internal(s) => bug(s),
    })?;
    // Where the patched pods may run: checked before anything is written.
    let reread: std::collections::HashMap<usize, &inventory::PodSummary> =
        patched.pods.iter().map(|(i, p)| (*i, p)).collect();
    placement::check(&inv, settings, &|i| {
        reread.get(&i).copied().unwrap_or(&inv.workloads[i].pod)
    })
    .map_err(bug)?;
    let mut edits = Vec::new();
    for dp in patched.docs {
        for c in &dp.changes {
            report.change(format!("{}: {c}", infos[dp.doc].label()));
        }
        edits.extend(dp.editor.edits);
    }
    for w in plan.warnings.iter().chain(&patched.warnings) {
        report.warning(w.clone());
    }
    edit::sort_checked(&mut edits).map_err(bug)?;
    Ok(Rendered { text, edits })
}

/// A check after planning failed: the plan promised what the output does
/// not hold, which only a bug in polyrepo-render can cause.
fn bug(e: impl std::fmt::Display) -> Failure {
    Failure::Internal(format!(
        "{e}. This is a bug in polyrepo-render; nothing was written"
    ))
}

/// Runs the whole pipeline and returns the output bytes (identical to the
/// input when nothing changes).
pub fn run(input: &[u8], settings: &Settings, report: &mut Report) -> Result<Vec<u8>, Failure> {
    render(input, settings, report).map(|r| r.to_vec())
}
