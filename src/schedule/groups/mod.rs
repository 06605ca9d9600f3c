//! Which pods must share a node, and how to make them: Polyaxon workloads
//! connected (transitively) by single-node data form a group; a group is
//! pinned to its known node, co-located on an unknown one, or refused when no
//! placement can be safe.
//!
//! The folder, by what each file decides: this file forms the groups and
//! gives each its verdict ([`assess`]); `node` finds the node a group's data
//! is on and checks what pinning there asks; `colocate` chooses how a
//! group's pods follow one another and judges whether they can share a node
//! with each other and with the pods around them; `tests.rs` holds the
//! unit tests.
//!
//! The rules here are pure and serve twice: [`assess`] decides what the plan
//! adds, and the placement check ([`crate::schedule::placement`]) runs it again on the
//! patched objects, requiring that the constraints are really there.
//!
//! Like the rest of `schedule/`, it imports nothing of patch, verify, plan
//! or the ways in.

use crate::config::Settings;
use crate::inventory::{Inventory, PodSummary, REPOS_VOLUME, VolumeInfo, Workload};
use crate::k8s::{COLOCATE_LABEL, HOSTNAME, NodeId, WorkloadKind};
use crate::report::{Advice, Warning};
use crate::schedule::constraints::{
    Maybe, NodeConstraint, Within, affinity_terms, anti_affinity_terms, jointly_satisfiable, keyed,
    selector_matches, term_covers_namespace, term_keys, term_selects,
};
use crate::schedule::data::{self, DataKey, DataRef, Reach};
use crate::schedule::pods::{self, PodCount};
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod colocate;
mod node;

pub(crate) use colocate::*;
use node::*;

message_error!(
    /// Pods of a group that cannot be kept safe: which pods, which
    /// constraint, what to do (exit 1).
    Unsafe
);

/// How many workloads an explanation names before saying "N more".
const NAMES_LISTED: usize = 4;

/// A Polyaxon workload as the scheduling rules see it.
#[derive(Debug)]
pub(crate) struct Member<'a> {
    /// Index into [`Inventory::workloads`].
    pub(crate) index: usize,
    /// The workload.
    pub(crate) w: &'a Workload,
    /// Its pod spec (as planned, or as patched).
    pub(crate) pod: &'a PodSummary,
    /// Its single-node and single-pod data (kept once per value:
    /// thousands of workloads of a large stream mount the same).
    pub(crate) data: std::sync::Arc<[DataRef]>,
    /// Where its pods may run.
    pub(crate) nodes: NodeConstraint,
    /// How many pods it runs at once.
    pub(crate) count: PodCount,
    /// Its namespace: written, or the release namespace (None: unknown).
    ns: Option<&'a str>,
}

impl Member<'_> {
    fn ns(&self) -> Option<&str> {
        self.ns
    }
}

/// A pod template of the stream (of any workload, Polyaxon's or not), as
/// far as a co-location selector may reach it.
#[derive(Debug)]
pub(crate) struct Neighbour<'a> {
    /// Index into [`Inventory::workloads`].
    index: usize,
    /// The workload.
    w: &'a Workload,
    /// Its namespace: written, or the release namespace (None: unknown).
    ns: Option<&'a str>,
    /// Its pod labels.
    labels: &'a [(String, String)],
    /// Its pod spec (as planned, or as patched).
    pod: &'a PodSummary,
}

/// What the group rules read of a stream: the members and every pod
/// template beside them.
#[derive(Debug)]
pub(crate) struct Stream<'a> {
    /// The Polyaxon workloads that can matter to placement.
    pub(crate) members: Vec<Member<'a>>,
    /// Every workload's pod template.
    neighbours: Vec<Neighbour<'a>>,
    /// The neighbours with a required anti-affinity or a host port.
    guarded: Vec<usize>,
    /// The neighbours by pod label, built the first time a selector needs it.
    by_label: std::cell::OnceCell<HashMap<(&'a str, &'a str), Vec<usize>>>,
    /// The assumptions made reading the data.
    pub(crate) warnings: BTreeSet<Warning>,
    /// The inventory, for the pod counts of neighbours.
    inv: &'a Inventory,
    /// The release namespace, if known.
    release: Option<&'a str>,
}

impl<'a> Stream<'a> {
    /// How many pods a neighbour runs at once (rollouts counted).
    fn pods_of(&self, n: &Neighbour<'_>) -> u64 {
        pods::count(self.inv, n.w, &NodeConstraint::of(n.pod), self.release).total()
    }

    /// The neighbours whose pods carry `key` with one of `values`.
    fn labelled(&self, key: &str, values: &[String]) -> impl Iterator<Item = &Neighbour<'a>> {
        let index = self.by_label.get_or_init(|| {
            let mut m: HashMap<(&'a str, &'a str), Vec<usize>> = HashMap::new();
            for (i, n) in self.neighbours.iter().enumerate() {
                for (k, v) in n.labels {
                    m.entry((k.as_str(), v.as_str())).or_default().push(i);
                }
            }
            m
        });
        let mut hits: Vec<usize> = values
            .iter()
            .filter_map(|v| index.get(&(key, v.as_str())))
            .flatten()
            .copied()
            .collect();
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter().map(|i| &self.neighbours[i])
    }
}

/// The Polyaxon workloads that can matter to placement, with their data,
/// reading each pod spec through
/// `pod_of` (the stream's or the patched one) and its volumes through
/// `volumes_of` when the plan changes them, and the assumptions made.
pub(crate) fn members<'a>(
    inv: &'a Inventory,
    s: &'a Settings,
    pod_of: &dyn Fn(usize) -> &'a PodSummary,
    volumes_of: &dyn Fn(usize) -> Option<&'a [VolumeInfo]>,
) -> Stream<'a> {
    // Claims some Polyaxon pod mounts read-write, as planned.
    let written = inv
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| w.polyaxon)
        .flat_map(|(i, _)| volumes_of(i).unwrap_or(&pod_of(i).volumes))
        .filter(|v| !v.read_only)
        .filter_map(|v| v.claim.clone())
        .collect();
    let mut reader = data::Reader::new(inv, s, written);
    let release = s.namespace.as_deref();
    let out = inv
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| w.polyaxon)
        .filter_map(|(i, w)| {
            let pod = pod_of(i);
            let volumes = volumes_of(i).unwrap_or(&pod.volumes);
            let (data, bound) = reader.data_of(i, volumes, w.namespace.as_deref().or(release));
            // A workload without data is in no group: what it may do to a
            // group's node (its anti-affinity, host ports, labels) counts
            // among the neighbours, as every workload's does.
            if data.is_empty() {
                return None;
            }
            // A claim bound to a PersistentVolume with a node affinity holds
            // every pod mounting it to those nodes (VolumeBinding).
            let nodes = bound.iter().fold(NodeConstraint::of(pod), |n, v| n.and(v));
            Some(Member {
                index: i,
                w,
                pod,
                data: crate::shared::share(data.into()),
                count: pods::count(inv, w, &nodes, release),
                nodes,
                ns: w.namespace.as_deref().or(release),
            })
        })
        .collect();
    let neighbours: Vec<Neighbour<'a>> = (0..inv.workloads.len())
        .map(|i| Neighbour {
            index: i,
            w: &inv.workloads[i],
            ns: inv.workloads[i].namespace.as_deref().or(release),
            labels: &pod_of(i).labels,
            pod: pod_of(i),
        })
        .collect();
    let guarded = neighbours
        .iter()
        .enumerate()
        .filter(|(_, n)| !anti_affinity_terms(n.pod).is_empty() || !n.pod.host_ports.is_empty())
        .map(|(i, _)| i)
        .collect();
    Stream {
        members: out,
        neighbours,
        guarded,
        by_label: std::cell::OnceCell::new(),
        warnings: reader
            .warnings
            .into_iter()
            .map(|(w, about)| w.about(about))
            .collect(),
        inv,
        release,
    }
}

/// Groups of members (indices into `ms`) connected by shared single-node
/// data: the same claim, or host directories equal or nested.
pub(crate) fn group(ms: &[Member<'_>]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..ms.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut union = |a: usize, b: usize| {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    };
    let mut hosts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut claims: HashMap<&str, Vec<(Option<&str>, usize)>> = HashMap::new();
    for (i, m) in ms.iter().enumerate() {
        for r in m.data.iter() {
            let paths = [
                match &r.key {
                    DataKey::Host(p) => Some(p.as_str()),
                    DataKey::Claim { .. } => None,
                },
                r.host.as_deref(),
            ];
            for p in paths.into_iter().flatten() {
                match hosts.get(p) {
                    Some(&j) => union(i, j),
                    None => {
                        hosts.insert(p, i);
                    }
                }
            }
            if let DataKey::Claim {
                namespace, name, ..
            } = &r.key
            {
                claims
                    .entry(name)
                    .or_default()
                    .push((namespace.as_deref(), i));
            }
        }
    }
    for (p, &i) in &hosts {
        for a in data::ancestors(p) {
            if let Some(&j) = hosts.get(a) {
                union(i, j);
            }
        }
    }
    for users in claims.values() {
        for (k, (ns, i)) in users.iter().enumerate() {
            for (ns2, j) in &users[..k] {
                if ns.is_none() || ns2.is_none() || ns == ns2 {
                    union(*i, *j);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, m) in ms.iter().enumerate() {
        if !m.data.is_empty() {
            let root = find(&mut parent, i);
            groups.entry(root).or_default().push(i);
        }
    }
    groups.into_values().collect()
}

/// What keeps a group safe.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// One pod at most, on a node nobody knows: nothing to add.
    Alone,
    /// Every member must run on this node (`source` says who knows).
    Pin { node: NodeId, source: String },
    /// Every pod must follow the first one to its node.
    Colocate(Colocation),
}

/// A co-location: the required pod-affinity term every pod of the group
/// carries, and (for the fallback) the label it selects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Colocation {
    /// What the term selects.
    pub(crate) select: Select,
    /// Which namespaces the term looks in.
    pub(crate) scope: Scope,
}

/// What a co-location term selects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Select {
    /// `key In [values]` for each key (sorted), over labels every pod of the
    /// group carries in every render of its release (the keys of each
    /// workload's immutable `spec.selector`, or the chart's name and
    /// instance labels): the pods running today, rendered before this tool
    /// or with other data, match it too.
    Labels(Vec<(String, Vec<String>)>),
    /// [`COLOCATE_LABEL`] with this value, which the plan adds to the pods:
    /// the fallback when no labels select exactly the group's pods. Pods
    /// rendered without it do not match.
    Added(String),
}

/// Which namespaces a co-location term looks in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scope {
    /// The pod's own (the group lives in one namespace).
    Own,
    /// These (the group spans them; every one is named in the stream).
    Named(Vec<String>),
    /// Every namespace (`namespaceSelector: {}`): the group spans
    /// namespaces the stream does not name.
    All,
}

impl std::fmt::Display for Colocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.select {
            Select::Labels(l) => {
                let l: Vec<String> = l
                    .iter()
                    .map(|(k, v)| format!("{k} In [{}]", v.join(", ")))
                    .collect();
                write!(f, "pods matching {}", l.join(", "))?
            }
            Select::Added(v) => write!(f, "pods labelled {COLOCATE_LABEL}={v}")?,
        }
        match &self.scope {
            Scope::Own => Ok(()),
            Scope::Named(n) => write!(f, " in namespaces {}", n.join(", ")),
            Scope::All => f.write_str(" in any namespace"),
        }
    }
}

/// A group's verdict with what explains it.
#[derive(Debug, Clone)]
pub(crate) struct Assessment {
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// Why, for the annotation (`why: …`).
    pub(crate) why: String,
    /// What the user should know.
    pub(crate) warnings: Vec<Warning>,
    /// Which of the config's node settings the verdict read.
    pub(crate) used: NodeSettingsUsed,
}

/// Which of the config's node settings a group's verdict read: a setting
/// no group reads does nothing, which the plan refuses.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeSettingsUsed {
    /// `repos.node`: the group holds the repos volume.
    pub(crate) repos_node: bool,
    /// The top-level `node`: the group holds host data whose node nothing
    /// else names.
    pub(crate) data_node: bool,
}

/// Decides, for one group (indices into `ms`), what keeps it safe, or why
/// nothing can. With `applied`, the constraints must already be in the pod
/// specs (the placement check); otherwise they are what the plan will add.
pub(crate) fn assess(
    st: &Stream<'_>,
    group: &[usize],
    s: &Settings,
    applied: bool,
) -> Result<Assessment, Unsafe> {
    let ms = &st.members;
    let g: Vec<&Member<'_>> = group.iter().map(|&i| &ms[i]).collect();
    let total: u64 = g.iter().map(|m| m.count.total()).sum();
    let has_host = g.iter().any(|m| {
        m.data
            .iter()
            .any(|r| matches!(r.key, DataKey::Host(_)) || r.host.is_some())
    });
    let holds_repos = g
        .iter()
        .any(|m| m.data.iter().any(|r| r.volume == REPOS_VOLUME));
    let data = describe_data(&g);
    let names = list_names(g.iter().map(|m| m.w.id_in_namespace()));
    let (known, used) = known_node(&g, s, holds_repos, has_host)?;
    one_pod_data(&g)?;
    if let Some((node, source)) = known {
        for m in &g {
            if !m.nodes.admits(&node) {
                return Err(Unsafe(format!(
                    "{} must run on {node} ({source} says its data is there: {data}), but its \
                     nodeSelector, nodeName or required node affinity excludes that node. \
                     Change the node, or the workload's node constraints",
                    m.w.at()
                )));
            }
            // Once pinned, the terms that still admit the node may also
            // name a node the other way (a node name beside the hostname):
            // nothing proves they are one node.
            if !applied
                && let Some(other) = m
                    .nodes
                    .with_pin(&node)
                    .single_nodes()
                    .into_iter()
                    .find(|n| *n != node)
            {
                return Err(Unsafe(format!(
                    "{} must run on {node} ({source} says its data is there: {data}), but the \
                     node constraints that allow it also hold it to {other}, and a node name and \
                     a hostname label cannot be proven to be the same node. Make them name the \
                     same node, the same way",
                    m.w.at()
                )));
            }
            if applied && !m.nodes.pins(&node) {
                return Err(Unsafe(format!(
                    "{} shares {data} but is not held to {node}",
                    m.w.at()
                )));
            }
        }
        let all: Vec<&NodeConstraint> = g.iter().map(|m| &m.nodes).collect();
        if !jointly_satisfiable(&all, Some(&node)) {
            return Err(Unsafe(format!(
                "{names} share {data} and must all run on {node}, but no node can satisfy all \
                 their nodeSelectors and required node affinities at once. Give them compatible \
                 node constraints"
            )));
        }
        co_residence(st, &g, true)?;
        pinned_affinity(st, &g, &node)?;
        outside(st, &g)?;
        // A pin (the tool's, or a bound volume's) beside other node labels
        // holds only where that node carries them: the stream cannot say,
        // the user can. A pod that pins itself is its author's business.
        let warnings = g
            .iter()
            .filter(|_| !applied)
            .filter_map(|m| {
                // A pod that pins itself beside its own labels is its
                // author's business; labels a volume adds are not.
                let own = NodeConstraint::of(m.pod);
                let mut keys = m.nodes.other_keys(&node);
                if own.pins(&node) {
                    for k in own.other_keys(&node) {
                        keys.remove(&k);
                    }
                }
                (!keys.is_empty()).then(|| {
                    Warning::about(Warning::advice(
                        Advice::PinNeedsNodeLabels,
                        format!(
                            "{} is held to {node} ({source}) and its node constraints also ask \
                             for the node labels {}: if that node does not carry them, its pods \
                             stay Pending. Check the node's labels (kubectl get node --show-labels)",
                            m.w.at(),
                            list_names(keys.into_iter())
                        ),
                    ), [m.index])
                })
            })
            .collect();
        return Ok(Assessment {
            why: format!("why: {data}; its data is on {node} ({source})"),
            verdict: Verdict::Pin { node, source },
            warnings,
            used,
        });
    }
    if let Some(d) = g.iter().find(|m| m.count.per_node) {
        return Err(Unsafe(format!(
            "{} runs a pod on every node, but {data} is single-node data. Set `node:` \
             (or repos.node) to the node that holds it, restrict the DaemonSet to that node, \
             or use a ReadWriteMany claim",
            d.w.at()
        )));
    }
    let host_warning = (has_host && !(holds_repos && s.external)).then(|| {
        Warning::advice(
            Advice::HostDataUnpinned,
            format!(
                "{data}: no node is known for this host data, so it stays on whichever node the \
                 first pod of {names} lands on (draining that node moves the pods, not the data). \
                 Set `node:` in the config{} to the node that holds it",
                if holds_repos { " (or repos.node)" } else { "" }
            ),
        )
    });
    if total <= 1 {
        let warning = host_warning.or_else(|| {
            (holds_repos && !s.external).then(|| {
                Warning::advice(
                    Advice::ReposOnOneNode,
                    format!(
                        "{data} and only {names} uses it: losing that node loses the repos. \
                         Set repos.external: true if the code is hosted elsewhere, or use a \
                         ReadWriteMany claim"
                    ),
                )
            })
        });
        return Ok(Assessment {
            verdict: Verdict::Alone,
            why: String::new(),
            warnings: warning.into_iter().collect(),
            used,
        });
    }
    let (colocation, fallback) = choose(st, &g);
    colocation_blockers(&g, &colocation, applied)?;
    co_residence(st, &g, false)?;
    outside(st, &g)?;
    let fallback = fallback.map(|why| {
        Warning::advice(
            Advice::ColocationNewLabel,
            format!(
                "{names} share {data}, but {why}; so they are co-located through the label \
             {COLOCATE_LABEL}, which the pods running today do not carry (rendered without \
             polyrepo-render, or before these workloads shared this data). On this upgrade the \
             first new pod may start on another node than the running pods and their data. Set \
             `node:` in the config{} to the node that holds it, or give the workloads labels that \
             select exactly their pods (in spec.selector)",
                if holds_repos { " (or repos.node)" } else { "" }
            ),
        )
    });
    Ok(Assessment {
        why: format!(
            "why: {data}; {} ({names})",
            share_count(g.iter().map(|m| m.count.steady).sum(), total)
        ),
        verdict: Verdict::Colocate(colocation),
        warnings: host_warning.into_iter().chain(fallback).collect(),
        used,
    })
}

/// How many pods share the data: in steady state, and during a rollout when
/// surge pods add to them ("2 pods share it, 4 during a rollout").
fn share_count(steady: u64, total: u64) -> String {
    match (steady, total) {
        (s, t) if s == t => format!("{t} pods share it"),
        (1, t) => format!("1 pod uses it, {t} during a rollout"),
        (s, t) => format!("{s} pods share it, {t} during a rollout"),
    }
}

/// "hostPath /a is a host path (one node)", or a list of the group's data.
/// What would let the group's pods spread out, by the kind of data that
/// holds them together: host paths may be listed under `ignore:` (when
/// their data may differ from node to node) or moved to a claim every node
/// can mount; one-node claims may become ReadWriteMany.
fn data_remedy(g: &[&Member<'_>]) -> String {
    let mut hosts = BTreeSet::new();
    let mut claims = BTreeSet::new();
    for r in g.iter().flat_map(|m| m.data.iter()) {
        match &r.key {
            DataKey::Host(p) => {
                hosts.insert(p.clone());
            }
            DataKey::Claim { .. } => {
                claims.insert(r.key.to_string());
            }
        }
    }
    let mut ways = Vec::new();
    if !hosts.is_empty() {
        ways.push(format!(
            "list {} under `ignore:` if that data may differ from node to node, or put it on a \
             ReadWriteMany claim",
            list_names(hosts.into_iter())
        ));
    }
    if !claims.is_empty() {
        ways.push(format!(
            "make {} ReadWriteMany",
            list_names(claims.into_iter())
        ));
    }
    ways.join(", and ")
}

fn describe_data(g: &[&Member<'_>]) -> String {
    let mut all: BTreeMap<String, &'static str> = BTreeMap::new();
    for r in g.iter().flat_map(|m| m.data.iter()) {
        all.entry(r.key.to_string()).or_insert(r.why);
    }
    if all.len() == 1 {
        let (k, why) = all.into_iter().next().expect("one");
        return format!("{k} {why}");
    }
    let n = all.len();
    let mut v: Vec<String> = all.into_keys().take(NAMES_LISTED).collect();
    if n > NAMES_LISTED {
        v.push(format!("{} more", n - NAMES_LISTED));
    }
    format!("single-node data ({})", v.join(", "))
}

/// At most [`NAMES_LISTED`] names, sorted, then how many more.
pub(crate) fn list_names(names: impl Iterator<Item = String>) -> String {
    let all: BTreeSet<String> = names.collect();
    let mut out: Vec<String> = all.iter().take(NAMES_LISTED).cloned().collect();
    if all.len() > NAMES_LISTED {
        out.push(format!("{} more", all.len() - NAMES_LISTED));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests;
