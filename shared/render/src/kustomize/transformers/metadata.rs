//! Name prefix/suffix, labels, annotations and replicas.

use crate::Error;
use serde_json::Value;

use super::super::fieldspec::{set_pairs, walk, FieldSpec};
use super::super::resource::Res;

/// Kinds kustomize never renames with a prefix or suffix.
fn skip_rename(res: &Res) -> bool {
    matches!(res.kind(), "CustomResourceDefinition" | "Namespace")
        || (res.kind() == "APIService" && res.group() == "apiregistration.k8s.io")
}

/// `namePrefix`.
pub fn prefix(resources: &mut [Res], prefix: &str) {
    for res in resources.iter_mut().filter(|r| !skip_rename(r)) {
        res.store_previous_id();
        res.prefixes.push(prefix.to_owned());
        let name = format!("{prefix}{}", res.name());
        res.set_name(&name);
    }
}

/// `nameSuffix`.
pub fn suffix(resources: &mut [Res], suffix: &str) {
    for res in resources.iter_mut().filter(|r| !skip_rename(r)) {
        res.store_previous_id();
        res.suffixes.push(suffix.to_owned());
        let name = format!("{}{suffix}", res.name());
        res.set_name(&name);
    }
}

/// The PrefixTransformer/SuffixTransformer plugins: `affix` at each field spec selected by the
/// resource's original kind; at `metadata/name` it renames (with kustomize's bookkeeping),
/// elsewhere it extends the strings it finds.
pub fn affix_at(resources: &mut [Res], affix: &str, specs: &[FieldSpec], is_prefix: bool) {
    for res in resources.iter_mut().filter(|r| !skip_rename(r)) {
        let org = res.org.clone();
        for fs in specs {
            if !fs.selects_gvk(&org.group, &org.version, &org.kind) {
                continue;
            }
            if fs.path.len() == 2 && fs.path[0] == "metadata" && fs.path[1] == "name" {
                if affix.is_empty() {
                    continue;
                }
                res.store_previous_id();
                let name = if is_prefix {
                    res.prefixes.push(affix.to_owned());
                    format!("{affix}{}", res.name())
                } else {
                    res.suffixes.push(affix.to_owned());
                    format!("{}{affix}", res.name())
                };
                res.set_name(&name);
                continue;
            }
            let _ = walk::<()>(&mut res.obj.value, &fs.path, false, &mut |v: &mut Value| {
                if let Value::String(s) = v {
                    *s = if is_prefix {
                        format!("{affix}{s}")
                    } else {
                        format!("{s}{affix}")
                    };
                }
                Ok(())
            });
        }
    }
}

/// Sets `pairs` at every field spec that applies (labels and annotations).
pub fn set_maps(
    resources: &mut [Res],
    specs: &[FieldSpec],
    pairs: &[(String, String)],
    what: &str,
) -> Result<(), Error> {
    if pairs.is_empty() {
        return Ok(());
    }
    for res in resources.iter_mut() {
        let (kind, group, version) = (
            res.kind().to_owned(),
            res.group().to_owned(),
            res.version().to_owned(),
        );
        let selected: Vec<&FieldSpec> = specs
            .iter()
            .filter(|fs| fs.selects_gvk(&group, &version, &kind))
            .collect();
        for fs in selected {
            let source = res.obj.source.clone();
            let id = res.id();
            walk(
                &mut res.obj.value,
                &fs.path,
                fs.create,
                &mut |v: &mut Value| {
                    set_pairs(v, pairs).map_err(|message| Error::Object {
                        at: source.location(),
                        object: id.short(),
                        message: format!("{what}: {}: {message}", fs.path.join("/")),
                    })
                },
            )?;
        }
    }
    Ok(())
}

/// `replicas`: sets the count on the named resources; a name that matches nothing is an error.
pub fn replicas(
    resources: &mut [Res],
    specs: &[FieldSpec],
    name: &str,
    count: i64,
    file: &str,
) -> Result<(), Error> {
    let mut found = false;
    for fs in specs {
        for res in resources.iter_mut() {
            if !fs.selects(res) || !res.all_ids().any(|id| id.name == name) {
                continue;
            }
            found = true;
            walk(
                &mut res.obj.value,
                &fs.path,
                fs.create,
                &mut |v: &mut Value| -> Result<(), Error> {
                    *v = Value::from(count);
                    Ok(())
                },
            )?;
        }
    }
    if !found {
        let gvks: Vec<String> = specs
            .iter()
            .map(|fs| format!("~G_~V_{}", fs.kind))
            .collect();
        return Err(Error::Invalid(format!(
            "{file}: replicas: resource with name {name} does not match a config with the following GVK [{}]",
            gvks.join(" ")
        )));
    }
    Ok(())
}
