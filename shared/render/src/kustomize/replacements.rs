//! `replacements`: copy a value from one resource's field into fields of other resources.
//! Field paths use kustomize's dotted form with `[key=value]` list element selectors and `*`.

use crate::Error;
use gitops::manifest::{self, Scopes};
use gitops::Identity;
use serde_json::{Map, Value};

use super::kustomization::{
    FieldOptions, Replacement, ReplacementEntry, ReplacementSource, Selector,
};
use super::loader::Loader;
use super::resource::{effective_namespace, Res};
use super::selector::Compiled;

pub fn apply(
    acc: &mut [Res],
    loader: &Loader,
    entries: &[ReplacementEntry],
    scopes: &Scopes,
) -> Result<(), Error> {
    let file = loader.kustomization_name();
    let mut list: Vec<Replacement> = Vec::new();
    for e in entries {
        match e {
            ReplacementEntry::Inline(r) => list.push((**r).clone()),
            ReplacementEntry::Path { path } => {
                let (name, text) = loader.read_text(path, "replacements")?;
                for doc in manifest::split_documents(&text) {
                    let Some(v) = manifest::parse_document(&doc, &name)? else {
                        continue;
                    };
                    let items = match v {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for item in items {
                        let r: Replacement = serde_json::from_value(item).map_err(|e| {
                            Error::Invalid(format!("{name}: invalid replacement: {e}"))
                        })?;
                        list.push(r);
                    }
                }
            }
        }
    }
    for r in &list {
        let Some(source) = &r.source else {
            return Err(Error::Invalid(format!(
                "{file}: replacements: an entry has no `source`"
            )));
        };
        let value = source_value(acc, source, scopes, &file)?;
        for target in &r.targets {
            let Some(select) = &target.select else {
                return Err(Error::Invalid(format!(
                    "{file}: replacements: target must specify resources to select"
                )));
            };
            let sel = Compiled::new(select)?;
            let rejects: Vec<Compiled> = target
                .reject
                .iter()
                .map(Compiled::new)
                .collect::<Result<_, _>>()?;
            let paths: Vec<String> = if target.field_paths.is_empty() {
                vec!["metadata.name".to_owned()]
            } else {
                target.field_paths.clone()
            };
            let opts = target.options.clone().unwrap_or_default();
            for res in acc.iter_mut() {
                if !selects_any(&sel, res, scopes)
                    || rejects.iter().any(|r| selects_any(r, res, scopes))
                {
                    continue;
                }
                for fp in &paths {
                    let segs = split(fp);
                    let mut count = 0;
                    let mut err = None;
                    set_path(
                        &mut res.obj.value,
                        &segs,
                        opts.create,
                        &mut |t: &mut Value| {
                            count += 1;
                            if let Err(e) = set_value(t, &value, &opts) {
                                err = Some(e);
                            }
                        },
                    );
                    if let Some(e) = err {
                        return Err(Error::Object {
                            at: res.obj.source.location(),
                            object: res.id().short(),
                            message: e,
                        });
                    }
                    if count == 0 {
                        let what = if opts.create {
                            "unable to find or create field"
                        } else {
                            "unable to find field"
                        };
                        return Err(Error::Object {
                            at: res.obj.source.location(),
                            object: res.id().short(),
                            message: format!("{what} \"{fp}\" in replacement target"),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// A selector matches a resource by its current id or any earlier one.
fn selects_any(sel: &Compiled, res: &Res, scopes: &Scopes) -> bool {
    sel.matches(res, scopes)
        || {
            res.prev.iter().any(|id| {
            let mut probe = res.clone();
            probe.obj.value = serde_json::json!({"apiVersion": id.api_version(), "kind": id.kind, "metadata": {"name": id.name, "namespace": id.namespace, "labels": res.obj.value.pointer("/metadata/labels").cloned().unwrap_or(Value::Null), "annotations": res.obj.value.pointer("/metadata/annotations").cloned().unwrap_or(Value::Null)}});
            sel.matches(&probe, scopes)
        })
        }
}

fn id_selected(id: &Identity, s: &ReplacementSource, scopes: &Scopes) -> bool {
    let eq = |want: &Option<String>, have: &str| {
        want.as_deref().is_none_or(|w| w.is_empty() || w == have)
    };
    eq(&s.group, &id.group)
        && eq(&s.version, &id.version)
        && eq(&s.kind, &id.kind)
        && eq(&s.name, &id.name)
        && s.namespace.as_deref().is_none_or(|ns| {
            ns.is_empty() || ns == effective_namespace(id, scopes) || ns == id.namespace
        })
}

fn source_value(
    acc: &[Res],
    s: &ReplacementSource,
    scopes: &Scopes,
    file: &str,
) -> Result<Value, Error> {
    let describe = || {
        let sel = Selector {
            group: s.group.clone(),
            version: s.version.clone(),
            kind: s.kind.clone(),
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            ..Selector::default()
        };
        format!(
            "{}/{}/{}",
            sel.kind.unwrap_or_default(),
            sel.namespace.unwrap_or_default(),
            sel.name.unwrap_or_default()
        )
    };
    let matches: Vec<&Res> = acc
        .iter()
        .filter(|r| r.all_ids().any(|id| id_selected(&id, s, scopes)))
        .collect();
    let res = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::Invalid(format!(
                "{file}: replacements: nothing selected by source {}",
                describe()
            )))
        }
        _ => {
            return Err(Error::Invalid(format!(
                "{file}: replacements: multiple matches for source {}",
                describe()
            )))
        }
    };
    let fp = s
        .field_path
        .clone()
        .unwrap_or_else(|| "metadata.name".to_owned());
    let mut found = None;
    let mut value = res.obj.value.clone();
    set_path(&mut value, &split(&fp), false, &mut |v: &mut Value| {
        if found.is_none() {
            found = Some(v.clone());
        }
    });
    let Some(mut v) = found else {
        return Err(Error::Object {
            at: res.obj.source.location(),
            object: res.id().short(),
            message: format!(
                "fieldPath `{fp}` is missing for replacement source {}",
                describe()
            ),
        });
    };
    if let Some(opts) = &s.options {
        if let Some(d) = opts.delimiter.as_deref().filter(|d| !d.is_empty()) {
            let text = v.as_str().unwrap_or_default().to_owned();
            let parts: Vec<&str> = text.split(d).collect();
            let i = opts.index;
            if i < 0 || i as usize >= parts.len() {
                return Err(Error::Invalid(format!(
                    "{file}: replacements: options.index {i} is out of bounds for value {text}"
                )));
            }
            v = Value::String(parts[i as usize].to_owned());
        }
    }
    Ok(v)
}

fn set_value(t: &mut Value, value: &Value, opts: &FieldOptions) -> Result<(), String> {
    match opts.delimiter.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => {
            let current = t.as_str().unwrap_or_default().to_owned();
            let mut parts: Vec<String> = current.split(d).map(str::to_owned).collect();
            let new = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let i = opts.index;
            if i < 0 {
                parts.insert(0, new);
            } else if i as usize >= parts.len() {
                parts.push(new);
            } else {
                parts[i as usize] = new;
            }
            *t = Value::String(parts.join(d));
        }
        None => *t = value.clone(),
    }
    Ok(())
}

/// `a.b.[name=x].c` → `["a", "b", "[name=x]", "c"]` (dots inside brackets kept).
fn split(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

fn set_path(value: &mut Value, segs: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some((head, rest)) = segs.split_first() else {
        f(value);
        return;
    };
    if let Some(inner) = head.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let Value::Array(items) = value else { return };
        if let Some((k, v)) = inner.split_once('=') {
            let mut hit = false;
            for item in items.iter_mut() {
                let m = if k.is_empty() {
                    item.as_str() == Some(v)
                } else {
                    item.get(k).and_then(Value::as_str) == Some(v)
                };
                if m {
                    hit = true;
                    set_path(item, rest, create, f);
                }
            }
            if !hit && create && !k.is_empty() {
                let mut m = Map::new();
                m.insert(k.to_owned(), Value::String(v.to_owned()));
                let mut item = Value::Object(m);
                set_path(&mut item, rest, create, f);
                items.push(item);
            }
        } else if let Ok(i) = inner.parse::<usize>() {
            if let Some(item) = items.get_mut(i) {
                set_path(item, rest, create, f);
            }
        }
        return;
    }
    match value {
        Value::Array(items) if head == "*" => {
            for item in items {
                set_path(item, rest, create, f);
            }
        }
        Value::Array(items) => {
            if let Ok(i) = head.parse::<usize>() {
                if let Some(item) = items.get_mut(i) {
                    set_path(item, rest, create, f);
                }
            }
        }
        Value::Object(map) if head == "*" => {
            for (_, v) in map.iter_mut() {
                set_path(v, rest, create, f);
            }
        }
        Value::Object(map) => match map.get_mut(head.as_str()) {
            Some(child) if !child.is_null() => set_path(child, rest, create, f),
            _ if create => {
                let mut child = if rest.is_empty() {
                    Value::Null
                } else if rest[0].starts_with('[') {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                };
                set_path(&mut child, rest, create, f);
                map.insert(head.clone(), child);
            }
            _ => {}
        },
        _ => {}
    }
}
