//! Rendering Helm charts through the `helm` program: `helm template` for a chart directory given
//! as a path (with the settings a `helm template` user passes: release name, values files, the
//! `--set` family, the Kubernetes version and API versions the chart sees, CRDs, tests, hooks),
//! and the `helm template` / `helm pull` runs of kustomize's `helmCharts` entries (built by the
//! kustomize module). helm is found on PATH unless the caller names it; without it we fail with a
//! clear message rather than skip the chart.
//!
//! Values and flags are handed to helm as they are, so helm's own rules apply (the order in which
//! `--values` and the `--set` kinds are merged, its parsing of `--set` paths, its YAML 1.1 reading
//! of values files); what helm reports goes back as one line naming the chart. A values file that
//! is not YAML is reported at its own file:line:col.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::{Error, HelmOptions, SetValue};
use gitops::{manifest, Object};

/// Renders the chart directory `chart` like `helm template [NAME] CHART` with `options`; the
/// namespace is helm's `--namespace` (`.Release.Namespace`).
pub fn template(
    chart: &Path,
    options: &HelmOptions,
    namespace: Option<&str>,
) -> Result<Vec<Object>, Error> {
    let mut args: Vec<OsString> = vec!["template".into()];
    if let Some(name) = options.release_name.as_deref() {
        args.push(name.into());
    }
    args.push(chart.as_os_str().to_owned());
    if let Some(ns) = namespace {
        args.extend(["--namespace".into(), ns.into()]);
    }
    if let Some(t) = options.name_template.as_deref() {
        args.extend(["--name-template".into(), t.into()]);
    }
    for v in &options.values {
        args.extend(["--values".into(), v.as_os_str().to_owned()]);
    }
    for set in &options.set {
        args.extend([set.flag().into(), set.value().into()]);
    }
    for v in &options.api_versions {
        args.extend(["--api-versions".into(), v.into()]);
    }
    if let Some(v) = options.kube_version.as_deref() {
        args.extend(["--kube-version".into(), v.into()]);
    }
    if options.include_crds {
        args.push("--include-crds".into());
    }
    if options.skip_tests {
        args.push("--skip-tests".into());
    }
    if options.no_hooks {
        args.push("--no-hooks".into());
    }
    let label = chart.display().to_string();
    run(options.command.as_deref(), &args, &[], &label)
        .map_err(|e| diagnose_values(e, &options.values))
}

impl SetValue {
    /// helm's flag for this kind of value.
    pub fn flag(&self) -> &'static str {
        match self {
            SetValue::Set(_) => "--set",
            SetValue::String(_) => "--set-string",
            SetValue::File(_) => "--set-file",
            SetValue::Json(_) => "--set-json",
            SetValue::Literal(_) => "--set-literal",
        }
    }

    /// The `KEY=VALUE` text, as given.
    pub fn value(&self) -> &str {
        match self {
            SetValue::Set(v)
            | SetValue::String(v)
            | SetValue::File(v)
            | SetValue::Json(v)
            | SetValue::Literal(v) => v,
        }
    }
}

/// Runs `helm template …` (`args`) with `env` added to the environment and parses its output;
/// `label` names the chart in messages and object sources.
pub fn run(
    helm_command: Option<&Path>,
    args: &[OsString],
    env: &[(&str, OsString)],
    label: &str,
) -> Result<Vec<Object>, Error> {
    let stdout = output(helm_command, args, env, label)?;
    let text = String::from_utf8(stdout).map_err(|_| {
        Error::Invalid(format!(
            "{label}: `helm template` wrote output that is not UTF-8"
        ))
    })?;
    let name: Arc<str> = Arc::from(format!("{label} (helm template)"));
    Ok(manifest::parse_stream(&text, &name)?)
}

/// Runs helm with `args` and `env` for its side effects (`helm pull`).
pub fn exec(
    helm_command: Option<&Path>,
    args: &[OsString],
    env: &[(&str, OsString)],
    label: &str,
) -> Result<(), Error> {
    output(helm_command, args, env, label).map(drop)
}

fn output(
    helm_command: Option<&Path>,
    args: &[OsString],
    env: &[(&str, OsString)],
    label: &str,
) -> Result<Vec<u8>, Error> {
    let helm = helm_command.map_or_else(|| PathBuf::from("helm"), Path::to_path_buf);
    let output = Command::new(&helm)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::HelmNotFound {
                    chart: label.to_owned(),
                    program: helm.clone(),
                }
            } else {
                Error::io(&helm, e)
            }
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::HelmFailed {
            chart: label.to_owned(),
            command: args
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default(),
            status: output.status.to_string(),
            message: first_error_line(&stderr).to_owned(),
        });
    }
    Ok(output.stdout)
}

/// The line of helm's stderr that says what went wrong: its `Error:` line (warnings such as
/// "found symbolic link in path" may come first), else the first line with text.
fn first_error_line(stderr: &str) -> &str {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Error:"))
        .or_else(|| lines.next())
        .unwrap_or("no message")
}

/// When helm could not parse one of `files` ("failed to parse FILE: …"), the file's own
/// file:line:col error instead of helm's; any other failure as helm reported it.
pub fn diagnose_values(err: Error, files: &[PathBuf]) -> Error {
    let Error::HelmFailed { message, .. } = &err else {
        return err;
    };
    if !message.contains("failed to parse") {
        return err;
    }
    for file in files {
        if !message.contains(&*file.to_string_lossy()) {
            continue;
        }
        let name: Arc<str> = Arc::from(file.display().to_string());
        let parsed = manifest::read_text(file, &name).and_then(|text| {
            for doc in manifest::split_documents(&text) {
                manifest::parse_document(&doc, &name)?;
            }
            Ok(())
        });
        if let Err(e @ gitops::Error::Syntax { .. }) = parsed {
            return Error::Input(e);
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_line_is_the_one_that_says_error() {
        assert_eq!(
            first_error_line("walk.go:75: found symbolic link in path\nError: chart \"x\" version \"9\" not found\n"),
            "Error: chart \"x\" version \"9\" not found"
        );
        assert_eq!(first_error_line("\n  oops\nmore\n"), "oops");
        assert_eq!(first_error_line(""), "no message");
    }

    #[test]
    fn unparsable_values_are_reported_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.yaml");
        std::fs::write(&file, "a: 1\n b: 2\n").unwrap();
        let helm = Error::HelmFailed {
            chart: "c".into(),
            command: "template".into(),
            status: "exit status: 1".into(),
            message: format!(
                "Error: failed to parse {}: error converting YAML to JSON: yaml: line 2: mapping values are not allowed in this context",
                file.display()
            ),
        };
        let err = diagnose_values(helm, std::slice::from_ref(&file));
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}:2:", file.display())),
            "{text}"
        );
        let other = Error::HelmFailed {
            chart: "c".into(),
            command: "template".into(),
            status: "exit status: 1".into(),
            message: "Error: template: nil pointer".into(),
        };
        assert!(matches!(
            diagnose_values(other, &[file]),
            Error::HelmFailed { .. }
        ));
    }
}
