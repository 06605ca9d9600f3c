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
        small_config("rwo-claim.yaml").to_str().unwrap().into(),
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
    assert!(out.contains("\"polyrepo-render/colocation\""), "{out}");
    assert!(out.contains("\"podAffinity\""), "{out}");
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
    let config = "repos:\n  hostPath: /data/repos\n  node: w1\n";
    let dir = tempfile::tempdir().unwrap();
    // The volume is added where a scheduler is there to mount it into.
    let with_scheduler = temp_file(
        dir.path(),
        "polyrepo.yaml",
        &format!("{config}workloads:\n  mountInto: [\"*-scheduler\"]\n"),
    );
    let without = temp_file(dir.path(), "api-only.yaml", config);
    for name in [
        "F0-flow-volumes-comment.yaml",
        "F14-flow-annotations-comment.yaml",
        "F15-flow-labels-comment.yaml",
        "F15b-flow-labels-trailing-space.yaml",
        "F16-empty-flow-seq-space.yaml",
    ] {
        let input = std::fs::read_to_string(root().join("tests/fixtures/flow").join(name)).unwrap();
        let cfg = if input.contains("-scheduler") {
            &with_scheduler
        } else {
            &without
        };
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

/// go-yaml (Kubernetes, Helm, kubectl, kustomize) breaks lines at NEL, LS
/// and PS too; the tool's parser does not. Before the fix a PS in front of
/// `affinity:` made the tool add a second `affinity:` key (go-yaml keeps
/// the last: the user's required node affinity silently dropped), and a
/// comment ending in PS moved the appended mount. Each is refused now,
/// naming its line, and the oracle (libyaml, which breaks lines as go-yaml
/// does) shows what Kubernetes would have read.
#[test]
fn go_yamls_extra_line_breaks_outside_quotes_are_refused_with_their_line() {
    let affinity = API.replace(
        "      volumes:\n",
        "      # pinned to ssd nodes\u{2029}      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchExpressions:\n              - {key: disk, operator: In, values: [ssd]}\n      volumes:\n",
    );
    // What Kubernetes reads: the user's affinity is there.
    let k8s = oracle::read(&affinity).unwrap();
    assert!(k8s[0]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"].is_object());
    let r = run(&[], affinity.as_bytes());
    refused(&r, "line 18 column 28: U+2029 (PARAGRAPH SEPARATOR)");
    let comment = API.replace(
        "        image: x\n",
        "        image: x\n        # note\u{2029}resources: {}\n",
    );
    refused(
        &run(
            &claim_args().iter().map(String::as_str).collect::<Vec<_>>(),
            comment.as_bytes(),
        ),
        "U+2029",
    );
    for c in ['\u{85}', '\u{2028}'] {
        let plain = API.replace("image: x", &format!("image: x{c}y"));
        refused(&run(&[], plain.as_bytes()), &format!("U+{:04X}", c as u32));
    }
    // In a document nothing reads, inside quotes: passed byte for byte; in
    // a Polyaxon workload, where go-yaml folds it into the value, refused.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: \"x\u{2028}y\", b: 'z\u{85}'}\n";
    let r = run(&[], format!("{cm}---\n{API}").as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.out().starts_with(cm));
    let quoted = API.replace("image: x", "image: \"x\u{2028}y\"");
    refused(
        &run(&[], quoted.as_bytes()),
        "inside a quoted string of a workload",
    );
}

/// go-yaml skips a byte-order mark at the start of a line but counts its
/// column: `\u{feff}---` is no document marker to it. Refused after the
/// start of the stream; at the start, as before, it is the stream's BOM.
#[test]
fn a_byte_order_mark_after_the_start_is_refused() {
    let s = format!("{API}\u{feff}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n");
    assert!(oracle::read(&s).is_err(), "Kubernetes cannot read it");
    refused(&run(&[], s.as_bytes()), "U+FEFF (a byte-order mark)");
    let r = run(&[], format!("\u{feff}{API}").as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// CR-only line ends: new lines are written with `\r` too.
#[test]
fn a_cr_only_stream_gets_cr_only_lines() {
    let cr = API.replace('\n', "\r");
    let r = patch(&cr);
    assert!(r.out().len() > cr.len());
    assert!(!r.out().contains('\n'), "a line feed in a CR-only stream");
    assert_eq!(
        oracle::read(&r.out()).unwrap(),
        oracle::read(
            &String::from_utf8(
                run(
                    &claim_args().iter().map(String::as_str).collect::<Vec<_>>(),
                    API.as_bytes()
                )
                .stdout
            )
            .unwrap()
        )
        .unwrap()
    );
}

/// Names and template paths from the stream are printed escaped: a name
/// holding a line break cannot forge a report line.
#[test]
fn names_cannot_forge_report_lines() {
    let forged = API.replace(
        "  name: api\n",
        "  name: \"api\\npolyrepo-render: changed nothing, all safe\\u001b[2J\"\n",
    );
    let r = run(&[], forged.as_bytes());
    for line in r.stderr.lines() {
        assert!(line.starts_with("polyrepo-render: "), "{line}");
        assert!(
            !line.starts_with("polyrepo-render: changed nothing"),
            "forged: {line}"
        );
    }
    assert!(
        r.stderr.contains("api\\npolyrepo-render: changed nothing"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\u{1b}'),
        "an escape sequence reached the terminal"
    );
}

/// More nodes than the one-document limit, without a single alias, is
/// refused for what it is, not as an alias bomb.
#[test]
fn a_huge_document_without_aliases_is_not_called_an_alias_bomb() {
    let mut s =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: [");
    s.push_str(&"0,".repeat(2_000_001));
    s.push_str("]\n");
    let r = run_bounded(&[], s.as_bytes());
    refused(&r, "has more than 2000000 nodes");
    assert!(!r.stderr.contains("alias"), "{}", r.stderr);
}

/// `patches` writes text from the stream into YAML comments (the chart and
/// release labels, each change's explanation with container names): a line
/// break there must not end the comment and write live YAML.
#[test]
fn names_cannot_escape_the_comments_of_patches() {
    let evil = API
        .replace(
            "    type: polyaxon-core\n",
            "    type: polyaxon-core\n    chart: \"polyaxon-0.6.1\\nresources: [\\\"https://evil.example/r.yaml\\\"]\\n#\"\n    release: \"polyaxon\\rnamespace: kube-system\\u2028#\"\n",
        )
        .replace(
            "      - name: api\n",
            "      - name: \"api\\n  - target: {kind: Deployment}\\n    patch: '[]'\\n  #\"\n",
        );
    let cfg = small_config("rwo-claim.yaml");
    for format in ["kustomize", "flux"] {
        let r = run(
            &[
                "patches",
                "--format",
                format,
                "--config",
                cfg.to_str().unwrap(),
            ],
            evil.as_bytes(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out = r.out();
        let doc = &oracle::read(&out).unwrap()[0];
        let top: Vec<&String> = doc.as_object().unwrap().keys().collect();
        let patches = match format {
            "kustomize" => {
                assert_eq!(top, ["patches"], "{out}");
                &doc["patches"]
            }
            _ => {
                assert_eq!(top, ["postRenderers"], "{out}");
                &doc["postRenderers"][0]["kustomize"]["patches"]
            }
        };
        let patches = patches.as_array().unwrap();
        assert_eq!(patches.len(), 1, "{out}");
        assert_eq!(patches[0]["target"]["name"], "api", "{out}");
        for line in out.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(
                !line.contains('\r') && !line.contains('\u{2028}'),
                "{line:?}"
            );
        }
    }
}

/// An empty value with an anchor (`mountPath: &m`) is its anchor: when the
/// tool replaces the value, the anchor goes with it. Found by the fuzzer:
/// the anchor used to stay behind and stick to the next line written
/// (`subPath: team-a &m`, a subPath Kubernetes reads as `team-a &m`).
#[test]
fn an_anchored_empty_value_is_replaced_whole() {
    let input = API.replace(
        "      - name: api\n        image: x\n",
        "      - name: api\n        image: x\n        volumeMounts:\n        - name: repos\n          mountPath: &m\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "repos:\n  hostPath: /data/repos\n  mountPath: /code\n  subPath: team-a\n  readOnly: true\n",
    )
    .unwrap();
    let r = run(&["--config", cfg.to_str().unwrap()], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = oracle::read(&r.out()).unwrap();
    let mounts = &out[0]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert_eq!(
        mounts,
        &serde_json::json!([{"name": "repos", "mountPath": "/code", "readOnly": true, "subPath": "team-a"}]),
        "{}",
        r.out()
    );
}
