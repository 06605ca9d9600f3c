//! Unix manners and CI switches: a report that cannot be written fails
//! before stdout, `--report -` is refused, `--strict` turns warnings into
//! failures, a closed output pipe ends the run quietly with status 141, and
//! a terminal on stdin gets a clear message.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn a_report_that_cannot_be_written_fails_before_anything_reaches_stdout() {
    let input = fixture("helm3-default.yaml");
    let r = run(&["--report", "/nonexistent-dir/report.txt"], &input);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("cannot write the report"), "{}", r.stderr);
    let r = run_env(
        &[],
        &input,
        &[("POLYREPO_REPORT", "/nonexistent-dir/r.txt")],
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    let r = run(&["--report", "-"], &input);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("--report -"), "{}", r.stderr);
}

#[test]
fn strict_turns_warnings_into_failures() {
    // The chart's defaults: host data on an unknown node warns.
    let input = fixture("helm3-default.yaml");
    let ok = run(&[], &input);
    assert_eq!(ok.code, 0);
    assert!(ok.stderr.contains("warning:"), "{}", ok.stderr);
    for r in [
        run(&["--strict"], &input),
        run_env(&[], &input, &[("POLYREPO_STRICT", "1")]),
    ] {
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains("--strict"), "{}", r.stderr);
    }
    // Nothing to warn about: strict passes.
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        "node: worker-1\nacknowledge: [runtime-placement-in-database]\n",
    )
    .unwrap();
    let r = run(
        &["--strict", "--config", cfg.path().to_str().unwrap()],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Every example config passes `--strict` on the bundled render: what
/// is advice there is acknowledged in the config (a note, not a warning).
#[test]
fn every_example_passes_strict_on_the_bundled_render() {
    let input = std::fs::read(example("polyaxon-0.6.1.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut configs: Vec<std::path::PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !p.ends_with("polyaxon-0.6.1.yaml"))
        .collect();
    // The KRM function configs: their `spec` is a polyrepo.yaml.
    for (i, f) in ["exec", "container"].iter().enumerate() {
        let text = std::fs::read_to_string(
            root()
                .join("examples/kustomize")
                .join(f)
                .join("polyrepo-render.yaml"),
        )
        .unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        // `spec` (the function's own kind), or a ConfigMap's polyrepo.yaml.
        let spec = match v["data"]["polyrepo.yaml"].as_str() {
            Some(t) => t.to_string(),
            None => serde_yaml::to_string(&v["spec"]).unwrap(),
        };
        assert!(spec.contains("existingClaim"), "{f}: {spec}");
        configs.push(temp_file(dir.path(), &format!("krm-{i}.yaml"), &spec));
    }
    assert!(configs.len() >= 7, "{configs:?}");
    for c in &configs {
        let r = run(&["--strict", "--config", c.to_str().unwrap()], &input);
        assert_eq!(r.code, 0, "{}: {}", c.display(), r.stderr);
        assert!(
            !r.stderr.contains("warning:"),
            "{}: {}",
            c.display(),
            r.stderr
        );
    }
}

/// Advice says how to acknowledge it; acknowledged, it is a note and
/// `--strict` passes. A problem cannot be acknowledged; an unknown code is
/// a configuration error with the closest code.
#[test]
fn advice_can_be_acknowledged_and_problems_cannot() {
    let input = fixture("helm3-default.yaml");
    let cfg = tempfile::NamedTempFile::new().unwrap();
    let path = cfg.path().to_str().unwrap().to_string();
    let r = run(&["--strict"], &input);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("[advice host-data-unpinned: or acknowledge it in the config"),
        "{}",
        r.stderr
    );
    std::fs::write(
        cfg.path(),
        "acknowledge: [host-data-unpinned, runtime-placement-in-database]\n",
    )
    .unwrap();
    let r = run(&["--strict", "--config", &path], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("note: ") && r.stderr.contains("(acknowledged: host-data-unpinned)"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, run(&[], &input).stdout, "the same render");
    // A problem: the env copy comes from a ConfigMap, so it cannot be kept
    // in step; every code acknowledged, --strict still fails.
    let from_cm = String::from_utf8(input.clone()).unwrap().replacen(
        "- name: POLYAXON_PERSISTENCE_REPOS\n",
        "- name: POLYAXON_PERSISTENCE_REPOS\n          valueFrom: {configMapKeyRef: {name: cm, key: repos}}\n        - name: UNUSED\n",
        1,
    );
    assert_ne!(from_cm.as_bytes(), &input[..]);
    let all = polyrepo_render::report::Advice::ALL
        .map(|a| a.code())
        .join(", ");
    std::fs::write(
        cfg.path(),
        format!("repos: {{hostPath: /data/repos}}\nacknowledge: [{all}]\n"),
    )
    .unwrap();
    let r = run(&["--strict", "--config", &path], from_cm.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: ") && r.stderr.contains("valueFrom"),
        "{}",
        r.stderr
    );
    std::fs::write(cfg.path(), "acknowledge: [host-data-unpined]\n").unwrap();
    let r = run(&["--config", &path], &input);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&format!("{path}:1:15: acknowledge: `host-data-unpined` is not an advice code; did you mean `host-data-unpinned`?")),
        "{}",
        r.stderr
    );
}

#[test]
fn a_closed_output_pipe_ends_the_run_quietly() {
    // Far more output than a pipe holds, and a reader that has gone.
    let input = String::from_utf8(fixture("helm3-default.yaml"))
        .unwrap()
        .repeat(20);
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"))
        .arg("-q")
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_terminal_on_stdin_gets_a_message_not_a_hang() {
    // `script` gives the command a pseudo-terminal on stdin.
    let bin = env!("CARGO_BIN_EXE_polyrepo-render");
    let out = Command::new("script")
        .args(["-qec", bin, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stdin is a terminal"), "{text}");
    assert_eq!(out.status.code(), Some(2), "{text}");
}

/// A setting that matches nothing would change nothing, and under Helm 3
/// a warning is lost on success: each is a configuration error (exit 2,
/// nothing on stdout) naming the setting's place and what the stream holds,
/// all of them in one run.
#[test]
fn a_setting_that_matches_nothing_is_refused_naming_what_the_stream_holds() {
    let input = fixture("helm3-claim.yaml");
    let cfg = tempfile::NamedTempFile::new().unwrap();
    let path = cfg.path().to_str().unwrap().to_string();
    let refused = |text: &str, wants: &[&str]| {
        std::fs::write(cfg.path(), text).unwrap();
        let r = run(&["--config", &path], &input);
        assert_eq!(r.code, 2, "{text}\n{}", r.stderr);
        assert!(r.stdout.is_empty(), "{text}: output on a refusal");
        for w in wants {
            assert!(r.stderr.contains(w), "{text}: wants `{w}`\n{}", r.stderr);
        }
    };
    refused(
        "workloads:\n  mountInto: [\"*-schedular\"]\nignore: [logz, /tmp/log]\n",
        &[
            &format!("{path}:2:15: workloads.mountInto `*-schedular` matches no Polyaxon workload"),
            "polyaxon-polyaxon-scheduler",
            &format!("{path}:3:10: ignore entry `logz` matches no volume"),
            &format!("{path}:3:16: ignore entry `/tmp/log` matches no volume"),
            "logs (hostPath /tmp/logs)",
        ],
    );
    refused(
        "workloads:\n  selector: {matchLabels: {type: polyaxon-cor}}\n",
        &[
            &format!("{path}:2:13: workloads.selector matches no workload"),
            "type=polyaxon-core",
        ],
    );
    // The repos claim reaches every node: no node is needed for it, and
    // with every host path ignored no host data needs the top-level one.
    refused(
        "repos: {node: n1, accessMode: ReadWriteMany}\n\
         ignore: [/tmp/logs, /tmp/outputs, /tmp/upload, /tmp/data]\nnode: n2\n",
        &[
            "repos.node `n1` is used by nothing",
            "node `n2` is used by nothing",
        ],
    );
    // Used, they pass.
    std::fs::write(
        cfg.path(),
        "repos: {node: n1}\nignore: [/tmp/logs, /tmp/outputs, /tmp/upload, /tmp/data]\n",
    )
    .unwrap();
    let r = run(&["--config", &path], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(
        cfg.path(),
        "node: n2\nworkloads: {mountInto: [\"*-beat\"]}\n",
    )
    .unwrap();
    let r = run(&["--config", &path], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A stream without Polyaxon's workloads, given any one setting.
    for setting in [
        "node: n2\n",
        "ignore: [x]\n",
        "repos: {external: true}\n",
        "repos: {accessMode: ReadWriteMany}\n",
        "workloads: {mountInto: [api]}\n",
    ] {
        std::fs::write(cfg.path(), setting).unwrap();
        let r = run(
            &["--config", &path],
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        );
        assert_eq!(r.code, 2, "{setting}: {}", r.stderr);
        assert!(
            r.stderr.contains(
                "holds no workload at all, so the settings change nothing: give it a render of \
                 the Polyaxon chart"
            ),
            "{setting}: {}",
            r.stderr
        );
    }
}

/// `install-binary` (the init container's copy) writes exactly DEST, or
/// nothing: a folder is refused and leaves no stray file.
#[test]
fn install_binary_writes_the_file_named_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_polyrepo-render");
    let out = std::process::Command::new(bin)
        .args(["install-binary", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a folder"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(!dir.path().with_extension("tmp").exists());
    let dest = dir.path().join("polyrepo-render");
    let out = std::process::Command::new(bin)
        .args(["install-binary", dest.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
    let v = std::process::Command::new(&dest)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("polyrepo-render "));
}

/// The plugin's own comment gives the install command the README gives:
/// `helm plugin install ./plugin` would break Helm 3's plugins.
#[test]
fn the_plugin_file_says_how_to_install_it_safely() {
    let text = std::fs::read_to_string(root().join("plugin/plugin.yaml")).unwrap();
    let comment: String = text.lines().filter(|l| l.starts_with('#')).collect();
    assert!(
        comment.contains("scripts/install-helm-plugin.sh"),
        "{comment}"
    );
    assert!(
        !comment.contains("`helm plugin install ./plugin`, then"),
        "{comment}"
    );
}
