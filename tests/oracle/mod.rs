//! An independent reader of the output, as Kubernetes reads it.
//!
//! It shares no code with the crate: YAML is parsed by libyaml (its Rust
//! port, `unsafe-libyaml`, the parser under serde_yaml), and scalars are
//! typed here, written from go-yaml v2's `resolve.go` and `decode.go` as
//! `sigs.k8s.io/yaml` uses them to turn a manifest into JSON:
//!
//! - only plain scalars without a tag, and scalars tagged `!!str`, `!!int`,
//!   `!!bool`, `!!float`, `!!null`, `!!timestamp`, are resolved; quoted
//!   scalars are strings; other tags keep the text;
//! - the first character picks the candidates (`resolveTable`): `+ - 0-9`
//!   → number or timestamp, `y Y n N t T f F o O ~` → the `resolveMap`
//!   words, `.` → the float words or `ParseFloat`; anything else is a string;
//! - numbers: `_` removed, then Go's `strconv.ParseInt(s, 0, 64)` (so `0x1F`,
//!   `0o17`, `017` octal, `0b101`), then `ParseUint`, then a float if it
//!   matches `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, then
//!   `-0b…`; no base-60, no `.5e3`-less forms beyond that regex;
//! - timestamps (only plain or `!!timestamp`, starting with 4 digits and
//!   `-`): Go layouts `2006-1-2T15:4:5.999999999Z07:00`, with `t`, with a
//!   space and no zone, or a bare date; decoded into `interface{}` (as
//!   sigs.k8s.io/yaml does) go-yaml v2 keeps their original text, so they
//!   are strings, unchanged (and never retried as numbers);
//! - JSON: map keys that are numbers or booleans become their text (`1e3`
//!   → "1000", floats printed as 32-bit `%g`), `<<` merges an aliased map
//!   (or list of maps) in place, a later duplicate key wins.

#![allow(dead_code)]

pub mod forgive;

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use unsafe_libyaml as unsafe_yaml;

/// A node before JSON conversion: scalars keep their resolved kind.
#[derive(Clone, Debug)]
enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Merge,
}

/// Reads a multi-document stream; returns one JSON value per document
/// (an empty document is `null`), or libyaml's error.
pub fn read(text: &str) -> Result<Vec<Value>, String> {
    let events = events(text)?;
    let mut docs = Vec::new();
    let mut i = 0;
    let mut anchors = HashMap::new();
    while i < events.len() {
        match &events[i] {
            Event::DocStart => {
                i += 1;
                anchors.clear();
                let node = if matches!(events[i], Event::DocEnd) {
                    Node::Scalar(Scalar::Null)
                } else {
                    build(&events, &mut i, &mut anchors)
                };
                docs.push(to_json(&node)?);
            }
            _ => i += 1,
        }
    }
    Ok(docs)
}

#[derive(Debug)]
enum Event {
    DocStart,
    DocEnd,
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        value: String,
        plain: bool,
    },
    SeqStart(Option<String>),
    SeqEnd,
    MapStart(Option<String>),
    MapEnd,
    Alias(String),
}

unsafe fn cstr(p: *const u8) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let c = unsafe { std::ffi::CStr::from_ptr(p as *const std::ffi::c_char) };
    Some(c.to_string_lossy().into_owned())
}

/// libyaml's event stream, copied out of its buffers.
fn events(text: &str) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    unsafe {
        let mut parser = std::mem::MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit();
        if !unsafe_yaml::yaml_parser_initialize(parser.as_mut_ptr()).ok {
            return Err("libyaml init failed".into());
        }
        let parser = parser.as_mut_ptr();
        unsafe_yaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as _);
        loop {
            let mut ev = std::mem::MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
            if !unsafe_yaml::yaml_parser_parse(parser, ev.as_mut_ptr()).ok {
                let p = &*parser;
                let msg = format!(
                    "{} at line {} column {}",
                    cstr(p.problem as *const u8).unwrap_or_default(),
                    p.problem_mark.line + 1,
                    p.problem_mark.column + 1
                );
                unsafe_yaml::yaml_parser_delete(parser);
                return Err(msg);
            }
            let mut ev = ev.assume_init();
            let done = ev.type_ == unsafe_yaml::YAML_STREAM_END_EVENT;
            let e = match ev.type_ {
                unsafe_yaml::YAML_DOCUMENT_START_EVENT => Some(Event::DocStart),
                unsafe_yaml::YAML_DOCUMENT_END_EVENT => Some(Event::DocEnd),
                unsafe_yaml::YAML_SCALAR_EVENT => {
                    let s = ev.data.scalar;
                    let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                    Some(Event::Scalar {
                        anchor: cstr(s.anchor),
                        tag: cstr(s.tag),
                        value: String::from_utf8_lossy(bytes).into_owned(),
                        plain: s.style == unsafe_yaml::YAML_PLAIN_SCALAR_STYLE,
                    })
                }
                unsafe_yaml::YAML_SEQUENCE_START_EVENT => {
                    Some(Event::SeqStart(cstr(ev.data.sequence_start.anchor)))
                }
                unsafe_yaml::YAML_SEQUENCE_END_EVENT => Some(Event::SeqEnd),
                unsafe_yaml::YAML_MAPPING_START_EVENT => {
                    Some(Event::MapStart(cstr(ev.data.mapping_start.anchor)))
                }
                unsafe_yaml::YAML_MAPPING_END_EVENT => Some(Event::MapEnd),
                unsafe_yaml::YAML_ALIAS_EVENT => {
                    Some(Event::Alias(cstr(ev.data.alias.anchor).unwrap()))
                }
                _ => None,
            };
            unsafe_yaml::yaml_event_delete(&mut ev);
            out.extend(e);
            if done {
                break;
            }
        }
        unsafe_yaml::yaml_parser_delete(parser);
    }
    Ok(out)
}

fn build(ev: &[Event], i: &mut usize, anchors: &mut HashMap<String, Node>) -> Node {
    let e = &ev[*i];
    *i += 1;
    let (node, anchor) = match e {
        Event::Scalar {
            anchor,
            tag,
            value,
            plain,
        } => (
            Node::Scalar(resolve(tag.as_deref(), value, *plain)),
            anchor.clone(),
        ),
        Event::Alias(a) => return anchors.get(a).cloned().expect("alias to a known anchor"),
        Event::SeqStart(anchor) => {
            let mut items = Vec::new();
            while !matches!(ev[*i], Event::SeqEnd) {
                items.push(build(ev, i, anchors));
            }
            *i += 1;
            (Node::Seq(items), anchor.clone())
        }
        Event::MapStart(anchor) => {
            let mut pairs = Vec::new();
            while !matches!(ev[*i], Event::MapEnd) {
                let k = build(ev, i, anchors);
                let v = build(ev, i, anchors);
                pairs.push((k, v));
            }
            *i += 1;
            (Node::Map(pairs), anchor.clone())
        }
        other => panic!("unexpected event {other:?}"),
    };
    if let Some(a) = anchor {
        anchors.insert(a, node.clone());
    }
    node
}

/// Go's base64.StdEncoding.DecodeString (skips \r and \n).
fn base64_std(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let clean: Vec<u8> = s.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    let body = clean.iter().take_while(|&&b| b != b'=').count();
    if clean[body..].iter().any(|&b| b != b'=') || clean.len() - body > 2 {
        return None;
    }
    for &b in &clean[..body] {
        let v = ALPHABET.iter().position(|&a| a == b)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

const STR: &str = "tag:yaml.org,2002:str";
const RESOLVABLE: [&str; 6] = [
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
];

/// go-yaml v2's `resolve`, for the scalar kinds JSON can hold.
fn resolve(tag: Option<&str>, s: &str, plain: bool) -> Scalar {
    // libyaml's plain_implicit: plain and untagged, or tagged `!`.
    let implicit = (plain && tag.is_none()) || tag == Some("!");
    let tag = tag.filter(|t| *t != "!");
    // decode.go's isMerge: an implicit `<<` (or one tagged !!merge).
    if s == "<<" && (implicit || tag == Some("tag:yaml.org,2002:merge")) {
        return Scalar::Merge;
    }
    // A quoted scalar without a tag is a string (decode.go: !implicit).
    if tag.is_none() && !plain {
        return Scalar::Str(s.into());
    }
    // decode.go: a `!!binary` scalar is base64, decoded into the string.
    if tag == Some("tag:yaml.org,2002:binary") {
        return Scalar::Str(String::from_utf8_lossy(&base64_std(s).expect("valid base64")).into());
    }
    if let Some(t) = tag
        && (!RESOLVABLE.contains(&t) || t == STR)
    {
        return Scalar::Str(s.into());
    }
    let hint = match s.as_bytes().first() {
        None => 'N',
        Some(b'+' | b'-') => 'S',
        Some(b'0'..=b'9') => 'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => 'M',
        Some(b'.') => '.',
        _ => return Scalar::Str(s.into()),
    };
    if let Some(v) = resolve_map(s) {
        return v;
    }
    match hint {
        '.' => {
            if let Some(f) = go_parse_float(s) {
                return Scalar::Float(f);
            }
        }
        'D' | 'S' => {
            // A timestamp resolves, but decode.go, decoding into an
            // interface{} (as sigs.k8s.io/yaml does), keeps "for backward
            // compatibility" the original text: a string, unchanged.
            if (tag.is_none() || tag == Some("tag:yaml.org,2002:timestamp"))
                && timestamp(s).is_some()
            {
                return Scalar::Str(s.into());
            }
            let plain = s.replace('_', "");
            if let Some(n) = go_parse_int(&plain) {
                return Scalar::Int(n);
            }
            let float_re = {
                let b = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
                let (mant, exp) = match b.find(['e', 'E']) {
                    Some(i) => (&b[..i], Some(&b[i + 1..])),
                    None => (b, None),
                };
                let mant_ok = match mant.split_once('.') {
                    Some(("", frac)) => {
                        !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit())
                    }
                    Some((int, frac)) => {
                        !int.is_empty()
                            && int.bytes().all(|c| c.is_ascii_digit())
                            && frac.bytes().all(|c| c.is_ascii_digit())
                    }
                    None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
                };
                let exp_ok = exp.is_none_or(|e| {
                    let d = e.strip_prefix(['+', '-']).unwrap_or(e);
                    !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit())
                });
                mant_ok && exp_ok
            };
            if float_re && let Some(f) = go_parse_float(&plain) {
                return Scalar::Float(f);
            }
            if let Some(b) = plain.strip_prefix("0b")
                && let Ok(n) = i128::from_str_radix(b, 2)
                && !b.is_empty()
                && n <= u64::MAX as i128
            {
                return Scalar::Int(n);
            }
            if let Some(b) = plain.strip_prefix("-0b")
                && !b.is_empty()
                && let Ok(n) = i128::from_str_radix(b, 2)
                && -n >= i64::MIN as i128
            {
                return Scalar::Int(-n);
            }
        }
        _ => {}
    }
    Scalar::Str(s.into())
}

/// resolve.go's `resolveMap`.
fn resolve_map(s: &str) -> Option<Scalar> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Scalar::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Scalar::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Scalar::Float(f64::NEG_INFINITY),
        "<<" => Scalar::Merge,
        _ => return None,
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: an
/// optional sign, then `0x`/`0X` hex, `0o`/`0O` or a leading `0` octal,
/// `0b`/`0B` binary, else decimal; the value must fit.
fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -n } else { n };
    // ParseInt fits i64; ParseUint (no sign allowed) fits u64.
    if (i64::MIN as i128..=i64::MAX as i128).contains(&v)
        || (!s.starts_with(['-', '+']) && v <= u64::MAX as i128)
    {
        Some(v)
    } else {
        None
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms YAML can reach
/// here (it also takes "inf", "nan", hex floats: not reachable through the
/// regex or the `.` hint except `.5`-style, which Rust parses the same).
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    if b.is_empty()
        || !b
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    s.replace('_', "").parse::<f64>().ok()
}

/// resolve.go's `parseTimestamp`, rendered as Go's `time.Time` JSON
/// (RFC 3339 with nanoseconds trimmed).
fn timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 4 || b.len() == 4 || b[4] != b'-' {
        return None;
    }
    // Date: year-month-day, month and day of one or two digits.
    let num = |t: &str, min: usize, max: usize| -> Option<u32> {
        (t.len() >= min && t.len() <= max && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((s.as_bytes()[i], &s[i + 1..]))),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, dd) = (
        num(d.next()?, 4, 4)?,
        num(d.next()?, 1, 2)?,
        num(d.next()?, 1, 2)?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || dd < 1 || dd > days_in(y, m) {
        return None;
    }
    let date = format!("{y:04}-{m:02}-{dd:02}");
    let Some((sep, rest)) = rest else {
        return Some(format!("{date}T00:00:00Z"));
    };
    // Time: 15:4:5 with optional fraction; zone Z or ±07:00 (required
    // with T/t, absent with a space).
    let (clock, zone) = if sep == b' ' {
        (rest, None)
    } else if let Some(c) = rest.strip_suffix('Z') {
        (c, Some("Z".to_string()))
    } else {
        let i = rest.rfind(['+', '-'])?;
        let z = &rest[i..];
        let (zh, zm) = z[1..].split_once(':')?;
        (
            &rest[..i],
            Some(format!(
                "{}{:02}:{:02}",
                &z[..1],
                num(zh, 2, 2)?,
                num(zm, 2, 2)?
            )),
        )
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (clock, None),
    };
    let mut t = hms.split(':');
    let (h, mi, se) = (
        num(t.next()?, 1, 2)?,
        num(t.next()?, 1, 2)?,
        num(t.next()?, 1, 2)?,
    );
    if t.next().is_some() || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let frac = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                String::new()
            } else {
                format!(".{f}")
            }
        }
        Some(_) => return None,
        None => String::new(),
    };
    Some(format!(
        "{date}T{h:02}:{mi:02}:{se:02}{frac}{}",
        zone.unwrap_or_else(|| "Z".into())
    ))
}

fn days_in(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Int(n) if *n < 0 => Value::Number(Number::from(*n as i64)),
        Scalar::Int(n) => Value::Number(Number::from(*n as u64)),
        Scalar::Float(f) => {
            Number::from_f64(*f).map_or_else(|| Value::String(format!("{f}")), Value::Number)
        }
        Scalar::Str(s) => Value::String(s.clone()),
        Scalar::Merge => Value::String("<<".into()),
    }
}

/// sigs.k8s.io/yaml's key conversion.
fn key_text(k: &Node) -> Result<String, String> {
    match k {
        Node::Scalar(Scalar::Str(s)) => Ok(s.clone()),
        Node::Scalar(Scalar::Int(n)) => Ok(n.to_string()),
        Node::Scalar(Scalar::Bool(b)) => Ok(b.to_string()),
        Node::Scalar(Scalar::Float(f)) => Ok(if f.is_nan() {
            ".nan".into()
        } else if f.is_infinite() {
            if *f > 0.0 {
                ".inf".into()
            } else {
                "-.inf".into()
            }
        } else {
            go_g32(*f)
        }),
        Node::Scalar(Scalar::Null) => Ok("null".into()),
        other => Err(format!("unsupported map key {other:?}")),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that
/// read back as the same float32; `%e` style (`d.ddde±XX`) when the decimal
/// exponent is below -4 or at least 6 (Go's `eprec` is 6 for the shortest
/// form), else plain decimal.
fn go_g32(f: f64) -> String {
    let v = f as f32;
    if v.is_infinite() {
        // FormatFloat gives "+Inf"/"-Inf", which sigs.k8s.io/yaml respells.
        return if v > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Shortest digits and exponent from Rust's float32 Display, which
    // prints the shortest round-trip decimal: normalise "123.45" or
    // "0.00012" or "1e20" into digits + exponent.
    let text = format!("{:e}", v.abs());
    let (m, e) = text.split_once('e').unwrap();
    let exp: i32 = e.parse().unwrap();
    let digits: String = m.chars().filter(char::is_ascii_digit).collect();
    let neg = if v < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mant = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        return format!(
            "{neg}{mant}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    let n = digits.len() as i32;
    let body = if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if exp + 1 >= n {
        format!("{}{}", digits, "0".repeat((exp + 1 - n) as usize))
    } else {
        let (a, b) = digits.split_at((exp + 1) as usize);
        format!("{a}.{b}")
    };
    format!("{neg}{body}")
}

fn to_json(n: &Node) -> Result<Value, String> {
    Ok(match n {
        Node::Scalar(s) => scalar_json(s),
        Node::Seq(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Node::Map(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                if matches!(k, Node::Scalar(Scalar::Merge)) {
                    let sources = match v {
                        Node::Seq(s) => s.clone(),
                        other => vec![other.clone()],
                    };
                    // go-yaml v2: in `<<: [*a, *b]` the earlier source wins.
                    for s in sources.iter().rev() {
                        if let Value::Object(o) = to_json(s)? {
                            m.extend(o);
                        } else {
                            return Err("merge of a non-map".into());
                        }
                    }
                    continue;
                }
                m.insert(key_text(k)?, to_json(v)?);
            }
            Value::Object(m)
        }
    })
}

/// Hand-made cases for the typing, from go-yaml v2's own tests.
pub fn self_check() {
    let one = |y: &str| read(&format!("v: {y}\n")).unwrap()[0]["v"].clone();
    use serde_json::json;
    for (y, want) in [
        ("0644", json!(420)),
        ("0o17", json!(15)),
        ("0x1F", json!(31)),
        ("0b101", json!(5)),
        ("-0b101", json!(-5)),
        ("1_000", json!(1000)),
        ("+12", json!(12)),
        ("1e3", json!(1000.0)),
        ("1.5", json!(1.5)),
        (".5", json!(0.5)),
        ("190:20:30", json!("190:20:30")),
        ("on", json!(true)),
        ("Off", json!(false)),
        ("y", json!(true)),
        ("n", json!(false)),
        ("~", Value::Null),
        ("", Value::Null),
        ("'0644'", json!("0644")),
        ("\"on\"", json!("on")),
        ("!!str 12", json!("12")),
        ("!!int \"12\"", json!(12)),
        ("2001-12-14", json!("2001-12-14")),
        (
            "2001-12-14t21:59:43.10-05:00",
            json!("2001-12-14t21:59:43.10-05:00"),
        ),
        ("0.1.2", json!("0.1.2")),
        ("09", json!(9.0)),
        ("1e", json!("1e")),
        ("9223372036854775808", json!(9223372036854775808u64)),
        ("-9223372036854775809", json!(-9.223_372_036_854_776e18)),
        ("yes please", json!("yes please")),
    ] {
        assert_eq!(one(y), want, "{y}");
    }
    let keys = read("1e3: a\n10: b\ntrue: c\n0x10: d\n").unwrap();
    assert_eq!(
        keys[0],
        json!({"1000": "a", "10": "b", "true": "c", "16": "d"})
    );
    let merged = read("a: &x {p: 1, q: 2}\nb:\n  <<: *x\n  q: 3\n").unwrap();
    assert_eq!(merged[0]["b"], json!({"p": 1, "q": 3}));
}
