//! The KRM function mode, for kustomize, kpt and anything else that runs
//! KRM functions (the KRM Functions Specification, `config.kubernetes.io/v1`).
//!
//! A stream whose only document is a `ResourceList` is a function call:
//! kustomize and kpt run exec functions without arguments, so no flag is
//! needed. The settings come from `functionConfig` (a `PolyrepoRender`
//! object whose `spec` is the `polyrepo.yaml` content, or a ConfigMap whose
//! `data.polyrepo.yaml` holds that text; without one, from `--config` as
//! usual); the items are patched in place as a `List`'s items are (so
//! untouched items keep their bytes); and the report becomes the output's
//! `results`: each change as `info`, each warning as `warning`, the error
//! as `error`, each with the identity of the item it names. On failure the
//! function still writes the ResourceList, items unchanged and the error in
//! `results`, and exits non-zero: the specification asks for it, and it is
//! the one exception to "nothing on stdout on failure".

use crate::config::{self, Settings};
use crate::edit::EditError;
use crate::report::Report;
use crate::yaml::{self, Node};
use crate::{Failure, render};
use serde_json::{Value, json};

/// The `functionConfig` kind that carries the configuration in its `spec`.
pub const CONFIG_KIND: &str = "PolyrepoRender";
/// Its apiVersion.
pub const CONFIG_API_VERSION: &str = "polyrepo-render/v1";
/// The ConfigMap key that holds the configuration as text.
pub const CONFIG_MAP_KEY: &str = "polyrepo.yaml";

/// True when `input` is a KRM function call: its only document is a
/// `config.kubernetes.io` `ResourceList`.
pub fn is_function_call(input: &[u8]) -> bool {
    // A cheap test first (a SIMD search): a stream that never says
    // `ResourceList` pays nothing more.
    if crate::pages::find_iter(input, b"ResourceList")
        .next()
        .is_none()
    {
        return false;
    }
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    // The summary pass tells kind and count without building trees.
    let Ok(infos) = yaml::scan(text) else {
        return false;
    };
    let [info] = infos.as_slice() else {
        return false;
    };
    if info.kind.as_deref() != Some("ResourceList") || !info.api_version {
        return false;
    }
    let Ok(stream) = yaml::parse(text) else {
        return false;
    };
    stream.docs[0]
        .root
        .get("apiVersion")
        .and_then(Node::as_str)
        .is_some_and(|v| v.starts_with("config.kubernetes.io/"))
}

/// What a function call produced: the ResourceList to write (always), and
/// whether the call succeeded.
#[derive(Debug)]
pub struct Call {
    /// The output ResourceList.
    pub output: Vec<u8>,
    /// `Ok`, or the failure (its exit code is the process's).
    pub result: Result<(), Failure>,
}

/// Runs a function call. `fallback` are the settings to use when the
/// ResourceList has no `functionConfig` (from `--config`); `strict` turns
/// warnings into an error, as `--strict` does.
pub fn call(input: &[u8], fallback: Settings, strict: bool, report: &mut Report) -> Call {
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(_) => unreachable!("is_function_call checked the input is UTF-8"),
    };
    let settings = function_settings(text).map(|s| s.unwrap_or(fallback));
    let rendered = settings.and_then(|s| {
        let r = render(input, &s, report)?;
        if strict {
            crate::strict_check(report)?;
        }
        Ok(r.to_vec())
    });
    let (body, result) = match rendered {
        Ok(out) => (out, Ok(())),
        Err(f) => {
            f.record(report);
            (input.to_vec(), Err(f))
        }
    };
    let body = String::from_utf8(body).expect("the output of UTF-8 input is UTF-8");
    let written = with_results(&body, report).and_then(|(output, results)| {
        read_back(&output, &body, &results)?;
        Ok(output)
    });
    match written {
        Ok(output) => Call {
            output: output.into_bytes(),
            result,
        },
        Err(e) => {
            // The results cannot stand in this ResourceList: it goes out as
            // it came in (items unchanged), the reason on stderr.
            let failure = Failure::input(format!(
                "the ResourceList's `results` cannot be replaced in place: {e}; write \
                 `results` at most once, without an anchor or an alias, and outside `items`"
            ));
            if result.is_ok() {
                failure.record(report);
            }
            Call {
                output: input.to_vec(),
                result: result.and(Err(failure)),
            }
        }
    }
}

/// The ResourceList `output` read back as the orchestrator will read it
/// (through its anchors and aliases, as go-yaml does): one document whose
/// root holds `results` once, equal to `results`, and everything else
/// equal to `body` (the patched ResourceList before the results). An
/// anchored `results` that `items` aliases, or a second `results` key, would
/// otherwise leave an alias pointing nowhere or a stale copy.
fn read_back(output: &str, body: &str, results: &Value) -> Result<(), ResultsError> {
    let read = |text: &str| -> Result<serde_json::Map<String, Value>, ResultsError> {
        let stream = yaml::parse(text).map_err(|e| {
            format!(
                "the ResourceList would no longer read ({}, at line {} column {})",
                e.message, e.line, e.col
            )
        })?;
        let [doc] = stream.docs.as_slice() else {
            return Err(format!("{} documents", stream.docs.len()).into());
        };
        let count = doc.root.entries().map_or(0, |e| {
            e.iter()
                .filter(|(k, _)| k.as_str() == Some("results"))
                .count()
        });
        if count > 1 {
            return Err(format!("`results` is written {count} times").into());
        }
        match yaml::to_json(&doc.root, &doc.anchors).map_err(|e| e.to_string())? {
            Value::Object(m) => Ok(m),
            _ => Err("the ResourceList is not a mapping".into()),
        }
    };
    let mut out = read(output)?;
    let mut before = read(body)?;
    if out.remove("results").as_ref() != Some(results) {
        return Err("the results written are not the ones reported".into());
    }
    before.remove("results");
    if out != before {
        let what: Vec<&String> = out
            .keys()
            .chain(before.keys())
            .filter(|k| out.get(*k) != before.get(*k))
            .collect();
        return Err(format!(
            "replacing `results` would also change {}",
            what.iter()
                .map(|k| format!("`{}`", crate::yaml::shown(k)))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    Ok(())
}

/// The settings `functionConfig` gives, or `None` when there is none.
fn function_settings(text: &str) -> Result<Option<Settings>, Failure> {
    let stream = yaml::parse(text)?;
    let doc = &stream.docs[0];
    let Some(fc) = doc.root.get("functionConfig").filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    if fc.entries().is_none() {
        return Err(Failure::config(format!(
            "functionConfig (line {} column {}) is {}, not an object; give a {CONFIG_API_VERSION} \
             {CONFIG_KIND} or a v1 ConfigMap",
            fc.line,
            fc.col,
            fc.describe()
        )));
    }
    let kind = fc.get("kind").and_then(Node::as_str).unwrap_or("");
    let api = fc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    let bad = |what: String| {
        Failure::config(format!(
            "functionConfig (line {} column {}): {what}",
            fc.line, fc.col
        ))
    };
    let settings = match (kind, api) {
        // Positions inside the function's configuration (the file it came
        // from, when the orchestrator says), not in the ResourceList built
        // around it.
        (CONFIG_KIND, CONFIG_API_VERSION) => match fc.get("spec").filter(|n| !n.is_null()) {
            Some(spec) => config::load_text(&in_place(text, spec, fc.line), &origin(fc))?,
            None => config::load_text("{}", &origin(fc))?,
        },
        ("ConfigMap", "v1") => {
            let data = fc.get("data").filter(|d| !d.is_null());
            // kpt sends an empty ConfigMap when it is given no function
            // config: that is no configuration, not a wrong one.
            if data.is_none_or(|d| d.entries().is_some_and(<[_]>::is_empty)) {
                return Ok(None);
            }
            let text = match fc.path(&["data", CONFIG_MAP_KEY]) {
                None => {
                    return Err(bad(format!(
                        "the ConfigMap has no data.{CONFIG_MAP_KEY}; put the polyrepo.yaml text there"
                    )));
                }
                Some(v) => v.as_str().ok_or_else(|| {
                    bad(format!(
                        "data.{CONFIG_MAP_KEY} (line {} column {}) is {}; it must be the \
                         polyrepo.yaml text, a string (`{CONFIG_MAP_KEY}: |`)",
                        v.line,
                        v.col,
                        v.describe()
                    ))
                })?,
            };
            config::load_text(text, &format!("{} data.{CONFIG_MAP_KEY}", origin(fc)))?
        }
        _ => {
            return Err(bad(format!(
                "is {api}/{kind}; polyrepo-render reads apiVersion {CONFIG_API_VERSION}, \
                 kind {CONFIG_KIND} (the polyrepo.yaml content under spec), or a v1 ConfigMap \
                 with data.{CONFIG_MAP_KEY}"
            )));
        }
    };
    Ok(Some(settings))
}

/// Where the function's configuration came from, for messages:
/// `functionConfig`, with the file the orchestrator names
/// (`config.kubernetes.io/path`, or kustomize's
/// `internal.config.kubernetes.io/path`). Lines count from the object's
/// first line (the annotations an orchestrator adds may shift them).
fn origin(fc: &Node<'_>) -> String {
    [
        "config.kubernetes.io/path",
        "internal.config.kubernetes.io/path",
    ]
    .iter()
    .find_map(|k| {
        fc.path(&["metadata", "annotations", k])
            .and_then(Node::as_str)
            .filter(|p| !p.is_empty())
    })
    .map_or_else(
        || "functionConfig".to_string(),
        |p| format!("functionConfig of {}", crate::yaml::shown(p)),
    )
}

/// The text of `node` alone, standing on the lines and columns it has in
/// the object that starts at line `first` of `text` (the function's
/// configuration), so a message names its line and column there.
fn in_place(text: &str, node: &Node<'_>, first: usize) -> String {
    let mut out = "\n".repeat(node.line - first);
    out.push_str(&" ".repeat(node.col - 1));
    out.push_str(&text[node.start..node.end]);
    out.push('\n');
    out
}

/// An item's identity, as a result's `resourceRef`.
struct Item {
    id: String,
    reference: Value,
    /// The file the orchestrator read it from, as a result's `file`.
    file: Option<Value>,
}

fn items(root: &Node<'_>) -> Vec<Item> {
    let mut out = Vec::new();
    for item in root
        .get("items")
        .and_then(Node::items)
        .into_iter()
        .flatten()
    {
        let s = |path: &[&str]| item.path(path).and_then(Node::as_str);
        let (Some(kind), Some(name)) = (s(&["kind"]), s(&["metadata", "name"])) else {
            continue;
        };
        let mut reference = serde_json::Map::new();
        if let Some(v) = s(&["apiVersion"]) {
            reference.insert("apiVersion".into(), json!(v));
        }
        reference.insert("kind".into(), json!(kind));
        reference.insert("name".into(), json!(name));
        if let Some(ns) = s(&["metadata", "namespace"]) {
            reference.insert("namespace".into(), json!(ns));
        }
        let annotation = |k: &str| s(&["metadata", "annotations", k]);
        let file = annotation("internal.config.kubernetes.io/path")
            .or_else(|| annotation("config.kubernetes.io/path"))
            .map(|path| {
                let index = annotation("internal.config.kubernetes.io/index")
                    .or_else(|| annotation("config.kubernetes.io/index"))
                    .and_then(|i| i.parse::<u64>().ok());
                match index {
                    Some(i) => json!({ "path": path, "index": i }),
                    None => json!({ "path": path }),
                }
            });
        out.push(Item {
            id: format!("{kind}/{name}"),
            reference: Value::Object(reference),
            file,
        });
    }
    out
}

/// The item the message names first (a change says `Kind/name:` first;
/// its reasons may name others after it). A name counts whole: `Kind/name`
/// followed by neither a letter, a digit, `-` nor `.`.
fn named<'i>(items: &'i [Item], message: &str) -> Option<&'i Item> {
    items
        .iter()
        .filter_map(|i| crate::report::names(message, &i.id).map(|at| (at, i)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, i)| i)
}

message_error!(
    /// Why the report cannot be written into a ResourceList as its
    /// `results`: the ResourceList then goes out as it came in.
    ResultsError
);

impl From<EditError> for ResultsError {
    fn from(e: EditError) -> Self {
        ResultsError(e.0)
    }
}

/// The ResourceList `text` with the report as its `results` (replacing
/// any `results` it had: those were the previous function's), and those
/// results.
fn with_results(text: &str, report: &Report) -> Result<(String, Value), ResultsError> {
    let stream = yaml::parse(text).map_err(|e| e.to_string())?;
    let doc = &stream.docs[0];
    let items = items(&doc.root);
    let results: Vec<Value> = report
        .records
        .iter()
        .map(|r| {
            let line = r.line();
            let line = line.as_str();
            let (severity, message) = if let Some(m) = line.strip_prefix("warning: ") {
                ("warning", m)
            } else if let Some(m) = line.strip_prefix("error: ") {
                ("error", m)
            } else {
                let m = line.strip_prefix("changed ").unwrap_or(line);
                // In a ResourceList every item is in document 1: say the item.
                ("info", m.strip_prefix("document 1: ").unwrap_or(m))
            };
            let mut r = json!({ "message": message, "severity": severity });
            if let Some(item) = named(&items, message) {
                r["resourceRef"] = item.reference.clone();
                if let Some(f) = &item.file {
                    r["file"] = f.clone();
                }
            }
            r
        })
        .collect();
    let results = Value::Array(results);
    let output = crate::edit::set_root_entry(text, "results", &results)?;
    Ok((output, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_resource_list_of_config_kubernetes_io_is_a_call() {
        let rl = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n";
        assert!(is_function_call(rl.as_bytes()));
        assert!(!is_function_call(format!("{rl}---\na: 1\n").as_bytes()));
        assert!(!is_function_call(
            rl.replace("config.kubernetes.io", "example.com").as_bytes()
        ));
        assert!(!is_function_call(
            b"apiVersion: v1\nkind: List\nitems: []\n"
        ));
        assert!(!is_function_call(
            b"kind: ResourceList\napiVersion: [config.kubernetes.io/v1\n"
        ));
    }

    #[test]
    fn messages_name_whole_identities() {
        let root = yaml::parse("items:\n- {kind: Deployment, metadata: {name: api-2}}\n- {kind: Deployment, metadata: {name: api, namespace: p}}\n")
            .unwrap()
            .docs
            .remove(0)
            .root;
        let items = items(&root);
        let found = named(&items, "document 1, Deployment/api: no").unwrap();
        assert_eq!(found.reference["namespace"], "p");
        assert_eq!(
            named(&items, "Deployment/api-2: x").unwrap().id,
            "Deployment/api-2"
        );
        assert!(named(&items, "Deployment/ap: x").is_none());
        // The first named, not the first item of the list.
        let m = "Deployment/api-2: mount added; why: 2 pods share it (Deployment/api, Deployment/api-2)";
        assert_eq!(named(&items, m).unwrap().id, "Deployment/api-2");
    }
}
