//! The command line: its flags and subcommands (clap), where the settings
//! and the stream come from, and what a command line clap refused still
//! says about the report.

use clap::{Parser, Subcommand};
use polyrepo_render::{Failure, config, files};
use std::io::IsTerminal;
use std::path::PathBuf;

pub(crate) const EXAMPLE: &str = "\
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
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) inputs: Inputs,
    #[command(flatten)]
    pub(crate) output: Output,
    #[command(subcommand)]
    pub(crate) command: Option<Step>,
}

/// How a run reports (the post-renderer and `patches` alike).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Output {
    /// Also write the report (changes, warnings, errors) to FILE (default: $POLYREPO_REPORT).
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Treat warnings as errors (exit 1), for CI pipelines (default:
    /// $POLYREPO_STRICT); acknowledged advice (notes) passes.
    #[arg(long)]
    pub(crate) strict: bool,
    /// The report file's format: text (as on stderr) or json (every change,
    /// warning and error with its objects and decision; needs --report)
    /// (default: $POLYREPO_REPORT_FORMAT, else text).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) report_format: Option<ReportFormat>,
}

/// The report file's format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    /// The lines stderr shows.
    Text,
    /// The JSON report (README, "JSON report").
    Json,
}

impl ReportFormat {
    /// The format asked on the command line, else by
    /// $POLYREPO_REPORT_FORMAT, else text.
    pub(crate) fn asked(flag: Option<ReportFormat>) -> Result<ReportFormat, Failure> {
        if let Some(f) = flag {
            return Ok(f);
        }
        match std::env::var("POLYREPO_REPORT_FORMAT").ok().as_deref() {
            None | Some("") | Some("text") => Ok(ReportFormat::Text),
            Some("json") => Ok(ReportFormat::Json),
            Some(other) => Err(Failure::config(format!(
                "POLYREPO_REPORT_FORMAT is {other:?}; it may be text or json"
            ))),
        }
    }
}

/// Modes other than the post-renderer.
#[derive(Subcommand, Debug)]
pub(crate) enum Step {
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
pub(crate) struct Inputs {
    /// polyrepo.yaml (default: $POLYREPO_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Helm values file to read persistence.repos from (repeatable; later wins).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub(crate) values: Vec<PathBuf>,
    /// Release namespace, for objects that carry none.
    #[arg(long, short = 'n', value_name = "NS")]
    pub(crate) namespace: Option<String>,
    /// Polyaxon is a dependency of an umbrella chart: read its values under
    /// KEY (the dependency's name or alias) in the values files, as
    /// `KEY.persistence.repos` and `KEY.types.core`.
    #[arg(long, value_name = "KEY")]
    pub(crate) subchart: Option<String>,
    /// The rendered stream to read (`-` or none: stdin). A file named like
    /// a subcommand needs a path: `./patches`.
    #[arg(value_name = "FILE")]
    pub(crate) stream: Option<PathBuf>,
}

impl Inputs {
    /// The stream: FILE, or stdin when it is absent or `-`.
    pub(crate) fn read_stream(&self) -> Result<files::Stream, Failure> {
        match self.stream.as_deref() {
            Some(p) if p != std::path::Path::new("-") => {
                files::read_stream(p).map_err(|e| Failure::config(e.0))
            }
            _ => read_stdin(),
        }
    }

    /// Every file the run reads: the config, the values files, the stream.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
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
    pub(crate) fn settings(&self) -> Result<config::Settings, Failure> {
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
pub(crate) enum Colour {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where `patches` output goes.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum PatchFormat {
    /// A `postRenderers:` block for a Flux HelmRelease's spec.
    Flux,
    /// A `patches:` list for a kustomization.yaml.
    Kustomize,
}

/// The CMP's commands, run by Argo CD in the Application's folder.
#[derive(Subcommand, Debug)]
pub(crate) enum ArgocdStep {
    /// `helm template` the app folder with the Application's parameters
    /// (ARGOCD_APP_PARAMETERS), then render it as the post-renderer does.
    Generate,
    /// Print why this plugin applies to the app folder (nothing if it does not).
    Discover,
}

pub(crate) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The `--report FILE` or `--report=FILE` of a command line clap refused,
/// so that the usage error reaches the report the user asked for.
pub(crate) fn report_in_args() -> Option<PathBuf> {
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
pub(crate) fn json_in_args() -> bool {
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

/// Loads the settings, then reads the stream.
pub(crate) fn read_input(inputs: &Inputs) -> Result<(config::Settings, files::Stream), Failure> {
    let settings = inputs.settings()?;
    Ok((settings, inputs.read_stream()?))
}

/// Reads stdin whole (a terminal is refused), spilling a large stream
/// ([`files::Stream`]).
pub(crate) fn read_stdin() -> Result<files::Stream, Failure> {
    if std::io::stdin().is_terminal() {
        return Err(Failure::config(
            "stdin is a terminal: pipe a rendered stream in, e.g. \
             `helm template polyaxon polyaxon/polyaxon | polyrepo-render --config polyrepo.yaml`",
        ));
    }
    files::read_spilling(std::io::stdin().lock())
        .map_err(|e| Failure::input(format!("cannot read stdin: {e}")))
}
