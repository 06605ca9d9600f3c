//! A workload's edits: the repos volume, its mounts and the
//! `POLYAXON_PERSISTENCE_REPOS` env copy, then the scheduling edits
//! (`scheduling`), each written only where the desired value differs from
//! what Kubernetes reads today.

use super::*;

pub(super) fn describe_volume(v: &core::Volume) -> String {
    if let Some(h) = &v.host_path {
        return format!("hostPath {}", h.path);
    }
    if let Some(c) = &v.persistent_volume_claim {
        return format!("claim {}", c.claim_name);
    }
    "another source".into()
}

pub(super) fn workload(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    w: &Workload,
    loc: Located<'_, '_>,
    wp: &WorkloadPlan,
    changes: &mut Vec<String>,
    warnings: &mut Vec<crate::report::Warning>,
) -> Result<(), PatchError> {
    let spec = loc.pod_spec;
    // The repos volume.
    if let Some(desired) = wp.volume.as_ref().map(inventory::VolumeInfo::to_volume) {
        let desired = &desired;
        let want = named_json(desired);
        match spec.get("volumes").filter(|v| !v.is_null()) {
            None => {
                ed.set_entry(spec, "volumes", &json!([want]))?;
                changes.push(format!("repos volume added: {}", describe_volume(desired)));
            }
            Some(vols) => {
                let items = vols.items().ok_or_else(|| {
                    format!(
                        "volumes at line {} column {} is not a list",
                        vols.line, vols.col
                    )
                })?;
                match items
                    .iter()
                    .find(|i| i.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME))
                {
                    Some(item) => {
                        let mut have = inventory::json(item, doc)?;
                        strip_nulls(&mut have);
                        if have != want {
                            let old = w
                                .repos_volume()
                                .map(|v| match (&v.host_path, &v.claim) {
                                    (Some((p, _)), _) => format!("hostPath {p}"),
                                    (None, Some(c)) => format!("claim {c}"),
                                    _ => "another source".into(),
                                })
                                .unwrap_or_default();
                            ed.replace(item, &want);
                            changes.push(format!(
                                "repos volume: {old} -> {}",
                                describe_volume(desired)
                            ));
                        }
                    }
                    None => {
                        ed.append(vols, &want)?;
                        changes.push(format!("repos volume added: {}", describe_volume(desired)));
                    }
                }
            }
        }
    }
    // Mounts and env copies, container by container.
    for list in CONTAINER_LISTS {
        let Some(containers) = spec.get(list).and_then(Node::items) else {
            continue;
        };
        for c in containers {
            let cname = c.get("name").and_then(Node::as_str).unwrap_or("?");
            if let Some(m) = &wp.mount {
                mount(
                    ed,
                    doc,
                    c,
                    cname,
                    m,
                    wp.add_mounts && list == "containers",
                    changes,
                )?;
            }
            if let Some(env) = &wp.env {
                env_copy(ed, c, cname, env, changes, warnings, w)?;
            }
        }
    }
    // Scheduling.
    if wp.pin.is_some() || wp.colocate.is_some() || wp.forget_earlier {
        affinity(ed, doc, w, loc.pod_spec, wp, changes)?;
    }
    // The tool's marks on the pod template: its label and the run-time
    // placement digest, each added, kept or dropped.
    let marked = || {
        loc.pod_meta
            .and_then(|m| m.path(&["annotations", RUNTIME_ANNOTATION]))
            .is_some()
    };
    if wp.colocate.is_some() || wp.forget_earlier || wp.runtime_digest.is_some() || marked() {
        pod_marks(ed, doc, w, &loc, wp, changes)?;
    }
    Ok(())
}

pub(super) fn mount(
    ed: &mut Editor<'_>,
    doc: &Document<'_>,
    c: &Node<'_>,
    cname: &str,
    m: &Mount,
    add: bool,
    changes: &mut Vec<String>,
) -> Result<(), PatchError> {
    let mounts = c.get("volumeMounts").filter(|n| !n.is_null());
    let existing = mounts.and_then(Node::items).and_then(|items| {
        items
            .iter()
            .find(|i| i.get("name").and_then(Node::as_str) == Some(REPOS_VOLUME))
    });
    match existing {
        Some(item) => {
            let mut have_json = inventory::json(item, doc)?;
            strip_nulls(&mut have_json);
            let have: core::VolumeMount =
                serde_json::from_value(have_json.clone()).map_err(|e| e.to_string())?;
            let mut want = have.clone();
            want.mount_path = m.mount_path.clone();
            want.sub_path = m
                .sub_path
                .clone()
                .or_else(|| have.sub_path.clone().filter(|s| s.is_empty()));
            want.read_only = match (m.read_only, have.read_only) {
                (true, _) => Some(true),
                (false, Some(false)) => Some(false),
                (false, _) => None,
            };
            let want = named_json(&want);
            if want != have_json {
                ed.replace(item, &want);
                changes.push(format!("mount in {cname}: {}", describe_mount(m)));
            }
        }
        None if add => {
            let want = named_json(&core::VolumeMount {
                name: REPOS_VOLUME.into(),
                mount_path: m.mount_path.clone(),
                sub_path: m.sub_path.clone(),
                read_only: m.read_only.then_some(true),
                ..Default::default()
            });
            match mounts {
                Some(list) => ed.append(list, &want)?,
                None => ed.set_entry(c, "volumeMounts", &json!([want]))?,
            }
            changes.push(format!("mount added in {cname}: {}", describe_mount(m)));
        }
        None => {}
    }
    Ok(())
}

pub(super) fn describe_mount(m: &Mount) -> String {
    let mut s = m.mount_path.clone();
    if let Some(p) = &m.sub_path {
        s.push_str(&format!(" (subPath {p})"));
    }
    if m.read_only {
        s.push_str(" read-only");
    }
    s
}

pub(super) fn env_copy(
    ed: &mut Editor<'_>,
    c: &Node<'_>,
    cname: &str,
    env: &plan::EnvCopy,
    changes: &mut Vec<String>,
    warnings: &mut Vec<crate::report::Warning>,
    w: &Workload,
) -> Result<(), PatchError> {
    let Some(items) = c.get("env").and_then(Node::items) else {
        return Ok(());
    };
    for item in items
        .iter()
        .filter(|i| i.get("name").and_then(Node::as_str) == Some(REPOS_ENV))
    {
        let Some(vnode) = item.get("value") else {
            warnings.push(crate::report::Warning::problem(format!(
                "{} container {cname}: {REPOS_ENV} has no literal value (valueFrom?); it was not updated",
                w.id()
            )));
            continue;
        };
        let Some(current) = vnode.as_str() else {
            warnings.push(crate::report::Warning::problem(format!(
                "{} container {cname}: {REPOS_ENV} is not a string; it was not updated",
                w.id()
            )));
            continue;
        };
        let parsed: Value = if current.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str(current) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    warnings.push(crate::report::Warning::problem(format!(
                        "{} container {cname}: {REPOS_ENV} (line {} column {}) is not a JSON object; it was not updated",
                        w.id(),
                        vnode.line,
                        vnode.col
                    )));
                    continue;
                }
            }
        };
        let mut want = parsed.clone();
        let o = want.as_object_mut().expect("object");
        o.insert("mountPath".into(), json!(env.mount.mount_path));
        let (hp, ec) = match &env.source {
            Source::HostPath(p) => (json!(p), Value::Null),
            Source::Claim(n) => (Value::Null, json!(n)),
        };
        o.insert("hostPath".into(), hp);
        o.insert("existingClaim".into(), ec);
        match &env.mount.sub_path {
            Some(p) => {
                o.insert("subPath".into(), json!(p));
            }
            None => {
                if o.contains_key("subPath") {
                    o.insert("subPath".into(), Value::Null);
                }
            }
        }
        if env.mount.read_only || o.contains_key("readOnly") {
            o.insert("readOnly".into(), json!(env.mount.read_only));
        }
        if want != parsed {
            let text = serde_json::to_string(&want).expect("json");
            ed.replace_string(vnode, &text);
            changes.push(format!("{REPOS_ENV} in {cname}: {}", env.source));
        }
    }
    Ok(())
}
