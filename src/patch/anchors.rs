//! The edits of a document that uses anchors, aliases or merge keys: made
//! on the document read through them, then carried back to its bytes, each
//! shared place made its own first (`deanchor`).

use super::*;

/// Most places one document's edits may need made its own first.
pub(super) const MAX_UNSHARE_ROUNDS: usize = 64;

/// [`edit_document`] for a document with anchors, aliases or merge keys:
/// the workloads are read through them ([`resolve`]), and wherever an edit
/// would land in bytes that also stand for another place, that place is
/// first made its own ([`deanchor::step`]), on a copy of the document's
/// text, until every edit lands in bytes of its own. The result is one
/// edit of the document's region.
pub(super) fn edit_through_anchors(
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
pub(super) fn local_document<'x>(
    local: &'x str,
    info: &DocInfo,
) -> Result<Document<'x>, PatchError> {
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
pub(super) fn region_edit(start: usize, old: &str, new: &str) -> Option<Edit> {
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
