//! Upgrades of a running install: the pods of the previous render run
//! while the new ones arrive, and the new ones must join the old ones where
//! they share single-node data, whether the previous render went through
//! this tool or not. Judged by the simulator in `tests/sim`
//! ([`sim::simulate_upgrade`]), written independently of `src/`.

mod common;
mod sim;

use common::{example, fixture, run};
use serde_json::Value;

/// The tool's output for `stream` with the config file `cfg`; exit 0 required.
fn render(stream: &str, cfg: &str) -> (String, String) {
    let path = example(cfg);
    let r = run(&["--config", path.to_str().unwrap()], stream.as_bytes());
    assert_eq!(r.code, 0, "{cfg}: {}", r.stderr);
    (r.out(), r.stderr)
}

/// The tool's output for `stream` with config text `cfg`.
fn render_with(stream: &str, cfg: &str) -> common::Run {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), cfg).unwrap();
    run(&["--config", f.path().to_str().unwrap()], stream.as_bytes())
}

fn chart(variant: &str) -> String {
    String::from_utf8(fixture(&format!("helm3-{variant}.yaml"))).unwrap()
}

fn upgrade(previous: &str, next: &str) -> Result<(), sim::Violation> {
    sim::simulate_upgrade(
        previous,
        next,
        &sim::fixture_cluster(),
        &sim::Options::default(),
    )
}

#[test]
fn the_first_upgrade_with_the_tool_joins_the_pods_running_today() {
    for variant in ["default", "replicas", "scheduling"] {
        let before = chart(variant);
        for cfg in ["rwo-claim.yaml", "default-hostpath.yaml"] {
            let (after, stderr) = render(&before, cfg);
            if let Err(v) = upgrade(&before, &after) {
                panic!("{variant} with {cfg}: {v}\n{stderr}");
            }
            assert!(
                !after.contains("polyrepo-render/colocate:"),
                "{variant} with {cfg}: the chart's own labels select the group, no label is added"
            );
        }
    }
}

#[test]
fn a_later_upgrade_that_changes_the_data_keeps_the_same_term() {
    let before = chart("default");
    let (a, _) = render(&before, "default-hostpath.yaml");
    let (b, _) = render(&before, "rwo-claim.yaml");
    if let Err(v) = upgrade(&a, &b) {
        panic!("host path -> claim: {v}");
    }
    if let Err(v) = upgrade(&b, &a) {
        panic!("claim -> host path: {v}");
    }
    let terms = |out: &str| -> Vec<Value> {
        docs(out)
            .iter()
            .filter_map(|d| {
                d.pointer(
                    "/spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution",
                )
                .cloned()
            })
            .collect()
    };
    assert_eq!(
        terms(&a),
        terms(&b),
        "the term names the workloads, not the data"
    );
    assert!(!terms(&a).is_empty());
}

#[test]
fn where_no_labels_select_exactly_the_group_the_added_label_is_said_to_miss_running_pods() {
    // A workload outside Polyaxon carrying the API's selector labels: the
    // chart's labels would select its pods too.
    let before = chart("default");
    let twin = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: twin\n  namespace: polyaxon\n\
                spec:\n  selector:\n    matchLabels: {app.kubernetes.io/name: polyaxon-polyaxon-api, app.kubernetes.io/instance: polyaxon}\n  \
                template:\n    metadata:\n      labels: {app.kubernetes.io/name: polyaxon-polyaxon-api, app.kubernetes.io/instance: polyaxon}\n    \
                spec:\n      containers: [{name: c, image: x}]\n";
    let before = format!("{before}{twin}");
    let r = render_with(&before, "repos:\n  existingClaim: polyaxon-repos\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("may also be those of the workload in document")
            && r.stderr.contains("the pods running today do not carry")
            && r.stderr.contains("`node:`"),
        "{}",
        r.stderr
    );
    assert!(r.out().contains("polyrepo-render/colocate: group-"));
    // The warning is true: the simulator finds the split it announces.
    let v = upgrade(&before, &r.out()).expect_err("the first new pod may start elsewhere");
    assert!(matches!(v, sim::Violation::Split { .. }), "{v}");
    // `node:` (the advice) is taken: every pod goes where the data is said to be.
    let r = render_with(
        &before,
        "repos:\n  existingClaim: polyaxon-repos\n  node: worker-2\nnode: worker-2\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_re_render_replaces_the_tools_own_earlier_term_and_label() {
    let chart = chart("default");
    let (a, _) = render(&chart, "rwo-claim.yaml");
    let direct = render(&chart, "rwx-claim.yaml").0;
    // Through its own earlier output: the same pods as straight from the chart.
    let (again, stderr) = render(&a, "rwx-claim.yaml");
    let pods = |out: &str| -> Vec<Value> {
        docs(out)
            .iter()
            .filter_map(|d| {
                let mut t = d.pointer("/spec/template")?.clone();
                if let Some(a) = t
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove("polyrepo-render/colocation");
                }
                Some(t)
            })
            .collect()
    };
    assert_eq!(pods(&again), pods(&direct), "{stderr}");
    // Idempotent: the same config twice changes nothing the second time.
    let (twice, _) = render(&a, "rwo-claim.yaml");
    assert_eq!(twice, a);
    // An earlier release's term and label (the data digest) are replaced
    // too, and said to be the tool's own.
    let legacy = a.replace(
        "            - labelSelector:\n                matchExpressions:\n                  - key: app.kubernetes.io/instance\n                    operator: In\n                    values:\n                      - polyaxon\n                  - key: app.kubernetes.io/name\n                    operator: In\n                    values:\n                      - polyaxon-polyaxon-api\n                      - polyaxon-polyaxon-scheduler\n",
        "            - labelSelector:\n                matchLabels:\n                  polyrepo-render/colocate: data-0123456789\n              namespaceSelector: {}\n",
    );
    assert_ne!(legacy, a, "the term is written as expected");
    let legacy = legacy.replace(
        "        app.kubernetes.io/instance: polyaxon\n",
        "        app.kubernetes.io/instance: polyaxon\n        polyrepo-render/colocate: data-0123456789\n",
    );
    let (fresh, stderr) = render(&legacy, "rwo-claim.yaml");
    assert!(!fresh.contains("data-0123456789"), "{fresh}");
    assert!(
        stderr.contains("replacing polyrepo-render's term from an earlier run"),
        "{stderr}"
    );
    assert_eq!(pods(&fresh), pods(&a));
}

fn docs(out: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(out)
        .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

#[test]
fn a_claim_on_a_zonal_volume_does_not_wait_for_pods_outside_its_zone() {
    // repos moves from the chart's host path to a claim whose volume is in
    // zone-a: the pods running today may be in zone-b, where the new ones
    // can never join them. They are co-located among themselves instead,
    // and the run says the running pods are not joined.
    let zonal = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: polyaxon-repos, namespace: polyaxon}\n\
                 spec: {accessModes: [ReadWriteOnce], volumeName: pv-repos, resources: {requests: {storage: 1Gi}}}\n\
                 ---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-repos}\n\
                 spec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  csi: {driver: disk.example.com, volumeHandle: h}\n  \
                 nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: topology.kubernetes.io/zone, operator: In, values: [zone-a]}\n";
    let before = format!("{}{zonal}", chart("default"));
    let cfg = example("rwo-claim.yaml");
    let r = run(
        &["--config", cfg.to_str().unwrap(), "-n", "polyaxon"],
        before.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("node affinity holds their pods") && r.stderr.contains("`node:`"),
        "{}",
        r.stderr
    );
    let opts = sim::Options {
        namespace: Some("polyaxon".into()),
        ..sim::Options::default()
    };
    if let Err(v) = sim::simulate_upgrade(&before, &r.out(), &sim::fixture_cluster(), &opts) {
        // Only the data the chart's host paths hold can split: the new
        // pods may not follow the running ones out of zone-a.
        assert!(matches!(v, sim::Violation::Split { .. }), "{v}");
    }
}
