//! Making a place in a document its own before an edit lands there.
//!
//! A document read through its anchors ([`crate::yaml::resolve`]) has nodes
//! whose bytes also stand for another place. Given the path to such a node,
//! [`step`] returns the edits of one transformation that brings the path
//! closer to bytes of its own; the caller applies them, reads the document
//! again and asks again until no edit meets shared bytes. Each
//! transformation keeps what Kubernetes reads unchanged (`verify` checks
//! the final result against the input):
//!
//! - an **alias** on the path is written out in full at its place (the
//!   copy is the anchored node as Kubernetes reads it, written by
//!   [`crate::patch::emit`]: its comments and anchors are not copied);
//! - an **anchored node** on the path that aliases repeat: every one of
//!   those aliases is first written out with the unedited content, so the
//!   edit cannot leak into them;
//! - a **key that comes from a merge** (`<<`): an explicit key with the
//!   merged value is added at the end of the mapping, after the merge key,
//!   so it overrides the merge in go-yaml v2's order.
//!
//! Limits: a key set explicitly *before* a merge key that overrides it is
//! refused (an explicit copy after the merge would repeat the key); so is
//! an alias used as a mapping key.

use crate::patch::edit::{Edit, Editor};
use crate::yaml::Document;
use crate::yaml::node::{Node, NodeKind, to_json};
use crate::yaml::resolve::{Step, aliased};
use crate::yaml::typing::is_merge_key;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;

/// Why a place cannot be made its own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeanchorError {
    /// What stands in the way and what to do.
    pub(crate) message: String,
    /// 1-based line of the node in the way.
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) col: usize,
}

impl fmt::Display for DeanchorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {} column {})",
            self.message, self.line, self.col
        )
    }
}

impl std::error::Error for DeanchorError {}

fn error(n: &Node<'_>, message: impl Into<String>) -> DeanchorError {
    DeanchorError {
        message: message.into(),
        line: n.line,
        col: n.col,
    }
}

/// Where a node stands: under a mapping key, or at a sequence index.
#[derive(Clone, Copy)]
enum Parent<'n, 'a> {
    Root,
    Map(&'n Node<'a>, &'n Node<'a>),
    Seq,
}

/// The edits of one transformation that brings the node at `path` (a path
/// in the document as read through its aliases) closer to bytes of its own.
pub(crate) fn step(
    text: &str,
    doc: &Document<'_>,
    path: &[Step],
    eol: &'static str,
) -> Result<Vec<Edit>, DeanchorError> {
    let aliased = aliased(&doc.root);
    let mut ed = Editor::new(text, eol);
    let mut node = &doc.root;
    let mut parent = Parent::Root;
    for i in 0..=path.len() {
        if let NodeKind::Alias(_) = node.kind {
            write_out(&mut ed, doc, node, parent)?;
            return Ok(ed.into_edits());
        }
        if node.anchor != 0 && aliased.contains(&node.anchor) {
            write_out_aliases_of(&mut ed, doc, node.anchor)?;
            return Ok(ed.into_edits());
        }
        let Some(step) = path.get(i) else { break };
        (node, parent) = match step {
            Step::Index(j) => {
                let items = node.items().ok_or_else(|| error(node, "not a sequence"))?;
                (
                    items.get(*j).ok_or_else(|| error(node, "no such item"))?,
                    Parent::Seq,
                )
            }
            Step::Key(k) => match own_entry(node, k, &doc.anchors)? {
                Some((key, value)) => (value, Parent::Map(node, key)),
                None => {
                    let merged = merged_value(doc, node, k)?;
                    ed.set_entry(node, k, &merged)
                        .map_err(|e| error(node, e.0))?;
                    return Ok(ed.into_edits());
                }
            },
        };
    }
    // The target itself is free: something inside it is shared.
    let mut inner = None;
    node.walk(&mut |n| {
        if inner.is_none() && n.anchor != 0 && aliased.contains(&n.anchor) {
            inner = Some(n.anchor);
        }
    });
    if let Some(anchor) = inner {
        write_out_aliases_of(&mut ed, doc, anchor)?;
        return Ok(ed.into_edits());
    }
    let mut first_alias = None;
    walk_with_parents(node, &mut |n, p| {
        if first_alias.is_none() && matches!(n.kind, NodeKind::Alias(_)) {
            first_alias = Some((n, p));
        }
    });
    match first_alias {
        Some((n, p)) => {
            write_out(&mut ed, doc, n, p)?;
            Ok(ed.into_edits())
        }
        None => Err(error(node, "nothing shared here to write out")),
    }
}

/// The explicit entry `key` of a mapping, if it has one. When a merge key
/// after it overrides it, the key cannot be made explicit without repeating
/// it: refused.
fn own_entry<'n, 'a>(
    map: &'n Node<'a>,
    key: &str,
    anchors: &std::collections::HashMap<usize, Node<'a>>,
) -> Result<Option<(&'n Node<'a>, &'n Node<'a>)>, DeanchorError> {
    let entries = map.entries().ok_or_else(|| error(map, "not a mapping"))?;
    let Some(at) = entries
        .iter()
        .rposition(|(k, _)| k.scalar() == Some(key) && !is_merge(k))
    else {
        return Ok(None);
    };
    for (k, v) in entries[at + 1..].iter().filter(|(k, _)| is_merge(k)) {
        let merged = to_json(v, anchors).map_err(|e| error(k, e.message))?;
        let provides = match &merged {
            Value::Object(m) => m.contains_key(key),
            Value::Array(a) => a.iter().any(|m| m.get(key).is_some()),
            _ => false,
        };
        if provides {
            return Err(error(
                &entries[at].0,
                format!(
                    "`{key}` is set before a merge key (<<) in the same mapping that \
                     overrides it (Kubernetes reads the merged value); move `{key}` after \
                     the merge key, or write the mapping out without it"
                ),
            ));
        }
    }
    Ok(Some((&entries[at].0, &entries[at].1)))
}

fn is_merge(k: &Node<'_>) -> bool {
    matches!(&k.kind, NodeKind::Scalar { value, style } if is_merge_key(value, *style, k.tag.as_deref()))
}

/// The value a merge key gives `key` in `map`, as Kubernetes reads it.
fn merged_value(doc: &Document<'_>, map: &Node<'_>, key: &str) -> Result<Value, DeanchorError> {
    let all = to_json(map, &doc.anchors).map_err(|e| error(map, e.message))?;
    all.get(key)
        .cloned()
        .ok_or_else(|| error(map, format!("no `{key}` here, explicit or merged")))
}

/// Writes one alias out in full at its place.
fn write_out(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    alias: &Node<'_>,
    parent: Parent<'_, '_>,
) -> Result<(), DeanchorError> {
    let value = to_json(alias, &doc.anchors).map_err(|e| error(alias, e.message))?;
    match parent {
        Parent::Root | Parent::Seq => {
            ed.replace(alias, &value);
            Ok(())
        }
        Parent::Map(map, key) => {
            let k = key
                .scalar()
                .ok_or_else(|| error(key, "an alias under a key that is not a scalar"))?;
            ed.set_entry(map, k, &value).map_err(|e| error(alias, e.0))
        }
    }
}

/// Writes out every alias of `anchor`, each with the anchored content.
fn write_out_aliases_of(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    anchor: usize,
) -> Result<(), DeanchorError> {
    let mut found = Vec::new();
    let mut keys = HashSet::new();
    walk_with_parents(&doc.root, &mut |n, p| {
        if matches!(n.kind, NodeKind::Alias(id) if id == anchor) {
            found.push((n, p));
        }
    });
    doc.root.walk(&mut |n| {
        if let NodeKind::Map(entries) = &n.kind {
            for (k, _) in entries {
                if matches!(k.kind, NodeKind::Alias(id) if id == anchor) {
                    keys.insert(k as *const Node<'_>);
                }
            }
        }
    });
    for (n, p) in found {
        if keys.contains(&(n as *const Node<'_>)) {
            return Err(error(
                n,
                "an alias used as a mapping key repeats a node that must change; \
                 write the key out",
            ));
        }
        write_out(ed, doc, n, p)?;
    }
    Ok(())
}

/// Visits every value and item below `root` with where it stands.
fn walk_with_parents<'n, 'a>(root: &'n Node<'a>, f: &mut dyn FnMut(&'n Node<'a>, Parent<'n, 'a>)) {
    let mut stack = vec![(root, Parent::Root)];
    while let Some((n, p)) = stack.pop() {
        f(n, p);
        match &n.kind {
            NodeKind::Seq(items) => stack.extend(items.iter().rev().map(|i| (i, Parent::Seq))),
            NodeKind::Map(entries) => {
                for (k, v) in entries.iter().rev() {
                    stack.push((v, Parent::Map(n, k)));
                    stack.push((k, Parent::Root));
                }
            }
            _ => {}
        }
    }
}
