//! The object store and the verbs on it: get, list, create, update, patch (all four types),
//! delete and deletecollection, with resourceVersion/uid/generation bookkeeping, status
//! subresource rules, defaulting, validation, dry-run, namespace and CRD cascades, and
//! ownerReference garbage collection. HTTP concerns live in `server.rs`; this module works on
//! parsed requests and `serde_json::Value`s.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::apply::{self, Writer};
use crate::defaults;
use crate::discovery::{Registry, ResourceType};
use crate::patch::{self, PatchType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Subject};

/// Store key: (group, plural, namespace or "", name).
pub type Key = (String, String, String, String);

/// A change, as watchers see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// ADDED, MODIFIED or DELETED.
    pub kind: &'static str,
    /// Group of the object.
    pub group: String,
    /// Plural resource of the object.
    pub plural: String,
    /// The object after the change (the last state, for DELETED).
    pub object: Value,
    /// The resourceVersion of the change.
    pub rv: u64,
}

/// Everything the server holds.
#[derive(Debug)]
pub struct Store {
    /// Served resource types.
    pub registry: Registry,
    objects: BTreeMap<Key, Value>,
    rv: u64,
    next_ip: u32,
    /// Changes since the last drain, for watchers.
    pub events: Vec<Event>,
}

/// What a write request asks for besides its body.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Field manager (query param, or derived from the User-Agent).
    pub manager: String,
    /// Whether the manager came from the `fieldManager` query parameter.
    pub explicit_manager: bool,
    /// `force=true` for apply.
    pub force: bool,
    /// Subresource (`status`), if any.
    pub subresource: Option<String>,
    /// `propagationPolicy` for deletes (Orphan keeps dependents).
    pub propagation: Option<String>,
}

/// Kinds whose objects carry `metadata.generation` (custom resources always do).
const GENERATION_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Ingress",
    "HorizontalPodAutoscaler",
    "CustomResourceDefinition",
    "Pod",
];

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn subject<'a>(rt: &'a ResourceType, name: &'a str) -> Subject<'a> {
    Subject {
        group: &rt.group,
        resource: &rt.plural,
        name,
    }
}

fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn ns_of(o: &Value) -> &str {
    o.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn meta_mut(o: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !o.get("metadata").is_some_and(Value::is_object) {
        o["metadata"] = json!({});
    }
    // Just ensured to be an object above.
    o["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// The object without metadata and status: what a generation bump compares.
fn spec_part(o: &Value) -> Value {
    let mut c = o.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    c
}

/// The object without volatile bookkeeping: what a no-op check compares.
fn comparable(o: &Value) -> Value {
    let mut c = o.clone();
    let m = meta_mut(&mut c);
    m.remove("resourceVersion");
    if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
        for e in mf.iter_mut().filter_map(Value::as_object_mut) {
            e.remove("time");
        }
    }
    c
}

impl Default for Store {
    fn default() -> Self {
        let mut s = Store {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            rv: 1,
            next_ip: 10,
            events: Vec::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let rt = s.registry.find("", "v1", "namespaces").cloned();
            if let Some(rt) = rt {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                let opts = WriteOptions {
                    manager: "kube-apiserver".into(),
                    ..Default::default()
                };
                // Seeding cannot fail: fixed valid names in an empty store.
                let _ = s.create(&rt, None, body, &opts);
            }
        }
        s
    }
}

impl Store {
    fn key(rt: &ResourceType, ns: Option<&str>, name: &str) -> Key {
        let ns = if rt.namespaced { ns.unwrap_or("") } else { "" };
        (
            rt.group.clone(),
            rt.plural.clone(),
            ns.to_string(),
            name.to_string(),
        )
    }

    /// The stored object, shown in `rt`'s apiVersion.
    fn view(rt: &ResourceType, o: &Value) -> Value {
        let mut o = o.clone();
        o["apiVersion"] = json!(rt.api_version());
        o
    }

    /// A snapshot of every stored object.
    pub fn all_objects(&self) -> Vec<Value> {
        self.objects.values().cloned().collect()
    }

    /// Looks up an object by group, plural, namespace and name (no version conversion).
    pub fn lookup(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(
            group.to_string(),
            plural.to_string(),
            ns.to_string(),
            name.to_string(),
        ))
    }

    /// Objects of one group/plural (all namespaces), for the simulator.
    pub fn of_type(&self, group: &str, plural: &str) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, _, _), _)| g == group && p == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn require_namespace(&self, rt: &ResourceType, ns: Option<&str>) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns = ns.unwrap_or("");
        if ns.is_empty() {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
        if self.lookup("", "namespaces", "", ns).is_none() {
            return Err(ApiError::not_found(&Subject {
                group: "",
                resource: "namespaces",
                name: ns,
            }));
        }
        Ok(())
    }

    /// GET one object.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(rt, ns, name))
            .map(|o| Self::view(rt, o))
            .ok_or_else(|| ApiError::not_found(&subject(rt, name)))
    }

    /// LIST, as a `<Kind>List`.
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Value {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((g, p, n, _), _)| {
                *g == rt.group && *p == rt.plural && ns.is_none_or(|ns| !rt.namespaced || n == ns)
            })
            .map(|(_, o)| Self::view(rt, o))
            .filter(|o| labels.matches(o) && fields.matches(o))
            .collect();
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": self.rv.to_string()}, "items": items})
    }

    fn parse_body(
        rt: &ResourceType,
        ns: Option<&str>,
        mut body: Value,
        name: Option<&str>,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        if let Some(k) = body.get("kind").and_then(Value::as_str) {
            if k != rt.kind {
                return Err(ApiError::bad_request(format!(
                    "the kind in the body ({k}) does not match the resource ({})",
                    rt.kind
                )));
            }
        }
        body["kind"] = json!(rt.kind);
        body["apiVersion"] = json!(rt.api_version());
        let m = meta_mut(&mut body);
        if rt.namespaced {
            let path_ns = ns.unwrap_or("");
            match m.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && !path_ns.is_empty() && b != path_ns => {
                    return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
                }
                Some(b) if !b.is_empty() => {}
                _ => {
                    m.insert("namespace".into(), json!(path_ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        if let Some(n) = name {
            match m.get("name").and_then(Value::as_str) {
                Some(b) if b != n => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({b}) does not match the name on the URL ({n})"
                    )));
                }
                _ => {
                    m.insert("name".into(), json!(n));
                }
            }
        }
        Ok(body)
    }

    /// POST: create.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut body = Self::parse_body(rt, ns, body, None)?;
        let m = meta_mut(&mut body);
        if m.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            if let Some(g) = m.get("generateName").and_then(Value::as_str) {
                let suffix: String = uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .chars()
                    .take(5)
                    .collect();
                let n = format!("{g}{suffix}");
                m.insert("name".into(), json!(n));
            }
        }
        let ns_owned = ns_of(&body).to_string();
        self.require_namespace(rt, Some(&ns_owned))?;
        let name = name_of(&body).to_string();
        if self
            .objects
            .contains_key(&Self::key(rt, Some(&ns_owned), &name))
        {
            return Err(ApiError::already_exists(&subject(rt, &name)));
        }
        self.commit(rt, None, body, opts, None)
    }

    /// PUT: update (and status update with `opts.subresource`).
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let body = Self::parse_body(rt, ns, body, Some(name))?;
        let old = self.get(rt, ns, name)?;
        let sent_rv = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !sent_rv.is_empty()
            && Some(sent_rv)
                != old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::stale(&subject(rt, name)));
        }
        self.commit(rt, Some(old), body, opts, None)
    }

    /// PATCH of any type; apply creates a missing object.
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        kind: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let existing = self.get(rt, ns, name).ok();
        if kind == PatchType::Apply {
            if !opts.explicit_manager {
                return Err(ApiError::invalid(
                    "PatchOptions.meta.k8s.io",
                    &Subject::default(),
                    &[(
                        "fieldManager".into(),
                        "Required value: is required for apply patch".into(),
                    )],
                ));
            }
            let applied: Value = serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            let applied = Self::parse_body(rt, ns, applied, Some(name))?;
            if applied.get("apiVersion").is_none() {
                return Err(ApiError::bad_request(
                    "apiVersion must be set in an apply patch",
                ));
            }
            if existing.is_none() {
                let ns_owned = ns_of(&applied).to_string();
                self.require_namespace(rt, Some(&ns_owned))?;
            }
            let av = rt.api_version();
            let time = now();
            let writer = Writer {
                manager: &opts.manager,
                api_version: &av,
                subresource: opts.subresource.as_deref(),
                time: &time,
            };
            let merged =
                apply::apply(existing.as_ref(), &applied, &writer, opts.force).map_err(|c| {
                    let mut e = ApiError::conflict(&subject(rt, name), c.message());
                    if let Some(d) = e.details.as_mut() {
                        d["causes"] = json!(c.causes());
                    }
                    e
                })?;
            return self.commit(rt, existing, merged, opts, Some(()));
        }
        let Some(old) = existing else {
            return Err(ApiError::not_found(&subject(rt, name)));
        };
        let new = patch::patch(kind, &old, body, rt.custom)?;
        let sent_rv = new
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !sent_rv.is_empty()
            && Some(sent_rv.as_str())
                != old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::stale(&subject(rt, name)));
        }
        let new = Self::parse_body(rt, ns, new, Some(name))?;
        self.commit(rt, Some(old), new, opts, None)
    }

    /// The shared write path. `applied` says managedFields were already computed by SSA.
    fn commit(
        &mut self,
        rt: &ResourceType,
        old: Option<Value>,
        mut new: Value,
        opts: &WriteOptions,
        applied: Option<()>,
    ) -> Result<Value, ApiError> {
        let name = name_of(&new).to_string();
        let status_write = opts.subresource.as_deref() == Some("status");
        // Status subresource: main-resource writes cannot change status, status writes can
        // change nothing else.
        if rt.status {
            match (&old, status_write) {
                (Some(o), true) => {
                    let st = new.get("status").cloned();
                    let mf = new.pointer("/metadata/managedFields").cloned();
                    new = o.clone();
                    match st {
                        Some(s) => new["status"] = s,
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                    if let Some(mf) = mf {
                        meta_mut(&mut new).insert("managedFields".into(), mf);
                    }
                }
                (Some(o), false) => match o.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                },
                (None, _) => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        // Server-owned metadata comes from the stored object, never from the client.
        let m = meta_mut(&mut new);
        for f in [
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
        ] {
            m.remove(f);
        }
        if let Some(o) = &old {
            for f in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "resourceVersion",
            ] {
                if let Some(v) = o.pointer(&format!("/metadata/{f}")) {
                    m.insert(f.to_string(), v.clone());
                }
            }
        } else {
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now()));
        }
        // The ownership baseline for an Update-operation write. Clients normally echo
        // managedFields back unchanged; one that changes them (kubectl's client-side to
        // server-side apply migration, or `[{}]` to reset) gets its version, as on a real server.
        let mut baseline = old.clone();
        if applied.is_none() {
            let sent = m.remove("managedFields");
            if let (Some(sent), Some(b)) = (sent, baseline.as_mut()) {
                if b.pointer("/metadata/managedFields") != Some(&sent) {
                    let mut entries =
                        apply::read_managed(&json!({"metadata": {"managedFields": sent}}));
                    entries.retain(|e| !e.fields.is_empty());
                    apply::write_managed(b, entries);
                }
            }
            if let Some(mf) = baseline
                .as_ref()
                .and_then(|b| b.pointer("/metadata/managedFields"))
            {
                meta_mut(&mut new).insert("managedFields".into(), mf.clone());
            }
        }

        if let Some(o) = &old {
            defaults::carry_over(&rt.kind, o, &mut new);
        }
        let mut ip = self.next_ip;
        defaults::apply_defaults(&rt.kind, &mut new, &mut || {
            ip += 1;
            format!("10.96.{}.{}", ip / 250, ip % 250 + 1)
        });
        if rt.kind == "CustomResourceDefinition" {
            crd_status(&mut new);
        }

        let mut causes = defaults::validate(&rt.kind, &new);
        if let Some(o) = &old {
            causes.extend(defaults::immutable_violations(
                &rt.kind,
                &rt.api_version(),
                o,
                &new,
            ));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.kind, &subject(rt, &name), &causes));
        }

        if applied.is_none() {
            let av = rt.api_version();
            let time = now();
            let writer = Writer {
                manager: &opts.manager,
                api_version: &av,
                subresource: opts.subresource.as_deref(),
                time: &time,
            };
            apply::record_update(baseline.as_ref(), &mut new, &writer);
        }

        if rt.custom || GENERATION_KINDS.contains(&rt.kind.as_str()) {
            let gen = match &old {
                None => 1,
                Some(o) => {
                    let g = o
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    if spec_part(o) != spec_part(&new) {
                        g + 1
                    } else {
                        g
                    }
                }
            };
            meta_mut(&mut new).insert("generation".into(), json!(gen));
        }

        if let Some(o) = &old {
            if comparable(o) == comparable(&new) {
                // A no-op write leaves the object (and its resourceVersion) alone.
                return Ok(o.clone());
            }
        }
        if opts.dry_run {
            return Ok(new);
        }
        self.next_ip = ip;
        self.rv += 1;
        meta_mut(&mut new).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let key = Self::key(rt, Some(ns_of(&new)), &name);
        self.objects.insert(key, new.clone());
        self.events.push(Event {
            kind: if old.is_some() { "MODIFIED" } else { "ADDED" },
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            object: new.clone(),
            rv: self.rv,
        });
        if rt.kind == "CustomResourceDefinition" {
            self.refresh_crds();
        }
        Ok(new)
    }

    /// Stores a status computed by the simulator (no managedFields, bumps resourceVersion when
    /// the status changed).
    pub fn set_status(&mut self, key: &Key, status: Value) {
        let Some(o) = self.objects.get_mut(key) else {
            return;
        };
        if o.get("status") == Some(&status) {
            return;
        }
        o["status"] = status;
        self.rv += 1;
        meta_mut(o).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let object = o.clone();
        self.events.push(Event {
            kind: "MODIFIED",
            group: key.0.clone(),
            plural: key.1.clone(),
            object,
            rv: self.rv,
        });
    }

    fn refresh_crds(&mut self) {
        let crds: Vec<Value> = self.of_type("apiextensions.k8s.io", "customresourcedefinitions");
        self.registry.set_crds(crds.iter());
    }

    /// DELETE one object. Returns what the apiserver returns (the object for namespaces,
    /// a success Status otherwise).
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let key = Self::key(rt, ns, name);
        let Some(obj) = self.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(&subject(rt, name)));
        };
        if opts.dry_run {
            return Ok(Self::deleted_response(rt, &obj));
        }
        self.remove(&key, opts.propagation.as_deref() != Some("Orphan"));
        Ok(Self::deleted_response(rt, &obj))
    }

    fn deleted_response(rt: &ResourceType, obj: &Value) -> Value {
        if rt.kind == "Namespace" {
            let mut o = Self::view(rt, obj);
            meta_mut(&mut o).insert("deletionTimestamp".into(), json!(now()));
            o["status"] = json!({"phase": "Terminating"});
            return o;
        }
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        crate::status::success_status(&subject(rt, name_of(obj)), uid)
    }

    /// Removes an object and what goes with it: namespace contents, a CRD's custom objects,
    /// and (unless orphaning) dependents through ownerReferences.
    fn remove(&mut self, key: &Key, cascade: bool) {
        let mut queue = vec![key.clone()];
        while let Some(k) = queue.pop() {
            let Some(mut obj) = self.objects.remove(&k) else {
                continue;
            };
            self.rv += 1;
            // Like the apiserver, the DELETED event carries the deletion's resourceVersion.
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
            self.events.push(Event {
                kind: "DELETED",
                group: k.0.clone(),
                plural: k.1.clone(),
                object: obj.clone(),
                rv: self.rv,
            });
            let uid = obj
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let is_ns = k.0.is_empty() && k.1 == "namespaces";
            let is_crd = k.0 == "apiextensions.k8s.io" && k.1 == "customresourcedefinitions";
            let (crd_group, crd_plural) = (
                obj.pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                obj.pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
            for (ok, o) in &self.objects {
                let owned = cascade
                    && o.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
                        });
                let in_ns = is_ns && ok.2 == k.3;
                let of_crd = is_crd && ok.0 == crd_group && ok.1 == crd_plural;
                if owned || in_ns || of_crd {
                    queue.push(ok.clone());
                }
            }
            if is_crd {
                self.refresh_crds();
            }
        }
    }

    /// DELETE on a collection.
    pub fn delete_collection(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &WriteOptions,
    ) -> Value {
        let list = self.list(rt, ns, labels, fields);
        if !opts.dry_run {
            for o in list["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let key = Self::key(rt, Some(ns_of(o)), name_of(o));
                self.remove(&key, opts.propagation.as_deref() != Some("Orphan"));
            }
        }
        list
    }
}

/// CRDs are accepted and established at once (no real API machinery to wait for).
fn crd_status(crd: &mut Value) {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let versions: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let t = now();
    crd["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
        ],
        "storedVersions": versions,
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    fn opts(m: &str) -> WriteOptions {
        WriteOptions {
            manager: m.into(),
            explicit_manager: true,
            ..Default::default()
        }
    }

    #[test]
    fn create_update_conflict_generation() {
        let mut s = Store::default();
        let rt = s
            .registry
            .find("apps", "v1", "deployments")
            .cloned()
            .unwrap();
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}});
        let created = s
            .create(&rt, Some("default"), d.clone(), &opts("t"))
            .unwrap();
        assert_eq!(created["metadata"]["generation"], 1);
        let mut stale = created.clone();
        stale["metadata"]["labels"]["a"] = json!("c");
        let updated = s
            .update(&rt, Some("default"), "w", stale.clone(), &opts("t"))
            .unwrap();
        assert_eq!(
            updated["metadata"]["generation"], 1,
            "metadata change keeps generation"
        );
        let err = s
            .update(&rt, Some("default"), "w", stale, &opts("t"))
            .unwrap_err();
        assert_eq!(err.code, 409);
        let p = br#"{"spec":{"replicas":3}}"#;
        let patched = s
            .patch(&rt, Some("default"), "w", PatchType::Merge, p, &opts("t"))
            .unwrap();
        assert_eq!(patched["metadata"]["generation"], 2);
        let bad = br#"{"spec":{"selector":{"matchLabels":{"app":"x"}}}}"#;
        assert_eq!(
            s.patch(&rt, Some("default"), "w", PatchType::Merge, bad, &opts("t"))
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(
            s.create(&rt, Some("nope"), d, &opts("t")).unwrap_err().code,
            404
        );
    }

    #[test]
    fn namespace_delete_cascades() {
        let mut s = Store::default();
        let ns = s.registry.find("", "v1", "namespaces").cloned().unwrap();
        let cm = s.registry.find("", "v1", "configmaps").cloned().unwrap();
        s.create(&ns, None, json!({"metadata": {"name": "x"}}), &opts("t"))
            .unwrap();
        s.create(
            &cm,
            Some("x"),
            json!({"metadata": {"name": "c"}}),
            &opts("t"),
        )
        .unwrap();
        s.delete(&ns, None, "x", &opts("t")).unwrap();
        assert!(s.get(&cm, Some("x"), "c").is_err());
    }
}
