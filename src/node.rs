//! A span-aware YAML node tree.
//!
//! Every node knows the exact byte range it occupies in the input, so that the
//! patcher can splice new text into a document without re-serialising
//! anything it did not mean to change. Scalars keep their style and tag, which
//! is what YAML 1.1 typing (see [`crate::yaml11`]) needs to read them the way
//! Kubernetes does.

use saphyr_parser::ScalarStyle;
use std::borrow::Cow;

/// A YAML node with its exact position in the input.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// What the node holds.
    pub kind: NodeKind<'a>,
    /// Byte offset where the node starts (its anchor or tag included).
    pub start: usize,
    /// Byte offset just past the node's last character.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column (in characters) of `start`.
    pub col: usize,
    /// Anchor id given by the parser (0: none).
    pub anchor: usize,
    /// Resolved tag (`tag:yaml.org,2002:str`, `!local`...), when one is written.
    pub tag: Option<String>,
    /// True when the node sits inside a flow collection or is one.
    pub flow: bool,
}

/// The payload of a [`Node`].
#[derive(Debug, Clone)]
pub enum NodeKind<'a> {
    /// A scalar: its value after unescaping and folding, and how it was written.
    Scalar {
        /// The scalar's value.
        value: Cow<'a, str>,
        /// How it was written (plain, quoted, block).
        style: ScalarStyle,
    },
    /// A sequence and its items.
    Seq(Vec<Node<'a>>),
    /// A mapping and its entries, in document order.
    Map(Vec<(Node<'a>, Node<'a>)>),
    /// An alias (`*name`) to the anchor with this id.
    Alias(usize),
}

impl<'a> Node<'a> {
    /// The entries of a mapping, or `None` for any other node.
    pub fn entries(&self) -> Option<&[(Node<'a>, Node<'a>)]> {
        match &self.kind {
            NodeKind::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The items of a sequence, or `None` for any other node.
    pub fn items(&self) -> Option<&[Node<'a>]> {
        match &self.kind {
            NodeKind::Seq(i) => Some(i),
            _ => None,
        }
    }

    /// The raw value of a scalar (whatever its YAML 1.1 type).
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of a scalar that Kubernetes reads as a string (quoted, tagged
    /// `!!str`, or plain and not a YAML 1.1 bool, null or number).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, style } => {
                if crate::yaml11::is_string(value, *style, self.tag.as_deref()) {
                    Some(value)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The entry of a mapping whose key is the string `key`.
    pub fn entry(&self, key: &str) -> Option<&(Node<'a>, Node<'a>)> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entry(key).map(|(_, v)| v)
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node<'a>> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }

    /// True for a plain scalar that YAML 1.1 reads as null (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { value, style } => {
                *style == ScalarStyle::Plain
                    && self.tag.is_none()
                    && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// A short description of the node's type, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Alias(_) => "an alias",
        }
    }

    /// Moves the node and everything below it by `bytes` and `lines`
    /// (positions of a document parsed on its own, made absolute).
    pub fn shift(&mut self, bytes: usize, lines: usize) {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            n.start += bytes;
            n.end += bytes;
            n.line += lines;
            match &mut n.kind {
                NodeKind::Seq(items) => stack.extend(items.iter_mut()),
                NodeKind::Map(entries) => {
                    for (k, v) in entries.iter_mut() {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
    }

    /// Visits this node and every node below it, depth first.
    pub fn walk<'s>(&'s self, f: &mut dyn FnMut(&'s Node<'a>)) {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            f(n);
            match &n.kind {
                NodeKind::Seq(items) => stack.extend(items.iter().rev()),
                NodeKind::Map(entries) => {
                    for (k, v) in entries.iter().rev() {
                        stack.push(v);
                        stack.push(k);
                    }
                }
                _ => {}
            }
        }
    }
}
