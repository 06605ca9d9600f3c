//! The node a group's data is on (from the config, a volume's node
//! affinity or a host path's settings), data that only one pod may use,
//! and what pinning the group to the node asks of its pods.

use super::*;

/// The node the group's data is on, if anything says so; two different
/// nodes are an error naming both.
pub(super) fn known_node(
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
    // Each node once, where it is first named: only the first and the
    // first other one are told (a group of thousands names one node).
    let seen = |found: &[(NodeId, String)], n: &NodeId| found.iter().any(|(x, _)| x == n);
    for m in g {
        for r in m.data.iter() {
            if let Some(n) = r.node.as_ref().filter(|n| !seen(&found, &n.0)) {
                found.push(n.clone());
            }
        }
        for n in m.nodes.single_nodes() {
            if seen(&found, &n) {
                continue;
            }
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
pub(super) fn one_pod_data(g: &[&Member<'_>]) -> Result<(), Unsafe> {
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
pub(super) fn one_pod_advice(m: &Member<'_>) -> &'static str {
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

/// A member held to a known node must find there the pods its required pod
/// affinity asks for: if only pods outside the group match all of its
/// terms (and not its own pods), they may run elsewhere and it would wait
/// for them forever.
pub(super) fn pinned_affinity(
    st: &Stream<'_>,
    g: &[&Member<'_>],
    node: &NodeId,
) -> Result<(), Unsafe> {
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
