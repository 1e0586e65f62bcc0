//! Name references: after prefixes, suffixes, namespaces and hash suffixes changed names, every
//! field that names another resource (kustomize's default `nameReference` table) is updated to
//! the referenced resource's new name. Candidates are found by their previous names, as
//! kustomize's `FixBackReferences` does, once at the end of the build.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::Error;
use gitops::manifest::Scopes;
use gitops::Identity;
use serde_json::Value;

use super::fieldspec::{walk, FieldSpec, NameBackRefs as Target};
use super::resource::{effective_namespace, Res};

const POD_CONFIGMAP: &[&str] = &[
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
];
const POD_SECRET: &[&str] = &[
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
];

/// kustomize's default `nameReference` table.
pub fn targets() -> &'static [Target] {
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let fs = |path: &str, kind: &str, group: &str, version: &str| {
            FieldSpec::new(group, version, kind, path, false)
        };
        let t = |kind: &str, group: &str, version: &str, referrers: Vec<FieldSpec>| Target {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            referrers,
        };
        let workloads = |paths: &[&str], with_rc: bool| {
            let mut v = Vec::new();
            for p in paths {
                v.push(fs(&format!("spec/{p}"), "Pod", "", "v1"));
            }
            let mut kinds = vec![
                "Deployment",
                "ReplicaSet",
                "DaemonSet",
                "StatefulSet",
                "Job",
            ];
            if with_rc {
                kinds.push("ReplicationController");
            }
            for k in kinds {
                for p in paths {
                    v.push(fs(&format!("spec/template/spec/{p}"), k, "", ""));
                }
            }
            for p in paths {
                v.push(fs(
                    &format!("spec/jobTemplate/spec/template/spec/{p}"),
                    "CronJob",
                    "",
                    "",
                ));
            }
            v
        };
        let hpa = || {
            vec![fs(
                "spec/scaleTargetRef/name",
                "HorizontalPodAutoscaler",
                "",
                "",
            )]
        };
        let mut cm = workloads(POD_CONFIGMAP, false);
        cm.extend([
            fs("spec/configSource/configMap", "Node", "", ""),
            fs("rules/resourceNames", "Role", "", ""),
            fs("rules/resourceNames", "ClusterRole", "", ""),
            fs(
                "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
                "Ingress",
                "",
                "",
            ),
            fs(
                "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name",
                "Service",
                "serving.knative.dev",
                "v1",
            ),
            fs(
                "spec/template/spec/containers/envFrom/configMapRef/name",
                "Service",
                "serving.knative.dev",
                "v1",
            ),
        ]);
        let mut secret = workloads(POD_SECRET, false);
        secret.extend([
            fs("spec/tls/secretName", "Ingress", "", ""),
            fs(
                "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
                "Ingress",
                "",
                "",
            ),
            fs(
                "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
                "Ingress",
                "",
                "",
            ),
            fs(
                "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
                "Ingress",
                "",
                "",
            ),
            fs("imagePullSecrets/name", "ServiceAccount", "", ""),
            fs("parameters/secretName", "StorageClass", "", ""),
            fs("parameters/adminSecretName", "StorageClass", "", ""),
            fs("parameters/userSecretName", "StorageClass", "", ""),
            fs("parameters/secretRef", "StorageClass", "", ""),
            fs("rules/resourceNames", "Role", "", ""),
            fs("rules/resourceNames", "ClusterRole", "", ""),
            fs(
                "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
                "Service",
                "serving.knative.dev",
                "v1",
            ),
            fs("spec/azureFile/secretName", "PersistentVolume", "", ""),
        ]);
        let sa_like = |leaf: &str| {
            let mut v = vec![fs(&format!("spec/{leaf}"), "Pod", "", "")];
            for k in [
                "StatefulSet",
                "Deployment",
                "ReplicationController",
                "Job",
                "DaemonSet",
            ] {
                v.push(fs(&format!("spec/template/spec/{leaf}"), k, "", ""));
            }
            v.push(fs(
                &format!("spec/jobTemplate/spec/template/spec/{leaf}"),
                "CronJob",
                "",
                "",
            ));
            v
        };
        let mut sa = vec![
            fs("subjects", "RoleBinding", "rbac.authorization.k8s.io", ""),
            fs(
                "subjects",
                "ClusterRoleBinding",
                "rbac.authorization.k8s.io",
                "",
            ),
        ];
        sa.extend(sa_like("serviceAccountName"));
        vec![
            t("Deployment", "", "", hpa()),
            t("ReplicationController", "", "", hpa()),
            t("ReplicaSet", "", "", hpa()),
            t("StatefulSet", "", "", hpa()),
            t("ConfigMap", "", "v1", cm),
            t("Secret", "", "v1", secret),
            t(
                "Service",
                "",
                "v1",
                vec![
                    fs("spec/serviceName", "StatefulSet", "apps", ""),
                    fs(
                        "spec/rules/http/paths/backend/serviceName",
                        "Ingress",
                        "",
                        "",
                    ),
                    fs("spec/backend/serviceName", "Ingress", "", ""),
                    fs(
                        "spec/rules/http/paths/backend/service/name",
                        "Ingress",
                        "",
                        "",
                    ),
                    fs("spec/defaultBackend/service/name", "Ingress", "", ""),
                    fs(
                        "spec/service/name",
                        "APIService",
                        "apiregistration.k8s.io",
                        "",
                    ),
                    fs(
                        "webhooks/clientConfig/service",
                        "ValidatingWebhookConfiguration",
                        "admissionregistration.k8s.io",
                        "",
                    ),
                    fs(
                        "webhooks/clientConfig/service",
                        "MutatingWebhookConfiguration",
                        "admissionregistration.k8s.io",
                        "",
                    ),
                ],
            ),
            t(
                "Role",
                "rbac.authorization.k8s.io",
                "",
                vec![fs(
                    "roleRef/name",
                    "RoleBinding",
                    "rbac.authorization.k8s.io",
                    "",
                )],
            ),
            t(
                "ClusterRole",
                "rbac.authorization.k8s.io",
                "",
                vec![
                    fs(
                        "roleRef/name",
                        "RoleBinding",
                        "rbac.authorization.k8s.io",
                        "",
                    ),
                    fs(
                        "roleRef/name",
                        "ClusterRoleBinding",
                        "rbac.authorization.k8s.io",
                        "",
                    ),
                ],
            ),
            t("ServiceAccount", "", "v1", sa),
            t(
                "PersistentVolumeClaim",
                "",
                "v1",
                sa_like("volumes/persistentVolumeClaim/claimName"),
            ),
            t(
                "PersistentVolume",
                "",
                "v1",
                vec![
                    fs("spec/volumeName", "PersistentVolumeClaim", "", ""),
                    fs("rules/resourceNames", "ClusterRole", "", ""),
                ],
            ),
            t(
                "StorageClass",
                "storage.k8s.io",
                "v1",
                vec![
                    fs("spec/storageClassName", "PersistentVolume", "", ""),
                    fs("spec/storageClassName", "PersistentVolumeClaim", "", ""),
                    fs(
                        "spec/volumeClaimTemplates/spec/storageClassName",
                        "StatefulSet",
                        "",
                        "",
                    ),
                ],
            ),
            t(
                "PriorityClass",
                "scheduling.k8s.io",
                "v1",
                sa_like("priorityClassName"),
            ),
            // kustomize's table spells this group "networking.k8s.io/v1", which never matches a
            // resource's group; we keep its behaviour (ingressClassName is not followed).
            t(
                "IngressClass",
                "networking.k8s.io/v1",
                "v1",
                vec![fs("spec/ingressClassName", "Ingress", "", "")],
            ),
        ]
    })
}

fn gvk_selects(group: &str, version: &str, kind: &str, id: &Identity) -> bool {
    (group.is_empty() || group == id.group)
        && (version.is_empty() || version == id.version)
        && (kind.is_empty() || kind == id.kind)
}

/// What name references need to know of every resource, copied so that referrers can be
/// changed while candidates are looked at.
struct Meta {
    cur: Identity,
    org: Identity,
    prev: Vec<Identity>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

struct Snapshot<'a> {
    res: &'a [Meta],
    by_prev_name: HashMap<&'a str, Vec<usize>>,
    scopes: &'a Scopes,
}

/// Updates all name references in `resources`, by the default table and the targets and
/// referrers that `configurations:` added (`extra`, merged into the default table as kustomize
/// merges them: referrers of an equal target join it, other targets follow).
pub fn fix(resources: &mut [Res], scopes: &Scopes, extra: &[Target]) -> Result<(), Error> {
    let merged: Vec<Target>;
    let targets: &[Target] = if extra.is_empty() {
        targets()
    } else {
        let mut all = targets().to_vec();
        for x in extra {
            match all
                .iter_mut()
                .find(|t| t.group == x.group && t.version == x.version && t.kind == x.kind)
            {
                Some(t) => t.referrers.extend(x.referrers.iter().cloned()),
                None => all.push(x.clone()),
            }
        }
        merged = all;
        &merged
    };
    // Referrer kind → (target index, field spec).
    let mut by_kind: HashMap<&str, Vec<(usize, &FieldSpec)>> = HashMap::new();
    for (ti, t) in targets.iter().enumerate() {
        for fs in &t.referrers {
            by_kind.entry(fs.kind.as_str()).or_default().push((ti, fs));
        }
    }
    if resources.iter().all(|r| r.prev.is_empty()) {
        return Ok(());
    }
    let metas: Vec<Meta> = resources
        .iter()
        .map(|r| Meta {
            cur: r.id(),
            org: r.org.clone(),
            prev: r.prev.clone(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        })
        .collect();
    let mut by_prev_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in metas.iter().enumerate() {
        let mut names: Vec<&str> = r.prev.iter().map(|id| id.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            by_prev_name.entry(n).or_default().push(i);
        }
    }
    let snap = Snapshot {
        res: &metas,
        by_prev_name,
        scopes,
    };
    for (i, referrer) in resources.iter_mut().enumerate() {
        let Some(specs) = by_kind.get(referrer.org.kind.as_str()) else {
            continue;
        };
        for &(ti, fs) in specs {
            if !gvk_selects(&fs.group, &fs.version, &fs.kind, &referrer.org) {
                continue;
            }
            let target = &targets[ti];
            let ctx = Ctx {
                snap: &snap,
                target,
                referrer: i,
                role_ref_kind: if fs.path.last().is_some_and(|p| p == "name")
                    && fs.path.len() >= 2
                    && fs.path[fs.path.len() - 2] == "roleRef"
                {
                    referrer
                        .obj
                        .value
                        .pointer("/roleRef/kind")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                } else {
                    None
                },
                rb_namespaces: rolebinding_namespaces(referrer),
            };
            let mut value = std::mem::take(&mut referrer.obj.value);
            let result = walk(&mut value, &fs.path, false, &mut |v: &mut Value| ctx.set(v));
            referrer.obj.value = value;
            result.map_err(|message| Error::Object {
                at: referrer.obj.source.location(),
                object: referrer.id().short(),
                message,
            })?;
        }
    }
    Ok(())
}

fn rolebinding_namespaces(r: &Res) -> Vec<String> {
    let mut out = Vec::new();
    if r.kind() != "RoleBinding" {
        return out;
    }
    if let Some(Value::Array(subjects)) = r.obj.value.get("subjects") {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                if let Some(ns) = s.get("namespace").and_then(Value::as_str) {
                    out.push(ns.to_owned());
                }
            }
        }
    }
    out
}

struct Ctx<'a> {
    snap: &'a Snapshot<'a>,
    target: &'a Target,
    referrer: usize,
    role_ref_kind: Option<String>,
    rb_namespaces: Vec<String>,
}

impl Ctx<'_> {
    fn set(&self, v: &mut Value) -> Result<(), String> {
        match v {
            Value::String(s) => {
                if let Some(c) = self.select(s, None, false)? {
                    *s = self.snap.res[c].cur.name.clone();
                }
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    self.set(item)?;
                }
                Ok(())
            }
            Value::Object(map) => {
                let Some(old) = map.get("name").and_then(Value::as_str).map(str::to_owned) else {
                    return Ok(());
                };
                let ns = map
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let Some(c) = self.select(&old, ns.as_deref(), true)? else {
                    return Ok(());
                };
                let cur = &self.snap.res[c].cur;
                if cur.name == old && cur.namespace.is_empty() {
                    return Ok(());
                }
                map.insert("name".into(), Value::String(cur.name.clone()));
                if !cur.namespace.is_empty() {
                    map.insert("namespace".into(), Value::String(cur.namespace.clone()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// kustomize's `selectReferral`. Several candidates left at the end are one referral when
    /// their names agree — and, for a `{name, namespace}` mapping (`with_namespace`), whose
    /// namespace is written too, their namespaces as well (so a subject naming ServiceAccounts
    /// of one name in two namespaces is an error, as in kustomize).
    fn select(
        &self,
        old: &str,
        map_ns: Option<&str>,
        with_namespace: bool,
    ) -> Result<Option<usize>, String> {
        let snap = self.snap;
        let Some(all) = snap.by_prev_name.get(old) else {
            return Ok(None);
        };
        let referrer_id = &snap.res[self.referrer].cur;
        let referrer_cluster = snap
            .scopes
            .is_cluster_scoped(&referrer_id.group, &referrer_id.kind);
        // Resources the referrer could reference at all.
        let mut cands: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&c| {
                if referrer_cluster {
                    return true;
                }
                let id = &snap.res[c].cur;
                snap.scopes.is_cluster_scoped(&id.group, &id.kind)
                    || effective_namespace(id, snap.scopes)
                        == effective_namespace(referrer_id, snap.scopes)
                    || self.rb_namespaces.contains(&id.namespace)
            })
            .collect();
        if let Some(ns) = map_ns {
            let by_org: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&c| effective_namespace(&snap.res[c].org, snap.scopes) == ns)
                .collect();
            cands = if by_org.is_empty() {
                cands
                    .into_iter()
                    .filter(|&c| effective_namespace(&snap.res[c].cur, snap.scopes) == ns)
                    .collect()
            } else {
                by_org
            };
        }
        let t = self.target;
        cands.retain(|&c| {
            let r = &snap.res[c];
            r.prev.iter().any(|id| id.name == old)
                && r.prev
                    .iter()
                    .any(|id| gvk_selects(&t.group, &t.version, &t.kind, id))
        });
        if let Some(kind) = &self.role_ref_kind {
            cands.retain(|&c| snap.res[c].prev.iter().any(|id| id.kind == *kind));
        }
        if !referrer_cluster {
            cands.retain(|&c| {
                let id = &snap.res[c].cur;
                snap.scopes.is_cluster_scoped(&id.group, &id.kind)
                    || id.kind == "ServiceAccount"
                    || effective_namespace(id, snap.scopes)
                        == effective_namespace(referrer_id, snap.scopes)
            });
        }
        if cands.len() == 1 {
            return Ok(Some(cands[0]));
        }
        let me = &snap.res[self.referrer];
        cands.retain(|&c| {
            let r = &snap.res[c];
            let p = r.prefixes.is_empty()
                || me.prefixes.is_empty()
                || same_ending(&r.prefixes, &me.prefixes);
            let s = r.suffixes.is_empty()
                || me.suffixes.is_empty()
                || same_ending(&r.suffixes, &me.suffixes);
            p && s
        });
        match cands.len() {
            0 => Ok(None),
            1 => Ok(Some(cands[0])),
            _ => {
                let first = &snap.res[cands[0]].cur;
                if cands.iter().all(|&c| {
                    let cur = &snap.res[c].cur;
                    cur.name == first.name && (!with_namespace || cur.namespace == first.namespace)
                }) {
                    return Ok(Some(cands[0]));
                }
                let ids: Vec<String> = cands.iter().map(|&c| snap.res[c].cur.to_string()).collect();
                Err(format!(
                    "found multiple possible referrals for {old:?}: {}",
                    ids.join("; ")
                ))
            }
        }
    }
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let diff = long.len() - short.len();
    if short.is_empty() {
        return diff == 0;
    }
    (0..short.len()).all(|i| long[i + diff] == short[i])
}
