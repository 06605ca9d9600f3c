//! What the stream holds: workloads, claims, volumes and autoscalers.
//!
//! This is the one place that decides what a Polyaxon workload is, and the
//! one place that reads Kubernetes objects out of the node trees. Objects are
//! read as Kubernetes would read them (YAML 1.1 typing, then k8s-openapi's
//! types), so the plan reasons about the same values the cluster will see.

use crate::config::{Selector, Settings};
use crate::node::{Node, NodeKind};
use crate::stream::{DocInfo, Document, Trees};
use crate::yaml11;
use k8s_openapi::api::core::v1 as core;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// Name of the chart's volume for the code repositories.
pub const REPOS_VOLUME: &str = "repos";
/// Name of the env var holding Polyaxon's JSON copy of `persistence.repos`.
pub const REPOS_ENV: &str = "POLYAXON_PERSISTENCE_REPOS";
/// Most nodes one object may expand to through aliases.
const EXPANSION_BUDGET: usize = 1_000_000;

/// The kinds of object that run pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
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
    pub fn parse(kind: &str) -> Option<Self> {
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
    pub fn template_path(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Pod => None,
            Self::CronJob => Some(&["spec", "jobTemplate", "spec", "template"]),
            _ => Some(&["spec", "template"]),
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A problem reading the stream's objects (exit code 1).
#[derive(Debug, Clone, PartialEq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pod-running object of the stream, as the plan needs it. Owns no part
/// of the document tree; [`locate`] finds its nodes again for the patcher.
#[derive(Debug)]
pub struct Workload {
    /// Index of its document in the stream.
    pub doc: usize,
    /// Its index in the document's `items` when the document is a `List`.
    pub item: Option<usize>,
    /// Its kind.
    pub kind: WorkloadKind,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when written.
    pub namespace: Option<String>,
    /// Chosen by `workloads.selector` (or the chart's labels).
    pub polyaxon: bool,
    /// `spec.replicas`, or a Job's `parallelism` (absent: 1).
    pub replicas: i32,
    /// What the plan reads of the pod spec, as Kubernetes reads it.
    pub pod: PodSummary,
    /// Where it is: `document N (template), line L`.
    pub location: String,
}

/// The parts of a pod spec the plan reads. Small on purpose: a 100 MB
/// stream holds thousands of workloads.
#[derive(Debug, Clone, Default)]
pub struct PodSummary {
    /// The volume named `repos`.
    pub repos_volume: Option<Box<core::Volume>>,
    /// The first mount of `repos` in any container (init containers last).
    pub repos_mount: Option<core::VolumeMount>,
    /// `nodeSelector`.
    pub node_selector: Option<std::collections::BTreeMap<String, String>>,
    /// `affinity`.
    pub affinity: Option<core::Affinity>,
}

/// The nodes of a workload in its document's tree, for editing.
#[derive(Debug, Clone, Copy)]
pub struct Located<'s, 'a> {
    /// The object's node.
    pub node: &'s Node<'a>,
    /// The pod template's metadata node (a Pod's own metadata), if any.
    pub pod_meta: Option<&'s Node<'a>>,
    /// The pod spec node.
    pub pod_spec: &'s Node<'a>,
}

impl Workload {
    /// `Kind/name` for messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// `Kind/name (document N (template), line L)`, for error messages.
    pub fn at(&self) -> String {
        format!("{} ({})", self.id(), self.location)
    }

    /// The pod spec's volume named `repos`.
    pub fn repos_volume(&self) -> Option<&core::Volume> {
        self.pod.repos_volume.as_deref()
    }
}

/// A PersistentVolumeClaim of the stream.
#[derive(Debug)]
pub struct Claim {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when written.
    pub namespace: Option<String>,
    /// `spec.accessModes`.
    pub access_modes: Vec<String>,
    /// `spec.volumeName`: the PersistentVolume it is bound to.
    pub volume_name: Option<String>,
}

/// A PersistentVolume of the stream.
#[derive(Debug)]
pub struct PersistentVolume {
    /// `metadata.name`.
    pub name: String,
    /// The one node its required node affinity allows, if it names exactly one.
    pub node: Option<String>,
}

/// A HorizontalPodAutoscaler (autoscaling/v1 or v2) of the stream.
#[derive(Debug)]
pub struct Autoscaler {
    /// `metadata.namespace`, when written.
    pub namespace: Option<String>,
    /// `spec.scaleTargetRef.kind`.
    pub target_kind: String,
    /// `spec.scaleTargetRef.name`.
    pub target_name: String,
    /// `spec.maxReplicas`.
    pub max_replicas: i32,
}

/// Everything in the stream that matters to the plan.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Polyaxon workloads (and other workloads inside `List`s), in stream order.
    pub workloads: Vec<Workload>,
    /// PersistentVolumeClaims.
    pub claims: Vec<Claim>,
    /// PersistentVolumes.
    pub volumes: Vec<PersistentVolume>,
    /// HorizontalPodAutoscalers.
    pub autoscalers: Vec<Autoscaler>,
}

/// Is this object a Polyaxon workload? The chart (0.4–0.6) labels its own
/// objects `type: polyaxon-core` and `app.kubernetes.io/part-of: polyaxon-core`;
/// a configured selector replaces that rule.
pub fn is_polyaxon(labels: &[(String, String)], selector: Option<&Selector>) -> bool {
    match selector {
        Some(s) => s.matches(labels),
        None => labels.iter().any(|(k, v)| {
            (k == "type" || k == "app.kubernetes.io/part-of") && v == "polyaxon-core"
        }),
    }
}

/// Kinds whose documents can matter to the plan, besides workloads.
const STORAGE_KINDS: [&str; 3] = [
    "PersistentVolumeClaim",
    "PersistentVolume",
    "HorizontalPodAutoscaler",
];

/// Does a document need its tree built? Polyaxon workloads, claims,
/// volumes, autoscalers and `List`s do; everything else is only validated.
fn is_candidate(info: &DocInfo, settings: &Settings) -> bool {
    if info.duplicate_keys {
        return true; // what the document is for can only be read from its tree
    }
    let Some(kind) = info.kind.as_deref().filter(|_| info.api_version) else {
        return false;
    };
    if WorkloadKind::parse(kind).is_some() {
        // Labels behind aliases are invisible to the scan: read those too.
        return info.uses_aliases || is_polyaxon(&info.labels, settings.selector.as_ref());
    }
    kind.ends_with("List") || STORAGE_KINDS.contains(&kind)
}

/// Reads the objects of the documents that can matter, one tree at a time.
pub fn read(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    settings: &Settings,
) -> Result<Inventory, InputError> {
    let candidates: Vec<usize> = (0..infos.len())
        .filter(|&i| is_candidate(&infos[i], settings))
        .collect();
    let threads = crate::parallel::threads_for(text.len());
    let parts = crate::parallel::map_chunks(&candidates, threads, |chunk| {
        read_docs(text, infos, trees, chunk, settings)
    });
    let mut inv = Inventory::default();
    for part in parts {
        let part = part?;
        inv.workloads.extend(part.workloads);
        inv.claims.extend(part.claims);
        inv.volumes.extend(part.volumes);
        inv.autoscalers.extend(part.autoscalers);
    }
    Ok(inv)
}

/// Reads the given documents (indices into `infos`), in order.
fn read_docs(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    docs: &[usize],
    settings: &Settings,
) -> Result<Inventory, InputError> {
    let mut inv = Inventory::default();
    for &di in docs {
        let info = &infos[di];
        let doc = trees
            .get(text, info)
            .map_err(|e| InputError(e.to_string()))?;
        let root = &doc.root;
        let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
        if kind.ends_with("List") {
            for (i, item) in root
                .get("items")
                .and_then(Node::items)
                .into_iter()
                .flatten()
                .enumerate()
            {
                read_object(&mut inv, &doc, di, Some(i), item, settings)?;
            }
            continue;
        }
        read_object(&mut inv, &doc, di, None, root, settings)?;
    }
    Ok(inv)
}

/// Finds a workload's nodes in its document's tree.
pub fn locate<'s, 'a>(doc: &'s Document<'a>, w: &Workload) -> Option<Located<'s, 'a>> {
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
fn summarize(spec: &Node<'_>, doc: &Document<'_>) -> Result<PodSummary, String> {
    let named = |n: &&Node<'_>| n.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME);
    fn part<T>(key: &str, r: Result<T, String>) -> Result<T, String> {
        r.map_err(|e| format!("{key}: {e}"))
    }
    let repos_volume = match spec
        .get("volumes")
        .and_then(Node::items)
        .and_then(|v| v.iter().find(named))
    {
        Some(v) => Some(Box::new(part("volumes", typed::<core::Volume>(v, doc))?)),
        None => None,
    };
    let mut repos_mount = None;
    for list in ["containers", "initContainers"] {
        for c in spec.get(list).and_then(Node::items).into_iter().flatten() {
            let m = c
                .get("volumeMounts")
                .and_then(Node::items)
                .and_then(|m| m.iter().find(named));
            if let (Some(m), None) = (m, &repos_mount) {
                repos_mount = Some(part("volumeMounts", typed::<core::VolumeMount>(m, doc))?);
            }
        }
    }
    let opt = |key: &str| spec.get(key).filter(|n| !n.is_null());
    Ok(PodSummary {
        repos_volume,
        repos_mount,
        node_selector: opt("nodeSelector")
            .map(|n| part("nodeSelector", typed(n, doc)))
            .transpose()?,
        affinity: opt("affinity")
            .map(|n| part("affinity", typed(n, doc)))
            .transpose()?,
    })
}

fn read_object(
    inv: &mut Inventory,
    doc: &Document<'_>,
    di: usize,
    item: Option<usize>,
    obj: &Node<'_>,
    settings: &Settings,
) -> Result<(), InputError> {
    let Some(kind) = obj.get("kind").and_then(Node::as_str) else {
        return Ok(());
    };
    if obj.get("apiVersion").is_none() || obj.entries().is_none() {
        return Ok(());
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
        let labels = string_map(meta.and_then(|m| m.get("labels")));
        let polyaxon = is_polyaxon(&labels, settings.selector.as_ref());
        let here = |msg: String| {
            InputError(format!(
                "{}, line {}, {kind}/{name}: {msg}",
                doc.label(),
                obj.line
            ))
        };
        if polyaxon {
            if doc.uses_aliases {
                return Err(here(
                    "uses YAML aliases or merge keys; polyrepo-render edits Polyaxon workloads in place \
                     and cannot do so safely through them. Write the object out without anchors"
                        .into(),
                ));
            }
            check_duplicate_keys(obj).map_err(here)?;
        }
        let (_, pod_spec) = pod_parts(obj, wk);
        let Some(pod_spec) = pod_spec.filter(|s| s.entries().is_some()) else {
            if polyaxon {
                return Err(here(
                    "has no pod spec (a mapping) where Kubernetes expects one".into(),
                ));
            }
            return Ok(());
        };
        let pod = match summarize(pod_spec, doc) {
            Ok(p) => p,
            Err(e) if polyaxon => {
                return Err(here(format!(
                    "its pod spec (line {}) is not what Kubernetes accepts: {e}",
                    pod_spec.line
                )));
            }
            Err(_) => return Ok(()),
        };
        let count_key: &[&str] = match wk {
            WorkloadKind::Job => &["spec", "parallelism"],
            WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "parallelism"],
            WorkloadKind::Pod | WorkloadKind::DaemonSet => &[],
            _ => &["spec", "replicas"],
        };
        let replicas = match obj.path(count_key).filter(|_| !count_key.is_empty()) {
            None => 1,
            Some(n) if n.is_null() => 1,
            Some(n) => match typed::<i32>(n, doc) {
                Ok(r) => r,
                Err(_) if !polyaxon => 1,
                Err(_) => {
                    return Err(here(format!(
                        "{} at line {} column {} is not an integer, so Kubernetes would refuse the object; \
                         fix the template or the values rendered into it",
                        count_key.join("."),
                        n.line,
                        n.col
                    )));
                }
            },
        };
        inv.workloads.push(Workload {
            doc: di,
            item,
            kind: wk,
            name,
            namespace,
            polyaxon,
            replicas,
            pod,
            location: format!("{}, line {}", doc.label(), obj.line),
        });
        return Ok(());
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
                .and_then(|s| typed::<core::PersistentVolumeSpec>(s, doc).ok());
            let node = spec
                .and_then(|s| s.node_affinity)
                .and_then(|a| a.required)
                .and_then(|r| single_hostname(&r));
            inv.volumes.push(PersistentVolume { name, node });
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
        _ => {}
    }
    Ok(())
}

/// The single `kubernetes.io/hostname` a node selector allows, if any.
fn single_hostname(sel: &core::NodeSelector) -> Option<String> {
    let mut found: Option<String> = None;
    for term in &sel.node_selector_terms {
        let mut term_node = None;
        for e in term.match_expressions.iter().flatten() {
            if e.key == crate::plan::HOSTNAME
                && e.operator == "In"
                && let Some([v]) = e.values.as_deref()
            {
                term_node = Some(v.clone());
            }
        }
        match (term_node, &found) {
            (None, _) => return None,
            (Some(n), None) => found = Some(n),
            (Some(n), Some(f)) if &n == f => {}
            _ => return None,
        }
    }
    found
}

/// Converts a node to JSON as Kubernetes would read it.
pub fn json(node: &Node<'_>, doc: &Document<'_>) -> Result<Value, String> {
    let mut budget = EXPANSION_BUDGET;
    yaml11::to_json(node, &doc.anchors, &mut budget)
}

/// Reads a node into a k8s-openapi type.
pub fn typed<T: DeserializeOwned>(node: &Node<'_>, doc: &Document<'_>) -> Result<T, String> {
    let v = json(node, doc)?;
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// String-to-string entries of a mapping (labels), skipping anything else.
pub fn string_map(node: Option<&Node<'_>>) -> Vec<(String, String)> {
    node.and_then(Node::entries)
        .map(|e| {
            e.iter()
                .filter_map(|(k, v)| Some((k.scalar()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses a mapping that has the same key twice (which copy would we edit?).
fn check_duplicate_keys(obj: &Node<'_>) -> Result<(), String> {
    let mut err = None;
    obj.walk(&mut |n| {
        if err.is_some() {
            return;
        }
        if let NodeKind::Map(entries) = &n.kind {
            let mut seen: Vec<&str> = Vec::with_capacity(entries.len());
            for (k, _) in entries {
                if let Some(s) = k.scalar() {
                    if seen.contains(&s) {
                        err = Some(format!(
                            "key `{s}` appears twice in one mapping (second at line {} column {}); \
                             Kubernetes would keep only one of them. Remove the duplicate",
                            k.line, k.col
                        ));
                        return;
                    }
                    seen.push(s);
                }
            }
        }
    });
    err.map_or(Ok(()), Err)
}
