//! kustomize's `helmCharts` (the HelmChartInflationGenerator): each entry is rendered with
//! `helm template` from a chart under `helmGlobals.chartHome` (default `charts/`), with its
//! values file and inline values merged the way kustomize merges them.

use std::ffi::OsString;
use std::path::Path;

use crate::Error;
use gitops::Object;
use serde_json::{Map, Value};

use super::kustomization::{HelmChart, Kustomization};
use super::loader::Loader;

pub fn inflate(
    loader: &Loader,
    k: &Kustomization,
    helm: Option<&Path>,
) -> Result<Vec<Object>, Error> {
    let file = loader.kustomization_name();
    let home = k
        .helm_globals
        .as_ref()
        .and_then(|g| g.chart_home.clone())
        .unwrap_or_else(|| "charts".to_owned());
    if k.helm_globals
        .as_ref()
        .is_some_and(|g| g.config_home.is_some())
    {
        return Err(Error::Unsupported(format!(
            "{file}: helmGlobals.configHome is not supported"
        )));
    }
    let mut out = Vec::new();
    for chart in &k.helm_charts {
        out.extend(one(loader, &file, &home, chart, helm)?);
    }
    Ok(out)
}

fn one(
    loader: &Loader,
    file: &str,
    home: &str,
    c: &HelmChart,
    helm: Option<&Path>,
) -> Result<Vec<Object>, Error> {
    let home_dir = loader.dir.join(home);
    let mut candidates = vec![home_dir.join(&c.name)];
    if let Some(v) = &c.version {
        candidates.insert(0, home_dir.join(format!("{}-{v}", c.name)).join(&c.name));
    }
    let Some(chart_dir) = candidates
        .into_iter()
        .find(|p| p.join("Chart.yaml").is_file())
    else {
        let why = if c.repo.is_some() {
            "pulling charts from a repository is not supported; vendor the chart into the chart home"
        } else {
            "no chart there"
        };
        return Err(Error::Unsupported(format!(
            "{file}: helmCharts {}: chart not found under {} ({why})",
            c.name,
            home_dir.display()
        )));
    };
    // The chart directory itself must lie under the root too (after resolving symlinks): a
    // `chartHome: ../` or a symlinked chart would otherwise render templates from anywhere.
    // kustomize refuses these through the values file it reads from the chart (below); this
    // check also covers `valuesMerge: replace`, where it reads none.
    let chart_rel = chart_dir
        .strip_prefix(&loader.dir)
        .unwrap_or(&chart_dir)
        .to_path_buf();
    loader.check(&chart_dir, &chart_rel.display().to_string(), "helmCharts")?;
    // Values: the chart's values.yaml (or valuesFile), read through the load restrictor as
    // kustomize reads it (so it must exist), with valuesInline merged over it; with
    // `valuesMerge: replace` and inline values the file is not read at all.
    let replace = c.values_merge.as_deref() == Some("replace")
        && c.values_inline.as_ref().is_some_and(|v| !is_empty(v));
    let base_values: Value = if replace {
        Value::Object(Map::new())
    } else {
        let rel = match &c.values_file {
            Some(vf) => vf.clone(),
            None => chart_rel.join("values.yaml").display().to_string(),
        };
        let (name, text) = loader.read_text(&rel, "helmCharts.valuesFile")?;
        parse_one(&text, &name)?
    };
    let values = match (
        &c.values_inline,
        c.values_merge.as_deref().unwrap_or("override"),
    ) {
        (None, _) => base_values,
        (Some(inline), "replace") => inline.clone(),
        (Some(inline), "override") => merge(base_values, inline, true),
        (Some(inline), "merge") => merge(base_values, inline, false),
        (Some(_), other) => {
            return Err(Error::Invalid(format!(
                "{file}: helmCharts {}: valuesMerge {other:?} must be override, replace or merge",
                c.name
            )));
        }
    };
    let tmp = tempfile_values(&values)?;
    let mut args: Vec<OsString> = vec!["template".into()];
    match &c.release_name {
        Some(r) if !r.is_empty() => args.push(r.into()),
        _ => args.push("--generate-name".into()),
    }
    args.push(chart_dir.as_os_str().to_owned());
    if let Some(ns) = c.namespace.as_deref().filter(|s| !s.is_empty()) {
        args.extend(["--namespace".into(), ns.into()]);
    }
    if let Some(t) = c.name_template.as_deref().filter(|s| !s.is_empty()) {
        args.extend(["--name-template".into(), t.into()]);
    }
    args.extend(["--values".into(), tmp.path().as_os_str().to_owned()]);
    for f in &c.additional_values_files {
        let path = loader.file(f, "helmCharts.additionalValuesFiles")?;
        args.extend(["-f".into(), path.into_os_string()]);
    }
    for v in &c.api_versions {
        args.extend(["--api-versions".into(), v.into()]);
    }
    if let Some(v) = &c.kube_version {
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
    crate::helm::run(helm, &args, &format!("{file}: helmCharts {}", c.name))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn parse_one(text: &str, name: &std::sync::Arc<str>) -> Result<Value, Error> {
    for doc in gitops::manifest::split_documents(text) {
        if let Some(v) = gitops::manifest::parse_document(&doc, name)? {
            return Ok(v);
        }
    }
    Ok(Value::Object(Map::new()))
}

/// Deep-merges `over` into `base`; with `override_`, values of `over` win.
fn merge(base: Value, over: &Value, override_: bool) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(k) {
                    Some(existing) => merge(existing, v, override_),
                    None => v.clone(),
                };
                b.insert(k.clone(), merged);
            }
            Value::Object(b)
        }
        (b, o) => {
            if override_ || b.is_null() {
                o.clone()
            } else {
                b
            }
        }
    }
}

fn tempfile_values(values: &Value) -> Result<NamedValues, Error> {
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "gitops-render-helm-values-{}-{}.yaml",
        std::process::id(),
        unique()
    ));
    std::fs::write(&path, gitops::yaml::to_string(values)).map_err(|e| Error::io(&path, e))?;
    Ok(NamedValues { path })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A values file removed when dropped.
struct NamedValues {
    path: std::path::PathBuf,
}

impl NamedValues {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for NamedValues {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
