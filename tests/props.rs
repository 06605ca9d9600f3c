//! Property tests over generated streams of Kubernetes-like documents full
//! of YAML 1.1 traps, with zero or more Polyaxon workloads inside.
//!
//! For every stream: no panic; untouched documents come out byte for byte;
//! the output parses; a second run changes nothing; and each changed
//! document, read the way go-yaml v2 reads YAML (an independent typing
//! written here, not the tool's), differs from the input only in the repos
//! volume, its mounts, the env copy, added affinity, labels and annotations.

use polyrepo_render::Strategy as Reading;
use polyrepo_render::config::{AccessMode, Settings, Source};
use polyrepo_render::node::{Node, NodeKind};
use polyrepo_render::report::Report;
use polyrepo_render::stream;
use proptest::prelude::*;
use saphyr_parser::ScalarStyle;
use serde_json::{Map, Value, json};

// ---------- an independent go-yaml v2 typing of plain scalars ----------

fn go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

fn go_float(s: &str) -> Option<f64> {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit());
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let ok_mantissa = match mantissa.split_once('.') {
        Some((a, b)) => digits(a) && digits(b) && (!a.is_empty() || !b.is_empty()),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let ok_exp = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if ok_mantissa && ok_exp {
        s.parse().ok()
    } else {
        None
    }
}

fn plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return json!(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return json!(false);
        }
        _ => {}
    }
    let u: String = s.replace('_', "");
    if s.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c)) {
        if let Some(i) = go_int(&u) {
            return json!(i);
        }
        if let Some(f) = go_float(&u) {
            return json!(f);
        }
    }
    json!(s)
}

/// A node as Kubernetes reads it (documents without aliases).
fn read(n: &Node<'_>) -> Value {
    match &n.kind {
        NodeKind::Scalar { value, style } => match (style, n.tag.as_deref()) {
            (_, Some(t)) if t.ends_with(":str") => json!(value),
            (ScalarStyle::Plain, None) => plain(value),
            _ => json!(value),
        },
        NodeKind::Seq(items) => Value::Array(items.iter().map(read).collect()),
        NodeKind::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let key = match read(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(key, read(v));
            }
            Value::Object(m)
        }
        NodeKind::Alias(_) => panic!("no aliases in generated workloads"),
    }
}

/// Removes what the tool may change; fails on anything else it added.
/// (Generated workloads have no affinity of their own.)
fn allowed_only(mut v: Value) -> Value {
    if let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove("polyrepo-render/changes");
    }
    if let Some(l) = v
        .pointer_mut("/spec/template/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("polyrepo-render/colocate");
    }
    let spec = v.pointer_mut("/spec/template/spec").unwrap();
    let repos = |x: &Value| x["name"] == "repos";
    if let Some(vs) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        vs.retain(|x| !repos(x));
    }
    for c in spec["containers"].as_array_mut().unwrap() {
        if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
            m.retain(|x| !repos(x));
        }
        for e in c
            .get_mut("env")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if e["name"] == "POLYAXON_PERSISTENCE_REPOS" {
                e.as_object_mut().unwrap().remove("value");
            }
        }
    }
    if let Some(a) = spec.as_object_mut().unwrap().remove("affinity") {
        for (k, _) in a.as_object().unwrap() {
            assert!(
                k == "podAffinity" || k == "nodeAffinity",
                "unexpected affinity {k}"
            );
        }
    }
    prune(&mut v);
    v
}

fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(prune);
            m.retain(|_, x| {
                !(x.is_null()
                    || x.as_array().is_some_and(Vec::is_empty)
                    || x.as_object().is_some_and(Map::is_empty))
            });
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

// ---------- generators ----------

const TRAPS: &[&str] = &[
    "0644",
    "0o17",
    "08",
    "1_000",
    "1e3",
    "0x1F",
    "0b11",
    ".5",
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "Y",
    "N",
    "~",
    "null",
    "true",
    "False",
    "polyaxon-core",
    "2001-12-14",
    "1:20",
    "héllo wörld",
    "a # not a comment",
    "x: y",
    "-dash",
    "@at",
    "%pct",
    "long-string-long-string-long-string-long-string-long-string-long-string",
];

/// One scalar, written in one of the styles that can hold it.
fn scalar() -> impl Strategy<Value = (String, bool)> {
    (0..TRAPS.len(), 0..5u8).prop_map(|(i, style)| {
        let s = TRAPS[i];
        let plain_ok = !s.contains(": ") && !s.contains(" #") && !s.starts_with(['@', '%', '-']);
        let text = match style {
            0 if plain_ok => s.to_string(),
            1 => format!("'{}'", s.replace('\'', "''")),
            2 => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            3 => format!("|-\n      {s}"),
            4 => format!(">+\n      {s}\n"),
            _ => format!("\"{s}\""),
        };
        (text, style >= 3)
    })
}

#[derive(Debug, Clone)]
enum Doc {
    Polyaxon {
        name: String,
        replicas: u8,
        volume: u8,
        env: bool,
        mount: bool,
        flow_labels: bool,
        notes: Vec<(String, bool)>,
        comment: bool,
    },
    ConfigMap {
        values: Vec<(String, bool)>,
        anchors: bool,
    },
    Other(u8),
}

fn doc() -> impl Strategy<Value = Doc> {
    prop_oneof![
        (
            prop::sample::select(vec!["p-api", "p-scheduler", "p-worker"]),
            0..4u8,
            0..3u8,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(scalar(), 0..5),
            any::<bool>()
        )
            .prop_map(
                |(name, replicas, volume, env, mount, flow_labels, notes, comment)| Doc::Polyaxon {
                    name: name.into(),
                    replicas,
                    volume,
                    env,
                    mount,
                    flow_labels,
                    notes,
                    comment
                }
            ),
        (prop::collection::vec(scalar(), 0..6), any::<bool>())
            .prop_map(|(values, anchors)| Doc::ConfigMap { values, anchors }),
        (0..4u8).prop_map(Doc::Other),
    ]
}

fn render(d: &Doc, i: usize) -> String {
    match d {
        Doc::Polyaxon {
            name,
            replicas,
            volume,
            env,
            mount,
            flow_labels,
            notes,
            comment,
        } => {
            let mut s =
                format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}-{i}\n");
            s.push_str(if *flow_labels {
                "  labels: {type: polyaxon-core, x: \"on\"}\n"
            } else {
                "  labels:\n    type: polyaxon-core\n"
            });
            if !notes.is_empty() {
                s.push_str("  annotations:\n");
                for (j, (n, _)) in notes.iter().enumerate() {
                    s.push_str(&format!("    note{j}: {n}\n"));
                }
            }
            s.push_str(&format!("spec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: a{i}}}\n  template:\n    metadata:\n      labels:\n        app: a{i}\n    spec:\n"));
            if *comment {
                s.push_str("      # the containers\n");
            }
            s.push_str("      containers:\n      - name: c\n        image: \"img:1\"\n");
            if *env {
                s.push_str("        env:\n        - name: POLYAXON_PERSISTENCE_REPOS\n          value: '{\"existingClaim\":null,\"hostPath\":\"/tmp/repos\",\"mountPath\":\"/polyaxon-repos\"}'\n        - name: OTHER\n          value: \"0644\"\n");
            }
            if *mount {
                s.push_str("        volumeMounts:\n        - mountPath: /polyaxon-repos\n          name: repos\n");
            }
            match volume {
                1 => s.push_str("      volumes:\n      - name: repos\n        hostPath:\n          path: /tmp/repos\n"),
                2 => s.push_str("      volumes:\n      - name: cfg\n        configMap: {name: c, defaultMode: 0644}\n      - name: repos\n        persistentVolumeClaim: {claimName: old}\n"),
                _ => {}
            }
            s
        }
        Doc::ConfigMap { values, anchors } => {
            let mut s =
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n");
            for (j, (v, _)) in values.iter().enumerate() {
                s.push_str(&format!("  k{j}: {v}\n"));
            }
            if *anchors {
                s.push_str("  base: &b {x: 1}\n  copy: *b\n  merged:\n    <<: *b\n    y: 2\n");
            }
            s
        }
        Doc::Other(k) => match k {
            0 => "- a\n- 'b'\n- [c, \"d\"]\n".into(),
            1 => "just a scalar\n".into(),
            2 => "# only a comment\n".into(),
            _ => "{flow: doc, n: 08}\n".into(),
        },
    }
}

fn settings(which: u8) -> Settings {
    match which {
        0 => Settings::default(),
        1 => Settings {
            configured: true,
            source: Some(Source::Claim("polyaxon-repos".into())),
            access_mode: Some(AccessMode::ReadWriteOnce),
            mount_into: vec!["p-scheduler-*".into()],
            ..Settings::default()
        },
        _ => Settings {
            configured: true,
            source: Some(Source::HostPath("/data/repos".into())),
            mount_path: Some("/code".into()),
            sub_path: Some("team".into()),
            read_only: Some(true),
            node: Some("worker-2".into()),
            ..Settings::default()
        },
    }
}

fn stream_of(docs: &[Doc], crlf: bool, leading_marker: bool) -> String {
    let mut s = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 || leading_marker {
            s.push_str("---\n");
        }
        s.push_str(&render(d, i));
    }
    if crlf { s.replace('\n', "\r\n") } else { s }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn patched_streams_keep_their_meaning(
        docs in prop::collection::vec(doc(), 1..6),
        crlf in any::<bool>(),
        marker in any::<bool>(),
        which in 0..3u8,
    ) {
        let input = stream_of(&docs, crlf, marker);
        let s = settings(which);
        let out = polyrepo_render::run(input.as_bytes(), &s, &mut Report::default())
            .unwrap_or_else(|e| panic!("refused a valid stream: {e:?}\n{input}"));
        let out = String::from_utf8(out).unwrap();
        // The on-demand reading (large inputs) gives the same output.
        let lazy = polyrepo_render::render_with(input.as_bytes(), &s, &mut Report::default(), Reading::OnDemand)
            .unwrap_or_else(|e| panic!("on-demand path refused what one-pass accepted: {e:?}"));
        prop_assert_eq!(String::from_utf8(lazy.to_vec()).unwrap(), out.clone());
        let before = stream::parse(&input).unwrap();
        let after = stream::parse(&out).expect("output parses");
        prop_assert_eq!(before.docs.len(), after.docs.len());
        for (b, a) in before.docs.iter().zip(&after.docs) {
            let bt = &input[b.region_start..b.region_end];
            let at = &out[a.region_start..a.region_end];
            match b.root.get("kind").and_then(Node::scalar) {
                Some("Deployment") => {
                    if bt != at {
                        if crlf {
                            prop_assert!(!at.replace("\r\n", "").contains('\n'), "bare LF inserted");
                        }
                        prop_assert_eq!(allowed_only(read(&b.root)), allowed_only(read(&a.root)));
                    }
                }
                _ => prop_assert_eq!(bt, at, "untouched document changed"),
            }
        }
        let again = polyrepo_render::run(out.as_bytes(), &s, &mut Report::default()).expect("own output accepted");
        prop_assert_eq!(String::from_utf8(again).unwrap(), out, "not idempotent");
    }

    #[test]
    fn the_tool_and_the_test_agree_on_yaml_1_1_typing(i in 0..TRAPS.len(), extra in "[-+0-9._a-zA-Z:]{0,8}") {
        for s in [TRAPS[i].to_string(), extra.clone()] {
            if s.is_empty() { continue; }
            let mut budget = 10;
            let text = format!("k: {s}\n");
            let Ok(st) = stream::parse(&text) else { continue };
            let node = st.docs[0].root.get("k").unwrap();
            let tool = polyrepo_render::yaml11::to_json(node, &st.docs[0].anchors, &mut budget).unwrap_or(Value::Null);
            let ours = read(node);
            // Floats compare by value; everything else exactly.
            match (tool.as_f64(), ours.as_f64()) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-9, "{s:?}: {tool} vs {ours}"),
                _ => prop_assert_eq!(&tool, &ours, "{:?}", s),
            }
        }
    }
}

#[test]
fn the_independent_typing_knows_the_traps() {
    assert_eq!(plain("0644"), json!(420));
    assert_eq!(plain("0o17"), json!(15));
    assert_eq!(plain("0x1F"), json!(31));
    assert_eq!(plain("0b11"), json!(3));
    assert_eq!(plain("1_000"), json!(1000));
    assert_eq!(plain("08"), json!(8.0));
    assert_eq!(plain("1e3"), json!(1000.0));
    assert_eq!(plain("on"), json!(true));
    assert_eq!(plain("n"), json!(false));
    assert_eq!(plain("~"), Value::Null);
    assert_eq!(plain("1:20"), json!("1:20"));
}
