//! End-to-end tests of the binary on the real Helm captures and on small
//! streams that pin down each promise of the README.

mod common;
mod oracle;

use common::*;
use serde_json::Value;
use std::process::Command;

const CONFIGS: [&str; 5] = [
    "default-hostpath.yaml",
    "hostpath-node.yaml",
    "rwo-claim.yaml",
    "rwx-claim.yaml",
    "external.yaml",
];

/// Each document of a stream: its exact text (cut at `---` lines, which is
/// all these streams use) and what Kubernetes reads (the test oracle).
fn documents(text: &str) -> Vec<(String, Value)> {
    let mut texts: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") || texts.is_empty() {
            texts.push(String::new());
        }
        texts.last_mut().unwrap().push_str(line);
    }
    texts.retain(|t| !t.trim().is_empty() && t.trim() != "---");
    let values = oracle::read(text).expect("valid stream");
    let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
    assert_eq!(texts.len(), values.len(), "one text per document");
    texts.into_iter().zip(values).collect()
}

fn find<'v>(docs: &'v [(String, Value)], kind: &str, name: &str) -> &'v Value {
    &docs
        .iter()
        .find(|(_, v)| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not found"))
        .1
}

fn pod_spec(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]
}

fn repos_env(v: &Value, container: usize) -> Value {
    let env = pod_spec(v)["containers"][container]["env"]
        .as_array()
        .unwrap();
    let e = env
        .iter()
        .find(|e| e["name"] == "POLYAXON_PERSISTENCE_REPOS")
        .unwrap();
    serde_json::from_str(e["value"].as_str().unwrap()).unwrap()
}

fn repos_volume(v: &Value) -> &Value {
    pod_spec(v)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "repos")
        .expect("repos volume")
}

#[test]
fn ignoring_every_data_volume_passes_the_fixtures_through_byte_for_byte() {
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cfg.path(), "ignore: [logs, outputs, repos, upload]\n").unwrap();
    for f in fixtures() {
        let input = fixture(&f);
        let r = run(&["--config", cfg.path().to_str().unwrap()], &input);
        assert_eq!(r.code, 0, "{f}: {}", r.stderr);
        assert!(r.stdout == input, "{f}: output differs from input");
    }
}

#[test]
fn without_config_the_api_and_the_scheduler_share_logs_and_outputs_on_one_node() {
    // The chart's defaults put logs and outputs on host paths mounted by the
    // API and the scheduler: whatever repos is, they must share a node.
    for f in fixtures() {
        let input = String::from_utf8(fixture(&f)).unwrap();
        let r = run(&[], input.as_bytes());
        assert_eq!(r.code, 0, "{f}: {}", r.stderr);
        let out = documents(&r.out());
        let term = |name: &str| {
            let w = find(&out, "Deployment", name);
            let term = common::colocation(w).unwrap_or_else(|| panic!("{f}: {name} co-located"));
            // Over the labels the chart's pods carry in every render
            // (spec.selector), so the pods running today count.
            assert_eq!(
                term["labelSelector"]["matchExpressions"],
                serde_json::json!([
                    {"key": "app.kubernetes.io/instance", "operator": "In", "values": ["polyaxon"]},
                    {"key": "app.kubernetes.io/name", "operator": "In",
                     "values": ["polyaxon-polyaxon-api", "polyaxon-polyaxon-scheduler"]}
                ]),
                "{f}"
            );
            assert_eq!(term["topologyKey"], "kubernetes.io/hostname", "{f}");
            assert!(
                term.get("namespaceSelector").is_none() && term.get("namespaces").is_none(),
                "{f}: one release, one namespace"
            );
            assert!(
                w["spec"]["template"]["metadata"]["labels"]["polyrepo-render/colocate"].is_null(),
                "{f}: no label added"
            );
            term
        };
        assert_eq!(
            term("polyaxon-polyaxon-api"),
            term("polyaxon-polyaxon-scheduler"),
            "{f}"
        );
        assert!(
            r.stderr.contains("no node is known for this host data"),
            "{f}: {}",
            r.stderr
        );
    }
}

#[test]
fn every_example_config_on_every_fixture_is_exact_ordered_and_idempotent() {
    for f in fixtures() {
        let input = String::from_utf8(fixture(&f)).unwrap();
        let before = documents(&input);
        for c in CONFIGS {
            let cfg = example(c);
            let args = ["--config", cfg.to_str().unwrap()];
            let r = run(&args, input.as_bytes());
            assert_eq!(r.code, 0, "{f} {c}: {}", r.stderr);
            let out = r.out();
            let after = documents(&out);
            assert_eq!(before.len(), after.len(), "{f} {c}: document count");
            for ((bt, bv), (at, av)) in before.iter().zip(&after) {
                assert_eq!(bv["kind"], av["kind"], "{f} {c}: order");
                assert_eq!(
                    bv["metadata"]["name"], av["metadata"]["name"],
                    "{f} {c}: order"
                );
                if bt == at {
                    continue;
                }
                // Only Polyaxon workloads change, and only in what we may change.
                let labels = &bv["metadata"]["labels"];
                assert!(
                    labels["type"] == "polyaxon-core"
                        || labels["app.kubernetes.io/part-of"] == "polyaxon-core"
                );
                // What changed, field by field: tests/contract.rs.
                assert_eq!(
                    bv["spec"]["selector"], av["spec"]["selector"],
                    "spec.selector is immutable"
                );
                if f.starts_with("helm3") {
                    let src = |t: &str| t.lines().take(2).collect::<Vec<_>>().join("\n");
                    assert_eq!(
                        src(bt),
                        src(at),
                        "{f} {c}: `---` and `# Source:` stay first"
                    );
                } else {
                    let a =
                        &av["metadata"]["annotations"]["postrenderer.helm.sh/postrender-filename"];
                    assert_eq!(
                        a,
                        &bv["metadata"]["annotations"]["postrenderer.helm.sh/postrender-filename"]
                    );
                }
                // The explanation is on the object, not on the pod template (no restart).
                assert!(av["metadata"]["annotations"]["polyrepo-render/changes"].is_string());
                assert!(pod_spec(av).is_object());
                assert_eq!(
                    av["spec"]["template"]["metadata"]["annotations"],
                    bv["spec"]["template"]["metadata"]["annotations"],
                    "{f} {c}: pod template annotations untouched"
                );
            }
            let again = run(&args, out.as_bytes());
            assert_eq!(again.code, 0);
            assert!(again.stdout == r.stdout, "{f} {c}: not idempotent");
        }
    }
}

#[test]
fn snapshots_of_the_patched_fixtures() {
    let cases = [
        ("helm3-default.yaml", "default-hostpath.yaml"),
        ("helm3-default.yaml", "external.yaml"),
        ("helm3-claim.yaml", "rwx-claim.yaml"),
        ("helm3-replicas.yaml", "rwo-claim.yaml"),
        ("helm3-scheduling.yaml", "hostpath-node.yaml"),
        ("helm3-scheduling.yaml", "rwo-claim.yaml"),
        ("helm4-default.yaml", "hostpath-node.yaml"),
        ("helm4-claim.yaml", "rwo-claim.yaml"),
        ("helm4-replicas.yaml", "rwo-claim.yaml"),
        ("helm4-scheduling.yaml", "default-hostpath.yaml"),
    ];
    for (f, c) in cases {
        let input = String::from_utf8(fixture(f)).unwrap();
        let r = run(
            &["--config", example(c).to_str().unwrap()],
            input.as_bytes(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let name = format!(
            "{}--{}",
            f.trim_end_matches(".yaml"),
            c.trim_end_matches(".yaml")
        );
        snap!(name, format!("{}\n{}", r.stderr, diff(&input, &r.out())));
    }
    // No config: only the scheduling safety.
    let input = String::from_utf8(fixture("helm3-replicas.yaml")).unwrap();
    let r = run(&[], input.as_bytes());
    snap!(
        "helm3-replicas--no-config",
        format!("{}\n{}", r.stderr, diff(&input, &r.out()))
    );
}

#[test]
fn claim_config_rewrites_volume_and_env_copy_in_api_and_scheduler() {
    let input = String::from_utf8(fixture("helm3-replicas.yaml")).unwrap();
    let r = run(
        &["--config", example("rwo-claim.yaml").to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    let api = find(&docs, "Deployment", "polyaxon-polyaxon-api");
    let sched = find(&docs, "Deployment", "polyaxon-polyaxon-scheduler");
    for w in [api, sched] {
        let v = repos_volume(w);
        assert_eq!(v["persistentVolumeClaim"]["claimName"], "polyaxon-repos");
        assert!(
            v.get("hostPath").is_none(),
            "no stale source beside the claim"
        );
        let env = repos_env(w, 0);
        assert_eq!(env["existingClaim"], "polyaxon-repos");
        assert_eq!(env["hostPath"], Value::Null);
        assert_eq!(env["mountPath"], "/polyaxon-repos");
        assert!(
            env.get("accessMode").is_none()
                && env.get("node").is_none()
                && env.get("external").is_none()
        );
        let mounts = pod_spec(w)["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["name"] == "repos" && m["mountPath"] == "/polyaxon-repos")
        );
        // 3 + 2 pods on a ReadWriteOnce claim: co-located through the
        // chart's own labels.
        let req = &pod_spec(w)["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        assert_eq!(Some(&req[0]), common::colocation(w).as_ref());
        assert_eq!(
            req[0]["labelSelector"]["matchExpressions"][1]["values"],
            serde_json::json!(["polyaxon-polyaxon-api", "polyaxon-polyaxon-scheduler"])
        );
        assert_eq!(req[0]["topologyKey"], "kubernetes.io/hostname");
        // The chart's preferred affinity is kept.
        assert!(pod_spec(w)["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"].is_array());
    }
    // The streams container has no env copy and no mount: untouched.
    assert!(pod_spec(api)["containers"][1]["volumeMounts"].is_null());
    assert!(
        !r.stderr.contains("assuming ReadWriteOnce"),
        "accessMode is configured"
    );
}

#[test]
fn a_known_node_is_anded_into_every_node_selector_term() {
    let input = String::from_utf8(fixture("helm3-scheduling.yaml")).unwrap();
    let r = run(
        &["--config", example("hostpath-node.yaml").to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    let api = find(&docs, "Deployment", "polyaxon-polyaxon-api");
    let terms =
        pod_spec(api)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"]
            .as_array()
            .unwrap();
    assert_eq!(terms.len(), 2, "no new OR'ed term");
    for t in terms {
        let e = t["matchExpressions"].as_array().unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0]["key"], "topology.kubernetes.io/zone");
        assert_eq!(
            e[1],
            serde_json::json!({"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-2"]})
        );
    }
    assert_eq!(pod_spec(api)["nodeSelector"]["pool"], "polyaxon");
    assert_eq!(pod_spec(api)["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        repos_volume(api)["hostPath"]["path"],
        "/data/polyaxon/repos"
    );
}

#[test]
fn values_files_feed_persistence_repos_and_config_wins_key_by_key() {
    let input = fixture("helm3-default.yaml");
    let values = root().join("tests/fixtures/polyaxon-0.6.1/values/claim.yaml");
    let r = run(&["--values", values.to_str().unwrap()], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    let api = find(&docs, "Deployment", "polyaxon-polyaxon-api");
    assert_eq!(
        repos_volume(api)["persistentVolumeClaim"]["claimName"],
        "polyaxon-repos"
    );
    assert_eq!(repos_env(api, 0)["existingClaim"], "polyaxon-repos");
    let sched = find(&docs, "Deployment", "polyaxon-polyaxon-scheduler");
    assert_eq!(
        repos_env(sched, 0)["existingClaim"],
        "polyaxon-repos",
        "env copies follow everywhere"
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(
        dir.path(),
        "p.yaml",
        "repos:\n  hostPath: /srv/repos\n  mountPath: /code\n",
    );
    let r = run(
        &[
            "-f",
            values.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    let api = find(&docs, "Deployment", "polyaxon-polyaxon-api");
    assert_eq!(repos_volume(api)["hostPath"]["path"], "/srv/repos");
    assert!(repos_volume(api).get("persistentVolumeClaim").is_none());
    let env = repos_env(api, 0);
    assert_eq!(
        (
            env["hostPath"].as_str(),
            env["existingClaim"].is_null(),
            env["mountPath"].as_str()
        ),
        (Some("/srv/repos"), true, Some("/code"))
    );
    let mounts = pod_spec(api)["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "repos" && m["mountPath"] == "/code")
    );
}

#[test]
fn config_comes_from_the_flag_in_both_forms_or_from_polyrepo_config() {
    let input = fixture("helm3-claim.yaml");
    let cfg = example("rwx-claim.yaml");
    let a = run(&["--config", cfg.to_str().unwrap()], &input);
    let b = run(&[&format!("--config={}", cfg.display())], &input);
    let c = run_env(&[], &input, &[("POLYREPO_CONFIG", cfg.to_str().unwrap())]);
    assert_eq!(a.code, 0);
    assert!(a.stdout != input, "patched");
    assert!(a.stdout == b.stdout, "--config=FILE");
    assert!(a.stdout == c.stdout, "POLYREPO_CONFIG");
}

#[test]
fn quiet_silences_changes_and_warnings_but_not_errors() {
    let input = fixture("helm3-replicas.yaml");
    let loud = run(
        &["--config", example("rwo-claim.yaml").to_str().unwrap()],
        &input,
    );
    assert!(
        loud.stderr
            .lines()
            .filter(|l| l.starts_with("polyrepo-render: changed"))
            .count()
            == 2,
        "{}",
        loud.stderr
    );
    let quiet = run(
        &[
            "-q",
            "--config",
            example("rwo-claim.yaml").to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(quiet.stderr, "");
    assert_eq!(quiet.stdout, loud.stdout);
    let bad = run(&["-q", "--config", "/nonexistent/polyrepo.yaml"], &input);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("cannot read config file"));
}

#[test]
fn invalid_yaml_fails_with_nothing_on_stdout_and_names_document_template_and_line() {
    for f in ["helm3-default.yaml", "helm4-default.yaml"] {
        let input = String::from_utf8(fixture(f)).unwrap();
        // Break the API Deployment's volumes.
        let broken = input.replacen(
            "  name: polyaxon-polyaxon-api\n  annotations:\n",
            "  name: polyaxon-polyaxon-api\n  bad: a: b\n  annotations:\n",
            1,
        );
        assert_ne!(broken, input);
        let r = run(&[], broken.as_bytes());
        assert_eq!(r.code, 1, "{f}");
        assert!(r.stdout.is_empty(), "{f}: stdout must stay empty");
        assert!(
            r.stderr.contains("invalid YAML in document"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("polyaxon/templates/api-deployment.yaml"),
            "{f}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(" line ") && r.stderr.contains(" column "),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn configuration_errors_exit_2_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("helm3-default.yaml");
    for (text, needle) in [
        (
            "repos:\n  existingclaim: x\n",
            "did you mean `existingClaim`",
        ),
        (
            "repos:\n  hostPath: /a\n  existingClaim: b\n",
            "repos.existingClaim",
        ),
        ("repos:\n  accessMode: Shared\n", "ReadWriteMany"),
    ] {
        let cfg = temp_file(dir.path(), "c.yaml", text);
        let r = run(&["--config", cfg.to_str().unwrap()], &input);
        assert_eq!(r.code, 2, "{text}");
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains(needle), "{}", r.stderr);
    }
    let r = run(&["--bogus"], &input);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
}

#[test]
fn help_and_version() {
    let h = run(&["--help"], b"");
    assert_eq!(h.code, 0);
    assert!(
        h.out().contains("--post-renderer polyrepo-render"),
        "worked example"
    );
    assert!(h.out().contains("--values"));
    let v = run(&["-V"], b"");
    assert!(v.out().starts_with("polyrepo-render "));
}

#[test]
fn unsafe_streams_exit_1_naming_claim_and_workloads() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("helm3-replicas.yaml");
    let cfg = temp_file(
        dir.path(),
        "c.yaml",
        "repos:\n  existingClaim: solo\n  accessMode: ReadWriteOncePod\n",
    );
    let r = run(&["--config", cfg.to_str().unwrap()], &input);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("claim solo") && r.stderr.contains("Deployment/polyaxon-polyaxon-api"),
        "{}",
        r.stderr
    );

    let input = String::from_utf8(fixture("helm3-default.yaml")).unwrap();
    let pinned = input.replacen("      serviceAccountName: polyaxon-polyaxon-serviceaccount\n      containers:\n      - name: polyaxon-api\n",
        "      nodeSelector:\n        kubernetes.io/hostname: worker-9\n      serviceAccountName: polyaxon-polyaxon-serviceaccount\n      containers:\n      - name: polyaxon-api\n", 1);
    assert_ne!(pinned, input);
    let r = run(
        &["--config", example("hostpath-node.yaml").to_str().unwrap()],
        pinned.as_bytes(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("worker-2") && r.stderr.contains("Deployment/polyaxon-polyaxon-api"),
        "{}",
        r.stderr
    );
}

/// A small Polyaxon Deployment full of YAML 1.1 traps.
const TRAPS: &str = "\
---
# Source: polyaxon/templates/api-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {type: polyaxon-core}
  annotations:
    octal: \"0755\"
    bool: 'yes'
    sci: \"1e3\"
    tilde: \"~\"
    n: \"n\"
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api, \"on\": \"on\"}
    spec:
      containers:
      - name: api   # the API
        image: x
        env:
        - name: POLYAXON_PERSISTENCE_REPOS
          value: '{\"existingClaim\":null,\"hostPath\":\"/tmp/repos\",\"mountPath\":\"/polyaxon-repos\",\"extra\":1}'
        volumeMounts:
        - {name: repos, mountPath: /polyaxon-repos}
        - name: cfg
          mountPath: /cfg
      volumes:
      - name: cfg
        configMap:
          name: c
          defaultMode: 0644
      - name: repos
        hostPath:
          path: /tmp/repos
---
apiVersion: v1
kind: ConfigMap
metadata: {name: anchors}
data:
  a: &x \"on\"
  b: *x
";

#[test]
fn yaml_1_1_meaning_survives_in_changed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(
        dir.path(),
        "c.yaml",
        "repos:\n  existingClaim: polyaxon-repos\n  accessMode: ReadWriteOnce\n  mountPath: /code\n",
    );
    let cfg = cfg.to_str().unwrap();
    let r = run(&["--config", cfg], TRAPS.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    for line in [
        "    octal: \"0755\"",
        "    bool: 'yes'",
        "    sci: \"1e3\"",
        "    tilde: \"~\"",
        "    n: \"n\"",
        "      labels: {app: api, \"on\": \"on\"",
        "          defaultMode: 0644",
        "      - name: api   # the API",
        "# Source: polyaxon/templates/api-deployment.yaml",
    ] {
        assert!(out.contains(line), "{line:?} lost:\n{out}");
    }
    let docs = documents(&out);
    let api = &docs[0].1;
    assert_eq!(pod_spec(api)["volumes"][0]["configMap"]["defaultMode"], 420);
    assert_eq!(api["metadata"]["annotations"]["bool"], "yes");
    assert_eq!(repos_env(api, 0)["extra"], 1, "unknown env keys are kept");
    assert_eq!(repos_env(api, 0)["existingClaim"], "polyaxon-repos");
    // Flow-style mount item rewritten in flow style.
    assert!(
        out.contains("- {\"name\": \"repos\", \"mountPath\": \"/code\"}"),
        "{out}"
    );
    // The untouched document with anchors is byte-identical.
    assert!(out.ends_with("data:\n  a: &x \"on\"\n  b: *x\n"));
    assert_eq!(run(&["--config", cfg], out.as_bytes()).stdout, r.stdout);
}

#[test]
fn crlf_documents_get_crlf_insertions() {
    let input = String::from_utf8(fixture("helm3-replicas.yaml"))
        .unwrap()
        .replace('\n', "\r\n");
    let r = run(
        &["--config", example("rwo-claim.yaml").to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    assert_ne!(out, input);
    assert!(
        !out.replace("\r\n", "").contains('\n'),
        "a bare LF was inserted"
    );
    let again = run(
        &["--config", example("rwo-claim.yaml").to_str().unwrap()],
        out.as_bytes(),
    );
    assert_eq!(again.out(), out);
}

#[test]
fn only_polyaxon_workloads_change_even_inside_a_list() {
    let third = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: other\n  labels: {release: polyaxon}\nspec:\n  replicas: 4\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i}]\n      volumes:\n      - name: repos\n        hostPath: {path: /somewhere}\n";
    let list = "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: listed\n    labels: {app.kubernetes.io/part-of: polyaxon-core}\n  spec:\n    replicas: 2\n    selector: {matchLabels: {a: l}}\n    template:\n      metadata: {labels: {a: l}}\n      spec:\n        containers: [{name: c, image: i}]\n        volumes:\n        - name: repos\n          hostPath: {path: /tmp/repos}\n";
    let input = format!("{third}{list}");
    let r = run(
        &["--config", small_config("rwo-claim.yaml").to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    assert!(out.starts_with(third), "third-party Deployment untouched");
    let docs = documents(&out);
    let item = &docs[1].1["items"][0];
    assert_eq!(
        repos_volume(item)["persistentVolumeClaim"]["claimName"],
        "polyaxon-repos"
    );
    assert!(common::colocation(item).is_some());
}

/// Copy `i` of a capture, every metadata.name suffixed (as scripts/gen-stream does).
fn renamed_copy(text: &str, i: usize) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("  name: ") {
            Some(n) if n.starts_with('"') => format!("  name: \"{}-c{i}\"\n", n.trim_matches('"')),
            Some(n) => format!("  name: {n}-c{i}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn large_streams_take_the_lazy_path_with_the_same_result() {
    // Over 1 MB, documents are validated by an event pass and only candidates
    // get trees (on several threads); the result must equal the one-pass path
    // that small inputs take, copy by copy.
    let capture = String::from_utf8(fixture("helm3-scheduling.yaml")).unwrap();
    let config = root().join("benches/bench-config.yaml");
    let args = ["--config", config.to_str().unwrap()];
    let copies: Vec<String> = (0..16).map(|i| renamed_copy(&capture, i)).collect();
    let whole = copies.concat();
    assert!(whole.len() > 1 << 20);
    let big = run(&args, whole.as_bytes());
    assert_eq!(big.code, 0, "{}", big.stderr);
    let pieces: String = copies
        .iter()
        .map(|c| {
            let r = run(&args, c.as_bytes());
            assert_eq!(r.code, 0, "{}", r.stderr);
            r.out()
        })
        .collect();
    assert!(big.out() == pieces, "lazy and one-pass paths differ");
    assert_ne!(pieces, whole);
    // Errors too: the right document, template and line in the whole stream.
    let target = "  name: polyaxon-polyaxon-api-c9\n";
    let at = whole.find(target).unwrap();
    let broken = whole.replacen(target, "  name: [polyaxon-polyaxon-api-c9\n", 1);
    let r = run(&args, broken.as_bytes());
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    let doc = whole[..at].matches("---\n# Source: ").count();
    let line = whole[..at].matches('\n').count() + 1;
    let template = whole[..at]
        .rsplit("# Source: ")
        .next()
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let want = format!(
        "invalid YAML in document {doc} ({template}) at line {}",
        line + 1
    );
    assert!(r.stderr.contains(&want), "want {want:?} in {}", r.stderr);
}

#[test]
fn a_configured_selector_replaces_the_chart_labels() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(
        dir.path(),
        "c.yaml",
        "repos:\n  existingClaim: shared\n  accessMode: ReadWriteMany\nworkloads:\n  selector:\n    matchLabels: {team: ml}\n    matchExpressions:\n    - {key: tier, operator: NotIn, values: [db]}\n",
    );
    let deployment = |name: &str, labels: &str| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels: {labels}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: c, image: i}}]\n      volumes:\n      - name: repos\n        hostPath: {{path: /tmp/repos}}\n"
        )
    };
    let input = [
        deployment("mine", "{team: ml}"),
        deployment("db", "{team: ml, tier: db}"),
        deployment("chart", "{type: polyaxon-core}"),
    ]
    .concat();
    let r = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    assert_eq!(
        repos_volume(find(&docs, "Deployment", "mine"))["persistentVolumeClaim"]["claimName"],
        "shared"
    );
    for untouched in ["db", "chart"] {
        assert_eq!(
            repos_volume(find(&docs, "Deployment", untouched))["hostPath"]["path"],
            "/tmp/repos",
            "{untouched}"
        );
    }
}

#[test]
fn jobs_count_their_parallelism_and_cronjobs_are_patched_in_their_job_template() {
    let job = "---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: build\n  labels: {type: polyaxon-core}\nspec:\n  parallelism: 3\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: i}]\n      volumes:\n      - name: repos\n        hostPath: {path: /tmp/repos}\n";
    let cron = "---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: clean\n  labels: {type: polyaxon-core}\nspec:\n  schedule: \"0 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels: {app: clean}\n        spec:\n          restartPolicy: Never\n          containers:\n          - name: c\n            image: i\n          volumes:\n          - name: repos\n            hostPath: {path: /tmp/repos}\n";
    // The Job alone: 3 pods on a host path, co-located.
    let r = run(&[], job.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    let j = find(&docs, "Job", "build");
    assert!(common::colocation(j).is_some(), "{}", r.out());
    // With the CronJob: both join the group; the CronJob's pods are in its job template.
    let r = run(
        &[
            "--config",
            small_config("hostpath-node.yaml").to_str().unwrap(),
        ],
        format!("{job}{cron}").as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.out());
    let c = find(&docs, "CronJob", "clean");
    let pod = &c["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][0]["hostPath"]["path"],
        "/data/polyaxon/repos"
    );
    let terms = &pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    assert_eq!(terms[0]["matchExpressions"][0]["values"][0], "worker-2");
    assert!(c["metadata"]["annotations"]["polyrepo-render/changes"].is_string());
}

#[test]
fn the_report_goes_to_the_file_named_by_polyrepo_report_too() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let input = fixture("helm3-replicas.yaml");
    let r = run_env(
        &[
            "-q",
            "--config",
            example("rwo-claim.yaml").to_str().unwrap(),
        ],
        &input,
        &[("POLYREPO_REPORT", report.to_str().unwrap())],
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.stderr, "", "quiet");
    let text = std::fs::read_to_string(&report).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("polyrepo-render: changed document"))
            .count(),
        2,
        "{text}"
    );
}

/// `patches` reports as the post-renderer does: `--strict` (and
/// `POLYREPO_STRICT`) fail on a warning with nothing on stdout, `--quiet`
/// prints nothing but errors, `--report FILE` gets the report. `--check`
/// says only what differs (no change report), and reads the same with or
/// without `-n` (the README's CI example passes `-n polyaxon`).
#[test]
fn patches_takes_the_ci_flags_and_check_says_only_what_differs() {
    let input = fixture("helm3-default.yaml");
    let flux = root().join("examples/flux/helmrelease.yaml");
    let cfg = example("rwo-claim.yaml");
    let (cfg, flux) = (cfg.to_str().unwrap(), flux.to_str().unwrap());
    for r in [
        run(&["patches", "--format", "flux", "--strict"], &input),
        run_env(
            &["patches", "--format", "flux"],
            &input,
            &[("POLYREPO_STRICT", "1")],
        ),
    ] {
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains("--strict"), "{}", r.stderr);
    }
    let r = run(
        &[
            "patches", "--format", "flux", "--config", cfg, "--strict", "-q",
        ],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.out().contains("postRenderers:"));
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let r = run(
        &[
            "patches",
            "--format",
            "flux",
            "--config",
            cfg,
            "--report",
            report.to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("changed document 31"), "{text}");
    for ns in [&[][..], &["-n", "polyaxon"][..]] {
        let mut args = vec![
            "patches", "--format", "flux", "--config", cfg, "--check", flux,
        ];
        args.extend(ns);
        let r = run(&args, &input);
        assert_eq!(r.code, 0, "{ns:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(!r.stderr.contains("changed "), "{}", r.stderr);
        assert!(
            r.stderr.contains("holds the patches this render needs"),
            "{}",
            r.stderr
        );
    }
    // Out of date: what differs, and nothing else.
    let stale = temp_file(
        dir.path(),
        "stale.yaml",
        &std::fs::read_to_string(flux)
            .unwrap()
            .replace("claimName: polyaxon-repos", "claimName: old-repos"),
    );
    let r = run(
        &[
            "patches",
            "--format",
            "flux",
            "--config",
            cfg,
            "--check",
            stale.to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is out of date"), "{}", r.stderr);
    assert!(!r.stderr.contains("changed "), "{}", r.stderr);
}

/// The stream as a file argument, as kubectl, kustomize and yq read one:
/// the same output as on stdin (`-` is stdin); a pipe is read like stdin;
/// a device or a folder is refused at once (exit 2), never read forever.
#[test]
fn the_stream_may_be_a_file_argument() {
    let input = fixture("helm3-default.yaml");
    let path = root().join("tests/fixtures/polyaxon-0.6.1/helm3-default.yaml");
    let path = path.to_str().unwrap();
    let cfg = example("rwo-claim.yaml");
    let cfg = cfg.to_str().unwrap();
    let piped = run(&["--config", cfg], &input);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let named = run(&["--config", cfg, path], b"ignored: stdin is not read\n");
    assert_eq!(named.code, 0, "{}", named.stderr);
    assert_eq!(named.stdout, piped.stdout);
    assert_eq!(run(&["--config", cfg, "-"], &input).stdout, piped.stdout);
    let patches = run(&["patches", "--format", "flux", "--config", cfg, path], b"");
    assert_eq!(patches.code, 0, "{}", patches.stderr);
    assert_eq!(
        patches.stdout,
        run(&["patches", "--format", "flux", "--config", cfg], &input).stdout
    );
    // A named pipe, written by another process.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stream");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = {
        let (fifo, input) = (fifo.clone(), input.clone());
        std::thread::spawn(move || std::fs::write(fifo, input).unwrap())
    };
    let r = run(&["--config", cfg, fifo.to_str().unwrap()], b"");
    writer.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, piped.stdout);
    for (bad, what) in [("/dev/zero", "a device"), ("/tmp", "a folder")] {
        let r = run(&[bad], b"");
        assert_eq!(r.code, 2, "{bad}");
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains(&format!("it is {what}")), "{}", r.stderr);
    }
}

/// Shell completions for bash, zsh and fish, and a man page.
#[test]
fn completions_and_a_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell], b"");
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        let text = r.out();
        assert!(
            text.contains("patches") && text.contains("strict"),
            "{shell}: {text}"
        );
    }
    let bash = run(&["completions", "bash"], b"").out();
    let dir = tempfile::tempdir().unwrap();
    let script = temp_file(dir.path(), "c.bash", &bash);
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(check.success(), "the bash completion parses");
    let man = run(&["man"], b"");
    assert_eq!(man.code, 0, "{}", man.stderr);
    let page = man.out();
    assert!(page.contains(".TH polyrepo-render 1"), "{page}");
    assert!(
        page.contains("POLYREPO_CONFIG") && page.contains("patches"),
        "{page}"
    );
}

/// `diff`: a unified diff of each changed document, its header naming the
/// document, template and objects, its hunks numbered as in the input and
/// output streams (checked line by line against both), coloured only when
/// asked (or on a terminal); the same flags and exit codes as the
/// post-renderer, nothing on stdout on an error.
#[test]
fn diff_shows_each_changed_document_numbered_as_the_streams() {
    let input = fixture("helm3-default.yaml");
    let cfg = example("rwo-claim.yaml");
    let cfg = cfg.to_str().unwrap();
    let output = run(&["--config", cfg], &input).out();
    let r = run(&["diff", "--config", cfg], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let diff = r.out();
    assert!(!diff.contains('\x1b'), "no colour off a terminal");
    let input = String::from_utf8(input).unwrap();
    let (ins, outs): (Vec<&str>, Vec<&str>) = (input.lines().collect(), output.lines().collect());
    let headers: Vec<&str> = diff.lines().filter(|l| l.starts_with("--- ")).collect();
    assert_eq!(
        headers,
        [
            "--- document 31 (polyaxon/templates/api-deployment.yaml) Deployment/polyaxon-polyaxon-api (input)",
            "--- document 37 (polyaxon/templates/scheduler-deployment.yaml) Deployment/polyaxon-polyaxon-scheduler (input)",
        ]
    );
    let (mut old, mut new) = (0usize, 0usize);
    let mut hunks = 0;
    for line in diff.lines() {
        if let Some(r) = line
            .strip_prefix("@@ -")
            .and_then(|r| r.strip_suffix(" @@"))
        {
            let (a, b) = r.split_once(" +").unwrap();
            old = a.split(',').next().unwrap().parse().unwrap();
            new = b.split(',').next().unwrap().parse().unwrap();
            hunks += 1;
        } else if line.starts_with("---") || line.starts_with("+++") {
        } else if let Some(l) = line.strip_prefix('-') {
            assert_eq!(ins[old - 1], l, "input line {old}");
            old += 1;
        } else if let Some(l) = line.strip_prefix('+') {
            assert_eq!(outs[new - 1], l, "output line {new}");
            new += 1;
        } else {
            let l = line.strip_prefix(' ').unwrap_or(line);
            assert_eq!((ins[old - 1], outs[new - 1]), (l, l), "line {old} / {new}");
            old += 1;
            new += 1;
        }
    }
    assert!(hunks >= 6, "{diff}");
    let coloured = run(
        &["diff", "--color", "always", "--config", cfg],
        input.as_bytes(),
    )
    .out();
    assert!(
        coloured.contains("\x1b[32m+") && coloured.contains("\x1b[31m-"),
        "{coloured}"
    );
    let refused = run(
        &["diff", "--config", cfg, "--strict"],
        b"apiVersion: v1\nkind: ConfigMap\n",
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stdout.is_empty());
}
