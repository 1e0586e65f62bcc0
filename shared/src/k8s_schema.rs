//! The Kubernetes API schema facts that rendering needs, taken from the API definitions instead
//! of hand-kept tables: which kinds are cluster-scoped, and for every field of every built-in
//! kind, how a strategic-merge patch treats it (`x-kubernetes-patch-strategy`,
//! `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`).
//!
//! The built-in schema is `k8s_schema.json`, generated from the real kube-apiserver's
//! `/openapi/v2` document and its discovery by `tests/tests/k8s_schema.rs` (which also fails when
//! the committed file is stale). [`compact`] is the one converter from an OpenAPI v2 (swagger)
//! document to this form: the generator uses it for the built-in schema, and kustomize's
//! `openapi: {path: …}` custom schemas go through it too, so both are read by the same code.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a strategic-merge patch treats one field (only fields where that matters are kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The definition of the field's value, when it is an object.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The definition of the elements, when the field is a list of objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// The definition of the values, when the field is a map of objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// `x-kubernetes-patch-strategy` (`merge`, `retainKeys`, `merge,retainKeys`, `replace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// `x-kubernetes-patch-merge-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `x-kubernetes-list-type` when `map` or `set`.
    #[serde(rename = "listType", default, skip_serializing_if = "Option::is_none")]
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    #[serde(rename = "mapKeys", default, skip_serializing_if = "Vec::is_empty")]
    pub map_keys: Vec<String>,
}

impl Field {
    /// Whether a strategic merge merges this list (its strategy includes `merge`) instead of
    /// replacing it.
    pub fn merges(&self) -> bool {
        self.strategy
            .as_deref()
            .is_some_and(|s| s.split(',').any(|p| p == "merge"))
    }

    /// The keys that identify an element of a merged list, as kustomize (kyaml) takes them: the
    /// list-map keys when given, else the merge key; empty for a merged list of scalars (a set,
    /// such as `metadata.finalizers`).
    pub fn merge_keys(&self) -> Vec<String> {
        if !self.map_keys.is_empty() {
            return self.map_keys.clone();
        }
        self.key.iter().cloned().collect()
    }
}

/// One definition: its fields that matter for merging.
pub type Definition = BTreeMap<String, Field>;

/// A schema: definitions, the definition of each `apiVersion`/`kind`, and scopes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Who made this file and from what (the generated file's "do not edit" header).
    #[serde(default)]
    pub generated: String,
    /// `[group, kind]` of every cluster-scoped kind.
    #[serde(rename = "clusterScoped", default)]
    pub cluster_scoped: BTreeSet<(String, String)>,
    /// `apiVersion/kind` (`v1/Pod`, `apps/v1/Deployment`) to its definition's name.
    #[serde(default)]
    pub kinds: BTreeMap<String, String>,
    #[serde(default)]
    pub definitions: BTreeMap<String, Definition>,
}

/// The built-in schema (Kubernetes v1.36), parsed once.
pub fn builtin() -> &'static Schema {
    static BUILTIN: OnceLock<Schema> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        // The file is generated and checked by a test; failing to parse it is a build defect.
        serde_json::from_str(include_str!("k8s_schema.json")).unwrap_or_default()
    })
}

/// Cluster-scoped `(group, kind)` pairs of the built-in schema, for fast lookups.
fn builtin_cluster_scoped() -> &'static HashSet<(String, String)> {
    static SET: OnceLock<HashSet<(String, String)>> = OnceLock::new();
    SET.get_or_init(|| builtin().cluster_scoped.iter().cloned().collect())
}

/// Whether the Kubernetes API serves `group`/`kind` as cluster-scoped.
pub fn is_builtin_cluster_scoped(group: &str, kind: &str) -> bool {
    builtin_cluster_scoped().contains(&(group.to_owned(), kind.to_owned()))
}

impl Schema {
    /// The definition of an object of `api_version`/`kind`, if the schema knows it.
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<&Definition> {
        let name = self.kinds.get(&format!("{api_version}/{kind}"))?;
        self.definitions.get(name)
    }

    /// A definition by name.
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }

    /// The generated file's text: one definition per line, so that a regeneration's diff shows
    /// what changed in the API.
    pub fn to_json_lines(&self) -> String {
        fn j<T: Serialize + ?Sized>(v: &T) -> String {
            // Strings, pairs and maps of plain structs always serialise.
            serde_json::to_string(v).unwrap_or_default()
        }
        let lines = |items: Vec<String>| items.join(",\n");
        format!(
            "{{\n\"generated\": {},\n\"clusterScoped\": [\n{}\n],\n\"kinds\": {{\n{}\n}},\n\"definitions\": {{\n{}\n}}\n}}\n",
            j(&self.generated),
            lines(self.cluster_scoped.iter().map(j).collect()),
            lines(self.kinds.iter().map(|(k, v)| format!("{}: {}", j(k), j(v))).collect()),
            lines(
                self.definitions
                    .iter()
                    .map(|(k, v)| format!("{}: {}", j(k), j(v)))
                    .collect()
            ),
        )
    }
}

/// The definition name a `$ref` points to (`#/definitions/X` or a bare `X`).
fn ref_name(v: &Value) -> Option<String> {
    let r = v.get("$ref")?.as_str()?;
    Some(r.strip_prefix("#/definitions/").unwrap_or(r).to_owned())
}

fn ext(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The `Field` of one property schema (an inline object's properties become a definition of
/// their own, named `parent/property`).
fn field_of(prop: &Value, path: &str, inline: &mut Vec<(String, Value)>) -> Field {
    let mut f = Field {
        strategy: ext(prop, "x-kubernetes-patch-strategy"),
        key: ext(prop, "x-kubernetes-patch-merge-key"),
        list_type: ext(prop, "x-kubernetes-list-type").filter(|t| t == "map" || t == "set"),
        map_keys: prop
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        ..Field::default()
    };
    // A schema that is only a reference (possibly wrapped in allOf, as OpenAPI v3 does).
    let target = |v: &Value, suffix: &str, inline: &mut Vec<(String, Value)>| {
        if let Some(r) = ref_name(v) {
            return Some(r);
        }
        if let Some(r) = v
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find_map(ref_name))
        {
            return Some(r);
        }
        if v.get("properties").is_some()
            || v.get("additionalProperties").is_some()
            || v.get("items").is_some()
        {
            let name = format!("{path}{suffix}");
            inline.push((name.clone(), v.clone()));
            return Some(name);
        }
        None
    };
    if let Some(r) = ref_name(prop) {
        f.object = Some(r);
    } else if let Some(items) = prop.get("items") {
        f.items = target(items, "[]", inline);
    } else if let Some(values) = prop.get("additionalProperties").filter(|v| v.is_object()) {
        f.values = target(values, "{}", inline);
    } else if let Some(r) = prop
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find_map(ref_name))
    {
        f.object = Some(r);
    } else if prop.get("properties").is_some() {
        let name = path.to_owned();
        inline.push((name.clone(), prop.clone()));
        f.object = Some(name);
    }
    f
}

/// The fields of one definition schema, with inline object schemas split off as definitions.
fn definition_of(name: &str, schema: &Value, out: &mut BTreeMap<String, Definition>) {
    let mut pending = vec![(name.to_owned(), schema.clone())];
    while let Some((name, schema)) = pending.pop() {
        let mut def = Definition::new();
        let mut inline = Vec::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (p, v) in props {
                def.insert(p.clone(), field_of(v, &format!("{name}/{p}"), &mut inline));
            }
        }
        // A definition that is itself a list or a map (`items` / `additionalProperties` at the
        // top): its elements or values are the field named "[]" / "{}".
        if schema.get("properties").is_none() {
            if let Some(items) = schema.get("items") {
                let f = field_of(&serde_json::json!({"items": items}), &name, &mut inline);
                def.insert("[]".to_owned(), f);
            } else if let Some(values) =
                schema.get("additionalProperties").filter(|v| v.is_object())
            {
                let f = field_of(
                    &serde_json::json!({"additionalProperties": values}),
                    &name,
                    &mut inline,
                );
                def.insert("{}".to_owned(), f);
            }
        }
        out.insert(name, def);
        pending.extend(inline);
    }
}

/// Converts an OpenAPI v2 (swagger) document into a [`Schema`]: the definitions whose names
/// `keep` accepts, the `x-kubernetes-group-version-kind` of each, and the cluster-scoped kinds
/// given by `cluster_scoped`. Fields that make no difference to a strategic merge (scalars,
/// lists without a strategy holding nothing that has one) are dropped, so the result is small.
pub fn compact(
    openapi: &Value,
    keep: &dyn Fn(&str) -> bool,
    cluster_scoped: BTreeSet<(String, String)>,
    generated: &str,
) -> Schema {
    let mut all = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    if let Some(defs) = openapi.get("definitions").and_then(Value::as_object) {
        for (name, schema) in defs.iter().filter(|(n, _)| keep(n)) {
            definition_of(name, schema, &mut all);
            for gvk in schema
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let g = gvk.get("group").and_then(Value::as_str).unwrap_or("");
                let (Some(v), Some(k)) = (
                    gvk.get("version").and_then(Value::as_str),
                    gvk.get("kind").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let api = if g.is_empty() {
                    v.to_owned()
                } else {
                    format!("{g}/{v}")
                };
                kinds.insert(format!("{api}/{k}"), name.clone());
            }
        }
    }
    // Keep what matters: a field with a strategy, a merge key or a list type, or one leading to
    // a definition that has such a field (to a fixed point: definitions are recursive).
    let own = |f: &Field| f.strategy.is_some() || f.key.is_some() || f.list_type.is_some();
    let mut relevant: HashSet<String> = all
        .iter()
        .filter(|(_, d)| d.values().any(own))
        .map(|(n, _)| n.clone())
        .collect();
    loop {
        let more: Vec<String> = all
            .iter()
            .filter(|(n, _)| !relevant.contains(*n))
            .filter(|(_, d)| {
                d.values().any(|f| {
                    [&f.object, &f.items, &f.values]
                        .into_iter()
                        .flatten()
                        .any(|t| relevant.contains(t))
                })
            })
            .map(|(n, _)| n.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        relevant.extend(more);
    }
    let mut definitions = BTreeMap::new();
    for (name, def) in all {
        if !relevant.contains(&name) {
            continue;
        }
        let mut kept = Definition::new();
        for (p, mut f) in def {
            for t in [&mut f.object, &mut f.items, &mut f.values] {
                if t.as_ref().is_some_and(|n| !relevant.contains(n)) {
                    *t = None;
                }
            }
            if own(&f) || f.object.is_some() || f.items.is_some() || f.values.is_some() {
                kept.insert(p, f);
            }
        }
        definitions.insert(name, kept);
    }
    // Kinds whose definition holds nothing that merges are left out too: a strategic merge
    // treats them as it treats an unknown kind (maps merge, lists are replaced).
    kinds.retain(|_, d| definitions.contains_key(d));
    Schema {
        generated: generated.to_owned(),
        cluster_scoped,
        kinds,
        definitions,
    }
}

/// The scopes an OpenAPI v2 document's paths give (how kustomize reads a custom schema's
/// scopes): a kind is namespaced when one of its operations' paths holds
/// `namespaces/{namespace}`, cluster-scoped when it has operations and none does.
pub fn cluster_scoped_from_paths(openapi: &Value) -> BTreeSet<(String, String)> {
    let mut namespaced: HashMap<(String, String), bool> = HashMap::new();
    if let Some(paths) = openapi.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for op in ops.values() {
                let Some(gvk) = op.get("x-kubernetes-group-version-kind") else {
                    continue;
                };
                let g = gvk.get("group").and_then(Value::as_str).unwrap_or("");
                let Some(k) = gvk.get("kind").and_then(Value::as_str) else {
                    continue;
                };
                let e = namespaced
                    .entry((g.to_owned(), k.to_owned()))
                    .or_insert(false);
                *e |= path.contains("namespaces/{namespace}");
            }
        }
    }
    namespaced
        .into_iter()
        .filter(|(_, ns)| !ns)
        .map(|(gk, _)| gk)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schema_knows_pod_lists_and_scopes() {
        let s = builtin();
        assert!(s.generated.contains("do not edit"), "{}", s.generated);
        let pod = s.kind("v1", "Pod").expect("v1/Pod");
        let spec = s
            .definition(pod["spec"].object.as_deref().unwrap())
            .unwrap();
        let containers = &spec["containers"];
        assert!(containers.merges());
        assert_eq!(containers.merge_keys(), ["name"]);
        let c = s.definition(containers.items.as_deref().unwrap()).unwrap();
        assert_eq!(c["ports"].merge_keys(), ["containerPort", "protocol"]);
        assert!(!spec.get("tolerations").is_some_and(Field::merges));
        let meta = s
            .definition(pod["metadata"].object.as_deref().unwrap())
            .unwrap();
        assert!(meta["finalizers"].merges());
        assert!(meta["finalizers"].merge_keys().is_empty());
        for (g, k) in [
            ("", "Namespace"),
            ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
            ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
            ("resource.k8s.io", "DeviceClass"),
            ("storage.k8s.io", "VolumeAttributesClass"),
        ] {
            assert!(is_builtin_cluster_scoped(g, k), "{g}/{k}");
        }
        assert!(!is_builtin_cluster_scoped("apps", "Deployment"));
        assert!(!is_builtin_cluster_scoped("", "ConfigMap"));
    }

    #[test]
    fn compact_keeps_merge_fields_and_inline_objects() {
        let doc = serde_json::json!({"definitions": {
            "w.v1.Widget": {
                "properties": {
                    "apiVersion": {"type": "string"},
                    "spec": {"type": "object", "properties": {
                        "items": {"type": "array", "x-kubernetes-patch-merge-key": "name",
                                  "x-kubernetes-patch-strategy": "merge",
                                  "items": {"$ref": "#/definitions/w.v1.Item"}},
                        "plain": {"type": "array", "items": {"type": "string"}}
                    }}
                },
                "x-kubernetes-group-version-kind": [{"group": "w", "version": "v1", "kind": "Widget"}]
            },
            "w.v1.Item": {"properties": {"name": {"type": "string"}}}
        }});
        let s = compact(&doc, &|_| true, BTreeSet::new(), "test");
        let w = s.kind("w/v1", "Widget").expect("kind");
        let spec = s.definition(w["spec"].object.as_deref().unwrap()).unwrap();
        assert_eq!(spec["items"].merge_keys(), ["name"]);
        assert!(!spec.contains_key("plain"));
        // The element definition has nothing that merges, so the reference is dropped.
        assert_eq!(spec["items"].items, None);
        let back: Schema = serde_json::from_str(&s.to_json_lines()).unwrap();
        assert_eq!(back.kinds, s.kinds);
    }
}
