//! A fast reader for the plain block YAML that Helm renders, giving
//! exactly the events and spans the parser gives, or nothing at all.
//!
//! It reads one document at a time: from a `---` line to the next `---`
//! line or the end of the text. A document made only of what is listed
//! here is read line by line, without the parser's token queue, simple-key
//! bookkeeping or per-character marks; anything else (and anything it
//! cannot prove valid) makes it read nothing, and the parser reads that
//! document instead ([`super::reader`]):
//!
//! - printable ASCII only (no tab, carriage return, control or non-ASCII
//!   character), lines indented with spaces;
//! - a `---` line alone, then a block mapping at column 0, or nothing (an
//!   empty document);
//! - block mappings whose keys are plain `[A-Za-z0-9_./$-]` words (not
//!   starting with `-`, at most 1,000 characters) followed by `: ` or the
//!   end of the line;
//! - block sequences (`- ` items, indented or not under their key) whose
//!   items are scalars, or mappings starting on the item's line (`- k: v`);
//! - values on one line: plain scalars (no `: `, no trailing `:`), single-
//!   and double-quoted scalars (the escapes `\\ \" \/ \n \t \r` only), `{}`,
//!   `[]` and flow sequences of such scalars (`["a", b]`);
//! - literal block scalars (`|`, `|-`, `|+`) with content more indented than
//!   their parent and no blank line holding more spaces than the content's
//!   indentation;
//! - comments on their own line or after a value, and blank lines.
//!
//! Not read here: anchors, aliases, tags, directives, `...`, folded scalars,
//! multi-line plain or quoted scalars, flow mappings with content, explicit
//! keys, nested compact sequences (`- - a`), empty items.
//! The equivalence with the parser is tested on every bundled capture, the
//! YAML test suite and random documents (`tests` below).

use saphyr_parser::{Event, ScalarStyle};
use std::borrow::Cow;

/// One event and its span: byte offsets, the 1-based line and the 0-based
/// column (in characters) of its start, as the parser reports them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ev<'a> {
    pub(super) event: Event<'a>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) line: usize,
    pub(super) col: usize,
}

/// Where reading stopped: the next document's `---` line, or the end of
/// the text; either way at column 0 (the parser counts a line break after
/// a last line that has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stop {
    pub(super) pos: usize,
    pub(super) line: usize,
}

/// An open block collection and its indentation.
#[derive(Clone, Copy)]
enum Frame {
    Map(usize),
    /// A sequence; true when its items stand at its key's indentation.
    Seq(usize, bool),
}

/// A key whose value is on the next lines (or empty): its mapping's
/// indentation and where its colon stands.
#[derive(Clone, Copy)]
struct Pending {
    indent: usize,
    colon: usize,
    line: usize,
    col: usize,
}

/// Whether `l` (a line, or the rest of the text) starts with a document
/// marker: `---` followed by a blank, a break or nothing.
pub(super) fn is_marker(l: &[u8]) -> bool {
    l.starts_with(b"---") && matches!(l.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

fn printable(l: &[u8]) -> bool {
    l.iter().all(|&c| (0x20..0x7f).contains(&c))
}

fn key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'$' | b'-')
}

/// Whether a plain scalar may start with `c`, followed on its line by
/// `next` (None: the end of the line).
fn plain_start(c: u8, next: Option<&u8>) -> bool {
    match c {
        b'-' | b'?' | b':' => !matches!(next, None | Some(b' ')),
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' | b' ' => false,
        _ => true,
    }
}

/// Reads the document whose `---` line starts at `pos` (on line `line`)
/// into `out`: its start, its content, its collections' ends; not its end
/// (the caller's: it stands where reading stopped). None, with `out` in
/// any state, when the document holds anything not read here.
pub(super) fn document<'a>(
    text: &'a str,
    pos: usize,
    line: usize,
    out: &mut Vec<Ev<'a>>,
) -> Option<Stop> {
    let b = text.as_bytes();
    if !b[pos..].starts_with(b"---\n") {
        return None;
    }
    let mut r = Reader {
        text,
        b,
        out,
        stack: Vec::new(),
        pending: None,
    };
    r.push(Event::DocumentStart(true), pos, pos + 3, line, 0);
    r.body(pos + 4, line + 1)
}

struct Reader<'a, 'o> {
    text: &'a str,
    b: &'a [u8],
    out: &'o mut Vec<Ev<'a>>,
    stack: Vec<Frame>,
    pending: Option<Pending>,
}

/// The end of the line starting at `pos` (its `\n`, or the text's end).
fn line_end(b: &[u8], pos: usize) -> usize {
    memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i)
}

impl<'a> Reader<'a, '_> {
    fn push(&mut self, event: Event<'a>, start: usize, end: usize, line: usize, col: usize) {
        self.out.push(Ev {
            event,
            start,
            end,
            line,
            col,
        });
    }

    /// Reads lines from `pos` (a line start, line `line`) to the next
    /// marker or the end of the text.
    fn body(&mut self, mut pos: usize, mut line: usize) -> Option<Stop> {
        let b = self.b;
        // A blank or comment last line without a break: its line and length.
        let mut tail = None;
        let stop = loop {
            if pos >= b.len() {
                // The end of the text: the parser counts a line break
                // after a last line that has none.
                let line = line + usize::from(pos > 0 && b[pos - 1] != b'\n');
                break Stop { pos, line };
            }
            let le = line_end(b, pos);
            let l = &b[pos..le];
            if is_marker(l) {
                break Stop { pos, line };
            }
            if !printable(l) {
                return None;
            }
            let ind = l.iter().take_while(|&&c| c == b' ').count();
            if ind == l.len() || l[ind] == b'#' {
                if le == b.len() {
                    tail = Some((line, l.len()));
                }
                (pos, line) = next_line(b, le, line);
                continue;
            }
            (pos, line) = self.content(pos, le, line, ind)?;
        };
        if self.stack.is_empty() {
            // An empty document: a null scalar where reading stopped (over
            // the next marker, as the parser's token there).
            let end = if stop.pos < b.len() {
                stop.pos + 3
            } else {
                stop.pos
            };
            let e = Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None);
            self.push(e, stop.pos, end, stop.line, 0);
            return Some(stop);
        }
        if let Some(p) = self.pending.take() {
            self.empty_value(p);
        }
        while let Some(f) = self.stack.pop() {
            let (e, indent) = match f {
                Frame::Map(m) => (Event::MappingEnd, m),
                Frame::Seq(s, _) => (Event::SequenceEnd, s),
            };
            // After a blank or comment last line without a break, the
            // parser closes what is indented more than that line's length
            // on that line, at its end.
            let (line, col) = match tail {
                Some((l, len)) if indent > len => (l, len),
                _ => (stop.line, 0),
            };
            self.push(e, stop.pos, stop.pos, line, col);
        }
        Some(stop)
    }

    fn empty_value(&mut self, p: Pending) {
        let e = Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None);
        self.push(e, p.colon, p.colon, p.line, p.col);
    }

    /// Reads the content line at `pos..le` (indented by `ind`), and the
    /// lines a block scalar on it takes; returns where the next line
    /// starts.
    fn content(
        &mut self,
        pos: usize,
        le: usize,
        line: usize,
        ind: usize,
    ) -> Option<(usize, usize)> {
        let b = self.b;
        let p = pos + ind;
        let item = b[p] == b'-' && (p + 1 == le || b[p + 1] == b' ');
        if let Some(pd) = self.pending.take() {
            if ind > pd.indent {
                if item {
                    self.push(Event::SequenceStart(0, None), p, p, line, ind);
                    self.stack.push(Frame::Seq(ind, false));
                } else if self.key_end(p, le).is_none() {
                    // A scalar (or `{}`, `[]`) on the line after its key.
                    return self.value(pos, p, le, line, pd.indent);
                } else {
                    self.push(Event::MappingStart(0, None), p, p, line, ind);
                    self.stack.push(Frame::Map(ind));
                }
            } else if ind == pd.indent && item {
                // Items at the key's indentation: the sequence starts at
                // its first item's content.
                let q = skip_spaces(b, p + 1, le);
                if q == le {
                    return None;
                }
                self.push(Event::SequenceStart(0, None), q, q, line, q - pos);
                self.stack.push(Frame::Seq(ind, true));
            } else {
                self.empty_value(pd);
            }
        }
        while let Some(&f) = self.stack.last() {
            let close = match f {
                Frame::Map(m) => ind < m,
                Frame::Seq(s, false) => ind < s,
                Frame::Seq(s, true) => ind < s || (ind == s && !item),
            };
            if !close {
                break;
            }
            self.stack.pop();
            let e = match f {
                Frame::Map(_) => Event::MappingEnd,
                Frame::Seq(..) => Event::SequenceEnd,
            };
            self.push(e, p, p, line, ind);
            if self.stack.is_empty() {
                return None; // content after the root
            }
        }
        match self.stack.last() {
            None => {
                if ind != 0 || item {
                    return None;
                }
                self.push(Event::MappingStart(0, None), p, p, line, 0);
                self.stack.push(Frame::Map(0));
                self.entry(pos, p, le, line, 0)
            }
            Some(&Frame::Map(m)) => {
                if ind != m || item {
                    return None;
                }
                self.entry(pos, p, le, line, m)
            }
            Some(&Frame::Seq(s, _)) => {
                if ind != s || !item {
                    return None;
                }
                let q = skip_spaces(b, p + 1, le);
                if q == le
                    || b[q] == b'#'
                    || (b[q] == b'-' && matches!(b.get(q + 1), Some(b' ' | b'\n') | None))
                {
                    return None; // an empty item, or a nested compact sequence
                }
                if self.key_end(q, le).is_some() {
                    // A mapping starting on the item's line.
                    self.push(Event::MappingStart(0, None), q, q, line, q - pos);
                    self.stack.push(Frame::Map(q - pos));
                    return self.entry(pos, q, le, line, q - pos);
                }
                self.value(pos, q, le, line, s)
            }
        }
    }

    /// Where the plain key starting at `p` ends (at its colon), when the
    /// line holds one.
    fn key_end(&self, p: usize, le: usize) -> Option<usize> {
        let b = self.b;
        if b[p] == b'-' {
            return None;
        }
        let mut i = p;
        while i < le && key_char(b[i]) {
            i += 1;
        }
        if i == p || i - p > 1000 || i == le || b[i] != b':' {
            return None;
        }
        if i + 1 < le && b[i + 1] != b' ' {
            return None;
        }
        Some(i)
    }

    /// Reads the mapping entry at `p` (its line starting at `pos`) of a
    /// mapping indented by `m`.
    fn entry(
        &mut self,
        pos: usize,
        p: usize,
        le: usize,
        line: usize,
        m: usize,
    ) -> Option<(usize, usize)> {
        let colon = self.key_end(p, le)?;
        let key = Cow::Borrowed(&self.text[p..colon]);
        self.push(
            Event::Scalar(key, ScalarStyle::Plain, 0, None),
            p,
            colon,
            line,
            p - pos,
        );
        let j = skip_spaces(self.b, colon + 1, le);
        if j == le || self.b[j] == b'#' {
            self.pending = Some(Pending {
                indent: m,
                colon,
                line,
                col: colon - pos,
            });
            return Some(next_line(self.b, le, line));
        }
        self.value(pos, j, le, line, m)
    }

    /// Reads the value at `j` (its line starting at `pos`, ending at `le`),
    /// whose parent collection is indented by `n`.
    fn value(
        &mut self,
        pos: usize,
        j: usize,
        le: usize,
        line: usize,
        n: usize,
    ) -> Option<(usize, usize)> {
        let b = self.b;
        let col = j - pos;
        match b[j] {
            b'"' | b'\'' => {
                let (v, style, close) = quoted(self.text, j, le)?;
                let end = trailing(b, close, le)?;
                self.push(Event::Scalar(v, style, 0, None), j, end, line, col);
            }
            b'{' => {
                if b.get(j + 1) != Some(&b'}') {
                    return None;
                }
                let end = trailing(b, j + 2, le)?;
                self.push(Event::MappingStart(0, None), j, j + 1, line, col);
                self.push(Event::MappingEnd, j + 1, end, line, col + 1);
            }
            b'[' => self.flow_seq(pos, j, le, line)?,
            b'|' => return self.literal(j, le, line, n),
            c if plain_start(c, b[j + 1..le].first()) => {
                let mut k = j;
                let mut last = j;
                while k < le {
                    let c = b[k];
                    if c == b':' && (k + 1 == le || b[k + 1] == b' ') {
                        return None;
                    }
                    if c == b'#' && b[k - 1] == b' ' {
                        break;
                    }
                    if c != b' ' {
                        last = k + 1;
                    }
                    k += 1;
                }
                let v = Cow::Borrowed(&self.text[j..last]);
                self.push(
                    Event::Scalar(v, ScalarStyle::Plain, 0, None),
                    j,
                    last,
                    line,
                    col,
                );
            }
            _ => return None,
        }
        Some(next_line(b, le, line))
    }

    /// A flow sequence on one line: `[]`, or scalars separated by `, `.
    fn flow_seq(&mut self, pos: usize, j: usize, le: usize, line: usize) -> Option<()> {
        let b = self.b;
        self.push(Event::SequenceStart(0, None), j, j + 1, line, j - pos);
        let mut i = j + 1;
        if b.get(i) == Some(&b']') {
            let end = trailing(b, i + 1, le)?;
            self.push(Event::SequenceEnd, i, end, line, i - pos);
            return Some(());
        }
        loop {
            if i >= le {
                return None;
            }
            let (v, style, close) = match b[i] {
                b'"' | b'\'' => quoted(self.text, i, le)?,
                c if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/') => {
                    let mut k = i;
                    while k < le && key_char(b[k]) {
                        k += 1;
                    }
                    (Cow::Borrowed(&self.text[i..k]), ScalarStyle::Plain, k)
                }
                _ => return None,
            };
            self.push(Event::Scalar(v, style, 0, None), i, close, line, i - pos);
            match b.get(close) {
                Some(b',') if b.get(close + 1) == Some(&b' ') => {
                    i = close + 2;
                    if matches!(b.get(i), Some(b' ' | b']' | b',')) {
                        return None;
                    }
                }
                Some(b']') => {
                    let end = trailing(b, close + 1, le)?;
                    self.push(Event::SequenceEnd, close, end, line, close - pos);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A literal block scalar whose header (`|`, `|-`, `|+`) is at `j`;
    /// its parent collection is indented by `n`.
    fn literal(&mut self, j: usize, le: usize, line: usize, n: usize) -> Option<(usize, usize)> {
        let b = self.b;
        let mut h = j + 1;
        let chomp = match b.get(h) {
            Some(&c @ (b'-' | b'+')) => {
                h += 1;
                c
            }
            _ => b' ',
        };
        if skip_spaces(b, h, le) != le || (h < le && b[h] != b' ') {
            return None; // an indentation indicator, a comment or more
        }
        // The first line with content sets the indentation.
        let (mut q, mut ln) = next_line(b, le, line);
        let mut widest_blank = 0;
        let (first, first_line, k) = loop {
            if q >= b.len() || is_marker(&b[q..]) {
                return None; // empty
            }
            let e = line_end(b, q);
            let l = &b[q..e];
            if !printable(l) {
                return None;
            }
            let sp = l.iter().take_while(|&&c| c == b' ').count();
            if sp < l.len() {
                break (q, ln, sp);
            }
            widest_blank = widest_blank.max(sp);
            if e == b.len() {
                return None;
            }
            (q, ln) = (e + 1, ln + 1);
        };
        if k <= n || widest_blank > k {
            return None;
        }
        let mut value = String::new();
        for _ in 0..ln - line - 1 {
            value.push('\n');
        }
        let mut blanks = 0usize;
        // Reads content lines from `q` until a line less indented.
        let (after, after_line) = loop {
            if q >= b.len() || is_marker(&b[q..]) {
                break (q, ln);
            }
            let e = line_end(b, q);
            let l = &b[q..e];
            if !printable(l) {
                return None;
            }
            let sp = l.iter().take_while(|&&c| c == b' ').count();
            if sp == l.len() && sp <= k {
                blanks += 1;
            } else if sp < k {
                break (q, ln);
            } else {
                for _ in 0..blanks {
                    value.push('\n');
                }
                blanks = 0;
                value.push_str(&self.text[q + k..e]);
                value.push('\n');
            }
            if e == b.len() {
                // A last line without a break: left to the parser.
                return None;
            }
            (q, ln) = (e + 1, ln + 1);
        };
        match chomp {
            b'-' => {
                value.pop();
            }
            b'+' => {
                for _ in 0..blanks {
                    value.push('\n');
                }
            }
            _ => {}
        }
        // The parser's span ends past the indentation of the line that
        // ends the scalar (a comment's too).
        let end = if after >= b.len() || is_marker(&b[after..]) {
            after
        } else {
            skip_spaces(b, after, line_end(b, after))
        };
        let v = Cow::Owned(value);
        self.push(
            Event::Scalar(v, ScalarStyle::Literal, 0, None),
            first + k,
            end,
            first_line,
            k,
        );
        Some((after, after_line))
    }
}

fn skip_spaces(b: &[u8], mut i: usize, le: usize) -> usize {
    while i < le && b[i] == b' ' {
        i += 1;
    }
    i
}

/// Where the line after the one ending at `le` starts.
fn next_line(b: &[u8], le: usize, line: usize) -> (usize, usize) {
    if le >= b.len() {
        (b.len(), line)
    } else {
        (le + 1, line + 1)
    }
}

/// After a quoted scalar or a closing bracket ending at `i`: the end the
/// parser gives it, past blanks and a comment to the end of the line;
/// None when anything else follows on the line.
fn trailing(b: &[u8], i: usize, le: usize) -> Option<usize> {
    let s = skip_spaces(b, i, le);
    if s == le || (b[s] == b'#' && s > i) {
        Some(le)
    } else {
        None
    }
}

/// A quoted scalar on one line starting at `j` (its quote): its value, its
/// style and where it ends (past its closing quote).
fn quoted<'a>(text: &'a str, j: usize, le: usize) -> Option<(Cow<'a, str>, ScalarStyle, usize)> {
    let b = text.as_bytes();
    let q = b[j];
    let style = if q == b'"' {
        ScalarStyle::DoubleQuoted
    } else {
        ScalarStyle::SingleQuoted
    };
    let mut i = j + 1;
    let mut owned: Option<String> = None;
    let mut run = i; // start of the characters not yet copied
    while i < le {
        let c = b[i];
        if c == q {
            if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&text[run..=i]);
                i += 2;
                run = i;
                continue;
            }
            let v = match owned {
                None => Cow::Borrowed(&text[j + 1..i]),
                Some(mut o) => {
                    o.push_str(&text[run..i]);
                    Cow::Owned(o)
                }
            };
            return Some((v, style, i + 1));
        }
        if q == b'"' && c == b'\\' {
            let r = match b.get(i + 1) {
                Some(b'\\') => '\\',
                Some(b'"') => '"',
                Some(b'/') => '/',
                Some(b'n') => '\n',
                Some(b't') => '\t',
                Some(b'r') => '\r',
                _ => return None,
            };
            let o = owned.get_or_insert_with(String::new);
            o.push_str(&text[run..i]);
            o.push(r);
            i += 2;
            run = i;
            continue;
        }
        i += 1;
    }
    None // runs on past the line
}
