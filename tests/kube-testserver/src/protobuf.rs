//! Just enough of the Kubernetes protobuf encoding to accept what `kubectl create namespace`,
//! `create configmap`, `create secret` and `create serviceaccount` send: client-go's typed
//! clients post built-in objects as `application/vnd.kubernetes.protobuf` (a `k8s\0` magic,
//! then a `runtime.Unknown` envelope around the object's own message). Other kinds answer 415
//! so the failure is explicit.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::status::ApiError;

/// A decoded protobuf field: number and payload.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn fields(b: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let tag = varint(b, &mut i)?;
        let (num, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => out.push((num, Field::Varint(varint(b, &mut i)?))),
            2 => {
                let len = usize::try_from(varint(b, &mut i)?).ok()?;
                let end = i.checked_add(len)?;
                out.push((num, Field::Bytes(b.get(i..end)?)));
                i = end;
            }
            1 => i += 8,
            5 => i += 4,
            _ => return None,
        }
    }
    Some(out)
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `map<string, string|bytes>` field entry.
fn map_entry(b: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let mut k = String::new();
    let mut v = Value::String(String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x),
            (2, Field::Bytes(x)) if bytes_value => {
                v = json!(base64::engine::general_purpose::STANDARD.encode(x))
            }
            (2, Field::Bytes(x)) => v = json!(string(x)),
            _ => {}
        }
    }
    Some((k, v))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("name".into(), json!(string(x)));
            }
            (2, Field::Bytes(x)) => {
                m.insert("generateName".into(), json!(string(x)));
            }
            (3, Field::Bytes(x)) => {
                m.insert("namespace".into(), json!(string(x)));
            }
            (11, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                labels.insert(k, v);
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                annotations.insert(k, v);
            }
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Some(Value::Object(m))
}

/// Decodes a protobuf request body into JSON, for the kinds listed in the module doc.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = || ApiError::bad_request("the protobuf request body could not be decoded");
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(bad)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(rest).ok_or_else(bad)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm).ok_or_else(bad)? {
                    match (tn, tf) {
                        (1, Field::Bytes(x)) => api_version = string(x),
                        (2, Field::Bytes(x)) => kind = string(x),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let (mut data, mut string_data) = (Map::new(), Map::new());
    let supported = matches!(
        kind.as_str(),
        "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
    );
    if !supported {
        return Err(ApiError::unsupported_body(format!(
            "kube-testserver cannot decode application/vnd.kubernetes.protobuf for {kind}: only Namespace, ConfigMap, Secret and ServiceAccount; send JSON"
        )));
    }
    let mut binary = Map::new();
    for (n, f) in fields(raw).ok_or_else(bad)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(x)) => obj["metadata"] = object_meta(x).ok_or_else(bad)?,
            ("ConfigMap", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false).ok_or_else(bad)?;
                data.insert(k, v);
            }
            ("ConfigMap", 3, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true).ok_or_else(bad)?;
                binary.insert(k, v);
            }
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                obj["immutable"] = json!(v != 0)
            }
            ("Secret", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true).ok_or_else(bad)?;
                data.insert(k, v);
            }
            ("Secret", 3, Field::Bytes(x)) => obj["type"] = json!(string(x)),
            ("Secret", 4, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false).ok_or_else(bad)?;
                string_data.insert(k, v);
            }
            ("ServiceAccount", 4, Field::Varint(v)) => {
                obj["automountServiceAccountToken"] = json!(v != 0)
            }
            _ => {}
        }
    }
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        obj["binaryData"] = Value::Object(binary);
    }
    if !string_data.is_empty() {
        obj["stringData"] = Value::Object(string_data);
    }
    Ok(obj)
}
