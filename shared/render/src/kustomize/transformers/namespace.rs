//! `namespace`: sets the namespace of every namespaced resource, renames Namespace objects,
//! and updates RoleBinding/ClusterRoleBinding subjects the way kustomize does (only subjects
//! named `default` are forced into the new namespace; ServiceAccounts that moved are followed by
//! the name reference step).

use gitops::manifest::Scopes;
use serde_json::Value;

use super::super::resource::Res;

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
