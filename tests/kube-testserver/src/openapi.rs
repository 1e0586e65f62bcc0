//! A minimal OpenAPI v3 surface. kubectl 1.32 validates by asking the server: before apply or
//! create it reads `/openapi/v3` and the group-version document to see whether the PATCH
//! operation for the kind accepts the `fieldValidation` query parameter; if so it leaves
//! validation to the server and needs no schema. With a 404 it falls back to client-side
//! validation against `/openapi/v2` and fails ("failed to download openapi"). So we publish
//! per group-version documents with one PATCH operation per kind and no schemas: enough for
//! apply/create/diff, not for `kubectl explain`.

use std::hash::{Hash, Hasher};

use serde_json::{json, Map, Value};

use crate::discovery::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn group_versions(reg: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in reg.types() {
        let gv = (t.group.clone(), t.version.clone());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// `/openapi/v3`: the index of group-version documents.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, v) in group_versions(reg) {
        let doc = group_version(reg, &g, &v).unwrap_or(Value::Null);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        doc.to_string().hash(&mut h);
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/apis/GROUP/VERSION` (or `api/v1`).
pub fn group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
        .iter()
        .map(|n| json!({"name": n, "in": "query", "schema": {"type": if *n == "force" { "boolean" } else { "string" }}, "uniqueItems": true}))
        .collect();
    for t in reg
        .types()
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let base = format!("/{}", gv_path(group, version));
        let p = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{base}/{}/{{name}}", t.plural)
        };
        paths.insert(p, json!({"patch": {
            "operationId": format!("patch{}", t.kind),
            "parameters": params,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": t.kind},
        }}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}
