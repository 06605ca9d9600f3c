//! The report file: the one a user asked for (`--report`,
//! `POLYREPO_REPORT`), which must be written or the run fails, or the Helm 4
//! wrapper's own, written when it can be.

use super::args::env_path;
use polyrepo_render::{Failure, files, report::Report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the report goes besides stderr: a file the user asked for
/// (`--report`, `POLYREPO_REPORT`), which must be written or the run
/// fails, or the Helm 4 wrapper's own (`POLYREPO_FALLBACK_REPORT`), written
/// when it can be and never failing a render nobody asked a report of.
pub(crate) struct ReportFile {
    path: PathBuf,
    file: std::fs::File,
    asked: bool,
    json: bool,
}

impl ReportFile {
    /// Opens the report file, if any (the JSON report only when it was
    /// asked for). A file that was asked for but cannot be opened is an
    /// error (exit 2) found before anything is read.
    pub(crate) fn open(asked: Option<PathBuf>, json: bool) -> Result<Option<ReportFile>, ExitCode> {
        let (path, is_asked) = match asked {
            Some(p) => (p, true),
            None => match env_path(FALLBACK_REPORT) {
                Some(p) => (p, false),
                None => return Ok(None),
            },
        };
        match files::open_report(&path) {
            Ok(file) => Ok(Some(ReportFile {
                path,
                file,
                asked: is_asked,
                json: json && is_asked,
            })),
            Err(e) if is_asked => {
                eprintln!("polyrepo-render: error: {e}; nothing was written");
                Err(ExitCode::from(2))
            }
            Err(e) => {
                eprintln!("polyrepo-render: warning: {e} (the wrapper's own report; rendering on)");
                Ok(None)
            }
        }
    }

    /// The report as this file holds it.
    pub(crate) fn body(&self, report: &Report) -> Vec<u8> {
        if self.json {
            let mut v = serde_json::to_vec_pretty(&report.json()).expect("JSON values serialize");
            v.push(b'\n');
            v
        } else {
            report.text().into_bytes()
        }
    }

    /// Writes `report` and flushes it; a failure is an error only for a
    /// report that was asked for.
    pub(crate) fn write(&mut self, report: &Report) -> Result<(), Failure> {
        let body = self.body(report);
        let result = self.file.write_all(&body).and_then(|_| self.file.flush());
        match result {
            Ok(()) => Ok(()),
            Err(e) if self.asked => Err(Failure::input(format!(
                "cannot write the report to {}: {e}; nothing was written to stdout",
                self.path.display()
            ))),
            Err(e) => {
                eprintln!(
                    "polyrepo-render: warning: cannot write the report to {}: {e} (the wrapper's \
                     own report; rendering on)",
                    self.path.display()
                );
                Ok(())
            }
        }
    }

    /// The output failed late, after `report` was written: the text report
    /// gets the error's line; the JSON report is written again whole, with
    /// it.
    pub(crate) fn late(&mut self, report: &Report, late: &Report) {
        if self.json {
            use std::io::Seek;
            let mut all = report.clone();
            all.records.extend(late.records.iter().cloned());
            let body = self.body(&all);
            let _ = self
                .file
                .set_len(0)
                .and_then(|_| self.file.rewind())
                .and_then(|_| self.file.write_all(&body));
        } else {
            let _ = self.file.write_all(late.text().as_bytes());
        }
    }
}

/// The variable the Helm 4 wrapper names its own report file with.
pub(crate) const FALLBACK_REPORT: &str = "POLYREPO_FALLBACK_REPORT";
