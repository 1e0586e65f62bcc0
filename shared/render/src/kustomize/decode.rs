//! Reading a kustomization the way kustomize does: its YAML becomes JSON (go-yaml v2, a repeated
//! key keeping its last value, then a Go map, so the keys come out sorted), and Go's
//! `encoding/json` decodes that into kustomize's types. Go matches a JSON key to a struct field
//! case-insensitively (`nameprefix`, `images[].newtag`, `patches[].Target.Kind`), and when two
//! keys name the same field the later one in sorted order (`literals` after `Literals`) wins —
//! a nested struct or map is merged into rather than replaced, a list is replaced.
//!
//! [`fold`] rewrites the parsed value into the canonical spelling with those semantics, so that
//! serde (strict, exact names) then reads what Go would have read. Which fields a struct has
//! comes from the serde types themselves ([`fields_of`]); the table below only says which
//! fields hold nested structs, lists of them, or string maps.

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Value};

use super::kustomization as k;

/// The shape of a field's value.
#[derive(Clone, Copy)]
enum Ty {
    /// Anything decoded as is (strings, numbers, lists of strings, free-form values).
    Any,
    /// A map with free keys (labels, annotations): merged key by key when repeated.
    Map,
    /// A struct: its field names (from serde) and the fields holding nested shapes.
    Struct(
        fn() -> &'static [&'static str],
        &'static [(&'static str, Ty)],
    ),
    /// A list of values of one shape.
    List(&'static Ty),
}

const SELECTOR: Ty = Ty::Struct(fields_of::<k::Selector>, &[]);
const FIELD_SPEC: Ty = Ty::Struct(fields_of::<k::FieldSpec>, &[]);
const OPTIONS: Ty = Ty::Struct(
    fields_of::<k::GeneratorOptions>,
    &[("labels", Ty::Map), ("annotations", Ty::Map)],
);
const FIELD_OPTIONS: Ty = Ty::Struct(fields_of::<k::FieldOptions>, &[]);
const PATCH: Ty = Ty::Struct(
    fields_of::<k::Patch>,
    &[("target", SELECTOR), ("options", Ty::Map)],
);
const GENERATOR: Ty = Ty::Struct(fields_of::<k::Generator>, &[("options", OPTIONS)]);
const REPLACEMENT: Ty = Ty::Struct(
    replacement_fields,
    &[
        (
            "source",
            Ty::Struct(
                fields_of::<k::ReplacementSource>,
                &[("options", FIELD_OPTIONS)],
            ),
        ),
        (
            "targets",
            Ty::List(&Ty::Struct(
                fields_of::<k::ReplacementTarget>,
                &[
                    ("select", SELECTOR),
                    ("reject", Ty::List(&SELECTOR)),
                    ("options", FIELD_OPTIONS),
                ],
            )),
        ),
    ],
);
const IMAGE: Ty = Ty::Struct(fields_of::<k::Image>, &[]);

/// The kustomization (and component) file.
const KUSTOMIZATION: Ty = Ty::Struct(
    fields_of::<k::Kustomization>,
    &[
        ("commonLabels", Ty::Map),
        ("commonAnnotations", Ty::Map),
        ("openapi", Ty::Map),
        (
            "labels",
            Ty::List(&Ty::Struct(
                fields_of::<k::Label>,
                &[("pairs", Ty::Map), ("fields", Ty::List(&FIELD_SPEC))],
            )),
        ),
        ("images", Ty::List(&IMAGE)),
        ("imageTags", Ty::List(&IMAGE)),
        (
            "replicas",
            Ty::List(&Ty::Struct(fields_of::<k::Replica>, &[])),
        ),
        ("patches", Ty::List(&PATCH)),
        ("patchesJson6902", Ty::List(&PATCH)),
        ("configMapGenerator", Ty::List(&GENERATOR)),
        ("secretGenerator", Ty::List(&GENERATOR)),
        ("generatorOptions", OPTIONS),
        ("replacements", Ty::List(&REPLACEMENT)),
        (
            "sortOptions",
            Ty::Struct(
                fields_of::<k::SortOptions>,
                &[(
                    "legacySortOptions",
                    Ty::Struct(fields_of::<k::LegacySortOptions>, &[]),
                )],
            ),
        ),
        (
            "helmCharts",
            Ty::List(&Ty::Struct(fields_of::<k::HelmChart>, &[])),
        ),
        ("helmGlobals", Ty::Struct(fields_of::<k::HelmGlobals>, &[])),
        (
            "vars",
            Ty::List(&Ty::Struct(
                fields_of::<k::Var>,
                &[
                    ("objref", Ty::Struct(fields_of::<k::VarRef>, &[])),
                    ("fieldref", Ty::Struct(fields_of::<k::VarField>, &[])),
                ],
            )),
        ),
    ],
);

/// A `replacements` entry is either `{path}` or an inline replacement.
fn replacement_fields() -> &'static [&'static str] {
    static FIELDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = fields_of::<k::Replacement>().to_vec();
        f.push("path");
        f
    })
}

fn field_spec_fields() -> &'static [&'static str] {
    &["group", "version", "kind", "path", "create"]
}

fn name_reference_fields() -> &'static [&'static str] {
    &["group", "version", "kind", "fieldSpecs"]
}

fn config_fields() -> &'static [&'static str] {
    &[
        "namePrefix",
        "nameSuffix",
        "namespace",
        "commonLabels",
        "labels",
        "templateLabels",
        "volumeClaimTemplateLabels",
        "commonAnnotations",
        "nameReference",
        "varReference",
        "images",
        "replicas",
    ]
}

const CONFIG_SPEC: Ty = Ty::Struct(field_spec_fields, &[]);
const CONFIG_SPECS: Ty = Ty::List(&CONFIG_SPEC);

/// A `configurations:` file (kustomize's `TransformerConfig`, also read with `encoding/json`).
const TRANSFORMER_CONFIG: Ty = Ty::Struct(
    config_fields,
    &[
        ("namePrefix", CONFIG_SPECS),
        ("nameSuffix", CONFIG_SPECS),
        ("namespace", CONFIG_SPECS),
        ("commonLabels", CONFIG_SPECS),
        ("labels", CONFIG_SPECS),
        ("templateLabels", CONFIG_SPECS),
        ("volumeClaimTemplateLabels", CONFIG_SPECS),
        ("commonAnnotations", CONFIG_SPECS),
        (
            "nameReference",
            Ty::List(&Ty::Struct(
                name_reference_fields,
                &[("fieldSpecs", CONFIG_SPECS)],
            )),
        ),
        ("varReference", CONFIG_SPECS),
        ("images", CONFIG_SPECS),
        ("replicas", CONFIG_SPECS),
    ],
);

/// Rewrites a parsed transformer configuration as Go's `encoding/json` would read it.
pub fn fold_config(value: &mut Value) {
    let v = std::mem::take(value);
    *value = fold_as(v, TRANSFORMER_CONFIG);
}

/// Rewrites a parsed kustomization as Go's `encoding/json` would read it into kustomize's types.
pub fn fold(value: &mut Value) {
    let v = std::mem::take(value);
    *value = fold_as(v, KUSTOMIZATION);
}

fn fold_as(value: Value, ty: Ty) -> Value {
    match (ty, value) {
        (Ty::List(elem), Value::Array(items)) => {
            Value::Array(items.into_iter().map(|v| fold_as(v, *elem)).collect())
        }
        (Ty::Struct(names, nested), Value::Object(map)) => {
            let mut out = Map::new();
            fold_struct_into(&mut out, map, names(), nested);
            Value::Object(out)
        }
        (_, other) => other,
    }
}

/// Decodes the keys of `map` into `out`, in Go's order (sorted), each under the field it
/// names: the exact spelling, else the first that matches case-insensitively. Unknown keys
/// stay, for serde to refuse by name.
fn fold_struct_into(
    out: &mut Map<String, Value>,
    map: Map<String, Value>,
    names: &[&'static str],
    nested: &[(&'static str, Ty)],
) {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (key, v) in entries {
        let field = names
            .iter()
            .find(|n| **n == key)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(&key)))
            .map_or(key, |n| (*n).to_owned());
        let ty = nested
            .iter()
            .find(|(n, _)| *n == field)
            .map_or(Ty::Any, |(_, t)| *t);
        match (ty, out.get_mut(&field), v) {
            (Ty::Struct(names, nested), Some(Value::Object(existing)), Value::Object(m)) => {
                fold_struct_into(existing, m, names(), nested);
            }
            (Ty::Map, Some(Value::Object(existing)), Value::Object(m)) => {
                existing.extend(m);
            }
            (ty, _, v) => {
                out.insert(field, fold_as(v, ty));
            }
        }
    }
}

/// The field names serde knows for `T` (its `deserialize_struct` call), so that this table
/// cannot drift from the types.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut found: Option<&'static [&'static str]> = None;
    let _ = T::deserialize(Introspect(&mut found));
    found.unwrap_or(&[])
}

struct Introspect<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for Introspect<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("introspection only"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("introspection only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_names_come_from_the_serde_types() {
        assert!(fields_of::<k::Image>().contains(&"newTag"));
        assert!(fields_of::<k::Kustomization>().contains(&"namePrefix"));
        assert!(replacement_fields().contains(&"path"));
    }

    #[test]
    fn nested_names_fold_and_repeat_like_go_json() {
        let mut v = json!({
            "nameSuffix": "-s", "NameSuffix": "-t",
            "commonLabels": {"a": "x"}, "CommonLabels": {"b": "z"},
            "images": [{"name": "n", "newtag": "1", "NewName": "m"}],
            "patches": [{"Patch": "p", "Target": {"Kind": "K", "NAME": "x"}}],
            "configMapGenerator": [{
                "name": "g", "literals": ["z=w"], "Literals": ["x=q"],
                "options": {"labels": {"l1": "v"}}, "Options": {"annotations": {"a1": "v"}}
            }]
        });
        fold(&mut v);
        assert_eq!(
            v,
            json!({
                "commonLabels": {"b": "z", "a": "x"},
                "configMapGenerator": [{
                    "literals": ["z=w"], "name": "g",
                    "options": {"annotations": {"a1": "v"}, "labels": {"l1": "v"}}
                }],
                "images": [{"name": "n", "newName": "m", "newTag": "1"}],
                "nameSuffix": "-s",
                "patches": [{"patch": "p", "target": {"kind": "K", "name": "x"}}]
            })
        );
    }
}
