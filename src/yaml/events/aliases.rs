//! The alias budget, as go-yaml v2 keeps it: how many nodes a document
//! stands for once its aliases are expanded, and the share of them that may
//! come through aliases.

use super::ALIAS_BUDGET;
use std::collections::HashMap;

/// Expanded sizes (what a document stands for once aliases are expanded):
/// of each open collection, and of each anchor.
#[derive(Default)]
pub(super) struct Sizes {
    open: Vec<u64>,
    anchors: HashMap<usize, u64>,
    root: u64,
}

impl Sizes {
    /// True when the anchor `id` names a complete node of this document.
    pub(super) fn complete(&self, id: usize) -> bool {
        self.anchors.contains_key(&id)
    }

    /// A collection opens: it stands for one node so far.
    pub(super) fn open(&mut self) {
        self.open.push(1);
    }

    /// The innermost open collection closes: what it stands for.
    pub(super) fn close(&mut self) -> u64 {
        self.open.pop().unwrap_or(1)
    }

    /// What the alias of anchor `id` stands for.
    pub(super) fn alias(&self, id: usize) -> u64 {
        self.anchors.get(&id).copied().unwrap_or(1)
    }

    /// A node of `size` is complete (anchored as `anchor`, 0 for none):
    /// false when the document now stands for too many nodes.
    pub(super) fn add(&mut self, size: u64, anchor: usize) -> bool {
        if anchor != 0 {
            self.anchors.insert(anchor, size);
        }
        let total = match self.open.last_mut() {
            Some(parent) => parent,
            None => &mut self.root,
        };
        *total = total.saturating_add(size);
        *total <= ALIAS_BUDGET
    }
}

/// go-yaml v2's guard against alias bombs (decode.go, `allowedAliasRatio`),
/// which Kubernetes inherits: once more than 100 of more than 1,000 decoded
/// nodes came through aliases, their share may be at most 99% up to 400,000
/// decoded nodes, falling linearly to 10% at 4,000,000. It is checked as
/// each alias is read, as go-yaml checks while decoding.
pub(super) fn excessive_aliasing(decoded: u64, through_aliases: u64) -> bool {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    if through_aliases <= 100 || decoded <= 1000 {
        return false;
    }
    let d = decoded as f64;
    let allowed = if d <= LOW {
        0.99
    } else if d >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((d - LOW) / (HIGH - LOW))
    };
    through_aliases as f64 / d > allowed
}
