//! The output contract, judged by an oracle that is not the crate: every
//! stream is read with libyaml and go-yaml v2's typing (`tests/oracle/`),
//! what the tool writes is compared with values written here by hand from
//! the README, and everything else must be equal, with nothing masked but
//! the paths each case names.

mod common;
mod oracle;

use oracle::forgive::{containers, forgive};

use common::*;
use serde_json::{Value, json};

const API: &str = "polyaxon-polyaxon-api";
const SCHEDULER: &str = "polyaxon-polyaxon-scheduler";
const LABEL: &str = "polyrepo-render/colocate";
const CHANGES: &str = "polyrepo-render/changes";
const RECORD: &str = "polyrepo-render/colocation";
const ENV: &str = "POLYAXON_PERSISTENCE_REPOS";
const HOSTNAME: &str = "kubernetes.io/hostname";

#[test]
fn the_oracle_types_scalars_as_go_yaml_v2() {
    oracle::self_check();
}

/// How a group of pods is kept on one node.
#[derive(Clone, Copy, Debug)]
enum Placement {
    /// A required pod-affinity term on a shared label.
    Colocate,
    /// A required node-affinity rule naming this node.
    Pin(&'static str),
}

/// What one example config must do to the chart's default render.
struct Expect {
    config: &'static str,
    /// The `repos` volume of every workload that mounts it.
    volume: Value,
    /// The scheduler gets the volume too (`workloads.mountInto`).
    scheduler_mounts: bool,
    /// The env copy, in every container that carries it.
    env: Value,
    placement: Placement,
}

/// Written from the README and the example files, not from a run.
fn expectations() -> Vec<Expect> {
    let env = |claim: Value, host: Value| json!({"existingClaim": claim, "hostPath": host, "mountPath": "/polyaxon-repos"});
    vec![
        Expect {
            config: "default-hostpath.yaml",
            volume: json!({"name": "repos", "hostPath": {"path": "/tmp/repos"}}),
            scheduler_mounts: true,
            env: env(Value::Null, json!("/tmp/repos")),
            // /tmp/repos, /tmp/logs, /tmp/outputs on no known node.
            placement: Placement::Colocate,
        },
        Expect {
            config: "hostpath-node.yaml",
            volume: json!({"name": "repos", "hostPath": {"path": "/data/polyaxon/repos"}}),
            scheduler_mounts: true,
            env: env(Value::Null, json!("/data/polyaxon/repos")),
            // repos.node pins both; pinned to one node, the logs and
            // outputs host paths are shared there too.
            placement: Placement::Pin("worker-2"),
        },
        Expect {
            config: "rwo-claim.yaml",
            volume: json!({"name": "repos", "persistentVolumeClaim": {"claimName": "polyaxon-repos"}}),
            scheduler_mounts: true,
            env: env(json!("polyaxon-repos"), Value::Null),
            placement: Placement::Colocate,
        },
        Expect {
            config: "rwx-claim.yaml",
            volume: json!({"name": "repos", "persistentVolumeClaim": {"claimName": "polyaxon-repos-shared"}}),
            scheduler_mounts: true,
            env: env(json!("polyaxon-repos-shared"), Value::Null),
            // The claim is shared, but the logs and outputs host paths are not.
            placement: Placement::Colocate,
        },
        Expect {
            config: "external.yaml",
            volume: json!({"name": "repos", "hostPath": {"path": "/tmp/repos"}}),
            scheduler_mounts: false,
            env: env(Value::Null, json!("/tmp/repos")),
            placement: Placement::Colocate,
        },
    ]
}

/// Runs the binary; returns the input and output read by the oracle.
fn render(fixture_name: &str, config: &str) -> (Vec<Value>, Vec<Value>) {
    let input = fixture(fixture_name);
    let r = run(
        &[
            "--config",
            root().join("examples").join(config).to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(r.code, 0, "{fixture_name} {config}: {}", r.stderr);
    let before = oracle::read(std::str::from_utf8(&input).unwrap()).unwrap();
    let after = oracle::read(&r.out()).expect("the output parses with libyaml");
    assert_eq!(
        before.len(),
        after.len(),
        "{fixture_name} {config}: documents"
    );
    (before, after)
}

fn find<'v>(docs: &'v [Value], name: &str) -> &'v Value {
    docs.iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn every_example_config_writes_exactly_what_the_readme_says_on_helm3_and_helm4() {
    for f in ["helm3-default.yaml", "helm4-default.yaml"] {
        let mut labels = Vec::new();
        for e in expectations() {
            let (before, after) = render(f, e.config);
            let what = format!("{f} {}", e.config);
            let mut label: Option<String> = None;
            for name in [API, SCHEDULER] {
                let o = find(&after, name);
                let spec = &o["spec"]["template"]["spec"];
                let mounts = name == API || e.scheduler_mounts;
                let vols: Vec<&Value> = spec["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|v| v["name"] == "repos")
                    .collect();
                if mounts {
                    assert_eq!(vols, vec![&e.volume], "{what} {name}: volume");
                } else {
                    assert!(vols.is_empty(), "{what} {name}: no volume");
                }
                let main = &spec["containers"][0];
                let m: Vec<&Value> = main["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["name"] == "repos")
                    .collect();
                if mounts {
                    assert_eq!(
                        m,
                        vec![&json!({"name": "repos", "mountPath": "/polyaxon-repos"})],
                        "{what} {name}: mount"
                    );
                } else {
                    assert!(m.is_empty(), "{what} {name}");
                }
                for c in containers(spec) {
                    for env in c["env"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|v| v["name"] == ENV)
                    {
                        let copy: Value =
                            serde_json::from_str(env["value"].as_str().unwrap()).unwrap();
                        assert_eq!(copy, e.env, "{what} {name}: env copy");
                    }
                }
                let l = &o["spec"]["template"]["metadata"]["labels"][LABEL];
                let pod_terms = &spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
                let node_terms = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                    ["nodeSelectorTerms"];
                match e.placement {
                    Placement::Colocate => {
                        // Over the labels the chart's pods carry in every
                        // render (the Deployments' spec.selector): no label
                        // is added, the pods running today count.
                        assert!(l.is_null(), "{what} {name}: no label added");
                        let term = json!({
                            "labelSelector": {"matchExpressions": [
                                {"key": "app.kubernetes.io/instance", "operator": "In", "values": ["polyaxon"]},
                                {"key": "app.kubernetes.io/name", "operator": "In", "values": [API, SCHEDULER]}
                            ]},
                            "topologyKey": HOSTNAME
                        });
                        assert_eq!(pod_terms, &json!([term]), "{what} {name}");
                        assert_eq!(
                            o["metadata"]["annotations"][RECORD],
                            json!(term.to_string()),
                            "{what} {name}: the term recorded as the tool's own"
                        );
                        assert!(node_terms.is_null(), "{what} {name}: no pin");
                        label = Some(term.to_string());
                    }
                    Placement::Pin(node) => {
                        assert_eq!(
                            node_terms,
                            &json!([{"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": [node]}]}]),
                            "{what} {name}"
                        );
                        assert!(
                            l.is_null() && pod_terms.is_null(),
                            "{what} {name}: a pin needs no co-location"
                        );
                    }
                }
                assert!(
                    o["metadata"]["annotations"][CHANGES].is_string(),
                    "{what} {name}"
                );
            }
            labels.extend(label);
            // Everything else is equal.
            for (mut b, mut a) in before.into_iter().zip(after) {
                forgive(&mut b, &mut a);
                assert_eq!(b, a, "{what}: {} {}", b["kind"], b["metadata"]["name"]);
            }
        }
        // The term names the workloads, not the data: every config that
        // co-locates gives the same one, so an upgrade from one to another
        // still finds the pods running today.
        // Colocating configs in order: default-hostpath, rwo, rwx, external.
        assert_eq!(labels.len(), 4);
        assert!(labels.iter().all(|l| *l == labels[0]), "{labels:?}");
    }
}

#[test]
fn on_every_capture_only_the_named_paths_change() {
    for f in fixtures() {
        for e in expectations() {
            let (before, after) = render(&f, e.config);
            let mut changed = 0;
            for (mut b, mut a) in before.into_iter().zip(after) {
                if b != a {
                    changed += 1;
                    assert!(
                        b["metadata"]["labels"]["app.kubernetes.io/part-of"] == "polyaxon-core"
                            || b["metadata"]["labels"]["type"] == "polyaxon-core",
                        "{f} {}: only Polyaxon objects change",
                        e.config
                    );
                    assert_eq!(b["spec"]["selector"], a["spec"]["selector"], "immutable");
                }
                forgive(&mut b, &mut a);
                assert_eq!(
                    b, a,
                    "{f} {}: {} {}",
                    e.config, b["kind"], b["metadata"]["name"]
                );
            }
            assert!(
                changed >= 2,
                "{f} {}: the API and the scheduler change",
                e.config
            );
        }
    }
}
