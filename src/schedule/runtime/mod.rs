//! The pods Polyaxon creates at run time (experiments, jobs, notebooks,
//! tensorboards, builds): which data they mount, where they must run to
//! find it, and how their placement can be set. The one place that knows
//! Polyaxon's own rules for them, read from its source (README, "Run-time
//! pods"):
//!
//! - They mount the stores of `POLYAXON_PERSISTENCE_OUTPUTS` and `…_DATA`
//!   (experiments, jobs and notebooks: every outputs store a run may pick,
//!   every data store; tensorboards: outputs), and notebooks the repos when
//!   code is mounted in them (`…_REPOS`; a host path read from its
//!   `host_path` key, so the chart's `hostPath` falls back to the mount
//!   path). Builds mount none. A store is a volume only when it has a
//!   `mountPath`: its `existingClaim`, else its `hostPath`.
//! - Chart 0.4 renders their placement into Polyaxon's ConfigMap
//!   (`POLYAXON_AFFINITY_EXPERIMENTS`, …; notebooks use the experiments'),
//!   JSON that Polyaxon reads with `json.loads`: the stream can carry it.
//! - From 0.5 on it is a cluster option in Polyaxon's database
//!   (`AFFINITIES:EXPERIMENTS`, …), set in the UI or through the API: the
//!   stream cannot carry it, the report says what to set.
//! - A polyaxonfile's own `environment.affinity` replaces the setting.
//!
//! This module decides; `patch` writes the ConfigMap's new values.
//!
//! - `mod.rs`: which run-time pods must run where, and how it is set;
//! - `stores.rs`: the data they mount, read from `POLYAXON_PERSISTENCE_*`
//!   as Polyaxon reads it;
//! - `setting.rs`: the placement setting itself: whether the user's own
//!   lets them run, and the value with what they need added.
//!
//! Like the rest of `schedule/`, it imports nothing of patch, verify, plan
//! or the ways in.

mod setting;
mod stores;

pub(crate) use setting::merge;
use setting::runnable;
use stores::touches;
pub(crate) use stores::volumes_of;

use crate::config::{Settings, Source};
use crate::inventory::{Inventory, VolumeInfo};
use crate::k8s::NodeId;
use crate::report::{Advice, Warning};
use crate::schedule::constraints::NodeConstraint;
use crate::schedule::data::{DataKey, DataRef, Reach, Reader};
use crate::schedule::groups::{self, Colocation};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A kind of pod Polyaxon creates at run time that mounts persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Experiments (every replica of a distributed one).
    Experiments,
    /// Jobs.
    Jobs,
    /// Notebooks.
    Notebooks,
    /// Tensorboards.
    Tensorboards,
}

/// A persistence setting whose volumes run-time pods mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Store {
    /// `POLYAXON_PERSISTENCE_OUTPUTS`: named stores.
    Outputs,
    /// `POLYAXON_PERSISTENCE_DATA`: named stores.
    Data,
    /// `POLYAXON_PERSISTENCE_REPOS`: one store (notebooks, code mounted).
    Repos,
}

impl Store {
    fn env(self) -> &'static str {
        match self {
            Store::Outputs => "POLYAXON_PERSISTENCE_OUTPUTS",
            Store::Data => "POLYAXON_PERSISTENCE_DATA",
            Store::Repos => "POLYAXON_PERSISTENCE_REPOS",
        }
    }
}

impl Kind {
    /// Every kind, in the order the report lists them.
    pub(crate) const ALL: [Kind; 4] = [
        Kind::Experiments,
        Kind::Jobs,
        Kind::Notebooks,
        Kind::Tensorboards,
    ];

    /// The persistence it mounts.
    pub(crate) fn stores(self) -> &'static [Store] {
        match self {
            Kind::Experiments | Kind::Jobs => &[Store::Outputs, Store::Data],
            Kind::Notebooks => &[Store::Outputs, Store::Data, Store::Repos],
            Kind::Tensorboards => &[Store::Outputs],
        }
    }

    /// Its name in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Experiments => "experiments",
            Kind::Jobs => "jobs",
            Kind::Notebooks => "notebooks",
            Kind::Tensorboards => "tensorboards",
        }
    }

    /// The suffix of its setting: the database option (0.5 on) or the
    /// ConfigMap key (0.4, where notebooks use the experiments').
    pub(crate) fn suffix(self, carrier: Carrier) -> &'static str {
        match (self, carrier) {
            (Kind::Experiments, _) | (Kind::Notebooks, Carrier::ConfigMap) => "EXPERIMENTS",
            (Kind::Jobs, _) => "JOBS",
            (Kind::Notebooks, Carrier::Database) => "NOTEBOOKS",
            (Kind::Tensorboards, _) => "TENSORBOARDS",
        }
    }
}

/// Where the placement of run-time pods is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// Polyaxon's ConfigMap (chart 0.4): the stream carries it.
    ConfigMap,
    /// Polyaxon's database (0.5 on): the user sets it.
    Database,
}

/// Where the run-time pods of a kind must run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// On this node.
    Pin(NodeId),
    /// Beside these pods.
    Follow(Colocation),
}

/// What a group of the stream decided, as run-time pods need to know it.
#[derive(Debug, Clone)]
pub(crate) struct GroupView {
    /// The data its pods share.
    pub(crate) keys: Vec<DataKey>,
    /// Its workloads (indices into the inventory's workloads).
    pub(crate) workloads: Vec<usize>,
    /// Its workloads' names, for messages.
    pub(crate) names: String,
    /// Where other pods must run to reach its data.
    pub(crate) need: Option<Need>,
    /// Its pods' node constraints.
    pub(crate) nodes: Vec<NodeConstraint>,
}

/// What run-time pods need, and how the stream says it.
#[derive(Debug, Default)]
pub(crate) struct RuntimePlan {
    /// The ConfigMap values to write.
    pub(crate) keys: Vec<KeyChange>,
    /// What the user should know.
    pub(crate) warnings: Vec<Warning>,
    /// The top-level `node` placed data only run-time pods use.
    pub(crate) used_data_node: bool,
    /// The volumes run-time pods mount (for `ignore:` entries that match
    /// only these).
    pub(crate) volumes: Vec<VolumeInfo>,
    /// The workloads that create run-time pods (the API and the scheduler).
    pub(crate) spawners: Vec<usize>,
    /// Chart 0.4: a digest of the placement values the ConfigMap holds
    /// once written, for the spawners' pod templates (they read it at
    /// start).
    pub(crate) digest: Option<String>,
}

/// A run-time placement key of Polyaxon's ConfigMap to write.
#[derive(Debug, Clone)]
pub(crate) struct KeyChange {
    /// Index into the inventory's `runtime_keys`.
    pub(crate) at: usize,
    /// The new value.
    pub(crate) value: String,
    /// Why, for the report.
    pub(crate) why: String,
    /// What it asks of the pods.
    pub(crate) need: Need,
}

/// Why run-time pods cannot be kept with their data: the message and the
/// workloads it is about.
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) String, pub(crate) Vec<usize>);

/// Data of a group no label selects alone: (data, its pods) → (their
/// workloads, the kinds mounting it).
type Unfollowed = BTreeMap<(String, String), (Vec<usize>, BTreeSet<&'static str>)>;

/// Decides where the run-time pods must run. `repos`: the repos source
/// and mount path the plan writes into the env copies, if it changes them.
pub(crate) fn plan(
    inv: &Inventory,
    s: &Settings,
    groups: &[GroupView],
    repos: Option<(&Source, &str)>,
) -> Result<RuntimePlan, Refusal> {
    let mut out = RuntimePlan::default();
    // What Polyaxon's pods carry: the API and the scheduler spawn them,
    // and carry the repos' setting too (the others carry some stores).
    let spawners: Vec<usize> = (0..inv.workloads.len())
        .filter(|&i| {
            inv.workloads[i].polyaxon
                && inv.workloads[i]
                    .pod
                    .persistence
                    .iter()
                    .any(|(n, _)| n == Store::Repos.env())
        })
        .collect();
    let Some(&first) = spawners.first() else {
        return Ok(out);
    };
    out.spawners = spawners.clone();
    let mut values: BTreeMap<Store, BTreeSet<String>> = BTreeMap::new();
    for &i in &spawners {
        for (name, value) in inv.workloads[i].pod.persistence.iter() {
            for st in [Store::Outputs, Store::Data, Store::Repos] {
                if name == st.env() {
                    values.entry(st).or_default().insert(value.clone());
                }
            }
        }
    }
    if let Some((src, mount)) = repos {
        let v = match src {
            Source::HostPath(p) => json!({"mountPath": mount, "hostPath": p}),
            Source::Claim(c) => json!({"mountPath": mount, "existingClaim": c}),
        };
        values.insert(Store::Repos, BTreeSet::from([v.to_string()]));
    }
    let mut vols: BTreeMap<Store, Vec<VolumeInfo>> = BTreeMap::new();
    for (st, vs) in &values {
        for v in vs {
            vols.entry(*st)
                .or_default()
                .extend(volumes_of(*st, v).unwrap_or_default());
        }
    }
    out.volumes = vols.values().flatten().cloned().collect();
    let written: BTreeSet<String> = vols
        .values()
        .flatten()
        .filter(|v| !v.read_only)
        .filter_map(|v| v.claim.clone())
        .collect();
    let mut reader = Reader::new(inv, s, written);
    let release = s.namespace.as_deref();
    let ns = inv.workloads[first].namespace.as_deref().or(release);
    let data: BTreeMap<Store, Vec<DataRef>> = vols
        .iter()
        .map(|(st, v)| (*st, reader.data_of(first, v, ns).0))
        .collect();
    let carrier = if inv
        .runtime_keys
        .iter()
        .any(|k| k.key.starts_with("POLYAXON_AFFINITY_"))
    {
        Carrier::ConfigMap
    } else {
        Carrier::Database
    };
    let mut needs: Vec<(Kind, Need, String)> = Vec::new();
    let mut unpinned: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut unfollowed = Unfollowed::new();
    for kind in Kind::ALL {
        let refs: Vec<&DataRef> = kind
            .stores()
            .iter()
            .flat_map(|st| data.get(st).into_iter().flatten())
            .collect();
        let mut found: Vec<(Need, String, Option<&GroupView>)> = Vec::new();
        for r in &refs {
            if r.reach == Reach::OnePod {
                let g = groups
                    .iter()
                    .find(|g| g.keys.iter().any(|k| touches(k, &r.key)));
                return Err(Refusal(
                    format!(
                        "{} is ReadWriteOncePod: only one pod may mount it, but the {} Polyaxon \
                         creates at run time mount it too ({}){}: they would wait forever. Use a \
                         ReadWriteMany claim for Polyaxon's persistence",
                        r.key,
                        kind.name(),
                        r.volume,
                        g.map_or(String::new(), |g| format!(", beside {}", g.names))
                    ),
                    g.map_or_else(Vec::new, |g| g.workloads.clone()),
                ));
            }
            match groups
                .iter()
                .find(|g| g.keys.iter().any(|k| touches(k, &r.key)))
            {
                Some(g) => match &g.need {
                    Some(n) => found.push((n.clone(), format!("{} ({})", r.key, g.names), Some(g))),
                    None => {
                        unfollowed
                            .entry((r.key.to_string(), g.names.clone()))
                            .or_insert_with(|| (g.workloads.clone(), BTreeSet::new()))
                            .1
                            .insert(kind.name());
                    }
                },
                None => {
                    let node = r.node.as_ref().map(|(n, _)| n.clone()).or_else(|| {
                        matches!(r.key, DataKey::Host(_))
                            .then(|| s.data_node.clone().map(NodeId::Hostname))
                            .flatten()
                    });
                    match node {
                        Some(n) => {
                            out.used_data_node |= r.node.is_none();
                            found.push((Need::Pin(n), r.key.to_string(), None));
                        }
                        None => {
                            unpinned
                                .entry(r.key.to_string())
                                .or_default()
                                .insert(kind.name());
                        }
                    }
                }
            }
        }
        let distinct: Vec<&(Need, String, Option<&GroupView>)> = found
            .iter()
            .enumerate()
            .filter(|(i, f)| !found[..*i].iter().any(|o| o.0 == f.0))
            .map(|(_, f)| f)
            .collect();
        match distinct.as_slice() {
            [] => {}
            [(need, why, g)] => {
                needs.push((kind, need.clone(), why.clone()));
                // With every kind that must be where this one is.
                let along: Vec<Kind> = needs
                    .iter()
                    .filter(|(_, n, _)| n == need)
                    .map(|(k, _, _)| *k)
                    .collect();
                runnable(inv, &along, carrier, need, *g)?;
            }
            more => {
                let ws = more
                    .iter()
                    .flat_map(|(_, _, g)| g.map(|g| g.workloads.clone()).unwrap_or_default())
                    .collect();
                return Err(Refusal(
                    format!(
                        "the {} Polyaxon creates at run time mount data that is kept on different \
                         nodes: {}. No node holds it all; set `node:` in the config to the node \
                         that holds it, or use ReadWriteMany claims",
                        kind.name(),
                        more.iter()
                            .map(|f| f.1.clone())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    ws,
                ));
            }
        }
    }
    // Data only run-time pods mount is together when every kind mounting
    // it follows the same pods (or node) for its other data.
    unpinned.retain(|_, kinds| {
        let of = |k: &str| {
            needs
                .iter()
                .find(|(kind, _, _)| kind.name() == k)
                .map(|n| &n.1)
        };
        let first = kinds.iter().next().and_then(|k| of(k));
        first.is_none() || !kinds.iter().all(|k| of(k) == first)
    });
    for ((data, names), (workloads, kinds)) in &unfollowed {
        out.warnings.push(
            Warning::problem(format!(
                "the {} Polyaxon creates at run time mount {data}, which {names} uses, but no \
                 label selects those pods alone for the run-time pods to follow: they may land \
                 on another node. Set `node:` (or repos.node) to the node that holds it, or use \
                 a ReadWriteMany claim",
                kinds.iter().copied().collect::<Vec<_>>().join(", ")
            ))
            .about(workloads.iter().copied()),
        );
    }
    for (data, kinds) in &unpinned {
        let fix = if data.starts_with("claim ") {
            "Use a ReadWriteMany claim (or pass --namespace if the claim is one)"
        } else {
            "Set `node:` in the config to the node that holds it, or use a ReadWriteMany claim"
        };
        out.warnings.push(
            Warning::advice(
                Advice::RuntimeDataUnpinned,
                format!(
                    "{data} is mounted only by the pods Polyaxon creates at run time ({}), and no \
                     node is known for it: each may land on another node and see other data. {fix}",
                    kinds.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            )
            .about([first]),
        );
    }
    if needs.is_empty() {
        return Ok(out);
    }
    match carrier {
        Carrier::ConfigMap => {
            let mut finals: BTreeMap<usize, String> = BTreeMap::new();
            for (kind, need, why) in &needs {
                let key = format!("POLYAXON_AFFINITY_{}", kind.suffix(carrier));
                let Some(at) = inv.runtime_keys.iter().position(|k| k.key == key) else {
                    out.warnings.push(
                        Warning::problem(format!(
                            "Polyaxon's ConfigMap has run-time placement keys but no {key}: the \
                             {} Polyaxon creates at run time were not placed beside their data \
                             ({why}). Set affinity.{} in the values so that the chart writes it",
                            kind.name(),
                            kind.suffix(carrier).to_lowercase()
                        ))
                        .about(spawners.iter().copied()),
                    );
                    continue;
                };
                // Notebooks share the experiments' key: merge into what an
                // earlier kind already wrote.
                let current = out
                    .keys
                    .iter()
                    .find(|c| c.at == at)
                    .map_or(inv.runtime_keys[at].value.as_str(), |c| c.value.as_str())
                    .to_string();
                if inv.runtime_keys[at].in_list {
                    out.warnings.push(
                        Warning::problem(format!(
                            "{key} ({}) is in a ConfigMap inside a List, which polyrepo-render does \
                             not edit: the {} Polyaxon creates at run time were not placed beside \
                             their data ({why}). Give it the value {}",
                            inv.runtime_keys[at].location,
                            kind.name(),
                            merge(&current, need).unwrap_or_default()
                        ))
                        .about(spawners.iter().copied()),
                    );
                    continue;
                }
                let Some(merged) = merge(&current, need) else {
                    out.warnings.push(Warning::problem(format!(
                        "{key} ({}) is not a JSON object; the {} Polyaxon creates at run time \
                         were not placed beside their data ({why}). Write it as a Kubernetes \
                         affinity in JSON",
                        inv.runtime_keys[at].location,
                        kind.name()
                    )));
                    continue;
                };
                let why = format!("{}: beside their data, {why}", kind.name());
                finals.insert(at, merged.clone());
                match out.keys.iter_mut().find(|c| c.at == at) {
                    Some(c) => {
                        c.value = merged;
                        c.why = format!("{}; {why}", c.why);
                    }
                    None if merged != current => out.keys.push(KeyChange {
                        at,
                        value: merged,
                        why,
                        need: need.clone(),
                    }),
                    None => {}
                }
            }
            if !finals.is_empty() {
                let all: Vec<String> = finals
                    .iter()
                    .map(|(at, v)| format!("{}={v}", inv.runtime_keys[*at].key))
                    .collect();
                out.digest = Some(crate::k8s::digest(&all.join("\n")));
            }
        }
        Carrier::Database => {
            // One line per value, naming every option that takes it.
            let mut by_value: Vec<(String, Vec<String>, BTreeSet<String>)> = Vec::new();
            let mut merged: Vec<(&Need, String)> = Vec::new();
            for (kind, need, why) in &needs {
                let v = match merged.iter().find(|(n, _)| *n == need) {
                    Some((_, v)) => v.clone(),
                    None => {
                        let v = merge("{}", need).expect("an empty object merges");
                        merged.push((need, v.clone()));
                        v
                    }
                };
                let option = format!("AFFINITIES:{}", kind.suffix(carrier));
                match by_value.iter_mut().find(|(x, _, _)| *x == v) {
                    Some((_, options, whys)) => {
                        options.push(option);
                        whys.insert(why.clone());
                    }
                    None => by_value.push((v, vec![option], BTreeSet::from([why.clone()]))),
                }
            }
            let lines: Vec<String> = by_value
                .iter()
                .map(|(v, options, whys)| {
                    format!(
                        "{} = {v} (for {})",
                        options.join(", "),
                        whys.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            // A term over the label this tool adds names the group by a
            // digest of its members: it changes with them, and the value
            // set in the database would then select nothing. That cannot be
            // acknowledged once.
            let fallback = needs.iter().any(|(_, n, _)| {
                matches!(n, Need::Follow(co) if matches!(co.select, groups::Select::Added(_)))
            });
            let mut w = Warning::advice(
                Advice::RuntimePlacementInDatabase,
                format!(
                    "the pods Polyaxon creates at run time mount the same single-node data, \
                         and from Polyaxon 0.5 on their placement is a setting in Polyaxon's \
                         database, which no manifest can carry. Set, in Polyaxon's UI (Settings → \
                         Scheduling: /app/settings/scheduling/<kind>/) or with `POST \
                         /api/v1/options` as an admin, merged into any value you have there: {}. \
                         A polyaxonfile's own environment.affinity replaces it: include the same \
                         terms there",
                    lines.join("; ")
                ),
            )
            .about(spawners.iter().copied());
            if fallback {
                w.advice = None;
                w.text.push_str(
                    ". The term selects the label polyrepo-render/colocate, whose value changes \
                     when the group's workloads change: check the options after every such change \
                     (or set `node:`, which names a node that does not change)",
                );
            }
            w.settings = by_value
                .iter()
                .flat_map(|(v, options, _)| options.iter().map(|o| (o.clone(), v.clone())))
                .collect();
            out.warnings.push(w);
        }
    }
    Ok(out)
}
