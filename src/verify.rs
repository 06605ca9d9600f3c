//! The last check before anything is written: every changed document must
//! parse again and, read as Kubernetes reads it, differ from the input only
//! in what the tool is allowed to change.
//!
//! A post-renderer that corrupts one field is worse than none, so a failure
//! here stops the run (exit 1, nothing on stdout) instead of trusting the
//! splicer.

use crate::edit::{self, Edit};
use crate::inventory::{REPOS_ENV, REPOS_VOLUME};
use crate::k8s::{CHANGES_ANNOTATION, COLOCATE_LABEL, HOSTNAME, NODE_NAME_FIELD};
use crate::stream::{self, Document};
use crate::yaml11;
use serde_json::Value;

/// Checks one changed document: `edits` (absolute offsets) applied to its
/// region of `text`; then hands the patched document to `then`.
pub fn document<R>(
    text: &str,
    doc: &Document<'_>,
    edits: &[Edit],
    then: impl FnOnce(&Document<'_>) -> Result<R, String>,
) -> Result<R, String> {
    let base = doc.region_start;
    let mut local: Vec<Edit> = edits
        .iter()
        .map(|e| Edit {
            start: e.start - base,
            end: e.end - base,
            text: e.text.clone(),
        })
        .collect();
    let old_text = &text[base..doc.region_end];
    let new_text = edit::apply(old_text, &mut local)?;
    let new = stream::parse(&new_text)
        .map_err(|e| format!("the patched document does not parse: {e}"))?;
    if new.docs.len() != 1 {
        return Err(format!(
            "the patched document became {} documents",
            new.docs.len()
        ));
    }
    let read = |d: &Document<'_>| {
        let mut budget = 1_000_000;
        yaml11::to_json(&d.root, &d.anchors, &mut budget)
    };
    let mut before = read(doc)?;
    let mut after = read(&new.docs[0])?;
    mask_document(&mut before);
    mask_document(&mut after);
    if before != after {
        return Err(
            "the patched document differs from the input beyond the planned changes".into(),
        );
    }
    then(&new.docs[0])
}

/// Removes, from every object of a document, what the tool may change.
pub fn mask_document(v: &mut Value) {
    let is_list = v["kind"].as_str().is_some_and(|k| k.ends_with("List"));
    if is_list {
        if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
            items.iter_mut().for_each(mask_object);
        }
    } else {
        mask_object(v);
    }
    prune(v);
}

fn mask_object(o: &mut Value) {
    if let Some(a) = o
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(CHANGES_ANNOTATION);
    }
    let (meta, spec) = match o["kind"].as_str() {
        Some("Pod") => ("/metadata", "/spec"),
        Some("CronJob") => (
            "/spec/jobTemplate/spec/template/metadata",
            "/spec/jobTemplate/spec/template/spec",
        ),
        Some(_) => ("/spec/template/metadata", "/spec/template/spec"),
        None => return,
    };
    if let Some(l) = o
        .pointer_mut(&format!("{meta}/labels"))
        .and_then(Value::as_object_mut)
    {
        l.remove(COLOCATE_LABEL);
    }
    let Some(spec) = o.pointer_mut(spec) else {
        return;
    };
    let named = |v: &Value, n: &str| v["name"].as_str() == Some(n);
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        vols.retain(|v| !named(v, REPOS_VOLUME));
    }
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                m.retain(|v| !named(v, REPOS_VOLUME));
            }
            for e in c
                .get_mut("env")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if named(e, REPOS_ENV)
                    && let Some(o) = e.as_object_mut()
                {
                    o.remove("value");
                }
            }
        }
    }
    let terms = spec
        .pointer_mut("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array_mut);
    for t in terms.into_iter().flatten() {
        for (list, key) in [
            ("matchExpressions", HOSTNAME),
            ("matchFields", NODE_NAME_FIELD),
        ] {
            if let Some(e) = t.get_mut(list).and_then(Value::as_array_mut) {
                e.retain(|x| {
                    !(x["key"] == key
                        && x["operator"] == "In"
                        && x["values"].as_array().is_some_and(|v| v.len() == 1))
                });
            }
        }
    }
    if let Some(terms) = spec
        .pointer_mut("/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array_mut)
    {
        terms.retain(|t| {
            t.pointer(&format!(
                "/labelSelector/matchLabels/{}",
                COLOCATE_LABEL.replace('/', "~1")
            ))
            .is_none()
        });
    }
}

/// Drops nulls and empty collections, so "added then masked" equals "absent".
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(prune);
            m.retain(|_, v| !is_empty(v));
        }
        Value::Array(a) => {
            a.iter_mut().for_each(prune);
            a.retain(|v| !is_empty(v));
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}
