//! Property tests over generated streams of Kubernetes-like documents full
//! of YAML 1.1 traps, with zero or more Polyaxon workloads inside.
//!
//! For every stream: no panic; untouched documents come out byte for byte;
//! the output parses; a second run changes nothing; and each changed
//! document, read the way go-yaml v2 reads YAML (an independent typing
//! written here, not the tool's), differs from the input only in the repos
//! volume, its mounts, the env copy, added affinity, labels and annotations.

mod oracle;

use polyrepo_render::Strategy as Reading;
use polyrepo_render::config::{AccessMode, Settings, Source};
use polyrepo_render::report::Report;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The documents of a generated stream, cut at its `---` lines (the only
/// separators the generator writes).
fn chunks(text: &str) -> Vec<&str> {
    let mut starts = vec![0];
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if at > 0 && line.starts_with("---") {
            starts.push(at);
        }
        at += line.len();
    }
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// One document read by the oracle.
fn read_one(text: &str) -> Value {
    let mut docs = oracle::read(text).expect("libyaml reads it");
    assert_eq!(docs.len(), 1, "one document: {text}");
    docs.pop().unwrap()
}

/// The pod template spec pointer of a generated workload.
fn spec_ptr(v: &Value) -> &'static str {
    match v["kind"].as_str() {
        Some("CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

/// What the output of one changed workload must hold, and then, with those
/// paths removed from both, that nothing else differs.
fn check_written(before: &Value, after: &Value, which: u8) -> Result<(), TestCaseError> {
    let sp = spec_ptr(before);
    let name = before["metadata"]["name"].as_str().unwrap_or("");
    let had_volume = before
        .pointer(&format!("{sp}/volumes"))
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|x| x["name"] == "repos"));
    let mount_into = which == 1 && name.starts_with("p-scheduler-");
    let spec = after.pointer(sp).unwrap();
    let vol = spec["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["name"] == "repos"));
    // The volume source, as configured.
    match which {
        1 if had_volume || mount_into => prop_assert_eq!(
            vol,
            Some(
                &json!({"name": "repos", "persistentVolumeClaim": {"claimName": "polyaxon-repos"}})
            )
        ),
        2 if had_volume => prop_assert_eq!(
            vol,
            Some(&json!({"name": "repos", "hostPath": {"path": "/data/repos"}}))
        ),
        _ => {}
    }
    // Mounts: what the configuration says, in every container that mounts.
    let (path, extra) = match which {
        2 => ("/code", json!({"subPath": "team", "readOnly": true})),
        _ => ("/polyaxon-repos", json!({})),
    };
    let before_spec = before.pointer(sp).unwrap();
    for (i, c) in spec["containers"].as_array().unwrap().iter().enumerate() {
        let had = before_spec["containers"][i]["volumeMounts"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x["name"] == "repos"));
        let m: Vec<&Value> = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["name"] == "repos")
            .collect();
        if which != 0 && ((had && had_volume) || mount_into) {
            let mut want = json!({"name": "repos", "mountPath": path});
            want.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            prop_assert_eq!(m, vec![&want], "{} container {}", name, i);
        } else {
            prop_assert_eq!(m.len(), usize::from(had), "{} container {}", name, i);
        }
        // The env copy describes the mounted volume.
        for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
            let was = &before_spec["containers"][i]["env"][j]["value"];
            let json_object = was
                .as_str()
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
                .is_some_and(|v| v.is_object());
            if e["name"] == "POLYAXON_PERSISTENCE_REPOS" && !json_object {
                // Not JSON (a byte-order mark between its tokens): left
                // alone, with a warning.
                prop_assert_eq!(&e["value"], was, "{}", name);
                continue;
            }
            if e["name"] == "POLYAXON_PERSISTENCE_REPOS" && which != 0 && (had_volume || mount_into)
            {
                let copy: Value = serde_json::from_str(e["value"].as_str().unwrap()).unwrap();
                // Keys the tool does not know are kept (`\u{feff}existingClaim`
                // once a byte-order mark fell inside a key).
                let mut want: Value = serde_json::from_str(was.as_str().unwrap()).unwrap();
                let set = match which {
                    1 => {
                        json!({"existingClaim": "polyaxon-repos", "hostPath": null, "mountPath": "/polyaxon-repos"})
                    }
                    _ => {
                        json!({"existingClaim": null, "hostPath": "/data/repos", "mountPath": "/code", "subPath": "team", "readOnly": true})
                    }
                };
                for (k, v) in set.as_object().unwrap() {
                    want[k] = v.clone();
                }
                prop_assert_eq!(copy, want, "{}", name);
            }
        }
    }
    // Scheduling: a co-location term or (with a known node) a pin; the
    // user's own affinity kept.
    let label = after.pointer(&format!(
        "{}/metadata/labels/polyrepo-render~1colocate",
        &sp[..sp.len() - 5]
    ));
    let pod = &spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    if let Some(l) = label {
        prop_assert!(
            pod.as_array().is_some_and(|ts| ts
                .iter()
                .any(|t| t["labelSelector"]["matchLabels"]["polyrepo-render/colocate"] == *l)),
            "{}: label without its term",
            name
        );
    }
    if let Some(r) = after["metadata"]["annotations"]["polyrepo-render/colocation"].as_str() {
        let r: Value = serde_json::from_str(r).unwrap();
        prop_assert!(
            pod.as_array().is_some_and(|ts| ts.contains(&r)),
            "{}: a recorded term that is not there",
            name
        );
    }
    if which == 2 {
        let terms = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"];
        for t in terms.as_array().into_iter().flatten() {
            let pins = t["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| x["key"] == "kubernetes.io/hostname")
                .count();
            prop_assert!(pins <= 1, "{}", name);
        }
    }
    prop_assert_eq!(
        &spec["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
        &before_spec["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
        "{}: the user's affinity",
        name
    );
    prop_assert_eq!(&spec["nodeSelector"], &before_spec["nodeSelector"]);
    Ok(())
}

// ---------- generators ----------

const TRAPS: &[&str] = &[
    "0644",
    "0o17",
    "08",
    "1_000",
    "1e3",
    "0x1F",
    "0b11",
    ".5",
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "Y",
    "N",
    "~",
    "null",
    "true",
    "False",
    "polyaxon-core",
    "2001-12-14",
    "1:20",
    "héllo wörld",
    "a # not a comment",
    "x: y",
    "-dash",
    "@at",
    "%pct",
    "long-string-long-string-long-string-long-string-long-string-long-string",
];

/// One scalar, written in one of the styles that can hold it.
fn scalar() -> impl Strategy<Value = (String, bool)> {
    (0..TRAPS.len(), 0..5u8).prop_map(|(i, style)| {
        let s = TRAPS[i];
        let plain_ok = !s.contains(": ") && !s.contains(" #") && !s.starts_with(['@', '%', '-']);
        let text = match style {
            0 if plain_ok => s.to_string(),
            1 => format!("'{}'", s.replace('\'', "''")),
            2 => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            3 => format!("|-\n      {s}"),
            4 => format!(">+\n      {s}\n"),
            _ => format!("\"{s}\""),
        };
        (text, style >= 3)
    })
}

#[derive(Debug, Clone)]
enum Doc {
    Polyaxon {
        name: String,
        kind: u8,
        containers: u8,
        replicas: u8,
        volume: u8,
        env: bool,
        mount: bool,
        flow_labels: bool,
        notes: Vec<(String, bool)>,
        comment: bool,
    },
    ConfigMap {
        values: Vec<(String, bool)>,
        anchors: bool,
    },
    /// A claim the workloads may name: `old` or `polyaxon-repos`, with
    /// an access mode.
    Claim {
        name: u8,
        mode: u8,
    },
    /// An autoscaler on `p-api-0` (when it exists) up to `max + 1` replicas.
    Hpa {
        max: u8,
    },
    /// A host-path PersistentVolume bound to the claim `old`.
    HostPathVolume,
    Other(u8),
}

fn doc() -> impl Strategy<Value = Doc> {
    prop_oneof![
        (
            (
                prop::sample::select(vec!["p-api", "p-scheduler", "p-worker"]),
                0..6u8,
                1..3u8,
            ),
            0..4u8,
            0..3u8,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(scalar(), 0..5),
            any::<bool>()
        )
            .prop_map(
                |(
                    (name, kind, containers),
                    replicas,
                    volume,
                    env,
                    mount,
                    flow_labels,
                    notes,
                    comment,
                )| Doc::Polyaxon {
                    name: name.into(),
                    kind,
                    containers,
                    replicas,
                    volume,
                    env,
                    mount,
                    flow_labels,
                    notes,
                    comment
                }
            ),
        (prop::collection::vec(scalar(), 0..6), any::<bool>())
            .prop_map(|(values, anchors)| Doc::ConfigMap { values, anchors }),
        (0..2u8, 0..3u8).prop_map(|(name, mode)| Doc::Claim { name, mode }),
        (0..3u8).prop_map(|max| Doc::Hpa { max }),
        Just(Doc::HostPathVolume),
        (0..4u8).prop_map(Doc::Other),
    ]
}

/// One document; `shared_affinity` gives every workload of the stream the
/// same nodeSelector and preferred affinity (members of one group with
/// different node constraints are refused, rightly).
fn render(d: &Doc, i: usize, shared_affinity: bool) -> String {
    match d {
        Doc::Polyaxon {
            name,
            kind,
            containers,
            replicas,
            volume,
            env,
            mount,
            flow_labels,
            notes,
            comment,
        } => {
            // 4: a CronJob, 5: a Deployment inside a List.
            let (api, kind_name) = match kind {
                1 => ("apps/v1", "StatefulSet"),
                2 => ("apps/v1", "ReplicaSet"),
                3 => ("batch/v1", "Job"),
                4 => ("batch/v1", "CronJob"),
                _ => ("apps/v1", "Deployment"),
            };
            let mut s =
                format!("apiVersion: {api}\nkind: {kind_name}\nmetadata:\n  name: {name}-{i}\n");
            s.push_str(if *flow_labels {
                "  labels: {type: polyaxon-core, x: \"on\"}\n"
            } else {
                "  labels:\n    type: polyaxon-core\n"
            });
            if !notes.is_empty() {
                s.push_str("  annotations:\n");
                for (j, (n, _)) in notes.iter().enumerate() {
                    s.push_str(&format!("    note{j}: {n}\n"));
                }
            }
            s.push_str("spec:\n");
            match kind {
                3 => s.push_str(&format!("  parallelism: {replicas}\n")),
                4 => {}
                1 => s.push_str(&format!("  replicas: {replicas}\n  serviceName: s{i}\n  selector:\n    matchLabels: {{app: a{i}}}\n")),
                _ => s.push_str(&format!("  replicas: {replicas}\n  selector:\n    matchLabels: {{app: a{i}}}\n")),
            }
            let template_at = s.len();
            s.push_str(&format!(
                "  template:\n    metadata:\n      labels:\n        app: a{i}\n    spec:\n"
            ));
            if matches!(kind, 3 | 4) {
                s.push_str("      restartPolicy: Never\n");
            }
            if shared_affinity {
                s.push_str("      nodeSelector: {disk: \"on\"}\n      affinity:\n        podAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 10\n            podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: {x: z}}}\n");
            }
            if *comment {
                s.push_str("      # the containers\n");
            }
            s.push_str("      containers:\n");
            for c in 0..*containers {
                s.push_str(&format!("      - name: c{c}\n        image: \"img:1\"\n"));
                if *env {
                    s.push_str("        env:\n        - name: POLYAXON_PERSISTENCE_REPOS\n          value: '{\"existingClaim\":null,\"hostPath\":\"/tmp/repos\",\"mountPath\":\"/polyaxon-repos\"}'\n        - name: OTHER\n          value: \"0644\"\n");
                }
                if *mount && c == 0 {
                    s.push_str("        volumeMounts:\n        - mountPath: /polyaxon-repos\n          name: repos\n");
                }
            }
            match volume {
                1 => s.push_str("      volumes:\n      - name: repos\n        hostPath:\n          path: /tmp/repos\n"),
                2 => s.push_str("      volumes:\n      - name: cfg\n        configMap: {name: c, defaultMode: 0644}\n      - name: repos\n        persistentVolumeClaim: {claimName: old}\n"),
                _ => {}
            }
            if *kind == 4 {
                // The pod template four deeper, under jobTemplate.spec.
                let template = s.split_off(template_at);
                s.push_str(&format!("  schedule: \"0 * * * *\"\n  jobTemplate:\n    spec:\n      parallelism: {replicas}\n"));
                for line in template.lines() {
                    s.push_str(&format!("    {line}\n"));
                }
            }
            if *kind == 5 {
                let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
                for (n, line) in s.lines().enumerate() {
                    list.push_str(if n == 0 { "- " } else { "  " });
                    list.push_str(line);
                    list.push('\n');
                }
                return list;
            }
            s
        }
        Doc::Hpa { max } => format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: hpa-{i}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: p-api-0}}\n  minReplicas: 1\n  maxReplicas: {}\n",
            max + 1
        ),
        Doc::HostPathVolume => format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pv-{i}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: /srv/old}}\n  claimRef: {{name: old}}\n"
        ),
        Doc::Claim { name, mode } => format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {}\nspec:\n  accessModes: [{}]\n  resources: {{requests: {{storage: 1Gi}}}}\n",
            ["old", "polyaxon-repos"][*name as usize],
            ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"][*mode as usize]
        ),
        Doc::ConfigMap { values, anchors } => {
            let mut s =
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n");
            for (j, (v, _)) in values.iter().enumerate() {
                s.push_str(&format!("  k{j}: {v}\n"));
            }
            if *anchors {
                s.push_str("  base: &b {x: 1}\n  copy: *b\n  merged:\n    <<: *b\n    y: 2\n");
            }
            s
        }
        Doc::Other(k) => match k {
            0 => "- a\n- 'b'\n- [c, \"d\"]\n".into(),
            1 => "just a scalar\n".into(),
            2 => "# only a comment\n".into(),
            _ => "{flow: doc, n: 08}\n".into(),
        },
    }
}

fn settings(which: u8) -> Settings {
    match which {
        0 => Settings::default(),
        1 => Settings {
            configured: true,
            source: Some(Source::Claim("polyaxon-repos".into())),
            access_mode: Some(AccessMode::ReadWriteOnce),
            mount_into: vec!["p-scheduler-*".into()],
            ..Settings::default()
        },
        _ => Settings {
            configured: true,
            source: Some(Source::HostPath("/data/repos".into())),
            mount_path: Some("/code".into()),
            sub_path: Some("team".into()),
            read_only: Some(true),
            node: Some("worker-2".into()),
            ..Settings::default()
        },
    }
}

/// A refusal of a setting that matches nothing is true of `input`: no
/// Polyaxon workload there is named `p-scheduler-*` (mountInto), mounts a
/// `repos` volume (repos.node), or exists at all.
fn unmatched_is_true(message: &str, input: &str) -> Result<(), TestCaseError> {
    let objects = oracle::read(input).expect("libyaml reads it");
    let ours: Vec<&Value> = objects
        .iter()
        .filter(|o| o["metadata"]["labels"]["type"] == "polyaxon-core")
        .filter(|o| o.pointer(spec_ptr(o)).is_some())
        .collect();
    for line in message.lines() {
        if line.contains("mountInto `p-scheduler-*` matches no") {
            prop_assert!(
                !ours.iter().any(|o| o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("p-scheduler-"))),
                "{message}\n{input}"
            );
        } else if line.contains("repos.node `worker-2` is used by nothing") {
            prop_assert!(
                !ours.iter().any(|o| o
                    .pointer(&format!("{}/volumes", spec_ptr(o)))
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.iter().any(|v| v["name"] == "repos"))),
                "{message}\n{input}"
            );
        } else if line.contains("no Polyaxon workload") || line.contains("no workload at all") {
            prop_assert!(ours.is_empty(), "{message}\n{input}");
        } else {
            prop_assert!(false, "refused a valid stream: {message}\n{input}");
        }
    }
    Ok(())
}

fn stream_of(docs: &[Doc], crlf: bool, leading_marker: bool, affinity: bool) -> String {
    let mut s = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 || leading_marker {
            s.push_str("---\n");
        }
        s.push_str(&render(d, i, affinity));
    }
    if crlf { s.replace('\n', "\r\n") } else { s }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn patched_streams_keep_their_meaning(
        docs in prop::collection::vec(doc(), 1..6),
        crlf in any::<bool>(),
        marker in any::<bool>(),
        which in 0..3u8,
        affinity in any::<bool>(),
    ) {
        let input = stream_of(&docs, crlf, marker, affinity);
        let s = settings(which);
        let out = match polyrepo_render::run(input.as_bytes(), &s, &mut Report::default()) {
            Ok(out) => out,
            // A setting that matches nothing in this stream is refused:
            // true only when the stream lacks what it names.
            Err(polyrepo_render::Failure::Config(m)) => return unmatched_is_true(&m, &input),
            Err(e) => panic!("refused a valid stream: {e:?}\n{input}"),
        };
        let out = String::from_utf8(out).unwrap();
        // The on-demand reading (large inputs) gives the same output.
        let lazy = polyrepo_render::render_with(input.as_bytes(), &s, &mut Report::default(), Reading::OnDemand)
            .unwrap_or_else(|e| panic!("on-demand path refused what one-pass accepted: {e:?}"));
        prop_assert_eq!(String::from_utf8(lazy.to_vec()).unwrap(), out.clone());
        let (before, after) = (chunks(&input), chunks(&out));
        prop_assert_eq!(before.len(), after.len());
        for (bt, at) in before.iter().zip(&after) {
            if bt == at {
                continue;
            }
            // Only Polyaxon workloads change.
            let (b, a) = (read_one(bt), read_one(at));
            if crlf {
                prop_assert!(!at.replace("\r\n", "").contains('\n'), "bare LF inserted");
            }
            let pairs: Vec<(Value, Value)> = if b["kind"] == "List" {
                prop_assert_eq!(&b["apiVersion"], &a["apiVersion"]);
                let (bi, ai) = (b["items"].as_array().unwrap(), a["items"].as_array().unwrap());
                prop_assert_eq!(bi.len(), ai.len());
                bi.iter().cloned().zip(ai.iter().cloned()).collect()
            } else {
                vec![(b, a)]
            };
            for (b, a) in pairs {
                if b == a {
                    continue;
                }
                prop_assert_eq!(&b["metadata"]["labels"]["type"], "polyaxon-core", "untouched object changed");
                check_written(&b, &a, which)?;
                let (mut b, mut a) = (b, a);
                oracle::forgive::forgive(&mut b, &mut a);
                prop_assert_eq!(b, a);
            }
        }
        let again = polyrepo_render::run(out.as_bytes(), &s, &mut Report::default()).expect("own output accepted");
        prop_assert_eq!(String::from_utf8(again).unwrap(), out, "not idempotent");
    }

    /// go-yaml's own line breaks (NEL, LS, PS), byte-order marks and
    /// CR-only line ends, anywhere in a stream: whatever the tool accepts,
    /// Kubernetes' reading of it (the oracle: libyaml, go-yaml's ancestor,
    /// which breaks lines at the same characters) changes only where the
    /// tool plans to change, and nowhere else.
    #[test]
    fn go_yamls_line_breaks_and_byte_order_marks_never_change_what_kubernetes_reads(
        docs in prop::collection::vec(doc(), 1..5),
        marker in any::<bool>(),
        which in 0..3u8,
        affinity in any::<bool>(),
        cr_only in any::<bool>(),
        inserts in prop::collection::vec((any::<prop::sample::Index>(), 0..4usize), 0..4),
    ) {
        let mut input = stream_of(&docs, false, marker, affinity);
        for (at, what) in &inserts {
            // Half the time just inside a quote, where the tool may accept it.
            let quotes: Vec<usize> = input.match_indices(['\'', '"']).map(|(i, _)| i + 1).collect();
            let mut pos = match quotes.len() {
                n if n > 0 && at.index(2) == 0 => quotes[at.index(n)],
                _ => at.index(input.len() + 1),
            };
            while !input.is_char_boundary(pos) {
                pos -= 1;
            }
            input.insert(pos, ['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}'][*what]);
        }
        if cr_only {
            input = input.replace('\n', "\r");
        }
        let s = settings(which);
        let Ok(out) = polyrepo_render::run(input.as_bytes(), &s, &mut Report::default()) else {
            return Ok(()); // refused: nothing written
        };
        let lazy = polyrepo_render::render_with(input.as_bytes(), &s, &mut Report::default(), Reading::OnDemand);
        prop_assert_eq!(lazy.map(|r| r.to_vec()).ok(), Some(out.clone()), "strategies disagree");
        let out = String::from_utf8(out).unwrap();
        if out == input {
            return Ok(());
        }
        if cr_only {
            prop_assert!(!out.contains('\n'), "a line feed in a CR-only stream");
        }
        // The tool changed something: Kubernetes must read the input, and
        // read the same objects in the output but for the planned changes.
        let before = oracle::read(&input);
        prop_assert!(before.is_ok(), "changed a stream Kubernetes cannot read: {:?}\n{:?}", before.err(), input);
        let after = oracle::read(&out);
        prop_assert!(after.is_ok(), "output Kubernetes cannot read: {:?}\n{:?}", after.err(), out);
        let (before, after) = (before.unwrap(), after.unwrap());
        prop_assert_eq!(before.len(), after.len(), "documents: {:?}", out);
        for (b, a) in before.into_iter().zip(after) {
            if b == a {
                continue;
            }
            let pairs: Vec<(Value, Value)> = if b["kind"] == "List" {
                let (bi, ai) = (b["items"].as_array().unwrap().clone(), a["items"].as_array().unwrap().clone());
                prop_assert_eq!(bi.len(), ai.len());
                bi.into_iter().zip(ai).collect()
            } else {
                vec![(b, a)]
            };
            for (b, a) in pairs {
                if b == a {
                    continue;
                }
                prop_assert_eq!(&b["metadata"]["labels"]["type"], "polyaxon-core", "untouched object changed: {:?}", input);
                check_written(&b, &a, which)?;
                let (mut b, mut a) = (b, a);
                oracle::forgive::forgive(&mut b, &mut a);
                prop_assert_eq!(b, a, "{:?}", input);
            }
        }
    }

    #[test]
    fn the_tool_and_the_oracle_agree_on_yaml_1_1_typing(i in 0..TRAPS.len(), extra in "[-+0-9._a-zA-Z:]{0,8}") {
        for s in [TRAPS[i].to_string(), extra.clone()] {
            if s.is_empty() { continue; }
            for text in [format!("k: {s}\n"), format!("{s}: v\n")] {
                let Ok(st) = polyrepo_render::yaml::parse(&text) else { continue };
                let Ok(ours) = oracle::read(&text) else { continue };
                let tool = polyrepo_render::yaml::to_json(&st.docs[0].root, &st.docs[0].anchors).unwrap_or(Value::Null);
                // Floats compare by value; everything else exactly.
                match (tool["k"].as_f64(), ours[0]["k"].as_f64()) {
                    (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-9, "{text:?}: {tool} vs {}", ours[0]),
                    _ => prop_assert_eq!(&tool, &ours[0], "{:?}", text),
                }
            }
        }
    }
}
