//! The Argo CD Config Management Plugin steps, `polyrepo-render argocd
//! generate` and `polyrepo-render argocd discover`, run by the sidecar in
//! the Application's folder (examples/argocd/plugin.yaml).
//!
//! Whoever may edit an Application controls its plugin parameters, so they
//! are data, never shell or Helm flags: this module reads Argo CD's
//! structured parameters (`ARGOCD_APP_PARAMETERS`, JSON), accepts exactly
//! the names below, checks every path against the app folder, and builds
//! the `helm template` argument vector itself (`--flag=value` forms, so no
//! value can become a flag). Everything else is refused, naming the
//! parameter.
//!
//! | parameter      | type   | becomes                                   |
//! |----------------|--------|-------------------------------------------|
//! | `config`       | string | the polyrepo.yaml (default `polyrepo.yaml`) |
//! | `values-files` | array  | `--values=FILE`, in order                 |
//! | `set`          | map    | `--set=KEY=VALUE`                         |
//! | `set-string`   | map    | `--set-string=KEY=VALUE`                  |
//! | `release-name` | string | the release (default `$ARGOCD_APP_NAME`)  |
//! | `subchart`     | string | Polyaxon's key in an umbrella chart's values (`--subchart`) |
//!
//! The namespace is `$ARGOCD_APP_NAMESPACE`; `$KUBE_VERSION` and
//! `$KUBE_API_VERSIONS` (set by Argo CD for the destination cluster) become
//! `--kube-version` and `--api-versions`.
//!
//! - `mod.rs`: what `generate` will do, and `discover`;
//! - `params.rs`: Argo CD's structured parameters, read as data;
//! - `app_folder.rs`: every path checked against the app folder;
//! - `helm_args.rs`: each value turned into one argument Helm reads back
//!   as exactly the value checked (Helm splits `--values` and `--set` as
//!   lists);
//! - `tests.rs`: the unit tests.
//!
//! It imports the YAML layer's `shown` alone; the binary runs Helm with the
//! argument vector decided here (`cli/commands.rs`).

mod app_folder;
mod helm_args;
mod params;
#[cfg(test)]
mod tests;

use app_folder::{inside, links_stay_inside};
use helm_args::{dns1123, one_csv_field, set_arg};
use params::params;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The parameter names this plugin accepts.
pub const PARAMETERS: [&str; 6] = [
    "config",
    "values-files",
    "set",
    "set-string",
    "release-name",
    "subchart",
];

/// The config file used when the `config` parameter is not set.
pub const DEFAULT_CONFIG: &str = "polyrepo.yaml";

/// Why the parameters were refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError(pub String);

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

fn refuse<T>(msg: impl Into<String>) -> Result<T, ParamError> {
    Err(ParamError(msg.into()))
}

/// What `generate` will do, decided before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Generate {
    /// The release namespace (`$ARGOCD_APP_NAMESPACE`), when there is one.
    pub namespace: Option<String>,
    /// The polyrepo.yaml, resolved inside the app folder.
    pub config: PathBuf,
    /// The values files, resolved: Helm gets them, and polyrepo-render reads
    /// `persistence.repos` and `types.core` from them as `--values` does.
    pub values: Vec<PathBuf>,
    /// `helm template`'s arguments (the program is not included).
    pub helm_args: Vec<String>,
    /// Polyaxon's key in an umbrella chart's values, when it is one.
    pub subchart: Option<String>,
}

/// Decides `generate`'s work from the environment (`env` looks a variable
/// up) and the app folder, refusing anything the table above does not name.
pub fn plan_generate(
    app: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Generate, ParamError> {
    for (var, instead) in [
        (
            "ARGOCD_ENV_HELM_ARGS",
            "the values-files, set and set-string parameters",
        ),
        ("ARGOCD_ENV_POLYREPO_CONFIG", "the config parameter"),
    ] {
        if env(var).is_some_and(|v| !v.is_empty()) {
            return refuse(format!(
                "the plugin env {} is no longer read (it reached helm as shell words); use {instead} \
                 (spec.source.plugin.parameters)",
                var.trim_start_matches("ARGOCD_ENV_")
            ));
        }
    }
    let p = params(env("ARGOCD_APP_PARAMETERS").as_deref())?;
    // No destination namespace: Helm's own default, as Argo CD's Helm does.
    let namespace = env("ARGOCD_APP_NAMESPACE").filter(|n| !n.is_empty());
    if let Some(ns) = &namespace
        && (!dns1123(ns, 63) || ns.contains('.'))
    {
        return refuse(format!(
            "ARGOCD_APP_NAMESPACE '{}' is not a namespace name",
            ns.escape_debug()
        ));
    }
    // With applications in any namespace, ARGOCD_APP_NAME is
    // `<namespace>_<name>`; the release is the name, as in Argo CD's Helm.
    let release = match p.release_name.filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => {
            let app = env("ARGOCD_APP_NAME").unwrap_or_default();
            match app.split_once('_') {
                Some((_, name)) => name.to_string(),
                None => app,
            }
        }
    };
    if !dns1123(&release, 53) {
        return refuse(format!(
            "release name '{}' (plugin parameter 'release-name', else ARGOCD_APP_NAME) is not a \
             valid Helm release name: lowercase letters, digits, '-' and '.', at most 53",
            release.escape_debug()
        ));
    }
    let config = match p.config.as_deref() {
        Some(c) => inside(app, c, "config")?,
        // The default: not a parameter the user set, so not blamed as one.
        None if std::fs::symlink_metadata(app.join(DEFAULT_CONFIG)).is_err() => {
            return refuse(format!(
                "the app folder has no {DEFAULT_CONFIG}, the config this plugin reads when the \
                 Application names none: add one, or name it with the plugin parameter 'config'"
            ));
        }
        None => inside(app, DEFAULT_CONFIG, "config").map_err(|e| {
            ParamError(e.0.replacen(
                &format!("plugin parameter 'config' ('{DEFAULT_CONFIG}')"),
                &format!("the default config '{DEFAULT_CONFIG}'"),
                1,
            ))
        })?,
    };

    let mut args = vec!["template".to_string(), release, ".".to_string()];
    if let Some(ns) = &namespace {
        args.push(format!("--namespace={ns}"));
    }
    let mut values = Vec::new();
    for f in &p.values_files {
        let real = inside(app, f, "values-files")?;
        let arg = real.to_str().ok_or_else(|| {
            ParamError(format!(
                "plugin parameter 'values-files' ('{}'): the path is not UTF-8",
                f.escape_debug()
            ))
        })?;
        one_csv_field(arg, "values-files", f)?;
        args.push(format!("--values={arg}"));
        values.push(real);
    }
    for (k, v) in &p.set {
        args.push(set_arg("set", "set", k, v)?);
    }
    for (k, v) in &p.set_string {
        args.push(set_arg("set-string", "set-string", k, v)?);
    }
    if let Some(v) = env("KUBE_VERSION").filter(|v| !v.is_empty()) {
        let ok = v
            .trim_start_matches('v')
            .split(['-', '+'])
            .next()
            .is_some_and(|core| {
                let parts: Vec<&str> = core.split('.').collect();
                (2..=3).contains(&parts.len())
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            })
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "v.-+".contains(c));
        if !ok {
            return refuse(format!(
                "KUBE_VERSION '{}' is not a version",
                v.escape_default()
            ));
        }
        args.push(format!("--kube-version={v}"));
    }
    if let Some(list) = env("KUBE_API_VERSIONS").filter(|v| !v.is_empty()) {
        for api in list.split(',').filter(|a| !a.is_empty()) {
            if api.starts_with('-')
                || !api
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "./-".contains(c))
            {
                return refuse(format!(
                    "KUBE_API_VERSIONS holds '{}', not an API version",
                    api.escape_default()
                ));
            }
            args.push(format!("--api-versions={api}"));
        }
    }
    // Last, so that a parameter's own fault is named first.
    let root = app.canonicalize().map_err(|e| {
        ParamError(format!(
            "cannot resolve the app folder {}: {e}",
            app.display()
        ))
    })?;
    links_stay_inside(&root)?;
    // A values key: a chart name (or alias), so no path or list syntax.
    let subchart = match p.subchart.filter(|k| !k.is_empty()) {
        Some(k)
            if !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            return refuse(format!(
                "plugin parameter 'subchart' ('{}') is not a chart name or alias (letters, \
                 digits, '-' and '_')",
                k.escape_debug()
            ));
        }
        k => k,
    };
    Ok(Generate {
        namespace,
        config,
        values,
        helm_args: args,
        subchart,
    })
}

/// The discovery rule: the plugin applies to an app that sets the `config`
/// parameter (generate then checks it) or holds `polyrepo.yaml`. Returns
/// what to print (non-empty means "use this plugin"), or `None`.
pub fn discover(app: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let named = env("ARGOCD_APP_PARAMETERS")
        .and_then(|json| serde_json::from_str::<Vec<Value>>(&json).ok())
        .and_then(|list| {
            list.iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some("config"))
                .map(|p| {
                    p.get("string")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
        });
    match named {
        Some(c) => Some(format!("config parameter: {c}")),
        None => app
            .join(DEFAULT_CONFIG)
            .is_file()
            .then(|| DEFAULT_CONFIG.to_string()),
    }
}
