//! The same changes as kustomize patches, for Flux and kustomize users
//! (`polyrepo-render patches`).
//!
//! A Flux HelmRelease's `spec.postRenderers` accepts kustomize patches, not
//! an executable; a kustomization takes `patches:`. This module renders the
//! stream as the post-renderer does, compares each changed object with the
//! input as Kubernetes reads both, and writes the difference as one patch
//! per changed object.
//!
//! Every patch is a **JSON 6902 patch**, made in place: kustomize's
//! strategic merge would move every patched item of a list with a merge key
//! (volumes, containers, env, volumeMounts) to the front of the list, and
//! collapse items that share a key, although order matters there (an env
//! var may use an earlier one; init containers run in order) and Kubernetes
//! accepts repeated env names. A change inside such a list is made at the
//! item's index, field by field, behind a `test` of the item's key, so a
//! render whose list moved fails loudly instead of patching another item;
//! new items are appended (`/-`), as the post-renderer appends them; a field
//! the output drops is removed (the repos volume swapping `hostPath` for a
//! claim loses `hostPath`, or the API server refuses a volume with two
//! sources). Lists without a merge key (affinity terms) are replaced whole.
//! Targets name group, version, kind and name, and the namespace only when
//! the object has one (a target with a namespace misses an object without
//! it); a target another object of the stream would also match is refused.
//!
//! Each patch is preceded by the explanation the post-renderer writes in
//! its annotation; a header names the chart version, the release and a
//! digest of the settings, since object names depend on the release name.

use crate::config::Settings;
use crate::emit;
use crate::report::Report;
use crate::yaml;
use crate::yaml::shown;
use crate::{Failure, render};
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
    /// The JSON 6902 operations.
    ops: Value,
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

/// The JSON 6902 operations that turn the object `b` into `a`.
fn object_ops(b: &Value, a: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    item_ops(b, a, "", &mut ops);
    ops
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
                .map_err(|e| Failure::input(format!("{}: {e}", d.label())))
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

/// The identity of an object as a kustomize target: group, version, kind
/// and name, and the namespace when the object has one (a target with a
/// namespace misses an object without it). Refused when another object of
/// the stream would match the same target, since kustomize would patch it
/// too.
fn target_of(a: &Value, all: &[Value]) -> Result<Value, Failure> {
    let s = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_str).map(str::to_string);
    let (Some(kind), Some(name)) = (s(a, "/kind"), s(a, "/metadata/name")) else {
        return Err(Failure::input(
            "a changed object has no kind or metadata.name: kustomize cannot target it",
        ));
    };
    let api = s(a, "/apiVersion").unwrap_or_default();
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api.as_str()));
    let ns = s(a, "/metadata/namespace");
    let mut target = Map::new();
    if !group.is_empty() {
        target.insert("group".into(), json!(group));
    }
    target.insert("version".into(), json!(version));
    target.insert("kind".into(), json!(kind));
    target.insert("name".into(), json!(name));
    if let Some(ns) = &ns {
        target.insert("namespace".into(), json!(ns));
    }
    // kustomize matches a target's unset namespace with any namespace, and
    // an empty group with any group.
    let also = all.iter().filter(|o| {
        s(o, "/kind").as_deref() == Some(kind.as_str())
            && s(o, "/metadata/name").as_deref() == Some(name.as_str())
            && (ns.is_none() || s(o, "/metadata/namespace") == ns)
            && (group.is_empty()
                || s(o, "/apiVersion")
                    .is_some_and(|v| v.rsplit_once('/').map(|(g, _)| g) == Some(group)))
    });
    if also.count() > 1 {
        return Err(Failure::input(format!(
            "{kind}/{name}: another object of the stream has the same kind and name{}, so a \
             kustomize target would patch both; give the chart's objects metadata.namespace \
             (or distinct names) before generating patches",
            if ns.is_none() {
                " in some namespace"
            } else {
                ""
            }
        )));
    }
    Ok(Value::Object(target))
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
        return Err(Failure::internal(
            "the output has another number of objects than the input. This is a bug in \
             polyrepo-render; nothing was written",
        ));
    }
    let mut patches = Vec::new();
    let mut changed = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        let ops = object_ops(b, a);
        if ops.is_empty() {
            continue;
        }
        changed.push(a.clone());
        let target = target_of(a, &before)?;
        patches.push(ObjectPatch {
            target,
            why: a
                .pointer(&format!(
                    "/metadata/annotations/{}",
                    escape(crate::k8s::CHANGES_ANNOTATION)
                ))
                .and_then(Value::as_str)
                .map(str::to_string),
            ops: Value::Array(ops),
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
    // What the settings ask for, not where they were written.
    let asked = Settings {
        places: Default::default(),
        ..settings.clone()
    };
    let digest = crate::k8s::digest(&format!("{asked:?}"));
    // Comments hold text from the stream: escaped, so that a line break in
    // a label or a name cannot end the comment and write live YAML.
    let (chart, release) = (shown(chart), shown(release));
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
        for line in p.why.iter().flat_map(|why| why.split("; ")) {
            out.push_str(&format!("{pad}# {}\n", shown(line)));
        }
        out.push_str(&format!("{pad}- target: {}\n", emit::flow(&p.target)));
        out.push_str(&format!("{pad}  patch: |\n"));
        for line in emit::block(&p.ops).lines() {
            out.push_str(&format!("{pad}    {line}\n"));
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
    let docs = yaml::parse(text)
        .map_err(|e| {
            format!(
                "the file is not YAML: line {} column {}: {}",
                e.line, e.col, e.message
            )
        })?
        .docs;
    let mut lists = Vec::new();
    for doc in &docs {
        let root = yaml::to_json(&doc.root, &doc.anchors).map_err(|e| e.to_string())?;
        // A HelmRelease (or its spec, or a postRenderers block): every
        // kustomize post-renderer's patches; else a kustomization's.
        let renderers = root
            .pointer("/spec/postRenderers")
            .or_else(|| root.get("postRenderers"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in renderers {
            if let Some(Value::Array(l)) = r.pointer("/kustomize/patches") {
                lists.extend(l.iter().cloned());
            }
        }
        if let Some(Value::Array(l)) = root.get("patches") {
            lists.extend(l.iter().cloned());
        }
    }
    if lists.is_empty() && !docs.is_empty() {
        return Err(
            "no kustomize patches in it: neither a `patches:` list nor a Flux \
                    `postRenderers:` block with `kustomize.patches`"
                .into(),
        );
    }
    lists
        .iter()
        .map(|e| {
            let body = e["patch"].as_str().ok_or("a patch without `patch:` text")?;
            let parsed = yaml::parse(body).map_err(|err| {
                format!(
                    "the patch of {} does not parse: line {} column {} of the patch: {}",
                    emit::flow(&e["target"]),
                    err.line,
                    err.col,
                    err.message
                )
            })?;
            let d = parsed.docs.first().ok_or("an empty patch")?;
            let v = yaml::to_json(&d.root, &d.anchors).map_err(|e| e.to_string())?;
            Ok((e["target"].clone(), v))
        })
        .collect()
}

/// The first JSON 6902 operation of `new` that `old` does not have, or
/// the other way round, for a message.
fn first_difference(old: &[&Value], new: &[&Value]) -> String {
    let ops = |l: &[&Value]| -> Vec<Value> {
        l.iter()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .collect()
    };
    let (o, n) = (ops(old), ops(new));
    if let Some(x) = n.iter().find(|x| !o.contains(x)) {
        return format!("needed {}", emit::flow(x));
    }
    if let Some(x) = o.iter().find(|x| !n.contains(x)) {
        return format!("not needed {}", emit::flow(x));
    }
    "the same operations in another order".into()
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
    let old = read_entries(previous).map_err(|e| Failure::config(format!("--check: {e}")))?;
    let new: Vec<(Value, Value)> = patches
        .iter()
        .map(|p| (p.target.clone(), p.ops.clone()))
        .collect();
    if old == new {
        return Ok(None);
    }
    let mut why = Vec::new();
    let targets = |l: &[(Value, Value)]| {
        let mut t: Vec<Value> = l.iter().map(|(t, _)| t.clone()).collect();
        t.dedup();
        t
    };
    for t in targets(&new) {
        let mine: Vec<&Value> = new
            .iter()
            .filter(|(x, _)| *x == t)
            .map(|(_, p)| p)
            .collect();
        let theirs: Vec<&Value> = old
            .iter()
            .filter(|(x, _)| *x == t)
            .map(|(_, p)| p)
            .collect();
        if theirs.is_empty() {
            why.push(format!(
                "no patch of {} in the file; this render needs one",
                emit::flow(&t)
            ));
        } else if mine != theirs {
            why.push(format!(
                "the patch of {} differs from what this render needs (first difference: {})",
                emit::flow(&t),
                first_difference(&theirs, &mine)
            ));
        }
    }
    for t in targets(&old) {
        if !new.iter().any(|(x, _)| *x == t) {
            why.push(format!(
                "the file patches {}, which this render does not change (a target that no \
                 longer exists, or a patch of your own: keep those in another file)",
                emit::flow(&t)
            ));
        }
    }
    if why.is_empty() {
        why.push("the same patches, in another order or repeated".into());
    }
    Ok(Some(why.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_swap_is_made_in_place_behind_a_test_of_the_name() {
        let b = json!({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "repos", "hostPath": {"path": "/r"}}]});
        let a = json!({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "repos", "persistentVolumeClaim": {"claimName": "c"}}]});
        assert_eq!(
            object_ops(&b, &a),
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
        assert_eq!(
            object_ops(&b, &a),
            vec![
                json!({"op": "test", "path": "/volumeMounts/0/mountPath", "value": "/r"}),
                json!({"op": "replace", "path": "/volumeMounts/0", "value": {"name": "repos", "mountPath": "/p"}}),
            ]
        );
    }

    #[test]
    fn maps_get_keys_atomic_lists_are_whole_and_new_items_appended() {
        let b = json!({"metadata": {"labels": {"a": "1"}}, "terms": [1, 2], "env": [{"name": "A", "value": "1"}]});
        let a = json!({"metadata": {"labels": {"a": "1", "b/c~": "2"}, "annotations": {"x": "y"}}, "terms": [1, 2, 3], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        assert_eq!(
            object_ops(&b, &a),
            vec![
                json!({"op": "add", "path": "/metadata/labels/b~1c~0", "value": "2"}),
                json!({"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}}),
                json!({"op": "replace", "path": "/terms", "value": [1, 2, 3]}),
                json!({"op": "add", "path": "/env/-", "value": {"name": "B", "value": "2"}}),
            ]
        );
    }

    #[test]
    fn a_reordered_list_is_written_whole_and_duplicate_keys_stay() {
        let b = json!({"env": [{"name": "A"}, {"name": "B"}]});
        let a = json!({"env": [{"name": "B"}, {"name": "A"}]});
        assert_eq!(
            object_ops(&b, &a),
            vec![json!({"op": "replace", "path": "/env", "value": a["env"]})]
        );
        // Kubernetes accepts repeated env names: the change lands on the
        // item at its index.
        let b = json!({"env": [{"name": "D", "value": "0"}, {"name": "D", "value": "1"}]});
        let a = json!({"env": [{"name": "D", "value": "0"}, {"name": "D", "value": "2"}]});
        assert_eq!(
            object_ops(&b, &a),
            vec![
                json!({"op": "test", "path": "/env/1/name", "value": "D"}),
                json!({"op": "replace", "path": "/env/1/value", "value": "2"}),
            ]
        );
    }

    #[test]
    fn targets_name_the_group_and_refuse_what_kustomize_would_patch_twice() {
        let d = |ns: Option<&str>, api: &str| {
            let mut o =
                json!({"apiVersion": api, "kind": "Deployment", "metadata": {"name": "api"}});
            if let Some(ns) = ns {
                o["metadata"]["namespace"] = json!(ns);
            }
            o
        };
        let t = target_of(&d(None, "apps/v1"), &[d(None, "apps/v1")]).unwrap();
        assert_eq!(
            t,
            json!({"group": "apps", "version": "v1", "kind": "Deployment", "name": "api"})
        );
        // Another namespace, or no group restriction: ambiguous.
        assert!(
            target_of(
                &d(None, "apps/v1"),
                &[d(None, "apps/v1"), d(Some("o"), "apps/v1")]
            )
            .is_err()
        );
        // Another group, or a namespaced target: distinct.
        assert!(
            target_of(
                &d(None, "apps/v1"),
                &[d(None, "apps/v1"), d(None, "x.io/v1")]
            )
            .is_ok()
        );
        assert!(
            target_of(
                &d(Some("p"), "apps/v1"),
                &[d(Some("p"), "apps/v1"), d(None, "apps/v1")]
            )
            .is_ok()
        );
    }
}
