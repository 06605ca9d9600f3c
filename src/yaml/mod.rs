//! Bytes ↔ documents, exactly: the YAML layer.
//!
//! Data flow, one file per step: `source` checks the bytes are UTF-8 and
//! knows where a document came from; `events` drives saphyr-parser (which
//! agrees with the full YAML test suite) and pushes exact, checked events
//! into a sink: `tree` builds span-aware [`Node`] trees, `summary`
//! describes documents without trees, and `scan` is the validating pass
//! (on several threads for large inputs) that feeds the summary and, for a
//! reader of documents, one tree at a time. `spans` holds the byte arithmetic both rely on, `typing`
//! how Kubernetes types a scalar (YAML 1.1, go-yaml v2), `node` the tree
//! and its JSON reading, `resolve` a tree read through its anchors,
//! aliases and merge keys. `document` holds what comes out.
//!
//! Nothing is ever re-serialised from a tree: output is the input with a
//! few byte ranges replaced (see `crate::edit`), so every document the
//! tool does not change comes out byte for byte.
//!
//! It imports the Kubernetes vocabulary, the thread helper and the values
//! kept once (`shared`); nothing of what it reads (`tests/architecture.rs`).

pub(crate) mod document;
pub(crate) mod events;
pub(crate) mod node;
pub(crate) mod resolve;
pub(crate) mod scan;
pub(crate) mod source;
pub(crate) mod spans;
pub(crate) mod summary;
pub(crate) mod tree;
pub(crate) mod typing;

pub use document::{DocInfo, Document, Stream};
pub use node::{Node, NodeKind, to_json};
pub use scan::scan;
pub use source::{SyntaxError, shown};
pub use tree::parse;
