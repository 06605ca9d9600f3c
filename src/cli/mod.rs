//! The `polyrepo-render` binary's command line, around the library's public
//! surface (`polyrepo_render::…`, never a module of its own):
//!
//! - `args.rs`: flags and subcommands, where the settings and stream come
//!   from;
//! - `run.rs`: one run, report before output, nothing on stdout on error;
//! - `report_file.rs`: the report file asked for, or the Helm 4 wrapper's;
//! - `commands.rs`: `diff`, `patches`, `argocd generate`, `install-binary`.

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod report_file;
pub(crate) mod run;
