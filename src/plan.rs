//! What to change and why: a pure function from the inventory and the
//! settings to a [`Plan`].
//!
//! This is the one place that decides how far a volume reaches, how many pods
//! share it, and what keeps them safe. It never touches text; the patcher
//! turns the plan into edits.

use crate::config::{ConfigError, Settings, Source, glob_match};
use crate::inventory::{Inventory, PodSummary, REPOS_VOLUME, VolumeInfo, Workload};
use crate::k8s::{COLOCATE_LABEL, NodeId};
pub(crate) use crate::schedule::groups::Colocation;
use crate::schedule::groups::{self, Verdict};
use crate::schedule::runtime;
use std::collections::HashMap;
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
    /// One entry per Polyaxon workload that may change.
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

/// The volume source a workload's `repos` volume has in the stream.
fn source_of(v: &VolumeInfo) -> Option<Source> {
    if let Some((path, _)) = &v.host_path {
        return Some(Source::HostPath(path.clone()));
    }
    v.claim.clone().map(Source::Claim)
}

/// How a workload's containers mount `repos` in the stream (first mount found).
fn mount_of(w: &Workload) -> Option<Mount> {
    w.pod.repos_mount.as_ref().map(|m| Mount {
        mount_path: m.mount_path.clone(),
        sub_path: m.sub_path.clone().filter(|p| !p.is_empty()),
        read_only: m.read_only.unwrap_or(false),
    })
}

/// The volume the settings ask for, keeping a compatible existing
/// hostPath `type`.
fn volume_for(source: &Source, read_only: bool, existing: Option<&VolumeInfo>) -> VolumeInfo {
    let (host_path, claim) = match source {
        Source::HostPath(path) => {
            let type_ = existing
                .and_then(|e| e.host_path.as_ref())
                .and_then(|(_, t)| t.clone());
            (Some((path.clone(), type_)), None)
        }
        Source::Claim(name) => (None, Some(name.clone())),
    };
    VolumeInfo {
        name: REPOS_VOLUME.into(),
        read_only: read_only && claim.is_some(),
        host_path,
        claim,
    }
}

/// The pod's data volumes once the planned `repos` volume is in place.
fn planned_volumes(w: &Workload, volume: &VolumeInfo) -> Vec<VolumeInfo> {
    let mut vols = w.pod.volumes.clone();
    match vols.iter_mut().find(|v| v.name == REPOS_VOLUME) {
        Some(v) => *v = volume.clone(),
        None => vols.push(volume.clone()),
    }
    vols
}

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
    let mut index: HashMap<usize, usize> = HashMap::new();
    for (i, w) in inv.workloads.iter().enumerate().filter(|(_, w)| w.polyaxon) {
        let has = w.repos_volume();
        let into = s.mount_into.iter().any(|g| glob_match(g, &w.name));
        let mut wp = WorkloadPlan {
            workload: i,
            ..Default::default()
        };
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
        index.insert(i, out.workloads.len());
        out.workloads.push(wp);
    }

    // What an earlier run added is dropped: the rules read the pods without it.
    let mut cleaned: HashMap<usize, PodSummary> = HashMap::new();
    for wp in &mut out.workloads {
        let pod = &inv.workloads[wp.workload].pod;
        if pod.earlier.is_empty() && !pod.labels.iter().any(|(k, _)| k == COLOCATE_LABEL) {
            continue;
        }
        wp.forget_earlier = true;
        let mut c = pod.as_ref().clone();
        c.labels.retain(|(k, _)| k != COLOCATE_LABEL);
        if let Some(req) = c
            .affinity
            .as_mut()
            .and_then(|a| a.pod_affinity.as_mut())
            .and_then(|p| {
                p.required_during_scheduling_ignored_during_execution
                    .as_mut()
            })
        {
            req.retain(|t| !pod.earlier.contains(t));
        }
        c.earlier.clear();
        cleaned.insert(wp.workload, c);
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
            keys: g
                .iter()
                .flat_map(|&m| members[m].data.iter().map(|r| r.key.clone()))
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
            nodes: g.iter().map(|&m| members[m].nodes.clone()).collect(),
        });
        for &m in &g {
            let wp = &mut out.workloads[index[&members[m].index]];
            match &a.verdict {
                Verdict::Alone => continue,
                // Already held there by its own constraints: nothing to add.
                Verdict::Pin { node, .. } if members[m].nodes.pins(node) => continue,
                Verdict::Pin { node, .. } => wp.pin = Some(node.clone()),
                Verdict::Colocate(co) => wp.colocate = Some(co.clone()),
            }
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
    for wp in &mut out.workloads {
        if rt.spawners.contains(&wp.workload) {
            wp.runtime_digest = rt.digest.clone();
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
    Ok(out)
}

/// A setting the user wrote that matches nothing in the stream is refused
/// (as kustomize refuses a patch whose target matches nothing): under Helm 3
/// a warning is lost on success, and the user would take the chart's own
/// render for a patched one. Every such setting is named at once, with what
/// the stream does hold.
fn unmatched_settings<'p>(
    inv: &'p Inventory,
    s: &Settings,
    used: groups::NodeSettingsUsed,
    volumes_of: &dyn Fn(usize) -> &'p [VolumeInfo],
    runtime_volumes: &'p [VolumeInfo],
) -> Result<(), PlanError> {
    let polyaxon: Vec<&crate::inventory::Workload> =
        inv.workloads.iter().filter(|w| w.polyaxon).collect();
    let volumes = || {
        (0..inv.workloads.len())
            .filter(|&i| inv.workloads[i].polyaxon)
            .flat_map(volumes_of)
    };
    let at = |p: Option<&String>| p.map_or_else(String::new, |p| format!("{p}: "));
    let mut found = Vec::new();
    let wrote_any = s.configured
        || s.selector.is_some()
        || s.node.is_some()
        || s.data_node.is_some()
        || s.access_mode.is_some()
        || s.external
        || !s.ignore.is_empty()
        || !s.mount_into.is_empty();
    if polyaxon.is_empty() && wrote_any {
        let (shown, total) = &inv.seen;
        let holds = match total {
            0 => "the stream holds no workload at all".to_string(),
            n => format!(
                "the stream holds {n} workload(s): {}{}",
                shown.join("; "),
                if *n > shown.len() {
                    format!(" and {} more", n - shown.len())
                } else {
                    String::new()
                }
            ),
        };
        found.push(match &s.selector {
            Some(_) => format!(
                "{}workloads.selector matches no workload: {holds}. Fix the selector (it reads \
                 each workload's metadata.labels)",
                at(s.places.selector.as_ref())
            ),
            None if *total == 0 => "the stream holds no workload at all, so the settings \
                change nothing: give it a render of the Polyaxon chart"
                .to_string(),
            None => format!(
                "no Polyaxon workload was found, so the settings change nothing: {holds}, none \
                 labelled type or app.kubernetes.io/part-of = {}. Pass the chart's values file \
                 (--values, or values-files in Argo CD) when it sets types.core, or set \
                 workloads.selector",
                crate::inventory::core_types(inv, s).join(" or ")
            ),
        });
    }
    if !polyaxon.is_empty() {
        let names = || list_some(polyaxon.iter().map(|w| w.name.clone()));
        for (i, g) in s.mount_into.iter().enumerate() {
            if !polyaxon.iter().any(|w| glob_match(g, &w.name)) {
                found.push(format!(
                    "{}workloads.mountInto `{g}` matches no Polyaxon workload's name; they are: {} \
                     (Helm 3 hands no hook, helm.sh/hook, to a post-renderer: there a hook \
                     cannot be patched)",
                    at(s.places.mount_into.get(i)),
                    names()
                ));
            }
        }
        for (i, e) in s.ignore.iter().enumerate() {
            if !volumes()
                .chain(runtime_volumes)
                .any(|v| crate::schedule::data::ignore_matches(e, v))
            {
                let mut vols: Vec<String> = volumes()
                    .map(|v| match &v.host_path {
                        Some((p, _)) => format!("{} (hostPath {p})", v.name),
                        None => v.name.clone(),
                    })
                    .collect();
                vols.sort();
                vols.dedup();
                found.push(format!(
                    "{}ignore entry `{e}` matches no volume name or host path of the Polyaxon \
                     workloads; they mount: {}",
                    at(s.places.ignore.get(i)),
                    if vols.is_empty() {
                        "nothing".into()
                    } else {
                        list_some(vols.into_iter())
                    }
                ));
            }
        }
        if let Some(n) = &s.node
            && !used.repos_node
        {
            found.push(format!(
                "{}repos.node `{n}` is used by nothing: the repos volume is not single-node data \
                 here (it is not mounted, reaches every node, or is listed under `ignore:`). \
                 Remove it",
                at(s.places.node.as_ref())
            ));
        }
        if let Some(n) = &s.data_node
            && !used.data_node
        {
            found.push(format!(
                "{}node `{n}` is used by nothing: no pod shares host data whose node is not \
                 otherwise known (by repos.node, a volume's node affinity or the pods' own node \
                 constraints). Remove it",
                at(s.places.data_node.as_ref())
            ));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(PlanError::Config(ConfigError(found.join("\n"))))
}

/// At most twelve names, then how many more.
fn list_some(names: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = names.collect();
    let shown = all.iter().take(12).cloned().collect::<Vec<_>>().join(", ");
    match all.len() {
        n if n > 12 => format!("{shown} and {} more", n - 12),
        _ => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve names are listed whole; past twelve, how many more.
    #[test]
    fn long_lists_say_how_many_more() {
        let names = |n: usize| (0..n).map(|i| format!("w{i:02}"));
        assert!(!list_some(names(12)).contains("more"));
        assert!(list_some(names(12)).ends_with("w11"));
        assert!(list_some(names(14)).ends_with("w11 and 2 more"));
    }
    use crate::config::AccessMode;
    use crate::{inventory, yaml as stream};

    fn host(h: &str) -> Option<NodeId> {
        Some(NodeId::Hostname(h.into()))
    }

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
        let inv =
            inventory::read(text, &infos, stream::tree::Trees::OnDemand, s, Vec::new()).unwrap();
        plan(&inv, s)
    }

    fn claim(s: &mut Settings, name: &str) {
        s.configured = true;
        s.source = Some(Source::Claim(name.into()));
    }

    #[test]
    fn one_pod_on_a_host_path_only_warns() {
        let recreate = |d: String| {
            d.replace(
                "  replicas: 1\n",
                "  replicas: 1\n  strategy: {type: Recreate}\n",
            )
        };
        let p = run(
            &recreate(deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), "")),
            &Settings::default(),
        )
        .unwrap();
        assert!(p.workloads[0].pin.is_none() && p.workloads[0].colocate.is_none());
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("stays on whichever node")),
            "{:?}",
            p.warnings
        );
        let s = Settings {
            external: true,
            ..Default::default()
        };
        let p = run(
            &recreate(deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), "")),
            &s,
        )
        .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // With the default RollingUpdate, one replica is two pods during a rollout.
        let p = run(
            &deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
            &s,
        )
        .unwrap();
        assert!(p.workloads[0].colocate.is_some());
    }

    #[test]
    fn several_pods_on_one_node_volume_are_colocated_through_their_selector_labels() {
        let text = deploy("api", 3, Some("hostPath: {path: /tmp/repos}"), "");
        let p = run(&text, &Settings::default()).unwrap();
        let co = p.workloads[0].colocate.as_ref().expect("co-located");
        assert_eq!(
            co.select,
            groups::Select::Labels(vec![("app".into(), vec!["api".into()])])
        );
        assert!(p.workloads[0].pin.is_none());
    }

    /// The env copy is planned only where a container carries one (read
    /// through anchors, any document with aliases may): a workload whose
    /// only work would be to search for it is not read again.
    #[test]
    fn the_env_copy_is_planned_only_where_a_container_may_carry_one() {
        let mut s = Settings::default();
        claim(&mut s, "repos");
        let env = "        env:\n        - {name: POLYAXON_PERSISTENCE_REPOS, value: '{}'}\n";
        let aliased = "        env:\n        - &e {name: OTHER, value: x}\n        - *e\n";
        let with = |name: &str, env: &str| {
            deploy(name, 1, None, "")
                .replace("        image: x\n", &format!("        image: x\n{env}"))
        };
        let text = [
            with("plain", ""),
            with("copy", env),
            with("aliased", aliased),
        ]
        .concat();
        let p = run(&text, &s).unwrap();
        let planned: Vec<bool> = p.workloads.iter().map(|wp| wp.env.is_some()).collect();
        assert_eq!(planned, [false, true, true]);
        assert!(!p.workloads[0].has_work());
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
        assert_eq!(p.workloads[0].pin, host("worker-2"));
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
        assert!(p.workloads[0].volume.as_ref().unwrap().claim.is_some());
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
        // The volume's own node affinity holds the pod on node-7
        // (VolumeBinding): nothing to add.
        assert_eq!(p.workloads[0].pin, None);
        assert!(p.workloads[0].colocate.is_none());
        // A pod sharing the data through a host path is pinned there.
        let local = pv.replace("spec:\n", "spec:\n  local: {path: /r}\n");
        let sharer = deploy("sched", 1, Some("hostPath: {path: /r/x}"), "");
        let p = run(
            &format!(
                "{d}{sharer}{}{local}",
                pvc("ReadWriteOnce", "", ", volumeName: local-1")
            ),
            &Settings::default(),
        )
        .unwrap();
        assert_eq!(p.workloads[1].pin, host("node-7"));
    }

    #[test]
    fn autoscalers_raise_the_pod_count() {
        let d = deploy("api", 1, Some("hostPath: {path: /r}"), "");
        let hpa = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 1\n  maxReplicas: 4\n";
        let p = run(&format!("{d}{hpa}"), &Settings::default()).unwrap();
        assert!(p.workloads[0].colocate.is_some());
        assert!(
            p.workloads[0].why[0].contains("4 pods share it, 5 during a rollout"),
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
            matches!(&e, PlanError::Unsafe(m, _) if m.contains("claim solo") && m.contains("Deployment/api")),
            "{e}"
        );
        // One replica rolls out with a surge pod: two pods on the claim.
        let e = run(&deploy("api", 1, Some("hostPath: {path: /r}"), ""), &s).unwrap_err();
        assert!(
            matches!(&e, PlanError::Unsafe(m, _) if m.contains("Recreate")),
            "{e}"
        );
        let recreate = deploy("api", 1, Some("hostPath: {path: /r}"), "").replace(
            "  replicas: 1\n",
            "  replicas: 1\n  strategy: {type: Recreate}\n",
        );
        // Recreate: one pod at a time, so only the single-node warning.
        let p = run(&recreate, &s).unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("only Deployment/api uses it"));
    }

    #[test]
    fn plan_errors_print_their_message() {
        assert_eq!(PlanError::Unsafe("why".into(), vec![]).to_string(), "why");
        assert_eq!(
            PlanError::Config(ConfigError("what".into())).to_string(),
            "what"
        );
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
            matches!(&e, PlanError::Unsafe(m, _) if m.contains("DaemonSet/agent") && m.contains("claim c")),
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
            matches!(&e, PlanError::Unsafe(m, _) if m.contains("worker-2") && m.contains("Deployment/api")),
            "{e}"
        );
        let aff = "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchExpressions: [{key: kubernetes.io/hostname, operator: NotIn, values: [worker-2]}]\n";
        let e = run(&deploy("api", 1, Some("hostPath: {path: /r}"), aff), &s).unwrap_err();
        assert!(
            matches!(&e, PlanError::Unsafe(m, _) if m.contains("worker-2") && m.contains("Deployment/api")),
            "{e}"
        );
        // One term still allowing the node is enough: the pin goes there.
        let ok = format!(
            "{aff}            - matchExpressions: [{{key: zone, operator: In, values: [a]}}]\n"
        );
        let p = run(&deploy("api", 1, Some("hostPath: {path: /r}"), &ok), &s).unwrap();
        assert_eq!(
            p.workloads[0].pin,
            Some(crate::k8s::NodeId::Hostname("worker-2".into()))
        );
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
                .0,
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
