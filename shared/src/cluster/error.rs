//! The errors of the cluster layer. Each is one line that names the object (`Kind/namespace/name`)
//! and carries the server's own message, so a tool prints it once as `tool: error: …`.
//!
//! Messages are built from the API server's `Status.message` (or a short description of a
//! transport failure), never from kube's `Debug` output, and never contain a request header:
//! a bearer token cannot reach them.

use crate::exit;

/// A failure of the cluster layer, from the adapter or from a planner's safety rule.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig / service account, or it is malformed.
    #[error("cluster configuration: {message}")]
    Config { message: String },

    /// The server could not be reached (after retries): refused, reset, TLS, DNS, timeout.
    #[error("cannot reach the cluster at {server}: {message}")]
    Unreachable { server: String, message: String },

    /// The server serves no resource for the object's group/version/kind.
    #[error("{object}: the server has no resource for {api_version}, Kind={kind} (is its CRD installed?)")]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },

    /// The object is incomplete (no kind, no name).
    #[error("{object}: {message}")]
    BadObject { object: String, message: String },

    /// The object does not exist.
    #[error("{object}: not found")]
    NotFound { object: String },

    /// 409: a field-manager conflict on apply, a failed precondition (uid / resourceVersion), or
    /// an object created concurrently.
    #[error("{object}: conflict: {message}")]
    Conflict { object: String, message: String },

    /// 422 / 400: the server rejected the object (an immutable field, a schema violation).
    #[error("{object}: invalid: {message}")]
    Invalid { object: String, message: String },

    /// 401: the credentials were refused.
    #[error("{object}: unauthorized: {message}")]
    Unauthorized { object: String, message: String },

    /// 403: the credentials may not do this (RBAC).
    #[error("{object}: forbidden: {message}")]
    Forbidden { object: String, message: String },

    /// Any other answer of the server (429 or 5xx after retries included).
    #[error("{object}: the server answered {code}: {message}")]
    Api {
        object: String,
        code: u16,
        reason: String,
        message: String,
    },

    /// The request could not be made or its answer not read (not a server verdict).
    #[error("{object}: {message}")]
    Request { object: String, message: String },

    /// The ApplySet parent is not one we can use (someone else's, malformed, too large).
    #[error("ApplySet parent {parent}: {message}")]
    Inventory { parent: String, message: String },

    /// A prune safety rule refused the plan.
    #[error("refusing to prune: {message}")]
    PruneRefused { message: String },
}

impl ClusterError {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> u8 {
        exit::ERROR
    }

    /// True for a 409 of any kind (apply conflict, failed precondition, already exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ClusterError::Conflict { .. })
    }

    /// True when the server rejected the object as invalid (where immutable-field errors land).
    pub fn is_invalid(&self) -> bool {
        matches!(self, ClusterError::Invalid { .. })
    }

    /// True when the server refused to change a field that cannot change once set (a Job's
    /// template, a Deployment's selector, a Service's clusterIP): only recreating the object
    /// applies it. The message names the field.
    pub fn is_immutable(&self) -> bool {
        matches!(self, ClusterError::Invalid { message, .. }
            if message.contains("is immutable"))
    }
}

/// The cluster layer's result type.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// Collapses a message onto one line (servers put newlines in field-error lists).
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_object() {
        let err = ClusterError::Invalid {
            object: "Deployment/prod/web".into(),
            message: one_line("spec.selector: Invalid value\n  field is immutable\n"),
        };
        assert_eq!(
            err.to_string(),
            "Deployment/prod/web: invalid: spec.selector: Invalid value; field is immutable"
        );
        assert_eq!(err.exit_code(), 2);
        assert!(err.is_invalid() && err.is_immutable() && !err.is_conflict());
        let schema = ClusterError::Invalid {
            object: "Deployment/prod/web".into(),
            message: "spec.replicas: Invalid value: -1: must be greater than or equal to 0".into(),
        };
        assert!(schema.is_invalid() && !schema.is_immutable());
    }
}
