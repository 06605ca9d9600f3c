//! The same changes as kustomize patches, for Flux and kustomize users
//! (`polyrepo-render patches`).
//!
//! A Flux HelmRelease's `spec.postRenderers` accepts kustomize patches, not
//! an executable; a kustomization takes `patches:`. This module renders the
//! stream as the post-renderer does, compares each changed object with the
//! input as Kubernetes reads both, and writes the difference as patches,
//! one target per object (kind and name; a namespace only when the rendered
//! object carries `metadata.namespace`, since a target with a namespace
//! misses a namespace-less object):
//!
//! - a **strategic merge patch** for the maps (labels, annotations, the pod
//!   spec's `affinity`, whose term lists have no merge key and are written
//!   whole, as the patch replaces them). A field the output no longer has is
//!   set to `null`, which deletes it.
//! - a **JSON 6902 patch** inside the lists Kubernetes gives a merge key
//!   (volumes, containers and env by `name`, volumeMounts by `mountPath`):
//!   kustomize's strategic merge moves every patched item of such a list to
//!   its front, and order matters there (an env var may refer to an earlier
//!   one; init containers run in order). Each change is made at the item's
//!   index, field by field (the repos volume swapping `hostPath` for a
//!   claim removes `hostPath`, or the API server refuses a volume with two
//!   sources), behind a `test` of the item's key, so a render whose list
//!   moved fails loudly instead of patching another item; new items are
//!   appended (`/-`), as the post-renderer appends them.
//!
//! Each patch is preceded by the explanation the post-renderer writes in
//! its annotation; a header names the chart version, the release and a
//! digest of the settings, since object names depend on the release name.

use crate::config::Settings;
use crate::report::Report;
use crate::yaml;
use crate::{Failure, emit, render};
use serde_json::{Map, Value, json};

/// Where the patches go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A `postRenderers:` block for a Flux HelmRelease's `spec`.
    Flux,
    /// A `patches:` list for a kustomization.
    Kustomize,
}

/// One object's patches.
#[derive(Debug, Clone, PartialEq)]
struct ObjectPatch {
    target: Value,
    why: Option<String>,
    /// `(patch body, is JSON 6902)`, in the order to apply them.
    patches: Vec<(Value, bool)>,
}

/// The merge key Kubernetes gives a list field, for the lists the tool
/// changes and their neighbours.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "volumes"
        | "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        _ => None,
    }
}

/// A JSON pointer step.
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The strategic merge patch that turns `b` into `a` (`None`: equal), with
/// the JSON 6902 operations for what it must not say (`ops`): kustomize
/// merges a list with a merge key by moving the patched items to the front,
/// and order matters in such lists (an env var may refer to an earlier one;
/// init containers run in order), so changes inside them are made in place.
fn diff(b: &Value, a: &Value, field: &str, ptr: &str, ops: &mut Vec<Value>) -> Option<Value> {
    if b == a {
        return None;
    }
    match (b, a) {
        (Value::Object(bm), Value::Object(am)) => {
            let mut out = Map::new();
            for (k, av) in am {
                match bm.get(k) {
                    None => {
                        out.insert(k.clone(), av.clone());
                    }
                    Some(bv) => {
                        let p = format!("{ptr}/{}", escape(k));
                        if let Some(d) = diff(bv, av, k, &p, ops) {
                            out.insert(k.clone(), d);
                        }
                    }
                }
            }
            for k in bm.keys().filter(|k| !am.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (Value::Array(bl), Value::Array(al)) => match merge_key(field) {
            Some(key) if keyed(bl, key) && keyed(al, key) => {
                list_ops(bl, al, key, ptr, ops);
                None
            }
            // Without a merge key a strategic merge replaces the list whole,
            // in order.
            _ => Some(a.clone()),
        },
        _ => Some(a.clone()),
    }
}

/// True when every item is a mapping with a string `key`.
fn keyed(l: &[Value], key: &str) -> bool {
    l.iter().all(|i| i.get(key).is_some_and(Value::is_string))
}

/// JSON 6902 operations turning the keyed list `bl` at `ptr` into `al`, in
/// place; each change to an item is guarded by a `test` of its key, so a
/// render whose list moved fails loudly instead of patching another item.
fn list_ops(bl: &[Value], al: &[Value], key: &str, ptr: &str, ops: &mut Vec<Value>) {
    let k = |v: &Value| v[key].as_str().unwrap_or("").to_string();
    let bkeys: Vec<String> = bl.iter().map(k).collect();
    let akeys: Vec<String> = al.iter().map(k).collect();
    // The tool changes items where they stand and appends new ones; any
    // other shape is written as the whole list.
    let in_place = (0..bl.len().min(al.len())).all(|i| {
        bkeys[i] == akeys[i] || (!akeys.contains(&bkeys[i]) && !bkeys.contains(&akeys[i]))
    }) && al.len() >= bl.len();
    if !in_place {
        ops.push(json!({"op": "replace", "path": ptr, "value": al}));
        return;
    }
    for (i, ai) in al.iter().enumerate() {
        let p = format!("{ptr}/{i}");
        if i >= bl.len() {
            ops.push(json!({"op": "add", "path": format!("{ptr}/-"), "value": ai}));
            continue;
        }
        if bl[i] == *ai {
            continue;
        }
        let test = json!({"op": "test", "path": format!("{p}/{}", escape(key)), "value": bkeys[i]});
        ops.push(test);
        if bkeys[i] != akeys[i] {
            ops.push(json!({"op": "replace", "path": p, "value": ai}));
        } else {
            item_ops(&bl[i], ai, &p, ops);
        }
    }
}

/// JSON 6902 operations turning the item `b` at `ptr` into `a`, field by
/// field (keyed lists inside it, such as a container's env, item by item).
fn item_ops(b: &Value, a: &Value, ptr: &str, ops: &mut Vec<Value>) {
    match (b, a) {
        (Value::Object(bm), Value::Object(am)) => {
            for (k, av) in am {
                let p = format!("{ptr}/{}", escape(k));
                match bm.get(k) {
                    None => ops.push(json!({"op": "add", "path": p, "value": av})),
                    Some(bv) if bv == av => {}
                    Some(bv) => match (bv, av, merge_key(k)) {
                        (Value::Array(bl), Value::Array(al), Some(key))
                            if keyed(bl, key) && keyed(al, key) =>
                        {
                            list_ops(bl, al, key, &p, ops)
                        }
                        (Value::Object(_), Value::Object(_), _) => item_ops(bv, av, &p, ops),
                        _ => ops.push(json!({"op": "replace", "path": p, "value": av})),
                    },
                }
            }
            for k in bm.keys().filter(|k| !am.contains_key(*k)) {
                ops.push(json!({"op": "remove", "path": format!("{ptr}/{}", escape(k))}));
            }
        }
        _ => ops.push(json!({"op": "replace", "path": ptr, "value": a})),
    }
}

/// The objects of a document (a List's items, or the document itself).
fn objects(root: Value) -> Vec<Value> {
    let is_list = root["kind"].as_str().is_some_and(|k| k.ends_with("List"))
        && root.get("items").is_some_and(Value::is_array);
    if is_list {
        match root {
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    } else {
        vec![root]
    }
}

fn documents(text: &str) -> Result<Vec<Value>, Failure> {
    yaml::parse(text)?
        .docs
        .iter()
        .map(|d| {
            yaml::to_json(&d.root, &d.anchors)
                .map_err(|e| Failure::Input(format!("{}: {e}", d.label())))
        })
        .collect()
}

/// What the stream says of the chart and release (from the chart's own
/// labels), for the header.
fn release_of(objects: &[Value]) -> (String, String) {
    let label = |names: &[&str]| {
        objects.iter().find_map(|o| {
            let labels = o.pointer("/metadata/labels")?;
            names
                .iter()
                .find_map(|n| labels.get(*n)?.as_str())
                .map(str::to_string)
        })
    };
    (
        label(&["helm.sh/chart", "chart"]).unwrap_or_else(|| "unknown".into()),
        label(&["release", "app.kubernetes.io/instance"]).unwrap_or_else(|| "unknown".into()),
    )
}

/// Renders `input` as the post-renderer would and returns the patches that
/// make the same changes, one per changed object, in stream order.
fn object_patches(
    input: &[u8],
    settings: &Settings,
    report: &mut Report,
) -> Result<(Vec<ObjectPatch>, (String, String)), Failure> {
    let rendered = render(input, settings, report)?;
    let out = String::from_utf8(rendered.to_vec()).expect("UTF-8 in, UTF-8 out");
    let text = std::str::from_utf8(input).expect("render checked UTF-8");
    let before: Vec<Value> = documents(text)?.into_iter().flat_map(objects).collect();
    let after: Vec<Value> = documents(&out)?.into_iter().flat_map(objects).collect();
    if before.len() != after.len() {
        return Err(Failure::Internal(
            "the output has another number of objects than the input. This is a bug in \
             polyrepo-render; nothing was written"
                .into(),
        ));
    }
    let mut patches = Vec::new();
    let mut changed = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        let mut ops = Vec::new();
        let smp = diff(b, a, "", "", &mut ops);
        if smp.is_none() && ops.is_empty() {
            continue;
        }
        changed.push(a.clone());
        let s = |p: &str| a.pointer(p).and_then(Value::as_str);
        let (Some(kind), Some(name)) = (s("/kind"), s("/metadata/name")) else {
            return Err(Failure::Input(
                "a changed object has no kind or metadata.name: kustomize cannot target it".into(),
            ));
        };
        let mut target = json!({ "kind": kind, "name": name });
        if let Some(ns) = s("/metadata/namespace") {
            target["namespace"] = json!(ns);
        }
        let mut list = Vec::new();
        if let Some(Value::Object(smp)) = smp {
            // A strategic merge patch names the object it is for.
            let mut body = Map::new();
            body.insert("apiVersion".into(), a["apiVersion"].clone());
            body.insert("kind".into(), json!(kind));
            let mut meta = Map::new();
            meta.insert("name".into(), json!(name));
            let mut smp = smp;
            if let Some(Value::Object(m)) = smp.remove("metadata") {
                meta.extend(m);
            }
            body.insert("metadata".into(), Value::Object(meta));
            body.extend(smp);
            list.push((Value::Object(body), false));
        }
        if !ops.is_empty() {
            list.push((Value::Array(ops), true));
        }
        patches.push(ObjectPatch {
            target,
            why: s(&format!(
                "/metadata/annotations/{}",
                escape(crate::k8s::CHANGES_ANNOTATION)
            ))
            .map(str::to_string),
            patches: list,
        });
    }
    Ok((patches, release_of(&changed)))
}

/// The patches as YAML for `format`, with the header and explanations.
fn write(
    patches: &[ObjectPatch],
    chart: &str,
    release: &str,
    settings: &Settings,
    format: Format,
) -> String {
    let digest = crate::groups::digest(&format!("{settings:?}"));
    let mut out = format!(
        "# polyrepo-render patches for chart {chart}, release {release}, settings {digest}.\n\
         # Object names depend on the release name (Flux's default: [targetNamespace-]name):\n\
         # generate again when the chart version, the release or the settings change, and\n\
         # check with `polyrepo-render patches --check FILE` on a new render.\n"
    );
    let (head, indent) = match format {
        Format::Flux => ("postRenderers:\n  - kustomize:\n      patches:", 8),
        Format::Kustomize => ("patches:", 2),
    };
    out.push_str(head);
    if patches.is_empty() {
        out.push_str(" []  # nothing to change\n");
        return out;
    }
    out.push('\n');
    let pad = " ".repeat(indent);
    for p in patches {
        for (i, (body, _)) in p.patches.iter().enumerate() {
            if i == 0
                && let Some(why) = &p.why
            {
                for line in why.split("; ") {
                    out.push_str(&format!("{pad}# {line}\n"));
                }
            }
            out.push_str(&format!("{pad}- target: {}\n", emit::flow(&p.target)));
            out.push_str(&format!("{pad}  patch: |\n"));
            let text = emit::block(body, 0, "\n");
            for line in text.lines() {
                out.push_str(&format!("{pad}    {line}\n"));
            }
        }
    }
    out
}

/// `polyrepo-render patches`: the patches for `input` in `format`.
pub fn generate(
    input: &[u8],
    settings: &Settings,
    format: Format,
    report: &mut Report,
) -> Result<String, Failure> {
    let (patches, (chart, release)) = object_patches(input, settings, report)?;
    Ok(write(&patches, &chart, &release, settings, format))
}

/// The `(target, patch)` pairs a patches file holds, as values.
fn read_entries(text: &str) -> Result<Vec<(Value, Value)>, String> {
    let docs = yaml::parse(text).map_err(|e| e.to_string())?.docs;
    let doc = docs.first().ok_or("the file is empty")?;
    let root = yaml::to_json(&doc.root, &doc.anchors).map_err(|e| e.to_string())?;
    let list = root
        .pointer("/postRenderers/0/kustomize/patches")
        .or_else(|| root.pointer("/spec/postRenderers/0/kustomize/patches"))
        .or_else(|| root.get("patches"))
        .and_then(Value::as_array)
        .ok_or("no `patches:` list, nor a Flux `postRenderers:` block")?;
    list.iter()
        .map(|e| {
            let body = e["patch"].as_str().ok_or("a patch without `patch:` text")?;
            let parsed = yaml::parse(body).map_err(|e| format!("a patch does not parse: {e}"))?;
            let d = parsed.docs.first().ok_or("an empty patch")?;
            let v = yaml::to_json(&d.root, &d.anchors).map_err(|e| e.to_string())?;
            Ok((e["target"].clone(), v))
        })
        .collect()
}

/// `polyrepo-render patches --check FILE`: `Ok(None)` when the patches in
/// `previous` are the ones this render needs (so they produce what the
/// post-renderer would), else what differs.
pub fn check(
    input: &[u8],
    settings: &Settings,
    previous: &str,
    report: &mut Report,
) -> Result<Option<String>, Failure> {
    let (patches, _) = object_patches(input, settings, report)?;
    let old = read_entries(previous).map_err(|e| Failure::Config(format!("--check: {e}")))?;
    let new: Vec<(Value, Value)> = patches
        .iter()
        .flat_map(|p| p.patches.iter().map(|(b, _)| (p.target.clone(), b.clone())))
        .collect();
    if old == new {
        return Ok(None);
    }
    let mut why = Vec::new();
    for (t, _) in new.iter().filter(|n| !old.contains(n)) {
        why.push(format!(
            "needed now, not in the file: a patch of {}",
            emit::flow(t)
        ));
    }
    for (t, _) in old.iter().filter(|o| !new.contains(o)) {
        why.push(format!(
            "in the file, no longer right: a patch of {}",
            emit::flow(t)
        ));
    }
    if why.is_empty() {
        why.push("the same patches in another order".into());
    }
    Ok(Some(why.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops_of(b: Value, a: Value) -> (Option<Value>, Vec<Value>) {
        let mut ops = Vec::new();
        let smp = diff(&b, &a, "", "", &mut ops);
        (smp, ops)
    }

    #[test]
    fn a_source_swap_is_made_in_place_behind_a_test_of_the_name() {
        let b = json!({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "repos", "hostPath": {"path": "/r"}}]});
        let a = json!({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "repos", "persistentVolumeClaim": {"claimName": "c"}}]});
        let (smp, ops) = ops_of(b, a);
        assert_eq!(smp, None);
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/volumes/1/name", "value": "repos"}),
                json!({"op": "add", "path": "/volumes/1/persistentVolumeClaim", "value": {"claimName": "c"}}),
                json!({"op": "remove", "path": "/volumes/1/hostPath"}),
            ]
        );
    }

    #[test]
    fn a_mount_moving_elsewhere_is_replaced_at_its_index() {
        let b = json!({"volumeMounts": [{"name": "repos", "mountPath": "/r"}, {"name": "x", "mountPath": "/x"}]});
        let a = json!({"volumeMounts": [{"name": "repos", "mountPath": "/p"}, {"name": "x", "mountPath": "/x"}]});
        let (smp, ops) = ops_of(b, a);
        assert_eq!(smp, None);
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/volumeMounts/0/mountPath", "value": "/r"}),
                json!({"op": "replace", "path": "/volumeMounts/0", "value": {"name": "repos", "mountPath": "/p"}}),
            ]
        );
    }

    #[test]
    fn maps_merge_atomic_lists_are_whole_and_new_items_appended() {
        let b =
            json!({"labels": {"a": "1"}, "terms": [1, 2], "env": [{"name": "A", "value": "1"}]});
        let a = json!({"labels": {"a": "1", "b": "2"}, "terms": [1, 2, 3], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let (smp, ops) = ops_of(b, a);
        assert_eq!(smp, Some(json!({"labels": {"b": "2"}, "terms": [1, 2, 3]})));
        assert_eq!(
            ops,
            vec![json!({"op": "add", "path": "/env/-", "value": {"name": "B", "value": "2"}})]
        );
    }

    #[test]
    fn a_reordered_list_is_written_whole() {
        let b = json!({"env": [{"name": "A"}, {"name": "B"}]});
        let a = json!({"env": [{"name": "B"}, {"name": "A"}]});
        let (_, ops) = ops_of(b, a.clone());
        assert_eq!(
            ops,
            vec![json!({"op": "replace", "path": "/env", "value": a["env"]})]
        );
    }
}
