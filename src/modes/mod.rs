//! The ways in besides Helm's post-renderer (which `main` drives): an Argo
//! CD config-management plugin (`argocd`), a KRM function for kustomize and
//! kpt (`krm`), and patches for kustomize and Flux (`kustomize`).
//!
//! Each wraps the pipeline through the library's public surface (`render`,
//! `strict_check`, `Failure`, `report`, `config`, `yaml`, `edit`, `emit`,
//! `k8s`) and nothing else, so that a way in cannot change what the pipeline
//! decides: every `crate::` path here is public all the way down
//! (`tests/architecture.rs`).

pub mod argocd;
pub mod krm;
pub mod kustomize;
