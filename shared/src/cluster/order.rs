//! The order objects are applied in, as Flux's kustomize-controller stages them
//! (fluxcd/pkg `ssa.ApplyAllStaged`): first the definitions other objects depend on
//! (CustomResourceDefinitions, Namespaces and ClusterRoles — the caller waits for CRDs to be
//! Established before going on), then the cluster-wide `*Class` kinds (StorageClass,
//! IngressClass, GatewayClass, …) that objects of the last stage refer to, then everything
//! else. Within a stage the input order is kept: the rendered stream already comes in
//! kustomize's order, and a stable order keeps output and diffs deterministic.
//!
//! Deletion (prune) goes the other way round, so that a Namespace or a CRD is removed only
//! after the objects inside it.

use serde_json::Value;

use super::{str_at, ObjectKey};
use crate::manifest::split_api_version;

/// One of the three apply stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// CustomResourceDefinitions, Namespaces, ClusterRoles.
    Definitions,
    /// Kinds whose name ends in `Class`.
    Classes,
    /// Everything else.
    Resources,
}

impl Stage {
    /// The stage an object of this group and kind is applied in.
    pub fn of(group: &str, kind: &str) -> Stage {
        let definition = matches!(
            (group, kind),
            ("apiextensions.k8s.io", "CustomResourceDefinition")
                | ("", "Namespace")
                | ("rbac.authorization.k8s.io", "ClusterRole")
        );
        if definition {
            Stage::Definitions
        } else if kind.ends_with("Class") {
            Stage::Classes
        } else {
            Stage::Resources
        }
    }

    /// The stage of an object value.
    pub fn of_object(obj: &Value) -> Stage {
        let (group, _) = split_api_version(str_at(obj, &["apiVersion"]).unwrap_or(""));
        Stage::of(group, str_at(obj, &["kind"]).unwrap_or(""))
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Definitions => "definitions",
            Stage::Classes => "classes",
            Stage::Resources => "resources",
        }
    }
}

/// Splits objects into their apply stages: the non-empty stages in order, each with the
/// indices of its objects in input order.
pub fn stages<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Vec<(Stage, Vec<usize>)> {
    let mut buckets: [Vec<usize>; 3] = Default::default();
    for (i, obj) in objects.into_iter().enumerate() {
        buckets[Stage::of_object(obj) as usize].push(i);
    }
    [Stage::Definitions, Stage::Classes, Stage::Resources]
        .into_iter()
        .zip(buckets)
        .filter(|(_, items)| !items.is_empty())
        .collect()
}

/// Sorts keys into deletion order: the reverse of the apply stages, keeping the given order
/// within a stage.
pub fn sort_for_deletion(keys: &mut [ObjectKey]) {
    keys.sort_by_key(|k| std::cmp::Reverse(Stage::of(&k.group, &k.kind)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api_version: &str, kind: &str, name: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
    }

    #[test]
    fn definitions_then_classes_then_the_rest_stable_within_a_stage() {
        let objects = [
            obj("apps/v1", "Deployment", "web"),
            obj("example.com/v1", "Widget", "w"),
            obj("v1", "Namespace", "b"),
            obj("storage.k8s.io/v1", "StorageClass", "fast"),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "widgets.example.com",
            ),
            obj("v1", "Namespace", "a"),
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
            obj("networking.k8s.io/v1", "IngressClass", "nginx"),
            obj("v1", "ConfigMap", "cfg"),
        ];
        let plan = stages(&objects);
        assert_eq!(
            plan,
            vec![
                (Stage::Definitions, vec![2, 4, 5, 6]),
                (Stage::Classes, vec![3, 7]),
                (Stage::Resources, vec![0, 1, 8]),
            ]
        );
    }

    #[test]
    fn look_alikes_are_not_definitions() {
        // A CRD-named kind in another group, or a namespace kind of a custom API, is an
        // ordinary resource; only the real built-ins gate the later stages.
        assert_eq!(Stage::of("example.com", "Namespace"), Stage::Resources);
        assert_eq!(
            Stage::of("example.com", "CustomResourceDefinition"),
            Stage::Resources
        );
        assert_eq!(
            Stage::of("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            Stage::Resources
        );
        assert_eq!(
            Stage::of("gateway.networking.k8s.io", "GatewayClass"),
            Stage::Classes
        );
        assert_eq!(Stage::of("", "Class"), Stage::Classes);
    }

    #[test]
    fn empty_stages_are_left_out() {
        let objects = [obj("v1", "ConfigMap", "a")];
        assert_eq!(stages(&objects), vec![(Stage::Resources, vec![0])]);
        assert!(stages(&[]).is_empty());
    }

    #[test]
    fn deletion_runs_the_stages_backwards() {
        let mut keys = vec![
            ObjectKey::new("", "Namespace", "", "team"),
            ObjectKey::new("apps", "Deployment", "team", "web"),
            ObjectKey::new("storage.k8s.io", "StorageClass", "", "fast"),
            ObjectKey::new("", "ConfigMap", "team", "cfg"),
        ];
        sort_for_deletion(&mut keys);
        let shown: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            shown,
            [
                "Deployment/team/web",
                "ConfigMap/team/cfg",
                "StorageClass/fast",
                "Namespace/team"
            ]
        );
    }
}
