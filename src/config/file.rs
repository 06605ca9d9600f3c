//! The config file's format (`polyrepo.yaml`): strict, unknown keys refused
//! with the closest valid spelling, every value checked.

use super::check::{Check, access_mode, parse_file, repos_layer};
use super::names::check_label_value;
use super::{AccessMode, ConfigError, Layer, Places, Selector};
use crate::yaml::node::Node;
use std::path::Path;

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

/// Settings only the config file has.
#[derive(Default)]
pub(super) struct Extra {
    pub(super) access_mode: Option<AccessMode>,
    pub(super) node: Option<String>,
    pub(super) external: bool,
    pub(super) selector: Option<Selector>,
    pub(super) mount_into: Vec<String>,
    pub(super) data_node: Option<String>,
    pub(super) ignore: Vec<String>,
    pub(super) places: Places,
    pub(super) acknowledge: Vec<crate::report::Advice>,
}

pub(super) fn config_layer(text: &str, path: &Path) -> Result<(Layer, Extra), ConfigError> {
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
