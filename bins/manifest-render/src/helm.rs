//! The Helm flags of manifest-render: `helm template`'s own names and meanings for a chart
//! directory given as a path (release name, values files, the `--set` family, the Kubernetes
//! version and API versions the chart sees, CRDs, tests, hooks), and the helm program. The
//! Kubernetes version and API versions also reach kustomize `helmCharts` entries that set none,
//! as `kustomize build --helm-kube-version` / `--helm-api-versions` do.

use std::path::PathBuf;

use gitops_render::{HelmOptions, SetValue};

/// Helm flags, shown under their own heading in `--help`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Helm charts")]
pub struct HelmArgs {
    /// Release name of a chart directory (`.Release.Name`; helm's NAME argument, as in `helm
    /// template NAME CHART`). Default: helm's `release-name`.
    #[arg(long, value_name = "NAME")]
    pub release_name: Option<String>,

    /// Template for the release name of a chart directory (helm's `--name-template`).
    #[arg(long, value_name = "TEMPLATE", conflicts_with = "release_name")]
    pub name_template: Option<String>,

    /// Values file for a chart directory (repeatable; later files win, as in helm).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// Set a chart value, as helm's `--set` (`a.b=1,c={x,y}`; repeatable). Not a `${VAR}`
    /// substitution variable: that is --var.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Set a chart value as a string, as helm's `--set-string` (repeatable).
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,

    /// Set a chart value to the content of a file, as helm's `--set-file` (repeatable).
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<String>,

    /// Set a chart value to JSON, as helm's `--set-json` (repeatable).
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<String>,

    /// Set a chart value to a literal string (no parsing of `,` `{}` `.`), as helm's
    /// `--set-literal` (repeatable).
    #[arg(long = "set-literal", value_name = "KEY=VALUE")]
    pub set_literal: Vec<String>,

    /// Kubernetes version the chart sees (`.Capabilities.KubeVersion`, helm's `--kube-version`),
    /// for an offline render that matches the cluster; also the default `kubeVersion` of
    /// kustomize `helmCharts` entries.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,

    /// API version the chart sees in `.Capabilities.APIVersions` (`group/version` or
    /// `group/version/Kind`; repeatable, or comma-separated, as helm's `--api-versions`); also
    /// the default `apiVersions` of kustomize `helmCharts` entries.
    #[arg(long = "api-versions", value_name = "VERSION")]
    pub api_versions: Vec<String>,

    /// Render the chart's `crds/` directory too (helm's `--include-crds`).
    #[arg(long)]
    pub include_crds: bool,

    /// Leave out the chart's tests (helm's `--skip-tests`).
    #[arg(long)]
    pub skip_tests: bool,

    /// Leave out the chart's hooks (helm's `--no-hooks`).
    #[arg(long)]
    pub no_hooks: bool,

    /// The helm binary to use (default: `helm` on PATH).
    #[arg(long, value_name = "PATH")]
    pub helm_command: Option<PathBuf>,
}

impl From<HelmArgs> for HelmOptions {
    fn from(a: HelmArgs) -> Self {
        // helm merges the kinds in its own order (files, JSON, set, string, file, literal)
        // whatever their order on the command line; within a kind, the command line's order.
        let set = a
            .set
            .into_iter()
            .map(SetValue::Set)
            .chain(a.set_string.into_iter().map(SetValue::String))
            .chain(a.set_file.into_iter().map(SetValue::File))
            .chain(a.set_json.into_iter().map(SetValue::Json))
            .chain(a.set_literal.into_iter().map(SetValue::Literal))
            .collect();
        HelmOptions {
            command: a.helm_command,
            values: a.values,
            set,
            release_name: a.release_name,
            name_template: a.name_template,
            kube_version: a.kube_version,
            api_versions: a.api_versions,
            include_crds: a.include_crds,
            skip_tests: a.skip_tests,
            no_hooks: a.no_hooks,
        }
    }
}
