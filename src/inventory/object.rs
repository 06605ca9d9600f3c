//! One object read as Kubernetes reads it: a workload's pod count,
//! rollout, selector and pod summary; claims, volumes, autoscalers and
//! Polyaxon's ConfigMap; the nodes a workload's edits start from.

use super::*;

/// Finds a workload's nodes in its document's tree.
pub(crate) fn locate<'s, 'a>(doc: &'s Document<'a>, w: &Workload) -> Option<Located<'s, 'a>> {
    let node = match w.item {
        None => &doc.root,
        Some(i) => doc.root.get("items")?.items()?.get(i)?,
    };
    let (pod_meta, pod_spec) = pod_parts(node, w.kind);
    Some(Located {
        node,
        pod_meta,
        pod_spec: pod_spec?,
    })
}

/// The pod template's metadata and the pod spec of a workload object.
pub(super) fn pod_parts<'s, 'a>(
    obj: &'s Node<'a>,
    kind: WorkloadKind,
) -> (Option<&'s Node<'a>>, Option<&'s Node<'a>>) {
    match kind.template_path() {
        None => (obj.get("metadata"), obj.get("spec")),
        Some(p) => {
            let t = obj.path(p);
            (
                t.and_then(|t| t.get("metadata")),
                t.and_then(|t| t.get("spec")),
            )
        }
    }
}

/// Reads what the plan needs of a pod spec node, each part as Kubernetes
/// reads it.
pub(crate) fn summarize(
    obj: &Node<'_>,
    meta: Option<&Node<'_>>,
    spec: &Node<'_>,
    doc: &Document<'_>,
) -> Result<PodSummary, InputError> {
    fn part<T>(key: &str, r: Result<T, InputError>) -> Result<T, InputError> {
        r.map_err(|e| format!("{key}: {e}").into())
    }
    let opt = |key: &str| spec.get(key).filter(|n| !n.is_null());
    // Built here, then kept once (`shared`): a stream's releases repeat them.
    let mut volumes: Vec<VolumeInfo> = Vec::new();
    let mut persistence: Vec<(String, String)> = Vec::new();
    let mut out = PodSummary {
        labels: crate::shared::labels(string_map(meta.and_then(|m| m.get("labels")))),
        ..PodSummary::default()
    };
    if let Some(vols) = opt("volumes") {
        let vols: Vec<core::Volume> = part("volumes", typed(vols, doc))?;
        for (i, v) in vols.iter().enumerate() {
            if vols[..i].iter().any(|o| o.name == v.name) {
                return Err(format!(
                    "two volumes are named `{}`; Kubernetes refuses such a pod. \
                     Give each volume its own name (a values key such as persistence.outputs may reuse one)",
                    v.name
                )
                .into());
            }
            if v.host_path.is_some() || v.persistent_volume_claim.is_some() {
                volumes.push(VolumeInfo::of(v));
            }
            if v.name == REPOS_VOLUME {
                out.repos_volume = Some(Box::new(VolumeInfo::of(v)));
            }
        }
    }
    // A claim the pod mounts read-only in every container reads its data
    // only (its `readOnly` already says so when set).
    if volumes.iter().any(|v| v.claim.is_some() && !v.read_only) {
        let mut mounts: Vec<core::VolumeMount> = Vec::new();
        for list in CONTAINER_LISTS {
            for c in spec.get(list).and_then(Node::items).into_iter().flatten() {
                if let Some(m) = c.get("volumeMounts").filter(|n| !n.is_null()) {
                    mounts.extend(part(
                        "volumeMounts",
                        typed::<Vec<core::VolumeMount>>(m, doc),
                    )?);
                }
            }
        }
        for v in volumes.iter_mut().filter(|v| v.claim.is_some()) {
            let mut of_it = mounts.iter().filter(|m| m.name == v.name).peekable();
            if of_it.peek().is_some() && of_it.all(|m| m.read_only == Some(true)) {
                v.read_only = true;
            }
        }
    }
    let host_network = match opt("hostNetwork") {
        Some(n) => part("hostNetwork", typed::<bool>(n, doc))?,
        None => false,
    };
    let named = |n: &&Node<'_>| n.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME);
    for list in CONTAINER_LISTS {
        for c in spec.get(list).and_then(Node::items).into_iter().flatten() {
            let m = c
                .get("volumeMounts")
                .and_then(Node::items)
                .and_then(|m| m.iter().find(named));
            if let (Some(m), None) = (m, &out.repos_mount) {
                out.repos_mount = Some(Box::new(part(
                    "volumeMounts",
                    typed::<core::VolumeMount>(m, doc),
                )?));
            }
            for e in c.get("env").and_then(Node::items).into_iter().flatten() {
                out.repos_env |= e.get("name").and_then(Node::as_str) == Some(REPOS_ENV);
                if let (Some(name), Some(value)) = (
                    e.get("name").and_then(Node::as_str),
                    e.get("value").and_then(Node::as_str),
                ) && name.starts_with(PERSISTENCE_ENV_PREFIX)
                {
                    // A name given twice: Kubernetes keeps the last.
                    persistence.retain(|(n, _)| n != name);
                    persistence.push((name.to_string(), value.to_string()));
                }
            }
            let Some(ports) = c.get("ports").filter(|n| !n.is_null()) else {
                continue;
            };
            for p in part("ports", typed::<Vec<core::ContainerPort>>(ports, doc))? {
                let port = match p.host_port {
                    Some(h) if h != 0 => h,
                    _ if host_network => p.container_port,
                    _ => continue,
                };
                out.host_ports.push(HostPort {
                    ip: p.host_ip.unwrap_or_default(),
                    port,
                    protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
                });
            }
        }
    }
    out.volumes = crate::shared::share(std::sync::Arc::from(volumes));
    out.persistence = crate::shared::labels(persistence);
    out.node_name = opt("nodeName")
        .and_then(Node::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    out.node_selector = opt("nodeSelector")
        .map(|n| part("nodeSelector", typed(n, doc)))
        .transpose()?;
    out.affinity = opt("affinity")
        .map(|n| part("affinity", typed(n, doc)))
        .transpose()?
        .map(|a| crate::shared::share(std::sync::Arc::new(a)));
    out.spread = opt("topologySpreadConstraints")
        .map(|n| part("topologySpreadConstraints", typed(n, doc)))
        .transpose()?
        .unwrap_or_default();
    let recorded: Option<core::PodAffinityTerm> =
        string_map(obj.path(&["metadata", "annotations"]))
            .into_iter()
            .find(|(k, _)| k == COLOCATION_ANNOTATION)
            .and_then(|(_, v)| serde_json::from_str(&v).ok());
    out.earlier = out
        .affinity
        .as_ref()
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|t| {
            Some(*t) == recorded.as_ref()
                || t.label_selector
                    .as_ref()
                    .and_then(|l| l.match_labels.as_ref())
                    .is_some_and(|m| m.contains_key(COLOCATE_LABEL))
        })
        .cloned()
        .collect();
    Ok(out)
}

/// How a workload object replaces its pods.
pub(super) fn rollout(
    obj: &Node<'_>,
    kind: WorkloadKind,
    doc: &Document<'_>,
) -> Result<Rollout, InputError> {
    let spec = |key: &str| {
        obj.path(&["spec", key])
            .filter(|n| !n.is_null())
            .map(|n| json(n, doc))
            .transpose()
    };
    Ok(match kind {
        WorkloadKind::Deployment => match spec("strategy")? {
            Some(s) if s["type"] == "Recreate" => Rollout::Replace,
            s => Rollout::Surge(surge(s.as_ref(), IntOrString::String("25%".into()))?),
        },
        WorkloadKind::DaemonSet => match spec("updateStrategy")? {
            Some(s) if s["type"] == "OnDelete" => Rollout::Replace,
            s => Rollout::Surge(surge(s.as_ref(), IntOrString::Int(0))?),
        },
        WorkloadKind::CronJob => match spec("concurrencyPolicy")? {
            None => Rollout::ConcurrentJobs,
            Some(Value::String(p)) if p == "Allow" => Rollout::ConcurrentJobs,
            Some(_) => Rollout::Replace,
        },
        _ => Rollout::Replace,
    })
}

/// `rollingUpdate.maxSurge` of a strategy, or the default.
pub(super) fn surge(
    strategy: Option<&Value>,
    default: IntOrString,
) -> Result<IntOrString, InputError> {
    match strategy.and_then(|s| s.pointer("/rollingUpdate/maxSurge")) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("rollingUpdate.maxSurge: {e}").into()),
    }
}

/// Reads one object into the inventory. A workload that Kubernetes would
/// refuse is still recorded, with its problem: it is only an error if the
/// workload turns out to be Polyaxon's.
pub(super) fn read_object(
    inv: &mut Inventory,
    problems: &mut Vec<(usize, InputError)>,
    doc: &Document<'_>,
    di: usize,
    item: Option<usize>,
    obj: &Node<'_>,
    selector: Option<&Selector>,
) {
    let Some(kind) = obj.get("kind").and_then(Node::as_str) else {
        return;
    };
    if obj.get("apiVersion").is_none() || obj.entries().is_none() {
        return;
    }
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .map(str::to_string);
    if let Some(wk) = WorkloadKind::parse(kind) {
        let here = |msg: String| {
            InputError::from(format!(
                "{}, line {} column {}, {kind}/{name}: {msg}",
                doc.label(),
                obj.line,
                obj.col
            ))
        };
        let mut w = Workload {
            doc: di,
            item,
            kind: wk,
            name: name.clone(),
            namespace,
            labels: string_map(meta.and_then(|m| m.get("labels"))),
            polyaxon: false,
            replicas: 1,
            rollout: Rollout::Replace,
            selector: None,
            pod: Box::default(),
            index: doc.index,
            template: doc
                .template()
                .map(|t| crate::shared::share(std::sync::Arc::from(t))),
            line: obj.line,
            col: obj.col,
            hook: meta
                .and_then(|m| m.path(&["annotations", "helm.sh/hook"]))
                .is_some_and(|h| !h.is_null()),
        };
        match selector {
            Some(sel) => {
                w.polyaxon = sel.matches(&w.labels);
                w.labels = Vec::new();
            }
            // Only the chart's core labels decide, once the core type is known.
            None => {
                w.labels.retain(|(k, _)| CORE_LABELS.contains(&k.as_str()));
                w.labels.shrink_to_fit();
            }
        }
        if let Err(e) = read_workload(&mut w, obj, doc) {
            problems.push((inv.workloads.len(), here(e.message)));
        }
        inv.workloads.push(w);
        return;
    }
    match kind {
        "PersistentVolumeClaim" => {
            let spec = obj
                .get("spec")
                .and_then(|s| typed::<core::PersistentVolumeClaimSpec>(s, doc).ok());
            inv.claims.push(Claim {
                name,
                namespace,
                access_modes: spec
                    .as_ref()
                    .and_then(|s| s.access_modes.clone())
                    .unwrap_or_default(),
                volume_name: spec.and_then(|s| s.volume_name),
            });
        }
        "PersistentVolume" => {
            let spec = obj
                .get("spec")
                .and_then(|s| typed::<core::PersistentVolumeSpec>(s, doc).ok())
                .unwrap_or_default();
            inv.volumes.push(PersistentVolume {
                name,
                host_path: spec
                    .host_path
                    .as_ref()
                    .map(|h| h.path.clone())
                    .or_else(|| spec.local.as_ref().map(|l| l.path.clone())),
                single_node: spec.host_path.is_some() || spec.local.is_some(),
                claim_ref: spec
                    .claim_ref
                    .as_ref()
                    .and_then(|r| Some((r.namespace.clone(), r.name.clone()?))),
                node_affinity: spec.node_affinity.and_then(|a| a.required),
            });
        }
        "HorizontalPodAutoscaler" => {
            let spec = obj
                .get("spec")
                .and_then(|s| json(s, doc).ok())
                .unwrap_or(Value::Null);
            let target = &spec["scaleTargetRef"];
            if let (Some(k), Some(n), Some(m)) = (
                target["kind"].as_str(),
                target["name"].as_str(),
                spec["maxReplicas"].as_i64(),
            ) {
                inv.autoscalers.push(Autoscaler {
                    namespace,
                    target_kind: k.to_string(),
                    target_name: n.to_string(),
                    max_replicas: i32::try_from(m).unwrap_or(i32::MAX),
                });
            }
        }
        "ConfigMap" => {
            if let Some(v) = meta
                .and_then(|_| obj.path(&["data", CORE_TYPE_KEY]))
                .and_then(Node::as_str)
                .filter(|v| !v.is_empty())
            {
                inv.core_types.push(v.to_string());
                for (k, v) in obj
                    .get("data")
                    .and_then(Node::entries)
                    .into_iter()
                    .flatten()
                {
                    if let (Some(key), Some(value)) = (k.as_str(), v.as_str())
                        && RUNTIME_PLACEMENT_PREFIXES
                            .iter()
                            .any(|p| key.starts_with(p))
                    {
                        inv.runtime_keys.push(ConfigKey {
                            doc: di,
                            map: name.clone(),
                            key: key.to_string(),
                            value: value.to_string(),
                            location: format!("{}, line {} column {}", doc.label(), v.line, v.col),
                            in_list: item.is_some(),
                        });
                    }
                }
            }
        }
        _ => {}
    }
}

/// Reads a workload's pod count, rollout, selector and pod summary; an
/// error says why Kubernetes would refuse the object.
pub(super) fn read_workload(
    w: &mut Workload,
    obj: &Node<'_>,
    doc: &Document<'_>,
) -> Result<(), InputError> {
    if doc.uses_aliases {
        // Only a document that could not be read through its aliases is
        // still marked so (see `read_docs`).
        let why = resolve(doc)
            .err()
            .map_or_else(String::new, |e| e.to_string());
        return Err(format!("cannot be read through its YAML aliases or merge keys: {why}").into());
    }
    check_duplicate_keys(obj)?;
    let (pod_meta, pod_spec) = pod_parts(obj, w.kind);
    let Some(pod_spec) = pod_spec.filter(|s| s.entries().is_some()) else {
        return Err("has no pod spec (a mapping) where Kubernetes expects one".into());
    };
    *w.pod = summarize(obj, pod_meta, pod_spec, doc).map_err(|e| {
        format!(
            "its pod spec (line {} column {}) is not what Kubernetes accepts: {e}",
            pod_spec.line, pod_spec.col
        )
    })?;
    if let Some(n) = w
        .kind
        .count_path()
        .and_then(|p| obj.path(p))
        .filter(|n| !n.is_null())
    {
        w.replicas = typed::<i32>(n, doc).map_err(|_| {
            format!(
                "{} at line {} column {} is not an integer, so Kubernetes would refuse the object; \
                 fix the template or the values rendered into it",
                w.kind.count_path().unwrap_or_default().join("."),
                n.line,
                n.col
            )
        })?;
    }
    w.rollout = rollout(obj, w.kind, doc)?;
    if w.kind.has_selector()
        && let Some(sel) = obj.path(&["spec", "selector"]).filter(|n| !n.is_null())
    {
        let sel: LabelSelector = typed(sel, doc).map_err(|e| format!("spec.selector: {e}"))?;
        w.selector = Some(Box::new(PodSelector::of(sel)));
    }
    Ok(())
}

/// Converts a node to JSON as Kubernetes would read it.
pub(crate) fn json(node: &Node<'_>, doc: &Document<'_>) -> Result<Value, InputError> {
    Ok(crate::yaml::node::to_json(node, &doc.anchors)?)
}

/// Reads a node into a k8s-openapi type.
pub(crate) fn typed<T: DeserializeOwned>(
    node: &Node<'_>,
    doc: &Document<'_>,
) -> Result<T, InputError> {
    let v = json(node, doc)?;
    serde_json::from_value(v).map_err(|e| e.to_string().into())
}

/// String-to-string entries of a mapping (labels), skipping anything else.
pub(crate) fn string_map(node: Option<&Node<'_>>) -> Vec<(String, String)> {
    node.and_then(Node::entries)
        .map(|e| {
            e.iter()
                .filter_map(|(k, v)| Some((k.scalar()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses a mapping that has the same key twice (which copy would we edit?).
pub(super) fn check_duplicate_keys(obj: &Node<'_>) -> Result<(), InputError> {
    let mut err = None;
    obj.walk(&mut |n| {
        let Some(entries) = n.entries().filter(|_| err.is_none()) else {
            return;
        };
        let mut keys = Keys::with_capacity(entries.len());
        for (k, _) in entries {
            if let Some(s) = k.scalar()
                && keys.add(s, ()).is_some()
            {
                err = Some(format!(
                    "key `{s}` appears twice in one mapping (second at line {} column {}); \
                     Kubernetes would keep only one of them. Remove the duplicate",
                    k.line, k.col
                ));
                return;
            }
        }
    });
    err.map_or(Ok(()), |e: String| Err(e.into()))
}

/// The end of a location: `, line L column C`.
pub(crate) fn location_suffix(line: usize, col: usize) -> String {
    format!(", line {line} column {col}")
}
