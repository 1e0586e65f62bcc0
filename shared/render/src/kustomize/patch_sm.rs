//! Strategic-merge patches as kustomize (v5.8, kyaml `merge2`) applies them, driven by a
//! schema: the built-in Kubernetes schema generated from the API's OpenAPI document
//! (`gitops::k8s_schema`), or the custom schema of a kustomization's `openapi: {path: …}`, which
//! replaces it for the whole build as in kustomize.
//!
//! Maps merge recursively and `null` deletes a field. A list merges only when the schema gives
//! its field the `merge` patch strategy: lists of objects by their merge keys
//! (`x-kubernetes-list-map-keys`, else `x-kubernetes-patch-merge-key`), the patch's elements
//! first and then the target's others; lists of scalars (`metadata.finalizers`) as sets. Every
//! other list, and every list of a kind the schema does not know (custom resources), is replaced
//! by the patch's list exactly as written. `$patch: delete|replace|merge` work on whole objects,
//! maps, and merged lists (a `- $patch: …` element) and their elements; kyaml knows no other
//! directive, so `$setElementOrder/…`, `$retainKeys` and `$deleteFromPrimitiveList/…` are
//! ordinary fields that the patch adds, and the `retainKeys` strategy changes nothing — all as
//! kustomize does (checked against kustomize v5.8.2 by the conformance cases `patches-sm-*`).

use std::cell::RefCell;
use std::sync::Arc;

use gitops::k8s_schema::{self, Definition, Field, Schema};
use serde_json::{Map, Value};

/// What applying a patch did to the object.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Merged,
    /// `$patch: delete` at the top: the object goes away.
    Deleted,
}

/// The schema a build uses: unset, the built-in one (also for `openapi: {version: …}`), or a
/// custom one.
#[derive(Clone)]
enum Chosen {
    Builtin,
    Custom(Arc<Schema>),
}

thread_local! {
    // kustomize holds the schema in a process-wide variable that the first kustomization with
    // an `openapi` field sets for the rest of the build; a build runs on one thread here, so the
    // same rule lives in a thread-local, reset by `SchemaScope` when the build ends.
    static CHOSEN: RefCell<Option<Chosen>> = const { RefCell::new(None) };
}

/// Resets the build's schema choice when dropped (at the end of a build).
pub struct SchemaScope(());

impl Drop for SchemaScope {
    fn drop(&mut self) {
        CHOSEN.with(|c| *c.borrow_mut() = None);
    }
}

/// Starts a build with the built-in schema until a kustomization chooses another.
pub fn schema_scope() -> SchemaScope {
    CHOSEN.with(|c| *c.borrow_mut() = None);
    SchemaScope(())
}

/// A kustomization's `openapi` field chooses the build's schema (`None`: the built-in one),
/// unless an earlier kustomization already chose (kustomize's `SetSchema` without reset).
pub fn choose_schema(custom: Option<Schema>) {
    CHOSEN.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(match custom {
                Some(s) => Chosen::Custom(Arc::new(s)),
                None => Chosen::Builtin,
            });
        }
    });
}

/// The one built-in schema version kustomize 5.8 accepts in `openapi: {version: …}`. This engine
/// has one built-in schema (Kubernetes v1.36, generated), used for it.
const KUSTOMIZE_BUILTIN_VERSION: &str = "v1.21.2";

/// A kustomization's `openapi` field (kustomize reads it as a map of strings): `path` names a
/// custom schema (an OpenAPI v2 document in JSON or YAML) that replaces the built-in one, and
/// `version` picks a built-in one; other keys are ignored, as in kustomize.
pub fn choose_from_openapi(
    openapi: Option<&Value>,
    loader: &super::loader::Loader,
) -> Result<(), crate::Error> {
    use crate::Error;
    let Some(openapi) = openapi else {
        return Ok(());
    };
    let file = loader.kustomization_name();
    let Value::Object(m) = openapi else {
        return Err(Error::Invalid(format!(
            "{file}: openapi must be a map of strings (path, version)"
        )));
    };
    let text = |k: &str| -> Result<Option<&str>, Error> {
        match m.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Error::Invalid(format!(
                "{file}: openapi.{k} must be a string"
            ))),
        }
    };
    match (text("path")?, text("version")?) {
        (Some(_), Some(_)) => Err(Error::Invalid(format!(
            "{file}: openapi: builtin version and custom schema provided, cannot use both"
        ))),
        (Some(path), None) => {
            let (name, body) = loader.read_text(path, "openapi")?;
            let mut doc = None;
            for d in gitops::manifest::split_documents(&body) {
                if let Some(v) = gitops::manifest::parse_document(&d, &name)? {
                    doc = Some(v);
                    break;
                }
            }
            let doc = doc.unwrap_or(Value::Null);
            if !doc.is_object() {
                return Err(Error::Invalid(format!(
                    "{name}: invalid schema file: an OpenAPI document must be a mapping"
                )));
            }
            let scopes = k8s_schema::cluster_scoped_from_paths(&doc);
            choose_schema(Some(k8s_schema::compact(&doc, &|_| true, scopes, &name)));
            Ok(())
        }
        (None, Some("")) | (None, None) => Ok(()),
        (None, Some(v)) if v == KUSTOMIZE_BUILTIN_VERSION => {
            choose_schema(None);
            Ok(())
        }
        (None, Some(_)) => Err(Error::Invalid(format!(
            "{file}: openapi: the specified OpenAPI version is not built in"
        ))),
    }
}

fn current() -> Chosen {
    CHOSEN.with(|c| c.borrow().clone().unwrap_or(Chosen::Builtin))
}

/// Applies `patch` to `target` (both whole objects) with the build's schema.
pub fn apply(target: &mut Value, patch: &Value) -> Result<Outcome, String> {
    match current() {
        Chosen::Builtin => apply_with(target, patch, k8s_schema::builtin()),
        Chosen::Custom(s) => apply_with(target, patch, &s),
    }
}

/// Where in the schema a value sits.
#[derive(Clone, Copy)]
enum At<'a> {
    /// No schema: maps merge, lists are replaced.
    Unknown,
    /// An object of this definition.
    Object(&'a Definition),
    /// A map whose every entry is an object of this definition.
    Values(&'a Definition),
}

struct Walk<'a> {
    schema: &'a Schema,
}

impl<'a> Walk<'a> {
    fn def(&self, name: Option<&String>) -> At<'a> {
        match name.and_then(|n| self.schema.definition(n)) {
            Some(d) => At::Object(d),
            None => At::Unknown,
        }
    }

    /// The field `key` of a value at `at`, and where its value sits.
    fn child(&self, at: At<'a>, key: &str) -> (Option<&'a Field>, At<'a>) {
        let d = match at {
            At::Unknown => return (None, At::Unknown),
            At::Values(vd) => return (None, At::Object(vd)),
            At::Object(d) => d,
        };
        let values = |name: Option<&String>| match name.and_then(|n| self.schema.definition(n)) {
            Some(vd) => At::Values(vd),
            None => At::Unknown,
        };
        match d.get(key) {
            Some(f) => {
                let next = match (&f.object, &f.values) {
                    (Some(o), _) => self.def(Some(o)),
                    (None, Some(v)) => values(Some(v)),
                    _ => At::Unknown,
                };
                (Some(f), next)
            }
            // A definition that is itself a map of objects: every key is an entry.
            None => match d.get("{}").and_then(|f| f.values.as_ref()) {
                Some(v) => (None, self.def(Some(v))),
                None => (None, At::Unknown),
            },
        }
    }

    fn items(&self, f: Option<&'a Field>) -> At<'a> {
        self.def(f.and_then(|f| f.items.as_ref()))
    }
}

/// The directive of a map (`$patch`), refusing values kustomize refuses.
#[derive(Debug, PartialEq, Eq)]
enum Directive {
    None,
    Merge,
    Replace,
    Delete,
}

fn directive(m: &Map<String, Value>) -> Result<Directive, String> {
    match m.get("$patch") {
        None => Ok(Directive::None),
        Some(Value::String(s)) if s == "merge" => Ok(Directive::Merge),
        Some(Value::String(s)) if s == "replace" => Ok(Directive::Replace),
        Some(Value::String(s)) if s == "delete" => Ok(Directive::Delete),
        Some(other) => {
            let text = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Err(format!("unknown patch strategy '{text}'"))
        }
    }
}

/// `{$patch: X}` with nothing else: a list's directive element.
fn directive_element(v: &Value) -> Option<&Value> {
    let m = v.as_object()?;
    (m.len() == 1).then(|| m.get("$patch")).flatten()
}

/// Applies `patch` to `target` with `schema`.
pub fn apply_with(target: &mut Value, patch: &Value, schema: &Schema) -> Result<Outcome, String> {
    let Value::Object(p) = patch else {
        return Err("a strategic-merge patch must be a mapping".to_owned());
    };
    let w = Walk { schema };
    // kyaml takes the schema of the first source with an apiVersion and kind: the target's.
    let lookup = |v: &Value| {
        let api = v.get("apiVersion").and_then(Value::as_str)?;
        let kind = v.get("kind").and_then(Value::as_str)?;
        schema.kind(api, kind)
    };
    let at = match lookup(target).or_else(|| lookup(patch)) {
        Some(d) => At::Object(d),
        None => At::Unknown,
    };
    match directive(p)? {
        Directive::Delete => return Ok(Outcome::Deleted),
        Directive::Replace => {
            *target = w.clean(patch, None, at).unwrap_or(Value::Null);
            return Ok(Outcome::Merged);
        }
        Directive::None | Directive::Merge => {}
    }
    let Value::Object(t) = target else {
        return Err("the patch target is not a mapping".to_owned());
    };
    w.merge_map(t, p, at)?;
    Ok(Outcome::Merged)
}

impl<'a> Walk<'a> {
    fn merge_map(
        &self,
        dest: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        at: At<'a>,
    ) -> Result<(), String> {
        for (k, pv) in patch {
            if k == "$patch" {
                continue;
            }
            if pv.is_null() {
                dest.remove(k);
                continue;
            }
            let (field, next) = self.child(at, k);
            match (dest.get_mut(k), pv) {
                (Some(Value::Object(d)), Value::Object(p)) => match directive(p)? {
                    Directive::Delete => {
                        dest.remove(k);
                    }
                    Directive::Replace => {
                        match self.clean(pv, field, next) {
                            Some(v) => dest.insert(k.clone(), v),
                            None => dest.remove(k),
                        };
                    }
                    Directive::None | Directive::Merge => self.merge_map(d, p, next)?,
                },
                (Some(Value::Array(d)), Value::Array(p)) => {
                    if !self.merge_list(d, p, field)? {
                        dest.remove(k);
                    }
                }
                _ => match self.clean(pv, field, next) {
                    Some(v) => {
                        dest.insert(k.clone(), v);
                    }
                    None => {
                        dest.remove(k);
                    }
                },
            }
        }
        Ok(())
    }

    /// A patch value added where the target has none (kyaml merges it with itself): directives
    /// are applied and dropped, `null` fields removed; lists that are not merged stay exactly
    /// as written. `None`: the value deletes itself (`$patch: delete`).
    fn clean(&self, v: &Value, field: Option<&'a Field>, at: At<'a>) -> Option<Value> {
        match v {
            Value::Object(m) => {
                let d = m.get("$patch").and_then(Value::as_str);
                if d == Some("delete") {
                    return None;
                }
                let known = matches!(d, Some("merge" | "replace"));
                let mut out = Map::new();
                for (k, v) in m {
                    if (k == "$patch" && known) || v.is_null() {
                        continue;
                    }
                    let (f, next) = self.child(at, k);
                    if let Some(v) = self.clean(v, f, next) {
                        out.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(items) if field.is_some_and(Field::merges) => {
                let mut out = Vec::new();
                for item in items {
                    match directive_element(item).and_then(Value::as_str) {
                        Some("delete") => return None,
                        Some("merge" | "replace") => continue,
                        _ => {}
                    }
                    if item.is_object() {
                        if let Some(c) = self.clean(item, None, self.items(field)) {
                            out.push(c);
                        }
                    } else if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Some(Value::Array(out))
            }
            other => Some(other.clone()),
        }
    }

    /// Merges a patch list into a target list; `false` when the list is to be removed
    /// (`- $patch: delete`).
    fn merge_list(
        &self,
        dest: &mut Vec<Value>,
        patch: &[Value],
        field: Option<&'a Field>,
    ) -> Result<bool, String> {
        let Some(f) = field.filter(|f| f.merges()) else {
            // Not a merged list: the patch's list, exactly as written (kyaml does not look
            // into it, so even `$patch` elements and nulls stay).
            *dest = patch.to_vec();
            return Ok(true);
        };
        if let Some(d) = patch.iter().find_map(directive_element) {
            match d.as_str() {
                Some("delete") => return Ok(false),
                Some("replace") => {
                    let Some(Value::Array(v)) =
                        self.clean(&Value::Array(patch.to_vec()), field, At::Unknown)
                    else {
                        return Ok(false);
                    };
                    *dest = v;
                    return Ok(true);
                }
                Some("merge") => {}
                _ => {
                    let text = d.as_str().map_or_else(|| d.to_string(), str::to_owned);
                    return Err(format!("unknown patch strategy '{text}'"));
                }
            }
        }
        let patch: Vec<&Value> = patch
            .iter()
            .filter(|v| directive_element(v).is_none())
            .collect();
        let keys = f.merge_keys();
        let items_at = self.items(field);
        if keys.is_empty() {
            // A set of scalars: the patch's values, then the target's others.
            let mut out: Vec<Value> = Vec::new();
            for v in patch.iter().filter(|v| !v.is_object()) {
                if !out.contains(v) {
                    out.push((*v).clone());
                }
            }
            for d in dest.drain(..) {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
            *dest = out;
            return Ok(true);
        }
        if patch.is_empty() || !patch.iter().all(|v| v.is_object()) {
            *dest = patch
                .iter()
                .filter_map(|v| self.clean(v, None, items_at))
                .collect();
            return Ok(true);
        }
        // kyaml matches on the keys that some element (of either list) has, all of them when
        // none has any.
        let present: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| {
                dest.iter()
                    .chain(patch.iter().copied())
                    .any(|e| e.get(*k).is_some())
            })
            .collect();
        let keys: Vec<&str> = if present.is_empty() {
            keys.iter().map(String::as_str).collect()
        } else {
            present
        };
        let (primary, others) = keys.split_first().map_or(("", &[][..]), |(p, o)| (*p, o));
        // With one key, kyaml rebuilds the list in patch order (each element merged with its
        // match in the target), then the target's other elements in their order. With several
        // (ports: port and protocol) it keeps the target's elements in place, merged, after the
        // patch's new ones, and drops a patch element whose other key is given on only one side
        // of an element matching its first key.
        let several = !others.is_empty();
        let mut rest: Vec<Option<Value>> = std::mem::take(dest).into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(rest.len() + patch.len());
        for p in patch {
            let Value::Object(pm) = p else { continue };
            let kv = pm.get(primary);
            let same =
                |d: &Value| d.get(primary) == kv && others.iter().all(|k| d.get(*k) == pm.get(*k));
            let pos = kv.and_then(|_| rest.iter().position(|d| d.as_ref().is_some_and(same)));
            if pos.is_none() && kv.is_some() && several {
                let shadowed = rest.iter().flatten().any(|d| {
                    d.get(primary) == kv
                        && others
                            .iter()
                            .any(|k| d.get(*k).is_none() != pm.get(*k).is_none())
                });
                if shadowed {
                    continue;
                }
            }
            match (pos, directive(pm)?) {
                (Some(i), Directive::Delete) => rest[i] = None,
                (None, Directive::Delete) => {}
                // kyaml keeps the target's element as it was when the patch's element says
                // `$patch: replace` (the replacement is merged into a copy it then drops).
                (Some(i), Directive::Replace) => {
                    if !several {
                        if let Some(d) = rest[i].take() {
                            out.push(d);
                        }
                    }
                }
                (Some(i), Directive::None | Directive::Merge) => {
                    if let Some(Value::Object(mut d)) = rest[i].take() {
                        self.merge_map(&mut d, pm, items_at)?;
                        if several {
                            rest[i] = Some(Value::Object(d));
                        } else {
                            out.push(Value::Object(d));
                        }
                    }
                }
                (None, _) => {
                    if let Some(c) = self.clean(p, None, items_at) {
                        out.push(c);
                    }
                }
            }
        }
        out.extend(rest.into_iter().flatten());
        *dest = out;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name() {
        let mut t = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}, {"name": "a", "$patch": "delete"}]}}}});
        assert_eq!(apply(&mut t, &p).unwrap(), Outcome::Merged);
        assert_eq!(
            t.pointer("/spec/template/spec/containers").unwrap(),
            &json!([{"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
        );
        let mut t = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "env": [{"name": "M", "value": "1"}, {"name": "P", "value": "2"}]}]}});
        apply(&mut t, &json!({"spec": {"containers": [{"name": "a", "env": [{"name": "N", "value": "0"}, {"name": "M", "value": "3"}]}]}})).unwrap();
        assert_eq!(
            t.pointer("/spec/containers/0/env").unwrap(),
            &json!([{"name": "N", "value": "0"}, {"name": "M", "value": "3"}, {"name": "P", "value": "2"}])
        );
    }

    #[test]
    fn null_deletes_and_unmerged_lists_replace_verbatim() {
        let mut t = json!({"apiVersion": "v1", "kind": "X", "a": {"b": 1, "c": 2}, "l": [1, 2]});
        apply(
            &mut t,
            &json!({"a": {"b": null}, "l": [3, {"$patch": "replace"}]}),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"apiVersion": "v1", "kind": "X", "a": {"c": 2}, "l": [3, {"$patch": "replace"}]})
        );
    }

    #[test]
    fn other_directives_are_plain_fields_and_unknown_strategies_fail() {
        let mut t = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}});
        apply(&mut t, &json!({"spec": {"$retainKeys": ["replicas"]}})).unwrap();
        assert_eq!(t["spec"]["$retainKeys"], json!(["replicas"]));
        let err = apply(&mut t, &json!({"spec": {"$patch": "rotate"}})).unwrap_err();
        assert_eq!(err, "unknown patch strategy 'rotate'");
    }

    #[test]
    fn a_custom_schema_replaces_the_builtin_one() {
        let _scope = schema_scope();
        choose_schema(Some(Schema::default()));
        let mut t = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"finalizers": ["a"]}});
        apply(&mut t, &json!({"metadata": {"finalizers": ["b"]}})).unwrap();
        assert_eq!(t["metadata"]["finalizers"], json!(["b"]));
        drop(_scope);
        let mut t = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"finalizers": ["a"]}});
        apply(&mut t, &json!({"metadata": {"finalizers": ["b"]}})).unwrap();
        assert_eq!(t["metadata"]["finalizers"], json!(["b", "a"]));
    }
}
