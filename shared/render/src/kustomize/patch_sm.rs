//! Strategic-merge patches as kustomize applies them (kyaml `merge2`): maps merge recursively,
//! `null` deletes a field, lists of objects merge by their merge key (from the Kubernetes schema
//! for built-in kinds, inferred from well-known keys otherwise) with new elements appended, other
//! lists are replaced; `$patch: delete` and `$patch: replace` work on maps, list elements and
//! whole objects.

use serde_json::{Map, Value};

/// What applying a patch did to the object.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Merged,
    /// `$patch: delete` at the top: the object goes away.
    Deleted,
}

struct Ctx {
    builtin: bool,
    kind: String,
}

/// Whether kustomize knows the schema of this group (built-in Kubernetes APIs).
fn builtin_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io")
}

/// Applies `patch` to `target` (both whole objects).
pub fn apply(target: &mut Value, patch: &Value) -> Result<Outcome, String> {
    let api = target
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let ctx = Ctx {
        builtin: builtin_group(group),
        kind: target
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    };
    let Value::Object(p) = patch else {
        return Err("a strategic-merge patch must be a mapping".to_owned());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(Outcome::Deleted),
        Some("replace") => {
            *target = clean(patch);
            return Ok(Outcome::Merged);
        }
        _ => {}
    }
    let Value::Object(t) = target else {
        return Err("the patch target is not a mapping".to_owned());
    };
    let mut path = Vec::new();
    merge_map(t, p, &ctx, &mut path)?;
    Ok(Outcome::Merged)
}

fn directive_error(key: &str) -> String {
    format!(
        "strategic-merge directive {key:?} is not supported (supported: $patch: delete|replace)"
    )
}

fn merge_map(
    dest: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    ctx: &Ctx,
    path: &mut Vec<String>,
) -> Result<(), String> {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *dest = match clean(&Value::Object(patch.clone())) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        return Ok(());
    }
    for (k, pv) in patch {
        if k == "$patch" {
            continue;
        }
        if k.starts_with('$') {
            return Err(directive_error(k));
        }
        if pv.is_null() {
            dest.remove(k);
            continue;
        }
        path.push(k.clone());
        match (dest.get_mut(k), pv) {
            (Some(Value::Object(d)), Value::Object(p)) => {
                if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                    dest.remove(k);
                } else {
                    merge_map(d, p, ctx, path)?;
                }
            }
            (Some(Value::Array(d)), Value::Array(p)) => {
                merge_list(d, p, ctx, path)?;
            }
            _ => {
                let is_delete = pv.get("$patch").and_then(Value::as_str) == Some("delete");
                if is_delete {
                    dest.remove(k);
                } else {
                    dest.insert(k.clone(), clean(pv));
                }
            }
        }
        path.pop();
    }
    Ok(())
}

/// The patch value without directives (for values that are inserted, not merged).
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "$patch")
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                .filter(|i| {
                    !(i.is_object()
                        && i.get("$patch").is_some()
                        && i.as_object().is_some_and(|m| m.len() == 1))
                })
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The merge key of a list, from the schema of built-in kinds or inferred.
fn merge_key(field: &str, path: &[String], items: &[&Value], ctx: &Ctx) -> Option<String> {
    if ctx.builtin {
        let in_container = path.len() >= 2
            && path[..path.len() - 1]
                .iter()
                .any(|p| p.ends_with("ontainers"));
        let key = match field {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "env"
            | "volumes"
            | "imagePullSecrets"
            | "resourceClaims"
            | "schedulingGates" => Some("name"),
            "volumeMounts" => Some("mountPath"),
            "ownerReferences" => Some("uid"),
            "volumeDevices" => Some("devicePath"),
            "hostAliases" => Some("ip"),
            "topologySpreadConstraints" => Some("topologyKey"),
            "readinessGates" => Some("conditionType"),
            "conditions" => Some("type"),
            "secrets" if ctx.kind == "ServiceAccount" => Some("name"),
            "ports" if in_container => Some("containerPort"),
            "ports" if ctx.kind == "Service" => Some("port"),
            _ => None,
        };
        return key.map(str::to_owned);
    }
    // Kinds without a schema (custom resources): kustomize replaces lists (checked against
    // `kubectl kustomize`).
    let _ = items;
    None
}

fn merge_list(
    dest: &mut Vec<Value>,
    patch: &[Value],
    ctx: &Ctx,
    path: &mut Vec<String>,
) -> Result<(), String> {
    let field = path.last().cloned().unwrap_or_default();
    // `- $patch: replace` replaces the list with the other elements.
    if patch.iter().any(|i| {
        i.get("$patch").and_then(Value::as_str) == Some("replace")
            && i.as_object().is_some_and(|m| m.len() == 1)
    }) {
        *dest = patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(clean)
            .collect();
        return Ok(());
    }
    // `metadata.finalizers` merges as a set: the patch's values, then the target's others.
    if ctx.builtin && field == "finalizers" && path.len() == 2 && path[0] == "metadata" {
        let mut out: Vec<Value> = patch.iter().filter(|v| !v.is_object()).cloned().collect();
        for d in dest.drain(..) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        *dest = out;
        return Ok(());
    }
    let all_maps = !patch.is_empty() && patch.iter().all(Value::is_object);
    let items: Vec<&Value> = dest.iter().chain(patch.iter()).collect();
    let key = if all_maps {
        merge_key(&field, path, &items, ctx)
    } else {
        None
    };
    let Some(key) = key else {
        *dest = patch.iter().map(clean).collect();
        return Ok(());
    };
    // kyaml rebuilds the list: the patch's elements in patch order (merged with the matching
    // element of the target), then the target's other elements in their order.
    let mut rest: Vec<Option<Value>> = std::mem::take(dest).into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(rest.len() + patch.len());
    // Some lists have a second key (Kubernetes' list-map keys): ports (protocol) and
    // topologySpreadConstraints (whenUnsatisfiable). kustomize matches elements on both; a patch
    // element whose second key is given on only one side of an otherwise matching element is
    // dropped (checked against `kubectl kustomize`).
    let second = match field.as_str() {
        "ports" => Some("protocol"),
        "topologySpreadConstraints" => Some("whenUnsatisfiable"),
        _ => None,
    };
    for p in patch {
        let Value::Object(pm) = p else { continue };
        let kv = pm.get(&key);
        let same = |d: &Value| d.get(&key) == kv && second.is_none_or(|k2| d.get(k2) == pm.get(k2));
        let pos = kv.and_then(|_| rest.iter().position(|d| d.as_ref().is_some_and(same)));
        if let (None, Some(k2), Some(_)) = (pos, second, kv) {
            let shadowed = rest
                .iter()
                .flatten()
                .any(|d| d.get(&key) == kv && (d.get(k2).is_none() != pm.get(k2).is_none()));
            if shadowed {
                continue;
            }
        }
        let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                rest[i] = None;
            }
            (None, true) => {}
            (Some(i), false) => {
                if let Some(Value::Object(mut d)) = rest[i].take() {
                    merge_map(&mut d, pm, ctx, path)?;
                    out.push(Value::Object(d));
                }
            }
            (None, false) => out.push(clean(p)),
        }
    }
    out.extend(rest.into_iter().flatten());
    *dest = out;
    Ok(())
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
    fn null_deletes_and_scalar_lists_replace() {
        let mut t = json!({"apiVersion": "v1", "kind": "X", "a": {"b": 1, "c": 2}, "l": [1, 2]});
        apply(&mut t, &json!({"a": {"b": null}, "l": [3]})).unwrap();
        assert_eq!(
            t,
            json!({"apiVersion": "v1", "kind": "X", "a": {"c": 2}, "l": [3]})
        );
    }
}
