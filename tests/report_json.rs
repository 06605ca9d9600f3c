//! The JSON report (`--report-format json --report FILE`): what a pipeline
//! reads instead of stderr. Every change, warning and error names its
//! objects (kind, name, namespace, document, template, line) and, for a
//! change or a refusal, the scheduling decision with its reason; the
//! places are checked against the input itself, not the tool's own reader.

mod common;

use common::*;
use serde_json::Value;

/// Runs with a JSON report in a temporary folder; returns the run and the
/// report (`None` when no file was written).
fn json_run(args: &[&str], input: &[u8], env: &[(&str, &str)]) -> (Run, Option<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let mut all = args.to_vec();
    all.extend(["--report", path.to_str().unwrap()]);
    let r = run_env(&all, input, env);
    let report = std::fs::read(&path)
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("the report file is JSON"));
    (r, report)
}

/// The input's document number and template at 1-based `line`, counted
/// from the `---` lines and `# Source:` comments (Helm 3's stream).
fn place_of_line(input: &str, line: usize) -> (usize, Option<String>) {
    let (mut doc, mut template) = (0, None);
    for l in input.lines().take(line) {
        if l == "---" {
            doc += 1;
            template = None;
        } else if let Some(t) = l.strip_prefix("# Source: ") {
            template = Some(t.to_string());
        }
    }
    (doc, template)
}

/// Checks that `object` names what the input holds at its place: the
/// document number and template, and, from its line on in that document,
/// its kind and name.
fn check_object(input: &str, object: &Value) {
    let line = object["line"].as_u64().expect("a line") as usize;
    let (doc, template) = place_of_line(input, line);
    assert_eq!(object["document"], doc, "{object}");
    assert_eq!(object["template"], serde_json::json!(template), "{object}");
    let rest: Vec<&str> = input
        .lines()
        .skip(line - 1)
        .take_while(|l| *l != "---")
        .collect();
    let kind = object["kind"].as_str().unwrap();
    let name = object["name"].as_str().unwrap();
    assert!(rest.contains(&format!("kind: {kind}").as_str()), "{object}");
    assert!(
        rest.contains(&format!("  name: {name}").as_str()),
        "{object}"
    );
}

#[test]
fn changes_name_their_objects_and_decisions_and_the_render_is_the_same() {
    let input = fixture("helm3-default.yaml");
    let text = String::from_utf8(input.clone()).unwrap();
    let config = example("rwo-claim.yaml");
    let config = config.to_str().unwrap();
    let (r, report) = json_run(
        &["--config", config, "--report-format", "json"],
        &input,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same output and the same text on stderr as without JSON.
    let plain = run(&["--config", config], &input);
    assert_eq!(r.stdout, plain.stdout);
    assert_eq!(r.stderr, plain.stderr);
    let report = report.unwrap();
    assert_eq!(report["apiVersion"], "polyrepo-render.report/v1");
    assert_eq!(report["exitCode"], 0);
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(report["summary"]["changes"], changes.len());
    // One change per `changed` line of the text report, in order.
    let lines: Vec<&str> = plain
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("polyrepo-render: changed "))
        .collect();
    assert_eq!(changes.len(), lines.len());
    assert_eq!(changes.len(), 2, "the API and the scheduler");
    for (c, line) in changes.iter().zip(&lines) {
        assert_eq!(c["message"], *line);
        let objects = c["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 1);
        check_object(&text, &objects[0]);
        // Every edit is in the message, and the annotation's reason too.
        for e in c["edits"].as_array().unwrap() {
            assert!(line.contains(e.as_str().unwrap()), "{e} in {line}");
        }
        let d = &c["decision"];
        assert_eq!(d["action"], "co-locate", "{c}");
        assert!(
            d["with"]
                .as_str()
                .unwrap()
                .contains("polyaxon-polyaxon-api")
        );
        assert!(line.ends_with(d["reason"].as_str().unwrap()), "{d}");
        assert!(
            d["reason"]
                .as_str()
                .unwrap()
                .starts_with("single-node data")
        );
    }
    // The acknowledged advice is a warning marked acknowledged, about the
    // pods whose data it is.
    let warnings = report["warnings"].as_array().unwrap();
    let codes: Vec<&str> = warnings
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["host-data-unpinned", "runtime-placement-in-database"]
    );
    let warnings: Vec<&Value> = warnings
        .iter()
        .filter(|w| w["code"] == "host-data-unpinned")
        .collect();
    assert_eq!(warnings[0]["acknowledged"], true);
    let names: Vec<&str> = warnings[0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            check_object(&text, o);
            o["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        ["polyaxon-polyaxon-api", "polyaxon-polyaxon-scheduler"]
    );
    // The options to set outside the stream, for a pipeline to apply.
    let runtime = &report["warnings"][1];
    assert_eq!(runtime["acknowledged"], true);
    let options: Vec<&str> = runtime["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        options,
        [
            "AFFINITIES:EXPERIMENTS",
            "AFFINITIES:JOBS",
            "AFFINITIES:NOTEBOOKS",
            "AFFINITIES:TENSORBOARDS"
        ]
    );
    assert!(runtime["settings"][0]["value"]["podAffinity"].is_object());
    assert_eq!(report["summary"]["warnings"], 0, "notes are not warnings");
    assert_eq!(report["summary"]["notes"], 2);
    assert_eq!(report["errors"], serde_json::json!([]));
}

#[test]
fn a_pin_names_its_node() {
    let input = fixture("helm3-default.yaml");
    let (r, report) = json_run(
        &["--report-format=json"],
        &input,
        &[(
            "POLYREPO_CONFIG",
            example("hostpath-node.yaml").to_str().unwrap(),
        )],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = report.unwrap();
    let changes = report["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    for c in changes {
        assert_eq!(c["decision"]["action"], "pin", "{c}");
        let node = c["decision"]["node"].as_str().unwrap();
        assert!(node.starts_with("kubernetes.io/hostname="), "{node}");
        assert!(
            c["message"].as_str().unwrap().contains(&format!(
                "kubernetes.io/hostname In [{}]",
                node.split_once('=').unwrap().1
            )),
            "{c}"
        );
    }
}

#[test]
fn a_refusal_names_the_workloads_and_the_decision() {
    let input = fixture("helm3-replicas.yaml");
    let text = String::from_utf8(input.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(
        dir.path(),
        "c.yaml",
        "repos:\n  existingClaim: solo\n  accessMode: ReadWriteOncePod\n",
    );
    let (r, report) = json_run(
        &["--config", cfg.to_str().unwrap()],
        &input,
        &[("POLYREPO_REPORT_FORMAT", "json")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let report = report.unwrap();
    assert_eq!(report["exitCode"], 1);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(e["exitCode"], 1);
    assert_eq!(e["decision"]["action"], "refuse");
    assert_eq!(e["decision"]["reason"], e["message"]);
    assert!(r.stderr.contains(e["message"].as_str().unwrap()));
    // The objects are the workloads the refusal names (the scheduler shares
    // the API's host paths, but is not what is refused).
    let objects = e["objects"].as_array().unwrap();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| {
            check_object(&text, o);
            o["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["polyaxon-polyaxon-api"]);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Deployment/polyaxon-polyaxon-api")
    );
    assert_eq!(
        report["changes"],
        serde_json::json!([]),
        "nothing is written"
    );
}

#[test]
fn a_syntax_error_has_its_position_and_a_config_error_its_exit_code() {
    let text = String::from_utf8(fixture("helm3-default.yaml")).unwrap();
    let bad = text.replacen(
        "  name: polyaxon-polyaxon-api\n  annotations:\n",
        "  name: polyaxon-polyaxon-api\n  bad: [\n  annotations:\n",
        1,
    );
    let (r, report) = json_run(&["--report-format", "json"], bad.as_bytes(), &[]);
    assert_eq!(r.code, 1);
    let e = &report.unwrap()["errors"][0];
    let p = &e["position"];
    let line = p["line"].as_u64().unwrap() as usize;
    let (doc, template) = place_of_line(&bad, line);
    assert_eq!(p["document"], doc, "{e}");
    assert_eq!(p["template"], serde_json::json!(template), "{e}");
    assert_eq!(
        template.as_deref(),
        Some("polyaxon/templates/api-deployment.yaml")
    );
    assert!(p["column"].as_u64().unwrap() >= 1);
    assert!(e["decision"].is_null(), "a syntax error is no refusal");

    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(dir.path(), "c.yaml", "repos:\n  existingclaim: x\n");
    let (r, report) = json_run(
        &["--config", cfg.to_str().unwrap(), "--report-format", "json"],
        text.as_bytes(),
        &[],
    );
    assert_eq!(r.code, 2);
    let report = report.unwrap();
    assert_eq!(report["exitCode"], 2);
    assert_eq!(report["errors"][0]["exitCode"], 2);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("existingclaim")
    );
}

#[test]
fn a_problem_warning_names_its_workload() {
    let text = String::from_utf8(fixture("helm3-default.yaml")).unwrap();
    let from_cm = text.replacen(
        "- name: POLYAXON_PERSISTENCE_REPOS\n",
        "- name: POLYAXON_PERSISTENCE_REPOS\n          valueFrom: {configMapKeyRef: {name: cm, key: repos}}\n        - name: UNUSED\n",
        1,
    );
    let config = example("rwo-claim.yaml");
    let (r, report) = json_run(
        &[
            "--config",
            config.to_str().unwrap(),
            "--report-format",
            "json",
        ],
        from_cm.as_bytes(),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = report.unwrap();
    let w: Vec<&Value> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["message"].as_str().unwrap().contains("valueFrom"))
        .collect();
    assert_eq!(w.len(), 1, "{report}");
    assert!(w[0]["code"].is_null(), "a problem, not advice");
    assert_eq!(w[0]["acknowledged"], false);
    let objects = w[0]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1);
    check_object(&from_cm, &objects[0]);
    assert_eq!(report["summary"]["warnings"], 1);
}

#[test]
fn json_needs_a_file_and_a_known_format() {
    let input = fixture("helm3-default.yaml");
    let r = run(&["--report-format", "json"], &input);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("needs a file"), "{}", r.stderr);
    let dir = tempfile::tempdir().unwrap();
    let asked = dir.path().join("r.txt");
    let r = run_env(
        &["--report", asked.to_str().unwrap()],
        &input,
        &[("POLYREPO_REPORT_FORMAT", "yaml")],
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("POLYREPO_REPORT_FORMAT"), "{}", r.stderr);
    let text = std::fs::read_to_string(&asked).unwrap();
    assert!(
        text.starts_with("polyrepo-render: error: POLYREPO_REPORT_FORMAT"),
        "{text}"
    );
    // A usage error reaches a JSON report as JSON.
    let (r, report) = json_run(&["--report-format", "json", "--no-such-flag"], &input, &[]);
    assert_eq!(r.code, 2);
    let report = report.unwrap();
    assert_eq!(report["exitCode"], 2);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
}

#[test]
fn patches_check_reports_as_json() {
    let input = fixture("helm3-default.yaml");
    let dir = tempfile::tempdir().unwrap();
    let config = example("rwo-claim.yaml");
    let config = config.to_str().unwrap();
    let made = run(&["patches", "--format", "flux", "--config", config], &input);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let patches = dir.path().join("patches.yaml");
    std::fs::write(&patches, &made.stdout).unwrap();
    let (r, report) = json_run(
        &[
            "patches",
            "--format",
            "flux",
            "--config",
            config,
            "--check",
            patches.to_str().unwrap(),
            "--report-format",
            "json",
        ],
        &input,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = report.unwrap();
    assert_eq!(
        report["changes"],
        serde_json::json!([]),
        "a check lists what differs only"
    );
    assert!(
        report["messages"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("holds the patches this render needs")
    );
}

#[test]
fn the_report_never_replaces_a_file_the_run_reads() {
    let input = fixture("helm3-default.yaml");
    let dir = tempfile::tempdir().unwrap();
    let cfg = temp_file(
        dir.path(),
        "c.yaml",
        &std::fs::read_to_string(example("rwo-claim.yaml")).unwrap(),
    );
    let before = std::fs::read(&cfg).unwrap();
    let c = cfg.to_str().unwrap();
    let r = run(
        &["--config", c, "--report", c, "--report-format", "json"],
        &input,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("which this run reads"), "{}", r.stderr);
    assert_eq!(std::fs::read(&cfg).unwrap(), before, "the config is intact");
    // The stream named as a file, through another spelling of its path.
    let stream = temp_file(dir.path(), "in.yaml", std::str::from_utf8(&input).unwrap());
    let other = dir.path().join(".").join("in.yaml");
    let r = run(
        &[
            "--report",
            other.to_str().unwrap(),
            stream.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(std::fs::read(&stream).unwrap(), input);
}

#[test]
fn a_problem_with_the_report_flags_reaches_the_wrappers_report() {
    let input = fixture("helm4-default.yaml");
    let dir = tempfile::tempdir().unwrap();
    let fallback = dir.path().join("fallback.txt");
    let f = fallback.to_str().unwrap();
    let r = run_env(
        &["--report-format", "json"],
        &input,
        &[("POLYREPO_FALLBACK_REPORT", f)],
    );
    assert_eq!(r.code, 2);
    let text = std::fs::read_to_string(&fallback).unwrap();
    assert!(
        text.contains("error: --report-format json needs a file"),
        "{text}"
    );
    // An unknown format with a report asked: the report says so (as text),
    // not what an earlier run left there.
    let asked = temp_file(dir.path(), "r.json", "{\"exitCode\": 0}\n");
    let r = run_env(
        &["--report", asked.to_str().unwrap()],
        &input,
        &[("POLYREPO_REPORT_FORMAT", "JSON")],
    );
    assert_eq!(r.code, 2);
    let text = std::fs::read_to_string(&asked).unwrap();
    assert!(text.contains("error: POLYREPO_REPORT_FORMAT"), "{text}");
}

#[test]
fn a_closed_output_is_in_the_report() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let input = fixture("helm3-default.yaml");
    // Many copies, so that the output outlasts the pipe's buffer.
    let big: Vec<u8> = std::iter::repeat_n(&input[..], 40)
        .flatten()
        .copied()
        .collect();
    let stream = temp_file(dir.path(), "in.yaml", std::str::from_utf8(&big).unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"))
        .args([
            "--report",
            path.to_str().unwrap(),
            "--report-format",
            "json",
        ])
        .arg(&stream)
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let status = child.wait().unwrap();
    if status.code() != Some(141) {
        return; // it finished writing first: nothing to check
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(report["exitCode"], 141, "{report}");
    assert_eq!(report["errors"][0]["exitCode"], 141);
}
