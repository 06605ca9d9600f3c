//! Reading one file's nodes: every value checked, every message naming
//! file, key, line and column, every error of a file gathered so one run
//! names them all. Shared by the config file and the values files.

use super::names::check_dns_subdomain;
use super::{AccessMode, ConfigError, Layer};
use crate::yaml as stream;
use crate::yaml::node::{Node, NodeKind};
use crate::yaml::spans::Keys;
use std::fmt;
use std::path::Path;

pub(super) fn parse_file<'t>(text: &'t str, path: &Path) -> Result<Option<Node<'t>>, ConfigError> {
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
pub(super) struct Check<'p> {
    path: &'p Path,
    errors: std::cell::RefCell<Vec<ConfigError>>,
}

impl<'p> Check<'p> {
    pub(super) fn new(path: &'p Path) -> Self {
        Check {
            path,
            errors: Default::default(),
        }
    }

    /// The value, or `None` with the error kept for [`Check::finish`].
    pub(super) fn keep<T>(&self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.errors.borrow_mut().push(e)).ok()
    }

    /// Every error kept, one per line, or `Ok`.
    pub(super) fn finish(&self) -> Result<(), ConfigError> {
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
    pub(super) fn place(&self, n: &Node<'_>) -> String {
        format!("{}:{}:{}", self.path.display(), n.line, n.col)
    }

    pub(super) fn err(&self, n: &Node<'_>, key: &str, msg: impl fmt::Display) -> ConfigError {
        ConfigError(format!(
            "{}:{}:{}: {key}: {msg}",
            self.path.display(),
            n.line,
            n.col
        ))
    }

    pub(super) fn map<'n, 'a>(
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
    pub(super) fn keys(&self, entries: &[(Node<'_>, Node<'_>)], at: &str, allowed: &[&str]) {
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

    pub(super) fn opt_string(
        &self,
        n: &Node<'_>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
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
    pub(super) fn string_list(
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

    pub(super) fn opt_bool(&self, n: &Node<'_>, key: &str) -> Result<Option<bool>, ConfigError> {
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
pub(super) fn repos_layer(c: &Check<'_>, entries: &[(Node<'_>, Node<'_>)], at: &str) -> Layer {
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

/// An access mode as Kubernetes spells it.
pub(super) fn access_mode(
    c: &Check<'_>,
    v: &Node<'_>,
    key: &str,
) -> Result<Option<AccessMode>, ConfigError> {
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
