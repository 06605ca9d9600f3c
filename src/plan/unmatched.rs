//! The settings the user wrote that match nothing in the stream: refused
//! all at once, each with what the stream does hold.

use super::PlanError;
use crate::config::{ConfigError, Settings, glob_match};
use crate::inventory::{Inventory, VolumeInfo};
use crate::schedule::groups;

/// A setting the user wrote that matches nothing in the stream is refused
/// (as kustomize refuses a patch whose target matches nothing): under Helm 3
/// a warning is lost on success, and the user would take the chart's own
/// render for a patched one. Every such setting is named at once, with what
/// the stream does hold.
pub(super) fn unmatched_settings<'p>(
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
}
