//! How Kubernetes reads YAML: go-yaml v2's YAML 1.1 typing of scalars.
//!
//! Kubernetes decodes manifests with `sigs.k8s.io/yaml`, which reads them
//! with go-yaml v2 and turns the result into JSON. go-yaml v2 types plain
//! scalars by YAML 1.1 rules: `0644` is the octal integer 420, `on`, `yes`
//! and `y` are booleans, `~` is null. Quoted scalars are always strings. This
//! module is the one place in the crate that knows those rules (the tests
//! have their own, independent copy); [`crate::yaml::node::to_json`] applies them
//! to a whole tree. It knows nothing of trees itself.

use saphyr_parser::ScalarStyle;

/// What a scalar means under YAML 1.1 / go-yaml v2.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar11 {
    /// `~`, `null`, `Null`, `NULL` or nothing.
    Null,
    /// `y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF`.
    Bool(bool),
    /// A signed integer (`0644` = 420, `0x1F` = 31, `0b11` = 3, `1_000` = 1000).
    Int(i64),
    /// An integer too large for `i64`.
    Uint(u64),
    /// A float (`1e3`, `08`, `.5`, `.inf`).
    Float(f64),
    /// Anything else.
    Str,
}

/// Types a *plain*, untagged scalar the way go-yaml v2 does.
pub fn resolve_plain(s: &str) -> Scalar11 {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar11::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Scalar11::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Scalar11::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar11::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar11::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar11::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Scalar11::Str;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if let Some(i) = go_parse_int(&plain) {
        return Scalar11::Int(i);
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Scalar11::Uint(u);
    }
    if is_yaml_style_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Scalar11::Float(f);
    }
    Scalar11::Str
}

/// Splits Go's base prefix off: `0x`, `0o`, `0b`, or a leading `0` (octal).
fn go_base(digits: &str) -> (u32, &str) {
    let b = digits.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => return (16, &digits[2..]),
            b'o' | b'O' => return (8, &digits[2..]),
            b'b' | b'B' => return (2, &digits[2..]),
            _ => return (8, &digits[1..]),
        }
    }
    (10, digits)
}

/// `strconv.ParseUint(s, 0, 64)`, without underscores.
fn go_parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (base, digits) = go_base(s);
    if digits.is_empty() {
        return None;
    }
    if !digits.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    u64::from_str_radix(digits, base).ok()
}

/// `strconv.ParseInt(s, 0, 64)`, without underscores.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// go-yaml v2's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The core-schema tag prefix (`!!`).
pub const CORE: &str = "tag:yaml.org,2002:";

/// True for a merge key (go-yaml v2's `isMerge`): a `<<` that is implicit
/// (plain and untagged, or tagged with the non-specific `!`, in any style),
/// or tagged `!!merge`.
pub(crate) fn is_merge_key(value: &str, style: ScalarStyle, tag: Option<&str>) -> bool {
    value == "<<"
        && match tag {
            None => style == ScalarStyle::Plain,
            Some(t) => t == "!" || t == "tag:yaml.org,2002:merge",
        }
}

/// Base64 as Go's `base64.StdEncoding.DecodeString` reads it (go-yaml's
/// `!!binary`): the standard alphabet, padding required, line breaks
/// skipped.
pub(crate) fn go_base64(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b'\n' && *b != b'\r').collect();
    if !digits.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(digits.len() / 4 * 3);
    let quads = digits.chunks(4).collect::<Vec<_>>();
    for (i, q) in quads.iter().enumerate() {
        let pad = q.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads.len()) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | u32::from(value(c)?);
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// True when Kubernetes reads this scalar as a string.
pub fn is_string(value: &str, style: ScalarStyle, tag: Option<&str>) -> bool {
    match tag {
        Some(t) if t.starts_with(CORE) => &t[CORE.len()..] == "str",
        Some(_) => true,
        None => style != ScalarStyle::Plain || resolve_plain(value) == Scalar11::Str,
    }
}

/// What a scalar node means, tags and style included.
pub fn scalar_meaning(value: &str, style: ScalarStyle, tag: Option<&str>) -> Scalar11 {
    match tag {
        Some(t) if t.starts_with(CORE) => match &t[CORE.len()..] {
            "str" | "binary" => Scalar11::Str,
            "null" => Scalar11::Null,
            _ => match resolve_plain(value) {
                Scalar11::Null if !value.is_empty() => Scalar11::Str,
                other => other,
            },
        },
        Some(_) => Scalar11::Str,
        None if style != ScalarStyle::Plain => Scalar11::Str,
        None => resolve_plain(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_yaml_v2_plain_scalar_typing() {
        use Scalar11::*;
        let cases: &[(&str, Scalar11)] = &[
            ("0644", Int(420)),
            ("0o17", Int(15)),
            ("0x1F", Int(31)),
            ("0b11", Int(3)),
            ("1_000", Int(1000)),
            ("-12", Int(-12)),
            ("+7", Int(7)),
            ("08", Float(8.0)),
            ("1e3", Float(1000.0)),
            (".5", Float(0.5)),
            ("on", Bool(true)),
            ("Off", Bool(false)),
            ("y", Bool(true)),
            ("N", Bool(false)),
            ("yes", Bool(true)),
            ("~", Null),
            ("", Null),
            ("NULL", Null),
            ("0.6.1", Str),
            ("1:20", Str),
            ("polyaxon-core", Str),
            ("2001-12-14", Str),
            ("yES", Str),
            ("18446744073709551615", Uint(u64::MAX)),
            ("0_", Int(0)),
            ("-", Str),
            ("0x", Str),
        ];
        for (input, want) in cases {
            assert_eq!(&resolve_plain(input), want, "{input:?}");
        }
        assert!(matches!(resolve_plain(".nan"), Float(f) if f.is_nan()));
    }

    #[test]
    fn base64_as_go_reads_it() {
        assert_eq!(go_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(go_base64("aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(go_base64("").unwrap(), b"");
        assert!(go_base64("aGVsbG8").is_none(), "padding is required");
        assert!(go_base64("aG=sbG8=").is_none());
        assert!(go_base64("a*==").is_none());
    }

    #[test]
    fn quoting_and_tags_make_strings() {
        assert!(is_string("on", ScalarStyle::DoubleQuoted, None));
        assert!(is_string("0755", ScalarStyle::SingleQuoted, None));
        assert!(!is_string("0755", ScalarStyle::Plain, None));
        assert!(is_string(
            "0755",
            ScalarStyle::Plain,
            Some("tag:yaml.org,2002:str")
        ));
        assert_eq!(
            scalar_meaning("12", ScalarStyle::Plain, Some("tag:yaml.org,2002:int")),
            Scalar11::Int(12)
        );
    }
}
