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

use crate::yaml::source::shown;
use serde_json::Value;
use std::path::{Component, Path, PathBuf};

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

/// The parameters as Argo CD sends them.
struct Params {
    config: Option<String>,
    values_files: Vec<String>,
    set: Vec<(String, String)>,
    set_string: Vec<(String, String)>,
    release_name: Option<String>,
    subchart: Option<String>,
}

/// Reads `ARGOCD_APP_PARAMETERS`: a JSON list of `{name, string|array|map}`.
fn params(json: Option<&str>) -> Result<Params, ParamError> {
    let mut p = Params {
        config: None,
        values_files: Vec::new(),
        set: Vec::new(),
        set_string: Vec::new(),
        release_name: None,
        subchart: None,
    };
    let json = match json.map(str::trim) {
        None | Some("") | Some("null") => return Ok(p),
        Some(j) => j,
    };
    let list: Vec<Value> = match serde_json::from_str(json) {
        Ok(Value::Array(l)) => l,
        _ => return refuse("ARGOCD_APP_PARAMETERS is not a JSON list of parameters"),
    };
    let mut seen = Vec::new();
    for item in &list {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            return refuse("a plugin parameter has no name");
        };
        if !PARAMETERS.contains(&name) {
            return refuse(format!(
                "unknown plugin parameter '{}': this plugin takes only {}",
                name.escape_debug(),
                PARAMETERS.join(", ")
            ));
        }
        if seen.contains(&name) {
            return refuse(format!("plugin parameter '{name}' is given twice"));
        }
        seen.push(name);
        let string = || match item.get("string") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => refuse(format!("plugin parameter '{name}' must be a string")),
        };
        let array = || match item.get("array") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => refuse(format!(
                        "plugin parameter '{name}' must be a list of strings"
                    )),
                })
                .collect(),
            _ => refuse(format!("plugin parameter '{name}' must be an array")),
        };
        let map = || match item.get("map") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => refuse(format!("plugin parameter '{name}.{k}' must be a string")),
                })
                .collect(),
            _ => refuse(format!("plugin parameter '{name}' must be a map")),
        };
        match name {
            "config" => p.config = Some(string()?),
            "values-files" => p.values_files = array()?,
            "set" => p.set = map()?,
            "set-string" => p.set_string = map()?,
            "subchart" => p.subchart = Some(string()?),
            _ => p.release_name = Some(string()?),
        }
    }
    Ok(p)
}

/// A file named by a parameter, resolved inside the app folder: relative,
/// no `..`, no URL, no glob, an existing regular file whose real path (after
/// every symlink) is still inside the folder. Returns the real path, so that
/// what is read is what was checked.
fn inside(app: &Path, rel: &str, param: &str) -> Result<PathBuf, ParamError> {
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
const MAX_APP_ENTRIES: usize = 200_000;

/// Helm loads every file of the chart folder, following symlinks
/// (`values.yaml`, `templates/`, and whatever `.Files` reads), so a symlink
/// anywhere in the app folder whose real path lies outside it would bring
/// an outside file into the render. Every symlink must resolve inside the
/// folder (a dangling one is left to Helm, which refuses to load it);
/// `.git` is not Helm's and is skipped.
fn links_stay_inside(root: &Path) -> Result<(), ParamError> {
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

/// A DNS-1123 subdomain of at most `max` characters (Helm's release-name
/// rule; namespaces are the label subset of it).
fn dns1123(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Helm reads `--values` and `--api-versions` as comma-separated lists
/// (pflag's `StringSlice`, parsed as one CSV record: `,` splits, `"`
/// quotes, a line break ends the list, `\r\n` becomes `\n`). A value is
/// passed only when Helm will read it back as exactly one item, the one
/// that was checked: without `,`, `"`, `\r` or `\n`. (Quoting cannot be
/// proven safe across Helm versions, so such values are refused.)
fn one_csv_field(value: &str, param: &str, given: &str) -> Result<(), ParamError> {
    match value.chars().find(|c| matches!(c, ',' | '"' | '\r' | '\n')) {
        None => Ok(()),
        Some(c) => refuse(format!(
            "plugin parameter '{param}' ('{}'): its path holds {}, which Helm reads as a list \
             separator or quote in --values (a comma-separated list): Helm would read other files \
             than the one checked; rename the file or folder",
            given.escape_debug(),
            match c {
                ',' => "a comma",
                '"' => "a double quote",
                _ => "a line break",
            }
        )),
    }
}

/// True when Helm's `--set` parser (strvals) reads `key` as a key that ends
/// where it was meant to: a `\` escapes the next character there, so a key
/// ending in an unpaired `\` would swallow the `=` after it (`x\` + `={a,b}`
/// becomes the key `x=` with a list).
fn key_ends_cleanly(key: &str) -> bool {
    let mut escaped = false;
    for c in key.chars() {
        escaped = !escaped && c == '\\';
    }
    !escaped
}

/// One `--set`/`--set-string` pair as one argument, whose value is one
/// string: the key may not start with `-`, hold `=`, `,` or control
/// characters, nor end in an escaping `\`; in the value, `\\` and `,` are
/// escaped for Helm's parser, and a value starting with `{` (Helm's list
/// syntax, which escaping cannot turn back into a string) is refused: lists
/// go in a values file.
fn set_arg(flag: &str, param: &str, key: &str, value: &str) -> Result<String, ParamError> {
    if key.is_empty()
        || key.starts_with('-')
        || key.contains(['=', ','])
        || key.chars().any(char::is_control)
        || !key_ends_cleanly(key)
    {
        return refuse(format!(
            "plugin parameter '{param}': key '{}' is not a values path",
            key.escape_debug()
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return refuse(format!(
            "plugin parameter '{param}.{key}': control characters are not allowed"
        ));
    }
    if value.starts_with('{') {
        return refuse(format!(
            "plugin parameter '{param}.{key}': a value starting with '{{' would be read as a list; \
             put lists in a values file (values-files)"
        ));
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if matches!(c, '\\' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(format!("--{flag}={key}={out}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn app() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("polyrepo.yaml"), "repos: {}\n").unwrap();
        std::fs::write(d.path().join("values-prod.yaml"), "a: 1\n").unwrap();
        d
    }

    #[test]
    fn parameters_become_one_argument_each() {
        let d = app();
        let g = plan_generate(
            d.path(),
            &env_of(&[
                ("ARGOCD_APP_NAME", "polyaxon"),
                ("ARGOCD_APP_NAMESPACE", "ml"),
                (
                    "ARGOCD_APP_PARAMETERS",
                    r#"[{"name":"values-files","array":["values-prod.yaml"]},
                        {"name":"set","map":{"api.replicas":"2","tags":"a,b\\c"}},
                        {"name":"set-string","map":{"x":"--post-renderer=/bin/sh"}}]"#,
                ),
                ("KUBE_VERSION", "1.33.1"),
                ("KUBE_API_VERSIONS", "apps/v1,batch/v1/Job"),
            ]),
        )
        .unwrap();
        let real = d.path().canonicalize().unwrap();
        assert_eq!(g.namespace.as_deref(), Some("ml"));
        assert_eq!(g.values, vec![real.join("values-prod.yaml")]);
        assert_eq!(g.config, real.join("polyrepo.yaml"));
        assert_eq!(
            g.helm_args,
            vec![
                "template".to_string(),
                "polyaxon".into(),
                ".".into(),
                "--namespace=ml".into(),
                format!("--values={}", real.join("values-prod.yaml").display()),
                "--set=api.replicas=2".into(),
                "--set=tags=a\\,b\\\\c".into(),
                "--set-string=x=--post-renderer=/bin/sh".into(),
                "--kube-version=1.33.1".into(),
                "--api-versions=apps/v1".into(),
                "--api-versions=batch/v1/Job".into(),
            ]
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_parameter() {
        let d = app();
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("out.yaml")).unwrap();
        let base = [("ARGOCD_APP_NAME", "p"), ("ARGOCD_APP_NAMESPACE", "ml")];
        for (params, says) in [
            (
                r#"[{"name":"set-file","map":{"a":"/etc/passwd"}}]"#,
                "unknown plugin parameter 'set-file'",
            ),
            (
                r#"[{"name":"values-files","array":["/etc/passwd"]}]"#,
                "absolute paths",
            ),
            (r#"[{"name":"values-files","array":["../x.yaml"]}]"#, "'..'"),
            (
                r#"[{"name":"values-files","array":["https://e.com/v.yaml"]}]"#,
                "URLs",
            ),
            (
                r#"[{"name":"values-files","array":["*.yaml"]}]"#,
                "patterns",
            ),
            (
                r#"[{"name":"values-files","array":["out.yaml"]}]"#,
                "out of the app folder",
            ),
            (
                r#"[{"name":"values-files","string":"values-prod.yaml"}]"#,
                "must be an array",
            ),
            (
                r#"[{"name":"config","string":"../polyrepo.yaml"}]"#,
                "'config'",
            ),
            (
                r#"[{"name":"set","map":{"--post-renderer":"x"}}]"#,
                "not a values path",
            ),
            (
                r#"[{"name":"release-name","string":"--debug"}]"#,
                "release name",
            ),
        ] {
            let mut vars = base.to_vec();
            vars.push(("ARGOCD_APP_PARAMETERS", params));
            let err = plan_generate(d.path(), &env_of(&vars)).unwrap_err();
            assert!(err.0.contains(says), "{params}: {err}");
        }
        let err = plan_generate(
            d.path(),
            &env_of(&[
                ("ARGOCD_APP_NAME", "p"),
                ("ARGOCD_APP_NAMESPACE", "ml"),
                ("ARGOCD_ENV_HELM_ARGS", "--post-renderer=/usr/bin/env"),
            ]),
        )
        .unwrap_err();
        assert!(err.0.contains("HELM_ARGS is no longer read"), "{err}");
        let err = plan_generate(
            d.path(),
            &env_of(&[
                ("ARGOCD_APP_NAME", "p"),
                ("ARGOCD_APP_NAMESPACE", "ml"),
                ("KUBE_VERSION", "1.3; rm"),
            ]),
        )
        .unwrap_err();
        assert!(err.0.contains("KUBE_VERSION"), "{err}");
    }

    #[test]
    fn helms_list_syntax_cannot_smuggle_a_second_file_or_key() {
        let d = app();
        std::fs::create_dir(d.path().join("a,b")).unwrap();
        std::fs::write(d.path().join("a,b/v.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("l\nf.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("c\rr.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("q\"q.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("back\\slash.yaml"), "a: 1\n").unwrap();
        let base = [("ARGOCD_APP_NAME", "p")];
        let run = |params: serde_json::Value| {
            let mut vars = base.to_vec();
            let p = params.to_string();
            vars.push(("ARGOCD_APP_PARAMETERS", &p));
            plan_generate(d.path(), &env_of(&vars))
        };
        for (file, says) in [
            ("a,b/v.yaml", "a comma"),
            ("l\nf.yaml", "a line break"),
            ("c\rr.yaml", "a line break"),
            ("q\"q.yaml", "a double quote"),
        ] {
            let err =
                run(serde_json::json!([{"name": "values-files", "array": [file]}])).unwrap_err();
            assert!(err.0.contains(says), "{file:?}: {err}");
        }
        // A backslash means nothing to Helm's list reading.
        run(serde_json::json!([{"name": "values-files", "array": ["back\\slash.yaml"]}])).unwrap();
        for key in ["x\\", "a.b\\\\\\"] {
            let err =
                run(serde_json::json!([{"name": "set", "map": {key: "={a,b}"}}])).unwrap_err();
            assert!(err.0.contains("not a values path"), "{key:?}: {err}");
        }
        for key in ["a\\.b", "a\\\\"] {
            run(serde_json::json!([{"name": "set-string", "map": {key: "v"}}])).unwrap();
        }
    }

    #[test]
    fn argo_instance_names_and_missing_namespaces_work_as_in_argo_cds_helm() {
        let d = app();
        let g = plan_generate(
            d.path(),
            &env_of(&[
                ("ARGOCD_APP_NAME", "team-a_web"),
                (
                    "ARGOCD_APP_PARAMETERS",
                    r#"[{"name":"release-name","string":""}]"#,
                ),
            ]),
        )
        .unwrap();
        assert_eq!(g.helm_args[..3], ["template", "web", "."]);
        assert_eq!(g.namespace, None);
        assert!(!g.helm_args.iter().any(|a| a.starts_with("--namespace")));
    }

    #[test]
    fn discovery_follows_the_config_parameter_or_the_default_file() {
        let d = tempfile::tempdir().unwrap();
        let none = env_of(&[]);
        assert_eq!(discover(d.path(), &none), None);
        let named = env_of(&[(
            "ARGOCD_APP_PARAMETERS",
            r#"[{"name":"config","string":"deploy/polyrepo.yaml"}]"#,
        )]);
        assert!(discover(d.path(), &named).is_some());
        std::fs::write(d.path().join("polyrepo.yaml"), "").unwrap();
        assert!(discover(d.path(), &none).is_some());
    }
}
