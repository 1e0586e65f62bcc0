//! The `crds:` field as kustomize (v5.8, `LoadConfigFromCRDs`) reads it: each file is a map of
//! Go-style OpenAPI definitions (`{"pkg/path.Kind": {"Schema": {…}, "Dependencies": […]}}`, the
//! output of openapi-gen), not CustomResourceDefinition YAML. Every definition that looks like a
//! Kubernetes type (it has `apiVersion`, `kind` and `metadata` properties) is walked through its
//! properties and `$ref`s, and the extensions found become transformer field specs for that kind:
//! `x-kubernetes-object-ref-api-version` + `x-kubernetes-object-ref-kind` (and optional
//! `x-kubernetes-object-ref-name-key`) a name reference, `x-kubernetes-annotation` an annotations
//! field, `x-kubernetes-label-selector` a commonLabels field, `x-kubernetes-identity` a prefix
//! field. kustomize takes no merge keys from these files; neither does this engine.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::fieldspec::{Config, FieldSpec, NameBackRefs};
use crate::Error;

/// The transformer config that one `crds:` file gives.
pub fn config(name: &Arc<str>, text: &str) -> Result<Config, Error> {
    let bad = |why: &str| {
        Error::Invalid(format!(
            "{name}: unable to parse open API definition from '{name}': {why}"
        ))
    };
    let mut doc = None;
    for d in gitops::manifest::split_documents(text) {
        if let Some(v) = gitops::manifest::parse_document(&d, name)? {
            doc = Some(v);
            break;
        }
    }
    let Some(Value::Object(defs)) = doc else {
        return Err(bad("not a map of OpenAPI definitions"));
    };
    // Go's encoding/json decodes each value into {Schema, Dependencies}: anything else fails.
    let mut schemas = Map::new();
    for (type_name, def) in &defs {
        let Value::Object(def) = def else {
            return Err(bad(&format!(
                "{type_name}: cannot unmarshal {} into an OpenAPI definition",
                json_type(def)
            )));
        };
        let schema = def
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schema"))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Object(Map::new()));
        schemas.insert(type_name.clone(), schema);
    }
    let mut out = Config::default();
    for (type_name, schema) in &schemas {
        let props = schema.get("properties").and_then(Value::as_object);
        let looks_like_type = props.is_some_and(|p| {
            p.contains_key("kind") && p.contains_key("apiVersion") && p.contains_key("metadata")
        });
        if !looks_like_type {
            continue;
        }
        // kustomize names the kind after the type name's last dotted part, with no group or
        // version.
        let kind = type_name.rsplit('.').next().unwrap_or(type_name);
        let mut seen = Vec::new();
        walk(
            &schemas,
            type_name,
            kind,
            &mut Vec::new(),
            &mut out,
            &mut seen,
        );
    }
    Ok(out)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

/// kustomize's `loadCrdIntoConfig`: the properties of `type_name`, recursing through `$ref`s
/// (`seen` stops a recursive type, which kustomize would follow forever).
fn walk(
    schemas: &Map<String, Value>,
    type_name: &str,
    kind: &str,
    path: &mut Vec<String>,
    out: &mut Config,
    seen: &mut Vec<String>,
) {
    let Some(props) = schemas
        .get(type_name)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    if seen.iter().any(|s| s == type_name) {
        return;
    }
    seen.push(type_name.to_owned());
    let spec = |path: &[String]| FieldSpec::new("", "", kind, &path.join("/"), false);
    for (prop, schema) in props {
        path.push(prop.clone());
        let ext = |k: &str| schema.get(k).and_then(Value::as_str);
        if ext("x-kubernetes-annotation").is_some() {
            out.common_annotations.push(spec(path));
        }
        if ext("x-kubernetes-label-selector").is_some() {
            out.common_labels.push(spec(path));
        }
        if ext("x-kubernetes-identity").is_some() {
            out.name_prefix.push(spec(path));
        }
        if let (Some(version), Some(target)) = (
            ext("x-kubernetes-object-ref-api-version"),
            ext("x-kubernetes-object-ref-kind"),
        ) {
            let key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut at = path.clone();
            at.push(key.to_owned());
            out.name_reference.push(NameBackRefs {
                group: String::new(),
                version: version.to_owned(),
                kind: target.to_owned(),
                referrers: vec![spec(&at)],
            });
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            walk(schemas, r, kind, path, out, seen);
        }
        path.pop();
    }
    seen.pop();
}
