//! Field sets: which fields of an object a manager owns, in the `FieldsV1` shape of
//! `metadata.managedFields` (`f:name`, `k:{"name":"app"}`, `v:"x"`, `.`), as
//! structured-merge-diff computes them. The list-type rules (which lists are maps keyed by
//! merge keys, which are sets, which are atomic) follow the Kubernetes OpenAPI markers for the
//! common fields; unknown lists are atomic, unknown maps granular, like SMD's deduced schema.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One step into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// A map key (`f:`).
    Field(String),
    /// A list item identified by its merge keys (`k:`); the string is the canonical JSON of
    /// the key fields, sorted by name.
    Key(String),
    /// A set member (`v:`); the canonical JSON of the value.
    Value(String),
}

/// A tree of owned fields. `owned` marks the node itself (a leaf, or `.` for list items).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// Children by step.
    pub children: BTreeMap<Step, FieldSet>,
    /// Whether the node itself is owned.
    pub owned: bool,
}

/// How a list is merged and tracked.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// Items identified by these key fields.
    Map(Vec<&'static str>),
    /// A set of scalars.
    Set,
    /// Replaced as a whole.
    Atomic,
}

/// The list kind of `field` whose items are `items`, per the Kubernetes schema markers.
pub fn list_kind(field: &str, items: &[Value]) -> ListKind {
    let keys: Vec<&'static str> = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => vec!["name"],
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                vec!["containerPort", "protocol"]
            } else {
                vec!["port", "protocol"]
            }
        }
        "volumeMounts" => vec!["mountPath"],
        "volumeDevices" => vec!["devicePath"],
        "hostAliases" => vec!["ip"],
        "conditions" => vec!["type"],
        "topologySpreadConstraints" => vec!["topologyKey", "whenUnsatisfiable"],
        "ownerReferences" => vec!["uid"],
        "finalizers" => return ListKind::Set,
        _ => return ListKind::Atomic,
    };
    // Items without their key fields cannot be tracked individually; SMD would reject them,
    // we fall back to treating the list as one value.
    let all_keyed = items.iter().all(|i| {
        i.as_object().is_some_and(|o| {
            keys.iter()
                .all(|k| o.contains_key(*k) || key_default(k).is_some())
        })
    });
    if all_keyed {
        ListKind::Map(keys)
    } else {
        ListKind::Atomic
    }
}

/// Key fields with a schema default (`protocol` defaults to TCP), used when the item omits them.
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

/// The canonical key string (`{"containerPort":80,"protocol":"TCP"}`) of a list item.
pub fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let o = item.as_object()?;
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let mut m = Map::new();
    for k in sorted {
        let v = o.get(k).cloned().or_else(|| key_default(k))?;
        m.insert(k.to_string(), v);
    }
    Some(Value::Object(m).to_string())
}

/// Whether `item` has the key `key` (canonical string) among `keys`.
fn item_matches(item: &Value, keys: &[&str], key: &str) -> bool {
    item_key(item, keys).as_deref() == Some(key)
}

/// Fields of the top-level object nobody owns: identity and server-managed metadata.
const SKIP_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

impl FieldSet {
    /// The field set of a whole object (skipping apiVersion/kind and server-owned metadata).
    /// `with_status` says whether `status` counts (only for the status subresource).
    pub fn of_object(obj: &Value, with_status: bool) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(o) = obj.as_object() else { return set };
        for (k, v) in o {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "status" if !with_status => {}
                "metadata" => {
                    let Some(m) = v.as_object() else { continue };
                    let mut meta = FieldSet::default();
                    for (mk, mv) in m {
                        if SKIP_METADATA.contains(&mk.as_str()) {
                            continue;
                        }
                        meta.children
                            .insert(Step::Field(mk.clone()), Self::of_value(mk, mv));
                    }
                    if !meta.children.is_empty() {
                        set.children.insert(Step::Field("metadata".into()), meta);
                    }
                }
                _ => {
                    set.children
                        .insert(Step::Field(k.clone()), Self::of_value(k, v));
                }
            }
        }
        set
    }

    /// The field set of the value stored under `field`.
    fn of_value(field: &str, v: &Value) -> FieldSet {
        match v {
            Value::Object(o) if !o.is_empty() => {
                let mut s = FieldSet::default();
                for (k, cv) in o {
                    s.children
                        .insert(Step::Field(k.clone()), Self::of_value(k, cv));
                }
                s
            }
            Value::Array(items) if !items.is_empty() => match list_kind(field, items) {
                ListKind::Map(keys) => {
                    let mut s = FieldSet::default();
                    for item in items {
                        let Some(key) = item_key(item, &keys) else {
                            continue;
                        };
                        let mut child = Self::of_value("", item);
                        child.owned = true;
                        s.children.insert(Step::Key(key), child);
                    }
                    s
                }
                ListKind::Set => {
                    let mut s = FieldSet::default();
                    for item in items {
                        s.children
                            .insert(Step::Value(item.to_string()), FieldSet::leaf());
                    }
                    s
                }
                ListKind::Atomic => FieldSet::leaf(),
            },
            _ => FieldSet::leaf(),
        }
    }

    fn leaf() -> FieldSet {
        FieldSet {
            children: BTreeMap::new(),
            owned: true,
        }
    }

    /// Whether nothing is owned.
    pub fn is_empty(&self) -> bool {
        !self.owned && self.children.is_empty()
    }

    /// All owned paths (leaves and `.` nodes), depth first.
    pub fn paths(&self) -> Vec<Vec<Step>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        if self.owned && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (step, child) in &self.children {
            prefix.push(step.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Whether `path` is owned in this set.
    pub fn contains(&self, path: &[Step]) -> bool {
        match path.split_first() {
            None => self.owned,
            Some((s, rest)) => self.children.get(s).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Marks `path` as owned.
    pub fn insert(&mut self, path: &[Step]) {
        match path.split_first() {
            None => self.owned = true,
            Some((s, rest)) => self.children.entry(s.clone()).or_default().insert(rest),
        }
    }

    /// Removes ownership of `path` (and prunes empty branches).
    pub fn remove(&mut self, path: &[Step]) {
        match path.split_first() {
            None => self.owned = false,
            Some((s, rest)) => {
                if let Some(c) = self.children.get_mut(s) {
                    c.remove(rest);
                    if c.is_empty() {
                        self.children.remove(s);
                    }
                }
            }
        }
    }

    /// Parses `fieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut s = FieldSet::default();
        let Some(o) = v.as_object() else { return s };
        if o.is_empty() {
            s.owned = true;
            return s;
        }
        for (k, cv) in o {
            if k == "." {
                s.owned = true;
                continue;
            }
            let step = if let Some(f) = k.strip_prefix("f:") {
                Step::Field(f.to_string())
            } else if let Some(f) = k.strip_prefix("k:") {
                Step::Key(f.to_string())
            } else if let Some(f) = k.strip_prefix("v:") {
                Step::Value(f.to_string())
            } else {
                continue;
            };
            s.children.insert(step, Self::from_fields_v1(cv));
        }
        s
    }

    /// Renders as `fieldsV1` JSON.
    pub fn to_fields_v1(&self) -> Value {
        let mut o = Map::new();
        if self.owned && !self.children.is_empty() {
            o.insert(".".into(), Value::Object(Map::new()));
        }
        for (step, child) in &self.children {
            let k = match step {
                Step::Field(f) => format!("f:{f}"),
                Step::Key(k) => format!("k:{k}"),
                Step::Value(v) => format!("v:{v}"),
            };
            o.insert(k, child.to_fields_v1());
        }
        Value::Object(o)
    }
}

/// Renders a path as SMD does in conflict messages: `.spec.containers[name="app"].image`.
pub fn path_string(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Step::Key(k) => {
                let parsed: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                let parts: Vec<String> = parsed
                    .as_object()
                    .map(|o| o.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Step::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// The value at `path` in `obj`, if present.
pub fn get_path<'a>(obj: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    let mut field = "";
    for step in path {
        cur = match step {
            Step::Field(f) => {
                field = f;
                cur.get(f.as_str())?
            }
            Step::Key(k) => {
                let items = cur.as_array()?;
                let ListKind::Map(keys) = list_kind(field, items) else {
                    return None;
                };
                items.iter().find(|i| item_matches(i, &keys, k))?
            }
            Step::Value(v) => {
                let items = cur.as_array()?;
                let want: Value = serde_json::from_str(v).ok()?;
                items.iter().find(|i| **i == want)?
            }
        };
    }
    Some(cur)
}

/// Removes the value at `path` from `obj` (no-op when absent).
pub fn remove_path(obj: &mut Value, path: &[Step]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let field = parent_path
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Field(f) => Some(f.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let Some(parent) = get_path_mut(obj, parent_path) else {
        return;
    };
    match last {
        Step::Field(f) => {
            if let Some(o) = parent.as_object_mut() {
                o.remove(f);
            }
        }
        Step::Key(k) => {
            if let Some(items) = parent.as_array_mut() {
                if let ListKind::Map(keys) = list_kind(&field, items) {
                    items.retain(|i| !item_matches(i, &keys, k));
                }
            }
        }
        Step::Value(v) => {
            if let Some(items) = parent.as_array_mut() {
                if let Ok(want) = serde_json::from_str::<Value>(v) {
                    items.retain(|i| *i != want);
                }
            }
        }
    }
}

fn get_path_mut<'a>(obj: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut cur = obj;
    let mut field = String::new();
    for step in path {
        cur = match step {
            Step::Field(f) => {
                field = f.clone();
                cur.get_mut(f.as_str())?
            }
            Step::Key(k) => {
                let items = cur.as_array_mut()?;
                let ListKind::Map(keys) = list_kind(&field, items) else {
                    return None;
                };
                items.iter_mut().find(|i| item_matches(i, &keys, k))?
            }
            Step::Value(v) => {
                let items = cur.as_array_mut()?;
                let want: Value = serde_json::from_str(v).ok()?;
                items.iter_mut().find(|i| **i == want)?
            }
        };
    }
    Some(cur)
}

/// Paths (leaves) whose values differ between `old` and `new`, including added and removed
/// ones: what an Update operation takes ownership of.
pub fn changed_paths(old: &Value, new: &Value, with_status: bool) -> Vec<Vec<Step>> {
    let old_set = FieldSet::of_object(old, with_status);
    let new_set = FieldSet::of_object(new, with_status);
    let mut out = Vec::new();
    for p in new_set.paths() {
        let is_leaf = !has_children(&new_set, &p);
        if !old_set.contains(&p) || (is_leaf && get_path(old, &p) != get_path(new, &p)) {
            out.push(p);
        }
    }
    out
}

fn has_children(set: &FieldSet, path: &[Step]) -> bool {
    let mut cur = set;
    for s in path {
        match cur.children.get(s) {
            Some(c) => cur = c,
            None => return false,
        }
    }
    !cur.children.is_empty()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trip_with_keys() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "labels": {"app": "w"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx",
                "ports": [{"containerPort": 80}]}]}}}});
        let set = FieldSet::of_object(&obj, false);
        let v1 = set.to_fields_v1();
        let c = &v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:image"], json!({}));
        assert!(
            c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]["f:containerPort"]
                .is_object()
        );
        assert!(v1["f:metadata"].get("f:name").is_none());
        assert_eq!(FieldSet::from_fields_v1(&v1), set);
    }

    #[test]
    fn path_strings_look_like_smd() {
        let p = vec![
            Step::Field("spec".into()),
            Step::Field("containers".into()),
            Step::Key("{\"name\":\"app\"}".into()),
            Step::Field("image".into()),
        ];
        assert_eq!(path_string(&p), ".spec.containers[name=\"app\"].image");
    }
}
