//! `namespace`: sets the namespace of every namespaced resource, renames Namespace objects,
//! and updates RoleBinding/ClusterRoleBinding subjects the way kustomize does (only subjects
//! named `default` are forced into the new namespace; ServiceAccounts that moved are followed by
//! the name reference step).

use gitops::manifest::Scopes;
use serde_json::Value;

use super::super::fieldspec::{walk, FieldSpec};
use super::super::resource::Res;

/// The NamespaceTransformer plugin's `setRoleBindingSubjects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subjects {
    /// Subjects named `default` (the `namespace` field's behaviour).
    DefaultOnly,
    None,
    /// Every ServiceAccount subject.
    AllServiceAccounts,
}

/// The NamespaceTransformer plugin: `metadata.namespace` of every namespaced resource (always,
/// as kustomize's filter does), role binding subjects by `subjects`, then the configuration's
/// own field specs (creating the field where they say so); with `unset_only`, only fields that
/// hold no namespace yet.
pub fn apply_plugin(
    resources: &mut [Res],
    namespace: &str,
    specs: &[FieldSpec],
    unset_only: bool,
    subjects: Subjects,
    scopes: &Scopes,
) {
    let set = |v: &mut Value| {
        let empty = match v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if !unset_only || empty {
            *v = Value::String(namespace.to_owned());
        }
    };
    for res in resources.iter_mut().filter(|r| !r.helm_generated) {
        res.store_previous_id();
        let kind = res.kind().to_owned();
        let group = res.group().to_owned();
        let version = res.version().to_owned();
        if !scopes.is_cluster_scoped(&group, &kind) {
            let mut current = res
                .obj
                .namespace()
                .map_or(Value::Null, |n| Value::String(n.to_owned()));
            set(&mut current);
            if let Value::String(ns) = current {
                res.obj.set_namespace(&ns);
            }
        }
        let is_binding = (kind == "RoleBinding" || kind == "ClusterRoleBinding")
            && group == "rbac.authorization.k8s.io";
        if is_binding && subjects != Subjects::None {
            if let Some(Value::Array(list)) = res.obj.value.get_mut("subjects") {
                for s in list.iter_mut() {
                    let Value::Object(m) = s else { continue };
                    let pick = match subjects {
                        Subjects::DefaultOnly => {
                            m.get("name").and_then(Value::as_str) == Some("default")
                        }
                        _ => m.get("kind").and_then(Value::as_str) == Some("ServiceAccount"),
                    };
                    if pick {
                        let mut v = m.get("namespace").cloned().unwrap_or(Value::Null);
                        set(&mut v);
                        m.insert("namespace".to_owned(), v);
                    }
                }
            }
        }
        for fs in specs {
            let path = fs.path.join("/");
            if path == "metadata/namespace"
                || (is_binding && fs.path.first().is_some_and(|p| p == "subjects"))
            {
                continue;
            }
            if !fs.selects_gvk(&group, &version, &kind) {
                continue;
            }
            if path == "metadata/name" {
                // Only Namespace objects of the core group are renamed.
                if kind == "Namespace" && group.is_empty() && version == "v1" {
                    let mut v = Value::String(res.name().to_owned());
                    set(&mut v);
                    if let Value::String(n) = v {
                        res.set_name(&n);
                    }
                }
                continue;
            }
            let _ = walk::<()>(&mut res.obj.value, &fs.path, fs.create, &mut |v| {
                set(v);
                Ok(())
            });
        }
    }
}

pub fn apply(resources: &mut [Res], namespace: &str, scopes: &Scopes) {
    for res in resources.iter_mut().filter(|r| !r.helm_generated) {
        res.store_previous_id();
        let kind = res.kind().to_owned();
        let group = res.group().to_owned();
        if !scopes.is_cluster_scoped(&group, &kind) {
            res.obj.set_namespace(namespace);
        }
        if kind == "Namespace" && group.is_empty() {
            res.set_name(namespace);
        }
        if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
            && group == "rbac.authorization.k8s.io"
        {
            if let Some(Value::Array(subjects)) = res.obj.value.get_mut("subjects") {
                for s in subjects.iter_mut() {
                    if let Value::Object(m) = s {
                        if m.get("name").and_then(Value::as_str) == Some("default") {
                            m.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
                        }
                    }
                }
            }
        }
        if kind == "APIService" && group == "apiregistration.k8s.io" {
            if let Some(Value::Object(svc)) = res.obj.value.pointer_mut("/spec/service") {
                svc.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
            }
        }
        if kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io" {
            if let Some(Value::Object(svc)) = res
                .obj
                .value
                .pointer_mut("/spec/conversion/webhook/clientConfig/service")
            {
                if svc.contains_key("namespace") {
                    svc.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
                }
            }
        }
    }
}

/// The `namespace` field's added field specs (`configurations:`): the namespace is set at each
/// (created where a spec says so), after the built-in handling.
pub fn apply_extra(resources: &mut [Res], namespace: &str, specs: &[FieldSpec]) {
    if specs.is_empty() {
        return;
    }
    for res in resources.iter_mut().filter(|r| !r.helm_generated) {
        let (group, version, kind) = (
            res.group().to_owned(),
            res.version().to_owned(),
            res.kind().to_owned(),
        );
        for fs in specs
            .iter()
            .filter(|fs| fs.selects_gvk(&group, &version, &kind))
        {
            let _ = walk::<()>(&mut res.obj.value, &fs.path, fs.create, &mut |v| {
                *v = Value::String(namespace.to_owned());
                Ok(())
            });
        }
    }
}
