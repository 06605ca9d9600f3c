//! The run-time placement setting: whether the user's own (chart 0.4's
//! ConfigMap) lets the pods run where their data is, and the value with
//! what they need added, everything already there kept.

use super::{Carrier, GroupView, Kind, Need, Refusal};
use crate::inventory::{ConfigKey, Inventory, PodSummary};
use crate::k8s::{HOSTNAME, NodeId};
use crate::schedule::constraints::NodeConstraint;
use crate::schedule::groups;
use k8s_openapi::api::core::v1 as core;
use serde_json::{Value, json};

/// Refuses when the user's own run-time placement (chart 0.4's ConfigMap)
/// keeps the pods of `kinds`, which must all run where `need` says, away
/// from there: one node must pass their node selectors and required node
/// affinities together (with the group's pods' constraints).
pub(super) fn runnable(
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
                .map(std::sync::Arc::new),
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
