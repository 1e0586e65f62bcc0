//! The three non-apply patch types: JSON merge patch (RFC 7386) and JSON patch (RFC 6902)
//! through the `json-patch` crate, and strategic merge patch, hand-written here because it
//! needs the Kubernetes merge keys (`containers[name]`, `ports[containerPort]`, ...) and the
//! `$patch` / `$setElementOrder` / `$retainKeys` directives kubectl sends.

use serde_json::{Map, Value};

use crate::fields::{list_kind, ListKind};
use crate::status::ApiError;

/// Patch types by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

impl PatchType {
    /// Recognises a Content-Type (parameters ignored).
    pub fn from_content_type(ct: &str) -> Result<PatchType, ApiError> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies a non-apply patch to `target`.
pub fn patch(
    kind: PatchType,
    target: &Value,
    body: &[u8],
    is_custom: bool,
) -> Result<Value, ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::bad_request(format!("the patch could not be decoded: {e}"))
    };
    match kind {
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(body).map_err(|e| bad(&e))?;
            let mut out = target.clone();
            json_patch::merge(&mut out, &p);
            Ok(out)
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body).map_err(|e| bad(&e))?;
            let mut out = target.clone();
            json_patch::patch(&mut out, &p).map_err(|e| ApiError::invalid_patch(&e.to_string()))?;
            Ok(out)
        }
        PatchType::Strategic => {
            if is_custom {
                // As in the apiserver: custom resources have no Go struct to carry merge keys.
                return Err(ApiError::unsupported_body(
                    "strategic merge patch is not supported for custom resources; use a JSON merge patch or JSON patch",
                ));
            }
            let p: Value = serde_json::from_slice(body).map_err(|e| bad(&e))?;
            Ok(strategic(Some(target), &p, ""))
        }
        PatchType::Apply => Err(ApiError::internal(
            "apply patch routed to the wrong handler",
        )),
    }
}

/// Strategic merge of `patch` into `target` (the value under `field`).
pub fn strategic(target: Option<&Value>, patch: &Value, field: &str) -> Value {
    match (target, patch) {
        (Some(Value::Object(t)), Value::Object(p)) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                return Value::Object(strip_directives(p));
            }
            let mut out = t.clone();
            if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
                out.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
            }
            for (k, pv) in p {
                if k.starts_with('$') {
                    continue;
                }
                if pv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = strategic(t.get(k), pv, k);
                out.insert(k.clone(), merged);
            }
            // `$deleteFromPrimitiveList/x` keys start with '$' and were skipped above.
            for (k, pv) in p {
                if let Some(name) = k.strip_prefix("$deleteFromPrimitiveList/") {
                    if let (Some(Value::Array(list)), Value::Array(del)) = (out.get_mut(name), pv) {
                        list.retain(|x| !del.contains(x));
                    }
                }
            }
            Value::Object(out)
        }
        (Some(Value::Array(t)), Value::Array(p)) => {
            let mut all = t.clone();
            all.extend(p.iter().filter(|i| i.get("$patch").is_none()).cloned());
            match list_kind(field, &all) {
                ListKind::Map(keys) => {
                    // Strategic merge uses a single merge key (the first of the SSA keys).
                    let key = keys[0];
                    if p.iter()
                        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
                    {
                        return Value::Array(
                            p.iter()
                                .filter(|i| i.get("$patch").is_none())
                                .cloned()
                                .collect(),
                        );
                    }
                    let mut out = t.clone();
                    for item in p {
                        let id = item.get(key);
                        let pos = out.iter().position(|i| i.get(key) == id && id.is_some());
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                out.remove(i);
                            }
                            (None, true) => {}
                            (Some(i), false) => out[i] = strategic(Some(&out[i]), item, ""),
                            (None, false) => out.push(strip_value(item)),
                        }
                    }
                    Value::Array(out)
                }
                ListKind::Set => {
                    let mut out = t.clone();
                    for item in p {
                        if !out.contains(item) {
                            out.push(item.clone());
                        }
                    }
                    Value::Array(out)
                }
                ListKind::Atomic => Value::Array(p.iter().map(strip_value).collect()),
            }
        }
        _ => strip_value(patch),
    }
}

fn strip_directives(o: &Map<String, Value>) -> Map<String, Value> {
    o.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(strip_directives(o)),
        Value::Array(a) => Value::Array(a.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "a", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "b"}]}});
        let out = strategic(Some(&t), &p, "");
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "b", "image": "z"}]}})
        );
    }

    #[test]
    fn merge_and_json_patch() {
        let t = json!({"a": {"b": 1, "c": 2}});
        let out = patch(PatchType::Merge, &t, br#"{"a":{"c":null,"d":3}}"#, false).unwrap();
        assert_eq!(out, json!({"a": {"b": 1, "d": 3}}));
        let out = patch(
            PatchType::Json,
            &t,
            br#"[{"op":"replace","path":"/a/b","value":5}]"#,
            false,
        )
        .unwrap();
        assert_eq!(out["a"]["b"], 5);
    }
}
