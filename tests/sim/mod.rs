#![allow(dead_code)]
//! A brute-force, adversarial kube-scheduler simulator used as a test oracle.
//!
//! It reads a rendered YAML stream, picks the Polyaxon workloads that mount
//! single-node data (hostPath directories, ReadWriteOnce/ReadWriteOncePod
//! claims, claims bound to local volumes), and explores *every* order in
//! which their pods could be scheduled onto *every* node that passes the
//! scheduler's hard filters (NodeName, NodeAffinity, InterPodAffinity,
//! PodTopologySpread, NodePorts, VolumeRestrictions). It reports a
//! [`Violation`] when some reachable state leaves a pod with no node, or when
//! two pods sharing single-node data end up on different nodes.
//!
//! It is written from Kubernetes semantics alone and shares no code with the
//! crate under test.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

// ───────────────────────────── public API ─────────────────────────────

/// A cluster node: its name (`metadata.name`) and labels.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// 4 nodes: names "node-0".."node-3"; labels: kubernetes.io/hostname =
/// "host-0".."host-3" (deliberately different from the node names),
/// topology.kubernetes.io/zone = a,a,b,b ; pool = x,y,x,y (so every
/// zone×pool combination exists once).
pub fn cluster() -> Vec<Node> {
    let zones = ["a", "a", "b", "b"];
    let pools = ["x", "y", "x", "y"];
    (0..4)
        .map(|i| Node {
            name: format!("node-{i}"),
            labels: BTreeMap::from([
                ("kubernetes.io/hostname".to_string(), format!("host-{i}")),
                (
                    "topology.kubernetes.io/zone".to_string(),
                    zones[i].to_string(),
                ),
                ("pool".to_string(), pools[i].to_string()),
            ]),
        })
        .collect()
}

/// [`cluster`] as the fixtures' scheduling variant and the example configs
/// need it: every node in pool=polyaxon, zones zone-a/zone-b, and node-2's
/// hostname label `worker-2`.
pub fn fixture_cluster() -> Vec<Node> {
    let mut nodes = cluster();
    for (i, n) in nodes.iter_mut().enumerate() {
        n.labels.insert("pool".into(), "polyaxon".into());
        n.labels.insert(
            "topology.kubernetes.io/zone".into(),
            if i < 2 { "zone-a" } else { "zone-b" }.into(),
        );
    }
    nodes[2]
        .labels
        .insert("kubernetes.io/hostname".into(), "worker-2".into());
    nodes
}

/// How to read the stream.
#[derive(Debug, Clone)]
pub struct Options {
    /// The release namespace given to the tool (`--namespace`); None =
    /// unknown: then simulate once per candidate namespace for
    /// namespace-less objects: "release" plus every namespace written
    /// explicitly in the stream.
    pub namespace: Option<String>,
    /// The value of the `type` label that marks Polyaxon workloads.
    pub core_type: String,
    /// Access mode assumed for a PersistentVolumeClaim not in the stream.
    pub unknown_claim_mode: String,
    /// Volume names or host paths to leave out of the data analysis.
    pub ignore: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            core_type: "polyaxon-core".to_string(),
            unknown_claim_mode: "ReadWriteOnce".to_string(),
            ignore: Vec::new(),
        }
    }
}

/// What went wrong in the first bad state the search found.
#[derive(Debug)]
pub enum Violation {
    /// In some reachable state, a pod (of a workload that uses single-node
    /// data) has no node it may go to.
    Unplaceable { pod: String, detail: String },
    /// Two pods that share single-node data were placed on different nodes.
    Split { a: String, b: String, data: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unplaceable { pod, detail } => write!(f, "{pod} is unplaceable: {detail}"),
            Violation::Split { a, b, data } => {
                write!(f, "{a} and {b} share {data} but sit on different nodes")
            }
        }
    }
}

impl Violation {
    /// Records which guessed release namespace produced the violation.
    fn assuming(self, release: &str) -> Violation {
        let note = format!(" [assuming release namespace {release:?}]");
        match self {
            Violation::Unplaceable { pod, detail } => Violation::Unplaceable {
                pod,
                detail: detail + &note,
            },
            Violation::Split { a, b, data } => Violation::Split {
                a,
                b,
                data: data + &note,
            },
        }
    }
}

/// Simulates every schedule of the stream's data-using Polyaxon pods on
/// `nodes`; returns the first violation found.
pub fn simulate(stream: &str, nodes: &[Node], opts: &Options) -> Result<(), Violation> {
    let objs = parse_stream(stream);
    let candidates = match &opts.namespace {
        Some(ns) => vec![ns.clone()],
        None => {
            let mut all = vec!["release".to_string()];
            for o in &objs {
                if let Some(ns) = text(o, &["metadata", "namespace"])
                    && !all.contains(&ns)
                {
                    all.push(ns);
                }
            }
            all
        }
    };
    for release in &candidates {
        // Workloads that cannot affect each other are scheduled independently,
        // so each group is searched on its own (a product of independent
        // searches would only multiply the states).
        for group in independent_groups(workloads(&objs, nodes, opts, release)) {
            let sim = Sim::new(nodes, group);
            let mut state: State = vec![Vec::new(); sim.wl.len()];
            match sim.explore(&mut state, &mut HashSet::new()) {
                Err(v) if opts.namespace.is_none() => return Err(v.assuming(release)),
                Err(v) => return Err(v),
                Ok(()) => {}
            }
        }
    }
    Ok(())
}

/// Simulates an upgrade as the workload controllers run it: the pods of
/// `previous` are running, every one of them, placed in every way its own
/// constraints allow that keeps the pods sharing data together (a render
/// that already split its data leaves nothing to keep), and the pods of the workloads that
/// `next` groups on one node already together (pods that ran apart because
/// their workloads shared nothing then hold nothing to join); then the pods of `next` come one by
/// one, in every order, beside the old ones (a rolling update's surge at its
/// widest: every old pod still runs), except that a Deployment with
/// `strategy: Recreate`, a StatefulSet, a Pod and a Job have their old pods
/// gone first. Returns the first
/// violation: a new pod with no node, or a new pod away from a pod, old or
/// new, whose data it shares (the old pods hold it where they run).
pub fn simulate_upgrade(
    previous: &str,
    next: &str,
    nodes: &[Node],
    opts: &Options,
) -> Result<(), Violation> {
    let (old_objs, new_objs) = (parse_stream(previous), parse_stream(next));
    let candidates = match &opts.namespace {
        Some(ns) => vec![ns.clone()],
        None => {
            let mut all = vec!["release".to_string()];
            for o in old_objs.iter().chain(&new_objs) {
                if let Some(ns) = text(o, &["metadata", "namespace"])
                    && !all.contains(&ns)
                {
                    all.push(ns);
                }
            }
            all
        }
    };
    for release in &candidates {
        // The old pods stand for a rollout's surge: the new render's own
        // surge parts are left out, and the old pods carry the previous
        // revision's hash.
        let new: Vec<Workload> = workloads(&new_objs, nodes, opts, release)
            .into_iter()
            .filter(|n| !n.surge_part)
            .map(|mut n| {
                if n.pins.is_none() {
                    n.count = n.steady;
                }
                n
            })
            .collect();
        let old: Vec<Workload> = workloads(&old_objs, nodes, opts, release)
            .into_iter()
            .filter(|o| {
                !o.surge_part
                    && !new
                        .iter()
                        .any(|n| n.recreate && n.name == o.name && n.ns == o.ns)
            })
            .map(|mut o| {
                o.name = format!("old {}", o.name);
                for k in ["pod-template-hash", "controller-revision-hash"] {
                    if let Some(v) = o.labels.get_mut(k) {
                        v.push_str("-prev");
                    }
                }
                o
            })
            .collect();
        // Searched per group of workloads (old and new) that interact and
        // hold Polyaxon data.
        let all: Vec<(bool, Workload)> = old
            .into_iter()
            .map(|w| (true, w))
            .chain(new.into_iter().map(|w| (false, w)))
            .collect();
        let comps = components(&all.iter().map(|(_, w)| w).collect::<Vec<_>>());
        for comp in comps {
            let (old, new): (Vec<Workload>, Vec<Workload>) = {
                let mut o = Vec::new();
                let mut n = Vec::new();
                for i in comp {
                    let (is_old, w) = &all[i];
                    if *is_old {
                        o.push(w.clone())
                    } else {
                        n.push(w.clone())
                    }
                }
                (o, n)
            };
            if !new
                .iter()
                .chain(&old)
                .any(|w| w.polyaxon && !w.data.is_empty())
            {
                continue;
            }
            upgrade_group(nodes, old, new).map_err(|v| match &opts.namespace {
                None => v.assuming(release),
                Some(_) => v,
            })?;
        }
    }
    Ok(())
}

/// One group of interacting workloads through an upgrade (see
/// [`simulate_upgrade`]).
fn upgrade_group(nodes: &[Node], old: Vec<Workload>, new: Vec<Workload>) -> Result<(), Violation> {
    // The new render's groups: workloads joined (transitively) by the data
    // their new pods share.
    let group = propagate(new.len(), |i, j| {
        new[i]
            .data
            .iter()
            .any(|x| new[j].data.iter().any(|y| x.same(y)))
    });
    let group_of = |o: &Workload| {
        new.iter()
            .position(|n| format!("old {}", n.name) == o.name && n.ns == o.ns)
            .map(|i| group[i])
    };
    let old_groups: Vec<Option<usize>> = old.iter().map(group_of).collect();
    // Every way the old pods can be running, keeping together the pods of
    // workloads that the new render groups: pods that ran apart before the
    // upgrade (their workloads did not share data then) hold nothing a
    // render can promise to join.
    let settled = Sim::new(nodes, old).settled();
    for start in settled.into_iter().filter(|(wl, state)| {
        // Every old pod running (a render whose pods stay Pending holds
        // nothing yet)...
        wl.iter().zip(state.iter()).all(|(w, placed)| match &w.pins {
            Some(p) => placed.len() == p.len(),
            None => placed.len() == w.count,
        })
        // ...and together where the new render groups them.
            && old_groups.iter().enumerate().all(|(i, gi)| {
                old_groups.iter().enumerate().all(|(j, gj)| {
                    gi.is_none()
                        || gi != gj
                        || state[i]
                            .iter()
                            .all(|a| state[j].iter().all(|b| a == b))
                })
            })
    }) {
        let mut wl: Vec<Workload> = start.0;
        for (w, placed) in wl.iter_mut().zip(&start.1) {
            w.count = placed.len();
            if w.pins.is_some() {
                w.pins = Some(placed.clone());
            }
        }
        let mut state: State = start.1;
        for n in &new {
            wl.push(n.clone());
            state.push(Vec::new());
        }
        Sim::new(nodes, wl).explore(&mut state, &mut HashSet::new())?;
    }
    Ok(())
}

// ───────────────────────────── reading YAML ─────────────────────────────

/// Splits the stream into objects (as JSON), skipping empty documents and
/// flattening `kind: List`. Panics on invalid YAML: the oracle is only fed
/// streams a real API server would accept.
fn parse_stream(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let mut y = serde_yaml::Value::deserialize(doc)
            .unwrap_or_else(|e| panic!("simulator: the stream is not valid YAML: {e}"));
        y.apply_merge()
            .unwrap_or_else(|e| panic!("simulator: bad merge key: {e}"));
        collect_objects(to_json(y), &mut out);
    }
    out
}

/// Pushes `v` if it is an object, or the items of a `kind: List`.
fn collect_objects(v: Value, out: &mut Vec<Value>) {
    if !v.is_object() {
        return;
    }
    if text(&v, &["kind"]).as_deref() == Some("List") {
        if let Some(Value::Array(items)) = v.get("items").cloned() {
            for item in items {
                collect_objects(item, out);
            }
        }
    } else {
        out.push(v);
    }
}

/// Converts a YAML value to JSON (keys become strings, tags are dropped).
fn to_json(y: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (scalar(&to_json(k)), to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => to_json(t.value),
    }
}

/// The text of a scalar (strings unquoted, numbers and booleans printed).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Follows `path` through nested objects; missing keys and nulls give None.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = cur.get(*k)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// The scalar text at `path`.
fn text(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path).map(scalar)
}

/// The array at `path`, or an empty slice.
fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(&[], |a| a.as_slice())
}

/// The strings of the array at `path`.
fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    list(v, path)
        .iter()
        .filter(|x| !x.is_null())
        .map(scalar)
        .collect()
}

/// The integer at `path` (a number, or a string holding one).
fn int(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(|x| x.as_i64().or_else(|| x.as_str()?.trim().parse().ok()))
}

/// A string→string map (labels, nodeSelector, matchLabels).
fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), scalar(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.namespace`, or the release namespace.
fn namespace_of(o: &Value, release: &str) -> String {
    text(o, &["metadata", "namespace"]).unwrap_or_else(|| release.to_string())
}

/// Finds an object by kind and name (and namespace, when given).
fn find<'a>(
    objs: &'a [Value],
    kind: &str,
    name: &str,
    ns: Option<(&str, &str)>,
) -> Option<&'a Value> {
    objs.iter().find(|o| {
        text(o, &["kind"]).as_deref() == Some(kind)
            && text(o, &["metadata", "name"]).as_deref() == Some(name)
            && ns.is_none_or(|(ns, release)| namespace_of(o, release) == ns)
    })
}

// ───────────────────────────── selectors ─────────────────────────────

/// One `matchExpressions` / `matchFields` requirement.
#[derive(Debug, Clone)]
struct Expr {
    key: String,
    op: String,
    values: Vec<String>,
}

impl Expr {
    fn parse(v: &Value) -> Expr {
        Expr {
            key: text(v, &["key"]).unwrap_or_default(),
            op: text(v, &["operator"]).unwrap_or_default(),
            values: strings(v, &["values"]),
        }
    }

    /// Evaluates against a label set. Gt/Lt exist only for node selectors
    /// (`numeric`); in a label selector they match nothing.
    fn matches(&self, labels: &BTreeMap<String, String>, numeric: bool) -> bool {
        let val = labels.get(&self.key);
        match self.op.as_str() {
            "In" => val.is_some_and(|v| self.values.contains(v)),
            "NotIn" => !val.is_some_and(|v| self.values.contains(v)),
            "Exists" => val.is_some(),
            "DoesNotExist" => val.is_none(),
            "Gt" | "Lt" if numeric && self.values.len() == 1 => {
                let (Some(have), Ok(want)) = (
                    val.and_then(|v| v.parse::<i64>().ok()),
                    self.values[0].parse::<i64>(),
                ) else {
                    return false;
                };
                if self.op == "Gt" {
                    have > want
                } else {
                    have < want
                }
            }
            _ => false,
        }
    }
}

/// A label selector; the oracle keeps a null selector as `None` (matches
/// nothing) and an empty one as a selector that matches everything.
#[derive(Debug, Clone)]
struct Selector {
    labels: BTreeMap<String, String>,
    exprs: Vec<Expr>,
}

/// Parses a (possibly absent/null) label selector.
fn parse_selector(v: Option<&Value>) -> Option<Selector> {
    let v = v?;
    Some(Selector {
        labels: string_map(at(v, &["matchLabels"])),
        exprs: list(v, &["matchExpressions"])
            .iter()
            .map(Expr::parse)
            .collect(),
    })
}

/// Whether a (possibly null) selector matches `labels`.
fn selects(sel: &Option<Selector>, labels: &BTreeMap<String, String>) -> bool {
    match sel {
        None => false,
        Some(s) => {
            s.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                && s.exprs.iter().all(|e| e.matches(labels, false))
        }
    }
}

/// The labels of namespace `ns`: those of its Namespace object in the
/// stream, if any, and `kubernetes.io/metadata.name` (which the API server
/// sets on every namespace).
fn namespace_labels(objs: &[Value], ns: &str) -> BTreeMap<String, String> {
    let mut labels = objs
        .iter()
        .find(|o| o["kind"] == "Namespace" && text(o, &["metadata", "name"]).as_deref() == Some(ns))
        .map(|o| string_map(at(o, &["metadata", "labels"])))
        .unwrap_or_default();
    labels.insert("kubernetes.io/metadata.name".to_string(), ns.to_string());
    labels
}

/// A required pod (anti-)affinity term.
#[derive(Debug, Clone)]
struct Term {
    selector: Option<Selector>,
    namespaces: Vec<String>,
    ns_selector: Option<Selector>,
    key: String,
    /// `matchLabelKeys`: the owner's values of these keys are required.
    match_keys: Vec<String>,
    /// `mismatchLabelKeys`: the owner's values of these keys are excluded.
    mismatch_keys: Vec<String>,
    /// The namespaces `namespaceSelector` picks among those the stream
    /// knows (each read with its Namespace object's labels), once resolved.
    ns_picked: Vec<String>,
}

impl Term {
    fn parse(v: &Value) -> Term {
        Term {
            selector: parse_selector(at(v, &["labelSelector"])),
            namespaces: strings(v, &["namespaces"]),
            ns_selector: parse_selector(at(v, &["namespaceSelector"])),
            key: text(v, &["topologyKey"]).unwrap_or_default(),
            match_keys: strings(v, &["matchLabelKeys"]),
            mismatch_keys: strings(v, &["mismatchLabelKeys"]),
            ns_picked: Vec::new(),
        }
    }

    /// Resolves `namespaceSelector` against the namespaces of the stream.
    fn resolve(&mut self, objs: &[Value], known: &[String]) {
        self.ns_picked = known
            .iter()
            .filter(|n| selects(&self.ns_selector, &namespace_labels(objs, n)))
            .cloned()
            .collect();
    }

    /// Whether a pod (labels, namespace) matches this term, which belongs to
    /// a pod with labels `owner` in `owner_ns` (the default namespace set).
    /// `matchLabelKeys` add `key In [owner's value]` for each key the owner
    /// carries (the API server ignores the others), `mismatchLabelKeys`
    /// `key NotIn [owner's value]`.
    fn matches(
        &self,
        labels: &BTreeMap<String, String>,
        ns: &str,
        owner: &BTreeMap<String, String>,
        owner_ns: &str,
    ) -> bool {
        let ns_ok = if self.namespaces.is_empty() && self.ns_selector.is_none() {
            ns == owner_ns
        } else {
            self.namespaces.iter().any(|n| n == ns)
                || self.ns_picked.iter().any(|n| n == ns)
                || self
                    .ns_selector
                    .as_ref()
                    .is_some_and(|s| s.labels.is_empty() && s.exprs.is_empty())
        };
        ns_ok
            && selects(&self.selector, labels)
            && keys_match(&self.match_keys, &self.mismatch_keys, labels, owner)
    }
}

/// `matchLabelKeys` / `mismatchLabelKeys` of a pod with labels `owner`,
/// against another pod's labels.
fn keys_match(
    match_keys: &[String],
    mismatch_keys: &[String],
    labels: &BTreeMap<String, String>,
    owner: &BTreeMap<String, String>,
) -> bool {
    match_keys
        .iter()
        .all(|k| owner.get(k).is_none_or(|v| labels.get(k) == Some(v)))
        && mismatch_keys
            .iter()
            .all(|k| owner.get(k).is_none_or(|v| labels.get(k) != Some(v)))
}

/// One of the OR'ed `nodeSelectorTerms`.
#[derive(Debug, Clone)]
struct NodeTerm {
    exprs: Vec<Expr>,
    fields: Vec<Expr>,
}

impl NodeTerm {
    /// Expressions and fields AND'ed; an empty term matches no node.
    fn matches(&self, node: &Node) -> bool {
        if self.exprs.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.exprs.iter().all(|e| e.matches(&node.labels, true))
            && self.fields.iter().all(|f| {
                f.key == "metadata.name"
                    && match f.op.as_str() {
                        "In" => f.values.contains(&node.name),
                        "NotIn" => !f.values.contains(&node.name),
                        _ => false,
                    }
            })
    }
}

/// A `whenUnsatisfiable: DoNotSchedule` topology spread constraint.
#[derive(Debug, Clone)]
struct Spread {
    max_skew: i64,
    key: String,
    selector: Option<Selector>,
    min_domains: Option<i64>,
    honor_affinity: bool,
    /// `matchLabelKeys`: only pods with the owner's values of these keys count.
    match_keys: Vec<String>,
}

/// A host port a pod occupies on its node.
#[derive(Debug, Clone)]
struct HostPort {
    port: i64,
    protocol: String,
    ip: String,
}

impl HostPort {
    /// Same port and protocol, and the same host IP or a wildcard on a side.
    fn conflicts(&self, other: &HostPort) -> bool {
        let wild = |ip: &str| ip.is_empty() || ip == "0.0.0.0";
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || wild(&self.ip) || wild(&other.ip))
    }
}

// ───────────────────────────── data ─────────────────────────────

/// A piece of single-node data a pod mounts.
#[derive(Debug, Clone)]
enum Data {
    /// A normalised host directory.
    Path(String),
    /// A claim; `single_pod` for ReadWriteOncePod.
    Claim {
        ns: String,
        name: String,
        single_pod: bool,
    },
}

impl Data {
    fn describe(&self) -> String {
        match self {
            Data::Path(p) => format!("hostPath {p}"),
            Data::Claim {
                ns,
                name,
                single_pod,
            } => {
                format!(
                    "PersistentVolumeClaim {ns}/{name}{}",
                    if *single_pod {
                        " (ReadWriteOncePod)"
                    } else {
                        ""
                    }
                )
            }
        }
    }

    /// Same directory (or one inside the other), or the same claim.
    fn same(&self, other: &Data) -> bool {
        match (self, other) {
            (Data::Path(a), Data::Path(b)) => within(a, b) || within(b, a),
            (
                Data::Claim {
                    ns: n1, name: c1, ..
                },
                Data::Claim {
                    ns: n2, name: c2, ..
                },
            ) => n1 == n2 && c1 == c2,
            _ => false,
        }
    }
}

/// Host directories that hold the node's own system files, not data.
const SYSTEM_DIRS: [&str; 8] = [
    "/dev", "/proc", "/sys", "/run", "/var/run", "/etc", "/lib", "/usr",
];

/// Lexical path normalisation: repeated slashes and `.` dropped, `..`
/// resolved (never above the root), no trailing slash.
fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Whether normalised `path` equals `dir` or lies below it.
fn within(path: &str, dir: &str) -> bool {
    path == dir
        || dir == "/"
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// How a claim may be shared.
enum ClaimKind {
    Shared,
    SingleNode,
    SinglePod,
}

/// The PersistentVolume claim `name` in `ns` is bound to: the one its
/// `spec.volumeName` names, or one whose `spec.claimRef` names the claim.
fn bound_volume<'a>(
    name: &str,
    ns: &str,
    pvc: Option<&'a Value>,
    objs: &'a [Value],
) -> Option<&'a Value> {
    pvc.and_then(|c| text(c, &["spec", "volumeName"]))
        .and_then(|v| find(objs, "PersistentVolume", &v, None))
        .or_else(|| {
            objs.iter().find(|o| {
                text(o, &["kind"]).as_deref() == Some("PersistentVolume")
                    && text(o, &["spec", "claimRef", "name"]).as_deref() == Some(name)
                    && text(o, &["spec", "claimRef", "namespace"]).is_none_or(|n| n == ns)
            })
        })
}

/// Classifies claim `name` in namespace `ns` from the stream's
/// PersistentVolumeClaim (and the PersistentVolume bound to it), or
/// `unknown_claim_mode`; returns the bound PersistentVolume too.
fn classify_claim<'a>(
    name: &str,
    ns: &str,
    objs: &'a [Value],
    release: &str,
    opts: &Options,
) -> (ClaimKind, Option<&'a Value>) {
    let pvc = find(objs, "PersistentVolumeClaim", name, Some((ns, release)));
    let modes = match pvc {
        Some(pvc) => strings(pvc, &["spec", "accessModes"]),
        None => vec![opts.unknown_claim_mode.clone()],
    };
    let pv = bound_volume(name, ns, pvc, objs);
    let has = |m: &str| modes.iter().any(|x| x == m);
    // ReadOnlyMany reaches every node only while every pod only reads it.
    let many = has("ReadWriteMany") || (has("ReadOnlyMany") && !written(name, objs, opts));
    let kind = if many {
        let local = pv.is_some_and(|pv| {
            at(pv, &["spec", "hostPath"]).is_some() || at(pv, &["spec", "local"]).is_some()
        });
        if local {
            ClaimKind::SingleNode
        } else {
            ClaimKind::Shared
        }
    } else if has("ReadWriteOncePod") {
        ClaimKind::SinglePod
    } else {
        ClaimKind::SingleNode
    };
    (kind, pv)
}

/// Whether some Polyaxon pod of the stream mounts claim `name` read-write:
/// neither the pod's volume (`persistentVolumeClaim.readOnly`) nor every
/// container's mount of it (`readOnly`) says read-only.
fn written(name: &str, objs: &[Value], opts: &Options) -> bool {
    objs.iter()
        .filter(|o| is_polyaxon(o, &opts.core_type))
        .filter_map(|o| {
            let path: &[&str] = match text(o, &["kind"]).as_deref() {
                Some("CronJob") => &["spec", "jobTemplate", "spec", "template", "spec"],
                Some("Pod") => &["spec"],
                _ => &["spec", "template", "spec"],
            };
            at(o, path)
        })
        .any(|spec| {
            list(spec, &["volumes"]).iter().any(|v| {
                if text(v, &["persistentVolumeClaim", "claimName"]).as_deref() != Some(name)
                    || at(v, &["persistentVolumeClaim", "readOnly"]) == Some(&Value::Bool(true))
                {
                    return false;
                }
                let vname = text(v, &["name"]).unwrap_or_default();
                let mounts: Vec<&Value> = list(spec, &["containers"])
                    .iter()
                    .chain(list(spec, &["initContainers"]))
                    .flat_map(|c| list(c, &["volumeMounts"]))
                    .filter(|m| text(m, &["name"]).as_deref() == Some(vname.as_str()))
                    .collect();
                mounts.is_empty()
                    || mounts
                        .iter()
                        .any(|m| at(m, &["readOnly"]) != Some(&Value::Bool(true)))
            })
        })
}

/// The OR'ed `nodeSelectorTerms` of a NodeSelector.
fn node_selector_terms(r: &Value) -> Vec<NodeTerm> {
    list(r, &["nodeSelectorTerms"])
        .iter()
        .map(|t| NodeTerm {
            exprs: list(t, &["matchExpressions"])
                .iter()
                .map(Expr::parse)
                .collect(),
            fields: list(t, &["matchFields"]).iter().map(Expr::parse).collect(),
        })
        .collect()
}

/// The required node terms of a PersistentVolume (VolumeBinding holds
/// every pod mounting its claim to them), if it has any.
fn volume_terms(pv: &Value) -> Option<Vec<NodeTerm>> {
    at(pv, &["spec", "nodeAffinity", "required"]).map(node_selector_terms)
}

/// The single-node data among a pod spec's `volumes` (ignored names and
/// paths, system paths, devices, sockets and shared claims left out; a
/// claim bound to a host-path or local PersistentVolume is its directory
/// too), and the node terms of every PersistentVolume its claims are bound
/// to.
fn data_volumes(
    spec: &Value,
    ns: &str,
    objs: &[Value],
    release: &str,
    opts: &Options,
) -> (Vec<Data>, Vec<Vec<NodeTerm>>) {
    let mut out = Vec::new();
    let mut terms = Vec::new();
    for vol in list(spec, &["volumes"]) {
        let vname = text(vol, &["name"]).unwrap_or_default();
        if opts.ignore.contains(&vname) {
            continue;
        }
        if let Some(hp) = at(vol, &["hostPath"]) {
            let path = normalize(&text(hp, &["path"]).unwrap_or_default());
            let ty = text(hp, &["type"]).unwrap_or_default();
            let device = matches!(ty.as_str(), "Socket" | "CharDevice" | "BlockDevice");
            let system = SYSTEM_DIRS.iter().any(|d| within(&path, d));
            let ignored = opts.ignore.iter().any(|i| normalize(i) == path);
            if !(device || system || ignored) {
                out.push(Data::Path(path));
            }
        } else if let Some(claim) = text(vol, &["persistentVolumeClaim", "claimName"]) {
            let (kind, pv) = classify_claim(&claim, ns, objs, release, opts);
            terms.extend(pv.and_then(volume_terms));
            let single_pod = match kind {
                ClaimKind::Shared => continue,
                ClaimKind::SingleNode => false,
                ClaimKind::SinglePod => true,
            };
            let dir = pv.and_then(|pv| {
                text(pv, &["spec", "hostPath", "path"])
                    .or_else(|| text(pv, &["spec", "local", "path"]))
            });
            if let Some(dir) = dir {
                out.push(Data::Path(normalize(&dir)));
            }
            out.push(Data::Claim {
                ns: ns.to_string(),
                name: claim,
                single_pod,
            });
        }
    }
    (out, terms)
}

// ───────────────────────────── workloads ─────────────────────────────

/// A simulated workload: everything the filters need about its (identical)
/// pods, and how many of them exist at once.
#[derive(Debug, Clone)]
struct Workload {
    /// `Kind/name`.
    name: String,
    ns: String,
    labels: BTreeMap<String, String>,
    count: usize,
    /// DaemonSet: the node each pod is bound to (one pod per entry).
    pins: Option<Vec<usize>>,
    /// How many pods it runs once a rollout is over (no surge, no second
    /// Job of a CronJob).
    steady: usize,
    /// On an upgrade its old pods are gone before the new ones come (a
    /// Deployment with `strategy: Recreate`, a StatefulSet, a Pod, a Job).
    recreate: bool,
    /// A Polyaxon workload (only their data counts).
    polyaxon: bool,
    /// The surge pods of a Deployment (its new revision), apart from its
    /// steady ones.
    surge_part: bool,
    data: Vec<Data>,
    node_name: Option<String>,
    node_selector: BTreeMap<String, String>,
    /// Required node affinity terms; None = no requirement.
    node_terms: Option<Vec<NodeTerm>>,
    /// The node terms of the PersistentVolumes its claims are bound to
    /// (VolumeBinding): each must be met.
    volume_terms: Vec<Vec<NodeTerm>>,
    affinity: Vec<Term>,
    anti: Vec<Term>,
    spread: Vec<Spread>,
    ports: Vec<HostPort>,
}

impl Workload {
    /// A Polyaxon workload with single-node data: what the tool must keep
    /// safe.
    fn held(&self) -> bool {
        self.polyaxon && !self.data.is_empty()
    }

    /// nodeSelector AND required node affinity.
    fn fits_node(&self, node: &Node) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
            && self
                .node_terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(node)))
            && self
                .volume_terms
                .iter()
                .all(|terms| terms.iter().any(|t| t.matches(node)))
    }

    /// The ReadWriteOncePod claims (namespace, name) of the pods.
    fn single_pod_claims(&self) -> impl Iterator<Item = (&str, &str)> {
        self.data.iter().filter_map(|d| match d {
            Data::Claim {
                ns,
                name,
                single_pod: true,
            } => Some((ns.as_str(), name.as_str())),
            _ => None,
        })
    }
}

/// Whether the object's own labels mark it as a Polyaxon workload.
fn is_polyaxon(obj: &Value, core_type: &str) -> bool {
    let labels = string_map(at(obj, &["metadata", "labels"]));
    labels.get("type").map(String::as_str) == Some(core_type)
        || labels.get("app.kubernetes.io/part-of").map(String::as_str) == Some(core_type)
}

/// Reads the scheduling-relevant parts of a pod spec.
fn parse_pod(
    name: String,
    ns: String,
    labels: BTreeMap<String, String>,
    spec: &Value,
    data: Vec<Data>,
) -> Workload {
    let req = "requiredDuringSchedulingIgnoredDuringExecution";
    let node_terms = at(spec, &["affinity", "nodeAffinity", req]).map(node_selector_terms);
    let terms = |kind: &str| {
        list(spec, &["affinity", kind, req])
            .iter()
            .map(Term::parse)
            .collect::<Vec<_>>()
    };
    let spread = list(spec, &["topologySpreadConstraints"])
        .iter()
        .filter(|c| text(c, &["whenUnsatisfiable"]).as_deref() == Some("DoNotSchedule"))
        .map(|c| Spread {
            max_skew: int(c, &["maxSkew"]).unwrap_or(1),
            key: text(c, &["topologyKey"]).unwrap_or_default(),
            selector: parse_selector(at(c, &["labelSelector"])),
            min_domains: int(c, &["minDomains"]),
            honor_affinity: text(c, &["nodeAffinityPolicy"]).as_deref() != Some("Ignore"),
            match_keys: strings(c, &["matchLabelKeys"]),
        })
        .collect();
    let host_network = at(spec, &["hostNetwork"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut ports = Vec::new();
    for c in list(spec, &["containers"])
        .iter()
        .chain(list(spec, &["initContainers"]))
    {
        for p in list(c, &["ports"]) {
            let host = int(p, &["hostPort"]).filter(|&h| h > 0);
            let port = if host_network {
                host.or(int(p, &["containerPort"]))
            } else {
                host
            };
            if let Some(port) = port {
                ports.push(HostPort {
                    port,
                    protocol: text(p, &["protocol"]).unwrap_or_else(|| "TCP".to_string()),
                    ip: text(p, &["hostIP"]).unwrap_or_default(),
                });
            }
        }
    }
    Workload {
        name,
        ns,
        labels,
        count: 0,
        pins: None,
        steady: 0,
        recreate: false,
        polyaxon: false,
        surge_part: false,
        data,
        node_name: text(spec, &["nodeName"]).filter(|n| !n.is_empty()),
        node_selector: string_map(at(spec, &["nodeSelector"])),
        node_terms,
        volume_terms: Vec::new(),
        affinity: terms("podAffinity"),
        anti: terms("podAntiAffinity"),
        spread,
        ports,
    }
}

/// The largest maxReplicas of the HorizontalPodAutoscalers aimed at kind/name in `ns`.
fn hpa_max(objs: &[Value], kind: &str, name: &str, ns: &str, release: &str) -> Option<i64> {
    objs.iter()
        .filter(|o| {
            text(o, &["kind"]).as_deref() == Some("HorizontalPodAutoscaler")
                && text(o, &["spec", "scaleTargetRef", "kind"]).as_deref() == Some(kind)
                && text(o, &["spec", "scaleTargetRef", "name"]).as_deref() == Some(name)
                && namespace_of(o, release) == ns
        })
        .filter_map(|o| int(o, &["spec", "maxReplicas"]))
        .max()
}

/// maxSurge (int, "N" or "P%" of `replicas` rounded up; default 25%).
fn max_surge(v: Option<&Value>, replicas: i64) -> i64 {
    let percent = |p: i64| (p * replicas + 99).div_euclid(100);
    let n = match v {
        None => percent(25),
        Some(Value::String(s)) => match s.trim().strip_suffix('%') {
            Some(p) => p.trim().parse().map(percent).unwrap_or(0),
            None => s.trim().parse().unwrap_or(0),
        },
        Some(x) => x.as_i64().unwrap_or(0),
    };
    n.max(0)
}

/// The Polyaxon workloads of the stream that mount single-node data.
fn workloads(objs: &[Value], nodes: &[Node], opts: &Options, release: &str) -> Vec<Workload> {
    let mut out = Vec::new();
    // Every namespace the stream names (objects, Namespace objects, the
    // release's).
    let mut known: Vec<String> = vec![release.to_string()];
    for o in objs {
        let n = if o["kind"] == "Namespace" {
            text(o, &["metadata", "name"])
        } else {
            text(o, &["metadata", "namespace"])
        };
        if let Some(n) = n
            && !known.contains(&n)
        {
            known.push(n);
        }
    }
    for obj in objs {
        let kind = text(obj, &["kind"]).unwrap_or_default();
        let template_path: &[&str] = match kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                &["spec", "template"]
            }
            "CronJob" => &["spec", "jobTemplate", "spec", "template"],
            "Pod" => &[],
            _ => continue,
        };
        let polyaxon = is_polyaxon(obj, &opts.core_type);
        let Some(template) = at(obj, template_path) else {
            continue;
        };
        let Some(spec) = at(template, &["spec"]) else {
            continue;
        };
        let ns = namespace_of(obj, release);
        let (mut data, volume_terms) = data_volumes(spec, &ns, objs, release, opts);
        // The data of pods outside Polyaxon is out of scope (documented):
        // they count by their constraints, labels and ports only.
        if !polyaxon {
            data.clear();
        }
        let name = text(obj, &["metadata", "name"]).unwrap_or_default();
        let mut labels = string_map(at(template, &["metadata", "labels"]));
        // The labels a controller adds to every pod: per revision (the
        // surge pods of a rolling update get another value, below).
        match kind.as_str() {
            "Deployment" => {
                labels.insert("pod-template-hash".into(), format!("{name}-a"));
            }
            "DaemonSet" | "StatefulSet" => {
                labels.insert("controller-revision-hash".into(), format!("{name}-a"));
            }
            _ => {}
        }
        let mut w = parse_pod(format!("{kind}/{name}"), ns.clone(), labels, spec, data);
        for t in w.affinity.iter_mut().chain(w.anti.iter_mut()) {
            t.resolve(objs, &known);
        }
        w.polyaxon = polyaxon;
        w.volume_terms = volume_terms;
        let replicas = || {
            let r = int(obj, &["spec", "replicas"]).unwrap_or(1);
            r.max(hpa_max(objs, &kind, &name, &ns, release).unwrap_or(0))
        };
        // Whose old pods are gone before the new ones come: a Deployment
        // with `strategy: Recreate`; a StatefulSet; a Pod (it is replaced, never beside
        // itself: one name); a Job (its pod template cannot change: Helm
        // deletes and recreates a hook Job, a plain one is deleted first).
        w.recreate = match kind.as_str() {
            "Deployment" => text(obj, &["spec", "strategy", "type"]).as_deref() == Some("Recreate"),
            // A StatefulSet replaces one ordinal at a time, deleting the
            // old pod first (the other old ones, already with the group,
            // are not modelled).
            "Pod" | "Job" | "StatefulSet" => true,
            // A DaemonSet's rolling update without surge takes a node's old
            // pod down before its new one (OnDelete keeps the old ones).
            "DaemonSet" => {
                text(obj, &["spec", "updateStrategy", "type"]).as_deref() != Some("OnDelete")
                    && max_surge(
                        at(
                            obj,
                            &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
                        )
                        .or(Some(&Value::from(0))),
                        1,
                    ) == 0
            }
            _ => false,
        };
        let steady = match kind.as_str() {
            "Deployment" | "StatefulSet" | "ReplicaSet" => replicas(),
            "Job" => int(obj, &["spec", "parallelism"]).unwrap_or(1),
            "CronJob" => int(obj, &["spec", "jobTemplate", "spec", "parallelism"]).unwrap_or(1),
            _ => 1,
        };
        let count = match kind.as_str() {
            "Deployment" => {
                let r = replicas();
                match text(obj, &["spec", "strategy", "type"]).as_deref() {
                    Some("Recreate") => r,
                    _ => {
                        r + max_surge(
                            at(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"]),
                            r,
                        )
                    }
                }
            }
            "StatefulSet" | "ReplicaSet" => replicas(),
            "Job" => int(obj, &["spec", "parallelism"]).unwrap_or(1),
            "CronJob" => {
                let p = int(obj, &["spec", "jobTemplate", "spec", "parallelism"]).unwrap_or(1);
                let allow = text(obj, &["spec", "concurrencyPolicy"]).is_none_or(|c| c == "Allow");
                if allow { 2 * p } else { p }
            }
            "DaemonSet" => {
                let pins: Vec<usize> = (0..nodes.len())
                    .filter(|&i| {
                        w.fits_node(&nodes[i])
                            && w.node_name.as_ref().is_none_or(|n| *n == nodes[i].name)
                    })
                    .collect();
                let n = pins.len() as i64;
                w.pins = Some(pins);
                n
            }
            _ => 1,
        };
        w.count = count.max(0) as usize;
        w.steady = if w.pins.is_some() {
            w.count
        } else {
            steady.max(0) as usize
        };
        // A rolling update without surge takes an old pod down before it
        // starts a new one (the old ones left are with the group already);
        // a CronJob that forbids or replaces concurrent runs has its last
        // Job done or gone before the next starts.
        if (kind == "Deployment" || kind == "CronJob") && w.count == w.steady {
            w.recreate = true;
        }
        // A Deployment's surge pods are the new revision: another
        // pod-template-hash, counted apart where matchLabelKeys say so.
        if kind == "Deployment" && w.count > w.steady {
            let mut surge = w.clone();
            surge.name = format!("{} (new)", w.name);
            surge.count = w.count - w.steady;
            surge.surge_part = true;
            surge
                .labels
                .insert("pod-template-hash".into(), format!("{name}-b"));
            w.count = w.steady;
            out.push(w);
            out.push(surge);
            continue;
        }
        out.push(w);
    }
    out
}

/// Whether the pods of `a` and `b` can influence each other's placement or
/// verdict: shared data, a host port clash, an (anti-)affinity term or a
/// spread selector of one that matches the other's pods. An
/// over-approximation: affinity counts pods matching *all* terms.
fn interacts(a: &Workload, b: &Workload) -> bool {
    let terms = |x: &Workload, y: &Workload| {
        x.affinity
            .iter()
            .chain(&x.anti)
            .any(|t| t.matches(&y.labels, &y.ns, &x.labels, &x.ns))
    };
    let spread = |x: &Workload, y: &Workload| {
        x.ns == y.ns && x.spread.iter().any(|c| selects(&c.selector, &y.labels))
    };
    a.data.iter().any(|x| b.data.iter().any(|y| x.same(y)))
        || a.ports
            .iter()
            .any(|p| b.ports.iter().any(|q| p.conflicts(q)))
        || terms(a, b)
        || terms(b, a)
        || spread(a, b)
        || spread(b, a)
}

/// Label propagation over `n` items joined by `related`: each ends with the
/// smallest index of its connected component.
pub fn propagate(n: usize, related: impl Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut comp: Vec<usize> = (0..n).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..n {
            for j in 0..n {
                if comp[j] < comp[i] && related(i, j) {
                    comp[i] = comp[j];
                    changed = true;
                }
            }
        }
    }
    comp
}

/// The connected components of [`interacts`], as indices (stream order
/// kept inside each component).
fn components(wl: &[&Workload]) -> Vec<Vec<usize>> {
    let comp = propagate(wl.len(), |i, j| interacts(wl[i], wl[j]));
    let mut out: Vec<Vec<usize>> = wl.iter().map(|_| Vec::new()).collect();
    for (i, c) in comp.into_iter().enumerate() {
        out[c].push(i);
    }
    out.retain(|g| !g.is_empty());
    out
}

/// Splits the workloads into the connected components of [`interacts`]
/// (stream order kept inside each component), keeping those that hold
/// Polyaxon data: the others are no business of the tool.
fn independent_groups(wl: Vec<Workload>) -> Vec<Vec<Workload>> {
    let comps = components(&wl.iter().collect::<Vec<_>>());
    let mut slots: Vec<Option<Workload>> = wl.into_iter().map(Some).collect();
    comps
        .into_iter()
        .map(|c| {
            c.into_iter()
                .map(|i| slots[i].take().expect("one component each"))
                .collect::<Vec<_>>()
        })
        .filter(|g| g.iter().any(Workload::held))
        .collect()
}

// ───────────────────────────── the search ─────────────────────────────

/// Per workload, the sorted node indices of its placed pods.
type State = Vec<Vec<usize>>;

/// A placed pod in the current state.
struct Placed {
    w: usize,
    node: usize,
    name: String,
}

/// The simulator for one group of interacting workloads.
struct Sim<'a> {
    nodes: &'a [Node],
    wl: Vec<Workload>,
    /// `share[i][j]`: the data workloads i and j share, if any.
    share: Vec<Vec<Option<String>>>,
}

impl<'a> Sim<'a> {
    /// Takes a group of workloads and precomputes which ones share data.
    fn new(nodes: &'a [Node], wl: Vec<Workload>) -> Sim<'a> {
        let share = wl
            .iter()
            .map(|a| {
                wl.iter()
                    .map(|b| {
                        a.data.iter().find_map(|x| {
                            b.data.iter().find(|y| x.same(y)).map(|y| {
                                let (dx, dy) = (x.describe(), y.describe());
                                if dx == dy { dx } else { format!("{dx} / {dy}") }
                            })
                        })
                    })
                    .collect()
            })
            .collect();
        Sim { nodes, wl, share }
    }

    /// The readable name of a pod of workload `w`: `Kind/name#k` (1-based),
    /// or `DaemonSet/name@node` for a DaemonSet pod.
    fn pod_name(&self, w: usize, index: usize, node: usize) -> String {
        match self.wl[w].pins {
            Some(_) => format!("{}@{}", self.wl[w].name, self.nodes[node].name),
            None => format!("{}#{}", self.wl[w].name, index + 1),
        }
    }

    /// Lists the placed pods of a state.
    fn placed(&self, state: &State) -> Vec<Placed> {
        let mut out = Vec::new();
        for (w, nodes) in state.iter().enumerate() {
            for (k, &node) in nodes.iter().enumerate() {
                out.push(Placed {
                    w,
                    node,
                    name: self.pod_name(w, k, node),
                });
            }
        }
        out
    }

    /// The unplaced pods of workload `w` worth trying: (name, candidate
    /// nodes). Identical pods are represented by one of them.
    fn unplaced(&self, w: usize, state: &State) -> Vec<(String, Vec<usize>)> {
        match &self.wl[w].pins {
            Some(pins) => pins
                .iter()
                .filter(|p| !state[w].contains(p))
                .map(|&p| (self.pod_name(w, 0, p), vec![p]))
                .collect(),
            None if state[w].len() < self.wl[w].count => {
                vec![(
                    self.pod_name(w, state[w].len(), 0),
                    (0..self.nodes.len()).collect(),
                )]
            }
            None => Vec::new(),
        }
    }

    /// Depth-first search over all reachable states; each state is expanded once.
    fn explore(&self, state: &mut State, seen: &mut HashSet<State>) -> Result<(), Violation> {
        if !seen.insert(state.clone()) {
            return Ok(());
        }
        let placed = self.placed(state);
        let mut moves = Vec::new();
        for w in 0..self.wl.len() {
            for (pod, candidates) in self.unplaced(w, state) {
                let mut reasons = Vec::new();
                let before = moves.len();
                for n in candidates {
                    match self.check(w, n, &placed) {
                        Ok(()) => moves.push((w, n, pod.clone())),
                        Err(why) => reasons.push(format!("{}: {why}", self.nodes[n].name)),
                    }
                }
                // A pod outside the tool's remit (no Polyaxon data) with no
                // node stays Pending; its own constraints are its own.
                if moves.len() == before && !self.wl[w].held() {
                    continue;
                }
                if moves.len() == before {
                    let detail = format!(
                        "no feasible node — {}; placed: [{}]",
                        reasons.join("; "),
                        self.describe(&placed)
                    );
                    return Err(Violation::Unplaceable { pod, detail });
                }
            }
        }
        for (w, n, pod) in moves {
            if let Some(q) = placed
                .iter()
                .find(|q| q.node != n && self.share[q.w][w].is_some())
            {
                let data = format!(
                    "{} ({} on {}, {} on {})",
                    self.share[q.w][w].as_ref().unwrap(),
                    q.name,
                    self.nodes[q.node].name,
                    pod,
                    self.nodes[n].name
                );
                return Err(Violation::Split {
                    a: q.name.clone(),
                    b: pod,
                    data,
                });
            }
            let pos = state[w].partition_point(|&x| x <= n);
            state[w].insert(pos, n);
            let result = self.explore(state, seen);
            state[w].remove(pos);
            result?;
        }
        Ok(())
    }

    /// Every state the pods can settle in without splitting their data:
    /// each pod placed on a node that passes the filters beside the pods
    /// placed before it, in every order, until no pod can be placed. Hands
    /// the workloads back with each end state.
    fn settled(self) -> Vec<(Vec<Workload>, State)> {
        let mut ends = Vec::new();
        let mut seen = HashSet::new();
        let mut state: State = vec![Vec::new(); self.wl.len()];
        self.settle(&mut state, &mut seen, &mut ends);
        ends.into_iter()
            .map(|s| {
                let wl = self.wl.clone();
                (wl, s)
            })
            .collect()
    }

    fn settle(&self, state: &mut State, seen: &mut HashSet<State>, ends: &mut Vec<State>) {
        if !seen.insert(state.clone()) {
            return;
        }
        let placed = self.placed(state);
        let mut moved = false;
        for w in 0..self.wl.len() {
            for (_, candidates) in self.unplaced(w, state) {
                for n in candidates {
                    if self.check(w, n, &placed).is_err()
                        || placed
                            .iter()
                            .any(|q| q.node != n && self.share[q.w][w].is_some())
                    {
                        continue;
                    }
                    moved = true;
                    let pos = state[w].partition_point(|&x| x <= n);
                    state[w].insert(pos, n);
                    self.settle(state, seen, ends);
                    state[w].remove(pos);
                }
            }
        }
        if !moved {
            ends.push(state.clone());
        }
    }

    /// `pod→node` list of a state, for messages.
    fn describe(&self, placed: &[Placed]) -> String {
        placed
            .iter()
            .map(|q| format!("{}→{}", q.name, self.nodes[q.node].name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs every filter for a pod of workload `w` on node `n`; Err names the failing filter.
    fn check(&self, w: usize, n: usize, placed: &[Placed]) -> Result<(), String> {
        let p = &self.wl[w];
        let node = &self.nodes[n];
        if let Some(want) = &p.node_name
            && *want != node.name
        {
            return Err(format!("NodeName (spec.nodeName is {want:?})"));
        }
        if !p.fits_node(node) {
            return Err("NodeAffinity (nodeSelector / required node affinity)".to_string());
        }
        self.node_ports(p, n, placed)?;
        // A pod with spec.nodeName bypasses the scheduler; only the kubelet's
        // admission checks (node affinity, host ports) apply to it.
        if p.node_name.is_none() {
            self.pod_affinity(p, n, placed)?;
            self.pod_anti_affinity(p, n, placed)?;
            self.topology_spread(p, n, placed)?;
            self.volume_restrictions(p, placed)?;
        }
        Ok(())
    }

    /// NodePorts: no host port of `p` may clash with one already used on `n`.
    fn node_ports(&self, p: &Workload, n: usize, placed: &[Placed]) -> Result<(), String> {
        for q in placed.iter().filter(|q| q.node == n) {
            for a in &p.ports {
                if self.wl[q.w].ports.iter().any(|b| a.conflicts(b)) {
                    return Err(format!(
                        "NodePorts (host port {}/{} already used by {})",
                        a.port, a.protocol, q.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether nodes `a` and `b` both carry `key` with the same value.
    fn same_domain(&self, a: usize, b: usize, key: &str) -> bool {
        match (self.nodes[a].labels.get(key), self.nodes[b].labels.get(key)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }

    /// InterPodAffinity, required affinity (as the scheduler's satisfyPodAffinity).
    fn pod_affinity(&self, p: &Workload, n: usize, placed: &[Placed]) -> Result<(), String> {
        let terms = &p.affinity;
        if terms.is_empty() {
            return Ok(());
        }
        let node = &self.nodes[n];
        if let Some(t) = terms.iter().find(|t| !node.labels.contains_key(&t.key)) {
            return Err(format!(
                "InterPodAffinity (node lacks topology key {:?})",
                t.key
            ));
        }
        let matches_all = |labels: &BTreeMap<String, String>, ns: &str| {
            terms
                .iter()
                .all(|t| t.matches(labels, ns, &p.labels, &p.ns))
        };
        let matching: Vec<&Placed> = placed
            .iter()
            .filter(|q| matches_all(&self.wl[q.w].labels, &self.wl[q.w].ns))
            .collect();
        if terms
            .iter()
            .all(|t| matching.iter().any(|q| self.same_domain(q.node, n, &t.key)))
        {
            return Ok(());
        }
        // The first pod of a group with affinity to itself: the scheduler's
        // affinity counts are empty (no matching pod on a node with any of
        // the topology keys) and the pod matches all of its own terms.
        let counts_empty = !matching.iter().any(|q| {
            terms
                .iter()
                .any(|t| self.nodes[q.node].labels.contains_key(&t.key))
        });
        if counts_empty && matches_all(&p.labels, &p.ns) {
            return Ok(());
        }
        Err(format!(
            "InterPodAffinity (required pod affinity unsatisfied; {} matching pod(s) elsewhere)",
            matching.len()
        ))
    }

    /// InterPodAffinity, required anti-affinity of `p` and of the placed pods.
    fn pod_anti_affinity(&self, p: &Workload, n: usize, placed: &[Placed]) -> Result<(), String> {
        for q in placed {
            let qw = &self.wl[q.w];
            for t in &p.anti {
                if t.matches(&qw.labels, &qw.ns, &p.labels, &p.ns)
                    && self.same_domain(q.node, n, &t.key)
                {
                    return Err(format!(
                        "InterPodAffinity (anti-affinity against {} on {:?})",
                        q.name, t.key
                    ));
                }
            }
            for t in &qw.anti {
                if t.matches(&p.labels, &p.ns, &qw.labels, &qw.ns)
                    && self.same_domain(q.node, n, &t.key)
                {
                    return Err(format!(
                        "InterPodAffinity ({}'s anti-affinity on {:?})",
                        q.name, t.key
                    ));
                }
            }
        }
        Ok(())
    }

    /// PodTopologySpread for the DoNotSchedule constraints of `p`.
    fn topology_spread(&self, p: &Workload, n: usize, placed: &[Placed]) -> Result<(), String> {
        let node = &self.nodes[n];
        for c in &p.spread {
            let Some(here) = node.labels.get(&c.key) else {
                return Err(format!(
                    "PodTopologySpread (node lacks topology key {:?})",
                    c.key
                ));
            };
            // Eligible nodes carry every constraint's key (as the scheduler
            // requires) and, under nodeAffinityPolicy Honor, fit the pod's
            // node selector and required node affinity.
            let eligible = |i: usize| {
                let m = &self.nodes[i];
                p.spread.iter().all(|s| m.labels.contains_key(&s.key))
                    && (!c.honor_affinity || p.fits_node(m))
            };
            let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
            for i in (0..self.nodes.len()).filter(|&i| eligible(i)) {
                counts
                    .entry(self.nodes[i].labels[&c.key].as_str())
                    .or_insert(0);
            }
            for q in placed.iter().filter(|q| eligible(q.node)) {
                let qw = &self.wl[q.w];
                if qw.ns == p.ns
                    && selects(&c.selector, &qw.labels)
                    && keys_match(&c.match_keys, &[], &qw.labels, &p.labels)
                {
                    *counts
                        .get_mut(self.nodes[q.node].labels[&c.key].as_str())
                        .unwrap() += 1;
                }
            }
            let min = if c.min_domains.is_some_and(|m| (counts.len() as i64) < m) {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let own = i64::from(selects(&c.selector, &p.labels));
            let skew = counts.get(here.as_str()).copied().unwrap_or(0) + own - min;
            if skew > c.max_skew {
                return Err(format!(
                    "PodTopologySpread (skew {skew} > maxSkew {} on {}={here})",
                    c.max_skew, c.key
                ));
            }
        }
        Ok(())
    }

    /// VolumeRestrictions: a ReadWriteOncePod claim may be used by one pod only.
    fn volume_restrictions(&self, p: &Workload, placed: &[Placed]) -> Result<(), String> {
        for (ns, claim) in p.single_pod_claims() {
            if let Some(q) = placed
                .iter()
                .find(|q| self.wl[q.w].single_pod_claims().any(|c| c == (ns, claim)))
            {
                return Err(format!(
                    "VolumeRestrictions (ReadWriteOncePod claim {ns}/{claim} used by {})",
                    q.name
                ));
            }
        }
        Ok(())
    }
}
