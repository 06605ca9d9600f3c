//! The pods Polyaxon creates at run time follow their data (issue 21).
//! Streams: real renders of the charts 0.4.4, 0.5.6 and 0.6.1
//! (`tests/fixtures/README.md`). The oracle builds each kind of run-time
//! pod as Polyaxon's source builds it (written here from that source, not
//! from the tool's code): its volumes from `POLYAXON_PERSISTENCE_*`, its
//! placement from the ConfigMap (0.4) or from the database options the
//! report asks for (0.5 on). The simulator then places them beside the
//! stream's pods.

mod common;
mod sim;

use common::*;
use serde_json::{Value, json};

/// The root path of the fixtures of a chart release.
fn release_fixture(release: &str, name: &str) -> String {
    std::fs::read_to_string(
        root()
            .join("tests/fixtures")
            .join(format!("polyaxon-{release}"))
            .join(name),
    )
    .unwrap()
}

/// The documents of a stream, as JSON.
fn docs(stream: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(stream)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// Polyaxon's ConfigMap `data`.
fn config_map(stream: &str) -> serde_json::Map<String, Value> {
    docs(stream)
        .into_iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "polyaxon-polyaxon-config")
        .and_then(|d| d["data"].as_object().cloned())
        .expect("Polyaxon's ConfigMap")
}

/// The literal env of the API's container (Polyaxon's persistence).
fn api_env(stream: &str) -> std::collections::BTreeMap<String, String> {
    let api = docs(stream)
        .into_iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "polyaxon-polyaxon-api")
        .unwrap();
    api["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Polyaxon's `get_volume_from_definition` / `get_volume` (0.4–0.6): a
/// store with a mountPath is a volume, its existingClaim first, then its
/// hostPath (for repos the `host_path` key, which defaults to the mount
/// path), else an emptyDir.
fn volume(name: &str, d: &Value, repos: bool) -> Option<Value> {
    let mount = d["mountPath"].as_str().filter(|m| !m.is_empty())?;
    let source = if let Some(c) = d["existingClaim"].as_str() {
        json!({"persistentVolumeClaim": {"claimName": c}})
    } else if repos {
        json!({"hostPath": {"path": d["host_path"].as_str().unwrap_or(mount)}})
    } else if let Some(h) = d["hostPath"].as_str() {
        json!({"hostPath": {"path": h}})
    } else {
        json!({"emptyDir": {}})
    };
    let mut v = json!({"name": name});
    v.as_object_mut()
        .unwrap()
        .extend(source.as_object().unwrap().clone());
    Some(v)
}

/// The run-time pod kinds: the 0.5 option suffix, the 0.4 ConfigMap suffix
/// (notebooks use the experiments'), and the stores each mounts (every
/// outputs store a run may pick, every data store, the repos for a notebook
/// with its code mounted).
const KINDS: [(&str, &str, &[&str]); 4] = [
    ("EXPERIMENTS", "EXPERIMENTS", &["OUTPUTS", "DATA"]),
    ("JOBS", "JOBS", &["OUTPUTS", "DATA"]),
    ("NOTEBOOKS", "EXPERIMENTS", &["OUTPUTS", "DATA", "REPOS"]),
    ("TENSORBOARDS", "TENSORBOARDS", &["OUTPUTS"]),
];

/// One Pod per kind, as Polyaxon would create it from `env` (the API's
/// persistence) and `placement` (suffix → (node selector, affinity)).
fn runtime_pods(
    env: &std::collections::BTreeMap<String, String>,
    placement: &dyn Fn(&str, &str) -> (Value, Value),
) -> String {
    let mut out = String::new();
    for (option, key, stores) in KINDS {
        let mut volumes = Vec::new();
        for store in stores {
            let Some(v) = env.get(&format!("POLYAXON_PERSISTENCE_{store}")) else {
                continue;
            };
            let v: Value = serde_json::from_str(v).unwrap();
            if *store == "REPOS" {
                volumes.extend(volume("repos", &v, true));
            } else {
                for (name, d) in v.as_object().unwrap() {
                    volumes.extend(volume(
                        &format!("{}-{name}", store.to_lowercase()),
                        d,
                        false,
                    ));
                }
            }
        }
        let (selector, affinity) = placement(option, key);
        let mut spec = json!({"containers": [{"name": "main", "image": "x"}], "volumes": volumes});
        if !selector.is_null() {
            spec["nodeSelector"] = selector;
        }
        if !affinity.is_null() {
            spec["affinity"] = affinity;
        }
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("run-{}", option.to_lowercase()),
                "namespace": "polyaxon",
                "labels": {"type": "polyaxon-core", "role": format!("run-{}", option.to_lowercase())}
            },
            "spec": spec,
        });
        out.push_str("---\n");
        out.push_str(&serde_json::to_string(&pod).unwrap());
        out.push('\n');
    }
    out
}

/// A ConfigMap value as Polyaxon 0.4 reads it (`json.loads`).
fn loads(data: &serde_json::Map<String, Value>, key: &str) -> Value {
    serde_json::from_str(data[key].as_str().unwrap()).unwrap()
}

fn opts() -> sim::Options {
    sim::Options {
        namespace: Some("polyaxon".into()),
        ..Default::default()
    }
}

/// Runs the tool on `input`; on exit 0, returns the output, the JSON report
/// and the input's run-time pods placed as the output says.
fn run_with(config: &str, input: &str) -> (Run, Option<(String, Value)>) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let r = run(
        &[
            "--config",
            config,
            "-n",
            "polyaxon",
            "--report",
            report.to_str().unwrap(),
            "--report-format",
            "json",
        ],
        input.as_bytes(),
    );
    let rep: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    if r.code != 0 {
        return (r, None);
    }
    let out = r.out();
    (r, Some((out, rep)))
}

/// Every option the report asks to set (0.5 on): name → value.
fn asked_options(report: &Value) -> std::collections::BTreeMap<String, Value> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "runtime-placement-in-database")
        .flat_map(|w| w["settings"].as_array().unwrap().iter())
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["value"].clone()))
        .collect()
}

const CONFIGS: [&str; 5] = [
    "rwo-claim.yaml",
    "rwx-claim.yaml",
    "default-hostpath.yaml",
    "hostpath-node.yaml",
    "external.yaml",
];

#[test]
fn chart_0_4_run_time_pods_follow_their_data_through_the_config_map() {
    for name in [
        "helm3-default.yaml",
        "helm3-runplacement.yaml",
        "helm4-runplacement.yaml",
    ] {
        // The runplacement values send each kind to its own pool, which no
        // node shared by their data can be (refused below): here every kind
        // asks for the Polyaxon pool, the rest of the user's placement kept.
        let input = compatible(&release_fixture("0.4.4", name));
        let before = config_map(&input);
        for config in CONFIGS {
            let cfg = example(config);
            let (r, done) = run_with(cfg.to_str().unwrap(), &input);
            let (out, report) = done.unwrap_or_else(|| panic!("{name} {config}: {}", r.stderr));
            let after = config_map(&out);
            // Only the affinities of the kinds that mount data change; the
            // builds (which mount none), selectors and tolerations stay.
            for (k, v) in &before {
                if ![
                    "POLYAXON_AFFINITY_EXPERIMENTS",
                    "POLYAXON_AFFINITY_JOBS",
                    "POLYAXON_AFFINITY_TENSORBOARDS",
                ]
                .contains(&k.as_str())
                {
                    assert_eq!(&after[k], v, "{name} {config}: {k}");
                    continue;
                }
                // The user's affinity is kept: every key it had, as it was,
                // but the lists the tool adds to.
                let old = loads(&before, k);
                let new = loads(&after, k);
                if let Some(old) = old.as_object() {
                    for (part, value) in old {
                        if part != "nodeAffinity" {
                            assert_eq!(&new[part], value, "{name} {config}: {k}.{part}");
                        }
                    }
                    if let Some(pref) = old
                        .get("nodeAffinity")
                        .and_then(|n| n.get("preferredDuringSchedulingIgnoredDuringExecution"))
                    {
                        assert_eq!(
                            &new["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
                            pref
                        );
                    }
                }
            }
            // The API and the scheduler restart to read it (a pod-template
            // annotation with its digest), and a second run changes nothing.
            for d in docs(&out) {
                let name = d["metadata"]["name"].as_str().unwrap_or("");
                if d["kind"] == "Deployment"
                    && ["polyaxon-polyaxon-api", "polyaxon-polyaxon-scheduler"].contains(&name)
                {
                    let a = &d["spec"]["template"]["metadata"]["annotations"]["polyrepo-render/runtime-placement"];
                    assert!(a.is_string(), "{name} {config}: {a}");
                }
            }
            let again = run(
                &["--config", cfg.to_str().unwrap(), "-n", "polyaxon"],
                out.as_bytes(),
            );
            assert_eq!(
                again.out(),
                out,
                "{name} {config}: a second run changes nothing"
            );
            // The change is reported on the ConfigMap, with its decision.
            let cm: Vec<&Value> = report["changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["objects"][0]["kind"] == "ConfigMap")
                .collect();
            assert_eq!(cm.len(), 1, "{name} {config}");
            assert!(["pin", "co-locate"].contains(&cm[0]["decision"]["action"].as_str().unwrap()));
            // Placed by the simulator beside the stream's pods.
            let env = api_env(&out);
            let pods = runtime_pods(&env, &|_, key| {
                let sel = loads(&after, &format!("POLYAXON_NODE_SELECTOR_{key}"));
                let aff = loads(&after, &format!("POLYAXON_AFFINITY_{key}"));
                (sel, aff)
            });
            let nodes = runtime_cluster();
            // Run-time pods come while Polyaxon runs: the stream's pods are
            // placed first, then every order of new ones.
            let all = format!("{out}{pods}");
            if let Err(v) = sim::simulate_upgrade(&out, &all, &nodes, &opts()) {
                panic!("{name} {config}: {v}");
            }
            // Without the tool's affinities, the same pods split from their data.
            let bare = runtime_pods(&env, &|_, key| {
                (
                    loads(&before, &format!("POLYAXON_NODE_SELECTOR_{key}")),
                    loads(&before, &format!("POLYAXON_AFFINITY_{key}")),
                )
            });
            assert!(
                sim::simulate_upgrade(&out, &format!("{out}{bare}"), &nodes, &opts()).is_err(),
                "{name} {config}: the check cannot fail"
            );
        }
    }
}

/// The stream with every run-time node selector asking for `pool:
/// polyaxon` instead of a pool of its own kind.
fn compatible(stream: &str) -> String {
    let mut s = stream.to_string();
    for pool in ["gpu", "cpu", "build", "tensorboard"] {
        s = s.replace(
            &format!("{{\\\"pool\\\":\\\"{pool}\\\"}}"),
            "{\\\"pool\\\":\\\"polyaxon\\\"}",
        );
    }
    s
}

/// The simulator's fixture cluster, its nodes also labelled as the 0.4
/// runplacement values ask (every pool, both zones, an accelerator, amd64),
/// so that the user's own run-time placement admits some node.
fn runtime_cluster() -> Vec<sim::Node> {
    let mut nodes = sim::fixture_cluster();
    for n in &mut nodes {
        n.labels.insert("accelerator".into(), "gpu".into());
        n.labels.insert("kubernetes.io/arch".into(), "amd64".into());
    }
    nodes
}

#[test]
fn chart_0_5_and_0_6_run_time_pods_follow_their_data_once_the_options_are_set() {
    for (release, name) in [
        ("0.5.6", "helm3-default.yaml"),
        ("0.5.6", "helm4-default.yaml"),
        ("0.6.1", "helm3-default.yaml"),
        ("0.6.1", "helm3-claim.yaml"),
    ] {
        let input = release_fixture(release, name);
        for config in CONFIGS {
            let cfg = example(config);
            let (r, done) = run_with(cfg.to_str().unwrap(), &input);
            let (out, report) =
                done.unwrap_or_else(|| panic!("{release} {name} {config}: {}", r.stderr));
            assert_eq!(
                config_map(&out),
                config_map(&input),
                "the stream cannot carry it"
            );
            let asked = asked_options(&report);
            for (option, _, _) in KINDS {
                assert!(
                    asked.contains_key(&format!("AFFINITIES:{option}")),
                    "{release} {name} {config}: AFFINITIES:{option} in {asked:?}"
                );
            }
            // The message names each option and the place to set it.
            assert!(
                r.stderr.contains("AFFINITIES:EXPERIMENTS") && r.stderr.contains("/api/v1/options")
            );
            let env = api_env(&out);
            let pods = runtime_pods(&env, &|option, _| {
                (Value::Null, asked[&format!("AFFINITIES:{option}")].clone())
            });
            let nodes = runtime_cluster();
            if let Err(v) = sim::simulate_upgrade(&out, &format!("{out}{pods}"), &nodes, &opts()) {
                panic!("{release} {name} {config}: {v}");
            }
            let bare = runtime_pods(&env, &|_, _| (Value::Null, Value::Null));
            assert!(sim::simulate_upgrade(&out, &format!("{out}{bare}"), &nodes, &opts()).is_err());
        }
    }
}

#[test]
fn a_run_time_node_selector_that_excludes_the_data_node_is_refused() {
    let input = release_fixture("0.4.4", "helm3-runplacement.yaml").replacen(
        "POLYAXON_NODE_SELECTOR_JOBS: \"{\\\"pool\\\":\\\"cpu\\\"}\"",
        "POLYAXON_NODE_SELECTOR_JOBS: \"{\\\"kubernetes.io/hostname\\\":\\\"worker-9\\\"}\"",
        1,
    );
    assert!(input.contains("worker-9"));
    let cfg = example("hostpath-node.yaml");
    let (r, done) = run_with(cfg.to_str().unwrap(), &input);
    assert!(done.is_none());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    for part in ["jobs", "worker-2", "POLYAXON_NODE_SELECTOR_JOBS", "line "] {
        assert!(r.stderr.contains(part), "{part}: {}", r.stderr);
    }
}

#[test]
fn a_read_write_once_pod_claim_run_time_pods_mount_is_refused() {
    let input = outputs_on_claim("solo-out")
        + "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: solo-out\n  namespace: polyaxon\nspec:\n  accessModes: [ReadWriteOncePod]\n";
    let cfg = example("rwx-claim.yaml");
    let (r, done) = run_with(cfg.to_str().unwrap(), &input);
    assert!(done.is_none());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("ReadWriteOncePod") && r.stderr.contains("run time"),
        "{}",
        r.stderr
    );
}

#[test]
fn run_time_kinds_sent_to_different_pools_cannot_share_data() {
    let input = release_fixture("0.4.4", "helm3-runplacement.yaml");
    let cfg = example("rwo-claim.yaml");
    let (r, done) = run_with(cfg.to_str().unwrap(), &input);
    assert!(done.is_none());
    assert_eq!(r.code, 1, "{}", r.stderr);
    for part in [
        "experiments, jobs",
        "POLYAXON_NODE_SELECTOR_EXPERIMENTS",
        "POLYAXON_NODE_SELECTOR_JOBS",
        "Deployment/polyaxon-polyaxon-api",
    ] {
        assert!(r.stderr.contains(part), "{part}: {}", r.stderr);
    }
    // Compatible selectors pass.
    let (r, done) = run_with(cfg.to_str().unwrap(), &compatible(&input));
    assert!(done.is_some(), "{}", r.stderr);
}

#[test]
fn a_missing_run_time_key_is_a_warning_not_silence() {
    let input = release_fixture("0.4.4", "helm3-default.yaml").replacen(
        "  POLYAXON_AFFINITY_JOBS: \"null\"\n",
        "",
        1,
    );
    let cfg = example("rwo-claim.yaml");
    let (r, done) = run_with(cfg.to_str().unwrap(), &input);
    assert!(done.is_some(), "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: Polyaxon's ConfigMap has run-time placement keys but no POLYAXON_AFFINITY_JOBS"),
        "{}",
        r.stderr
    );
    let r = run(
        &["--strict", "--config", cfg.to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(r.code, 1, "a problem fails --strict");
}

#[test]
fn a_claim_of_a_namespace_the_tool_cannot_tell_is_matched_to_its_group() {
    // A Polyaxon workload that names its namespace mounts the outputs claim
    // the run-time pods mount too; the API names none and no -n is given:
    // it may be the same claim, so the run-time pods follow that workload.
    let input = outputs_on_claim("shared-out")
        + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: keeper\n  namespace: polyaxon\n  labels: {type: polyaxon-core, app.kubernetes.io/part-of: polyaxon-core}\nspec:\n  replicas: 1\n  strategy: {type: Recreate}\n  selector: {matchLabels: {app: keeper}}\n  template:\n    metadata: {labels: {app: keeper, type: polyaxon-core}}\n    spec:\n      containers: [{name: c, image: x, volumeMounts: [{name: out, mountPath: /o}]}]\n      volumes: [{name: out, persistentVolumeClaim: {claimName: shared-out}}]\n";
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let cfg = example("rwx-claim.yaml");
    let r = run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--report-format",
            "json",
        ],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let asked = asked_options(&rep);
    let term = &asked["AFFINITIES:EXPERIMENTS"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    assert!(term.to_string().contains("keeper"), "{term}");
    assert!(!r.stderr.contains("runtime-data-unpinned"), "{}", r.stderr);
}

/// The 0.6.1 render with Polyaxon's outputs on `claim` (not in the stream).
fn outputs_on_claim(claim: &str) -> String {
    let out = release_fixture("0.6.1", "helm3-default.yaml").replace(
        "{\\\"outputs\\\":{\\\"hostPath\\\":\\\"/tmp/outputs\\\",\\\"mountPath\\\":\\\"/outputs\\\"}}",
        &format!("{{\\\"outputs\\\":{{\\\"existingClaim\\\":\\\"{claim}\\\",\\\"mountPath\\\":\\\"/outputs\\\"}}}}"),
    );
    assert!(out.contains(claim));
    out
}

#[test]
fn a_config_map_inside_a_list_is_not_edited_and_says_what_to_set() {
    // Polyaxon's ConfigMap (chart 0.4) as the one item of a List.
    let input = release_fixture("0.4.4", "helm3-default.yaml");
    let head = "# Source: polyaxon/templates/cm.yaml\n";
    let start = input.find(head).unwrap() + head.len();
    let end = start + input[start..].find("\n---").unwrap() + 1;
    let body: String = input[start..end]
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("  - {l}\n")
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    let listed = format!(
        "{}apiVersion: v1\nkind: List\nitems:\n{body}{}",
        &input[..start],
        &input[end..]
    );
    let cfg = example("rwo-claim.yaml");
    let (r, done) = run_with(cfg.to_str().unwrap(), &listed);
    let (out, _) = done.unwrap_or_else(|| panic!("{}", r.stderr));
    // The List is left as it was (without it, the ConfigMap changes).
    assert!(out.contains(&body), "the listed ConfigMap is not edited");
    let plain = run_with(cfg.to_str().unwrap(), &input).1.unwrap().0;
    assert_ne!(config_map(&plain), config_map(&input));
    assert!(
        r.stderr.contains("in a ConfigMap inside a List")
            && r.stderr.contains("POLYAXON_AFFINITY_EXPERIMENTS"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("database"),
        "chart 0.4 is not told to use the database"
    );
}

#[test]
fn data_of_a_pod_no_label_selects_alone_is_a_warning() {
    // Polyaxon's outputs on a host path one workload mounts, whose pods'
    // labels also select another workload's pods: there is no term for the
    // run-time pods to follow it by.
    let twin = |name: &str, volume: &str| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels: {{type: polyaxon-core, app.kubernetes.io/part-of: polyaxon-core}}\nspec:\n  replicas: 1\n  strategy: {{type: Recreate}}\n  selector: {{matchLabels: {{app: twin}}}}\n  template:\n    metadata: {{labels: {{app: twin, type: polyaxon-core}}}}\n    spec:\n      containers: [{{name: c, image: x}}]\n{volume}"
        )
    };
    let input = release_fixture("0.6.1", "helm3-default.yaml").replace(
        "\\\"hostPath\\\":\\\"/tmp/outputs\\\"",
        "\\\"hostPath\\\":\\\"/srv/out\\\"",
    ) + &twin(
        "twin-a",
        "      volumes: [{name: o, hostPath: {path: /srv/out}}]\n",
    ) + &twin("twin-b", "");
    assert!(input.contains("\\\"/srv/out\\\""));
    let cfg = example("rwx-claim.yaml");
    let r = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warned: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("no label selects those pods alone"))
        .collect();
    assert_eq!(warned.len(), 1, "one warning for every kind: {}", r.stderr);
    assert!(
        warned[0].contains("experiments, jobs, notebooks, tensorboards")
            && warned[0].contains("hostPath /srv/out")
            && warned[0].contains("Deployment/twin-a"),
        "{}",
        warned[0]
    );
}
