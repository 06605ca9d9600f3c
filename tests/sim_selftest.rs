//! Tests of the scheduler simulator (tests/sim) itself, on small hand-written
//! streams whose answer follows directly from Kubernetes semantics.

mod sim;

use sim::{Node, Options, Violation, cluster, simulate};

fn run(yaml: &str) -> Result<(), Violation> {
    simulate(yaml, &cluster(), &Options::default())
}

fn run_ns(yaml: &str, ns: &str) -> Result<(), Violation> {
    let opts = Options {
        namespace: Some(ns.to_string()),
        ..Options::default()
    };
    simulate(yaml, &cluster(), &opts)
}

#[track_caller]
fn ok(r: Result<(), Violation>) {
    if let Err(v) = r {
        panic!("expected no violation, got {v}");
    }
}

/// Asserts a Split and returns (a, b, data).
#[track_caller]
fn split(r: Result<(), Violation>) -> (String, String, String) {
    match r {
        Err(Violation::Split { a, b, data }) => (a, b, data),
        other => panic!("expected Split, got {other:?}"),
    }
}

/// Asserts an Unplaceable whose detail names `filter`; returns the pod.
#[track_caller]
fn unplaceable(r: Result<(), Violation>, filter: &str) -> String {
    match r {
        Err(Violation::Unplaceable { pod, detail }) => {
            assert!(detail.contains(filter), "expected {filter} in: {detail}");
            pod
        }
        other => panic!("expected Unplaceable ({filter}), got {other:?}"),
    }
}

/// A Polyaxon Deployment `api` (label app=api) with `replicas`, `strategy`
/// and a pod spec whose extra fields are `pod` (flow-style YAML, indented
/// for the `spec:` of the template), mounting hostPath /data.
fn deployment(replicas: u32, strategy: &str, pod: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, labels: {{type: polyaxon-core}}}}
spec:
  replicas: {replicas}
  strategy: {strategy}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: c, image: i}}]
      volumes: [{{name: data, hostPath: {{path: /data}}}}]
{pod}
"
    )
}

const SELF_AFFINITY: &str = "      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname}";

// ───────────── pod counts ─────────────

#[test]
fn ok_single_pod_recreate() {
    ok(run(&deployment(1, "{type: Recreate}", "")));
}

#[test]
fn split_rolling_update_surge_pod() {
    // Default strategy RollingUpdate, maxSurge 25% of 1 rounded up = 1:
    // the surge pod is the new revision.
    let (a, b, data) = split(run(&deployment(1, "{}", "")));
    assert_eq!(
        (a.as_str(), b.as_str()),
        ("Deployment/api#1", "Deployment/api (new)#1")
    );
    assert!(data.contains("hostPath /data"), "{data}");
}

#[test]
fn ok_rolling_update_zero_surge() {
    ok(run(&deployment(
        1,
        "{type: RollingUpdate, rollingUpdate: {maxSurge: 0}}",
        "",
    )));
    ok(run(&deployment(
        1,
        "{rollingUpdate: {maxSurge: \"0%\"}}",
        "",
    )));
}

#[test]
fn split_two_replicas() {
    split(run(&deployment(2, "{type: Recreate}", "")));
}

#[test]
fn split_hpa_raises_replicas() {
    let hpa = "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h, namespace: other}
spec: {scaleTargetRef: {kind: Deployment, name: api}, maxReplicas: 3}
";
    let stream = deployment(1, "{type: Recreate}", "") + hpa;
    // The HPA lives in "other": it only applies when the release is there.
    ok(run_ns(&stream, "prod"));
    split(run_ns(&stream, "other"));
    // Namespace unknown: "other" is a candidate release namespace.
    let (_, _, data) = split(run(&stream));
    assert!(data.contains("\"other\""), "{data}");
}

#[test]
fn jobs_cronjobs_statefulsets() {
    let job = |kind: &str, spec: &str| {
        format!(
            "kind: {kind}
metadata: {{name: j, labels: {{type: polyaxon-core}}}}
spec:
{spec}
"
        )
    };
    let pod = "{spec: {volumes: [{name: d, hostPath: {path: /data}}]}}";
    split(run(&job(
        "Job",
        &format!("  parallelism: 2\n  template: {pod}"),
    )));
    ok(run(&job("Job", &format!("  template: {pod}"))));
    // CronJob with concurrencyPolicy Allow (default): two jobs can overlap.
    split(run(&job(
        "CronJob",
        &format!("  jobTemplate: {{spec: {{template: {pod}}}}}"),
    )));
    ok(run(&job(
        "CronJob",
        &format!("  concurrencyPolicy: Forbid\n  jobTemplate: {{spec: {{template: {pod}}}}}"),
    )));
    split(run(&job(
        "StatefulSet",
        &format!("  replicas: 2\n  template: {pod}"),
    )));
    ok(run(&job(
        "ReplicaSet",
        &format!("  replicas: 1\n  template: {pod}"),
    )));
}

#[test]
fn split_inside_list() {
    let stream = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}",
        "{kind: Deployment, metadata: {name: api, labels: {type: polyaxon-core}}, spec: {replicas: 2, strategy: {type: Recreate}, template: {spec: {volumes: [{name: d, hostPath: {path: /x}}]}}}}"
    );
    split(run(&stream));
}

// ───────────── which workloads and which data ─────────────

#[test]
fn ok_with_self_affinity_on_hostname() {
    // 3 replicas + 1 surge pod, all drawn to the first one's node.
    ok(run(&deployment(3, "{}", SELF_AFFINITY)));
}

#[test]
fn split_affinity_on_zone_is_not_one_node() {
    let zone = SELF_AFFINITY.replace("kubernetes.io/hostname", "topology.kubernetes.io/zone");
    split(run(&deployment(2, "{type: Recreate}", &zone)));
}

#[test]
fn polyaxon_labels() {
    let plain = deployment(3, "{}", "").replace("type: polyaxon-core", "app: other");
    ok(run(&plain));
    let part_of = deployment(3, "{}", "").replace(
        "type: polyaxon-core",
        "app.kubernetes.io/part-of: polyaxon-core",
    );
    split(run(&part_of));
    let custom = deployment(3, "{}", "").replace("polyaxon-core", "mine");
    ok(run(&custom));
    let opts = Options {
        core_type: "mine".into(),
        ..Options::default()
    };
    split(simulate(&custom, &cluster(), &opts));
    // The label must be on the workload itself, not only on the pod template.
    let on_template = deployment(3, "{}", "")
        .replace("labels: {type: polyaxon-core}", "labels: {}")
        .replace("{app: api}", "{app: api, type: polyaxon-core}");
    ok(run(&on_template));
}

#[test]
fn ok_without_single_node_data() {
    let stream = "kind: Deployment
metadata: {name: api, labels: {type: polyaxon-core}}
spec:
  replicas: 3
  template:
    spec:
      volumes:
      - {name: a, emptyDir: {}}
      - {name: b, configMap: {name: cm}}
      - {name: c, hostPath: {path: /var/run/docker.sock}}
      - {name: d, hostPath: {path: /dev/shm}}
      - {name: e, hostPath: {path: /etc/../proc/x}}
      - {name: f, hostPath: {path: /tmp/sock, type: Socket}}
      - {name: g, hostPath: {path: /dev2/../usr//lib/}}
      - {name: h, hostPath: {path: /srv/disk, type: BlockDevice}}
";
    ok(run(stream));
}

#[test]
fn host_path_overlap() {
    let two = |a: &str, b: &str| {
        format!(
            "kind: Pod
metadata: {{name: a, labels: {{type: polyaxon-core}}}}
spec: {{volumes: [{{name: v, hostPath: {{path: '{a}'}}}}]}}
---
kind: Pod
metadata: {{name: b, labels: {{type: polyaxon-core}}}}
spec: {{volumes: [{{name: v, hostPath: {{path: '{b}'}}}}]}}
"
        )
    };
    let (a, b, _) = split(run(&two("/tmp", "/tmp/repos/")));
    assert_eq!((a.as_str(), b.as_str()), ("Pod/a#1", "Pod/b#1"));
    ok(run(&two("/tmp/re", "/tmp/repos")));
    split(run(&two("//data/./x/..", "/data")));
    split(run(&two("/", "/home/u")));
    ok(run(&two("/data/a", "/data/b")));
    // /run is system, /running is not.
    ok(run(&two("/run/x", "/run/x")));
    split(run(&two("/running", "/running")));
}

#[test]
fn ignore_option() {
    let stream = "kind: Deployment
metadata: {name: api, labels: {type: polyaxon-core}}
spec:
  replicas: 2
  strategy: {type: Recreate}
  template:
    spec:
      volumes:
      - {name: cache, hostPath: {path: /cache}}
      - {name: d, hostPath: {path: /data/x/}}
";
    split(run(stream));
    let opts = |ignore: &[&str]| Options {
        ignore: ignore.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    };
    split(simulate(stream, &cluster(), &opts(&["cache"])));
    ok(simulate(stream, &cluster(), &opts(&["cache", "/data/x"])));
    ok(simulate(stream, &cluster(), &opts(&["/cache", "d"])));
}

// ───────────── claims ─────────────

fn claim_stream(pvc: &str) -> String {
    format!(
        "kind: Deployment
metadata: {{name: api, labels: {{type: polyaxon-core}}}}
spec:
  replicas: 2
  strategy: {{type: Recreate}}
  template:
    spec: {{volumes: [{{name: d, persistentVolumeClaim: {{claimName: store}}}}]}}
{pvc}"
    )
}

#[test]
fn claims_by_access_mode() {
    let pvc = |spec: &str| {
        claim_stream(&format!(
            "---\nkind: PersistentVolumeClaim\nmetadata: {{name: store}}\nspec: {spec}\n"
        ))
    };
    let (_, _, data) = split(run(&pvc("{accessModes: [ReadWriteOnce]}")));
    assert!(data.contains("store"), "{data}");
    split(run(&pvc("{}")));
    ok(run(&pvc("{accessModes: [ReadWriteMany]}")));
    // ReadOnlyMany reaches every node only while every pod reads it only.
    split(run(&pvc("{accessModes: [ReadOnlyMany, ReadWriteOnce]}")));
    ok(run(&pvc("{accessModes: [ReadOnlyMany, ReadWriteOnce]}")
        .replace(
            "claimName: store}",
            "claimName: store, readOnly: true}",
        )));
    // RWX bound to a local / hostPath PersistentVolume is single-node anyway.
    let local = "{accessModes: [ReadWriteMany], volumeName: pv1}\n---\nkind: PersistentVolume\nmetadata: {name: pv1}\nspec: {local: {path: /mnt}}";
    split(run(&pvc(local)));
    let nfs = "{accessModes: [ReadWriteMany], volumeName: pv1}\n---\nkind: PersistentVolume\nmetadata: {name: pv1}\nspec: {nfs: {server: s, path: /}}";
    ok(run(&pvc(nfs)));
}

#[test]
fn claims_not_in_stream() {
    split(run(&claim_stream("")));
    let opts = Options {
        unknown_claim_mode: "ReadWriteMany".into(),
        ..Options::default()
    };
    ok(simulate(&claim_stream(""), &cluster(), &opts));
}

#[test]
fn claim_namespace_candidates() {
    // The RWX claim is in namespace "data"; the Deployment has no namespace.
    let stream = claim_stream(
        "---\nkind: PersistentVolumeClaim\nmetadata: {name: store, namespace: data}\nspec: {accessModes: [ReadWriteMany]}\n",
    );
    ok(run_ns(&stream, "data"));
    // In any other release namespace the claim is unknown → ReadWriteOnce.
    split(run_ns(&stream, "prod"));
    let (_, _, data) = split(run(&stream));
    assert!(data.contains("\"release\""), "{data}");
}

#[test]
fn unplaceable_read_write_once_pod_claim() {
    let stream = claim_stream(
        "---\nkind: PersistentVolumeClaim\nmetadata: {name: store}\nspec: {accessModes: [ReadWriteOncePod]}\n",
    );
    let stream = stream.replace("spec: {volumes:", "metadata: {labels: {app: api}}\n    spec: {affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname}]}}, volumes:");
    let pod = unplaceable(run(&stream), "VolumeRestrictions");
    assert_eq!(pod, "Deployment/api#2");
    // A single pod is fine.
    ok(run(&stream.replace("replicas: 2", "replicas: 1")));
}

// ───────────── NodeName ─────────────

#[test]
fn node_name() {
    let pod = |name: &str, node: &str, extra: &str| {
        format!(
            "---\nkind: Pod\nmetadata: {{name: {name}, labels: {{type: polyaxon-core}}}}\nspec: {{nodeName: {node}, volumes: [{{name: v, hostPath: {{path: /d}}}}]{extra}}}\n"
        )
    };
    // nodeName is a node *name*, not a hostname label.
    unplaceable(run(&pod("p", "host-1", "")), "NodeName");
    ok(run(&pod("p", "node-1", "")));
    split(run(&(pod("p", "node-0", "") + &pod("q", "node-1", ""))));
    ok(run(&(pod("p", "node-1", "") + &pod("q", "node-1", ""))));
    // A bound pod skips inter-pod affinity, but not node affinity.
    let affinity = ", affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {x: y}}, topologyKey: pool}]}}";
    ok(run(&pod("p", "node-2", affinity)));
    unplaceable(
        run(&pod("p", "node-2", ", nodeSelector: {pool: y}")),
        "NodeAffinity",
    );
}

// ───────────── NodeAffinity ─────────────

fn required(terms: &str) -> String {
    format!(
        "      affinity: {{nodeAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: {{nodeSelectorTerms: {terms}}}}}}}"
    )
}

#[test]
fn node_affinity() {
    let d = |pod: &str| deployment(3, "{}", pod);
    unplaceable(run(&d("      nodeSelector: {pool: z}")), "NodeAffinity");
    // Everything on node-2 (matchFields compares the node name).
    ok(run(&d(&required(
        "[{matchFields: [{key: metadata.name, operator: In, values: [node-2]}]}]",
    ))));
    // The hostname label is not the node name.
    unplaceable(
        run(&d(&required(
            "[{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-2]}]}]",
        ))),
        "NodeAffinity",
    );
    ok(run(&d(&required(
        "[{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [host-2]}]}]",
    ))));
    // Terms are OR'ed (two nodes → split); within a term AND'ed (one node).
    split(run(&d(&required(
        "[{matchFields: [{key: metadata.name, operator: In, values: [node-0]}]}, {matchExpressions: [{key: pool, operator: In, values: [y]}, {key: topology.kubernetes.io/zone, operator: In, values: [b]}]}]",
    ))));
    ok(run(&d(&required(
        "[{matchExpressions: [{key: pool, operator: In, values: [y]}, {key: topology.kubernetes.io/zone, operator: In, values: [b]}]}]",
    ))));
    // Empty term and empty term list match no node.
    unplaceable(run(&d(&required("[{}]"))), "NodeAffinity");
    unplaceable(run(&d(&required("[]"))), "NodeAffinity");
    // NotIn on an absent label is true; DoesNotExist on a present one false.
    split(run(&d(&required(
        "[{matchExpressions: [{key: gpu, operator: NotIn, values: ['true']}]}]",
    ))));
    unplaceable(
        run(&d(&required(
            "[{matchExpressions: [{key: pool, operator: DoesNotExist}]}]",
        ))),
        "NodeAffinity",
    );
    // Gt on a non-integer label matches nothing.
    unplaceable(
        run(&d(&required(
            "[{matchExpressions: [{key: pool, operator: Gt, values: ['1']}]}]",
        ))),
        "NodeAffinity",
    );
    // nodeSelector AND required affinity.
    unplaceable(
        run(&d(&format!(
            "      nodeSelector: {{pool: x}}\n{}",
            required("[{matchFields: [{key: metadata.name, operator: In, values: [node-1]}]}]")
        ))),
        "NodeAffinity",
    );
}

#[test]
fn node_affinity_gt_lt() {
    let mut nodes: Vec<Node> = cluster();
    for (i, n) in nodes.iter_mut().enumerate() {
        n.labels.insert("rank".into(), i.to_string());
    }
    let d = |op: &str, v: &str| {
        deployment(
            2,
            "{type: Recreate}",
            &required(&format!(
                "[{{matchExpressions: [{{key: rank, operator: {op}, values: ['{v}']}}]}}]"
            )),
        )
    };
    let opts = Options::default();
    ok(simulate(&d("Gt", "2"), &nodes, &opts));
    ok(simulate(&d("Lt", "1"), &nodes, &opts));
    split(simulate(&d("Gt", "1"), &nodes, &opts));
    match simulate(&d("Gt", "3"), &nodes, &opts) {
        Err(Violation::Unplaceable { .. }) => {}
        other => panic!("expected Unplaceable, got {other:?}"),
    }
}

// ───────────── DaemonSet ─────────────

#[test]
fn daemonsets() {
    let ds = |selector: &str| {
        format!(
            "kind: DaemonSet
metadata: {{name: agent, labels: {{type: polyaxon-core}}}}
spec:
  template:
    spec: {{nodeSelector: {selector}, volumes: [{{name: v, hostPath: {{path: /var/lib/agent}}}}]}}
"
        )
    };
    let (a, b, _) = split(run(&ds("{}")));
    assert!(
        a.starts_with("DaemonSet/agent@node-") && b.starts_with("DaemonSet/agent@node-"),
        "{a} {b}"
    );
    ok(run(&ds("{kubernetes.io/hostname: host-2}")));
    ok(run(&ds("{pool: none}")));
    split(run(&ds("{pool: y}")));
}

#[test]
fn daemonset_pod_still_obeys_pod_filters() {
    // One pod per node, each with a host port: fine (different nodes), but a
    // second workload pinned to node-1 with the same port is stuck there.
    let stream = "kind: DaemonSet
metadata: {name: agent, labels: {type: polyaxon-core}}
spec:
  template:
    spec:
      nodeSelector: {kubernetes.io/hostname: host-1}
      containers: [{name: c, ports: [{containerPort: 80, hostPort: 7000}]}]
      volumes: [{name: v, hostPath: {path: /d}}]
---
kind: Pod
metadata: {name: p, labels: {type: polyaxon-core}}
spec:
  nodeSelector: {kubernetes.io/hostname: host-1}
  containers: [{name: c, ports: [{containerPort: 81, hostPort: 7000}]}]
  volumes: [{name: v, hostPath: {path: /d}}]
";
    unplaceable(run(stream), "NodePorts");
}

// ───────────── InterPodAffinity ─────────────

#[test]
fn affinity_to_pods_that_do_not_exist_yet() {
    let two = |worker_labels: &str, worker_selector: &str| {
        format!(
            "kind: Deployment
metadata: {{name: web, labels: {{type: polyaxon-core}}}}
spec:
  strategy: {{type: Recreate}}
  template:
    metadata: {{labels: {{app: web, group: g}}}}
    spec:
      affinity: {{podAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {{matchLabels: {{group: g}}}}, topologyKey: kubernetes.io/hostname}}]}}}}
      volumes: [{{name: v, hostPath: {{path: /d}}}}]
---
kind: Deployment
metadata: {{name: worker, labels: {{type: polyaxon-core}}}}
spec:
  strategy: {{type: Recreate}}
  template:
    metadata: {{labels: {worker_labels}}}
    spec:
      affinity: {{podAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{{labelSelector: {worker_selector}, topologyKey: kubernetes.io/hostname}}]}}}}
      volumes: [{{name: v, hostPath: {{path: /d}}}}]
"
        )
    };
    // Both carry the group label: whichever comes first may go anywhere.
    ok(run(&two(
        "{app: worker, group: g}",
        "{matchLabels: {group: g}}",
    )));
    // The worker needs a web pod; before one runs it has nowhere to go.
    let pod = unplaceable(
        run(&two("{app: worker}", "{matchLabels: {app: web}}")),
        "InterPodAffinity",
    );
    assert_eq!(pod, "Deployment/worker#1");
    // A null label selector matches nothing (not even the pod itself).
    unplaceable(
        run(&two("{app: worker, group: g}", "null")),
        "InterPodAffinity",
    );
    // An empty selector matches every pod in the namespace (so the worker
    // follows web, and web follows the worker, which carries group=g).
    ok(run(&two("{app: worker, group: g}", "{}")));
}

#[test]
fn affinity_and_anti_affinity_contradict() {
    let pod = format!(
        "{SELF_AFFINITY}\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {{labelSelector: {{matchLabels: {{app: api}}}}, topologyKey: topology.kubernetes.io/zone}}"
    );
    let p = unplaceable(
        run(&deployment(2, "{type: Recreate}", &pod)),
        "anti-affinity",
    );
    assert_eq!(p, "Deployment/api#2");
    // The first pod alone is fine.
    ok(run(&deployment(1, "{type: Recreate}", &pod)));
}

/// Pods a (app=a, ns one) and b (app=b, ns two) pinned to node-0, sharing
/// /d; `anti` is a's anti-affinity term towards app=b.
fn anti_stream(anti: &str, b_first: bool) -> String {
    let a = format!(
        "kind: Pod
metadata: {{name: a, namespace: one, labels: {{type: polyaxon-core, app: a}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: host-0}}
  affinity: {{podAntiAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: [{anti}]}}}}
  volumes: [{{name: v, hostPath: {{path: /d}}}}]
"
    );
    let b = "kind: Pod
metadata: {name: b, namespace: two, labels: {type: polyaxon-core, app: b}}
spec:
  nodeSelector: {kubernetes.io/hostname: host-0}
  volumes: [{name: v, hostPath: {path: /d}}]
";
    if b_first {
        format!("{b}---\n{a}")
    } else {
        format!("{a}---\n{b}")
    }
}

#[test]
fn anti_affinity_namespaces() {
    let sel = "labelSelector: {matchLabels: {app: b}}, topologyKey: kubernetes.io/hostname";
    // Without namespaces the term only looks at a's own namespace.
    ok(run(&anti_stream(&format!("{{{sel}}}"), false)));
    ok(run(&anti_stream(
        &format!("{{{sel}, namespaces: []}}"),
        false,
    )));
    // namespaceSelector {} = every namespace: b is blocked by a (symmetry)…
    let p = unplaceable(
        run(&anti_stream(
            &format!("{{{sel}, namespaceSelector: {{}}}}"),
            false,
        )),
        "anti-affinity",
    );
    assert_eq!(p, "Pod/b#1");
    // …or a by its own term when b came first.
    let p = unplaceable(
        run(&anti_stream(
            &format!("{{{sel}, namespaceSelector: {{}}}}"),
            true,
        )),
        "anti-affinity",
    );
    assert_eq!(p, "Pod/a#1");
    // Namespace labels: kubernetes.io/metadata.name.
    let by_label = format!(
        "{{{sel}, namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: two}}}}}}"
    );
    unplaceable(run(&anti_stream(&by_label, false)), "InterPodAffinity");
    let other_label = format!("{{{sel}, namespaceSelector: {{matchLabels: {{team: two}}}}}}");
    ok(run(&anti_stream(&other_label, false)));
    // Other namespace labels come from the stream's Namespace objects.
    let labelled = format!(
        "{}---\nkind: Namespace\nmetadata: {{name: two, labels: {{team: two}}}}\n",
        anti_stream(&other_label, false)
    );
    unplaceable(run(&labelled), "InterPodAffinity");
    unplaceable(
        run(&anti_stream(
            &format!("{{{sel}, namespaces: [two]}}"),
            false,
        )),
        "InterPodAffinity",
    );
    // A topology key no node carries never conflicts.
    ok(run(&anti_stream(
        "{labelSelector: {}, namespaceSelector: {}, topologyKey: rack}",
        false,
    )));
}

#[test]
fn ok_anti_affinity_between_unrelated_data() {
    let stream = "kind: Pod
metadata: {name: a, labels: {type: polyaxon-core, app: a}}
spec:
  affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: b}}, topologyKey: kubernetes.io/hostname}]}}
  volumes: [{name: v, hostPath: {path: /a}}]
---
kind: Pod
metadata: {name: b, labels: {type: polyaxon-core, app: b}}
spec: {volumes: [{name: v, hostPath: {path: /b}}]}
";
    ok(run(stream));
}

// ───────────── PodTopologySpread ─────────────

fn spread(extra: &str, when: &str) -> String {
    format!(
        "{SELF_AFFINITY}\n      topologySpreadConstraints:\n      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: {when}, labelSelector: {{matchLabels: {{app: api}}}}{extra}}}"
    )
}

const ON_HOST_1: &str = "\n      nodeSelector: {kubernetes.io/hostname: host-1}";

#[test]
fn topology_spread() {
    // Affinity pulls the second pod to the first one's node, spreading pushes it away.
    let p = unplaceable(
        run(&deployment(
            2,
            "{type: Recreate}",
            &spread("", "DoNotSchedule"),
        )),
        "PodTopologySpread",
    );
    assert_eq!(p, "Deployment/api#2");
    ok(run(&deployment(
        2,
        "{type: Recreate}",
        &spread("", "ScheduleAnyway"),
    )));
    // A nodeSelector for one node: only one eligible domain, skew stays 1.
    let pinned = spread("", "DoNotSchedule") + ON_HOST_1;
    ok(run(&deployment(3, "{type: Recreate}", &pinned)));
    // … unless nodeAffinityPolicy is Ignore (all four hosts count) …
    let ignore = spread(", nodeAffinityPolicy: Ignore", "DoNotSchedule") + ON_HOST_1;
    unplaceable(
        run(&deployment(2, "{type: Recreate}", &ignore)),
        "PodTopologySpread",
    );
    // … or minDomains exceeds the number of eligible domains (global min 0).
    let min_domains = spread(", minDomains: 2", "DoNotSchedule") + ON_HOST_1;
    unplaceable(
        run(&deployment(2, "{type: Recreate}", &min_domains)),
        "PodTopologySpread",
    );
    // A selector that does not match the pods never restricts.
    let other = spread("", "DoNotSchedule")
        .replace("matchLabels: {app: api}}}", "matchLabels: {app: zzz}}}");
    ok(run(&deployment(2, "{type: Recreate}", &other)));
    // A topology key that no node carries fails on every node.
    let rack = spread("", "DoNotSchedule").replace(
        "topologyKey: kubernetes.io/hostname, when",
        "topologyKey: rack, when",
    );
    unplaceable(
        run(&deployment(1, "{type: Recreate}", &rack)),
        "PodTopologySpread",
    );
}

// ───────────── NodePorts ─────────────

#[test]
fn host_ports() {
    let ports =
        |list: &str| format!("{SELF_AFFINITY}\n      containers: [{{name: c, ports: {list}}}]");
    let d = |list: &str| {
        deployment(2, "{type: Recreate}", &ports(list))
            .replace("      containers: [{name: c, image: i}]\n", "")
    };
    unplaceable(
        run(&d("[{containerPort: 80, hostPort: 8080}]")),
        "NodePorts",
    );
    ok(run(&d("[{containerPort: 80}]")));
    // Distinct non-wildcard host IPs do not clash; a wildcard clashes with all.
    let two = |p: &str, q: &str| {
        format!(
            "kind: Pod
metadata: {{name: p, labels: {{type: polyaxon-core}}}}
spec:
  nodeName: node-3
  containers: [{{name: c, ports: [{p}]}}]
  volumes: [{{name: v, hostPath: {{path: /d}}}}]
---
kind: Pod
metadata: {{name: q, labels: {{type: polyaxon-core}}}}
spec:
  nodeSelector: {{pool: y, topology.kubernetes.io/zone: b}}
  containers: [{{name: c, ports: [{q}]}}]
  volumes: [{{name: v, hostPath: {{path: /d}}}}]
"
        )
    };
    ok(run(&two(
        "{containerPort: 1, hostPort: 80, hostIP: 10.0.0.1}",
        "{containerPort: 1, hostPort: 80, hostIP: 10.0.0.2}",
    )));
    unplaceable(
        run(&two(
            "{containerPort: 1, hostPort: 80, hostIP: 10.0.0.1}",
            "{containerPort: 1, hostPort: 80, hostIP: 0.0.0.0}",
        )),
        "NodePorts",
    );
    unplaceable(
        run(&two(
            "{containerPort: 1, hostPort: 80}",
            "{containerPort: 1, hostPort: 80, hostIP: 10.0.0.2}",
        )),
        "NodePorts",
    );
    ok(run(&two(
        "{containerPort: 1, hostPort: 53, protocol: UDP}",
        "{containerPort: 1, hostPort: 53}",
    )));
    unplaceable(
        run(&two(
            "{containerPort: 1, hostPort: 53, protocol: UDP}",
            "{containerPort: 2, hostPort: 53, protocol: UDP}",
        )),
        "NodePorts",
    );
    // hostNetwork: every containerPort is a host port (the bound pod p is
    // placed even so; q then finds node-3 taken).
    let host_net = two(
        "{containerPort: 9000}",
        "{containerPort: 1, hostPort: 9000}",
    )
    .replace(
        "  nodeName: node-3\n",
        "  nodeName: node-3\n  hostNetwork: true\n",
    );
    unplaceable(run(&host_net), "NodePorts");
    // Init containers count too.
    let init = two("{containerPort: 1}", "{containerPort: 1, hostPort: 5000}")
        .replace("  nodeName: node-3\n", "  nodeName: node-3\n  initContainers: [{name: i, ports: [{containerPort: 5, hostPort: 5000}]}]\n");
    unplaceable(run(&init), "NodePorts");
}

// ───────────── search size ─────────────

#[test]
fn many_pods_stay_fast() {
    // 8 replicas + 2 surge pods drawn together, plus six unrelated single
    // pods with their own data (searched as independent groups).
    let mut stream = deployment(8, "{}", SELF_AFFINITY);
    for i in 0..6 {
        stream += &format!(
            "---\nkind: Pod\nmetadata: {{name: p{i}, labels: {{type: polyaxon-core}}}}\nspec: {{volumes: [{{name: v, hostPath: {{path: /p{i}}}}}]}}\n"
        );
    }
    let start = std::time::Instant::now();
    ok(run(&stream));
    split(run(&stream.replace("path: /p5", "path: /p4")));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}
