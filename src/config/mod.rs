//! What the user asked for: `polyrepo.yaml`, Helm values files, and the
//! resolved [`Settings`] the rest of the tool works from.
//!
//! Both files are read the way Helm and Kubernetes read YAML (YAML 1.1
//! typing, see `crate::yaml::typing`): `readOnly: yes` is `true` here as it is
//! for Helm. The config file is strict: unknown keys are refused with the
//! closest valid spelling, and every value is checked before anything runs.
//!
//! - `mod.rs`: the resolved [`Settings`] and how the layers combine (values
//!   files in order, then the config file's keys win);
//! - `file.rs`: the config file's format (`polyrepo.yaml`);
//! - `values.rs`: what a Helm values file says about the repos;
//! - `check.rs`: reading one file's nodes so that every message names file,
//!   key and line (shared by both formats);
//! - `names.rs`: the Kubernetes name rules a value must follow.
//!
//! It imports the YAML layer, the file reader and the report's advice
//! codes; nothing of the pipeline.

mod check;
mod file;
mod names;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

use file::config_layer;
pub use names::glob_match;
use values::{Values, values_layer};

/// Where the repos data lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A directory on the node.
    HostPath(String),
    /// A PersistentVolumeClaim, by name.
    Claim(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::HostPath(p) => write!(f, "hostPath {p}"),
            Source::Claim(c) => write!(f, "claim {c}"),
        }
    }
}

/// A PersistentVolume access mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    /// One node at a time.
    ReadWriteOnce,
    /// One pod at a time.
    ReadWriteOncePod,
    /// Many nodes, read-write.
    ReadWriteMany,
    /// Many nodes, read-only.
    ReadOnlyMany,
}

impl AccessMode {
    /// All modes, as Kubernetes spells them.
    pub const ALL: [&'static str; 4] = [
        "ReadWriteOnce",
        "ReadWriteOncePod",
        "ReadWriteMany",
        "ReadOnlyMany",
    ];

    /// Parses Kubernetes' spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ReadWriteOnce" => Self::ReadWriteOnce,
            "ReadWriteOncePod" => Self::ReadWriteOncePod,
            "ReadWriteMany" => Self::ReadWriteMany,
            "ReadOnlyMany" => Self::ReadOnlyMany,
            _ => return None,
        })
    }
}

/// A Kubernetes label selector (`matchLabels` AND `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    /// Labels that must have exactly these values.
    pub match_labels: Vec<(String, String)>,
    /// `(key, operator, values)` requirements.
    pub match_expressions: Vec<(String, String, Vec<String>)>,
}

impl Selector {
    /// Does a set of labels satisfy the selector?
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| {
            labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| v.as_str())
        };
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v))
            && self.match_expressions.iter().all(|(k, op, vals)| {
                let have = get(k);
                match op.as_str() {
                    "In" => have.is_some_and(|h| vals.iter().any(|v| v == h)),
                    "NotIn" => !have.is_some_and(|h| vals.iter().any(|v| v == h)),
                    "Exists" => have.is_some(),
                    _ => have.is_none(),
                }
            })
    }
}

/// Everything the rest of the tool needs to know about the user's wishes.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// True when a config or values file was given: the volume, its mounts
    /// and the env copy are then rewritten to match them.
    pub configured: bool,
    /// Where the repos live (`None`: keep what the stream has).
    pub source: Option<Source>,
    /// Where containers mount it.
    pub mount_path: Option<String>,
    /// Sub-directory of the volume to mount.
    pub sub_path: Option<String>,
    /// Mount read-only.
    pub read_only: Option<bool>,
    /// Access mode of the claim, when its PVC is not in the stream.
    pub access_mode: Option<AccessMode>,
    /// The node (`kubernetes.io/hostname`) that holds the repos data
    /// (`repos.node`).
    pub node: Option<String>,
    /// The node that holds every host path whose node is otherwise unknown
    /// (top-level `node`).
    pub data_node: Option<String>,
    /// Volume names and host paths to leave out of the scheduling analysis
    /// (top-level `ignore`).
    pub ignore: Vec<String>,
    /// The chart's `types.core` from the values files: the label value that
    /// marks Polyaxon's objects.
    pub core_type: Option<String>,
    /// Code is hosted elsewhere: losing the volume loses no code.
    pub external: bool,
    /// Which objects are Polyaxon workloads (`None`: the chart's labels).
    pub selector: Option<Selector>,
    /// Globs on `metadata.name` of workloads that must get the volume.
    pub mount_into: Vec<String>,
    /// The release namespace, for objects that carry none.
    pub namespace: Option<String>,
    /// Where the settings that must match something were written.
    pub places: Places,
    /// Advice the user has acknowledged (`acknowledge:`): reported as
    /// notes, which `--strict` lets pass.
    pub acknowledge: Vec<crate::report::Advice>,
}

/// Where a setting was written (`file:line:column`), for the message that
/// says it matches nothing in the stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Places {
    /// `workloads.selector`.
    pub selector: Option<String>,
    /// Each `workloads.mountInto` entry, in order.
    pub mount_into: Vec<String>,
    /// Each `ignore` entry, in order.
    pub ignore: Vec<String>,
    /// The top-level `node`.
    pub data_node: Option<String>,
    /// `repos.node`.
    pub node: Option<String>,
}

/// A configuration problem (exit code 2).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// One layer of `persistence.repos` keys (a values file or the config).
#[derive(Debug, Default, Clone)]
struct Layer {
    /// Where `existingClaim` was set (line, column), for messages.
    claim_at: Option<(usize, usize)>,
    mount_path: Option<Option<String>>,
    host_path: Option<Option<String>>,
    existing_claim: Option<Option<String>>,
    sub_path: Option<Option<String>>,
    read_only: Option<Option<bool>>,
}

/// Reads the config and values files and resolves them into [`Settings`].
/// Later values files win; the config file's `repos` keys win over all of
/// them (`hostPath` and `existingClaim` together count as one key: the
/// source).
pub fn load(
    config: Option<&Path>,
    values: &[PathBuf],
    namespace: Option<String>,
) -> Result<Settings, ConfigError> {
    load_with(config, values, namespace, None)
}

/// [`load`] for Polyaxon as a dependency of an umbrella chart: its values
/// sit under `subchart` (the dependency's name or alias) in the values
/// files, as `polyaxon.persistence.repos`.
pub fn load_with(
    config: Option<&Path>,
    values: &[PathBuf],
    namespace: Option<String>,
    subchart: Option<&str>,
) -> Result<Settings, ConfigError> {
    let text = match config {
        Some(path) => Some(read(path, "config file")?),
        None => None,
    };
    let config = config.zip(text.as_deref()).map(|(p, t)| (t, p));
    load_from(config, values, namespace, subchart)
}

/// [`load`] for a config given as text (a KRM function's `functionConfig`),
/// named `origin` in messages; no values files.
pub fn load_text(text: &str, origin: &str) -> Result<Settings, ConfigError> {
    load_from(Some((text, Path::new(origin))), &[], None, None)
}

fn load_from(
    config: Option<(&str, &Path)>,
    values: &[PathBuf],
    namespace: Option<String>,
    subchart: Option<&str>,
) -> Result<Settings, ConfigError> {
    let mut s = Settings {
        namespace,
        ..Settings::default()
    };
    let mut merged = Layer::default();
    let mut values_mode = None;
    for path in values {
        let text = read(path, "values file")?;
        let Values {
            layer,
            access_mode,
            core,
        } = values_layer(&text, path, subchart)?;
        // A values file that says nothing about the repos changes nothing.
        s.configured |= layer.has_keys();
        merge(&mut merged, layer);
        values_mode = access_mode.or(values_mode);
        if core.is_some() {
            s.core_type = core;
        }
    }
    let values_claim = merged.existing_claim.clone().flatten();
    // In the chart an existingClaim wins over hostPath.
    let values_source = source_of(&merged, true, None)?;
    let mut source = values_source;
    if let Some((text, path)) = config {
        let (layer, extra) = config_layer(text, path)?;
        // A config that only says where pods run or what to leave out
        // rewrites no volume.
        s.configured |= layer.has_keys() || !extra.mount_into.is_empty();
        if let Some(src) = source_of(&layer, false, Some(path))? {
            source = Some(src);
        }
        merged.mount_path = layer.mount_path.or(merged.mount_path);
        merged.sub_path = layer.sub_path.or(merged.sub_path);
        merged.read_only = layer.read_only.or(merged.read_only);
        s.access_mode = extra.access_mode;
        s.node = extra.node;
        s.external = extra.external;
        s.selector = extra.selector;
        s.mount_into = extra.mount_into;
        s.data_node = extra.data_node;
        s.ignore = extra.ignore;
        s.places = extra.places;
        s.acknowledge = extra.acknowledge;
    }
    // The values' accessMode says what the values' claim is: it counts
    // while that claim is the repos (the config may name it again).
    if s.access_mode.is_none()
        && let Some(Source::Claim(c)) = &source
        && values_claim.as_ref() == Some(c)
    {
        s.access_mode = values_mode;
    }
    s.source = source;
    s.mount_path = merged.mount_path.flatten();
    s.sub_path = merged.sub_path.flatten().filter(|p| !p.is_empty());
    s.read_only = merged.read_only.flatten();
    Ok(s)
}

fn read(path: &Path, what: &str) -> Result<String, ConfigError> {
    let bytes = crate::files::read_regular(path, what).map_err(|e| ConfigError(e.0))?;
    String::from_utf8(bytes)
        .map_err(|_| ConfigError(format!("{what} {} is not UTF-8", path.display())))
}

impl Layer {
    /// True when the layer sets any key.
    fn has_keys(&self) -> bool {
        self.mount_path.is_some()
            || self.host_path.is_some()
            || self.existing_claim.is_some()
            || self.sub_path.is_some()
            || self.read_only.is_some()
    }
}

fn merge(into: &mut Layer, l: Layer) {
    macro_rules! m {
        ($f:ident) => {
            if l.$f.is_some() {
                into.$f = l.$f;
            }
        };
    }
    m!(mount_path);
    m!(host_path);
    m!(existing_claim);
    m!(sub_path);
    m!(read_only);
}

fn source_of(l: &Layer, chart: bool, file: Option<&Path>) -> Result<Option<Source>, ConfigError> {
    let hp = l.host_path.clone().flatten().filter(|s| !s.is_empty());
    let ec = l.existing_claim.clone().flatten().filter(|s| !s.is_empty());
    match (hp, ec) {
        (Some(h), Some(c)) if !chart => {
            let (line, col) = l.claim_at.unwrap_or((1, 1));
            Err(ConfigError(format!(
                "{}:{line}:{col}: repos.hostPath ({h}) and repos.existingClaim ({c}) are both set; \
                 keep one: hostPath for a directory on the node, existingClaim for a PersistentVolumeClaim",
                file.map_or("config".into(), |p| p.display().to_string())
            )))
        }
        (_, Some(c)) => Ok(Some(Source::Claim(c))),
        (Some(h), None) => Ok(Some(Source::HostPath(h))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn cfg(text: &str) -> Result<Settings, ConfigError> {
        let f = file(text);
        load(Some(f.path()), &[], None)
    }

    #[test]
    fn unknown_keys_get_the_closest_spelling() {
        let e = cfg("repos:\n  existingclaim: x\n").unwrap_err().0;
        assert!(e.contains("did you mean `existingClaim`"), "{e}");
        assert!(e.contains(":2:3:"), "{e}");
        let e = cfg("repo:\n  hostPath: /x\n").unwrap_err().0;
        assert!(e.contains("did you mean `repos`"), "{e}");
        let e = cfg("workloads:\n  mountinto: [a]\n").unwrap_err().0;
        assert!(e.contains("did you mean `mountInto`"), "{e}");
    }

    #[test]
    fn both_sources_are_refused_naming_both() {
        let e = cfg("repos:\n  hostPath: /data\n  existingClaim: pvc\n")
            .unwrap_err()
            .0;
        assert!(
            e.contains("repos.hostPath") && e.contains("repos.existingClaim"),
            "{e}"
        );
    }

    #[test]
    fn values_are_checked() {
        for (text, needle) in [
            ("repos:\n  hostPath: data\n", "absolute"),
            ("repos:\n  mountPath: /a/../b\n", ".."),
            ("repos:\n  subPath: ../x\n", ".."),
            ("repos:\n  subPath: /x\n", "relative"),
            (
                "repos:\n  existingClaim: Bad_Name\n",
                "not a valid claim name",
            ),
            (
                "repos:\n  accessMode: RWO\n",
                "ReadWriteOnce, ReadWriteOncePod",
            ),
            ("repos:\n  readOnly: maybe\n", "true or false"),
            ("repos:\n  node: -bad-\n", "hostname"),
            ("repos:\n  node: 1234\n", "quote it"),
            (
                "workloads:\n  selector:\n    matchExpressions:\n    - {key: a, operator: Has}\n",
                "not a selector operator",
            ),
            ("workloads:\n  mountInto: x\n", "list of name globs"),
        ] {
            let e = cfg(text).unwrap_err().0;
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn config_overrides_values_key_by_key_and_yaml_1_1_applies() {
        let v1 = file(
            "persistence:\n  repos:\n    existingClaim: a\n    mountPath: /m\n    readOnly: yes\n",
        );
        let v2 = file("persistence:\n  repos:\n    existingClaim: b\n");
        let c = file("repos:\n  hostPath: /data\n  node: worker-2\n");
        let s = load(Some(c.path()), &[v1.path().into(), v2.path().into()], None).unwrap();
        assert_eq!(s.source, Some(Source::HostPath("/data".into())));
        assert_eq!(s.mount_path.as_deref(), Some("/m"));
        assert_eq!(s.read_only, Some(true));
        assert_eq!(s.node.as_deref(), Some("worker-2"));
        let s = load(None, &[v1.path().into(), v2.path().into()], None).unwrap();
        assert_eq!(s.source, Some(Source::Claim("b".into())));
        // The chart prefers existingClaim over its default hostPath.
        let v3 = file(
            "persistence:\n  repos:\n    hostPath: /tmp/repos\n    existingClaim: c\n  other: 1\nignored: true\n",
        );
        let s = load(None, &[v3.path().into()], None).unwrap();
        assert_eq!(s.source, Some(Source::Claim("c".into())));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*-scheduler", "polyaxon-polyaxon-scheduler"));
        assert!(!glob_match("*-scheduler", "polyaxon-scheduler-x"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let s = Selector {
            match_labels: vec![("a".into(), "1".into())],
            match_expressions: vec![("b".into(), "NotIn".into(), vec!["x".into()])],
        };
        let l = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(s.matches(&l(&[("a", "1")])));
        assert!(!s.matches(&l(&[("a", "1"), ("b", "x")])));
        assert!(!s.matches(&l(&[("b", "y")])));
    }
}
