//! `polyrepo-render patches` (issue 12), proven with the real kustomize:
//! for every Helm capture and every example config, the emitted patches,
//! applied by `kubectl kustomize` (kubectl 1.35.2, kustomize 5.7.1, fetched
//! by `scripts/fetch-helm.sh`) to the same render, give exactly the objects
//! the post-renderer writes, as Kubernetes reads them (the oracle), object
//! for object; both formats (a Flux HelmRelease's `postRenderers:` and a
//! kustomization's `patches:`). Plus snapshots of the emitted patches and
//! the `--check` mode.
//!
//! With CI=true a missing kubectl fails these tests; locally they are
//! reported as ignored (libtest-mimic harness), never as passed.

mod common;
mod oracle;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const CONFIGS: [&str; 5] = [
    "default-hostpath.yaml",
    "external.yaml",
    "hostpath-node.yaml",
    "rwo-claim.yaml",
    "rwx-claim.yaml",
];

fn kubectl() -> PathBuf {
    root().join("target/helm-bin/kubectl")
}

/// Objects by `apiVersion/kind/namespace/name`, as the oracle reads them.
fn objects(text: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for doc in oracle::read(text).unwrap() {
        if doc.is_null() {
            continue;
        }
        let items = if doc["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
            doc["items"].as_array().cloned().unwrap_or_default()
        } else {
            vec![doc]
        };
        for o in items {
            let id = format!(
                "{}/{}/{}/{}",
                o["apiVersion"].as_str().unwrap_or(""),
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            );
            assert!(out.insert(id.clone(), o).is_none(), "{id} twice");
        }
    }
    out
}

fn patches(format: &str, config: &str, input: &[u8]) -> String {
    let r = run(
        &[
            "patches",
            "--format",
            format,
            "--config",
            example(config).to_str().unwrap(),
        ],
        input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.out()
}

/// The `patches:` entries of either format, as a kustomization's list.
fn entries(format: &str, text: &str) -> Value {
    let v = &oracle::read(text).unwrap()[0];
    match format {
        "flux" => v["postRenderers"][0]["kustomize"]["patches"].clone(),
        _ => v["patches"].clone(),
    }
}

/// `kubectl kustomize` of the render with the patches.
fn kustomize(render: &[u8], patch_list: &Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("render.yaml"), render).unwrap();
    let k = serde_json::json!({"resources": ["render.yaml"], "patches": patch_list});
    // JSON is YAML.
    std::fs::write(dir.path().join("kustomization.yaml"), k.to_string()).unwrap();
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn patched_objects_equal_the_post_renderers_for_every_capture_and_config() {
    let mut checked = 0;
    for fixture in fixtures() {
        let input = common::fixture(&fixture);
        for config in CONFIGS {
            let r = run(&["--config", example(config).to_str().unwrap()], &input);
            assert_eq!(r.code, 0, "{fixture} {config}: {}", r.stderr);
            let want = objects(&r.out());
            for format in ["flux", "kustomize"] {
                let list = entries(format, &patches(format, config, &input));
                let got = objects(&kustomize(&input, &list));
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "{fixture} {config} {format}"
                );
                for (id, w) in &want {
                    assert!(got[id] == *w, "{fixture} {config} {format}: {id} differs");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8 * CONFIGS.len() * 2);
}

fn the_check_says_whether_patches_still_fit_a_render() {
    let input = common::fixture("helm3-default.yaml");
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(
        dir.path(),
        "patches.yaml",
        &patches("flux", "rwo-claim.yaml", &input),
    );
    let check = |config: &str, input: &[u8]| {
        run(
            &[
                "patches",
                "--format",
                "flux",
                "--config",
                example(config).to_str().unwrap(),
                "--check",
                file.to_str().unwrap(),
            ],
            input,
        )
    };
    let ok = check("rwo-claim.yaml", &input);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.is_empty());
    // Another config: the file is out of date, and says which object.
    let stale = check("rwx-claim.yaml", &input);
    assert_eq!(stale.code, 1, "{}", stale.stderr);
    assert!(stale.stdout.is_empty());
    assert!(
        stale.stderr.contains("out of date") && stale.stderr.contains("polyaxon-polyaxon-api"),
        "{}",
        stale.stderr
    );
    // The example HelmRelease holds the patches of that render.
    let release = root().join("examples/flux/helmrelease.yaml");
    let r = run(
        &[
            "patches",
            "--format",
            "flux",
            "--config",
            example("rwo-claim.yaml").to_str().unwrap(),
            "--check",
            release.to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(
        r.code, 0,
        "examples/flux/helmrelease.yaml is stale: {}",
        r.stderr
    );
    // Another release name: the objects are named differently.
    let renamed = String::from_utf8(input.clone())
        .unwrap()
        .replace("polyaxon-polyaxon-", "other-polyaxon-");
    assert_eq!(check("rwo-claim.yaml", renamed.as_bytes()).code, 1);
}

/// Inputs that once broke `patches` (found by attacking it): a custom
/// resource of kind Deployment with the same name (the target names the
/// group), repeated env names (kustomize's strategic merge collapsed them),
/// and a name another namespace also uses (refused: a target without a
/// namespace would patch both).
fn inputs_that_once_broke_patches() {
    let dir = tempfile::tempdir().unwrap();
    let node = temp_file(dir.path(), "polyrepo.yaml", "node: worker-1\n");
    let plain = temp_file(dir.path(), "empty.yaml", "");
    let file = |n: &str| std::fs::read(root().join("tests/fixtures/patches").join(n)).unwrap();
    // F3b's repos is an emptyDir: no host data, so no node to name.
    for (name, cfg) in [
        ("F2-group-collision.yaml", &node),
        ("F3-dup-env.yaml", &node),
        ("F3b-dup-env-fails.yaml", &plain),
    ] {
        let input = file(name);
        let r = run(&["--config", cfg.to_str().unwrap()], &input);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let want = objects(&r.out());
        let p = run(
            &[
                "patches",
                "--format",
                "kustomize",
                "--config",
                cfg.to_str().unwrap(),
            ],
            &input,
        );
        assert_eq!(p.code, 0, "{name}: {}", p.stderr);
        let got = objects(&kustomize(&input, &entries("kustomize", &p.out())));
        assert_eq!(got, want, "{name}");
    }
    let r = run(
        &[
            "patches",
            "--format",
            "kustomize",
            "--config",
            node.to_str().unwrap(),
        ],
        &file("F1-ns-collision.yaml"),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("Deployment/api") && r.stderr.contains("would patch both"),
        "{}",
        r.stderr
    );
}

fn emitted_patches_match_their_snapshots() {
    for (fixture, config, format) in [
        ("helm3-default.yaml", "rwo-claim.yaml", "flux"),
        ("helm4-replicas.yaml", "hostpath-node.yaml", "kustomize"),
    ] {
        let text = patches(format, config, &common::fixture(fixture));
        let name = format!(
            "patches__{format}__{}__{}",
            fixture.trim_end_matches(".yaml"),
            config.trim_end_matches(".yaml")
        );
        snap!(name, text);
    }
}

fn main() {
    let missing =
        (!kubectl().is_file()).then(|| "kubectl is missing: run scripts/fetch-helm.sh".to_string());
    run_needing(
        missing,
        vec![
            (
                "patched_objects_equal_the_post_renderers_for_every_capture_and_config",
                patched_objects_equal_the_post_renderers_for_every_capture_and_config,
            ),
            (
                "the_check_says_whether_patches_still_fit_a_render",
                the_check_says_whether_patches_still_fit_a_render,
            ),
            (
                "emitted_patches_match_their_snapshots",
                emitted_patches_match_their_snapshots,
            ),
            (
                "inputs_that_once_broke_patches",
                inputs_that_once_broke_patches,
            ),
        ],
    )
}
