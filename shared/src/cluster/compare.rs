//! Desired against live: compares the result of a server-side dry-run apply with the live
//! object and lists what differs as JSON pointers with the old and new values.
//!
//! Comparing the dry-run result (not the rendered manifest) is what makes defaulted fields
//! disappear: the server fills in the same defaults on both sides. What remains is noise the
//! server changes on every write, which [`normalize`] drops: `metadata.managedFields`,
//! `resourceVersion`, `uid`, `generation`, `creationTimestamp`, `selfLink`, kubectl's
//! `last-applied-configuration` annotation, and `status` unless asked for. Ignore rules (in the
//! spirit of Argo CD's `ignoreDifferences` and Flux's `spec.ignore`) remove more, by object
//! selector and JSON pointer, from both sides before comparing.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::ObjectKey;

/// The annotation `kubectl apply` (client-side) keeps its last input in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields the server sets on every write.
const NOISY_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// Removes the fields that say nothing about the desired state. `keep_status` keeps `status`.
pub fn normalize(obj: &Value, keep_status: bool) -> Value {
    let mut out = obj.clone();
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    if !keep_status {
        map.remove("status");
    }
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for key in NOISY_METADATA {
            meta.remove(key);
        }
        let empty = match meta.get_mut("annotations") {
            Some(Value::Object(ann)) => {
                ann.remove(LAST_APPLIED_ANNOTATION);
                ann.is_empty()
            }
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            meta.remove("annotations");
        }
    }
    out
}

/// A rule that hides one field of the matching objects. `None` (or `*` when parsed) matches any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// An RFC 6901 JSON pointer (`/spec/replicas`, `/metadata/annotations/a~1b`).
    pub pointer: String,
}

impl IgnoreRule {
    /// Whether the rule applies to an object.
    pub fn matches(&self, key: &ObjectKey) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.group, &key.group)
            && ok(&self.kind, &key.kind)
            && ok(&self.namespace, &key.namespace)
            && ok(&self.name, &key.name)
    }
}

impl FromStr for IgnoreRule {
    type Err = String;

    /// `SELECTOR:POINTER`, with SELECTOR `Kind[.group][/[namespace/]name]` and `*` for any part:
    /// `Deployment.apps/prod/web:/spec/replicas`, `*:/metadata/labels/team`,
    /// `ConfigMap/*/settings:/data/generated`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (selector, pointer) = text.split_once(':').ok_or_else(|| {
            format!("{text:?}: expected SELECTOR:POINTER, e.g. Deployment.apps/web:/spec/replicas")
        })?;
        if !pointer.starts_with('/') {
            return Err(format!("{text:?}: the JSON pointer must start with '/'"));
        }
        let any = |s: &str| (s != "*").then(|| s.to_owned());
        let parts: Vec<&str> = selector.split('/').collect();
        let (gk, namespace, name) = match parts.as_slice() {
            [gk] => (*gk, None, None),
            [gk, name] => (*gk, None, any(name)),
            [gk, ns, name] => (*gk, any(ns), any(name)),
            _ => {
                return Err(format!(
                    "{text:?}: the selector is Kind[.group][/[namespace/]name]"
                ))
            }
        };
        let (kind, group) = match gk.split_once('.') {
            Some((kind, group)) => (any(kind), Some(group.to_owned())),
            None => (any(gk), None),
        };
        if gk.is_empty() {
            return Err(format!("{text:?}: the selector needs a kind (or *)"));
        }
        Ok(IgnoreRule {
            group,
            kind,
            namespace,
            name,
            pointer: pointer.to_owned(),
        })
    }
}

/// How to compare.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// Compare `status` too.
    pub keep_status: bool,
    pub ignore: Vec<IgnoreRule>,
}

/// One changed field: its JSON pointer and the value before (live) and after (desired);
/// `None` when the field is absent on that side.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("<absent>".to_owned(), Value::to_string);
        write!(
            f,
            "{}: {} -> {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// The outcome of a comparison: both sides as compared, and the changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The live object, normalized and with the ignored fields removed.
    pub live: Value,
    /// The desired (dry-run) object, likewise.
    pub desired: Value,
    pub changes: Vec<Change>,
}

impl Comparison {
    pub fn differs(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Compares a dry-run result (`desired`) with the `live` object.
pub fn compare(desired: &Value, live: &Value, options: &CompareOptions) -> Comparison {
    let key = ObjectKey::of(desired);
    let mut desired = normalize(desired, options.keep_status);
    let mut live = normalize(live, options.keep_status);
    for rule in options.ignore.iter().filter(|r| r.matches(&key)) {
        remove_pointer(&mut desired, &rule.pointer);
        remove_pointer(&mut live, &rule.pointer);
    }
    let mut changes = Vec::new();
    diff(
        &mut String::new(),
        Some(&live),
        Some(&desired),
        &mut changes,
    );
    Comparison {
        live,
        desired,
        changes,
    }
}

fn diff(path: &mut String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (k, va) in a {
                with_segment(path, k, |path| diff(path, Some(va), b.get(k), out));
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                with_segment(path, k, |path| diff(path, None, Some(vb), out));
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                with_segment(path, &i.to_string(), |path| {
                    diff(path, a.get(i), b.get(i), out)
                });
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.clone()
            },
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

fn with_segment(path: &mut String, segment: &str, f: impl FnOnce(&mut String)) {
    let len = path.len();
    path.push('/');
    path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    f(path);
    path.truncate(len);
}

/// Removes the value a JSON pointer names, if it exists.
pub fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some(rest) = pointer.strip_prefix('/') else {
        return;
    };
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut v = &mut *value;
    for seg in parents {
        v = match v {
            Value::Object(map) => match map.get_mut(seg) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    match v {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
    // An ignored label or annotation should not leave an empty map that then differs from an
    // absent one.
    prune_empty_maps(value);
}

fn prune_empty_maps(value: &mut Value) {
    if let Some(Value::Object(meta)) = value.get_mut("metadata") {
        for key in ["labels", "annotations"] {
            if matches!(meta.get(key), Some(Value::Object(m)) if m.is_empty()) {
                meta.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-1",
                "resourceVersion": "77", "generation": 4, "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "sync-once"}],
                "annotations": {LAST_APPLIED_ANNOTATION: "{}"},
                "labels": {"app": "web", "team": "a"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": "web:1", "env": [{"name": "A", "value": "1"}]}]}}},
            "status": {"readyReplicas": 2}})
    }

    #[test]
    fn noise_alone_is_no_difference() {
        let mut dry_run = live();
        dry_run["metadata"]["resourceVersion"] = "78".into();
        dry_run["metadata"]["generation"] = 5.into();
        dry_run["metadata"]["managedFields"] = json!([{"manager": "other"}]);
        dry_run["metadata"]
            .as_object_mut()
            .expect("map")
            .remove("annotations");
        dry_run["status"] = json!({"readyReplicas": 0});
        let cmp = compare(&dry_run, &live(), &CompareOptions::default());
        assert!(!cmp.differs(), "{:?}", cmp.changes);
        assert_eq!(cmp.live.get("status"), None);
        assert_eq!(cmp.live["metadata"].get("annotations"), None);

        // Asked for, status differences show.
        let with_status = CompareOptions {
            keep_status: true,
            ..CompareOptions::default()
        };
        let cmp = compare(&dry_run, &live(), &with_status);
        assert_eq!(
            cmp.changes,
            vec![Change {
                path: "/status/readyReplicas".into(),
                old: Some(json!(2)),
                new: Some(json!(0)),
            }]
        );
    }

    #[test]
    fn changed_added_and_removed_fields_with_old_and_new_values() {
        let mut desired = live();
        desired["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2".into();
        desired["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .expect("env")
            .push(json!({"name": "B", "value": "2"}));
        desired["metadata"]["labels"]
            .as_object_mut()
            .expect("labels")
            .remove("team");
        desired["metadata"]["labels"]["a/b~c"] = "x".into();
        let cmp = compare(&desired, &live(), &CompareOptions::default());
        let shown: Vec<String> = cmp.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "/metadata/labels/team: \"a\" -> <absent>",
                "/metadata/labels/a~1b~0c: <absent> -> \"x\"",
                "/spec/template/spec/containers/0/image: \"web:1\" -> \"web:2\"",
                "/spec/template/spec/containers/0/env/1: <absent> -> {\"name\":\"B\",\"value\":\"2\"}",
            ]
        );
    }

    #[test]
    fn ignore_rules_hide_fields_of_matching_objects_only() {
        let mut desired = live();
        desired["spec"]["replicas"] = 5.into();
        desired["metadata"]["labels"]["team"] = "b".into();
        let rules = vec![
            "Deployment.apps/prod/web:/spec/replicas"
                .parse()
                .expect("rule"),
            "ConfigMap:/metadata/labels/team".parse().expect("rule"),
        ];
        let options = CompareOptions {
            ignore: rules,
            ..CompareOptions::default()
        };
        let cmp = compare(&desired, &live(), &options);
        assert_eq!(
            cmp.changes
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>(),
            ["/metadata/labels/team"]
        );

        // Ignoring the only label leaves no empty map behind on either side.
        let all: IgnoreRule = "*:/metadata/labels/team".parse().expect("rule");
        let mut one = json!({"metadata": {"name": "x", "labels": {"team": "a"}}});
        remove_pointer(&mut one, &all.pointer);
        assert_eq!(one, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn ignore_rule_syntax() {
        let rule: IgnoreRule = "Deployment.apps/prod/web:/spec/replicas"
            .parse()
            .expect("ok");
        assert_eq!(
            rule,
            IgnoreRule {
                group: Some("apps".into()),
                kind: Some("Deployment".into()),
                namespace: Some("prod".into()),
                name: Some("web".into()),
                pointer: "/spec/replicas".into(),
            }
        );
        let any: IgnoreRule = "*/*:/data".parse().expect("ok");
        assert!(any.matches(&ObjectKey::new("x", "Y", "z", "w")));
        let core: IgnoreRule = "ConfigMap/settings:/data/k".parse().expect("ok");
        assert!(core.matches(&ObjectKey::new("", "ConfigMap", "any-ns", "settings")));
        assert!(!core.matches(&ObjectKey::new("", "ConfigMap", "any-ns", "other")));
        assert_eq!(
            "Deployment/web".parse::<IgnoreRule>().unwrap_err(),
            "\"Deployment/web\": expected SELECTOR:POINTER, e.g. Deployment.apps/web:/spec/replicas"
        );
        assert_eq!(
            "Deployment:spec".parse::<IgnoreRule>().unwrap_err(),
            "\"Deployment:spec\": the JSON pointer must start with '/'"
        );
        assert!("a/b/c/d:/x".parse::<IgnoreRule>().is_err());
    }

    #[test]
    fn pointers_into_arrays_and_escapes() {
        let mut v = json!({"a": [{"b": 1}, {"b": 2}], "c/d": {"e~f": 1, "g": 2}});
        remove_pointer(&mut v, "/a/0/b");
        remove_pointer(&mut v, "/c~1d/e~0f");
        remove_pointer(&mut v, "/missing/deep");
        assert_eq!(v, json!({"a": [{}, {"b": 2}], "c/d": {"g": 2}}));
    }
}
