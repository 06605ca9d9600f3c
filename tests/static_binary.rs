//! The image's binary runs anywhere: built as examples/argocd/Dockerfile
//! builds it, it has no program interpreter (no libc needed at run time),
//! and in an empty root (`unshare -r chroot`, nothing but the binary) the
//! repo-server patch's init command copies it, the copy prints its version,
//! and it renders a fixture exactly as the ordinary build does.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds the static binary with the Dockerfile's command.
fn build_static() -> PathBuf {
    let dockerfile = std::fs::read_to_string(root().join("examples/argocd/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("RUSTFLAGS='-C target-feature=+crt-static'")
            && dockerfile.contains("amd64) target=x86_64-unknown-linux-gnu")
            && dockerfile.contains("--target \"$target\"")
            && dockerfile.contains("FROM scratch"),
        "the test builds what the Dockerfile builds (for amd64)"
    );
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .current_dir(root())
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("x86_64-unknown-linux-gnu/release/polyrepo-render")
}

/// True when the ELF file asks for a program interpreter (PT_INTERP), i.e.
/// needs a dynamic loader and libc on the machine.
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) == 3
    })
}

/// The init container's command from examples/argocd/repo-server-patch.yaml.
fn init_command() -> Vec<String> {
    let patch: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("examples/argocd/repo-server-patch.yaml")).unwrap(),
    )
    .unwrap();
    let init = &patch["spec"]["template"]["spec"]["initContainers"][0];
    assert!(init.get("args").is_none());
    serde_yaml::from_value(init["command"].clone()).unwrap()
}

/// Runs `argv` chrooted into `root` (as root of a new user namespace).
fn in_empty_root(root_dir: &Path, argv: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("unshare")
        .args(["-r", "chroot"])
        .arg(root_dir)
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn the_image_binary_runs_with_nothing_else_present() {
    let bin = build_static();
    let bytes = std::fs::read(&bin).unwrap();
    assert!(
        !has_interpreter(&bytes),
        "{} needs a dynamic loader",
        bin.display()
    );
    // The ordinary build does ask for one: the check can tell them apart.
    assert!(has_interpreter(
        &std::fs::read(env!("CARGO_BIN_EXE_polyrepo-render")).unwrap()
    ));

    // An image holding only the binary, and the volume the init container fills.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    std::fs::create_dir(r.join("custom-tools")).unwrap();
    std::fs::copy(&bin, r.join("usr/local/bin/polyrepo-render")).unwrap();
    let init = init_command();
    let argv: Vec<&str> = init.iter().map(String::as_str).collect();
    let out = in_empty_root(r, &argv, b"");
    assert!(
        out.status.success(),
        "init command {argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = &init[2];
    let out = in_empty_root(r, &[copy, "--version"], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("polyrepo-render {}\n", env!("CARGO_PKG_VERSION"))
    );
    // A whole render, compared with the ordinary build's.
    std::fs::copy(
        root().join("examples/rwo-claim.yaml"),
        r.join("polyrepo.yaml"),
    )
    .unwrap();
    let input = fixture("helm3-default.yaml");
    let out = in_empty_root(
        r,
        &[copy, "--config", "/polyrepo.yaml", "-n", "polyaxon"],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = run(
        &[
            "--config",
            root().join("examples/rwo-claim.yaml").to_str().unwrap(),
            "-n",
            "polyaxon",
        ],
        &input,
    );
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    assert_eq!(out.stdout, expected.stdout);
}

fn main() {
    let unshare = Command::new("unshare")
        .args(["-r", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // The static release build takes minutes on 2 cores: CI runs it, a
    // newcomer's run names it as not run.
    let slow = std::env::var("CI").as_deref() == Ok("true")
        || std::env::var_os("POLYREPO_SLOW_TESTS").is_some_and(|v| v == "1");
    let missing = if !slow {
        Some(
            "the static image build takes minutes: set POLYREPO_SLOW_TESTS=1 to run it (CI does)"
                .to_string(),
        )
    } else {
        (!unshare).then(|| {
            "unshare -r (user namespaces) is not permitted here: the empty-root run needs it"
                .to_string()
        })
    };
    run_needing(
        missing,
        vec![(
            "the_image_binary_runs_with_nothing_else_present",
            the_image_binary_runs_with_nothing_else_present,
        )],
    )
}
