//! How Kubernetes reads YAML: go-yaml v2's YAML 1.1 typing of scalars.
//!
//! Kubernetes decodes manifests with `sigs.k8s.io/yaml`, which reads them
//! with go-yaml v2 and turns the result into JSON. go-yaml v2 types plain
//! scalars by YAML 1.1 rules: `0644` is the octal integer 420, `on`, `yes`
//! and `y` are booleans, `~` is null. Quoted scalars are always strings. This
//! module is the one place that knows those rules; both the tool (to read
//! `replicas`, labels, names) and the tests (to prove that a patched document
//! means what the input meant) use it.

use crate::node::{Node, NodeKind};
use saphyr_parser::ScalarStyle;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

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

/// Converts a node to the JSON value Kubernetes would see, resolving aliases
/// and merge keys (`<<`) against `anchors`. At most `budget` nodes are
/// produced, so alias bombs fail fast instead of eating memory.
pub fn to_json(
    node: &Node<'_>,
    anchors: &HashMap<usize, Node<'_>>,
    budget: &mut usize,
) -> Result<Value, String> {
    if *budget == 0 {
        return Err("the document expands to too many nodes (alias bomb?)".into());
    }
    *budget -= 1;
    match &node.kind {
        NodeKind::Alias(id) => match anchors.get(id) {
            Some(target) => to_json(target, anchors, budget),
            None => Err(format!(
                "alias at line {} column {} refers to an unknown anchor",
                node.line, node.col
            )),
        },
        NodeKind::Scalar { value, style } => {
            Ok(match scalar_meaning(value, *style, node.tag.as_deref()) {
                Scalar11::Null => Value::Null,
                Scalar11::Bool(b) => Value::Bool(b),
                Scalar11::Int(i) => Value::Number(i.into()),
                Scalar11::Uint(u) => Value::Number(u.into()),
                Scalar11::Float(f) => match Number::from_f64(f) {
                    Some(n) => Value::Number(n),
                    None => {
                        return Err(format!(
                            "{value:?} at line {} column {} is not a finite number",
                            node.line, node.col
                        ));
                    }
                },
                Scalar11::Str => Value::String(value.to_string()),
            })
        }
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| to_json(i, anchors, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        NodeKind::Map(entries) => {
            let mut out = Map::new();
            let mut merged: Vec<Map<String, Value>> = Vec::new();
            for (k, v) in entries {
                if let NodeKind::Scalar { value, style } = &k.kind
                    && value == "<<"
                    && *style == ScalarStyle::Plain
                    && k.tag.is_none()
                {
                    match to_json(v, anchors, budget)? {
                        Value::Object(m) => merged.push(m),
                        Value::Array(a) => {
                            for m in a {
                                match m {
                                    Value::Object(m) => merged.push(m),
                                    _ => return Err(merge_error(v)),
                                }
                            }
                        }
                        _ => return Err(merge_error(v)),
                    }
                    continue;
                }
                let key = key_string(k, anchors, budget)?;
                let value = to_json(v, anchors, budget)?;
                out.insert(key, value);
            }
            for m in merged {
                for (k, v) in m {
                    out.entry(k).or_insert(v);
                }
            }
            Ok(Value::Object(out))
        }
    }
}

fn merge_error(v: &Node<'_>) -> String {
    format!(
        "merge key (<<) at line {} column {} needs a mapping or a list of mappings",
        v.line, v.col
    )
}

/// The string a mapping key becomes in JSON (as `sigs.k8s.io/yaml` does it).
fn key_string(
    k: &Node<'_>,
    anchors: &HashMap<usize, Node<'_>>,
    budget: &mut usize,
) -> Result<String, String> {
    // Infinite and NaN keys are fine as keys (Go prints them .inf/-.inf/.nan).
    if let NodeKind::Scalar { value, style } = &k.kind
        && let Scalar11::Float(f) = scalar_meaning(value, *style, k.tag.as_deref())
        && !f.is_finite()
    {
        return Ok(go_float_key(f));
    }
    match to_json(k, anchors, budget)? {
        Value::String(s) => Ok(s),
        Value::Null => Ok("null".into()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if n.is_f64() => go_float_key(f),
            _ => n.to_string(),
        }),
        _ => Err(format!(
            "mapping key at line {} column {} is a collection; Kubernetes cannot read it",
            k.line, k.col
        )),
    }
}

/// A float mapping key as sigs.k8s.io/yaml writes it:
/// `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest float32 digits, in
/// exponent form (`1e+06`) when the decimal exponent is below -4 or at
/// least 6, with infinities and NaN spelt `.inf`, `-.inf`, `.nan`.
fn go_float_key(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let v = f as f32;
    // Beyond float32's range the key is an infinity, as Go prints it.
    if v.is_infinite() {
        return if v > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.5e6", "1e-5".
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if !(-4..6).contains(&exp) {
        return format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    // Plain form from the same digits.
    let (sign, digits) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = digits.chars().filter(|c| *c != '.').collect();
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_keys_are_written_as_go_writes_them() {
        for (f, want) in [
            (1000.0, "1000"),
            (8.0, "8"),
            (0.5, "0.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (f64::INFINITY, ".inf"),
            (1e40, ".inf"),
            (-1e40, "-.inf"),
        ] {
            assert_eq!(go_float_key(f), want, "{f}");
        }
    }

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
