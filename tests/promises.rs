//! One test per README promise that had none, each on a small stream and
//! each judged through the independent oracle (`tests/oracle/`).

mod common;
mod oracle;

use common::*;
use serde_json::{Value, json};

/// A Polyaxon workload of `kind` named `name`, with `extra` under `spec`
/// (before the template) and `pod` under the pod spec (before containers).
fn workload(kind: &str, name: &str, extra: &str, pod: &str, volume: &str) -> String {
    let body = format!(
        "{pod}      containers:\n      - name: {name}\n        image: i\n        volumeMounts:\n        - {{name: repos, mountPath: /repos}}\n      volumes:\n      - name: repos\n        {volume}\n"
    );
    if kind == "Pod" {
        // A Pod's spec is at the top: re-indent the pod spec by four less.
        let spec: String = body
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        return format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{type: polyaxon-core, app: {name}}}\nspec:\n{spec}"
        );
    }
    let api = match kind {
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    format!(
        "---\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  labels: {{type: polyaxon-core}}\nspec:\n{extra}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n{body}"
    )
}

fn pvc(name: &str, modes: &str, ns: Option<&str>) -> String {
    let ns = ns
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!(
        "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n{ns}spec:\n{modes}  resources: {{requests: {{storage: 1Gi}}}}\n"
    )
}

fn config(text: &str) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("polyrepo.yaml");
    std::fs::write(&p, text).unwrap();
    let s = p.to_str().unwrap().to_string();
    (d, s)
}

/// Runs; returns (exit code, documents as the oracle reads them, stderr).
fn render(args: &[&str], input: &str) -> (i32, Vec<Value>, String) {
    let r = run(args, input.as_bytes());
    let docs = if r.code == 0 {
        oracle::read(&r.out()).unwrap()
    } else {
        assert!(r.stdout.is_empty());
        Vec::new()
    };
    (r.code, docs, r.stderr)
}

fn named<'v>(docs: &'v [Value], name: &str) -> &'v Value {
    docs.iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{name}"))
}

fn pod_spec(o: &Value) -> &Value {
    if o["kind"] == "Pod" {
        &o["spec"]
    } else {
        &o["spec"]["template"]["spec"]
    }
}

/// Whether the run co-locates `name` (exit 0 required).
fn colocated(args: &[&str], input: &str, name: &str) -> bool {
    let (code, docs, err) = render(args, input);
    assert_eq!(code, 0, "{err}");
    common::colocation(named(&docs, name)).is_some()
}

const RECREATE: &str = "  replicas: 1\n  strategy: {type: Recreate}\n";
const HOST: &str = "hostPath: {path: /tmp/repos}";

#[test]
fn a_read_write_once_claim_with_one_pod_only_warns() {
    let input = pvc("c", "  accessModes: [ReadWriteOnce]\n", None)
        + &workload(
            "Deployment",
            "api",
            RECREATE,
            "",
            "persistentVolumeClaim: {claimName: c}",
        );
    let (code, docs, err) = render(&[], &input);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning:") && err.contains("claim c"), "{err}");
    let api = named(&docs, "api");
    assert!(pod_spec(api)["affinity"].is_null() && common::colocation(api).is_none());
}

#[test]
fn read_only_many_reaches_every_node() {
    let input = pvc("c", "  accessModes: [ReadOnlyMany]\n", None)
        + &workload(
            "Deployment",
            "api",
            "  replicas: 3\n",
            "",
            "persistentVolumeClaim: {claimName: c, readOnly: true}",
        );
    assert!(!colocated(&[], &input, "api"), "no co-location");
    // The same claim as ReadWriteOnce does co-locate: the test can tell.
    let rwo = input.replace("ReadOnlyMany", "ReadWriteOnce");
    assert!(colocated(&[], &rwo, "api"));
}

#[test]
fn an_absent_replicas_is_one_pod() {
    let one = workload(
        "Deployment",
        "api",
        "  strategy: {type: Recreate}\n",
        "",
        HOST,
    );
    assert!(!colocated(&[], &one, "api"), "one pod needs no co-location");
    let two = one.replace("  strategy:", "  replicas: 2\n  strategy:");
    assert!(colocated(&[], &two, "api"));
}

#[test]
fn statefulsets_replicasets_and_pods_are_patched_where_their_pods_are() {
    let input = workload(
        "StatefulSet",
        "sts",
        "  replicas: 2\n  serviceName: sts\n",
        "",
        HOST,
    ) + &workload("ReplicaSet", "rs", "  replicas: 2\n", "", HOST)
        + &workload("Pod", "pod", "", "", HOST);
    let (code, docs, err) = render(&[], &input);
    assert_eq!(code, 0, "{err}");
    let terms: Vec<Option<Value>> = ["sts", "rs", "pod"]
        .iter()
        .map(|n| common::colocation(named(&docs, n)))
        .collect();
    assert!(terms[0].is_some(), "{err}");
    assert!(terms.iter().all(|t| *t == terms[0]), "{terms:?}");
    // The term selects every one of them: each keeps its own labels.
    let term = terms[0].as_ref().unwrap();
    assert_eq!(
        term["labelSelector"]["matchExpressions"][0]["values"],
        serde_json::json!(["pod", "rs", "sts"]),
        "{term}"
    );
}

#[test]
fn sub_path_and_read_only_reach_the_mounts_and_the_env_copy() {
    let env = "        env:\n        - name: POLYAXON_PERSISTENCE_REPOS\n          value: '{\"mountPath\": \"/repos\", \"hostPath\": \"/tmp/repos\", \"existingClaim\": null, \"custom\": 1}'\n";
    let input = workload("Deployment", "api", RECREATE, "", HOST).replace(
        "        volumeMounts:\n",
        &format!("{env}        volumeMounts:\n"),
    );
    let (_d, cfg) = config(
        "repos:\n  existingClaim: c\n  accessMode: ReadWriteMany\n  subPath: team-a\n  readOnly: true\n",
    );
    let (code, docs, err) = render(&["--config", &cfg], &input);
    assert_eq!(code, 0, "{err}");
    let spec = pod_spec(named(&docs, "api"));
    assert_eq!(
        spec["containers"][0]["volumeMounts"][0],
        json!({"name": "repos", "mountPath": "/repos", "subPath": "team-a", "readOnly": true})
    );
    assert_eq!(
        spec["volumes"][0],
        json!({"name": "repos", "persistentVolumeClaim": {"claimName": "c", "readOnly": true}})
    );
    let copy: Value =
        serde_json::from_str(spec["containers"][0]["env"][0]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        copy,
        json!({"mountPath": "/repos", "hostPath": null, "existingClaim": "c", "subPath": "team-a", "readOnly": true, "custom": 1}),
        "unknown keys kept, accessMode never copied"
    );
}

#[test]
fn mount_into_mounts_every_regular_container() {
    let sched = workload("Deployment", "x-scheduler", RECREATE, "", HOST)
        .replace(
            "        volumeMounts:\n        - {name: repos, mountPath: /repos}\n",
            "      - name: sidecar\n        image: s\n",
        )
        .replace(
            "      volumes:\n      - name: repos\n        hostPath: {path: /tmp/repos}\n",
            "      initContainers:\n      - name: init\n        image: s\n",
        );
    let (_d, cfg) = config(
        "repos:\n  existingClaim: c\n  accessMode: ReadWriteMany\nworkloads:\n  mountInto: [\"*-scheduler\"]\n",
    );
    let (code, docs, err) = render(&["--config", &cfg], &sched);
    assert_eq!(code, 0, "{err}");
    let spec = pod_spec(named(&docs, "x-scheduler"));
    let mount = json!([{"name": "repos", "mountPath": "/polyaxon-repos"}]);
    assert_eq!(spec["containers"][0]["volumeMounts"], mount);
    assert_eq!(spec["containers"][1]["volumeMounts"], mount);
    assert!(
        spec["initContainers"][0]["volumeMounts"].is_null(),
        "regular containers only"
    );
    assert_eq!(
        spec["volumes"],
        json!([{"name": "repos", "persistentVolumeClaim": {"claimName": "c"}}])
    );
}

#[test]
fn mount_settings_are_taken_from_the_stream() {
    let api = workload("Deployment", "api", RECREATE, "", HOST).replace(
        "{name: repos, mountPath: /repos}",
        "{name: repos, mountPath: /custom, subPath: team, readOnly: true}",
    );
    let sched = workload("Deployment", "x-scheduler", RECREATE, "", HOST)
        .replace(
            "        volumeMounts:\n        - {name: repos, mountPath: /repos}\n",
            "",
        )
        .replace(
            "      volumes:\n      - name: repos\n        hostPath: {path: /tmp/repos}\n",
            "      volumes: []\n",
        );
    let (_d, cfg) = config(
        "repos:\n  existingClaim: c\n  accessMode: ReadWriteMany\nworkloads:\n  mountInto: [\"*-scheduler\"]\n",
    );
    let (code, docs, err) = render(&["--config", &cfg], &(api + &sched));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        pod_spec(named(&docs, "x-scheduler"))["containers"][0]["volumeMounts"],
        json!([{"name": "repos", "mountPath": "/custom", "subPath": "team", "readOnly": true}])
    );
}

#[test]
fn the_namespace_flag_matches_namespace_less_objects_to_claims() {
    let input = pvc("c", "  accessModes: [ReadWriteMany]\n", Some("ml"))
        + &workload(
            "Deployment",
            "api",
            "  replicas: 2\n",
            "",
            "persistentVolumeClaim: {claimName: c}",
        );
    // In namespace ml the workload finds the shared claim: nothing to do.
    let (code, docs, err) = render(&["-n", "ml"], &input);
    assert_eq!(code, 0, "{err}");
    assert!(common::colocation(named(&docs, "api")).is_none(), "{err}");
    // In another namespace the claim is not that one: assumed ReadWriteOnce.
    let (code, docs, err) = render(&["--namespace", "other"], &input);
    assert_eq!(code, 0, "{err}");
    assert!(common::colocation(named(&docs, "api")).is_some());
    assert!(err.contains("ReadWriteOnce"), "{err}");
}

#[test]
fn a_claim_without_access_modes_is_assumed_read_write_once() {
    let input = pvc("c", "", None)
        + &workload(
            "Deployment",
            "api",
            "  replicas: 2\n",
            "",
            "persistentVolumeClaim: {claimName: c}",
        );
    let (code, docs, err) = render(&[], &input);
    assert_eq!(code, 0, "{err}");
    assert!(common::colocation(named(&docs, "api")).is_some());
    assert!(
        err.contains("warning:") && err.contains("ReadWriteOnce"),
        "{err}"
    );
}

#[test]
fn a_daemonset_on_a_host_path_is_pinned_when_the_node_is_known_else_refused() {
    let ds = workload("DaemonSet", "agent", "", "", HOST);
    let (code, _, err) = render(&[], &ds);
    assert_eq!(code, 1);
    assert!(err.contains("DaemonSet/agent"), "{err}");
    let (_d, cfg) = config("node: worker-1\n");
    let (code, docs, err) = render(&["--config", &cfg], &ds);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        pod_spec(named(&docs, "agent"))["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
        json!({"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-1"]}]}]})
    );
}

#[test]
fn a_non_polyaxon_workload_on_the_same_volume_is_not_counted_nor_touched() {
    let other = workload("Deployment", "other", "  replicas: 3\n", "", HOST)
        .replace("labels: {type: polyaxon-core}", "labels: {app: other}");
    let input = other.clone() + &workload("Deployment", "api", RECREATE, "", HOST);
    let r = run(&[], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    assert!(
        out.starts_with(&other),
        "the other workload is byte for byte the same"
    );
    let docs = oracle::read(&out).unwrap();
    assert!(
        common::colocation(named(&docs, "api")).is_none(),
        "one Polyaxon pod: nothing to co-locate"
    );
}

#[test]
fn an_env_copy_given_by_value_from_is_left_alone_with_a_warning() {
    let env = "        env:\n        - name: POLYAXON_PERSISTENCE_REPOS\n          valueFrom: {configMapKeyRef: {name: cm, key: repos}}\n";
    let input = workload("Deployment", "api", RECREATE, "", HOST).replace(
        "        volumeMounts:\n",
        &format!("{env}        volumeMounts:\n"),
    );
    let (_d, cfg) = config("repos:\n  existingClaim: c\n  accessMode: ReadWriteMany\n");
    let (code, docs, err) = render(&["--config", &cfg], &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        pod_spec(named(&docs, "api"))["containers"][0]["env"],
        json!([{"name": "POLYAXON_PERSISTENCE_REPOS", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "repos"}}}])
    );
    assert!(
        err.contains("warning:") && err.contains("valueFrom"),
        "{err}"
    );
}

#[test]
fn the_output_is_deterministic_on_both_reading_paths() {
    // Small (one pass) and above 1 MB (parallel pieces): the same bytes and
    // the same report every time.
    let small = String::from_utf8(fixture("helm3-scheduling.yaml")).unwrap();
    let big = small.repeat(1 + (1 << 20) / small.len());
    let cfg = root().join("examples/rwo-claim.yaml");
    for input in [small, big] {
        let first = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
        assert_eq!(first.code, 0, "{}", first.stderr);
        for _ in 0..3 {
            let again = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
            assert!(again.stdout == first.stdout);
            assert_eq!(again.stderr, first.stderr);
        }
    }
}

#[test]
fn a_workload_already_held_on_the_known_node_gets_no_second_pin() {
    let held = "      nodeSelector: {kubernetes.io/hostname: worker-2}\n";
    let input = workload("Deployment", "api", "  replicas: 2\n", held, HOST)
        + &workload("Deployment", "web", "  replicas: 2\n", "", HOST);
    let (_d, cfg) = config("node: worker-2\n");
    let (code, docs, err) = render(&["--config", &cfg], &input);
    assert_eq!(code, 0, "{err}");
    // The one already there keeps its own constraint and nothing else; the
    // other is pinned to the same node.
    assert!(pod_spec(named(&docs, "api"))["affinity"].is_null(), "{err}");
    assert_eq!(
        pod_spec(named(&docs, "web"))["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"],
        json!([{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-2"]}]}])
    );
}

#[test]
fn a_null_field_equals_an_absent_one_so_nothing_is_rewritten() {
    // The configured source is already there, spelt with a null `type`.
    let input = workload(
        "Deployment",
        "api",
        RECREATE,
        "",
        "hostPath: {path: /tmp/repos, type: null}",
    );
    let (_d, cfg) = config("repos:\n  hostPath: /tmp/repos\n");
    let r = run(&["--config", &cfg], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), input, "nothing to change");
}

#[test]
fn an_empty_annotations_key_is_filled_not_refused() {
    let input = workload("Deployment", "api", "  replicas: 2\n", "", HOST).replace(
        "  labels: {type: polyaxon-core}\n",
        "  labels: {type: polyaxon-core}\n  annotations:\n",
    );
    let (code, docs, err) = render(&[], &input);
    assert_eq!(code, 0, "{err}");
    assert!(named(&docs, "api")["metadata"]["annotations"]["polyrepo-render/changes"].is_string());
}

#[test]
fn annotations_that_are_not_a_mapping_are_refused_not_overwritten() {
    let input = workload("Deployment", "api", "  replicas: 2\n", "", HOST).replace(
        "  labels: {type: polyaxon-core}\n",
        "  labels: {type: polyaxon-core}\n  annotations: \"x\"\n",
    );
    let (code, _, err) = render(&[], &input);
    assert_eq!(code, 1);
    assert!(
        err.contains("`annotations` at line") && err.contains("not a mapping"),
        "{err}"
    );
}
