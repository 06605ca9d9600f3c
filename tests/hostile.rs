//! Hostile and unusual input, one explicit test each: refused quickly with a
//! located error and nothing on stdout, or passed through / patched exactly.

mod common;
mod oracle;

use common::*;

/// Runs the binary under a 1 GiB address-space limit (speed is measured by
/// the benches, not asserted here).
fn run_bounded(args: &[&str], input: &[u8]) -> Run {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "ulimit -v 1048576; exec '{}' {}",
        env!("CARGO_BIN_EXE_polyrepo-render"),
        quoted.join(" ")
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT");
    run_cmd(cmd, input)
}

fn refused(r: &Run, needle: &str) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "stdout must stay empty");
    assert!(r.stderr.contains(needle), "{}", r.stderr);
}

/// A Polyaxon Deployment mounting a host path, for patch tests.
const API: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels:\n    type: polyaxon-core\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: api\n        image: x\n      volumes:\n      - name: repos\n        hostPath: {path: /tmp/repos}\n";

fn claim_args() -> Vec<String> {
    vec![
        "--config".into(),
        example("rwo-claim.yaml").to_str().unwrap().into(),
    ]
}

fn patch(input: &str) -> Run {
    let a = claim_args();
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let r = run(&args, input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let again = run(&args, &r.stdout);
    assert_eq!(again.stdout, r.stdout, "idempotent");
    r
}

#[test]
fn alias_bomb_is_refused_fast_in_bounded_memory() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..20 {
        bomb.push_str(&format!(
            "  a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 9].join(", ")
        ));
    }
    refused(&run_bounded(&[], bomb.as_bytes()), "alias");
}

#[test]
fn ten_thousand_levels_of_nesting_do_not_overflow_the_stack() {
    let flow = "a: ".to_string() + &"[".repeat(10_000) + &"]".repeat(10_000) + "\n";
    refused(&run_bounded(&[], flow.as_bytes()), "nesting");
    let block = "- ".repeat(10_000) + "x\n";
    refused(&run_bounded(&[], block.as_bytes()), "nesting");
    let maps = (0..10_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect::<String>();
    refused(&run_bounded(&[], maps.as_bytes()), "nesting");
}

#[test]
fn a_50_mb_scalar_passes_through() {
    let mut input =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: ");
    input.push_str(&"x".repeat(50 * 1024 * 1024));
    input.push('\n');
    let r = run_bounded(&[], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout == input.as_bytes());
}

#[test]
fn invalid_utf8_and_nul_bytes_are_refused_with_a_location() {
    refused(&run(&[], b"a: 1\nb: \xc3\x28\n"), "line 2");
    refused(&run(&[], b"a: 1\nb: x\x00y\n"), "line 2");
}

#[test]
fn a_bom_is_kept_and_the_document_after_it_patched() {
    let input = format!("\u{feff}{API}");
    let r = patch(&input);
    let out = r.out();
    assert!(out.starts_with("\u{feff}apiVersion: apps/v1\n"), "BOM kept");
    assert!(out.contains("claimName: polyaxon-repos"));
}

#[test]
fn duplicate_keys_in_a_workload_are_refused_with_key_and_line() {
    let input = API.replace("  replicas: 2\n", "  replicas: 2\n  replicas: 3\n");
    let r = run(&[], input.as_bytes());
    refused(&r, "`replicas` appears twice");
    assert!(r.stderr.contains("line 9"), "{}", r.stderr);
    // Outside Polyaxon workloads they are not ours to judge.
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 1, a: 2}\n";
    assert_eq!(run(&[], other.as_bytes()).stdout, other.as_bytes());
}

#[test]
fn tags_stay_and_mean_what_they_meant() {
    let input = API.replace("  labels:\n    type: polyaxon-core\n", "  labels:\n    type: polyaxon-core\n  annotations:\n    mode: !!str 0755\n    raw: !!binary aGVsbG8=\n");
    let r = patch(&input);
    let out = r.out();
    assert!(
        out.contains("    mode: !!str 0755\n    raw: !!binary aGVsbG8=\n"),
        "{out}"
    );
    let tagged = "--- !!map\na: !!int \"12\"\nb: !custom x\n";
    assert_eq!(run(&[], tagged.as_bytes()).stdout, tagged.as_bytes());
}

#[test]
fn directives_pass_through_and_do_not_stop_patching() {
    let input = format!(
        "%YAML 1.1\n---\n{API}...\n%YAML 1.2\n%TAG !k! tag:k8s.io,2024:\n--- !k!thing\nx: 1\n"
    );
    let out = patch(&input).out();
    assert!(out.starts_with("%YAML 1.1\n---\n"));
    assert!(out.ends_with("...\n%YAML 1.2\n%TAG !k! tag:k8s.io,2024:\n--- !k!thing\nx: 1\n"));
    assert!(out.contains("claimName: polyaxon-repos"));
}

#[test]
fn a_flow_style_workload_is_patched_in_flow_style() {
    let input = "--- {apiVersion: apps/v1, kind: Deployment, metadata: {name: api, labels: {type: polyaxon-core}}, spec: {replicas: 2, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, image: x, volumeMounts: [{name: repos, mountPath: /polyaxon-repos}]}], volumes: [{name: repos, hostPath: {path: /tmp/repos}}]}}}}\n";
    let out = patch(input).out();
    assert!(
        out.contains(
            "{\"name\": \"repos\", \"persistentVolumeClaim\": {\"claimName\": \"polyaxon-repos\"}}"
        ),
        "{out}"
    );
    assert!(out.contains("\"polyrepo-render/colocate\""), "{out}");
    assert_eq!(out.lines().count(), 1, "still one flow document: {out}");
}

#[test]
fn documents_that_are_lists_or_scalars_pass_through() {
    for input in [
        "- a\n- b\n",
        "--- just a scalar\n",
        "--- |\n  text\n",
        "---\n[1, 2]\n---\n~\n",
        "# only a comment\n",
        "",
    ] {
        let r = run(&[], input.as_bytes());
        assert_eq!(r.code, 0, "{input:?}: {}", r.stderr);
        assert_eq!(r.stdout, input.as_bytes(), "{input:?}");
    }
}

#[test]
fn windows_line_ends_in_the_changed_document_are_used_for_inserted_lines() {
    let input = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: unix}}\n---\n{}",
        API.replace('\n', "\r\n")
    );
    let out = patch(&input).out();
    let (first, second) = out.split_once("---\n").unwrap();
    assert_eq!(
        first,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unix}\n"
    );
    assert!(
        !second.replace("\r\n", "").contains('\n'),
        "bare LF inserted: {second:?}"
    );
    assert!(second.contains("polyrepo-render/changes"));
}

/// Flow collections followed by a comment or blanks, and `[ ]`: found by
/// attacking `patches`, where an added item landed inside the comment (exit
/// 0, a mount without its volume). Every input here must come out with the
/// planned repos volume and mount as Kubernetes reads them (the oracle),
/// and its comments kept.
#[test]
fn flow_collections_followed_by_comments_get_their_items_inside_the_brackets() {
    let config =
        "repos:\n  hostPath: /data/repos\n  node: w1\nworkloads:\n  mountInto: [\"*-scheduler\"]\n";
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(dir.path(), "polyrepo.yaml", config);
    for name in [
        "F0-flow-volumes-comment.yaml",
        "F14-flow-annotations-comment.yaml",
        "F15-flow-labels-comment.yaml",
        "F15b-flow-labels-trailing-space.yaml",
        "F16-empty-flow-seq-space.yaml",
    ] {
        let input = std::fs::read_to_string(root().join("tests/fixtures/flow").join(name)).unwrap();
        let r = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let out = r.out();
        for comment in input
            .lines()
            .filter_map(|l| l.split_once(" #").map(|(_, c)| c))
        {
            assert!(
                out.contains(comment),
                "{name}: comment `{comment}` lost:\n{out}"
            );
        }
        let obj = &oracle::read(&out).unwrap()[0];
        let spec = &obj["spec"]["template"]["spec"];
        let volumes = spec["volumes"].as_array().unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| v["name"] == "repos" && v["hostPath"]["path"] == "/data/repos"),
            "{name}: {out}"
        );
        let mounts = spec["containers"][0]["volumeMounts"].as_array().unwrap();
        assert!(mounts.iter().any(|m| m["name"] == "repos"), "{name}: {out}");
        assert!(
            obj["metadata"]["annotations"]["polyrepo-render/changes"].is_string(),
            "{name}"
        );
    }
}
