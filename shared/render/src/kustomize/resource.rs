//! A resource being built and kustomize's bookkeeping around it: the id it was loaded with, the
//! ids it had before each rename (name references follow them), the prefixes and suffixes it
//! received, and whether it still needs its hash suffix.

use gitops::manifest::{split_api_version, Scopes};
use gitops::{Identity, Object};
use serde_json::{Map, Value};

/// A resource in the accumulator.
#[derive(Debug, Clone)]
pub struct Res {
    pub obj: Object,
    /// The id when first loaded.
    pub org: Identity,
    /// Ids before each rename or namespace change, oldest first.
    pub prev: Vec<Identity>,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// A generated ConfigMap/Secret whose name gets a content hash at the end of the build.
    pub needs_hash: bool,
    /// `create`, `merge` or `replace` (generated resources only).
    pub behavior: Option<String>,
    /// Rendered by a Helm chart: kustomize (5.8) marks these with the build annotation
    /// `config.kubernetes.io/helm-generated`, and no namespace transformer touches them.
    pub helm_generated: bool,
}

impl Res {
    pub fn new(mut obj: Object) -> Self {
        stringify_annotations(&mut obj.value);
        let org = obj.identity();
        Res {
            obj,
            org,
            prev: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: None,
            helm_generated: false,
        }
    }

    pub fn id(&self) -> Identity {
        self.obj.identity()
    }

    /// Remembers the current id before a change (kustomize's `StorePreviousId`).
    pub fn store_previous_id(&mut self) {
        self.prev.push(self.obj.identity());
    }

    pub fn kind(&self) -> &str {
        self.obj.kind()
    }

    pub fn group(&self) -> &str {
        split_api_version(self.obj.api_version()).0
    }

    pub fn version(&self) -> &str {
        split_api_version(self.obj.api_version()).1
    }

    pub fn name(&self) -> &str {
        self.obj.name()
    }

    pub fn set_name(&mut self, name: &str) {
        self.obj
            .metadata_mut()
            .insert("name".to_owned(), Value::String(name.to_owned()));
    }

    /// The current id followed by all previous ones (kustomize's "any id").
    pub fn all_ids(&self) -> impl Iterator<Item = Identity> + '_ {
        std::iter::once(self.id()).chain(self.prev.iter().cloned())
    }

    pub fn string_map(&self, field: &str) -> Map<String, Value> {
        match self.obj.value.pointer(&format!("/metadata/{field}")) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    }
}

/// kustomize's `EffectiveNamespace`: no namespace means `default` for namespaced kinds.
/// kustomize reads annotations as a string map and writes them back on every resource, so
/// an unquoted `replicas: 3` or `enabled: true` annotation comes out as `"3"` / `"true"` (labels
/// are left as written).
pub fn stringify_annotations(value: &mut Value) {
    let Some(Value::Object(annotations)) = value
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    for v in annotations.values_mut() {
        if let Value::Bool(_) | Value::Number(_) = v {
            *v = Value::String(v.to_string());
        }
    }
}

pub fn effective_namespace<'a>(id: &'a Identity, scopes: &Scopes) -> &'a str {
    if scopes.is_cluster_scoped(&id.group, &id.kind) {
        ""
    } else if id.namespace.is_empty() {
        "default"
    } else {
        &id.namespace
    }
}

/// Two ids are the same resource (namespaces compared effectively).
pub fn same_id(a: &Identity, b: &Identity, scopes: &Scopes) -> bool {
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.name == b.name
        && effective_namespace(a, scopes) == effective_namespace(b, scopes)
}

/// Same group/kind/name/namespace; version ignored (how kustomize matches patches to targets
/// loosely is by full GVK, so this is only for messages).
pub fn describe(id: &Identity) -> String {
    let ns = if id.namespace.is_empty() {
        "[noNs]".to_owned()
    } else {
        id.namespace.clone()
    };
    let group = if id.group.is_empty() {
        "[noGrp]".to_owned()
    } else {
        id.group.clone()
    };
    format!("{}.{}.{}/{}.{}", id.kind, id.version, group, id.name, ns)
}
