//! Memory is bounded per document (issue 22): a stream of hundreds of
//! thousands of documents that cannot matter (empty ones, ones without a
//! kind, tiny ConfigMaps) is passed through unchanged with a peak RSS under
//! twice the input plus 32 MiB, measured from the process itself
//! (`getrusage` of the child). One test: the children's peak is one figure
//! per test process.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs the binary on `input` (a file); returns its output and the peak
/// RSS, in bytes, of the largest child so far.
fn peak(input: &std::path::Path) -> (Vec<u8>, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_polyrepo-render"))
        .arg(input)
        .env_remove("POLYREPO_CONFIG")
        .env_remove("POLYREPO_REPORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    (out.stdout, usage.ru_maxrss as u64 * 1024)
}

/// One document of a shape, by its number.
type Doc = fn(usize) -> String;

#[test]
fn many_documents_that_cannot_matter_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let shapes: [(&str, Doc); 3] = [
        ("empty", |_| "---\n".to_string()),
        ("kindless", |i| format!("---\na: {i}\n")),
        ("configmaps", |i| {
            format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n")
        }),
    ];
    // Ordered by growing size: the children's peak is a running maximum,
    // so each bound is checked against the largest stream so far.
    for (name, doc) in shapes {
        let path = dir.path().join(format!("{name}.yaml"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..300_000 {
            f.write_all(doc(i).as_bytes()).unwrap();
        }
        f.into_inner().unwrap().sync_all().unwrap();
        let input = std::fs::read(&path).unwrap();
        let (out, rss) = peak(&path);
        assert!(out == input, "{name}: passed through unchanged");
        let bound = 2 * input.len() as u64 + (32 << 20);
        assert!(
            rss <= bound,
            "{name}: peak RSS {} MiB over {} MiB (2 x {} MiB + 32 MiB)",
            rss >> 20,
            bound >> 20,
            input.len() >> 20
        );
    }
    // And the fixture still changes as before beside them.
    let fixture = fixture("helm3-default.yaml");
    let r = run(
        &["--config", example("rwo-claim.yaml").to_str().unwrap()],
        &fixture,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}
