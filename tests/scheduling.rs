//! Scheduling safety, case by case: each test is one way a real cluster
//! breaks pods that share single-node data, run through the binary; every
//! exit 0 is also checked by the brute-force scheduler simulator in
//! `tests/sim` (written independently of `src/`).

mod common;
mod sim;

use common::{example, fixture, fixtures, run};
use serde_json::Value;

/// A Polyaxon workload of `kind` named `name`; `spec` is extra pod spec
/// YAML (indented 6), `top` extra workload spec YAML (indented 2).
fn workload(kind: &str, name: &str, top: &str, spec: &str) -> String {
    let count = match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => "  replicas: 1\n",
        _ => "",
    };
    format!(
        "---\napiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  labels:\n    type: polyaxon-core\n\
         spec:\n{count}{top}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n\
         \x20   spec:\n{spec}      containers:\n      - name: c\n        image: x\n"
    )
}

fn host_volume(name: &str, path: &str) -> String {
    format!("      volumes:\n      - name: {name}\n        hostPath: {{path: {path}}}\n")
}

fn config(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

/// Runs the tool with `cfg` (if any) on `stream`; on exit 0 the simulator
/// must find no way to split a group or strand a pod.
fn render(stream: &str, cfg: Option<&str>) -> common::Run {
    let file = cfg.map(config);
    let args: Vec<&str> = match &file {
        Some(f) => vec!["--config", f.path().to_str().unwrap()],
        None => vec![],
    };
    let r = run(&args, stream.as_bytes());
    if r.code == 0 {
        let opts = sim::Options {
            ignore: cfg
                .and_then(|c| serde_yaml::from_str::<Value>(c).ok())
                .and_then(|v| v["ignore"].as_array().cloned())
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default(),
            ..Default::default()
        };
        if let Err(v) = sim::simulate(&r.out(), &sim::cluster(), &opts) {
            panic!(
                "exit 0 but the simulator found: {v}\n--- output\n{}",
                r.out()
            );
        }
    } else {
        assert!(r.stdout.is_empty(), "stdout must be empty on failure");
    }
    r
}

fn refused(r: &common::Run, needles: &[&str]) {
    assert_eq!(r.code, 1, "expected a refusal; stderr: {}", r.stderr);
    for n in needles {
        assert!(r.stderr.contains(n), "{n:?} not in: {}", r.stderr);
    }
}

fn docs(out: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(out)
        .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

use serde::Deserialize;

fn named<'v>(docs: &'v [Value], name: &str) -> &'v Value {
    docs.iter()
        .find(|d| d["metadata"]["name"] == name && !d["spec"]["template"].is_null())
        .unwrap_or_else(|| panic!("{name} not found"))
}

/// The co-location term the tool added (as text): equal for the pods of
/// one group.
fn colocate_label(w: &Value) -> Option<String> {
    common::colocation(w).map(|t| t.to_string())
}

fn node_terms(w: &Value) -> Value {
    w["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"]
        .clone()
}

#[test]
fn the_simulator_passes_every_fixture_with_every_example_config() {
    // The fixtures' scheduling variant asks for pool=polyaxon and zones
    // zone-a/zone-b; the example configs name worker-2.
    let nodes = sim::fixture_cluster();
    let configs = [
        None,
        Some("default-hostpath.yaml"),
        Some("hostpath-node.yaml"),
        Some("rwo-claim.yaml"),
        Some("rwx-claim.yaml"),
        Some("external.yaml"),
    ];
    for f in fixtures() {
        let input = fixture(&f);
        for c in configs {
            let path = c.map(example);
            let args: Vec<&str> = match &path {
                Some(p) => vec!["--config", p.to_str().unwrap()],
                None => vec![],
            };
            let r = run(&args, &input);
            assert_eq!(r.code, 0, "{f} {c:?}: {}", r.stderr);
            let opts = sim::Options {
                namespace: Some("polyaxon".into()),
                ..Default::default()
            };
            if let Err(v) = sim::simulate(&r.out(), &nodes, &opts) {
                panic!("{f} with {c:?}: {v}");
            }
            // The simulator must bite on the same input left unpatched.
            if c.is_none() {
                let raw = String::from_utf8(input.clone()).unwrap();
                assert!(
                    sim::simulate(&raw, &nodes, &opts).is_err(),
                    "{f}: the unpatched chart should be splittable"
                );
            }
        }
    }
}

#[test]
fn logs_and_outputs_keep_api_and_scheduler_together_even_with_an_rwx_repos_claim() {
    let cfg = example("rwx-claim.yaml");
    let r = run(
        &["--config", cfg.to_str().unwrap()],
        &fixture("helm3-default.yaml"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = docs(&r.out());
    let api = colocate_label(named(&d, "polyaxon-polyaxon-api")).expect("api co-located");
    assert_eq!(
        colocate_label(named(&d, "polyaxon-polyaxon-scheduler")),
        Some(api)
    );
    assert!(r.stderr.contains("hostPath /tmp/logs"), "{}", r.stderr);
}

#[test]
fn the_same_host_directory_under_another_name_or_spelling_is_the_same_data() {
    // One pod each (Recreate), mounting `path` as volume `volume`.
    let one = |name: &str, volume: &str, path: &str| {
        workload(
            "Deployment",
            name,
            "  strategy: {type: Recreate}\n",
            &host_volume(volume, path),
        )
    };
    let s = [
        one("a", "repos", "/tmp/repos"),
        one("b", "code", "/tmp//repos/"),
        one("c", "all", "/tmp"),
    ]
    .concat();
    let r = render(&s, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = docs(&r.out());
    let la = colocate_label(named(&d, "a")).expect("a co-located");
    assert_eq!(colocate_label(named(&d, "b")).as_ref(), Some(&la));
    assert_eq!(colocate_label(named(&d, "c")).as_ref(), Some(&la));
    // Not nested: a sibling directory is other data.
    let s = [one("a", "repos", "/tmp/repos"), one("b", "x", "/tmp/re")].concat();
    let r = render(&s, None);
    assert_eq!(r.code, 0);
    assert!(colocate_label(named(&docs(&r.out()), "a")).is_none());
    // Node devices and sockets are not data; `ignore:` leaves volumes out.
    let sock = "      volumes:\n      - name: sock\n        hostPath: {path: /var/run/docker.sock}\n      - name: cache\n        hostPath: {path: /cache}\n";
    let s = format!(
        "{}{}",
        workload("Deployment", "a", "", sock),
        workload("Deployment", "b", "", sock)
    );
    let r = render(&s, Some("ignore: [/cache/]\n"));
    assert_eq!(r.code, 0);
    assert_eq!(r.out(), s, "nothing left to keep together");
}

#[test]
fn one_replica_rolling_out_is_two_pods() {
    let pvc = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [ReadWriteOnce]}\n";
    let claim =
        "      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: c}\n";
    let r = render(
        &format!("{}{pvc}", workload("Deployment", "api", "", claim)),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = docs(&r.out());
    assert!(
        colocate_label(named(&d, "api")).is_some(),
        "the surge pod follows the old one"
    );
    assert!(
        r.stderr.contains("1 pod uses it, 2 during a rollout"),
        "{}",
        r.stderr
    );
    // Recreate: one pod at a time, nothing to add.
    let s = format!(
        "{}{pvc}",
        workload("Deployment", "api", "  strategy: {type: Recreate}\n", claim)
    );
    assert_eq!(render(&s, None).out(), s);
    // ReadWriteOncePod: the rollout would deadlock.
    let rwop = pvc.replace("ReadWriteOnce", "ReadWriteOncePod");
    let r = render(
        &format!("{}{rwop}", workload("Deployment", "api", "", claim)),
        None,
    );
    refused(&r, &["ReadWriteOncePod", "Recreate", "Deployment/api"]);
    // A CronJob may run two Jobs at once unless told otherwise.
    let cron = |policy: &str| {
        format!(
            "---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cj\n  labels: {{type: polyaxon-core}}\nspec:\n  schedule: '* * * * *'\n{policy}  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{{name: c, image: x}}]\n          volumes: [{{name: d, persistentVolumeClaim: {{claimName: c}}}}]\n{rwop}"
        )
    };
    refused(
        &render(&cron(""), None),
        &[
            "ReadWriteOncePod",
            "CronJob/cj",
            "`concurrencyPolicy: Forbid`",
        ],
    );
    assert!(!render(&cron(""), None).stderr.contains("single replica"));
    // A Job's pods come from its parallelism.
    let job = format!(
        "---
apiVersion: batch/v1
kind: Job
metadata:
  name: j
  labels: {{type: polyaxon-core}}
spec:
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: x}}]
      volumes: [{{name: d, persistentVolumeClaim: {{claimName: c}}}}]
{rwop}"
    );
    refused(&render(&job, None), &["Job/j", "`parallelism: 1`"]);
    assert_eq!(render(&cron("  concurrencyPolicy: Forbid\n"), None).code, 0);
}

#[test]
fn colocation_that_cannot_work_is_refused_naming_the_constraint() {
    let data = host_volume("repos", "/data");
    let pair = |a_spec: &str, b_spec: &str| {
        format!(
            "{}{}",
            workload("Deployment", "a", "", &format!("{a_spec}{data}")),
            workload("Deployment", "b", "", &format!("{b_spec}{data}"))
        )
    };
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector: {matchLabels: {app: a}}\n            topologyKey: kubernetes.io/hostname\n";
    refused(
        &render(&pair(anti, ""), None),
        &["anti-affinity", "Deployment/a"],
    );
    let spread = "      topologySpreadConstraints:\n      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: a}}}\n";
    refused(
        &render(&pair(spread, ""), None),
        &["topology spread", "Deployment/a"],
    );
    let port = "      hostNetwork: true\n";
    let ports = pair(port, "").replace(
        "      - name: c\n        image: x\n",
        "      - name: c\n        image: x\n        ports: [{containerPort: 9000}]\n",
    );
    refused(&render(&ports, None), &["host port 9000/TCP"]);
    let aff = "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector: {matchLabels: {app: redis}}\n            topologyKey: kubernetes.io/hostname\n";
    refused(
        &render(&pair(aff, ""), None),
        &["required pod affinity", "all of a pod's required affinity"],
    );
    // A term every pod of the group matches is fine.
    let ok = aff.replace("app: redis", "type: polyaxon-core").replace(
        "matchLabels: {type: polyaxon-core}",
        "matchExpressions: [{key: app, operator: In, values: [a, b]}]",
    );
    assert_eq!(render(&pair(&ok, &ok), None).code, 0);
    let pools = |p: &str| format!("      nodeSelector: {{pool: \"{p}\"}}\n");
    refused(
        &render(&pair(&pools("x"), &pools("y")), None),
        &["different sets of nodes"],
    );
    assert_eq!(render(&pair(&pools("x"), &pools("x")), None).code, 0);
    // With a known node, the anti-affinity still cannot hold on one node.
    refused(
        &render(&pair(anti, ""), Some("node: host-1\n")),
        &["anti-affinity"],
    );
    // But pinning makes a hostname spread a single domain.
    assert_eq!(render(&pair(spread, ""), Some("node: host-1\n")).code, 0);
}

#[test]
fn pins_the_workload_forbids_are_refused_and_empty_terms_stay_empty() {
    let data = host_volume("repos", "/data");
    let one = |spec: &str| {
        workload(
            "Deployment",
            "a",
            "  strategy: {type: Recreate}\n",
            &format!("{spec}{data}"),
        )
    };
    let cfg = Some("repos: {node: host-0}\n");
    let r = render(&one("      nodeName: node-2\n"), cfg);
    refused(
        &r,
        &[
            "node name node-2",
            "kubernetes.io/hostname=host-0",
            "cannot be proven",
        ],
    );
    let gt = "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchExpressions: [{key: kubernetes.io/hostname, operator: Gt, values: ['5']}]\n";
    refused(&render(&one(gt), cfg), &["excludes that node"]);
    let fields = "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchFields: [{key: metadata.name, operator: In, values: [node-3]}]\n";
    refused(&render(&one(fields), cfg), &["node name node-3"]);
    // An empty term matches no node: it is not turned into one that matches.
    let empty = "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - {}\n            - matchExpressions: [{key: pool, operator: In, values: [x]}]\n";
    let r = render(&one(empty), cfg);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = node_terms(named(&docs(&r.out()), "a"));
    assert_eq!(t[0], serde_json::json!({}));
    assert_eq!(t[1]["matchExpressions"][1]["values"][0], "host-0");
    let only_empty = empty.replace(
        "            - matchExpressions: [{key: pool, operator: In, values: [x]}]\n",
        "",
    );
    refused(&render(&one(&only_empty), cfg), &["excludes that node"]);
    // A node name pins with matchFields on metadata.name.
    let s = format!(
        "{}{}",
        one("      nodeName: node-2\n"),
        workload("Deployment", "b", "  strategy: {type: Recreate}\n", &data)
    );
    let r = render(&s, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = node_terms(named(&docs(&r.out()), "b"));
    assert_eq!(
        t[0]["matchFields"][0],
        serde_json::json!({"key": "metadata.name", "operator": "In", "values": ["node-2"]})
    );
}

#[test]
fn namespaces_count_more_never_fewer_and_never_move_the_label() {
    let mut d = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        &host_volume("repos", "/data"),
    );
    d = d.replace("  name: api\n", "  name: api\n  namespace: polyaxon\n");
    let hpa = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: polyaxon}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  maxReplicas: 3\n";
    let nsless = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        &host_volume("repos", "/data"),
    );
    // A namespace-less workload may be in the autoscaler's namespace: counted.
    let r = render(&format!("{nsless}{hpa}"), None);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("3 pods share it"), "{}", r.stderr);
    // The namespaced one with its autoscaler beside it: counted too.
    let r = render(&format!("{d}{hpa}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("3 pods share it"), "{}", r.stderr);
    // An autoscaler of another namespace scales another workload: one pod.
    let other = hpa.replace("namespace: polyaxon", "namespace: other");
    let r = render(&format!("{d}{other}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("pods share it"), "{}", r.stderr);
    // The label does not move with --namespace; every output passes the
    // simulator under the namespace it was rendered for.
    let label = |ns: Option<&str>| {
        let mut args = vec![];
        if let Some(n) = ns {
            args = vec!["-n", n];
        }
        let r = run(
            &args,
            nsless
                .replace("  strategy: {type: Recreate}\n", "")
                .as_bytes(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let opts = sim::Options {
            namespace: ns.map(str::to_string),
            ..Default::default()
        };
        if let Err(v) = sim::simulate(&r.out(), &sim::cluster(), &opts) {
            panic!("-n {ns:?}: {v}");
        }
        colocate_label(&docs(&r.out())[0]).unwrap()
    };
    assert_eq!(label(None), label(Some("polyaxon")));
    assert_eq!(label(Some("a")), label(Some("b")));
}

#[test]
fn a_selector_using_the_colocation_key_is_refused_not_broken() {
    let s = workload("Deployment", "api", "", &host_volume("repos", "/data"))
        .replace(
            "  selector: {matchLabels: {app: api}}",
            "  selector: {matchLabels: {app: api, polyrepo-render/colocate: old}}",
        )
        .replace(
            "      labels: {app: api}",
            "      labels: {app: api, polyrepo-render/colocate: old}",
        );
    refused(&render(&s, None), &["spec.selector"]);
}

#[test]
fn a_daemonset_held_to_one_node_is_one_pod_pinned_there() {
    let ds = workload(
        "DaemonSet",
        "agent",
        "",
        &format!(
            "      nodeSelector: {{kubernetes.io/hostname: host-1}}\n{}",
            host_volume("d", "/data")
        ),
    );
    let api = workload(
        "Deployment",
        "api",
        "",
        &host_volume("repos", "/data/repos"),
    );
    let r = render(&format!("{ds}{api}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = node_terms(named(&docs(&r.out()), "api"));
    assert_eq!(t[0]["matchExpressions"][0]["values"][0], "host-1");
    // Everywhere: refused, unless a node is known.
    let everywhere = workload("DaemonSet", "agent", "", &host_volume("d", "/data"));
    refused(&render(&everywhere, None), &["runs a pod on every node"]);
    assert_eq!(render(&everywhere, Some("node: host-2\n")).code, 0);
}

#[test]
fn the_chart_core_type_the_stream_names_selects_the_workloads() {
    let cm = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  POLYAXON_TYPE_LABELS_CORE: \"my-core\"\n";
    let claim =
        "      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: c}\n";
    let w =
        workload("Deployment", "api", "", claim).replace("type: polyaxon-core", "type: my-core");
    let cfg = "repos: {existingClaim: c, accessMode: ReadWriteOncePod}\n";
    refused(
        &render(&format!("{cm}{w}"), Some(cfg)),
        &["ReadWriteOncePod"],
    );
    // Without it, nothing is selected: a configuration that changes
    // nothing is refused, naming what the stream holds.
    let r = render(&w, Some(cfg));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("no Polyaxon workload") && r.stderr.contains("type=my-core"),
        "{}",
        r.stderr
    );
    // The values file's types.core says the same.
    let v = config("types:\n  core: my-core\n");
    let c = config(cfg);
    let r = run(
        &[
            "--config",
            c.path().to_str().unwrap(),
            "-f",
            v.path().to_str().unwrap(),
        ],
        w.as_bytes(),
    );
    refused(&r, &["ReadWriteOncePod"]);
}

#[test]
fn two_volumes_of_one_name_are_refused_and_values_without_repos_change_nothing() {
    let two = "      volumes:\n      - name: repos\n        hostPath: {path: /tmp/outputs}\n      - name: repos\n        hostPath: {path: /tmp/repos}\n";
    let r = render(&workload("Deployment", "api", "", two), None);
    refused(&r, &["two volumes are named `repos`"]);
    // persistence.repos: null renders a repos volume with no source.
    let nosource = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        "      volumes:\n      - name: repos\n",
    );
    let v = config("persistence:\n  logs: {hostPath: /x}\n");
    let r = run(&["-f", v.path().to_str().unwrap()], nosource.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), nosource);
}

#[test]
fn found_by_the_property_test() {
    // A ReadWriteOncePod claim on a known node is still one pod at most.
    let pvc = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c1}\nspec: {accessModes: [ReadWriteOncePod]}\n";
    let claim =
        "      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: c1}\n";
    let d = workload("Deployment", "w0", "", claim).replace("replicas: 1", "replicas: 2");
    refused(
        &render(&format!("{pvc}{d}"), Some("repos: {node: host-1}\n")),
        &["ReadWriteOncePod"],
    );
    // A claim in the stream under another (or no) namespace may not be this
    // pod's claim: assume it reaches one node.
    let rwx = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c1, namespace: polyaxon}\nspec: {accessModes: [ReadWriteMany]}\n";
    let d = workload(
        "Deployment",
        "w0",
        "",
        claim.replace("repos", "data").as_str(),
    )
    .replace("replicas: 1", "replicas: 2");
    let r = render(&format!("{rwx}{d}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(colocate_label(named(&docs(&r.out()), "w0")).is_some());
    let r = run(&["-n", "polyaxon"], format!("{rwx}{d}").as_bytes());
    assert_eq!(
        r.out(),
        format!("{rwx}{d}"),
        "with -n the claim is known to be RWX"
    );
    // The same ReadWriteOncePod claim, once named with a namespace and once
    // without, is counted once for both pods.
    let ds = workload(
        "DaemonSet",
        "w0",
        "",
        &format!("      nodeSelector: {{kubernetes.io/hostname: host-1}}\n{claim}"),
    )
    .replace("  name: w0\n", "  name: w0\n  namespace: polyaxon\n");
    let job = format!(
        "---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: w1\n  labels: {{type: polyaxon-core}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: x}}]\n{claim}"
    );
    refused(
        &render(&format!("{pvc}{ds}{job}"), None),
        &["ReadWriteOncePod"],
    );
    // A PersistentVolume reserved for the claim by its claimRef binds it just
    // as the claim's volumeName does: host-path data, whatever the modes say.
    let bound = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {accessModes: [ReadWriteMany]}\n---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv1}\nspec: {accessModes: [ReadWriteMany], hostPath: {path: /srv/data}, claimRef: {name: data}}\n";
    let vol = "      volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]\n";
    let s = [
        bound.to_string(),
        workload("Deployment", "a", "  strategy: {type: Recreate}\n", vol),
        workload("Deployment", "b", "  strategy: {type: Recreate}\n", vol),
    ]
    .concat();
    let r = render(&s, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        colocate_label(named(&docs(&r.out()), "a")).is_some(),
        "{}",
        r.stderr
    );
    // A pod outside a co-located group may take its node first.
    let vol = |p: &str| host_volume("d", p);
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector: {matchLabels: {app: b}}\n            topologyKey: kubernetes.io/hostname\n";
    let s = [
        workload("Deployment", "a", "", &vol("/data/a")),
        workload("Deployment", "b", "", &vol("/data/a")),
        workload(
            "Deployment",
            "c",
            "  strategy: {type: Recreate}\n",
            &format!("{anti}{}", vol("/data/c")),
        ),
    ]
    .concat();
    refused(
        &render(&s, None),
        &["anti-affinity", "Deployment/c", "Deployment/b"],
    );
}

/// Found by the property test once a placement failure became a bug exit:
/// pinning to `node:` must look at what the pin leaves. Here the only term
/// that admits host-3 also names node node-2, so the pinned pod would need
/// a node called node-2 labelled host-3: refused, naming both, before
/// anything is written. A term that no node passes once pinned (host-2
/// AND host-3) does not hide the pin the other terms hold.
#[test]
fn a_pin_that_would_also_need_another_node_name_is_refused() {
    let terms = |second: &str| {
        format!(
            "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [host-2]}}]\n            - {second}\n{}",
            host_volume("repos", "/data/a")
        )
    };
    let named = workload(
        "Deployment",
        "w0",
        "",
        &terms("matchFields: [{key: metadata.name, operator: In, values: [node-2]}]"),
    );
    let r = render(&named, Some("node: host-3\n"));
    refused(
        &r,
        &["Deployment/w0", "host-3", "node-2", "cannot be proven"],
    );
    assert!(!r.stderr.contains("bug in polyrepo-render"), "{}", r.stderr);
    let pooled = workload(
        "Deployment",
        "w0",
        "",
        &terms("matchExpressions: [{key: pool, operator: In, values: ['y']}]"),
    );
    let r = render(&pooled, Some("node: host-3\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A claim bound (by `claimRef`) to a PersistentVolume whose node affinity
/// names a zone holds every pod mounting it to that zone (VolumeBinding).
/// Its pod sharing a host path with another pod that the zone does not
/// hold could be left behind: the other pod may land first in another
/// zone. Refused, naming the PersistentVolume; pinned when the node is
/// known. A ReadWriteMany claim's zonal volume holds its pods just the same.
#[test]
fn a_persistent_volumes_node_affinity_holds_the_pods_that_mount_it() {
    let zonal_pv = |mode: &str| {
        format!(
            "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: zonal}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [{mode}]\n  csi: {{driver: x, volumeHandle: v}}\n  claimRef: {{name: data}}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {{key: topology.kubernetes.io/zone, operator: In, values: [b]}}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data}}\nspec:\n  accessModes: [{mode}]\n  resources: {{requests: {{storage: 1Gi}}}}\n"
        )
    };
    let api = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        "      volumes:\n      - name: logs\n        hostPath: {path: /tmp/logs}\n      - name: data\n        persistentVolumeClaim: {claimName: data}\n",
    );
    let scheduler = workload(
        "Deployment",
        "scheduler",
        "  strategy: {type: Recreate}\n",
        &host_volume("logs", "/tmp/logs"),
    );
    for mode in ["ReadWriteOnce", "ReadWriteMany"] {
        let stream = format!("{}{api}{scheduler}", zonal_pv(mode));
        let r = render(&stream, None);
        refused(
            &r,
            &[
                "PersistentVolume one of them mounts",
                "Deployment/scheduler",
            ],
        );
        // With the node known (a node of zone b), both are pinned there.
        let r = render(&stream, Some("node: host-2\n"));
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
    }
    // Every member mounting the zonal claim: one set of nodes, co-located.
    let both = workload(
        "Deployment",
        "scheduler",
        "  strategy: {type: Recreate}\n",
        "      volumes:\n      - name: logs\n        hostPath: {path: /tmp/logs}\n      - name: data\n        persistentVolumeClaim: {claimName: data}\n",
    );
    let r = render(&format!("{}{api}{both}", zonal_pv("ReadWriteOnce")), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A local PersistentVolume's directory is host data of its node: a pod
/// mounting that directory (or one inside it) directly shares it with the
/// claim's pods, which the volume holds to its node, so both are pinned
/// there.
#[test]
fn a_local_volumes_directory_is_the_same_data_as_a_host_path_of_it() {
    let local = "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: disk}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  local: {path: /mnt/disk}\n  claimRef: {name: data}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [host-1]}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
    let api = workload(
        "Deployment",
        "api",
        "",
        "      volumes:\n      - name: data\n        persistentVolumeClaim: {claimName: data}\n",
    );
    let scheduler = workload(
        "Deployment",
        "scheduler",
        "",
        &host_volume("scratch", "/mnt/disk/scheduler"),
    );
    let r = render(&format!("{local}{api}{scheduler}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = docs(&r.out());
    let pinned = |name: &str| node_terms(named(&d, name)).to_string().contains("host-1");
    assert!(
        pinned("scheduler"),
        "the host path's pod follows the volume's node"
    );
    // The api's own volume already holds it there (the simulator checks).
}

/// A claim that allows ReadOnlyMany reaches every node only while every
/// pod only reads it: mounted read-write by two pods (`[ReadWriteOnce,
/// ReadOnlyMany]`), it is single-node data and the pods are co-located;
/// mounted read-only everywhere (the volume's or every mount's `readOnly`),
/// nothing is added.
#[test]
fn a_read_only_many_claim_mounted_read_write_is_single_node_data() {
    let pvc = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: models}\nspec:\n  accessModes: [ReadWriteOnce, ReadOnlyMany]\n  resources: {requests: {storage: 1Gi}}\n";
    let pod = |name: &str, read_only_volume: bool, read_only_mount: bool| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels: {{type: polyaxon-core}}\nspec:\n  replicas: 1\n  strategy: {{type: Recreate}}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: x\n        volumeMounts: [{{name: m, mountPath: /m, readOnly: {read_only_mount}}}]\n      volumes:\n      - name: m\n        persistentVolumeClaim: {{claimName: models, readOnly: {read_only_volume}}}\n"
        )
    };
    let rw = format!(
        "{}{}{pvc}",
        pod("api", false, false),
        pod("scheduler", false, true)
    );
    let r = render(&rw, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = docs(&r.out());
    assert!(colocate_label(named(&d, "api")).is_some(), "{}", r.stderr);
    assert!(
        r.stderr.contains("is ReadOnlyMany but mounted read-write"),
        "{}",
        r.stderr
    );
    for ro in [
        format!(
            "{}{}{pvc}",
            pod("api", true, false),
            pod("scheduler", false, true)
        ),
        format!(
            "{}{}{pvc}",
            pod("api", false, true),
            pod("scheduler", false, true)
        ),
    ] {
        let r = render(&ro, None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.out(), ro, "read-only everywhere: nothing to add");
    }
}

/// A Job's pod template is immutable: changing a plain Job (not a Helm
/// hook, which Helm deletes and recreates) breaks the first `helm upgrade`
/// that meets the Job an earlier release created. The change is still made
/// (the pods must stay with their data), with a warning saying what to do;
/// a hook Job gets none.
#[test]
fn a_plain_job_that_changes_warns_that_its_template_is_immutable() {
    let job = |annotations: &str| {
        format!(
            "---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  labels: {{type: polyaxon-core}}\n{annotations}spec:\n  parallelism: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: x}}]\n      volumes: [{{name: repos, hostPath: {{path: /tmp/repos}}}}]\n"
        )
    };
    let r = render(&job(""), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ne!(r.out(), job(""), "co-located");
    assert!(
        r.stderr.contains("not a Helm hook") && r.stderr.contains("kubectl delete job migrate"),
        "{}",
        r.stderr
    );
    let hook = job("  annotations: {\"helm.sh/hook\": post-install}\n");
    let r = render(&hook, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ne!(r.out(), hook);
    assert!(!r.stderr.contains("not a Helm hook"), "{}", r.stderr);
}

/// A refusal names the data that forms the group and what would help for
/// that data: with a ReadWriteMany repos claim, the chart's host paths are
/// what holds the pods together, so the advice is `ignore:` or a claim for
/// them, not "use a ReadWriteMany claim".
#[test]
fn a_refusal_names_the_data_that_forms_the_group() {
    let spec = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - topologyKey: kubernetes.io/hostname\n            labelSelector: {matchLabels: {app: api}}\n      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: shared}\n      - name: logs\n        hostPath: {path: /tmp/logs}\n";
    let pvc = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: shared}\nspec:\n  accessModes: [ReadWriteMany]\n  resources: {requests: {storage: 1Gi}}\n";
    let stream = format!(
        "{}{pvc}",
        workload("Deployment", "api", "  strategy: {type: Recreate}\n", spec)
            .replace("replicas: 1", "replicas: 2")
    );
    let r = render(&stream, None);
    refused(
        &r,
        &["hostPath /tmp/logs", "list /tmp/logs under `ignore:`"],
    );
    assert!(
        !r.stderr.contains("shared"),
        "the ReadWriteMany claim is not the cause: {}",
        r.stderr
    );
}

/// Reports name each workload's namespace when the object has one: two
/// releases may both hold a Deployment/api.
#[test]
fn reports_name_namespaces() {
    let api = |ns: &str| {
        workload("Deployment", "api", "", &host_volume("logs", "/tmp/logs")).replace(
            "  name: api\n",
            &format!("  name: api\n  namespace: {ns}\n"),
        )
    };
    let r = render(&format!("{}{}", api("team-a"), api("team-b")), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("(Deployment/api (namespace team-a), Deployment/api (namespace team-b))"),
        "{}",
        r.stderr
    );
}

// ───────────── pods around a group ─────────────

/// A workload outside Polyaxon: `spec` is extra pod spec YAML (indented 6).
fn neighbour(name: &str, replicas: u32, labels: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  \
         strategy: {{type: Recreate}}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      \
         labels: {{app: {name}{labels}}}\n    spec:\n{spec}      containers:\n      - name: c\n        image: x\n"
    )
}

/// Two Polyaxon Deployments (one pod each, Recreate) sharing a host path;
/// `api` gets `spec` (indented 6).
fn pair(spec: &str) -> String {
    let recreate = "  strategy: {type: Recreate}\n";
    format!(
        "{}{}",
        workload(
            "Deployment",
            "api",
            recreate,
            &format!("{spec}{}", host_volume("d", "/data"))
        ),
        workload(
            "Deployment",
            "scheduler",
            recreate,
            &host_volume("d", "/data")
        )
    )
}

#[test]
fn a_workload_outside_polyaxon_that_must_stay_apart_from_a_group_counts() {
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname}\n";
    let r = render(
        &format!("{}{}", pair(""), neighbour("web", 1, "", anti)),
        None,
    );
    refused(&r, &["Deployment/web", "anti-affinity", "Deployment/api"]);
    // Without the anti-affinity the same stream is co-located.
    let r = render(
        &format!("{}{}", pair(""), neighbour("web", 1, "", "")),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_spread_constraint_counts_the_pods_outside_the_group_it_selects() {
    // api spreads `tier: backend` pods with maxSkew 2; cache runs two more
    // of them, which may fill the group's node first.
    let spread = "      topologySpreadConstraints:\n      - {maxSkew: 2, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {tier: backend}}}\n";
    let group = pair(spread).replacen("labels: {app: api}", "labels: {app: api, tier: backend}", 1);
    let r = render(
        &format!("{group}{}", neighbour("cache", 2, ", tier: backend", "")),
        None,
    );
    refused(&r, &["topology spread", "3 pods"]);
    // One cache pod: three at most on the node, within maxSkew 2 of 0 + 1.
    let r = render(
        &format!("{group}{}", neighbour("cache", 1, ", tier: backend", "")),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn pinning_a_workload_whose_pod_affinity_asks_for_pods_outside_the_group_is_refused() {
    let affinity = "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: redis}}, topologyKey: kubernetes.io/hostname}\n";
    let stream = format!("{}{}", pair(affinity), neighbour("redis", 1, "", ""));
    // Pinned: redis may run elsewhere, api would wait for it forever.
    let r = render(&stream, Some("node: host-1\n"));
    refused(&r, &["Deployment/redis", "wait for them forever"]);
    // Co-located: the term would leave the group Pending, and pinning would
    // not help either: the refusal does not advise `node:`.
    let r = render(&stream, None);
    refused(&r, &["required pod affinity", "would not help"]);
    assert!(!r.stderr.contains("or set `node:`"), "{}", r.stderr);
}

#[test]
fn match_label_keys_count_a_rollouts_new_pods_apart() {
    // One replica rolling out is two pods: old and new revisions. Keyed on
    // pod-template-hash, an anti-affinity or a spread constraint against
    // its own pods counts each revision apart: both fit on the group's node.
    let rolling = |spec: &str| {
        format!(
            "{}{}",
            workload(
                "Deployment",
                "api",
                "",
                &format!("{spec}{}", host_volume("d", "/data"))
            ),
            workload(
                "Deployment",
                "scheduler",
                "  strategy: {type: Recreate}\n",
                &host_volume("d", "/data")
            )
        )
    };
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname, matchLabelKeys: [pod-template-hash]}\n";
    let r = render(&rolling(anti), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(colocate_label(named(&docs(&r.out()), "api")).is_some());
    // Without the key the old and the new pod exclude each other.
    refused(
        &render(
            &rolling(&anti.replace(", matchLabelKeys: [pod-template-hash]", "")),
            None,
        ),
        &["anti-affinity"],
    );
    let spread = "      topologySpreadConstraints:\n      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: api}}, matchLabelKeys: [pod-template-hash]}\n";
    let r = render(&rolling(spread), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    refused(
        &render(
            &rolling(&spread.replace(", matchLabelKeys: [pod-template-hash]", "")),
            None,
        ),
        &["topology spread"],
    );
    // A required pod affinity keyed so is the opposite: the first pod of a
    // rollout finds none of its revision and escapes the group.
    let affinity = "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname, matchLabelKeys: [pod-template-hash]}\n";
    refused(
        &render(&rolling(affinity), None),
        &["matchLabelKeys", "revision"],
    );
}

#[test]
fn a_pin_beside_other_node_labels_says_the_node_must_carry_them() {
    // The tool pins api to host-3 (`node:`), and api also asks for
    // pool=x: whether host-3 is in that pool, only the cluster knows.
    let stream = pair("      nodeSelector: {pool: x}\n");
    let f = config("node: host-3\n");
    let r = common::run(&["--config", f.path().to_str().unwrap()], stream.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Deployment/api")
            && r.stderr.contains("node labels pool")
            && r.stderr.contains("stay Pending"),
        "{}",
        r.stderr
    );
    // A pod that pins itself is its author's business: no warning.
    let own = pair("      nodeSelector: {pool: x, kubernetes.io/hostname: host-3}\n");
    let r = common::run(&["--config", f.path().to_str().unwrap()], own.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("node labels"), "{}", r.stderr);
}

#[test]
fn a_single_pod_never_keeps_itself_apart() {
    // api runs one pod (Recreate): its anti-affinity against its own label
    // has no other pod to keep away, so co-location holds.
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname}\n";
    let r = render(&pair(anti), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Two replicas: the pods keep each other apart, and the refusal says so.
    let two = pair(anti).replacen("  replicas: 1\n", "  replicas: 2\n", 1);
    refused(&render(&two, None), &["against its own 2 pods"]);
}

/// `persistence.repos.accessMode` in a values file says what the values'
/// claim is (the chart ignores it beside an existingClaim): a
/// ReadWriteMany claim there forms no group and needs no assumption. It
/// no longer counts once the config names another claim.
#[test]
fn the_values_access_mode_says_what_the_values_claim_is() {
    let input = fixture("helm3-claim.yaml");
    let values = config(
        "persistence:\n  repos:\n    existingClaim: polyaxon-repos\n    accessMode: ReadWriteMany\n",
    );
    let v = values.path().to_str().unwrap();
    let r = run(&["-f", v], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("assuming ReadWriteOnce"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("why: single-node data (hostPath /tmp/logs"),
        "the claim is not single-node data: {}",
        r.stderr
    );
    // Without it, the claim is assumed ReadWriteOnce, and the warning says
    // where the mode can be given.
    let r = run(&[], &input);
    assert!(
        r.stderr.contains("assuming ReadWriteOnce")
            && r.stderr
                .contains("persistence.repos.accessMode in the values"),
        "{}",
        r.stderr
    );
    // Another claim in the config: the values' mode is not its mode.
    let cfg = config("repos: {existingClaim: other}\n");
    let r = run(&["-f", v, "--config", cfg.path().to_str().unwrap()], &input);
    assert!(r.stderr.contains("claim polyaxon/other") || r.stderr.contains("claim other"));
    assert!(r.stderr.contains("assuming ReadWriteOnce"), "{}", r.stderr);
    // A mode Kubernetes does not know, with its place.
    let bad = config("persistence:\n  repos:\n    existingClaim: c\n    accessMode: RWX\n");
    let r = run(&["-f", bad.path().to_str().unwrap()], &input);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&format!(
            "{}:4:17: persistence.repos.accessMode: `RWX` is not an access mode",
            bad.path().display()
        )),
        "{}",
        r.stderr
    );
}

/// A PersistentVolumeClaim document (optionally in a namespace, bound by
/// `volumeName`).
fn pvc(name: &str, ns: Option<&str>, mode: &str, volume: Option<&str>) -> String {
    format!(
        "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n{}spec:\n  accessModes: [{mode}]\n{}  resources: {{requests: {{storage: 1Gi}}}}\n",
        ns.map_or(String::new(), |n| format!("  namespace: {n}\n")),
        volume.map_or(String::new(), |v| format!("  volumeName: {v}\n")),
    )
}

/// Two replicas of a Polyaxon Deployment mounting claim `claim`, in `ns`.
fn claim_user(name: &str, ns: Option<&str>, claim: &str) -> String {
    workload(
        "Deployment",
        name,
        "",
        &format!("      volumes:\n      - name: data\n        persistentVolumeClaim: {{claimName: {claim}}}\n"),
    )
    .replace("  replicas: 1\n", "  replicas: 2\n")
    .replacen(
        &format!("  name: {name}\n"),
        &format!(
            "  name: {name}\n{}",
            ns.map_or(String::new(), |n| format!("  namespace: {n}\n"))
        ),
        1,
    )
}

/// How the stream's claims are matched to the pods' (found by mutation
/// testing: each check here fails if that rule is loosened).
#[test]
fn claims_are_matched_by_namespace_and_the_widest_doubt_wins() {
    // A claim of that name in another, known namespace is another claim:
    // this one is not in the stream (assumed ReadWriteOnce), so its
    // ReadWriteOncePod namesake does not make two pods a refusal.
    let stream = format!(
        "{}{}",
        pvc("c", Some("other"), "ReadWriteOncePod", None),
        claim_user("api", Some("polyaxon"), "c")
    );
    let r = render(&stream, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("assuming ReadWriteOnce"), "{}", r.stderr);
    // The pod's namespace unknown: of two namesakes, the narrowest reach
    // counts, whichever comes first.
    let stream = format!(
        "{}{}{}",
        pvc("c", Some("a"), "ReadWriteMany", None),
        pvc("c", Some("b"), "ReadWriteOncePod", None),
        claim_user("api", None, "c")
    );
    refused(&render(&stream, None), &["ReadWriteOncePod"]);
    // A PersistentVolume bound (claimRef) to another claim is not this
    // claim's volume: no pin to its node.
    let pv = "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-d}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  local: {path: /mnt/d}\n  claimRef: {name: d, namespace: polyaxon}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [host-2]}\n";
    let stream = format!(
        "{pv}{}{}",
        pvc("c", Some("polyaxon"), "ReadWriteOnce", None),
        claim_user("api", Some("polyaxon"), "c")
    );
    let r = render(&stream, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let api = named(&docs(&r.out()), "api").clone();
    assert!(
        node_terms(&api).is_null() && common::colocation(&api).is_some(),
        "pinned to another claim's volume: {api}"
    );
    // A namesake in an unknown namespace bound to a single-node volume:
    // that volume's node still pins the pods (explicitly), with a warning.
    let local = "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: disk}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  local: {path: /mnt/disk}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [host-1]}\n";
    let stream = format!(
        "{local}{}{}",
        pvc("c", Some("a"), "ReadWriteOnce", Some("disk")),
        claim_user("api", None, "c")
    );
    let r = render(&stream, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = node_terms(named(&docs(&r.out()), "api"));
    assert_eq!(
        t[0]["matchExpressions"][0]["values"][0],
        "host-1",
        "{}",
        r.out()
    );
    // repos.accessMode is the repos claim's: another claim not in the
    // stream is still assumed ReadWriteOnce, and groups its pods.
    let logs = workload(
        "Deployment",
        "api",
        "",
        "      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: r}\n      - name: logs\n        persistentVolumeClaim: {claimName: logs-claim}\n",
    )
    .replace("  replicas: 1\n", "  replicas: 2\n");
    let r = render(
        &logs,
        Some("repos: {existingClaim: r, accessMode: ReadWriteMany}\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("claim logs-claim: its PersistentVolumeClaim is not in the stream"),
        "{}",
        r.stderr
    );
    assert!(common::colocation(named(&docs(&r.out()), "api")).is_some());
}

/// What a count and a message rest on (found by mutation testing).
#[test]
fn counts_and_messages_rest_on_the_right_facts() {
    // A claim the config calls ReadWriteOncePod is named so in a refusal.
    let api = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        "      nodeSelector: {kubernetes.io/hostname: host-2}\n      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: c}\n",
    );
    refused(
        &render(
            &api,
            Some("repos: {existingClaim: c, accessMode: ReadWriteOncePod, node: host-1}\n"),
        ),
        &["claim c is ReadWriteOncePod (one pod)"],
    );
    // A node named by a node affinity's `metadata.name` is the pod's
    // node constraints, not its spec.nodeName.
    let by_field = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchFields: [{key: metadata.name, operator: In, values: [node-7]}]\n      volumes:\n      - name: logs\n        hostPath: {path: /tmp/logs}\n",
    );
    let two = format!(
        "{by_field}{}",
        workload("Deployment", "web", "", &host_volume("logs", "/tmp/logs"))
            .replace("      volumes:", "      nodeName: node-8\n      volumes:")
    );
    refused(
        &render(&two, None),
        &["node name node-7 (Deployment/api (document 1, line 2 column 1)'s node constraints)"],
    );
    // A DaemonSet held to one node runs one pod there, whatever an
    // autoscaler naming it says (it cannot scale a DaemonSet): one pod on a
    // ReadWriteOncePod claim is fine.
    let hpa = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: agent}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: DaemonSet, name: agent}\n  maxReplicas: 3\n";
    let ds = workload(
        "DaemonSet",
        "agent",
        "",
        "      nodeSelector: {kubernetes.io/hostname: host-1}\n      volumes:\n      - name: data\n        persistentVolumeClaim: {claimName: solo}\n",
    );
    let solo = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: solo}\nspec:\n  accessModes: [ReadWriteOncePod]\n  resources: {requests: {storage: 1Gi}}\n";
    let r = render(&format!("{solo}{hpa}{ds}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // One on every node, two more during its rollout: three pods.
    let every = workload(
        "DaemonSet",
        "agent",
        "  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 2, maxUnavailable: 0}}\n",
        "      volumes:\n      - name: data\n        persistentVolumeClaim: {claimName: solo}\n",
    );
    refused(
        &render(&format!("{solo}{every}"), None),
        &["ReadWriteOncePod"],
    );
}

/// Host ports and keyed pod affinity of pinned pods (found by mutation
/// testing).
#[test]
fn a_lone_host_port_passes_and_a_keyed_affinity_to_another_workload_never_holds() {
    // One pod with a host port clashes with nobody.
    let api = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        &host_volume("d", "/data"),
    )
    .replace(
        "      - name: c\n        image: x\n",
        "      - name: c\n        image: x\n        ports: [{containerPort: 80, hostPort: 8080}]\n",
    );
    let scheduler = workload(
        "Deployment",
        "scheduler",
        "  strategy: {type: Recreate}\n",
        &host_volume("d", "/data"),
    );
    let r = render(&format!("{api}{scheduler}"), None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Pinned, a pod affinity keyed on pod-template-hash selects only pods
    // of its own revision: the scheduler's pods never match it, so it
    // would wait forever.
    let keyed = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        &format!(
            "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {{labelSelector: {{matchLabels: {{app: scheduler}}}}, topologyKey: kubernetes.io/hostname, matchLabelKeys: [pod-template-hash]}}\n{}",
            host_volume("d", "/data")
        ),
    );
    refused(
        &render(&format!("{keyed}{scheduler}"), Some("node: host-1\n")),
        &["Deployment/api", "required pod affinity asks for"],
    );
}

/// A DaemonSet held to the node of its data runs one pod there: its
/// anti-affinity against its own pods holds (found by mutation testing,
/// refused before as "its own 2 pods").
#[test]
fn a_daemonset_pinned_to_its_data_runs_one_pod_there() {
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: agent}}, topologyKey: kubernetes.io/hostname}\n";
    let ds = workload(
        "DaemonSet",
        "agent",
        "",
        &format!("{anti}{}", host_volume("d", "/data")),
    );
    let r = render(&ds, Some("node: host-1\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = node_terms(named(&docs(&r.out()), "agent"));
    assert_eq!(t[0]["matchExpressions"][0]["values"][0], "host-1");
    // With a surge pod, the old and the new pod exclude each other there.
    let surge = ds.replace(
        "spec:\n  selector",
        "spec:\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n  selector",
    );
    assert_ne!(surge, ds);
    let r = render(&surge, Some("node: host-1\n"));
    refused(&r, &["against its own 2 pods"]);
    // Decided by the plan, not caught by the placement check of the output.
    assert!(!r.stderr.contains("bug in polyrepo-render"), "{}", r.stderr);
}

/// Messages name at most four pieces of data, then how many more, and
/// suggest only what fits the data (found by mutation testing).
#[test]
fn messages_list_the_data_and_suggest_what_fits_it() {
    let six: String = (1..=6)
        .map(|i| format!("      - name: d{i}\n        hostPath: {{path: /d{i}}}\n"))
        .collect();
    let api = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        &format!("      volumes:\n{six}"),
    )
    .replace("  replicas: 1\n", "  replicas: 2\n");
    let r = render(&api, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "single-node data (hostPath /d1, hostPath /d2, hostPath /d3, hostPath /d4, 2 more)"
        ),
        "{}",
        r.stderr
    );
    // No rollout adds pods (Recreate): no "during a rollout".
    assert!(
        r.stderr.contains("; 2 pods share it (Deployment/api)"),
        "{}",
        r.stderr
    );
    // Only a claim holds them together: no `ignore:` advice for host paths.
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname}\n";
    let claim = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        &format!("{anti}      volumes:\n      - name: data\n        persistentVolumeClaim: {{claimName: c}}\n"),
    )
    .replace("  replicas: 1\n", "  replicas: 2\n");
    let r = render(
        &claim,
        Some("repos: {existingClaim: c, accessMode: ReadWriteOnce}\n"),
    );
    refused(&r, &["make claim"]);
    assert!(!r.stderr.contains("under `ignore:`"), "{}", r.stderr);
}

/// An umbrella chart keeps Polyaxon's values under its key: with
/// `--subchart`, `persistence.repos` and `types.core` are read there (and
/// their errors named there); without it, that file says nothing of them.
#[test]
fn an_umbrella_charts_values_are_read_under_the_subchart_key() {
    let input = fixture("helm3-default.yaml");
    let values = config(
        "polyaxon:\n  persistence:\n    repos:\n      existingClaim: polyaxon-repos\n      accessMode: ReadWriteMany\n",
    );
    let v = values.path().to_str().unwrap();
    let r = run(&["-f", v, "--subchart", "polyaxon"], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("repos volume: hostPath /tmp/repos -> claim polyaxon-repos"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("assuming ReadWriteOnce"), "{}", r.stderr);
    // Without --subchart the umbrella's values say nothing of the repos.
    let r = run(&["-f", v], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("claim polyaxon-repos"), "{}", r.stderr);
    // Errors are named with the key.
    let bad = config("polyaxon:\n  persistence:\n    repos:\n      hostPath: relative\n");
    let r = run(
        &["-f", bad.path().to_str().unwrap(), "--subchart", "polyaxon"],
        &input,
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("polyaxon.persistence.repos.hostPath: `relative` is not an absolute path"),
        "{}",
        r.stderr
    );
}
