//! Turns the plan into edits: the repos volume, its mounts, the env copy,
//! scheduling constraints and the annotation that explains them.
//!
//! Every change compares the desired value with what Kubernetes reads today
//! and edits only when they differ, so running the tool on its own output
//! changes nothing. Inserted pieces are k8s-openapi values, written by
//! [`emit`].
//!
//! The folder: this file patches each document and proves the result;
//! `volume` writes a workload's repos volume, mounts and env copy,
//! `scheduling` its node affinity, co-location term and pod marks, and
//! `anchors` the edits of a document read through aliases. `edit/` splices
//! edits into the text in the surrounding style (and offers one proved
//! edit to the library's users, `set_root_entry`), `emit` writes the YAML
//! fragments, and `deanchor` makes a place its own before an edit lands in
//! bytes an alias shares.
//!
//! It imports the YAML layer, the settings, the inventory, the plan, the
//! scheduling rules' terms (to write them), `verify`, the report's types,
//! the Kubernetes vocabulary and the thread helper; nothing of the ways in.

use crate::config::Source;
use crate::schedule::constraints::term_is_empty;
mod anchors;
pub(crate) mod deanchor;
pub mod edit;
pub mod emit;
mod scheduling;
mod volume;

use anchors::*;
use scheduling::*;
use volume::*;

use crate::inventory::{
    self, InputError, Inventory, Located, PodSummary, REPOS_ENV, REPOS_VOLUME, Workload,
};
use crate::k8s::{
    CHANGES_ANNOTATION, COLOCATE_LABEL, COLOCATION_ANNOTATION, CONTAINER_LISTS, HOSTNAME,
    NODE_NAME_FIELD, NodeId, RUNTIME_ANNOTATION, WorkloadKind,
};
use crate::plan::{self, Mount, Plan, WorkloadPlan};
use crate::schedule::groups::{self, Select};
use crate::verify;
use crate::yaml::node::Node;
use crate::yaml::resolve::{path_to, resolve};
use crate::yaml::source::shown;
use crate::yaml::{DocInfo, Document, tree::Trees};
use edit::{Edit, EditError, Editor};
use k8s_openapi::api::core::v1 as core;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The edits for one document and what they change.
#[derive(Debug)]
pub(crate) struct DocPatch {
    /// Index of the document in the stream.
    pub(crate) doc: usize,
    /// The edits, against the whole input.
    pub(crate) edits: Vec<Edit>,
    /// One per changed workload.
    pub(crate) changes: Vec<WorkloadChange>,
    /// The run-time placement keys changed in a ConfigMap: its line, and
    /// one line per key.
    pub(crate) config: Option<(usize, Vec<String>)>,
}

/// What changed in one workload.
#[derive(Debug, Clone)]
pub(crate) struct WorkloadChange {
    /// Index into the inventory's workloads.
    pub(crate) workload: usize,
    /// The edits, one line each (`repos volume added: …`).
    pub(crate) edits: Vec<String>,
}

impl WorkloadChange {
    /// `Kind/name: edit; edit; why: …`, as the change annotation says it
    /// (`w`: the workload changed, `wp`: its plan). Formatted when the
    /// report needs it: a large stream holds thousands of changes.
    pub(crate) fn line(&self, w: &Workload, wp: Option<&WorkloadPlan>) -> String {
        let why: Vec<&str> = (self.edits.iter())
            .chain(wp.into_iter().flat_map(|wp| wp.why.iter()))
            .map(String::as_str)
            .collect();
        format!("{}: {}", w.id(), why.join("; "))
    }
}

/// Result of patching: edits per document and extra warnings.
#[derive(Debug, Default)]
pub(crate) struct Patched {
    /// Documents that change, in stream order.
    pub(crate) docs: Vec<DocPatch>,
    /// Warnings found while patching.
    pub(crate) warnings: Vec<crate::report::Warning>,
    /// The pod spec of every changed workload, read back from the patched
    /// document (workload index, summary), for the placement check.
    pub(crate) pods: Vec<(usize, PodSummary)>,
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("k8s-openapi values serialize")
}

/// Like [`to_json`], with `name` moved first, as people write volumes and mounts.
fn named_json<T: serde::Serialize>(v: &T) -> Value {
    match to_json(v) {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            if let Some(n) = m.get("name") {
                out.insert("name".into(), n.clone());
            }
            out.extend(m.into_iter().filter(|(k, _)| k != "name"));
            Value::Object(out)
        }
        other => other,
    }
}

/// Removes nulls from mappings so that `x: null` and an absent `x` compare
/// equal. (Lists are left alone: the volume sources and mounts compared
/// here hold none.)
fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, v| !v.is_null());
        m.values_mut().for_each(strip_nulls);
    }
}

/// Why patching stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatchError {
    /// The document cannot be edited safely as it is written (exit 1).
    Input(String),
    /// The verifier caught a bad edit: a bug (exit 1).
    Internal(String),
    /// One of the above, about a workload (index into the inventory's
    /// workloads).
    Of(usize, Box<PatchError>),
}

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatchError::Input(s) | PatchError::Internal(s) => f.write_str(s),
            PatchError::Of(_, e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PatchError {}

impl From<String> for PatchError {
    fn from(s: String) -> Self {
        PatchError::Input(s)
    }
}

impl From<&str> for PatchError {
    fn from(s: &str) -> Self {
        PatchError::Input(s.to_string())
    }
}

impl From<EditError> for PatchError {
    fn from(e: EditError) -> Self {
        PatchError::Input(e.0)
    }
}

impl From<InputError> for PatchError {
    fn from(e: InputError) -> Self {
        PatchError::Input(e.message)
    }
}

impl PatchError {
    /// The same error, its message prefixed by where it happened.
    fn at(self, place: &str) -> Self {
        match self {
            PatchError::Input(s) => PatchError::Input(format!("{place}: {s}")),
            PatchError::Internal(s) => PatchError::Internal(format!("{place}: {s}")),
            PatchError::Of(w, e) => PatchError::Of(w, Box::new(e.at(place))),
        }
    }
}

/// Builds and verifies every document's edits, one document tree at a time.
pub(crate) fn patch<'t>(
    text: &'t str,
    infos: &[DocInfo],
    trees: Trees<'_, 't>,
    inv: &Inventory,
    plan: &Plan,
) -> Result<Patched, PatchError> {
    let mut by_doc: BTreeMap<usize, Vec<&WorkloadPlan>> = BTreeMap::new();
    for wp in plan.workloads.iter().filter(|wp| wp.has_work()) {
        by_doc
            .entry(inv.workloads[wp.workload].doc)
            .or_default()
            .push(wp);
    }
    let jobs: Vec<(usize, Vec<&WorkloadPlan>)> = by_doc.into_iter().collect();
    let threads = crate::parallel::threads_for(text.len());
    let parts = crate::parallel::map_chunks(&jobs, threads, |chunk| {
        patch_docs(text, infos, trees, inv, chunk)
    });
    let mut out = Patched::default();
    for part in parts {
        let part = part?;
        out.docs.extend(part.docs);
        out.warnings.extend(part.warnings);
        out.pods.extend(part.pods);
    }
    let config = patch_config_keys(text, infos, trees, inv, plan)?;
    if !config.is_empty() {
        if let Some(d) = config
            .iter()
            .find(|c| out.docs.iter().any(|d| d.doc == c.doc))
        {
            return Err(PatchError::Input(format!(
                "{}: Polyaxon's ConfigMap shares its document with a workload that changes; put it in a document of its own",
                infos[d.doc].label()
            )));
        }
        out.docs.extend(config);
        out.docs.sort_by_key(|d| d.doc);
    }
    Ok(out)
}

/// Patches the given documents, in order.
fn patch_docs<'t>(
    text: &'t str,
    infos: &[DocInfo],
    trees: Trees<'_, 't>,
    inv: &Inventory,
    jobs: &[(usize, Vec<&WorkloadPlan>)],
) -> Result<Patched, PatchError> {
    let mut out = Patched::default();
    for (di, plans) in jobs {
        let di = *di;
        let info = &infos[di];
        let doc = trees
            .get(text, info)
            .map_err(|e| PatchError::Input(e.to_string()))?;
        let DocEdits {
            #[allow(unused_mut)] // the fault hook of debug builds changes them
            mut edits,
            changes,
            warnings,
        } = if doc.uses_aliases {
            edit_through_anchors(text, &doc, info, inv, plans)?
        } else {
            let d = edit_document(text, &doc, inv, plans)?;
            if !d.edits.shared_targets().is_empty() {
                let e = "an edit met shared bytes in a document without anchors";
                return Err(PatchError::Internal(format!("{}: {e}", doc.label())));
            }
            DocEdits {
                edits: d.edits.into_edits(),
                changes: d.changes,
                warnings: d.warnings,
            }
        };
        out.warnings.extend(warnings);
        if edits.is_empty() {
            continue;
        }
        #[cfg(debug_assertions)]
        inject_fault(text, &doc, &mut edits);
        let pods = verify::document(text, &doc, &edits, |new| {
            reread(
                new,
                plans.iter().map(|wp| (*wp, &inv.workloads[wp.workload])),
            )
        })
        .map_err(|e| match e {
            verify::Unverified::Input(e) => PatchError::Input(format!(
                "{}: {e}; polyrepo-render changes this object and must read it whole. \
                 Fix it in the chart or its values",
                doc.label()
            )),
            verify::Unverified::Bug(e) => PatchError::Internal(format!("{}: {e}", doc.label())),
        })?;
        out.pods.extend(pods);
        out.docs.push(DocPatch {
            doc: di,
            edits,
            changes,
            config: None,
        });
    }
    Ok(out)
}

/// Writes the run-time placement keys the plan sets into Polyaxon's
/// ConfigMap (chart 0.4), each value a string replaced whole; the document
/// read back must differ from the input in those values alone, each read
/// back as the planned JSON.
fn patch_config_keys(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    inv: &Inventory,
    plan: &Plan,
) -> Result<Vec<DocPatch>, PatchError> {
    let mut by_doc: BTreeMap<usize, Vec<(&inventory::ConfigKey, &str)>> = BTreeMap::new();
    for c in &plan.runtime_keys {
        let k = &inv.runtime_keys[c.at];
        by_doc.entry(k.doc).or_default().push((k, c.value.as_str()));
    }
    let mut out = Vec::new();
    for (di, keys) in by_doc {
        let info = &infos[di];
        let doc = trees
            .get(text, info)
            .map_err(|e| PatchError::Input(e.to_string()))?;
        let here = |m: &str| PatchError::Input(format!("{}: {m}", doc.label()));
        if doc.uses_aliases {
            return Err(here(
                "Polyaxon's ConfigMap uses YAML anchors or aliases; polyrepo-render sets the run-time pods' placement there and does not edit through them. Write it without",
            ));
        }
        let data = doc
            .root
            .get("data")
            .ok_or_else(|| here("the ConfigMap's data went missing"))?;
        let mut ed = Editor::new(text, doc.eol(text));
        let mut lines = Vec::new();
        for (k, value) in &keys {
            let node = data
                .get(&k.key)
                .ok_or_else(|| here(&format!("{} went missing", k.key)))?;
            ed.replace_string(node, value);
            lines.push(format!("{}: {value}", k.key));
        }
        let edits = ed.into_edits();
        let planned: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.key.as_str(), *v)).collect();
        verify::config_map(text, &doc, &edits, &planned).map_err(|e| match e {
            verify::Unverified::Input(e) => here(&e.to_string()),
            verify::Unverified::Bug(e) => PatchError::Internal(format!("{}: {e}", doc.label())),
        })?;
        let line = doc.root.line;
        out.push(DocPatch {
            doc: di,
            edits,
            changes: Vec::new(),
            config: Some((line, lines)),
        });
    }
    Ok(out)
}

/// One document's edits, the changes they make (one per changed
/// workload) and the warnings found on the way.
struct DocEdits<E> {
    edits: E,
    changes: Vec<WorkloadChange>,
    warnings: Vec<crate::report::Warning>,
}

/// Makes the planned edits to the workloads of one document's tree.
fn edit_document<'t>(
    text: &'t str,
    doc: &Document<'_>,
    inv: &Inventory,
    plans: &[&WorkloadPlan],
) -> Result<DocEdits<Editor<'t>>, PatchError> {
    let mut editor = Editor::new(text, doc.eol(text));
    let (mut changes, mut warnings) = (Vec::new(), Vec::new());
    for wp in plans.iter().copied() {
        let w = &inv.workloads[wp.workload];
        let place = format!("{}, {}", doc.label(), w.id());
        let here = |e: PatchError| PatchError::Of(wp.workload, Box::new(e.at(&place)));
        let loc = inventory::locate(doc, w).ok_or_else(|| here("its pod spec moved".into()))?;
        let before = editor.edits().len();
        let mut why = Vec::new();
        let warned = warnings.len();
        workload(&mut editor, doc, w, loc, wp, &mut why, &mut warnings).map_err(here)?;
        for x in &mut warnings[warned..] {
            if x.workloads.is_empty() {
                x.workloads.push(wp.workload);
            }
        }
        // The recorded co-location term sits beside the change annotation
        // (on the object, not the pod template): both are written together.
        let note = recorded_term_change(&loc, wp);
        if editor.edits().len() > before || note.is_some() {
            let edits = why.clone();
            why.extend(wp.why.iter().cloned());
            let meta = loc
                .node
                .get("metadata")
                .ok_or_else(|| here("has no metadata".into()))?;
            match note {
                None => set_path(
                    &mut editor,
                    meta,
                    &["annotations", CHANGES_ANNOTATION],
                    json!(why.join("; ")),
                )
                .map_err(here)?,
                Some(note) => {
                    let why = json!(why.join("; "));
                    let map = meta.get("annotations").filter(|a| !a.is_null());
                    let has = |k: &str| inventory::string_map(map).iter().any(|(x, _)| x == k);
                    let empty = map.is_none_or(|m| m.entries().is_some_and(<[_]>::is_empty));
                    match (&note, map) {
                        // No annotations yet: both in one new mapping.
                        (Some(v), _) if empty => editor
                            .set_entry(
                                meta,
                                "annotations",
                                &json!({ CHANGES_ANNOTATION: why, COLOCATION_ANNOTATION: v }),
                            )
                            .map_err(|e| here(e.into()))?,
                        (Some(v), _) => {
                            set_path(&mut editor, meta, &["annotations", CHANGES_ANNOTATION], why)
                                .map_err(here)?;
                            set_path(
                                &mut editor,
                                meta,
                                &["annotations", COLOCATION_ANNOTATION],
                                json!(v),
                            )
                            .map_err(here)?;
                        }
                        // Dropped: the record goes, the change annotation
                        // says so (the mapping is written again without it).
                        (None, _) if has(COLOCATION_ANNOTATION) => {
                            let mut all = inventory::json(map.expect("has entries"), doc)
                                .map_err(|e| here(e.into()))?;
                            if let Some(m) = all.as_object_mut() {
                                m.remove(COLOCATION_ANNOTATION);
                                m.insert(CHANGES_ANNOTATION.into(), why);
                            }
                            editor
                                .set_entry(meta, "annotations", &all)
                                .map_err(|e| here(e.into()))?;
                        }
                        (None, _) => {
                            set_path(&mut editor, meta, &["annotations", CHANGES_ANNOTATION], why)
                                .map_err(here)?
                        }
                    }
                }
            }
            changes.push(WorkloadChange {
                workload: wp.workload,
                edits,
            });
            if w.kind == WorkloadKind::Job && !w.hook {
                warnings.push(crate::report::Warning::about(crate::report::Warning::advice(
                    crate::report::Advice::JobTemplateImmutable,
                    format!(
                    "{}: a Job's pod template cannot change once the Job exists, and this Job is \
                     not a Helm hook (which Helm deletes and recreates): if an earlier release \
                     created it without these changes, `helm upgrade` fails with \"field is \
                     immutable\". Delete the Job before that upgrade (kubectl delete job {}), or \
                     make it a Helm hook",
                    w.at(),
                    shown(&w.name)
                ), ), [wp.workload]));
            }
        }
    }
    Ok(DocEdits {
        edits: editor,
        changes,
        warnings,
    })
}

/// Test-only fault injection, compiled into debug builds alone (the ones
/// `cargo test` runs), so the tests can watch the final checks stop a wrong
/// output: `POLYREPO_TEST_FAULT=replicas` makes the first `replicas: N`
/// line of each changed document `N+1` (an edit no plan makes: `verify`),
/// `no-colocation` drops the co-location terms (pods that could be split:
/// `placement`), `lost-volume` drops the repos volume's new claim (the
/// read-back check of planned additions).
#[cfg(debug_assertions)]
fn inject_fault(text: &str, doc: &Document<'_>, edits: &mut Vec<Edit>) {
    let fault = std::env::var("POLYREPO_TEST_FAULT").unwrap_or_default();
    // `no-colocation`: the planned pod-affinity terms are dropped, an output
    // `verify` accepts (it only removes changes) but placement must not.
    // `lost-volume`: the edits giving the repos volume its claim are
    // dropped, an output `verify` accepts (it forgives what the tool adds)
    // but the read-back check of planned additions must not.
    if fault == "lost-volume" {
        edits.retain(|e| !e.text.contains("claimName"));
        return;
    }
    if fault == "no-colocation" {
        edits.retain(|e| !e.text.contains("topologyKey"));
        return;
    }
    if fault != "replicas" {
        return;
    }
    let region = &text[doc.region_start..doc.region_end];
    let Some(at) = region.find("\n  replicas: ") else {
        return;
    };
    let start = doc.region_start + at + "\n  replicas: ".len();
    let len = text[start..].find('\n').unwrap_or(0);
    if let Ok(n) = text[start..start + len].trim().parse::<u64>()
        && !edits.iter().any(|e| e.start < start + len && start < e.end)
    {
        edits.push(crate::patch::edit::Edit {
            start,
            end: start + len,
            text: (n + 1).to_string(),
        });
        edits.sort_by_key(|e| e.start);
    }
}

/// Reads the pod specs of the planned workloads from the patched
/// document, and checks that what the plan adds is there as Kubernetes
/// reads it: the repos volume with the planned source, and the repos mount
/// with the planned path, subPath and readOnly (`verify` forgives these additions, so it cannot
/// notice one that went missing, say into a comment).
fn reread<'w>(
    doc: &Document<'_>,
    plans: impl Iterator<Item = (&'w WorkloadPlan, &'w Workload)>,
) -> Result<Vec<(usize, PodSummary)>, PatchError> {
    // Read through aliases only where there are some (resolving copies the
    // tree).
    let resolved;
    let read = if doc.uses_aliases {
        resolved = resolve(doc).map_err(|e| e.to_string())?;
        &resolved
    } else {
        doc
    };
    plans
        .map(|(wp, w)| {
            let loc = inventory::locate(read, w).ok_or("a pod spec went missing")?;
            let mut pod = inventory::summarize(loc.node, loc.pod_meta, loc.pod_spec, read)?;
            if let Some(desired) = &wp.volume
                && pod.repos_volume.as_deref() != Some(desired)
            {
                return Err(
                    format!("{}: the planned repos volume is not in the output", w.id()).into(),
                );
            }
            // A mount is planned into every regular container (when it is
            // added) or where one was: a pod without containers gets none.
            let has_containers = loc
                .pod_spec
                .get("containers")
                .and_then(Node::items)
                .is_some_and(|c| !c.is_empty());
            let mount_expected = (wp.add_mounts && has_containers) || w.pod.repos_mount.is_some();
            let as_read = |r: &core::VolumeMount| {
                (
                    r.mount_path.clone(),
                    r.sub_path.clone().filter(|p| !p.is_empty()),
                    r.read_only.unwrap_or(false),
                )
            };
            if let Some(m) = wp.mount.as_ref().filter(|_| mount_expected)
                && pod.repos_mount.as_deref().map(as_read)
                    != Some((m.mount_path.clone(), m.sub_path.clone(), m.read_only))
            {
                return Err(
                    format!("{}: the planned repos mount is not in the output", w.id()).into(),
                );
            }
            // Placement reads none of these.
            pod.repos_volume = None;
            pod.repos_mount = None;
            Ok((wp.workload, pod))
        })
        .collect()
}

/// Sets a value at a path of mapping keys below `node`, creating the
/// missing mappings on the way.
fn set_path(
    ed: &mut Editor<'_>,
    node: &Node<'_>,
    path: &[&str],
    value: Value,
) -> Result<(), PatchError> {
    let (first, rest) = path.split_first().expect("non-empty path");
    if rest.is_empty() {
        return Ok(ed.set_entry(node, first, &value)?);
    }
    match node.get(first) {
        Some(child) if child.entries().is_some() => set_path(ed, child, rest, value),
        Some(child) if !child.is_null() => Err(format!(
            "`{first}` at line {} column {} is {}, not a mapping",
            child.line,
            child.col,
            child.describe()
        )
        .into()),
        _ => {
            let mut v = value;
            for k in rest.iter().rev() {
                v = json!({ *k: v });
            }
            Ok(ed.set_entry(node, first, &v)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_edit_spans_only_what_differs_on_char_boundaries() {
        let e = region_edit(10, "a: é1\nb: 2\n", "a: é2\nb: 2\n").unwrap();
        assert_eq!((e.start, e.end, e.text.as_str()), (15, 16, "2"));
        // 'é' (c3 a9) and 'è' (c3 a8) share a first byte: the edit starts
        // at the character, not inside it.
        let e = region_edit(0, "x: é\n", "x: è\n").unwrap();
        assert_eq!((e.start, e.end, e.text.as_str()), (3, 5, "è"));
        let e = region_edit(0, "aXa", "aa").unwrap();
        assert_eq!((e.start, e.end, e.text.as_str()), (1, 2, ""));
        assert!(region_edit(0, "same", "same").is_none());
    }

    #[test]
    fn a_document_read_again_keeps_its_place_in_the_stream() {
        let info = DocInfo {
            index: 4,
            line_offset: 20,
            ..DocInfo::default()
        };
        let doc = local_document("---\na: [1, *x]\n", &info);
        assert!(doc.is_err(), "an unknown anchor is a syntax error");
        let doc = local_document("---\na: &x 1\nb: *x\n", &info).unwrap();
        assert_eq!(doc.index, 4);
        assert_eq!(doc.root.get("b").unwrap().line, 23);
        assert!(doc.uses_aliases);
    }
}
