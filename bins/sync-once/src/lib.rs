//! `sync-once` does one reconcile pass from a GitOps repository (or an already rendered stream)
//! to a cluster, the way Flux's kustomize-controller does one on every interval: fetch the
//! source, render the path, server-side apply in stages (Namespaces and CRDs first, then
//! `*Class` kinds, then the rest), skip objects whose dry-run result equals the live object,
//! record the applied set ApplySet-style on a parent object, prune what is no longer rendered,
//! optionally wait for health, and report. It exits, so a CronJob, a CI job or a shell is its
//! scheduler.
//!
//! The command line becomes a validated [`Config`] before any work; [`load`] turns the source into
//! objects (nothing has touched the cluster yet, so bad input stops the run before anything is
//! applied); [`sync`] talks to the cluster through `gitops::cluster`; [`output`] prints the
//! report as kubectl prints apply results, or as JSON.

pub mod error;
pub mod load;
pub mod output;
pub mod sync;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use gitops::cli::{Io, Verbosity};
use gitops::cluster::prune::MaxPrune;
use gitops::Outcome;

pub use error::Error;

/// The field manager and the ApplySet tooling name.
pub const TOOL: &str = "sync-once";

/// Where the pod's service account is mounted, when not at the standard
/// `/var/run/secrets/kubernetes.io/serviceaccount`.
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "SYNC_ONCE_SERVICE_ACCOUNT_DIR";

/// Apply a GitOps repository path (or a rendered stream) to a cluster, once.
///
/// Fetches --repo (a local path, file://, http(s):// or ssh:// URL) into a cache, renders each
/// --path at --ref with the same engine as manifest-render (kustomize, plain YAML, Helm, ${VAR}
/// substitution), then server-side applies the objects in stages, records them in an ApplySet
/// inventory, prunes members that are no longer rendered (--prune) and waits for them to become
/// healthy (--wait).
#[derive(Debug, Parser)]
#[command(name = "sync-once", version, max_term_width = 100)]
#[command(
    mut_arg("kubeconfig", |a| a.help("Path to the kubeconfig file (default: $KUBECONFIG, \
~/.kube/config, the pod's service account)")),
    mut_arg("context", |a| a.help("The kubeconfig context to use")),
    mut_arg("namespace", |a| a.help("Namespace for namespaced objects that name none (and for \
the default inventory)"))
)]
#[command(
    after_help = "Exit codes: 0 synced (or nothing to do), 2 error (what was and was not \
applied is reported).\n\nExamples:\n  sync-once --repo https://git.example.com/gitops.git --ref main --path clusters/dev --prune --wait\n  manifest-render overlays/dev | sync-once -f - --inventory dev/web --prune"
)]
pub struct Args {
    /// The Git repository: a local path, or a file://, http(s):// or ssh:// URL.
    #[arg(long, value_name = "URL|PATH", conflicts_with = "filename")]
    pub repo: Option<String>,

    /// Branch, tag or commit to apply (default: the remote's HEAD).
    #[arg(long = "ref", value_name = "REF", requires = "repo")]
    pub git_ref: Option<String>,

    /// Directory to render: inside --repo, or a local directory without --repo. Repeatable;
    /// paths are rendered and applied in the order given, as one set.
    #[arg(long = "path", value_name = "DIR")]
    pub paths: Vec<String>,

    /// A rendered stream (multi-document YAML or JSON) to apply; `-` reads stdin.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|-",
        conflicts_with = "paths"
    )]
    pub filename: Option<PathBuf>,

    /// Set a substitution variable (repeatable; later values win).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<Ordered<(String, String)>>,

    /// Read substitution variables from a file (YAML/JSON map, ConfigMap or Secret manifest, or
    /// KEY=VALUE lines; repeatable; later values win).
    #[arg(long = "vars-file", value_name = "FILE", value_parser = parse_file)]
    pub vars_files: Vec<Ordered<PathBuf>>,

    /// Fail when a placeholder without a default has no value.
    #[arg(long)]
    pub strict: bool,

    /// Where fetched repositories are cached between runs (default:
    /// $XDG_CACHE_HOME/gitops-toolkit/sources).
    #[arg(long, value_name = "DIR", env = "SYNC_ONCE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The ApplySet parent (a Secret) recording the set: NAMESPACE/NAME (default: derived from
    /// the source, in the default namespace).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub inventory: Option<String>,

    /// Delete members of the set that are no longer rendered.
    #[arg(long)]
    pub prune: bool,

    /// With --prune: allow an empty source to prune every member.
    #[arg(long, requires = "prune")]
    pub allow_empty: bool,

    /// With --prune: refuse to delete more than N objects (or N% of the set).
    #[arg(long, value_name = "N|N%", requires = "prune", value_parser = parse_max_prune)]
    pub max_prune: Option<MaxPrune>,

    /// With --max-prune: delete more anyway.
    #[arg(long, requires = "max_prune")]
    pub force_prune: bool,

    /// With --prune: also delete members another tool claims (Flux or Argo CD labels).
    #[arg(long, requires = "prune")]
    pub take_over: bool,

    /// Recreate objects whose immutable fields changed (also per object with the annotation
    /// kustomize.toolkit.fluxcd.io/force: enabled).
    #[arg(long)]
    pub force: bool,

    /// Fail on field-ownership conflicts with another manager instead of taking the fields over
    /// (kubectl's behaviour; the default is Flux's: Git wins).
    #[arg(long)]
    pub no_force_conflicts: bool,

    /// Wait until every applied object is healthy (kstatus rules); fail fast on a stalled one.
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits (e.g. 90s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Print what would be applied and pruned (server-side dry run); change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// How many requests run at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    #[command(flatten)]
    pub cluster: gitops::cluster::ClusterArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl gitops::cli::Command for Args {
    fn verbosity(&self) -> &Verbosity {
        &self.verbosity
    }
}

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One line per object, as kubectl prints apply results, and a summary.
    Text,
    /// One JSON document: source, revision, digest, per-object action and timing.
    Json,
}

/// A flag value with its position on the command line, so that `--var` and `--vars-file` apply
/// in the order given even though clap keeps them in separate lists.
#[derive(Debug, Clone)]
pub struct Ordered<T> {
    pub seq: usize,
    pub value: T,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn parse_var(s: &str) -> Result<Ordered<(String, String)>, String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if !gitops::envsubst::is_valid_name(key) {
        return Err(format!(
            "variable name {key:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"
        ));
    }
    Ok(Ordered {
        seq: SEQ.fetch_add(1, Ordering::Relaxed),
        value: (key.to_owned(), value.to_owned()),
    })
}

fn parse_file(s: &str) -> Result<Ordered<PathBuf>, String> {
    Ok(Ordered {
        seq: SEQ.fetch_add(1, Ordering::Relaxed),
        value: PathBuf::from(s),
    })
}

fn parse_max_prune(s: &str) -> Result<MaxPrune, String> {
    s.parse()
}

/// `90s`, `5m`, `1h`, `1h30m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (like 90s, 5m or 1h30m)");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += match c {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            _ => return Err(bad()),
        };
    }
    if !number.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Where the objects come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A Git repository, a ref and paths inside it.
    Repo {
        url: String,
        git_ref: Option<String>,
        paths: Vec<String>,
    },
    /// Local directories or files.
    Local { paths: Vec<PathBuf> },
    /// A rendered stream (a file or `-`).
    Stream { file: PathBuf },
}

/// The validated command line.
#[derive(Debug)]
pub struct Config {
    pub source: SourceSpec,
    pub vars: Vec<gitops_render::VarSource>,
    pub strict: bool,
    pub cache_dir: PathBuf,
    /// `(namespace, name)` of the parent Secret; `None` derives it from the source.
    pub inventory: Option<(String, String)>,
    pub sync: sync::Options,
    pub output: OutputFormat,
    pub connect: gitops::cluster::ConnectOptions,
    /// Progress lines on stderr (a TTY, not -q).
    pub progress: bool,
}

impl Config {
    pub fn from_args(args: Args) -> Result<Self, Error> {
        let source = match (&args.repo, &args.filename) {
            (Some(url), _) => {
                if args.paths.is_empty() {
                    return Err(Error::Usage(
                        "--repo needs at least one --path (use --path . for the whole repository)"
                            .into(),
                    ));
                }
                for p in &args.paths {
                    if p.split('/').any(|c| c == "..") || p.starts_with('/') {
                        return Err(Error::Usage(format!(
                            "--path {p:?} must be a relative path inside the repository"
                        )));
                    }
                }
                SourceSpec::Repo {
                    url: url.clone(),
                    git_ref: args.git_ref.clone(),
                    paths: args.paths.clone(),
                }
            }
            (None, Some(file)) => SourceSpec::Stream { file: file.clone() },
            (None, None) if !args.paths.is_empty() => SourceSpec::Local {
                paths: args.paths.iter().map(PathBuf::from).collect(),
            },
            (None, None) => {
                return Err(Error::Usage(
                    "nothing to apply: give --repo URL --path DIR, --path DIR or -f FILE".into(),
                ))
            }
        };
        let inventory = match &args.inventory {
            None => None,
            Some(text) => Some(parse_inventory(text)?),
        };
        let cache_dir = match args.cache_dir {
            Some(dir) => dir,
            None => {
                let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
                let home = std::env::var_os("HOME").map(PathBuf::from);
                gitops::git::source::default_cache_dir(xdg.as_deref(), home.as_deref())
                    .unwrap_or_else(|| std::env::temp_dir().join("gitops-toolkit-sources"))
            }
        };
        let mut vars: Vec<(usize, gitops_render::VarSource)> = args
            .vars
            .into_iter()
            .map(|o| (o.seq, gitops_render::VarSource::Var(o.value.0, o.value.1)))
            .chain(
                args.vars_files
                    .into_iter()
                    .map(|o| (o.seq, gitops_render::VarSource::File(o.value))),
            )
            .collect();
        vars.sort_by_key(|(seq, _)| *seq);
        let mut connect = args.cluster.connect_options();
        // A service account mounted somewhere else than the standard directory.
        if let Some(dir) = std::env::var_os(SERVICE_ACCOUNT_DIR_ENV).map(PathBuf::from) {
            connect.in_cluster.token_file = dir.join("token");
            connect.in_cluster.ca_file = dir.join("ca.crt");
            connect.in_cluster.namespace_file = dir.join("namespace");
        }
        Ok(Config {
            source,
            vars: vars.into_iter().map(|(_, v)| v).collect(),
            strict: args.strict,
            cache_dir,
            inventory,
            sync: sync::Options {
                prune: args.prune,
                prune_options: gitops::cluster::prune::PruneOptions {
                    allow_empty: args.allow_empty,
                    max: args.max_prune,
                    force: args.force_prune,
                    take_over: args.take_over,
                },
                force: args.force,
                force_conflicts: !args.no_force_conflicts,
                wait: args.wait.then_some(args.timeout),
                dry_run: args.dry_run,
                concurrency: usize::from(args.concurrency),
            },
            output: args.output,
            connect,
            progress: gitops::cli::stderr_is_terminal() && !args.verbosity.quiet,
        })
    }
}

fn parse_inventory(text: &str) -> Result<(String, String), Error> {
    let bad = || {
        Error::Usage(format!(
            "--inventory {text:?} must be NAMESPACE/NAME (lowercase DNS names)"
        ))
    };
    let (ns, name) = text.split_once('/').ok_or_else(bad)?;
    let dns = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !s.starts_with(['-', '.'])
            && !s.ends_with(['-', '.'])
    };
    if !dns(ns) || !dns(name) {
        return Err(bad());
    }
    Ok((ns.to_owned(), name.to_owned()))
}

/// Runs one sync: stdin (for `-f -`), stdout and stderr are the entry point's.
pub fn run(args: Args, io: &mut Io<'_>) -> Result<Outcome, Error> {
    let config = Config::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the runtime: {e}")))?;
    // Connecting only reads from the cluster (credentials, TLS, the crypto library seeding its
    // random generator, discovery), so it runs while the source is fetched and rendered: that
    // start-up no longer adds to the source's. A stream on stdin is read first, as before: a
    // kubeconfig's credential plugin may inherit stdin (its interactive mode).
    let reads_stdin =
        matches!(&config.source, SourceSpec::Stream { file } if file.as_os_str() == "-");
    let early = (!reads_stdin).then(|| {
        let options = config.connect.clone();
        runtime.spawn(async move { gitops::cluster::Cluster::connect(&options).await })
    });
    // Everything that can be wrong with the input is found here, before anything is written;
    // bad input wins over a cluster error, whichever comes first.
    let loaded = match load::load(&config, &mut io.stdin) {
        Ok(loaded) => loaded,
        Err(err) => {
            if let Some(early) = early {
                early.abort();
            }
            return Err(err);
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let connected = runtime.block_on(async {
        match early {
            Some(early) => early.await.unwrap_or_else(|e| {
                Err(gitops::cluster::ClusterError::Config {
                    message: format!("connecting failed: {e}"),
                })
            }),
            None => gitops::cluster::Cluster::connect(&config.connect).await,
        }
    });
    let progress: Option<&mut dyn std::io::Write> = if config.progress {
        Some(&mut *io.stderr)
    } else {
        None
    };
    let report = runtime.block_on(sync::sync(&config, &loaded, connected, progress));
    output::write(&config, &loaded, &report, &mut io.stdout).map_err(Error::Output)?;
    match report.error {
        None => Ok(Outcome::Ok),
        Some(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn inventory_flag() {
        assert_eq!(
            parse_inventory("prod/web-set").unwrap(),
            ("prod".into(), "web-set".into())
        );
        assert!(parse_inventory("web").is_err());
        assert!(parse_inventory("Prod/x").is_err());
        assert!(parse_inventory("a/b/c").is_err());
    }
}
