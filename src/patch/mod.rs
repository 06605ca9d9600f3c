//! Turns the plan into edits: the repos volume, its mounts, the env copy,
//! scheduling constraints and the annotation that explains them.
//!
//! Every change compares the desired value with what Kubernetes reads today
//! and edits only when they differ, so running the tool on its own output
//! changes nothing. Inserted pieces are k8s-openapi values, written by
//! [`emit`].
//!
//! The folder: this file decides the edits; `edit` splices them into the
//! text in the surrounding style, `emit` writes the YAML fragments, and
//! `deanchor` makes a place its own before an edit lands in bytes an alias
//! shares.

use crate::config::Source;
use crate::schedule::constraints::term_is_empty;
pub(crate) mod deanchor;
pub(crate) mod edit;
pub(crate) mod emit;

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
    /// `Kind/name: edit; edit; why: …`, as the change annotation says it.
    pub(crate) line: String,
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
                line: format!("{}: {}", w.id(), why.join("; ")),
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

/// Most places one document's edits may need made its own first.
const MAX_UNSHARE_ROUNDS: usize = 64;

/// [`edit_document`] for a document with anchors, aliases or merge keys:
/// the workloads are read through them ([`resolve`]), and wherever an edit
/// would land in bytes that also stand for another place, that place is
/// first made its own ([`deanchor::step`]), on a copy of the document's
/// text, until every edit lands in bytes of its own. The result is one
/// edit of the document's region.
fn edit_through_anchors(
    text: &str,
    doc: &Document<'_>,
    info: &DocInfo,
    inv: &Inventory,
    plans: &[&WorkloadPlan],
) -> Result<DocEdits<Vec<Edit>>, PatchError> {
    let region = &text[doc.region_start..doc.region_end];
    let eol = doc.eol(text);
    let mut cur = region.to_string();
    let mut last_line = None;
    for _ in 0..MAX_UNSHARE_ROUNDS {
        let raw = local_document(&cur, info)?;
        let input = |e: &dyn std::fmt::Display| PatchError::Input(format!("{}: {e}", raw.label()));
        let read = resolve(&raw).map_err(|e| input(&e))?;
        let d = edit_document(&cur, &read, inv, plans)?;
        if d.edits.shared_targets().is_empty() {
            let mut edits = d.edits.into_edits();
            let out = edit::apply(&cur, &mut edits).map_err(|e| PatchError::Internal(e.0))?;
            let edit = region_edit(doc.region_start, region, &out);
            return Ok(DocEdits {
                edits: edit.into_iter().collect(),
                changes: d.changes,
                warnings: d.warnings,
            });
        }
        // Every place met this round is made its own at once, unless its
        // edits touch another's (those wait for the next round).
        let mut accepted: Vec<Edit> = Vec::new();
        let mut paths = Vec::new();
        for &target in d.edits.shared_targets() {
            let path = path_to(&read.root, target as *const Node<'_>).ok_or_else(|| {
                PatchError::Internal(format!(
                    "{}: an edit target is not in its tree",
                    raw.label()
                ))
            })?;
            if paths.contains(&path) {
                continue;
            }
            let step = deanchor::step(&cur, &raw, &path, eol).map_err(|e| input(&e))?;
            paths.push(path);
            let touches = |e: &Edit| {
                accepted
                    .iter()
                    .any(|a| a.start <= e.end && e.start <= a.end)
            };
            if !step.iter().any(touches) {
                accepted.extend(step);
            }
        }
        last_line = Some(read.line);
        cur = edit::apply(&cur, &mut accepted).map_err(|e| PatchError::Internal(e.0))?;
    }
    Err(PatchError::Input(format!(
        "{} (line {}): anchors, aliases and merge keys still stand where edits must go after \
         {MAX_UNSHARE_ROUNDS} rounds of writing them out; write the object out without them",
        doc.label(),
        last_line.unwrap_or(doc.line)
    )))
}

/// The one document of `local` (a document's region, edited), with the
/// index and line numbers it has in the stream.
fn local_document<'x>(local: &'x str, info: &DocInfo) -> Result<Document<'x>, PatchError> {
    let mut docs = crate::yaml::parse(local)
        .map_err(|e| PatchError::Internal(format!("{}: {e}", info.label())))?
        .docs;
    if docs.len() != 1 {
        return Err(PatchError::Internal(format!(
            "{}: expanding an alias made {} documents",
            info.label(),
            docs.len()
        )));
    }
    let mut doc = docs.pop().expect("one document");
    doc.index = info.index;
    doc.line += info.line_offset;
    doc.root.shift(0, info.line_offset);
    for n in doc.anchors.values_mut() {
        n.shift(0, info.line_offset);
    }
    Ok(doc)
}

/// The one edit that turns `old` (the region at `start`) into `new`: their
/// common beginning and end are left alone.
fn region_edit(start: usize, old: &str, new: &str) -> Option<Edit> {
    if old == new {
        return None;
    }
    let mut p = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(p) {
        p -= 1;
    }
    let max_s = old.len().min(new.len()) - p;
    let mut s = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_s)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - s) || !new.is_char_boundary(new.len() - s) {
        s -= 1;
    }
    Some(Edit {
        start: start + p,
        end: start + old.len() - s,
        text: new[p..new.len() - s].to_string(),
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
                && pod.repos_volume.as_ref() != Some(desired)
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

fn describe_volume(v: &core::Volume) -> String {
    if let Some(h) = &v.host_path {
        return format!("hostPath {}", h.path);
    }
    if let Some(c) = &v.persistent_volume_claim {
        return format!("claim {}", c.claim_name);
    }
    "another source".into()
}

fn workload(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    w: &Workload,
    loc: Located<'_, '_>,
    wp: &WorkloadPlan,
    changes: &mut Vec<String>,
    warnings: &mut Vec<crate::report::Warning>,
) -> Result<(), PatchError> {
    let spec = loc.pod_spec;
    // The repos volume.
    if let Some(desired) = wp.volume.as_ref().map(inventory::VolumeInfo::to_volume) {
        let desired = &desired;
        let want = named_json(desired);
        match spec.get("volumes").filter(|v| !v.is_null()) {
            None => {
                ed.set_entry(spec, "volumes", &json!([want]))?;
                changes.push(format!("repos volume added: {}", describe_volume(desired)));
            }
            Some(vols) => {
                let items = vols.items().ok_or_else(|| {
                    format!(
                        "volumes at line {} column {} is not a list",
                        vols.line, vols.col
                    )
                })?;
                match items
                    .iter()
                    .find(|i| i.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME))
                {
                    Some(item) => {
                        let mut have = inventory::json(item, doc)?;
                        strip_nulls(&mut have);
                        if have != want {
                            let old = w
                                .repos_volume()
                                .map(|v| match (&v.host_path, &v.claim) {
                                    (Some((p, _)), _) => format!("hostPath {p}"),
                                    (None, Some(c)) => format!("claim {c}"),
                                    _ => "another source".into(),
                                })
                                .unwrap_or_default();
                            ed.replace(item, &want);
                            changes.push(format!(
                                "repos volume: {old} -> {}",
                                describe_volume(desired)
                            ));
                        }
                    }
                    None => {
                        ed.append(vols, &want)?;
                        changes.push(format!("repos volume added: {}", describe_volume(desired)));
                    }
                }
            }
        }
    }
    // Mounts and env copies, container by container.
    for list in CONTAINER_LISTS {
        let Some(containers) = spec.get(list).and_then(Node::items) else {
            continue;
        };
        for c in containers {
            let cname = c.get("name").and_then(Node::as_str).unwrap_or("?");
            if let Some(m) = &wp.mount {
                mount(
                    ed,
                    doc,
                    c,
                    cname,
                    m,
                    wp.add_mounts && list == "containers",
                    changes,
                )?;
            }
            if let Some(env) = &wp.env {
                env_copy(ed, c, cname, env, changes, warnings, w)?;
            }
        }
    }
    // Scheduling.
    if wp.pin.is_some() || wp.colocate.is_some() || wp.forget_earlier {
        affinity(ed, doc, w, loc.pod_spec, wp, changes)?;
    }
    // The tool's marks on the pod template: its label and the run-time
    // placement digest, each added, kept or dropped.
    let marked = || {
        loc.pod_meta
            .and_then(|m| m.path(&["annotations", RUNTIME_ANNOTATION]))
            .is_some()
    };
    if wp.colocate.is_some() || wp.forget_earlier || wp.runtime_digest.is_some() || marked() {
        pod_marks(ed, doc, w, &loc, wp, changes)?;
    }
    Ok(())
}

/// The co-location label on the pod template: set as the plan says, or
/// dropped when an earlier run added it and this one does not.
fn pod_marks(
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
fn recorded_term_change(loc: &Located<'_, '_>, wp: &WorkloadPlan) -> Option<Option<String>> {
    let want = colocation_note(wp);
    let have = inventory::string_map(loc.node.path(&["metadata", "annotations"]))
        .into_iter()
        .find(|(k, _)| k == COLOCATION_ANNOTATION)
        .map(|(_, v)| v);
    (want != have && (want.is_some() || wp.forget_earlier)).then_some(want)
}

/// The annotation recording a term over chart labels (the added label
/// names itself).
fn colocation_note(wp: &WorkloadPlan) -> Option<String> {
    let co = wp.colocate.as_ref()?;
    matches!(co.select, Select::Labels(_))
        .then(|| serde_json::to_string(&to_json(&groups::colocation_term(co))).expect("json"))
}

fn mount(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    c: &Node<'_>,
    cname: &str,
    m: &Mount,
    add: bool,
    changes: &mut Vec<String>,
) -> Result<(), PatchError> {
    let mounts = c.get("volumeMounts").filter(|n| !n.is_null());
    let existing = mounts.and_then(Node::items).and_then(|items| {
        items
            .iter()
            .find(|i| i.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME))
    });
    match existing {
        Some(item) => {
            let mut have_json = inventory::json(item, doc)?;
            strip_nulls(&mut have_json);
            let have: core::VolumeMount =
                serde_json::from_value(have_json.clone()).map_err(|e| e.to_string())?;
            let mut want = have.clone();
            want.mount_path = m.mount_path.clone();
            want.sub_path = m
                .sub_path
                .clone()
                .or_else(|| have.sub_path.clone().filter(|s| s.is_empty()));
            want.read_only = match (m.read_only, have.read_only) {
                (true, _) => Some(true),
                (false, Some(false)) => Some(false),
                (false, _) => None,
            };
            let want = named_json(&want);
            if want != have_json {
                ed.replace(item, &want);
                changes.push(format!("mount in {cname}: {}", describe_mount(m)));
            }
        }
        None if add => {
            let want = named_json(&core::VolumeMount {
                name: REPOS_VOLUME.into(),
                mount_path: m.mount_path.clone(),
                sub_path: m.sub_path.clone(),
                read_only: m.read_only.then_some(true),
                ..Default::default()
            });
            match mounts {
                Some(list) => ed.append(list, &want)?,
                None => ed.set_entry(c, "volumeMounts", &json!([want]))?,
            }
            changes.push(format!("mount added in {cname}: {}", describe_mount(m)));
        }
        None => {}
    }
    Ok(())
}

fn describe_mount(m: &Mount) -> String {
    let mut s = m.mount_path.clone();
    if let Some(p) = &m.sub_path {
        s.push_str(&format!(" (subPath {p})"));
    }
    if m.read_only {
        s.push_str(" read-only");
    }
    s
}

fn env_copy(
    ed: &mut Editor<'_>,
    c: &Node<'_>,
    cname: &str,
    env: &plan::EnvCopy,
    changes: &mut Vec<String>,
    warnings: &mut Vec<crate::report::Warning>,
    w: &Workload,
) -> Result<(), PatchError> {
    let Some(items) = c.get("env").and_then(Node::items) else {
        return Ok(());
    };
    for item in items
        .iter()
        .filter(|i| i.get("name").and_then(Node::as_str) == Some(REPOS_ENV))
    {
        let Some(vnode) = item.get("value") else {
            warnings.push(crate::report::Warning::problem(format!(
                "{} container {cname}: {REPOS_ENV} has no literal value (valueFrom?); it was not updated",
                w.id()
            )));
            continue;
        };
        let Some(current) = vnode.as_str() else {
            warnings.push(crate::report::Warning::problem(format!(
                "{} container {cname}: {REPOS_ENV} is not a string; it was not updated",
                w.id()
            )));
            continue;
        };
        let parsed: Value = if current.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str(current) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    warnings.push(crate::report::Warning::problem(format!(
                        "{} container {cname}: {REPOS_ENV} (line {} column {}) is not a JSON object; it was not updated",
                        w.id(),
                        vnode.line,
                        vnode.col
                    )));
                    continue;
                }
            }
        };
        let mut want = parsed.clone();
        let o = want.as_object_mut().expect("object");
        o.insert("mountPath".into(), json!(env.mount.mount_path));
        let (hp, ec) = match &env.source {
            Source::HostPath(p) => (json!(p), Value::Null),
            Source::Claim(n) => (Value::Null, json!(n)),
        };
        o.insert("hostPath".into(), hp);
        o.insert("existingClaim".into(), ec);
        match &env.mount.sub_path {
            Some(p) => {
                o.insert("subPath".into(), json!(p));
            }
            None => {
                if o.contains_key("subPath") {
                    o.insert("subPath".into(), Value::Null);
                }
            }
        }
        if env.mount.read_only || o.contains_key("readOnly") {
            o.insert("readOnly".into(), json!(env.mount.read_only));
        }
        if want != parsed {
            let text = serde_json::to_string(&want).expect("json");
            ed.replace_string(vnode, &text);
            changes.push(format!("{REPOS_ENV} in {cname}: {}", env.source));
        }
    }
    Ok(())
}

fn affinity(
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
