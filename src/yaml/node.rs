//! A span-aware YAML node tree.
//!
//! Every node knows the exact byte range it occupies in the input, so that the
//! patcher can splice new text into a document without re-serialising
//! anything it did not mean to change. Scalars keep their style and tag, which
//! is what YAML 1.1 typing (see [`crate::yaml::typing`]) needs to read them the way
//! Kubernetes does; [`to_json`] reads a tree that way.

use crate::yaml::typing::{Scalar11, is_merge_key, scalar_meaning};
use saphyr_parser::ScalarStyle;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// A YAML node with its exact position in the input.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// What the node holds.
    pub kind: NodeKind<'a>,
    /// Byte offset where the node starts (its anchor or tag included).
    pub start: usize,
    /// Byte offset just past the node's last character.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column (in characters) of `start`.
    pub col: usize,
    /// Anchor id given by the parser (0: none).
    pub anchor: usize,
    /// Resolved tag (`tag:yaml.org,2002:str`, `!local`...), when one is written.
    pub tag: Option<String>,
    /// True when the node sits inside a flow collection or is one.
    pub flow: bool,
    /// True when the node's bytes also stand for another place: it was
    /// reached through an alias or a merge key, or it is (inside) an
    /// anchored node that an alias repeats. Only trees read through
    /// `crate::yaml::resolve` have such nodes; an edit must not land in one.
    pub shared: bool,
}

/// The payload of a [`Node`].
#[derive(Debug, Clone)]
pub enum NodeKind<'a> {
    /// A scalar: its value after unescaping and folding, and how it was written.
    Scalar {
        /// The scalar's value.
        value: Cow<'a, str>,
        /// How it was written (plain, quoted, block).
        style: ScalarStyle,
    },
    /// A sequence and its items.
    Seq(Vec<Node<'a>>),
    /// A mapping and its entries, in document order.
    Map(Vec<(Node<'a>, Node<'a>)>),
    /// An alias (`*name`) to the anchor with this id.
    Alias(usize),
}

impl<'a> Node<'a> {
    /// The entries of a mapping, or `None` for any other node.
    pub fn entries(&self) -> Option<&[(Node<'a>, Node<'a>)]> {
        match &self.kind {
            NodeKind::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The items of a sequence, or `None` for any other node.
    pub fn items(&self) -> Option<&[Node<'a>]> {
        match &self.kind {
            NodeKind::Seq(i) => Some(i),
            _ => None,
        }
    }

    /// The raw value of a scalar (whatever its YAML 1.1 type).
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of a scalar that Kubernetes reads as a string (quoted, tagged
    /// `!!str`, or plain and not a YAML 1.1 bool, null or number).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, style } => {
                if crate::yaml::typing::is_string(value, *style, self.tag.as_deref()) {
                    Some(value)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The entry of a mapping whose key is the string `key`.
    pub fn entry(&self, key: &str) -> Option<&(Node<'a>, Node<'a>)> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entry(key).map(|(_, v)| v)
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node<'a>> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }

    /// True for a plain scalar that YAML 1.1 reads as null (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { value, style } => {
                *style == ScalarStyle::Plain
                    && self.tag.is_none()
                    && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// A short description of the node's type, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Alias(_) => "an alias",
        }
    }

    /// Moves the node and everything below it by `bytes` and `lines`
    /// (positions of a document parsed on its own, made absolute).
    pub fn shift(&mut self, bytes: usize, lines: usize) {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            n.start += bytes;
            n.end += bytes;
            n.line += lines;
            match &mut n.kind {
                NodeKind::Seq(items) => stack.extend(items.iter_mut()),
                NodeKind::Map(entries) => {
                    for (k, v) in entries.iter_mut() {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
    }

    /// Visits this node and every node below it, depth first.
    pub fn walk<'s>(&'s self, f: &mut dyn FnMut(&'s Node<'a>)) {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            f(n);
            match &n.kind {
                NodeKind::Seq(items) => stack.extend(items.iter().rev()),
                NodeKind::Map(entries) => {
                    for (k, v) in entries.iter().rev() {
                        stack.push(v);
                        stack.push(k);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A tree Kubernetes could not read as JSON: what and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    /// What is wrong.
    pub message: String,
    /// 1-based line of the node.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (line {} column {})",
            self.message, self.line, self.col
        )
    }
}

impl std::error::Error for ReadError {}

fn read_error(n: &Node<'_>, message: impl Into<String>) -> ReadError {
    ReadError {
        message: message.into(),
        line: n.line,
        col: n.col,
    }
}

/// Converts a node to the JSON value Kubernetes would see, resolving aliases
/// and merge keys (`<<`) against `anchors`. At most
/// `ALIAS_BUDGET` (2,000,000) nodes are produced,
/// so alias bombs fail fast instead of eating memory.
pub fn to_json(node: &Node<'_>, anchors: &HashMap<usize, Node<'_>>) -> Result<Value, ReadError> {
    let mut budget = Budget {
        nodes: crate::yaml::events::ALIAS_BUDGET,
        depth: 0,
        open: Vec::new(),
    };
    json_within(node, anchors, &mut budget)
}

/// What reading through aliases may still spend: nodes and depth; and the
/// anchors of the nodes being read, so an alias inside its own anchor is
/// caught.
struct Budget {
    nodes: u64,
    /// Collections being read, around the node at hand.
    depth: usize,
    /// The anchors among them.
    open: Vec<usize>,
}

impl Budget {
    /// Spends one node at `node`: refused past the node budget or the depth.
    fn spend(&mut self, node: &Node<'_>) -> Result<(), ReadError> {
        if self.nodes == 0 {
            return Err(read_error(
                node,
                "the document expands to too many nodes through aliases (an alias bomb?)",
            ));
        }
        self.nodes -= 1;
        let max = crate::yaml::events::MAX_DEPTH;
        if self.depth + 1 > max {
            return Err(read_error(
                node,
                format!("nesting deeper than {max} levels once aliases are expanded"),
            ));
        }
        Ok(())
    }
}

fn json_within(
    node: &Node<'_>,
    anchors: &HashMap<usize, Node<'_>>,
    budget: &mut Budget,
) -> Result<Value, ReadError> {
    budget.spend(node)?;
    if let NodeKind::Alias(id) = node.kind {
        if budget.open.contains(&id) {
            return Err(read_error(
                node,
                "an alias refers to a node that contains it (`*x` inside `&x`); \
                 Kubernetes refuses it too",
            ));
        }
        return match anchors.get(&id) {
            Some(target) => json_within(target, anchors, budget),
            None => Err(read_error(node, "an alias refers to an unknown anchor")),
        };
    }
    let anchored = node.anchor != 0;
    if anchored {
        budget.open.push(node.anchor);
    }
    budget.depth += 1;
    let v = json_kind(node, anchors, budget);
    budget.depth -= 1;
    if anchored {
        budget.open.pop();
    }
    v
}

/// go-yaml decodes scalars with this tag from base64.
const BINARY_TAG: &str = "tag:yaml.org,2002:binary";

fn json_kind(
    node: &Node<'_>,
    anchors: &HashMap<usize, Node<'_>>,
    budget: &mut Budget,
) -> Result<Value, ReadError> {
    match &node.kind {
        NodeKind::Alias(_) => unreachable!("aliases are followed in `json_within`"),
        // go-yaml decodes `!!binary` from base64 into the string it reads.
        NodeKind::Scalar { value, .. } if node.tag.as_deref() == Some(BINARY_TAG) => {
            match crate::yaml::typing::go_base64(value) {
                Some(bytes) => Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
                None => Err(read_error(
                    node,
                    "!!binary value contains invalid base64 data; Kubernetes refuses it too",
                )),
            }
        }
        NodeKind::Scalar { value, style } => {
            Ok(match scalar_meaning(value, *style, node.tag.as_deref()) {
                Scalar11::Null => Value::Null,
                Scalar11::Bool(b) => Value::Bool(b),
                Scalar11::Int(i) => Value::Number(i.into()),
                Scalar11::Uint(u) => Value::Number(u.into()),
                Scalar11::Float(f) => match Number::from_f64(f) {
                    Some(n) => Value::Number(n),
                    None => {
                        return Err(read_error(
                            node,
                            format!("{value:?} is not a finite number"),
                        ));
                    }
                },
                Scalar11::Str => Value::String(value.to_string()),
            })
        }
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| json_within(i, anchors, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        NodeKind::Map(entries) => {
            // go-yaml v2 applies entries in document order: a merge key
            // overrides the keys before it, a later key overrides the merge,
            // and in `<<: [*a, *b]` the earlier source wins.
            let mut out = Map::new();
            for (k, v) in entries {
                if let NodeKind::Scalar { value, style } = &k.kind
                    && is_merge_key(value, *style, k.tag.as_deref())
                {
                    if !merge_source_ok(v, anchors) {
                        return Err(merge_error(v));
                    }
                    let sources = match json_within(v, anchors, budget)? {
                        Value::Object(m) => vec![m],
                        Value::Array(a) => a
                            .into_iter()
                            .rev()
                            .map(|m| match m {
                                Value::Object(m) => Ok(m),
                                _ => Err(merge_error(v)),
                            })
                            .collect::<Result<_, _>>()?,
                        _ => return Err(merge_error(v)),
                    };
                    for m in sources {
                        out.extend(m);
                    }
                    continue;
                }
                let key = key_string(k, anchors, budget)?;
                let value = json_within(v, anchors, budget)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }
}

/// What go-yaml v2 accepts as the value of a merge key: a mapping, an alias
/// of a mapping, or a sequence written in place whose items are mappings or
/// aliases of mappings (an alias of a sequence is refused).
pub(crate) fn merge_source_ok(v: &Node<'_>, anchors: &HashMap<usize, Node<'_>>) -> bool {
    let map_or_alias_of_map = |n: &Node<'_>| match &n.kind {
        NodeKind::Map(_) => true,
        NodeKind::Alias(id) => anchors.get(id).is_some_and(|t| t.entries().is_some()),
        _ => false,
    };
    match &v.kind {
        NodeKind::Seq(items) => items.iter().all(map_or_alias_of_map),
        _ => map_or_alias_of_map(v),
    }
}

fn merge_error(v: &Node<'_>) -> ReadError {
    read_error(v, "a merge key (<<) needs a mapping or a list of mappings")
}

/// The string a mapping key becomes in JSON (as `sigs.k8s.io/yaml` does it).
fn key_string(
    k: &Node<'_>,
    anchors: &HashMap<usize, Node<'_>>,
    budget: &mut Budget,
) -> Result<String, ReadError> {
    // A scalar key (most keys) is typed once, here. Infinite and NaN keys
    // are fine as keys (Go prints them .inf/-.inf/.nan).
    if let NodeKind::Scalar { value, style } = &k.kind
        && k.tag.as_deref() != Some(BINARY_TAG)
    {
        budget.spend(k)?;
        return Ok(match scalar_meaning(value, *style, k.tag.as_deref()) {
            Scalar11::Str => value.to_string(),
            Scalar11::Null => "null".into(),
            Scalar11::Bool(b) => b.to_string(),
            Scalar11::Int(i) => i.to_string(),
            Scalar11::Uint(u) => u.to_string(),
            Scalar11::Float(f) => go_float_key(f),
        });
    }
    match json_within(k, anchors, budget)? {
        Value::String(s) => Ok(s),
        Value::Null => Ok("null".into()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if n.is_f64() => go_float_key(f),
            _ => n.to_string(),
        }),
        _ => Err(read_error(
            k,
            "a mapping key is a collection; Kubernetes cannot read it",
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

    /// The JSON of the only document of `text`.
    fn json_of(text: &str) -> Result<Value, ReadError> {
        let s = crate::yaml::parse(text).expect("parses");
        to_json(&s.docs[0].root, &s.docs[0].anchors)
    }

    #[test]
    fn keys_of_every_type_become_go_strings() {
        let v = json_of(
            "{~: a, yes: b, 0x1F: c, 0644: d, 1e3: e, .inf: f, -.Inf: g, .nan: h, !!str 1: i, \"2\": j, !!binary aGk=: k}",
        )
        .unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "null", "true", "31", "420", "1000", ".inf", "-.inf", ".nan", "1", "2", "hi"
            ]
        );
    }

    #[test]
    fn every_key_counts_against_the_depth_and_node_budgets() {
        // A key is a node one level below its mapping, whatever its type
        // (reading through aliases refuses past 512 levels, as `resolve`
        // does): an infinite float key is no exception. The depth is
        // reached through a chain of anchors (the parser refuses deep
        // nesting written out).
        let chain = |key: &str, arrays: usize| {
            let mut text = String::new();
            let mut left = arrays;
            let mut i = 0;
            while left > 0 {
                let n = left.min(100);
                let inner = if i == 0 {
                    format!("{{{key}: x}}")
                } else {
                    format!("*a{}", i - 1)
                };
                text += &format!("a{i}: &a{i} {}{inner}{}\n", "[".repeat(n), "]".repeat(n));
                left -= n;
                i += 1;
            }
            text
        };
        // Reading 512 levels needs more stack than a test thread has (the
        // tool's workers get 8 MiB).
        let big_stack = |f: Box<dyn FnOnce() + Send>| {
            let t = std::thread::Builder::new().stack_size(64 << 20);
            t.spawn(f).unwrap().join().unwrap()
        };
        for key in ["y", ".inf", ".nan", "1"] {
            let (chain, key) = (chain, key.to_string());
            big_stack(Box::new(move || {
                let key = key.as_str();
                // Root mapping, 510 sequences, the leaf mapping: its key is the
                // 513th level.
                let text = chain(key, 510);
                let e = json_of(&text).unwrap_err();
                assert!(e.message.contains("nesting deeper than 512"), "{key}: {e}");
                let at = text.find(&format!("{{{key}:")).unwrap() + 2;
                assert_eq!(
                    (e.line, e.col),
                    (1, at),
                    "{key}: the key is refused, not its value"
                );
                assert!(json_of(&chain(key, 509)).is_ok(), "{key}: 512 levels");
            }));
        }
    }
}
