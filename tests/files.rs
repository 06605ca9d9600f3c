//! Files the tool reads, writes and creates (issue 18): never through a
//! planted link, never waiting on a FIFO or reading `/dev/zero` forever,
//! and a report that cannot be written leaves stdout empty. The Helm 4
//! wrapper (`plugin/polyrepo-render.sh`) is run here directly, as Helm 4
//! runs it, with its cache folder where others could write.

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_polyrepo-render");

fn input() -> Vec<u8> {
    fixture("helm3-default.yaml")
}

/// A command with none of the tool's variables from the outside.
fn clean(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT")
        .env_remove("POLYREPO_FALLBACK_REPORT");
    c
}

/// Runs `cmd` with `input` on stdin, killed (and the test failed) after
/// 20 seconds: a run that waits on a FIFO must not hang the suite.
fn bounded(mut cmd: Command, input: &[u8]) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let pid = child.id();
    let started = Instant::now();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
            if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                return false;
            }
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        true
    });
    let out = child.wait_with_output().unwrap();
    assert!(
        !watchdog.join().unwrap(),
        "{cmd:?} still ran after 20 s: it waited on something"
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

#[test]
fn paths_that_are_not_regular_files_are_refused_in_every_mode() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    let cfg = example("rwo-claim.yaml");
    let cfg = cfg.to_str().unwrap();
    let f = fifo.to_str().unwrap();
    for (args, says) in [
        (vec!["--config", "/dev/zero"], "a device"),
        (vec!["--config", f], "FIFO"),
        (vec!["-f", "/dev/zero"], "a device"),
        (vec!["--config", cfg, "--report", f], "FIFO"),
        (vec!["--config", cfg, "--report", "/dev/full"], "a device"),
        (
            vec!["patches", "--format", "flux", "--check", "/dev/zero"],
            "a device",
        ),
        (vec!["patches", "--format", "flux", "--check", f], "FIFO"),
        (vec!["patches", "--format", "flux", "--config", f], "FIFO"),
    ] {
        let mut c = clean(BIN);
        c.args(&args);
        let r = bounded(c, &input());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: stdout");
        assert!(
            r.stderr.contains(says) && r.stderr.contains("regular file"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// `sh -c 'ulimit -f 0; …'`: any write to a file fails (EFBIG, with SIGXFSZ
/// ignored), as on a full filesystem; stdout, a pipe, is not limited.
fn with_no_file_space(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = clean("sh");
    c.args(["-c", "ulimit -f 0; trap '' XFSZ; exec \"$0\" \"$@\"", BIN])
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    bounded(c, &input())
}

#[test]
fn a_report_that_cannot_be_written_leaves_stdout_empty_unless_nobody_asked_for_it() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("r.txt");
    let cfg = example("rwo-claim.yaml");
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
    ];
    let run = with_no_file_space(&args, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "the stream went out before the report"
    );
    assert!(
        run.stderr.contains("cannot write the report"),
        "{}",
        run.stderr
    );
    // The same through POLYREPO_REPORT.
    let run = with_no_file_space(
        &["--config", cfg.to_str().unwrap()],
        &[("POLYREPO_REPORT", r.to_str().unwrap())],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    // The wrapper's own report (nobody asked for it): the render goes on.
    let fallback = d.path().join("fallback.txt");
    let run = with_no_file_space(
        &["--config", cfg.to_str().unwrap()],
        &[("POLYREPO_FALLBACK_REPORT", fallback.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.is_empty());
    assert!(run.stderr.contains("rendering on"), "{}", run.stderr);
    // With room, the report holds what stderr said.
    let mut c = clean(BIN);
    c.args(args);
    let ok = bounded(c, &input());
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(std::fs::read_to_string(&r).unwrap(), ok.stderr);
}

#[test]
fn a_usage_error_reaches_the_report_asked_for_once_labelled() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("r.txt");
    std::fs::write(&r, "polyrepo-render: changed an earlier run\n").unwrap();
    for args in [
        vec![
            "--report".to_string(),
            r.display().to_string(),
            "--bogus".into(),
        ],
        vec![format!("--report={}", r.display()), "--bogus".into()],
    ] {
        let mut c = clean(BIN);
        c.args(&args);
        let run = bounded(c, b"");
        assert_eq!(run.code, 2);
        let text = std::fs::read_to_string(&r).unwrap();
        assert!(
            text.starts_with("polyrepo-render: error: unexpected argument '--bogus'"),
            "{text}"
        );
        assert!(!text.contains("error: error:") && !text.contains("earlier run"));
    }
}

#[test]
fn a_report_is_never_written_through_a_planted_link() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let planted = d.path().join("report.txt");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let cfg = example("rwo-claim.yaml");
    let mut c = clean(BIN);
    c.args(["--config", cfg.to_str().unwrap(), "--report"])
        .arg(&planted);
    let run = bounded(c, &input());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

/// A Helm 4 plugin folder whose bin/ holds the binary, and a cache home.
struct Wrapper {
    dir: tempfile::TempDir,
}

impl Wrapper {
    fn new() -> Wrapper {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugin/bin")).unwrap();
        std::os::unix::fs::symlink(BIN, dir.path().join("plugin/bin/polyrepo-render")).unwrap();
        Wrapper { dir }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache/polyrepo-render")
    }

    /// The wrapper as Helm 4 runs it; `delay` lets a test plant files once
    /// the wrapper's process id (`$$`, the child's id) is known.
    fn command(&self, delay: &str) -> Command {
        let mut c = clean("sh");
        c.args([
            "-c",
            &format!("sleep {delay}; exec sh \"$0\" \"$@\""),
            root().join("plugin/polyrepo-render.sh").to_str().unwrap(),
            "--config",
            example("rwo-claim.yaml").to_str().unwrap(),
        ])
        .env("HELM_PLUGIN_DIR", self.dir.path().join("plugin"))
        .env("HELM_CACHE_HOME", self.dir.path().join("cache"));
        c
    }
}

fn utc_stamp(at: std::time::SystemTime) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!(
                "@{}",
                at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            ),
            "+%Y%m%dT%H%M%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_helm4_wrapper_writes_through_no_link_planted_in_its_cache_folder() {
    let w = Wrapper::new();
    std::fs::create_dir_all(w.cache()).unwrap();
    let victim = w.dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    // Links at every name the wrapper used to write through, planted once
    // its process id is known: the report of this and the next seconds,
    // its `.latest.<pid>` copy, and latest.txt itself.
    let mut c = w.command("1");
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("POLYREPO_REPORT")
        .env_remove("POLYREPO_CONFIG");
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let now = std::time::SystemTime::now();
    let mut names = vec![format!(".latest.{pid}"), "latest.txt".to_string()];
    for s in 0..6 {
        names.push(format!(
            "report-{}-{pid}.txt",
            utc_stamp(now + Duration::from_secs(s))
        ));
    }
    for n in &names {
        std::os::unix::fs::symlink(&victim, w.cache().join(n)).unwrap();
    }
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &input()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    // latest.txt is now a file of its own holding this run's report.
    let latest = w.cache().join("latest.txt");
    assert!(std::fs::symlink_metadata(&latest).unwrap().is_file());
    assert!(
        std::fs::read_to_string(&latest)
            .unwrap()
            .contains("changed ")
    );
    let mode = std::fs::metadata(w.cache()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700, "the report folder is private");
}

#[test]
fn the_helm4_wrapper_uses_no_report_folder_that_is_not_the_users_own() {
    // As root (CI), a folder given to another user; elsewhere a symlink to
    // a folder is the case that needs no privilege.
    let w = Wrapper::new();
    let elsewhere = w.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(w.dir.path().join("cache")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, w.cache()).unwrap();
    let run = bounded(w.command("0"), &input());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.is_empty(), "the render goes on");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    let w = Wrapper::new();
    std::fs::create_dir_all(w.cache()).unwrap();
    let root_user = unsafe { libc::geteuid() } == 0;
    if root_user {
        assert!(
            Command::new("chown")
                .args(["65534:65534"])
                .arg(w.cache())
                .status()
                .unwrap()
                .success()
        );
        std::fs::set_permissions(w.cache(), PermissionsExt::from_mode(0o777)).unwrap();
        let run = bounded(w.command("0"), &input());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.is_empty());
        assert_eq!(
            std::fs::read_dir(w.cache()).unwrap().count(),
            0,
            "nothing written to another user's folder"
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root: the other-owner case must run there"
        );
    }

    // The folder holding it (the cache home) must be one nobody else can
    // rename it out of: not another user's, not writable by others unless
    // sticky.
    for (owner, mode, used) in [
        (None, 0o777, false),
        (None, 0o1777, true),
        (None, 0o755, true),
        (Some("65534:65534"), 0o755, false),
    ] {
        let w = Wrapper::new();
        let home = w.dir.path().join("cache");
        std::fs::create_dir_all(&home).unwrap();
        if let Some(o) = owner {
            if !root_user {
                continue;
            }
            assert!(
                Command::new("chown")
                    .arg(o)
                    .arg(&home)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        std::fs::set_permissions(&home, PermissionsExt::from_mode(mode)).unwrap();
        let run = bounded(w.command("0"), &input());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.is_empty());
        assert_eq!(
            w.cache().join("latest.txt").exists(),
            used,
            "cache home {owner:?} {mode:o}"
        );
    }

    // A cache home that cannot hold the folder (a file there): no report,
    // the render goes on.
    let w = Wrapper::new();
    std::fs::create_dir_all(w.dir.path().join("cache")).unwrap();
    std::fs::write(w.cache(), "not a folder").unwrap();
    let run = bounded(w.command("0"), &input());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.is_empty());
}

/// A folder of the report's path replaced by a link that someone else
/// planted (in a folder others can write) is not followed; the user's own
/// links are.
#[test]
fn a_report_path_through_someone_elses_link_is_refused() {
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var("CI").is_err(), "CI runs as root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("report.txt"), "precious").unwrap();
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::os::unix::fs::symlink("../victim", shared.join("ci")).unwrap();
    assert!(
        Command::new("chown")
            .args(["-h", "65534:65534"])
            .arg(shared.join("ci"))
            .status()
            .unwrap()
            .success()
    );
    let report = shared.join("ci/report.txt");
    let cfg = example("rwo-claim.yaml");
    for args in [
        vec![
            "--config",
            cfg.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        vec!["--bogus", "--report", report.to_str().unwrap()],
    ] {
        let mut c = clean(BIN);
        c.args(&args);
        let run = bounded(c, &input());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert_eq!(
            std::fs::read_to_string(victim.join("report.txt")).unwrap(),
            "precious"
        );
    }
    // The user's own link is followed.
    let mine = shared.join("mine");
    std::os::unix::fs::symlink("../victim", &mine).unwrap();
    let mut c = clean(BIN);
    c.args(["--config", cfg.to_str().unwrap(), "--report"])
        .arg(mine.join("report.txt"));
    let run = bounded(c, &input());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::read_to_string(victim.join("report.txt"))
            .unwrap()
            .contains("changed ")
    );
}

#[test]
fn install_binary_writes_through_no_planted_link() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let dest = d.path().join("polyrepo-render");
    std::os::unix::fs::symlink(&victim, &dest).unwrap();
    // The temporary name the command used to write through, planted once
    // its process id is known.
    let mut c = clean("sh");
    c.args(["-c", "sleep 1; exec \"$0\" install-binary \"$1\"", BIN])
        .arg(&dest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    std::os::unix::fs::symlink(
        &victim,
        d.path()
            .join(format!(".polyrepo-render.tmp-{}", child.id())),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"keep",
        "the victim was overwritten"
    );
    let meta = std::fs::symlink_metadata(&dest).unwrap();
    assert!(meta.is_file(), "the link itself was replaced");
    assert_eq!(meta.mode() & 0o777, 0o755);
    assert_eq!(meta.len(), std::fs::metadata(BIN).unwrap().len());
}

/// Without HELM_CACHE_HOME, the Helm 4 wrapper's report goes where Helm
/// keeps its cache: what `$HELM_BIN env HELM_CACHE_HOME` says, else Helm's
/// default for the system (~/Library/Caches/helm on macOS).
#[test]
fn the_helm4_wrapper_finds_helms_cache_home_without_the_variable() {
    let w = Wrapper::new();
    let d = w.dir.path();
    let input = fixture("helm3-default.yaml");
    // A Helm that answers `env HELM_CACHE_HOME`.
    let asked = d.join("asked-cache");
    let helm = temp_file(
        d,
        "helm",
        &format!(
            "#!/bin/sh\n[ \"$1 $2\" = 'env HELM_CACHE_HOME' ] && echo '{}'\n",
            asked.display()
        ),
    );
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = w.command("0");
    c.env_remove("HELM_CACHE_HOME")
        .env("HELM_BIN", &helm)
        .env("HOME", d.join("home"));
    let r = bounded(c, &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(asked.join("polyrepo-render/latest.txt").is_file());
    // No HELM_BIN, on macOS (`uname -s` says Darwin): Helm's default there.
    let bin = d.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let uname = temp_file(&bin, "uname", "#!/bin/sh\necho Darwin\n");
    std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = w.command("0");
    c.env_remove("HELM_CACHE_HOME")
        .env_remove("HELM_BIN")
        .env("HOME", d.join("home"))
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        );
    let r = bounded(c, &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        d.join("home/Library/Caches/helm/polyrepo-render/latest.txt")
            .is_file()
    );
}
