//! Unit tests of the plan: what each workload and group gets, and what is
//! refused.

use super::*;
use crate::config::AccessMode;
use crate::{inventory, yaml as stream};

fn host(h: &str) -> Option<NodeId> {
    Some(NodeId::Hostname(h.into()))
}

/// A Polyaxon Deployment mounting `repos` from `source` (YAML flow text).
fn deploy(name: &str, replicas: u32, source: Option<&str>, extra_spec: &str) -> String {
    let vols = source.map_or(String::new(), |s| {
        format!("      volumes:\n      - name: repos\n        {s}\n")
    });
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    type: polyaxon-core\n\
         spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n\
         \x20   spec:\n{extra_spec}      containers:\n      - name: c\n        image: x\n{vols}"
    )
}

fn run(text: &str, s: &Settings) -> Result<Plan, PlanError> {
    let infos = stream::scan(text).unwrap();
    let inv = inventory::read(text, &infos, stream::tree::Trees::OnDemand, s, Vec::new()).unwrap();
    plan(&inv, s)
}

fn claim(s: &mut Settings, name: &str) {
    s.configured = true;
    s.source = Some(Source::Claim(name.into()));
}

#[test]
fn one_pod_on_a_host_path_only_warns() {
    let recreate = |d: String| {
        d.replace(
            "  replicas: 1\n",
            "  replicas: 1\n  strategy: {type: Recreate}\n",
        )
    };
    let p = run(
        &recreate(deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), "")),
        &Settings::default(),
    )
    .unwrap();
    // Nothing to change: no plan kept (neither pin nor co-location).
    assert!(p.workloads.is_empty());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("stays on whichever node")),
        "{:?}",
        p.warnings
    );
    let s = Settings {
        external: true,
        ..Default::default()
    };
    let p = run(
        &recreate(deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), "")),
        &s,
    )
    .unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // With the default RollingUpdate, one replica is two pods during a rollout.
    let p = run(
        &deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
        &s,
    )
    .unwrap();
    assert!(p.workloads[0].colocate.is_some());
}

#[test]
fn several_pods_on_one_node_volume_are_colocated_through_their_selector_labels() {
    let text = deploy("api", 3, Some("hostPath: {path: /tmp/repos}"), "");
    let p = run(&text, &Settings::default()).unwrap();
    let co = p.workloads[0].colocate.as_ref().expect("co-located");
    assert_eq!(
        co.select,
        groups::Select::Labels(vec![("app".into(), vec!["api".into()])])
    );
    assert!(p.workloads[0].pin.is_none());
}

/// The env copy is planned only where a container carries one (read
/// through anchors, any document with aliases may): a workload whose
/// only work would be to search for it is not read again.
#[test]
fn the_env_copy_is_planned_only_where_a_container_may_carry_one() {
    let mut s = Settings::default();
    claim(&mut s, "repos");
    let env = "        env:\n        - {name: POLYAXON_PERSISTENCE_REPOS, value: '{}'}\n";
    let aliased = "        env:\n        - &e {name: OTHER, value: x}\n        - *e\n";
    let with = |name: &str, env: &str| {
        deploy(name, 1, None, "").replace("        image: x\n", &format!("        image: x\n{env}"))
    };
    let text = [
        with("plain", ""),
        with("copy", env),
        with("aliased", aliased),
    ]
    .concat();
    let p = run(&text, &s).unwrap();
    // "plain" has nothing to change: only the other two are planned.
    let planned: Vec<(usize, bool)> = p
        .workloads
        .iter()
        .map(|wp| (wp.workload, wp.env.is_some()))
        .collect();
    assert_eq!(planned, [(1, true), (2, true)]);
}

#[test]
fn a_known_node_pins_whatever_the_pod_count() {
    let s = Settings {
        node: Some("worker-2".into()),
        ..Default::default()
    };
    let p = run(
        &deploy("api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
        &s,
    )
    .unwrap();
    assert_eq!(p.workloads[0].pin, host("worker-2"));
    assert!(p.workloads[0].colocate.is_none());
}

#[test]
fn rwx_claims_need_nothing_and_unknown_claims_are_assumed_rwo() {
    let mut s = Settings::default();
    claim(&mut s, "shared");
    s.access_mode = Some(AccessMode::ReadWriteMany);
    let p = run(
        &deploy("api", 5, Some("hostPath: {path: /tmp/repos}"), ""),
        &s,
    )
    .unwrap();
    assert!(p.workloads[0].colocate.is_none() && p.workloads[0].pin.is_none());
    assert!(p.workloads[0].volume.as_ref().unwrap().claim.is_some());
    s.access_mode = None;
    let p = run(
        &deploy("api", 5, Some("hostPath: {path: /tmp/repos}"), ""),
        &s,
    )
    .unwrap();
    assert!(p.workloads[0].colocate.is_some());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("assuming ReadWriteOnce"))
    );
}

#[test]
fn the_pvc_in_the_stream_decides_reach_and_its_bound_local_pv_the_node() {
    let pvc = |modes: &str, ns: &str, vol: &str| {
        format!(
            "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: repos-pvc{ns}}}\nspec: {{accessModes: [{modes}]{vol}}}\n"
        )
    };
    let d = deploy(
        "api",
        3,
        Some("persistentVolumeClaim: {claimName: repos-pvc}"),
        "",
    );
    let p = run(
        &format!("{d}{}", pvc("ReadWriteMany", "", "")),
        &Settings::default(),
    )
    .unwrap();
    assert!(p.workloads.iter().all(|wp| wp.colocate.is_none()));
    // A PVC in another namespace is another claim.
    let s = Settings {
        namespace: Some("polyaxon".into()),
        ..Default::default()
    };
    let p = run(
        &format!("{d}{}", pvc("ReadWriteMany", ", namespace: other", "")),
        &s,
    )
    .unwrap();
    assert!(p.workloads[0].colocate.is_some());
    let pv = "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: local-1}\nspec:\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [node-7]}\n";
    let p = run(
        &format!(
            "{d}{}{pv}",
            pvc("ReadWriteOnce", "", ", volumeName: local-1")
        ),
        &Settings::default(),
    )
    .unwrap();
    // The volume's own node affinity holds the pod on node-7
    // (VolumeBinding): nothing to add.
    assert!(
        p.workloads
            .iter()
            .all(|wp| wp.pin.is_none() && wp.colocate.is_none())
    );
    // A pod sharing the data through a host path is pinned there.
    let local = pv.replace("spec:\n", "spec:\n  local: {path: /r}\n");
    let sharer = deploy("sched", 1, Some("hostPath: {path: /r/x}"), "");
    let p = run(
        &format!(
            "{d}{sharer}{}{local}",
            pvc("ReadWriteOnce", "", ", volumeName: local-1")
        ),
        &Settings::default(),
    )
    .unwrap();
    let sched = p.workloads.iter().find(|wp| wp.workload == 1);
    assert_eq!(sched.and_then(|wp| wp.pin.clone()), host("node-7"));
}

#[test]
fn autoscalers_raise_the_pod_count() {
    let d = deploy("api", 1, Some("hostPath: {path: /r}"), "");
    let hpa = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 1\n  maxReplicas: 4\n";
    let p = run(&format!("{d}{hpa}"), &Settings::default()).unwrap();
    assert!(p.workloads[0].colocate.is_some());
    assert!(
        p.workloads[0].why[0].contains("4 pods share it, 5 during a rollout"),
        "{:?}",
        p.workloads[0].why
    );
}

#[test]
fn read_write_once_pod_with_several_pods_is_refused() {
    let mut s = Settings::default();
    claim(&mut s, "solo");
    s.access_mode = Some(AccessMode::ReadWriteOncePod);
    let e = run(&deploy("api", 2, Some("hostPath: {path: /r}"), ""), &s).unwrap_err();
    assert!(
        matches!(&e, PlanError::Unsafe(m, _) if m.contains("claim solo") && m.contains("Deployment/api")),
        "{e}"
    );
    // One replica rolls out with a surge pod: two pods on the claim.
    let e = run(&deploy("api", 1, Some("hostPath: {path: /r}"), ""), &s).unwrap_err();
    assert!(
        matches!(&e, PlanError::Unsafe(m, _) if m.contains("Recreate")),
        "{e}"
    );
    let recreate = deploy("api", 1, Some("hostPath: {path: /r}"), "").replace(
        "  replicas: 1\n",
        "  replicas: 1\n  strategy: {type: Recreate}\n",
    );
    // Recreate: one pod at a time, so only the single-node warning.
    let p = run(&recreate, &s).unwrap();
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("only Deployment/api uses it"));
}

#[test]
fn plan_errors_print_their_message() {
    assert_eq!(PlanError::Unsafe("why".into(), vec![]).to_string(), "why");
    assert_eq!(
        PlanError::Config(ConfigError("what".into())).to_string(),
        "what"
    );
}

#[test]
fn a_daemonset_on_a_single_node_claim_is_refused() {
    let ds = deploy(
        "agent",
        1,
        Some("persistentVolumeClaim: {claimName: c}"),
        "",
    )
    .replace("kind: Deployment", "kind: DaemonSet")
    .replace("  replicas: 1\n", "");
    let e = run(&ds, &Settings::default()).unwrap_err();
    assert!(
        matches!(&e, PlanError::Unsafe(m, _) if m.contains("DaemonSet/agent") && m.contains("claim c")),
        "{e}"
    );
}

#[test]
fn a_pin_the_workload_forbids_is_refused() {
    let s = Settings {
        node: Some("worker-2".into()),
        ..Default::default()
    };
    let sel = "      nodeSelector: {kubernetes.io/hostname: worker-9}\n";
    let e = run(&deploy("api", 1, Some("hostPath: {path: /r}"), sel), &s).unwrap_err();
    assert!(
        matches!(&e, PlanError::Unsafe(m, _) if m.contains("worker-2") && m.contains("Deployment/api")),
        "{e}"
    );
    let aff = "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchExpressions: [{key: kubernetes.io/hostname, operator: NotIn, values: [worker-2]}]\n";
    let e = run(&deploy("api", 1, Some("hostPath: {path: /r}"), aff), &s).unwrap_err();
    assert!(
        matches!(&e, PlanError::Unsafe(m, _) if m.contains("worker-2") && m.contains("Deployment/api")),
        "{e}"
    );
    // One term still allowing the node is enough: the pin goes there.
    let ok = format!(
        "{aff}            - matchExpressions: [{{key: zone, operator: In, values: [a]}}]\n"
    );
    let p = run(&deploy("api", 1, Some("hostPath: {path: /r}"), &ok), &s).unwrap();
    assert_eq!(
        p.workloads[0].pin,
        Some(crate::k8s::NodeId::Hostname("worker-2".into()))
    );
}

#[test]
fn mount_into_adds_the_volume_and_joins_the_group() {
    let s = Settings {
        configured: true,
        mount_into: vec!["*-scheduler".into()],
        ..Default::default()
    };
    let text = format!(
        "{}{}",
        deploy("x-api", 1, Some("hostPath: {path: /tmp/repos}"), ""),
        deploy("x-scheduler", 1, None, "")
    );
    let p = run(&text, &s).unwrap();
    assert!(p.workloads[1].add_mounts);
    assert_eq!(
        p.workloads[1]
            .volume
            .as_ref()
            .unwrap()
            .host_path
            .as_ref()
            .unwrap()
            .0,
        "/tmp/repos"
    );
    assert!(
        p.workloads.iter().all(|w| w.colocate.is_some()),
        "two pods share a host path"
    );
    assert_eq!(
        p.workloads[0].mount.as_ref().unwrap().mount_path,
        DEFAULT_MOUNT_PATH
    );
}

#[test]
fn third_party_workloads_are_never_planned() {
    let text = deploy("other", 3, Some("hostPath: {path: /tmp/repos}"), "")
        .replace("type: polyaxon-core", "app: other");
    let p = run(&text, &Settings::default()).unwrap();
    assert!(p.workloads.is_empty());
}
