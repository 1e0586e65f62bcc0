//! The deprecated `vars`: each var names a field of one resource (`objref`, `fieldref`); at the
//! end of the build `$(NAME)` in kustomize's `varReference` fields (container args, command, env
//! values, volume mount paths, Service ports, Ingress hosts, labels, annotations, …) is replaced
//! by that field's final value. Unknown `$(X)` stay as they are and `$$` escapes a `$`, as in
//! kustomize's expansion.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::Error;
use gitops::manifest::Scopes;
use gitops::Identity;
use serde_json::Value;

use super::fieldspec::{table, walk, FieldSpec};
use super::kustomization::Var;
use super::resource::{effective_namespace, Res};

/// kustomize's default `varReference` field specs.
pub fn var_reference() -> &'static [FieldSpec] {
    static SPECS: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut lines = String::new();
        let pod = [
            "containers/args",
            "containers/command",
            "containers/env/value",
            "containers/volumeMounts/mountPath",
            "initContainers/args",
            "initContainers/command",
            "initContainers/env/value",
            "initContainers/volumeMounts/mountPath",
            "volumes/nfs/server",
        ];
        for p in pod {
            // kustomize's table spells the CronJob volume path without `spec/` after
            // `template`, so vars in CronJob NFS volumes stay; we keep its behaviour.
            let cron = if p == "volumes/nfs/server" {
                format!("spec/jobTemplate/spec/template/{p}|CronJob\n")
            } else {
                format!("spec/jobTemplate/spec/template/spec/{p}|CronJob\n")
            };
            lines.push_str(&cron);
            lines.push_str(&format!("spec/{p}|Pod\n"));
            for k in [
                "DaemonSet",
                "Deployment",
                "Job",
                "ReplicaSet",
                "StatefulSet",
            ] {
                if k == "StatefulSet" && p == "volumes/nfs/server" {
                    continue;
                }
                lines.push_str(&format!("spec/template/spec/{p}|{k}\n"));
            }
        }
        lines.push_str(
            "spec/template/metadata/annotations|Deployment
            spec/rules/host|Ingress
            spec/tls/hosts|Ingress
            spec/tls/secretName|Ingress
            spec/ports/port|Service
            spec/ports/targetPort|Service
            spec/volumeClaimTemplates/spec/nfs/server|StatefulSet
            spec/nfs/server|PersistentVolume
            metadata/labels
            metadata/annotations",
        );
        table(&lines)
    })
}

/// A var with the resource it points at.
pub struct Bound {
    var: Var,
    file: String,
}

/// Checks a level's vars against the resources accumulated so far (kustomize's `MergeVars`).
pub fn bind(vars: &[Var], file: &str, seen: &mut Vec<Bound>) -> Result<(), Error> {
    for v in vars {
        if seen.iter().any(|b| b.var.name == v.name) {
            return Err(Error::Invalid(format!(
                "{file}: var '{}' already encountered",
                v.name
            )));
        }
        seen.push(Bound {
            var: v.clone(),
            file: file.to_owned(),
        });
    }
    Ok(())
}

fn selects(v: &Var, id: &Identity, scopes: &Scopes) -> bool {
    let r = &v.objref;
    let (group, version) = match &r.api_version {
        Some(api) => match api.rsplit_once('/') {
            Some((g, ver)) => (g.to_owned(), ver.to_owned()),
            None => (String::new(), api.clone()),
        },
        None => (
            r.group.clone().unwrap_or_default(),
            r.version.clone().unwrap_or_default(),
        ),
    };
    id.kind == r.kind
        && id.name == r.name
        && id.group == group
        && (version.is_empty() || id.version == version)
        && r.namespace
            .as_deref()
            .is_none_or(|ns| ns.is_empty() || ns == effective_namespace(id, scopes))
}

/// Resolves every var and substitutes it (kustomize's `ResolveVars`), at the end of the build,
/// in the default `varReference` fields and those `configurations:` added (`extra`).
pub fn resolve(
    acc: &mut [Res],
    bound: &[Bound],
    scopes: &Scopes,
    extra: &[FieldSpec],
) -> Result<(), Error> {
    if bound.is_empty() {
        return Ok(());
    }
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    for b in bound {
        let v = &b.var;
        let matches: Vec<&Res> = acc
            .iter()
            .filter(|r| r.all_ids().any(|id| selects(v, &id, scopes)))
            .collect();
        let res = match matches.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::Invalid(format!(
                    "{}: var '{}' cannot be mapped to a field in the set of known resources",
                    b.file, v.name
                )))
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "{}: var '{}' matches more than one resource; unable to disambiguate",
                    b.file, v.name
                )))
            }
        };
        let path = v
            .fieldref
            .as_ref()
            .and_then(|f| f.fieldpath.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "metadata.name".to_owned());
        let mut cur = &res.obj.value;
        for seg in path.split('.') {
            // `containers[0]` indexes a list, as kustomize's field paths do.
            let (key, index) = match seg.strip_suffix(']').and_then(|r| r.split_once('[')) {
                Some((k, i)) => (k, i.parse::<usize>().ok()),
                None => (seg, None),
            };
            let mut next = match cur {
                Value::Object(m) => m.get(key),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            if let (Some(i), Some(Value::Array(items))) = (index, next) {
                next = items.get(i);
            }
            cur = next.ok_or_else(|| Error::Object {
                at: res.obj.source.location(),
                object: res.id().short(),
                message: format!("var '{}': field {path:?} not found", v.name),
            })?;
        }
        if cur.is_object() || cur.is_array() || cur.is_null() {
            return Err(Error::Object {
                at: res.obj.source.location(),
                object: res.id().short(),
                message: format!("var '{}': field {path:?} is not a scalar", v.name),
            });
        }
        values.insert(v.name.clone(), cur.clone());
    }
    let mut used = std::collections::BTreeSet::new();
    for res in acc.iter_mut() {
        let (kind, group, version) = (
            res.kind().to_owned(),
            res.group().to_owned(),
            res.version().to_owned(),
        );
        for fs in var_reference()
            .iter()
            .chain(extra)
            .filter(|fs| fs.selects_gvk(&group, &version, &kind))
        {
            walk(
                &mut res.obj.value,
                &fs.path,
                false,
                &mut |v: &mut Value| -> Result<(), Error> {
                    substitute(v, &values, &mut used);
                    Ok(())
                },
            )?;
        }
    }
    let unused: Vec<&str> = values
        .keys()
        .filter(|k| !used.contains(*k))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        tracing::warn!(
            "well-defined vars that were never replaced: {}",
            unused.join(",")
        );
    }
    Ok(())
}

fn substitute(
    v: &mut Value,
    values: &BTreeMap<String, Value>,
    used: &mut std::collections::BTreeSet<String>,
) {
    match v {
        Value::String(s) => {
            if let Some(new) = expand(s, values, used) {
                *v = new;
            }
        }
        Value::Array(items) => {
            for item in items {
                substitute(item, values, used);
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                if item.is_string() {
                    substitute(item, values, used);
                }
            }
        }
        _ => {}
    }
}

/// kustomize's `expansion.Expand`: `$(NAME)` → value, `$$` → `$`; a field that is exactly one
/// reference takes the value's type.
fn expand(
    s: &str,
    values: &BTreeMap<String, Value>,
    used: &mut std::collections::BTreeSet<String>,
) -> Option<Value> {
    if !s.contains('$') {
        return None;
    }
    if let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        if let Some(v) = values.get(name) {
            used.insert(name.to_owned());
            return Some(v.clone());
        }
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            match b[i + 1] {
                b'$' => {
                    out.push_str(&s[last..i]);
                    out.push('$');
                    i += 2;
                    last = i;
                    continue;
                }
                b'(' => {
                    if let Some(end) = s[i + 2..].find(')') {
                        let name = &s[i + 2..i + 2 + end];
                        out.push_str(&s[last..i]);
                        match values.get(name) {
                            Some(v) => {
                                used.insert(name.to_owned());
                                out.push_str(&text(v));
                            }
                            None => out.push_str(&s[i..i + 3 + end]),
                        }
                        i += 3 + end;
                        last = i;
                        continue;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    (out != s).then_some(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_like_kustomize() {
        let mut values = BTreeMap::new();
        values.insert("SVC".to_owned(), json!("p-web"));
        values.insert("PORT".to_owned(), json!(80));
        let mut used = Default::default();
        assert_eq!(
            expand("http://$(SVC):$(PORT)/", &values, &mut used),
            Some(json!("http://p-web:80/"))
        );
        assert_eq!(expand("$(PORT)", &values, &mut used), Some(json!(80)));
        assert_eq!(
            expand("$$(SVC) $(OTHER)", &values, &mut used),
            Some(json!("$(SVC) $(OTHER)"))
        );
        assert_eq!(expand("plain", &values, &mut used), None);
    }
}
