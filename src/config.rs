//! What the user asked for: `polyrepo.yaml`, Helm values files, and the
//! resolved [`Settings`] the rest of the tool works from.
//!
//! Both files are read the way Helm and Kubernetes read YAML (YAML 1.1
//! typing, see `crate::yaml::typing`): `readOnly: yes` is `true` here as it is
//! for Helm. The config file is strict: unknown keys are refused with the
//! closest valid spelling, and every value is checked before anything runs.

use crate::yaml as stream;
use crate::yaml::node::{Node, NodeKind};
use crate::yaml::spans::Keys;
use std::fmt;
use std::path::{Path, PathBuf};

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

/// Keys of `persistence.repos` that the chart knows.
const CHART_KEYS: [&str; 5] = [
    "mountPath",
    "hostPath",
    "existingClaim",
    "subPath",
    "readOnly",
];
/// Keys of `repos` in polyrepo.yaml.
const REPOS_KEYS: [&str; 8] = [
    "mountPath",
    "hostPath",
    "existingClaim",
    "subPath",
    "readOnly",
    "accessMode",
    "node",
    "external",
];

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

fn parse_file<'t>(text: &'t str, path: &Path) -> Result<Option<Node<'t>>, ConfigError> {
    let s = stream::parse(text).map_err(|e| {
        ConfigError(format!(
            "{}: invalid YAML at line {} column {}: {}",
            path.display(),
            e.line,
            e.col,
            e.message
        ))
    })?;
    if s.docs.len() > 1 {
        return Err(ConfigError(format!(
            "{}: holds {} YAML documents; expected one",
            path.display(),
            s.docs.len()
        )));
    }
    let Some(doc) = s.docs.into_iter().next() else {
        return Ok(None);
    };
    if doc.uses_aliases {
        return Err(ConfigError(format!(
            "{}: aliases and merge keys are not supported here; write the values out",
            path.display()
        )));
    }
    if doc.root.is_null() {
        return Ok(None);
    }
    Ok(Some(doc.root))
}

/// A checker for one file's nodes, so every message names file, key and line.
/// It gathers the errors of a file, so that one run names them all.
struct Check<'p> {
    path: &'p Path,
    errors: std::cell::RefCell<Vec<ConfigError>>,
}

impl<'p> Check<'p> {
    fn new(path: &'p Path) -> Self {
        Check {
            path,
            errors: Default::default(),
        }
    }

    /// The value, or `None` with the error kept for [`Check::finish`].
    fn keep<T>(&self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.errors.borrow_mut().push(e)).ok()
    }

    /// Every error kept, one per line, or `Ok`.
    fn finish(&self) -> Result<(), ConfigError> {
        let mut errors = self.errors.borrow_mut();
        if errors.is_empty() {
            return Ok(());
        }
        // In the file's order: each message starts `path:line:column:`.
        let prefix = format!("{}:", self.path.display());
        errors.sort_by_key(|e| {
            let mut at = e.0.strip_prefix(&prefix).unwrap_or("").split(':');
            let mut num = || at.next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            (num(), num())
        });
        Err(ConfigError(
            errors
                .iter()
                .map(|e| e.0.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ))
    }

    /// Where `n` is: `file:line:column`.
    fn place(&self, n: &Node<'_>) -> String {
        format!("{}:{}:{}", self.path.display(), n.line, n.col)
    }

    fn err(&self, n: &Node<'_>, key: &str, msg: impl fmt::Display) -> ConfigError {
        ConfigError(format!(
            "{}:{}:{}: {key}: {msg}",
            self.path.display(),
            n.line,
            n.col
        ))
    }

    fn map<'n, 'a>(
        &self,
        n: &'n Node<'a>,
        key: &str,
    ) -> Result<&'n [(Node<'a>, Node<'a>)], ConfigError> {
        if n.is_null() {
            return Ok(&[]);
        }
        n.entries().ok_or_else(|| {
            self.err(
                n,
                key,
                format!("expected a mapping, found {}", n.describe()),
            )
        })
    }

    /// Refuses keys outside `allowed`, suggesting the closest one, and keys
    /// given twice: every one of them kept.
    fn keys(&self, entries: &[(Node<'_>, Node<'_>)], at: &str, allowed: &[&str]) {
        let mut seen = Keys::default();
        for (k, _) in entries {
            let name = k.scalar().unwrap_or("");
            let full = if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            };
            if seen.add(name, ()).is_some() {
                self.keep::<()>(Err(self.err(k, &full, "is given twice")));
                continue;
            }
            if !allowed.contains(&name) {
                let best = allowed
                    .iter()
                    .map(|a| {
                        (
                            strsim::damerau_levenshtein(&a.to_lowercase(), &name.to_lowercase()),
                            *a,
                        )
                    })
                    .min()
                    .filter(|(d, _)| *d <= 3);
                let hint = match best {
                    Some((_, a)) => format!("unknown key; did you mean `{a}`?"),
                    None => format!("unknown key; allowed: {}", allowed.join(", ")),
                };
                self.keep::<()>(Err(self.err(k, &full, hint)));
            }
        }
    }

    fn opt_string(&self, n: &Node<'_>, key: &str) -> Result<Option<String>, ConfigError> {
        if n.is_null() {
            return Ok(None);
        }
        match n.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(self.err(
                n,
                key,
                format!(
                    "expected a string, found {}{}",
                    match &n.kind {
                        NodeKind::Scalar { value, .. } => format!("`{value}`"),
                        _ => n.describe().into(),
                    },
                    if n.scalar().is_some() {
                        " (YAML reads it as a non-string; quote it)"
                    } else {
                        ""
                    }
                ),
            )),
        }
    }

    /// A list of non-empty strings (null: none); `shape` says what was expected.
    fn string_list(
        &self,
        n: &Node<'_>,
        key: &str,
        shape: &str,
    ) -> Result<Vec<String>, ConfigError> {
        if n.is_null() {
            return Ok(Vec::new());
        }
        let items = n.items().ok_or_else(|| self.err(n, key, shape))?;
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let v = self.opt_string(i, key)?.unwrap_or_default();
            if v.is_empty() {
                return Err(self.err(i, key, "empty entry"));
            }
            out.push(v);
        }
        Ok(out)
    }

    fn opt_bool(&self, n: &Node<'_>, key: &str) -> Result<Option<bool>, ConfigError> {
        if n.is_null() {
            return Ok(None);
        }
        match &n.kind {
            NodeKind::Scalar { value, style } => {
                match crate::yaml::typing::scalar_meaning(value, *style, n.tag.as_deref()) {
                    crate::yaml::typing::Scalar11::Bool(b) => Ok(Some(b)),
                    _ => Err(self.err(n, key, format!("expected true or false, found `{value}`"))),
                }
            }
            _ => Err(self.err(
                n,
                key,
                format!("expected true or false, found {}", n.describe()),
            )),
        }
    }
}

fn abs_path(
    c: &Check<'_>,
    n: &Node<'_>,
    key: &str,
    v: Option<String>,
) -> Result<Option<String>, ConfigError> {
    if let Some(p) = &v {
        if !p.starts_with('/') {
            return Err(c.err(
                n,
                key,
                format!("`{p}` is not an absolute path; write it starting with /"),
            ));
        }
        if p.split('/').any(|s| s == "..") {
            return Err(c.err(
                n,
                key,
                format!("`{p}` contains `..`; write the path without it"),
            ));
        }
    }
    Ok(v)
}

/// Reads one layer of `persistence.repos`-style keys, validating each.
fn repos_layer(c: &Check<'_>, entries: &[(Node<'_>, Node<'_>)], at: &str) -> Layer {
    let mut l = Layer::default();
    for (k, v) in entries {
        let Some(name) = k.scalar() else { continue };
        let key = format!("{at}.{name}");
        let mut one = || -> Result<(), ConfigError> {
            match name {
                "mountPath" => l.mount_path = Some(abs_path(c, v, &key, c.opt_string(v, &key)?)?),
                "hostPath" => l.host_path = Some(abs_path(c, v, &key, c.opt_string(v, &key)?)?),
                "existingClaim" => {
                    let s = c.opt_string(v, &key)?;
                    if let Some(name) = s.as_deref().filter(|s| !s.is_empty())
                        && let Err(why) = check_dns_subdomain(name)
                    {
                        return Err(c.err(
                            v,
                            &key,
                            format!("`{name}` is not a valid claim name: {why}"),
                        ));
                    }
                    l.existing_claim = Some(s);
                    l.claim_at = Some((k.line, k.col));
                }
                "subPath" => {
                    let s = c.opt_string(v, &key)?;
                    if let Some(p) = s.as_deref() {
                        if p.starts_with('/') {
                            return Err(c.err(
                                v,
                                &key,
                                format!("`{p}` must be a relative path (no leading /)"),
                            ));
                        }
                        if p.split('/').any(|s| s == "..") {
                            return Err(c.err(v, &key, format!("`{p}` must not contain `..`")));
                        }
                    }
                    l.sub_path = Some(s);
                }
                "readOnly" => l.read_only = Some(c.opt_bool(v, &key)?),
                _ => {}
            }
            Ok(())
        };
        let r = one();
        c.keep(r);
    }
    l
}

/// What a values file says: `persistence.repos` (the keys the chart
/// knows, and `accessMode`, which the chart ignores with an existingClaim
/// but which says what that claim is), and `types.core`.
struct Values {
    layer: Layer,
    access_mode: Option<AccessMode>,
    core: Option<String>,
}

/// Reads `persistence.repos` and `types.core` from a values file.
fn values_layer(text: &str, path: &Path, subchart: Option<&str>) -> Result<Values, ConfigError> {
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

/// An access mode as Kubernetes spells it.
fn access_mode(c: &Check<'_>, v: &Node<'_>, key: &str) -> Result<Option<AccessMode>, ConfigError> {
    let Some(m) = c.opt_string(v, key)? else {
        return Ok(None);
    };
    AccessMode::parse(&m).map(Some).ok_or_else(|| {
        c.err(
            v,
            key,
            format!(
                "`{m}` is not an access mode; use one of {}",
                AccessMode::ALL.join(", ")
            ),
        )
    })
}

/// Settings only the config file has.
#[derive(Default)]
struct Extra {
    access_mode: Option<AccessMode>,
    node: Option<String>,
    external: bool,
    selector: Option<Selector>,
    mount_into: Vec<String>,
    data_node: Option<String>,
    ignore: Vec<String>,
    places: Places,
    acknowledge: Vec<crate::report::Advice>,
}

fn config_layer(text: &str, path: &Path) -> Result<(Layer, Extra), ConfigError> {
    let c = Check::new(path);
    let mut extra = Extra::default();
    let Some(root) = parse_file(text, path)? else {
        return Ok((Layer::default(), extra));
    };
    let top = c.map(&root, "(top level)")?;
    c.keys(
        top,
        "",
        &["repos", "workloads", "node", "ignore", "acknowledge"],
    );
    if let Some(list) = root.get("acknowledge") {
        extra.acknowledge = acknowledge(&c, list);
    }
    if let Some(n) = root.get("node") {
        extra.data_node = c.keep(node_name(&c, n, "node")).flatten();
        extra.places.data_node = Some(c.place(n));
    }
    if let Some(list) = root.get("ignore") {
        extra.ignore = c
            .keep(c.string_list(
                list,
                "ignore",
                "expected a list of volume names or host paths, e.g. [docker-socket, /var/lib/cache]",
            ))
            .unwrap_or_default();
        extra.places.ignore = list
            .items()
            .unwrap_or(&[])
            .iter()
            .map(|i| c.place(i))
            .collect();
    }
    let mut layer = Layer::default();
    if let Some(repos) = root.get("repos")
        && let Some(entries) = c.keep(c.map(repos, "repos"))
    {
        c.keys(entries, "repos", &REPOS_KEYS);
        layer = repos_layer(&c, entries, "repos");
        for (k, v) in entries {
            match k.scalar().unwrap_or("") {
                "accessMode" => {
                    extra.access_mode = c.keep(access_mode(&c, v, "repos.accessMode")).flatten()
                }
                "node" => {
                    extra.node = c.keep(node_name(&c, v, "repos.node")).flatten();
                    extra.places.node = Some(c.place(v));
                }
                "external" => {
                    extra.external = c
                        .keep(c.opt_bool(v, "repos.external"))
                        .flatten()
                        .unwrap_or(false)
                }
                _ => {}
            }
        }
    }
    if let Some(w) = root.get("workloads")
        && let Some(entries) = c.keep(c.map(w, "workloads"))
    {
        c.keys(entries, "workloads", &["selector", "mountInto"]);
        if let Some(sel) = w.get("selector") {
            extra.selector = Some(selector(&c, sel));
            extra.places.selector = Some(c.place(sel));
        }
        if let Some(mi) = w.get("mountInto") {
            extra.mount_into = c
                .keep(c.string_list(
                    mi,
                    "workloads.mountInto",
                    "expected a list of name globs, e.g. [\"*-scheduler\"]",
                ))
                .unwrap_or_default();
            extra.places.mount_into = mi
                .items()
                .unwrap_or(&[])
                .iter()
                .map(|i| c.place(i))
                .collect();
        }
    }
    c.finish()?;
    Ok((layer, extra))
}

/// The `acknowledge:` list: advice codes (an unknown one is kept as an
/// error naming the closest code).
fn acknowledge(c: &Check<'_>, list: &Node<'_>) -> Vec<crate::report::Advice> {
    let codes: Vec<&str> = crate::report::Advice::ALL
        .iter()
        .map(|a| a.code())
        .collect();
    let shape = format!("expected a list of advice codes: {}", codes.join(", "));
    let names = c
        .keep(c.string_list(list, "acknowledge", &shape))
        .unwrap_or_default();
    let mut out = Vec::new();
    for (name, item) in names.iter().zip(list.items().unwrap_or(&[])) {
        match crate::report::Advice::parse(name) {
            Some(a) => out.push(a),
            None => {
                let best = codes
                    .iter()
                    .map(|a| (strsim::damerau_levenshtein(a, name), *a))
                    .min()
                    .filter(|(d, _)| *d <= 4);
                let why = match best {
                    Some((_, a)) => format!("`{name}` is not an advice code; did you mean `{a}`?"),
                    None => format!(
                        "`{name}` is not an advice code; they are: {}",
                        codes.join(", ")
                    ),
                };
                c.keep::<()>(Err(c.err(item, "acknowledge", why)));
            }
        }
    }
    out
}

/// A `kubernetes.io/hostname` value.
fn node_name(c: &Check<'_>, v: &Node<'_>, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(n) = c.opt_string(v, key)? else {
        return Ok(None);
    };
    if let Err(why) = check_label_value(&n) {
        return Err(c.err(
            v,
            key,
            format!("`{n}` cannot be a kubernetes.io/hostname value: {why}"),
        ));
    }
    Ok(Some(n))
}

/// `workloads.selector`; each error is kept (a wrong requirement is left out).
fn selector(c: &Check<'_>, n: &Node<'_>) -> Selector {
    let at = "workloads.selector";
    let mut s = Selector::default();
    let Some(entries) = c.keep(c.map(n, at)) else {
        return s;
    };
    c.keys(entries, at, &["matchLabels", "matchExpressions"]);
    if let Some(ml) = n.get("matchLabels") {
        for (k, v) in c
            .keep(c.map(ml, "workloads.selector.matchLabels"))
            .unwrap_or(&[])
        {
            let one = || -> Result<(String, String), ConfigError> {
                let key = c
                    .opt_string(k, "workloads.selector.matchLabels")?
                    .unwrap_or_default();
                let val = c
                    .opt_string(v, &format!("workloads.selector.matchLabels.{key}"))?
                    .unwrap_or_default();
                Ok((key, val))
            };
            if let Some(pair) = c.keep(one()) {
                s.match_labels.push(pair);
            }
        }
    }
    if let Some(me) = n.get("matchExpressions") {
        let items =
            c.keep(me.items().ok_or_else(|| {
                c.err(me, "workloads.selector.matchExpressions", "expected a list")
            }))
            .unwrap_or(&[]);
        for e in items {
            if let Some(req) = c.keep(requirement(c, e)) {
                s.match_expressions.push(req);
            }
        }
    }
    s
}

/// One `matchExpressions` item.
fn requirement(c: &Check<'_>, e: &Node<'_>) -> Result<(String, String, Vec<String>), ConfigError> {
    let at = "workloads.selector.matchExpressions[]";
    let entries = c.map(e, at)?;
    c.keys(entries, at, &["key", "operator", "values"]);
    let key = e
        .get("key")
        .map(|k| c.opt_string(k, at))
        .transpose()?
        .flatten();
    let op = e
        .get("operator")
        .map(|k| c.opt_string(k, at))
        .transpose()?
        .flatten();
    let (Some(key), Some(op)) = (key, op) else {
        return Err(c.err(e, at, "needs `key` and `operator`"));
    };
    let mut values = Vec::new();
    if let Some(vs) = e.get("values") {
        for v in vs
            .items()
            .ok_or_else(|| c.err(vs, at, "values: expected a list"))?
        {
            values.push(c.opt_string(v, at)?.unwrap_or_default());
        }
    }
    match op.as_str() {
        "In" | "NotIn" if values.is_empty() => Err(c.err(
            e,
            at,
            format!("operator {op} needs a non-empty `values` list"),
        )),
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            Err(c.err(e, at, format!("operator {op} takes no `values`")))
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" => Ok((key, op, values)),
        _ => Err(c.err(
            e,
            at,
            format!("`{op}` is not a selector operator; use In, NotIn, Exists or DoesNotExist"),
        )),
    }
}

/// Checks an object name (RFC 1123 subdomain), as PVC names must be.
pub(crate) fn check_dns_subdomain(s: &str) -> Result<(), ConfigError> {
    if s.len() > 253 {
        return Err(ConfigError("longer than 253 characters".into()));
    }
    for label in s.split('.') {
        let b = label.as_bytes();
        if b.is_empty()
            || !b
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            || !b[0].is_ascii_alphanumeric()
            || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return Err(ConfigError("use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit".into()));
        }
    }
    Ok(())
}

/// Checks a label value (at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric).
pub(crate) fn check_label_value(s: &str) -> Result<(), ConfigError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err(ConfigError("must be 1 to 63 characters".into()));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        || !b[0].is_ascii_alphanumeric()
        || !b[b.len() - 1].is_ascii_alphanumeric()
    {
        return Err(ConfigError(
            "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                .into(),
        ));
    }
    Ok(())
}

/// Matches a name against a glob with `*` (any run) and `?` (one character).
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
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
