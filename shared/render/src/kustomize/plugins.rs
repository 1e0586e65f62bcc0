//! `transformers:` and `generators:` entries holding kustomize's built-in plugin configurations
//! (`apiVersion: builtin`, kinds such as `PrefixTransformer` or `ConfigMapGenerator`), inline or
//! from files and kustomization directories. Each configuration runs the same code as the
//! kustomization field it stands for, with its own field specs, after that kustomization's own
//! generators or transformers (kustomize's order). External plugins — exec and container KRM
//! functions, Go plugins — are refused with kustomize's wording: kustomize itself only runs them
//! with `--enable-alpha-plugins`, and running arbitrary programs is out of this engine's scope.

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
    "SortOrderTransformer",
    "ValueAddTransformer",
];

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
        other => {
            return Err(Error::Unsupported(format!(
                "{file}: transformers entry: the built-in plugin {other} is not supported by this kustomize engine"
            )))
        }
    }
    Ok(())
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
        other => Err(Error::Unsupported(format!(
            "{file}: generators entry: the built-in plugin {other} is not supported by this kustomize engine"
        ))),
    }
}
