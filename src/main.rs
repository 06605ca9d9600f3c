//! The `polyrepo-render` command: stdin → stdout, report on stderr.

use clap::Parser;
use polyrepo_render::{Failure, config, report::Report};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLE: &str = "\
Example:
  helm template polyaxon polyaxon/polyaxon -n polyaxon \\
    --post-renderer polyrepo-render \\
    --post-renderer-args --config=polyrepo.yaml

  polyrepo-render --config examples/rwo-claim.yaml < examples/polyaxon-0.6.1.yaml

Exit codes: 0 done; 1 the input is invalid or cannot be made safe; 2 usage or
configuration error. On any error nothing is written to stdout.";

/// Helm post-renderer for Polyaxon: sets the `repos` volume and keeps pods
/// that share a single-node volume on one node.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, after_help = EXAMPLE)]
struct Args {
    /// polyrepo.yaml (default: $POLYREPO_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Helm values file to read persistence.repos from (repeatable; later wins).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    values: Vec<PathBuf>,
    /// Release namespace, for objects that carry none.
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,
    /// Also write the report (changes, warnings, errors) to FILE (default: $POLYREPO_REPORT).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Treat warnings as errors (exit 1), for CI pipelines (default: $POLYREPO_STRICT).
    #[arg(long)]
    strict: bool,
}

/// The conventional status of a process killed by SIGPIPE (128 + 13), as
/// `helm` and `kubectl` end when the reader of their output goes away.
const BROKEN_PIPE_STATUS: u8 = 141;

/// Marks a write into a closed pipe.
const BROKEN_PIPE: &str = "broken pipe";

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            // A usage error must reach a report too: under Helm 4 it is the
            // only place the user can read it.
            if code != 0
                && let Some(p) = env_path("POLYREPO_REPORT")
            {
                let _ = std::fs::write(p, format!("error: {}\n", e.to_string().trim_end()));
            }
            return ExitCode::from(code);
        }
    };
    let report_path = args.report.clone().or_else(|| env_path("POLYREPO_REPORT"));
    if report_path.as_deref() == Some(std::path::Path::new("-")) {
        eprintln!(
            "polyrepo-render: error: --report - is not supported: the report already goes to stderr \
             (drop --quiet to see it); name a file instead"
        );
        return ExitCode::from(2);
    }
    // A report that was asked for but cannot be written is a failure found
    // before anything reaches stdout.
    if let Some(p) = &report_path
        && let Err(e) = std::fs::File::create(p)
    {
        eprintln!(
            "polyrepo-render: error: cannot write the report to {}: {e}; nothing was written",
            p.display()
        );
        return ExitCode::from(2);
    }
    let strict = args.strict
        || std::env::var("POLYREPO_STRICT")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let mut report = Report::default();
    let input = read_input(&args);
    let mut printed = 0; // report lines already on stderr
    let result = input.and_then(|(settings, input)| {
        // Everything is decided and verified before the first byte is written.
        let rendered = polyrepo_render::render(&input, &settings, &mut report)?;
        let warnings = report
            .lines
            .iter()
            .filter(|l| l.starts_with("warning:"))
            .count();
        if strict && warnings > 0 {
            return Err(Failure::Input(format!(
                "{warnings} warning(s) and --strict (or POLYREPO_STRICT) turns warnings into errors"
            )));
        }
        if !args.quiet {
            report.to_stderr();
            printed = report.lines.len();
        }
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        rendered
            .write_to(&mut out)
            .and_then(|_| out.flush())
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::BrokenPipe => Failure::Input(BROKEN_PIPE.into()),
                _ => Failure::Input(format!("cannot write the output: {e}")),
            })
    });
    let code = match &result {
        Ok(()) => 0,
        // The reader went away (`| head`): stop quietly, as a pipe expects.
        Err(Failure::Input(m)) if m == BROKEN_PIPE => return ExitCode::from(BROKEN_PIPE_STATUS),
        Err(f) => {
            report.error(f.message());
            if args.quiet {
                eprintln!("polyrepo-render: error: {}", f.message());
            } else {
                Report {
                    lines: report.lines[printed..].to_vec(),
                }
                .to_stderr();
            }
            f.exit_code()
        }
    };
    if let Some(p) = report_path
        && let Err(e) = report.to_file(&p)
    {
        eprintln!(
            "polyrepo-render: error: cannot write the report to {}: {e}",
            p.display()
        );
        return ExitCode::from(1);
    }
    ExitCode::from(code as u8)
}

/// Loads the settings, then reads stdin.
fn read_input(args: &Args) -> Result<(config::Settings, Vec<u8>), Failure> {
    let config_path = args.config.clone().or_else(|| env_path("POLYREPO_CONFIG"));
    let settings = config::load(config_path.as_deref(), &args.values, args.namespace.clone())
        .map_err(|e| Failure::Config(e.0))?;
    if std::io::stdin().is_terminal() {
        return Err(Failure::Config(
            "stdin is a terminal: pipe a rendered stream in, e.g. \
             `helm template polyaxon polyaxon/polyaxon | polyrepo-render --config polyrepo.yaml`"
                .into(),
        ));
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::Input(format!("cannot read stdin: {e}")))?;
    Ok((settings, input))
}
