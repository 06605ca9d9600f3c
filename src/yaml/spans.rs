//! Byte and line arithmetic on the input text: the one place that knows
//! where a node's bytes start and end, which the parser's spans do not say
//! exactly.
//!
//! Limits: the rules here are written for the spans saphyr-parser reports
//! (character indices; quoted scalars' spans running over trailing blanks
//! and comments; block scalars starting at their content rather than their
//! header). A different parser would need them re-derived.

use saphyr_parser::ScalarStyle;

/// Converts the parser's character indices into byte offsets, moving in
/// either direction from the last position asked.
pub(crate) struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'a> Offsets<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Offsets {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    /// Offsets of `text` found by walking from the last position asked,
    /// without first checking the whole text for ASCII (when only its
    /// start will be asked about).
    pub(crate) fn walking(text: &'a str) -> Self {
        Offsets {
            text,
            ascii: false,
            chars: 0,
            bytes: 0,
        }
    }

    /// The byte offset of character `char_index`.
    pub(crate) fn byte(&mut self, char_index: usize) -> usize {
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

/// Counts YAML line breaks (`\n`, `\r\n`, lone `\r`) before a position,
/// moving forward only.
#[derive(Default)]
pub(crate) struct LineCounter {
    pos: usize,
    lines: usize,
}

impl LineCounter {
    /// Line breaks before `pos` (never less than a previous answer).
    pub(crate) fn lines_before(&mut self, text: &str, pos: usize) -> usize {
        let b = text.as_bytes();
        let end = pos.min(b.len());
        if self.pos >= end {
            return self.lines;
        }
        // Each `\n` is a break, and each `\r` not followed by `\n`.
        for (base, part) in crate::pages::windows(&b[self.pos..end]) {
            self.lines += memchr::memchr_iter(b'\n', part).count();
            for r in memchr::memchr_iter(b'\r', part) {
                if b.get(self.pos + base + r + 1) != Some(&b'\n') {
                    self.lines += 1;
                }
            }
        }
        self.pos = end;
        self.lines
    }
}

/// 1-based line and column of `pos`, counting lines as YAML does.
pub(crate) fn line_col(text: &str, pos: usize) -> (usize, usize) {
    (
        1 + LineCounter::default().lines_before(text, pos),
        column(text, pos) + 1,
    )
}

/// The offset of the first character in `text` that go-yaml (YAML 1.1, and
/// so Kubernetes, Helm, kubectl and kustomize) takes for a line break
/// besides `\n` and `\r`, and saphyr-parser (YAML 1.2) reads as an
/// ordinary character: NEL (U+0085), LINE SEPARATOR (U+2028), PARAGRAPH
/// SEPARATOR (U+2029). A SIMD search for their first bytes.
pub(crate) fn first_go_yaml_break(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    memchr::memchr2_iter(0xC2, 0xE2, b).find(|&i| match b[i] {
        0xC2 => b.get(i + 1) == Some(&0x85),
        _ => b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)),
    })
}

/// Byte offsets of every character go-yaml reads otherwise than
/// saphyr-parser, in order: the line breaks of [`first_go_yaml_break`], and a byte-order mark
/// anywhere but at the start of the stream (go-yaml skips one at the start
/// of a line but counts it as a column of indentation, so `\u{feff}---` is
/// no document marker to it). A SIMD search for their first bytes: ASCII
/// text pays one fast pass.
pub(crate) fn go_yaml_differs(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut at = Vec::new();
    for (base, w) in crate::pages::windows(b) {
        at.extend(
            memchr::memchr3_iter(0xC2, 0xE2, 0xEF, w)
                .map(|i| base + i)
                .filter(|&i| match b[i] {
                    0xC2 => b.get(i + 1) == Some(&0x85),
                    0xE2 => {
                        b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9))
                    }
                    _ => i > 0 && b.get(i + 1) == Some(&0xBB) && b.get(i + 2) == Some(&0xBF),
                }),
        );
    }
    at
}

/// Column (in bytes) of `pos` on its line. A byte-order mark is not part of
/// the first line's indentation.
pub(crate) fn column(text: &str, pos: usize) -> usize {
    let line_start = match text[..pos].rfind(['\n', '\r']) {
        Some(p) => p + 1,
        None if text.starts_with('\u{feff}') => '\u{feff}'.len_utf8(),
        None => 0,
    };
    pos - line_start
}

/// The offset just after the `:` that follows a key ending at `key_end`
/// (blanks and a closing quote may stand between), or `key_end` when no
/// colon follows.
pub(crate) fn after_colon(text: &str, key_end: usize) -> usize {
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

/// Where a block collection's content starts when the parser's span starts
/// at its properties (`&anchor`, `!tag`): past them, and past the blanks,
/// line breaks and comments after them. Elsewhere `pos` itself.
pub(crate) fn after_properties(text: &str, pos: usize) -> usize {
    let b = text.as_bytes();
    if !matches!(b.get(pos), Some(b'&' | b'!')) {
        return pos;
    }
    let mut i = pos;
    loop {
        match b.get(i) {
            Some(b'&' | b'!') => {
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
            }
            Some(b' ' | b'\t' | b'\n' | b'\r') => i += 1,
            Some(b'#') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => return i,
        }
    }
}

/// Finds the `-` that opens a block sequence whose first item starts at `pos`.
pub(crate) fn block_seq_start(text: &str, pos: usize) -> usize {
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

/// Exact bounds of a scalar. The parser's spans include trailing blanks and
/// comments after quoted scalars, and start block scalars at their content
/// rather than at the `|`/`>` header, which is looked for after `prev_end`
/// (the end of the previous token).
pub(crate) fn scalar_bounds(
    text: &str,
    start: usize,
    end: usize,
    style: ScalarStyle,
    prev_end: usize,
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
            let mut i = prev_end;
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

/// The keys of one mapping, read in order: the one duplicate-key rule
/// (the summary's flag and the workload check both use it). `P` is where a
/// key stands, so a message can name both places. Small mappings are
/// searched in a list; past [`Keys::SMALL`] keys an index keeps it linear.
#[derive(Debug)]
pub(crate) struct Keys<'k, P> {
    seen: Vec<(std::borrow::Cow<'k, str>, P)>,
    index: Option<std::collections::HashMap<std::borrow::Cow<'k, str>, P>>,
}

impl<P> Default for Keys<'_, P> {
    fn default() -> Self {
        Keys {
            seen: Vec::new(),
            index: None,
        }
    }
}

impl<'k, P: Copy> Keys<'k, P> {
    /// Keys searched in a list before an index is built.
    const SMALL: usize = 32;

    /// Room for `n` keys of one mapping, allocated once.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Keys {
            seen: Vec::with_capacity(n.min(Self::SMALL + 1)),
            index: None,
        }
    }

    /// Adds `key`, found at `at`; returns where it was seen before, if it was.
    pub(crate) fn add(&mut self, key: impl Into<std::borrow::Cow<'k, str>>, at: P) -> Option<P> {
        let key = key.into();
        if let Some(index) = &mut self.index {
            if let Some(first) = index.get(&key) {
                return Some(*first);
            }
            index.insert(key, at);
            return None;
        }
        if let Some((_, first)) = self.seen.iter().find(|(k, _)| *k == key) {
            return Some(*first);
        }
        self.seen.push((key, at));
        if self.seen.len() > Self::SMALL {
            self.index = Some(std::mem::take(&mut self.seen).into_iter().collect());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colons_columns_and_sequence_starts() {
        assert_eq!(after_colon("a: 1", 1), 2);
        assert_eq!(after_colon("\"a\" : 1", 2), 5);
        assert_eq!(after_colon("a 1", 1), 1, "no colon: the key's end");
        assert_eq!(column("ab\n  cd", 5), 2);
        assert_eq!(column("\u{feff}ab", 4), 1);
        assert_eq!(block_seq_start("k:\n  - a", 7), 5);
        assert_eq!(block_seq_start("k: [a]", 4), 4);
        assert_eq!(after_properties("k: &a !t # c\n  - x", 3), 15);
        assert_eq!(after_properties("k: x", 3), 3);
    }

    #[test]
    fn offsets_move_both_ways_over_multibyte_text() {
        let text = "é: ü\nx";
        let mut o = Offsets::new(text);
        assert_eq!(o.byte(3), 4);
        assert_eq!(o.byte(1), 2);
        assert_eq!(o.byte(5), 7);
    }

    #[test]
    fn line_breaks_are_counted_in_any_steps() {
        // `\n`, `\r\n` and a lone `\r` are one break each, also when a
        // step ends between the `\r` and the `\n`.
        let text = "a\nb\r\nc\rd\r\n\r\ne\r\r\nf\n";
        let naive = |pos: usize| {
            let b = text.as_bytes();
            (0..pos)
                .filter(|&i| b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n')))
                .count()
        };
        for step in 1..=text.len() {
            let mut lines = LineCounter::default();
            let mut pos = 0;
            while pos < text.len() {
                pos = (pos + step).min(text.len());
                assert_eq!(
                    lines.lines_before(text, pos),
                    naive(pos),
                    "step {step} at {pos}"
                );
            }
        }
        assert_eq!(naive(text.len()), 8);
        // Never less than a previous answer.
        let mut lines = LineCounter::default();
        assert_eq!(lines.lines_before(text, 4), 1);
        assert_eq!(lines.lines_before(text, 2), 1);
    }

    #[test]
    fn duplicates_are_found_with_the_first_place() {
        let mut keys = Keys::default();
        assert_eq!(keys.add("a", 1), None);
        assert_eq!(keys.add("b", 2), None);
        assert_eq!(keys.add("a", 3), Some(1));
        // Past the list, the index answers the same.
        let mut keys = Keys::default();
        for i in 0..100 {
            assert_eq!(keys.add(i.to_string(), i), None);
        }
        assert_eq!(keys.add("7", 200), Some(7));
        assert_eq!(keys.add("99", 200), Some(99));
        assert_eq!(keys.add("100", 200), None);
    }
}
