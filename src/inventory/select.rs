//! Which documents are read, and which workloads are Polyaxon's: the
//! candidates and their neighbours, read in the validating pass or from
//! their trees, then judged by the chart's core type labels.

use super::object::read_object;
use super::*;

/// The core type labels that mark Polyaxon's objects: the values file's
/// `types.core`, else what the stream rendered (`POLYAXON_TYPE_LABELS_CORE`),
/// else the chart's default.
pub(crate) fn core_types(inv: &Inventory, settings: &Settings) -> Vec<String> {
    if let Some(t) = &settings.core_type {
        return vec![t.clone()];
    }
    if inv.core_types.is_empty() {
        return vec![DEFAULT_CORE_TYPE.to_string()];
    }
    inv.core_types.clone()
}

/// Is this object a Polyaxon workload? The chart (0.4–0.6) labels its own
/// objects `type: <types.core>` and `app.kubernetes.io/part-of: <types.core>`;
/// a configured selector replaces that rule.
pub(crate) fn is_polyaxon(
    labels: &[(String, String)],
    selector: Option<&Selector>,
    core_types: &[String],
) -> bool {
    match selector {
        Some(s) => s.matches(labels),
        None => labels
            .iter()
            .any(|(k, v)| CORE_LABELS.contains(&k.as_str()) && core_types.contains(v)),
    }
}

/// Kinds whose documents can matter to the plan, besides workloads.
pub(super) const STORAGE_KINDS: [&str; 3] = [
    "PersistentVolumeClaim",
    "PersistentVolume",
    "HorizontalPodAutoscaler",
];

/// Does a document need its tree built first? Workloads that may be
/// Polyaxon's, claims, volumes, autoscalers, `List`s and the ConfigMap that
/// names the core type do; the other workloads are read next, and only
/// when the stream holds a Polyaxon workload ([`is_neighbour`]);
/// everything else is only validated.
pub(super) fn is_candidate(text: &str, info: &DocInfo, settings: &Settings) -> bool {
    if info.duplicate_keys {
        return true; // what the document is for can only be read from its tree
    }
    let Some(kind) = info.kind.as_deref().filter(|_| info.api_version) else {
        return false;
    };
    if WorkloadKind::parse(kind).is_some() {
        // Labels behind aliases are invisible to the scan: read those too.
        // The core type is only known once the stream is read: any value of
        // the chart's labels may be it.
        return info.uses_aliases
            || match &settings.selector {
                Some(s) => s.matches(&info.labels),
                None => info
                    .labels
                    .iter()
                    .any(|(k, _)| CORE_LABELS.contains(&k.as_str())),
            };
    }
    if kind == "ConfigMap" {
        return text[info.region_start..info.region_end].contains(CORE_TYPE_KEY);
    }
    kind.ends_with("List") || STORAGE_KINDS.contains(&kind)
}

/// True when the document may be read at all, whatever the settings: a
/// candidate under some settings ([`is_candidate`]) or a neighbour
/// ([`is_neighbour`]). The validating pass keeps nothing of the others.
/// `text` holds the document's region.
pub(crate) fn may_matter(text: &str, info: &DocInfo) -> bool {
    if info.duplicate_keys {
        return true;
    }
    let Some(kind) = info.kind.as_deref().filter(|_| info.api_version) else {
        return false;
    };
    may_matter_kind(kind)
        && (kind != "ConfigMap" || text[info.region_start..info.region_end].contains(CORE_TYPE_KEY))
}

/// The kinds [`may_matter`] may keep: workloads, ConfigMaps, `List`s,
/// claims, volumes and autoscalers.
pub(super) fn may_matter_kind(kind: &str) -> bool {
    WorkloadKind::parse(kind).is_some()
        || kind == "ConfigMap"
        || kind.ends_with("List")
        || STORAGE_KINDS.contains(&kind)
}

/// A workload document [`is_candidate`] left out: its pods are not
/// Polyaxon's, but may share a node with a group (their labels,
/// anti-affinity, spread constraints and host ports count).
pub(super) fn is_neighbour(info: &DocInfo) -> bool {
    info.api_version && info.kind.as_deref().and_then(WorkloadKind::parse).is_some()
}

/// Reads the objects of the documents that can matter, one tree at a time,
/// then decides which workloads are Polyaxon's.
pub(crate) fn read(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    settings: &Settings,
    read_before: Vec<Option<Box<Part>>>,
) -> Result<Inventory, InputError> {
    let mut candidate = vec![false; infos.len()];
    let mut behind = crate::pages::Behind::new(text.as_bytes());
    for (i, info) in infos.iter().enumerate() {
        candidate[i] = is_candidate(text, info, settings);
        behind.passed(info.region_end);
    }
    let candidates: Vec<usize> = (0..infos.len()).filter(|&i| candidate[i]).collect();
    let mut before = read_before;
    before.resize_with(infos.len(), || None);
    let threads = crate::parallel::threads_for(text.len());
    let read_all = |docs: &[usize], before: &mut [Option<Box<Part>>]| {
        read_in_order(text, infos, trees, docs, settings, threads, before)
    };
    // One part, in stream order: the workloads, and the problems by index.
    let (mut inv, problems) = read_all(&candidates, &mut before)?;
    inv.core_types.sort();
    inv.core_types.dedup();
    let core = core_types(&inv, settings);
    let mut problems = problems.into_iter().peekable();
    let mut i = 0;
    let mut first_error = None;
    inv.workloads.retain_mut(|w| {
        if settings.selector.is_none() {
            w.polyaxon = is_polyaxon(&w.labels, None, &core);
        }
        w.labels = Vec::new(); // decided
        let problem = problems.next_if(|(at, _)| *at == i).map(|(_, p)| p);
        i += 1;
        match problem {
            Some(mut p) if w.polyaxon => {
                p.object = Some(Box::new(w.object_ref(infos)));
                first_error.get_or_insert(p);
                false
            }
            // Not ours and unreadable: never changed, never counted
            // (Kubernetes will say what is wrong with it).
            Some(_) => false,
            // Not ours: never changed; its pods count beside the groups.
            None => true,
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    // The other workloads, once there is a Polyaxon workload to keep them
    // beside: never changed, their unreadable ones never counted. Read
    // whole when a Polyaxon workload has a rule reaching other pods, or
    // when they have one (anti-affinity, a host port); the rest are only
    // searched for the Polyaxon pods' label values.
    if inv.workloads.iter().any(|w| w.polyaxon) {
        let reaching = inv.workloads.iter().filter(|w| w.polyaxon).any(|w| {
            let a = w.pod.affinity.as_deref();
            !w.pod.spread.is_empty()
                || a.and_then(|a| a.pod_anti_affinity.as_ref()).is_some()
                || a.and_then(|a| a.pod_affinity.as_ref())
                    .and_then(|p| {
                        p.required_during_scheduling_ignored_during_execution
                            .as_ref()
                    })
                    .is_some_and(|r| !r.is_empty())
        });
        let mut behind = crate::pages::Behind::new(text.as_bytes());
        let mut guarded = |i: usize| {
            behind.passed(infos[i].region_start);
            guarded(text, &infos[i])
        };
        // The same whichever way the stream is read (with every tree built
        // or not): both ways must decide alike.
        let (rest, unread): (Vec<usize>, Vec<usize>) = (0..infos.len())
            .filter(|&i| !candidate[i] && is_neighbour(&infos[i]))
            .partition(|&i| reaching || guarded(i));
        inv.unread = unread_index(text, infos, &unread, &inv.workloads);
        {
            let (mut part, problems) = read_all(&rest, &mut before)?;
            let mut i = 0;
            part.workloads.retain_mut(|w| {
                w.polyaxon = false;
                w.labels = Vec::new();
                let bad = problems.iter().any(|(at, _)| *at == i);
                i += 1;
                !bad
            });
            inv.workloads.append(&mut part.workloads);
        }
    } else {
        // Nothing of Polyaxon's: what there is, for the message.
        let docs = infos.iter().filter(|i| is_neighbour(i));
        inv.seen.1 = docs.clone().count();
        inv.seen.0 = docs
            .take(SEEN_SHOWN)
            .map(|i| {
                let labels: Vec<String> =
                    i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{} in {} labelled {{{}}}",
                    i.kind.as_deref().unwrap_or("?"),
                    i.label(),
                    labels.join(", ")
                )
            })
            .collect();
    }
    inv.workloads.shrink_to_fit();
    Ok(inv)
}

/// Drops what only [`read`] reads of the documents' summaries (their
/// labels), once it has read them: a large stream holds thousands.
pub(crate) fn forget_labels(infos: &mut [DocInfo]) {
    for i in infos {
        i.labels = Default::default();
    }
}

/// Indexes the unread documents by the Polyaxon pods' label values their
/// text holds (one pass over their bytes).
pub(super) fn unread_index(
    text: &str,
    infos: &[DocInfo],
    docs: &[usize],
    workloads: &[Workload],
) -> Unread {
    let mut out = Unread::default();
    if docs.is_empty() {
        return out;
    }
    let mut values: Vec<String> = Vec::new();
    for w in workloads.iter().filter(|w| w.polyaxon) {
        for (_, v) in w.pod.labels.iter() {
            if !v.is_empty() && !out.values.contains_key(v) {
                out.values.insert(v.clone(), values.len());
                values.push(v.clone());
            }
        }
    }
    out.holders = vec![Vec::new(); values.len()];
    let Ok(ac) = aho_corasick::AhoCorasick::new(&values) else {
        // Too many patterns to build an automaton: every unread document
        // is taken to hold every value (the safe side).
        out.docs = docs.iter().map(|&d| unread_doc(&infos[d])).collect();
        out.held = docs
            .iter()
            .map(|_| (0..values.len() as u32).collect())
            .collect();
        for (d, _) in docs.iter().enumerate() {
            for h in &mut out.holders {
                h.push(d as u32);
            }
        }
        return out;
    };
    let mut behind = crate::pages::Behind::new(text.as_bytes());
    for &i in docs {
        behind.passed(infos[i].region_start);
        let t = &text[infos[i].region_start..infos[i].region_end];
        let mut held: Vec<u32> = ac
            .find_overlapping_iter(t)
            .map(|m| m.pattern().as_u32())
            .collect();
        held.sort_unstable();
        held.dedup();
        if held.is_empty() {
            continue;
        }
        let at = out.docs.len() as u32;
        for &v in &held {
            out.holders[v as usize].push(at);
        }
        out.docs.push(unread_doc(&infos[i]));
        out.held.push(held);
    }
    out
}

/// An unread document as [`Unread`] keeps it: its position and template.
fn unread_doc(info: &DocInfo) -> (usize, Option<std::sync::Arc<str>>) {
    let template = info.template().map(|t| crate::shared::share(t.into()));
    (info.index, template)
}

/// What is read of some documents: the objects, and the problems found in
/// workloads (index into the part's workloads, error).
pub(crate) type Part = (Inventory, Vec<(usize, InputError)>);

/// Whether a workload document that is not a candidate may keep other
/// pods off a node by itself (anti-affinity, a host port): read whole,
/// where the others are only searched for label values.
pub(super) fn guarded(text: &str, info: &DocInfo) -> bool {
    let t = &text.as_bytes()[info.region_start..info.region_end];
    ["podAntiAffinity", "hostPort", "hostNetwork"]
        .iter()
        .any(|k| memchr::memmem::find(t, k.as_bytes()).is_some())
}

/// Reads `docs` (indices into `infos`) into one part, in order: a
/// document the validating pass read already (`before`) is taken from
/// there, the others are read from their trees on several threads.
pub(super) fn read_in_order(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    docs: &[usize],
    settings: &Settings,
    threads: usize,
    before: &mut [Option<Box<Part>>],
) -> Result<Part, InputError> {
    let missing: Vec<usize> = docs
        .iter()
        .copied()
        .filter(|&i| before[i].is_none())
        .collect();
    let selector = settings.selector.as_ref();
    let parts = crate::parallel::map_chunks(&missing, threads, |chunk| {
        chunk
            .iter()
            .map(|&di| read_docs(text, infos, trees, &[di], selector))
            .collect::<Result<Vec<Part>, _>>()
    });
    let mut read = Vec::with_capacity(missing.len());
    for p in parts {
        read.extend(p?);
    }
    let mut read = read.into_iter();
    let mut out: Part = Default::default();
    for &i in docs {
        let (mut part, problems) = match before[i].take() {
            Some(p) => *p,
            None => read.next().expect("one part per document read"),
        };
        let base = out.0.workloads.len();
        out.1
            .extend(problems.into_iter().map(|(i, e)| (i + base, e)));
        let inv = &mut out.0;
        inv.core_types.append(&mut part.core_types);
        inv.workloads.append(&mut part.workloads);
        inv.claims.append(&mut part.claims);
        inv.volumes.append(&mut part.volumes);
        inv.autoscalers.append(&mut part.autoscalers);
        inv.runtime_keys.append(&mut part.runtime_keys);
    }
    Ok(out)
}

/// The inventory's reading of documents while the validating pass holds
/// their trees ([`crate::yaml::scan::Visit`]): the documents [`read`]
/// reads first (the candidates), each into a [`Part`]. A neighbour's tree
/// is dropped once its labels are read (it is read later only if it must
/// be, as in `read`); a guarded one whose labels came too late to drop it
/// is read here too. A document with a problem, or with run-time placement
/// keys, is left to be read again from the whole stream, whose numbering
/// its messages need.
pub(crate) struct Reader<'s> {
    /// The settings the candidates are chosen by.
    pub(crate) settings: &'s Settings,
}

impl crate::yaml::scan::Visit for Reader<'_> {
    /// Boxed: most documents kept are not read here, and take a pointer's
    /// room only.
    type Out = Box<Part>;

    fn wants(&self, kind: &str, labels: Option<&[(String, String)]>) -> bool {
        // A workload is read here when its labels make it a candidate
        // (see `is_candidate`); a guarded neighbour otherwise, later.
        match (WorkloadKind::parse(kind), labels) {
            (Some(_), Some(labels)) => match &self.settings.selector {
                Some(s) => s.matches(labels),
                None => labels
                    .iter()
                    .any(|(k, _)| CORE_LABELS.contains(&k.as_str())),
            },
            _ => may_matter_kind(kind),
        }
    }

    fn visit(&self, text: &str, doc: &Document<'_>, info: &DocInfo) -> Option<Box<Part>> {
        let wanted =
            is_candidate(text, info, self.settings) || (is_neighbour(info) && guarded(text, info));
        if !wanted {
            return None;
        }
        let mut part: Part = Default::default();
        let selector = self.settings.selector.as_ref();
        read_tree(text, info, 0, doc, selector, &mut part.0, &mut part.1);
        // Kept until the pass ends: a vector grown for one workload has
        // room for four (about 0.7 KB more per document).
        part.0.workloads.shrink_to_fit();
        (part.1.is_empty() && part.0.runtime_keys.is_empty()).then(|| Box::new(part))
    }

    fn place(&self, part: &mut Box<Part>, info: &DocInfo, kept: usize, lines: usize) {
        for w in &mut part.0.workloads {
            // Read in a piece of the stream: its document and line move.
            w.doc = kept;
            w.index = info.index;
            w.line += lines;
        }
    }
}

/// Reads the given documents (indices into `infos`), in order, with the
/// problems found in workloads (index into the part's workloads, error).
pub(super) fn read_docs(
    text: &str,
    infos: &[DocInfo],
    trees: Trees<'_, '_>,
    docs: &[usize],
    selector: Option<&Selector>,
) -> Result<(Inventory, Vec<(usize, InputError)>), InputError> {
    let mut inv = Inventory::default();
    let mut problems = Vec::new();
    for &di in docs {
        let info = &infos[di];
        let doc = trees
            .get(text, info)
            .map_err(|e| InputError::from(e.to_string()))?;
        read_tree(text, info, di, &doc, selector, &mut inv, &mut problems);
    }
    Ok((inv, problems))
}

/// Reads the objects of one document's tree (document `di` of `infos`)
/// into `inv`, and the problems of its workloads into `problems`.
pub(super) fn read_tree(
    text: &str,
    info: &DocInfo,
    di: usize,
    doc: &Document<'_>,
    selector: Option<&Selector>,
    inv: &mut Inventory,
    problems: &mut Vec<(usize, InputError)>,
) {
    {
        // Read through anchors, aliases and merge keys, as Kubernetes does;
        // a document that cannot be read so stays as it is (its workloads
        // are refused below, everything else passes through).
        let aliased = doc.uses_aliases;
        let doc = match doc.uses_aliases.then(|| resolve(doc)) {
            Some(Ok(read)) => std::borrow::Cow::Owned(read),
            _ => std::borrow::Cow::Borrowed(doc),
        };
        let root = &doc.root;
        let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
        let first_workload = inv.workloads.len();
        if kind.ends_with("List") {
            for (i, item) in root
                .get("items")
                .and_then(Node::items)
                .into_iter()
                .flatten()
                .enumerate()
            {
                read_object(inv, problems, &doc, di, Some(i), item, selector);
            }
        } else {
            read_object(inv, problems, &doc, di, None, root, selector);
        }
        if aliased {
            for w in &mut inv.workloads[first_workload..] {
                w.pod.repos_env = true;
            }
        }
        // go-yaml's extra line breaks inside quoted strings (the driver
        // refuses them elsewhere): Kubernetes folds them into the value,
        // this tool does not, so a workload holding one cannot be proven.
        if inv.workloads.len() > first_workload
            && let Some(at) = first_go_yaml_break(&text[info.region_start..info.region_end])
        {
            let pos = info.region_start + at;
            let (line, col) = line_col(text, pos);
            let c = text[pos..].chars().next().map_or(0, |c| c as u32);
            for w in first_workload..inv.workloads.len() {
                if problems.iter().any(|(i, _)| *i == w) {
                    continue; // one problem a workload
                }
                problems.push((
                    w,
                    InputError::from(format!(
                        "{}, line {line} column {col}: U+{c:04X} inside a quoted string of a \
                         workload: Kubernetes (go-yaml) reads it as a line break and folds it \
                         into the value, polyrepo-render reads it as a character, so the change \
                         cannot be proven; write it as an escape in a double-quoted string \
                         (\\L, \\P, \\N) or remove it",
                        doc.label()
                    )),
                ));
            }
            problems.sort_by_key(|(i, _)| *i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{scan, tree::Trees};

    const API: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels: &l {app: api, type: polyaxon-core}\nspec:\n  replicas: 3\n  selector: {matchLabels: *l}\n  template:\n    metadata: {labels: *l}\n    spec:\n      containers:\n      - &c {name: api, image: x, volumeMounts: [{name: repos, mountPath: /repos}]}\n      - {<<: *c, name: side}\n      volumes:\n      - {name: repos, hostPath: {path: /r}}\n";
    const OTHER: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nginx}\nspec:\n  selector: {matchLabels: {app: n}}\n  template:\n    metadata: {labels: {app: n}}\n    spec: {containers: [{name: n, image: n}]}\n";

    fn read_text(text: &str) -> Result<Inventory, InputError> {
        let infos = scan(text).unwrap();
        read(
            text,
            &infos,
            Trees::OnDemand,
            &Settings::default(),
            Vec::new(),
        )
    }

    #[test]
    fn polyaxon_workloads_are_read_through_their_aliases_and_others_are_left_out() {
        let inv = read_text(&format!("{API}{OTHER}")).unwrap();
        assert_eq!(inv.workloads.len(), 1, "nginx is not Polyaxon's");
        let w = &inv.workloads[0];
        assert_eq!((w.name.as_str(), w.replicas), ("api", 3));
        assert!(
            w.pod
                .labels
                .contains(&("type".into(), "polyaxon-core".into())),
            "the pod labels come from an alias"
        );
        let v = w.repos_volume().expect("the repos volume");
        assert_eq!(v.host_path.as_ref().map(|(p, _)| p.as_str()), Some("/r"));
    }

    /// What the validating pass reads while it holds the trees, on any
    /// number of threads (pieces numbered on their own, then placed), is
    /// what reading each tree afterwards gives: the same objects, with the
    /// same document, line and location, and the same first problem.
    #[test]
    fn reading_in_the_validating_pass_is_reading_each_tree_afterwards() {
        use crate::yaml::scan::{NoVisit, scan_parallel};
        let guarded = OTHER.replace("nginx", "web").replace(
            "{name: n, image: n}",
            "{name: n, image: n, ports: [{containerPort: 80, hostPort: 80}]}",
        );
        let config = "---\n# Source: c/config.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {POLYAXON_TYPE_LABELS_CORE: polyaxon-core}\n";
        let plain = API
            .replace(
                "&l {app: api, type: polyaxon-core}",
                "{app: api, type: polyaxon-core}",
            )
            .replace("*l", "{app: api}")
            .replace("&c ", "")
            .replace("{<<: *c, name: side}", "{name: side, image: y}");
        let claim = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: repos}\nspec: {accessModes: [ReadWriteOnce]}\n";
        let list = format!(
            "---\n# Source: c/list.yaml\napiVersion: v1\nkind: List\nitems:\n- {}\n",
            plain
                .trim_start_matches("---\n")
                .replace("name: api", "name: listed")
                .replace('\n', "\n  ")
                .trim_end()
        );
        let mut text = String::new();
        for i in 0..12 {
            let source = format!("# Source: c/t{i}.yaml\n");
            // A Service's tree is dropped at its kind; so is that of a
            // document whose kind is repeated, read again afterwards.
            let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n";
            let twice = OTHER.replace("kind: Deployment", "kind: Service\nkind: Deployment");
            for d in [
                API, OTHER, &guarded, config, &plain, claim, &list, service, &twice,
            ] {
                let named = d.replace("name: api", &format!("name: api{i}"));
                text += &named.replacen("---\n", &format!("---\n{source}"), 1);
            }
        }
        let keep = |t: &str, i: &DocInfo| may_matter(t, i);
        let s = Settings::default();
        let shown = |r: Result<Inventory, InputError>| match r {
            Ok(inv) => format!(
                "{:?}\n{:?}\n{:?}",
                inv.workloads, inv.claims, inv.core_types
            ),
            Err(e) => e.to_string(),
        };
        let broken = text.replacen(
            "\nspec:\n  replicas: 3\n",
            "\nspec:\n  replicas: 3\n  replicas: 4\n",
            20,
        );
        for (text, least) in [(&text, 12 * 5), (&broken, 12)] {
            let infos = scan_parallel(text, 1, &keep, &NoVisit).unwrap().0;
            let want = shown(read(text, &infos, Trees::OnDemand, &s, Vec::new()));
            assert!(want.contains("line"), "{want}");
            for threads in [1, 2, 3, 8] {
                let reader = Reader { settings: &s };
                let (infos, pre) = scan_parallel(text, threads, &keep, &reader).unwrap();
                assert!(pre.iter().flatten().count() >= least, "read in the pass");
                let got = shown(read(text, &infos, Trees::OnDemand, &s, pre));
                assert_eq!(got, want, "{threads} threads");
            }
        }
    }

    #[test]
    fn a_polyaxon_workload_with_a_repeated_key_is_refused_with_its_place() {
        let text = API.replace("  replicas: 3\n", "  replicas: 3\n  replicas: 4\n");
        let e = read_text(&text).unwrap_err();
        assert!(
            e.message.contains("appears twice") && e.message.contains("line 9"),
            "{e}"
        );
    }

    #[test]
    fn a_merge_of_a_non_mapping_is_refused_as_kubernetes_would() {
        let text = API.replace("{<<: *c, name: side}", "{<<: [1], name: side}");
        let e = read_text(&text).unwrap_err();
        assert!(e.message.contains("merge key"), "{e}");
    }
}
