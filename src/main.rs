//! The `polyrepo-render` command: stdin → stdout, report on stderr.

use clap::{Parser, Subcommand};
use polyrepo_render::{Failure, argocd, config, krm, report::Report};
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
    /// Also write the report (changes, warnings, errors) to FILE (default: $POLYREPO_REPORT).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Treat warnings as errors (exit 1), for CI pipelines (default: $POLYREPO_STRICT).
    #[arg(long)]
    strict: bool,
    #[command(subcommand)]
    command: Option<Step>,
}

/// Modes other than the post-renderer.
#[derive(Subcommand, Debug)]
enum Step {
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
        /// needs (exit 0), or say what differs (exit 1); prints nothing.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
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
}

impl Inputs {
    /// The settings: the config file (or $POLYREPO_CONFIG) and values files.
    fn settings(&self) -> Result<config::Settings, Failure> {
        let config = self.config.clone().or_else(|| env_path("POLYREPO_CONFIG"));
        config::load(config.as_deref(), &self.values, self.namespace.clone())
            .map_err(|e| Failure::Config(e.0))
    }
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
            if code != 0
                && let Some(p) = env_path("POLYREPO_REPORT")
            {
                let _ = std::fs::write(p, format!("error: {}\n", e.to_string().trim_end()));
            }
            return ExitCode::from(code);
        }
    };
    match &args.command {
        Some(Step::Argocd(ArgocdStep::Discover)) => {
            let app = std::env::current_dir().unwrap_or_else(|_| ".".into());
            if let Some(why) = argocd::discover(&app, &|k| std::env::var(k).ok()) {
                println!("polyrepo-render: {why}");
            }
            ExitCode::SUCCESS
        }
        Some(Step::Argocd(ArgocdStep::Generate)) => run(&args, argocd_generate),
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
        }) => patches(*format, check.as_deref(), inputs),
        None => run(&args, || read_input(&args)),
    }
}

/// Copies the running binary to `dest`, through a temporary file renamed
/// into place. The binary is found from argv[0] when it is a path, since an
/// image with nothing else has no /proc to ask.
fn install_binary(dest: &std::path::Path) -> Result<(), Failure> {
    if dest.is_dir() || dest.as_os_str().to_string_lossy().ends_with('/') {
        return Err(Failure::Config(format!(
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
        .map_err(|e| Failure::Config(format!("cannot find this binary: {e}")))?;
    let name = dest
        .file_name()
        .ok_or_else(|| Failure::Config(format!("{} names no file", dest.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dest.with_file_name(tmp_name);
    let result = std::fs::copy(&me, &tmp)
        .and_then(|_| {
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        })
        .and_then(|_| std::fs::rename(&tmp, dest));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::Config(format!(
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
        .map_err(|e| Failure::Config(format!("cannot read the app folder: {e}")))?;
    let plan = argocd::plan_generate(&app, &|k| std::env::var(k).ok())
        .map_err(|e| Failure::Config(e.to_string()))?;
    let settings = config::load(Some(&plan.config), &plan.values, plan.namespace.clone())
        .map_err(|e| Failure::Config(e.0))?;
    // The sidecar's admin may name Helm (POLYREPO_HELM); Application users
    // cannot, since Argo CD prefixes their variables with ARGOCD_ENV_.
    let helm = env_path("POLYREPO_HELM").unwrap_or_else(|| "helm".into());
    let out = std::process::Command::new(&helm)
        .args(&plan.helm_args)
        .current_dir(&app)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Failure::Config(format!("cannot run {}: {e}", helm.display())))?;
    if !out.status.success() {
        return Err(Failure::Input(format!(
            "helm template failed ({}); its message is above",
            out.status
        )));
    }
    Ok((settings, out.stdout))
}

/// The post-renderer's run on what `load` returns: the report, --strict,
/// and the output written only once everything is decided.
fn run(
    args: &Args,
    load: impl FnOnce() -> Result<(config::Settings, Vec<u8>), Failure>,
) -> ExitCode {
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
    let input = load();
    let mut printed = 0; // report lines already on stderr
    let result = input.and_then(|(settings, input)| {
        if krm::is_function_call(&input) {
            // A KRM function call: the ResourceList goes out even on failure,
            // its `results` saying what happened.
            let call = krm::call(&input, settings, strict, &mut report);
            if !args.quiet && call.result.is_ok() {
                report.to_stderr();
                printed = report.lines.len();
            } else if call.result.is_err() {
                // The error is already in the report: print what came before.
                let before = report.lines.len().saturating_sub(1);
                if !args.quiet {
                    Report {
                        lines: report.lines[..before].to_vec(),
                    }
                    .to_stderr();
                }
                printed = before;
                report.lines.truncate(before);
            }
            write_all(&call.output)?;
            return call.result;
        }
        // Everything is decided and verified before the first byte is written.
        let rendered = polyrepo_render::render(&input, &settings, &mut report)?;
        if strict {
            polyrepo_render::strict_check(&report)?;
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

/// `polyrepo-render patches`: the patches, or the check of a patches file.
fn patches(format: PatchFormat, check: Option<&std::path::Path>, inputs: &Inputs) -> ExitCode {
    use polyrepo_render::kustomize::{self, Format};
    let format = match format {
        PatchFormat::Flux => Format::Flux,
        PatchFormat::Kustomize => Format::Kustomize,
    };
    let mut report = Report::default();
    let result = (|| {
        let settings = inputs.settings()?;
        let previous = match check {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                Failure::Config(format!("cannot read --check {}: {e}", p.display()))
            })?),
            None => None,
        };
        let input = read_stdin()?;
        match previous {
            Some(previous) => match kustomize::check(&input, &settings, &previous, &mut report)? {
                None => {
                    report.lines.push(format!(
                        "{} holds the patches this render needs",
                        check.expect("checked").display()
                    ));
                    Ok(())
                }
                Some(diff) => Err(Failure::Input(format!(
                    "{} is out of date for this render; generate the patches again:\n{diff}",
                    check.expect("checked").display()
                ))),
            },
            None => {
                let text = kustomize::generate(&input, &settings, format, &mut report)?;
                write_all(text.as_bytes())
            }
        }
    })();
    match result {
        Ok(()) => {
            report.to_stderr();
            ExitCode::SUCCESS
        }
        Err(f) => {
            report.error(f.message());
            report.to_stderr();
            ExitCode::from(f.exit_code() as u8)
        }
    }
}

/// Reads stdin whole (a terminal is refused).
fn read_stdin() -> Result<Vec<u8>, Failure> {
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
    Ok(input)
}

/// Writes bytes to stdout.
fn write_all(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::Input(BROKEN_PIPE.into()),
            _ => Failure::Input(format!("cannot write the output: {e}")),
        })
}

/// Loads the settings, then reads stdin.
fn read_input(args: &Args) -> Result<(config::Settings, Vec<u8>), Failure> {
    let settings = args.inputs.settings()?;
    Ok((settings, read_stdin()?))
}
