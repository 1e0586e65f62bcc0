//! `kubectl-gitops-diff` (run as `kubectl gitops diff`): what a GitOps change would do.
//!
//! Two modes, one report ([`report`]) and one set of output formats ([`output`]):
//!
//! - **live** ([`live`]): the desired state (a Git repository path rendered exactly as
//!   `sync-once` renders it, or a rendered stream with `-f`) server-side dry-run applied with
//!   `sync-once`'s field manager and compared with the live objects: created, changed,
//!   unchanged, and pruned (from the ApplySet inventory sync-once keeps);
//! - **revision** ([`revision`]): no cluster; the path rendered at two revisions (`--from`,
//!   `--to` or the work tree), rendering only the kustomizations whose inputs changed, or two
//!   streams given as `OLD NEW`.
//!
//! Secret values are masked as kubectl masks them ([`mask`]) in every format; exit codes are
//! kubectl diff's (0 no difference, 1 difference, 2 error).

pub mod live;
pub mod mask;
pub mod output;
pub mod report;
pub mod revision;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use gitops::cli::{Failure, Io, Verbosity};
use gitops::cluster::compare::{CompareOptions, IgnoreRule};
use gitops::cluster::{ClusterError, ConnectOptions};
use gitops::git::source::{Source, SourceError};
use gitops::git::{GitError, Repository};
use gitops::{Identity, Object, Outcome};
use gitops_render::{RenderOptions, Substitution, VarSource};

use crate::output::Format;
use crate::report::{Action, Report, ShowOptions};

/// The field manager `sync-once` applies with: the dry run uses it so that the diff shows what
/// sync-once would do (which fields it would own, set or remove).
pub const SYNC_ONCE_FIELD_MANAGER: &str = "sync-once";

/// Show what a GitOps change would do: desired state against the live cluster, or one revision
/// against another.
///
/// Live: `kubectl gitops diff --repo URL|PATH [--ref REF] --path DIR` or `-f FILE|-`.
/// Revision (no cluster): `kubectl gitops diff --repo PATH --path DIR --from REV [--to REV]`,
/// or `kubectl gitops diff OLD.yaml NEW.yaml`.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-gitops-diff",
    bin_name = "kubectl gitops diff",
    version,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 no difference, 1 differences found, 2 error (or a --fail-on rule matched).\n\
KUBECTL_EXTERNAL_DIFF: as for kubectl diff, the program is run on two directories (LIVE-*, MERGED-*)\n\
holding one file per object named group.version.Kind.namespace.name, Secrets masked."
)]
pub struct Args {
    /// Two rendered streams (files, directories or `-`) to compare: OLD NEW.
    #[arg(value_name = "OLD NEW", num_args = 0..=2, conflicts_with_all = ["filename", "repo", "from"])]
    pub streams: Vec<PathBuf>,

    /// A rendered stream (file, directory or `-`) to diff against the live cluster.
    #[arg(short = 'f', long = "filename", value_name = "FILE", conflicts_with_all = ["repo", "path"])]
    pub filename: Option<PathBuf>,

    /// The GitOps repository: a local path, `file://`, `http(s)://` or `ssh://` URL (live
    /// mode: fetched into a cache as sync-once does), or a local repository (revision mode).
    #[arg(long, value_name = "URL|PATH")]
    pub repo: Option<String>,

    /// Live mode: the branch, tag or commit to render (default: the remote's HEAD).
    #[arg(long = "ref", value_name = "REF", conflicts_with = "from")]
    pub git_ref: Option<String>,

    /// The directory to render, relative to the repository root (repeatable, in order). Without
    /// --repo: a local directory or file.
    #[arg(long, value_name = "DIR")]
    pub path: Vec<String>,

    /// Revision mode: the old revision (a branch, tag or commit of --repo, default `.`).
    #[arg(long, value_name = "REV")]
    pub from: Option<String>,

    /// Revision mode: the new revision (default: the work tree, uncommitted changes included).
    #[arg(long, value_name = "REV", requires = "from")]
    pub to: Option<String>,

    /// Set a substitution variable for the render (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,

    /// Read substitution variables from a file (repeatable).
    #[arg(long = "vars-file", value_name = "FILE")]
    pub vars_files: Vec<PathBuf>,

    /// Fail when a placeholder without a default has no value.
    #[arg(long)]
    pub strict: bool,

    /// Hide a field: `Kind[.group][/[namespace/]name]:/json/pointer` (`*` matches any part);
    /// repeatable.
    #[arg(long = "ignore", value_name = "RULE")]
    pub ignore: Vec<IgnoreRule>,

    /// Read ignore rules from a file, one per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Vec<PathBuf>,

    /// Compare `status` too (hidden by default).
    #[arg(long)]
    pub include_status: bool,

    /// Show Secret values instead of `***`.
    #[arg(long)]
    pub show_secrets: bool,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Colour the human output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    /// With -o markdown: the largest comment to write, in characters (GitHub's limit).
    #[arg(long, value_name = "CHARS", default_value_t = output::COMMENT_LIMIT)]
    pub max_comment_size: usize,

    /// Exit 1 when there are differences (`--exit-code=false`: exit 0 anyway).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub exit_code: bool,

    /// Exit 2 when the change would do one of these: `ACTIONS:KINDS`, actions `create`,
    /// `change`, `delete` (comma-separated), kinds as `Kind` or `Kind.group` or `*`, e.g.
    /// `delete:Namespace,PersistentVolumeClaim` (repeatable).
    #[arg(long, value_name = "ACTIONS:KINDS", value_parser = FailOn::parse)]
    pub fail_on: Vec<FailOn>,

    /// Live mode: the ApplySet parent sync-once records the set on, `[Kind/]NAMESPACE/NAME`
    /// (Kind defaults to Secret; default: the one sync-once derives from the same source);
    /// objects it lists that are no longer desired show as pruned.
    #[arg(long, value_name = "[KIND/]NS/NAME")]
    pub inventory: Option<String>,

    /// Live mode: the field manager of the dry run.
    #[arg(long, value_name = "NAME", default_value = SYNC_ONCE_FIELD_MANAGER)]
    pub field_manager: String,

    /// Live mode: take over fields other managers own, as sync-once does (`=false`: a
    /// conflict is an error, as with `kubectl diff --server-side`).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub force_conflicts: bool,

    /// Live mode: requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,

    /// Live mode: the cache directory for fetched repositories (default
    /// `~/.cache/gitops-toolkit/sources`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

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

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if !gitops::envsubst::is_valid_name(k) {
        return Err(format!("variable name {k:?} is invalid"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// A `--fail-on` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailOn {
    pub actions: Vec<Action>,
    /// `Kind` or `Kind.group`, or `*`.
    pub kinds: Vec<String>,
    pub text: String,
}

impl FailOn {
    pub fn parse(text: &str) -> Result<FailOn, String> {
        let (actions, kinds) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: expected ACTIONS:KINDS, e.g. delete:Namespace"))?;
        let actions = actions
            .split(',')
            .map(|a| match a.trim() {
                "create" | "created" => Ok(Action::Created),
                "change" | "changed" | "update" => Ok(Action::Changed),
                "delete" | "deleted" | "prune" | "pruned" => Ok(Action::Pruned),
                other => Err(format!(
                    "{text:?}: unknown action {other:?} (create, change or delete)"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let kinds: Vec<String> = kinds
            .split(',')
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if kinds.is_empty() {
            return Err(format!("{text:?}: name at least one kind (or *)"));
        }
        Ok(FailOn {
            actions,
            kinds,
            text: text.to_owned(),
        })
    }

    fn matches(&self, entry: &report::Entry) -> bool {
        self.actions.contains(&entry.action)
            && self.kinds.iter().any(|k| {
                k == "*"
                    || k.eq_ignore_ascii_case(&entry.id.kind)
                    || k.eq_ignore_ascii_case(&entry.group_kind())
            })
    }
}

/// Every failure of the tool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Input(#[from] gitops::Error),
    #[error(transparent)]
    Render(#[from] gitops_render::Error),
    /// A render of one revision failed; the message names files relative to the repository.
    #[error("{side}: {message}")]
    Revision {
        side: String,
        message: String,
        hint: Option<String>,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("KUBECTL_EXTERNAL_DIFF: {0}")]
    External(String),
    /// A `--fail-on` rule matched.
    #[error("the change would {what} (--fail-on {rule})")]
    FailOn { what: String, rule: String },
}

impl Failure for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Render(e) => render_hint(e),
            Error::Revision { hint, .. } => hint.clone(),
            Error::Cluster(ClusterError::Conflict { .. }) => Some(
                "another field manager owns that field; --force-conflicts (the default) takes it over as sync-once does"
                    .to_owned(),
            ),
            _ => None,
        }
    }
    fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Input(e) => e.is_broken_pipe(),
            Error::Render(gitops_render::Error::Input(e)) => e.is_broken_pipe(),
            _ => false,
        }
    }
}

/// The hint of a render error that wants one.
pub fn render_hint(e: &gitops_render::Error) -> Option<String> {
    match e {
        gitops_render::Error::Undefined(_) => Some(
            "pass them with --var NAME=VALUE or --vars-file, or give defaults with ${NAME:=default}"
                .to_owned(),
        ),
        gitops_render::Error::HelmNotFound { .. } => {
            Some("install helm, or put it on PATH".to_owned())
        }
        _ => None,
    }
}

/// What to compare.
#[derive(Debug)]
pub enum Mode {
    /// Two rendered streams.
    Streams { old: PathBuf, new: PathBuf },
    /// A path at two revisions of a local repository (`to: None` = the work tree).
    Revision {
        repo: PathBuf,
        from: String,
        to: Option<String>,
        paths: Vec<String>,
    },
    /// The desired state against the cluster.
    Live { source: LiveSource },
}

/// Where the live mode's desired state comes from.
#[derive(Debug)]
pub enum LiveSource {
    /// A rendered stream or local paths, rendered as they are.
    Paths(Vec<PathBuf>),
    /// A repository fetched into the cache, rendered at a revision.
    Repo {
        url: String,
        git_ref: Option<String>,
        paths: Vec<String>,
        cache_dir: PathBuf,
    },
}

/// The validated command line.
#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    pub render: RenderOptions,
    pub show: ShowOptions,
    pub format: Format,
    pub color: bool,
    pub max_comment_size: usize,
    pub exit_code: bool,
    pub fail_on: Vec<FailOn>,
    pub inventory: Option<Identity>,
    pub field_manager: String,
    pub force_conflicts: bool,
    pub concurrency: usize,
    pub connect: ConnectOptions,
    /// The value of `KUBECTL_EXTERNAL_DIFF`, if set and non-empty.
    pub external_diff: Option<String>,
}

/// `[Kind/]NAMESPACE/NAME` of the ApplySet parent.
pub fn parse_inventory(text: &str) -> Result<Identity, String> {
    let parts: Vec<&str> = text.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [ns, name] => ("Secret", *ns, *name),
        [kind, ns, name] => (*kind, *ns, *name),
        _ => {
            return Err(format!(
            "--inventory {text:?}: expected [KIND/]NAMESPACE/NAME, e.g. flux-system/sync-once-dev"
        ))
        }
    };
    if name.is_empty() || namespace.is_empty() {
        return Err(format!(
            "--inventory {text:?}: the namespace and name must not be empty"
        ));
    }
    let (kind, group) = match kind.split_once('.') {
        Some((k, g)) => (k, g),
        None => (kind, ""),
    };
    Ok(Identity {
        group: group.to_owned(),
        version: if group.is_empty() {
            "v1".into()
        } else {
            String::new()
        },
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

impl Config {
    pub fn from_args(args: Args) -> Result<Config, Error> {
        let usage = |m: String| Error::Usage(m);
        let mut ignore = args.ignore;
        for file in &args.ignore_file {
            let text = std::fs::read_to_string(file).map_err(|e| gitops::Error::io(file, e))?;
            ignore.extend(
                report::parse_ignore_file(&text, &file.display().to_string()).map_err(usage)?,
            );
        }
        let mode = if !args.streams.is_empty() {
            if args.streams.len() != 2 {
                return Err(usage("give two streams to compare: OLD NEW".into()));
            }
            if args.streams.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
                return Err(usage("stdin (-) can be read only once".into()));
            }
            Mode::Streams {
                old: args.streams[0].clone(),
                new: args.streams[1].clone(),
            }
        } else if let Some(from) = args.from {
            let repo = args.repo.clone().unwrap_or_else(|| ".".into());
            if repo.contains("://") {
                return Err(usage(format!(
                    "--from/--to read a local repository; {repo:?} is a URL (clone it first)"
                )));
            }
            Mode::Revision {
                repo: PathBuf::from(repo),
                from,
                to: args.to,
                paths: if args.path.is_empty() {
                    vec![String::new()]
                } else {
                    args.path.clone()
                },
            }
        } else if let Some(url) = args.repo {
            if args.path.is_empty() {
                return Err(usage(
                    "--repo needs --path DIR (the directory to render)".into(),
                ));
            }
            let cache_dir = match args.cache_dir {
                Some(dir) => dir,
                None => gitops::git::source::default_cache_dir(
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(PathBuf::from)
                        .as_deref(),
                    std::env::var_os("HOME").map(PathBuf::from).as_deref(),
                )
                .ok_or_else(|| usage("no cache directory: set HOME or pass --cache-dir".into()))?,
            };
            Mode::Live {
                source: LiveSource::Repo {
                    url,
                    git_ref: args.git_ref,
                    paths: args.path,
                    cache_dir,
                },
            }
        } else if let Some(file) = args.filename {
            Mode::Live {
                source: LiveSource::Paths(vec![file]),
            }
        } else if !args.path.is_empty() {
            Mode::Live {
                source: LiveSource::Paths(args.path.iter().map(PathBuf::from).collect()),
            }
        } else {
            return Err(usage(
                "nothing to diff: give --repo and --path, -f FILE, --from REV, or OLD NEW".into(),
            ));
        };
        let mut vars: Vec<VarSource> = args
            .vars
            .into_iter()
            .map(|(k, v)| VarSource::Var(k, v))
            .collect();
        vars.extend(args.vars_files.into_iter().map(VarSource::File));
        let substitution = if args.strict {
            Substitution::Strict
        } else {
            Substitution::WhenDefined
        };
        let inventory = args
            .inventory
            .as_deref()
            .map(parse_inventory)
            .transpose()
            .map_err(usage)?;
        let connect = args.cluster.connect_options();
        let color = match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                gitops::cli::stdout_is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Ok(Config {
            mode,
            render: RenderOptions {
                vars,
                substitution,
                ..RenderOptions::default()
            },
            show: ShowOptions {
                compare: CompareOptions {
                    keep_status: args.include_status,
                    ignore,
                },
                show_secrets: args.show_secrets,
            },
            format: args.format,
            color,
            max_comment_size: args.max_comment_size,
            exit_code: args.exit_code,
            fail_on: args.fail_on,
            inventory,
            field_manager: args.field_manager,
            force_conflicts: args.force_conflicts,
            concurrency: args.concurrency,
            connect,
            external_diff: std::env::var("KUBECTL_EXTERNAL_DIFF")
                .ok()
                .filter(|v| !v.trim().is_empty()),
        })
    }
}

/// The tool: parse, diff, write, decide the exit code.
pub fn run(args: Args, io: &mut Io<'_>) -> Result<Outcome, Error> {
    let config = Config::from_args(args)?;
    let report = diff(&config, io)?;
    write(&config, &report, io)?;
    for rule in &config.fail_on {
        let hits: Vec<String> = report
            .entries
            .iter()
            .filter(|e| rule.matches(e))
            .map(|e| format!("{} {}", verb(e.action), e.id.short()))
            .collect();
        if !hits.is_empty() {
            return Err(Error::FailOn {
                what: hits.join(", "),
                rule: rule.text.clone(),
            });
        }
    }
    if config.exit_code && report.summary().differs() {
        Ok(Outcome::Difference)
    } else {
        Ok(Outcome::Ok)
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Created => "create",
        Action::Changed => "change",
        Action::Pruned => "delete",
        Action::Unchanged => "keep",
    }
}

fn render_paths(
    config: &Config,
    paths: Vec<PathBuf>,
    io: &mut Io<'_>,
) -> Result<Vec<Object>, Error> {
    let mut opts = config.render.clone();
    opts.paths = paths;
    Ok(gitops_render::render_with_stdin(&opts, io.stdin)?)
}

/// Computes the report of the configured mode.
pub fn diff(config: &Config, io: &mut Io<'_>) -> Result<Report, Error> {
    match &config.mode {
        Mode::Streams { old, new } => {
            let before = render_paths(config, vec![old.clone()], io)?;
            let after = render_paths(config, vec![new.clone()], io)?;
            Ok(revision::compare_streams(
                before,
                after,
                &config.show,
                old.display().to_string(),
                new.display().to_string(),
                0,
                0,
            ))
        }
        Mode::Revision {
            repo,
            from,
            to,
            paths,
        } => {
            let repository = Repository::open(repo)?;
            let from_side = revision::Side::commit(&repository, from)?;
            let to_side = match to {
                Some(rev) => revision::Side::commit(&repository, rev)?,
                None => revision::Side::WorkTree {
                    root: repository.workdir().ok_or_else(|| {
                        Error::Usage(format!(
                            "{}: a bare repository has no work tree; pass --to REV",
                            repo.display()
                        ))
                    })?,
                },
            };
            let mut total = Report::default();
            for path in paths {
                let r = revision::diff(&from_side, &to_side, path, &config.render, &config.show)?;
                total.entries.extend(r.entries);
                total.rendered_units += r.rendered_units;
                total.skipped_units += r.skipped_units;
                total.from_label = r.from_label;
                total.to_label = r.to_label;
            }
            Ok(total)
        }
        Mode::Live { source } => {
            let (desired, source_key) = match source {
                LiveSource::Paths(paths) => {
                    // sync-once's key: the paths as given, `stdin` for `-f -`.
                    let key = if paths.len() == 1 && paths[0].as_os_str() == "-" {
                        "stdin".to_owned()
                    } else {
                        paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    (render_paths(config, paths.clone(), io)?, key)
                }
                LiveSource::Repo {
                    url,
                    git_ref,
                    paths,
                    cache_dir,
                } => {
                    let fetched = Source::fetch(url, cache_dir)?;
                    let commit = fetched.resolve(git_ref.as_deref())?;
                    let tmp = tempfile::Builder::new()
                        .prefix("kubectl-gitops-diff-")
                        .tempdir()
                        .map_err(|e| gitops::Error::io(std::env::temp_dir(), e))?;
                    gitops::atomic::remember(tmp.path());
                    let root = tmp.path().join("tree");
                    fetched.export(commit, "", &root)?;
                    let mut opts = config.render.clone();
                    opts.paths = paths
                        .iter()
                        .map(|p| root.join(p.trim_start_matches('/')))
                        .collect();
                    for p in &opts.paths {
                        if !p.exists() {
                            return Err(Error::Usage(format!(
                                "{}: {:?} does not exist at {commit}",
                                fetched.url(),
                                p.strip_prefix(&root).unwrap_or(p)
                            )));
                        }
                    }
                    let shown = format!("{}/", root.display());
                    let objects = gitops_render::render(&opts).map_err(|e| Error::Revision {
                        side: format!("{}@{}", fetched.url(), commit.to_hex_with_len(12)),
                        message: e.to_string().replace(&shown, ""),
                        hint: render_hint(&e),
                    })?;
                    gitops::atomic::forget(tmp.path());
                    (objects, format!("{}|{}", fetched.url(), paths.join(",")))
                }
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
            let options = live::LiveOptions {
                field_manager: config.field_manager.clone(),
                force_conflicts: config.force_conflicts,
                inventory: config.inventory.clone(),
                source_key,
                concurrency: config.concurrency,
                show: config.show.clone(),
            };
            let connect = config.connect.clone();
            let report = runtime.block_on(async move {
                let cluster = Arc::new(gitops::cluster::Cluster::connect(&connect).await?);
                live::diff(cluster, desired, &options).await
            })?;
            Ok(report)
        }
    }
}

/// Writes the report in the configured format (or runs `KUBECTL_EXTERNAL_DIFF`).
fn write(config: &Config, report: &Report, io: &mut Io<'_>) -> Result<(), Error> {
    let out = |e: std::io::Error| Error::Input(gitops::Error::Output(e));
    match config.format {
        Format::Json => output::write_json(io.stdout, report).map_err(out),
        Format::Markdown => io
            .stdout
            .write_all(output::markdown(report, config.max_comment_size).as_bytes())
            .map_err(out),
        Format::Human => match &config.external_diff {
            Some(program) => external(program, report, io),
            None => output::write_human(io.stdout, report, config.color).map_err(out),
        },
    }
}

/// Runs `KUBECTL_EXTERNAL_DIFF` on two directories laid out as kubectl lays them out, copying
/// its output to ours; the summary goes to stderr (stdout is the program's).
fn external(value: &str, report: &Report, io: &mut Io<'_>) -> Result<(), Error> {
    let (program, args) =
        output::external_command(value).ok_or_else(|| Error::External("is empty".into()))?;
    let dir = |prefix: &str| {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| Error::Input(gitops::Error::io(std::env::temp_dir(), e)))
    };
    let (from, to) = (dir("LIVE-")?, dir("MERGED-")?);
    // Ctrl-C exits without destructors; the entry point removes what is remembered.
    gitops::atomic::remember(from.path());
    gitops::atomic::remember(to.path());
    let io_err = |p: &Path, e: std::io::Error| Error::Input(gitops::Error::io(p, e));
    output::write_sides(report, from.path(), to.path()).map_err(|e| io_err(from.path(), e))?;
    let result = std::process::Command::new(&program)
        .args(&args)
        .arg(from.path())
        .arg(to.path())
        .output()
        .map_err(|e| Error::External(format!("cannot run {program:?}: {e}")))?;
    let out = |e: std::io::Error| Error::Input(gitops::Error::Output(e));
    io.stdout.write_all(&result.stdout).map_err(out)?;
    io.stderr.write_all(&result.stderr).map_err(out)?;
    match result.status.code() {
        Some(0 | 1) => {}
        code => {
            return Err(Error::External(format!(
                "{program} failed ({})",
                code.map_or("killed by a signal".to_owned(), |c| format!(
                    "exit status {c}"
                ))
            )))
        }
    }
    writeln!(io.stderr, "{}", report.summary()).map_err(out)?;
    gitops::atomic::forget(from.path());
    gitops::atomic::forget(to.path());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_rules() {
        let r = FailOn::parse("delete:Namespace,PersistentVolumeClaim").unwrap();
        assert_eq!(r.actions, [Action::Pruned]);
        assert_eq!(r.kinds, ["Namespace", "PersistentVolumeClaim"]);
        assert!(FailOn::parse("explode:Namespace")
            .unwrap_err()
            .contains("unknown action"));
        assert!(FailOn::parse("delete").is_err());
    }

    #[test]
    fn inventory_flag() {
        let p = parse_inventory("flux-system/apps").unwrap();
        assert_eq!(
            (p.kind.as_str(), p.namespace.as_str(), p.name.as_str()),
            ("Secret", "flux-system", "apps")
        );
        let c = parse_inventory("ConfigMap/ns/set").unwrap();
        assert_eq!(c.kind, "ConfigMap");
        assert!(parse_inventory("just-a-name").is_err());
    }
}
