//! What a Helm values file says about the repos: `persistence.repos` (the
//! keys the chart knows, and `accessMode`) and `types.core`, directly or
//! under an umbrella chart's key for Polyaxon.

use super::check::{Check, access_mode, parse_file, repos_layer};
use super::{AccessMode, ConfigError, Layer};
use std::path::Path;

/// Keys of `persistence.repos` that the chart knows.
const CHART_KEYS: [&str; 5] = [
    "mountPath",
    "hostPath",
    "existingClaim",
    "subPath",
    "readOnly",
];

/// What a values file says: `persistence.repos` (the keys the chart
/// knows, and `accessMode`, which the chart ignores with an existingClaim
/// but which says what that claim is), and `types.core`.
pub(super) struct Values {
    pub(super) layer: Layer,
    pub(super) access_mode: Option<AccessMode>,
    pub(super) core: Option<String>,
}

/// Reads `persistence.repos` and `types.core` from a values file.
pub(super) fn values_layer(
    text: &str,
    path: &Path,
    subchart: Option<&str>,
) -> Result<Values, ConfigError> {
    let c = Check::new(path);
    let nothing = Values {
        layer: Layer::default(),
        access_mode: None,
        core: None,
    };
    let Some(file_root) = parse_file(text, path)? else {
        return Ok(nothing);
    };
    // An umbrella chart's values for Polyaxon sit under its key.
    let (root, at) = match subchart {
        None => (&file_root, String::new()),
        // (A key that is not a mapping holds no persistence.repos: read as
        // such below.)
        Some(k) => match file_root.entries().and_then(|_| file_root.get(k)) {
            Some(n) => (n, format!("{k}.")),
            None => return Ok(nothing),
        },
    };
    let core = match root.entries().and_then(|_| root.path(&["types", "core"])) {
        Some(n) => c
            .keep(c.opt_string(n, &format!("{at}types.core")))
            .flatten()
            .filter(|s| !s.is_empty()),
        None => None,
    };
    let Some(repos) = root
        .entries()
        .and_then(|_| root.get("persistence"))
        .and_then(|p| p.get("repos"))
    else {
        c.finish()?;
        return Ok(Values {
            layer: Layer::default(),
            access_mode: None,
            core,
        });
    };
    let entries = c.map(repos, &format!("{at}persistence.repos"))?;
    let known: Vec<_> = entries
        .iter()
        .filter(|(k, _)| k.scalar().is_some_and(|n| CHART_KEYS.contains(&n)))
        .cloned()
        .collect();
    let access_mode = match repos.get("accessMode") {
        Some(v) => c
            .keep(access_mode(
                &c,
                v,
                &format!("{at}persistence.repos.accessMode"),
            ))
            .flatten(),
        None => None,
    };
    let layer = repos_layer(&c, &known, &format!("{at}persistence.repos"));
    c.finish()?;
    Ok(Values {
        layer,
        access_mode,
        core,
    })
}
