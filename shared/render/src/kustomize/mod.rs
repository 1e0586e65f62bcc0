//! Building kustomize directories natively, with the output of `kustomize build` (v5).
//!
//! The build follows kustomize's `KustTarget`: for each kustomization, resources (files and
//! nested kustomizations) are accumulated, generators run, components are applied, then the
//! built-in transformers run in kustomize's order (patches, namespace, prefix, suffix, labels,
//! annotations, JSON 6902 patches, replicas, images, replacements). At the top, generated
//! objects get their hash suffixes, name references are fixed, and the result is sorted.
//! Anything this engine does not implement is refused by name, never ignored.

mod buildmetadata;
mod crds;
mod decode;
mod fieldspec;
mod generators;
mod helm_charts;
mod kustomization;
mod loader;
mod namereference;
mod patch_json6902;
mod patch_sm;
mod plugins;
mod remote;
mod replacements;
mod resource;
mod selector;
mod transformers;
mod vars;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;
use gitops::manifest::{self, Scopes};
use gitops::{Object, Source};
use serde_json::Value;

use kustomization::{Kustomization, Patch};
use loader::{Entry, Loader};
use resource::{describe, same_id, Res};

pub use remote::RemoteOptions;

/// Whether a kustomization may read files outside its own directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestrictor {
    /// Only files under the kustomization's root (kustomize's default, `LoadRestrictionsRootOnly`).
    #[default]
    RootOnly,
    /// Any file (`LoadRestrictionsNone`).
    None,
}

/// Settings of a build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub load_restrictor: LoadRestrictor,
    /// The helm binary for `helmCharts`; `helm` on PATH when unset.
    pub helm_command: Option<PathBuf>,
    /// Remote bases and files: allowed or not, and the Git cache.
    pub remote: RemoteOptions,
    /// The `kubeVersion` of `helmCharts` entries that set none (`kustomize build
    /// --helm-kube-version`).
    pub helm_kube_version: Option<String>,
    /// The `apiVersions` of `helmCharts` entries that set none (`kustomize build
    /// --helm-api-versions`).
    pub helm_api_versions: Vec<String>,
}

/// The kustomization file of `dir`, if it has one (`kustomization.yaml`, `.yml` or
/// `Kustomization`, in kustomize's order of preference).
pub fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Builds the kustomization in `dir`, like `kustomize build dir`.
pub fn build(dir: &Path, options: &Options) -> Result<Vec<Object>, Error> {
    // The strategic-merge schema of this build (built-in until an `openapi` field picks one).
    let _schema = patch_sm::schema_scope();
    let mut builder = Builder {
        options,
        remotes: remote::Remotes::new(options.remote.clone()),
        stack: Vec::new(),
        scopes: Scopes::learn(&[]),
        vars: Vec::new(),
        helm_namespace: None,
        config: fieldspec::Config::default(),
        origin: None,
    };
    let (k, loader) = builder.load(dir)?;
    if !k.build_metadata.is_empty() {
        builder.origin = Some(buildmetadata::Origin::default());
    }
    let mut acc = Vec::new();
    builder.accumulate(&k, &loader, &mut acc)?;
    for res in acc.iter_mut() {
        // `kustomize.config.k8s.io/needs-hash` only means something on the output of exec and
        // KRM-function generators (not supported); on resources kustomize keeps it as a plain
        // annotation and adds no hash, and so do we.
        if res.needs_hash {
            let h = generators::hash(&res.obj.value);
            res.store_previous_id();
            let name = format!("{}-{h}", res.name());
            res.set_name(&name);
        }
    }
    let config = &builder.config;
    namereference::fix(&mut acc, &builder.scopes, &config.name_reference)?;
    vars::resolve(
        &mut acc,
        &builder.vars,
        &builder.scopes,
        &config.var_reference,
    )?;
    for res in acc.iter_mut() {
        // Patches and replacements may have written non-string annotations since loading.
        resource::stringify_annotations(&mut res.obj.value);
    }
    acc.retain(|r| r.obj.annotation("config.kubernetes.io/local-config") != Some("true"));
    let fifo = k
        .sort_options
        .as_ref()
        .and_then(|s| s.order.as_deref())
        .map(|o| match o {
            "fifo" => Ok(true),
            "legacy" => Ok(false),
            other => Err(Error::Invalid(format!(
                "{}: sortOptions.order {other:?} must be legacy or fifo",
                loader.kustomization_name()
            ))),
        })
        .transpose()?
        .unwrap_or(false);
    let legacy_options = k
        .sort_options
        .as_ref()
        .and_then(|s| s.legacy_sort_options.as_ref());
    if fifo && legacy_options.is_some() {
        return Err(Error::Invalid(format!(
            "{}: the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
            loader.kustomization_name()
        )));
    }
    let mut objects: Vec<Object> = acc.into_iter().map(|r| r.obj).collect();
    if !fifo {
        let mut keyed: Vec<(gitops::Identity, Object)> =
            objects.into_iter().map(|o| (o.identity(), o)).collect();
        match legacy_options {
            None => keyed.sort_by(|a, b| manifest::legacy_order(&a.0, &b.0)),
            Some(o) => {
                let ranks = legacy_ranks(&o.order_first, &o.order_last);
                keyed.sort_by(|a, b| legacy_order_with(&a.0, &b.0, &ranks));
            }
        }
        objects = keyed.into_iter().map(|(_, o)| o).collect();
    }
    buildmetadata::finish(&mut objects, &k.build_metadata);
    Ok(objects)
}

/// kustomize's kind ranks for `legacySortOptions`: `orderFirst` kinds negative in their
/// order, `orderLast` kinds positive, everything else 0 (a later list wins a kind in both).
fn legacy_ranks(first: &[String], last: &[String]) -> std::collections::HashMap<String, i64> {
    let mut ranks = std::collections::HashMap::new();
    let n = i64::try_from(first.len()).unwrap_or(i64::MAX);
    for (i, kind) in (0i64..).zip(first) {
        ranks.insert(kind.clone(), i - n);
    }
    for (i, kind) in (1i64..).zip(last) {
        ranks.insert(kind.clone(), i);
    }
    ranks
}

/// kustomize's legacy order with custom kind ranks (the default ranks are
/// `manifest::legacy_order`'s): rank, then `group_version_kind` (`~G`/`~V`/`~K` for empty
/// parts; core Namespaces after others), then `namespace|name` (`~X`/`~N`).
fn legacy_order_with(
    a: &gitops::Identity,
    b: &gitops::Identity,
    ranks: &std::collections::HashMap<String, i64>,
) -> std::cmp::Ordering {
    let or = |s: &str, m: &str| {
        if s.is_empty() {
            m.to_owned()
        } else {
            s.to_owned()
        }
    };
    if (&a.group, &a.version, &a.kind) != (&b.group, &b.version, &b.kind) {
        let rank = |id: &gitops::Identity| ranks.get(&id.kind).copied().unwrap_or(0);
        if rank(a) != rank(b) {
            return rank(a).cmp(&rank(b));
        }
        let gvk = |id: &gitops::Identity| {
            format!(
                "{}_{}_{}",
                or(&id.group, "~G"),
                or(&id.version, "~V"),
                or(&id.kind, "~K")
            )
        };
        if a.kind == "Namespace"
            && b.kind == "Namespace"
            && (a.group.is_empty() || b.group.is_empty())
        {
            return gvk(b).cmp(&gvk(a));
        }
        return gvk(a).cmp(&gvk(b));
    }
    let key = |id: &gitops::Identity| format!("{}|{}", or(&id.namespace, "~X"), or(&id.name, "~N"));
    key(a).cmp(&key(b))
}

struct Builder<'a> {
    options: &'a Options,
    /// The remote repositories fetched during this build (their exports live until it ends).
    remotes: remote::Remotes,
    /// Real paths of the kustomizations being built (to refuse cycles).
    stack: Vec<PathBuf>,
    scopes: Scopes,
    /// `vars` of every level, resolved at the end of the build.
    vars: Vec<vars::Bound>,
    /// The namespace `helmCharts` entries without one get: the nearest `namespace:` of the
    /// kustomization being accumulated or of those that include it (kustomize ≥ 5.8.1).
    helm_namespace: Option<String>,
    /// The field specs `configurations:` added, in the kustomization being accumulated (with
    /// those of its resources' kustomizations and components, as kustomize merges them).
    config: fieldspec::Config,
    /// With `buildMetadata`: the origin of the kustomization being accumulated (its path
    /// relative to the top one).
    origin: Option<buildmetadata::Origin>,
}

fn warn_deprecated(file: &str, field: &str, instead: &str) {
    tracing::warn!(
        "{file}: '{field}' is deprecated. Please use '{instead}' instead. Run 'kustomize edit fix' to update your Kustomization automatically."
    );
}

impl Builder<'_> {
    fn load(&self, dir: &Path) -> Result<(Kustomization, Loader), Error> {
        let Some(file) = kustomization_file(dir) else {
            return Err(Error::Invalid(format!(
                "{}: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory",
                dir.display()
            )));
        };
        let name: Arc<str> = Arc::from(file.display().to_string());
        let text = manifest::read_text(&file, &name)?;
        let mut value = Value::Null;
        for doc in manifest::split_documents(&text) {
            // Read as kustomize reads kustomization files (go-yaml v2: a repeated key takes its
            // last value, YAML 1.1 booleans).
            if let Some(v) = manifest::parse_document_go_yaml_v2(&doc, &name)? {
                if !value.is_null() {
                    return Err(Error::Invalid(format!(
                        "{name}: a kustomization file must hold one document"
                    )));
                }
                value = v;
            }
        }
        if value.is_null() {
            value = Value::Object(serde_json::Map::new());
        }
        kustomization::fold_field_names(&mut value);
        let mut k: Kustomization = serde_json::from_value(value).map_err(|e| {
            let message = e.to_string();
            let (line, column) =
                kustomization::unknown_field_position(&message, &text).unwrap_or((1, 0));
            Error::Syntax {
                at: gitops::Location::new(&*name, line, column),
                message: format!("invalid kustomization: {message}"),
            }
        })?;
        if !k.image_tags.is_empty() {
            // kustomize's fix-up of the deprecated field: its entries run after `images`.
            warn_deprecated(&name, "imageTags", "images");
            let tags = std::mem::take(&mut k.image_tags);
            k.images.extend(tags);
        }
        if let Some(kind) = k.kind.as_deref() {
            if kind != "Kustomization" && kind != "Component" {
                return Err(Error::Invalid(format!(
                    "{name}: kind {kind:?} must be Kustomization or Component"
                )));
            }
        }
        let mut loader =
            Loader::new(dir, self.options.load_restrictor)?.with_http(&self.options.remote);
        if let Some(root) = self.remotes.root_of(loader.real_root()) {
            loader = loader.in_repo(&root);
        }
        patch_sm::choose_from_openapi(k.openapi.as_ref(), &loader)?;
        Ok((k, loader))
    }

    /// A `resources`/`components`/`generators`/`transformers` entry: a remote one fetched, a
    /// local one as the loader finds it.
    fn entry(&self, loader: &Loader, rel: &str, field: &str) -> Result<Entry, Error> {
        match remote::resolve(&self.remotes, loader, rel, field)? {
            Some(entry) => Ok(entry),
            None => loader.entry(rel, field),
        }
    }

    fn accumulate(
        &mut self,
        k: &Kustomization,
        loader: &Loader,
        acc: &mut Vec<Res>,
    ) -> Result<(), Error> {
        let file = loader.kustomization_name();
        let real = loader.real_root().to_path_buf();
        if self.stack.contains(&real) {
            return Err(Error::Invalid(format!(
                "{file}: cycle detected: the kustomization includes itself"
            )));
        }
        self.stack.push(real);
        let inherited = self.helm_namespace.clone();
        if let Some(ns) = k.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            self.helm_namespace = Some(ns.to_owned());
        }
        let result = self.accumulate_inner(k, loader, acc, &file);
        self.helm_namespace = inherited;
        self.stack.pop();
        result
    }

    fn accumulate_inner(
        &mut self,
        k: &Kustomization,
        loader: &Loader,
        acc: &mut Vec<Res>,
        file: &str,
    ) -> Result<(), Error> {
        if !k.bases.is_empty() {
            warn_deprecated(file, "bases", "resources");
        }
        let mut ids = IdIndex::new(acc, &self.scopes);
        let mut entries: Vec<(&String, Entry)> = Vec::new();
        for e in k.resources.iter().chain(&k.bases) {
            entries.push((e, self.entry(loader, e, "resources")?));
        }
        let files: Vec<&Path> = entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::File(p) => Some(p.as_path()),
                Entry::Dir(_) | Entry::Fetched(_) => None,
            })
            .collect();
        let mut parsed = parse_files(&files).into_iter();
        for (entry, kind) in &entries {
            match kind {
                Entry::File(_) => {
                    let objects = parsed.next().unwrap_or_else(|| Ok(Vec::new()))?;
                    let origin = self.origin.as_ref().map(|o| o.append(entry));
                    for mut obj in objects {
                        if let Some(origin) = &origin {
                            buildmetadata::set_origin(&mut obj, origin);
                        }
                        ids.append(acc, Res::new(obj), &self.scopes)?;
                    }
                }
                Entry::Fetched(objects) => {
                    for obj in objects {
                        ids.append(acc, Res::new(obj.clone()), &self.scopes)?;
                    }
                }
                Entry::Dir(dir) => {
                    let (sub, sub_loader) = self.load(dir)?;
                    if sub.kind.as_deref() == Some("Component") {
                        return Err(Error::Invalid(format!(
                            "{file}: resources entry {entry:?} is a Component; list it under `components`"
                        )));
                    }
                    let mut sub_acc = Vec::new();
                    let outer = std::mem::take(&mut self.config);
                    let origin = self.enter_origin(entry);
                    let built = self.accumulate(&sub, &sub_loader, &mut sub_acc);
                    self.origin = origin;
                    let sub_config = std::mem::replace(&mut self.config, outer);
                    built?;
                    self.merge_config(&sub_config, file)?;
                    for res in sub_acc {
                        ids.append(acc, res, &self.scopes)?;
                    }
                }
            }
        }
        for entry in &k.configurations {
            let (name, text) = loader.read_text(entry, "configurations")?;
            let config = fieldspec_config(&name, &text)?;
            self.merge_config(&config, file)?;
        }
        // `crds:` files give field specs too (name references of custom resources), merged
        // right after the configurations, as kustomize does.
        for entry in &k.crds {
            let (name, text) = loader.read_text(entry, "crds")?;
            let config = crds::config(&name, &text)?;
            self.merge_config(&config, file)?;
        }
        self.run_generators(k, loader, acc, file)?;
        if !k.generators.is_empty() {
            for cfg in self.plugin_configs(&k.generators, loader, "generators")? {
                let origin = self
                    .origin
                    .as_ref()
                    .and_then(|_| buildmetadata::Origin::of_plugin(&cfg));
                for mut res in plugins::generate(loader, &cfg, self.options)? {
                    if let Some(origin) = &origin {
                        buildmetadata::set_origin_if_missing(&mut res.obj, origin);
                    }
                    absorb(acc, res, &self.scopes)?;
                }
            }
        }
        for entry in &k.components {
            match self.entry(loader, entry, "components")? {
                Entry::File(_) | Entry::Fetched(_) => {
                    return Err(Error::Invalid(format!(
                        "{file}: components entry {entry:?} must be a directory"
                    )));
                }
                Entry::Dir(dir) => {
                    let (sub, sub_loader) = self.load(&dir)?;
                    if sub.kind.as_deref() != Some("Component") {
                        return Err(Error::Invalid(format!(
                            "{file}: components entry {entry:?}: expected kind 'Component' in {}",
                            sub_loader.kustomization_name()
                        )));
                    }
                    let origin = self.enter_origin(entry);
                    let built = self.accumulate(&sub, &sub_loader, acc);
                    self.origin = origin;
                    built?;
                }
            }
        }
        self.run_transformers(k, loader, acc, file)?;
        if !k.transformers.is_empty() {
            for cfg in self.plugin_configs(&k.transformers, loader, "transformers")? {
                plugins::transform(acc, loader, &cfg, &self.scopes)?;
                if let Some(origin) = self
                    .origin
                    .as_ref()
                    .and_then(|_| buildmetadata::Origin::of_plugin(&cfg))
                {
                    buildmetadata::add_transformation(acc, &origin);
                }
            }
        }
        if !k.validators.is_empty() {
            for cfg in self.plugin_configs(&k.validators, loader, "validators")? {
                plugins::validate(acc, loader, &cfg, &self.scopes)?;
            }
        }
        if !k.vars.is_empty() {
            warn_deprecated(file, "vars", "replacements");
            vars::bind(&k.vars, file, &mut self.vars)?;
        }
        Ok(())
    }

    /// The plugin configurations of a `generators`/`transformers` list: inline documents, files,
    /// and the output of kustomization directories, in order.
    fn plugin_configs(
        &mut self,
        entries: &[String],
        loader: &Loader,
        field: &str,
    ) -> Result<Vec<Object>, Error> {
        let file = loader.kustomization_name();
        let mut out = Vec::new();
        // With `buildMetadata`, each configuration carries its origin (kustomize's
        // `SetOrigin` on plugin configurations), which names the plugin in annotations.
        let kfile = file_name(&file);
        let base_origin = self.origin.clone();
        let with_origin = |objects: Vec<Object>, rel: &str| -> Vec<Object> {
            let Some(origin) = &base_origin else {
                return objects;
            };
            let origin = origin.append(rel);
            objects
                .into_iter()
                .map(|mut o| {
                    buildmetadata::set_origin(&mut o, &origin);
                    o
                })
                .collect()
        };
        // kustomize takes the inline configurations first, then the files and directories.
        for entry in entries.iter().filter(|e| plugins::is_inline(e)) {
            let name: Arc<str> = Arc::from(format!("{file} ({field})"));
            out.extend(with_origin(manifest::parse_stream(entry, &name)?, &kfile));
        }
        for entry in entries.iter().filter(|e| !plugins::is_inline(e)) {
            match self.entry(loader, entry, field)? {
                Entry::Fetched(objects) => out.extend(objects),
                Entry::File(path) => {
                    let name: Arc<str> = Arc::from(path.display().to_string());
                    let text = manifest::read_text(&path, &name)?;
                    out.extend(with_origin(manifest::parse_stream(&text, &name)?, entry));
                }
                Entry::Dir(dir) => {
                    let (sub, sub_loader) = self.load(&dir)?;
                    let mut sub_acc = Vec::new();
                    let outer = std::mem::take(&mut self.config);
                    let origin = self.enter_origin(entry);
                    let built = self.accumulate(&sub, &sub_loader, &mut sub_acc);
                    self.origin = origin;
                    self.config = outer;
                    built?;
                    out.extend(sub_acc.into_iter().map(|r| r.obj));
                }
            }
        }
        Ok(out)
    }

    /// With origins tracked, moves the current origin to `rel` below it; returns the old one.
    fn enter_origin(&mut self, rel: &str) -> Option<buildmetadata::Origin> {
        let old = self.origin.clone();
        if let Some(o) = &old {
            self.origin = Some(o.append(rel));
        }
        old
    }

    /// The origin kustomize gives a built-in generator or transformer of this kustomization.
    fn builtin_origin(&self, file: &str, kind: &str) -> Option<buildmetadata::Origin> {
        self.origin
            .as_ref()
            .map(|o| o.builtin(&file_name(file), kind))
    }

    /// Merges field specs into the current kustomization's config.
    fn merge_config(&mut self, other: &fieldspec::Config, file: &str) -> Result<(), Error> {
        if other.is_empty() {
            return Ok(());
        }
        self.config
            .merge(other, &transformers::defaults())
            .map_err(|m| Error::Invalid(format!("{file}: configurations: {m}")))
    }

    fn run_generators(
        &mut self,
        k: &Kustomization,
        loader: &Loader,
        acc: &mut Vec<Res>,
        _file: &str,
    ) -> Result<(), Error> {
        let global = k.generator_options.as_ref();
        let file = loader.kustomization_name();
        for (list, kind) in [
            (&k.config_map_generator, "ConfigMap"),
            (&k.secret_generator, "Secret"),
        ] {
            let origin = self.builtin_origin(&file, &format!("{kind}Generator"));
            for g in list {
                let mut res = generators::generate(loader, g, kind, global)?;
                if let Some(origin) = &origin {
                    buildmetadata::set_origin_if_missing(&mut res.obj, origin);
                }
                absorb(acc, res, &self.scopes)?;
            }
        }
        let helm_origin = self.builtin_origin(&file, "HelmChartInflationGenerator");
        if !k.helm_charts.is_empty() || !k.helm_chart_inflation_generator.is_empty() {
            for obj in
                helm_charts::inflate(loader, k, self.options, self.helm_namespace.as_deref())?
            {
                let mut res = Res::new(obj);
                res.helm_generated = true;
                if let Some(origin) = &helm_origin {
                    buildmetadata::set_origin_if_missing(&mut res.obj, origin);
                }
                absorb(acc, res, &self.scopes)?;
            }
        }
        Ok(())
    }

    fn run_transformers(
        &mut self,
        k: &Kustomization,
        loader: &Loader,
        acc: &mut Vec<Res>,
        file: &str,
    ) -> Result<(), Error> {
        // With `buildMetadata`, every built-in transformer that is configured records itself on
        // all resources of this level, changed or not (kustomize's multi-transformer).
        let origins = self.origin.is_some();
        let mark = |acc: &mut Vec<Res>, kind: &str| {
            if let Some(o) = self.builtin_origin(file, kind) {
                buildmetadata::add_transformation(acc, &o);
            }
        };
        if !k.patches_strategic_merge.is_empty() {
            warn_deprecated(file, "patchesStrategicMerge", "patches");
            for entry in &k.patches_strategic_merge {
                // An entry is a file path or an inline patch.
                let is_inline = entry.contains('\n') || entry.trim_start().starts_with('{');
                let patch = if is_inline {
                    Patch {
                        patch: Some(entry.clone()),
                        ..Patch::default()
                    }
                } else {
                    Patch {
                        path: Some(entry.clone()),
                        ..Patch::default()
                    }
                };
                apply_patch(acc, loader, &patch, "patchesStrategicMerge", &self.scopes)?;
            }
            mark(acc, "PatchStrategicMergeTransformer");
        }
        for patch in &k.patches {
            apply_patch(acc, loader, patch, "patches", &self.scopes)?;
            mark(acc, "PatchTransformer");
        }
        let cfg = self.config.clone();
        if let Some(ns) = k.namespace.as_deref().filter(|s| !s.is_empty()) {
            transformers::namespace::apply(acc, ns, &self.scopes);
            transformers::namespace::apply_extra(acc, ns, &cfg.namespace);
            mark(acc, "NamespaceTransformer");
        }
        if let Some(p) = k.name_prefix.as_deref().filter(|s| !s.is_empty()) {
            transformers::metadata::prefix(acc, p);
            transformers::metadata::affix_at(acc, p, &cfg.name_prefix, true);
            mark(acc, "PrefixTransformer");
        }
        if let Some(s) = k.name_suffix.as_deref().filter(|s| !s.is_empty()) {
            transformers::metadata::suffix(acc, s);
            transformers::metadata::affix_at(acc, s, &cfg.name_suffix, false);
            mark(acc, "SuffixTransformer");
        }
        for label in &k.labels {
            let pairs: Vec<(String, String)> = label
                .pairs
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect();
            let mut specs: Vec<fieldspec::FieldSpec> = label
                .fields
                .iter()
                .map(|f| {
                    fieldspec::FieldSpec::new(&f.group, &f.version, &f.kind, &f.path, f.create)
                })
                .collect();
            specs.extend_from_slice(&cfg.labels);
            if label.include_selectors {
                specs.extend_from_slice(transformers::common_labels());
                specs.extend_from_slice(&cfg.common_labels);
            } else {
                if label.include_templates {
                    specs.extend_from_slice(transformers::template_labels());
                    specs.extend_from_slice(&cfg.template_labels);
                }
                if label.include_volume_claim_templates {
                    specs.extend_from_slice(transformers::volume_claim_template_labels());
                    specs.extend_from_slice(&cfg.volume_claim_template_labels);
                }
                specs.extend_from_slice(transformers::metadata_labels());
            }
            transformers::metadata::set_maps(acc, &specs, &pairs, "labels")?;
            mark(acc, "LabelTransformer");
        }
        if !k.common_labels.is_empty() {
            warn_deprecated(file, "commonLabels", "labels");
            let pairs: Vec<(String, String)> = k
                .common_labels
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect();
            let specs = [transformers::common_labels(), &cfg.common_labels].concat();
            transformers::metadata::set_maps(acc, &specs, &pairs, "commonLabels")?;
        }
        if origins && !(k.labels.is_empty() && k.common_labels.is_empty()) {
            // kustomize configures one more LabelTransformer for `commonLabels`, empty or not.
            mark(acc, "LabelTransformer");
        }
        if !k.common_annotations.is_empty() {
            let pairs: Vec<(String, String)> = k
                .common_annotations
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect();
            let specs = [transformers::common_annotations(), &cfg.common_annotations].concat();
            transformers::metadata::set_maps(acc, &specs, &pairs, "commonAnnotations")?;
            mark(acc, "AnnotationsTransformer");
        }
        if !k.patches_json6902.is_empty() {
            warn_deprecated(file, "patchesJson6902", "patches");
            for patch in &k.patches_json6902 {
                apply_patch(acc, loader, patch, "patchesJson6902", &self.scopes)?;
                mark(acc, "PatchJson6902Transformer");
            }
        }
        let replica_specs = [transformers::replicas(), &cfg.replicas].concat();
        for r in &k.replicas {
            transformers::metadata::replicas(acc, &replica_specs, &r.name, r.count, file)?;
            mark(acc, "ReplicaCountTransformer");
        }
        for image in &k.images {
            // kustomize's image transformer: containers anywhere, then its default field specs
            // (which see the same containers again; a `tagSuffix` is appended twice there).
            transformers::images::apply(acc, std::slice::from_ref(image));
            let specs = [transformers::images_specs(), &cfg.images].concat();
            transformers::images::apply_at(acc, image, &specs);
            mark(acc, "ImageTagTransformer");
        }
        if !k.replacements.is_empty() {
            replacements::apply(acc, loader, &k.replacements, &self.scopes)?;
            mark(acc, "ReplacementTransformer");
        }
        Ok(())
    }
}

/// The last component of a path (`kustomization.yaml` of `/x/kustomization.yaml`).
fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or_else(
        || "kustomization.yaml".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Parses a `configurations:` file.
fn fieldspec_config(name: &Arc<str>, text: &str) -> Result<fieldspec::Config, Error> {
    let mut value = Value::Null;
    for doc in manifest::split_documents(text) {
        if let Some(v) = manifest::parse_document(&doc, name)? {
            value = v;
            break;
        }
    }
    fieldspec::Config::parse(value)
        .map_err(|m| Error::Invalid(format!("{name}: invalid transformer configuration: {m}")))
}

/// Reads and parses resource files, on two threads when there are many (YAML parsing dominates
/// a build); results come back in the order of `files`.
fn parse_files(files: &[&Path]) -> Vec<Result<Vec<Object>, Error>> {
    let one = |path: &Path| -> Result<Vec<Object>, Error> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let text = manifest::read_text(path, &name)?;
        Ok(manifest::parse_stream(&text, &name)?)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    if files.len() < 16 || threads < 2 {
        return files.iter().map(|p| one(p)).collect();
    }
    let half = files.len() / 2;
    let (first, second) = files.split_at(half);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| second.iter().map(|p| one(p)).collect::<Vec<_>>());
        let mut out: Vec<_> = first.iter().map(|p| one(p)).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(second.iter().map(|p| one(p))),
        }
        out
    })
}

/// The ids in an accumulator (group, version, kind, effective namespace, name), so that adding
/// thousands of resources stays linear.
struct IdIndex {
    seen: std::collections::HashMap<(String, String, String, String, String), usize>,
}

impl IdIndex {
    fn new(acc: &[Res], scopes: &Scopes) -> Self {
        let mut seen = std::collections::HashMap::with_capacity(acc.len());
        for (i, r) in acc.iter().enumerate() {
            seen.insert(Self::key(&r.id(), scopes), i);
        }
        IdIndex { seen }
    }

    fn key(id: &gitops::Identity, scopes: &Scopes) -> (String, String, String, String, String) {
        (
            id.group.clone(),
            id.version.clone(),
            id.kind.clone(),
            resource::effective_namespace(id, scopes).to_owned(),
            id.name.clone(),
        )
    }

    /// Adds a resource, refusing a second one with the same id.
    fn append(&mut self, acc: &mut Vec<Res>, res: Res, scopes: &Scopes) -> Result<(), Error> {
        let id = res.id();
        let key = Self::key(&id, scopes);
        if let Some(&i) = self.seen.get(&key) {
            return Err(Error::Object {
                at: res.obj.source.location(),
                object: id.short(),
                message: format!(
                    "may not add resource with an already registered id: {} (first from {})",
                    describe(&id),
                    acc[i].obj.source
                ),
            });
        }
        self.seen.insert(key, acc.len());
        acc.push(res);
        Ok(())
    }
}

/// Adds a generated resource according to its behavior (create, merge, replace).
fn absorb(acc: &mut Vec<Res>, mut res: Res, scopes: &Scopes) -> Result<(), Error> {
    let id = res.id();
    let matches: Vec<usize> = acc
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().any(|rid| same_id(&rid, &id, scopes)))
        .map(|(i, _)| i)
        .collect();
    let behavior = res.behavior.clone().unwrap_or_else(|| "create".to_owned());
    match matches.as_slice() {
        [] => {
            if behavior != "create" {
                return Err(Error::Object {
                    at: res.obj.source.location(),
                    object: id.short(),
                    message: format!(
                        "id {} does not exist; cannot merge or replace",
                        describe(&id)
                    ),
                });
            }
            acc.push(res);
            Ok(())
        }
        [i] => {
            let old = &acc[*i];
            match behavior.as_str() {
                "replace" | "merge" => {}
                _ => {
                    return Err(Error::Object {
                        at: res.obj.source.location(),
                        object: id.short(),
                        message: format!(
                            "id {} exists; behavior must be merge or replace",
                            describe(&id)
                        ),
                    });
                }
            }
            let mut labels = old.string_map("labels");
            labels.extend(res.string_map("labels"));
            let mut annotations = old.string_map("annotations");
            let old_origin = annotations.get(buildmetadata::ORIGIN).cloned();
            annotations.extend(res.string_map("annotations"));
            // A merged object keeps where it came from (a replaced one takes the new origin).
            if let (Some(origin), "merge") = (old_origin, behavior.as_str()) {
                annotations.insert(buildmetadata::ORIGIN.to_owned(), origin);
            }
            if behavior == "merge" {
                for field in ["data", "binaryData"] {
                    let mut merged = match old.obj.value.get(field) {
                        Some(Value::Object(m)) => m.clone(),
                        _ => serde_json::Map::new(),
                    };
                    if let Some(Value::Object(new)) = res.obj.value.get(field) {
                        merged.extend(new.clone());
                    }
                    if let Value::Object(root) = &mut res.obj.value {
                        if merged.is_empty() {
                            root.remove(field);
                        } else {
                            root.insert(field.to_owned(), Value::Object(merged));
                        }
                    }
                }
            }
            let name = old.name().to_owned();
            let namespace = old.obj.namespace().map(str::to_owned);
            let meta = res.obj.metadata_mut();
            for (field, map) in [("labels", labels), ("annotations", annotations)] {
                if map.is_empty() {
                    meta.remove(field);
                } else {
                    meta.insert(field.to_owned(), Value::Object(map));
                }
            }
            meta.insert("name".into(), Value::String(name));
            match namespace {
                Some(ns) => {
                    meta.insert("namespace".into(), Value::String(ns));
                }
                None => {
                    meta.remove("namespace");
                }
            }
            let old = &acc[*i];
            res.org = old.org.clone();
            res.prev = old.prev.clone();
            res.prefixes = old.prefixes.clone();
            res.suffixes = old.suffixes.clone();
            // kustomize keeps the build annotations of the existing object: the hash suffix
            // only when both want it, the helm mark only from the old one.
            res.needs_hash = res.needs_hash && old.needs_hash;
            res.helm_generated = old.helm_generated;
            res.obj.source = old.obj.source.clone();
            acc[*i] = res;
            Ok(())
        }
        _ => Err(Error::Object {
            at: res.obj.source.location(),
            object: id.short(),
            message: "found multiple objects that could accept the merge".to_owned(),
        }),
    }
}

/// A patch's documents: JSON 6902 operations or strategic-merge patches.
enum PatchBody {
    /// The operations, and whether one of them may change the name, kind or namespace.
    Json(json_patch::Patch, bool),
    Sm(Vec<Value>),
}

fn load_patch(loader: &Loader, patch: &Patch, field: &str) -> Result<(PatchBody, Arc<str>), Error> {
    let file = loader.kustomization_name();
    // An empty `path` or `patch` is no value at all, as in kustomize's JSON-decoded config.
    fn nonempty(s: &Option<String>) -> Option<&String> {
        s.as_ref().filter(|s| !s.is_empty())
    }
    let (name, text) = match (nonempty(&patch.path), nonempty(&patch.patch)) {
        (Some(_), Some(_)) => {
            return Err(Error::Invalid(format!(
                "{file}: {field}: an entry has both `path` and `patch`; give one"
            )));
        }
        (None, None) => {
            return Err(Error::Invalid(format!(
                "{file}: {field}: an entry has neither `path` nor `patch`"
            )));
        }
        (Some(path), None) => loader.read_text(path, field)?,
        (None, Some(inline)) => (Arc::from(format!("{file} ({field})")), inline.clone()),
    };
    let mut docs = Vec::new();
    for doc in manifest::split_documents(&text) {
        if let Some(v) = manifest::parse_document(&doc, &name)? {
            docs.push(v);
        }
    }
    if let [Value::Array(_)] = docs.as_slice() {
        let ops = docs.pop().unwrap_or(Value::Null);
        let touches_id = |p: &str| {
            p.is_empty()
                || p == "/metadata"
                || p.starts_with("/metadata/name")
                || p.starts_with("/metadata/namespace")
                || p.starts_with("/kind")
                || p.starts_with("/apiVersion")
        };
        let may_rename = ops.as_array().is_some_and(|ops| {
            ops.iter().any(|op| {
                ["path", "from"]
                    .iter()
                    .any(|f| op.get(*f).and_then(Value::as_str).is_some_and(touches_id))
            })
        });
        let parsed =
            patch_json6902::parse(ops).map_err(|m| Error::Invalid(format!("{name}: {m}")))?;
        return Ok((PatchBody::Json(parsed, may_rename), name));
    }
    // A single JSON document may also be one object holding a list of operations; anything that
    // is not a mapping is an error.
    for d in &docs {
        if !d.is_object() {
            return Err(Error::Invalid(format!("{name}: a patch must be a mapping (strategic merge) or a list of JSON 6902 operations")));
        }
    }
    Ok((PatchBody::Sm(docs), name))
}

fn apply_patch(
    acc: &mut Vec<Res>,
    loader: &Loader,
    patch: &Patch,
    field: &str,
    scopes: &Scopes,
) -> Result<(), Error> {
    let (body, name) = load_patch(loader, patch, field)?;
    let allow_name = patch
        .options
        .get("allowNameChange")
        .copied()
        .unwrap_or(false);
    let allow_kind = patch
        .options
        .get("allowKindChange")
        .copied()
        .unwrap_or(false);
    let obj_err = |res: &Res, message: String| Error::Object {
        at: res.obj.source.location(),
        object: res.id().short(),
        message: format!("{message} (patch {name})"),
    };
    match body {
        PatchBody::Json(ops, may_rename) => {
            let Some(target) = &patch.target else {
                return Err(Error::Invalid(format!(
                    "{name}: must specify a target for JSON patch"
                )));
            };
            let sel = selector::Compiled::new(target)?;
            for res in acc.iter_mut().filter(|r| sel.matches(r, scopes)) {
                let before = may_rename.then(|| res.id());
                patch_json6902::apply(&mut res.obj.value, &ops).map_err(|m| obj_err(res, m))?;
                if let Some(before) = before {
                    if res.id() != before {
                        res.prev.push(before);
                    }
                }
            }
            Ok(())
        }
        PatchBody::Sm(docs) => {
            if docs.is_empty() && field.contains("StrategicMerge") {
                // kustomize's PatchStrategicMergeTransformer refuses a patch without content.
                return Err(Error::Invalid(format!("{name}: patch appears to be empty")));
            }
            for doc in docs {
                let indices: Vec<usize> = match &patch.target {
                    Some(target) => {
                        let sel = selector::Compiled::new(target)?;
                        acc.iter()
                            .enumerate()
                            .filter(|(_, r)| sel.matches(r, scopes))
                            .map(|(i, _)| i)
                            .collect()
                    }
                    None => {
                        let pid = Object::new(doc.clone(), Source::new(name.clone(), 1)).identity();
                        let found: Vec<usize> = acc
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| r.all_ids().any(|id| same_id(&id, &pid, scopes)))
                            .map(|(i, _)| i)
                            .collect();
                        if found.len() != 1 {
                            let what = if found.is_empty() {
                                "no resource matches"
                            } else {
                                "multiple resources match"
                            };
                            return Err(Error::Invalid(format!(
                                "{name}: {what} strategic merge patch \"{}\"",
                                describe(&pid)
                            )));
                        }
                        found
                    }
                };
                let mut deleted = Vec::new();
                for i in indices {
                    let res = &mut acc[i];
                    let (n, ns, k) = (
                        res.name().to_owned(),
                        res.obj.namespace().map(str::to_owned),
                        res.kind().to_owned(),
                    );
                    let before = (allow_name || allow_kind).then(|| res.id());
                    let mut p = doc.clone();
                    if patch.target.is_some() {
                        // kustomize gives a targeted patch the target's group, version and kind.
                        if let Value::Object(m) = &mut p {
                            let api = res.obj.api_version().to_owned();
                            m.insert("apiVersion".into(), Value::String(api));
                            if !allow_kind {
                                m.insert("kind".into(), Value::String(k.clone()));
                            }
                        }
                        if !allow_name {
                            if let Some(Value::Object(m)) = p.get_mut("metadata") {
                                m.insert("name".into(), Value::String(n.clone()));
                            }
                        }
                    }
                    let outcome =
                        patch_sm::apply(&mut res.obj.value, &p).map_err(|m| obj_err(res, m))?;
                    if outcome == patch_sm::Outcome::Deleted {
                        deleted.push(i);
                        continue;
                    }
                    if !allow_kind {
                        if let Value::Object(root) = &mut res.obj.value {
                            root.insert("kind".into(), Value::String(k));
                        }
                    }
                    if !allow_name {
                        res.set_name(&n);
                    }
                    match ns {
                        Some(ns) => res.obj.set_namespace(&ns),
                        None => {
                            res.obj.metadata_mut().remove("namespace");
                        }
                    }
                    if let Some(before) = before {
                        if res.id() != before {
                            res.prev.push(before);
                        }
                    }
                }
                deleted.sort_unstable();
                for i in deleted.into_iter().rev() {
                    acc.remove(i);
                }
            }
            Ok(())
        }
    }
}
