//! The scheduling edits of a workload: the required node affinity that
//! pins it, the pod-affinity term that co-locates it, the annotation that
//! records that term, and the pod template's marks (the co-location label,
//! the run-time placement digest), each added, kept or dropped.

use super::*;

/// The co-location label on the pod template: set as the plan says, or
/// dropped when an earlier run added it and this one does not.
pub(super) fn pod_marks(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    w: &Workload,
    loc: &inventory::Located<'_, '_>,
    wp: &WorkloadPlan,
    changes: &mut Vec<String>,
) -> Result<(), PatchError> {
    let label = match wp.colocate.as_ref().map(|co| &co.select) {
        Some(Select::Added(v)) => Some(v.clone()),
        _ => None,
    };
    let marks = [
        ("labels", COLOCATE_LABEL, label),
        ("annotations", RUNTIME_ANNOTATION, wp.runtime_digest.clone()),
    ];
    for (field, key, want) in marks {
        let node = loc.pod_meta.and_then(|m| m.get(field));
        let have = inventory::string_map(node);
        let now = have.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        match (&want, now) {
            (Some(v), Some(n)) if v == n => {}
            (Some(v), _) => {
                match (w.kind.template_path(), loc.pod_meta) {
                    (_, Some(meta)) => set_path(ed, meta, &[field, key], json!(v))?,
                    (Some(p), None) => {
                        let template = loc.node.path(p).ok_or("no pod template")?;
                        set_path(ed, template, &["metadata", field, key], json!(v))?
                    }
                    (None, None) => return Err("has no metadata".into()),
                }
                if field == "labels" {
                    changes.push(format!("pod label: {key}={v}"));
                } else {
                    changes.push(format!(
                        "pod annotation: {key}={v} (Polyaxon reads its ConfigMap at start)"
                    ));
                }
            }
            (None, Some(_)) => {
                // Drop the entry: the mapping is written again without it.
                // A mapping made of shared parts (anchors, merge keys) keeps
                // it: a label nothing selects any more is harmless.
                let (Some(meta), Some(node)) = (loc.pod_meta, node) else {
                    continue;
                };
                let mut shared = node.shared;
                node.walk(&mut |n| shared |= n.shared || n.scalar() == Some("<<"));
                if shared {
                    continue;
                }
                let mut map = inventory::json(node, doc)?;
                if let Some(m) = map.as_object_mut() {
                    m.remove(key);
                }
                ed.set_entry(meta, field, &map)?;
                changes.push(format!("pod {field}: {key} from an earlier run dropped"));
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// How the annotation recording the co-location term must change on the
/// object: None when it already says what it must, else the value (None:
/// drop it).
pub(super) fn recorded_term_change(
    loc: &Located<'_, '_>,
    wp: &WorkloadPlan,
) -> Option<Option<String>> {
    let want = colocation_note(wp);
    let have = inventory::string_map(loc.node.path(&["metadata", "annotations"]))
        .into_iter()
        .find(|(k, _)| k == COLOCATION_ANNOTATION)
        .map(|(_, v)| v);
    (want != have && (want.is_some() || wp.forget_earlier)).then_some(want)
}

/// The annotation recording a term over chart labels (the added label
/// names itself).
pub(super) fn colocation_note(wp: &WorkloadPlan) -> Option<String> {
    let co = wp.colocate.as_ref()?;
    matches!(co.select, Select::Labels(_))
        .then(|| serde_json::to_string(&to_json(&groups::colocation_term(co))).expect("json"))
}

pub(super) fn affinity(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    w: &Workload,
    spec: &Node<'_>,
    wp: &WorkloadPlan,
    changes: &mut Vec<String>,
) -> Result<(), PatchError> {
    const NODE_REQ: [&str; 3] = [
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ];
    const POD_REQ: [&str; 3] = [
        "affinity",
        "podAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ];

    let old = w.pod.affinity.clone().unwrap_or_default();
    if let Some(pin) = &wp.pin {
        // A hostname is a label (matchExpressions); a node name is the
        // node's metadata.name (matchFields).
        let (list, key, value) = match pin {
            NodeId::Hostname(h) => ("matchExpressions", HOSTNAME, h),
            NodeId::Name(n) => ("matchFields", NODE_NAME_FIELD, n),
        };
        let expr = core::NodeSelectorRequirement {
            key: key.into(),
            operator: "In".into(),
            values: Some(vec![value.clone()]),
        };
        let typed_terms = old
            .node_affinity
            .as_ref()
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|r| r.node_selector_terms.clone())
            .unwrap_or_default();
        let term_nodes = spec
            .path(&NODE_REQ)
            .and_then(|r| r.get("nodeSelectorTerms"))
            .and_then(Node::items)
            .filter(|t| !t.is_empty() && t.len() == typed_terms.len());
        let mut added = false;
        match term_nodes {
            // Terms are OR'ed: the pin goes into every one of them, except
            // empty ones, which match no node and must stay so.
            Some(nodes) => {
                for (node, typed) in nodes.iter().zip(&typed_terms) {
                    let have = match pin {
                        NodeId::Hostname(_) => typed.match_expressions.as_deref(),
                        NodeId::Name(_) => typed.match_fields.as_deref(),
                    };
                    if term_is_empty(typed) || have.unwrap_or(&[]).contains(&expr) {
                        continue;
                    }
                    match node.get(list).filter(|e| e.items().is_some()) {
                        Some(l) => ed.append(l, &to_json(&expr))?,
                        None => ed.set_entry(node, list, &json!([to_json(&expr)]))?,
                    }
                    added = true;
                }
            }
            None => {
                let term = json!({ list: [to_json(&expr)] });
                match spec
                    .path(&NODE_REQ)
                    .and_then(|r| r.get("nodeSelectorTerms"))
                    .filter(|t| t.items().is_some())
                {
                    Some(l) => ed.append(l, &term)?,
                    None => set_path(
                        ed,
                        spec,
                        &[&NODE_REQ[..], &["nodeSelectorTerms"]].concat(),
                        json!([term]),
                    )?,
                }
                added = true;
            }
        }
        if added {
            changes.push(format!("node affinity: {key} In [{value}]"));
        }
    }
    // Required pod affinity: this run's term in, an earlier run's out.
    let want = wp.colocate.as_ref().map(groups::colocation_term);
    let typed: &[core::PodAffinityTerm] = old
        .pod_affinity
        .as_ref()
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[]);
    let earlier = |t: &core::PodAffinityTerm| wp.forget_earlier && w.pod.earlier.contains(t);
    let list = spec.path(&POD_REQ).filter(|l| l.items().is_some());
    let have = typed.iter().any(|t| Some(t) == want.as_ref());
    if !typed.iter().any(|t| earlier(t) && Some(t) != want.as_ref()) {
        if let (Some(term), false) = (&want, have) {
            match list {
                Some(list) => ed.append(list, &to_json(term))?,
                None => set_path(ed, spec, &POD_REQ, json!([to_json(term)]))?,
            }
            let co = wp
                .colocate
                .as_ref()
                .expect("a term comes from a co-location");
            changes.push(format!("pod affinity: same node as {co}"));
        }
        return Ok(());
    }
    // An earlier run's term goes: the list is written again without it.
    let (Some(list), Some(pod_affinity)) = (list, spec.path(&POD_REQ[..2])) else {
        return Err("the earlier co-location term is not where it was read".into());
    };
    let items = list.items().unwrap_or(&[]);
    if items.len() != typed.len() {
        return Err("the required pod affinity terms could not be read one by one".into());
    }
    let mut terms: Vec<Value> = Vec::new();
    for (node, t) in items.iter().zip(typed) {
        if !earlier(t) || Some(t) == want.as_ref() {
            terms.push(inventory::json(node, doc)?);
        }
    }
    if let (Some(term), false) = (&want, have) {
        terms.push(to_json(term));
    }
    ed.set_entry(pod_affinity, POD_REQ[2], &Value::Array(terms))?;
    changes.push(match &wp.colocate {
        Some(co) => format!(
            "pod affinity: same node as {co} (replacing polyrepo-render's term from an earlier run)"
        ),
        None => {
            "pod affinity: polyrepo-render's co-location term from an earlier run dropped".into()
        }
    });
    Ok(())
}
