//! The resource registry and the discovery documents built from it: `/api`, `/api/v1`,
//! `/apis`, `/apis/GROUP`, `/apis/GROUP/VERSION`. Built-in types are a fixed table; every
//! stored CustomResourceDefinition adds its served versions, so kubectl's RESTMapper finds
//! custom resources right after the CRD is created and loses them when it is deleted.

use serde_json::{json, Value};

/// One resource in one group/version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group ("" for core).
    pub group: String,
    /// Version ("v1").
    pub version: String,
    /// Kind ("Deployment").
    pub kind: String,
    /// Plural resource name ("deployments").
    pub plural: String,
    /// Singular name ("deployment").
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names ("deploy").
    pub short_names: Vec<String>,
    /// Categories ("all").
    pub categories: Vec<String>,
    /// Whether `/status` is served.
    pub status: bool,
    /// Whether `/scale` is served.
    pub scale: bool,
    /// Whether this type comes from a CRD.
    pub custom: bool,
    /// Whether this version is the preferred (storage) version of the group.
    pub preferred: bool,
}

impl ResourceType {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// (group, version, kind, plural, namespaced, short names, all-category, status, scale)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
    bool,
);

const BUILTIN: &[Row] = &[
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        false,
        &["ns"],
        false,
        true,
        false,
    ),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        true,
        &["cm"],
        false,
        false,
        false,
    ),
    (
        "",
        "v1",
        "Secret",
        "secrets",
        true,
        &[],
        false,
        false,
        false,
    ),
    (
        "",
        "v1",
        "Service",
        "services",
        true,
        &["svc"],
        true,
        true,
        false,
    ),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        false,
        false,
        false,
    ),
    ("", "v1", "Pod", "pods", true, &["po"], true, true, false),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        false,
        true,
        false,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        true,
        true,
        false,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        true,
        true,
        true,
    ),
    ("batch", "v1", "Job", "jobs", true, &[], true, true, false),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        true,
        &["cj"],
        true,
        true,
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        false,
        true,
        false,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        true,
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        false,
        false,
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        false,
        true,
        false,
    ),
];

/// All served resource types: the built-ins plus those of stored CRDs.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { types: builtin() }
    }
}

fn builtin() -> Vec<ResourceType> {
    BUILTIN
        .iter()
        .map(
            |&(g, v, k, p, ns, short, all, status, scale)| ResourceType {
                group: g.into(),
                version: v.into(),
                kind: k.into(),
                plural: p.into(),
                singular: k.to_lowercase(),
                namespaced: ns,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: if all { vec!["all".into()] } else { vec![] },
                status,
                scale,
                custom: false,
                preferred: true,
            },
        )
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types a CRD object defines (one per served version).
pub fn crd_types(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = Vec::new();
    for v in spec["versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let subs = &v["subresources"];
        out.push(ResourceType {
            group: group.clone(),
            version: v["name"].as_str().unwrap_or_default().to_string(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            status: subs.get("status").is_some(),
            scale: subs.get("scale").is_some(),
            custom: true,
            preferred: v["storage"].as_bool() == Some(true),
        });
    }
    out
}

impl Registry {
    /// Rebuilds the custom part from the stored CRDs.
    pub fn set_crds<'a>(&mut self, crds: impl Iterator<Item = &'a Value>) {
        let mut types = builtin();
        for crd in crds {
            for t in crd_types(crd) {
                // A CRD may not redefine a built-in; the apiserver rejects that at create time.
                if !types
                    .iter()
                    .any(|b| b.group == t.group && b.version == t.version && b.plural == t.plural)
                {
                    types.push(t);
                }
            }
        }
        self.types = types;
    }

    /// The type served at group/version/plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The type for an apiVersion/kind pair.
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (g, v) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == g && t.version == v && t.kind == kind)
    }

    /// All served types.
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Groups (excluding core) with their versions, preferred version first.
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            let idx = match out.iter().position(|(g, _)| *g == t.group) {
                Some(i) => i,
                None => {
                    out.push((t.group.clone(), Vec::new()));
                    out.len() - 1
                }
            };
            let versions = &mut out[idx].1;
            if !versions.contains(&t.version) {
                if t.preferred {
                    versions.insert(0, t.version.clone());
                } else {
                    versions.push(t.version.clone());
                }
            }
        }
        out
    }

    /// `/api`.
    pub fn core_versions(&self, server: &str) -> Value {
        json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
    }

    fn group_json(name: &str, versions: &[String]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
            .collect();
        let preferred = vs.first().cloned().unwrap_or(Value::Null);
        json!({"name": name, "versions": vs, "preferredVersion": preferred})
    }

    /// `/apis`.
    pub fn group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, vs)| Self::group_json(g, vs))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/GROUP`.
    pub fn group(&self, group: &str) -> Option<Value> {
        let (name, versions) = self.groups().into_iter().find(|(g, _)| g == group)?;
        let mut v = Self::group_json(&name, &versions);
        v["kind"] = json!("APIGroup");
        v["apiVersion"] = json!("v1");
        Some(v)
    }

    /// `/api/v1` or `/apis/GROUP/VERSION`.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let types: Vec<&ResourceType> = self
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .collect();
        if types.is_empty() {
            return None;
        }
        let mut resources = Vec::new();
        for t in &types {
            let mut r = json!({
                "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
                "kind": t.kind, "verbs": VERBS,
            });
            if !t.short_names.is_empty() {
                r["shortNames"] = json!(t.short_names);
            }
            if !t.categories.is_empty() {
                r["categories"] = json!(t.categories);
            }
            resources.push(r);
            if t.status {
                resources.push(json!({"name": format!("{}/status", t.plural), "singularName": "",
                    "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}));
            }
            if t.scale {
                resources.push(
                    json!({"name": format!("{}/scale", t.plural), "singularName": "",
                    "namespaced": t.namespaced, "group": "autoscaling", "version": "v1",
                    "kind": "Scale", "verbs": ["get", "patch", "update"]}),
                );
            }
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}

/// `apps/v1` → ("apps", "v1"); `v1` → ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn crd_adds_and_removes_resources() {
        let crd = json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                         {"name": "v1beta1", "served": true, "storage": false}]}});
        let mut r = Registry::default();
        r.set_crds([&crd].into_iter());
        let list = r.resource_list("example.com", "v1").unwrap();
        assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
        assert_eq!(list["resources"][1]["name"], "widgets/status");
        assert_eq!(
            r.group("example.com").unwrap()["preferredVersion"]["version"],
            "v1"
        );
        assert!(r.find("example.com", "v1beta1", "widgets").is_some());
        r.set_crds(std::iter::empty());
        assert!(r.resource_list("example.com", "v1").is_none());
    }
}
