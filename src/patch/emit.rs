//! Writes the small YAML fragments the tool inserts.
//!
//! Fragments are built as k8s-openapi values, turned into JSON, and written
//! here. Strings are written plain only when every YAML reader (1.1 and 1.2)
//! must read them back as the same string; everything else is double-quoted
//! with escapes valid in both JSON and YAML. In flow context the fragment is
//! written as JSON, which is valid YAML flow syntax.

use serde_json::Value;

/// Writes a string scalar so that it reads back as exactly this string.
pub(crate) fn string(s: &str) -> String {
    if is_safe_plain(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// A double-quoted scalar with every non-printable character escaped.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => {
                // JSON-compatible surrogate pair.
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
        }
    }
    out.push('"');
    out
}

/// YAML's c-printable set, minus the BOM and the characters go-yaml (and
/// so Kubernetes) takes for line breaks and would fold: NEL, LS, PS.
fn is_printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E | 0xA0..=0x2027 | 0x202A..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
}

/// True when `s` may be written plain: letters, digits and `_./-` only,
/// starting with a letter or `/`, and not a YAML 1.1 boolean or null.
fn is_safe_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && crate::yaml::typing::resolve_plain(s) == crate::yaml::typing::Scalar11::Str
}

/// Writes a scalar JSON value (string, number, bool, null).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => string(s),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => unreachable!("not a scalar"),
    }
}

/// True for values written on the line of their key (scalars, `{}`, `[]`).
pub(crate) fn is_inline(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

/// The deepest value [`flow`] and [`block`] write: the parser's own nesting
/// limit (`crate::yaml::events::MAX_DEPTH`), far beyond any Kubernetes
/// object; deeper values would exhaust the stack of these recursive writers.
const MAX_DEPTH: usize = crate::yaml::events::MAX_DEPTH;

/// How deeply `v` nests (a scalar: 1), counted without recursion.
fn depth(v: &Value) -> usize {
    let (mut deepest, mut open) = (0, vec![(v, 1)]);
    while let Some((v, d)) = open.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Object(m) => open.extend(m.values().map(|x| (x, d + 1))),
            Value::Array(a) => open.extend(a.iter().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Refuses a value nested past [`MAX_DEPTH`].
fn check_depth(v: &Value) {
    let d = depth(v);
    assert!(
        d <= MAX_DEPTH,
        "a value nested {d} levels deep; at most {MAX_DEPTH} are written"
    );
}

/// Writes a value on one line as JSON (valid YAML flow syntax).
///
/// # Panics
///
/// When `v` nests more than 512 levels deep (the parser's own limit).
pub fn flow(v: &Value) -> String {
    check_depth(v);
    flow_unchecked(v)
}

fn flow_unchecked(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", quoted(k), flow_unchecked(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(flow_unchecked).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::String(s) => quoted(s),
        other => scalar(other),
    }
}

/// Writes a value in block style, at the start of a line, lines ending in
/// `\n` (a document's body, or the caller indents each line).
///
/// # Panics
///
/// When `v` nests more than 512 levels deep (the parser's own limit).
pub fn block(v: &Value) -> String {
    check_depth(v);
    block_at(v, 0, "\n")
}

/// Writes a value in block style. The first line is meant to be placed at
/// column `indent` by the caller; the following lines carry `indent` spaces.
/// Lines are joined with `eol`.
pub(crate) fn block_at(v: &Value, indent: usize, eol: &str) -> String {
    let mut lines = Vec::new();
    block_lines(v, indent, &mut lines);
    let mut out = String::new();
    for (i, (ind, line)) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str(eol);
            out.push_str(&" ".repeat(*ind));
        }
        out.push_str(line);
    }
    out
}

fn block_lines(v: &Value, indent: usize, out: &mut Vec<(usize, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = string(k);
                if is_inline(v) {
                    out.push((indent, format!("{key}: {}", inline(v))));
                } else {
                    out.push((indent, format!("{key}:")));
                    block_lines(v, indent + 2, out);
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_inline(item) {
                    out.push((indent, format!("- {}", inline(item))));
                } else {
                    let mut sub = Vec::new();
                    block_lines(item, indent + 2, &mut sub);
                    let mut first = true;
                    for (ind, line) in sub {
                        if first {
                            out.push((indent, format!("- {line}")));
                            first = false;
                        } else {
                            out.push((ind, line));
                        }
                    }
                }
            }
        }
        other => out.push((indent, inline(other))),
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => scalar(other),
    }
}

#[cfg(test)]
mod tests {
    /// The public writers refuse, with a message, a value nested past the
    /// parser's limit, which their recursion would otherwise overflow the
    /// stack on; up to the limit they write it.
    #[test]
    fn the_writers_stop_at_the_parsers_nesting_limit() {
        let nest = |n: usize| (1..n).fold(serde_json::json!(1), |v, _| serde_json::json!([v]));
        assert_eq!(super::depth(&nest(MAX_DEPTH)), MAX_DEPTH);
        assert!(flow(&nest(MAX_DEPTH)).starts_with("[[[["));
        assert!(block(&nest(MAX_DEPTH)).starts_with("- - - "));
        for write in [flow as fn(&serde_json::Value) -> String, block] {
            let deep = nest(MAX_DEPTH + 1);
            let r = std::panic::catch_unwind(|| write(&deep));
            assert!(r.is_err());
        }
    }

    #[test]
    fn go_yamls_line_breaks_are_escaped_in_quoted_strings() {
        // go-yaml would fold a raw NEL, LS or PS into a line break.
        assert_eq!(
            quoted("a\u{85}b\u{2028}c\u{2029}d"),
            r#""a\u0085b\u2028c\u2029d""#
        );
        assert_eq!(quoted("é\u{2027}\u{202a}"), "\"é\u{2027}\u{202a}\"");
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_yaml_1_1_would_retype_are_quoted() {
        for s in [
            "on", "yes", "n", "0644", "1e3", "~", "", "null", "true", "1_000", ".inf", "a: b",
            "#x", "-x",
        ] {
            assert!(string(s).starts_with('"'), "{s:?} must be quoted");
        }
        for s in [
            "polyaxon-core",
            "/tmp/repos",
            "kubernetes.io/hostname",
            "ReadWriteOnce",
        ] {
            assert_eq!(string(s), s);
        }
        assert_eq!(
            quoted("a\"b\\c\u{7f}\u{feff}"),
            "\"a\\\"b\\\\c\\u007f\\ufeff\""
        );
    }

    #[test]
    fn block_layout() {
        let v = json!({"name": "repos", "hostPath": {"path": "/data"}, "l": [{"a": 1, "b": [true]}], "e": {}});
        assert_eq!(
            block_at(&v, 4, "\n"),
            "name: repos\n    hostPath:\n      path: /data\n    l:\n      - a: 1\n        b:\n          - true\n    e: {}"
        );
        assert_eq!(
            flow(&v),
            r#"{"name": "repos", "hostPath": {"path": "/data"}, "l": [{"a": 1, "b": [true]}], "e": {}}"#
        );
    }
}
