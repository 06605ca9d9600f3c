//! polyrepo-render: a Helm post-renderer that sets Polyaxon's `repos` volume
//! and keeps every pod that shares a single-node volume on one node.
pub mod node;
pub mod stream;
pub mod yaml11;
pub mod config;
pub mod emit;
