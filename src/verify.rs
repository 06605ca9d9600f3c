//! The last check before anything is written: every changed document must
//! parse again and, read as Kubernetes reads it, differ from the input only
//! in what the tool is allowed to change.
//!
//! A post-renderer that corrupts one field is worse than none, so a failure
//! here stops the run (exit 1, nothing on stdout) instead of trusting the
//! splicer.

use crate::inventory::{REPOS_ENV, REPOS_VOLUME};
use crate::k8s::{
    CHANGES_ANNOTATION, COLOCATE_LABEL, COLOCATION_ANNOTATION, HOSTNAME, NODE_NAME_FIELD,
    RUNTIME_ANNOTATION,
};
use crate::patch::edit::{self, Edit};
use crate::yaml::{self as stream, Document};
use serde_json::Value;

message_error!(
    /// The output is not what the plan promised: a bug (exit 1).
    VerifyError
);

impl From<edit::EditError> for VerifyError {
    fn from(e: edit::EditError) -> Self {
        VerifyError(e.0)
    }
}

/// Why a changed document was not verified.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Unverified {
    /// The input document itself cannot be read as Kubernetes reads it (a
    /// mapping key that is a collection, an infinite number...): the
    /// input's fault, found here because only changed documents are read
    /// whole.
    Input(crate::yaml::node::ReadError),
    /// The output is not what the plan promised: a bug.
    Bug(VerifyError),
}

/// Checks one changed document: `edits` (absolute offsets) applied to its
/// region of `text`; then hands the patched document to `then`.
pub(crate) fn document<R, E: std::fmt::Display>(
    text: &str,
    doc: &Document<'_>,
    edits: &[Edit],
    then: impl FnOnce(&Document<'_>) -> Result<R, E>,
) -> Result<R, Unverified> {
    let before = crate::yaml::node::to_json(&doc.root, &doc.anchors).map_err(Unverified::Input)?;
    compare(text, doc, before, edits, None, then).map_err(Unverified::Bug)
}

/// Checks one changed ConfigMap: `edits` applied to its region of `text`
/// change exactly the `data` values of `keys` (key, planned JSON), each
/// to a string that reads back as that JSON.
pub(crate) fn config_map(
    text: &str,
    doc: &Document<'_>,
    edits: &[Edit],
    keys: &[(&str, &str)],
) -> Result<(), Unverified> {
    let before = crate::yaml::node::to_json(&doc.root, &doc.anchors).map_err(Unverified::Input)?;
    compare(text, doc, before, edits, Some(keys), |_| {
        Ok::<(), String>(())
    })
    .map_err(Unverified::Bug)
}

/// [`document`] once the input is read (`before`).
fn compare<R, E: std::fmt::Display>(
    text: &str,
    doc: &Document<'_>,
    mut before: Value,
    edits: &[Edit],
    keys: Option<&[(&str, &str)]>,
    then: impl FnOnce(&Document<'_>) -> Result<R, E>,
) -> Result<R, VerifyError> {
    let base = doc.region_start;
    let mut local: Vec<Edit> = edits
        .iter()
        .map(|e| Edit {
            start: e.start - base,
            end: e.end - base,
            text: e.text.clone(),
        })
        .collect();
    let old_text = &text[base..doc.region_end];
    let new_text = edit::apply(old_text, &mut local)?;
    let new = stream::parse(&new_text)
        .map_err(|e| format!("the patched document does not parse: {e}"))?;
    if new.docs.len() != 1 {
        return Err(format!("the patched document became {} documents", new.docs.len()).into());
    }
    let new_doc = &new.docs[0];
    let mut after = crate::yaml::node::to_json(&new_doc.root, &new_doc.anchors)?;
    if let Some(keys) = keys {
        // A ConfigMap: exactly these `data` values changed, each reading
        // back (as Polyaxon reads it, `json.loads`) as the planned JSON.
        for (k, v) in keys {
            before["data"][*k] = Value::String(v.to_string());
            let read: Option<Value> = after["data"][*k]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok());
            if read.is_none() || read != serde_json::from_str(v).ok() {
                return Err(format!("{k} does not read back as the planned JSON").into());
            }
        }
        if before != after {
            return Err("the ConfigMap differs from the input beyond the planned keys".into());
        }
        return then(&new.docs[0]).map_err(|e| VerifyError(e.to_string()));
    }
    mask_pair(&mut before, &mut after);
    if before != after {
        return Err(
            "the patched document differs from the input beyond the planned changes".into(),
        );
    }
    then(&new.docs[0]).map_err(|e| VerifyError(e.to_string()))
}

/// Removes from both readings of a document what the tool may change, so
/// that what is left must be equal: the change annotation, the co-location
/// label and term, the repos volume, its mounts and the env copy's value,
/// and node-affinity rules (one hostname, or one node name, `In`) that the
/// output *adds* to a term. A rule the input already had is compared like
/// any field. Empty containers the tool may create (`volumes`,
/// `volumeMounts`, `affinity` and the lists under it, `labels`,
/// `annotations`) count as absent; every other empty value is compared.
pub(crate) fn mask_pair(before: &mut Value, after: &mut Value) {
    // A List's items are masked pairwise; a document whose kind changed is
    // left whole, to differ.
    if before["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
        let (Some(b), Some(a)) = (
            before.get_mut("items").and_then(Value::as_array_mut),
            after.get_mut("items").and_then(Value::as_array_mut),
        ) else {
            return;
        };
        for (b, a) in b.iter_mut().zip(a.iter_mut()) {
            mask_object(b, a);
        }
    } else {
        mask_object(before, after);
    }
}

/// Where an object keeps its pod template's metadata and spec.
fn template_paths(o: &Value) -> Option<(&'static str, &'static str)> {
    match o["kind"].as_str()? {
        "Pod" => Some(("/metadata", "/spec")),
        "CronJob" => Some((
            "/spec/jobTemplate/spec/template/metadata",
            "/spec/jobTemplate/spec/template/spec",
        )),
        _ => Some(("/spec/template/metadata", "/spec/template/spec")),
    }
}

fn mask_object(before: &mut Value, after: &mut Value) {
    // The co-location terms recorded on either side are the tool's.
    let recorded: Vec<Value> = [&*before, &*after]
        .iter()
        .filter_map(|o| {
            let note = o
                .pointer("/metadata/annotations")?
                .get(COLOCATION_ANNOTATION)?
                .as_str()?;
            serde_json::from_str(note).ok()
        })
        .collect();
    for o in [&mut *before, &mut *after] {
        if let Some(a) = o
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.remove(CHANGES_ANNOTATION);
            a.remove(COLOCATION_ANNOTATION);
        }
        drop_if_empty(o, "/metadata", "annotations");
    }
    let Some((meta, spec)) = template_paths(before) else {
        return;
    };
    if template_paths(after) != Some((meta, spec)) {
        return;
    }
    // Node-affinity rules the output added, term by term.
    let terms =
        "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";
    let before_terms = before
        .pointer(&format!("{spec}{terms}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(after_terms) = after
        .pointer_mut(&format!("{spec}{terms}"))
        .and_then(Value::as_array_mut)
    {
        for (i, t) in after_terms.iter_mut().enumerate() {
            for (list, key) in [
                ("matchExpressions", HOSTNAME),
                ("matchFields", NODE_NAME_FIELD),
            ] {
                let had = before_terms
                    .get(i)
                    .and_then(|b| b.get(list))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(e) = t.get_mut(list).and_then(Value::as_array_mut) {
                    e.retain(|x| {
                        had.contains(x)
                            || !(x["key"] == key
                                && x["operator"] == "In"
                                && x["values"].as_array().is_some_and(|v| v.len() == 1))
                    });
                }
            }
        }
        // A term the output added holds nothing else.
        let mut i = 0;
        after_terms.retain(|t| {
            i += 1;
            i <= before_terms.len()
                || !t.as_object().is_some_and(|o| {
                    o.values()
                        .all(|v| v.as_array().is_some_and(|a| a.is_empty()))
                })
        });
    }
    for o in [before, after] {
        if let Some(l) = o
            .pointer_mut(&format!("{meta}/labels"))
            .and_then(Value::as_object_mut)
        {
            l.remove(COLOCATE_LABEL);
        }
        drop_if_empty(o, meta, "labels");
        if let Some(a) = o
            .pointer_mut(&format!("{meta}/annotations"))
            .and_then(Value::as_object_mut)
        {
            a.remove(RUNTIME_ANNOTATION);
        }
        drop_if_empty(o, meta, "annotations");

        // A pod template without metadata gets some for the label.
        if let Some((parent, key)) = meta.rsplit_once('/')
            && !parent.is_empty()
        {
            drop_if_empty(o, parent, key);
        }
        let Some(spec) = o.pointer_mut(spec) else {
            continue;
        };
        mask_spec(spec, &recorded);
    }
}

fn mask_spec(spec: &mut Value, recorded: &[Value]) {
    let named = |v: &Value, n: &str| v["name"].as_str() == Some(n);
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        vols.retain(|v| !named(v, REPOS_VOLUME));
    }
    drop_if_empty(spec, "", "volumes");
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                m.retain(|v| !named(v, REPOS_VOLUME));
            }
            drop_if_empty(c, "", "volumeMounts");
            for e in c
                .get_mut("env")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if named(e, REPOS_ENV)
                    && let Some(o) = e.as_object_mut()
                {
                    o.remove("value");
                }
            }
        }
    }
    if let Some(terms) = spec
        .pointer_mut("/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array_mut)
    {
        terms.retain(|t| {
            t.pointer(&format!(
                "/labelSelector/matchLabels/{}",
                COLOCATE_LABEL.replace('/', "~1")
            ))
            .is_none()
                && !recorded.contains(t)
        });
    }
    // The affinity containers the tool may create, innermost first.
    let terms =
        "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";
    if let Some(ts) = spec.pointer_mut(terms).and_then(Value::as_array_mut) {
        for t in ts.iter_mut() {
            drop_if_empty(t, "", "matchExpressions");
            drop_if_empty(t, "", "matchFields");
        }
    }
    for (parent, key) in [
        (
            "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ),
        (
            "/affinity/nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ),
        ("/affinity", "nodeAffinity"),
        (
            "/affinity/podAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ),
        ("/affinity", "podAffinity"),
        ("", "affinity"),
    ] {
        drop_if_empty(spec, parent, key);
    }
}

/// Removes `key` from the object at `parent` when it is null or empty.
fn drop_if_empty(v: &mut Value, parent: &str, key: &str) {
    if let Some(m) = v.pointer_mut(parent).and_then(Value::as_object_mut)
        && m.get(key).is_some_and(|x| match x {
            Value::Null => true,
            Value::Object(o) => o.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        })
    {
        m.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: polyaxon-api
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: api
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - key: kubernetes.io/hostname
                operator: In
                values: [node-a]
      containers:
      - name: api
        image: api:1
        env:
        - name: POLYAXON_PERSISTENCE_REPOS
          value: '{}'
      volumes:
      - name: cache
        emptyDir: {}
      - name: config
        configMap:
          name: c
          defaultMode: 0644
";

    /// Runs `verify::document` on DEPLOYMENT with `from` replaced by `to`.
    fn check(from: &str, to: &str) -> Result<(), VerifyError> {
        let parsed = stream::parse(DEPLOYMENT).unwrap();
        let start = DEPLOYMENT.find(from).expect("edit target");
        let edits = [Edit {
            start,
            end: start + from.len(),
            text: to.to_string(),
        }];
        document(DEPLOYMENT, &parsed.docs[0], &edits, |_| {
            Ok::<_, VerifyError>(())
        })
        .map_err(|e| match e {
            Unverified::Bug(e) => e,
            Unverified::Input(e) => panic!("the input reads: {e}"),
        })
    }

    #[test]
    fn planned_changes_pass() {
        // The repos volume added, the env copy changed, a label added.
        check(
            "      volumes:\n",
            "      volumes:\n      - name: repos\n        persistentVolumeClaim: {claimName: r}\n",
        )
        .unwrap();
        check("value: '{}'", "value: '{\"a\": 1}'").unwrap();
        check(
            "        app: api\n",
            "        app: api\n        polyrepo-render/colocate: data-1\n",
        )
        .unwrap();
        // A hostname rule added beside the user's own, in a new term.
        check(
            "                values: [node-a]\n",
            "                values: [node-a]\n            - matchExpressions:\n              - {key: kubernetes.io/hostname, operator: In, values: [node-b]}\n",
        )
        .unwrap();
    }

    #[test]
    fn a_changed_replicas_count_is_caught() {
        assert!(
            check("replicas: 1", "replicas: 2")
                .unwrap_err()
                .0
                .contains("beyond the planned changes")
        );
    }

    #[test]
    fn a_retyped_octal_is_caught() {
        // 0644 is the integer 420 to Kubernetes; quoted it is a string.
        assert!(check("defaultMode: 0644", "defaultMode: \"0644\"").is_err());
        assert!(check("defaultMode: 0644", "defaultMode: 644").is_err());
    }

    #[test]
    fn a_dropped_key_is_caught() {
        assert!(check("        image: api:1\n", "").is_err());
        // An empty value the tool never creates is not the same as absent.
        assert!(check("        emptyDir: {}\n", "").is_err());
    }

    #[test]
    fn a_changed_user_hostname_rule_is_caught() {
        assert!(check("values: [node-a]", "values: [node-b]").is_err());
        assert!(check("                values: [node-a]\n", "                values: [node-a]\n              - {key: kubernetes.io/hostname, operator: In, values: [node-b]}\n").is_ok(),
            "a rule added to the user's term is allowed (a pin ANDs into every term)");
    }

    #[test]
    fn only_added_single_hostname_rules_are_forgiven() {
        let term = "                values: [node-a]\n";
        for added in [
            "{key: zone, operator: In, values: [a]}",
            "{key: kubernetes.io/hostname, operator: NotIn, values: [b]}",
            "{key: kubernetes.io/hostname, operator: In, values: [b, c]}",
        ] {
            let to = format!("{term}              - {added}\n");
            assert!(check(term, &to).is_err(), "{added}");
        }
        let to = format!(
            "{term}              - {{key: kubernetes.io/hostname, operator: In, values: [b]}}\n"
        );
        assert!(check(term, &to).is_ok());
    }

    #[test]
    fn a_null_list_the_tool_fills_counts_as_absent() {
        let text = "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: c}]\n      volumes:\n";
        let parsed = stream::parse(text).unwrap();
        let start = text.find("      volumes:\n").unwrap();
        let edits = [Edit {
            start,
            end: text.len(),
            text: "      volumes:\n      - {name: repos, emptyDir: {}}\n".into(),
        }];
        document(text, &parsed.docs[0], &edits, |_| Ok::<_, VerifyError>(())).unwrap();
    }

    #[test]
    fn an_edit_that_splits_the_document_is_caught() {
        assert!(
            check("defaultMode: 0644\n", "defaultMode: 0644\n---\nkind: X\n")
                .unwrap_err()
                .0
                .contains("documents")
        );
        assert!(
            check("  replicas: 1\n", "  replicas: [1\n")
                .unwrap_err()
                .0
                .contains("does not parse")
        );
    }
}
