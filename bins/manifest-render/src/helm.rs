//! Rendering Helm charts through the `helm` binary (`helm template`).

use std::path::Path;

use gitops::{Error, Object};

/// Renders the chart in `chart` with `values` files, like `helm template`.
pub fn template(
    chart: &Path,
    _values: &[std::path::PathBuf],
    _namespace: Option<&str>,
    _helm_command: Option<&Path>,
) -> Result<Vec<Object>, Error> {
    Err(Error::Unsupported(format!(
        "{}: Helm charts are not supported yet (render with `helm template` and pipe the output in)",
        chart.display()
    )))
}
