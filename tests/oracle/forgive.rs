//! What the tool may write, removed from both readings of an object so
//! that the rest can be compared: the contract's "nothing else changes",
//! written for the tests (`tests/contract.rs`, `tests/props.rs`), not taken
//! from the crate.

use serde_json::Value;

const LABEL: &str = "polyrepo-render/colocate";
const CHANGES: &str = "polyrepo-render/changes";
const RECORD: &str = "polyrepo-render/colocation";
const ENV: &str = "POLYAXON_PERSISTENCE_REPOS";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// The pod template's spec and metadata pointers of an object.
pub fn template(o: &Value) -> Option<(&'static str, &'static str)> {
    match o["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some(("/spec/template/metadata", "/spec/template/spec"))
        }
        "CronJob" => Some((
            "/spec/jobTemplate/spec/template/metadata",
            "/spec/jobTemplate/spec/template/spec",
        )),
        "Pod" => Some(("/metadata", "/spec")),
        _ => None,
    }
}

pub fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["containers", "initContainers"]
        .into_iter()
        .filter_map(|l| spec[l].as_array())
        .flatten()
}

/// Removes, from the output object `after` and the input object `before`,
/// exactly what the tool may write: its annotation, its label, pod-affinity
/// terms on its label, node-affinity rules on one hostname or node name
/// that the output adds to a term (or terms it adds), the `repos` volume and
/// mounts, the env copy's value. Empty lists or maps left behind where the
/// input had none are dropped. Returns nothing; the caller compares.
pub fn forgive(before: &mut Value, after: &mut Value) {
    // The term the output records as its own (a term over the chart's
    // labels) is the tool's; so is one on its label.
    let mut recorded = None;
    if let Some(a) = after
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(CHANGES);
        recorded = a
            .remove(RECORD)
            .map(|r| serde_json::from_str::<Value>(r.as_str().unwrap()).unwrap());
    }
    if after["metadata"]["annotations"]
        .as_object()
        .is_some_and(|a| a.is_empty())
        && before["metadata"]["annotations"].is_null()
    {
        after["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
    }
    let Some((meta, spec)) = template(before) else {
        return;
    };
    if let Some(l) = after
        .pointer_mut(&format!("{meta}/labels"))
        .and_then(Value::as_object_mut)
    {
        l.remove(LABEL);
    }
    // Node-affinity rules added, term by term.
    let terms_ptr = format!(
        "{spec}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"
    );
    let had: Vec<Value> = before
        .pointer(&terms_ptr)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(terms) = after.pointer_mut(&terms_ptr).and_then(Value::as_array_mut) {
        let added = |x: &Value, key: &str| {
            x["key"] == key
                && x["operator"] == "In"
                && x["values"].as_array().is_some_and(|v| v.len() == 1)
        };
        for (i, t) in terms.iter_mut().enumerate() {
            for (list, key) in [
                ("matchExpressions", HOSTNAME),
                ("matchFields", "metadata.name"),
            ] {
                let old = had.get(i).map(|h| h[list].clone()).unwrap_or(Value::Null);
                if let Some(xs) = t.get_mut(list).and_then(Value::as_array_mut) {
                    let old = old.as_array().cloned().unwrap_or_default();
                    // The input's rules stay, in order, then only added ones.
                    assert!(
                        xs.len() >= old.len() && xs[..old.len()] == old[..],
                        "a user rule changed: {xs:?} vs {old:?}"
                    );
                    let extra: Vec<Value> = xs.drain(old.len()..).collect();
                    assert!(
                        extra.iter().all(|x| added(x, key)),
                        "unexpected rule {extra:?}"
                    );
                }
            }
        }
        let empty = |t: &Value| {
            t.as_object().is_some_and(|o| {
                o.values()
                    .all(|v| v.as_array().is_some_and(|a| a.is_empty()))
            })
        };
        while terms.len() > had.len() && terms.last().is_some_and(empty) {
            terms.pop();
        }
    }
    let pod_terms =
        format!("{spec}/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution");
    if let Some(ts) = after.pointer_mut(&pod_terms).and_then(Value::as_array_mut) {
        ts.retain(|t| {
            t.pointer(&format!(
                "/labelSelector/matchLabels/{}",
                LABEL.replace('/', "~1")
            ))
            .is_none()
                && Some(t) != recorded.as_ref()
        });
    }
    for o in [&mut *before, &mut *after] {
        let s = o.pointer_mut(spec).unwrap();
        if let Some(v) = s.get_mut("volumes").and_then(Value::as_array_mut) {
            v.retain(|v| v["name"] != "repos");
        }
        for l in ["containers", "initContainers"] {
            for c in s
                .get_mut(l)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    m.retain(|m| m["name"] != "repos");
                }
                for e in c
                    .get_mut("env")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if e["name"] == ENV {
                        e.as_object_mut().unwrap().remove("value");
                    }
                }
            }
        }
    }
    // Containers the output created and that are now empty.
    let created = [
        (
            format!("{spec}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"),
            "nodeSelectorTerms",
        ),
        (
            format!("{spec}/affinity/nodeAffinity"),
            "requiredDuringSchedulingIgnoredDuringExecution",
        ),
        (format!("{spec}/affinity"), "nodeAffinity"),
        (
            format!("{spec}/affinity/podAffinity"),
            "requiredDuringSchedulingIgnoredDuringExecution",
        ),
        (format!("{spec}/affinity"), "podAffinity"),
        (spec.to_string(), "affinity"),
        (spec.to_string(), "volumes"),
        (meta.to_string(), "labels"),
        ("/metadata".to_string(), "annotations"),
    ];
    let mut created = created.to_vec();
    if let Some((parent, key)) = meta.rsplit_once('/')
        && !parent.is_empty()
    {
        created.push((parent.to_string(), key));
    }
    for (parent, key) in created {
        let before_has = before.pointer(&parent).and_then(|p| p.get(key)).is_some();
        if let Some(m) = after.pointer_mut(&parent).and_then(Value::as_object_mut)
            && !before_has
            && m.get(key).is_some_and(|v| {
                v.as_array().is_some_and(|a| a.is_empty())
                    || v.as_object().is_some_and(|o| o.is_empty())
            })
        {
            m.remove(key);
        }
    }
    for l in ["containers", "initContainers"] {
        let (Some(b), Some(a)) = (
            before
                .pointer(&format!("{spec}/{l}"))
                .and_then(Value::as_array)
                .cloned(),
            after
                .pointer_mut(&format!("{spec}/{l}"))
                .and_then(Value::as_array_mut),
        ) else {
            continue;
        };
        for (bc, ac) in b.iter().zip(a.iter_mut()) {
            if bc.get("volumeMounts").is_none()
                && ac["volumeMounts"].as_array().is_some_and(|m| m.is_empty())
            {
                ac.as_object_mut().unwrap().remove("volumeMounts");
            }
        }
    }
}
