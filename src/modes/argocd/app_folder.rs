//! The app folder's paths: a file a parameter names resolved inside the
//! folder, and every symlink Helm would follow kept inside it.

use super::{ParamError, refuse};
use crate::yaml::shown;
use std::path::{Component, Path, PathBuf};

/// A file named by a parameter, resolved inside the app folder: relative,
/// no `..`, no URL, no glob, an existing regular file whose real path (after
/// every symlink) is still inside the folder. Returns the real path, so that
/// what is read is what was checked.
pub(super) fn inside(app: &Path, rel: &str, param: &str) -> Result<PathBuf, ParamError> {
    let what = format!("plugin parameter '{param}' ('{}')", rel.escape_debug());
    if rel.is_empty() {
        return refuse(format!("{what}: empty path"));
    }
    if rel.contains("://") || url_scheme(rel) {
        return refuse(format!(
            "{what}: URLs are not allowed; name a file inside the app folder"
        ));
    }
    if rel.contains(['*', '?', '[', '{']) {
        return refuse(format!("{what}: patterns are not allowed; name each file"));
    }
    let path = Path::new(rel);
    if path.is_absolute() {
        return refuse(format!(
            "{what}: absolute paths are not allowed; use a path relative to the app folder"
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return refuse(format!(
            "{what}: '..' is not allowed; the file must lie inside the app folder"
        ));
    }
    let root = app.canonicalize().map_err(|e| {
        ParamError(format!(
            "cannot resolve the app folder {}: {e}",
            app.display()
        ))
    })?;
    let real = root
        .join(path)
        .canonicalize()
        .map_err(|e| ParamError(format!("{what}: {e}")))?;
    if !real.starts_with(&root) {
        return refuse(format!(
            "{what}: leads out of the app folder (through a symlink)"
        ));
    }
    if !real.is_file() {
        return refuse(format!("{what}: not a regular file"));
    }
    Ok(real)
}

/// Most entries the app folder may hold: far more than any chart has.
pub(super) const MAX_APP_ENTRIES: usize = 200_000;

/// Helm loads every file of the chart folder, following symlinks
/// (`values.yaml`, `templates/`, and whatever `.Files` reads), so a symlink
/// anywhere in the app folder whose real path lies outside it would bring
/// an outside file into the render. Every symlink must resolve inside the
/// folder (a dangling one is left to Helm, which refuses to load it);
/// `.git` is not Helm's and is skipped.
pub(super) fn links_stay_inside(root: &Path) -> Result<(), ParamError> {
    let mut dirs = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            ParamError(format!("cannot read the app folder {}: {e}", dir.display()))
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                ParamError(format!("cannot read the app folder {}: {e}", dir.display()))
            })?;
            seen += 1;
            if seen > MAX_APP_ENTRIES {
                return refuse(format!(
                    "the app folder holds more than {MAX_APP_ENTRIES} files and folders; point \
                     the Application at the chart's folder"
                ));
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    dirs.push(path);
                }
            } else if kind.is_symlink()
                && let Ok(real) = path.canonicalize()
                && !real.starts_with(root)
            {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                return refuse(format!(
                    "the app folder holds a symlink that leads out of it: {} -> {}; Helm loads \
                     every file of the chart folder, so the render would read outside the app \
                     (copy the file in, or link only inside the folder)",
                    shown(&rel.to_string_lossy()),
                    shown(&real.to_string_lossy())
                ));
            }
        }
    }
    Ok(())
}

/// `scheme:` at the start (`https:`, `s3:`, `oci:`, `file:`…).
fn url_scheme(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}
