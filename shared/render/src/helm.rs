//! Rendering Helm charts through the `helm` program (`helm template`): a chart directory given as
//! a path, and kustomize's `helmCharts` entries (built by the kustomize module). helm is found on
//! PATH unless the caller names it; without it we fail with a clear message rather than skip the
//! chart.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::Error;
use gitops::{manifest, Object};

/// Renders the chart in `chart` with `values` files, like `helm template`.
pub fn template(
    chart: &Path,
    values: &[PathBuf],
    namespace: Option<&str>,
    helm_command: Option<&Path>,
) -> Result<Vec<Object>, Error> {
    let mut args: Vec<OsString> = vec!["template".into(), chart.as_os_str().to_owned()];
    for v in values {
        args.push("--values".into());
        args.push(v.as_os_str().to_owned());
    }
    if let Some(ns) = namespace {
        args.push("--namespace".into());
        args.push(ns.into());
    }
    run(helm_command, &args, &chart.display().to_string())
}

/// Runs `helm` with `args` and parses its output; `label` names the chart in messages and
/// object sources.
pub fn run(
    helm_command: Option<&Path>,
    args: &[OsString],
    label: &str,
) -> Result<Vec<Object>, Error> {
    let helm = helm_command.map_or_else(|| PathBuf::from("helm"), Path::to_path_buf);
    let output = Command::new(&helm).args(args).output().map_err(|e| {
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
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(Error::HelmFailed {
            chart: label.to_owned(),
            status: output.status.to_string(),
            message: first.to_owned(),
        });
    }
    let text = String::from_utf8(output.stdout).map_err(|_| {
        Error::Invalid(format!(
            "{label}: `helm template` wrote output that is not UTF-8"
        ))
    })?;
    let name: Arc<str> = Arc::from(format!("{label} (helm template)"));
    Ok(manifest::parse_stream(&text, &name)?)
}
