//! Bytes ↔ documents, exactly.
//!
//! The whole input is validated with an event parser (saphyr-parser, which
//! agrees with the full YAML test suite) and cut into documents. Each
//! document keeps a span-aware [`Node`] tree whose byte offsets point into
//! the original text; nothing is ever re-serialised from it. Output is the
//! input with a few byte ranges replaced (see [`crate::patch`]), so every
//! document we do not change comes out byte for byte.

use crate::k8s::WorkloadKind;
use crate::node::{Node, NodeKind};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;
use std::fmt;

/// Deepest nesting of collections accepted in one document. Kubernetes
/// objects stay far below it; absurd nesting is refused quickly instead of
/// exhausting the stack.
pub const MAX_DEPTH: usize = 512;

/// Most nodes one document may stand for once its aliases are expanded.
/// go-yaml (and so Kubernetes) refuses excessive aliasing too; this keeps
/// "billion laughs" documents from passing through.
pub const MAX_EXPANDED: u64 = 2_000_000;

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
        match self.template() {
            Some(t) => format!("document {} ({t})", self.index),
            None => format!("document {}", self.index),
        }
    }

    /// The line ending the document uses (`\r\n` when it has any).
    pub fn eol(&self, text: &str) -> &'static str {
        if text[self.region_start..self.region_end].contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }
}

/// What a validating pass over the events learns of one document, without
/// building its tree: enough to know whether the document can matter.
#[derive(Debug, Clone, Default)]
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
    /// `metadata.labels` entries whose key and value are strings.
    pub labels: Vec<(String, String)>,
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
        match self.template() {
            Some(t) => format!("document {} ({t})", self.index),
            None => format!("document {}", self.index),
        }
    }
}

/// One open collection during [`scan`].
struct ScanFrame {
    anchor: usize,
    map: bool,
    want_key: bool,
    is_key: bool,
    key: Option<String>,
    /// Keys seen so far (mappings within [`NEAR_ROOT`] levels only).
    seen: Vec<String>,
}

/// How deep, from the root, duplicate keys are looked for while scanning:
/// deep enough for `metadata.labels`, where they could change what a
/// document is taken for.
const NEAR_ROOT: usize = 3;

/// Validates the whole stream with the event parser alone and describes each
/// document ([`DocInfo`]); builds no trees. Refuses what [`parse`] refuses:
/// syntax errors, absurd nesting, alias bombs.
pub fn scan(text: &str) -> Result<Vec<DocInfo>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut off = Offsets::new(text);
    let mut lines = LineCounter::default();
    let mut infos: Vec<DocInfo> = Vec::new();
    let mut cur = DocInfo::default();
    let mut stack: Vec<ScanFrame> = Vec::new();
    let mut sizes = Sizes::default();
    let mut last_end = 0usize;
    let mut root_start: Option<usize> = None;

    let fail = |infos: &Vec<DocInfo>, region_start: usize, pos: usize, line, col, message| {
        syntax_error(
            text,
            region_start,
            pos,
            (line, col, infos.len() + 1),
            message,
        )
    };

    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                let m = e.marker();
                let pos = off.byte(m.index());
                let info = parser_message(e.info());
                return Err(fail(
                    &infos,
                    cur.region_start,
                    pos,
                    m.line(),
                    m.col() + 1,
                    info,
                ));
            }
        };
        let start = off.byte(span.start.index());
        let end = off.byte(span.end.index());
        // Expanded size (for alias bombs) and position bookkeeping.
        let (size, anchor) = match &event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                root_start = None;
                continue;
            }
            Event::DocumentEnd => {
                let region_end = if text[start..end].starts_with("...") {
                    end
                } else {
                    start.max(last_end)
                };
                cur.region_end = region_end;
                cur.index = infos.len() + 1;
                cur.line_offset = lines.lines_before(text, cur.region_start);
                let head_end = root_start.unwrap_or(region_end).max(cur.region_start);
                cur.source = first_source(&text[cur.region_start..head_end]);
                if cur
                    .kind
                    .as_deref()
                    .is_none_or(|k| WorkloadKind::parse(k).is_none())
                {
                    cur.labels = Vec::new(); // only workloads' labels matter
                }
                let next = DocInfo {
                    region_start: region_end,
                    ..DocInfo::default()
                };
                infos.push(std::mem::replace(&mut cur, next));
                sizes.reset();
                last_end = region_end;
                continue;
            }
            Event::Alias(id) => {
                cur.uses_aliases = true;
                (sizes.alias(*id), 0)
            }
            Event::Scalar(_, _, anchor, _) => (1, *anchor),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(
                        &infos,
                        cur.region_start,
                        start,
                        span.start.line(),
                        span.start.col() + 1,
                        format!("nesting deeper than {MAX_DEPTH} levels; refusing to read it"),
                    ));
                }
                root_start.get_or_insert(start);
                sizes.open();
                let is_key = stack.last().is_some_and(|f| f.map && f.want_key);
                if let Some(f) = stack.last_mut().filter(|f| f.map && f.want_key) {
                    f.want_key = false;
                    f.key = None;
                }
                stack.push(ScanFrame {
                    anchor: *anchor,
                    map: matches!(event, Event::MappingStart(..)),
                    want_key: true,
                    is_key,
                    key: None,
                    seen: Vec::new(),
                });
                last_end = last_end.max(end);
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = stack.pop().expect("balanced events");
                if !frame.is_key
                    && let Some(p) = stack.last_mut().filter(|p| p.map)
                {
                    p.want_key = true;
                }
                last_end = last_end.max(end);
                (sizes.close(), frame.anchor)
            }
        };
        if let Event::Scalar(value, style, _, tag) = &event {
            root_start.get_or_insert(start);
            last_end = last_end.max(end);
            let depth = stack.len();
            if let Some(f) = stack.last_mut() {
                if f.map && f.want_key {
                    if value == "<<" && *style == ScalarStyle::Plain {
                        cur.uses_aliases = true;
                    }
                    if depth <= NEAR_ROOT {
                        if f.seen.iter().any(|k| k == value) {
                            cur.duplicate_keys = true;
                        }
                        f.seen.push(value.to_string());
                    }
                    if depth == 1 && value == "apiVersion" {
                        cur.api_version = true;
                    }
                    f.key = (depth <= NEAR_ROOT).then(|| value.to_string());
                    f.want_key = false;
                } else {
                    let tag = tag.as_ref().map(|t| format!("{}{}", t.handle, t.suffix));
                    let string = crate::yaml11::is_string(value, *style, tag.as_deref());
                    if f.map && string {
                        record(&mut cur, &stack, value);
                    }
                    if let Some(f) = stack.last_mut().filter(|f| f.map) {
                        f.want_key = true;
                    }
                }
            }
        } else if let Event::Alias(_) = &event
            && let Some(f) = stack.last_mut().filter(|f| f.map)
        {
            f.want_key = !f.want_key;
            if !f.want_key {
                f.key = None;
            }
        }
        if let Err(message) = sizes.add(size, anchor) {
            let (line, col) = (span.start.line(), span.start.col() + 1);
            return Err(fail(&infos, cur.region_start, start, line, col, message));
        }
    }
    Ok(infos)
}

/// [`scan`] over pieces of the stream cut at document markers (`---` at
/// the start of a line), one thread each, stitched back together. Whenever
/// a piece fails or the pieces do not line up exactly, it scans the whole
/// stream again in one pass, so results and errors are always exactly those
/// of [`scan`].
pub fn scan_parallel(text: &str, threads: usize) -> Result<Vec<DocInfo>, SyntaxError> {
    let cuts = cut_points(text, threads);
    if cuts.is_empty() {
        return scan(text);
    }
    let mut bounds = vec![0];
    bounds.extend(&cuts);
    bounds.push(text.len());
    let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let results = crate::parallel::map_chunks(&pieces, pieces.len(), |p| {
        let (a, b) = p[0];
        scan(&text[a..b])
    });
    let results: Vec<_> = results.into_iter().collect();
    let total = results.iter().map(|r| r.as_ref().map_or(0, Vec::len)).sum();
    let mut out: Vec<DocInfo> = Vec::with_capacity(total);
    let mut lines = LineCounter::default();
    for ((a, b), r) in pieces.iter().zip(results) {
        let Ok(docs) = r else { return scan(text) };
        // The piece must end exactly where the next one starts.
        if docs.last().is_none_or(|d| d.region_end != b - a) {
            return scan(text);
        }
        let line_base = lines.lines_before(text, *a);
        for mut d in docs {
            d.index += out.len();
            d.region_start += a;
            d.region_end += a;
            d.line_offset += line_base;
            out.push(d);
        }
    }
    for (i, d) in out.iter_mut().enumerate() {
        d.index = i + 1;
    }
    Ok(out)
}

/// Up to `threads - 1` offsets of `---` lines that split `text` evenly.
fn cut_points(text: &str, threads: usize) -> Vec<usize> {
    let b = text.as_bytes();
    let mut cuts = Vec::new();
    let mut from = 0;
    for i in 1..threads {
        let target = (text.len() / threads * i).max(from);
        let Some(found) = text[target..]
            .match_indices("\n---")
            .map(|(p, _)| target + p + 1)
            .find(|&p| matches!(b.get(p + 3), None | Some(b' ' | b'\t' | b'\r' | b'\n')))
        else {
            break;
        };
        cuts.push(found);
        from = found + 1;
    }
    cuts
}

/// Notes a string value found while scanning, if its path matters.
fn record(cur: &mut DocInfo, stack: &[ScanFrame], value: &str) {
    let key = |i: usize| stack.get(i).and_then(|f| f.key.as_deref());
    match stack.len() {
        1 if key(0) == Some("kind") => cur.kind = Some(value.to_string()),
        3 if key(0) == Some("metadata") => match (key(1), key(2)) {
            (Some("labels"), Some(k)) => cur.labels.push((k.to_string(), value.to_string())),
            (Some("annotations"), Some(HELM4_FILENAME)) => cur.filename = Some(value.to_string()),
            _ => {}
        },
        _ => {}
    }
}

/// Counts YAML line breaks (`\n`, `\r\n`, lone `\r`) before a position,
/// moving forward only.
#[derive(Default)]
struct LineCounter {
    pos: usize,
    lines: usize,
}

impl LineCounter {
    fn lines_before(&mut self, text: &str, pos: usize) -> usize {
        let b = text.as_bytes();
        while self.pos < pos.min(b.len()) {
            match b[self.pos] {
                b'\n' => self.lines += 1,
                b'\r' if b.get(self.pos + 1) != Some(&b'\n') => self.lines += 1,
                _ => {}
            }
            self.pos += 1;
        }
        self.lines
    }
}

/// Helm 4's annotation naming the template a document came from.
pub const HELM4_FILENAME: &str = "postrenderer.helm.sh/postrender-filename";

/// The input is not a valid YAML stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// 1-based index of the document it is in.
    pub doc: usize,
    /// The document's template, when known.
    pub template: Option<String>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid YAML in document {}", self.doc)?;
        if let Some(t) = &self.template {
            write!(f, " ({t})")?;
        }
        write!(
            f,
            " at line {} column {}: {}. Fix the template, or the values rendered into it",
            self.line, self.col, self.message
        )
    }
}

/// Checks that `bytes` are UTF-8; otherwise says where they are not.
pub fn decode(bytes: &[u8]) -> Result<&str, SyntaxError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let doc = 1 + count_doc_markers(good);
        SyntaxError {
            message: format!(
                "the input is not UTF-8 (byte 0x{:02x}); Kubernetes manifests must be UTF-8",
                bytes[e.valid_up_to()]
            ),
            line,
            col,
            doc,
            template: last_source(&String::from_utf8_lossy(good)),
        }
    })
}

fn count_doc_markers(b: &[u8]) -> usize {
    b.split(|&c| c == b'\n')
        .skip(1)
        .filter(|l| l.starts_with(b"---") && l.get(3).is_none_or(|c| c.is_ascii_whitespace()))
        .count()
}

fn last_source(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("# Source: "))
        .map(|s| s.trim_end().to_string())
}

fn first_source(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("# Source: "))
        .map(|s| s.trim_end().to_string())
}

/// Helm 4's filename annotation, read from raw text (for documents that do
/// not parse, so have no tree to read it from).
fn helm4_filename(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l
            .trim_start()
            .strip_prefix(HELM4_FILENAME)?
            .strip_prefix(':')?
            .trim();
        Some(v.trim_matches(|c| c == '\'' || c == '"').to_string())
    })
}

/// The text from `pos` up to the next `---` line (the rest of a document
/// that did not parse).
fn rest_of_document(text: &str, pos: usize) -> &str {
    let rest = &text[pos.min(text.len())..];
    let end = rest
        .match_indices("\n---")
        .map(|(i, _)| i)
        .find(|&i| rest[i + 4..].starts_with(['\n', '\r', ' ']) || i + 4 == rest.len())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Converts the parser's character indices into byte offsets.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Offsets {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        let b = self.text.as_bytes();
        while self.chars < char_index && self.bytes < b.len() {
            self.bytes += 1;
            while self.bytes < b.len() && (b[self.bytes] & 0xC0) == 0x80 {
                self.bytes += 1;
            }
            self.chars += 1;
        }
        while self.chars > char_index {
            self.bytes -= 1;
            while (b[self.bytes] & 0xC0) == 0x80 {
                self.bytes -= 1;
            }
            self.chars -= 1;
        }
        self.bytes
    }
}

enum Frame<'a> {
    Seq {
        start: usize,
        line: usize,
        col: usize,
        anchor: usize,
        tag: Option<String>,
        flow: bool,
        in_flow: bool,
        items: Vec<Node<'a>>,
    },
    Map {
        start: usize,
        line: usize,
        col: usize,
        anchor: usize,
        tag: Option<String>,
        flow: bool,
        in_flow: bool,
        entries: Vec<(Node<'a>, Node<'a>)>,
        key: Option<Node<'a>>,
    },
}

/// Expanded sizes (what a document stands for once aliases are expanded):
/// of each open collection, and of each anchor. Shared by [`scan`] and
/// [`parse`], so both refuse the same alias bombs.
#[derive(Default)]
struct Sizes {
    open: Vec<u64>,
    anchors: HashMap<usize, u64>,
    root: u64,
}

impl Sizes {
    /// A collection starts.
    fn open(&mut self) {
        self.open.push(1);
    }

    /// A collection ends: its expanded size.
    fn close(&mut self) -> u64 {
        self.open.pop().unwrap_or(1)
    }

    /// What an alias to anchor `id` stands for.
    fn alias(&self, id: usize) -> u64 {
        self.anchors.get(&id).copied().unwrap_or(1)
    }

    /// A node of `size` is complete (anchored as `anchor`, 0 for none):
    /// fails when the document now stands for too many nodes.
    fn add(&mut self, size: u64, anchor: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, size);
        }
        let total = match self.open.last_mut() {
            Some(parent) => parent,
            None => &mut self.root,
        };
        *total = total.saturating_add(size);
        if *total > MAX_EXPANDED {
            return Err(format!(
                "the document expands to more than {MAX_EXPANDED} nodes through aliases \
                 (an alias bomb?); Kubernetes would refuse it too"
            ));
        }
        Ok(())
    }

    /// A document ends.
    fn reset(&mut self) {
        self.anchors.clear();
        self.root = 0;
    }
}

/// A parser error's message, with advice where the parser has none.
fn parser_message(info: &str) -> String {
    if info.contains("recursion limit") {
        format!("nesting too deep ({info}); refusing to read it")
    } else {
        info.to_string()
    }
}

/// A syntax error at `pos`, naming the document and its template.
fn syntax_error(
    text: &str,
    region_start: usize,
    pos: usize,
    at: (usize, usize, usize),
    message: String,
) -> SyntaxError {
    let (line, col, doc) = at;
    let upto = &text[region_start..pos.clamp(region_start, text.len())];
    SyntaxError {
        message,
        line,
        col,
        doc,
        template: first_source(upto)
            .or_else(|| helm4_filename(upto))
            .or_else(|| helm4_filename(rest_of_document(text, pos))),
    }
}

impl Frame<'_> {
    fn in_flow(&self) -> bool {
        match self {
            Frame::Seq { flow, in_flow, .. } | Frame::Map { flow, in_flow, .. } => {
                *flow || *in_flow
            }
        }
    }
}

/// Parses and validates the whole stream, building every document's tree.
pub fn parse(text: &str) -> Result<Stream<'_>, SyntaxError> {
    Ok(Stream {
        text,
        docs: parse_local(text)?,
    })
}

/// The documents' trees: built up front (small inputs, one pass), or built
/// on demand from the text, one document at a time (large inputs).
#[derive(Debug, Clone, Copy)]
pub enum Trees<'x, 'a> {
    /// Every document's tree, in stream order.
    Built(&'x [Document<'a>]),
    /// Parse each document's region when it is needed.
    OnDemand,
}

impl<'x, 'a> Trees<'x, 'a> {
    /// The tree of document `info`.
    pub fn get(
        &self,
        text: &'a str,
        info: &DocInfo,
    ) -> Result<std::borrow::Cow<'x, Document<'a>>, SyntaxError> {
        match self {
            Trees::Built(docs) => Ok(std::borrow::Cow::Borrowed(&docs[info.index - 1])),
            Trees::OnDemand => parse_region(text, info).map(std::borrow::Cow::Owned),
        }
    }
}

/// Describes parsed documents the way [`scan`] does, without a second pass.
pub fn describe(text: &str, docs: &[Document<'_>]) -> Vec<DocInfo> {
    let mut lines = LineCounter::default();
    docs.iter()
        .map(|d| {
            let root = &d.root;
            let kind = root.get("kind").and_then(Node::as_str).map(str::to_string);
            let meta = root.get("metadata");
            let workload = kind
                .as_deref()
                .is_some_and(|k| WorkloadKind::parse(k).is_some());
            DocInfo {
                index: d.index,
                region_start: d.region_start,
                region_end: d.region_end,
                line_offset: lines.lines_before(text, d.region_start),
                source: d.source.clone(),
                filename: meta
                    .and_then(|m| m.path(&["annotations", HELM4_FILENAME]))
                    .and_then(Node::as_str)
                    .map(str::to_string),
                api_version: root.get("apiVersion").is_some(),
                labels: if workload {
                    meta.and_then(|m| m.get("labels"))
                        .and_then(Node::entries)
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| {
                            Some((k.scalar()?.to_string(), v.as_str()?.to_string()))
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                kind,
                uses_aliases: d.uses_aliases,
                duplicate_keys: duplicate_keys_near_root(root),
            }
        })
        .collect()
}

/// Does a mapping within [`NEAR_ROOT`] levels of `root` repeat a key?
fn duplicate_keys_near_root(root: &Node<'_>) -> bool {
    let mut stack = vec![(root, 1)];
    while let Some((n, depth)) = stack.pop() {
        if depth > NEAR_ROOT {
            continue;
        }
        match &n.kind {
            NodeKind::Map(entries) => {
                let mut seen: Vec<&str> = Vec::new();
                for (k, v) in entries {
                    if let Some(k) = k.scalar() {
                        if seen.contains(&k) {
                            return true;
                        }
                        seen.push(k);
                    }
                    stack.push((k, depth + 1));
                    stack.push((v, depth + 1));
                }
            }
            NodeKind::Seq(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Builds the tree of one document of a stream that [`scan`] validated:
/// parses its region again, positions relative to the whole `text`.
pub fn parse_region<'a>(text: &'a str, info: &DocInfo) -> Result<Document<'a>, SyntaxError> {
    let local = &text[info.region_start..info.region_end];
    let shift = |mut e: SyntaxError| {
        e.line += info.line_offset;
        e.doc += info.index - 1;
        e
    };
    let mut docs = parse_local(local).map_err(shift)?;
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

fn parse_local(text: &str) -> Result<Vec<Document<'_>>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut off = Offsets::new(text);
    let mut docs: Vec<Document<'_>> = Vec::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut anchors: HashMap<usize, Node<'_>> = HashMap::new();
    let mut uses_aliases = false;
    let mut root: Option<Node<'_>> = None;
    let mut region_start = 0usize;
    let mut doc_line = 1usize;
    let mut last_end = 0usize; // end of the last token seen, for block scalar headers
    let mut sizes = Sizes::default();

    let err_at = |docs: &Vec<Document<'_>>, region_start: usize, pos: usize, line, col, message| {
        syntax_error(
            text,
            region_start,
            pos,
            (line, col, docs.len() + 1),
            message,
        )
    };

    loop {
        let (event, span): (Event<'_>, Span) = match parser.next_event() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                let m = e.marker();
                let pos = off.byte(m.index());
                return Err(err_at(
                    &docs,
                    region_start,
                    pos,
                    m.line(),
                    m.col() + 1,
                    parser_message(e.info()),
                ));
            }
        };
        let start = off.byte(span.start.index());
        let end = off.byte(span.end.index());
        let line = span.start.line();
        let col = span.start.col() + 1;
        let in_flow = stack.last().is_some_and(Frame::in_flow);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                doc_line = line;
                last_end = end;
                continue;
            }
            Event::DocumentEnd => {
                let root = root.take().expect("document has a root node");
                let region_end = if text[start..end].starts_with("...") {
                    end
                } else {
                    start.max(root.end)
                };
                let source = first_source(&text[region_start..root.start.max(region_start)]);
                sizes.reset();
                docs.push(Document {
                    index: docs.len() + 1,
                    region_start,
                    region_end,
                    line: doc_line,
                    root,
                    anchors: std::mem::take(&mut anchors),
                    uses_aliases: std::mem::take(&mut uses_aliases),
                    source,
                });
                region_start = region_end;
                last_end = region_end;
                continue;
            }
            Event::Alias(id) => {
                uses_aliases = true;
                last_end = end;
                Node {
                    kind: NodeKind::Alias(id),
                    start,
                    end,
                    line,
                    col,
                    anchor: 0,
                    tag: None,
                    flow: in_flow,
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let (start, end) = scalar_bounds(text, start, end, style, last_end, &value);
                last_end = end;
                Node {
                    kind: NodeKind::Scalar { value, style },
                    start,
                    end,
                    line,
                    col,
                    anchor,
                    tag: tag.map(|t| format!("{}{}", t.handle, t.suffix)),
                    flow: in_flow,
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let is_seq = matches!(event, Event::SequenceStart(..));
                let (Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)) = event
                else {
                    unreachable!()
                };
                if stack.len() >= MAX_DEPTH {
                    return Err(err_at(
                        &docs,
                        region_start,
                        start,
                        line,
                        col,
                        format!("nesting deeper than {MAX_DEPTH} levels; refusing to read it"),
                    ));
                }
                let flow = text[start..end].ends_with(['[', '{']);
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                // A block sequence's start is the position of its first `-`.
                let start = if is_seq && !flow {
                    block_seq_start(text, start)
                } else {
                    start
                };
                last_end = end;
                sizes.open();
                stack.push(if is_seq {
                    Frame::Seq {
                        start,
                        line,
                        col,
                        anchor,
                        tag,
                        flow,
                        in_flow,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        start,
                        line,
                        col,
                        anchor,
                        tag,
                        flow,
                        in_flow,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = stack.pop().expect("balanced events");
                match frame {
                    Frame::Seq {
                        start,
                        line,
                        col,
                        anchor,
                        tag,
                        flow,
                        in_flow,
                        items,
                    } => {
                        let node_end = if flow {
                            end
                        } else {
                            items.last().map_or(start, |n| n.end)
                        };
                        Node {
                            kind: NodeKind::Seq(items),
                            start,
                            end: node_end,
                            line,
                            col,
                            anchor,
                            tag,
                            flow: flow || in_flow,
                        }
                    }
                    Frame::Map {
                        start,
                        line,
                        col,
                        anchor,
                        tag,
                        flow,
                        in_flow,
                        entries,
                        ..
                    } => {
                        let node_end = if flow {
                            end
                        } else {
                            entries.last().map_or(start, |(_, v)| v.end)
                        };
                        Node {
                            kind: NodeKind::Map(entries),
                            start,
                            end: node_end,
                            line,
                            col,
                            anchor,
                            tag,
                            flow: flow || in_flow,
                        }
                    }
                }
            }
        };
        let size = match &node.kind {
            NodeKind::Alias(id) => sizes.alias(*id),
            NodeKind::Seq(_) | NodeKind::Map(_) => sizes.close(),
            NodeKind::Scalar { .. } => 1,
        };
        if node.anchor != 0 {
            anchors.insert(node.anchor, node.clone());
        }
        if let Err(message) = sizes.add(size, node.anchor) {
            return Err(err_at(
                &docs,
                region_start,
                node.start,
                node.line,
                node.col,
                message,
            ));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if let NodeKind::Scalar { value, style } = &node.kind
                        && value == "<<"
                        && *style == ScalarStyle::Plain
                        && node.tag.is_none()
                    {
                        uses_aliases = true;
                    }
                    *key = Some(node)
                }
                Some(k) => {
                    let mut value = node;
                    if let NodeKind::Scalar { value: v, style } = &value.kind {
                        // An empty value (`key:`) sits just after the colon.
                        if v.is_empty() && *style == ScalarStyle::Plain && !value.flow {
                            let p = after_colon(text, k.end);
                            value.start = p;
                            value.end = p;
                        }
                    }
                    entries.push((k, value));
                }
            },
        }
    }
    Ok(docs)
}

/// Finds the `-` that opens a block sequence whose first item starts at `pos`.
fn block_seq_start(text: &str, pos: usize) -> usize {
    let b = text.as_bytes();
    if b.get(pos) == Some(&b'-') {
        return pos;
    }
    let mut i = pos;
    while i > 0 && matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') {
        i -= 1;
    }
    if i > 0 && b[i - 1] == b'-' {
        i - 1
    } else {
        pos
    }
}

/// The offset just after the `:` that follows a key ending at `key_end`.
fn after_colon(text: &str, key_end: usize) -> usize {
    let b = text.as_bytes();
    let mut i = key_end;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'"' | b'\'') {
        i += 1;
    }
    if i < b.len() && b[i] == b':' {
        i + 1
    } else {
        key_end
    }
}

/// Exact bounds of a scalar. The parser's spans include trailing blanks and
/// comments after quoted scalars, and start block scalars at their content
/// rather than at the `|`/`>` header.
fn scalar_bounds(
    text: &str,
    start: usize,
    end: usize,
    style: ScalarStyle,
    last_end: usize,
    value: &str,
) -> (usize, usize) {
    let b = text.as_bytes();
    match style {
        ScalarStyle::Plain => (start, end),
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
            let q = if style == ScalarStyle::SingleQuoted {
                b'\''
            } else {
                b'"'
            };
            let Some(open) = b[start..].iter().position(|&c| c == q).map(|p| start + p) else {
                return (start, end);
            };
            let mut i = open + 1;
            while i < b.len() {
                if q == b'"' && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == q {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return (start, i + 1);
                }
                i += 1;
            }
            (start, end)
        }
        _ => {
            // Header: the first `|`, `>`, `&` or `!` after the previous token.
            let mut i = last_end;
            while i < start {
                match b[i] {
                    b'#' => {
                        while i < start && b[i] != b'\n' {
                            i += 1;
                        }
                    }
                    b'|' | b'>' | b'&' | b'!' => break,
                    _ => i += 1,
                }
            }
            let header = if i < start { i } else { start };
            // Keep chomping (`|+`, `>+`): trailing blank lines are content,
            // so the scalar ends at the start of the line after them.
            let header_line = text[header..].lines().next().unwrap_or("");
            let indicator = header_line
                .rfind(['|', '>'])
                .map_or("", |p| header_line[p..].split(" #").next().unwrap_or(""));
            if indicator.contains('+') && end > start {
                // The parser's end may stand after the next line's
                // indentation (inside a sequence item, say): step back over
                // it to the line start.
                let mut e = end;
                while e > start && matches!(b[e - 1], b' ' | b'\t') {
                    e -= 1;
                }
                if b[e - 1] == b'\n' {
                    return (header, e);
                }
            }
            // Otherwise: after the last non-blank character of the content.
            let mut e = end.max(start);
            while e > start && matches!(b[e - 1], b' ' | b'\t' | b'\n' | b'\r') {
                e -= 1;
            }
            if e == start && value.is_empty() {
                // An empty block scalar ends with its header line.
                let mut h = header;
                while h < b.len() && b[h] != b'\n' && b[h] != b'\r' {
                    h += 1;
                }
                e = h;
            }
            (header, e.max(header))
        }
    }
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
    fn errors_name_document_template_and_line() {
        let text = "---\n# Source: a.yaml\nx: 1\n---\n# Source: b.yaml\ny: [1\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.doc, 2);
        assert_eq!(e.template.as_deref(), Some("b.yaml"));
        assert!(e.line >= 6, "{e}");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = decode(b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 4));
    }

    #[test]
    fn alias_bombs_are_refused_but_ordinary_aliases_pass() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
        assert_eq!(scan(&bomb).unwrap_err().message, e.message);
        assert!(parse("a: &x {b: 1}\nc: *x\nd: {<<: *x}\n").is_ok());
    }

    #[test]
    fn scan_describes_documents_and_agrees_with_parse() {
        let text = "# c\n---\n# Source: t/a.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  labels: {x: \"1\", y: on}\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'f.yaml'\ndata: {k: v}\n...\n--- [1, 2]\n---\nkind: 5\n---\nmetadata:\n  labels: {a: !!str 1, a: x}\n";
        let infos = scan(text).unwrap();
        let docs = parse(text).unwrap().docs;
        assert_eq!(infos.len(), docs.len());
        assert_eq!(
            format!("{infos:?}"),
            format!("{:?}", describe(text, &docs)),
            "describe agrees with scan"
        );
        for (i, d) in infos.iter().zip(&docs) {
            assert_eq!(
                (i.region_start, i.region_end),
                (d.region_start, d.region_end)
            );
            let again = parse_region(text, i).unwrap();
            assert_eq!(
                (again.root.start, again.root.end, again.root.line),
                (d.root.start, d.root.end, d.root.line)
            );
        }
        let a = &infos[0];
        assert_eq!(a.kind.as_deref(), Some("Deployment"));
        assert_eq!(
            a.labels,
            vec![("x".to_string(), "1".to_string())],
            "`on` is a bool, not a label value"
        );
        assert_eq!(a.source.as_deref(), Some("t/a.yaml"));
        assert_eq!(a.filename.as_deref(), Some("f.yaml"));
        assert!(infos[1].kind.is_none());
        assert!(infos[2].kind.is_none(), "5 is not a kind");
        assert!(!infos[0].duplicate_keys && infos[3].duplicate_keys);
    }

    #[test]
    fn parallel_scan_is_the_sequential_scan() {
        let doc = |i: usize| {
            format!(
                "---\n# Source: t/{i}.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  labels: {{type: polyaxon-core}}\nspec: {{a: |\n    text\n}}\n"
            )
        };
        let text: String = (0..200).map(doc).collect::<String>() + "...\n--- x\n";
        let seq = scan(&text).unwrap();
        for threads in [2, 3, 8] {
            let par = scan_parallel(&text, threads).unwrap();
            assert_eq!(format!("{seq:?}"), format!("{par:?}"), "{threads} threads");
        }
        // Errors are those of the sequential scan.
        let broken = text.replacen("name: p150", "name: [p150", 1);
        assert_eq!(
            scan_parallel(&broken, 4).unwrap_err(),
            scan(&broken).unwrap_err()
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(&text).is_err());
        assert!(scan(&text).is_err());
    }
}
