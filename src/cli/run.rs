//! A run, in the order that keeps stdout safe: everything decided and
//! verified, then the report written (stderr and the report file), and only
//! then the output; broken pipes end quietly, as a pipe expects.

use super::args::{Output, ReportFormat, env_path};
use super::report_file::ReportFile;
use polyrepo_render::{Failure, config, files, krm, report::Report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The conventional status of a process killed by SIGPIPE (128 + 13), as
/// `helm` and `kubectl` end when the reader of their output goes away.
pub(crate) const BROKEN_PIPE_STATUS: u8 = 141;

/// Marks a write into a closed pipe.
pub(crate) const BROKEN_PIPE: &str = "broken pipe";

/// What a run writes to stdout once the report is safe.
pub(crate) enum Payload<'t> {
    /// The patched stream, streamed from the input and its edits.
    Stream(polyrepo_render::Rendered<'t>),
    /// A KRM function's ResourceList (written even when the call failed).
    Bytes(Vec<u8>),
}

/// Decides everything for `input`: what to write, and whether the run
/// succeeded. Nothing is written here.
pub(crate) fn decide<'t>(
    input: &'t [u8],
    settings: config::Settings,
    strict: bool,
    report: &mut Report,
) -> (Option<Payload<'t>>, Result<(), Failure>) {
    if krm::is_function_call(input) {
        // A KRM function call: the ResourceList goes out even on failure,
        // its `results` saying what happened.
        let call = krm::call(input, settings, strict, report);
        if call.result.is_err() {
            report.records.pop(); // the error, added again with the others'
        }
        return (Some(Payload::Bytes(call.output)), call.result);
    }
    let rendered = match polyrepo_render::render(input, &settings, report) {
        Ok(r) => r,
        Err(f) => return (None, Err(f)),
    };
    if strict && let Err(f) = polyrepo_render::strict_check(report) {
        return (None, Err(f));
    }
    (Some(Payload::Stream(rendered)), Ok(()))
}

/// The post-renderer's run on what `load` returns: everything is decided
/// and verified, then the report is written (stderr, and the report file,
/// flushed), and only then the output: a report that cannot be written
/// leaves stdout empty.
pub(crate) fn run(
    args: &Output,
    reads: &[PathBuf],
    load: impl FnOnce() -> Result<(config::Settings, files::Stream), Failure>,
    produce: impl for<'t> FnOnce(
        &'t [u8],
        config::Settings,
        bool,
        &mut Report,
    ) -> (Option<Payload<'t>>, Result<(), Failure>),
) -> ExitCode {
    let asked = args.report.clone().or_else(|| env_path("POLYREPO_REPORT"));
    if asked.as_deref() == Some(std::path::Path::new("-")) {
        eprintln!(
            "polyrepo-render: error: --report - is not supported: the report already goes to stderr \
             (drop --quiet to see it); name a file instead"
        );
        return ExitCode::from(2);
    }
    // A problem with the report's own flags still reaches a report: the
    // file asked for (as text), else the Helm 4 wrapper's.
    let refuse = |asked: Option<PathBuf>, message: String| {
        eprintln!("polyrepo-render: error: {message}");
        if let Ok(Some(mut rf)) = ReportFile::open(asked, false) {
            let _ = rf.write(&Report::default().with_error(&message, 2));
        }
        ExitCode::from(2)
    };
    let json = match ReportFormat::asked(args.report_format) {
        Ok(f) => f == ReportFormat::Json,
        Err(e) => return refuse(asked, e.message().to_string()),
    };
    if json && asked.is_none() {
        return refuse(
            None,
            "--report-format json needs a file to write to: add --report FILE (or set \
             POLYREPO_REPORT); stderr always gets the text report"
                .into(),
        );
    }
    // The report must not replace a file the run reads.
    if let Some(a) = &asked
        && let Some(p) = reads.iter().find(|p| files::same_file(a, p))
    {
        eprintln!(
            "polyrepo-render: error: --report {} is {}, which this run reads; name another file \
             (nothing was written)",
            a.display(),
            p.display()
        );
        return ExitCode::from(2);
    }
    let mut file = match ReportFile::open(asked, json) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let strict = args.strict
        || std::env::var("POLYREPO_STRICT")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let mut report = Report::default();
    let loaded = load();
    let (payload, mut result) = match &loaded {
        Ok((settings, input)) => produce(input, settings.clone(), strict, &mut report),
        Err(f) => (None, Err(f.clone())),
    };
    // The report file before stdout: if it cannot be written, nothing else is.
    let mut payload = payload;
    if let Err(f) = &result {
        f.record(&mut report);
    }
    if let Some(rf) = file.as_mut()
        && let Err(f) = rf.write(&report)
    {
        f.record(&mut report);
        result = result.and(Err(f));
        if matches!(payload, Some(Payload::Stream(_))) {
            payload = None;
        }
    }
    if args.quiet {
        if let Err(f) = &result {
            Report::default()
                .with_error(f.message(), f.exit_code())
                .to_stderr();
        }
    } else {
        report.to_stderr();
    }
    let written = match payload {
        None => Ok(()),
        Some(Payload::Bytes(b)) => write_all(&b),
        Some(Payload::Stream(r)) => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            r.write_to(&mut out)
                .and_then(|_| out.flush())
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Failure::input(BROKEN_PIPE),
                    _ => Failure::input(format!("cannot write the output: {e}")),
                })
        }
    };
    match (result, written) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        // The reader went away (`| head`): stop quietly, as a pipe expects.
        (Ok(()), Err(Failure::Input(m))) if m.message == BROKEN_PIPE => {
            if let Some(rf) = file.as_mut() {
                rf.late(
                    &report,
                    &Report::default().with_error(
                        "the reader closed the output before its end (a pipe such as `| head`)",
                        BROKEN_PIPE_STATUS.into(),
                    ),
                );
            }
            ExitCode::from(BROKEN_PIPE_STATUS)
        }
        (Ok(()), Err(f)) => {
            let mut late = Report::default();
            f.record(&mut late);
            late.to_stderr();
            if let Some(rf) = file.as_mut() {
                rf.late(&report, &late);
            }
            ExitCode::from(f.exit_code() as u8)
        }
        (Err(f), _) => ExitCode::from(f.exit_code() as u8),
    }
}

/// The exit code of a run that only writes to stdout.
pub(crate) fn exit_of(written: Result<(), Failure>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(m)) if m.message == BROKEN_PIPE => ExitCode::from(BROKEN_PIPE_STATUS),
        Err(f) => {
            Report::default()
                .with_error(f.message(), f.exit_code())
                .to_stderr();
            ExitCode::from(f.exit_code() as u8)
        }
    }
}

/// Writes bytes to stdout.
pub(crate) fn write_all(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::input(BROKEN_PIPE),
            _ => Failure::input(format!("cannot write the output: {e}")),
        })
}
