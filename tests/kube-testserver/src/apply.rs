//! Server-side apply and field ownership: merges an applied configuration into the live object,
//! reports conflicts with other managers (409 unless forced), removes fields a manager stopped
//! applying when nobody else owns them, and keeps `metadata.managedFields` up to date for every
//! write (Apply entries for apply patches, Update entries for create/update/other patches).

use serde_json::{json, Map, Value};

use crate::fields::{self, list_kind, path_string, FieldSet, ListKind, Step};

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone)]
pub struct Managed {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the manager wrote with.
    pub api_version: String,
    /// RFC 3339 time of the last change.
    pub time: String,
    /// `status` for writes to the status subresource.
    pub subresource: Option<String>,
    /// Owned fields.
    pub fields: FieldSet,
}

impl Managed {
    fn same_slot(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// The entry as the JSON the API shows.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
    }
}

/// Reads `metadata.managedFields` of a stored object.
pub fn read_managed(obj: &Value) -> Vec<Managed> {
    let Some(items) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|e| {
            Some(Managed {
                manager: e.get("manager")?.as_str()?.to_string(),
                operation: e.get("operation")?.as_str()?.to_string(),
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                fields: FieldSet::from_fields_v1(e.get("fieldsV1")?),
            })
        })
        .collect()
}

/// Writes `entries` into `metadata.managedFields` (dropping empty ones).
pub fn write_managed(obj: &mut Value, entries: Vec<Managed>) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Managed::to_json)
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who is writing and how.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// Field manager.
    pub manager: &'a str,
    /// apiVersion of the request.
    pub api_version: &'a str,
    /// `Some("status")` for the status subresource.
    pub subresource: Option<&'a str>,
    /// Timestamp for the entry.
    pub time: &'a str,
}

/// An apply that collides with other managers' fields: (manager description, path) pairs.
#[derive(Debug, Clone)]
pub struct Conflicts(pub Vec<(String, String)>);

impl Conflicts {
    /// The message the apiserver sends (`Apply failed with 1 conflict: conflict with "m": .a`).
    pub fn message(&self) -> String {
        if let [(m, p)] = self.0.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {m}: {p}");
        }
        let mut managers: Vec<&String> = self.0.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (_, p) in self.0.iter().filter(|(mm, _)| mm == m) {
                lines.push(format!("- {p}"));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }

    /// `details.causes` entries.
    pub fn causes(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|(m, p)| json!({"type": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p}))
            .collect()
    }
}

fn describe(e: &Managed) -> String {
    let mut s = format!("{:?}", e.manager);
    if let Some(sub) = &e.subresource {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if e.operation == "Update" {
        s.push_str(&format!(" using {}", e.api_version));
    }
    s
}

/// Applies `applied` over `live` (None when the object does not exist yet) for `writer`.
/// Returns the merged object with updated managedFields.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    writer: &Writer<'_>,
    force: bool,
) -> Result<Value, Conflicts> {
    let with_status = writer.subresource == Some("status");
    let empty = json!({});
    let live = live.unwrap_or(&empty);
    let mut entries = read_managed(live);
    let applied_set = FieldSet::of_object(applied, with_status);

    let mut conflicts = Vec::new();
    for e in entries.iter_mut() {
        if e.same_slot(writer.manager, "Apply", writer.subresource) {
            continue;
        }
        let mut lost = Vec::new();
        for p in applied_set.paths() {
            if !e.fields.contains(&p) || is_inner(&applied_set, &p) {
                continue;
            }
            if fields::get_path(live, &p) != fields::get_path(applied, &p) {
                lost.push(p);
            }
        }
        if force {
            for p in &lost {
                e.fields.remove(p);
            }
        } else {
            let who = describe(e);
            conflicts.extend(lost.iter().map(|p| (who.clone(), path_string(p))));
        }
    }
    if !conflicts.is_empty() {
        return Err(Conflicts(conflicts));
    }

    let mut merged = merge(Some(live), applied, "");
    // Restore what the merge must not touch: identity metadata comes from live when present.
    let previous = entries
        .iter()
        .position(|e| e.same_slot(writer.manager, "Apply", writer.subresource))
        .map(|i| entries.remove(i));
    if let Some(prev) = &previous {
        let mut dropped: Vec<Vec<Step>> = prev
            .fields
            .paths()
            .into_iter()
            .filter(|p| !applied_set.contains(p) && !has_descendant_in(&applied_set, p))
            .filter(|p| !entries.iter().any(|e| owns_at_or_under(&e.fields, p)))
            .collect();
        // Shallowest first: a list item must be found by its key fields before they go;
        // its children then go with it.
        dropped.sort_by_key(Vec::len);
        for p in &dropped {
            fields::remove_path(&mut merged, p);
            prune_empty_parents(&mut merged, p, &entries, &applied_set);
        }
    }
    entries.push(Managed {
        manager: writer.manager.to_string(),
        operation: "Apply".into(),
        api_version: writer.api_version.to_string(),
        time: writer.time.to_string(),
        subresource: writer.subresource.map(str::to_string),
        fields: applied_set,
    });
    write_managed(&mut merged, entries);
    Ok(merged)
}

/// Records an Update-operation write (create, update, non-apply patch) from `old` to `new`:
/// the writer takes ownership of every changed field; other managers lose those fields.
pub fn record_update(old: Option<&Value>, new: &mut Value, writer: &Writer<'_>) {
    let with_status = writer.subresource == Some("status");
    let empty = json!({});
    let mut entries = read_managed(old.unwrap_or(&empty));
    let changed = fields::changed_paths(old.unwrap_or(&empty), new, with_status);
    let present = FieldSet::of_object(new, true);
    for e in entries.iter_mut() {
        if !e.same_slot(writer.manager, "Update", writer.subresource) {
            for p in &changed {
                if !is_inner(&present, p) {
                    e.fields.remove(p);
                }
            }
        }
        // Fields that no longer exist are owned by nobody.
        for p in e.fields.paths() {
            if !present.contains(&p) && !has_descendant_in(&present, &p) {
                e.fields.remove(&p);
            }
        }
    }
    if !changed.is_empty() {
        let idx = entries
            .iter()
            .position(|e| e.same_slot(writer.manager, "Update", writer.subresource));
        let entry = match idx {
            Some(i) => &mut entries[i],
            None => {
                entries.push(Managed {
                    manager: writer.manager.to_string(),
                    operation: "Update".into(),
                    api_version: writer.api_version.to_string(),
                    time: writer.time.to_string(),
                    subresource: writer.subresource.map(str::to_string),
                    fields: FieldSet::default(),
                });
                let last = entries.len() - 1;
                &mut entries[last]
            }
        };
        entry.time = writer.time.to_string();
        entry.api_version = writer.api_version.to_string();
        for p in &changed {
            // Inner nodes are implied by their leaves, except list items (`.`).
            if !is_inner(&present, p) || matches!(p.last(), Some(Step::Key(_))) {
                entry.fields.insert(p);
            }
        }
    }
    write_managed(new, entries);
}

/// After removing `path`, removes maps and lists it leaves empty, unless someone owns them
/// as a value (an explicitly applied `{}` or `[]`).
fn prune_empty_parents(obj: &mut Value, path: &[Step], entries: &[Managed], applied: &FieldSet) {
    let mut parent = path;
    while let Some((_, up)) = parent.split_last() {
        if up.is_empty() {
            return;
        }
        let empty = match fields::get_path(obj, up) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        let owned = applied.contains(up) || entries.iter().any(|e| e.fields.contains(up));
        if !empty || owned {
            return;
        }
        fields::remove_path(obj, up);
        parent = up;
    }
}

fn node<'a>(set: &'a FieldSet, path: &[Step]) -> Option<&'a FieldSet> {
    let mut cur = set;
    for s in path {
        cur = cur.children.get(s)?;
    }
    Some(cur)
}

/// Whether `path` has children in `set` (a map or keyed item rather than a leaf value).
fn is_inner(set: &FieldSet, path: &[Step]) -> bool {
    node(set, path).is_some_and(|n| !n.children.is_empty())
}

fn has_descendant_in(set: &FieldSet, path: &[Step]) -> bool {
    is_inner(set, path)
}

fn owns_at_or_under(set: &FieldSet, path: &[Step]) -> bool {
    node(set, path).is_some_and(|n| !n.is_empty())
}

/// Structural merge of `applied` into `live`: maps merge, keyed lists merge by key, sets
/// union, everything else is replaced.
pub fn merge(live: Option<&Value>, applied: &Value, field: &str) -> Value {
    match (live, applied) {
        (Some(Value::Object(l)), Value::Object(a)) => {
            let mut out: Map<String, Value> = l.clone();
            for (k, av) in a {
                let merged = merge(l.get(k), av, k);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(a)) => {
            let mut all = l.clone();
            all.extend(a.iter().cloned());
            match list_kind(field, &all) {
                ListKind::Map(keys) => {
                    let mut out = l.clone();
                    for item in a {
                        let key = fields::item_key(item, &keys);
                        let pos = out.iter().position(|i| fields::item_key(i, &keys) == key);
                        match pos {
                            Some(i) => out[i] = merge(Some(&out[i]), item, ""),
                            None => out.push(item.clone()),
                        }
                    }
                    Value::Array(out)
                }
                ListKind::Set => {
                    let mut out = l.clone();
                    for item in a {
                        if !out.contains(item) {
                            out.push(item.clone());
                        }
                    }
                    Value::Array(out)
                }
                ListKind::Atomic => applied.clone(),
            }
        }
        _ => applied.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    fn w(m: &'static str) -> Writer<'static> {
        Writer {
            manager: m,
            api_version: "v1",
            subresource: None,
            time: "t",
        }
    }

    #[test]
    fn conflict_then_force_then_removal() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"x": "1", "y": "1"}});
        let live = apply(None, &a, &w("a"), false).unwrap();
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"x": "2"}});
        let err = apply(Some(&live), &b, &w("b"), false).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"a\": .data.x"
        );
        let live = apply(Some(&live), &b, &w("b"), true).unwrap();
        assert_eq!(live["data"]["x"], "2");
        // a stops applying y and x: y goes (only a owned it), x stays (b owns it).
        let a2 =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        let live = apply(Some(&live), &a2, &w("a"), false).unwrap();
        assert_eq!(live["data"], json!({"x": "2"}));
    }

    #[test]
    fn same_value_is_shared_not_conflicting() {
        let a = json!({"metadata": {"name": "c"}, "data": {"x": "1"}});
        let live = apply(None, &a, &w("a"), false).unwrap();
        let live = apply(Some(&live), &a, &w("b"), false).unwrap();
        assert_eq!(read_managed(&live).len(), 2);
    }
}
