//! How many pods a workload may run at once: replicas (or Job parallelism),
//! raised to the `maxReplicas` of any autoscaler targeting it, plus what a
//! rollout runs beside them (a Deployment's surge, a CronJob's overlapping
//! Jobs), and one per node for a DaemonSet that is not held to one node.
//!
//! This is the one place that counts pods.

use crate::inventory::{Inventory, Rollout, Workload};
use crate::k8s::WorkloadKind;
use crate::schedule::constraints::NodeConstraint;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Pods of one workload that may exist at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PodCount {
    /// Pods in the steady state.
    pub(crate) steady: u64,
    /// Extra pods during a rollout.
    pub(crate) surge: u64,
    /// A DaemonSet not held to one node: one pod on every node.
    pub(crate) per_node: bool,
}

impl PodCount {
    /// Steady plus surge pods (a per-node count is at least two).
    pub(crate) fn total(&self) -> u64 {
        if self.per_node {
            return (self.steady + self.surge).max(2);
        }
        self.steady + self.surge
    }
}

/// Counts the pods of a workload whose pod spec is constrained by `nodes`.
/// Objects without a namespace and objects with one are assumed to be in the
/// same namespace unless `release_ns` proves otherwise (count more, never
/// fewer).
pub(crate) fn count(
    inv: &Inventory,
    w: &Workload,
    nodes: &NodeConstraint,
    release_ns: Option<&str>,
) -> PodCount {
    let ns = w.namespace.as_deref().or(release_ns);
    let steady = match w.kind {
        WorkloadKind::DaemonSet | WorkloadKind::Pod => 1,
        _ => {
            let hpa = inv
                .autoscalers
                .iter()
                .filter(|a| {
                    a.target_kind == w.kind.to_string()
                        && a.target_name == w.name
                        && match (a.namespace.as_deref().or(release_ns), ns) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        }
                })
                .map(|a| a.max_replicas)
                .max()
                .unwrap_or(0);
            u64::try_from(w.replicas.max(hpa)).unwrap_or(0)
        }
    };
    let per_node = w.kind == WorkloadKind::DaemonSet && nodes.single_nodes().is_empty();
    let (steady, surge) = match &w.rollout {
        Rollout::Replace => (steady, 0),
        Rollout::ConcurrentJobs => (steady * 2, 0),
        Rollout::Surge(s) => (steady, surge(s, steady)),
    };
    PodCount {
        steady,
        surge,
        per_node,
    }
}

/// Extra pods a rolling update runs: an integer, or a percentage of the
/// replicas rounded up (as Kubernetes rounds maxSurge; it rounds
/// maxUnavailable down). An unreadable value counts as one.
fn surge(s: &IntOrString, replicas: u64) -> u64 {
    match s {
        IntOrString::Int(n) => u64::try_from(*n).unwrap_or(0),
        IntOrString::String(p) => match p.strip_suffix('%').and_then(|n| n.parse::<u64>().ok()) {
            Some(pct) => (replicas * pct).div_ceil(100),
            None => 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_rounds_up() {
        let p = |s: &str| IntOrString::String(s.into());
        assert_eq!(surge(&p("25%"), 1), 1);
        assert_eq!(surge(&p("25%"), 4), 1);
        assert_eq!(surge(&p("25%"), 5), 2);
        assert_eq!(surge(&p("0%"), 5), 0);
        assert_eq!(surge(&IntOrString::Int(3), 1), 3);
        assert_eq!(surge(&IntOrString::Int(0), 1), 0);
    }
}
