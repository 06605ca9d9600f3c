//! polyrepo-render: a Helm post-renderer that sets Polyaxon's `repos` volume
//! and keeps every pod that shares a single-node volume on one node.
//!
//! Data flow, one module per step:
//! [`stream`] (bytes ↔ documents, exact) → [`config`] → [`inventory`] (what
//! the stream holds) → [`plan`] (what to change and why) → [`patch`] (which
//! edits, through [`edit`] and [`emit`]) → [`verify`] → output and [`report`].

#![warn(missing_docs)]

pub mod config;
pub mod edit;
pub mod emit;
pub mod inventory;
pub mod node;
pub mod patch;
pub mod plan;
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

/// Runs the whole pipeline on an input stream. On success, returns the
/// output bytes (identical to the input when nothing changes) and the report.
pub fn run(input: &[u8], settings: &Settings, report: &mut Report) -> Result<Vec<u8>, Failure> {
    let text = stream::decode(input).map_err(|e| Failure::Input(e.to_string()))?;
    let stream = stream::parse(text).map_err(|e| Failure::Input(e.to_string()))?;
    let inv = inventory::read(&stream, settings).map_err(|e| Failure::Input(e.0))?;
    let plan = plan::plan(&inv, settings).map_err(|e| match e {
        plan::PlanError::Config(c) => Failure::Config(c.0),
        plan::PlanError::Unsafe(s) => Failure::Input(s),
    })?;
    let patched = patch::patch(&stream, &inv, &plan).map_err(Failure::Input)?;
    let mut edits = Vec::new();
    for dp in &patched.docs {
        let doc = &stream.docs[dp.doc];
        verify::document(text, doc, &dp.editor.edits).map_err(|e| {
            Failure::Internal(format!(
                "{}: {e}. This is a bug in polyrepo-render; nothing was written",
                doc.label()
            ))
        })?;
        for c in &dp.changes {
            report.change(format!("{}: {c}", doc.label()));
        }
        edits.extend(dp.editor.edits.iter().cloned());
    }
    for w in plan.warnings.iter().chain(&patched.warnings) {
        report.warning(w.clone());
    }
    if edits.is_empty() {
        return Ok(input.to_vec());
    }
    edit::apply(text, &mut edits)
        .map(String::into_bytes)
        .map_err(|e| {
            Failure::Internal(format!(
                "{e}. This is a bug in polyrepo-render; nothing was written"
            ))
        })
}
