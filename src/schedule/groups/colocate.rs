//! How a group's pods follow one another (the labels a required pod
//! affinity selects, or the label this tool adds), and whether they can
//! share one node: with each other (their anti-affinity, spread and host
//! ports, surge pods included) and with the pods around them.

use super::*;
use crate::k8s::digest;

/// Why co-location (a required pod affinity on a shared label) cannot hold
/// for this group, if it cannot: the all-terms rule of existing affinity,
/// node constraints that differ, a selector the label would break, or (with
/// `applied`) a member that lacks the co-location term.
pub(super) fn colocation_blockers(
    g: &[&Member<'_>],
    co: &Colocation,
    applied: bool,
) -> Result<(), Unsafe> {
    let first = g[0];
    // The labels every pod will carry: as patched, or as planned.
    let labels: Vec<Vec<(String, String)>> = g
        .iter()
        .map(|m| {
            if applied {
                m.pod.labels.to_vec()
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
        if let Some(sel) = &m.w.selector
            && !selector_matches(Some(&sel.label_selector()), l)
        {
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
pub(super) fn labels_with(m: &Member<'_>, co: &Colocation) -> Vec<(String, String)> {
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
pub(super) const RELEASE_KEYS: [&str; 4] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app",
    "release",
];

/// The labels every pod of a member carries in every render of its
/// release: those its `spec.selector` requires (immutable once created, so
/// the pods of earlier renders carry them too), or else its
/// [`RELEASE_KEYS`] labels.
pub(super) fn lasting_labels<'m>(m: &'m Member<'_>) -> BTreeMap<&'m str, &'m str> {
    // (A selector its own template does not match is refused apart.)
    let by_selector: BTreeMap<&str, &str> =
        m.w.selector
            .iter()
            .flat_map(|s| &s.labels)
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

pub(super) fn choose(st: &Stream<'_>, g: &[&Member<'_>]) -> (Colocation, Option<String>) {
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
pub(super) fn co_residence(st: &Stream<'_>, g: &[&Member<'_>], pinned: bool) -> Result<(), Unsafe> {
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
pub(super) fn outside(st: &Stream<'_>, g: &[&Member<'_>]) -> Result<(), Unsafe> {
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

/// Can `t`, a required pod (anti-)affinity term of `a`'s pods, count a pod
/// with labels `l` in `ns`? Its selector and namespaces, and what its
/// `matchLabelKeys` add: `same` says whether that pod is `a`'s own (a term
/// reaching only its own workload or revision never counts another
/// workload's pods; the revision is the caller's to judge).
pub(super) fn counts(
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
pub(super) fn earlier_note(
    pod: &PodSummary,
    t: &k8s_openapi::api::core::v1::PodAffinityTerm,
) -> &'static str {
    if pod.earlier.contains(t) {
        "; it is polyrepo-render's own co-location term from an earlier run, which this run \
         could not replace"
    } else {
        ""
    }
}

/// A hint when a conflict is a workload with itself during a rollout.
pub(super) fn surge_hint(a: &Member<'_>, b: &Member<'_>) -> &'static str {
    if a.index == b.index && a.count.steady <= 1 && a.count.surge > 0 {
        " (a rolling update runs an extra pod beside the old one; `strategy: {type: Recreate}` avoids that)"
    } else {
        ""
    }
}
