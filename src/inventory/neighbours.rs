//! The other workloads: those whose pods are not Polyaxon's, but may share
//! a node with a group. Which of them are read whole (the guarded ones,
//! whose text may keep pods off a node) and what is kept of the rest (the
//! Polyaxon pods' label values their text holds).

use super::*;

/// A workload document that is not a candidate (`select::is_candidate`):
/// its pods are not Polyaxon's, but may share a node with a group (their
/// labels, anti-affinity, spread constraints and host ports count).
pub(super) fn is_neighbour(info: &DocInfo) -> bool {
    info.api_version && info.kind.as_deref().and_then(WorkloadKind::parse).is_some()
}

/// The keys whose presence makes a neighbour [`guarded`].
const GUARDED_KEYS: [&str; 3] = ["podAntiAffinity", "hostPort", "hostNetwork"];

/// Whether a workload document that is not a candidate may keep other
/// pods off a node by itself (anti-affinity, a host port): read whole,
/// where the others are only searched for label values.
pub(super) fn guarded(text: &str, info: &DocInfo) -> bool {
    let t = &text.as_bytes()[info.region_start..info.region_end];
    GUARDED_KEYS
        .iter()
        .any(|k| memchr::memmem::find(t, k.as_bytes()).is_some())
}

/// Whether a document that lies within `text` and ends at or before the
/// first document marker (`---`) after `here` may be [`guarded`]: false
/// only when it cannot be.
pub(super) fn may_be_guarded(text: &str, here: usize) -> bool {
    let b = text.as_bytes();
    let mut end = b.len();
    let mut from = here.min(b.len());
    while let Some(at) = memchr::memmem::find(&b[from..], b"\n---") {
        let m = from + at + 1;
        if matches!(b.get(m + 3), None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
            end = m;
            break;
        }
        from = m;
    }
    GUARDED_KEYS
        .iter()
        .any(|k| memchr::memmem::find(&b[..end], k.as_bytes()).is_some())
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
    for &i in docs {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The search stops at the first document marker after where the scan
    /// stands, and only there: what lies beyond is another document's.
    #[test]
    fn a_neighbour_may_be_guarded_by_its_own_text_only() {
        let doc = "---
kind: D
metadata: {labels: {a: b}}
spec: {hostNetwork: true}
";
        let here = doc.find("metadata").unwrap();
        assert!(may_be_guarded(doc, here));
        // A key before where the scan stands counts too.
        assert!(may_be_guarded(doc, doc.len()));
        let next = "---
kind: D
metadata: {}
--- 
spec: {hostNetwork: true}
";
        assert!(!may_be_guarded(next, next.find("metadata").unwrap()));
        let ended = "kind: D
---
spec: {hostPort: 1}
";
        assert!(!may_be_guarded(ended, 0));
        // `---x` starts a scalar, not a document.
        let not_a_marker = "kind: D
---x: 1
hostPort: 1
";
        assert!(may_be_guarded(not_a_marker, 0));
    }
}
