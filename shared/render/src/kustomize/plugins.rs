//! `transformers:` and `generators:` entries holding kustomize's built-in plugin configurations
//! (`apiVersion: builtin`, kinds such as `PrefixTransformer` or `ConfigMapGenerator`), inline or
//! from files and kustomization directories. Each configuration runs the same code as the
//! kustomization field it stands for, with its own field specs, after that kustomization's own
//! generators or transformers (kustomize's order); `HashTransformer`, `ValueAddTransformer` and
//! `IAMPolicyGenerator`, which no kustomization field stands for, are implemented here. External
//! plugins — exec and container KRM functions, Go plugins — are refused with kustomize's
//! wording: kustomize itself only runs them with `--enable-alpha-plugins`, and running arbitrary
//! programs is out of this engine's scope.

use std::collections::BTreeMap;

use gitops::manifest::Scopes;
use gitops::Object;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Error;

use super::fieldspec::FieldSpec;
use super::kustomization::{
    self, Generator, HelmChart, HelmGlobals, Image, Kustomization, Patch, ReplacementEntry,
    Selector,
};
use super::loader::Loader;
use super::resource::Res;
use super::{apply_patch, generators, helm_charts, replacements, transformers};

/// The built-in generators kustomize links in.
const GENERATORS: &[&str] = &[
    "ConfigMapGenerator",
    "SecretGenerator",
    "HelmChartInflationGenerator",
    "IAMPolicyGenerator",
];

/// The built-in transformers kustomize links in.
const TRANSFORMERS: &[&str] = &[
    "AnnotationsTransformer",
    "HashTransformer",
    "ImageTagTransformer",
    "LabelTransformer",
    "NamespaceTransformer",
    "PatchJson6902Transformer",
    "PatchStrategicMergeTransformer",
    "PatchTransformer",
    "PrefixTransformer",
    "SuffixTransformer",
    "ReplicaCountTransformer",
    "ReplacementTransformer",
    "ValueAddTransformer",
];
// `SortOrderTransformer` has a builtin plugin type in kustomize 5.8 but no factory, so
// kustomize fails to load it ("unable to load builtin"), and so do we: it is absent above.

/// Whether an entry is an inline configuration rather than a path: kustomize tries to read it
/// as resources first, and a path is a plain YAML string.
pub fn is_inline(entry: &str) -> bool {
    let name: std::sync::Arc<str> = std::sync::Arc::from("inline");
    gitops::manifest::split_documents(entry).iter().any(|doc| {
        gitops::manifest::parse_document(doc, &name)
            .is_ok_and(|v| v.is_some_and(|v| v.is_object() || v.is_array()))
    })
}

fn spec_list(specs: &[kustomization::FieldSpec]) -> Vec<FieldSpec> {
    specs
        .iter()
        .map(|f| FieldSpec::new(&f.group, &f.version, &f.kind, &f.path, f.create))
        .collect()
}

/// The configuration without `apiVersion`, `kind` and `metadata`, for the typed structs below
/// (kustomize decodes plugin configurations leniently: unknown fields are ignored, so only the
/// fields each struct names are kept).
fn fields(cfg: &Object, keep: &[&str]) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = &cfg.value {
        for (k, v) in m {
            if keep.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn decode<T: for<'de> Deserialize<'de>>(
    cfg: &Object,
    keep: &[&str],
    what: &str,
) -> Result<T, Error> {
    serde_json::from_value(fields(cfg, keep)).map_err(|e| Error::Object {
        at: cfg.source.location(),
        object: what.to_owned(),
        message: format!("plugin {what} fails configuration: {e}"),
    })
}

/// Refuses what is not a built-in plugin, or a built-in of the wrong sort.
fn check(cfg: &Object, file: &str, field: &str) -> Result<String, Error> {
    let kind = cfg.kind().to_owned();
    let api = cfg.api_version();
    let (builtins, other, sort) = if field == "generators" {
        (GENERATORS, TRANSFORMERS, "generator")
    } else {
        (TRANSFORMERS, GENERATORS, "transformer")
    };
    if api != "builtin" {
        return Err(Error::Unsupported(format!(
            "{file}: {field} entry {kind} (apiVersion {api}): external plugins disabled; unable to load external plugin '{kind}' (only kustomize's built-in plugins, apiVersion: builtin, are supported; exec and container KRM functions are not)"
        )));
    }
    if other.contains(&kind.as_str()) {
        return Err(Error::Invalid(format!(
            "{file}: {field} entry: plugin {kind}.builtin.[noGrp]/{} not a {sort}",
            cfg.name()
        )));
    }
    if !builtins.contains(&kind.as_str()) {
        return Err(Error::Invalid(format!(
            "{file}: {field} entry: unable to load builtin {kind}.builtin.[noGrp]"
        )));
    }
    Ok(kind)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Affix {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    field_specs: Vec<kustomization::FieldSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Pairs {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    field_specs: Vec<kustomization::FieldSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NamespaceCfg {
    #[serde(default)]
    metadata: NamespaceMeta,
    #[serde(default)]
    field_specs: Vec<kustomization::FieldSpec>,
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: String,
}

#[derive(Deserialize, Default)]
struct NamespaceMeta {
    #[serde(default)]
    namespace: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageTagCfg {
    image_tag: Image,
    #[serde(default)]
    field_specs: Vec<kustomization::FieldSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PatchSmCfg {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Json6902Cfg {
    target: Option<Selector>,
    path: Option<String>,
    json_op: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaCfg {
    replica: kustomization::Replica,
    #[serde(default)]
    field_specs: Vec<kustomization::FieldSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ReplacementCfg {
    #[serde(default)]
    replacements: Vec<ReplacementEntry>,
}

/// Runs one transformer configuration over `acc`.
pub fn transform(
    acc: &mut Vec<Res>,
    loader: &Loader,
    cfg: &Object,
    scopes: &Scopes,
) -> Result<(), Error> {
    transform_as(acc, loader, cfg, scopes, "transformers")
}

/// Runs one `validators:` configuration. kustomize runs a validator as a transformer and fails
/// when it changed the resources (a `validated-by` label aside); only external plugins do
/// anything useful there, and those are refused as in `transformers:`.
pub fn validate(acc: &[Res], loader: &Loader, cfg: &Object, scopes: &Scopes) -> Result<(), Error> {
    let mut copy = acc.to_vec();
    transform_as(&mut copy, loader, cfg, scopes, "validators")?;
    for res in &mut copy {
        if let Some(Value::Object(labels)) = res.obj.value.pointer_mut("/metadata/labels") {
            labels.remove("validated-by");
        }
    }
    let changed = if copy.len() != acc.len() {
        Some("the set of resources".to_owned())
    } else {
        acc.iter()
            .zip(&copy)
            .find(|(a, b)| a.obj.value != b.obj.value)
            .map(|(a, _)| a.id().short())
    };
    match changed {
        Some(what) => Err(Error::Invalid(format!(
            "{}: validators entry {}: validator shouldn't modify the resource map: {what} changed",
            loader.kustomization_name(),
            cfg.kind()
        ))),
        None => Ok(()),
    }
}

fn transform_as(
    acc: &mut Vec<Res>,
    loader: &Loader,
    cfg: &Object,
    scopes: &Scopes,
    field: &str,
) -> Result<(), Error> {
    let file = loader.kustomization_name();
    let kind = check(cfg, &file, field)?;
    match kind.as_str() {
        "PrefixTransformer" | "SuffixTransformer" => {
            let c: Affix = decode(cfg, &["prefix", "suffix", "fieldSpecs"], &kind)?;
            let specs = spec_list(&c.field_specs);
            if kind == "PrefixTransformer" {
                transformers::metadata::affix_at(acc, &c.prefix, &specs, true);
            } else {
                transformers::metadata::affix_at(acc, &c.suffix, &specs, false);
            }
        }
        "LabelTransformer" | "AnnotationsTransformer" => {
            let c: Pairs = decode(cfg, &["labels", "annotations", "fieldSpecs"], &kind)?;
            let (map, what) = if kind == "LabelTransformer" {
                (&c.labels, "labels")
            } else {
                (&c.annotations, "annotations")
            };
            let pairs: Vec<(String, String)> =
                map.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
            transformers::metadata::set_maps(acc, &spec_list(&c.field_specs), &pairs, what)?;
        }
        "NamespaceTransformer" => {
            let c: NamespaceCfg = decode(
                cfg,
                &[
                    "metadata",
                    "fieldSpecs",
                    "unsetOnly",
                    "setRoleBindingSubjects",
                ],
                &kind,
            )?;
            let subjects = match c.set_role_binding_subjects.as_str() {
                "" | "defaultOnly" => transformers::namespace::Subjects::DefaultOnly,
                "none" => transformers::namespace::Subjects::None,
                "allServiceAccounts" => transformers::namespace::Subjects::AllServiceAccounts,
                other => {
                    return Err(Error::Invalid(format!(
                        "{file}: transformers entry {kind}: invalid value {other:?} for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or \"allServiceAccounts\""
                    )))
                }
            };
            if !c.metadata.namespace.is_empty() {
                transformers::namespace::apply_plugin(
                    acc,
                    &c.metadata.namespace,
                    &spec_list(&c.field_specs),
                    c.unset_only,
                    subjects,
                    scopes,
                );
            }
        }
        "ImageTagTransformer" => {
            let c: ImageTagCfg = decode(cfg, &["imageTag", "fieldSpecs"], &kind)?;
            transformers::images::apply(acc, std::slice::from_ref(&c.image_tag));
            transformers::images::apply_at(acc, &c.image_tag, &spec_list(&c.field_specs));
        }
        "PatchTransformer" => {
            let c: Patch = decode(cfg, &["path", "patch", "target", "options"], &kind)?;
            apply_patch(acc, loader, &c, "transformers (PatchTransformer)", scopes)?;
        }
        "PatchStrategicMergeTransformer" => {
            let c: PatchSmCfg = decode(cfg, &["paths", "patches"], &kind)?;
            let field = "transformers (PatchStrategicMergeTransformer)";
            for path in &c.paths {
                let p = Patch {
                    path: Some(path.clone()),
                    ..Patch::default()
                };
                apply_patch(acc, loader, &p, field, scopes)?;
            }
            if !c.patches.trim().is_empty() {
                let p = Patch {
                    patch: Some(c.patches.clone()),
                    ..Patch::default()
                };
                apply_patch(acc, loader, &p, field, scopes)?;
            }
        }
        "PatchJson6902Transformer" => {
            let c: Json6902Cfg = decode(cfg, &["target", "path", "jsonOp"], &kind)?;
            let p = Patch {
                path: c.path,
                patch: c.json_op,
                target: c.target,
                ..Patch::default()
            };
            apply_patch(acc, loader, &p, "transformers (PatchJson6902Transformer)", scopes)?;
        }
        "ReplicaCountTransformer" => {
            let c: ReplicaCfg = decode(cfg, &["replica", "fieldSpecs"], &kind)?;
            transformers::metadata::replicas(
                acc,
                &spec_list(&c.field_specs),
                &c.replica.name,
                c.replica.count,
                &file,
            )?;
        }
        "ReplacementTransformer" => {
            let c: ReplacementCfg = decode(cfg, &["replacements"], &kind)?;
            replacements::apply(acc, loader, &c.replacements, scopes)?;
        }
        "HashTransformer" => add_hashes(acc),
        "ValueAddTransformer" => value_add(acc, loader, cfg, scopes, &file)?,
        other => {
            return Err(Error::Unsupported(format!(
                "{file}: transformers entry: the built-in plugin {other} is not supported by this kustomize engine"
            )))
        }
    }
    Ok(())
}

/// The HashTransformer plugin: the content-hash suffix on every generated object that wants
/// one. As in kustomize, the object keeps wanting it, so the build's own final hash step adds a
/// second suffix (`name-h-h`); the hash ignores the name, so both suffixes are the same.
fn add_hashes(acc: &mut [Res]) {
    for res in acc.iter_mut().filter(|r| r.needs_hash) {
        let h = generators::hash(&res.obj.value);
        res.store_previous_id();
        let name = format!("{}-{h}", res.name());
        res.set_name(&name);
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct ValueAddTarget {
    selector: Option<Selector>,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    file_path_position: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ValueAddCfg {
    #[serde(default)]
    value: String,
    #[serde(default)]
    targets: Vec<ValueAddTarget>,
    #[serde(default)]
    target_file_path: String,
}

#[derive(Deserialize, Default)]
struct ValueAddTargets {
    #[serde(default)]
    targets: Vec<ValueAddTarget>,
}

/// The ValueAddTransformer plugin: `value` (default: the base name of the kustomization
/// directory) written at each target's `fieldPath` of the selected resources (all without a
/// selector), creating missing maps; `metadata/namespace` runs the namespace filter instead
/// (namespaced kinds only, `default` role binding subjects). A positive `filePathPosition`
/// inserts the value as a path part of the existing value rather than replacing it.
fn value_add(
    acc: &mut [Res],
    loader: &Loader,
    cfg: &Object,
    scopes: &Scopes,
    file: &str,
) -> Result<(), Error> {
    let kind = "ValueAddTransformer";
    let mut c: ValueAddCfg = decode(cfg, &["value", "targets", "targetFilePath"], kind)?;
    // Configuration errors in kustomize's words (it names the plugin by its resource id).
    let ns = cfg
        .namespace()
        .filter(|n| !n.is_empty())
        .unwrap_or("[noNs]");
    let invalid = |m: String| {
        Error::Invalid(format!(
            "{file}: transformers entry: plugin {kind}.builtin.[noGrp]/{}.{ns} fails configuration: {m}",
            cfg.name()
        ))
    };
    let mut value = c.value.trim().to_owned();
    if value.is_empty() {
        value = loader
            .real_root()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".to_owned());
    }
    if !c.target_file_path.is_empty() {
        let (name, text) = loader.read_text(&c.target_file_path, "transformers")?;
        let parsed = match gitops::manifest::split_documents(&text).first() {
            Some(doc) => gitops::manifest::parse_document(doc, &name)?.unwrap_or(Value::Null),
            None => Value::Null,
        };
        let more: ValueAddTargets = if parsed.is_null() {
            ValueAddTargets::default()
        } else {
            serde_json::from_value(parsed)
                .map_err(|e| invalid(format!("{}: {e}", c.target_file_path)))?
        };
        c.targets.extend(more.targets);
    }
    if c.targets.is_empty() {
        return Err(invalid("must specify at least one target".to_owned()));
    }
    for t in &c.targets {
        if t.field_path.is_empty() {
            return Err(invalid("fieldPath cannot be empty".to_owned()));
        }
        if t.file_path_position < 0 {
            return Err(invalid(format!(
                "value of FilePathPosition ({}) cannot be negative",
                t.file_path_position
            )));
        }
    }
    for t in &c.targets {
        let selector = t
            .selector
            .as_ref()
            .map(super::selector::Compiled::new)
            .transpose()?;
        for res in acc.iter_mut() {
            if selector.as_ref().is_some_and(|s| !s.matches(res, scopes)) {
                continue;
            }
            if t.field_path == "metadata/namespace" {
                transformers::namespace::apply_plugin(
                    std::slice::from_mut(res),
                    &value,
                    &[],
                    false,
                    transformers::namespace::Subjects::DefaultOnly,
                    scopes,
                );
                continue;
            }
            let fields = super::fieldspec::split_path(&t.field_path);
            let id = res.id().short();
            let Some(slot) = lookup_create(&mut res.obj.value, &fields).map_err(|m| {
                Error::Invalid(format!(
                    "{file}: transformers entry {kind}: {id}: fieldPath {:?}: {m}",
                    t.field_path
                ))
            })?
            else {
                continue;
            };
            let new = if t.file_path_position > 0 {
                let old = match &*slot {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                let pos = usize::try_from(t.file_path_position - 1).unwrap_or(usize::MAX);
                insert_path_part(&old, pos, &value)
            } else {
                value.clone()
            };
            *slot = if fields.get(..2) == Some(&["metadata".to_owned(), "annotations".to_owned()]) {
                // kustomize re-sets annotations as strings before it writes them.
                Value::String(new)
            } else {
                plain_scalar(new)
            };
        }
    }
    Ok(())
}

/// kyaml writes the value as an untagged plain scalar, which kustomize's output reads back as a
/// resource file's plain scalar would be read (`5`, `0x1F`, `1.5`, `true`, `null` lose their
/// quotes); so the value is read the same way here. Text that cannot be a plain scalar of
/// another type (spaces, `#`, `:`, …) stays a string, as kyaml quotes it.
fn plain_scalar(text: String) -> Value {
    let simple = !text.is_empty()
        && (text == "~"
            || text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_')));
    if simple {
        let doc = format!("v: {text}\n");
        let name: std::sync::Arc<str> = std::sync::Arc::from("value");
        if let Some(Ok(Some(Value::Object(m)))) = gitops::manifest::split_documents(&doc)
            .first()
            .map(|d| gitops::manifest::parse_document(d, &name))
        {
            if let Some(v) = m.get("v").filter(|v| !v.is_string()) {
                return v.clone();
            }
        }
    }
    Value::String(text)
}

/// The scalar at `fields` below `value`, missing maps and the field created (kyaml's
/// `LookupCreate` for a scalar); a map or list found there is refused, as kustomize does.
fn lookup_create<'a>(
    value: &'a mut Value,
    fields: &[String],
) -> Result<Option<&'a mut Value>, String> {
    let Some((head, rest)) = fields.split_first() else {
        return match value {
            Value::Object(_) | Value::Array(_) => Err(format!(
                "wrong node kind: expected ScalarNode but got {}",
                node_kind(value)
            )),
            v => Ok(Some(v)),
        };
    };
    if value.is_null() {
        *value = Value::Object(Map::new());
    }
    if let Value::Array(items) = value {
        // kyaml's path steps into a list: an index (none past the end: nothing is set), or
        // `[key=value]` (the element is appended when none matches).
        if let Ok(i) = head.parse::<usize>() {
            return match items.get_mut(i) {
                Some(item) => lookup_create(item, rest),
                None => Ok(None),
            };
        }
        let Some((k, v)) = head
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.split_once('='))
        else {
            return Err(format!(
                "wrong node kind: expected MappingNode but got SequenceNode ({head:?} does not select a list element; only indexes and [key=value] do here)"
            ));
        };
        let at = items.iter().position(|item| {
            item.get(k)
                .is_some_and(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned) == v)
        });
        let at = match at {
            Some(at) => at,
            None => {
                let mut m = Map::new();
                m.insert(k.to_owned(), Value::String(v.to_owned()));
                items.push(Value::Object(m));
                items.len() - 1
            }
        };
        return lookup_create(&mut items[at], rest);
    }
    let Value::Object(map) = value else {
        return Err(format!(
            "wrong node kind: expected MappingNode but got {}",
            node_kind(value)
        ));
    };
    let child = map.entry(head.clone()).or_insert(Value::Null);
    if child.is_null() && !rest.is_empty() {
        *child = Value::Object(Map::new());
    }
    lookup_create(child, rest)
}

fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

/// kyaml's `InsertPathPart`: `part` inserted at `pos` among the `/`-separated parts of `path`
/// (clamped; a leading `/` stays and does not count), joined and cleaned as Go's
/// `filepath.Join` does.
fn insert_path_part(path: &str, pos: usize, part: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.trim_start_matches('/').split('/').collect()
    };
    if absolute && parts == [""] {
        parts.clear();
    }
    let pos = pos.min(parts.len());
    parts.insert(pos, part);
    let mut clean: Vec<&str> = Vec::new();
    for p in parts {
        match p {
            "" | "." => {}
            ".." if clean.last().is_some_and(|l| *l != "..") => {
                clean.pop();
            }
            ".." if absolute => {}
            p => clean.push(p),
        }
    }
    let joined = clean.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// Runs one generator configuration; the objects it makes, to be absorbed like the
/// kustomization's own generated objects.
pub fn generate(
    loader: &Loader,
    cfg: &Object,
    options: &super::Options,
) -> Result<Vec<Res>, Error> {
    let file = loader.kustomization_name();
    let kind = check(cfg, &file, "generators")?;
    match kind.as_str() {
        "ConfigMapGenerator" | "SecretGenerator" => {
            let mut g: Generator = decode(
                cfg,
                &[
                    "name",
                    "namespace",
                    "behavior",
                    "literals",
                    "files",
                    "envs",
                    "env",
                    "options",
                    "type",
                ],
                &kind,
            )?;
            // The generator's own name and namespace win over the configuration's metadata.
            if g.name.as_deref().is_none_or(str::is_empty) {
                g.name = Some(cfg.name().to_owned());
            }
            if g.namespace.as_deref().is_none_or(str::is_empty) {
                g.namespace = cfg.namespace().map(str::to_owned);
            }
            let out_kind = if kind == "SecretGenerator" {
                "Secret"
            } else {
                "ConfigMap"
            };
            // Plugins get no kustomization-wide generatorOptions.
            Ok(vec![generators::generate(loader, &g, out_kind, None)?])
        }
        "HelmChartInflationGenerator" => {
            let keep = [
                "name",
                "version",
                "repo",
                "releaseName",
                "namespace",
                "nameTemplate",
                "valuesFile",
                "valuesInline",
                "valuesMerge",
                "additionalValuesFiles",
                "includeCRDs",
                "skipTests",
                "skipHooks",
                "apiVersions",
                "kubeVersion",
                "debug",
                "devel",
            ];
            let chart: HelmChart = decode(cfg, &keep, &kind)?;
            let globals: HelmGlobals = decode(cfg, &["chartHome", "configHome"], &kind)?;
            let k = Kustomization {
                helm_charts: vec![chart],
                helm_globals: Some(globals),
                ..Kustomization::default()
            };
            Ok(helm_charts::inflate(loader, &k, options, None)?
                .into_iter()
                .map(|obj| {
                    let mut res = Res::new(obj);
                    res.helm_generated = true;
                    res
                })
                .collect())
        }
        "IAMPolicyGenerator" => iam_policy(cfg, &file),
        other => Err(Error::Unsupported(format!(
            "{file}: generators entry: the built-in plugin {other} is not supported by this kustomize engine"
        ))),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IamCfg {
    #[serde(default)]
    cloud: String,
    #[serde(default)]
    kubernetes_service: IamK8sAccount,
    #[serde(default)]
    service_account: IamCloudAccount,
}

#[derive(Deserialize, Default)]
struct IamK8sAccount {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IamCloudAccount {
    #[serde(default)]
    name: String,
    #[serde(default)]
    project_id: String,
}

/// The IAMPolicyGenerator plugin: for `cloud: gke`, a ServiceAccount bound to a Google service
/// account by Workload Identity's annotation. kustomize writes the values into a YAML text and
/// parses it, so they are read as YAML there too (an empty account name fails to parse, as in
/// kustomize); the configuration's own metadata namespace is not used.
fn iam_policy(cfg: &Object, file: &str) -> Result<Vec<Res>, Error> {
    let kind = "IAMPolicyGenerator";
    let c: IamCfg = decode(cfg, &["cloud", "kubernetesService", "serviceAccount"], kind)?;
    if c.cloud != "gke" {
        return Err(Error::Invalid(format!(
            "{file}: generators entry {kind} {}: cloud provider {} not supported yet",
            cfg.name(),
            c.cloud
        )));
    }
    let mut text = format!(
        "\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  annotations:\n    iam.gke.io/gcp-service-account: {}@{}.iam.gserviceaccount.com\n  name: {}\n",
        c.service_account.name, c.service_account.project_id, c.kubernetes_service.name
    );
    if !c.kubernetes_service.namespace.is_empty() {
        text.push_str(&format!(
            "\n  namespace: {}",
            c.kubernetes_service.namespace
        ));
    }
    let name: std::sync::Arc<str> =
        std::sync::Arc::from(format!("{file} (generators entry {kind} {})", cfg.name()));
    let objects = gitops::manifest::parse_stream(&text, &name)?;
    Ok(objects.into_iter().map(Res::new).collect())
}
