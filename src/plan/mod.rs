//! What to change and why: a pure function from the inventory and the
//! settings to a [`Plan`].
//!
//! It applies the scheduling rules (`crate::schedule`: how far a volume
//! reaches, how many pods share it, what keeps them safe) to the
//! workloads, and adds what the settings ask for. It never touches text;
//! the patcher turns the plan into edits.
//!
//! - `mod.rs`: the plan of each workload and group;
//! - `volume.rs`: the repos volume and mount a workload gets;
//! - `unmatched.rs`: the settings that match nothing in the stream, refused
//!   with what the stream does hold;
//! - `tests.rs`: the unit tests.
//!
//! It imports the inventory, the settings, the report's types, the
//! Kubernetes vocabulary and the scheduling rules; nothing of patching, the
//! proof or the ways in.

#[cfg(test)]
mod tests;
mod unmatched;
mod volume;

use unmatched::unmatched_settings;
use volume::{mount_of, planned_volumes, source_of, volume_for};

use crate::config::{ConfigError, Settings, Source, glob_match};
use crate::inventory::{Inventory, PodSummary, VolumeInfo};
use crate::k8s::{COLOCATE_LABEL, NodeId};
pub(crate) use crate::schedule::groups::Colocation;
use crate::schedule::groups::{self, Verdict};
use crate::schedule::runtime;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Where the chart mounts the repos when nothing says otherwise.
pub(crate) const DEFAULT_MOUNT_PATH: &str = "/polyaxon-repos";

/// How containers mount the repos volume.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mount {
    /// `mountPath`.
    pub(crate) mount_path: String,
    /// `subPath`, when one is used.
    pub(crate) sub_path: Option<String>,
    /// `readOnly`.
    pub(crate) read_only: bool,
}

/// What the `POLYAXON_PERSISTENCE_REPOS` copy must say.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EnvCopy {
    /// Where the repos live.
    pub(crate) source: Source,
    /// How they are mounted.
    pub(crate) mount: Mount,
}

/// The changes planned for one workload.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkloadPlan {
    /// Index into [`Inventory::workloads`].
    pub(crate) workload: usize,
    /// The `repos` volume the pod spec must have (replaced or added): a
    /// host path or a claim, written as [`VolumeInfo::to_volume`] says.
    pub(crate) volume: Option<VolumeInfo>,
    /// How containers that mount `repos` must mount it.
    pub(crate) mount: Option<Mount>,
    /// Add the mount to regular containers that lack it (`mountInto`).
    pub(crate) add_mounts: bool,
    /// What every env copy must say.
    pub(crate) env: Option<EnvCopy>,
    /// Require this node.
    pub(crate) pin: Option<NodeId>,
    /// Co-locate through this required pod affinity.
    pub(crate) colocate: Option<Colocation>,
    /// Drop what an earlier run of this tool added to the pods (its
    /// co-location term and label) unless this run adds it again.
    pub(crate) forget_earlier: bool,
    /// Why the scheduling constraint is needed, for the annotation.
    pub(crate) why: Vec<String>,
    /// The digest of the run-time placement written into chart 0.4's
    /// ConfigMap, as a pod-template annotation (Polyaxon reads the
    /// ConfigMap at start: a new value restarts it).
    pub(crate) runtime_digest: Option<String>,
}

impl WorkloadPlan {
    /// True when the plan may change the workload at all.
    pub(crate) fn has_work(&self) -> bool {
        self.volume.is_some()
            || self.mount.is_some()
            || self.env.is_some()
            || self.pin.is_some()
            || self.colocate.is_some()
            || self.runtime_digest.is_some()
            || self.forget_earlier
    }
}

/// Everything the tool will do.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// One entry per Polyaxon workload that changes.
    pub(crate) workloads: Vec<WorkloadPlan>,
    /// Things the user should know (one line each).
    pub(crate) warnings: Vec<crate::report::Warning>,
    /// The run-time pod placement keys of Polyaxon's ConfigMap to write.
    pub(crate) runtime_keys: Vec<runtime::KeyChange>,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PlanError {
    /// The configuration is incomplete (exit 2).
    Config(ConfigError),
    /// The stream cannot be made safe (exit 1): why, and the workloads
    /// refused (indices into [`Inventory::workloads`]).
    Unsafe(String, Vec<usize>),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Config(e) => e.fmt(f),
            PlanError::Unsafe(s, _) => f.write_str(s),
        }
    }
}

impl std::error::Error for PlanError {}

/// Makes the plan.
pub(crate) fn plan(inv: &Inventory, s: &Settings) -> Result<Plan, PlanError> {
    let mut out = Plan::default();

    // What the stream mounts today: the first Polyaxon workload with a usable `repos` volume.
    let inferred = inv.workloads.iter().filter(|w| w.polyaxon).find_map(|w| {
        let src = source_of(w.repos_volume()?)?;
        Some((src, mount_of(w)))
    });
    let inferred_mount = inferred.as_ref().and_then(|(_, m)| m.as_ref());
    let mount = Mount {
        mount_path: s
            .mount_path
            .clone()
            .or_else(|| inferred_mount.map(|m| m.mount_path.clone()))
            .unwrap_or_else(|| DEFAULT_MOUNT_PATH.into()),
        sub_path: s
            .sub_path
            .clone()
            .or_else(|| inferred_mount.and_then(|m| m.sub_path.clone())),
        read_only: s
            .read_only
            .or_else(|| inferred_mount.map(|m| m.read_only))
            .unwrap_or(false),
    };
    let desired_source = s
        .source
        .clone()
        .or_else(|| inferred.as_ref().map(|(src, _)| src.clone()));

    // The repos volume, its mounts and env copies.
    let mut planned: HashMap<usize, Vec<VolumeInfo>> = HashMap::new();
    // Only workloads with something to change get an entry: a 100 MB
    // stream holds thousands of Polyaxon workloads, most of which nothing
    // changes (an entry is about 400 bytes). In stream order.
    let mut plans: BTreeMap<usize, WorkloadPlan> = BTreeMap::new();
    let blank = |i: usize| WorkloadPlan {
        workload: i,
        ..Default::default()
    };
    for (i, w) in inv.workloads.iter().enumerate().filter(|(_, w)| w.polyaxon) {
        let has = w.repos_volume();
        let into = s.mount_into.iter().any(|g| glob_match(g, &w.name));
        let mut wp = blank(i);
        if s.configured {
            if has.is_some() || into {
                let Some(src) = &desired_source else {
                    return Err(PlanError::Config(ConfigError(format!(
                        "{} must mount the repos volume, but no source is known: the stream has none \
                         and neither the config nor the values set one. Set repos.hostPath or repos.existingClaim",
                        w.at()
                    ))));
                };
                let volume = volume_for(src, mount.read_only, has);
                planned.insert(i, planned_volumes(w, &volume));
                wp.volume = Some(volume);
                wp.mount = Some(mount.clone());
                wp.add_mounts = into;
            }
            // Only where there is a copy to keep in step: the patch then
            // reads no document it would only have searched for one.
            if let Some(src) = desired_source.as_ref().filter(|_| w.pod.repos_env) {
                wp.env = Some(EnvCopy {
                    source: src.clone(),
                    mount: mount.clone(),
                });
            }
        }
        if wp.has_work() {
            plans.insert(i, wp);
        }
    }

    // What an earlier run added is dropped: the rules read the pods without it.
    let mut cleaned: HashMap<usize, PodSummary> = HashMap::new();
    for (i, w) in inv.workloads.iter().enumerate().filter(|(_, w)| w.polyaxon) {
        let pod = &w.pod;
        if pod.earlier.is_empty() && !pod.labels.iter().any(|(k, _)| k == COLOCATE_LABEL) {
            continue;
        }
        plans.entry(i).or_insert_with(|| blank(i)).forget_earlier = true;
        let mut c = pod.as_ref().clone();
        c.labels = c
            .labels
            .iter()
            .filter(|(k, _)| k != COLOCATE_LABEL)
            .cloned()
            .collect();
        if let Some(req) = c
            .affinity
            .as_mut()
            .and_then(|a| std::sync::Arc::make_mut(a).pod_affinity.as_mut())
            .and_then(|p| {
                p.required_during_scheduling_ignored_during_execution
                    .as_mut()
            })
        {
            req.retain(|t| !pod.earlier.contains(t));
        }
        c.earlier.clear();
        cleaned.insert(i, c);
    }

    // Where the pods may run, group by group.
    let pod_of = |i: usize| cleaned.get(&i).unwrap_or(&inv.workloads[i].pod);
    let stream = groups::members(inv, s, &pod_of, &|i| planned.get(&i).map(Vec::as_slice));
    out.warnings.extend(stream.warnings.iter().cloned());
    let members = &stream.members;
    let mut used = groups::NodeSettingsUsed::default();
    let mut views: Vec<runtime::GroupView> = Vec::new();
    for g in groups::group(members) {
        let a = groups::assess(&stream, &g, s, false)
            .map_err(|e| PlanError::Unsafe(e.0, g.iter().map(|&m| members[m].index).collect()))?;
        // A group's warning is about its workloads, unless it names its own.
        out.warnings.extend(a.warnings.into_iter().map(|w| {
            if w.workloads.is_empty() {
                w.about(g.iter().map(|&m| members[m].index))
            } else {
                w
            }
        }));
        used.repos_node |= a.used.repos_node;
        used.data_node |= a.used.data_node;
        views.push(runtime::GroupView {
            // Each once: a group of thousands of workloads repeats them.
            keys: (g.iter())
                .flat_map(|&m| members[m].data.iter().map(|r| &r.key))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .cloned()
                .collect(),
            workloads: g.iter().map(|&m| members[m].index).collect(),
            names: groups::list_names(g.iter().map(|&m| members[m].w.id_in_namespace())),
            need: match &a.verdict {
                Verdict::Pin { node, .. } => Some(runtime::Need::Pin(node.clone())),
                Verdict::Colocate(co) => Some(runtime::Need::Follow(co.clone())),
                // The one pod's own labels, unless none select it alone.
                Verdict::Alone => match groups::follow(&stream, &g) {
                    (co, None) => Some(runtime::Need::Follow(co)),
                    (_, Some(_)) => None,
                },
            },
            nodes: (g.iter())
                .map(|&m| &members[m].nodes)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .cloned()
                .collect(),
        });
        for &m in &g {
            let i = members[m].index;
            let wp = match &a.verdict {
                Verdict::Alone => continue,
                // Already held there by its own constraints: nothing to add.
                Verdict::Pin { node, .. } if members[m].nodes.pins(node) => continue,
                Verdict::Pin { node, .. } => {
                    let wp = plans.entry(i).or_insert_with(|| blank(i));
                    wp.pin = Some(node.clone());
                    wp
                }
                Verdict::Colocate(co) => {
                    let wp = plans.entry(i).or_insert_with(|| blank(i));
                    wp.colocate = Some(co.clone());
                    wp
                }
            };
            wp.why.push(a.why.clone());
        }
    }
    // The pods Polyaxon creates at run time follow the same data.
    let repos = desired_source
        .as_ref()
        .filter(|_| s.configured)
        .map(|src| (src, mount.mount_path.as_str()));
    let rt = runtime::plan(inv, s, &views, repos)
        .map_err(|runtime::Refusal(m, ws)| PlanError::Unsafe(m, ws))?;
    out.warnings.extend(rt.warnings);
    out.runtime_keys = rt.keys;
    if let Some(digest) = &rt.digest {
        for &i in &rt.spawners {
            plans.entry(i).or_insert_with(|| blank(i)).runtime_digest = Some(digest.clone());
        }
    }
    used.data_node |= rt.used_data_node;
    unmatched_settings(
        inv,
        s,
        used,
        &|i| {
            planned
                .get(&i)
                .map_or(&inv.workloads[i].pod.volumes[..], Vec::as_slice)
        },
        &rt.volumes,
    )?;
    out.workloads = plans.into_values().collect();
    Ok(out)
}
