//! The grouping, verdict and co-location rules, one case at a time.

use super::*;

use crate::{inventory, yaml as stream};

/// A Polyaxon Deployment (Recreate, `replicas`) with the given pod spec lines.
fn deploy(name: &str, ns: &str, replicas: u32, spec: &str) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n{ns}  labels: {{type: polyaxon-core}}\n\
         spec:\n  replicas: {replicas}\n  strategy: {{type: Recreate}}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n\
         \x20   spec:\n      containers: [{{name: c, image: x}}]\n{spec}"
    )
}

fn assess_all(text: &str, s: &Settings) -> (Vec<Vec<String>>, Vec<Result<Verdict, Unsafe>>) {
    let infos = stream::scan(text).unwrap();
    let inv = inventory::read(text, &infos, stream::tree::Trees::OnDemand, s, Vec::new()).unwrap();
    let st = members(&inv, s, &|i| &inv.workloads[i].pod, &|_| None);
    let gs = group(&st.members);
    let names = gs
        .iter()
        .map(|g| g.iter().map(|&i| st.members[i].w.name.clone()).collect())
        .collect();
    let verdicts = gs
        .iter()
        .map(|g| assess(&st, g, s, false).map(|a| a.verdict))
        .collect();
    (names, verdicts)
}

/// The co-location of the first group, and the warnings.
fn colocation(text: &str, s: &Settings) -> (Colocation, Vec<Warning>) {
    let infos = stream::scan(text).unwrap();
    let inv = inventory::read(text, &infos, stream::tree::Trees::OnDemand, s, Vec::new()).unwrap();
    let st = members(&inv, s, &|i| &inv.workloads[i].pod, &|_| None);
    let a = assess(&st, &group(&st.members)[0], s, false).unwrap();
    match a.verdict {
        Verdict::Colocate(c) => (c, a.warnings),
        v => panic!("{v:?}"),
    }
}

fn vol(path: &str) -> String {
    format!("      volumes: [{{name: v, hostPath: {{path: '{path}'}}}}]\n")
}

#[test]
fn nested_host_paths_and_claims_join_groups_transitively() {
    let claim = "      volumes: [{name: v, persistentVolumeClaim: {claimName: c}}, {name: w, hostPath: {path: /other}}]\n";
    let text = [
        deploy("a", "", 1, &vol("/srv/data/a")),
        deploy("b", "", 1, &vol("/srv/data/")),
        deploy("c", "", 1, &vol("/srv/database")),
        deploy("d", "", 1, claim),
        deploy(
            "e",
            "  namespace: x\n",
            1,
            "      volumes: [{name: v, persistentVolumeClaim: {claimName: c}}]\n",
        ),
        deploy("f", "", 1, &vol("/other/sub")),
    ]
    .concat();
    let (groups, verdicts) = assess_all(&text, &Settings::default());
    assert_eq!(
        groups,
        vec![vec!["a", "b"], vec!["c"], vec!["d", "e", "f"]],
        "a namespace-less claim may be the one in x"
    );
    assert!(matches!(&verdicts[0], Ok(Verdict::Colocate(_))));
    assert_eq!(verdicts[1], Ok(Verdict::Alone));
    // With --namespace, the claim in x is another claim.
    let s = Settings {
        namespace: Some("polyaxon".into()),
        ..Default::default()
    };
    let (groups, _) = assess_all(&text, &s);
    assert_eq!(
        groups,
        vec![vec!["a", "b"], vec!["c"], vec!["d", "f"], vec!["e"]]
    );
}

#[test]
fn the_term_selects_the_labels_every_render_carries_not_the_data() {
    let labels = |v: &[(&str, &[&str])]| {
        Select::Labels(
            v.iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|x| x.to_string()).collect()))
                .collect(),
        )
    };
    let two = |a: &str, b: &str| {
        format!(
            "{}{}",
            deploy("a", "", 2, &vol(a)),
            deploy("b", "", 1, &vol(b))
        )
    };
    let (co, warnings) = colocation(&two("/srv/data", "/srv/data/x"), &Settings::default());
    assert_eq!(
        co.select,
        labels(&[("app", &["a", "b"])]),
        "spec.selector's keys"
    );
    assert_eq!(co.scope, Scope::Own);
    assert!(
        warnings.iter().all(|w| !w.contains(COLOCATE_LABEL)),
        "{warnings:?}"
    );
    // Other data, same workloads: the same term, so the pods of the
    // last render still count.
    let claim = "      volumes: [{name: v, persistentVolumeClaim: {claimName: c}}]\n";
    let moved = format!("{}{}", deploy("a", "", 2, claim), deploy("b", "", 1, claim));
    assert_eq!(colocation(&moved, &Settings::default()).0, co);
    // A workload outside the group that carries the same labels would
    // count as a pod of the group: the added label instead, said loudly.
    let twin = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: twin}\nspec:\n  \
                selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    \
                spec: {containers: [{name: c, image: x}]}\n";
    let (co, warnings) = colocation(
        &format!("{}{twin}", two("/srv/data", "/srv/data")),
        &Settings::default(),
    );
    assert!(
        matches!(&co.select, Select::Added(v) if v.starts_with("group-")),
        "{co:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("the workload in document 3") && w.contains("`node:`")),
        "{warnings:?}"
    );
    // Namespaces: named when the stream names them all.
    let spread = format!(
        "{}{}",
        deploy("a", "  namespace: ns1\n", 2, &vol("/d")),
        deploy("b", "  namespace: ns2\n", 1, &vol("/d"))
    );
    let (co, _) = colocation(&spread, &Settings::default());
    assert_eq!(co.scope, Scope::Named(vec!["ns1".into(), "ns2".into()]));
    assert_eq!(co.select, labels(&[("app", &["a", "b"])]));
    // One in the release namespace, which nobody named: every
    // namespace, through the added label.
    let half = format!(
        "{}{}",
        deploy("a", "", 2, &vol("/d")),
        deploy("b", "  namespace: ns2\n", 1, &vol("/d"))
    );
    let (co, _) = colocation(&half, &Settings::default());
    assert_eq!(co.scope, Scope::All);
    assert!(matches!(co.select, Select::Added(_)));
    let s = Settings {
        namespace: Some("ns2".into()),
        ..Default::default()
    };
    let (co, _) = colocation(&half, &s);
    assert_eq!(
        (co.scope, co.select),
        (Scope::Own, labels(&[("app", &["a", "b"])]))
    );
}

#[test]
fn workloads_without_a_common_lasting_label_get_the_added_label() {
    // Selectors on different keys: no term over them selects both.
    let b = deploy("b", "", 1, &vol("/d"))
        .replace(
            "selector: {matchLabels: {app: b}}",
            "selector: {matchLabels: {name: b}}",
        )
        .replace("labels: {app: b}", "labels: {name: b}");
    let (co, warnings) = colocation(
        &format!("{}{b}", deploy("a", "", 2, &vol("/d"))),
        &Settings::default(),
    );
    assert!(matches!(co.select, Select::Added(_)), "{co:?}");
    assert!(
        warnings.iter().any(|w| w.contains("share no label")),
        "{warnings:?}"
    );
}

#[test]
fn an_anti_affinity_keyed_per_pod_never_keeps_a_workloads_pods_apart() {
    let anti = |keys: &str| {
        format!(
            "      affinity: {{podAntiAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: \
             [{{labelSelector: {{matchLabels: {{app: s}}}}, topologyKey: kubernetes.io/hostname{keys}}}]}}}}\n{}",
            vol("/d")
        )
    };
    let sts = |keys: &str| {
        deploy("s", "", 2, &anti(keys))
            .replace("kind: Deployment", "kind: StatefulSet")
            .replace("  strategy: {type: Recreate}\n", "  serviceName: s\n")
    };
    let run = |keys: &str| assess_all(&sts(keys), &Settings::default()).1.remove(0);
    assert!(
        matches!(
            run(", matchLabelKeys: [statefulset.kubernetes.io/pod-name]"),
            Ok(Verdict::Colocate(_))
        ),
        "each pod's own name: no other pod counts"
    );
    let e = run("").expect_err("two pods of one node, kept apart");
    assert!(e.0.contains("its own 2 pods"), "{e}");
}

#[test]
fn known_nodes_must_agree_in_value_and_kind() {
    let pin = |n: &str| format!("      nodeSelector: {{kubernetes.io/hostname: {n}}}\n");
    let text = format!(
        "{}{}",
        deploy("a", "", 1, &format!("{}{}", pin("n1"), vol("/d"))),
        deploy("b", "", 1, &vol("/d"))
    );
    let (_, v) = assess_all(&text, &Settings::default());
    assert!(matches!(&v[0], Ok(Verdict::Pin { node: NodeId::Hostname(n), .. }) if n == "n1"));
    // `node:` only applies where nothing else names the node.
    let s = Settings {
        data_node: Some("n2".into()),
        ..Default::default()
    };
    assert!(assess_all(&text, &s).1[0].is_ok());
    let text = format!(
        "{}{}",
        deploy("a", "", 1, &format!("{}{}", pin("n1"), vol("/d"))),
        deploy("b", "", 1, &format!("      nodeName: n1\n{}", vol("/d")))
    );
    let e = assess_all(&text, &Settings::default())
        .1
        .remove(0)
        .unwrap_err();
    assert!(e.0.contains("cannot be proven to be the same node"), "{e}");
}
