//! What to change and why: a pure function from the inventory and the
//! settings to a [`Plan`].
//!
//! This is the one place that decides how far a volume reaches, how many pods
//! share it, and what keeps them safe. It never touches text; the patcher
//! turns the plan into edits.

use crate::config::{AccessMode, ConfigError, Settings, Source, glob_match};
use crate::inventory::{Inventory, PodSummary, REPOS_VOLUME, Workload, WorkloadKind};
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeSet;
use std::fmt;

/// The node label that names a node.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// The label that groups the pods sharing a single-node volume.
pub const COLOCATE_LABEL: &str = "polyrepo-render/colocate";
/// The annotation that says what the tool changed in a workload and why.
pub const CHANGES_ANNOTATION: &str = "polyrepo-render/changes";
/// Where the chart mounts the repos when nothing says otherwise.
pub const DEFAULT_MOUNT_PATH: &str = "/polyaxon-repos";

/// How containers mount the repos volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// `mountPath`.
    pub mount_path: String,
    /// `subPath`, when one is used.
    pub sub_path: Option<String>,
    /// `readOnly`.
    pub read_only: bool,
}

/// What the `POLYAXON_PERSISTENCE_REPOS` copy must say.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvCopy {
    /// Where the repos live.
    pub source: Source,
    /// How they are mounted.
    pub mount: Mount,
}

/// How far a volume reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any number of nodes can mount it (ReadWriteMany, ReadOnlyMany).
    EveryNode,
    /// One node at a time (hostPath, ReadWriteOnce).
    OneNode,
    /// One pod at a time (ReadWriteOncePod).
    OnePod,
}

/// The changes planned for one workload.
#[derive(Debug, Clone, Default)]
pub struct WorkloadPlan {
    /// Index into [`Inventory::workloads`].
    pub workload: usize,
    /// The `repos` volume the pod spec must have (replaced or added).
    pub volume: Option<Box<core::Volume>>,
    /// How containers that mount `repos` must mount it.
    pub mount: Option<Mount>,
    /// Add the mount to regular containers that lack it (`mountInto`).
    pub add_mounts: bool,
    /// What every env copy must say.
    pub env: Option<EnvCopy>,
    /// Require this node (`kubernetes.io/hostname`).
    pub pin: Option<String>,
    /// Co-locate with the other pods carrying this label value.
    pub colocate: Option<Colocation>,
    /// Why the scheduling constraint is needed, for the annotation.
    pub why: Vec<String>,
}

impl WorkloadPlan {
    /// True when the plan may change the workload at all.
    pub fn has_work(&self) -> bool {
        self.volume.is_some()
            || self.mount.is_some()
            || self.env.is_some()
            || self.pin.is_some()
            || self.colocate.is_some()
    }
}

/// A co-location group: a label and the namespaces its pods live in.
#[derive(Debug, Clone, PartialEq)]
pub struct Colocation {
    /// Value of [`COLOCATE_LABEL`].
    pub label: String,
    /// Namespaces to match pods in, when the group spans several.
    pub namespaces: Vec<String>,
}

/// Everything the tool will do.
#[derive(Debug, Default)]
pub struct Plan {
    /// One entry per Polyaxon workload that may change.
    pub workloads: Vec<WorkloadPlan>,
    /// Things the user should know (one line each).
    pub warnings: Vec<String>,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanError {
    /// The configuration is incomplete (exit 2).
    Config(ConfigError),
    /// The stream cannot be made safe (exit 1).
    Unsafe(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Config(e) => e.fmt(f),
            PlanError::Unsafe(s) => f.write_str(s),
        }
    }
}

/// The volume source a workload's `repos` volume has in the stream.
fn source_of(v: &core::Volume) -> Option<Source> {
    if let Some(h) = &v.host_path {
        return Some(Source::HostPath(h.path.clone()));
    }
    v.persistent_volume_claim
        .as_ref()
        .map(|c| Source::Claim(c.claim_name.clone()))
}

/// How a workload's containers mount `repos` in the stream (first mount found).
fn mount_of(w: &Workload) -> Option<Mount> {
    w.pod.repos_mount.as_ref().map(|m| Mount {
        mount_path: m.mount_path.clone(),
        sub_path: m.sub_path.clone().filter(|p| !p.is_empty()),
        read_only: m.read_only.unwrap_or(false),
    })
}

/// Builds the volume the settings ask for, keeping a compatible existing
/// hostPath `type`.
fn volume_for(source: &Source, read_only: bool, existing: Option<&core::Volume>) -> core::Volume {
    match source {
        Source::HostPath(path) => core::Volume {
            name: REPOS_VOLUME.into(),
            host_path: Some(core::HostPathVolumeSource {
                path: path.clone(),
                type_: existing
                    .and_then(|e| e.host_path.as_ref())
                    .and_then(|h| h.type_.clone()),
            }),
            ..Default::default()
        },
        Source::Claim(name) => core::Volume {
            name: REPOS_VOLUME.into(),
            persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                claim_name: name.clone(),
                read_only: read_only.then_some(true),
            }),
            ..Default::default()
        },
    }
}

/// The node a pin would require, if the workload already rules it out.
pub fn forbids(spec: &PodSummary, node: &str) -> Option<String> {
    if let Some(h) = spec.node_selector.as_ref().and_then(|s| s.get(HOSTNAME))
        && h != node
    {
        return Some(format!("its nodeSelector requires {HOSTNAME}={h}"));
    }
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or(&[]);
    if terms.is_empty() {
        return None;
    }
    let term_allows = |t: &core::NodeSelectorTerm| {
        t.match_expressions
            .iter()
            .flatten()
            .filter(|e| e.key == HOSTNAME)
            .all(|e| {
                let vals = e.values.as_deref().unwrap_or(&[]);
                match e.operator.as_str() {
                    "In" => vals.iter().any(|v| v == node),
                    "NotIn" => !vals.iter().any(|v| v == node),
                    "DoesNotExist" => false,
                    _ => true,
                }
            })
    };
    if terms.iter().any(term_allows) {
        None
    } else {
        Some(format!(
            "its required node affinity excludes {HOSTNAME}={node}"
        ))
    }
}

/// A short, stable, label-safe digest.
fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// Identity of a volume for grouping: claims are namespaced, host paths are not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum VolumeKey {
    HostPath(String),
    Claim { namespace: String, name: String },
}

impl fmt::Display for VolumeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolumeKey::HostPath(p) => write!(f, "hostPath {p}"),
            VolumeKey::Claim { namespace, name } if namespace.is_empty() => {
                write!(f, "claim {name}")
            }
            VolumeKey::Claim { namespace, name } => write!(f, "claim {namespace}/{name}"),
        }
    }
}

/// Makes the plan.
pub fn plan(inv: &Inventory, s: &Settings) -> Result<Plan, PlanError> {
    let mut out = Plan::default();
    let release_ns = s.namespace.clone().unwrap_or_default();
    let ns_of = |w: &Workload| w.namespace.clone().unwrap_or_else(|| release_ns.clone());

    // What the stream mounts today: the first Polyaxon workload with a usable `repos` volume.
    let inferred = inv.workloads.iter().filter(|w| w.polyaxon).find_map(|w| {
        let src = source_of(w.repos_volume()?)?;
        Some((src, mount_of(w)))
    });
    let mount = Mount {
        mount_path: s
            .mount_path
            .clone()
            .or_else(|| {
                inferred
                    .as_ref()
                    .and_then(|(_, m)| m.as_ref())
                    .map(|m| m.mount_path.clone())
            })
            .unwrap_or_else(|| DEFAULT_MOUNT_PATH.into()),
        sub_path: s.sub_path.clone().or_else(|| {
            inferred
                .as_ref()
                .and_then(|(_, m)| m.as_ref())
                .and_then(|m| m.sub_path.clone())
        }),
        read_only: s
            .read_only
            .or_else(|| {
                inferred
                    .as_ref()
                    .and_then(|(_, m)| m.as_ref())
                    .map(|m| m.read_only)
            })
            .unwrap_or(false),
    };
    let desired_source = s
        .source
        .clone()
        .or_else(|| inferred.as_ref().map(|(src, _)| src.clone()));

    // Which workloads mount the volume, and through which source.
    let mut members: Vec<(usize, VolumeKey)> = Vec::new();
    for (i, w) in inv.workloads.iter().enumerate().filter(|(_, w)| w.polyaxon) {
        let has = w.repos_volume();
        let into = s.mount_into.iter().any(|g| glob_match(g, &w.name));
        let mut wp = WorkloadPlan {
            workload: i,
            ..Default::default()
        };
        let source = if s.configured {
            if has.is_some() || into {
                let Some(src) = &desired_source else {
                    return Err(PlanError::Config(ConfigError(format!(
                        "{} must mount the repos volume, but no source is known: the stream has none \
                         and neither the config nor the values set one. Set repos.hostPath or repos.existingClaim",
                        w.at()
                    ))));
                };
                wp.volume = Some(Box::new(volume_for(src, mount.read_only, has)));
                wp.mount = Some(mount.clone());
                wp.add_mounts = into;
            }
            if let Some(src) = &desired_source {
                wp.env = Some(EnvCopy {
                    source: src.clone(),
                    mount: mount.clone(),
                });
            }
            if has.is_some() || into {
                desired_source.clone()
            } else {
                None
            }
        } else {
            has.and_then(source_of)
        };
        if let Some(src) = source {
            let key = match src {
                Source::HostPath(p) => VolumeKey::HostPath(p),
                Source::Claim(name) => VolumeKey::Claim {
                    namespace: ns_of(w),
                    name,
                },
            };
            members.push((out.workloads.len(), key));
        }
        out.workloads.push(wp);
    }

    // Decide, per volume, what keeps its pods safe.
    let keys: BTreeSet<VolumeKey> = members.iter().map(|(_, k)| k.clone()).collect();
    let windex: Vec<usize> = out.workloads.iter().map(|p| p.workload).collect();
    for key in keys {
        let group: Vec<usize> = members
            .iter()
            .filter(|(_, k)| *k == key)
            .map(|(p, _)| *p)
            .collect();
        let wl = |p: usize| &inv.workloads[windex[p]];
        // Sorted, so that the explanation depends on the objects, not their
        // order; short, so that a large group keeps annotations small.
        let names = list_names(group.iter().map(|&p| wl(p).id()));

        let (reach, mut node, how) = reach(inv, s, &key, &mut out.warnings);
        if node.is_none() {
            node = s.node.clone();
        }
        let daemonsets: Vec<String> = group
            .iter()
            .filter(|&&p| wl(p).kind == WorkloadKind::DaemonSet)
            .map(|&p| wl(p).at())
            .collect();
        let pods: i64 = group.iter().map(|&p| pods(inv, wl(p), &release_ns)).sum();

        let unsafe_err = |why: String| PlanError::Unsafe(why);
        match reach {
            Reach::EveryNode => continue,
            Reach::OnePod if pods > 1 || !daemonsets.is_empty() => {
                return Err(unsafe_err(format!(
                    "{key} is ReadWriteOncePod: only one pod may mount it, but {} run {} pods. \
                     Use a ReadWriteMany claim, or run a single replica",
                    group
                        .iter()
                        .map(|&p| wl(p).at())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if daemonsets.is_empty() {
                        pods.to_string()
                    } else {
                        "one per node".into()
                    }
                )));
            }
            _ => {}
        }
        if !daemonsets.is_empty() && (matches!(key, VolumeKey::Claim { .. }) || node.is_none()) {
            return Err(unsafe_err(format!(
                "{key} reaches a single node, but {} runs a pod on every node. \
                 Use a ReadWriteMany claim{}",
                daemonsets.join(", "),
                if matches!(key, VolumeKey::HostPath(_)) {
                    ", or set repos.node to pin it"
                } else {
                    ""
                }
            )));
        }
        if let Some(node) = node {
            for &p in &group {
                let w = wl(p);
                if let Some(why) = forbids(&w.pod, &node) {
                    return Err(unsafe_err(format!(
                        "{} must run on node {node} (where {key} is), but {why}. \
                         Change repos.node or the workload's node constraints",
                        w.at()
                    )));
                }
                let wp = &mut out.workloads[p];
                wp.pin = Some(node.clone());
                wp.why
                    .push(format!("why: {key} {how}; its data is on node {node}"));
            }
        } else if pods > 1 {
            let namespaces: BTreeSet<String> = group.iter().map(|&p| ns_of(wl(p))).collect();
            let colocation = Colocation {
                label: format!("repos-{}", digest(&key.to_string())),
                namespaces: if namespaces.len() > 1 {
                    namespaces.into_iter().collect()
                } else {
                    Vec::new()
                },
            };
            for &p in &group {
                let wp = &mut out.workloads[p];
                wp.colocate = Some(colocation.clone());
                wp.why
                    .push(format!("why: {key} {how}; {pods} pods share it ({names})"));
            }
        } else if !s.external {
            out.warnings.push(format!(
                "{key} {how} and only {names} uses it: losing that node loses the repos. \
                 Set repos.external: true if the code is hosted elsewhere, or use a ReadWriteMany claim"
            ));
        }
    }
    Ok(out)
}

/// At most [`NAMES_LISTED`] names, sorted, then how many more.
fn list_names(names: impl Iterator<Item = String>) -> String {
    let all: BTreeSet<String> = names.collect();
    let mut out: Vec<String> = all.iter().take(NAMES_LISTED).cloned().collect();
    if all.len() > NAMES_LISTED {
        out.push(format!("{} more", all.len() - NAMES_LISTED));
    }
    out.join(", ")
}

/// How many workloads an explanation names before saying "N more".
const NAMES_LISTED: usize = 4;

/// How far the volume reaches, the node holding it when known, and a phrase
/// saying why.
fn reach(
    inv: &Inventory,
    s: &Settings,
    key: &VolumeKey,
    warnings: &mut Vec<String>,
) -> (Reach, Option<String>, String) {
    let (namespace, name) = match key {
        VolumeKey::HostPath(_) => {
            return (Reach::OneNode, None, "is a host path (one node)".into());
        }
        VolumeKey::Claim { namespace, name } => (namespace, name),
    };
    let release_ns = s.namespace.clone().unwrap_or_default();
    let pvc = inv.claims.iter().find(|c| {
        &c.name == name && c.namespace.clone().unwrap_or_else(|| release_ns.clone()) == *namespace
    });
    let node = pvc
        .and_then(|c| c.volume_name.as_ref())
        .and_then(|v| inv.volumes.iter().find(|pv| &pv.name == v))
        .and_then(|pv| pv.node.clone());
    let modes: Vec<AccessMode> = match pvc {
        Some(c) if !c.access_modes.is_empty() => c
            .access_modes
            .iter()
            .filter_map(|m| AccessMode::parse(m))
            .collect(),
        _ => match s.access_mode {
            Some(m) => vec![m],
            None => {
                warnings.push(format!(
                    "{key}: its PersistentVolumeClaim is not in the stream and repos.accessMode is not set; \
                     assuming ReadWriteOnce (set repos.accessMode to say otherwise)"
                ));
                vec![AccessMode::ReadWriteOnce]
            }
        },
    };
    let has = |m| modes.contains(&m);
    if has(AccessMode::ReadWriteMany) || has(AccessMode::ReadOnlyMany) {
        (Reach::EveryNode, node, "reaches every node".into())
    } else if has(AccessMode::ReadWriteOncePod) && !has(AccessMode::ReadWriteOnce) {
        (Reach::OnePod, node, "is ReadWriteOncePod".into())
    } else {
        (Reach::OneNode, node, "is ReadWriteOnce (one node)".into())
    }
}

/// How many pods a workload may run: replicas (or Job parallelism), raised
/// to the `maxReplicas` of any autoscaler targeting it.
fn pods(inv: &Inventory, w: &Workload, release_ns: &str) -> i64 {
    if w.kind == WorkloadKind::DaemonSet {
        return 2; // one per node: always more than one
    }
    let ns = w
        .namespace
        .clone()
        .unwrap_or_else(|| release_ns.to_string());
    let hpa = inv
        .autoscalers
        .iter()
        .filter(|a| {
            a.target_kind == w.kind.to_string()
                && a.target_name == w.name
                && a.namespace
                    .clone()
                    .unwrap_or_else(|| release_ns.to_string())
                    == ns
        })
        .map(|a| a.max_replicas)
        .max()
        .unwrap_or(0);
    i64::from(w.replicas.max(hpa).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{inventory, stream};

    /// A Polyaxon Deployment mounting `repos` from `source` (YAML flow text).
    fn deploy(name: &str, replicas: u32, source: Option<&str>, extra_spec: &str) -> String {
        let vols = source.map_or(String::new(), |s| {
            format!("      volumes:\n      - name: repos\n        {s}\n")
        });
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    type: polyaxon-core\n\
             spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n\
             \x20   spec:\n{extra_spec}      containers:\n      - name: c\n        image: x\n{vols}"
        )
    }

    fn run(text: &str, s: &Settings) -> Result<Plan, PlanError> {
        let infos = stream::scan(text).unwrap();
        let inv = inventory::read(text, &infos, stream::Trees::OnDemand, s).unwrap();
        plan(&inv, s)
    }

    fn claim(s: &mut Settings, name: &str) {
        s.configured = true;
        s.source = Some(Source::Claim(name.into()));
    }

    #[test]
    fn one_pod_on_a_host_path_only_warns() {
        let p = run(
            &deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
            &Settings::default(),
        )
        .unwrap();
        assert!(p.workloads[0].pin.is_none() && p.workloads[0].colocate.is_none());
        assert!(
            p.warnings.iter().any(|w| w.contains("losing that node")),
            "{:?}",
            p.warnings
        );
        let s = Settings {
            external: true,
            ..Default::default()
        };
        let p = run(
            &deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
            &s,
        )
        .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn several_pods_on_one_node_volume_are_colocated_with_a_dedicated_label() {
        let text = deploy("api", 3, Some("hostPath: {path: /tmp/repos}"), "");
        let p = run(&text, &Settings::default()).unwrap();
        let co = p.workloads[0].colocate.as_ref().expect("co-located");
        assert!(co.label.starts_with("repos-"));
        assert_ne!(co.label, "polyaxon-core");
        assert!(p.workloads[0].pin.is_none());
    }

    #[test]
    fn a_known_node_pins_whatever_the_pod_count() {
        let s = Settings {
            node: Some("worker-2".into()),
            ..Default::default()
        };
        let p = run(
            &deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
            &s,
        )
        .unwrap();
        assert_eq!(p.workloads[0].pin.as_deref(), Some("worker-2"));
        assert!(p.workloads[0].colocate.is_none());
    }

    #[test]
    fn rwx_claims_need_nothing_and_unknown_claims_are_assumed_rwo() {
        let mut s = Settings::default();
        claim(&mut s, "shared");
        s.access_mode = Some(AccessMode::ReadWriteMany);
        let p = run(
            &deploy("api", 5, Some("hostPath: {path: /tmp/repos}"), ""),
            &s,
        )
        .unwrap();
        assert!(p.workloads[0].colocate.is_none() && p.workloads[0].pin.is_none());
        assert!(
            p.workloads[0]
                .volume
                .as_ref()
                .unwrap()
                .persistent_volume_claim
                .is_some()
        );
        s.access_mode = None;
        let p = run(
            &deploy("api", 5, Some("hostPath: {path: /tmp/repos}"), ""),
            &s,
        )
        .unwrap();
        assert!(p.workloads[0].colocate.is_some());
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("assuming ReadWriteOnce"))
        );
    }

    #[test]
    fn the_pvc_in_the_stream_decides_reach_and_its_bound_local_pv_the_node() {
        let pvc = |modes: &str, ns: &str, vol: &str| {
            format!(
                "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: repos-pvc{ns}}}\nspec: {{accessModes: [{modes}]{vol}}}\n"
            )
        };
        let d = deploy(
            "api",
            3,
            Some("persistentVolumeClaim: {claimName: repos-pvc}"),
            "",
        );
        let p = run(
            &format!("{d}{}", pvc("ReadWriteMany", "", "")),
            &Settings::default(),
        )
        .unwrap();
        assert!(p.workloads[0].colocate.is_none());
        // A PVC in another namespace is another claim.
        let s = Settings {
            namespace: Some("polyaxon".into()),
            ..Default::default()
        };
        let p = run(
            &format!("{d}{}", pvc("ReadWriteMany", ", namespace: other", "")),
            &s,
        )
        .unwrap();
        assert!(p.workloads[0].colocate.is_some());
        let pv = "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: local-1}\nspec:\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [node-7]}\n";
        let p = run(
            &format!(
                "{d}{}{pv}",
                pvc("ReadWriteOnce", "", ", volumeName: local-1")
            ),
            &Settings::default(),
        )
        .unwrap();
        assert_eq!(p.workloads[0].pin.as_deref(), Some("node-7"));
    }

    #[test]
    fn autoscalers_raise_the_pod_count() {
        let d = deploy("api", 1, Some("hostPath: {path: /r}"), "");
        let hpa = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 1\n  maxReplicas: 4\n";
        let p = run(&format!("{d}{hpa}"), &Settings::default()).unwrap();
        assert!(p.workloads[0].colocate.is_some());
        assert!(
            p.workloads[0].why[0].contains("4 pods share it"),
            "{:?}",
            p.workloads[0].why
        );
    }

    #[test]
    fn read_write_once_pod_with_several_pods_is_refused() {
        let mut s = Settings::default();
        claim(&mut s, "solo");
        s.access_mode = Some(AccessMode::ReadWriteOncePod);
        let e = run(&deploy("api", 2, Some("hostPath: {path: /r}"), ""), &s).unwrap_err();
        assert!(
            matches!(&e, PlanError::Unsafe(m) if m.contains("claim solo") && m.contains("Deployment/api")),
            "{e}"
        );
        assert!(run(&deploy("api", 1, Some("hostPath: {path: /r}"), ""), &s).is_ok());
    }

    #[test]
    fn a_daemonset_on_a_single_node_claim_is_refused() {
        let ds = deploy(
            "agent",
            1,
            Some("persistentVolumeClaim: {claimName: c}"),
            "",
        )
        .replace("kind: Deployment", "kind: DaemonSet")
        .replace("  replicas: 1\n", "");
        let e = run(&ds, &Settings::default()).unwrap_err();
        assert!(
            matches!(&e, PlanError::Unsafe(m) if m.contains("DaemonSet/agent") && m.contains("claim c")),
            "{e}"
        );
    }

    #[test]
    fn a_pin_the_workload_forbids_is_refused() {
        let s = Settings {
            node: Some("worker-2".into()),
            ..Default::default()
        };
        let sel = "      nodeSelector: {kubernetes.io/hostname: worker-9}\n";
        let e = run(&deploy("api", 1, Some("hostPath: {path: /r}"), sel), &s).unwrap_err();
        assert!(
            matches!(&e, PlanError::Unsafe(m) if m.contains("worker-2") && m.contains("Deployment/api")),
            "{e}"
        );
        let aff = "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchExpressions: [{key: kubernetes.io/hostname, operator: NotIn, values: [worker-2]}]\n";
        assert!(run(&deploy("api", 1, Some("hostPath: {path: /r}"), aff), &s).is_err());
        // One term still allowing the node is enough.
        let ok = format!(
            "{aff}            - matchExpressions: [{{key: zone, operator: In, values: [a]}}]\n"
        );
        assert!(run(&deploy("api", 1, Some("hostPath: {path: /r}"), &ok), &s).is_ok());
    }

    #[test]
    fn mount_into_adds_the_volume_and_joins_the_group() {
        let s = Settings {
            configured: true,
            mount_into: vec!["*-scheduler".into()],
            ..Default::default()
        };
        let text = format!(
            "{}{}",
            deploy("x-api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
            deploy("x-scheduler", 1, None, "")
        );
        let p = run(&text, &s).unwrap();
        assert!(p.workloads[1].add_mounts);
        assert_eq!(
            p.workloads[1]
                .volume
                .as_ref()
                .unwrap()
                .host_path
                .as_ref()
                .unwrap()
                .path,
            "/tmp/repos"
        );
        assert!(
            p.workloads.iter().all(|w| w.colocate.is_some()),
            "two pods share a host path"
        );
        assert_eq!(
            p.workloads[0].mount.as_ref().unwrap().mount_path,
            DEFAULT_MOUNT_PATH
        );
    }

    #[test]
    fn third_party_workloads_are_never_planned() {
        let text = deploy("other", 3, Some("hostPath: {path: /tmp/repos}"), "")
            .replace("type: polyaxon-core", "app: other");
        let p = run(&text, &Settings::default()).unwrap();
        assert!(p.workloads.is_empty());
    }
}
