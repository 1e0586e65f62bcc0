//! Field specs: kustomize's way of naming where a transformer acts (`spec/template/metadata/labels`
//! for kind Deployment, create if missing). Sequences met on the way are walked element by
//! element, `[]` marks a segment that holds a sequence, and `\/` escapes a slash in a key.

use serde_json::{Map, Value};

use super::resource::Res;

/// One field spec.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: Vec<String>,
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            path: split_path(path),
            create,
        }
    }

    /// Whether the spec applies to `res` (empty parts match anything).
    pub fn selects(&self, res: &Res) -> bool {
        self.selects_gvk(res.group(), res.version(), res.kind())
    }

    pub fn selects_gvk(&self, group: &str, version: &str, kind: &str) -> bool {
        (self.kind.is_empty() || self.kind == kind)
            && (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
    }
}

/// `a/b\/c/d[]` → `["a", "b/c", "d[]"]`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

/// Calls `f` on every value at `path` below `value`, creating missing maps when `create`.
/// `f` receives `Value::Null` for a field it may create (only when `create`).
pub fn walk<E>(
    value: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let Some((head, rest)) = path.split_first() else {
        return f(value);
    };
    if let Value::Array(items) = value {
        for item in items {
            walk(item, path, create, f)?;
        }
        return Ok(());
    }
    let (key, is_seq) = match head.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (head.as_str(), false),
    };
    let Value::Object(map) = value else {
        return Ok(());
    };
    match map.get_mut(key) {
        Some(Value::Null) | None => {
            if !create || is_seq {
                return Ok(());
            }
            if rest.is_empty() {
                let mut v = Value::Null;
                f(&mut v)?;
                if !v.is_null() {
                    map.insert(key.to_owned(), v);
                }
                Ok(())
            } else {
                let mut child = Value::Object(Map::new());
                walk(&mut child, rest, create, f)?;
                map.insert(key.to_owned(), child);
                Ok(())
            }
        }
        Some(child) => walk(child, rest, create, f),
    }
}

/// Sets string pairs into the map at a field spec target (labels, annotations, selectors).
pub fn set_pairs(target: &mut Value, pairs: &[(String, String)]) -> Result<(), String> {
    if target.is_null() {
        *target = Value::Object(Map::new());
    }
    match target {
        Value::Object(map) => {
            for (k, v) in pairs {
                map.insert(k.clone(), Value::String(v.clone()));
            }
            Ok(())
        }
        other => Err(format!("expected a mapping, found {}", short(other))),
    }
}

fn short(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a sequence",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Object(_) => "a mapping",
    }
}

/// Parses `[Fs]` from a compact table: one spec per line, `path|kind|group|version|create`.
pub fn table(text: &str) -> Vec<FieldSpec> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.split('|');
            let path = parts.next().unwrap_or("");
            let kind = parts.next().unwrap_or("");
            let group = parts.next().unwrap_or("");
            let version = parts.next().unwrap_or("");
            let create = parts.next() == Some("c");
            FieldSpec::new(group, version, kind, path, create)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_on_unescaped_slashes() {
        assert_eq!(split_path("a/b\\/c/d[]"), ["a", "b/c", "d[]"]);
    }

    #[test]
    fn walk_visits_sequences_and_creates_maps() {
        let mut v = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let mut seen = Vec::new();
        walk(
            &mut v,
            &split_path("spec/containers/name"),
            false,
            &mut |x: &mut Value| -> Result<(), ()> {
                seen.push(x.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, [json!("a"), json!("b")]);
        let mut v = json!({"metadata": {}});
        walk(
            &mut v,
            &split_path("spec/selector/matchLabels"),
            true,
            &mut |x: &mut Value| set_pairs(x, &[("k".into(), "v".into())]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {}, "spec": {"selector": {"matchLabels": {"k": "v"}}}})
        );
    }
}
