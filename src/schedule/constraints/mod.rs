//! Where a pod may run: the node constraints of a pod spec (NodeName and
//! NodeAffinity, as the scheduler's filters read them) and the matching of
//! pod-affinity terms and label selectors.
//!
//! Questions are answered about *some* cluster: a node is assumed to carry
//! whatever labels a pod asks for unless what is known of it (its hostname
//! label or its name) says otherwise.
//!
//! - `node.rs`: a pod's node constraint (NodeName, nodeSelector and the
//!   required node-affinity terms), what it admits, pins and leaves open,
//!   and whether several can hold on one node;
//! - `terms.rs`: pod-affinity terms and label selectors: which pods a term
//!   selects, in which namespaces, and the keys a controller adds.
//!
//! It imports the inventory's pod summary and the Kubernetes vocabulary;
//! nothing of planning or patching.

mod node;
mod terms;

pub(crate) use node::{NodeConstraint, jointly_satisfiable, term_is_empty};
pub(crate) use terms::{
    Maybe, Within, affinity_terms, anti_affinity_terms, keyed, selector_matches,
    term_covers_namespace, term_keys, term_selects,
};
