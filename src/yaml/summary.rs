//! The summary sink: what a document is (kind, labels, template) without
//! building its tree.

use super::document::DocInfo;
use super::events::{At, DocEnd, Props, Role, Sink};
use super::source::HELM4_FILENAME;
use super::spans::{Keys, LineCounter};
use super::typing::is_string;
use crate::k8s::WorkloadKind;
use saphyr_parser::ScalarStyle;
use std::borrow::Cow;

/// How deep, from the root, keys are remembered: deep enough for
/// `metadata.labels`, where a repeated key could change what a document is
/// taken for.
const NEAR_ROOT: usize = 3;

/// One open collection.
struct Frame<'t> {
    /// The key being read or whose value is open (near the root only).
    key: Option<Cow<'t, str>>,
    /// Keys seen so far (near the root only).
    seen: Keys<'t, ()>,
}

/// Which documents a scan keeps: given the text scanned (a piece of the
/// stream, on several threads) and a finished document's summary (its
/// region and index relative to that piece), true to keep it. It must
/// judge the document's content, not its place.
pub(crate) type Keep<'k> = &'k (dyn Fn(&str, &DocInfo) -> bool + Sync);

/// Describes every document ([`DocInfo`]) its `keep` keeps.
pub(crate) struct SummarySink<'t> {
    /// The text scanned.
    pub(crate) text: &'t str,
    lines: LineCounter,
    /// The open collections near the root (at most [`NEAR_ROOT`]).
    stack: Vec<Frame<'t>>,
    /// How many open collections lie deeper, where nothing is noted.
    deep: usize,
    cur: DocInfo,
    /// The current document's `metadata.labels`, until it ends.
    labels: Vec<(String, String)>,
    /// The current document's top-level `metadata` mapping has closed.
    metadata_read: bool,
    /// Which finished documents to keep.
    keep: Keep<'t>,
    /// The finished documents kept: the others leave nothing behind, so
    /// that memory is bounded by the documents that can matter, not by the
    /// stream's count of documents.
    pub(crate) infos: Vec<DocInfo>,
    /// How many documents were read, kept or not.
    pub(crate) count: usize,
    /// Where the last document's region ends.
    pub(crate) last_end: Option<usize>,
}

impl<'t> SummarySink<'t> {
    pub(crate) fn new(text: &'t str, keep: Keep<'t>) -> Self {
        SummarySink {
            text,
            keep,
            lines: LineCounter::default(),
            stack: Vec::new(),
            deep: 0,
            cur: DocInfo::default(),
            labels: Vec::new(),
            metadata_read: false,
            infos: Vec::new(),
            count: 0,
            last_end: None,
        }
    }

    /// The current document's top-level `kind`, once read.
    pub(crate) fn kind(&self) -> Option<&str> {
        self.cur.kind.as_deref()
    }

    /// The current document's `metadata.labels`, once its `metadata`
    /// mapping has closed.
    pub(crate) fn labels(&self) -> Option<&[(String, String)]> {
        self.metadata_read.then_some(&self.labels)
    }

    /// A key near the root: remembered, and checked against its siblings.
    /// `at` is where it stands: a key written as its value (plain, no
    /// folding) is kept as a slice of the text, without a copy.
    fn key(&mut self, key: Option<&str>, at: At) {
        let depth = self.stack.len();
        let text = self.text;
        let Some(f) = self.stack.last_mut().filter(|_| self.deep == 0) else {
            return;
        };
        f.key = None;
        let Some(k) = key else {
            return;
        };
        let k: Cow<'t, str> = match text.get(at.start..at.end) {
            Some(slice) if slice == k => Cow::Borrowed(slice),
            _ => Cow::Owned(k.to_string()),
        };
        if f.seen.add(k.clone(), ()).is_some() {
            self.cur.duplicate_keys = true;
        }
        if depth == 1 && k == "apiVersion" {
            self.cur.api_version = true;
        }
        f.key = Some(k);
    }

    /// A value: noted if its path matters and Kubernetes reads it as a
    /// string (the path is tested first: typing every scalar costs).
    fn record(&mut self, value: &str, string: impl Fn() -> bool) {
        let key = |i: usize| self.stack.get(i).and_then(|f| f.key.as_deref());
        match self.stack.len() {
            1 if key(0) == Some("kind") && string() => self.cur.kind = Some(value.to_string()),
            3 if key(0) == Some("metadata") => match (key(1), key(2)) {
                (Some("labels"), Some(k)) if string() => {
                    let entry = (k.to_string(), value.to_string());
                    self.labels.push(entry);
                }
                (Some("annotations"), Some(HELM4_FILENAME)) if string() => {
                    self.cur.filename = Some(value.to_string())
                }
                _ => {}
            },
            _ => {}
        }
    }
}

impl<'a> Sink<'a> for SummarySink<'_> {
    fn scalar(&mut self, value: Cow<'a, str>, style: ScalarStyle, props: Props, at: At) {
        self.scalar_seen(&value, style, &props, at);
    }

    fn scalar_seen(&mut self, value: &str, style: ScalarStyle, props: &Props, at: At) {
        if self.deep > 0 {
            return; // most scalars: nothing below the near-root levels matters
        }
        match props.role {
            Role::Key => self.key(Some(value), at),
            Role::Value => {
                let tag = props.tag.as_deref();
                self.record(value, || is_string(value, style, tag))
            }
            _ => {}
        }
    }

    fn alias(&mut self, _: usize, props: Props, at: At) {
        if props.role == Role::Key {
            self.key(None, at);
        }
    }

    fn open(&mut self, _: bool, _: bool, props: Props, at: At) {
        if props.role == Role::Key {
            self.key(None, at);
        }
        if self.deep > 0 || self.stack.len() == NEAR_ROOT {
            self.deep += 1;
            return;
        }
        self.stack.push(Frame {
            key: None,
            seen: Keys::default(),
        });
    }

    fn close(&mut self, _: usize) {
        if self.deep > 0 {
            self.deep -= 1;
        } else {
            self.stack.pop();
            if self.stack.len() == 1 && self.stack[0].key.as_deref() == Some("metadata") {
                self.metadata_read = true;
            }
        }
    }

    fn end_document(&mut self, doc: DocEnd) {
        self.count += 1;
        self.last_end = Some(doc.region_end);
        self.metadata_read = false;
        let mut cur = std::mem::take(&mut self.cur);
        let labels = std::mem::take(&mut self.labels);
        cur.index = doc.index;
        cur.region_start = doc.region_start;
        cur.region_end = doc.region_end;
        cur.line_offset = self.lines.lines_before(self.text, doc.region_start);
        cur.source = doc.source;
        cur.uses_aliases = doc.uses_aliases;
        // Only workloads' labels matter (`keep` reads the kind alone).
        if cur
            .kind
            .as_deref()
            .is_some_and(|k| WorkloadKind::parse(k).is_some())
        {
            cur.labels = crate::shared::labels(labels);
        }
        if !(self.keep)(self.text, &cur) {
            return;
        }
        self.infos.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use crate::yaml::scan::{NoVisit, scan, scan_parallel};

    #[test]
    fn scan_describes_documents() {
        let text = "# c\n---\n# Source: t/a.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  labels: {x: \"1\", y: on}\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'f.yaml'\ndata: {k: v}\n...\n--- [1, 2]\n---\nkind: 5\n---\nmetadata:\n  labels: {a: !!str 1, a: x}\n";
        let infos = scan(text).unwrap();
        let docs = parse(text).unwrap().docs;
        assert_eq!(infos.len(), docs.len());
        for (i, d) in infos.iter().zip(&docs) {
            assert_eq!(
                (i.region_start, i.region_end),
                (d.region_start, d.region_end)
            );
        }
        // A scan keeps what its `keep` keeps, numbered as in the stream.
        let kept = scan_parallel(text, 1, &|_, i: &DocInfo| i.duplicate_keys, &NoVisit)
            .unwrap()
            .0;
        assert_eq!(kept.iter().map(|i| i.index).collect::<Vec<_>>(), [4]);
        assert_eq!(kept[0], infos[3]);
        let a = &infos[0];
        assert_eq!(a.kind.as_deref(), Some("Deployment"));
        assert_eq!(
            *a.labels,
            [("x".to_string(), "1".to_string())],
            "`on` is a bool, not a label value"
        );
        assert_eq!(a.source.as_deref(), Some("t/a.yaml"));
        assert_eq!(a.filename.as_deref(), Some("f.yaml"));
        assert!(infos[1].kind.is_none());
        assert!(infos[2].kind.is_none(), "5 is not a kind");
        assert!(!infos[0].duplicate_keys && infos[3].duplicate_keys);
    }
}
