//! Fidelity-preserving text edits on a document.
//!
//! An `Editor` records byte-range replacements and insertions against the
//! original text; nothing outside those ranges changes. Inserted text follows
//! the surrounding layout: block collections get block entries at the
//! indentation of their siblings, flow collections get JSON (valid YAML flow),
//! and new lines use the document's own line ending. The editor stays inside
//! the crate, where every edit it makes is proved by `crate::verify`; the
//! library's users get [`set_root_entry`], which proves its own. `tests.rs`
//! holds the unit tests.
//!
//! It imports the YAML layer and `emit`; nothing that decides what to edit.

use crate::patch::emit;
use crate::yaml::node::{Node, NodeKind};
use crate::yaml::spans::{self, after_colon};
use serde_json::Value;

/// One replacement of `text[start..end]` (an insertion when `start == end`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edit {
    /// First byte replaced.
    pub(crate) start: usize,
    /// Byte just past the replaced range.
    pub(crate) end: usize,
    /// The new text.
    pub(crate) text: String,
}

/// Collects the edits of one document.
#[derive(Debug)]
pub(crate) struct Editor<'t> {
    text: &'t str,
    eol: &'static str,
    /// Edits in the order they were made.
    edits: Vec<Edit>,
    /// Nodes (by address) an edit should have landed in but did not: their
    /// bytes also stand for another place ([`Node::shared`]).
    shared: Vec<usize>,
}

message_error!(
    /// Why an edit cannot be made safely.
    pub EditError
);

impl<'t> Editor<'t> {
    /// An editor over the whole input `text`, writing new lines with `eol`.
    /// The nodes handed to its methods must be read from this `text` (their
    /// byte ranges index it); [`apply`] refuses edits that do not fit it.
    pub(crate) fn new(text: &'t str, eol: &'static str) -> Self {
        Editor {
            text,
            eol,
            edits: Vec::new(),
            shared: Vec::new(),
        }
    }

    /// The edits made so far, in the order they were made.
    pub(crate) fn edits(&self) -> &[Edit] {
        &self.edits
    }

    /// The edits, for writing.
    pub(crate) fn into_edits(self) -> Vec<Edit> {
        self.edits
    }

    /// Addresses of the nodes edits were refused in because their bytes
    /// also stand for another place (a node reached through an alias or a
    /// merge key, or one an alias repeats). Empty unless the tree was read
    /// through [`crate::yaml::resolve`].
    pub(crate) fn shared_targets(&self) -> &[usize] {
        &self.shared
    }

    /// May an edit replace `node`? Not when it, or a node inside it, is
    /// shared: the first such node is noted instead.
    fn claim(&mut self, node: &Node<'_>) -> bool {
        let mut hit = None;
        node.walk(&mut |n| {
            if n.shared && hit.is_none() {
                hit = Some(n as *const Node<'_> as usize);
            }
        });
        match hit {
            Some(h) => {
                self.shared.push(h);
                false
            }
            None => true,
        }
    }

    /// May an edit insert into `node`? Not when the node itself is shared.
    fn claim_shallow(&mut self, node: &Node<'_>) -> bool {
        if node.shared {
            self.shared.push(node as *const Node<'_> as usize);
        }
        !node.shared
    }

    fn push(&mut self, start: usize, end: usize, text: String) {
        self.edits.push(Edit { start, end, text });
    }

    /// Column (in bytes) of `pos` on its line.
    fn col(&self, pos: usize) -> usize {
        spans::column(self.text, pos)
    }

    /// True when `pos` is at the start of a line: a node ending there (a
    /// keep-chomped block scalar, or a collection ending with one) owns the
    /// line break before it.
    fn at_line_start(&self, pos: usize) -> bool {
        let b = self.text.as_bytes();
        pos > 0 && (b[pos - 1] == b'\n' || (b[pos - 1] == b'\r' && b.get(pos) != Some(&b'\n')))
    }

    /// Inserts `line` as a new line, indented by `indent`, after a node
    /// ending at `end`.
    fn insert_line_after(
        &mut self,
        end: usize,
        indent: usize,
        line: &str,
    ) -> Result<(), EditError> {
        if self.at_line_start(end) {
            let text = format!("{}{line}{}", " ".repeat(indent), self.eol);
            self.push(end, end, text);
        } else {
            let at = self.line_end_after(end)?;
            let text = format!("{}{}{line}", self.eol, " ".repeat(indent));
            self.push(at, at, text);
        }
        Ok(())
    }

    /// Replaces `start..end`, keeping the line break that a node ending at a
    /// line start owns.
    fn replace_range(&mut self, start: usize, end: usize, mut text: String) {
        if start == end {
            text.insert(0, ' ');
        } else if self.at_line_start(end) {
            text.push_str(self.eol);
        }
        self.push(start, end, text);
    }

    /// Where to insert new lines after a node ending at `end`: the end of its
    /// line, after any trailing comment.
    fn line_end_after(&self, end: usize) -> Result<usize, EditError> {
        let b = self.text.as_bytes();
        let mut i = end;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i < b.len() && b[i] == b'#' {
            while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
        }
        if i == b.len() || b[i] == b'\n' || b[i] == b'\r' {
            Ok(i)
        } else {
            Err(format!(
                "unexpected text after a node at byte {end}; cannot insert lines there safely"
            )
            .into())
        }
    }

    /// Text for `value` written where `node` stands, in its context.
    fn value_text(&self, node: &Node<'_>, value: &Value) -> String {
        if node.flow {
            emit::flow(value)
        } else {
            emit::block_at(value, self.col(node.start), self.eol)
        }
    }

    /// Replaces a node (a whole value or sequence item) with `value`.
    pub(crate) fn replace(&mut self, node: &Node<'_>, value: &Value) {
        if !self.claim(node) {
            return;
        }
        let text = if !node.flow && emit::is_inline(value) {
            inline_scalar(value)
        } else {
            self.value_text(node, value)
        };
        self.replace_range(node.start, node.end, text);
    }

    /// Replaces a scalar with a string, double-quoted.
    pub(crate) fn replace_string(&mut self, node: &Node<'_>, s: &str) {
        if !self.claim(node) {
            return;
        }
        self.replace_range(node.start, node.end, emit::quoted(s));
    }

    /// Sets `key` in a mapping to `value`: replaces the value when the key is
    /// there, adds an entry otherwise.
    pub(crate) fn set_entry(
        &mut self,
        map: &Node<'_>,
        key: &str,
        value: &Value,
    ) -> Result<(), EditError> {
        if map.start > map.end
            || !self.text.is_char_boundary(map.start)
            || !self.text.is_char_boundary(map.end)
        {
            return Err(EditError(format!(
                "`{key}` goes into a node of bytes {}..{}, outside this editor's text ({} bytes): \
                 was it read from another text?",
                map.start,
                map.end,
                self.text.len()
            )));
        }
        let entries = map.entries().ok_or_else(|| {
            EditError(format!(
                "`{key}` goes into {} at line {} column {}, which is not a mapping",
                map.describe(),
                map.line,
                map.col
            ))
        })?;
        if !self.claim_shallow(map) {
            return Ok(());
        }
        if let Some((k, v)) = entries.iter().find(|(k, _)| k.scalar() == Some(key)) {
            if !self.claim(v) {
                return Ok(());
            }
            let empty = matches!(&v.kind, NodeKind::Scalar { value, style }
                if value.is_empty() && *style == saphyr_parser::ScalarStyle::Plain)
                && v.tag.is_none()
                && v.anchor == 0;
            if map.flow && empty {
                // An empty value in flow style (`{k: }`, `[k: ]`, `{k}`) has
                // no text of its own to replace: the value goes after the
                // colon, with a blank (`{k:1}` would be one plain key), or
                // after the key with a colon.
                let colon = after_colon(self.text, k.end);
                let sep = if colon == k.end { ": " } else { " " };
                self.push(colon, colon, format!("{sep}{}", emit::flow(value)));
            } else if map.flow || emit::is_inline(value) {
                self.replace(v, value);
            } else if !v.flow && (v.entries().is_some() || v.items().is_some()) {
                // A block collection on its own lines: same place, same indentation.
                let text = emit::block_at(value, self.col(v.start), self.eol);
                self.replace_range(v.start, v.end, text);
            } else {
                // A scalar or flow value on the key's line: move to block lines.
                let indent = self.col(k.start) + 2;
                let colon = after_colon(self.text, k.end);
                let text = format!(
                    "{}{}{}",
                    self.eol,
                    " ".repeat(indent),
                    emit::block_at(value, indent, self.eol)
                );
                if v.end > colon && self.at_line_start(v.end) {
                    self.push(colon, v.end, format!("{text}{}", self.eol));
                } else {
                    self.push(colon, v.end.max(colon), text);
                }
            }
            return Ok(());
        }
        if map.flow && !self.text[map.start..].starts_with('{') {
            // An implicit pair in a flow sequence (`[name: api]`): braced,
            // so that it can hold a second entry.
            // (The pair's span stops at its key when its value is empty.)
            let end = entries.iter().fold(map.end, |e, (k, v)| {
                e.max(v.end).max(after_colon(self.text, k.end))
            });
            self.push(map.start, map.start, "{".to_string());
            self.push(
                end,
                end,
                format!(", {}: {}}}", emit::quoted(key), emit::flow(value)),
            );
            return Ok(());
        }
        if map.flow {
            let close = map.end - 1;
            let sep = self.flow_separator(map.start, close, entries.is_empty());
            self.push(
                close,
                close,
                format!("{sep}{}: {}", emit::quoted(key), emit::flow(value)),
            );
            return Ok(());
        }
        // Indented as the mapping's own keys (entries from a merge key
        // stand elsewhere).
        let first = entries
            .iter()
            .find(|(k, _)| !k.shared)
            .map_or(map.start, |(k, _)| k.start);
        let indent = self.col(first);
        let entry = if emit::is_inline(value) {
            format!("{}: {}", emit::string(key), inline_scalar(value))
        } else {
            format!(
                "{}:{}{}{}",
                emit::string(key),
                self.eol,
                " ".repeat(indent + 2),
                emit::block_at(value, indent + 2, self.eol)
            )
        };
        self.insert_line_after(map.end, indent, &entry)
    }

    /// Appends `value` to a sequence.
    pub(crate) fn append(&mut self, seq: &Node<'_>, value: &Value) -> Result<(), EditError> {
        let items = seq.items().ok_or_else(|| {
            EditError(format!(
                "{} at line {} column {} should be a list to add an item to",
                seq.describe(),
                seq.line,
                seq.col
            ))
        })?;
        if !self.claim_shallow(seq) {
            return Ok(());
        }
        if seq.flow {
            let close = seq.end - 1;
            let sep = self.flow_separator(seq.start, close, items.is_empty());
            self.push(close, close, format!("{sep}{}", emit::flow(value)));
            return Ok(());
        }
        let dash = self.col(seq.start);
        let item = if emit::is_inline(value) {
            inline_scalar(value)
        } else {
            emit::block_at(value, dash + 2, self.eol)
        };
        self.insert_line_after(seq.end, dash, &format!("- {item}"))
    }

    /// `, ` unless the flow collection is empty or ends with a comma already.
    fn flow_separator(&self, open: usize, close: usize, empty: bool) -> &'static str {
        if empty {
            return "";
        }
        let before = self.text[open..close].trim_end();
        if before.ends_with(',') { " " } else { ", " }
    }
}

/// Indentation of text that starts on a new line (`usize::MAX` otherwise,
/// so inline text stays first).
fn new_line_indent(text: &str) -> usize {
    match text
        .strip_prefix("\r\n")
        .or_else(|| text.strip_prefix(['\n', '\r']))
    {
        Some(rest) => rest.len() - rest.trim_start_matches(' ').len(),
        None => usize::MAX,
    }
}

/// Writes a scalar (or `{}`/`[]`) for block context.
fn inline_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => emit::string(s),
        other => emit::flow(other),
    }
}

/// Sorts edits into application order and checks that none overlap.
/// Insertions at one point: the more indented belongs to the inner
/// collection, which closes first, so it goes first.
pub(crate) fn sort_checked(edits: &mut [Edit]) -> Result<(), EditError> {
    edits.sort_by_key(|e| (e.start, e.end, std::cmp::Reverse(new_line_indent(&e.text))));
    let mut at = 0;
    for e in edits.iter() {
        if e.start < at {
            return Err(format!("overlapping edits at byte {}", e.start).into());
        }
        at = e.end;
    }
    Ok(())
}

/// Writes `text` with sorted, checked edits applied.
pub(crate) fn write(
    text: &str,
    edits: &[Edit],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    write_all(text, edits.iter(), out, usize::MAX, |_| {})
}

/// [`write()`] for sorted, checked edits given one by one (a document's
/// edits after another's).
///
/// `behind(n)` is called as the writing goes, about every `every` bytes of
/// `text`, once `text[..n]` has been handed to `out` and is not read again.
pub(crate) fn write_all<'e>(
    text: &str,
    edits: impl Iterator<Item = &'e Edit>,
    out: &mut impl std::io::Write,
    every: usize,
    mut behind: impl FnMut(usize),
) -> std::io::Result<()> {
    let bytes = text.as_bytes();
    let every = every.max(1);
    let mut told = 0;
    // Copies text[from..to] in pieces of `every` bytes at most.
    let mut copy = |from: usize, to: usize, out: &mut dyn std::io::Write| {
        let mut at = from;
        while at < to {
            let end = to.min(at.saturating_add(every));
            out.write_all(&bytes[at..end])?;
            at = end;
            if at - told >= every {
                behind(at);
                told = at;
            }
        }
        std::io::Result::Ok(())
    };
    let mut at = 0;
    for e in edits {
        copy(at, e.start, out)?;
        out.write_all(e.text.as_bytes())?;
        at = e.end;
    }
    copy(at, bytes.len(), out)
}

/// Applies edits to `text`. Edits must not overlap; insertions at the same
/// point keep their order. An edit that does not fall within `text` on
/// character boundaries (one an [`Editor`] over another text made) is an
/// error, not a panic.
pub(crate) fn apply(text: &str, edits: &mut [Edit]) -> Result<String, EditError> {
    if let Some(e) = edits.iter().find(|e| {
        e.start > e.end || !text.is_char_boundary(e.start) || !text.is_char_boundary(e.end)
    }) {
        return Err(format!(
            "an edit of bytes {}..{} does not fall within the text ({} bytes) on character \
             boundaries: was it made over another text?",
            e.start,
            e.end,
            text.len()
        )
        .into());
    }
    sort_checked(edits)?;
    let mut out =
        Vec::with_capacity(text.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    write(text, edits, &mut out).expect("writing to memory");
    Ok(String::from_utf8(out).expect("edits of UTF-8 text are UTF-8"))
}

/// Sets `key` in the root mapping of the one YAML document `text` holds to
/// `value` (its value replaced when the key is there, an entry added
/// otherwise), every other byte kept, and proves the result: read back as
/// Kubernetes reads it, the document is the old one with `value` under
/// `key`, and nothing else changed.
///
/// Limits: `key` is matched as written, not as YAML 1.1 reads a key (`on`
/// is not `true`); whatever the editor cannot write exactly (an explicit
/// `? key`, a tag on the old value, an old value an alias elsewhere shares)
/// is an error, found by the proof, never a changed meaning.
pub fn set_root_entry(text: &str, key: &str, value: &Value) -> Result<String, EditError> {
    let stream = crate::yaml::parse(text).map_err(|e| EditError(e.to_string()))?;
    let [doc] = stream.docs.as_slice() else {
        return Err(format!(
            "the text holds {} documents; one is edited",
            stream.docs.len()
        )
        .into());
    };
    let times = doc.root.entries().map_or(0, |e| {
        e.iter().filter(|(k, _)| k.scalar() == Some(key)).count()
    });
    if times > 1 {
        return Err(format!("`{key}` is written {times} times; write it once").into());
    }
    let Value::Object(mut want) = crate::yaml::to_json(&doc.root, &doc.anchors)? else {
        return Err("the document is not a mapping".into());
    };
    want.insert(key.to_string(), value.clone());
    let mut ed = Editor::new(text, doc.eol(text));
    ed.set_entry(&doc.root, key, value)?;
    let out = apply(text, &mut ed.into_edits())?;
    let back = crate::yaml::parse(&out)
        .map_err(|e| EditError(format!("the edited document does not parse: {e}")))?;
    let read = match back.docs.as_slice() {
        [d] => crate::yaml::to_json(&d.root, &d.anchors)?,
        docs => return Err(format!("the edited text holds {} documents", docs.len()).into()),
    };
    if read != Value::Object(want) {
        return Err(format!(
            "`{key}` cannot be written into this document exactly (read back, it differs \
             beyond `{key}`)"
        )
        .into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
