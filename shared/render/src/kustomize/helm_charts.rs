//! kustomize's `helmCharts` (the HelmChartInflationGenerator), field for field as kustomize 5.8
//! runs it: each entry is rendered with `helm template` from `{chartHome}/{name}` (or
//! `{chartHome}/{name}-{version}/{name}` when it names a `repo` and a `version`), pulled first
//! with `helm pull --untar` from its chart repository (or `oci://` registry) when it is not
//! there, so the chart home is the cache a second render reuses without asking the repository.
//! Its values are the chart's `values.yaml` (or `valuesFile`) with `valuesInline` merged in
//! kyaml's way (`override`, `merge`) or instead of them (`replace`); helm runs with
//! `HELM_CONFIG_HOME` (and `.cache`, `.data` below it) at `helmGlobals.configHome` or a fresh
//! temporary directory, as kustomize runs it, so the user's own helm repositories and caches do
//! not change what a kustomization renders.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::Error;
use gitops::Object;
use serde_json::{Map, Value};

use super::kustomization::{HelmChart, Kustomization};
use super::loader::Loader;
use super::Options;

/// Renders every `helmCharts` entry of `k`; `namespace` is the one entries without their own get
/// (the nearest `namespace:` of this kustomization or of one that includes it).
pub fn inflate(
    loader: &Loader,
    k: &Kustomization,
    options: &Options,
    namespace: Option<&str>,
) -> Result<Vec<Object>, Error> {
    let file = loader.kustomization_name();
    let (legacy, legacy_globals) = legacy_charts(&k.helm_chart_inflation_generator, &file)?;
    let globals = k.helm_globals.clone().unwrap_or(legacy_globals);
    let home = globals
        .chart_home
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "charts".to_owned());
    let mut out = Vec::new();
    for chart in k.helm_charts.iter().chain(&legacy) {
        let ctx = Entry {
            loader,
            file: &file,
            home: &home,
            config_home: globals.config_home.as_deref().filter(|h| !h.is_empty()),
            options,
        };
        out.extend(ctx.render(chart, namespace)?);
    }
    Ok(out)
}

/// What every entry of one kustomization shares.
struct Entry<'a> {
    loader: &'a Loader,
    file: &'a str,
    home: &'a str,
    config_home: Option<&'a str>,
    options: &'a Options,
}

/// How `valuesInline` meets the chart's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValuesMerge {
    /// Inline values win (the default).
    Override,
    /// The values file wins; inline values only add.
    Merge,
    /// Inline values instead of the file.
    Replace,
}

impl Entry<'_> {
    fn render(&self, c: &HelmChart, namespace: Option<&str>) -> Result<Vec<Object>, Error> {
        let file = self.file;
        if c.name.is_empty() {
            return Err(Error::Invalid(format!(
                "{file}: helmCharts entry: chart name cannot be empty"
            )));
        }
        let label = format!("{file}: helmCharts {}", c.name);
        let merge = match c.values_merge.as_deref().unwrap_or("") {
            "" | "override" => ValuesMerge::Override,
            "merge" => ValuesMerge::Merge,
            "replace" => ValuesMerge::Replace,
            other => {
                return Err(Error::Invalid(format!(
                    "{label}: valuesMerge {other:?} must be one of merge, override, replace"
                )))
            }
        };
        // kustomize loads the additional values files first (through the load restrictor).
        let additional: Vec<PathBuf> = c
            .additional_values_files
            .iter()
            .map(|f| self.loader.file(f, "helmCharts.additionalValuesFiles"))
            .collect::<Result<_, _>>()?;

        // helm's state: the configured home, or a temporary one (removed when `_tmp` drops).
        let _tmp;
        let config_home: PathBuf = match self.config_home {
            Some(h) => PathBuf::from(h),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("gitops-render-helm-")
                    .tempdir()
                    .map_err(|e| Error::io(std::env::temp_dir(), e))?;
                let home = dir.path().join("helm");
                _tmp = dir;
                home
            }
        };
        let env = helm_env(&config_home);

        let chart_home = self.chart_home(c);
        let chart_dir = chart_home.join(&c.name);
        if !chart_dir.is_dir() {
            let Some(repo) = c.repo.as_deref().filter(|r| !r.is_empty()) else {
                return Err(Error::Invalid(format!(
                    "{label}: no chart at {} and no repo to pull it from",
                    chart_dir.display()
                )));
            };
            self.pull(c, repo, &chart_home, &env, &label)?;
        }

        // The chart directory itself must lie under the root too (after resolving symlinks): a
        // `chartHome: ../` or a symlinked chart would otherwise render templates from anywhere.
        // kustomize refuses these through the values file it reads from the chart (below); this
        // check also covers `valuesMerge: replace`, where it reads none.
        let chart_rel = self.relative(&chart_dir);
        self.loader
            .check(&chart_dir, &chart_rel.display().to_string(), "helmCharts")?;

        let values_rel = match c.values_file.as_deref().filter(|v| !v.is_empty()) {
            Some(vf) => vf.to_owned(),
            None => chart_rel.join("values.yaml").display().to_string(),
        };
        let inline = c
            .values_inline
            .as_ref()
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
        // The values helm gets: with inline values a merged file (JSON, so that helm's YAML 1.1
        // reading cannot turn a string such as "yes" into a boolean), else the values file as
        // it is (read by helm, as kustomize hands over a copy of its bytes).
        let mut written = None;
        let values_path = match inline {
            Some(inline) => {
                let merged = match merge {
                    ValuesMerge::Replace => inline.clone(),
                    ValuesMerge::Override | ValuesMerge::Merge => {
                        let (name, text) = self
                            .loader
                            .read_text(&values_rel, "helmCharts.valuesFile")?;
                        let chart_values = parse_values(&text, &name)?;
                        let merged = if merge == ValuesMerge::Override {
                            merge2(inline, chart_values)
                        } else {
                            merge2(&chart_values, inline.clone())
                        };
                        merged.map_err(|e| {
                            Error::Invalid(format!("{label}: could not merge values: {e}"))
                        })?
                    }
                };
                let dir = tempfile::Builder::new()
                    .prefix("gitops-render-helm-values-")
                    .tempdir()
                    .map_err(|e| Error::io(std::env::temp_dir(), e))?;
                let path = dir.path().join(format!("{}-kustomize-values.yaml", c.name));
                let text = serde_json::to_string(&merged)
                    .map_err(|e| Error::Invalid(format!("{label}: values: {e}")))?;
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
                written = Some(dir);
                path
            }
            None => self.loader.file(&values_rel, "helmCharts.valuesFile")?,
        };

        let mut args: Vec<OsString> = vec!["template".into()];
        match c.release_name.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => args.push(r.into()),
            // As kustomize; helm then makes up a name from the chart's and the time.
            None => args.push("--generate-name".into()),
        }
        args.push(chart_dir.as_os_str().to_owned());
        let namespace = c
            .namespace
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(namespace);
        if let Some(ns) = namespace {
            args.extend(["--namespace".into(), ns.into()]);
        }
        if let Some(t) = c.name_template.as_deref().filter(|s| !s.is_empty()) {
            args.extend(["--name-template".into(), t.into()]);
        }
        args.extend(["-f".into(), values_path.clone().into_os_string()]);
        for path in &additional {
            args.extend(["-f".into(), path.clone().into_os_string()]);
        }
        // The build's Kubernetes version and API versions are defaults an entry may override
        // (kustomize sets them before it decodes the entry over them).
        let api_versions = if c.api_versions.is_empty() {
            &self.options.helm_api_versions
        } else {
            &c.api_versions
        };
        for v in api_versions {
            args.extend(["--api-versions".into(), v.into()]);
        }
        let kube_version = c
            .kube_version
            .as_deref()
            .filter(|v| !v.is_empty())
            .or(self.options.helm_kube_version.as_deref());
        if let Some(v) = kube_version {
            args.extend(["--kube-version".into(), v.into()]);
        }
        if c.include_crds {
            args.push("--include-crds".into());
        }
        if c.skip_tests {
            args.push("--skip-tests".into());
        }
        if c.skip_hooks {
            args.push("--no-hooks".into());
        }
        if c.debug {
            args.push("--debug".into());
        }
        if c.devel {
            args.push("--devel".into());
        }
        let mut files = vec![values_path];
        files.extend(additional);
        let rendered = crate::helm::run(self.options.helm_command.as_deref(), &args, &env, &label)
            .map_err(|e| crate::helm::diagnose_values(e, &files));
        drop(written);
        rendered
    }

    /// `{chartHome}` (relative to the kustomization's directory unless absolute), with
    /// `{name}-{version}` below it when the entry names a repo and a version.
    fn chart_home(&self, c: &HelmChart) -> PathBuf {
        let home = Path::new(self.home);
        let home = if home.is_absolute() {
            home.to_path_buf()
        } else {
            self.loader.dir.join(home)
        };
        match (c.repo.as_deref(), c.version.as_deref()) {
            (Some(r), Some(v)) if !r.is_empty() && !v.is_empty() => {
                home.join(format!("{}-{v}", c.name))
            }
            _ => home,
        }
    }

    fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.loader.dir)
            .unwrap_or(path)
            .to_path_buf()
    }

    /// `helm pull --untar` of the entry's chart into `chart_home`: into a temporary directory
    /// beside it first and moved into place when complete, so that a failed or interrupted pull
    /// leaves nothing behind and a later render never finds half a chart.
    fn pull(
        &self,
        c: &HelmChart,
        repo: &str,
        chart_home: &Path,
        env: &[(&str, OsString)],
        label: &str,
    ) -> Result<(), Error> {
        self.check_writable(chart_home)?;
        let created = create_dirs(chart_home)?;
        let result = self.pull_into(c, repo, chart_home, env, label);
        if result.is_err() {
            for dir in created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        result
    }

    fn pull_into(
        &self,
        c: &HelmChart,
        repo: &str,
        chart_home: &Path,
        env: &[(&str, OsString)],
        label: &str,
    ) -> Result<(), Error> {
        let staging = tempfile::Builder::new()
            .prefix(".pull-")
            .tempdir_in(chart_home)
            .map_err(|e| Error::io(chart_home, e))?;
        let mut args: Vec<OsString> = vec![
            "pull".into(),
            "--untar".into(),
            "--untardir".into(),
            staging.path().as_os_str().to_owned(),
        ];
        if repo.starts_with("oci://") {
            args.push(format!("{}/{}", repo.trim_end_matches('/'), c.name).into());
        } else {
            args.extend(["--repo".into(), repo.into(), c.name.as_str().into()]);
        }
        if let Some(v) = c.version.as_deref().filter(|v| !v.is_empty()) {
            args.extend(["--version".into(), v.into()]);
        }
        if c.devel {
            args.push("--devel".into());
        }
        crate::helm::exec(self.options.helm_command.as_deref(), &args, env, label)?;
        let pulled = staging.path().join(&c.name);
        if !pulled.join("Chart.yaml").is_file() {
            return Err(Error::Invalid(format!(
                "{label}: the chart pulled from {repo} holds no chart directory {:?}",
                c.name
            )));
        }
        let target = chart_home.join(&c.name);
        if let Err(e) = std::fs::rename(&pulled, &target) {
            // Another render may have pulled the same chart meanwhile: theirs is as good.
            if !target.is_dir() {
                return Err(Error::io(&target, e));
            }
        }
        Ok(())
    }

    /// A pull writes into the chart home: under the RootOnly restrictor it must lie under the
    /// kustomization's root (its nearest existing directory, symlinks resolved, with `..`
    /// taken lexically first).
    fn check_writable(&self, chart_home: &Path) -> Result<(), Error> {
        let absolute = std::path::absolute(chart_home).map_err(|e| Error::io(chart_home, e))?;
        let mut normal = PathBuf::new();
        for part in absolute.components() {
            match part {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                std::path::Component::CurDir => {}
                other => normal.push(other),
            }
        }
        let mut existing = normal.as_path();
        while !existing.exists() {
            match existing.parent() {
                Some(p) => existing = p,
                None => break,
            }
        }
        let rel = self.relative(chart_home).display().to_string();
        self.loader.check(existing, &rel, "helmCharts")
    }
}

/// An entry of the deprecated `helmChartInflationGenerator` field (kustomize's `HelmChartArgs`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyChart {
    chart_name: Option<String>,
    chart_version: Option<String>,
    #[serde(rename = "chartRepoUrl")]
    chart_repo_url: Option<String>,
    chart_home: Option<String>,
    // Read by kustomize and then dropped when it turns the entry into a `helmCharts` one.
    #[allow(dead_code)]
    chart_repo_name: Option<String>,
    #[allow(dead_code)]
    helm_bin: Option<String>,
    helm_home: Option<String>,
    values: Option<String>,
    values_local: Option<Value>,
    values_merge: Option<String>,
    release_name: Option<String>,
    #[allow(dead_code)]
    release_namespace: Option<String>,
    #[allow(dead_code)]
    extra_args: Option<Vec<String>>,
}

/// `helmChartInflationGenerator` entries as kustomize's `SplitHelmParameters` turns them into
/// `helmCharts` entries (after the kustomization's own) and globals (used when `helmGlobals` is
/// unset; the last non-empty `chartHome`/`helmHome` wins). As there, `releaseNamespace`,
/// `extraArgs`, `chartRepoName` and `helmBin` are read and have no effect.
fn legacy_charts(
    entries: &[Value],
    file: &str,
) -> Result<(Vec<HelmChart>, super::kustomization::HelmGlobals), Error> {
    let mut charts = Vec::new();
    let mut globals = super::kustomization::HelmGlobals::default();
    for entry in entries {
        let old: LegacyChart = serde_json::from_value(entry.clone()).map_err(|e| {
            Error::Invalid(format!("{file}: helmChartInflationGenerator entry: {e}"))
        })?;
        if let Some(h) = old.helm_home.filter(|h| !h.is_empty()) {
            globals.config_home = Some(h);
        }
        if let Some(h) = old.chart_home.filter(|h| !h.is_empty()) {
            globals.chart_home = Some(h);
        }
        charts.push(HelmChart {
            name: old.chart_name.unwrap_or_default(),
            version: old.chart_version,
            repo: old.chart_repo_url,
            values_file: old.values,
            values_inline: old.values_local,
            values_merge: old.values_merge,
            release_name: old.release_name,
            ..HelmChart::default()
        });
    }
    Ok((charts, globals))
}

/// The environment kustomize gives helm.
fn helm_env(config_home: &Path) -> Vec<(&'static str, OsString)> {
    let mut cache = config_home.as_os_str().to_owned();
    cache.push("/.cache");
    let mut data = config_home.as_os_str().to_owned();
    data.push("/.data");
    vec![
        ("HELM_CONFIG_HOME", config_home.as_os_str().to_owned()),
        ("HELM_CACHE_HOME", cache),
        ("HELM_DATA_HOME", data),
    ]
}

/// Creates `dir` and its missing parents; the ones it created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(d) = current.filter(|d| !d.exists()) {
        missing.push(d.to_path_buf());
        current = d.parent();
    }
    missing.reverse();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(missing)
}

/// The chart's values: its first YAML document, a map (an empty file is no values).
fn parse_values(text: &str, name: &std::sync::Arc<str>) -> Result<Value, Error> {
    for doc in gitops::manifest::split_documents(text) {
        if let Some(v) = gitops::manifest::parse_document(&doc, name)? {
            if !v.is_object() {
                return Err(Error::Invalid(format!("{name}: helm values must be a map")));
            }
            return Ok(v);
        }
    }
    Ok(Value::Object(Map::new()))
}

/// kyaml's `merge2.Merge(src, dest)` on values, which carry no schema: fields of `src` win over
/// those of `dest`, maps merge field by field, lists are replaced whole, a `null` in `src`
/// removes the field (so helm falls back to the chart's default), nulls inside maps that `src`
/// adds are dropped, `$patch: delete`/`replace` in a map of `src` act as in kyaml, and a map
/// meeting a list or a scalar is an error, as in kyaml.
fn merge2(src: &Value, dest: Value) -> Result<Value, String> {
    merge_node(src, dest, "")
}

fn merge_node(src: &Value, dest: Value, path: &str) -> Result<Value, String> {
    match (src, dest) {
        (Value::Object(s), Value::Object(mut d)) => {
            match patch_directive(s)? {
                Directive::Delete => return Ok(Value::Null),
                Directive::Replace => return Ok(without_nulls(src)),
                Directive::Merge => {}
            }
            for (key, sv) in s {
                if key == "$patch" {
                    continue;
                }
                let at = format!("{path}.{key}");
                match (sv, d.remove(key)) {
                    (Value::Null, _) => {}
                    (sv, None | Some(Value::Null)) => {
                        let added = without_nulls(sv);
                        if !added.is_null() {
                            d.insert(key.clone(), added);
                        }
                    }
                    (sv, Some(dv)) => {
                        let merged = merge_node(sv, dv, &at)?;
                        if !merged.is_null() {
                            d.insert(key.clone(), merged);
                        }
                    }
                }
            }
            Ok(Value::Object(d))
        }
        (s, d) => {
            if kind(s) != kind(&d) {
                return Err(format!(
                    "{}: a {} cannot be merged with a {}",
                    path.trim_start_matches('.'),
                    kind(s),
                    kind(&d)
                ));
            }
            Ok(s.clone())
        }
    }
}

enum Directive {
    Merge,
    Replace,
    Delete,
}

fn patch_directive(map: &Map<String, Value>) -> Result<Directive, String> {
    match map.get("$patch") {
        None => Ok(Directive::Merge),
        Some(Value::String(s)) if s == "merge" => Ok(Directive::Merge),
        Some(Value::String(s)) if s == "replace" => Ok(Directive::Replace),
        Some(Value::String(s)) if s == "delete" => Ok(Directive::Delete),
        Some(other) => Err(format!("unknown patch strategy '{}'", plain(other))),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as kyaml adds it where `dest` had nothing: maps lose their null fields (and
/// `$patch` keys), recursively; lists are kept as they are.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            if matches!(m.get("$patch"), Some(Value::String(s)) if s == "delete") {
                return Value::Null;
            }
            Value::Object(
                m.iter()
                    .filter(|(k, v)| !v.is_null() && k.as_str() != "$patch")
                    .map(|(k, v)| (k.clone(), without_nulls(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "map",
        Value::Array(_) => "list",
        Value::Null => "null",
        _ => "scalar",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn override_and_merge_as_kyaml() {
        let chart = json!({"a": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2], "keep": "k"});
        let inline =
            json!({"a": 5, "nested": {"y": 3, "z": null}, "list": [9], "new": {"n": null, "m": 1}});
        assert_eq!(
            merge2(&inline, chart.clone()).unwrap(),
            json!({"a": 5, "nested": {"x": 1, "y": 3}, "list": [9], "keep": "k", "new": {"m": 1}})
        );
        // merge: the chart's values win, inline values only add.
        assert_eq!(
            merge2(&chart, inline.clone()).unwrap(),
            json!({"a": 1, "nested": {"x": 1, "y": 2, "z": null}, "list": [1, 2], "keep": "k", "new": {"n": null, "m": 1}})
        );
        // A null in the winning values removes the field.
        assert_eq!(
            merge2(&json!({"a": null}), json!({"a": 1, "b": 2})).unwrap(),
            json!({"b": 2})
        );
    }

    #[test]
    fn directives_and_kind_mismatches() {
        assert_eq!(
            merge2(
                &json!({"n": {"$patch": "replace", "y": 1}}),
                json!({"n": {"x": 1}})
            )
            .unwrap(),
            json!({"n": {"y": 1}})
        );
        assert_eq!(
            merge2(
                &json!({"n": {"$patch": "delete"}}),
                json!({"n": {"x": 1}, "o": 1})
            )
            .unwrap(),
            json!({"o": 1})
        );
        assert_eq!(
            merge2(&json!({"n": 1}), json!({"n": {"x": 1}})).unwrap_err(),
            "n: a scalar cannot be merged with a map"
        );
    }
}
