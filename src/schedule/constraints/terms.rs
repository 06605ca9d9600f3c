//! Pod-affinity terms and label selectors, as the scheduler's
//! InterPodAffinity filter reads them: which pods a term selects, in which
//! namespaces, and the labels a workload's controller adds to its pods.

use crate::inventory::PodSummary;
use crate::k8s::WorkloadKind;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Does a label selector match these labels? A missing selector matches
/// nothing; an empty one matches everything.
pub(crate) fn selector_matches(sel: Option<&LabelSelector>, labels: &[(String, String)]) -> bool {
    let Some(sel) = sel else { return false };
    let get = |k: &str| labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v);
    sel.match_labels
        .iter()
        .flatten()
        .all(|(k, v)| get(k) == Some(v))
        && sel.match_expressions.iter().flatten().all(|e| {
            let have = get(&e.key);
            let vals = e.values.as_deref().unwrap_or(&[]);
            match e.operator.as_str() {
                "In" => have.is_some_and(|h| vals.contains(h)),
                "NotIn" => !have.is_some_and(|h| vals.contains(h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

/// The labels a workload's controller adds to every pod it makes, and how
/// near another pod must be to carry the same value: `pod-template-hash`
/// is one per Deployment revision, `controller-revision-hash` one per
/// DaemonSet or StatefulSet revision, a StatefulSet pod's name and index
/// one per pod, a Job's uid and name one per Job (one per run of a
/// CronJob). Keys a pod may or may not carry (an Indexed Job's completion
/// index) are left out: the caller decides which side is safe.
fn controller_keys(kind: WorkloadKind) -> &'static [(&'static str, Within)] {
    const JOB: [(&str, Within); 4] = [
        ("controller-uid", Within::Workload),
        ("batch.kubernetes.io/controller-uid", Within::Workload),
        ("job-name", Within::Workload),
        ("batch.kubernetes.io/job-name", Within::Workload),
    ];
    const RUN: [(&str, Within); 4] = [
        ("controller-uid", Within::Revision),
        ("batch.kubernetes.io/controller-uid", Within::Revision),
        ("job-name", Within::Revision),
        ("batch.kubernetes.io/job-name", Within::Revision),
    ];
    match kind {
        WorkloadKind::Deployment => &[("pod-template-hash", Within::Revision)],
        WorkloadKind::DaemonSet => &[("controller-revision-hash", Within::Revision)],
        WorkloadKind::StatefulSet => &[
            ("controller-revision-hash", Within::Revision),
            ("statefulset.kubernetes.io/pod-name", Within::Pod),
            ("apps.kubernetes.io/pod-index", Within::Pod),
        ],
        WorkloadKind::Job => &JOB,
        WorkloadKind::CronJob => &RUN,
        WorkloadKind::ReplicaSet | WorkloadKind::Pod => &[],
    }
}

/// Which other pods a term or spread constraint with `matchLabelKeys` can
/// still count: the keys' values are taken from the incoming pod's own
/// labels, so a key the controller sets per revision leaves only the pods
/// of its own revision (a rolling update's new pods count apart from the
/// old ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Within {
    /// Any pod its selector matches.
    Any,
    /// Only pods of its own workload.
    Workload,
    /// Only pods of its own workload and revision.
    Revision,
    /// Only the pod itself.
    Pod,
}

/// What `matchLabelKeys` and `mismatchLabelKeys` add to a selector, read
/// against the owning pod's template labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Keyed {
    /// How near another pod must be to count.
    pub(crate) within: Within,
    /// `key = value` the other pod must carry (the owner's values).
    required: Vec<(String, String)>,
    /// `key = value` the other pod must not carry.
    excluded: Vec<(String, String)>,
}

impl Keyed {
    /// Do another pod's labels meet the added requirements?
    pub(crate) fn admits(&self, labels: &[(String, String)]) -> bool {
        let has = |k: &str, v: &str| labels.iter().any(|(a, b)| a == k && b == v);
        self.required.iter().all(|(k, v)| has(k, v))
            && !self.excluded.iter().any(|(k, v)| has(k, v))
    }
}

/// Reads `matchLabelKeys` (and `mismatchLabelKeys`) against the owning
/// pod's template labels and the labels its controller (`kind`) adds. A
/// key the pod does not carry is ignored, as the API server ignores it; a
/// key a controller sets narrows the reach; a controller key in
/// `mismatchLabelKeys` is ignored (it only takes pods away: counting them is
/// the safe side). `uncertain`: a controller key the pod may carry narrows
/// it too (the safe side for a required affinity, which a narrower term
/// makes harder to meet).
pub(crate) fn keyed(
    match_keys: Option<&[String]>,
    mismatch_keys: Option<&[String]>,
    own: &[(String, String)],
    kind: WorkloadKind,
    uncertain: bool,
) -> Keyed {
    let value = |k: &str| own.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mut out = Keyed {
        within: Within::Any,
        required: Vec::new(),
        excluded: Vec::new(),
    };
    for k in match_keys.unwrap_or(&[]) {
        let reach = if let Some(v) = value(k) {
            out.required.push((k.clone(), v));
            Within::Any
        } else if let Some((_, w)) = controller_keys(kind).iter().find(|(c, _)| c == k) {
            *w
        } else if uncertain && k == "batch.kubernetes.io/job-completion-index" {
            Within::Pod
        } else {
            Within::Any
        };
        out.within = out.within.max(reach);
    }
    for k in mismatch_keys.unwrap_or(&[]) {
        if let Some(v) = value(k) {
            out.excluded.push((k.clone(), v));
        }
    }
    out
}

/// [`keyed`] for a pod (anti-)affinity term.
pub(crate) fn term_keys(
    term: &core::PodAffinityTerm,
    own: &[(String, String)],
    kind: WorkloadKind,
    uncertain: bool,
) -> Keyed {
    keyed(
        term.match_label_keys.as_deref(),
        term.mismatch_label_keys.as_deref(),
        own,
        kind,
        uncertain,
    )
}

/// An answer that may not be known from the stream alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Maybe {
    Yes,
    No,
    Unknown,
}

impl Maybe {
    /// Yes or unknown: what a conflict check must assume.
    pub(crate) fn possible(self) -> bool {
        self != Maybe::No
    }
}

/// Is `pod_ns` among the namespaces a pod-affinity term of a pod in
/// `owner_ns` looks at? `None` is the release namespace, which the stream
/// may not name: equal to another `None`, unknown against a written one.
pub(crate) fn term_covers_namespace(
    term: &core::PodAffinityTerm,
    owner_ns: Option<&str>,
    pod_ns: Option<&str>,
) -> Maybe {
    let same = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) if a == b => Maybe::Yes,
        (Some(_), Some(_)) => Maybe::No,
        (None, None) => Maybe::Yes,
        _ => Maybe::Unknown,
    };
    let listed = term.namespaces.as_deref().unwrap_or(&[]);
    let by_selector = match &term.namespace_selector {
        None => Maybe::No,
        Some(s)
            if s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(Vec::is_empty) =>
        {
            Maybe::Yes
        }
        Some(_) => Maybe::Unknown, // namespace labels are not in the stream
    };
    if listed.is_empty() && term.namespace_selector.is_none() {
        return same(owner_ns, pod_ns);
    }
    let by_list = listed
        .iter()
        .map(|n| same(Some(n), pod_ns))
        .fold(Maybe::No, or);
    or(by_list, by_selector)
}

fn or(a: Maybe, b: Maybe) -> Maybe {
    match (a, b) {
        (Maybe::Yes, _) | (_, Maybe::Yes) => Maybe::Yes,
        (Maybe::Unknown, _) | (_, Maybe::Unknown) => Maybe::Unknown,
        _ => Maybe::No,
    }
}

/// Does a pod-affinity term (of a pod in `owner_ns`) select a pod with
/// these labels in `pod_ns`?
pub(crate) fn term_selects(
    term: &core::PodAffinityTerm,
    owner_ns: Option<&str>,
    labels: &[(String, String)],
    pod_ns: Option<&str>,
) -> Maybe {
    if !selector_matches(term.label_selector.as_ref(), labels) {
        return Maybe::No;
    }
    term_covers_namespace(term, owner_ns, pod_ns)
}

/// The required pod-affinity terms of a pod spec.
pub(crate) fn affinity_terms(pod: &PodSummary) -> &[core::PodAffinityTerm] {
    pod.affinity
        .as_ref()
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

/// The required pod anti-affinity terms of a pod spec.
pub(crate) fn anti_affinity_terms(pod: &PodSummary) -> &[core::PodAffinityTerm] {
    pod.affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listed namespace the pod may be in, or a selector over namespace
    /// labels the stream does not hold, may cover the pod: unknown, not no.
    #[test]
    fn a_namespace_that_may_match_is_unknown_not_no() {
        let t = |json: &str| -> core::PodAffinityTerm { serde_json::from_str(json).unwrap() };
        let listed = t(r#"{"topologyKey":"k","namespaces":["a"]}"#);
        assert_eq!(
            term_covers_namespace(&listed, Some("b"), None),
            Maybe::Unknown
        );
        assert_eq!(term_covers_namespace(&listed, None, Some("b")), Maybe::No);
        let labelled = t(r#"{"topologyKey":"k","namespaceSelector":{"matchLabels":{"team":"x"}}}"#);
        assert_eq!(
            term_covers_namespace(&labelled, Some("a"), Some("b")),
            Maybe::Unknown
        );
    }

    /// Every label selector operator, as Kubernetes reads it.
    #[test]
    fn label_selectors_read_every_operator() {
        let sel = |json: &str| -> LabelSelector { serde_json::from_str(json).unwrap() };
        let labels = vec![("app".to_string(), "api".to_string())];
        for (json, matches) in [
            (
                r#"{"matchExpressions":[{"key":"app","operator":"Exists"}]}"#,
                true,
            ),
            (
                r#"{"matchExpressions":[{"key":"app","operator":"DoesNotExist"}]}"#,
                false,
            ),
            (
                r#"{"matchExpressions":[{"key":"app","operator":"In","values":["api"]}]}"#,
                true,
            ),
            (
                r#"{"matchExpressions":[{"key":"app","operator":"NotIn","values":["api"]}]}"#,
                false,
            ),
            (
                r#"{"matchExpressions":[{"key":"app","operator":"Has"}]}"#,
                false,
            ),
            (r#"{}"#, true),
        ] {
            assert_eq!(
                selector_matches(Some(&sel(json)), &labels),
                matches,
                "{json}"
            );
        }
        assert!(!selector_matches(None, &labels));
    }

    #[test]
    fn term_namespaces() {
        let t = |json: &str| -> core::PodAffinityTerm { serde_json::from_str(json).unwrap() };
        let own = t(r#"{"topologyKey":"k","labelSelector":{}}"#);
        assert_eq!(term_covers_namespace(&own, None, None), Maybe::Yes);
        assert_eq!(term_covers_namespace(&own, Some("a"), None), Maybe::Unknown);
        assert_eq!(term_covers_namespace(&own, Some("a"), Some("b")), Maybe::No);
        let all = t(r#"{"topologyKey":"k","namespaceSelector":{}}"#);
        assert_eq!(
            term_covers_namespace(&all, Some("a"), Some("b")),
            Maybe::Yes
        );
        let listed = t(r#"{"topologyKey":"k","namespaces":["b"]}"#);
        assert_eq!(
            term_covers_namespace(&listed, Some("a"), Some("b")),
            Maybe::Yes
        );
        assert_eq!(
            term_covers_namespace(&listed, Some("b"), Some("a")),
            Maybe::No
        );
        assert!(!selector_matches(None, &[]));
        assert!(selector_matches(Some(&LabelSelector::default()), &[]));
    }

    #[test]
    fn match_label_keys_take_the_owners_values_and_its_controllers_labels() {
        let l = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, x)| (k.to_string(), x.to_string()))
                .collect()
        };
        let keys = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let own = l(&[("app", "api"), ("tier", "back")]);
        // A template label: the other pod must carry the owner's value.
        let k = keyed(
            Some(&keys(&["tier"])),
            None,
            &own,
            WorkloadKind::Deployment,
            false,
        );
        assert_eq!(k.within, Within::Any);
        assert!(k.admits(&l(&[("tier", "back")])));
        assert!(!k.admits(&l(&[("tier", "front")])));
        assert!(
            !k.admits(&l(&[("app", "api")])),
            "absent is not the owner's value"
        );
        // mismatchLabelKeys: the owner's value is excluded, absence is fine.
        let k = keyed(
            None,
            Some(&keys(&["tier"])),
            &own,
            WorkloadKind::Deployment,
            false,
        );
        assert!(!k.admits(&l(&[("tier", "back")])));
        assert!(k.admits(&l(&[("tier", "front")])) && k.admits(&[]));
        // Both at once must both hold.
        let k = keyed(
            Some(&keys(&["app"])),
            Some(&keys(&["tier"])),
            &own,
            WorkloadKind::Deployment,
            false,
        );
        assert!(k.admits(&l(&[("app", "api")])));
        assert!(!k.admits(&l(&[("app", "api"), ("tier", "back")])));
        assert!(!k.admits(&l(&[("tier", "x")])));
        // A key the pod does not carry is ignored, as the API server does.
        let k = keyed(
            Some(&keys(&["zone"])),
            None,
            &own,
            WorkloadKind::Deployment,
            false,
        );
        assert_eq!(k.within, Within::Any);
        assert!(k.admits(&[]));
        // Controller keys, by kind: a Deployment's pods carry
        // pod-template-hash, a StatefulSet's do not.
        let hash = keys(&["pod-template-hash"]);
        assert_eq!(
            keyed(Some(&hash), None, &own, WorkloadKind::Deployment, false).within,
            Within::Revision
        );
        assert_eq!(
            keyed(Some(&hash), None, &own, WorkloadKind::StatefulSet, false).within,
            Within::Any
        );
        let name = keys(&["statefulset.kubernetes.io/pod-name"]);
        assert_eq!(
            keyed(Some(&name), None, &own, WorkloadKind::StatefulSet, false).within,
            Within::Pod
        );
        let job = keys(&["job-name"]);
        assert_eq!(
            keyed(Some(&job), None, &own, WorkloadKind::Job, false).within,
            Within::Workload
        );
        assert_eq!(
            keyed(Some(&job), None, &own, WorkloadKind::CronJob, false).within,
            Within::Revision
        );
        // The narrowest key wins.
        let both = keys(&["job-name", "batch.kubernetes.io/job-completion-index"]);
        assert_eq!(
            keyed(Some(&both), None, &own, WorkloadKind::Job, false).within,
            Within::Workload
        );
        assert_eq!(
            keyed(Some(&both), None, &own, WorkloadKind::Job, true).within,
            Within::Pod,
            "uncertain: narrower"
        );
    }
}
