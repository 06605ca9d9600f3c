//! Scheduling property test: small generated Polyaxon-like streams and
//! configs are run through the binary; whenever it exits 0, the independent
//! brute-force scheduler simulator (tests/sim) must find no schedule that
//! splits pods sharing single-node data or leaves one without a node; when it
//! exits 1, stderr must name the constraint that makes it impossible; never
//! exit 2, a panic or "bug in polyrepo-render".
//!
//! Violations the tool cannot be expected to prevent are not counted against
//! it (see `infeasible` and `out_of_scope`): a workload whose own node
//! constraints (as output) admit no node of the simulated cluster (the tool
//! reasons about *some* cluster, not this one); a pod kept off every node by
//! its own node constraints and by pods it shares no data with; a pod only
//! waiting for the first pod its own pod affinity targets.
//!
//! PROPTEST_CASES overrides the number
//! of cases; SCHED_PROPS_STATS prints one line per case saying how it ended;
//! the ignored `replay` test runs one hand-written stream.

mod common;
mod sim;

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

// ───────────────────────────── the model ─────────────────────────────

#[derive(Debug, Clone)]
enum Kind {
    /// replicas 1–3; strategy 0 absent, 1 Recreate, 2/3/4 RollingUpdate
    /// maxSurge 0 / 1 / "50%".
    Deployment {
        replicas: u8,
        strategy: u8,
    },
    StatefulSet {
        replicas: u8,
    },
    Job {
        parallelism: u8,
    },
    CronJob {
        forbid: bool,
    },
    DaemonSet {
        pin_host1: bool,
    },
    Pod,
}

#[derive(Debug, Clone)]
struct HostVol {
    /// Index into PATHS.
    path: usize,
    /// 0 no type, 1 Socket, 2 DirectoryOrCreate.
    ty: u8,
    /// Call the volume `repos` (else `data`).
    repos: bool,
}

const PATHS: [&str; 6] = [
    "/data/a",
    "/data//a/",
    "/data",
    "/data/b",
    "/tmp/x",
    "/var/run/docker.sock",
];

#[derive(Debug, Clone)]
struct Wl {
    kind: Kind,
    ns: bool,
    host: Option<HostVol>,
    /// claimName c1 (0) or c2 (1).
    claim: Option<u8>,
    /// 0 pool: x, 1 zone: a, 2 hostname: host-0.
    node_selector: Option<u8>,
    node_name: bool,
    /// OR'ed terms, each a list of requirement kinds (empty = `{}`).
    node_affinity: Option<Vec<Vec<u8>>>,
    /// Index of the workload whose app label is targeted (mod count).
    anti: Option<u8>,
    affinity: Option<u8>,
    spread: bool,
    host_port: bool,
    host_network: bool,
    /// maxReplicas 2–3, namespace polyaxon.
    hpa: Option<(u8, bool)>,
    /// Not Polyaxon's (no `type` label): its data is out of scope, its
    /// constraints and labels count.
    outside: bool,
    /// `matchLabelKeys: [pod-template-hash]` on its pod (anti-)affinity
    /// terms and spread constraint.
    keyed: bool,
    /// Carries `tier: back`, and then spreads every pod carrying it (its
    /// own and other workloads').
    tier: bool,
}

#[derive(Debug, Clone)]
struct Pvc {
    /// 0 RWO, 1 RWX, 2 ROX, 3 RWOP.
    mode: u8,
    ns: bool,
    /// Bound (volumeName) to a local PV on host-2.
    local_pv: bool,
    /// Else bound (the PV's claimRef) to a network volume whose node
    /// affinity names zone a.
    zonal: bool,
}

#[derive(Debug, Clone)]
struct Case {
    wls: Vec<Wl>,
    /// PersistentVolumeClaim documents for c1 and c2 (None: not in the stream).
    pvcs: [Option<Pvc>; 2],
    /// 0 no --config, 1 empty, 2 `node: host-3`, 3 `repos: {node: host-1}`,
    /// 4 `ignore: [data]`, 5 `ignore: [/tmp/x]`, 6 repos existingClaim c1 RWO.
    config: u8,
    /// Pass `--namespace polyaxon`.
    namespace_flag: bool,
}

const MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadWriteMany",
    "ReadOnlyMany",
    "ReadWriteOncePod",
];

fn name(i: usize) -> String {
    format!("w{i}")
}

fn config_text(c: u8) -> Option<&'static str> {
    match c {
        0 => None,
        1 => Some(""),
        2 => Some("node: host-3\n"),
        3 => Some("repos:\n  node: host-1\n"),
        4 => Some("ignore: [data]\n"),
        5 => Some("ignore: [/tmp/x]\n"),
        _ => Some("repos:\n  existingClaim: c1\n  accessMode: ReadWriteOnce\n"),
    }
}

fn config_ignore(c: u8) -> Vec<String> {
    match c {
        4 => vec!["data".into()],
        5 => vec!["/tmp/x".into()],
        _ => vec![],
    }
}

/// A pessimistic count of a workload's pods (as the simulator counts them).
fn pods(w: &Wl) -> u32 {
    let hpa = w.hpa.map_or(0, |(m, _)| u32::from(m));
    match w.kind {
        Kind::Deployment { replicas, strategy } => {
            let r = u32::from(replicas).max(hpa);
            let surge = match strategy {
                0 => r.div_ceil(4),
                1 | 2 => 0,
                3 => 1,
                _ => r.div_ceil(2),
            };
            r + surge
        }
        Kind::StatefulSet { replicas } => u32::from(replicas),
        Kind::Job { parallelism } => u32::from(parallelism),
        Kind::CronJob { forbid } => {
            if forbid {
                1
            } else {
                2
            }
        }
        Kind::DaemonSet { pin_host1 } => {
            if pin_host1 {
                1
            } else {
                4
            }
        }
        Kind::Pod => 1,
    }
}

// ───────────────────────────── strategies ─────────────────────────────

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        5 => (1u8..=3, 0u8..=4).prop_map(|(replicas, strategy)| Kind::Deployment { replicas, strategy }),
        1 => (1u8..=2).prop_map(|replicas| Kind::StatefulSet { replicas }),
        1 => (1u8..=2).prop_map(|parallelism| Kind::Job { parallelism }),
        1 => any::<bool>().prop_map(|forbid| Kind::CronJob { forbid }),
        1 => any::<bool>().prop_map(|pin_host1| Kind::DaemonSet { pin_host1 }),
        1 => Just(Kind::Pod),
    ]
}

/// Some(x) with probability about `p` in 10.
fn maybe<T: std::fmt::Debug + Clone + 'static>(
    p: u32,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![10 - p => Just(None), p => s.prop_map(Some)].boxed()
}

fn arb_host() -> impl Strategy<Value = HostVol> {
    (
        prop_oneof![3 => 0usize..=4, 1 => Just(5usize)],
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        prop::bool::weighted(0.3),
    )
        .prop_map(|(path, ty, repos)| HostVol { path, ty, repos })
}

fn arb_wl() -> impl Strategy<Value = Wl> {
    (
        (
            arb_kind(),
            any::<bool>(),
            maybe(7, arb_host()),
            maybe(4, 0u8..=1),
            maybe(1, 0u8..=2),
            prop::bool::weighted(0.05),
            maybe(
                1,
                prop::collection::vec(prop::collection::vec(0u8..=9, 0..=2), 1..=2),
            ),
        ),
        (
            maybe(1, 0u8..=3),
            maybe(1, 0u8..=3),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.08),
            prop::bool::weighted(0.05),
            maybe(1, (2u8..=3, any::<bool>())),
        ),
        (
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.3),
        ),
    )
        .prop_map(
            |(
                (kind, ns, host, claim, node_selector, node_name, node_affinity),
                (anti, affinity, spread, host_port, host_network, hpa),
                (outside, keyed, tier),
            )| Wl {
                kind,
                ns,
                host,
                claim,
                node_selector,
                node_name,
                node_affinity,
                anti,
                affinity,
                spread,
                host_port,
                host_network,
                hpa,
                outside,
                keyed,
                tier,
            },
        )
}

fn arb_pvc() -> impl Strategy<Value = Pvc> {
    (
        prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(mode, ns, local_pv, zonal)| Pvc {
            mode,
            ns,
            local_pv,
            zonal: zonal && !local_pv,
        })
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(arb_wl(), 2..=4),
        maybe(7, arb_pvc()),
        maybe(7, arb_pvc()),
        0u8..=6,
        prop::bool::weighted(0.3),
    )
        .prop_map(|(wls, p1, p2, config, namespace_flag)| Case {
            wls,
            pvcs: [p1, p2],
            config,
            namespace_flag,
        })
        .prop_filter("at most 8 pods", |c| {
            c.wls.iter().map(pods).sum::<u32>() <= 8
        })
}

// ───────────────────────────── rendering ─────────────────────────────

/// One node-affinity requirement (kind 8 is a matchFields requirement).
fn requirement(k: u8) -> (bool, Value) {
    let e = |key: &str, op: &str, values: &[&str]| {
        if values.is_empty() {
            json!({"key": key, "operator": op})
        } else {
            json!({"key": key, "operator": op, "values": values})
        }
    };
    match k {
        0 => (false, e("pool", "In", &["x"])),
        1 => (false, e("pool", "NotIn", &["x"])),
        2 => (false, e("topology.kubernetes.io/zone", "Exists", &[])),
        3 => (false, e("pool", "DoesNotExist", &[])),
        4 => (false, e("kubernetes.io/hostname", "In", &["host-2"])),
        5 => (false, e("pool", "Gt", &["1"])),
        6 => (false, e("topology.kubernetes.io/zone", "Lt", &["5"])),
        7 => (false, e("kubernetes.io/hostname", "NotIn", &["host-0"])),
        8 => (true, e("metadata.name", "In", &["node-2"])),
        _ => (false, e("topology.kubernetes.io/zone", "In", &["b"])),
    }
}

fn pod_spec(c: &Case, i: usize, restart: Option<&str>) -> Value {
    let w = &c.wls[i];
    let n = c.wls.len();
    let mut spec = serde_json::Map::new();
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some(h) = &w.host {
        let vname = if h.repos { "repos" } else { "data" };
        let mut hp = json!({"path": PATHS[h.path]});
        match h.ty {
            1 => hp["type"] = json!("Socket"),
            2 => hp["type"] = json!("DirectoryOrCreate"),
            _ => {}
        }
        volumes.push(json!({"name": vname, "hostPath": hp}));
        mounts.push(json!({"name": vname, "mountPath": format!("/mnt/{vname}")}));
    }
    if let Some(cl) = w.claim {
        volumes.push(json!({"name": "claim", "persistentVolumeClaim": {"claimName": format!("c{}", cl + 1)}}));
        mounts.push(json!({"name": "claim", "mountPath": "/mnt/claim"}));
    }
    let mut container = json!({"name": "main", "image": "busybox:1.36"});
    let mut ports = Vec::new();
    if w.host_port {
        ports.push(json!({"containerPort": 8080, "hostPort": 8080}));
    }
    if w.host_network {
        ports.push(json!({"containerPort": 9000}));
        spec.insert("hostNetwork".into(), json!(true));
    }
    if !ports.is_empty() {
        container["ports"] = json!(ports);
    }
    if !mounts.is_empty() {
        container["volumeMounts"] = json!(mounts);
    }
    spec.insert("containers".into(), json!([container]));
    if !volumes.is_empty() {
        spec.insert("volumes".into(), json!(volumes));
    }
    if let Some(r) = restart {
        spec.insert("restartPolicy".into(), json!(r));
    }
    let mut selector = serde_json::Map::new();
    match w.node_selector {
        Some(0) => {
            selector.insert("pool".into(), json!("x"));
        }
        Some(1) => {
            selector.insert("topology.kubernetes.io/zone".into(), json!("a"));
        }
        Some(_) => {
            selector.insert("kubernetes.io/hostname".into(), json!("host-0"));
        }
        None => {}
    }
    if let Kind::DaemonSet { pin_host1: true } = w.kind {
        selector.insert("kubernetes.io/hostname".into(), json!("host-1"));
    }
    if !selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
    if w.node_name {
        spec.insert("nodeName".into(), json!("node-1"));
    }
    let req = "requiredDuringSchedulingIgnoredDuringExecution";
    let mut affinity = serde_json::Map::new();
    if let Some(terms) = &w.node_affinity {
        let terms: Vec<Value> = terms
            .iter()
            .map(|t| {
                let mut exprs = Vec::new();
                let mut fields = Vec::new();
                for &k in t {
                    let (field, r) = requirement(k);
                    if field { fields.push(r) } else { exprs.push(r) }
                }
                let mut term = serde_json::Map::new();
                if !exprs.is_empty() {
                    term.insert("matchExpressions".into(), json!(exprs));
                }
                if !fields.is_empty() {
                    term.insert("matchFields".into(), json!(fields));
                }
                Value::Object(term)
            })
            .collect();
        affinity.insert(
            "nodeAffinity".into(),
            json!({ req: {"nodeSelectorTerms": terms} }),
        );
    }
    let keyed = |mut v: Value| {
        if w.keyed {
            v["matchLabelKeys"] = json!(["pod-template-hash"]);
        }
        v
    };
    let pod_term = |target: u8| {
        keyed(json!({
            "labelSelector": {"matchLabels": {"app": name(usize::from(target) % n)}},
            "topologyKey": "kubernetes.io/hostname",
        }))
    };
    if let Some(t) = w.affinity {
        // podAffinity on another workload (the next one when t points at itself).
        let mut t = usize::from(t) % n;
        if t == i {
            t = (i + 1) % n;
        }
        affinity.insert("podAffinity".into(), json!({ req: [pod_term(t as u8)] }));
    }
    if let Some(t) = w.anti {
        // Even values: the workload itself; odd: the target index.
        let t = if t % 2 == 0 { i as u8 } else { t };
        affinity.insert("podAntiAffinity".into(), json!({ req: [pod_term(t)] }));
    }
    if !affinity.is_empty() {
        spec.insert("affinity".into(), Value::Object(affinity));
    }
    if w.spread {
        spec.insert(
            "topologySpreadConstraints".into(),
            json!([keyed(json!({
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": if w.tier {
                    json!({"tier": "back"})
                } else {
                    json!({"app": name(i)})
                }},
            }))]),
        );
    }
    Value::Object(spec)
}

fn metadata(c: &Case, i: usize) -> Value {
    let mut m = json!({
        "name": name(i),
        "labels": {"type": "polyaxon-core", "app": name(i)},
    });
    if c.wls[i].outside {
        m["labels"] = json!({"app": name(i)});
    }
    if c.wls[i].tier {
        m["labels"]["tier"] = json!("back"); // a Pod's own labels are its pod's
    }
    if c.wls[i].ns {
        m["namespace"] = json!("polyaxon");
    }
    m
}

fn template(c: &Case, i: usize, restart: Option<&str>) -> Value {
    let mut labels = json!({"app": name(i)});
    if c.wls[i].tier {
        labels["tier"] = json!("back");
    }
    json!({
        "metadata": {"labels": labels},
        "spec": pod_spec(c, i, restart),
    })
}

fn workload_doc(c: &Case, i: usize) -> Value {
    let w = &c.wls[i];
    let selector = json!({"matchLabels": {"app": name(i)}});
    match &w.kind {
        Kind::Deployment { replicas, strategy } => {
            let mut spec = json!({"replicas": replicas, "selector": selector});
            match strategy {
                0 => {}
                1 => spec["strategy"] = json!({"type": "Recreate"}),
                2 => {
                    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
                }
                3 => {
                    spec["strategy"] =
                        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
                }
                _ => {
                    spec["strategy"] =
                        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}})
                }
            }
            spec["template"] = template(c, i, None);
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(c, i), "spec": spec})
        }
        Kind::StatefulSet { replicas } => json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata(c, i),
            "spec": {"replicas": replicas, "serviceName": name(i), "selector": selector, "template": template(c, i, None)},
        }),
        Kind::DaemonSet { .. } => json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata(c, i),
            "spec": {"selector": selector, "template": template(c, i, None)},
        }),
        Kind::Job { parallelism } => json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(c, i),
            "spec": {"parallelism": parallelism, "template": template(c, i, Some("Never"))},
        }),
        Kind::CronJob { forbid } => {
            let mut spec = json!({"schedule": "*/5 * * * *"});
            if *forbid {
                spec["concurrencyPolicy"] = json!("Forbid");
            }
            spec["jobTemplate"] = json!({"spec": {"template": template(c, i, Some("OnFailure"))}});
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata(c, i), "spec": spec})
        }
        Kind::Pod => json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata(c, i),
            "spec": pod_spec(c, i, None),
        }),
    }
}

fn render(c: &Case) -> String {
    let mut docs: Vec<Value> = Vec::new();
    let mut pv = false;
    for (k, p) in c.pvcs.iter().enumerate() {
        let Some(p) = p else { continue };
        let mut meta = json!({"name": format!("c{}", k + 1)});
        if p.ns {
            meta["namespace"] = json!("polyaxon");
        }
        let mut spec = json!({
            "accessModes": [MODES[usize::from(p.mode)]],
            "resources": {"requests": {"storage": "1Gi"}},
        });
        if p.local_pv {
            spec["volumeName"] = json!("pv-local");
            spec["storageClassName"] = json!("local");
            pv = true;
        }
        if p.zonal {
            let mut claim_ref = json!({"name": format!("c{}", k + 1)});
            if p.ns {
                claim_ref["namespace"] = json!("polyaxon");
            }
            docs.push(json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": format!("pv-zone-c{}", k + 1)},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": [MODES[usize::from(p.mode)]],
                    "csi": {"driver": "disk.example.com", "volumeHandle": format!("h{k}")},
                    "claimRef": claim_ref,
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
                    ]}]}},
                },
            }));
        }
        docs.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}));
    }
    if pv {
        docs.push(json!({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-local"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local",
                "local": {"path": "/mnt"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-2"]}
                ]}]}},
            },
        }));
    }
    for i in 0..c.wls.len() {
        docs.push(workload_doc(c, i));
        if let Some((max, ns)) = c.wls[i].hpa {
            let mut meta = json!({"name": name(i)});
            if ns {
                meta["namespace"] = json!("polyaxon");
            }
            docs.push(json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name(i)},
                    "minReplicas": 1, "maxReplicas": max,
                },
            }));
        }
    }
    docs.iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

// ───────────────────── static feasibility on the cluster ─────────────────────

fn parse(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
        .filter(Value::is_object)
        .collect()
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        o => o.to_string(),
    }
}

fn req_matches(r: &Value, value: Option<&String>) -> bool {
    let values: Vec<String> = r["values"]
        .as_array()
        .map_or(vec![], |a| a.iter().map(s).collect());
    match r["operator"].as_str().unwrap_or("") {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => !value.is_some_and(|v| values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(Ok(have)), Some(Ok(want))) = (
                value.map(|v| v.parse::<i64>()),
                values.first().map(|v| v.parse::<i64>()),
            ) else {
                return false;
            };
            if op == "Gt" { have > want } else { have < want }
        }
        _ => false,
    }
}

/// Whether `terms` (a `nodeSelectorTerms` list: one term must match, an
/// empty term matches nothing) admit the node.
fn terms_admit(terms: &Value, node: &sim::Node) -> bool {
    terms.as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            let exprs = t["matchExpressions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let fields = t["matchFields"].as_array().cloned().unwrap_or_default();
            !(exprs.is_empty() && fields.is_empty())
                && exprs
                    .iter()
                    .all(|r| req_matches(r, node.labels.get(r["key"].as_str().unwrap_or(""))))
                && fields
                    .iter()
                    .all(|r| r["key"] == "metadata.name" && req_matches(r, Some(&node.name)))
        })
    })
}

/// The node terms of the PersistentVolumes bound (by the claim's
/// `volumeName`, or the volume's `claimRef`) to the claims a pod spec mounts.
fn volume_terms(spec: &Value, objs: &[Value]) -> Vec<Value> {
    fn of_kind<'a>(objs: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> {
        objs.iter().filter(move |o| o["kind"] == k)
    }
    let mut out = Vec::new();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() else {
            continue;
        };
        let by_name = of_kind(objs, "PersistentVolumeClaim")
            .filter(|c| c["metadata"]["name"] == claim)
            .filter_map(|c| c["spec"]["volumeName"].as_str())
            .flat_map(|pv| {
                of_kind(objs, "PersistentVolume").filter(move |v| v["metadata"]["name"] == pv)
            });
        let by_ref =
            of_kind(objs, "PersistentVolume").filter(|v| v["spec"]["claimRef"]["name"] == claim);
        for pv in by_name.chain(by_ref) {
            let t = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"];
            if !t.is_null() {
                out.push(t.clone());
            }
        }
    }
    out
}

/// Whether a pod spec's nodeName, nodeSelector and required node affinity
/// admit the node.
fn admits(spec: &Value, node: &sim::Node) -> bool {
    if let Some(n) = spec["nodeName"].as_str()
        && !n.is_empty()
        && n != node.name
    {
        return false;
    }
    if let Some(sel) = spec["nodeSelector"].as_object()
        && !sel.iter().all(|(k, v)| node.labels.get(k) == Some(&s(v)))
    {
        return false;
    }
    let terms = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    terms.is_null() || terms_admit(&terms["nodeSelectorTerms"], node)
}

/// The Polyaxon workloads whose pods no node of the cluster admits, by
/// their own node constraints and those of the PersistentVolumes they
/// mount (VolumeBinding), judged on the input (so a pin the tool adds to a
/// node the cluster lacks is never excused), with the volume the config
/// asks for in place of the repos volume.
fn infeasible(c: &Case, stream: &str, nodes: &[sim::Node]) -> Vec<String> {
    let mut out = Vec::new();
    let mut objs = parse(stream);
    // The volume the user asked for is the user's choice: a pod the
    // cluster cannot place with it (a zonal claim beside a node affinity
    // naming other nodes) is the cluster's business, as with the input's.
    if c.config == 6 {
        for o in objs.iter_mut() {
            let spec = match o["kind"].as_str() {
                Some("Pod") => &mut o["spec"],
                Some("CronJob") => &mut o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => &mut o["spec"]["template"]["spec"],
            };
            if let Some(vols) = spec["volumes"].as_array_mut() {
                for v in vols.iter_mut().filter(|v| v["name"] == "repos") {
                    *v = json!({"name": "repos", "persistentVolumeClaim": {"claimName": "c1"}});
                }
            }
        }
    }
    for o in &objs {
        if o["metadata"]["labels"]["type"] != "polyaxon-core" {
            continue;
        }
        let kind = o["kind"].as_str().unwrap_or("");
        let spec = match kind {
            "Pod" => &o["spec"],
            "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            // A DaemonSet with no admitted node simply has no pods.
            "DaemonSet" => continue,
            _ => &o["spec"]["template"]["spec"],
        };
        let bound = volume_terms(spec, &objs);
        if !nodes
            .iter()
            .any(|n| admits(spec, n) && bound.iter().all(|t| terms_admit(t, n)))
        {
            out.push(format!("{kind}/{}", s(&o["metadata"]["name"])));
        }
    }
    out
}

// ───────────────────────────── triage ─────────────────────────────

/// The single-node data keys of workload `i` as the output mounts them
/// (host paths normalised, claims by name), per the model.
fn data_keys(c: &Case, i: usize) -> Vec<String> {
    let w = &c.wls[i];
    let mut out = Vec::new();
    if w.outside {
        return out; // out of scope
    }
    if let Some(h) = &w.host {
        if h.repos && c.config == 6 {
            out.push("claim:c1".to_string());
        } else {
            let path = normalize(PATHS[h.path]);
            let ignored = (!h.repos && c.config == 4) || (c.config == 5 && path == "/tmp/x");
            if h.ty != 1 && !path.starts_with("/var/run") && !ignored {
                out.push(format!("path:{path}"));
            }
        }
    }
    if let Some(k) = w.claim {
        let shared = c.pvcs[usize::from(k)]
            .as_ref()
            .is_some_and(|p| (p.mode == 1 || p.mode == 2) && !p.local_pv);
        if !shared {
            out.push(format!("claim:c{}", k + 1));
        }
    }
    out
}

fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// Whether workloads `a` and `b` share single-node data (over-approximated:
/// claims by name, whatever the namespace).
fn shares(c: &Case, a: usize, b: usize) -> bool {
    let within = |x: &str, y: &str| x == y || y == "path:/" || x.starts_with(&format!("{y}/"));
    let (ka, kb) = (data_keys(c, a), data_keys(c, b));
    ka.iter()
        .any(|x| kb.iter().any(|y| within(x, y) || within(y, x)))
}

/// The workload indices named (`Kind/wN#k`, `Kind/wN@node`) in a text.
fn named(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(p) = rest.find("/w") {
        rest = &rest[p + 2..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(i) = digits.parse() {
            out.push(i);
        }
    }
    out
}

/// An Unplaceable pod that is not the tool's doing: on every node it is
/// kept off by its own node constraints, by a pod of a workload it shares no
/// data with (anti-affinity, host port, claim: workloads the tool does not
/// group), or by its own pod affinity, either still waiting for a first
/// target pod (Pending, not stuck: the simulator counts any state where a
/// pod has no node, even a passing one) or aimed at a workload it shares no
/// data with (the simulator leaves out pods without single-node data, so
/// such a target may never appear). At least one node must be of the second
/// or third kind (all node constraints is `infeasible`).
fn out_of_scope(c: &Case, v: &sim::Violation) -> bool {
    let sim::Violation::Unplaceable { pod, detail } = v else {
        return false;
    };
    let Some(&me) = named(pod).first() else {
        return false;
    };
    let target = c.wls[me].affinity.map(|t| {
        let n = c.wls.len();
        let t = usize::from(t) % n;
        if t == me { (me + 1) % n } else { t }
    });
    let reasons = detail.split("; placed:").next().unwrap_or("");
    let mut excused_by_pods = false;
    for r in reasons
        .trim_start_matches("no feasible node — ")
        .split("; node-")
    {
        if r.contains("NodeAffinity (") || r.contains("NodeName (") {
            continue;
        }
        let others: Vec<usize> = named(r).into_iter().filter(|&o| o != me).collect();
        let ok = if r.contains("required pod affinity unsatisfied") {
            target.is_some_and(|t| r.contains("; 0 matching pod(s)") || !shares(c, me, t))
        } else {
            !others.is_empty() && others.iter().all(|&o| !shares(c, me, o))
        };
        if !ok {
            return false;
        }
        excused_by_pods = true;
    }
    excused_by_pods
}

/// Cases where a safe output provably exists, so a refusal would be wrong:
/// no workload constrains where it runs or whom it runs beside (no node
/// selection, affinity, anti-affinity, spread, host port, DaemonSet), no
/// single-pod claim and no local volume is mounted, and every workload is
/// in the same namespace (or none names one). Co-locating each group on
/// the node its first pod lands on, or pinning it to the configured node,
/// is then always placeable.
fn provably_safe(c: &Case) -> bool {
    // Config 6 turns each `repos` host path into claim c1.
    let repos_claim =
        |w: &Wl| (c.config == 6 && w.host.as_ref().is_some_and(|h| h.repos)).then_some(0u8);
    let claims_ok = c
        .wls
        .iter()
        .flat_map(|w| w.claim.into_iter().chain(repos_claim(w)))
        .all(|k| {
            c.pvcs[usize::from(k)]
                .as_ref()
                .is_none_or(|p| p.mode != 3 && !p.local_pv && !p.zonal)
        });
    let one_namespace = c.wls.iter().all(|w| w.ns) || c.wls.iter().all(|w| !w.ns);
    claims_ok
        && one_namespace
        && c.wls.iter().all(|w| {
            w.node_selector.is_none()
                && !w.node_name
                && w.node_affinity.is_none()
                && w.anti.is_none()
                && w.affinity.is_none()
                && !w.spread
                && !w.host_port
                && !w.host_network
                && !matches!(w.kind, Kind::DaemonSet { .. })
        })
}

// ───────────────────────────── the property ─────────────────────────────

/// Phrases one of which an exit-1 message must contain: it names the
/// constraint that blocks (not merely "single-node", which every refusal
/// says).
const CONSTRAINT_WORDS: [&str; 12] = [
    "node constraints",
    "node name",
    "anti-affinity",
    "topology spread",
    "host port",
    "ReadWriteOncePod",
    "nodeSelector",
    "required pod affinity",
    "spec.selector",
    "runs a pod on every node",
    "node affinity",
    "PersistentVolume",
];

/// With SCHED_PROPS_STATS set, one line per case on stderr saying how it ended.
fn stat(what: &str) {
    if std::env::var_os("SCHED_PROPS_STATS").is_some() {
        eprintln!("STAT {what}");
    }
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let stream = render(c);
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    let cfg = config_text(c.config);
    if let Some(text) = cfg {
        let p = common::temp_file(dir.path(), "polyrepo.yaml", text);
        args.push("--config".into());
        args.push(p.to_str().unwrap().into());
    }
    if c.namespace_flag {
        args.push("--namespace".into());
        args.push("polyaxon".into());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::run(&argv, stream.as_bytes());
    let ctx = || {
        format!(
            "args: {argv:?}\nconfig:\n{}\n--- stream ---\n{stream}\n--- stderr ---\n{}",
            cfg.unwrap_or("(none)"),
            r.stderr
        )
    };
    prop_assert!(
        !r.stderr.contains("bug in polyrepo-render") && !r.stderr.contains("panicked"),
        "internal error\n{}",
        ctx()
    );
    match r.code {
        0 => {
            let out = r.out();
            let opts = sim::Options {
                namespace: c.namespace_flag.then(|| "polyaxon".to_string()),
                ignore: config_ignore(c.config),
                ..sim::Options::default()
            };
            let nodes = sim::cluster();
            if let Err(v) = sim::simulate(&out, &nodes, &opts) {
                // What the tool cannot know about this particular cluster:
                // pods the input already cannot place, or a pin beside node
                // labels the tool says it cannot check.
                let bad = infeasible(c, &stream, &nodes);
                if !bad.is_empty()
                    || r.stderr
                        .contains("if that node does not carry them, its pods stay Pending")
                    || r.stderr
                        .contains("and they stay Pending on a node it excludes")
                {
                    stat(&format!(
                        "0 sim-violation: infeasible on this cluster | {v}"
                    ));
                    return Ok(());
                }
                if out_of_scope(c, &v) {
                    stat(&format!(
                        "0 sim-violation: between ungrouped workloads | {v}"
                    ));
                    return Ok(());
                }
                // The input strands the same pod (the pods around it fill
                // every node it may use): not the tool's doing.
                if let (
                    sim::Violation::Unplaceable { pod, .. },
                    Err(sim::Violation::Unplaceable { pod: before, .. }),
                ) = (&v, sim::simulate(&stream, &nodes, &opts))
                    && *pod == before
                {
                    stat("0 sim-violation: the input strands it too");
                    return Ok(());
                }
                prop_assert!(
                    false,
                    "exit 0 but the simulator found: {v}\n{}\n--- output ---\n{out}",
                    ctx()
                );
            }
            // Upgrades: the pods of an earlier render run while the new
            // ones come. The same stream without the tool (the first
            // upgrade with it), and the tool's render with other data.
            let mut previous = vec![("a render without polyrepo-render", stream.clone())];
            if c.config == 6 {
                let mut args0: Vec<&str> = Vec::new();
                if c.namespace_flag {
                    args0.extend(["--namespace", "polyaxon"]);
                }
                let r0 = common::run(&args0, stream.as_bytes());
                if r0.code == 0 {
                    previous.push(("the tool's render with the chart's host path", r0.out()));
                }
            }
            for (what, prev) in &previous {
                if let Err(v) = sim::simulate_upgrade(prev, &out, &nodes, &opts) {
                    if !infeasible(c, &stream, &nodes).is_empty()
                        || r.stderr
                            .contains("and they stay Pending on a node it excludes")
                    {
                        stat("0 upgrade-violation: infeasible on this cluster");
                        continue;
                    }
                    if out_of_scope(c, &v) {
                        stat("0 upgrade-violation: between ungrouped workloads");
                        continue;
                    }
                    // Said in a warning: the added label is not on the
                    // running pods; or the node is known (the pods go where
                    // the data is said to be, wherever the old ones ran).
                    if r.stderr.contains("the pods running today do not carry") {
                        stat("0 upgrade-violation: announced (added label)");
                        continue;
                    }
                    if pinned(&v, &out) {
                        stat("0 upgrade-violation: pinned to the known node");
                        continue;
                    }
                    // A workload that leaves a group (its data moved): its
                    // old pods hold the data it no longer shares, and host
                    // data without a known node goes where its next pod
                    // lands (warned).
                    if left_group(c, &v) && r.stderr.contains("no node is known for this host data")
                    {
                        stat("0 upgrade-violation: a workload left the group (warned)");
                        continue;
                    }
                    // One pod on host data with no node known: it may start
                    // anywhere on any restart, upgrade or not (warned).
                    if unheld_host_pod(&v, &out)
                        && r.stderr.contains("no node is known for this host data")
                    {
                        stat("0 upgrade-violation: a lone pod on host data (warned)");
                        continue;
                    }
                    prop_assert!(
                        false,
                        "exit 0 but an upgrade from {what} breaks: {v}\n{}\n--- previous ---\n{prev}\n--- output ---\n{out}",
                        ctx()
                    );
                }
            }
            stat(if r.stdout == stream.as_bytes() {
                "0 ok unchanged"
            } else {
                "0 ok changed"
            });
        }
        1 => {
            stat("1");
            prop_assert!(
                !provably_safe(c),
                "refused, though co-locating or pinning every group is safe here\n{}",
                ctx()
            );
            prop_assert!(r.stdout.is_empty(), "exit 1 with output\n{}", ctx());
            prop_assert!(
                r.stderr.contains("error:")
                    && CONSTRAINT_WORDS.iter().any(|w| r.stderr.contains(w)),
                "exit 1 without naming a constraint\n{}",
                ctx()
            );
        }
        2 => {
            // A setting that matches nothing is refused (it would change
            // nothing). Judged on the case, not on the tool's reasoning.
            stat("2");
            prop_assert!(r.stdout.is_empty(), "exit 2 with output\n{}", ctx());
            let ours: Vec<&Wl> = c.wls.iter().filter(|w| !w.outside).collect();
            let why = if ours.is_empty() {
                "no Polyaxon workload was found"
            } else {
                match c.config {
                    2 => "node `host-3` is used by nothing",
                    3 => "repos.node `host-1` is used by nothing",
                    4 | 5 => {
                        let hit = ours.iter().any(|w| {
                            w.host.as_ref().is_some_and(|h| {
                                if c.config == 4 {
                                    !h.repos
                                } else {
                                    PATHS[h.path] == "/tmp/x"
                                }
                            })
                        });
                        prop_assert!(
                            !hit,
                            "an ignore entry that names a volume refused\n{}",
                            ctx()
                        );
                        "ignore entry"
                    }
                    _ => "(no exit 2 expected)",
                }
            };
            prop_assert!(r.stderr.contains(why), "exit 2 without `{why}`\n{}", ctx());
        }
        code => prop_assert!(false, "exit {code}\n{}", ctx()),
    }
    Ok(())
}

/// The workload name of the new pod of a split (the other one is old):
/// `Kind/name#k` or `Kind/name@node` → `name`.
fn new_pod_workload(v: &sim::Violation) -> Option<&str> {
    let sim::Violation::Split { a, b, .. } = v else {
        return None;
    };
    let new = if a.starts_with("old ") { b } else { a };
    new.split('/').nth(1)?.split(['#', '@']).next()
}

/// Is the new pod of a split held to a node by name in the output (a
/// hostname or node-name requirement, a hostname nodeSelector, `nodeName`,
/// or a claim bound to a PersistentVolume with a node affinity)? The tool
/// then knows where the data is; pods of an earlier render elsewhere
/// contradict it, and the pinned pods go to the data.
fn pinned(v: &sim::Violation, out: &str) -> bool {
    let Some(name) = new_pod_workload(v) else {
        return false;
    };
    let objs = parse(out);
    objs.iter().any(|o| {
        let text = o.to_string();
        let spec = match o["kind"].as_str() {
            Some("Pod") => &o["spec"],
            Some("CronJob") => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => &o["spec"]["template"]["spec"],
        };
        o["metadata"]["name"] == name
            && (["\"kubernetes.io/hostname\"", "\"metadata.name\"", "\"nodeName\""]
                .iter()
                .any(|k| text.contains(k))
                // A claim bound to a PersistentVolume with a node affinity.
                || !volume_terms(spec, &objs).is_empty())
    })
}

/// Does a split pair an old pod with a new one whose workloads the new
/// render does not group (no data shared, even through others)?
fn left_group(c: &Case, v: &sim::Violation) -> bool {
    let sim::Violation::Split { a, b, .. } = v else {
        return false;
    };
    let index = |p: &str| -> Option<usize> {
        let name = p.trim_start_matches("old ").split('/').nth(1)?;
        name.split(['#', '@'])
            .next()?
            .strip_prefix('w')?
            .parse()
            .ok()
    };
    let (Some(x), Some(y)) = (index(a), index(b)) else {
        return false;
    };
    let group = sim::propagate(c.wls.len(), |i, j| shares(c, i, j));
    group[x] != group[y]
}

/// Is the new pod of a split one the tool gave no placement (no
/// co-location term, no pin): a lone pod it only warns about?
fn unheld_host_pod(v: &sim::Violation, out: &str) -> bool {
    let Some(name) = new_pod_workload(v) else {
        return false;
    };
    parse(out).iter().any(|o| {
        o["metadata"]["name"] == name
            && o["metadata"]["annotations"]["polyrepo-render/changes"]
                .as_str()
                .is_none_or(|c| !c.contains("affinity"))
    })
}

/// Replays one stream by hand: SCHED_PROPS_STREAM=file [SCHED_PROPS_CONFIG=file]
/// [SCHED_PROPS_NAMESPACE=ns] cargo test --test sched_props replay -- --ignored --nocapture
#[test]
#[ignore]
fn replay() {
    let stream = std::fs::read_to_string(std::env::var("SCHED_PROPS_STREAM").unwrap()).unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Ok(cfg) = std::env::var("SCHED_PROPS_CONFIG") {
        args.extend(["--config".to_string(), cfg]);
    }
    let ns = std::env::var("SCHED_PROPS_NAMESPACE").ok();
    if let Some(ns) = &ns {
        args.extend(["--namespace".to_string(), ns.clone()]);
    }
    let ignore = std::env::var("SCHED_PROPS_IGNORE")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::run(&argv, stream.as_bytes());
    println!("exit {}\n--- stderr ---\n{}", r.code, r.stderr);
    if r.code == 0 {
        let out = r.out();
        println!("--- output ---\n{out}");
        let opts = sim::Options {
            namespace: ns,
            ignore,
            ..sim::Options::default()
        };
        match sim::simulate(&out, &sim::cluster(), &opts) {
            Ok(()) => println!("simulator: ok"),
            Err(v) => println!("simulator: {v}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(500),
        max_global_rejects: 100_000,
        // Failures are saved (tests/sched_props.proptest-regressions, with
        // the seed that found them) and replayed first on every run.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn scheduling_is_safe_or_refused(c in arb_case()) {
        check(&c)?;
    }
}
