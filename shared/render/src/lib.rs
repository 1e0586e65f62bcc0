//! The render engine every tool that turns a deployment's sources into objects goes through, so
//! that `manifest-render`, and next `sync-once` and `kubectl-gitops-diff`, render a path in
//! exactly the same way: plain YAML/JSON files and directories, kustomize directories (a native
//! engine with the output of `kustomize build`), Helm charts (through the `helm` program), and
//! Flux postBuild `${VAR}` substitution with variables from values and vars files.
//!
//! One entry point, [`render`], takes [`RenderOptions`] and returns the ordered, validated stream
//! of objects, or one typed [`Error`] ([`render_with_stdin`] when the path `-` may be given).
//! Nothing here prints, reads the process's stdin, or knows which tool called it: error messages name files, objects and fields, never
//! a tool or a command-line flag, and each tool adds its own hint ([`Error::Restricted`],
//! [`Error::HelmNotFound`] and [`Error::Undefined`] are the ones that want one).
//!
//! A tour:
//! - [`pipeline`]: classifying inputs, substitution on source text and after builds, the final
//!   validation, namespace defaulting and ordering.
//! - [`kustomize`]: the kustomize engine (`build` a directory).
//! - [`helm`]: `helm template` for a chart directory and for kustomize's `helmCharts` (which
//!   may `helm pull` a chart from a repository into the chart home first).
//! - [`vars`]: variables from `KEY=VALUE` pairs and vars files (env lines, YAML/JSON maps,
//!   ConfigMaps and Secrets).

pub mod helm;
pub mod kustomize;
pub mod pipeline;
pub mod vars;

use std::io;
use std::path::{Path, PathBuf};

use gitops::Location;

pub use gitops::envsubst::Vars;
pub use gitops::Object;
pub use kustomize::LoadRestrictor;
pub use kustomize::RemoteOptions;
pub use pipeline::{render, render_text, render_with_stdin};
pub use vars::VarSource;

/// What to render and how.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Files and directories, rendered in this order; `-` is stdin. A directory holding a
    /// kustomization is built as one; a directory holding `Chart.yaml` is a Helm chart; any other
    /// directory is read as plain manifests (subdirectories holding a kustomization are built).
    pub paths: Vec<PathBuf>,
    /// Variables, applied in this order (a later one wins over an earlier one of the same name).
    pub vars: Vec<VarSource>,
    /// When and how strictly to substitute `${VAR}` placeholders.
    pub substitution: Substitution,
    /// Namespace for namespaced objects that have none (cluster-scoped kinds are left alone).
    pub namespace: Option<String>,
    /// Helm chart directories: values files and the program to run.
    pub helm: HelmOptions,
    /// Whether kustomizations may read files outside their own directory.
    pub load_restrictor: LoadRestrictor,
    /// Whether kustomizations may fetch remote bases (Git) and files (HTTP), and the cache.
    pub remote: RemoteOptions,
}

/// When to substitute `${VAR}` placeholders and how strictly, following Flux's postBuild as of
/// kustomize-controller 1.9 (Flux 2.9): substitution runs only when at least one variable is
/// defined (`substituteStrategy` left at its default) or always (`substituteStrategy: Always`),
/// and it is strict by default (the `StrictPostBuildSubstitutions` feature gate, on since 1.9): a
/// placeholder without a default whose variable is not defined is an error listing each one with
/// its position, never a silently empty image tag or host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Substitution {
    /// Never: placeholders are left as they are.
    Off,
    /// Only when at least one variable is defined, and strict: a placeholder without a default
    /// and without a value is an error. Flux's default since kustomize-controller 1.9.
    #[default]
    WhenDefined,
    /// Only when at least one variable is defined; a missing variable without a default becomes
    /// empty (Flux before 1.9, or with `StrictPostBuildSubstitutions` turned off).
    WhenDefinedLenient,
    /// Always, even with no variables (defaults apply); a missing variable becomes empty
    /// (`substituteStrategy: Always` without strict substitution).
    Lenient,
    /// Always, even with no variables, and strict (`substituteStrategy: Always` with Flux's
    /// default strictness).
    Strict,
}

impl Substitution {
    /// The mode for a tool's flags: `always` is `substituteStrategy: Always`, `strict` Flux's
    /// strict substitution (on unless the user opts out).
    pub fn from_flags(always: bool, strict: bool) -> Self {
        match (always, strict) {
            (true, true) => Substitution::Strict,
            (true, false) => Substitution::Lenient,
            (false, true) => Substitution::WhenDefined,
            (false, false) => Substitution::WhenDefinedLenient,
        }
    }
}

/// How Helm charts are rendered: the settings of `helm template` for a chart directory given as
/// a path, and what also reaches kustomize's `helmCharts` entries (the program, and the
/// Kubernetes version and API versions as defaults, as `kustomize build --helm-kube-version` and
/// `--helm-api-versions` give them).
#[derive(Debug, Clone, Default)]
pub struct HelmOptions {
    /// The helm program; `helm` on PATH when unset.
    pub command: Option<PathBuf>,
    /// Values files for a chart directory given as a path, in order (helm's `--values`; not for
    /// kustomize's `helmCharts`, which name their own).
    pub values: Vec<PathBuf>,
    /// helm's `--set`, `--set-string`, `--set-file`, `--set-json` and `--set-literal` values for
    /// a chart directory given as a path, in the order given (helm merges the kinds in its own
    /// order).
    pub set: Vec<SetValue>,
    /// The release name of a chart directory given as a path (helm's NAME argument; helm's
    /// `release-name` when unset).
    pub release_name: Option<String>,
    /// helm's `--name-template` for a chart directory given as a path.
    pub name_template: Option<String>,
    /// `.Capabilities.KubeVersion` (helm's `--kube-version`); for `helmCharts` entries the
    /// default of their `kubeVersion`.
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions` (helm's `--api-versions`); for `helmCharts` entries the
    /// default of their `apiVersions`.
    pub api_versions: Vec<String>,
    /// Render the chart's `crds/` too (helm's `--include-crds`), for a chart directory.
    pub include_crds: bool,
    /// Leave out the chart's tests (helm's `--skip-tests`), for a chart directory.
    pub skip_tests: bool,
    /// Leave out the chart's hooks (helm's `--no-hooks`), for a chart directory.
    pub no_hooks: bool,
}

impl HelmOptions {
    /// Whether a setting is given that only a chart directory given as a path can use.
    pub fn has_chart_settings(&self) -> bool {
        !self.values.is_empty()
            || !self.set.is_empty()
            || self.release_name.is_some()
            || self.name_template.is_some()
            || self.include_crds
            || self.skip_tests
            || self.no_hooks
    }
}

/// One value of helm's `--set` family, `KEY=VALUE` as helm parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// `--set`: typed values (`true`, numbers, `{a,b}` lists).
    Set(String),
    /// `--set-string`: always strings.
    String(String),
    /// `--set-file`: the value is the content of a file.
    File(String),
    /// `--set-json`: the value is JSON.
    Json(String),
    /// `--set-literal`: one literal string, no parsing of commas or braces.
    Literal(String),
}

/// Every failure of a render.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, parsing or validating the input (file positions and object identities included).
    #[error(transparent)]
    Input(#[from] gitops::Error),

    /// Input that is not valid YAML, JSON or `KEY=VALUE` lines at a known position.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },

    /// An object that parses but that a transformation cannot accept.
    #[error("{at}: {object}: {message}")]
    Object {
        at: Location,
        /// `Kind/namespace/name` or as much of it as is known.
        object: String,
        message: String,
    },

    /// A kustomization (or another input) that is wrong; the message names the file and field.
    #[error("{0}")]
    Invalid(String),

    /// A feature of kustomize or Flux that this engine does not implement; never ignored.
    #[error("{0}")]
    Unsupported(String),

    /// A kustomization names a file outside its root and the load restrictor forbids it.
    #[error("{kustomization}: {field} entry {entry:?}: security; file '{}' is not in or below '{}' (kustomize's load restrictor)", file.display(), root.display())]
    Restricted {
        kustomization: String,
        field: String,
        entry: String,
        file: PathBuf,
        root: PathBuf,
    },

    /// A remote entry of a kustomization (a Git repository, an HTTP(S) file) could not be had:
    /// unreachable, refused, an unknown ref, a missing directory. Names the entry, never
    /// credentials.
    #[error("{0}")]
    Remote(String),

    /// A remote entry while remote entries of that kind are turned off.
    #[error("{kustomization}: {field} entry {entry:?}: remote {kind} are turned off")]
    RemoteDisabled {
        kustomization: String,
        field: String,
        /// The entry, credentials removed.
        entry: String,
        /// `Git repositories` or `files (HTTP URLs)`.
        kind: String,
    },

    /// The helm program could not be started because it does not exist.
    #[error("{chart}: rendering a Helm chart needs the `helm` binary, which was not found ({})", program.display())]
    HelmNotFound { chart: String, program: PathBuf },

    /// `helm template` (or `helm pull`) failed; `message` is the line of its stderr that says
    /// why.
    #[error("{chart}: `helm {command}` failed ({status}): {message}")]
    HelmFailed {
        chart: String,
        /// helm's subcommand (`template`, `pull`).
        command: String,
        status: String,
        message: String,
    },

    /// Settings for a chart directory given as a path (values, a release name, …) were given,
    /// and no input is one; never silently ignored.
    #[error("Helm chart settings (values, release name, name template, CRDs, tests, hooks) apply to chart directories given as paths, and no input is one (a kustomization's helmCharts entries name their own)")]
    HelmSettingsUnused,

    /// Strict substitution found placeholders without a value; each is listed with its position.
    #[error("undefined variables: {}", list_undefined(.0))]
    Undefined(Vec<(String, Location)>),
}

fn list_undefined(vars: &[(String, Location)]) -> String {
    vars.iter()
        .map(|(name, at)| format!("{name} ({at})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// An I/O error on `path`, worded as the shared crate words them.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Input(gitops::Error::io(path, source))
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
