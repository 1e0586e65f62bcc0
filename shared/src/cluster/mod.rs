//! Talking to a Kubernetes cluster, in the shape of kube-rs's `examples/kubectl.rs`: a client
//! from a kubeconfig (or the pod's service account), discovery that maps every kind to its
//! resource and scope, and one `Api<DynamicObject>` per object for server-side apply, dry-run,
//! get, list, delete and the ApplySet parent.
//!
//! The module is split the way our style asks for cluster code: a thin asynchronous adapter
//! ([`Cluster`], [`connect`], [`discovery`], [`retry`]) that does I/O and nothing clever, and pure
//! planners that decide without I/O and are unit-tested without a server:
//!
//! - [`order`]: the stages objects are applied in (kustomize-controller's);
//! - [`applyset`]: the ApplySet inventory kubectl understands (ids, labels, annotations);
//! - [`prune`]: which members may be deleted, with the safety rules;
//! - [`health`]: kstatus's Current / InProgress / Failed for a live object;
//! - [`compare`]: a dry-run result against the live object, noise removed, with ignore rules.
//!
//! Objects are `serde_json::Value`s throughout, as in [`crate::manifest`], so tools never handle
//! kube types. Every error is a [`ClusterError`]: one line, naming the object as
//! `Kind/namespace/name` and carrying the server's message, never a credential.

pub mod applyset;
pub mod compare;
pub mod connect;
pub mod discovery;
pub mod health;
pub mod order;
pub mod prune;
pub mod retry;

mod api;
mod error;

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use crate::manifest::{split_api_version, Identity};

pub use api::{
    ApplyOptions, Cluster, DeleteOptions, Deletion, Freshness, ParentWrite, Propagation,
};
pub use connect::{ClusterArgs, ConnectOptions, InCluster};
pub use discovery::{Discovery, Resource};
pub use error::{ClusterError, Result};
pub use retry::RetryPolicy;

/// A kind without its version: what the ApplySet annotations and RBAC speak of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKind {
    /// Empty for the core group.
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        GroupKind {
            group: group.into(),
            kind: kind.into(),
        }
    }

    /// Parses kubectl's `Kind.group` form (`Deployment.apps`, `Secret`); the kind is everything
    /// before the first dot, as `schema.ParseGroupKind` has it.
    pub fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((kind, group)) => GroupKind::new(group, kind),
            None => GroupKind::new("", text),
        }
    }
}

impl fmt::Display for GroupKind {
    /// `Kind.group`, or `Kind` for the core group (`schema.GroupKind.String()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// An object's identity without its version: two versions of one kind name the same object,
/// which is what inventories and prune decisions must compare.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(
        group: impl Into<String>,
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`).
    pub fn of(obj: &Value) -> Self {
        let (group, _) = split_api_version(str_at(obj, &["apiVersion"]).unwrap_or(""));
        ObjectKey::new(
            group,
            str_at(obj, &["kind"]).unwrap_or(""),
            str_at(obj, &["metadata", "namespace"]).unwrap_or(""),
            str_at(obj, &["metadata", "name"]).unwrap_or(""),
        )
    }

    pub fn from_identity(id: &Identity) -> Self {
        ObjectKey::new(&id.group, &id.kind, &id.namespace, &id.name)
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    /// Flux's inventory entry id, `namespace_name_group_kind`: unambiguous because none of the
    /// four parts may contain `_`.
    pub fn inventory_id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace, self.name, self.group, self.kind
        )
    }

    /// Parses [`ObjectKey::inventory_id`]'s form.
    pub fn parse_inventory_id(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('_').collect();
        match parts.as_slice() {
            [namespace, name, group, kind] if !name.is_empty() && !kind.is_empty() => {
                Some(ObjectKey::new(*group, *kind, *namespace, *name))
            }
            _ => None,
        }
    }
}

impl Ord for ObjectKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.group, &self.kind, &self.namespace, &self.name).cmp(&(
            &other.group,
            &other.kind,
            &other.namespace,
            &other.name,
        ))
    }
}

impl PartialOrd for ObjectKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ObjectKey {
    /// `Kind/namespace/name` or `Kind/name`, as errors name objects.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The identity (with version) of an object value.
pub fn identity_of(obj: &Value) -> Identity {
    let (group, version) = split_api_version(str_at(obj, &["apiVersion"]).unwrap_or(""));
    Identity {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: str_at(obj, &["kind"]).unwrap_or("").to_owned(),
        namespace: str_at(obj, &["metadata", "namespace"])
            .unwrap_or("")
            .to_owned(),
        name: str_at(obj, &["metadata", "name"]).unwrap_or("").to_owned(),
    }
}

/// The string at a path of object keys, if every step exists.
pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(obj, path)?.as_str()
}

pub(crate) fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut v = obj;
    for key in path {
        v = v.get(key)?;
    }
    Some(v)
}

/// A label of an object.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    str_at(obj, &["metadata", "labels", key])
}

/// An annotation of an object.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    str_at(obj, &["metadata", "annotations", key])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_kind_round_trips_kubectl_form() {
        assert_eq!(
            GroupKind::parse("Deployment.apps").to_string(),
            "Deployment.apps"
        );
        assert_eq!(GroupKind::parse("Secret"), GroupKind::new("", "Secret"));
        assert_eq!(
            GroupKind::parse("Certificate.cert-manager.io"),
            GroupKind::new("cert-manager.io", "Certificate")
        );
    }

    #[test]
    fn object_key_of_value_and_inventory_id() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "web", "namespace": "prod"}});
        let key = ObjectKey::of(&obj);
        assert_eq!(key.to_string(), "Deployment/prod/web");
        assert_eq!(key.inventory_id(), "prod_web_apps_Deployment");
        assert_eq!(
            ObjectKey::parse_inventory_id("prod_web_apps_Deployment"),
            Some(key)
        );
        let ns = ObjectKey::parse_inventory_id("_team-a__Namespace").expect("cluster-scoped");
        assert_eq!(ns.to_string(), "Namespace/team-a");
        assert_eq!(ObjectKey::parse_inventory_id("a_b_c"), None);
        assert_eq!(ObjectKey::parse_inventory_id("ns__apps_Deployment"), None);
    }
}
