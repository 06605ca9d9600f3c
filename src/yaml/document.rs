//! What reading the stream yields: the [`Stream`] of [`Document`]s (trees),
//! and the [`DocInfo`] a validating pass learns of each document without
//! building its tree.

use super::node::Node;
use super::source::HELM4_FILENAME;
use std::collections::HashMap;

/// The input stream, validated and cut into documents.
#[derive(Debug)]
pub struct Stream<'a> {
    /// The whole input text.
    pub text: &'a str,
    /// Documents in input order.
    pub docs: Vec<Document<'a>>,
}

/// One YAML document of the stream.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    /// 1-based position in the stream.
    pub index: usize,
    /// Byte offset where the document's region starts (just after the
    /// previous document), so `# Source:` comments before its content count.
    pub region_start: usize,
    /// Byte offset just past the document's region.
    pub region_end: usize,
    /// 1-based line of the document's start marker or first content.
    pub line: usize,
    /// The document's root node.
    pub root: Node<'a>,
    /// Anchored nodes of this document, by anchor id, for resolving aliases.
    pub anchors: HashMap<usize, Node<'a>>,
    /// True when the document uses aliases or merge keys.
    pub uses_aliases: bool,
    /// Helm 3's `# Source: <template>` comment, when the document has one.
    pub source: Option<String>,
}

impl Document<'_> {
    /// The template this document came from: Helm 3's `# Source:` line or
    /// Helm 4's `postrenderer.helm.sh/postrender-filename` annotation.
    pub fn template(&self) -> Option<String> {
        if let Some(s) = &self.source {
            return Some(s.clone());
        }
        self.root
            .path(&["metadata", "annotations", HELM4_FILENAME])
            .and_then(|n| n.scalar())
            .map(str::to_string)
    }

    /// `document N (template T)` for messages.
    pub fn label(&self) -> String {
        label(self.index, self.template().as_deref())
    }

    /// The line ending the document uses: `\r\n` when it has any, `\r`
    /// when it breaks lines with `\r` alone, else `\n`.
    pub(crate) fn eol(&self, text: &str) -> &'static str {
        let region = &text[self.region_start..self.region_end];
        if region.contains("\r\n") {
            "\r\n"
        } else if region.contains('\r') && !region.contains('\n') {
            "\r"
        } else {
            "\n"
        }
    }
}

/// What a validating pass over the events learns of one document, without
/// building its tree: enough to know whether the document can matter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocInfo {
    /// 1-based position in the stream.
    pub index: usize,
    /// Byte offset where the document's region starts.
    pub region_start: usize,
    /// Byte offset just past the document's region.
    pub region_end: usize,
    /// Lines before `region_start`.
    pub line_offset: usize,
    /// Helm 3's `# Source:` comment.
    pub source: Option<String>,
    /// Helm 4's `postrenderer.helm.sh/postrender-filename` annotation.
    pub filename: Option<String>,
    /// Top-level `kind`, when it is a string.
    pub kind: Option<String>,
    /// True when the root mapping has an `apiVersion`.
    pub api_version: bool,
    /// `metadata.labels` entries whose key and value are strings (workloads
    /// only), kept once for the documents that repeat them.
    pub labels: std::sync::Arc<[(String, String)]>,
    /// True when the document uses aliases or merge keys.
    pub uses_aliases: bool,
    /// True when a mapping near the root (`metadata`, `labels`...) repeats a
    /// key, so the fields above cannot be trusted without reading the tree.
    pub duplicate_keys: bool,
}

impl DocInfo {
    /// The template this document came from (Helm 3 or Helm 4).
    pub fn template(&self) -> Option<&str> {
        self.source.as_deref().or(self.filename.as_deref())
    }

    /// `document N (template T)` for messages.
    pub fn label(&self) -> String {
        label(self.index, self.template())
    }
}

/// `document N (template T)` for messages: the document's 1-based
/// position and template.
pub(crate) fn label(index: usize, template: Option<&str>) -> String {
    match template {
        Some(t) => format!("document {index} ({})", super::source::shown(t)),
        None => format!("document {index}"),
    }
}
