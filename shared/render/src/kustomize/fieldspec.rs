//! Field specs: kustomize's way of naming where a transformer acts (`spec/template/metadata/labels`
//! for kind Deployment, create if missing). Sequences met on the way are walked element by
//! element, `[]` marks a segment that holds a sequence, and `\/` escapes a slash in a key.
//!
//! [`Config`] is kustomize's `TransformerConfig` as the `configurations:` field extends it: the
//! field specs a kustomization's transformer-config files add to the built-in ones (for custom
//! resources), merged across the levels of a build the way kustomize merges them.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::resource::Res;

/// One field spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: Vec<String>,
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            path: split_path(path),
            create,
        }
    }

    /// Whether the spec applies to `res` (empty parts match anything).
    pub fn selects(&self, res: &Res) -> bool {
        self.selects_gvk(res.group(), res.version(), res.kind())
    }

    pub fn selects_gvk(&self, group: &str, version: &str, kind: &str) -> bool {
        (self.kind.is_empty() || self.kind == kind)
            && (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
    }

    /// kustomize's `effectivelyEquals`: `self` (already listed) is selected by `other`'s
    /// group/version/kind (empty parts of `other` match anything) and the paths are equal.
    fn effectively_equals(&self, other: &FieldSpec) -> bool {
        self.selects_gvk_by(other) && self.path == other.path
    }

    fn selects_gvk_by(&self, sel: &FieldSpec) -> bool {
        (sel.kind.is_empty() || sel.kind == self.kind)
            && (sel.group.is_empty() || sel.group == self.group)
            && (sel.version.is_empty() || sel.version == self.version)
    }
}

/// A kind that can be referred to by name, and the fields that refer to it (kustomize's
/// `NameBackReferences`, one entry of `nameReference`).
#[derive(Debug, Clone)]
pub struct NameBackRefs {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub referrers: Vec<FieldSpec>,
}

/// The field specs that `configurations:` files add to kustomize's built-in ones, per
/// transformer (kustomize's `TransformerConfig` minus its defaults, which the transformers
/// carry themselves). Each list holds only specs that no built-in one already covers.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub volume_claim_template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackRefs>,
    pub var_reference: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
}

/// The built-in specs of each list, against which added ones are de-duplicated.
pub struct Defaults<'a> {
    pub name_prefix: &'a [FieldSpec],
    pub name_suffix: &'a [FieldSpec],
    pub namespace: &'a [FieldSpec],
    pub common_labels: &'a [FieldSpec],
    pub template_labels: &'a [FieldSpec],
    pub volume_claim_template_labels: &'a [FieldSpec],
    pub common_annotations: &'a [FieldSpec],
    pub name_reference: &'a [NameBackRefs],
    pub var_reference: &'a [FieldSpec],
    pub images: &'a [FieldSpec],
    pub replicas: &'a [FieldSpec],
}

/// kustomize's `FsSlice.MergeOne` against the defaults and the specs added so far: a spec
/// already covered is dropped, one that differs only in `create` is an error.
fn merge_one(
    list: &mut Vec<FieldSpec>,
    defaults: &[FieldSpec],
    x: &FieldSpec,
    what: &str,
) -> Result<(), String> {
    match defaults
        .iter()
        .chain(list.iter())
        .find(|e| e.effectively_equals(x))
    {
        Some(e) if e.create != x.create => Err(format!(
            "failed to merge {what} fieldSpec: conflicting fieldspecs"
        )),
        Some(_) => Ok(()),
        None => {
            list.push(x.clone());
            Ok(())
        }
    }
}

/// One list of a merge: the list merged into, the incoming specs, the built-in ones, its name.
type MergedList<'a> = (
    &'a mut Vec<FieldSpec>,
    &'a [FieldSpec],
    &'a [FieldSpec],
    &'static str,
);

impl Config {
    pub fn is_empty(&self) -> bool {
        self.name_prefix.is_empty()
            && self.name_suffix.is_empty()
            && self.namespace.is_empty()
            && self.common_labels.is_empty()
            && self.labels.is_empty()
            && self.template_labels.is_empty()
            && self.volume_claim_template_labels.is_empty()
            && self.common_annotations.is_empty()
            && self.name_reference.is_empty()
            && self.var_reference.is_empty()
            && self.images.is_empty()
            && self.replicas.is_empty()
    }

    /// Merges `other` into this config (kustomize's `TransformerConfig.Merge`).
    pub fn merge(&mut self, other: &Config, d: &Defaults<'_>) -> Result<(), String> {
        let lists: [MergedList<'_>; 11] = [
            (
                &mut self.name_prefix,
                &other.name_prefix,
                d.name_prefix,
                "NamePrefix",
            ),
            (
                &mut self.name_suffix,
                &other.name_suffix,
                d.name_suffix,
                "NameSuffix",
            ),
            (
                &mut self.namespace,
                &other.namespace,
                d.namespace,
                "NameSpace",
            ),
            (
                &mut self.common_annotations,
                &other.common_annotations,
                d.common_annotations,
                "CommonAnnotations",
            ),
            (
                &mut self.common_labels,
                &other.common_labels,
                d.common_labels,
                "CommonLabels",
            ),
            (&mut self.labels, &other.labels, &[], "Labels"),
            (
                &mut self.template_labels,
                &other.template_labels,
                d.template_labels,
                "TemplateLabels",
            ),
            (
                &mut self.volume_claim_template_labels,
                &other.volume_claim_template_labels,
                d.volume_claim_template_labels,
                "VolumeClaimTemplateLabels",
            ),
            (
                &mut self.var_reference,
                &other.var_reference,
                d.var_reference,
                "VarReference",
            ),
            (&mut self.images, &other.images, d.images, "Images"),
            (&mut self.replicas, &other.replicas, d.replicas, "Replicas"),
        ];
        for (list, incoming, defaults, what) in lists {
            for x in incoming {
                merge_one(list, defaults, x, what)?;
            }
        }
        for nbr in &other.name_reference {
            self.add_name_reference(nbr, d.name_reference)?;
        }
        Ok(())
    }

    /// Adds the referrers of one name-reference target (kustomize's `nbrSlice.mergeOne`: a
    /// target of exactly the same group/version/kind gains the referrers it lacks).
    pub fn add_name_reference(
        &mut self,
        nbr: &NameBackRefs,
        defaults: &[NameBackRefs],
    ) -> Result<(), String> {
        let same = |t: &NameBackRefs| {
            t.group == nbr.group && t.version == nbr.version && t.kind == nbr.kind
        };
        let builtin: &[FieldSpec] = defaults
            .iter()
            .find(|t| same(t))
            .map_or(&[], |t| t.referrers.as_slice());
        let i = match self.name_reference.iter().position(same) {
            Some(i) => i,
            None => {
                self.name_reference.push(NameBackRefs {
                    referrers: Vec::new(),
                    ..nbr.clone()
                });
                self.name_reference.len() - 1
            }
        };
        for x in &nbr.referrers {
            merge_one(
                &mut self.name_reference[i].referrers,
                builtin,
                x,
                "NameReference",
            )?;
        }
        Ok(())
    }

    /// Parses one transformer-config file (kustomize's builtin field-spec config format).
    pub fn parse(value: Value) -> Result<Config, String> {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct Fs {
            #[serde(default)]
            group: String,
            #[serde(default)]
            version: String,
            #[serde(default)]
            kind: String,
            #[serde(default)]
            path: String,
            #[serde(default)]
            create: bool,
        }
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Nbr {
            #[serde(default)]
            group: String,
            #[serde(default)]
            version: String,
            #[serde(default)]
            kind: String,
            #[serde(default)]
            field_specs: Vec<Fs>,
        }
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct File {
            #[serde(default)]
            name_prefix: Vec<Fs>,
            #[serde(default)]
            name_suffix: Vec<Fs>,
            #[serde(default)]
            namespace: Vec<Fs>,
            #[serde(default)]
            common_labels: Vec<Fs>,
            #[serde(default)]
            labels: Vec<Fs>,
            #[serde(default)]
            template_labels: Vec<Fs>,
            #[serde(default)]
            volume_claim_template_labels: Vec<Fs>,
            #[serde(default)]
            common_annotations: Vec<Fs>,
            #[serde(default)]
            name_reference: Vec<Nbr>,
            #[serde(default)]
            var_reference: Vec<Fs>,
            #[serde(default)]
            images: Vec<Fs>,
            #[serde(default)]
            replicas: Vec<Fs>,
        }
        let mut value = if value.is_null() {
            Value::Object(Map::new())
        } else {
            value
        };
        // Field names match case-insensitively, as kustomize's JSON decoding matches them.
        super::decode::fold_config(&mut value);
        let f: File = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let conv = |v: Vec<Fs>| -> Vec<FieldSpec> {
            v.iter()
                .map(|f| FieldSpec::new(&f.group, &f.version, &f.kind, &f.path, f.create))
                .collect()
        };
        Ok(Config {
            name_prefix: conv(f.name_prefix),
            name_suffix: conv(f.name_suffix),
            namespace: conv(f.namespace),
            common_labels: conv(f.common_labels),
            labels: conv(f.labels),
            template_labels: conv(f.template_labels),
            volume_claim_template_labels: conv(f.volume_claim_template_labels),
            common_annotations: conv(f.common_annotations),
            name_reference: f
                .name_reference
                .into_iter()
                .map(|n| NameBackRefs {
                    group: n.group,
                    version: n.version,
                    kind: n.kind,
                    referrers: conv(n.field_specs),
                })
                .collect(),
            var_reference: conv(f.var_reference),
            images: conv(f.images),
            replicas: conv(f.replicas),
        })
    }
}

/// `a/b\/c/d[]` → `["a", "b/c", "d[]"]`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

/// Calls `f` on every value at `path` below `value`, creating missing maps when `create`.
/// `f` receives `Value::Null` for a field it may create (only when `create`).
pub fn walk<E>(
    value: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let Some((head, rest)) = path.split_first() else {
        return f(value);
    };
    if let Value::Array(items) = value {
        for item in items {
            walk(item, path, create, f)?;
        }
        return Ok(());
    }
    let (key, is_seq) = match head.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (head.as_str(), false),
    };
    let Value::Object(map) = value else {
        return Ok(());
    };
    match map.get_mut(key) {
        Some(Value::Null) | None => {
            if !create || is_seq {
                return Ok(());
            }
            if rest.is_empty() {
                let mut v = Value::Null;
                f(&mut v)?;
                if !v.is_null() {
                    map.insert(key.to_owned(), v);
                }
                Ok(())
            } else {
                let mut child = Value::Object(Map::new());
                walk(&mut child, rest, create, f)?;
                map.insert(key.to_owned(), child);
                Ok(())
            }
        }
        Some(child) => walk(child, rest, create, f),
    }
}

/// Sets string pairs into the map at a field spec target (labels, annotations, selectors).
pub fn set_pairs(target: &mut Value, pairs: &[(String, String)]) -> Result<(), String> {
    if target.is_null() {
        *target = Value::Object(Map::new());
    }
    match target {
        Value::Object(map) => {
            for (k, v) in pairs {
                map.insert(k.clone(), Value::String(v.clone()));
            }
            Ok(())
        }
        other => Err(format!("expected a mapping, found {}", short(other))),
    }
}

fn short(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a sequence",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Object(_) => "a mapping",
    }
}

/// Parses `[Fs]` from a compact table: one spec per line, `path|kind|group|version|create`.
pub fn table(text: &str) -> Vec<FieldSpec> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.split('|');
            let path = parts.next().unwrap_or("");
            let kind = parts.next().unwrap_or("");
            let group = parts.next().unwrap_or("");
            let version = parts.next().unwrap_or("");
            let create = parts.next() == Some("c");
            FieldSpec::new(group, version, kind, path, create)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configurations_merge_like_kustomize() {
        let builtin = table("metadata/labels||||c\nspec/selector|Service||v1|c");
        let d = Defaults {
            name_prefix: &[],
            name_suffix: &[],
            namespace: &[],
            common_labels: &builtin,
            template_labels: &[],
            volume_claim_template_labels: &[],
            common_annotations: &[],
            name_reference: &[],
            var_reference: &[],
            images: &[],
            replicas: &[],
        };
        let added = Config::parse(json!({"commonLabels": [
            // covered by the built-in specs: a kind-less spec selects the Service one
            {"path": "metadata/labels", "create": true},
            {"path": "spec/selector", "create": true},
            {"path": "spec/selector", "kind": "App", "create": true},
        ]}))
        .unwrap();
        let mut cfg = Config::default();
        cfg.merge(&added, &d).unwrap();
        cfg.merge(&added, &d).unwrap();
        assert_eq!(cfg.common_labels, table("spec/selector|App|||c"));
        let conflict =
            Config::parse(json!({"commonLabels": [{"path": "metadata/labels"}]})).unwrap();
        assert_eq!(
            cfg.merge(&conflict, &d).unwrap_err(),
            "failed to merge CommonLabels fieldSpec: conflicting fieldspecs"
        );
        assert!(Config::parse(json!({"commonLabel": []})).is_err());
    }

    #[test]
    fn paths_split_on_unescaped_slashes() {
        assert_eq!(split_path("a/b\\/c/d[]"), ["a", "b/c", "d[]"]);
    }

    #[test]
    fn walk_visits_sequences_and_creates_maps() {
        let mut v = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let mut seen = Vec::new();
        walk(
            &mut v,
            &split_path("spec/containers/name"),
            false,
            &mut |x: &mut Value| -> Result<(), ()> {
                seen.push(x.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, [json!("a"), json!("b")]);
        let mut v = json!({"metadata": {}});
        walk(
            &mut v,
            &split_path("spec/selector/matchLabels"),
            true,
            &mut |x: &mut Value| set_pairs(x, &[("k".into(), "v".into())]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {}, "spec": {"selector": {"matchLabels": {"k": "v"}}}})
        );
    }
}
