//! The `polyrepo-render` command: stdin → stdout, report on stderr. The
//! command line itself lives in `cli/`.

mod cli;

use clap::Parser;
use cli::args::{
    ArgocdStep, Args, Colour, Step, env_path, json_in_args, read_input, report_in_args,
};
use cli::commands::{argocd_generate, diff_text, install_binary, patches};
use cli::report_file::ReportFile;
use cli::run::{Payload, decide, exit_of, run, write_all};
use polyrepo_render::{Failure, argocd, report::Report};
use std::io::IsTerminal;
use std::process::ExitCode;

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
