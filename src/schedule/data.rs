//! Where a volume's data reaches: which volumes of a pod hold data that
//! lives on one node (a host path, a ReadWriteOnce claim, a claim bound to a
//! host-path or local PersistentVolume) or may be used by one pod only
//! (ReadWriteOncePod), and when two volumes hold the same data.
//!
//! This is the one place that decides what counts as single-node data.

use crate::config::{AccessMode, Settings, Source};
use crate::inventory::{Inventory, REPOS_VOLUME, VolumeInfo};
use crate::k8s::NodeId;
use crate::report::{Advice, Warning};
use crate::schedule::constraints::NodeConstraint;
use crate::yaml::source::shown;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Host directories that expose the node itself rather than hold data.
const SYSTEM_DIRS: [&str; 8] = [
    "/dev", "/proc", "/sys", "/run", "/var/run", "/etc", "/lib", "/usr",
];
/// hostPath types that are the node's devices and sockets, not data.
const SYSTEM_TYPES: [&str; 3] = ["Socket", "CharDevice", "BlockDevice"];

/// How far a volume's data reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reach {
    /// Any number of nodes can mount it (ReadWriteMany, ReadOnlyMany).
    EveryNode,
    /// One node at a time (hostPath, ReadWriteOnce, local volumes).
    OneNode,
    /// One pod at a time (ReadWriteOncePod).
    OnePod,
}

/// The identity of some data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum DataKey {
    /// A host directory, normalised ([`normalize`]).
    Host(String),
    /// A claim; `None` is the release namespace when the stream does not
    /// say which it is.
    Claim {
        namespace: Option<String>,
        name: String,
        /// The namespace is the release namespace (`--namespace`): the
        /// claim is shown by name alone, as it is when the namespace is not
        /// known, so that reports and the changes annotation read the same
        /// with or without `-n` (`patches --check` compares them).
        in_release: bool,
    },
}

impl fmt::Display for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataKey::Host(p) => write!(f, "hostPath {p}"),
            DataKey::Claim {
                namespace: Some(ns),
                name,
                in_release: false,
            } => write!(f, "claim {ns}/{name}"),
            DataKey::Claim { name, .. } => write!(f, "claim {name}"),
        }
    }
}

/// One volume of a pod that holds single-node or single-pod data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataRef {
    /// The volume's name in the pod.
    pub(crate) volume: String,
    /// The data.
    pub(crate) key: DataKey,
    /// One node or one pod.
    pub(crate) reach: Reach,
    /// The node the data is on, when its PersistentVolume says, and which
    /// PersistentVolume says so.
    pub(crate) node: Option<(NodeId, String)>,
    /// The required node affinity of the PersistentVolume a claim is bound
    /// to: every pod mounting it may run only there (VolumeBinding).
    pub(crate) volume_nodes: Option<NodeConstraint>,
    /// The host directory of a claim bound to a host-path PersistentVolume.
    pub(crate) host: Option<String>,
    /// A phrase saying why it is single-node, for explanations.
    pub(crate) why: &'static str,
}

/// Normalises a host path lexically: repeated slashes, `.`, `..` and a
/// trailing slash go.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The strict ancestors of a normalised path, innermost first (`/a/b` →
/// `/a`, `/`).
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = path;
    std::iter::from_fn(move || {
        if cur == "/" {
            return None;
        }
        cur = match cur.rfind('/') {
            Some(0) => "/",
            Some(i) => &cur[..i],
            None => return None,
        };
        Some(cur)
    })
}

/// Is `inner` the same directory as `outer` or inside it (both normalised)?
pub(crate) fn within(inner: &str, outer: &str) -> bool {
    inner == outer
        || outer == "/"
        || inner
            .strip_prefix(outer)
            .is_some_and(|r| r.starts_with('/'))
}

/// Does this host path expose the node itself (devices, sockets, system
/// directories) rather than hold data?
fn is_system(path: &str, type_: Option<&str>) -> bool {
    type_.is_some_and(|t| SYSTEM_TYPES.contains(&t)) || SYSTEM_DIRS.iter().any(|d| within(path, d))
}

/// Is the volume left out by the config's `ignore` list?
fn ignored(s: &Settings, v: &VolumeInfo) -> bool {
    s.ignore.iter().any(|i| ignore_matches(i, v))
}

/// Does one `ignore` entry (a volume name, or a host path) name the volume?
pub(crate) fn ignore_matches(entry: &str, v: &VolumeInfo) -> bool {
    entry == v.name
        || (entry.starts_with('/')
            && v.host_path
                .as_ref()
                .is_some_and(|(p, _)| normalize(p) == normalize(entry)))
}

/// What the stream and the settings say about the data a pod reaches.
pub(crate) struct Reader<'a> {
    inv: &'a Inventory,
    settings: &'a Settings,
    /// Claims (by name) some Polyaxon pod mounts read-write.
    written: BTreeSet<String>,
    /// Warnings about assumptions made (one per claim), each with the
    /// workloads whose pods the assumption is about.
    pub(crate) warnings: BTreeMap<Warning, BTreeSet<usize>>,
}

impl<'a> Reader<'a> {
    /// A reader over the stream's claims and volumes; `written` names the
    /// claims some pod mounts read-write (a ReadOnlyMany claim reaches
    /// every node only while every pod reads it only).
    pub(crate) fn new(
        inv: &'a Inventory,
        settings: &'a Settings,
        written: BTreeSet<String>,
    ) -> Self {
        Reader {
            inv,
            settings,
            written,
            warnings: BTreeMap::new(),
        }
    }

    /// Records `w` about `workload`'s pods.
    fn warn(&mut self, workload: usize, w: Warning) {
        self.warnings.entry(w).or_default().insert(workload);
    }

    /// The single-node and single-pod data of workload `workload`'s pods
    /// (index into the inventory's workloads) in `namespace`, and
    /// the node affinities of the PersistentVolumes its claims are bound to
    /// (of every claim, those that reach every node included: VolumeBinding
    /// holds the pod to them all the same).
    pub(crate) fn data_of(
        &mut self,
        workload: usize,
        volumes: &[VolumeInfo],
        namespace: Option<&str>,
    ) -> (Vec<DataRef>, Vec<NodeConstraint>) {
        let mut out = Vec::new();
        let mut bound = Vec::new();
        for v in volumes.iter().filter(|v| !ignored(self.settings, v)) {
            if let Some((path, type_)) = &v.host_path {
                let path = normalize(path);
                if !is_system(&path, type_.as_deref()) {
                    out.push(DataRef {
                        volume: v.name.clone(),
                        key: DataKey::Host(path),
                        reach: Reach::OneNode,
                        node: None,
                        volume_nodes: None,
                        host: None,
                        why: "is a host path (one node)",
                    });
                }
            } else if let Some(name) = &v.claim
                && let Some(r) = self.claim(workload, &v.name, name, namespace)
            {
                bound.extend(r.volume_nodes.clone());
                if r.reach != Reach::EveryNode {
                    out.push(r);
                }
            }
        }
        (out, bound)
    }

    /// How far a claim reaches, from its PersistentVolumeClaim and bound
    /// PersistentVolume in the stream, else from the settings (every node
    /// included).
    fn claim(
        &mut self,
        workload: usize,
        volume: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<DataRef> {
        let ns = namespace.or(self.settings.namespace.as_deref());
        let key = DataKey::Claim {
            namespace: ns.map(str::to_string),
            name: name.to_string(),
            in_release: ns.is_some() && ns == self.settings.namespace.as_deref(),
        };
        let mut best: Option<DataRef> = None;
        let mut found = false;
        for c in self.inv.claims.iter().filter(|c| {
            c.name == name
                && match (
                    c.namespace
                        .as_deref()
                        .or(self.settings.namespace.as_deref()),
                    ns,
                ) {
                    (Some(a), Some(b)) => a == b,
                    _ => true, // the same release namespace, as far as anyone can tell
                }
        }) {
            // Certain only when both namespaces are known and equal, or both
            // are the release namespace.
            let certain = c
                .namespace
                .as_deref()
                .or(self.settings.namespace.as_deref())
                == ns;
            // Bound either way: the claim names the volume, or the volume's
            // claimRef names the claim.
            let pv = c
                .volume_name
                .as_ref()
                .and_then(|v| self.inv.volumes.iter().find(|pv| &pv.name == v))
                .or_else(|| {
                    self.inv.volumes.iter().find(|pv| {
                        pv.claim_ref.as_ref().is_some_and(|(rns, rname)| {
                            *rname == c.name
                                && match (rns.as_deref(), c.namespace.as_deref().or(ns)) {
                                    (Some(a), Some(b)) => a == b,
                                    _ => true,
                                }
                        })
                    })
                });
            let modes: Vec<AccessMode> = c
                .access_modes
                .iter()
                .filter_map(|m| AccessMode::parse(m))
                .collect();
            // A claim listing no access mode says nothing about its reach:
            // treated like a claim not in the stream (assumed, with a warning).
            if modes.is_empty() && pv.is_none() {
                continue;
            }
            found |= certain;
            let has = |m| modes.contains(&m);
            let read_only_everywhere = !self.written.contains(name);
            let (reach, why) =
                if has(AccessMode::ReadWriteOncePod) && !has(AccessMode::ReadWriteOnce) {
                    (Reach::OnePod, "is ReadWriteOncePod (one pod)")
                } else if pv.is_some_and(|pv| pv.single_node) {
                    (
                        Reach::OneNode,
                        "is bound to a host-path or local PersistentVolume (one node)",
                    )
                } else if has(AccessMode::ReadWriteMany)
                    || (has(AccessMode::ReadOnlyMany) && read_only_everywhere)
                {
                    (Reach::EveryNode, "reaches every node")
                } else if has(AccessMode::ReadOnlyMany) {
                    (
                        Reach::OneNode,
                        "is ReadOnlyMany but mounted read-write (one node)",
                    )
                } else {
                    (Reach::OneNode, "is ReadWriteOnce (one node)")
                };
            let volume_nodes = pv
                .and_then(|pv| pv.node_affinity.as_ref())
                .map(NodeConstraint::of_volume);
            let node = pv.zip(volume_nodes.as_ref()).and_then(|(pv, c)| {
                let n = c.single_nodes().into_iter().next()?;
                Some((
                    n,
                    format!("PersistentVolume {}'s node affinity", shown(&pv.name)),
                ))
            });
            let r = DataRef {
                volume: volume.to_string(),
                key: key.clone(),
                reach,
                node,
                volume_nodes,
                host: pv.and_then(|pv| pv.host_path.as_deref()).map(normalize),
                why,
            };
            if best.as_ref().is_none_or(|b| r.reach > b.reach) {
                best = Some(r);
            }
        }
        if !found && let Some(b) = best.as_mut() {
            // Perhaps not this claim's volume (another namespace's claim of
            // that name): its node affinity proves nothing about the pod,
            // which gets an explicit pin instead when the node is known. If
            // it is the pod's, it holds the pod to its nodes all the same:
            // say so.
            if b.volume_nodes.take().is_some() {
                self.warn(
                    workload,
                    Warning::problem(format!(
                        "{key}: the stream's claim of that name in another namespace is bound to a \
                     PersistentVolume with a node affinity; if it is this claim (the release \
                     namespace is not known: pass --namespace), that affinity holds its pods too, \
                     and they stay Pending on a node it excludes"
                    )),
                );
            }
        }
        if !found && best.is_some() {
            // Maybe another claim of that name: assume it reaches one node.
            if best.as_ref().is_some_and(|b| b.reach < Reach::OneNode) {
                best = Some(DataRef {
                    volume: volume.to_string(),
                    key,
                    reach: Reach::OneNode,
                    node: None,
                    volume_nodes: None,
                    host: None,
                    why: "may be a ReadWriteOnce claim (the stream's claim of that name may be in another namespace; pass --namespace)",
                });
            }
        } else if !found {
            let repos = volume == REPOS_VOLUME
                || self.settings.source == Some(Source::Claim(name.to_string()));
            let mode = match self.settings.access_mode.filter(|_| repos) {
                Some(m) => m,
                None => {
                    self.warn(workload, Warning::advice(
                        Advice::ClaimModeAssumed,
                        format!(
                            "{key}: its PersistentVolumeClaim is not in the stream; assuming \
                             ReadWriteOnce ({}list the volume under `ignore:` if it reaches every node)",
                            if repos {
                                "set repos.accessMode in the config (or persistence.repos.accessMode \
                                 in the values) to say otherwise, or "
                            } else {
                                ""
                            }
                        ),
                    ));
                    AccessMode::ReadWriteOnce
                }
            };
            best = Some(DataRef {
                volume: volume.to_string(),
                key,
                reach: match mode {
                    AccessMode::ReadOnlyMany if self.written.contains(name) => Reach::OneNode,
                    AccessMode::ReadWriteMany | AccessMode::ReadOnlyMany => Reach::EveryNode,
                    AccessMode::ReadWriteOncePod => Reach::OnePod,
                    AccessMode::ReadWriteOnce => Reach::OneNode,
                },
                node: None,
                volume_nodes: None,
                host: None,
                why: match mode {
                    AccessMode::ReadWriteOncePod => "is ReadWriteOncePod (one pod)",
                    AccessMode::ReadWriteOnce => "is ReadWriteOnce (one node)",
                    AccessMode::ReadOnlyMany if self.written.contains(name) => {
                        "is ReadOnlyMany but mounted read-write (one node)"
                    }
                    _ => "reaches every node",
                },
            });
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_nested() {
        assert_eq!(normalize("/tmp//repos/"), "/tmp/repos");
        assert_eq!(normalize("/tmp/./x/../repos"), "/tmp/repos");
        assert_eq!(normalize("/"), "/");
        assert!(within("/tmp/repos", "/tmp"));
        assert!(!within("/tmp/repos", "/tmp/re"));
        assert!(within("/x", "/"));
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
        assert!(is_system("/var/run/docker.sock", None));
        assert!(is_system("/data/sock", Some("Socket")));
        assert!(!is_system("/var/lib/data", None));
        assert!(!is_system("/libx", None));
    }
}
