//! Server-side printing: kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` for
//! its default table output and prints the server's columns. We answer with the columns real
//! servers show for the common kinds (NAME ... AGE) and NAME/AGE for everything else.

use serde_json::{json, Value};

fn age(o: &Value) -> String {
    let Some(ts) = o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
    else {
        return "<unknown>".into();
    };
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn int(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn s(o: &Value, p: &str) -> String {
    o.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn col(name: &str, ty: &str) -> Value {
    json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": 0})
}

/// Column names and the cells of one object for `kind`.
fn columns(kind: &str) -> Vec<Value> {
    let names: &[&str] = match kind {
        "Deployment" => &["Name", "Ready", "Up-to-date", "Available", "Age"],
        "StatefulSet" => &["Name", "Ready", "Age"],
        "ReplicaSet" => &["Name", "Desired", "Current", "Ready", "Age"],
        "DaemonSet" => &[
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
        ],
        "Pod" => &["Name", "Ready", "Status", "Restarts", "Age"],
        "Service" => &[
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
        ],
        "ConfigMap" => &["Name", "Data", "Age"],
        "Secret" => &["Name", "Type", "Data", "Age"],
        "Namespace" => &["Name", "Status", "Age"],
        "Job" => &["Name", "Status", "Completions", "Duration", "Age"],
        _ => &["Name", "Age"],
    };
    names
        .iter()
        .map(|n| {
            col(
                n,
                if *n == "Name" || n.len() > 3 {
                    "string"
                } else {
                    "integer"
                },
            )
        })
        .collect()
}

fn cells(kind: &str, o: &Value) -> Vec<Value> {
    let name = json!(s(o, "/metadata/name"));
    let a = json!(age(o));
    match kind {
        "Deployment" => {
            let want = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{}", int(o, "/status/readyReplicas"), want)),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
                a,
            ]
        }
        "StatefulSet" => {
            let want = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{}", int(o, "/status/readyReplicas"), want)),
                a,
            ]
        }
        "ReplicaSet" => vec![
            name,
            json!(int(o, "/spec/replicas")),
            json!(int(o, "/status/replicas")),
            json!(int(o, "/status/readyReplicas")),
            a,
        ],
        "DaemonSet" => vec![
            name,
            json!(int(o, "/status/desiredNumberScheduled")),
            json!(int(o, "/status/currentNumberScheduled")),
            json!(int(o, "/status/numberReady")),
            json!(int(o, "/status/updatedNumberScheduled")),
            json!(int(o, "/status/numberAvailable")),
            a,
        ],
        "Pod" => {
            let n = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let phase = o
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending");
            vec![name, json!(format!("0/{n}")), json!(phase), json!(0), a]
        }
        "Service" => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ports = if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            };
            vec![
                name,
                json!(s(o, "/spec/type")),
                json!(s(o, "/spec/clusterIP")),
                json!("<none>"),
                json!(ports),
                a,
            ]
        }
        "ConfigMap" => {
            let n = o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
                + o.get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len());
            vec![name, json!(n), a]
        }
        "Secret" => {
            let n = o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            vec![name, json!(s(o, "/type")), json!(n), a]
        }
        "Namespace" => vec![
            name,
            json!(o
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Active")),
            a,
        ],
        "Job" => {
            let done = int(o, "/status/succeeded");
            let want = o
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let complete = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Complete" && c["status"] == "True")
                });
            let failed = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Failed" && c["status"] == "True")
                });
            let status = if complete {
                "Complete"
            } else if failed {
                "Failed"
            } else {
                "Running"
            };
            vec![
                name,
                json!(status),
                json!(format!("{done}/{want}")),
                json!(""),
                a,
            ]
        }
        _ => vec![name, a],
    }
}

/// Converts a single object or a `<Kind>List` into a `meta.k8s.io/v1` Table.
pub fn to_table(kind: &str, v: &Value) -> Value {
    let items: Vec<&Value> = match v.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![v],
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| json!({"cells": cells(kind, o), "object": o}))
        .collect();
    let rv = v
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(json!(""));
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns(kind), "rows": rows})
}
