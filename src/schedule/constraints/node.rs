//! A pod's node constraint, as the scheduler's NodeName and NodeAffinity
//! filters read it: what it admits, pins and leaves open, and whether
//! several constraints can hold on one node together.

use crate::inventory::PodSummary;
use crate::k8s::{HOSTNAME, NODE_NAME_FIELD, NodeId};
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most term combinations [`jointly_satisfiable`] tries before giving up
/// (and answering no, which refuses the run rather than guess).
const MAX_COMBINATIONS: usize = 4096;

/// A requirement operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    /// An operator Kubernetes does not know: matches nothing.
    Invalid,
}

impl Op {
    fn parse(s: &str) -> Op {
        match s {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            _ => Op::Invalid,
        }
    }
}

/// One requirement on a node: on a label, or (`field`) on `metadata.name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Req {
    pub(crate) field: bool,
    pub(crate) key: String,
    pub(crate) op: Op,
    pub(crate) values: Vec<String>,
}

impl Req {
    fn new(field: bool, key: &str, op: &str, values: Option<&Vec<String>>) -> Req {
        let mut values = values.cloned().unwrap_or_default();
        values.sort();
        values.dedup();
        let mut op = Op::parse(op);
        // matchFields only knows In and NotIn on metadata.name.
        if field && (key != NODE_NAME_FIELD || !matches!(op, Op::In | Op::NotIn)) {
            op = Op::Invalid;
        }
        Req {
            field,
            key: key.to_string(),
            op,
            values,
        }
    }

    /// Does a node whose value for this key is `v` (None: absent) pass?
    fn holds(&self, v: Option<&str>) -> bool {
        let int = |s: &str| s.parse::<i64>().ok();
        let bound = || match self.values.as_slice() {
            [one] => int(one),
            _ => None,
        };
        match self.op {
            Op::In => v.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => !v.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::Exists => v.is_some(),
            Op::DoesNotExist => v.is_none(),
            Op::Gt => matches!((v.and_then(int), bound()), (Some(a), Some(b)) if a > b),
            Op::Lt => matches!((v.and_then(int), bound()), (Some(a), Some(b)) if a < b),
            Op::Invalid => false,
        }
    }

    /// Is this requirement about what `known` names?
    fn is_about(&self, known: &NodeId) -> bool {
        match known {
            NodeId::Hostname(_) => !self.field && self.key == HOSTNAME,
            NodeId::Name(_) => self.field && self.key == NODE_NAME_FIELD,
        }
    }
}

/// Where a pod may run: `nodeName`, `nodeSelector` and the required node
/// affinity, as one OR of terms, each an AND of requirements. No terms:
/// no node at all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NodeConstraint {
    /// Kept once per value (`shared`): thousands of pods of a large stream
    /// ask for the same nodes.
    terms: Arc<BTreeSet<BTreeSet<Req>>>,
}

impl NodeConstraint {
    /// The constraint of a pod spec.
    pub(crate) fn of(pod: &PodSummary) -> NodeConstraint {
        let mut base = BTreeSet::new();
        for (k, v) in pod.node_selector.iter().flatten() {
            base.insert(Req::new(false, k, "In", Some(&vec![v.clone()])));
        }
        if let Some(n) = &pod.node_name {
            base.insert(Req::new(
                true,
                NODE_NAME_FIELD,
                "In",
                Some(&vec![n.clone()]),
            ));
        }
        let terms = match required_terms(pod) {
            None => BTreeSet::from([base]),
            Some(terms) => terms
                .iter()
                .filter(|t| !term_is_empty(t))
                .map(|t| {
                    let mut reqs = base.clone();
                    for e in t.match_expressions.iter().flatten() {
                        reqs.insert(Req::new(false, &e.key, &e.operator, e.values.as_ref()));
                    }
                    for e in t.match_fields.iter().flatten() {
                        reqs.insert(Req::new(true, &e.key, &e.operator, e.values.as_ref()));
                    }
                    reqs
                })
                .collect(),
        };
        NodeConstraint {
            terms: crate::shared::share(Arc::new(terms)),
        }
    }

    /// Can a node named by `known` pass, assuming it carries whatever else
    /// the pod asks for?
    pub(crate) fn admits(&self, known: &NodeId) -> bool {
        self.terms
            .iter()
            .any(|t| satisfiable(t.iter(), Some(known)))
    }

    /// The constraint once `known` is required in every term: what a pin
    /// writes (a pod with no required terms gets one).
    pub(crate) fn with_pin(&self, known: &NodeId) -> NodeConstraint {
        let req = match known {
            NodeId::Hostname(h) => Req::new(false, HOSTNAME, "In", Some(&vec![h.clone()])),
            NodeId::Name(n) => Req::new(true, NODE_NAME_FIELD, "In", Some(&vec![n.clone()])),
        };
        NodeConstraint {
            terms: Arc::new(
                self.terms
                    .iter()
                    .map(|t| {
                        let mut t = t.clone();
                        t.insert(req.clone());
                        t
                    })
                    .collect(),
            ),
        }
    }

    /// Both constraints at once: every term of one AND'ed with every term
    /// of the other (a pod's own constraint and the node affinity of a
    /// PersistentVolume it mounts, which VolumeBinding adds).
    pub(crate) fn and(&self, other: &NodeConstraint) -> NodeConstraint {
        NodeConstraint {
            terms: Arc::new(
                self.terms
                    .iter()
                    .flat_map(|a| {
                        other
                            .terms
                            .iter()
                            .map(move |b| a.union(b).cloned().collect())
                    })
                    .collect(),
            ),
        }
    }

    /// A PersistentVolume's required node affinity as a constraint.
    pub(crate) fn of_volume(required: &core::NodeSelector) -> NodeConstraint {
        NodeConstraint::of(&PodSummary {
            affinity: Some(std::sync::Arc::new(core::Affinity {
                node_affinity: Some(core::NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(required.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        })
    }

    /// Can any node pass at all?
    pub(crate) fn satisfiable(&self) -> bool {
        self.terms.iter().any(|t| satisfiable(t.iter(), None))
    }

    /// The nodes this constraint restricts the pod to, when it names
    /// exactly one (every term that some node can pass requires `In` one
    /// value; a term no node passes, such as `In [a]` AND `In [b]`, holds
    /// no pod anywhere and is left out): at most one hostname and one node
    /// name.
    pub(crate) fn single_nodes(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        let live: Vec<&std::collections::BTreeSet<Req>> = self
            .terms
            .iter()
            .filter(|t| satisfiable(t.iter(), None))
            .collect();
        if live.is_empty() {
            return out;
        }
        for field in [false, true] {
            let mut found: Option<&str> = None;
            let all = live.iter().all(|t| {
                let v = t.iter().find_map(|r| match (r.op, r.values.as_slice()) {
                    (Op::In, [one])
                        if r.field == field
                            && r.key == if field { NODE_NAME_FIELD } else { HOSTNAME } =>
                    {
                        Some(one.as_str())
                    }
                    _ => None,
                });
                match (v, found) {
                    (None, _) => false,
                    (Some(v), None) => {
                        found = Some(v);
                        true
                    }
                    (Some(v), Some(f)) => v == f,
                }
            });
            if let (true, Some(v)) = (all, found) {
                out.push(if field {
                    NodeId::Name(v.to_string())
                } else {
                    NodeId::Hostname(v.to_string())
                });
            }
        }
        out
    }

    /// True when every term requires `known` (the pod is pinned there).
    pub(crate) fn pins(&self, known: &NodeId) -> bool {
        self.single_nodes().contains(known)
    }

    /// The node labels (keys) that the terms admitting `known` also ask
    /// for: a pin to `known` holds only if that node carries them, which
    /// the stream cannot say.
    pub(crate) fn other_keys(&self, known: &NodeId) -> BTreeSet<String> {
        self.terms
            .iter()
            .filter(|t| satisfiable(t.iter(), Some(known)))
            .flatten()
            .filter(|r| !r.is_about(known))
            .map(|r| r.key.clone())
            .collect()
    }
}

/// Can one node pass every given constraint at once (and be `known`)?
pub(crate) fn jointly_satisfiable(cs: &[&NodeConstraint], known: Option<&NodeId>) -> bool {
    let mut distinct: Vec<&NodeConstraint> = Vec::new();
    for c in cs {
        if !distinct.contains(c) {
            distinct.push(c);
        }
    }
    let combos = distinct
        .iter()
        .try_fold(1usize, |n, c| n.checked_mul(c.terms.len()))
        .unwrap_or(usize::MAX);
    if combos > MAX_COMBINATIONS {
        return false;
    }
    let lists: Vec<Vec<&BTreeSet<Req>>> =
        distinct.iter().map(|c| c.terms.iter().collect()).collect();
    let mut idx = vec![0usize; lists.len()];
    if lists.iter().any(Vec::is_empty) {
        return false;
    }
    loop {
        let reqs = lists.iter().zip(&idx).flat_map(|(l, &i)| l[i].iter());
        if satisfiable(reqs, known) {
            return true;
        }
        // Next combination.
        let mut k = 0;
        loop {
            if k == idx.len() {
                return false;
            }
            idx[k] += 1;
            if idx[k] < lists[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

/// The required node affinity terms, when there is a required node affinity.
fn required_terms(pod: &PodSummary) -> Option<&[core::NodeSelectorTerm]> {
    pod.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .map(|r| r.node_selector_terms.as_slice())
}

/// A term with no requirement matches no node.
pub(crate) fn term_is_empty(t: &core::NodeSelectorTerm) -> bool {
    t.match_expressions.as_ref().is_none_or(Vec::is_empty)
        && t.match_fields.as_ref().is_none_or(Vec::is_empty)
}

/// Is there a value per key (or its absence) passing every requirement,
/// with the key `known` names fixed to its value?
fn satisfiable<'r>(reqs: impl Iterator<Item = &'r Req>, known: Option<&NodeId>) -> bool {
    let mut by_key: Vec<(bool, &str, Vec<&Req>)> = Vec::new();
    for r in reqs {
        match by_key
            .iter_mut()
            .find(|(f, k, _)| *f == r.field && *k == r.key)
        {
            Some((_, _, v)) => v.push(r),
            None => by_key.push((r.field, &r.key, vec![r])),
        }
    }
    by_key.iter().all(|(_, _, rs)| {
        if let Some(k) = known.filter(|k| rs[0].is_about(k)) {
            return rs.iter().all(|r| r.holds(Some(k.value())));
        }
        candidates(rs)
            .iter()
            .any(|v| rs.iter().all(|r| r.holds(v.as_deref())))
    })
}

/// Values worth trying for one key: absence, every value named, integers
/// around every bound, and a value named nowhere.
fn candidates(rs: &[&Req]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = vec![None, Some("\u{0}unnamed".into())];
    let excluded = rs.iter().map(|r| r.values.len()).sum::<usize>() as i64 + 2;
    for r in rs {
        out.extend(r.values.iter().map(|v| Some(v.clone())));
        if let ([one], Op::Gt | Op::Lt) = (r.values.as_slice(), r.op)
            && let Ok(b) = one.parse::<i64>()
        {
            let step = if r.op == Op::Gt { 1 } else { -1 };
            out.extend((1..=excluded).map(|d| Some(b.saturating_add(step * d).to_string())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(selector: &[(&str, &str)], terms: &str, node_name: Option<&str>) -> PodSummary {
        let affinity = (!terms.is_empty()).then(|| {
            std::sync::Arc::new(serde_json::from_str(&format!(
                r#"{{"nodeAffinity":{{"requiredDuringSchedulingIgnoredDuringExecution":{{"nodeSelectorTerms":{terms}}}}}}}"#
            ))
            .unwrap())
        });
        PodSummary {
            node_selector: (!selector.is_empty()).then(|| {
                selector
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
            affinity,
            node_name: node_name.map(str::to_string),
            ..Default::default()
        }
    }

    fn host(h: &str) -> NodeId {
        NodeId::Hostname(h.into())
    }

    #[test]
    fn hostname_rules_are_evaluated_exactly() {
        let e = |op: &str, v: &str| {
            NodeConstraint::of(&pod(
                &[],
                &format!(
                    r#"[{{"matchExpressions":[{{"key":"{HOSTNAME}","operator":"{op}","values":[{v}]}}]}}]"#
                ),
                None,
            ))
        };
        assert!(e("In", r#""a","b""#).admits(&host("a")));
        assert!(!e("In", r#""a""#).admits(&host("c")));
        assert!(!e("NotIn", r#""a""#).admits(&host("a")));
        assert!(e("Gt", r#""5""#).admits(&host("7")));
        assert!(!e("Gt", r#""5""#).admits(&host("5")));
        assert!(!e("Lt", r#""5""#).admits(&host("worker")));
        assert_eq!(e("In", r#""a""#).single_nodes(), vec![host("a")]);
        assert!(e("In", r#""a","b""#).single_nodes().is_empty());
    }

    #[test]
    fn a_term_no_node_passes_does_not_hide_a_pin() {
        // (hostname host-2 AND host-3) OR (pool x AND hostname host-3):
        // only host-3 can run the pod.
        let c = NodeConstraint::of(&pod(
            &[],
            r#"[{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-2"]}, {"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-3"]}]},
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["x"]}, {"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-3"]}]}]"#,
            None,
        ));
        assert_eq!(c.single_nodes(), vec![host("host-3")]);
        assert!(c.pins(&host("host-3")));
    }

    #[test]
    fn empty_terms_match_no_node_and_are_not_widened() {
        let c = NodeConstraint::of(&pod(&[], r#"[{}]"#, None));
        assert!(!c.admits(&host("a")) && !c.satisfiable());
        let c = NodeConstraint::of(&pod(
            &[],
            r#"[{}, {"matchExpressions":[{"key":"zone","operator":"In","values":["z"]}]}]"#,
            None,
        ));
        assert!(c.admits(&host("a")));
        assert_eq!(c.terms.len(), 1);
    }

    #[test]
    fn other_labels_are_assumed_present_unless_contradictory() {
        let c = NodeConstraint::of(&pod(
            &[("pool", "x")],
            r#"[{"matchExpressions":[{"key":"pool","operator":"NotIn","values":["x"]}]}]"#,
            None,
        ));
        assert!(!c.satisfiable());
        let c = NodeConstraint::of(&pod(
            &[],
            r#"[{"matchExpressions":[{"key":"n","operator":"Gt","values":["1"]},{"key":"n","operator":"Lt","values":["5"]},{"key":"n","operator":"NotIn","values":["2","3"]}]}]"#,
            None,
        ));
        assert!(c.satisfiable());
        let c = NodeConstraint::of(&pod(
            &[],
            r#"[{"matchExpressions":[{"key":"n","operator":"Gt","values":["1"]},{"key":"n","operator":"Lt","values":["3"]},{"key":"n","operator":"NotIn","values":["2"]}]}]"#,
            None,
        ));
        assert!(!c.satisfiable());
    }

    #[test]
    fn node_names_and_hostnames_are_different_constraints() {
        let c = NodeConstraint::of(&pod(&[], "", Some("node-1")));
        assert_eq!(c.single_nodes(), vec![NodeId::Name("node-1".into())]);
        assert!(
            c.admits(&host("anything")),
            "a hostname says nothing of the name"
        );
        assert!(!c.admits(&NodeId::Name("node-2".into())));
        let f = NodeConstraint::of(&pod(
            &[],
            r#"[{"matchFields":[{"key":"metadata.name","operator":"NotIn","values":["n1"]}]}]"#,
            None,
        ));
        assert!(!f.admits(&NodeId::Name("n1".into())));
        assert!(f.admits(&host("n1")));
    }

    #[test]
    fn joint_satisfiability_picks_one_term_per_pod() {
        let a = NodeConstraint::of(&pod(&[("pool", "x")], "", None));
        let b = NodeConstraint::of(&pod(&[("pool", "y")], "", None));
        let c = NodeConstraint::of(&pod(
            &[],
            r#"[{"matchExpressions":[{"key":"pool","operator":"In","values":["y"]}]},{"matchExpressions":[{"key":"pool","operator":"In","values":["x"]}]}]"#,
            None,
        ));
        assert!(!jointly_satisfiable(&[&a, &b], None));
        assert!(jointly_satisfiable(&[&a, &c], None));
        assert!(jointly_satisfiable(&[&b, &c], Some(&host("h"))));
    }

    /// Every operator is read as Kubernetes reads it, and bounds get
    /// values on their right side: each alone admits some node, and a
    /// requirement on another label is not about the hostname a pin names.
    #[test]
    fn every_operator_is_read_and_its_bounds_tried() {
        let req = |key: &str, op: &str, values: &[&str]| {
            let values: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
            format!(
                r#"[{{"matchExpressions":[{{"key":"{key}","operator":"{op}","values":[{}]}}]}}]"#,
                values.join(",")
            )
        };
        for (json, admits) in [
            (req("zone", "Exists", &[]), true),
            (req("gpu", "DoesNotExist", &[]), true),
            (req("gen", "Gt", &["3"]), true),
            (req("cores", "Lt", &["8"]), true),
            (req("disk", "In", &["ssd"]), true),
            (req("disk", "Has", &["ssd"]), false),
        ] {
            let c = NodeConstraint::of(&pod(&[], &json, None));
            assert_eq!(c.satisfiable(), admits, "{json}");
            assert_eq!(c.admits(&host("worker-1")), admits, "{json}");
            assert_eq!(
                jointly_satisfiable(&[&c], Some(&host("worker-1"))),
                admits,
                "{json}"
            );
        }
    }

    /// Up to [`MAX_COMBINATIONS`] combinations of terms are tried; beyond,
    /// the pods are taken as unable to share a node (a refusal, never a
    /// wrong yes).
    #[test]
    fn joint_satisfiability_tries_up_to_the_combination_cap() {
        let many = |prefix: &str, n: usize| {
            let terms: Vec<String> = (0..n)
                .map(|i| {
                    format!(
                        r#"{{"matchExpressions":[{{"key":"kubernetes.io/hostname","operator":"NotIn","values":["{prefix}{i}"]}}]}}"#
                    )
                })
                .collect();
            NodeConstraint::of(&pod(&[], &format!("[{}]", terms.join(",")), None))
        };
        let (a, b) = (many("a", 64), many("b", 64));
        assert_eq!(a.terms.len() * b.terms.len(), MAX_COMBINATIONS);
        assert!(jointly_satisfiable(&[&a, &b], None));
        assert!(jointly_satisfiable(&[&a, &b], Some(&host("h"))));
        let c = many("c", 65);
        assert!(!jointly_satisfiable(&[&a, &c], None), "over the cap");
    }
}
