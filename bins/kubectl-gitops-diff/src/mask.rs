//! Secret values masked exactly as `kubectl diff` masks them (its `Masker`): every value of a
//! `v1` `Secret`'s `data` becomes `***`, except that a key present on both sides with different
//! values becomes `*** (before)` on the old side and `*** (after)` on the new one, so a changed
//! Secret still shows as changed without showing a byte of it. `stringData` (which only rendered
//! input has; the server folds it into `data`) is masked the same way.
//!
//! Masking happens on the objects as they will be shown, after the server-side dry run: the
//! server always receives the real values, never the placeholders.

use serde_json::Value;

/// The mask of an unchanged (or one-sided) value.
pub const MASK: &str = "***";
/// The mask of a changed value on the old side.
pub const MASK_BEFORE: &str = "*** (before)";
/// The mask of a changed value on the new side.
pub const MASK_AFTER: &str = "*** (after)";

/// Whether an object is a core `v1` `Secret` (the only kind kubectl masks).
pub fn is_secret(obj: &Value) -> bool {
    obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && obj.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// Masks the Secret values of both sides of one object in place. Either side may be absent
/// (created or pruned objects); a side that is not a Secret is left alone.
pub fn mask_pair(before: Option<&mut Value>, after: Option<&mut Value>) {
    let before = before.filter(|v| is_secret(v));
    let after = after.filter(|v| is_secret(v));
    match (before, after) {
        (None, None) => {}
        (Some(b), None) => {
            for field in ["data", "stringData"] {
                mask_fields(b.get_mut(field), None);
            }
        }
        (None, Some(a)) => {
            for field in ["data", "stringData"] {
                mask_fields(None, a.get_mut(field));
            }
        }
        (Some(b), Some(a)) => {
            for field in ["data", "stringData"] {
                mask_fields(b.get_mut(field), a.get_mut(field));
            }
        }
    }
}

/// kubectl's algorithm on one map field of both sides.
fn mask_fields(from: Option<&mut Value>, to: Option<&mut Value>) {
    let mut from = from.and_then(Value::as_object_mut);
    let mut to = to.and_then(Value::as_object_mut);
    if let Some(from) = from.as_deref_mut() {
        for (key, value) in from.iter_mut() {
            if let Some(other) = to.as_deref_mut().and_then(|t| t.get_mut(key)) {
                if value != other {
                    *value = MASK_BEFORE.into();
                    *other = MASK_AFTER.into();
                    continue;
                }
                *other = MASK.into();
            }
            *value = MASK.into();
        }
    }
    if let Some(to) = to {
        // Keys that exist only on the new side.
        for (key, value) in to.iter_mut() {
            if !from.as_deref().is_some_and(|f| f.contains_key(key)) {
                *value = MASK.into();
            }
        }
    }
}

/// Registers every Secret value of `obj` (decoded and as stored) with the scrubber, so that no
/// error or log line can show one even when a server's message quotes it.
pub fn register_secret_values(obj: &Value) {
    use base64::Engine as _;
    if !is_secret(obj) {
        return;
    }
    for field in ["data", "stringData"] {
        let Some(map) = obj.get(field).and_then(Value::as_object) else {
            continue;
        };
        for value in map.values().filter_map(Value::as_str) {
            // Very short values would turn ordinary words of messages into `***`.
            if value.len() >= 4 {
                gitops::scrub::register(value);
            }
            if field == "data" {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(value) {
                    if let Ok(text) = String::from_utf8(bytes) {
                        if text.len() >= 4 {
                            gitops::scrub::register(&text);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
    }

    #[test]
    fn masks_like_kubectl() {
        let mut from = secret(json!({"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}));
        let mut to = secret(json!({"same": "YQ==", "changed": "ZA==", "new": "ZQ=="}));
        mask_pair(Some(&mut from), Some(&mut to));
        assert_eq!(
            from["data"],
            json!({"same": "***", "changed": "*** (before)", "gone": "***"})
        );
        assert_eq!(
            to["data"],
            json!({"same": "***", "changed": "*** (after)", "new": "***"})
        );
    }

    #[test]
    fn one_sided_and_other_kinds() {
        let mut created = secret(json!({"k": "dmFsdWU="}));
        created["stringData"] = json!({"p": "plain"});
        mask_pair(None, Some(&mut created));
        assert_eq!(created["data"], json!({"k": "***"}));
        assert_eq!(created["stringData"], json!({"p": "***"}));
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        mask_pair(Some(&mut cm), None);
        assert_eq!(cm["data"]["k"], "v");
        // A CRD that happens to be called Secret is not a core Secret.
        assert!(!is_secret(
            &json!({"apiVersion": "example.com/v1", "kind": "Secret"})
        ));
    }

    #[test]
    fn a_value_equal_to_a_mask_is_still_masked_on_the_new_side() {
        let mut from = secret(json!({}));
        let mut to = secret(json!({"k": "*** (before)x"}));
        mask_pair(Some(&mut from), Some(&mut to));
        assert_eq!(to["data"]["k"], "***");
    }
}
