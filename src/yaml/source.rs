//! Where a piece of the input came from: UTF-8 decoding, the template a
//! document was rendered from (Helm 3's `# Source:` comment, Helm 4's
//! filename annotation) and the syntax error that names both.

use std::fmt;

/// Helm 4's annotation naming the template a document came from.
pub(crate) const HELM4_FILENAME: &str = "postrenderer.helm.sh/postrender-filename";

/// The input is not a valid YAML stream: what is wrong and where.
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

impl std::error::Error for SyntaxError {}

/// Checks that `bytes` are UTF-8; otherwise says where they are not.
/// Checked [`crate::pages::RELEASE_EVERY`] bytes at a time, each piece's
/// pages given back once checked when the stream is spilled.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, SyntaxError> {
    let mut at = 0;
    while at < bytes.len() {
        // A piece ends before a continuation byte (10xxxxxx), so that no
        // character is cut in two.
        let mut end = (at + crate::pages::RELEASE_EVERY).min(bytes.len());
        while end < bytes.len() && end > at && bytes[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        if end == at || std::str::from_utf8(&bytes[at..end]).is_err() {
            return Err(not_utf8(bytes));
        }
        crate::pages::release(&bytes[at..end]);
        at = end;
    }
    // SAFETY: every piece was checked above, and pieces end on character
    // starts, so the whole is UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Where `bytes` stop being UTF-8, as a syntax error; `bytes` must not be.
fn not_utf8(bytes: &[u8]) -> SyntaxError {
    let Err(e) = std::str::from_utf8(bytes) else {
        unreachable!("not_utf8 is called on bytes that are not UTF-8");
    };
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

/// The first `# Source: <template>` comment line of `text`.
pub(crate) fn first_source(text: &str) -> Option<String> {
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

/// Text from the input as a message shows it: control characters (line
/// breaks and tabs included), go-yaml's extra line breaks (U+2028, U+2029),
/// and the invisible formatting characters that reorder or hide text
/// (bidirectional overrides and isolates, zero-width characters, the BOM)
/// written as escapes, so a name read from a manifest cannot start a line
/// of its own in a report, nor hide or rewrite what is around it.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Where a syntax error stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorAt {
    /// Byte offset where the failing document's region starts.
    pub(crate) region_start: usize,
    /// Byte offset of the error.
    pub(crate) pos: usize,
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) col: usize,
    /// 1-based document index.
    pub(crate) doc: usize,
}

/// A syntax error at `at`, naming the document's template when the text
/// around it shows one.
pub(crate) fn syntax_error(text: &str, at: ErrorAt, message: String) -> SyntaxError {
    let upto = &text[at.region_start.min(text.len())..at.pos.clamp(at.region_start, text.len())];
    SyntaxError {
        message,
        line: at.line,
        col: at.col,
        doc: at.doc,
        template: first_source(upto)
            .or_else(|| helm4_filename(upto))
            .or_else(|| helm4_filename(rest_of_document(text, at.pos))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_checked_in_pieces_without_cutting_a_character() {
        let piece = crate::pages::RELEASE_EVERY;
        // Characters of 2, 3 and 4 bytes across a piece's end, each way;
        // then a bad byte just before, at and after it.
        for c in ['é', '€', '𝄞'] {
            for shift in 0..5 {
                let mut b = vec![b'a'; piece + 64];
                let at = piece - shift;
                let mut enc = [0u8; 4];
                let s = c.encode_utf8(&mut enc).as_bytes();
                b[at..at + s.len()].copy_from_slice(s);
                assert!(decode(&b).is_ok(), "{c} at piece end - {shift}");
                let mut cut = b.clone();
                cut[at + s.len() - 1] = b'a'; // a character cut short
                assert_eq!(decode(&cut).is_ok(), std::str::from_utf8(&cut).is_ok());
                assert_eq!(
                    decode(&cut).err(),
                    std::str::from_utf8(&cut).err().map(|_| not_utf8(&cut))
                );
            }
        }
        for at in [piece - 1, piece, piece + 1, 2 * piece + 3] {
            let mut b = vec![b'a'; 2 * piece + 10];
            b[at] = 0x80; // a continuation byte alone
            let e = decode(&b).unwrap_err();
            assert_eq!(e, not_utf8(&b));
            assert_eq!((e.line, e.col), (1, at + 1), "{at}");
        }
        assert_eq!(decode(b"").unwrap(), "");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = decode(b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 4));
    }

    #[test]
    fn templates_are_found_in_either_helm_form() {
        assert_eq!(
            first_source("x\n# Source: c/t.yaml \n").as_deref(),
            Some("c/t.yaml")
        );
        let at = |pos| ErrorAt {
            region_start: 0,
            pos,
            line: 1,
            col: 1,
            doc: 1,
        };
        let text = "metadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'c/x.yaml'\n  bad: [\n";
        assert_eq!(
            syntax_error(text, at(5), "m".into()).template.as_deref(),
            Some("c/x.yaml")
        );
    }
}
