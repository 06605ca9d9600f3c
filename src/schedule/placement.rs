//! The placement check: the scheduling counterpart of [`crate::verify`].
//!
//! Before anything is written, the patched workloads are read again and the
//! group rules of [`crate::schedule::groups`] are applied to them with the constraints
//! required to be present: every group pinned to its known node, or
//! co-located through a required pod affinity that every pod of the group
//! matches, with nothing among the group's own constraints (anti-affinity,
//! host ports, topology spread, node constraints, single-pod claims) that
//! keeps one of its pods from joining the others. Judged on the stream
//! alone: taints, capacity and pods outside the stream are out of scope.

use crate::config::Settings;
use crate::inventory::{Inventory, PodSummary};
use crate::schedule::groups;

/// Checks the stream as patched: `pod_of` gives each workload's pod spec
/// read back from the output. The error names the pods and the constraint.
pub(crate) fn check<'a>(
    inv: &'a Inventory,
    s: &'a Settings,
    pod_of: &dyn Fn(usize) -> &'a PodSummary,
) -> Result<(), groups::Unsafe> {
    let st = groups::members(inv, s, pod_of, &|_| None);
    for g in groups::group(&st.members) {
        groups::assess(&st, &g, s, true).map_err(|e| {
            groups::Unsafe(format!("the output would not be safe to schedule: {e}"))
        })?;
    }
    Ok(())
}
