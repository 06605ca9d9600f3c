//! The subcommands besides the post-renderer: `diff`'s text, `patches`,
//! `argocd generate`'s call of Helm, and `install-binary`.

use super::args::{Inputs, Output, PatchFormat, env_path};
use super::run::{Payload, run};
use polyrepo_render::{Failure, argocd, config, files};
use std::path::PathBuf;
use std::process::ExitCode;

/// Copies the running binary to `dest`, through a temporary file renamed
/// into place. The binary is found from `argv[0]` when it is a path, since an
/// image with nothing else has no /proc to ask.
pub(crate) fn install_binary(dest: &std::path::Path) -> Result<(), Failure> {
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
pub(crate) fn argocd_generate() -> Result<(config::Settings, files::Stream), Failure> {
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
    Ok((settings, out.stdout.into()))
}

/// `polyrepo-render patches`: the patches, or the check of a patches file,
/// reported as the post-renderer reports (`--report`, `--quiet`,
/// `--strict`). A check reports only what differs, not every change.
pub(crate) fn patches(
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

/// The unified diff of each changed document: hunk lines numbered as in
/// the input (`-`) and the output (`+`) streams.
pub(crate) fn diff_text(rendered: &polyrepo_render::Rendered<'_>, colour: bool) -> Vec<u8> {
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
pub(crate) fn renumber(ranges: &str, before: usize, shift: i64) -> String {
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
