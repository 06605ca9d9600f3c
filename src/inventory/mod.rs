//! What the stream holds: workloads, claims, volumes and autoscalers.
//!
//! This is the one place that decides what a Polyaxon workload is, and the
//! one place that reads Kubernetes objects out of the node trees. Objects are
//! read as Kubernetes would read them (YAML 1.1 typing, then k8s-openapi's
//! types), so the plan reasons about the same values the cluster will see.
//!
//! The folder: this file holds what the stream holds (the types the plan
//! reads); `select` decides which documents are read and which workloads
//! are Polyaxon's, and reads them (in the validating pass, or from trees);
//! `object` reads one object as Kubernetes reads it (its pod spec, rollout,
//! selector).
//!
//! It imports the YAML layer, the settings, the report's types, the Kubernetes
//! vocabulary and the thread helper; nothing of planning, patching or the
//! scheduling rules.

use crate::config::{Selector, Settings};
pub(crate) use crate::k8s::WorkloadKind;
use crate::k8s::{COLOCATE_LABEL, COLOCATION_ANNOTATION, CONTAINER_LISTS};
use crate::report::ObjectRef;
use crate::yaml::node::Node;
use crate::yaml::resolve::resolve;
use crate::yaml::spans::{Keys, first_go_yaml_break, line_col};
use crate::yaml::{DocInfo, Document, tree::Trees};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod object;
mod select;

pub(crate) use object::{json, locate, string_map, summarize};
pub(crate) use select::{Reader, core_types, forget_labels, may_matter, read};

/// Name of the chart's volume for the code repositories.
pub(crate) const REPOS_VOLUME: &str = "repos";
/// Name of the env var holding Polyaxon's JSON copy of `persistence.repos`.
pub(crate) const REPOS_ENV: &str = "POLYAXON_PERSISTENCE_REPOS";
/// What the env vars holding Polyaxon's persistence settings start with.
pub(crate) const PERSISTENCE_ENV_PREFIX: &str = "POLYAXON_PERSISTENCE_";
/// What the chart 0.4's ConfigMap keys for run-time pod placement start
/// with (`POLYAXON_NODE_SELECTOR_*`, `POLYAXON_AFFINITY_*`,
/// `POLYAXON_TOLERATIONS_*`).
pub(crate) const RUNTIME_PLACEMENT_PREFIXES: [&str; 3] = [
    "POLYAXON_NODE_SELECTOR_",
    "POLYAXON_AFFINITY_",
    "POLYAXON_TOLERATIONS_",
];
/// The chart's default value of `types.core`, the label value that marks
/// its own objects.
pub(crate) const DEFAULT_CORE_TYPE: &str = "polyaxon-core";
/// The chart's ConfigMap key (and env var) holding the rendered `types.core`.
pub(crate) const CORE_TYPE_KEY: &str = "POLYAXON_TYPE_LABELS_CORE";

/// The labels the chart sets to its core type.
const CORE_LABELS: [&str; 2] = ["type", "app.kubernetes.io/part-of"];

/// A problem reading the stream's objects (exit code 1): a message that
/// names its place, and the workload it is about when there is one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InputError {
    /// What is wrong and where.
    pub(crate) message: String,
    /// The workload it is about.
    pub(crate) object: Option<Box<ObjectRef>>,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

impl From<String> for InputError {
    fn from(message: String) -> Self {
        InputError {
            message,
            object: None,
        }
    }
}

impl From<&str> for InputError {
    fn from(s: &str) -> Self {
        s.to_string().into()
    }
}

impl From<crate::yaml::node::ReadError> for InputError {
    fn from(e: crate::yaml::node::ReadError) -> Self {
        e.to_string().into()
    }
}

/// A pod-running object of the stream, as the plan needs it. Owns no part
/// of the document tree; [`locate`] finds its nodes again for the patcher.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    /// Index of its document in the stream.
    pub(crate) doc: usize,
    /// Its index in the document's `items` when the document is a `List`.
    pub(crate) item: Option<usize>,
    /// Its kind.
    pub(crate) kind: WorkloadKind,
    /// `metadata.name`.
    pub(crate) name: String,
    /// `metadata.namespace`, when written.
    pub(crate) namespace: Option<String>,
    /// Its own `metadata.labels` entries that decide whether it is
    /// Polyaxon's (the chart's core labels), until [`read`] has decided (then
    /// emptied: a large stream holds thousands of workloads).
    pub(crate) labels: Vec<(String, String)>,
    /// Chosen by `workloads.selector` (or the chart's core type label).
    pub(crate) polyaxon: bool,
    /// `spec.replicas`, or a Job's `parallelism` (absent: 1).
    pub(crate) replicas: i32,
    /// How it replaces its pods.
    pub(crate) rollout: Rollout,
    /// `spec.selector`, for the kinds that have one.
    pub(crate) selector: Option<Box<PodSelector>>,
    /// What the plan reads of the pod spec, as Kubernetes reads it (boxed:
    /// a large stream holds thousands of workloads, most with few fields).
    pub(crate) pod: Box<PodSummary>,
    /// Its document's 1-based position in the stream, for messages.
    pub(crate) index: usize,
    /// The template its document came from, for messages (kept once: a
    /// stream's releases repeat their templates).
    pub(crate) template: Option<std::sync::Arc<str>>,
    /// The line its object starts on.
    pub(crate) line: usize,
    /// The column its object starts on.
    pub(crate) col: usize,
    /// A Helm hook (`helm.sh/hook`): Helm deletes and recreates it, so even
    /// a Job's immutable pod template may change between releases.
    pub(crate) hook: bool,
}

/// A workload's `spec.selector`, kept small: its `matchLabels` as pairs in
/// key order, not the `BTreeMap` of k8s-openapi's [`LabelSelector`], whose
/// first node alone takes about 550 bytes (a large stream holds thousands
/// of workloads).
#[derive(Debug, Clone)]
pub(crate) struct PodSelector {
    /// `matchLabels`, in key order.
    pub(crate) labels: Vec<(String, String)>,
    /// `matchExpressions`.
    pub(crate) expressions: Vec<LabelSelectorRequirement>,
    /// Whether `matchLabels` and `matchExpressions` were written (an
    /// empty one is not an absent one to k8s-openapi's types).
    written: (bool, bool),
}

impl PodSelector {
    /// The selector as read through k8s-openapi's type.
    pub(crate) fn of(s: LabelSelector) -> Self {
        PodSelector {
            written: (s.match_labels.is_some(), s.match_expressions.is_some()),
            labels: s.match_labels.unwrap_or_default().into_iter().collect(),
            expressions: s.match_expressions.unwrap_or_default(),
        }
    }

    /// The same selector as k8s-openapi's type.
    pub(crate) fn label_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self
                .written
                .0
                .then(|| self.labels.iter().cloned().collect()),
            match_expressions: self.written.1.then(|| self.expressions.clone()),
        }
    }
}

/// How a workload replaces its pods, as far as it runs extra pods meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rollout {
    /// Old pods go before new ones come (Recreate, StatefulSet, Job, Pod):
    /// no extra pods.
    Replace,
    /// A rolling update that may run `maxSurge` extra pods (a Deployment's
    /// RollingUpdate, the default; a DaemonSet's `maxSurge`).
    Surge(IntOrString),
    /// A CronJob whose `concurrencyPolicy` is Allow (the default): two Jobs
    /// may run at once.
    ConcurrentJobs,
}

/// One volume of a pod spec, as far as it can hold data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VolumeInfo {
    /// `name`.
    pub(crate) name: String,
    /// `hostPath.path` and `hostPath.type`.
    pub(crate) host_path: Option<(String, Option<String>)>,
    /// `persistentVolumeClaim.claimName`.
    pub(crate) claim: Option<String>,
    /// The pod only reads the data: the claim's `readOnly`, or every
    /// container mount of the volume `readOnly` (a ReadOnlyMany claim
    /// reaches every node only while every pod reads it so).
    pub(crate) read_only: bool,
}

impl VolumeInfo {
    /// What a k8s-openapi volume holds.
    pub(crate) fn of(v: &core::Volume) -> Self {
        VolumeInfo {
            name: v.name.clone(),
            host_path: v
                .host_path
                .as_ref()
                .map(|h| (h.path.clone(), h.type_.clone())),
            claim: v
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone()),
            read_only: v
                .persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.read_only == Some(true)),
        }
    }

    /// The volume as a pod spec writes it: a host path (with its type) or
    /// a claim (read-only when it says so); [`VolumeInfo::of`] reads it
    /// back the same.
    pub(crate) fn to_volume(&self) -> core::Volume {
        core::Volume {
            name: self.name.clone(),
            host_path: self
                .host_path
                .as_ref()
                .map(|(path, type_)| core::HostPathVolumeSource {
                    path: path.clone(),
                    type_: type_.clone(),
                }),
            persistent_volume_claim: self.claim.as_ref().map(|c| {
                core::PersistentVolumeClaimVolumeSource {
                    claim_name: c.clone(),
                    read_only: self.read_only.then_some(true),
                }
            }),
            ..Default::default()
        }
    }
}

/// A host port a container asks for (`hostNetwork` makes every container
/// port one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    /// `hostIP` (empty: every address).
    pub(crate) ip: String,
    /// The port.
    pub(crate) port: i32,
    /// `protocol` (default TCP).
    pub(crate) protocol: String,
}

impl HostPort {
    /// Can two pods asking for these ports not share a node (the NodePorts
    /// filter)? An empty or `0.0.0.0` host IP takes the port on every address.
    pub(crate) fn clashes(&self, other: &HostPort) -> bool {
        let any = |ip: &str| ip.is_empty() || ip == "0.0.0.0";
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || any(&self.ip) || any(&other.ip))
    }
}

/// The parts of a pod spec the plan reads. Small on purpose: a 100 MB
/// stream holds thousands of workloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodSummary {
    /// The pod template's labels (a Pod's own labels), kept once for
    /// the workloads that repeat them ([`crate::shared`]).
    pub(crate) labels: std::sync::Arc<[(String, String)]>,
    /// Every volume that can hold data (a host path or a claim).
    pub(crate) volumes: std::sync::Arc<[VolumeInfo]>,
    /// The volume named `repos` (its data source, if it has one).
    pub(crate) repos_volume: Option<Box<VolumeInfo>>,
    /// The first mount of `repos` in any container (init containers last).
    pub(crate) repos_mount: Option<Box<core::VolumeMount>>,
    /// `nodeName`.
    pub(crate) node_name: Option<String>,
    /// `nodeSelector`.
    pub(crate) node_selector: Option<std::collections::BTreeMap<String, String>>,
    /// `affinity` (boxed, like the other rarely-set large parts: a large
    /// stream holds thousands of summaries).
    pub(crate) affinity: Option<std::sync::Arc<core::Affinity>>,
    /// `topologySpreadConstraints`.
    pub(crate) spread: Vec<core::TopologySpreadConstraint>,
    /// Host ports of every container and init container.
    pub(crate) host_ports: Vec<HostPort>,
    /// The required pod-affinity terms this tool added in an earlier run:
    /// the one [`COLOCATION_ANNOTATION`] records, and any that selects
    /// [`COLOCATE_LABEL`].
    pub(crate) earlier: Vec<core::PodAffinityTerm>,
    /// The literal values of the `POLYAXON_PERSISTENCE_*` env vars of its
    /// containers (name, value): what Polyaxon mounts into the pods it
    /// creates at run time.
    pub(crate) persistence: std::sync::Arc<[(String, String)]>,
    /// Whether a container may carry a `POLYAXON_PERSISTENCE_REPOS` env
    /// item (whatever its value): the env copy to keep in step. Always
    /// true for a document read through aliases, whose edits go through
    /// its anchors. False lets the patch skip a document it would only
    /// have searched for one.
    pub(crate) repos_env: bool,
}

/// The nodes of a workload in its document's tree, for editing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located<'s, 'a> {
    /// The object's node.
    pub(crate) node: &'s Node<'a>,
    /// The pod template's metadata node (a Pod's own metadata), if any.
    pub(crate) pod_meta: Option<&'s Node<'a>>,
    /// The pod spec node.
    pub(crate) pod_spec: &'s Node<'a>,
}

impl Workload {
    /// `Kind/name` for messages.
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.kind, crate::yaml::source::shown(&self.name))
    }

    /// `Kind/name`, with `(namespace NS)` when the object names its
    /// namespace: two releases may hold workloads of one name.
    pub(crate) fn id_in_namespace(&self) -> String {
        match &self.namespace {
            Some(ns) => format!(
                "{} (namespace {})",
                self.id(),
                crate::yaml::source::shown(ns)
            ),
            None => self.id(),
        }
    }

    /// `Kind/name (document N (template), line L)`, for error messages.
    pub(crate) fn at(&self) -> String {
        format!(
            "{} ({}{})",
            self.id(),
            crate::yaml::document::label(self.index, self.template.as_deref()),
            object::location_suffix(self.line, self.col)
        )
    }

    /// The workload as the report names it (`infos`: the stream's
    /// documents, which [`Workload::doc`] indexes).
    pub(crate) fn object_ref(&self, infos: &[DocInfo]) -> ObjectRef {
        let info = &infos[self.doc];
        ObjectRef {
            kind: self.kind.to_string(),
            name: self.name.clone(),
            namespace: self.namespace.clone().filter(|n| !n.is_empty()),
            document: info.index,
            template: info.template().map(str::to_string),
            line: self.line,
        }
    }

    /// The pod spec's volume named `repos`.
    pub(crate) fn repos_volume(&self) -> Option<&VolumeInfo> {
        self.pod.repos_volume.as_deref()
    }
}

/// A PersistentVolumeClaim of the stream.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    /// `metadata.name`.
    pub(crate) name: String,
    /// `metadata.namespace`, when written.
    pub(crate) namespace: Option<String>,
    /// `spec.accessModes`.
    pub(crate) access_modes: Vec<String>,
    /// `spec.volumeName`: the PersistentVolume it is bound to.
    pub(crate) volume_name: Option<String>,
}

/// A PersistentVolume of the stream.
#[derive(Debug, Clone)]
pub(crate) struct PersistentVolume {
    /// `metadata.name`.
    pub(crate) name: String,
    /// The host directory holding its data: `hostPath.path`, or a `local`
    /// volume's `path` (a directory of its node, the same data as a
    /// `hostPath` of that directory there).
    pub(crate) host_path: Option<String>,
    /// True when its data lives on one node (a `hostPath` or `local` source).
    pub(crate) single_node: bool,
    /// Its required node affinity.
    pub(crate) node_affinity: Option<core::NodeSelector>,
    /// `spec.claimRef` (namespace, name): the claim it is reserved for.
    pub(crate) claim_ref: Option<(Option<String>, String)>,
}

/// A HorizontalPodAutoscaler (autoscaling/v1 or v2) of the stream.
#[derive(Debug, Clone)]
pub(crate) struct Autoscaler {
    /// `metadata.namespace`, when written.
    pub(crate) namespace: Option<String>,
    /// `spec.scaleTargetRef.kind`.
    pub(crate) target_kind: String,
    /// `spec.scaleTargetRef.name`.
    pub(crate) target_name: String,
    /// `spec.maxReplicas`.
    pub(crate) max_replicas: i32,
}

/// Everything in the stream that matters to the plan.
#[derive(Debug, Default, Clone)]
pub(crate) struct Inventory {
    /// Values of the chart's `POLYAXON_TYPE_LABELS_CORE` found in the stream.
    pub(crate) core_types: Vec<String>,
    /// Every readable workload, in stream order: Polyaxon's
    /// ([`Workload::polyaxon`]) and the others beside them.
    pub(crate) workloads: Vec<Workload>,
    /// PersistentVolumeClaims.
    pub(crate) claims: Vec<Claim>,
    /// PersistentVolumes.
    pub(crate) volumes: Vec<PersistentVolume>,
    /// HorizontalPodAutoscalers.
    pub(crate) autoscalers: Vec<Autoscaler>,
    /// The workload documents left unread (see [`Unread`]).
    pub(crate) unread: Unread,
    /// When the stream holds no Polyaxon workload: its workload documents,
    /// for the message that says so (at most [`SEEN_SHOWN`], and how many).
    pub(crate) seen: (Vec<String>, usize),
    /// The run-time pod placement keys of Polyaxon's ConfigMap (chart 0.4).
    pub(crate) runtime_keys: Vec<ConfigKey>,
}

/// A string entry of a ConfigMap's `data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigKey {
    /// Index of its document in the stream.
    pub(crate) doc: usize,
    /// The ConfigMap's name.
    pub(crate) map: String,
    /// The key.
    pub(crate) key: String,
    /// The value.
    pub(crate) value: String,
    /// Where its value is: `document N (template), line L column C`.
    pub(crate) location: String,
    /// The ConfigMap is an item of a `List` (`patch` does not edit it).
    pub(crate) in_list: bool,
}

/// How many workload documents [`Inventory::seen`] describes.
pub(crate) const SEEN_SHOWN: usize = 12;

/// The other workloads' documents a run did not read: none of them has an
/// anti-affinity or a host port, and no Polyaxon workload has a rule that
/// reaches other pods (anti-affinity, pod affinity, spread). What a
/// co-location selector still needs to know of them, whether their pods may
/// carry some labels, is answered from their text: which label values of
/// the Polyaxon workloads' pods each one holds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Unread {
    /// Each document's position in the stream and template, for messages
    /// (its label, formatted when one is needed).
    docs: Vec<(usize, Option<std::sync::Arc<str>>)>,
    /// The Polyaxon pods' label values looked for.
    values: std::collections::HashMap<String, usize>,
    /// For each value, the documents holding it (sorted).
    holders: Vec<Vec<u32>>,
    /// For each document, the values it holds (sorted).
    held: Vec<Vec<u32>>,
}

impl Unread {
    /// An unread document whose text holds, for every list, one of its
    /// values (so its pods may carry them as labels): its label.
    pub(crate) fn mentions(&self, lists: &[Vec<String>]) -> Option<String> {
        let ids = |l: &Vec<String>| -> Vec<u32> {
            l.iter()
                .filter_map(|v| self.values.get(v))
                .map(|&i| i as u32)
                .collect()
        };
        let first = ids(lists.first()?);
        let rest: Vec<Vec<u32>> = lists[1..].iter().map(ids).collect();
        let mut docs: Vec<u32> = first
            .iter()
            .flat_map(|&v| self.holders[v as usize].iter().copied())
            .collect();
        docs.sort_unstable();
        docs.dedup();
        docs.into_iter()
            .find(|&d| {
                let held = &self.held[d as usize];
                rest.iter()
                    .all(|l| l.iter().any(|v| held.binary_search(v).is_ok()))
            })
            .map(|d| {
                let (index, template) = &self.docs[d as usize];
                crate::yaml::document::label(*index, template.as_deref())
            })
    }
}
