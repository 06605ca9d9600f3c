//! The one event driver: saphyr-parser's events, made exact and checked,
//! pushed into a [`Sink`].
//!
//! Everything both ways of reading the stream must agree on lives here, so
//! they agree by construction: byte positions (exact scalar bounds, the `-`
//! that opens a block sequence, an empty value just after its colon), the
//! key/value role of each node, the nesting limit, the alias budget,
//! document boundaries and the template of each document, tags, and how
//! errors are located. The tree builder ([`super::tree`]) and the
//! summariser ([`super::summary`]) are sinks; a pair of sinks is a sink,
//! so one pass can feed both.
//!
//! The events come from `reader.rs`: saphyr-parser's, or for each document
//! in the plain block style Helm renders, `fast.rs`'s, which are exactly
//! the parser's (tested against it) at several times its speed.
//!
//! Two of go-yaml v2's rules, which Kubernetes inherits, sit beside it:
//! `aliases.rs` (the budget of nodes a document may stand for through its
//! aliases) and `go_breaks.rs` (the characters go-yaml reads as line
//! breaks where this parser does not, and the parser's messages).
//!
//! It imports saphyr-parser and the YAML layer's source, spans and typing;
//! nothing else.

mod aliases;
mod fast;
mod go_breaks;
mod reader;

use super::source::{ErrorAt, SyntaxError, first_source, syntax_error};
use super::spans::{after_colon, after_properties, block_seq_start, line_col, scalar_bounds};
use super::typing::is_merge_key;
use aliases::{Sizes, excessive_aliasing};
use fast::Ev;
use go_breaks::{GoBreaks, go_break_message, parser_message};
use reader::Events;
use saphyr_parser::{Event, ScalarStyle, Tag};
use std::borrow::Cow;

/// Deepest nesting of collections accepted in one document. Kubernetes
/// objects stay far below it; absurd nesting is refused quickly instead of
/// exhausting the stack.
pub(crate) const MAX_DEPTH: usize = 512;

/// Most nodes one document may stand for once its aliases are expanded:
/// the one alias budget, used while reading and while converting trees to
/// JSON. go-yaml (and so Kubernetes) refuses excessive aliasing too; this
/// keeps "billion laughs" documents from passing through.
pub(crate) const ALIAS_BUDGET: u64 = 2_000_000;

/// Where a node stands in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The document's root.
    Root,
    /// A mapping key.
    Key,
    /// A mapping value.
    Value,
    /// A sequence item.
    Item,
}

/// Exact position of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    /// First byte (an anchor or tag before the content included).
    pub(crate) start: usize,
    /// Byte just past the node (for collections: past their opening token;
    /// the end arrives with [`Sink::close`]).
    pub(crate) end: usize,
    /// 1-based line of `start`.
    pub(crate) line: usize,
    /// 1-based column (in characters) of `start`.
    pub(crate) col: usize,
}

/// Anchor, tag and context of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Props {
    /// Anchor id (0: none).
    pub(crate) anchor: usize,
    /// The resolved tag (`tag:yaml.org,2002:str`, `!local`), when written.
    pub(crate) tag: Option<String>,
    /// Where the node stands in its parent.
    pub(crate) role: Role,
    /// True inside a flow collection, or for a flow collection itself.
    pub(crate) flow: bool,
}

/// What the driver knows of a document when it ends.
#[derive(Debug, Clone)]
pub(crate) struct DocEnd {
    /// 1-based position in the stream.
    pub(crate) index: usize,
    /// Byte offset where the region starts (just after the previous
    /// document), so `# Source:` comments before the content count.
    pub(crate) region_start: usize,
    /// Byte offset just past the region: past `...` when written, else past
    /// the content.
    pub(crate) region_end: usize,
    /// 1-based line of the document's start marker or first content.
    pub(crate) line: usize,
    /// True when the document uses aliases or merge keys.
    pub(crate) uses_aliases: bool,
    /// Helm 3's `# Source:` comment before the content.
    pub(crate) source: Option<String>,
}

/// Receives a document's nodes in order, as [`drive`] finds them.
pub(crate) trait Sink<'a> {
    /// A scalar, its value unescaped and folded.
    fn scalar(&mut self, value: Cow<'a, str>, style: ScalarStyle, props: Props, at: At);
    /// A scalar seen without being taken, for a sink that keeps nothing of
    /// it: a pair of sinks hands its second sink the scalar this way, so the
    /// value (often an owned string) is not copied.
    fn scalar_seen(&mut self, value: &str, style: ScalarStyle, props: &Props, at: At) {
        self.scalar(Cow::Owned(value.to_string()), style, props.clone(), at);
    }
    /// An alias to the anchor with id `id`.
    fn alias(&mut self, id: usize, props: Props, at: At);
    /// A collection opens (`map`: a mapping, else a sequence; `own_flow`: it
    /// is written in flow style itself).
    fn open(&mut self, map: bool, own_flow: bool, props: Props, at: At);
    /// The innermost open collection closes; `end` is just past its closing
    /// bracket for a flow collection.
    fn close(&mut self, end: usize);
    /// The document ends.
    fn end_document(&mut self, doc: DocEnd);
}

impl<'a, A: Sink<'a>, B: Sink<'a>> Sink<'a> for (A, B) {
    fn scalar(&mut self, value: Cow<'a, str>, style: ScalarStyle, props: Props, at: At) {
        self.1.scalar_seen(&value, style, &props, at);
        self.0.scalar(value, style, props, at);
    }
    fn alias(&mut self, id: usize, props: Props, at: At) {
        self.0.alias(id, props.clone(), at);
        self.1.alias(id, props, at);
    }
    fn open(&mut self, map: bool, own_flow: bool, props: Props, at: At) {
        self.0.open(map, own_flow, props.clone(), at);
        self.1.open(map, own_flow, props, at);
    }
    fn close(&mut self, end: usize) {
        self.0.close(end);
        self.1.close(end);
    }
    fn end_document(&mut self, doc: DocEnd) {
        self.0.end_document(doc.clone());
        self.1.end_document(doc);
    }
}

/// One open collection.
struct Open {
    map: bool,
    /// In a mapping: the next node is a key.
    want_key: bool,
    /// Written in flow style itself.
    own_flow: bool,
    /// Flow style, itself or by an enclosing collection.
    flow: bool,
    anchor: usize,
    /// Where it opened (byte, line, column), for errors.
    opened: (usize, usize, usize),
    /// Just past its opening bracket (flow style only).
    inside: usize,
    /// End of the last key read (for an empty value after it).
    key_end: usize,
}

fn tag_text(tag: Option<Cow<'_, Tag>>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle, t.suffix))
}

/// Just past the `]` or `}` that closes a flow collection whose content
/// ends at `from`: the first character after it that is not a blank, a
/// comma or a comment. (The parser's span of the end event runs on over
/// blanks and a comment, and stands at the opening bracket when the
/// collection is empty.) `fallback` if the text says otherwise.
fn closing_bracket(text: &str, from: usize, fallback: usize) -> usize {
    let b = text.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b']' | b'}' => return i + 1,
            _ => return fallback,
        }
    }
    fallback
}

/// Reads the whole of `text`, pushing every document's nodes into `sink`.
/// Stops at the first syntax error, too deep nesting or alias bomb.
pub(crate) fn drive<'a>(text: &'a str, sink: &mut impl Sink<'a>) -> Result<(), SyntaxError> {
    drive_from(text, Events::new(text, true), sink)
}

/// [`drive`] on the given events of `text`.
fn drive_from<'a>(
    text: &'a str,
    mut events: Events<'a>,
    sink: &mut impl Sink<'a>,
) -> Result<(), SyntaxError> {
    let mut stack: Vec<Open> = Vec::new();
    let mut sizes = Sizes::default();
    let mut index = 1usize;
    let mut region_start = 0usize;
    let mut doc_line = 1usize;
    // End of the previous token (where a block scalar's header is looked
    // for), the furthest end of the content, and where the content starts.
    let mut prev_end = 0usize;
    let mut content_end = 0usize;
    let mut content_start: Option<usize> = None;
    let mut uses_aliases = false;
    // go-yaml v2's alias ratio: nodes decoded, and those decoded through an
    // alias (see `excessive_aliasing`).
    let (mut decoded, mut through_aliases) = (0u64, 0u64);
    let mut breaks = GoBreaks::new(text);
    // Where the explicit document markers (`---`) stand.
    let mut markers: Vec<usize> = Vec::new();
    let fail = |region_start: usize, index: usize, pos: usize, line, col, message| {
        let at = ErrorAt {
            region_start,
            pos,
            line,
            col,
            doc: index,
        };
        syntax_error(text, at, message)
    };
    let break_error = |breaks: &GoBreaks, region_start: usize, region_end: usize, index| {
        breaks.first_outside(region_start, region_end).map(|pos| {
            let (line, col) = line_col(text, pos);
            fail(
                region_start,
                index,
                pos,
                line,
                col,
                go_break_message(text, pos),
            )
        })
    };
    // Which limit a document over the node budget hit: its aliases, or its
    // own size.
    let budget_message = |through_aliases: u64| {
        if through_aliases > 0 {
            format!(
                "the document expands to more than {ALIAS_BUDGET} nodes through its aliases \
                 (an alias bomb?); Kubernetes would refuse it too"
            )
        } else {
            format!(
                "the document has more than {ALIAS_BUDGET} nodes (polyrepo-render's limit for \
                 one document; no Kubernetes object is that large: the API server refuses \
                 requests over about 3 MiB)"
            )
        }
    };

    loop {
        let Ev {
            event,
            mut start,
            end,
            mut line,
            col,
        } = match events.next() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err((pos, line, col, info))) => {
                let message = parser_message(&info);
                return Err(fail(region_start, index, pos, line, col + 1, message));
            }
        };
        let mut col = col + 1;
        // The role and context of a node opening here.
        let parent = stack.last();
        let role = match parent {
            None => Role::Root,
            Some(p) if !p.map => Role::Item,
            Some(p) if p.want_key => Role::Key,
            Some(_) => Role::Value,
        };
        let in_flow = parent.is_some_and(|p| p.flow);
        let key_end = parent.map_or(0, |p| p.key_end);
        // (size for the alias budget, anchor) of a node completed here.
        let is_map = matches!(event, Event::MappingStart(..));
        let done = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(explicit) => {
                if explicit {
                    markers.push(start);
                } else if index > 1 {
                    // After `...`, a document without `---`: go-yaml
                    // decodes the first document of a chunk only, and Helm
                    // and Kubernetes cut chunks at `---` lines alone.
                    let message = "a document after `...` that does not start with `---`: \
                                   Kubernetes reads only the first document of each part \
                                   between `---` lines, so this one would be dropped without a \
                                   word; start it with `---`"
                        .to_string();
                    return Err(fail(region_start, index, start, line, col, message));
                }
                doc_line = line;
                prev_end = end;
                continue;
            }
            Event::DocumentEnd => {
                let region_end = if text[start..end].starts_with("...") {
                    end
                } else {
                    start.max(content_end)
                };
                if let Some(e) = break_error(&breaks, region_start, region_end, index) {
                    return Err(e);
                }
                let head_end = content_start.unwrap_or(region_end).max(region_start);
                sink.end_document(DocEnd {
                    index,
                    region_start,
                    region_end,
                    line: doc_line,
                    uses_aliases,
                    source: first_source(&text[region_start..head_end]),
                });
                index += 1;
                region_start = region_end;
                prev_end = region_end;
                content_end = region_end;
                content_start = None;
                uses_aliases = false;
                sizes = Sizes::default();
                (decoded, through_aliases) = (0, 0);
                continue;
            }
            Event::Alias(id) => {
                // go-yaml reads a document on its own and refuses an alias
                // to a node that contains it: the anchor must be complete,
                // and in this document.
                if !sizes.complete(id) {
                    let message = "this alias refers to an anchor not defined earlier in this \
                                   document (anchors do not reach across `---`) or to a node \
                                   that contains the alias; Kubernetes would refuse it too"
                        .to_string();
                    return Err(fail(region_start, index, start, line, col, message));
                }
                uses_aliases = true;
                let expanded = sizes.alias(id);
                decoded += 1 + expanded;
                through_aliases += expanded;
                if excessive_aliasing(decoded, through_aliases) {
                    let message = "the document contains excessive aliasing: go-yaml (and so \
                                   Kubernetes) refuses it"
                        .to_string();
                    return Err(fail(region_start, index, start, line, col, message));
                }
                prev_end = end;
                content_end = content_end.max(end);
                content_start.get_or_insert(start);
                let props = Props {
                    anchor: 0,
                    tag: None,
                    role,
                    flow: in_flow,
                };
                sink.alias(
                    id,
                    props,
                    At {
                        start,
                        end,
                        line,
                        col,
                    },
                );
                (sizes.alias(id), 0)
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag_text(tag);
                let (mut s, mut e) = scalar_bounds(text, start, end, style, prev_end, &value);
                // An empty value (`key:`) sits just after the colon.
                if role == Role::Value
                    && !in_flow
                    && style == ScalarStyle::Plain
                    && value.is_empty()
                {
                    let p = after_colon(text, key_end);
                    (s, e) = (p, p);
                    // An empty value with an anchor or tag (`key: &a`) is
                    // those properties: an edit replaces them, never leaves
                    // them behind to stick to the next text.
                    if anchor != 0 || tag.is_some() {
                        let b = text.as_bytes();
                        let blank = |i: usize| matches!(b.get(i), Some(b' ' | b'\t'));
                        let mut q = p;
                        while blank(q) {
                            q += 1;
                        }
                        let mut end = q;
                        while matches!(b.get(end), Some(b'&' | b'!')) {
                            while end < b.len() && !matches!(b[end], b' ' | b'\t' | b'\n' | b'\r') {
                                end += 1;
                            }
                            let mut f = end;
                            while blank(f) {
                                f += 1;
                            }
                            if matches!(b.get(f), Some(b'&' | b'!')) {
                                end = f;
                            }
                        }
                        if end > q {
                            (s, e) = (q, end);
                        }
                    }
                }
                decoded += 1;
                if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) {
                    breaks.quoted(s, e);
                }
                if role == Role::Key && is_merge_key(&value, style, tag.as_deref()) {
                    uses_aliases = true;
                }
                prev_end = e;
                content_end = content_end.max(e);
                content_start.get_or_insert(start);
                let props = Props {
                    anchor,
                    tag,
                    role,
                    flow: in_flow,
                };
                sink.scalar(
                    value,
                    style,
                    props,
                    At {
                        start: s,
                        end: e,
                        line,
                        col,
                    },
                );
                if let Some(p) = stack.last_mut().filter(|_| role == Role::Key) {
                    p.key_end = e;
                }
                (1, anchor)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    let message =
                        format!("nesting deeper than {MAX_DEPTH} levels; refusing to read it");
                    return Err(fail(region_start, index, start, line, col, message));
                }
                let map = is_map;
                // Flow style: the event's span covers the opening bracket
                // (and, for `[ ]`, the blank after it). A block sequence's
                // span is empty, though it may start at a bracket: that of
                // its first item, `- {}`.
                let own_flow = text[start..end].trim_end().ends_with(['[', '{']);
                let content = if own_flow {
                    start + text[start..end].trim_end().len() - 1
                } else {
                    start
                };
                // A block collection starts at its content: past its anchor
                // or tag (an edit replacing it keeps them), and a block
                // sequence at its first `-`, where new items line up.
                let s = match (map, own_flow) {
                    (_, true) => start,
                    (true, false) => after_properties(text, start),
                    (false, false) => block_seq_start(text, after_properties(text, start)),
                };
                decoded += 1;
                prev_end = end;
                content_start.get_or_insert(start);
                let props = Props {
                    anchor,
                    tag: tag_text(tag),
                    role,
                    flow: own_flow || in_flow,
                };
                sink.open(
                    map,
                    own_flow,
                    props,
                    At {
                        start: s,
                        end,
                        line,
                        col,
                    },
                );
                stack.push(Open {
                    map,
                    want_key: true,
                    own_flow,
                    flow: own_flow || in_flow,
                    anchor,
                    opened: (start, line, col),
                    inside: if own_flow { content + 1 } else { end },
                    key_end: 0,
                });
                sizes.open();
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = stack.pop().expect("balanced events");
                // A flow collection ends just past its closing bracket (the
                // parser's span runs on over blanks and a comment).
                let end = if open.own_flow {
                    let close = closing_bracket(text, content_end.max(open.inside), end);
                    content_end = content_end.max(close);
                    close
                } else {
                    end
                };
                sink.close(end);
                // Errors about a collection point at its start.
                (start, line, col) = open.opened;
                (sizes.close(), open.anchor)
            }
        };
        // A node is complete: its parent mapping now wants the other half of
        // an entry, and the document grew by the node's expanded size.
        if let Some(p) = stack.last_mut().filter(|p| p.map) {
            p.want_key = !p.want_key;
        }
        if !sizes.add(done.0, done.1) {
            return Err(fail(
                region_start,
                index,
                start,
                line,
                col,
                budget_message(through_aliases),
            ));
        }
    }
    // After the last document: trailing comments and blank lines.
    if let Some(e) = break_error(&breaks, region_start, text.len(), index) {
        return Err(e);
    }
    // Helm (SplitManifests) and Kubernetes (YAMLReader) cut a stream at
    // every line starting with `---`, whatever YAML makes of it (inside a
    // quoted string, `---#`, `----`): each must be a document marker here.
    // Read in windows (a spilled stream's pages are given back behind);
    // a marker at a line's start is found whatever window it starts in.
    let b = text.as_bytes();
    for p in crate::pages::find_iter(b, b"---") {
        if (p == 0 || matches!(b[p - 1], b'\n' | b'\r')) && markers.binary_search(&p).is_err() {
            let (line, col) = line_col(text, p);
            let doc = markers.partition_point(|&m| m < p);
            let region_start = markers.get(doc.wrapping_sub(1)).copied().unwrap_or(0);
            let message = "a line starting with `---` that is not a document marker here \
                           (`---` followed by a blank or the end of the line, outside any \
                           string): Helm and Kubernetes cut manifests at every line starting \
                           with `---`, so they would read other documents than the ones \
                           written; indent that line, or make it a document marker"
                .to_string();
            return Err(fail(region_start, doc.max(1), p, line, col, message));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{parse, scan};

    #[test]
    fn alias_bombs_are_refused_the_same_way_by_both_sinks() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
        assert_eq!(scan(&bomb).unwrap_err(), e);
        assert!(parse("a: &x {b: 1}\nc: *x\nd: {<<: *x}\n").is_ok());
    }

    #[test]
    fn aliases_reach_only_complete_anchors_of_their_own_document() {
        // Found by attacking the anchor support: saphyr accepts both.
        let cross = "a: &l {x: 1}\n---\nb: *l\n";
        let e = parse(cross).unwrap_err();
        assert_eq!((e.doc, e.line), (2, 3), "{e}");
        assert_eq!(scan(cross).unwrap_err(), e);
        let inside = "a: &m\n- b: *m\n";
        assert!(
            parse(inside)
                .unwrap_err()
                .message
                .contains("contains the alias")
        );
        assert!(parse("a: &m 1\nb: *m\n").is_ok());
    }

    #[test]
    fn excessive_aliasing_is_refused_as_go_yaml_refuses_it() {
        // Six levels of ten aliases: about a million nodes from 1.3 KB, well
        // under the node budget, but nearly all through aliases.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..6 {
            text.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("excessive aliasing"), "{e}");
        assert_eq!(scan(&text).unwrap_err(), e);
        // A few aliases in a small document are fine.
        assert!(parse("a: &x {b: 1, c: 2}\nd: *x\ne: *x\n").is_ok());
        assert!(!super::excessive_aliasing(1_001, 100));
        assert!(super::excessive_aliasing(2_000, 1_990));
        assert!(!super::excessive_aliasing(2_000, 1_970));
        assert!(super::excessive_aliasing(4_000_000, 400_001));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(&text).is_err());
        assert!(scan(&text).is_err());
        let deep = "[".repeat(600) + &"]".repeat(600);
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn merge_keys_and_aliases_are_noticed_by_both() {
        for (text, uses) in [
            ("a: 1\n", false),
            ("a: &x 1\nb: *x\n", true),
            ("a: {<<: {b: 1}}\n", true),
            ("a: {!!merge <<: {b: 1}}\n", true),
            ("a: {'<<': {b: 1}}\n", false),
            ("a: {! '<<': {b: 1}}\n", true),
            ("a: {!<!> <<: {b: 1}}\n", true),
            ("a: [<<]\n", false),
        ] {
            assert_eq!(parse(text).unwrap().docs[0].uses_aliases, uses, "{text}");
            assert_eq!(scan(text).unwrap()[0].uses_aliases, uses, "{text}");
        }
    }
}
