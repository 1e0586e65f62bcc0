//! `configMapGenerator` and `secretGenerator`, and the content hash kustomize appends to the
//! names of generated objects (`api/hasher`): sha256 over a small JSON document, the first 10
//! hex digits with a vowel-free substitution.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::Error;
use base64::Engine as _;
use gitops::{Object, Source};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::kustomization::{Generator, GeneratorOptions};
use super::loader::Loader;
use super::resource::Res;

/// kyaml's `encodeBase64`, used for Secret `data` and ConfigMap `binaryData`: standard base64
/// broken into lines of 70 characters, each ended by a newline, once the text is 70 characters
/// or longer; shorter text stays on one line without one. The hash sees the same text.
pub fn encode_base64(bytes: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    if text.len() < 70 {
        return text;
    }
    let mut wrapped = String::with_capacity(text.len() + text.len() / 70 + 1);
    for chunk in text.as_bytes().chunks(70) {
        wrapped.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        wrapped.push('\n');
    }
    wrapped
}

/// Builds the objects of one generator entry.
pub fn generate(
    loader: &Loader,
    g: &Generator,
    kind: &str,
    global: Option<&GeneratorOptions>,
) -> Result<Res, Error> {
    let file = loader.kustomization_name();
    let field = if kind == "Secret" {
        "secretGenerator"
    } else {
        "configMapGenerator"
    };
    let Some(name) = g.name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(Error::Invalid(format!(
            "{file}: {field}: an entry has no `name`"
        )));
    };
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut add = |key: String, value: Vec<u8>, what: &str| -> Result<(), Error> {
        if data.contains_key(&key) {
            return Err(Error::Invalid(format!(
                "{file}: {field} {name}: cannot add key {key} from {what}, another key by that name already exists"
            )));
        }
        if !is_config_key(&key) {
            return Err(Error::Invalid(format!(
                "{file}: {field} {name}: {key:?} is not a valid key name (letters, digits, '-', '_', '.')"
            )));
        }
        data.insert(key, value);
        Ok(())
    };
    let mut envs: Vec<&str> = g.envs.iter().map(String::as_str).collect();
    if let Some(env) = &g.env {
        envs.push(env);
    }
    for env in envs {
        let (path, bytes) = loader.read_bytes(env, &format!("{field}.envs"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::Invalid(format!("{}: env file is not UTF-8", path.display())))?;
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (line.to_owned(), std::env::var(line).unwrap_or_default()),
            };
            if !is_env_name(&key) {
                return Err(Error::Invalid(format!(
                    "{}:{}: {key:?} is not a valid environment variable name",
                    path.display(),
                    i + 1
                )));
            }
            add(key, value.into_bytes(), "env file")?;
        }
    }
    for literal in &g.literals {
        let Some((k, v)) = literal.split_once('=') else {
            return Err(Error::Invalid(format!(
                "{file}: {field} {name}: invalid literal source {literal:?}, expected key=value"
            )));
        };
        add(
            k.to_owned(),
            remove_quotes(v).as_bytes().to_vec(),
            "literal",
        )?;
    }
    for entry in &g.files {
        let (key, rel) = match entry.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{file}: {field} {name}: key for file {p:?} is empty"
                    )));
                }
                (k.to_owned(), p)
            }
            None => {
                let base = std::path::Path::new(entry)
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (base, entry.as_str())
            }
        };
        let (_, bytes) = loader.read_bytes(rel, &format!("{field}.files"))?;
        add(key, bytes, "file")?;
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = g.namespace.as_deref().filter(|s| !s.is_empty()) {
        metadata.insert("namespace".into(), json!(ns));
    }
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut disable_hash = false;
    let mut immutable = false;
    for opts in [global, g.options.as_ref()].into_iter().flatten() {
        for (k, v) in &opts.labels {
            labels.insert(k.clone(), json!(v));
        }
        for (k, v) in &opts.annotations {
            annotations.insert(k.clone(), json!(v));
        }
        if let Some(d) = opts.disable_name_suffix_hash {
            disable_hash = d;
        }
        if let Some(i) = opts.immutable {
            immutable = i;
        }
    }
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert("kind".into(), json!(kind));
    obj.insert("metadata".into(), Value::Object(metadata));
    if kind == "Secret" {
        let mut d = Map::new();
        for (k, v) in data {
            d.insert(k, Value::String(encode_base64(&v)));
        }
        if !d.is_empty() {
            obj.insert("data".into(), Value::Object(d));
        }
        let t = g
            .type_
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("Opaque");
        obj.insert("type".into(), json!(t));
    } else {
        if g.type_.is_some() {
            return Err(Error::Invalid(format!(
                "{file}: {field} {name}: `type` applies only to secrets"
            )));
        }
        let mut d = Map::new();
        let mut bd = Map::new();
        for (k, v) in data {
            match String::from_utf8(v) {
                Ok(s) => {
                    d.insert(k, Value::String(s));
                }
                Err(e) => {
                    let wrapped = encode_base64(e.as_bytes());
                    bd.insert(k, Value::String(wrapped));
                }
            }
        }
        if !d.is_empty() {
            obj.insert("data".into(), Value::Object(d));
        }
        if !bd.is_empty() {
            obj.insert("binaryData".into(), Value::Object(bd));
        }
    }
    if immutable {
        obj.insert("immutable".into(), json!(true));
    }
    let source = Source::new(Arc::from(file.as_str()), 1);
    let mut res = Res::new(Object::new(Value::Object(obj), source));
    res.needs_hash = !disable_hash;
    let behavior = g.behavior.clone().unwrap_or_else(|| "create".to_owned());
    if !matches!(behavior.as_str(), "create" | "merge" | "replace") {
        return Err(Error::Invalid(format!(
            "{file}: {field} {name}: behavior {behavior:?} must be create, merge or replace"
        )));
    }
    res.behavior = Some(behavior);
    Ok(res)
}

/// kustomize strips one pair of matching quotes around a literal's value.
fn remove_quotes(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

fn is_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.as_bytes()[0].is_ascii_digit()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// kustomize's name hash of a ConfigMap or Secret.
///
/// Missing `data` hashes as `""` (kustomize's `getNodeValues`).
pub fn hash(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    // kustomize 5.5 ends up with an empty name in the hashed document (checked against
    // `kubectl kustomize`: `{"data":{"x":"1"},"kind":"ConfigMap","name":""}`), so renames and
    // prefixes do not change the hash.
    let name = "";
    let data = string_map(obj.get("data"));
    // Go's json.Marshal of a map sorts keys.
    let mut doc = String::from("{");
    if kind == "ConfigMap" {
        let binary = string_map(obj.get("binaryData"));
        if !binary.is_empty() {
            doc.push_str("\"binaryData\":");
            go_json_map(&mut doc, &binary);
            doc.push(',');
        }
    }
    doc.push_str("\"data\":");
    if obj.get("data").is_some_and(Value::is_object) {
        go_json_map(&mut doc, &data);
    } else {
        doc.push_str("\"\"");
    }
    doc.push_str(",\"kind\":");
    go_json_string(&mut doc, kind);
    doc.push_str(",\"name\":");
    go_json_string(&mut doc, name);
    if kind == "Secret" {
        let string_data = string_map(obj.get("stringData"));
        if !string_data.is_empty() {
            doc.push_str(",\"stringData\":");
            go_json_map(&mut doc, &string_data);
        }
        doc.push_str(",\"type\":");
        go_json_string(
            &mut doc,
            obj.get("type").and_then(Value::as_str).unwrap_or(""),
        );
    }
    doc.push('}');
    let digest = Sha256::digest(doc.as_bytes());
    let hex = hex::encode(digest);
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

fn go_json_map(out: &mut String, m: &BTreeMap<String, String>) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, k);
        out.push(':');
        go_json_string(out, v);
    }
    out.push('}');
}

/// Go `encoding/json` string encoding, HTML-safe escaping included.
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_kubectl_kustomize() {
        // `configMapGenerator: [{name: a, literals: [x=1]}]` → `a-hmg6f82fh6` with kubectl 1.32.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}});
        assert_eq!(hash(&cm), "hmg6f82fh6");
        // The name does not take part (prefixes do not change the hash).
        let renamed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-a"}, "data": {"x": "1"}});
        assert_eq!(hash(&renamed), "hmg6f82fh6");
    }

    #[test]
    fn quotes_are_stripped_once() {
        assert_eq!(remove_quotes("\"a b\""), "a b");
        assert_eq!(remove_quotes("'x'"), "x");
        assert_eq!(remove_quotes("\"x'"), "\"x'");
    }
}
