//! The Kubernetes vocabulary every step shares: which kinds run pods and
//! where their pod template is, the node label and field that name a node,
//! and the label and annotation this tool owns.
//!
//! Nothing here decides anything; it only names things, so that inventory,
//! plan, patch, verify and the placement check spell them the same way.

use std::fmt;

/// The node label that names a node (`kubelet --hostname-override` can make
/// it differ from the node's object name).
pub(crate) const HOSTNAME: &str = "kubernetes.io/hostname";
/// The node field a `matchFields` requirement uses for the node's object name
/// (what `spec.nodeName` holds).
pub(crate) const NODE_NAME_FIELD: &str = "metadata.name";
/// The pod label this tool adds to group the pods sharing single-node data.
pub(crate) const COLOCATE_LABEL: &str = "polyrepo-render/colocate";
/// The workload annotation that records the co-location term this tool
/// added to its pod template (the term's JSON), so that a later run knows
/// the term as its own and replaces it.
pub(crate) const COLOCATION_ANNOTATION: &str = "polyrepo-render/colocation";
/// The annotation that says what the tool changed in a workload and why.
pub const CHANGES_ANNOTATION: &str = "polyrepo-render/changes";
/// The pod-template annotation of Polyaxon's API and scheduler holding a
/// digest of the run-time placement this tool writes into chart 0.4's
/// ConfigMap: Polyaxon reads it at start, so a new value restarts them.
pub(crate) const RUNTIME_ANNOTATION: &str = "polyrepo-render/runtime-placement";
/// The container lists of a pod spec.
pub(crate) const CONTAINER_LISTS: [&str; 2] = ["containers", "initContainers"];

/// The kinds of object that run pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// v1 Pod.
    Pod,
}

impl WorkloadKind {
    /// The workload kind of a `kind` value, if it runs pods.
    pub(crate) fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "Deployment" => Self::Deployment,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "ReplicaSet" => Self::ReplicaSet,
            "Job" => Self::Job,
            "CronJob" => Self::CronJob,
            "Pod" => Self::Pod,
            _ => return None,
        })
    }

    /// Mapping keys from the object to its pod template (`None` for a Pod).
    pub(crate) fn template_path(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Pod => None,
            Self::CronJob => Some(&["spec", "jobTemplate", "spec", "template"]),
            _ => Some(&["spec", "template"]),
        }
    }

    /// Mapping keys from the object to the number of pods it runs at once
    /// (`None`: one pod, or one per node).
    pub(crate) fn count_path(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Job => Some(&["spec", "parallelism"]),
            Self::CronJob => Some(&["spec", "jobTemplate", "spec", "parallelism"]),
            Self::Pod | Self::DaemonSet => None,
            _ => Some(&["spec", "replicas"]),
        }
    }

    /// True when the object has a `spec.selector` its pod template must match.
    pub(crate) fn has_selector(self) -> bool {
        matches!(
            self,
            Self::Deployment | Self::StatefulSet | Self::DaemonSet | Self::ReplicaSet
        )
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A node the data lives on, as the constraint that names it: a
/// `kubernetes.io/hostname` label value or a node's object name. The two
/// are never assumed to be the same node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum NodeId {
    /// The node whose `kubernetes.io/hostname` label has this value.
    Hostname(String),
    /// The node whose object name (`spec.nodeName`) is this.
    Name(String),
}

impl NodeId {
    /// The value.
    pub(crate) fn value(&self) -> &str {
        match self {
            NodeId::Hostname(v) | NodeId::Name(v) => v,
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::Hostname(h) => write!(f, "{HOSTNAME}={h}"),
            NodeId::Name(n) => write!(f, "node name {n}"),
        }
    }
}

/// A short, stable, label-safe digest (FNV-1a, the low 40 of 64 bits, as
/// ten hex digits): the same across renders and releases of this tool.
pub fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest is FNV-1a (64 bits, the low 40 shown): the published
    /// test vectors, so a label stays the same across renders and releases
    /// of this tool.
    #[test]
    fn the_digest_is_fnv_1a() {
        assert_eq!(digest(""), "e484222325"); // 0xcbf29ce484222325
        assert_eq!(digest("a"), "4c8601ec8c"); // 0xaf63dc4c8601ec8c
        assert_ne!(digest("group a"), digest("group b"));
    }
}
