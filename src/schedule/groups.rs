//! Which pods must share a node, and how to make them: Polyaxon workloads
//! connected (transitively) by single-node data form a group; a group is
//! pinned to its known node, co-located on an unknown one, or refused when no
//! placement can be safe.
//!
//! The rules here are pure and serve twice: [`assess`] decides what the plan
//! adds, and the placement check ([`crate::schedule::placement`]) runs it again on the
//! patched objects, requiring that the constraints are really there.

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
    /// Its single-node and single-pod data.
    pub(crate) data: Vec<DataRef>,
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
                data,
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
        for r in &m.data {
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

/// The node the group's data is on, if anything says so; two different
/// nodes are an error naming both.
fn known_node(
    g: &[&Member<'_>],
    s: &Settings,
    holds_repos: bool,
    has_host: bool,
) -> Result<(Option<(NodeId, String)>, NodeSettingsUsed), Unsafe> {
    let mut found: Vec<(NodeId, String)> = Vec::new();
    let mut used = NodeSettingsUsed::default();
    if let (true, Some(n)) = (holds_repos, &s.node) {
        used.repos_node = true;
        found.push((
            NodeId::Hostname(n.clone()),
            "repos.node in the config".into(),
        ));
    }
    for m in g {
        for r in &m.data {
            if let Some(n) = &r.node {
                found.push(n.clone());
            }
        }
        for n in m.nodes.single_nodes() {
            let what = match n {
                NodeId::Name(_) if m.pod.node_name.is_some() => "spec.nodeName",
                _ => "node constraints",
            };
            found.push((n, format!("{}'s {what}", m.w.at())));
        }
    }
    if has_host && let Some(n) = &s.data_node {
        // It decides where nothing else does, and is used as well when it
        // names the node something else decides.
        let named = NodeId::Hostname(n.clone());
        match found.first() {
            None => {
                used.data_node = true;
                found.push((named, "node in the config".into()));
            }
            Some((first, _)) => used.data_node |= *first == named,
        }
    }
    let Some(first) = found.first().cloned() else {
        return Ok((None, used));
    };
    if let Some(other) = found.iter().find(|(n, _)| *n != first.0) {
        let data = describe_data(g);
        let why = if std::mem::discriminant(&other.0) == std::mem::discriminant(&first.0) {
            "two different nodes"
        } else {
            "a node name and a hostname label that cannot be proven to be the same node"
        };
        return Err(Unsafe(format!(
            "{data} is shared by pods that are held to {why}: {} ({}) and {} ({}). \
             Make them name the same node, the same way (a node name and its {HOSTNAME} label may differ)",
            first.0, first.1, other.0, other.1
        )));
    }
    Ok((Some(first), used))
}

/// Refuses single-pod data (ReadWriteOncePod) used by more than one pod.
fn one_pod_data(g: &[&Member<'_>]) -> Result<(), Unsafe> {
    // By claim name: within one group, a claim of the same name whose
    // namespace is not known to differ may be the same claim (count more).
    /// The pods that mount one single-pod claim: how many, whose, what
    /// would bring each down to one, and whether a rollout adds one.
    #[derive(Default)]
    struct Users {
        pods: u64,
        who: Vec<String>,
        advice: BTreeSet<&'static str>,
        surge: bool,
    }
    let mut users: BTreeMap<String, Users> = BTreeMap::new();
    for m in g {
        for r in m.data.iter().filter(|r| r.reach == Reach::OnePod) {
            let name = match &r.key {
                DataKey::Claim { name, .. } => format!("claim {name}"),
                k => k.to_string(),
            };
            let e = users.entry(name).or_default();
            e.pods += m.count.total();
            e.who.push(m.w.at());
            e.advice.insert(one_pod_advice(m));
            e.surge |= m.count.surge > 0;
        }
    }
    for (
        key,
        Users {
            pods,
            who,
            advice,
            surge,
        },
    ) in users
    {
        if pods > 1 {
            let advice: Vec<&str> = advice.into_iter().collect();
            return Err(Unsafe(format!(
                "{key} is ReadWriteOncePod: only one pod may mount it, but {} run {pods} pods \
                 at once{}. To fix it: {}; or use a ReadWriteMany claim",
                who.join(", "),
                if surge {
                    " (counting the extra pod of a rolling update)"
                } else {
                    ""
                },
                advice.join("; ")
            )));
        }
    }
    Ok(())
}

/// What brings a workload down to one pod at a time, by its kind: a
/// CronJob's second Job comes from `concurrencyPolicy: Allow`, a Job's pods
/// from `parallelism`, a Deployment's extra pod from its rolling update.
fn one_pod_advice(m: &Member<'_>) -> &'static str {
    match m.w.kind {
        WorkloadKind::CronJob => {
            "for a CronJob, set `concurrencyPolicy: Forbid` (a run may otherwise start while the \
             last one still runs) and the job template's `parallelism: 1`"
        }
        WorkloadKind::Job => "for a Job, set `parallelism: 1`",
        WorkloadKind::Deployment if m.count.surge > 0 => {
            "for a Deployment, run one replica with `strategy: {type: Recreate}` (a rolling \
             update runs the new pod beside the old one)"
        }
        WorkloadKind::DaemonSet => "hold the DaemonSet to one node",
        _ => "run a single replica",
    }
}

/// Why co-location (a required pod affinity on a shared label) cannot hold
/// for this group, if it cannot: the all-terms rule of existing affinity,
/// node constraints that differ, a selector the label would break, or (with
/// `applied`) a member that lacks the co-location term.
fn colocation_blockers(g: &[&Member<'_>], co: &Colocation, applied: bool) -> Result<(), Unsafe> {
    let first = g[0];
    // The labels every pod will carry: as patched, or as planned.
    let labels: Vec<Vec<(String, String)>> = g
        .iter()
        .map(|m| {
            if applied {
                m.pod.labels.clone()
            } else {
                labels_with(m, co)
            }
        })
        .collect();
    let term = colocation_term(co);
    if !first.nodes.satisfiable() {
        return Err(Unsafe(format!(
            "{}: no node can satisfy its nodeSelector and required node affinity together, so its \
             pods can never run. Fix its node constraints",
            first.w.at()
        )));
    }
    for (m, l) in g.iter().zip(&labels) {
        if m.nodes != first.nodes {
            return Err(Unsafe(format!(
                "{} and {} share single-node data but may run on different sets of nodes (their \
                 nodeName, nodeSelector or required node affinity differ, or the node affinity of a \
                 PersistentVolume one of them mounts), so the first pod can land where the other \
                 cannot follow. Give them the same node constraints, or set `node:` \
                 (or repos.node) to pin them",
                first.w.at(),
                m.w.at()
            )));
        }
        if m.w.selector.is_some() && !selector_matches(m.w.selector.as_ref(), l) {
            return Err(Unsafe(format!(
                "{}: its spec.selector would no longer match its pod template once the pods carry \
                 the co-location label ({co}); remove {COLOCATE_LABEL} from spec.selector, or set \
                 `node:` to pin it",
                m.w.at(),
            )));
        }
        if !selector_matches(term.label_selector.as_ref(), l) {
            return Err(Unsafe(format!(
                "{} shares single-node data with other pods but its pods would not match the \
                 co-location term ({co})",
                m.w.at(),
            )));
        }
        if applied && !affinity_terms(m.pod).contains(&term) {
            return Err(Unsafe(format!(
                "{} shares single-node data with other pods but lacks the required pod affinity \
                 to {co}",
                m.w.at(),
            )));
        }
        if g.iter()
            .any(|b| term_covers_namespace(&term, m.ns(), b.ns()) != Maybe::Yes)
        {
            return Err(Unsafe(format!(
                "{} shares single-node data with pods in another namespace",
                m.w.at()
            )));
        }
    }
    // The scheduler needs one pod matching *all* of a pod's required
    // affinity terms: every pod of the group must match every term. The
    // co-location term matches them all (checked above).
    for a in g {
        for t in affinity_terms(a.pod).iter().filter(|t| **t != term) {
            // matchLabelKeys on a per-revision (or per-pod) label: the
            // first new pod of a rollout finds no pod of its revision and,
            // by the scheduler's first-pod rule, may start anywhere.
            let within = term_keys(t, &a.pod.labels, a.w.kind, true).within;
            if within > Within::Any {
                return Err(Unsafe(format!(
                    "{} has a required pod affinity (topologyKey {}) whose matchLabelKeys count \
                     only pods of its own {}: beside the co-location term, the first pod of a \
                     rollout would find none and could start on any node, away from {}. Drop \
                     matchLabelKeys from the term, or set `node:` to pin the pods",
                    a.w.at(),
                    t.topology_key,
                    match within {
                        Within::Pod => "pod",
                        Within::Revision => "revision (a rolling update's new pods count apart)",
                        _ => "workload",
                    },
                    describe_data(g)
                )));
            }
            // Its reach is any pod here (narrower ones are refused above).
            for (b, l) in g.iter().zip(&labels) {
                if counts(t, a, l, b.ns(), true) != Maybe::Yes {
                    // Pinning helps only when some pod of the group meets
                    // the term on that node.
                    let some_member = g
                        .iter()
                        .zip(&labels)
                        .any(|(c, l)| counts(t, a, l, c.ns(), true) == Maybe::Yes);
                    return Err(Unsafe(format!(
                        "{} has a required pod affinity (topologyKey {}{}) that pods of {} do not \
                         match; the scheduler needs one pod matching all of a pod's required affinity \
                         terms, so the co-location term would leave them Pending. Make the term match \
                         every pod sharing the data, or drop it{}",
                        a.w.at(),
                        t.topology_key,
                        earlier_note(a.pod, t),
                        b.w.at(),
                        if some_member {
                            ", or set `node:` to pin them"
                        } else {
                            " (pinning them with `node:` would not help: no pod sharing the data \
                             matches it, so the pods it asks for may run on another node)"
                        }
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The pod labels once the plan is applied: with the co-location label
/// set when the term selects it.
fn labels_with(m: &Member<'_>, co: &Colocation) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = m
        .pod
        .labels
        .iter()
        .filter(|(k, _)| k != COLOCATE_LABEL)
        .cloned()
        .collect();
    if let Select::Added(v) = &co.select {
        l.push((COLOCATE_LABEL.into(), v.clone()));
    }
    l
}

/// The required pod-affinity term the plan adds for a co-location.
pub(crate) fn colocation_term(co: &Colocation) -> k8s_openapi::api::core::v1::PodAffinityTerm {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
    let label_selector = match &co.select {
        Select::Labels(l) => LabelSelector {
            match_expressions: Some(
                l.iter()
                    .map(|(k, v)| LabelSelectorRequirement {
                        key: k.clone(),
                        operator: "In".into(),
                        values: Some(v.clone()),
                    })
                    .collect(),
            ),
            ..Default::default()
        },
        Select::Added(v) => LabelSelector {
            match_labels: Some([(COLOCATE_LABEL.to_string(), v.clone())].into()),
            ..Default::default()
        },
    };
    k8s_openapi::api::core::v1::PodAffinityTerm {
        label_selector: Some(label_selector),
        namespaces: match &co.scope {
            Scope::Named(n) => Some(n.clone()),
            _ => None,
        },
        namespace_selector: (co.scope == Scope::All).then(LabelSelector::default),
        topology_key: HOSTNAME.into(),
        ..Default::default()
    }
}

/// Label keys that name a workload's pods in every render of its release,
/// by Kubernetes' and Helm's conventions: read where a workload has no
/// selector (Jobs, CronJobs, Pods) to say which of its labels last.
const RELEASE_KEYS: [&str; 4] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app",
    "release",
];

/// The labels every pod of a member carries in every render of its
/// release: those its `spec.selector` requires (immutable once created, so
/// the pods of earlier renders carry them too), or else its
/// [`RELEASE_KEYS`] labels.
fn lasting_labels<'m>(m: &'m Member<'_>) -> BTreeMap<&'m str, &'m str> {
    // (A selector its own template does not match is refused apart.)
    let by_selector: BTreeMap<&str, &str> =
        m.w.selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != COLOCATE_LABEL)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
    if !by_selector.is_empty() {
        return by_selector;
    }
    m.pod
        .labels
        .iter()
        .filter(|(k, _)| RELEASE_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// How a group is co-located: a term over the labels its pods carry in
/// every render, when one selects exactly the group's pods among every pod
/// template of the stream in the namespaces it looks in; otherwise the
/// added label, with why (for a warning: running pods lack that label).
/// The co-location that keeps other pods (those Polyaxon creates at run
/// time) beside group `group`'s pods, with the fallback's reason when it
/// selects a label the plan adds.
pub(crate) fn follow(st: &Stream<'_>, group: &[usize]) -> (Colocation, Option<String>) {
    let g: Vec<&Member<'_>> = group.iter().map(|&i| &st.members[i]).collect();
    choose(st, &g)
}

fn choose(st: &Stream<'_>, g: &[&Member<'_>]) -> (Colocation, Option<String>) {
    let spaces: BTreeSet<Option<&str>> = g.iter().map(|m| m.ns()).collect();
    let scope = if spaces.len() == 1 {
        Scope::Own
    } else if spaces.iter().all(Option::is_some) {
        Scope::Named(spaces.iter().flatten().map(|n| n.to_string()).collect())
    } else {
        Scope::All
    };
    // Held by a bound volume's node affinity: the pods running today may
    // sit where it excludes (rendered before the claim was theirs), and a
    // term selecting them would hold the new pods back for good.
    let by_volume = g.iter().any(|m| m.nodes != NodeConstraint::of(m.pod));
    let why = if scope == Scope::All {
        "they span namespaces and the release namespace is not known (pass -n)".to_string()
    } else if by_volume {
        "a PersistentVolume's node affinity holds their pods, and the pods running today may \
         sit on nodes it excludes (if they ran before the claim was theirs), where a term \
         selecting them would hold the new pods back for good"
            .to_string()
    } else {
        let lasting: Vec<BTreeMap<&str, &str>> = g.iter().map(|m| lasting_labels(m)).collect();
        let keys: Vec<&str> = lasting[0]
            .keys()
            .filter(|k| lasting.iter().all(|l| l.contains_key(*k)))
            .copied()
            .collect();
        let select: Vec<(String, Vec<String>)> = keys
            .iter()
            .map(|k| {
                let values: BTreeSet<&str> = lasting.iter().map(|l| l[k]).collect();
                (
                    k.to_string(),
                    values.into_iter().map(str::to_string).collect(),
                )
            })
            .collect();
        let co = Colocation {
            select: Select::Labels(select),
            scope: scope.clone(),
        };
        let term = colocation_term(&co);
        let inside = |i: usize| g.iter().any(|m| m.index == i);
        // Only pods carrying the first key with one of its values can match.
        let also = match &co.select {
            Select::Labels(l) if !l.is_empty() => st.labelled(&l[0].0, &l[0].1).find(|n| {
                !inside(n.index) && term_selects(&term, g[0].ns(), n.labels, n.ns).possible()
            }),
            _ => None,
        };
        // The workload documents left unread: one whose text holds a value
        // of every key may carry them.
        let unread = match &co.select {
            Select::Labels(l) if also.is_none() => st
                .inv
                .unread
                .mentions(&l.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()),
            _ => None,
        };
        match (also, unread) {
            _ if keys.is_empty() => format!(
                "their pods share no label their spec.selector requires (nor {})",
                RELEASE_KEYS.join(", ")
            ),
            (Some(n), _) => format!(
                "the labels they share ({co}) also select the pods of {}",
                n.w.at()
            ),
            (None, Some(doc)) => {
                format!("the labels they share ({co}) may also be those of the workload in {doc}")
            }
            (None, None) => return (co, None),
        }
    };
    // The members, and the nodes a bound volume holds them to: the same
    // across renders that keep both.
    let ids = g
        .iter()
        .map(|m| {
            let held = if by_volume {
                format!("{:?}", m.nodes)
            } else {
                String::new()
            };
            format!("{}/{}/{}{held}", m.w.kind, m.ns().unwrap_or(""), m.w.name)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",");
    let co = Colocation {
        select: Select::Added(format!("group-{}", digest(&ids))),
        scope,
    };
    (co, Some(why))
}

/// Conflicts between pods that must all run on one node: required
/// anti-affinity between them, the same host port, or a topology spread
/// they would break. `pinned`: the node is fixed, so spreading has a single
/// eligible domain.
fn co_residence(st: &Stream<'_>, g: &[&Member<'_>], pinned: bool) -> Result<(), Unsafe> {
    // How many pods a member runs on the group's node: a DaemonSet held
    // there runs one (and its surge), not one per node.
    let total = |m: &Member<'_>| {
        if pinned && m.count.per_node {
            m.count.steady + m.count.surge
        } else {
            m.count.total()
        }
    };
    // Pairs of pods: a member with itself when it runs two or more (of one
    // revision, when the term's matchLabelKeys count a revision apart).
    let pairs = |a: &Member<'_>, b: &Member<'_>, within: Within| {
        a.index != b.index
            || match within {
                Within::Pod => false,
                Within::Revision => a.count.steady > 1,
                _ => total(a) > 1,
            }
    };
    for a in g {
        for t in anti_affinity_terms(a.pod) {
            let within = term_keys(t, &a.pod.labels, a.w.kind, false).within;
            if let Some(b) = g.iter().find(|b| {
                pairs(a, b, within)
                    && counts(t, a, &b.pod.labels, b.ns(), a.index == b.index).possible()
            }) {
                let whom = if a.index == b.index {
                    format!("its own {} pods", total(a))
                } else {
                    format!("pods of {}", b.w.at())
                };
                return Err(Unsafe(format!(
                    "{} has a required pod anti-affinity (topologyKey {}) against {whom}, but \
                     they share {} and must run on one node{}. Drop the anti-affinity, or {}",
                    a.w.at(),
                    t.topology_key,
                    describe_data(g),
                    surge_hint(a, b),
                    data_remedy(g)
                )));
            }
        }
        for c in a
            .pod
            .spread
            .iter()
            .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
        {
            let one_domain = pinned
                && c.min_domains.unwrap_or(1) <= 1
                && c.node_affinity_policy.as_deref() != Some("Ignore");
            if one_domain {
                continue;
            }
            // Every pod the selector counts: the group's, and any other of
            // the stream (of its namespace), which may reach the group's
            // node first.
            // matchLabelKeys narrow the count: a per-revision key counts
            // a rolling update's new pods apart from the old ones.
            let k = keyed(
                c.match_label_keys.as_deref(),
                None,
                &a.pod.labels,
                a.w.kind,
                false,
            );
            let same_ns = |ns: Option<&str>| a.ns() == ns || a.ns().is_none() || ns.is_none();
            let counted = |l: &[(String, String)], ns: Option<&str>| {
                selector_matches(c.label_selector.as_ref(), l) && k.admits(l) && same_ns(ns)
            };
            let inside = |i: usize| g.iter().any(|m| m.index == i);
            let own = match k.within {
                Within::Pod => 1,
                Within::Revision => a.count.steady.max(1),
                _ => total(a),
            };
            let selected: u64 = if k.within > Within::Any {
                u64::from(counted(&a.pod.labels, a.ns())) * own
            } else {
                g.iter()
                    .filter(|b| counted(&b.pod.labels, b.ns()))
                    .map(|b| total(b))
                    .sum::<u64>()
                    + st.neighbours
                        .iter()
                        .filter(|n| !inside(n.index) && counted(n.labels, n.ns))
                        .map(|n| st.pods_of(n))
                        .sum::<u64>()
            };
            if selected > u64::try_from(c.max_skew.max(1)).unwrap_or(1) {
                return Err(Unsafe(format!(
                    "{} has a topology spread constraint (topologyKey {}, maxSkew {}, DoNotSchedule) \
                     that {selected} pods sharing {} would break on one node. Use \
                     whenUnsatisfiable: ScheduleAnyway, raise maxSkew, set `node:` to pin them, or {}",
                    a.w.at(),
                    c.topology_key,
                    c.max_skew,
                    describe_data(g),
                    data_remedy(g)
                )));
            }
        }
        for p in &a.pod.host_ports {
            if let Some(b) = g.iter().find(|b| {
                (b.index == a.index && a.count.total() > 1)
                    || (b.index != a.index && b.pod.host_ports.iter().any(|q| q.clashes(p)))
            }) {
                let who = if a.index == b.index {
                    format!("{} runs {} pods that all use", a.w.at(), a.count.total())
                } else {
                    format!("{} and {} both use", a.w.at(), b.w.at())
                };
                return Err(Unsafe(format!(
                    "{who} host port {}/{} (hostPort or hostNetwork), but they share {} and must \
                     run on one node, where only one pod can have the port{}. Use different host \
                     ports, or {}",
                    p.port,
                    p.protocol,
                    describe_data(g),
                    surge_hint(a, b),
                    data_remedy(g)
                )));
            }
        }
    }
    Ok(())
}

/// Conflicts with pods outside a group that is held to one node (of any
/// workload of the stream, Polyaxon's or not): such a pod may reach the
/// group's node before the group's last pod, and a required anti-affinity
/// (either way) or a shared host port would then leave that pod Pending.
fn outside(st: &Stream<'_>, g: &[&Member<'_>]) -> Result<(), Unsafe> {
    use k8s_openapi::api::core::v1::PodAffinityTerm;
    let inside = |i: usize| g.iter().any(|m| m.index == i);
    // A member's own anti-affinity may exclude any pod; otherwise only the
    // neighbours with an anti-affinity or a host port can clash.
    let all = g.iter().any(|a| !anti_affinity_terms(a.pod).is_empty());
    let candidates: Box<dyn Iterator<Item = &Neighbour<'_>>> = if all {
        Box::new(st.neighbours.iter())
    } else {
        Box::new(st.guarded.iter().map(|&i| &st.neighbours[i]))
    };
    for x in candidates.filter(|n| !inside(n.index)) {
        let x_anti = anti_affinity_terms(x.pod);
        for a in g {
            let clash = x_anti
                .iter()
                .find(|t| {
                    let k = term_keys(t, x.labels, x.w.kind, false);
                    k.within == Within::Any
                        && k.admits(&a.pod.labels)
                        && term_selects(t, x.ns, &a.pod.labels, a.ns()).possible()
                })
                .or_else(|| {
                    anti_affinity_terms(a.pod)
                        .iter()
                        .find(|t| counts(t, a, x.labels, x.ns, false).possible())
                });
            if let Some(t) = clash {
                let t: &PodAffinityTerm = t;
                return Err(Unsafe(format!(
                    "{} and {} must stay apart (a required pod anti-affinity, topologyKey {}), but \
                     {} must share one node with the pods it shares single-node data with, and {} \
                     may take that node first, leaving them Pending. Drop the anti-affinity, or pin \
                     both to different nodes",
                    x.w.at(),
                    a.w.at(),
                    t.topology_key,
                    a.w.at(),
                    x.w.at()
                )));
            }
            if let Some(p) = x
                .pod
                .host_ports
                .iter()
                .find(|p| a.pod.host_ports.iter().any(|q| q.clashes(p)))
            {
                return Err(Unsafe(format!(
                    "{} and {} both use host port {}/{}, and {} must share one node with the pods it \
                     shares single-node data with: {} may take that node first, leaving them Pending. \
                     Use different host ports",
                    x.w.at(),
                    a.w.at(),
                    p.port,
                    p.protocol,
                    a.w.at(),
                    x.w.at()
                )));
            }
        }
    }
    Ok(())
}

/// A member held to a known node must find there the pods its required pod
/// affinity asks for: if only pods outside the group match all of its
/// terms (and not its own pods), they may run elsewhere and it would wait
/// for them forever.
fn pinned_affinity(st: &Stream<'_>, g: &[&Member<'_>], node: &NodeId) -> Result<(), Unsafe> {
    let inside = |i: usize| g.iter().any(|m| m.index == i);
    for a in g {
        let terms = affinity_terms(a.pod);
        if terms.is_empty() {
            continue;
        }
        let all = |labels: &[(String, String)], ns: Option<&str>, same: bool| {
            terms
                .iter()
                .all(|t| counts(t, a, labels, ns, same) == Maybe::Yes)
        };
        // Held there by its own constraints (nothing added), or its own
        // pods, or another member's, on the node: satisfied there.
        if a.nodes.pins(node)
            || g.iter()
                .any(|b| all(&b.pod.labels, b.ns(), a.index == b.index))
        {
            continue;
        }
        let target = st
            .neighbours
            .iter()
            .filter(|n| !inside(n.index))
            .find(|n| {
                terms
                    .iter()
                    .all(|t| counts(t, a, n.labels, n.ns, false).possible())
            })
            .map_or_else(
                || "pods that are not in the stream".to_string(),
                |n| format!("pods of {}", n.w.at()),
            );
        return Err(Unsafe(format!(
            "{} must run on {node} (it shares {} there), but its required pod affinity asks for \
             {target}, which may run on another node: it would wait for them forever. Drop the \
             pod affinity, or hold those pods to {node} too",
            a.w.at(),
            describe_data(g),
        )));
    }
    Ok(())
}

/// Can `t`, a required pod (anti-)affinity term of `a`'s pods, count a pod
/// with labels `l` in `ns`? Its selector and namespaces, and what its
/// `matchLabelKeys` add: `same` says whether that pod is `a`'s own (a term
/// reaching only its own workload or revision never counts another
/// workload's pods; the revision is the caller's to judge).
fn counts(
    t: &k8s_openapi::api::core::v1::PodAffinityTerm,
    a: &Member<'_>,
    l: &[(String, String)],
    ns: Option<&str>,
    same: bool,
) -> Maybe {
    let k = term_keys(t, &a.pod.labels, a.w.kind, false);
    if !k.admits(l) || (!same && k.within > Within::Any) {
        return Maybe::No;
    }
    term_selects(t, a.ns(), l, ns)
}

/// Says that a term is this tool's own from an earlier run, which it could
/// not replace (it replaces its own terms in the workloads it changes).
fn earlier_note(pod: &PodSummary, t: &k8s_openapi::api::core::v1::PodAffinityTerm) -> &'static str {
    if pod.earlier.contains(t) {
        "; it is polyrepo-render's own co-location term from an earlier run, which this run \
         could not replace"
    } else {
        ""
    }
}

/// A hint when a conflict is a workload with itself during a rollout.
fn surge_hint(a: &Member<'_>, b: &Member<'_>) -> &'static str {
    if a.index == b.index && a.count.steady <= 1 && a.count.surge > 0 {
        " (a rolling update runs an extra pod beside the old one; `strategy: {type: Recreate}` avoids that)"
    } else {
        ""
    }
}

/// A short, stable, label-safe digest (FNV-1a, 40 bits).
pub(crate) fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// "hostPath /a is a host path (one node)", or a list of the group's data.
/// What would let the group's pods spread out, by the kind of data that
/// holds them together: host paths may be listed under `ignore:` (when
/// their data may differ from node to node) or moved to a claim every node
/// can mount; one-node claims may become ReadWriteMany.
fn data_remedy(g: &[&Member<'_>]) -> String {
    let mut hosts = BTreeSet::new();
    let mut claims = BTreeSet::new();
    for r in g.iter().flat_map(|m| &m.data) {
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
    for r in g.iter().flat_map(|m| &m.data) {
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
mod tests {
    use super::*;

    /// The fallback label's digest is FNV-1a (64 bits, the low 40 shown):
    /// the published test vectors, so a label stays the same across
    /// renders and releases of this tool.
    #[test]
    fn the_digest_is_fnv_1a() {
        assert_eq!(digest(""), "e484222325"); // 0xcbf29ce484222325
        assert_eq!(digest("a"), "4c8601ec8c"); // 0xaf63dc4c8601ec8c
        assert_ne!(digest("group a"), digest("group b"));
    }
    use crate::{inventory, yaml as stream};

    /// A Polyaxon Deployment (Recreate, `replicas`) with the given pod spec lines.
    fn deploy(name: &str, ns: &str, replicas: u32, spec: &str) -> String {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n{ns}  labels: {{type: polyaxon-core}}\n\
             spec:\n  replicas: {replicas}\n  strategy: {{type: Recreate}}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n\
             \x20   spec:\n      containers: [{{name: c, image: x}}]\n{spec}"
        )
    }

    fn assess_all(text: &str, s: &Settings) -> (Vec<Vec<String>>, Vec<Result<Verdict, Unsafe>>) {
        let infos = stream::scan(text).unwrap();
        let inv =
            inventory::read(text, &infos, stream::tree::Trees::OnDemand, s, Vec::new()).unwrap();
        let st = members(&inv, s, &|i| &inv.workloads[i].pod, &|_| None);
        let gs = group(&st.members);
        let names = gs
            .iter()
            .map(|g| g.iter().map(|&i| st.members[i].w.name.clone()).collect())
            .collect();
        let verdicts = gs
            .iter()
            .map(|g| assess(&st, g, s, false).map(|a| a.verdict))
            .collect();
        (names, verdicts)
    }

    /// The co-location of the first group, and the warnings.
    fn colocation(text: &str, s: &Settings) -> (Colocation, Vec<Warning>) {
        let infos = stream::scan(text).unwrap();
        let inv =
            inventory::read(text, &infos, stream::tree::Trees::OnDemand, s, Vec::new()).unwrap();
        let st = members(&inv, s, &|i| &inv.workloads[i].pod, &|_| None);
        let a = assess(&st, &group(&st.members)[0], s, false).unwrap();
        match a.verdict {
            Verdict::Colocate(c) => (c, a.warnings),
            v => panic!("{v:?}"),
        }
    }

    fn vol(path: &str) -> String {
        format!("      volumes: [{{name: v, hostPath: {{path: '{path}'}}}}]\n")
    }

    #[test]
    fn nested_host_paths_and_claims_join_groups_transitively() {
        let claim = "      volumes: [{name: v, persistentVolumeClaim: {claimName: c}}, {name: w, hostPath: {path: /other}}]\n";
        let text = [
            deploy("a", "", 1, &vol("/srv/data/a")),
            deploy("b", "", 1, &vol("/srv/data/")),
            deploy("c", "", 1, &vol("/srv/database")),
            deploy("d", "", 1, claim),
            deploy(
                "e",
                "  namespace: x\n",
                1,
                "      volumes: [{name: v, persistentVolumeClaim: {claimName: c}}]\n",
            ),
            deploy("f", "", 1, &vol("/other/sub")),
        ]
        .concat();
        let (groups, verdicts) = assess_all(&text, &Settings::default());
        assert_eq!(
            groups,
            vec![vec!["a", "b"], vec!["c"], vec!["d", "e", "f"]],
            "a namespace-less claim may be the one in x"
        );
        assert!(matches!(&verdicts[0], Ok(Verdict::Colocate(_))));
        assert_eq!(verdicts[1], Ok(Verdict::Alone));
        // With --namespace, the claim in x is another claim.
        let s = Settings {
            namespace: Some("polyaxon".into()),
            ..Default::default()
        };
        let (groups, _) = assess_all(&text, &s);
        assert_eq!(
            groups,
            vec![vec!["a", "b"], vec!["c"], vec!["d", "f"], vec!["e"]]
        );
    }

    #[test]
    fn the_term_selects_the_labels_every_render_carries_not_the_data() {
        let labels = |v: &[(&str, &[&str])]| {
            Select::Labels(
                v.iter()
                    .map(|(k, vs)| (k.to_string(), vs.iter().map(|x| x.to_string()).collect()))
                    .collect(),
            )
        };
        let two = |a: &str, b: &str| {
            format!(
                "{}{}",
                deploy("a", "", 2, &vol(a)),
                deploy("b", "", 1, &vol(b))
            )
        };
        let (co, warnings) = colocation(&two("/srv/data", "/srv/data/x"), &Settings::default());
        assert_eq!(
            co.select,
            labels(&[("app", &["a", "b"])]),
            "spec.selector's keys"
        );
        assert_eq!(co.scope, Scope::Own);
        assert!(
            warnings.iter().all(|w| !w.contains(COLOCATE_LABEL)),
            "{warnings:?}"
        );
        // Other data, same workloads: the same term, so the pods of the
        // last render still count.
        let claim = "      volumes: [{name: v, persistentVolumeClaim: {claimName: c}}]\n";
        let moved = format!("{}{}", deploy("a", "", 2, claim), deploy("b", "", 1, claim));
        assert_eq!(colocation(&moved, &Settings::default()).0, co);
        // A workload outside the group that carries the same labels would
        // count as a pod of the group: the added label instead, said loudly.
        let twin = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: twin}\nspec:\n  \
                    selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    \
                    spec: {containers: [{name: c, image: x}]}\n";
        let (co, warnings) = colocation(
            &format!("{}{twin}", two("/srv/data", "/srv/data")),
            &Settings::default(),
        );
        assert!(
            matches!(&co.select, Select::Added(v) if v.starts_with("group-")),
            "{co:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("the workload in document 3") && w.contains("`node:`")),
            "{warnings:?}"
        );
        // Namespaces: named when the stream names them all.
        let spread = format!(
            "{}{}",
            deploy("a", "  namespace: ns1\n", 2, &vol("/d")),
            deploy("b", "  namespace: ns2\n", 1, &vol("/d"))
        );
        let (co, _) = colocation(&spread, &Settings::default());
        assert_eq!(co.scope, Scope::Named(vec!["ns1".into(), "ns2".into()]));
        assert_eq!(co.select, labels(&[("app", &["a", "b"])]));
        // One in the release namespace, which nobody named: every
        // namespace, through the added label.
        let half = format!(
            "{}{}",
            deploy("a", "", 2, &vol("/d")),
            deploy("b", "  namespace: ns2\n", 1, &vol("/d"))
        );
        let (co, _) = colocation(&half, &Settings::default());
        assert_eq!(co.scope, Scope::All);
        assert!(matches!(co.select, Select::Added(_)));
        let s = Settings {
            namespace: Some("ns2".into()),
            ..Default::default()
        };
        let (co, _) = colocation(&half, &s);
        assert_eq!(
            (co.scope, co.select),
            (Scope::Own, labels(&[("app", &["a", "b"])]))
        );
    }

    #[test]
    fn workloads_without_a_common_lasting_label_get_the_added_label() {
        // Selectors on different keys: no term over them selects both.
        let b = deploy("b", "", 1, &vol("/d"))
            .replace(
                "selector: {matchLabels: {app: b}}",
                "selector: {matchLabels: {name: b}}",
            )
            .replace("labels: {app: b}", "labels: {name: b}");
        let (co, warnings) = colocation(
            &format!("{}{b}", deploy("a", "", 2, &vol("/d"))),
            &Settings::default(),
        );
        assert!(matches!(co.select, Select::Added(_)), "{co:?}");
        assert!(
            warnings.iter().any(|w| w.contains("share no label")),
            "{warnings:?}"
        );
    }

    #[test]
    fn an_anti_affinity_keyed_per_pod_never_keeps_a_workloads_pods_apart() {
        let anti = |keys: &str| {
            format!(
                "      affinity: {{podAntiAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: \
                 [{{labelSelector: {{matchLabels: {{app: s}}}}, topologyKey: kubernetes.io/hostname{keys}}}]}}}}\n{}",
                vol("/d")
            )
        };
        let sts = |keys: &str| {
            deploy("s", "", 2, &anti(keys))
                .replace("kind: Deployment", "kind: StatefulSet")
                .replace("  strategy: {type: Recreate}\n", "  serviceName: s\n")
        };
        let run = |keys: &str| assess_all(&sts(keys), &Settings::default()).1.remove(0);
        assert!(
            matches!(
                run(", matchLabelKeys: [statefulset.kubernetes.io/pod-name]"),
                Ok(Verdict::Colocate(_))
            ),
            "each pod's own name: no other pod counts"
        );
        let e = run("").expect_err("two pods of one node, kept apart");
        assert!(e.0.contains("its own 2 pods"), "{e}");
    }

    #[test]
    fn known_nodes_must_agree_in_value_and_kind() {
        let pin = |n: &str| format!("      nodeSelector: {{kubernetes.io/hostname: {n}}}\n");
        let text = format!(
            "{}{}",
            deploy("a", "", 1, &format!("{}{}", pin("n1"), vol("/d"))),
            deploy("b", "", 1, &vol("/d"))
        );
        let (_, v) = assess_all(&text, &Settings::default());
        assert!(matches!(&v[0], Ok(Verdict::Pin { node: NodeId::Hostname(n), .. }) if n == "n1"));
        // `node:` only applies where nothing else names the node.
        let s = Settings {
            data_node: Some("n2".into()),
            ..Default::default()
        };
        assert!(assess_all(&text, &s).1[0].is_ok());
        let text = format!(
            "{}{}",
            deploy("a", "", 1, &format!("{}{}", pin("n1"), vol("/d"))),
            deploy("b", "", 1, &format!("      nodeName: n1\n{}", vol("/d")))
        );
        let e = assess_all(&text, &Settings::default())
            .1
            .remove(0)
            .unwrap_err();
        assert!(e.0.contains("cannot be proven to be the same node"), "{e}");
    }
}
