//! The `polyrepo-render` command: stdin → stdout, report on stderr.

use clap::{Parser, Subcommand};
use polyrepo_render::{Failure, argocd, config, files, krm, report::Report};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLE: &str = "\
Example:
  helm template polyaxon polyaxon/polyaxon -n polyaxon \\
    --post-renderer polyrepo-render \\
    --post-renderer-args --config=polyrepo.yaml

  polyrepo-render --config examples/rwo-claim.yaml < examples/polyaxon-0.6.1.yaml
  polyrepo-render patches --format flux --config polyrepo.yaml < render.yaml

A lone config.kubernetes.io ResourceList on stdin is a KRM function call
(kustomize, kpt): settings from its functionConfig, the report in `results`.

Exit codes: 0 done; 1 the input is invalid or cannot be made safe; 2 usage or
configuration error. On any error nothing is written to stdout (except a KRM
function call, which still writes its ResourceList with the error).";

/// Helm post-renderer for Polyaxon: sets the `repos` volume and keeps pods
/// that share a single-node volume on one node.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, after_help = EXAMPLE, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(flatten)]
    inputs: Inputs,
    #[command(flatten)]
    output: Output,
    #[command(subcommand)]
    command: Option<Step>,
}

/// How a run reports (the post-renderer and `patches` alike).
#[derive(clap::Args, Debug, Clone)]
struct Output {
    /// Also write the report (changes, warnings, errors) to FILE (default: $POLYREPO_REPORT).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Treat warnings as errors (exit 1), for CI pipelines (default:
    /// $POLYREPO_STRICT); acknowledged advice (notes) passes.
    #[arg(long)]
    strict: bool,
    /// The report file's format: text (as on stderr) or json (every change,
    /// warning and error with its objects and decision; needs --report)
    /// (default: $POLYREPO_REPORT_FORMAT, else text).
    #[arg(long, value_enum, value_name = "FORMAT")]
    report_format: Option<ReportFormat>,
}

/// The report file's format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormat {
    /// The lines stderr shows.
    Text,
    /// The JSON report (README, "JSON report").
    Json,
}

impl ReportFormat {
    /// The format asked on the command line, else by
    /// $POLYREPO_REPORT_FORMAT, else text.
    fn asked(flag: Option<ReportFormat>) -> Result<ReportFormat, String> {
        if let Some(f) = flag {
            return Ok(f);
        }
        match std::env::var("POLYREPO_REPORT_FORMAT").ok().as_deref() {
            None | Some("") | Some("text") => Ok(ReportFormat::Text),
            Some("json") => Ok(ReportFormat::Json),
            Some(other) => Err(format!(
                "POLYREPO_REPORT_FORMAT is {:?}; it may be text or json",
                other
            )),
        }
    }
}

/// Modes other than the post-renderer.
#[derive(Subcommand, Debug)]
enum Step {
    /// Print a shell's completion script, e.g.
    /// `polyrepo-render completions bash > /etc/bash_completion.d/polyrepo-render`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print, instead of the patched stream, a unified diff of each changed
    /// document (its header names the document, its template and the
    /// objects changed), coloured on a terminal: what `helm diff` and
    /// `kubectl diff` show, for a reviewer.
    Diff {
        /// When to colour: on a terminal (auto, unless NO_COLOR is set),
        /// always or never.
        #[arg(long, value_enum, default_value_t = Colour::Auto)]
        color: Colour,
        #[command(flatten)]
        inputs: Inputs,
        #[command(flatten)]
        output: Output,
    },
    /// Print the manual page (roff), e.g.
    /// `polyrepo-render man > /usr/local/share/man/man1/polyrepo-render.1`.
    Man,
    /// The Argo CD Config Management Plugin steps (examples/argocd/plugin.yaml).
    #[command(subcommand)]
    Argocd(ArgocdStep),
    /// Copy this binary to DEST (mode 0755): what an init container runs to
    /// hand the binary to another container, in an image holding nothing else.
    InstallBinary {
        /// Where to write the copy, e.g. /custom-tools/polyrepo-render.
        dest: PathBuf,
    },
    /// Print, instead of the patched stream, the kustomize patches that make
    /// the same changes: a Flux HelmRelease's `postRenderers:` block, or a
    /// kustomization's `patches:` list.
    Patches {
        /// Where the patches go.
        #[arg(long, value_enum)]
        format: PatchFormat,
        /// Check that the patches in FILE are still the ones this render
        /// needs (exit 0), or say what differs (exit 1); prints nothing on
        /// stdout, and on stderr only what differs (and any warning).
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
        #[command(flatten)]
        output: Output,
    },
}

/// Where the settings come from (the post-renderer and `patches` alike).
#[derive(clap::Args, Debug, Clone)]
struct Inputs {
    /// polyrepo.yaml (default: $POLYREPO_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Helm values file to read persistence.repos from (repeatable; later wins).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    values: Vec<PathBuf>,
    /// Release namespace, for objects that carry none.
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,
    /// Polyaxon is a dependency of an umbrella chart: read its values under
    /// KEY (the dependency's name or alias) in the values files, as
    /// `KEY.persistence.repos` and `KEY.types.core`.
    #[arg(long, value_name = "KEY")]
    subchart: Option<String>,
    /// The rendered stream to read (`-` or none: stdin). A file named like
    /// a subcommand needs a path: `./patches`.
    #[arg(value_name = "FILE")]
    stream: Option<PathBuf>,
}

impl Inputs {
    /// The stream: FILE, or stdin when it is absent or `-`.
    fn read_stream(&self) -> Result<Vec<u8>, Failure> {
        match self.stream.as_deref() {
            Some(p) if p != std::path::Path::new("-") => {
                files::read_stream(p).map_err(|e| Failure::config(e.0))
            }
            _ => read_stdin(),
        }
    }

    /// Every file the run reads: the config, the values files, the stream.
    fn paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .config
            .clone()
            .or_else(|| env_path("POLYREPO_CONFIG"))
            .into_iter()
            .collect();
        v.extend(self.values.iter().cloned());
        v.extend(self.stream.clone().filter(|p| p.as_os_str() != "-"));
        v
    }

    /// The settings: the config file (or $POLYREPO_CONFIG) and values files.
    fn settings(&self) -> Result<config::Settings, Failure> {
        let config = self.config.clone().or_else(|| env_path("POLYREPO_CONFIG"));
        config::load_with(
            config.as_deref(),
            &self.values,
            self.namespace.clone(),
            self.subchart.as_deref(),
        )
        .map_err(|e| Failure::config(e.0))
    }
}

/// When `diff` colours its output.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Colour {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where `patches` output goes.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum PatchFormat {
    /// A `postRenderers:` block for a Flux HelmRelease's spec.
    Flux,
    /// A `patches:` list for a kustomization.yaml.
    Kustomize,
}

/// The CMP's commands, run by Argo CD in the Application's folder.
#[derive(Subcommand, Debug)]
enum ArgocdStep {
    /// `helm template` the app folder with the Application's parameters
    /// (ARGOCD_APP_PARAMETERS), then render it as the post-renderer does.
    Generate,
    /// Print why this plugin applies to the app folder (nothing if it does not).
    Discover,
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
            if code != 0 {
                let asked = report_in_args().or_else(|| env_path("POLYREPO_REPORT"));
                if asked.as_deref() != Some(std::path::Path::new("-"))
                    && let Ok(Some(mut rf)) = ReportFile::open(asked, json_in_args())
                {
                    let text = e.to_string();
                    let text = text.trim_end();
                    let _ = rf.write(
                        &Report::default()
                            .with_error(text.strip_prefix("error: ").unwrap_or(text), code.into()),
                    );
                }
            }
            return ExitCode::from(code);
        }
    };
    match &args.command {
        Some(Step::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(
                *shell,
                &mut <Args as clap::CommandFactory>::command(),
                "polyrepo-render",
                &mut out,
            );
            exit_of(write_all(&out))
        }
        Some(Step::Diff {
            color,
            inputs,
            output,
        }) => {
            let colour = match color {
                Colour::Always => true,
                Colour::Never => false,
                Colour::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            run(
                output,
                &inputs.paths(),
                || read_input(inputs),
                |input, settings, strict, report| match decide(input, settings, strict, report) {
                    (Some(Payload::Stream(r)), Ok(())) => {
                        (Some(Payload::Bytes(diff_text(&r, colour))), Ok(()))
                    }
                    (payload, result) => (payload, result),
                },
            )
        }
        Some(Step::Man) => {
            let mut out = Vec::new();
            let page = clap_mangen::Man::new(<Args as clap::CommandFactory>::command());
            match page.render(&mut out) {
                Ok(()) => exit_of(write_all(&out)),
                Err(e) => exit_of(Err(Failure::internal(format!(
                    "cannot render the man page: {e}"
                )))),
            }
        }
        Some(Step::Argocd(ArgocdStep::Discover)) => {
            let app = std::env::current_dir().unwrap_or_else(|_| ".".into());
            if let Some(why) = argocd::discover(&app, &|k| std::env::var(k).ok()) {
                println!("polyrepo-render: {why}");
            }
            ExitCode::SUCCESS
        }
        Some(Step::Argocd(ArgocdStep::Generate)) => run(&args.output, &[], argocd_generate, decide),
        Some(Step::InstallBinary { dest }) => match install_binary(dest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("polyrepo-render: error: {}", e.message());
                ExitCode::from(2)
            }
        },
        Some(Step::Patches {
            format,
            check,
            inputs,
            output,
        }) => patches(*format, check.as_deref(), inputs, output),
        None => run(
            &args.output,
            &args.inputs.paths(),
            || read_input(&args.inputs),
            decide,
        ),
    }
}

/// The `--report FILE` or `--report=FILE` of a command line clap refused,
/// so that the usage error reaches the report the user asked for.
fn report_in_args() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        if a == "--report" {
            return args.next().map(PathBuf::from);
        }
        if let Some(p) = a.to_str().and_then(|a| a.strip_prefix("--report=")) {
            return Some(PathBuf::from(p));
        }
    }
    None
}

/// True when a command line clap refused asks for a JSON report
/// (`--report-format json`, `--report-format=json`, or
/// $POLYREPO_REPORT_FORMAT), so that the usage error reaches it as JSON.
fn json_in_args() -> bool {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        if a == "--report-format" {
            return args.next().is_some_and(|f| f == "json");
        }
        if let Some(f) = a.to_str().and_then(|a| a.strip_prefix("--report-format=")) {
            return f == "json";
        }
    }
    std::env::var("POLYREPO_REPORT_FORMAT").is_ok_and(|v| v == "json")
}

/// Copies the running binary to `dest`, through a temporary file renamed
/// into place. The binary is found from argv[0] when it is a path, since an
/// image with nothing else has no /proc to ask.
fn install_binary(dest: &std::path::Path) -> Result<(), Failure> {
    if dest.is_dir() || dest.as_os_str().to_string_lossy().ends_with('/') {
        return Err(Failure::config(format!(
            "{} is a folder; give the file to write, e.g. {}",
            dest.display(),
            dest.join("polyrepo-render").display()
        )));
    }
    let me = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.components().count() > 1)
        .map_or_else(std::env::current_exe, Ok)
        .map_err(|e| Failure::config(format!("cannot find this binary: {e}")))?;
    // A new file under an unguessable name (O_EXCL, O_NOFOLLOW: nothing
    // planted beside DEST is written through), renamed over DEST (a rename
    // replaces a symlink there, it never follows it).
    let (mut out, tmp) = files::create_beside(dest, 0o700).map_err(|e| Failure::config(e.0))?;
    let result = std::fs::File::open(&me)
        .and_then(|mut src| std::io::copy(&mut src, &mut out))
        .and_then(|_| out.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755)))
        .and_then(|_| out.sync_all())
        .and_then(|_| std::fs::rename(&tmp, dest));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::config(format!(
            "cannot copy {} to {}: {e}",
            me.display(),
            dest.display()
        )));
    }
    Ok(())
}

/// Runs `helm template` as the Argo CD parameters say, and returns its
/// output with the settings to render it with.
fn argocd_generate() -> Result<(config::Settings, Vec<u8>), Failure> {
    let app = std::env::current_dir()
        .map_err(|e| Failure::config(format!("cannot read the app folder: {e}")))?;
    let plan = argocd::plan_generate(&app, &|k| std::env::var(k).ok())
        .map_err(|e| Failure::config(e.to_string()))?;
    let settings = config::load_with(
        Some(&plan.config),
        &plan.values,
        plan.namespace.clone(),
        plan.subchart.as_deref(),
    )
    .map_err(|e| Failure::config(e.0))?;
    // The sidecar's admin may name Helm (POLYREPO_HELM); Application users
    // cannot, since Argo CD prefixes their variables with ARGOCD_ENV_.
    let helm = env_path("POLYREPO_HELM").unwrap_or_else(|| "helm".into());
    let out = std::process::Command::new(&helm)
        .args(&plan.helm_args)
        .current_dir(&app)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            Failure::config(format!(
                "cannot run {}: {e}; set POLYREPO_HELM in the plugin's sidecar to Helm's path",
                helm.display()
            ))
        })?;
    if !out.status.success() {
        return Err(Failure::input(format!(
            "helm template failed ({}); its message is above",
            out.status
        )));
    }
    Ok((settings, out.stdout))
}

/// Where the report goes besides stderr: a file the user asked for
/// (`--report`, `POLYREPO_REPORT`), which must be written or the run
/// fails, or the Helm 4 wrapper's own (`POLYREPO_FALLBACK_REPORT`), written
/// when it can be and never failing a render nobody asked a report of.
struct ReportFile {
    path: PathBuf,
    file: std::fs::File,
    asked: bool,
    json: bool,
}

impl ReportFile {
    /// Opens the report file, if any (the JSON report only when it was
    /// asked for). A file that was asked for but cannot be opened is an
    /// error (exit 2) found before anything is read.
    fn open(asked: Option<PathBuf>, json: bool) -> Result<Option<ReportFile>, ExitCode> {
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
    fn body(&self, report: &Report) -> Vec<u8> {
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
    fn write(&mut self, report: &Report) -> Result<(), Failure> {
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
    fn late(&mut self, report: &Report, late: &Report) {
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
const FALLBACK_REPORT: &str = "POLYREPO_FALLBACK_REPORT";

/// What a run writes to stdout once the report is safe.
enum Payload<'t> {
    /// The patched stream, streamed from the input and its edits.
    Stream(polyrepo_render::Rendered<'t>),
    /// A KRM function's ResourceList (written even when the call failed).
    Bytes(Vec<u8>),
}

/// Decides everything for `input`: what to write, and whether the run
/// succeeded. Nothing is written here.
fn decide<'t>(
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
fn run(
    args: &Output,
    reads: &[PathBuf],
    load: impl FnOnce() -> Result<(config::Settings, Vec<u8>), Failure>,
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
        Err(e) => return refuse(asked, e),
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

/// `polyrepo-render patches`: the patches, or the check of a patches file,
/// reported as the post-renderer reports (`--report`, `--quiet`,
/// `--strict`). A check reports only what differs, not every change.
fn patches(
    format: PatchFormat,
    check: Option<&std::path::Path>,
    inputs: &Inputs,
    output: &Output,
) -> ExitCode {
    use polyrepo_render::kustomize::{self, Format};
    let format = match format {
        PatchFormat::Flux => Format::Flux,
        PatchFormat::Kustomize => Format::Kustomize,
    };
    // Read by `load` (before stdin), used by the check.
    let previous: std::cell::RefCell<Option<String>> = Default::default();
    let load = || {
        let settings = inputs.settings()?;
        if let Some(p) = check {
            let bytes = files::read_regular(p, "--check").map_err(|e| Failure::config(e.0))?;
            *previous.borrow_mut() =
                Some(String::from_utf8(bytes).map_err(|_| {
                    Failure::config(format!("--check {} is not UTF-8", p.display()))
                })?);
        }
        Ok((settings, inputs.read_stream()?))
    };
    let mut reads = inputs.paths();
    reads.extend(check.map(std::path::Path::to_path_buf));
    run(output, &reads, load, |input, settings, strict, report| {
        let result = match (previous.borrow().as_deref(), check) {
            (Some(previous), Some(path)) => {
                let differs = kustomize::check(input, &settings, previous, report);
                // What differs, not the whole change report.
                report
                    .records
                    .retain(|r| r.level != polyrepo_render::report::Level::Change);
                match differs {
                    Ok(None) => {
                        report.info(format!(
                            "{} holds the patches this render needs",
                            path.display()
                        ));
                        Ok(None)
                    }
                    Ok(Some(diff)) => Err(Failure::input(format!(
                        "{} is out of date for this render; generate the patches again:\n{diff}",
                        path.display()
                    ))),
                    Err(f) => Err(f),
                }
            }
            _ => kustomize::generate(input, &settings, format, report).map(Some),
        };
        let result = result.and_then(|text| {
            if strict {
                polyrepo_render::strict_check(report)?;
            }
            Ok(text)
        });
        match result {
            Ok(text) => (text.map(|t| Payload::Bytes(t.into_bytes())), Ok(())),
            Err(f) => (None, Err(f)),
        }
    })
}

/// Reads stdin whole (a terminal is refused).
fn read_stdin() -> Result<Vec<u8>, Failure> {
    if std::io::stdin().is_terminal() {
        return Err(Failure::config(
            "stdin is a terminal: pipe a rendered stream in, e.g. \
             `helm template polyaxon polyaxon/polyaxon | polyrepo-render --config polyrepo.yaml`",
        ));
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::input(format!("cannot read stdin: {e}")))?;
    Ok(input)
}

/// The unified diff of each changed document: hunk lines numbered as in
/// the input (`-`) and the output (`+`) streams.
fn diff_text(rendered: &polyrepo_render::Rendered<'_>, colour: bool) -> Vec<u8> {
    let mut out = String::new();
    // How many more lines the output has before each document.
    let mut shift: i64 = 0;
    for d in rendered.documents() {
        let lines_before = d.lines_before;
        let what = if d.objects.is_empty() {
            d.label.clone()
        } else {
            format!("{} {}", d.label, d.objects.join(", "))
        };
        let diff = similar::TextDiff::from_lines(&d.before, &d.after);
        let body = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("{what} (input)"), &format!("{what} (output)"))
            .to_string();
        for line in body.lines() {
            let line = match line
                .strip_prefix("@@ -")
                .and_then(|r| r.strip_suffix(" @@"))
            {
                Some(ranges) => renumber(ranges, lines_before, shift),
                None => line.to_string(),
            };
            let paint = |code: &str| format!("\x1b[{code}m{line}\x1b[0m");
            let shown = if !colour {
                line.clone()
            } else if line.starts_with("---") || line.starts_with("+++") {
                paint("1")
            } else if line.starts_with("@@") {
                paint("36")
            } else if line.starts_with('-') {
                paint("31")
            } else if line.starts_with('+') {
                paint("32")
            } else {
                line.clone()
            };
            out.push_str(&shown);
            out.push('\n');
        }
        shift += d.after.matches('\n').count() as i64 - d.before.matches('\n').count() as i64;
    }
    out.into_bytes()
}

/// A hunk header `@@ -a,b +c,d @@` with its lines counted from the start of
/// the stream (`before` lines precede the document in the input; the output
/// has `shift` more before it).
fn renumber(ranges: &str, before: usize, shift: i64) -> String {
    let mut parts = ranges.split(" +");
    let (old, new) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let moved = |r: &str, by: i64| {
        let (start, len) = r.split_once(',').unwrap_or((r, ""));
        let start: i64 = start.parse().unwrap_or(0);
        let start = if start == 0 { 0 } else { start + by };
        if len.is_empty() {
            start.to_string()
        } else {
            format!("{start},{len}")
        }
    };
    format!(
        "@@ -{} +{} @@",
        moved(old, before as i64),
        moved(new, before as i64 + shift)
    )
}

/// The exit code of a run that only writes to stdout.
fn exit_of(written: Result<(), Failure>) -> ExitCode {
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
fn write_all(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::input(BROKEN_PIPE),
            _ => Failure::input(format!("cannot write the output: {e}")),
        })
}

/// Loads the settings, then reads the stream.
fn read_input(inputs: &Inputs) -> Result<(config::Settings, Vec<u8>), Failure> {
    let settings = inputs.settings()?;
    Ok((settings, inputs.read_stream()?))
}
