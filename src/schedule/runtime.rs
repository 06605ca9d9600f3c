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

use crate::config::{Settings, Source};
use crate::inventory::{ConfigKey, Inventory, PodSummary, VolumeInfo};
use crate::k8s::{HOSTNAME, NodeId};
use crate::report::{Advice, Warning};
use crate::schedule::constraints::NodeConstraint;
use crate::schedule::data::{DataKey, DataRef, Reach, Reader, within};
use crate::schedule::groups::{self, Colocation};
use k8s_openapi::api::core::v1 as core;
use serde_json::{Value, json};
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

/// The volumes a run-time pod gets from one persistence setting's value,
/// read as Polyaxon reads it (`None`: not a JSON object).
pub(crate) fn volumes_of(store: Store, value: &str) -> Option<Vec<VolumeInfo>> {
    let v: Value = serde_json::from_str(value).ok()?;
    let one = |name: String, d: &Value| -> Option<VolumeInfo> {
        let d = d.as_object()?;
        let mount = d.get("mountPath").and_then(Value::as_str)?;
        if mount.is_empty() {
            return None;
        }
        let claim = d
            .get("existingClaim")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let host_key = if store == Store::Repos {
            "host_path"
        } else {
            "hostPath"
        };
        let host = match store {
            // Polyaxon reads `host_path`, falling back to the mount path.
            Store::Repos => Some(
                d.get(host_key)
                    .and_then(Value::as_str)
                    .unwrap_or(mount)
                    .to_string(),
            ),
            _ => d
                .get(host_key)
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(str::to_string),
        };
        Some(VolumeInfo {
            name,
            host_path: if claim.is_some() {
                None
            } else {
                host.map(|h| (h, None))
            },
            claim: claim.map(str::to_string),
            read_only: d.get("readOnly").and_then(Value::as_bool) == Some(true),
        })
    };
    let o = v.as_object()?;
    Some(match store {
        Store::Repos => one("repos".into(), &v).into_iter().collect(),
        _ => o
            .iter()
            .filter_map(|(name, d)| one(format!("{}/{name}", store_name(store)), d))
            .collect(),
    })
}

fn store_name(s: Store) -> &'static str {
    match s {
        Store::Outputs => "outputs",
        Store::Data => "data",
        Store::Repos => "repos",
    }
}

/// True when two data keys are the same data (a claim) or overlap (host
/// directories equal or nested).
fn touches(a: &DataKey, b: &DataKey) -> bool {
    match (a, b) {
        (DataKey::Host(x), DataKey::Host(y)) => within(x, y) || within(y, x),
        // A namespace not known may be the other's.
        (
            DataKey::Claim {
                namespace: n1,
                name: x,
                ..
            },
            DataKey::Claim {
                namespace: n2,
                name: y,
                ..
            },
        ) => x == y && (n1 == n2 || n1.is_none() || n2.is_none()),
        _ => false,
    }
}

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
        for (name, value) in &inv.workloads[i].pod.persistence {
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
                out.digest = Some(groups::digest(&all.join("\n")));
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

/// Refuses when the user's own run-time placement (chart 0.4's ConfigMap)
/// keeps the pods of `kinds`, which must all run where `need` says, away
/// from there: one node must pass their node selectors and required node
/// affinities together (with the group's pods' constraints).
fn runnable(
    inv: &Inventory,
    kinds: &[Kind],
    carrier: Carrier,
    need: &Need,
    g: Option<&GroupView>,
) -> Result<(), Refusal> {
    if carrier != Carrier::ConfigMap {
        return Ok(());
    }
    let value = |prefix: &str, kind: Kind| -> Option<&ConfigKey> {
        let key = format!("{prefix}{}", kind.suffix(carrier));
        inv.runtime_keys.iter().find(|k| k.key == key)
    };
    let mut own: Vec<NodeConstraint> = Vec::new();
    let mut settings: Vec<String> = Vec::new();
    for &kind in kinds {
        let sel = value("POLYAXON_NODE_SELECTOR_", kind);
        let aff = value("POLYAXON_AFFINITY_", kind);
        let pod = PodSummary {
            node_selector: sel.and_then(|k| serde_json::from_str(&k.value).ok()),
            affinity: aff
                .and_then(|k| serde_json::from_str::<core::Affinity>(&k.value).ok())
                .map(Box::new),
            ..PodSummary::default()
        };
        own.push(NodeConstraint::of(&pod));
        for k in [sel, aff].into_iter().flatten() {
            let s = format!("{} ({})", k.key, k.location);
            if !settings.contains(&s) && !matches!(k.value.trim(), "" | "null") {
                settings.push(s);
            }
        }
    }
    let names = kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ");
    let ws = g.map_or_else(Vec::new, |g| g.workloads.clone());
    let mut all: Vec<&NodeConstraint> = own.iter().collect();
    let (known, place) = match need {
        Need::Pin(node) => (Some(node), format!("on {node}")),
        Need::Follow(_) => {
            all.extend(g.into_iter().flat_map(|g| &g.nodes));
            (
                None,
                format!(
                    "beside {}",
                    g.map_or("their data's pods", |g| g.names.as_str())
                ),
            )
        }
    };
    if crate::schedule::constraints::jointly_satisfiable(&all, known) {
        return Ok(());
    }
    Err(Refusal(
        format!(
            "the {names} Polyaxon creates at run time must all run {place}, where their data \
             is, but {} allow no such node. Change those settings (in the values: nodeSelectors \
             and affinity for those kinds), or keep that data on ReadWriteMany claims",
            settings.join(" and ")
        ),
        ws,
    ))
}

/// A part written `null` as `empty` (Kubernetes reads `null` as absent).
fn unnull(empty: Value) -> impl FnOnce(&mut Value) {
    move |v| {
        if v.is_null() {
            *v = empty;
        }
    }
}

/// `current` (a Kubernetes affinity in JSON, or `null`) with `need` added:
/// a pin AND'ed into every term of its required node affinity (an empty
/// term still matches nothing), or one required pod-affinity term more.
/// What is there is kept, in its order. `None`: `current` is not an object.
pub(crate) fn merge(current: &str, need: &Need) -> Option<String> {
    let mut v: Value = match current.trim() {
        "" | "null" => json!({}),
        t => serde_json::from_str(t).ok()?,
    };
    let o = v.as_object_mut()?;
    // A part written `null` is no part (as Kubernetes reads it).
    o.retain(|_, p| !p.is_null());
    match need {
        Need::Pin(node) => {
            let (list, key, value) = match node {
                NodeId::Hostname(h) => ("matchExpressions", HOSTNAME, h.as_str()),
                NodeId::Name(n) => ("matchFields", "metadata.name", n.as_str()),
            };
            let expr = json!({"key": key, "operator": "In", "values": [value]});
            let req = o
                .entry("nodeAffinity")
                .and_modify(unnull(json!({})))
                .or_insert_with(|| json!({}))
                .as_object_mut()?
                .entry("requiredDuringSchedulingIgnoredDuringExecution")
                .and_modify(unnull(json!({})))
                .or_insert_with(|| json!({}))
                .as_object_mut()?;
            let terms = req
                .entry("nodeSelectorTerms")
                .and_modify(unnull(json!([])))
                .or_insert_with(|| json!([]))
                .as_array_mut()?;
            if terms.is_empty() {
                terms.push(json!({ list: [expr] }));
            } else {
                for t in terms.iter_mut() {
                    let t = t.as_object_mut()?;
                    let empty = ["matchExpressions", "matchFields"].iter().all(|k| {
                        t.get(*k)
                            .and_then(Value::as_array)
                            .is_none_or(Vec::is_empty)
                    });
                    if empty {
                        continue;
                    }
                    let l = t
                        .entry(list)
                        .and_modify(unnull(json!([])))
                        .or_insert_with(|| json!([]))
                        .as_array_mut()?;
                    if !l.contains(&expr) {
                        l.push(expr.clone());
                    }
                }
            }
        }
        Need::Follow(co) => {
            let term = serde_json::to_value(groups::colocation_term(co)).ok()?;
            let l = o
                .entry("podAffinity")
                .and_modify(unnull(json!({})))
                .or_insert_with(|| json!({}))
                .as_object_mut()?
                .entry("requiredDuringSchedulingIgnoredDuringExecution")
                .and_modify(unnull(json!([])))
                .or_insert_with(|| json!([]))
                .as_array_mut()?;
            if !l.contains(&term) {
                l.push(term);
            }
        }
    }
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_read_as_polyaxon_reads_them() {
        let v = volumes_of(
            Store::Outputs,
            r#"{"a":{"mountPath":"/o","hostPath":"/h"},"b":{"mountPath":"/p","existingClaim":"c","hostPath":"/x"},"s3":{"store":"s3","bucket":"b"},"n":{"hostPath":"/no-mount"}}"#,
        )
        .unwrap();
        assert_eq!(v.len(), 2, "no mountPath, no volume");
        assert_eq!(v[0].host_path.as_ref().unwrap().0, "/h");
        assert_eq!(v[1].claim.as_deref(), Some("c"));
        assert!(v[1].host_path.is_none(), "the claim comes first");
        // The repos' hostPath is not what Polyaxon reads.
        let r = volumes_of(
            Store::Repos,
            r#"{"mountPath":"/polyaxon-repos","hostPath":"/tmp/repos"}"#,
        )
        .unwrap();
        assert_eq!(r[0].host_path.as_ref().unwrap().0, "/polyaxon-repos");
        assert!(volumes_of(Store::Data, "[1]").is_none());
    }

    #[test]
    fn a_pin_goes_into_every_term_and_keeps_what_is_there() {
        let pin = Need::Pin(NodeId::Hostname("n1".into()));
        assert_eq!(
            merge("null", &pin).unwrap(),
            r#"{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["n1"]}]}]}}}"#
        );
        let two = r#"{"podAntiAffinity":{},"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"z","operator":"In","values":["a"]}]},{"matchFields":[]},{"matchExpressions":[{"key":"z","operator":"In","values":["b"]}]}]}}}"#;
        let m: Value = serde_json::from_str(&merge(two, &pin).unwrap()).unwrap();
        let terms = &m["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(terms[0]["matchExpressions"].as_array().unwrap().len(), 2);
        assert_eq!(
            terms[1],
            json!({"matchFields": []}),
            "an empty term stays empty"
        );
        assert_eq!(terms[2]["matchExpressions"][1]["values"], json!(["n1"]));
        assert!(m.as_object().unwrap().keys().next() == Some(&"podAntiAffinity".to_string()));
        // Again: nothing more.
        assert_eq!(merge(&m.to_string(), &pin).unwrap(), m.to_string());
        assert!(merge("[1]", &pin).is_none());
        // `null` parts are absent parts.
        let m = merge(
            r#"{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":null},"podAffinity":null}"#,
            &pin,
        )
        .unwrap();
        assert!(
            m.contains("\"values\":[\"n1\"]") && !m.contains("null"),
            "{m}"
        );
        assert!(merge("{\"nodeAffinity\": 3}", &pin).is_none());
    }
}
