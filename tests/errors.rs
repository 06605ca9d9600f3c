//! The messages users see for the most likely failures, snapshotted:
//! each names the file or document, the template when known, the line and
//! column, and what to do. Every one leaves stdout empty.

mod common;

use common::*;
use std::process::Command;

/// Runs in a temporary folder holding `polyrepo.yaml` = `config` (when
/// given), so that messages carry no machine paths.
fn failure(config: Option<&str>, input: &[u8], expected_code: i32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"));
    cmd.current_dir(dir.path())
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT");
    if let Some(c) = config {
        std::fs::write(dir.path().join("polyrepo.yaml"), c).unwrap();
        cmd.args(["--config", "polyrepo.yaml"]);
    }
    let r = run_cmd(cmd, input);
    assert_eq!(r.code, expected_code, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "stdout must stay empty on failure");
    r.stderr
}

fn helm3(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

#[test]
fn messages_of_the_top_ten_failure_modes() {
    let api_meta = "  name: polyaxon-polyaxon-api\n  annotations:\n";
    let cases: Vec<(&str, Option<&str>, Vec<u8>, i32)> = vec![
        (
            "01-invalid-yaml-helm3",
            None,
            helm3("helm3-default.yaml").replacen(api_meta, "  name: polyaxon-polyaxon-api\n  bad: a: b\n  annotations:\n", 1).into_bytes(),
            1,
        ),
        (
            "02-invalid-yaml-helm4",
            None,
            helm3("helm4-default.yaml").replacen(api_meta, "  name: polyaxon-polyaxon-api\n  bad: [\n  annotations:\n", 1).into_bytes(),
            1,
        ),
        ("03-not-utf8", None, b"---\n# Source: chart/templates/cm.yaml\ndata:\n  k: \xe9t\xe9\n".to_vec(), 1),
        (
            "04-alias-bomb",
            None,
            {
                let mut s = String::from("---\n# Source: chart/templates/lol.yaml\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                for i in 1..8 {
                    s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
                }
                s.into_bytes()
            },
            1,
        ),
        ("05-unknown-config-key", Some("repos:\n  existingclaim: polyaxon-repos\n"), fixture("helm3-default.yaml"), 2),
        ("06-two-sources", Some("repos:\n  hostPath: /data/repos\n  existingClaim: polyaxon-repos\n"), fixture("helm3-default.yaml"), 2),
        (
            "07-read-write-once-pod-with-replicas",
            Some("repos:\n  existingClaim: solo\n  accessMode: ReadWriteOncePod\n"),
            fixture("helm3-replicas.yaml"),
            1,
        ),
        (
            "08-pin-forbidden-by-node-selector",
            Some("repos:\n  hostPath: /data/repos\n  node: worker-2\n"),
            helm3("helm3-scheduling.yaml").replacen("      nodeSelector:\n        pool: polyaxon\n", "      nodeSelector:\n        pool: polyaxon\n        kubernetes.io/hostname: worker-9\n", 1).into_bytes(),
            1,
        ),
        (
            "09-workload-kubernetes-would-refuse",
            None,
            helm3("helm3-default.yaml")
                .replacen("spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: polyaxon-polyaxon-api\n", "spec:\n  replicas: one\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: polyaxon-polyaxon-api\n", 1)
                .into_bytes(),
            1,
        ),
        (
            "10-duplicate-key-in-workload",
            None,
            helm3("helm3-default.yaml").replacen(api_meta, "  name: polyaxon-polyaxon-api\n  name: polyaxon-api-2\n  annotations:\n", 1).into_bytes(),
            1,
        ),
        (
            "11-no-source-for-mount-into",
            Some("workloads:\n  mountInto: [\"*-scheduler\"]\n"),
            helm3("helm3-default.yaml").replace("      - name: repos\n        hostPath:\n          path: \"/tmp/repos\"\n", "").into_bytes(),
            2,
        ),
        (
            "12-anti-affinity-against-its-own-rollout",
            None,
            helm3("helm3-default.yaml").replacen("      affinity:\n        podAffinity:\n", "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector: {matchLabels: {app.kubernetes.io/name: polyaxon-polyaxon-api}}\n            topologyKey: kubernetes.io/hostname\n        podAffinity:\n", 1).into_bytes(),
            1,
        ),
        (
            "13-host-network-and-a-surge-pod",
            None,
            helm3("helm3-default.yaml").replacen("      serviceAccountName: polyaxon-polyaxon-serviceaccount\n", "      hostNetwork: true\n      serviceAccountName: polyaxon-polyaxon-serviceaccount\n", 1).into_bytes(),
            1,
        ),
        (
            "14-node-name-beside-a-hostname",
            Some("repos:\n  node: worker-2\n"),
            helm3("helm3-default.yaml").replacen("      serviceAccountName: polyaxon-polyaxon-serviceaccount\n", "      nodeName: node-7\n      serviceAccountName: polyaxon-polyaxon-serviceaccount\n", 1).into_bytes(),
            1,
        ),
        (
            "15-two-volumes-named-repos",
            None,
            helm3("helm3-default.yaml").replacen("      - name: outputs\n        hostPath:", "      - name: repos\n        hostPath:", 1).into_bytes(),
            1,
        ),
        (
            "16-relabelled-core-type-still-refused",
            Some("repos:\n  existingClaim: solo\n  accessMode: ReadWriteOncePod\n"),
            helm3("helm3-replicas.yaml").replace("polyaxon-core", "my-core").into_bytes(),
            1,
        ),
        (
            // Found by the fuzzer: a changed object is read whole, and a
            // collection as a mapping key is the input's fault, not a bug.
            "17-workload-kubernetes-cannot-read",
            None,
            helm3("helm3-default.yaml").replacen(api_meta, "  name: polyaxon-polyaxon-api\n  ? [a, b]\n  : c\n  annotations:\n", 1).into_bytes(),
            1,
        ),
        (
            // Every mistake of a config in one run, each with its place.
            "18-three-config-errors-at-once",
            Some("repos:\n  existingclaim: x\n  accessMode: RWO\nworkloads:\n  selector: {matchExpressions: [{key: a, operator: Has}]}\nacknowledge: [host-data]\nnodes: w1\n"),
            fixture("helm3-default.yaml"),
            2,
        ),
        (
            "19-settings-that-match-nothing",
            Some("workloads:\n  mountInto: [\"*-schedular\"]\nignore: [logz]\nnode: w1\nrepos:\n  node: w2\n  existingClaim: shared\n  accessMode: ReadWriteMany\n"),
            // The chart's host paths as emptyDirs: no host data needs `node`.
            helm3("helm3-default.yaml").replace("hostPath:\n          path: \"/tmp/", "emptyDir: {}\n        x-was: \"/tmp/").into_bytes(),
            2,
        ),
    ];
    for (name, config, input, code) in cases {
        let msg = failure(config, &input, code);
        // Every position given is a line and a column.
        for (i, _) in msg.match_indices("line ") {
            let after = &msg[i + 5..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                assert!(
                    after[digits..].starts_with(" column "),
                    "{name}: a line without a column: {msg}"
                );
            }
        }
        snap!(name, msg);
    }
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let r = run(&["--config", "does-not-exist.yaml"], b"");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("cannot read config file does-not-exist.yaml"),
        "{}",
        r.stderr
    );
}

/// Runs the debug build with `POLYREPO_TEST_FAULT=fault` on `input` with
/// `config` (in a temporary folder); `None` in a release build, which has
/// no fault injection.
fn with_fault(fault: &str, config: Option<&str>, input: &[u8]) -> Option<Run> {
    if !cfg!(debug_assertions) {
        eprintln!("skipping: fault injection exists in debug builds only");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"));
    cmd.current_dir(dir.path())
        .env("POLYREPO_TEST_FAULT", fault)
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT");
    if let Some(c) = config {
        std::fs::write(dir.path().join("polyrepo.yaml"), c).unwrap();
        cmd.args(["--config", "polyrepo.yaml"]);
    }
    Some(run_cmd(cmd, input))
}

/// The last line of defence: an edit no plan makes (injected by the debug
/// build's `POLYREPO_TEST_FAULT`) is caught by the final check, which stops
/// the run with exit 1, nothing on stdout, and says it is a bug.
#[test]
fn a_wrong_edit_is_caught_as_a_bug_and_nothing_is_written() {
    let config = std::fs::read_to_string(root().join("examples/rwo-claim.yaml")).unwrap();
    let input = fixture("helm3-default.yaml");
    // The same run without the fault succeeds.
    let ok = run(
        &[
            "--config",
            root().join("examples/rwo-claim.yaml").to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let Some(r) = with_fault("replicas", Some(&config), &input) else {
        return;
    };
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing reaches Helm");
    assert!(
        r.stderr.contains("api-deployment.yaml")
            && r.stderr
                .contains("differs from the input beyond the planned changes")
            && r.stderr
                .contains("This is a bug in polyrepo-render; nothing was written"),
        "{}",
        r.stderr
    );
}

/// The placement check is the net under the planner: with the co-location
/// terms dropped (debug-build fault injection), the output passes `verify`
/// but the pods could be split, so the run stops: exit 1, nothing written.
#[test]
fn pods_left_free_to_split_are_caught_and_nothing_is_written() {
    let Some(r) = with_fault("no-colocation", None, &fixture("helm3-default.yaml")) else {
        return;
    };
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing reaches Helm");
    assert!(
        r.stderr.contains("polyaxon-polyaxon-api") && r.stderr.contains("bug in polyrepo-render"),
        "{}",
        r.stderr
    );
}

/// The net under the splicer for what `verify` forgives: with the repos
/// volume's new source left out (debug-build fault injection, as an edit
/// written into a comment once did), the output passes `verify` (nothing
/// changed that it does not forgive) but lacks what the plan adds, so the
/// run stops: exit 1, nothing written.
#[test]
fn a_planned_volume_missing_from_the_output_is_caught_and_nothing_is_written() {
    let config = std::fs::read_to_string(example("rwo-claim.yaml")).unwrap();
    let Some(r) = with_fault("lost-volume", Some(&config), &fixture("helm3-default.yaml")) else {
        return;
    };
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing reaches Helm");
    assert!(
        r.stderr
            .contains("planned repos volume is not in the output")
            && r.stderr.contains("bug in polyrepo-render"),
        "{}",
        r.stderr
    );
}
