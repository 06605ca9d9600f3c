//! Every patched fixture output validates strictly against Kubernetes 1.33's
//! schemas with `kubernetes-validate` (PyPI; .ci/run installs it). The chart's
//! `rbac.authorization.k8s.io/v1beta1` objects are unknown to 1.33: those
//! kinds, and only those, are left out.
//!
//! With CI=true a missing `kubernetes-validate` fails these tests; locally
//! they are reported as ignored (libtest-mimic harness, see `main`).

mod common;
mod oracle;

use common::*;
use std::process::Command;

const SKIPPED_KINDS: [&str; 4] = ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];

/// `python3 -m kubernetes_validate` (no dependence on where pip put the script).
fn validator() -> Command {
    let mut c = Command::new("python3");
    c.args(["-m", "kubernetes_validate"]);
    c
}

fn validator_installed() -> bool {
    validator()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The stream without the rbac v1beta1 documents: cut at its `---` lines
/// (Helm's separators), each piece read by the test oracle.
fn without_v1beta1_rbac(text: &str) -> (String, usize) {
    let mut pieces: Vec<String> = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") && !pieces.last().unwrap().trim().is_empty() {
            pieces.push(String::new());
        }
        pieces.last_mut().unwrap().push_str(line);
    }
    let mut out = String::new();
    let mut skipped = 0;
    for p in pieces {
        let docs = oracle::read(&p).expect("the output parses");
        let Some(d) = docs.first().filter(|d| !d.is_null()) else {
            continue;
        };
        let kind = d["kind"].as_str().unwrap_or("");
        if d["apiVersion"] == "rbac.authorization.k8s.io/v1beta1" && SKIPPED_KINDS.contains(&kind) {
            skipped += 1;
            continue;
        }
        if !p.starts_with("---") {
            out.push_str("---\n");
        }
        out.push_str(&p);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    (out, skipped)
}

fn patched_fixtures_validate_strictly_against_kubernetes_1_33() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for f in fixtures() {
        let input = fixture(&f);
        let mut configs: Vec<Option<&str>> = vec![None];
        configs.extend(
            [
                "default-hostpath.yaml",
                "hostpath-node.yaml",
                "rwo-claim.yaml",
                "rwx-claim.yaml",
                "external.yaml",
            ]
            .map(Some),
        );
        for c in configs {
            let path = c.map(example);
            let args: Vec<&str> = match &path {
                Some(p) => vec!["--config", p.to_str().unwrap()],
                None => vec![],
            };
            let r = run(&args, &input);
            assert_eq!(r.code, 0, "{f} {c:?}: {}", r.stderr);
            let (kept, skipped) = without_v1beta1_rbac(&r.out());
            assert!(
                skipped <= 6,
                "only the chart's rbac v1beta1 objects are skipped"
            );
            let name = format!("{}--{}", f.trim_end_matches(".yaml"), c.unwrap_or("none"));
            let file = temp_file(dir.path(), &name, &kept);
            files.push(file);
        }
    }
    let out = validator()
        .args(["--strict", "--kubernetes-version", "1.33", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{report}"
    );
    assert!(
        report.trim().is_empty(),
        "kubernetes-validate reported:\n{report}"
    );
}

fn the_validator_does_catch_a_bad_field() {
    // Guards against a validator that passes everything.
    let dir = tempfile::tempdir().unwrap();
    let text = String::from_utf8(fixture("helm3-default.yaml"))
        .unwrap()
        .replacen("  replicas: 1\n", "  replicas: \"1\"\n", 1);
    let (kept, _) = without_v1beta1_rbac(&text);
    let file = temp_file(dir.path(), "bad.yaml", &kept);
    let out = validator()
        .args(["--strict", "-k", "1.33", "--quiet"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success() || !out.stdout.is_empty(),
        "a string replicas must be reported"
    );
}

fn main() {
    let missing = (!validator_installed()).then(|| {
        "kubernetes-validate is not installed (pip install kubernetes-validate==1.37.0)".to_string()
    });
    run_needing(
        missing,
        vec![
            (
                "patched_fixtures_validate_strictly_against_kubernetes_1_33",
                patched_fixtures_validate_strictly_against_kubernetes_1_33,
            ),
            (
                "the_validator_does_catch_a_bad_field",
                the_validator_does_catch_a_bad_field,
            ),
        ],
    )
}
