//! Reading through anchors, aliases and merge keys, as Kubernetes does.
//!
//! [`resolve`] turns a document's tree into one without aliases or merge
//! keys: an alias becomes a copy of its anchored node, a merge key's
//! entries join the mapping in go-yaml v2's order (entries are applied in
//! document order, so a merge overrides the explicit keys before it and is
//! overridden by those after it; in `<<: [*a, *b]` the earlier source
//! wins). The copies keep the positions of the bytes they came from and
//! are marked [`Node::shared`], as is every node inside an anchored node
//! that an alias repeats: editing any of them would change more than one
//! place, so the editor refuses them and [`crate::patch::deanchor`] makes the
//! place an edit needs its own first.

use super::document::Document;
use super::events::{ALIAS_BUDGET, MAX_DEPTH};
use super::node::{Node, NodeKind, ReadError, merge_source_ok};
use super::typing::is_merge_key;
use std::collections::{HashMap, HashSet};

/// Anchor ids that some alias of `root` refers to.
pub(crate) fn aliased(root: &Node<'_>) -> HashSet<usize> {
    let mut ids = HashSet::new();
    root.walk(&mut |n| {
        if let NodeKind::Alias(id) = n.kind {
            ids.insert(id);
        }
    });
    ids
}

/// The document read through its aliases and merge keys (a copy: callers
/// resolve only documents that use them).
pub(crate) fn resolve<'a>(doc: &Document<'a>) -> Result<Document<'a>, ReadError> {
    if !doc.uses_aliases {
        return Ok(doc.clone());
    }
    let mut r = Resolver {
        anchors: &doc.anchors,
        aliased: aliased(&doc.root),
        budget: ALIAS_BUDGET,
        open: Vec::new(),
    };
    let root = r.node(&doc.root, false)?;
    Ok(Document {
        index: doc.index,
        region_start: doc.region_start,
        region_end: doc.region_end,
        line: doc.line,
        root,
        anchors: HashMap::new(),
        uses_aliases: false,
        source: doc.source.clone(),
    })
}

struct Resolver<'d, 'a> {
    anchors: &'d HashMap<usize, Node<'a>>,
    aliased: HashSet<usize>,
    budget: u64,
    /// Anchors of the nodes being read, outermost first.
    open: Vec<usize>,
}

impl<'a> Resolver<'_, 'a> {
    fn error(n: &Node<'_>, message: impl Into<String>) -> ReadError {
        ReadError {
            message: message.into(),
            line: n.line,
            col: n.col,
        }
    }

    fn node(&mut self, n: &Node<'a>, shared: bool) -> Result<Node<'a>, ReadError> {
        if self.budget == 0 {
            return Err(Self::error(
                n,
                format!("the document expands to more than {ALIAS_BUDGET} nodes through aliases"),
            ));
        }
        self.budget -= 1;
        // Reading through aliases nests as deep as the parser allows, and
        // no deeper: the stack stays small whatever the aliases do.
        if self.open.len() + 1 > MAX_DEPTH {
            return Err(Self::error(
                n,
                format!("nesting deeper than {MAX_DEPTH} levels once aliases are expanded"),
            ));
        }
        let shared = shared || (n.anchor != 0 && self.aliased.contains(&n.anchor));
        if let NodeKind::Alias(id) = n.kind {
            if self.open.contains(&id) {
                return Err(Self::error(
                    n,
                    "an alias refers to a node that contains it (`*x` inside `&x`); \
                     Kubernetes refuses it too",
                ));
            }
            let target = self
                .anchors
                .get(&id)
                .ok_or_else(|| Self::error(n, "an alias refers to an unknown anchor"))?;
            return self.node(target, true);
        }
        self.open.push(n.anchor);
        let kind = self.kind(n, shared)?;
        self.open.pop();
        Ok(Node {
            kind,
            start: n.start,
            end: n.end,
            line: n.line,
            col: n.col,
            anchor: n.anchor,
            tag: n.tag.clone(),
            flow: n.flow,
            shared,
        })
    }

    fn kind(&mut self, n: &Node<'a>, shared: bool) -> Result<NodeKind<'a>, ReadError> {
        Ok(match &n.kind {
            NodeKind::Alias(_) => unreachable!("aliases are followed in `node`"),
            NodeKind::Scalar { value, style } => NodeKind::Scalar {
                value: value.clone(),
                style: *style,
            },
            NodeKind::Seq(items) => NodeKind::Seq(
                items
                    .iter()
                    .map(|i| self.node(i, shared))
                    .collect::<Result<_, _>>()?,
            ),
            NodeKind::Map(entries) => NodeKind::Map(self.map(entries, shared)?),
        })
    }

    /// A mapping's entries in go-yaml v2's order of application.
    fn map(
        &mut self,
        entries: &[(Node<'a>, Node<'a>)],
        shared: bool,
    ) -> Result<Vec<(Node<'a>, Node<'a>)>, ReadError> {
        let mut out: Vec<(Node<'a>, Node<'a>)> = Vec::with_capacity(entries.len());
        // Which entries of `out` came from a merge key.
        let mut merged: Vec<bool> = Vec::with_capacity(entries.len());
        // An entry overrides the one with the same key, unless both are
        // written in this mapping: a repeated key stays repeated, for the
        // duplicate-key check to refuse.
        // Where each key last stands in `out`: linear in the mapping's size.
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut set = |out: &mut Vec<(Node<'a>, Node<'a>)>,
                       merged: &mut Vec<bool>,
                       (k, v): (Node<'a>, Node<'a>),
                       from_merge: bool| {
            let same = k.scalar().and_then(|s| at.get(s).copied());
            match same {
                Some(i) if from_merge || merged[i] => {
                    out[i] = (k, v);
                    merged[i] = from_merge;
                }
                _ => {
                    if let Some(s) = k.scalar() {
                        at.insert(s.to_string(), out.len());
                    }
                    out.push((k, v));
                    merged.push(from_merge);
                }
            }
        };
        for (k, v) in entries {
            let merge = matches!(&k.kind, NodeKind::Scalar { value, style }
                if is_merge_key(value, *style, k.tag.as_deref()));
            if !merge {
                let entry = (self.node(k, shared)?, self.node(v, shared)?);
                set(&mut out, &mut merged, entry, false);
                continue;
            }
            if !merge_source_ok(v, self.anchors) {
                return Err(Self::error(
                    v,
                    "a merge key (<<) needs a mapping, an alias of one, or a list of them; \
                     Kubernetes refuses it too",
                ));
            }
            // Every source is read as shared: its bytes are the anchor's.
            let source = self.node(v, true)?;
            let maps: Vec<Node<'a>> = match source.kind {
                NodeKind::Map(_) => vec![source],
                NodeKind::Seq(items) => items.into_iter().rev().collect(),
                _ => {
                    return Err(Self::error(
                        v,
                        "a merge key (<<) needs a mapping or a list of mappings; \
                         Kubernetes refuses it too",
                    ));
                }
            };
            for m in maps {
                let NodeKind::Map(es) = m.kind else {
                    return Err(Self::error(
                        v,
                        "a merge key (<<) needs a mapping or a list of mappings",
                    ));
                };
                for entry in es {
                    set(&mut out, &mut merged, entry, true);
                }
            }
        }
        Ok(out)
    }
}

/// One step from a node to a child: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The value under this key.
    Key(String),
    /// The item at this index.
    Index(usize),
}

/// The steps from `root` to the node at address `target` (a node of
/// `root`'s tree), if it is there.
pub(crate) fn path_to(root: &Node<'_>, target: *const Node<'_>) -> Option<Vec<Step>> {
    fn go(n: &Node<'_>, target: *const Node<'_>, path: &mut Vec<Step>) -> bool {
        if std::ptr::eq(n, target) {
            return true;
        }
        match &n.kind {
            NodeKind::Seq(items) => items.iter().enumerate().any(|(i, c)| {
                path.push(Step::Index(i));
                go(c, target, path) || {
                    path.pop();
                    false
                }
            }),
            NodeKind::Map(entries) => entries.iter().any(|(k, v)| {
                // A key is reached through its mapping.
                if std::ptr::eq(k, target) {
                    return true;
                }
                let Some(key) = k.scalar() else { return false };
                path.push(Step::Key(key.to_string()));
                go(v, target, path) || {
                    path.pop();
                    false
                }
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    go(root, target, &mut path).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse, to_json};
    use serde_json::json;

    fn resolved(text: &str) -> Node<'_> {
        let d = parse(text).unwrap().docs.remove(0);
        resolve(&d).unwrap().root
    }

    #[test]
    fn aliases_and_merges_read_as_kubernetes_reads_them() {
        let text = "a: &x {p: 1, q: 2}\nb: {<<: *x, q: 3}\nc: {q: 3, <<: *x}\nd: {<<: [{p: 1}, {p: 2, r: 0}]}\ne: *x\n";
        let r = resolved(text);
        let v = to_json(&r, &HashMap::new()).unwrap();
        assert_eq!(v["b"], json!({"p": 1, "q": 3}), "a later explicit key wins");
        assert_eq!(
            v["c"],
            json!({"p": 1, "q": 2}),
            "go-yaml v2: a later merge wins"
        );
        assert_eq!(v["d"], json!({"p": 1, "r": 0}), "the earlier source wins");
        assert_eq!(v["e"], json!({"p": 1, "q": 2}));
        // Where the bytes stand for more than one place.
        let shared = |k: &str| r.get(k).unwrap().shared;
        assert!(
            shared("a") && shared("e"),
            "the anchored node and its alias"
        );
        assert!(!r.get("b").unwrap().shared);
        assert!(r.path(&["b", "p"]).unwrap().shared, "merged");
        assert!(!r.path(&["b", "q"]).unwrap().shared, "explicit");
        let target = r.path(&["b", "q"]).unwrap() as *const Node<'_>;
        assert_eq!(
            path_to(&r, target),
            Some(vec![Step::Key("b".into()), Step::Key("q".into())])
        );
    }

    #[test]
    fn an_alias_inside_its_own_anchor_is_refused_not_followed_forever() {
        // Found by the fuzzer: saphyr accepts `*m` inside `&m`; the driver
        // now refuses it (yaml/events), and reading never follows it.
        assert!(parse("a: &m\n- b: *m\n").is_err());
        // Deep nesting built from aliases stops at the parser's depth (in
        // a thread with the main thread's stack, as the tool runs).
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(|| {
                // Plain nodes first, so the aliases stay under go-yaml's
                // ratio (yaml/events/aliases.rs) and only the depth is in question.
                let mut text = format!("pad: [{}]\na0: &a0 [x]\n", vec!["x"; 5000].join(", "));
                for i in 1..600 {
                    text.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
                }
                let d = parse(&text).unwrap().docs.remove(0);
                assert!(resolve(&d).unwrap_err().message.contains("nesting"));
                let e = to_json(&d.root, &d.anchors).unwrap_err();
                assert!(e.message.contains("nesting"), "{e}");
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn a_bad_merge_is_an_error_with_its_place() {
        let d = parse("a: &x [1]\nb: {<<: *x}\n").unwrap().docs.remove(0);
        let e = resolve(&d).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        // An alias of a list of mappings is no merge source for go-yaml v2
        // either (only a list written in place is).
        let d = parse("a: &x [{p: 1}]\nb: {<<: *x}\nc: {<<: [*x]}\n")
            .unwrap()
            .docs
            .remove(0);
        assert!(resolve(&d).is_err());
        assert!(to_json(&d.root, &d.anchors).is_err());
        let ok = parse("a: &x {p: 1}\nb: {<<: [*x, {q: 2}]}\n")
            .unwrap()
            .docs
            .remove(0);
        assert!(resolve(&ok).is_ok());
    }
}
