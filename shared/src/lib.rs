//! The internal library every gitops-toolkit tool is built on. Tools never depend on each other;
//! what two of them need lives here. A tour:
//!
//! - [`manifest`]: streams of Kubernetes objects — reading YAML/JSON from files, directories and
//!   stdin with file:line positions, identities, kustomize's output order, writing YAML/JSON.
//! - [`envsubst`]: Flux postBuild `${VAR}` substitution.
//! - [`k8s_schema`]: scopes and strategic-merge keys of built-in kinds, generated from the
//!   Kubernetes API's OpenAPI document.
//! - [`image`]: which fields of an object hold image references (pin, provenance, kustomize).
//! - [`naming`]: file names for one file per object (`group.version.Kind.namespace.name.yaml`).
//! - [`digest`]: `sha256:` digests of objects and streams that ignore formatting and key order.
//! - [`atomic`]: files and directories written so that a failure leaves nothing half-written.
//! - [`error`] and [`exit`]: typed errors with file positions, and the exit codes.
//! - [`cli`]: the one entry point of every binary.
//! - [`scrub`]: the secret scrubber every error and log line passes through.
//!
//! Heavier parts sit behind features so that a tool only pays for what it uses: `git` (gix),
//! `registry` (oci-client), `cluster` (kube).

pub mod atomic;
pub mod cli;
pub mod digest;
pub mod envsubst;
pub mod error;
pub mod exit;
pub mod image;
pub mod k8s_schema;
pub mod manifest;
pub mod naming;
pub mod scrub;
pub mod yaml;

#[cfg(feature = "cluster")]
pub mod cluster;
#[cfg(feature = "git")]
pub mod git;
#[cfg(feature = "registry")]
pub mod registry;

pub use digest::Digest;
pub use error::{Error, Location, Result};
pub use exit::Outcome;
pub use manifest::{Identity, Object, Source};
