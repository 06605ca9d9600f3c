//! A large stream is spilled to an unnamed file and read through a mapping
//! whose pages each step gives back (issue 22): the output, the report and
//! the errors are those of the same stream read in memory, whether it
//! comes on stdin from a file, through a pipe or as `FILE`; and the peak
//! RSS stays under the stream's own size (read in memory, the stream alone
//! would be that much). One file, one test: the children's peak RSS is one
//! figure per test process, and it counts this process's own peak before
//! each spawn, so nothing large is held here before the runs measured.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// Writes `n` copies of the `replicas` capture to `path`, every object
/// renamed `-cN` (as `scripts/gen-stream` does): about 71 KB a copy,
/// written as made (see `digest`); returns the size.
fn write_stream(path: &std::path::Path, n: usize) -> usize {
    use std::io::Write;
    let text = String::from_utf8(fixture("helm3-replicas.yaml")).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut size = 0;
    for i in 0..n {
        let mut copy = String::with_capacity(text.len() + 1024);
        for line in text.split_inclusive('\n') {
            match line.strip_prefix("  name: ") {
                Some(name) => {
                    let (name, end) = name.split_at(name.trim_end().len());
                    let (q, bare) = match name.strip_prefix('"') {
                        Some(b) => ("\"", b.trim_end_matches('"')),
                        None => ("", name),
                    };
                    copy.push_str(&format!("  name: {q}{bare}-c{i}{q}{end}"));
                }
                None => copy.push_str(line),
            }
        }
        out.write_all(copy.as_bytes()).unwrap();
        size += copy.len();
    }
    out.flush().unwrap();
    size
}

/// The library's rendering of `input` in memory: (output, or the error's
/// message).
fn in_memory(input: &[u8], config: &std::path::Path) -> Result<Vec<u8>, String> {
    let settings = polyrepo_render::config::load_with(Some(config), &[], None, None).unwrap();
    let mut report = polyrepo_render::report::Report::default();
    match polyrepo_render::render(input, &settings, &mut report) {
        Ok(r) => {
            let mut out = Vec::new();
            r.write_to(&mut out).unwrap();
            Ok(out)
        }
        Err(f) => Err(f.message().to_string()),
    }
}

/// How the stream reaches the binary.
#[derive(Debug, Clone, Copy)]
enum Way {
    StdinFile,
    Pipe,
    FileArg,
}

/// Runs the binary on the stream at `path` the given way: (exit code,
/// digest of stdout and its length, stderr). Through a pipe, a thread
/// writes the file a piece at a time; stdout is digested as it comes,
/// never held (see `digest`).
fn run_way(
    way: Way,
    path: &std::path::Path,
    config: &std::path::Path,
) -> (i32, (u64, usize), String) {
    run_limited(way, path, config, None, false)
}

/// [`run_way`], with writes to files limited to `blocks` (`ulimit -f`)
/// when given, SIGXFSZ ignored or not.
fn run_limited(
    way: Way,
    path: &std::path::Path,
    config: &std::path::Path,
    blocks: Option<u32>,
    ignored: bool,
) -> (i32, (u64, usize), String) {
    use std::io::Read;
    let bin = env!("CARGO_BIN_EXE_polyrepo-render");
    let mut cmd = match blocks {
        None => Command::new(bin),
        Some(n) => {
            let mut c = Command::new("sh");
            let trap = if ignored { "trap '' XFSZ; " } else { "" };
            let script = format!("ulimit -f {n}; {trap}exec \"$0\" \"$@\"");
            c.args(["-c", &script, bin]);
            c
        }
    };
    cmd.arg("--config")
        .arg(config)
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match way {
        Way::StdinFile => {
            cmd.stdin(std::fs::File::open(path).unwrap());
        }
        Way::FileArg => {
            cmd.arg(path).stdin(Stdio::null());
        }
        Way::Pipe => {
            cmd.stdin(Stdio::piped());
        }
    }
    let mut child = cmd.spawn().unwrap();
    let writer = child.stdin.take().map(|mut w| {
        let mut file = std::fs::File::open(path).unwrap();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut file, &mut w);
        })
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut h = Digest::default();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stdout.read(&mut buf).unwrap() {
                0 => break h.finish(),
                n => h.write(&buf[..n]),
            }
        }
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    if let Some(w) = writer {
        w.join().unwrap();
    }
    (status.code().unwrap_or(-1), reader.join().unwrap(), err)
}

/// FNV-1a over bytes given in pieces, with their count: outputs compared
/// without being kept.
struct Digest(u64, usize);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325, 0)
    }
}

impl Digest {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.1 += bytes.len();
    }
    fn finish(self) -> (u64, usize) {
        (self.0, self.1)
    }
}

/// The largest peak RSS of this process's children so far, in bytes.
fn children_peak() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss as u64 * 1024
}

/// The digest of bytes held (see [`Digest`]).
fn digest(bytes: &[u8]) -> (u64, usize) {
    let mut h = Digest::default();
    h.write(bytes);
    h.finish()
}

#[test]
fn a_spilled_stream_renders_as_in_memory_and_keeps_memory_under_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("benches/bench-config.yaml");
    // 64 MB: four times the size from which a stream is spilled.
    let path = dir.path().join("stream.yaml");
    let size = write_stream(&path, 900);
    assert!(size > 60 << 20);
    let mut outputs = Vec::new();
    for way in [Way::StdinFile, Way::Pipe, Way::FileArg] {
        let (code, out, err) = run_way(way, &path, &config);
        assert_eq!(code, 0, "{way:?}: {err}");
        assert_eq!(
            err.matches("changed document").count(),
            1800,
            "{way:?}: two documents changed a copy"
        );
        outputs.push((way, out));
    }
    // Read in memory, the stream alone would take its size; spilled, the
    // whole run stays under it.
    let peak = children_peak();
    assert!(
        peak < size as u64,
        "peak RSS {} MiB, not under the stream's {} MiB",
        peak >> 20,
        size >> 20
    );
    let input = std::fs::read(&path).unwrap();
    let expected = in_memory(&input, &config).unwrap();
    assert!(expected != input, "the stream is changed");
    for (way, d) in outputs {
        assert_eq!(
            d,
            digest(&expected),
            "{way:?}: the output is the in-memory one"
        );
    }
    // A file-size limit (`ulimit -f`) smaller than the stream, SIGXFSZ
    // left as is or ignored: nothing is spilled (writing past the limit
    // would kill the process), the output the same.
    for (way, ignored) in [
        (Way::StdinFile, false),
        (Way::Pipe, false),
        (Way::Pipe, true),
    ] {
        let (code, out, err) = run_limited(way, &path, &config, Some(40_000), ignored);
        assert_eq!(code, 0, "{way:?} under a file-size limit: {err}");
        assert_eq!(out, digest(&expected), "{way:?} under a file-size limit");
    }

    // Errors: the same message as in memory, and nothing on stdout. A
    // syntax error near the end, and bytes that are not UTF-8 (found by
    // the check that reads the stream in pieces).
    let cut = input.len() - 1000;
    let at_line = input[..cut].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let mut broken = input.clone();
    broken.splice(at_line..at_line, b"key: [unclosed\n".iter().copied());
    let mut not_utf8 = input.clone();
    not_utf8[(40 << 20) + 17] = 0xFF;
    for (name, bad) in [("syntax", broken), ("utf-8", not_utf8)] {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &bad).unwrap();
        let message = in_memory(&bad, &config).unwrap_err();
        let way = if name == "syntax" {
            Way::StdinFile
        } else {
            Way::Pipe
        };
        {
            let (code, out, err) = run_way(way, &path, &config);
            assert_ne!(code, 0, "{name} {way:?}");
            assert_eq!(out.1, 0, "{name} {way:?}: nothing on stdout");
            assert!(
                err.contains(&message),
                "{name} {way:?}: {err} lacks {message}"
            );
        }
    }
}
