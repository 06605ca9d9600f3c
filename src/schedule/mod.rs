//! The scheduling rules: where data lives, how many pods share it, where a
//! pod may run, which pods must share a node, and the check of the output.
//!
//! One file or folder per decision: `data` (where a volume reaches:
//! single-node and single-pod data, host-path nesting, `ignore:`), `pods`
//! (how many pods a workload runs at once, rollouts included),
//! `constraints/` (where a pod may run, as the kube-scheduler's filters
//! read it), `groups/` (which pods must share a node, and pin / co-locate /
//! refuse), `runtime/` (the pods Polyaxon creates at run time) and
//! `placement` (the group rules again, on the pod specs read back from the
//! output).
//!
//! These rules read the inventory's summaries and the settings, and word
//! their findings with the report's types and the YAML layer's `shown`;
//! they import nothing of patch, verify, plan or the ways in
//! (`tests/architecture.rs`).

pub(crate) mod constraints;
pub(crate) mod data;
pub(crate) mod groups;
pub(crate) mod placement;
pub(crate) mod pods;
pub(crate) mod runtime;
