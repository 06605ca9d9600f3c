//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("UTF-8 output")
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/polyaxon-0.6.1").join(name)).expect("fixture")
}

pub fn fixtures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/polyaxon-0.6.1"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.starts_with("helm").then_some(n)
        })
        .collect();
    v.sort();
    v
}

pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// A config of `tests/fixtures/configs/`: an example without
/// `workloads.mountInto`, for hand-made streams that hold no scheduler.
pub fn small_config(name: &str) -> PathBuf {
    root().join("tests/fixtures/configs").join(name)
}

/// Runs the binary with `args` on `input`, with a clean environment.
pub fn run(args: &[&str], input: &[u8]) -> Run {
    run_env(args, input, &[])
}

pub fn run_env(args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"));
    cmd.args(args)
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd, input)
}

/// Runs a prepared command with `input` on stdin.
pub fn run_cmd(mut cmd: Command, input: &[u8]) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes a temporary file with `text`.
pub fn temp_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A unified diff of input and output, for snapshots.
pub fn diff(input: &str, output: &str) -> String {
    similar::TextDiff::from_lines(input, output)
        .unified_diff()
        .context_radius(3)
        .header("input", "output")
        .to_string()
}

/// Asserts a snapshot stored under the top-level `snapshots/` folder.
#[macro_export]
macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

/// Runs `tests` under libtest-mimic. When `missing` names a missing tool,
/// every test is reported *ignored* locally and *failed* under `CI=true`
/// (which `.ci/run` sets): a test that could not run never shows as passed.
pub fn run_needing(missing: Option<String>, tests: Vec<(&'static str, fn())>) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if let Some(m) = &missing
        && !ci
    {
        eprintln!("not run here: {m}");
        // `scripts/test.sh` names every test not run, at the end.
        if let Some(log) = std::env::var_os("POLYREPO_SKIPPED_LOG") {
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
                for (name, _) in &tests {
                    let _ = writeln!(f, "{name}: {m}");
                }
            }
        }
    }
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let ignored = missing.is_some() && !ci;
            let missing = missing.clone();
            libtest_mimic::Trial::test(name, move || {
                if let Some(m) = missing {
                    return Err(format!("cannot run: {m}").into());
                }
                std::panic::catch_unwind(f).map_err(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".into())
                        .into()
                })
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// The pod template of a workload object (a Pod is its own).
pub fn pod_template(w: &serde_json::Value) -> &serde_json::Value {
    match w["kind"].as_str() {
        Some("Pod") => w,
        Some("CronJob") => &w["spec"]["jobTemplate"]["spec"]["template"],
        _ => &w["spec"]["template"],
    }
}

/// The co-location term polyrepo-render added to a workload's pods, if
/// any: the required pod affinity the workload's `polyrepo-render/colocation`
/// annotation records (a term over the chart's labels), or one selecting
/// the added `polyrepo-render/colocate` label. Pods of one group carry the
/// same term.
pub fn colocation(w: &serde_json::Value) -> Option<serde_json::Value> {
    let t = pod_template(w);
    let terms =
        t["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .as_array()?;
    let recorded: Option<serde_json::Value> =
        w["metadata"]["annotations"]["polyrepo-render/colocation"]
            .as_str()
            .map(|s| serde_json::from_str(s).expect("the recorded term is JSON"));
    terms
        .iter()
        .find(|x| {
            Some(*x) == recorded.as_ref()
                || x["labelSelector"]["matchLabels"]["polyrepo-render/colocate"].is_string()
        })
        .cloned()
}
