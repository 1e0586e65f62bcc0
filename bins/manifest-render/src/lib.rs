//! `manifest-render` turns generic deployment templates (plain YAML with `${VAR}` placeholders,
//! kustomize directories, Helm charts) plus one environment's values into the low-level
//! manifests that go into the GitOps repo: validated, ordered, optionally split one file per
//! object, with a digest that identifies the rendered state.
//!
//! The command line is turned into a validated [`Config`] before any work starts; the render
//! engine ([`gitops_render::render`]) produces the objects and [`output`] writes them. This crate
//! keeps only the arguments, the configuration, the output and the hints that name its flags.

pub mod flags;
pub mod helm;
pub mod output;
pub mod remote;

use std::path::PathBuf;

use clap::Parser;
use gitops::cli::{Failure, Io, Verbosity};
use gitops::manifest::Format;
use gitops::Outcome;
use gitops_render::{LoadRestrictor, RenderOptions, Substitution};

/// Render Kubernetes manifests for one environment.
///
/// Reads plain YAML/JSON files and directories (or stdin), kustomize directories and Helm charts,
/// substitutes `${VAR}` placeholders the way Flux's postBuild does, and writes the objects in
/// kustomize's order to stdout or one file per object to --out-dir.
#[derive(Debug, Parser)]
#[command(name = "manifest-render", version, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 rendered (or --check: up to date), 1 --check found differences, 2 error, 130 interrupted."
)]
pub struct Args {
    /// Files or directories to render; `-` (or nothing) reads stdin. A directory holding a
    /// kustomization.yaml is built like `kustomize build`; one holding Chart.yaml is rendered
    /// with `helm template`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Set a substitution variable (repeatable; later values win).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = flags::parse_var_flag)]
    pub vars: Vec<flags::Ordered<(String, String)>>,

    /// Read substitution variables from a file: a YAML/JSON map, a ConfigMap or Secret manifest,
    /// or KEY=VALUE lines (repeatable; later values win).
    #[arg(long = "vars-file", value_name = "FILE", value_parser = flags::parse_file_flag)]
    pub vars_files: Vec<flags::Ordered<PathBuf>>,

    /// Substitute `${VAR}` placeholders even when no variable is defined, so that defaults
    /// (`${NAME:=default}`) apply (Flux's `postBuild.substituteStrategy: Always`). Without it,
    /// substitution runs only when --var or --vars-file defines at least one variable, as in
    /// Flux.
    #[arg(long, visible_alias = "substitute-always")]
    pub substitute: bool,

    /// Substitute always, and strictly (the same as --substitute now that strict is the default;
    /// kept for existing scripts).
    #[arg(long, conflicts_with = "no_strict")]
    pub strict: bool,

    /// Let a placeholder without a default whose variable is not defined become an empty string
    /// instead of failing. Strict is the default, as in Flux since kustomize-controller 1.9
    /// (Flux 2.9): a silently empty image tag or host name is a classic outage.
    #[arg(long)]
    pub no_strict: bool,

    /// Namespace for namespaced objects that have none (cluster-scoped kinds are left alone).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Write one file per object (`group.version.Kind.namespace.name.yaml`) into DIR instead of
    /// stdout. DIR's `.rendered-files` lists what the last render wrote: only those files are
    /// removed when no longer rendered; every other file (kustomization.yaml, values.yml,
    /// hand-written manifests, data.json) is kept. DIR is replaced in one step; a symbolic link
    /// to a directory stays a link and its target is replaced.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// With --out-dir: write nothing; list the files that differ (`+` added, `~` changed, `-`
    /// written by an earlier render and removed; files it did not write are not listed) and exit
    /// 1 if DIR is not what would be rendered.
    #[arg(long, requires = "out_dir")]
    pub check: bool,

    /// Print the digest of the rendered stream (`sha256:…`) on stderr.
    #[arg(long)]
    pub digest: bool,

    /// Whether kustomizations may load files outside their own directory (`RootOnly`, as
    /// kustomize's default, or `None`).
    #[arg(long, value_enum, default_value_t = LoadRestrictorArg::RootOnly)]
    pub load_restrictor: LoadRestrictorArg,

    #[command(flatten)]
    pub remote: remote::RemoteArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,

    // Last: its help heading applies to the flags after it.
    #[command(flatten)]
    pub helm: helm::HelmArgs,
}

impl gitops::cli::Command for Args {
    fn verbosity(&self) -> &Verbosity {
        &self.verbosity
    }
}

/// `--load-restrictor`, spelled as kustomize spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadRestrictorArg {
    /// Only files under the kustomization's root (kustomize's default, `LoadRestrictionsRootOnly`).
    #[value(
        name = "RootOnly",
        alias = "rootonly",
        alias = "LoadRestrictionsRootOnly"
    )]
    RootOnly,
    /// Any file (`LoadRestrictionsNone`).
    #[value(name = "None", alias = "none", alias = "LoadRestrictionsNone")]
    None,
}

impl From<LoadRestrictorArg> for LoadRestrictor {
    fn from(arg: LoadRestrictorArg) -> Self {
        match arg {
            LoadRestrictorArg::RootOnly => LoadRestrictor::RootOnly,
            LoadRestrictorArg::None => LoadRestrictor::None,
        }
    }
}

/// Where the rendered objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    Dir(PathBuf),
    /// Compare with the directory, write nothing.
    Check(PathBuf),
}

/// The validated command line.
#[derive(Debug)]
pub struct Config {
    /// What the render engine gets.
    pub render: RenderOptions,
    pub format: Format,
    pub destination: Destination,
    pub print_digest: bool,
}

impl Config {
    pub fn from_args(args: Args) -> Result<Self, Error> {
        // Flux's rules: substitution runs when a variable is defined, or always with
        // --substitute (--strict, its old spelling, too); strict unless --no-strict.
        let substitution =
            Substitution::from_flags(args.substitute || args.strict, !args.no_strict);
        if let Some(ns) = &args.namespace {
            if !is_dns_label(ns) {
                return Err(Error::Usage(format!(
                    "--namespace {ns:?} is not a valid namespace name (lowercase letters, digits and '-', at most 63)"
                )));
            }
        }
        let destination = match (args.out_dir, args.check) {
            (None, _) => Destination::Stdout,
            (Some(dir), false) => Destination::Dir(dir),
            (Some(dir), true) => Destination::Check(dir),
        };
        let mut paths = args.paths;
        if paths.is_empty() {
            paths.push(PathBuf::from("-"));
        }
        if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err(Error::Usage("stdin (-) can be read only once".to_owned()));
        }
        Ok(Config {
            render: RenderOptions {
                paths,
                vars: flags::var_sources(args.vars, args.vars_files),
                substitution,
                namespace: args.namespace,
                helm: args.helm.into(),
                load_restrictor: args.load_restrictor.into(),
                remote: args.remote.options(
                    std::env::var_os("XDG_CACHE_HOME")
                        .as_deref()
                        .map(std::path::Path::new),
                    std::env::var_os("HOME")
                        .as_deref()
                        .map(std::path::Path::new),
                ),
            },
            format: args.format,
            destination,
            print_digest: args.digest,
        })
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Everything manifest-render reports: the render engine's errors, the shared crate's (output,
/// `--out-dir`), and mistakes on the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Render(#[from] gitops_render::Error),
    #[error(transparent)]
    Shared(#[from] gitops::Error),
    /// A flag or argument that cannot be used.
    #[error("{0}")]
    Usage(String),
}

impl Failure for Error {
    fn hint(&self) -> Option<String> {
        use gitops_render::Error as R;
        match self {
            Error::Render(R::Undefined(_)) | Error::Shared(gitops::Error::Undefined(_)) => Some(
                "pass them with --var NAME=VALUE or --vars-file, give defaults with ${NAME:=default}, or pass --no-strict to let them be empty"
                    .to_owned(),
            ),
            Error::Render(R::Restricted { .. }) => {
                Some("pass --load-restrictor None to allow it".to_owned())
            }
            Error::Render(R::RemoteDisabled { .. }) => Some(
                "vendor it into the repository, or allow it with --remote (without --no-remote)"
                    .to_owned(),
            ),
            Error::Render(R::HelmNotFound { .. }) => {
                Some("install helm or pass --helm-command PATH".to_owned())
            }
            Error::Render(R::HelmSettingsUnused) => Some(
                "--values, --set*, --release-name, --name-template, --include-crds, --skip-tests and --no-hooks are for a chart directory (a path holding Chart.yaml); in a kustomization use the helmCharts fields (valuesInline, releaseName, …)"
                    .to_owned(),
            ),
            Error::Shared(e) => e.hint(),
            _ => None,
        }
    }
    fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Shared(e) => e.is_broken_pipe(),
            Error::Render(gitops_render::Error::Input(e)) => e.is_broken_pipe(),
            _ => false,
        }
    }
}

/// Renders according to `args`: stdin (for the path `-`), stdout and stderr are the entry
/// point's.
pub fn run(args: Args, io: &mut Io<'_>) -> Result<Outcome, Error> {
    let config = Config::from_args(args)?;
    let objects = gitops_render::render_with_stdin(&config.render, &mut io.stdin)?;
    Ok(output::write(
        &config,
        &objects,
        &mut io.stdout,
        &mut io.stderr,
    )?)
}
