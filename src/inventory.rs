//! What the stream holds: workloads, claims, volumes and autoscalers.
//!
//! This is the one place that decides what a Polyaxon workload is, and the
//! one place that reads Kubernetes objects out of the node trees. Objects are
//! read as Kubernetes would read them (YAML 1.1 typing, then k8s-openapi's
//! types), so the plan reasons about the same values the cluster will see.

use crate::config::{Selector, Settings};
pub(crate) use crate::k8s::WorkloadKind;
use crate::k8s::{COLOCATE_LABEL, COLOCATION_ANNOTATION, CONTAINER_LISTS};
use crate::report::ObjectRef;
use crate::yaml::node::Node;
use crate::yaml::resolve::resolve;
use crate::yaml::spans::{Keys, first_go_yaml_break, line_col};
use crate::yaml::{DocInfo, Document, tree::Trees};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
    pub(crate) selector: Option<LabelSelector>,
    /// What the plan reads of the pod spec, as Kubernetes reads it (boxed:
    /// a large stream holds thousands of workloads, most with few fields).
    pub(crate) pod: Box<PodSummary>,
    /// Where it is: `document N (template), line L`.
    pub(crate) location: String,
    /// The line its object starts on.
    pub(crate) line: usize,
    /// The column its object starts on.
    pub(crate) col: usize,
    /// A Helm hook (`helm.sh/hook`): Helm deletes and recreates it, so even
    /// a Job's immutable pod template may change between releases.
    pub(crate) hook: bool,
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
    /// The pod template's labels (a Pod's own labels).
    pub(crate) labels: Vec<(String, String)>,
    /// Every volume that can hold data (a host path or a claim).
    pub(crate) volumes: Vec<VolumeInfo>,
    /// The volume named `repos` (its data source, if it has one).
    pub(crate) repos_volume: Option<VolumeInfo>,
    /// The first mount of `repos` in any container (init containers last).
    pub(crate) repos_mount: Option<Box<core::VolumeMount>>,
    /// `nodeName`.
    pub(crate) node_name: Option<String>,
    /// `nodeSelector`.
    pub(crate) node_selector: Option<std::collections::BTreeMap<String, String>>,
    /// `affinity` (boxed, like the other rarely-set large parts: a large
    /// stream holds thousands of summaries).
    pub(crate) affinity: Option<Box<core::Affinity>>,
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
    pub(crate) persistence: Vec<(String, String)>,
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
        format!("{} ({})", self.id(), self.location)
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
        self.pod.repos_volume.as_ref()
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
    /// Each document's label, for messages.
    docs: Vec<String>,
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
    pub(crate) fn mentions(&self, lists: &[Vec<String>]) -> Option<&str> {
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
            .map(|d| self.docs[d as usize].as_str())
    }
}

/// The core type labels that mark Polyaxon's objects: the values file's
/// `types.core`, else what the stream rendered (`POLYAXON_TYPE_LABELS_CORE`),
/// else the chart's default.
pub(crate) fn core_types(inv: &Inventory, settings: &Settings) -> Vec<String> {
    if let Some(t) = &settings.core_type {
        return vec![t.clone()];
    }
    if inv.core_types.is_empty() {
        return vec![DEFAULT_CORE_TYPE.to_string()];
    }
    inv.core_types.clone()
}

/// Is this object a Polyaxon workload? The chart (0.4–0.6) labels its own
/// objects `type: <types.core>` and `app.kubernetes.io/part-of: <types.core>`;
/// a configured selector replaces that rule.
pub(crate) fn is_polyaxon(
    labels: &[(String, String)],
    selector: Option<&Selector>,
    core_types: &[String],
) -> bool {
    match selector {
        Some(s) => s.matches(labels),
        None => labels
            .iter()
            .any(|(k, v)| CORE_LABELS.contains(&k.as_str()) && core_types.contains(v)),
    }
}

/// The labels the chart sets to its core type.
const CORE_LABELS: [&str; 2] = ["type", "app.kubernetes.io/part-of"];

/// Kinds whose documents can matter to the plan, besides workloads.
const STORAGE_KINDS: [&str; 3] = [
    "PersistentVolumeClaim",
    "PersistentVolume",
    "HorizontalPodAutoscaler",
];

/// Does a document need its tree built first? Workloads that may be
/// Polyaxon's, claims, volumes, autoscalers, `List`s and the ConfigMap that
/// names the core type do; the other workloads are read next, and only
/// when the stream holds a Polyaxon workload ([`is_neighbour`]);
/// everything else is only validated.
fn is_candidate(text: &str, info: &DocInfo, settings: &Settings) -> bool {
    if info.duplicate_keys {
        return true; // what the document is for can only be read from its tree
    }
    let Some(kind) = info.kind.as_deref().filter(|_| info.api_version) else {
        return false;
    };
    if WorkloadKind::parse(kind).is_some() {
        // Labels behind aliases are invisible to the scan: read those too.
        // The core type is only known once the stream is read: any value of
        // the chart's labels may be it.
        return info.uses_aliases
            || match &settings.selector {
                Some(s) => s.matches(&info.labels),
                None => info
                    .labels
                    .iter()
                    .any(|(k, _)| CORE_LABELS.contains(&k.as_str())),
            };
    }
    if kind == "ConfigMap" {
        return text[info.region_start..info.region_end].contains(CORE_TYPE_KEY);
    }
    kind.ends_with("List") || STORAGE_KINDS.contains(&kind)
}

/// True when the document may be read at all, whatever the settings: a
/// candidate under some settings ([`is_candidate`]) or a neighbour
/// ([`is_neighbour`]). The validating pass keeps nothing of the others.
/// `text` holds the document's region.
pub(crate) fn may_matter(text: &str, info: &DocInfo) -> bool {
    if info.duplicate_keys {
        return true;
    }
    let Some(kind) = info.kind.as_deref().filter(|_| info.api_version) else {
        return false;
    };
    may_matter_kind(kind)
        && (kind != "ConfigMap" || text[info.region_start..info.region_end].contains(CORE_TYPE_KEY))
}

/// The kinds [`may_matter`] may keep: workloads, ConfigMaps, `List`s,
/// claims, volumes and autoscalers.
fn may_matter_kind(kind: &str) -> bool {
    WorkloadKind::parse(kind).is_some()
        || kind == "ConfigMap"
        || kind.ends_with("List")
        || STORAGE_KINDS.contains(&kind)
}

/// A workload document [`is_candidate`] left out: its pods are not
/// Polyaxon's, but may share a node with a group (their labels,
/// anti-affinity, spread constraints and host ports count).
fn is_neighbour(info: &DocInfo) -> bool {
    info.api_version && info.kind.as_deref().and_then(WorkloadKind::parse).is_some()
}

/// Reads the objects of the documents that can matter, one tree at a time,
/// then decides which workloads are Polyaxon's.
pub(crate) fn read(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    settings: &Settings,
    read_before: Vec<Option<Box<Part>>>,
) -> Result<Inventory, InputError> {
    let mut candidate = vec![false; infos.len()];
    for (i, info) in infos.iter().enumerate() {
        candidate[i] = is_candidate(text, info, settings);
    }
    let candidates: Vec<usize> = (0..infos.len()).filter(|&i| candidate[i]).collect();
    let mut before = read_before;
    before.resize_with(infos.len(), || None);
    let threads = crate::parallel::threads_for(text.len());
    let read_all = |docs: &[usize], before: &mut [Option<Box<Part>>]| {
        read_in_order(text, infos, trees, docs, settings, threads, before)
    };
    let mut parts = vec![read_all(&candidates, &mut before)?];
    let mut inv = Inventory::default();
    inv.workloads
        .reserve_exact(parts.iter().map(|(p, _)| p.workloads.len()).sum());
    let mut problems = Vec::new();
    for (part, p) in &mut parts {
        let base = inv.workloads.len();
        problems.extend(p.drain(..).map(|(i, e)| (i + base, e)));
        inv.core_types.append(&mut part.core_types);
        inv.workloads.append(&mut part.workloads);
        inv.claims.append(&mut part.claims);
        inv.volumes.append(&mut part.volumes);
        inv.autoscalers.append(&mut part.autoscalers);
        inv.runtime_keys.append(&mut part.runtime_keys);
    }
    drop(parts);
    inv.core_types.sort();
    inv.core_types.dedup();
    let core = core_types(&inv, settings);
    let mut problems = problems.into_iter().peekable();
    let mut i = 0;
    let mut first_error = None;
    inv.workloads.retain_mut(|w| {
        if settings.selector.is_none() {
            w.polyaxon = is_polyaxon(&w.labels, None, &core);
        }
        w.labels = Vec::new(); // decided
        let problem = problems.next_if(|(at, _)| *at == i).map(|(_, p)| p);
        i += 1;
        match problem {
            Some(mut p) if w.polyaxon => {
                p.object = Some(Box::new(w.object_ref(infos)));
                first_error.get_or_insert(p);
                false
            }
            // Not ours and unreadable: never changed, never counted
            // (Kubernetes will say what is wrong with it).
            Some(_) => false,
            // Not ours: never changed; its pods count beside the groups.
            None => true,
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    // The other workloads, once there is a Polyaxon workload to keep them
    // beside: never changed, their unreadable ones never counted. Read
    // whole when a Polyaxon workload has a rule reaching other pods, or
    // when they have one (anti-affinity, a host port); the rest are only
    // searched for the Polyaxon pods' label values.
    if inv.workloads.iter().any(|w| w.polyaxon) {
        let reaching = inv.workloads.iter().filter(|w| w.polyaxon).any(|w| {
            let a = w.pod.affinity.as_deref();
            !w.pod.spread.is_empty()
                || a.and_then(|a| a.pod_anti_affinity.as_ref()).is_some()
                || a.and_then(|a| a.pod_affinity.as_ref())
                    .and_then(|p| {
                        p.required_during_scheduling_ignored_during_execution
                            .as_ref()
                    })
                    .is_some_and(|r| !r.is_empty())
        });
        let guarded = |i: usize| guarded(text, &infos[i]);
        // The same whichever way the stream is read (with every tree built
        // or not): both ways must decide alike.
        let (rest, unread): (Vec<usize>, Vec<usize>) = (0..infos.len())
            .filter(|&i| !candidate[i] && is_neighbour(&infos[i]))
            .partition(|&i| reaching || guarded(i));
        inv.unread = unread_index(text, infos, &unread, &inv.workloads);
        {
            let (mut part, problems) = read_all(&rest, &mut before)?;
            let mut i = 0;
            part.workloads.retain_mut(|w| {
                w.polyaxon = false;
                w.labels = Vec::new();
                let bad = problems.iter().any(|(at, _)| *at == i);
                i += 1;
                !bad
            });
            inv.workloads.append(&mut part.workloads);
        }
    } else {
        // Nothing of Polyaxon's: what there is, for the message.
        let docs = infos.iter().filter(|i| is_neighbour(i));
        inv.seen.1 = docs.clone().count();
        inv.seen.0 = docs
            .take(SEEN_SHOWN)
            .map(|i| {
                let labels: Vec<String> =
                    i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{} in {} labelled {{{}}}",
                    i.kind.as_deref().unwrap_or("?"),
                    i.label(),
                    labels.join(", ")
                )
            })
            .collect();
    }
    inv.workloads.shrink_to_fit();
    Ok(inv)
}

/// Drops what only [`read`] reads of the documents' summaries (their
/// labels), once it has read them: a large stream holds thousands.
pub(crate) fn forget_labels(infos: &mut [DocInfo]) {
    for i in infos {
        i.labels = Vec::new();
    }
}

/// Indexes the unread documents by the Polyaxon pods' label values their
/// text holds (one pass over their bytes).
fn unread_index(text: &str, infos: &[DocInfo], docs: &[usize], workloads: &[Workload]) -> Unread {
    let mut out = Unread::default();
    if docs.is_empty() {
        return out;
    }
    let mut values: Vec<String> = Vec::new();
    for w in workloads.iter().filter(|w| w.polyaxon) {
        for (_, v) in &w.pod.labels {
            if !v.is_empty() && !out.values.contains_key(v) {
                out.values.insert(v.clone(), values.len());
                values.push(v.clone());
            }
        }
    }
    out.holders = vec![Vec::new(); values.len()];
    let Ok(ac) = aho_corasick::AhoCorasick::new(&values) else {
        // Too many patterns to build an automaton: every unread document
        // is taken to hold every value (the safe side).
        out.docs = docs.iter().map(|&d| infos[d].label()).collect();
        out.held = docs
            .iter()
            .map(|_| (0..values.len() as u32).collect())
            .collect();
        for (d, _) in docs.iter().enumerate() {
            for h in &mut out.holders {
                h.push(d as u32);
            }
        }
        return out;
    };
    for &i in docs {
        let t = &text[infos[i].region_start..infos[i].region_end];
        let mut held: Vec<u32> = ac
            .find_overlapping_iter(t)
            .map(|m| m.pattern().as_u32())
            .collect();
        held.sort_unstable();
        held.dedup();
        if held.is_empty() {
            continue;
        }
        let at = out.docs.len() as u32;
        for &v in &held {
            out.holders[v as usize].push(at);
        }
        out.docs.push(infos[i].label());
        out.held.push(held);
    }
    out
}

/// What is read of some documents: the objects, and the problems found in
/// workloads (index into the part's workloads, error).
pub(crate) type Part = (Inventory, Vec<(usize, InputError)>);

/// Whether a workload document that is not a candidate may keep other
/// pods off a node by itself (anti-affinity, a host port): read whole,
/// where the others are only searched for label values.
fn guarded(text: &str, info: &DocInfo) -> bool {
    let t = &text.as_bytes()[info.region_start..info.region_end];
    ["podAntiAffinity", "hostPort", "hostNetwork"]
        .iter()
        .any(|k| memchr::memmem::find(t, k.as_bytes()).is_some())
}

/// Reads `docs` (indices into `infos`) into one part, in order: a
/// document the validating pass read already (`before`) is taken from
/// there, the others are read from their trees on several threads.
fn read_in_order(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    docs: &[usize],
    settings: &Settings,
    threads: usize,
    before: &mut [Option<Box<Part>>],
) -> Result<Part, InputError> {
    let missing: Vec<usize> = docs
        .iter()
        .copied()
        .filter(|&i| before[i].is_none())
        .collect();
    let selector = settings.selector.as_ref();
    let parts = crate::parallel::map_chunks(&missing, threads, |chunk| {
        chunk
            .iter()
            .map(|&di| read_docs(text, infos, trees, &[di], selector))
            .collect::<Result<Vec<Part>, _>>()
    });
    let mut read = Vec::with_capacity(missing.len());
    for p in parts {
        read.extend(p?);
    }
    let mut read = read.into_iter();
    let mut out: Part = Default::default();
    for &i in docs {
        let (mut part, problems) = match before[i].take() {
            Some(p) => *p,
            None => read.next().expect("one part per document read"),
        };
        let base = out.0.workloads.len();
        out.1
            .extend(problems.into_iter().map(|(i, e)| (i + base, e)));
        let inv = &mut out.0;
        inv.core_types.append(&mut part.core_types);
        inv.workloads.append(&mut part.workloads);
        inv.claims.append(&mut part.claims);
        inv.volumes.append(&mut part.volumes);
        inv.autoscalers.append(&mut part.autoscalers);
        inv.runtime_keys.append(&mut part.runtime_keys);
    }
    Ok(out)
}

/// The inventory's reading of documents while the validating pass holds
/// their trees ([`crate::yaml::scan::Visit`]): the documents [`read`]
/// reads first, and the guarded neighbours, each into a [`Part`]. A
/// document with a problem, or with run-time placement keys, is left to be
/// read again from the whole stream, whose numbering its messages need.
pub(crate) struct Reader<'s> {
    /// The settings the candidates are chosen by.
    pub(crate) settings: &'s Settings,
}

impl crate::yaml::scan::Visit for Reader<'_> {
    /// Boxed: most documents kept are not read here, and take a pointer's
    /// room only.
    type Out = Box<Part>;

    fn wants(&self, kind: &str, labels: Option<&[(String, String)]>) -> bool {
        // A workload is read here when its labels make it a candidate
        // (see `is_candidate`); a guarded neighbour otherwise, later.
        match (WorkloadKind::parse(kind), labels) {
            (Some(_), Some(labels)) => match &self.settings.selector {
                Some(s) => s.matches(labels),
                None => labels
                    .iter()
                    .any(|(k, _)| CORE_LABELS.contains(&k.as_str())),
            },
            _ => may_matter_kind(kind),
        }
    }

    fn visit(&self, text: &str, doc: &Document<'_>, info: &DocInfo) -> Option<Box<Part>> {
        let wanted =
            is_candidate(text, info, self.settings) || (is_neighbour(info) && guarded(text, info));
        if !wanted {
            return None;
        }
        let mut part: Part = Default::default();
        let selector = self.settings.selector.as_ref();
        read_tree(text, info, 0, doc, selector, &mut part.0, &mut part.1);
        (part.1.is_empty() && part.0.runtime_keys.is_empty()).then(|| Box::new(part))
    }

    fn place(&self, part: &mut Box<Part>, info: &DocInfo, kept: usize, lines: usize) {
        for w in &mut part.0.workloads {
            // `document N (template), line L column C`: N and L move.
            let suffix = location_suffix(w.line, w.col);
            let label = w.location.strip_suffix(&suffix).unwrap_or(&w.location);
            let template = label
                .trim_start_matches("document ")
                .trim_start_matches(|c: char| c.is_ascii_digit());
            w.doc = kept;
            w.line += lines;
            let suffix = location_suffix(w.line, w.col);
            w.location = format!("document {}{template}{suffix}", info.index);
        }
    }
}

/// The end of a location: `, line L column C`.
fn location_suffix(line: usize, col: usize) -> String {
    format!(", line {line} column {col}")
}

/// Reads the given documents (indices into `infos`), in order, with the
/// problems found in workloads (index into the part's workloads, error).
fn read_docs(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    docs: &[usize],
    selector: Option<&Selector>,
) -> Result<(Inventory, Vec<(usize, InputError)>), InputError> {
    let mut inv = Inventory::default();
    let mut problems = Vec::new();
    for &di in docs {
        let info = &infos[di];
        let doc = trees
            .get(text, info)
            .map_err(|e| InputError::from(e.to_string()))?;
        read_tree(text, info, di, &doc, selector, &mut inv, &mut problems);
    }
    Ok((inv, problems))
}

/// Reads the objects of one document's tree (document `di` of `infos`)
/// into `inv`, and the problems of its workloads into `problems`.
fn read_tree(
    text: &str,
    info: &DocInfo,
    di: usize,
    doc: &Document<'_>,
    selector: Option<&Selector>,
    inv: &mut Inventory,
    problems: &mut Vec<(usize, InputError)>,
) {
    {
        // Read through anchors, aliases and merge keys, as Kubernetes does;
        // a document that cannot be read so stays as it is (its workloads
        // are refused below, everything else passes through).
        let aliased = doc.uses_aliases;
        let doc = match doc.uses_aliases.then(|| resolve(doc)) {
            Some(Ok(read)) => std::borrow::Cow::Owned(read),
            _ => std::borrow::Cow::Borrowed(doc),
        };
        let root = &doc.root;
        let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
        let first_workload = inv.workloads.len();
        if kind.ends_with("List") {
            for (i, item) in root
                .get("items")
                .and_then(Node::items)
                .into_iter()
                .flatten()
                .enumerate()
            {
                read_object(inv, problems, &doc, di, Some(i), item, selector);
            }
        } else {
            read_object(inv, problems, &doc, di, None, root, selector);
        }
        if aliased {
            for w in &mut inv.workloads[first_workload..] {
                w.pod.repos_env = true;
            }
        }
        // go-yaml's extra line breaks inside quoted strings (the driver
        // refuses them elsewhere): Kubernetes folds them into the value,
        // this tool does not, so a workload holding one cannot be proven.
        if inv.workloads.len() > first_workload
            && let Some(at) = first_go_yaml_break(&text[info.region_start..info.region_end])
        {
            let pos = info.region_start + at;
            let (line, col) = line_col(text, pos);
            let c = text[pos..].chars().next().map_or(0, |c| c as u32);
            for w in first_workload..inv.workloads.len() {
                if problems.iter().any(|(i, _)| *i == w) {
                    continue; // one problem a workload
                }
                problems.push((
                    w,
                    InputError::from(format!(
                        "{}, line {line} column {col}: U+{c:04X} inside a quoted string of a \
                         workload: Kubernetes (go-yaml) reads it as a line break and folds it \
                         into the value, polyrepo-render reads it as a character, so the change \
                         cannot be proven; write it as an escape in a double-quoted string \
                         (\\L, \\P, \\N) or remove it",
                        doc.label()
                    )),
                ));
            }
            problems.sort_by_key(|(i, _)| *i);
        }
    }
}

/// Finds a workload's nodes in its document's tree.
pub(crate) fn locate<'s, 'a>(doc: &'s Document<'a>, w: &Workload) -> Option<Located<'s, 'a>> {
    let node = match w.item {
        None => &doc.root,
        Some(i) => doc.root.get("items")?.items()?.get(i)?,
    };
    let (pod_meta, pod_spec) = pod_parts(node, w.kind);
    Some(Located {
        node,
        pod_meta,
        pod_spec: pod_spec?,
    })
}

/// The pod template's metadata and the pod spec of a workload object.
fn pod_parts<'s, 'a>(
    obj: &'s Node<'a>,
    kind: WorkloadKind,
) -> (Option<&'s Node<'a>>, Option<&'s Node<'a>>) {
    match kind.template_path() {
        None => (obj.get("metadata"), obj.get("spec")),
        Some(p) => {
            let t = obj.path(p);
            (
                t.and_then(|t| t.get("metadata")),
                t.and_then(|t| t.get("spec")),
            )
        }
    }
}

/// Reads what the plan needs of a pod spec node, each part as Kubernetes
/// reads it.
pub(crate) fn summarize(
    obj: &Node<'_>,
    meta: Option<&Node<'_>>,
    spec: &Node<'_>,
    doc: &Document<'_>,
) -> Result<PodSummary, InputError> {
    fn part<T>(key: &str, r: Result<T, InputError>) -> Result<T, InputError> {
        r.map_err(|e| format!("{key}: {e}").into())
    }
    let opt = |key: &str| spec.get(key).filter(|n| !n.is_null());
    let mut out = PodSummary {
        labels: string_map(meta.and_then(|m| m.get("labels"))),
        ..PodSummary::default()
    };
    if let Some(vols) = opt("volumes") {
        let vols: Vec<core::Volume> = part("volumes", typed(vols, doc))?;
        for (i, v) in vols.iter().enumerate() {
            if vols[..i].iter().any(|o| o.name == v.name) {
                return Err(format!(
                    "two volumes are named `{}`; Kubernetes refuses such a pod. \
                     Give each volume its own name (a values key such as persistence.outputs may reuse one)",
                    v.name
                )
                .into());
            }
            if v.host_path.is_some() || v.persistent_volume_claim.is_some() {
                out.volumes.push(VolumeInfo::of(v));
            }
            if v.name == REPOS_VOLUME {
                out.repos_volume = Some(VolumeInfo::of(v));
            }
        }
    }
    // A claim the pod mounts read-only in every container reads its data
    // only (its `readOnly` already says so when set).
    if out
        .volumes
        .iter()
        .any(|v| v.claim.is_some() && !v.read_only)
    {
        let mut mounts: Vec<core::VolumeMount> = Vec::new();
        for list in CONTAINER_LISTS {
            for c in spec.get(list).and_then(Node::items).into_iter().flatten() {
                if let Some(m) = c.get("volumeMounts").filter(|n| !n.is_null()) {
                    mounts.extend(part(
                        "volumeMounts",
                        typed::<Vec<core::VolumeMount>>(m, doc),
                    )?);
                }
            }
        }
        for v in out.volumes.iter_mut().filter(|v| v.claim.is_some()) {
            let mut of_it = mounts.iter().filter(|m| m.name == v.name).peekable();
            if of_it.peek().is_some() && of_it.all(|m| m.read_only == Some(true)) {
                v.read_only = true;
            }
        }
    }
    let host_network = match opt("hostNetwork") {
        Some(n) => part("hostNetwork", typed::<bool>(n, doc))?,
        None => false,
    };
    let named = |n: &&Node<'_>| n.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME);
    for list in CONTAINER_LISTS {
        for c in spec.get(list).and_then(Node::items).into_iter().flatten() {
            let m = c
                .get("volumeMounts")
                .and_then(Node::items)
                .and_then(|m| m.iter().find(named));
            if let (Some(m), None) = (m, &out.repos_mount) {
                out.repos_mount = Some(Box::new(part(
                    "volumeMounts",
                    typed::<core::VolumeMount>(m, doc),
                )?));
            }
            for e in c.get("env").and_then(Node::items).into_iter().flatten() {
                out.repos_env |= e.get("name").and_then(Node::as_str) == Some(REPOS_ENV);
                if let (Some(name), Some(value)) = (
                    e.get("name").and_then(Node::as_str),
                    e.get("value").and_then(Node::as_str),
                ) && name.starts_with(PERSISTENCE_ENV_PREFIX)
                {
                    // A name given twice: Kubernetes keeps the last.
                    out.persistence.retain(|(n, _)| n != name);
                    out.persistence.push((name.to_string(), value.to_string()));
                }
            }
            let Some(ports) = c.get("ports").filter(|n| !n.is_null()) else {
                continue;
            };
            for p in part("ports", typed::<Vec<core::ContainerPort>>(ports, doc))? {
                let port = match p.host_port {
                    Some(h) if h != 0 => h,
                    _ if host_network => p.container_port,
                    _ => continue,
                };
                out.host_ports.push(HostPort {
                    ip: p.host_ip.unwrap_or_default(),
                    port,
                    protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
                });
            }
        }
    }
    out.node_name = opt("nodeName")
        .and_then(Node::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    out.node_selector = opt("nodeSelector")
        .map(|n| part("nodeSelector", typed(n, doc)))
        .transpose()?;
    out.affinity = opt("affinity")
        .map(|n| part("affinity", typed(n, doc)))
        .transpose()?;
    out.spread = opt("topologySpreadConstraints")
        .map(|n| part("topologySpreadConstraints", typed(n, doc)))
        .transpose()?
        .unwrap_or_default();
    let recorded: Option<core::PodAffinityTerm> =
        string_map(obj.path(&["metadata", "annotations"]))
            .into_iter()
            .find(|(k, _)| k == COLOCATION_ANNOTATION)
            .and_then(|(_, v)| serde_json::from_str(&v).ok());
    out.earlier = out
        .affinity
        .as_ref()
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|t| {
            Some(*t) == recorded.as_ref()
                || t.label_selector
                    .as_ref()
                    .and_then(|l| l.match_labels.as_ref())
                    .is_some_and(|m| m.contains_key(COLOCATE_LABEL))
        })
        .cloned()
        .collect();
    Ok(out)
}

/// How a workload object replaces its pods.
fn rollout(obj: &Node<'_>, kind: WorkloadKind, doc: &Document<'_>) -> Result<Rollout, InputError> {
    let spec = |key: &str| {
        obj.path(&["spec", key])
            .filter(|n| !n.is_null())
            .map(|n| json(n, doc))
            .transpose()
    };
    Ok(match kind {
        WorkloadKind::Deployment => match spec("strategy")? {
            Some(s) if s["type"] == "Recreate" => Rollout::Replace,
            s => Rollout::Surge(surge(s.as_ref(), IntOrString::String("25%".into()))?),
        },
        WorkloadKind::DaemonSet => match spec("updateStrategy")? {
            Some(s) if s["type"] == "OnDelete" => Rollout::Replace,
            s => Rollout::Surge(surge(s.as_ref(), IntOrString::Int(0))?),
        },
        WorkloadKind::CronJob => match spec("concurrencyPolicy")? {
            None => Rollout::ConcurrentJobs,
            Some(Value::String(p)) if p == "Allow" => Rollout::ConcurrentJobs,
            Some(_) => Rollout::Replace,
        },
        _ => Rollout::Replace,
    })
}

/// `rollingUpdate.maxSurge` of a strategy, or the default.
fn surge(strategy: Option<&Value>, default: IntOrString) -> Result<IntOrString, InputError> {
    match strategy.and_then(|s| s.pointer("/rollingUpdate/maxSurge")) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("rollingUpdate.maxSurge: {e}").into()),
    }
}

/// Reads one object into the inventory. A workload that Kubernetes would
/// refuse is still recorded, with its problem: it is only an error if the
/// workload turns out to be Polyaxon's.
fn read_object(
    inv: &mut Inventory,
    problems: &mut Vec<(usize, InputError)>,
    doc: &Document<'_>,
    di: usize,
    item: Option<usize>,
    obj: &Node<'_>,
    selector: Option<&Selector>,
) {
    let Some(kind) = obj.get("kind").and_then(Node::as_str) else {
        return;
    };
    if obj.get("apiVersion").is_none() || obj.entries().is_none() {
        return;
    }
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .map(str::to_string);
    if let Some(wk) = WorkloadKind::parse(kind) {
        let here = |msg: String| {
            InputError::from(format!(
                "{}, line {} column {}, {kind}/{name}: {msg}",
                doc.label(),
                obj.line,
                obj.col
            ))
        };
        let mut w = Workload {
            doc: di,
            item,
            kind: wk,
            name: name.clone(),
            namespace,
            labels: string_map(meta.and_then(|m| m.get("labels"))),
            polyaxon: false,
            replicas: 1,
            rollout: Rollout::Replace,
            selector: None,
            pod: Box::default(),
            location: format!("{}{}", doc.label(), location_suffix(obj.line, obj.col)),
            line: obj.line,
            col: obj.col,
            hook: meta
                .and_then(|m| m.path(&["annotations", "helm.sh/hook"]))
                .is_some_and(|h| !h.is_null()),
        };
        match selector {
            Some(sel) => {
                w.polyaxon = sel.matches(&w.labels);
                w.labels = Vec::new();
            }
            // Only the chart's core labels decide, once the core type is known.
            None => {
                w.labels.retain(|(k, _)| CORE_LABELS.contains(&k.as_str()));
                w.labels.shrink_to_fit();
            }
        }
        if let Err(e) = read_workload(&mut w, obj, doc) {
            problems.push((inv.workloads.len(), here(e.message)));
        }
        inv.workloads.push(w);
        return;
    }
    match kind {
        "PersistentVolumeClaim" => {
            let spec = obj
                .get("spec")
                .and_then(|s| typed::<core::PersistentVolumeClaimSpec>(s, doc).ok());
            inv.claims.push(Claim {
                name,
                namespace,
                access_modes: spec
                    .as_ref()
                    .and_then(|s| s.access_modes.clone())
                    .unwrap_or_default(),
                volume_name: spec.and_then(|s| s.volume_name),
            });
        }
        "PersistentVolume" => {
            let spec = obj
                .get("spec")
                .and_then(|s| typed::<core::PersistentVolumeSpec>(s, doc).ok())
                .unwrap_or_default();
            inv.volumes.push(PersistentVolume {
                name,
                host_path: spec
                    .host_path
                    .as_ref()
                    .map(|h| h.path.clone())
                    .or_else(|| spec.local.as_ref().map(|l| l.path.clone())),
                single_node: spec.host_path.is_some() || spec.local.is_some(),
                claim_ref: spec
                    .claim_ref
                    .as_ref()
                    .and_then(|r| Some((r.namespace.clone(), r.name.clone()?))),
                node_affinity: spec.node_affinity.and_then(|a| a.required),
            });
        }
        "HorizontalPodAutoscaler" => {
            let spec = obj
                .get("spec")
                .and_then(|s| json(s, doc).ok())
                .unwrap_or(Value::Null);
            let target = &spec["scaleTargetRef"];
            if let (Some(k), Some(n), Some(m)) = (
                target["kind"].as_str(),
                target["name"].as_str(),
                spec["maxReplicas"].as_i64(),
            ) {
                inv.autoscalers.push(Autoscaler {
                    namespace,
                    target_kind: k.to_string(),
                    target_name: n.to_string(),
                    max_replicas: i32::try_from(m).unwrap_or(i32::MAX),
                });
            }
        }
        "ConfigMap" => {
            if let Some(v) = meta
                .and_then(|_| obj.path(&["data", CORE_TYPE_KEY]))
                .and_then(Node::as_str)
                .filter(|v| !v.is_empty())
            {
                inv.core_types.push(v.to_string());
                for (k, v) in obj
                    .get("data")
                    .and_then(Node::entries)
                    .into_iter()
                    .flatten()
                {
                    if let (Some(key), Some(value)) = (k.as_str(), v.as_str())
                        && RUNTIME_PLACEMENT_PREFIXES
                            .iter()
                            .any(|p| key.starts_with(p))
                    {
                        inv.runtime_keys.push(ConfigKey {
                            doc: di,
                            map: name.clone(),
                            key: key.to_string(),
                            value: value.to_string(),
                            location: format!("{}, line {} column {}", doc.label(), v.line, v.col),
                            in_list: item.is_some(),
                        });
                    }
                }
            }
        }
        _ => {}
    }
}

/// Reads a workload's pod count, rollout, selector and pod summary; an
/// error says why Kubernetes would refuse the object.
fn read_workload(w: &mut Workload, obj: &Node<'_>, doc: &Document<'_>) -> Result<(), InputError> {
    if doc.uses_aliases {
        // Only a document that could not be read through its aliases is
        // still marked so (see `read_docs`).
        let why = resolve(doc)
            .err()
            .map_or_else(String::new, |e| e.to_string());
        return Err(format!("cannot be read through its YAML aliases or merge keys: {why}").into());
    }
    check_duplicate_keys(obj)?;
    let (pod_meta, pod_spec) = pod_parts(obj, w.kind);
    let Some(pod_spec) = pod_spec.filter(|s| s.entries().is_some()) else {
        return Err("has no pod spec (a mapping) where Kubernetes expects one".into());
    };
    *w.pod = summarize(obj, pod_meta, pod_spec, doc).map_err(|e| {
        format!(
            "its pod spec (line {} column {}) is not what Kubernetes accepts: {e}",
            pod_spec.line, pod_spec.col
        )
    })?;
    if let Some(n) = w
        .kind
        .count_path()
        .and_then(|p| obj.path(p))
        .filter(|n| !n.is_null())
    {
        w.replicas = typed::<i32>(n, doc).map_err(|_| {
            format!(
                "{} at line {} column {} is not an integer, so Kubernetes would refuse the object; \
                 fix the template or the values rendered into it",
                w.kind.count_path().unwrap_or_default().join("."),
                n.line,
                n.col
            )
        })?;
    }
    w.rollout = rollout(obj, w.kind, doc)?;
    if w.kind.has_selector()
        && let Some(sel) = obj.path(&["spec", "selector"]).filter(|n| !n.is_null())
    {
        w.selector = Some(typed(sel, doc).map_err(|e| format!("spec.selector: {e}"))?);
    }
    Ok(())
}

/// Converts a node to JSON as Kubernetes would read it.
pub(crate) fn json(node: &Node<'_>, doc: &Document<'_>) -> Result<Value, InputError> {
    Ok(crate::yaml::node::to_json(node, &doc.anchors)?)
}

/// Reads a node into a k8s-openapi type.
pub(crate) fn typed<T: DeserializeOwned>(
    node: &Node<'_>,
    doc: &Document<'_>,
) -> Result<T, InputError> {
    let v = json(node, doc)?;
    serde_json::from_value(v).map_err(|e| e.to_string().into())
}

/// String-to-string entries of a mapping (labels), skipping anything else.
pub(crate) fn string_map(node: Option<&Node<'_>>) -> Vec<(String, String)> {
    node.and_then(Node::entries)
        .map(|e| {
            e.iter()
                .filter_map(|(k, v)| Some((k.scalar()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses a mapping that has the same key twice (which copy would we edit?).
fn check_duplicate_keys(obj: &Node<'_>) -> Result<(), InputError> {
    let mut err = None;
    obj.walk(&mut |n| {
        let Some(entries) = n.entries().filter(|_| err.is_none()) else {
            return;
        };
        let mut keys = Keys::with_capacity(entries.len());
        for (k, _) in entries {
            if let Some(s) = k.scalar()
                && keys.add(s, ()).is_some()
            {
                err = Some(format!(
                    "key `{s}` appears twice in one mapping (second at line {} column {}); \
                     Kubernetes would keep only one of them. Remove the duplicate",
                    k.line, k.col
                ));
                return;
            }
        }
    });
    err.map_or(Ok(()), |e: String| Err(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{scan, tree::Trees};

    const API: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels: &l {app: api, type: polyaxon-core}\nspec:\n  replicas: 3\n  selector: {matchLabels: *l}\n  template:\n    metadata: {labels: *l}\n    spec:\n      containers:\n      - &c {name: api, image: x, volumeMounts: [{name: repos, mountPath: /repos}]}\n      - {<<: *c, name: side}\n      volumes:\n      - {name: repos, hostPath: {path: /r}}\n";
    const OTHER: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nginx}\nspec:\n  selector: {matchLabels: {app: n}}\n  template:\n    metadata: {labels: {app: n}}\n    spec: {containers: [{name: n, image: n}]}\n";

    fn read_text(text: &str) -> Result<Inventory, InputError> {
        let infos = scan(text).unwrap();
        read(
            text,
            &infos,
            Trees::OnDemand,
            &Settings::default(),
            Vec::new(),
        )
    }

    #[test]
    fn polyaxon_workloads_are_read_through_their_aliases_and_others_are_left_out() {
        let inv = read_text(&format!("{API}{OTHER}")).unwrap();
        assert_eq!(inv.workloads.len(), 1, "nginx is not Polyaxon's");
        let w = &inv.workloads[0];
        assert_eq!((w.name.as_str(), w.replicas), ("api", 3));
        assert!(
            w.pod
                .labels
                .contains(&("type".into(), "polyaxon-core".into())),
            "the pod labels come from an alias"
        );
        let v = w.repos_volume().expect("the repos volume");
        assert_eq!(v.host_path.as_ref().map(|(p, _)| p.as_str()), Some("/r"));
    }

    /// What the validating pass reads while it holds the trees, on any
    /// number of threads (pieces numbered on their own, then placed), is
    /// what reading each tree afterwards gives: the same objects, with the
    /// same document, line and location, and the same first problem.
    #[test]
    fn reading_in_the_validating_pass_is_reading_each_tree_afterwards() {
        use crate::yaml::scan::{NoVisit, scan_parallel};
        let guarded = OTHER.replace("nginx", "web").replace(
            "{name: n, image: n}",
            "{name: n, image: n, ports: [{containerPort: 80, hostPort: 80}]}",
        );
        let config = "---\n# Source: c/config.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {POLYAXON_TYPE_LABELS_CORE: polyaxon-core}\n";
        let plain = API
            .replace(
                "&l {app: api, type: polyaxon-core}",
                "{app: api, type: polyaxon-core}",
            )
            .replace("*l", "{app: api}")
            .replace("&c ", "")
            .replace("{<<: *c, name: side}", "{name: side, image: y}");
        let claim = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: repos}\nspec: {accessModes: [ReadWriteOnce]}\n";
        let list = format!(
            "---\n# Source: c/list.yaml\napiVersion: v1\nkind: List\nitems:\n- {}\n",
            plain
                .trim_start_matches("---\n")
                .replace("name: api", "name: listed")
                .replace('\n', "\n  ")
                .trim_end()
        );
        let mut text = String::new();
        for i in 0..12 {
            let source = format!("# Source: c/t{i}.yaml\n");
            // A Service's tree is dropped at its kind; so is that of a
            // document whose kind is repeated, read again afterwards.
            let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n";
            let twice = OTHER.replace("kind: Deployment", "kind: Service\nkind: Deployment");
            for d in [
                API, OTHER, &guarded, config, &plain, claim, &list, service, &twice,
            ] {
                let named = d.replace("name: api", &format!("name: api{i}"));
                text += &named.replacen("---\n", &format!("---\n{source}"), 1);
            }
        }
        let keep = |t: &str, i: &DocInfo| may_matter(t, i);
        let s = Settings::default();
        let shown = |r: Result<Inventory, InputError>| match r {
            Ok(inv) => format!(
                "{:?}\n{:?}\n{:?}",
                inv.workloads, inv.claims, inv.core_types
            ),
            Err(e) => e.to_string(),
        };
        let broken = text.replacen(
            "\nspec:\n  replicas: 3\n",
            "\nspec:\n  replicas: 3\n  replicas: 4\n",
            20,
        );
        for (text, least) in [(&text, 12 * 5), (&broken, 12)] {
            let infos = scan_parallel(text, 1, &keep, &NoVisit).unwrap().0;
            let want = shown(read(text, &infos, Trees::OnDemand, &s, Vec::new()));
            assert!(want.contains("line"), "{want}");
            for threads in [1, 2, 3, 8] {
                let reader = Reader { settings: &s };
                let (infos, pre) = scan_parallel(text, threads, &keep, &reader).unwrap();
                assert!(pre.iter().flatten().count() >= least, "read in the pass");
                let got = shown(read(text, &infos, Trees::OnDemand, &s, pre));
                assert_eq!(got, want, "{threads} threads");
            }
        }
    }

    #[test]
    fn a_polyaxon_workload_with_a_repeated_key_is_refused_with_its_place() {
        let text = API.replace("  replicas: 3\n", "  replicas: 3\n  replicas: 4\n");
        let e = read_text(&text).unwrap_err();
        assert!(
            e.message.contains("appears twice") && e.message.contains("line 9"),
            "{e}"
        );
    }

    #[test]
    fn a_merge_of_a_non_mapping_is_refused_as_kubernetes_would() {
        let text = API.replace("{<<: *c, name: side}", "{<<: [1], name: side}");
        let e = read_text(&text).unwrap_err();
        assert!(e.message.contains("merge key"), "{e}");
    }
}
