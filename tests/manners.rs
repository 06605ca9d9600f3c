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
    std::fs::write(cfg.path(), "node: worker-1\n").unwrap();
    let r = run(
        &["--strict", "--config", cfg.path().to_str().unwrap()],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
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

#[test]
fn a_selector_or_mount_into_glob_that_matches_nothing_says_so() {
    let input = fixture("helm3-default.yaml");
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cfg.path(), "workloads:\n  mountInto: [\"*-schedular\"]\n").unwrap();
    let r = run(&["--config", cfg.path().to_str().unwrap()], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("mountInto `*-schedular` matches no Polyaxon workload"),
        "{}",
        r.stderr
    );
    std::fs::write(
        cfg.path(),
        "workloads:\n  selector: {matchLabels: {type: polyaxon-cor}}\n",
    )
    .unwrap();
    let r = run(&["--config", cfg.path().to_str().unwrap()], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("no Polyaxon workload was found"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, input, "nothing selected, nothing changed");
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
