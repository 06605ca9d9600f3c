//! The tree sink: builds each document's span-aware [`Node`] tree from the
//! driver's events, and the two ways of getting trees ([`Trees`]).

use super::document::{DocInfo, Document, Stream};
use super::events::{At, DocEnd, Props, Sink, drive};
use super::node::{Node, NodeKind};
use super::source::SyntaxError;
use super::summary::SummarySink;
use saphyr_parser::ScalarStyle;
use std::borrow::Cow;
use std::collections::HashMap;

/// A collection being built: its children so far are the tail of the
/// sink's `items` or `entries`, from `start`.
struct Frame<'a> {
    node: Node<'a>,
    own_flow: bool,
    start: usize,
    key: Option<Node<'a>>,
    map: bool,
}

/// Builds every document's tree.
#[derive(Default)]
pub(crate) struct TreeSink<'a> {
    stack: Vec<Frame<'a>>,
    /// The items of the open sequences, innermost last: each collection's
    /// children are moved out in one exact allocation when it closes.
    items: Vec<Node<'a>>,
    /// The entries of the open mappings, likewise.
    entries: Vec<(Node<'a>, Node<'a>)>,
    root: Option<Node<'a>>,
    anchors: HashMap<usize, Node<'a>>,
    /// The finished documents.
    pub(crate) docs: Vec<Document<'a>>,
}

impl<'a> TreeSink<'a> {
    /// Drops the document being built: the sink then waits for the next
    /// document's events ([`Sink::end_document`] is not to be called for
    /// this one).
    pub(crate) fn abandon(&mut self) {
        self.stack.clear();
        self.items.clear();
        self.entries.clear();
        self.root = None;
        self.anchors.clear();
    }

    fn node(kind: NodeKind<'a>, props: Props, at: At) -> Node<'a> {
        Node {
            kind,
            start: at.start,
            end: at.end,
            line: at.line,
            col: at.col,
            anchor: props.anchor,
            tag: props.tag,
            flow: props.flow,
            shared: false,
        }
    }

    /// A node is complete: into its parent, or the root.
    fn place(&mut self, node: Node<'a>) {
        if node.anchor != 0 {
            self.anchors.insert(node.anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(f) if !f.map => self.items.push(node),
            Some(f) => match f.key.take() {
                None => f.key = Some(node),
                Some(k) => self.entries.push((k, node)),
            },
        }
    }
}

impl<'a> Sink<'a> for TreeSink<'a> {
    fn scalar(&mut self, value: Cow<'a, str>, style: ScalarStyle, props: Props, at: At) {
        let node = Self::node(NodeKind::Scalar { value, style }, props, at);
        self.place(node);
    }

    fn alias(&mut self, id: usize, props: Props, at: At) {
        self.place(Self::node(NodeKind::Alias(id), props, at));
    }

    fn open(&mut self, map: bool, own_flow: bool, props: Props, at: At) {
        let kind = if map {
            NodeKind::Map(Vec::new())
        } else {
            NodeKind::Seq(Vec::new())
        };
        let start = if map {
            self.entries.len()
        } else {
            self.items.len()
        };
        self.stack.push(Frame {
            node: Self::node(kind, props, at),
            own_flow,
            start,
            key: None,
            map,
        });
    }

    fn close(&mut self, end: usize) {
        let f = self.stack.pop().expect("balanced events");
        let mut node = f.node;
        // A flow collection ends at its bracket, a block one with its last
        // child.
        let last = if f.map {
            self.entries[f.start..].last().map(|(_, v)| v.end)
        } else {
            self.items[f.start..].last().map(|n| n.end)
        };
        node.end = if f.own_flow {
            end
        } else {
            last.unwrap_or(node.start)
        };
        node.kind = if f.map {
            NodeKind::Map(self.entries.drain(f.start..).collect())
        } else {
            NodeKind::Seq(self.items.drain(f.start..).collect())
        };
        self.place(node);
    }

    fn end_document(&mut self, doc: DocEnd) {
        let root = self.root.take().expect("document has a root node");
        self.docs.push(Document {
            index: doc.index,
            region_start: doc.region_start,
            region_end: doc.region_end,
            line: doc.line,
            root,
            anchors: std::mem::take(&mut self.anchors),
            uses_aliases: doc.uses_aliases,
            source: doc.source,
        });
    }
}

/// Parses and validates the whole stream, building every document's tree.
pub fn parse(text: &str) -> Result<Stream<'_>, SyntaxError> {
    let mut sink = TreeSink::default();
    drive(text, &mut sink)?;
    Ok(Stream {
        text,
        docs: sink.docs,
    })
}

/// One pass that builds every document's tree and its [`DocInfo`] together.
pub(crate) fn parse_described(
    text: &str,
) -> Result<(Vec<Document<'_>>, Vec<DocInfo>), SyntaxError> {
    let mut sinks = (TreeSink::default(), SummarySink::new(text, &|_, _| true));
    drive(text, &mut sinks)?;
    Ok((sinks.0.docs, sinks.1.infos))
}

/// The documents' trees: built up front (small inputs, one pass), or built
/// on demand from the text, one document at a time (large inputs).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trees<'x, 'a> {
    /// Every document's tree, in stream order.
    Built(&'x [Document<'a>]),
    /// Parse each document's region when it is needed.
    OnDemand,
}

impl<'x, 'a> Trees<'x, 'a> {
    /// The tree of document `info`.
    pub(crate) fn get(
        &self,
        text: &'a str,
        info: &DocInfo,
    ) -> Result<Cow<'x, Document<'a>>, SyntaxError> {
        match self {
            Trees::Built(docs) => Ok(Cow::Borrowed(&docs[info.index - 1])),
            Trees::OnDemand => parse_region(text, info).map(Cow::Owned),
        }
    }
}

/// Builds the tree of one document of a stream that the summary pass
/// validated: parses its region again, positions relative to the whole
/// `text`.
pub(crate) fn parse_region<'a>(text: &'a str, info: &DocInfo) -> Result<Document<'a>, SyntaxError> {
    let local = &text[info.region_start..info.region_end];
    let shift = |mut e: SyntaxError| {
        e.line += info.line_offset;
        e.doc += info.index - 1;
        e
    };
    let mut docs = parse(local).map_err(shift)?.docs;
    if docs.len() != 1 {
        return Err(shift(SyntaxError {
            message: format!("expected one document here, found {}", docs.len()),
            line: 1,
            col: 1,
            doc: 1,
            template: info.source.clone(),
        }));
    }
    let mut doc = docs.pop().expect("one document");
    let (bytes, lines) = (info.region_start, info.line_offset);
    doc.index = info.index;
    doc.region_start += bytes;
    doc.region_end += bytes;
    doc.line += lines;
    doc.root.shift(bytes, lines);
    for n in doc.anchors.values_mut() {
        n.shift(bytes, lines);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice<'a>(s: &'a Stream<'_>, n: &Node<'_>) -> &'a str {
        &s.text[n.start..n.end]
    }

    #[test]
    fn spans_are_exact() {
        let text = "---\n# Source: t/x.yaml\na: \"x\"  # c\nb: |\n  text\n\nc:\n  - n: 'it''s'\n  - [1, 2]\nd: é\ne:\n";
        let s = parse(text).unwrap();
        assert_eq!(s.docs.len(), 1);
        let d = &s.docs[0];
        assert_eq!(d.source.as_deref(), Some("t/x.yaml"));
        let r = &d.root;
        assert_eq!(slice(&s, r.get("a").unwrap()), "\"x\"");
        assert_eq!(slice(&s, r.get("b").unwrap()), "|\n  text");
        let c = r.get("c").unwrap();
        assert_eq!(slice(&s, c), "- n: 'it''s'\n  - [1, 2]");
        assert_eq!(
            slice(&s, &c.items().unwrap()[0].get("n").unwrap().clone()),
            "'it''s'"
        );
        assert_eq!(slice(&s, r.get("d").unwrap()), "é");
        let e = r.get("e").unwrap();
        assert_eq!(e.start, text.len() - 1);
    }

    #[test]
    fn flow_collections_end_at_their_bracket() {
        // Found by attacking `patches`: the parser's end runs over blanks
        // and a comment, and sits at the opening bracket of `[ ]`.
        for (text, want) in [
            ("a: [1] # c\n", "[1]"),
            ("a: {b: 1}  \nc: 2\n", "{b: 1}"),
            ("a: [ ]\n", "[ ]"),
            ("a: &x [1]   # x\nb: 2\n", "&x [1]"),
            ("a: [[1], {b: [2]}] # c\n", "[[1], {b: [2]}]"),
        ] {
            let s = parse(text).unwrap();
            let n = s.docs[0].root.get("a").unwrap();
            assert_eq!(&text[n.start..n.end], want, "{text:?}");
        }
        // A block sequence whose first item is a flow collection starts at
        // that bracket: it is still block style (found by the scheduling
        // property test).
        let text = "a:\n- {}\n- [1] # c\n";
        let s = parse(text).unwrap();
        let a = s.docs[0].root.get("a").unwrap();
        assert!(!a.flow);
        assert_eq!(&text[a.start..a.end], "- {}\n- [1]");
        let items = a.items().unwrap();
        assert_eq!(&text[items[0].start..items[0].end], "{}");
        assert!(items[0].flow);
    }

    #[test]
    fn errors_name_document_template_and_line() {
        let text = "---\n# Source: a.yaml\nx: 1\n---\n# Source: b.yaml\ny: [1\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.doc, 2);
        assert_eq!(e.template.as_deref(), Some("b.yaml"));
        assert!(e.line >= 6, "{e}");
    }

    #[test]
    fn a_region_parsed_again_lands_where_it_was() {
        let text = "a: 1\n---\n# Source: t.yaml\nb: [x, {c: d}]\n";
        let (docs, infos) = parse_described(text).unwrap();
        for (d, i) in docs.iter().zip(&infos) {
            let again = parse_region(text, i).unwrap();
            assert_eq!(
                (again.root.start, again.root.end, again.root.line),
                (d.root.start, d.root.end, d.root.line)
            );
            assert_eq!(
                (again.region_start, again.region_end),
                (d.region_start, d.region_end)
            );
        }
    }
}
