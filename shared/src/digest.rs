//! Content digests of objects and streams that ignore formatting and key order, so that the same
//! manifests give the same `sha256:…` whether they came from YAML or JSON, a kustomize build or a
//! Helm chart. The canonical form is compact JSON with object keys sorted by byte order.

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::manifest::{legacy_order, Object};

/// A sha256 digest, shown as `sha256:<64 hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of arbitrary bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let hash = Sha256::digest(bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.as_slice());
        Digest(out)
    }

    /// The hex digits without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first `n` hex digits, for branch names and short displays.
    pub fn short(&self, n: usize) -> String {
        let mut h = self.hex();
        h.truncate(n);
        h
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

/// Compact JSON with sorted keys: equal for equal data, however it was written.
pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The digest of one object's content.
pub fn object_digest(value: &Value) -> Digest {
    Digest::of_bytes(&canonical(value))
}

/// The digest of a whole stream: the canonical objects in the deterministic output order, one
/// per line. Input order, formatting and key order do not change it.
pub fn stream_digest(objects: &[Object]) -> Digest {
    let mut ids: Vec<(crate::manifest::Identity, &Object)> =
        objects.iter().map(|o| (o.identity(), o)).collect();
    ids.sort_by(|(a, _), (b, _)| legacy_order(a, b));
    let mut hasher = Sha256::new();
    for (_, obj) in ids {
        hasher.update(canonical(&obj.value));
        hasher.update(b"\n");
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(hasher.finalize().as_slice());
    Digest(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_stream;
    use std::sync::Arc;

    fn objects(text: &str) -> Vec<Object> {
        parse_stream(text, &Arc::from("t")).unwrap()
    }

    #[test]
    fn key_order_and_formatting_do_not_matter() {
        let a = objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: '1'\n  y: \"2\"\n",
        );
        let b = objects("{\"data\": {\"y\": \"2\", \"x\": \"1\"}, \"metadata\": {\"name\": \"a\"},\n \"kind\": \"ConfigMap\", \"apiVersion\": \"v1\"}");
        assert_eq!(object_digest(&a[0].value), object_digest(&b[0].value));
        assert_eq!(stream_digest(&a), stream_digest(&b));
    }

    #[test]
    fn content_and_types_do_matter() {
        let a = objects("kind: A\nv: 1\n");
        let b = objects("kind: A\nv: '1'\n");
        assert_ne!(object_digest(&a[0].value), object_digest(&b[0].value));
    }

    #[test]
    fn stream_digest_ignores_input_order() {
        let one = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n";
        let two = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
        let a = objects(&format!("{one}---\n{two}"));
        let b = objects(&format!("{two}---\n{one}"));
        assert_eq!(stream_digest(&a), stream_digest(&b));
    }

    #[test]
    fn known_value() {
        assert_eq!(
            Digest::of_bytes(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            canonical(&serde_json::json!({"b": [1, "x"], "a": null})),
            br#"{"a":null,"b":[1,"x"]}"#
        );
    }
}
