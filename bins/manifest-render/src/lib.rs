//! `manifest-render` turns generic deployment templates (plain YAML with `${VAR}` placeholders,
//! kustomize directories, Helm charts) plus one environment's values into the low-level
//! manifests that go into the GitOps repo: validated, ordered, optionally split one file per
//! object, with a digest that identifies the rendered state.
//!
//! The command line is turned into a validated [`Config`] before any work starts; [`render`]
//! produces the objects and [`output`] writes them.

pub mod helm;
pub mod kustomize;
pub mod output;
pub mod render;
pub mod values;

use std::path::PathBuf;

use clap::Parser;
use gitops::cli::Verbosity;
use gitops::manifest::Format;
use gitops::{Error, Outcome};

/// Render Kubernetes manifests for one environment.
///
/// Reads plain YAML/JSON files and directories (or stdin), kustomize directories and Helm charts,
/// substitutes `${VAR}` placeholders the way Flux's postBuild does, and writes the objects in
/// kustomize's order to stdout or one file per object to --out-dir.
#[derive(Debug, Parser)]
#[command(name = "manifest-render", version, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 rendered (or --check: up to date), 1 --check found differences, 2 error."
)]
pub struct Args {
    /// Files or directories to render; `-` (or nothing) reads stdin. A directory holding a
    /// kustomization.yaml is built like `kustomize build`; one holding Chart.yaml is rendered
    /// with `helm template`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Set a substitution variable (repeatable; later values win).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = values::parse_var_flag)]
    pub vars: Vec<values::Ordered<(String, String)>>,

    /// Read substitution variables from a file: a YAML/JSON map, a ConfigMap or Secret manifest,
    /// or KEY=VALUE lines (repeatable; later values win).
    #[arg(long = "vars-file", value_name = "FILE", value_parser = values::parse_file_flag)]
    pub vars_files: Vec<values::Ordered<PathBuf>>,

    /// Substitute `${VAR}` placeholders even when no variables are given (defaults apply).
    /// Substitution is on whenever --var, --vars-file or --strict is given.
    #[arg(long)]
    pub substitute: bool,

    /// Fail when a placeholder without a default has no value, listing every one with its
    /// file and line.
    #[arg(long)]
    pub strict: bool,

    /// Namespace for namespaced objects that have none (cluster-scoped kinds are left alone).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Write one file per object (`group.version.Kind.namespace.name.yaml`) into DIR instead of
    /// stdout, removing manifests that are no longer rendered. DIR is replaced in one step.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// With --out-dir: write nothing; list the files that differ and exit 1 if DIR is not what
    /// would be rendered.
    #[arg(long, requires = "out_dir")]
    pub check: bool,

    /// Print the digest of the rendered stream (`sha256:…`) on stderr.
    #[arg(long)]
    pub digest: bool,

    /// Helm values file for a chart directory (repeatable).
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub helm_values: Vec<PathBuf>,

    /// The helm binary to use (default: `helm` on PATH).
    #[arg(long, value_name = "PATH")]
    pub helm_command: Option<PathBuf>,

    /// Whether kustomizations may load files outside their own directory (`RootOnly`, as
    /// kustomize's default, or `None`).
    #[arg(long, value_enum, default_value_t = kustomize::LoadRestrictor::RootOnly)]
    pub load_restrictor: kustomize::LoadRestrictor,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl gitops::cli::Command for Args {
    fn verbosity(&self) -> &Verbosity {
        &self.verbosity
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
    pub paths: Vec<PathBuf>,
    pub substitution: Option<render::Substitution>,
    pub namespace: Option<String>,
    pub format: Format,
    pub destination: Destination,
    pub print_digest: bool,
    pub helm_values: Vec<PathBuf>,
    pub kustomize: kustomize::Options,
}

impl Config {
    pub fn from_args(args: Args) -> Result<Self, Error> {
        let vars = values::collect(args.vars, args.vars_files)?;
        let enabled = args.substitute || args.strict || !vars.is_empty();
        let substitution = enabled.then_some(render::Substitution {
            vars,
            mode: if args.strict {
                gitops::envsubst::Mode::Strict
            } else {
                gitops::envsubst::Mode::Lenient
            },
        });
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
            paths,
            substitution,
            namespace: args.namespace,
            format: args.format,
            destination,
            print_digest: args.digest,
            helm_values: args.helm_values,
            kustomize: kustomize::Options {
                load_restrictor: args.load_restrictor,
                helm_command: args.helm_command,
            },
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

/// Renders according to `args`, writing to stdout/stderr.
pub fn run(args: Args) -> Result<Outcome, Error> {
    let config = Config::from_args(args)?;
    let objects = render::render(&config)?;
    // stdout is line-buffered; a block buffer saves a write per line on large streams.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let stderr = std::io::stderr();
    output::write(&config, &objects, &mut stdout, &mut stderr.lock())
}
